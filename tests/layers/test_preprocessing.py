"""Preprocessing and augmentation layers against Keras 3."""

from __future__ import annotations

import numpy as np
import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

import netspec
from netspec.layers import LAYER_TYPES
from netspec.load import load

MATCHES = {
    "rescaling": ((8, 8, 3), {"type": "rescaling", "scale": 0.00392156862745098}),
    "rescaling_per_channel": ((8, 8, 3), {"type": "rescaling", "scale": [0.5, 1, 2], "offset": -1}),
    "rescaling_vector": ((5,), {"type": "rescaling", "scale": 2, "offset": [1]}),
    "normalization_adapt": ((4, 6), {"type": "normalization"}),
    "normalization_adapt_all": ((4, 6), {"type": "normalization", "axis": None}),
    "normalization_adapt_axes": ((4, 6), {"type": "normalization", "axis": [1, 2]}),
    "normalization_adapt_image": ((5, 5, 3), {"type": "normalization", "axis": -1}),
    "normalization_given": ((4, 3), {"type": "normalization", "mean": [1, 2, 3], "variance": [1, 4, 9]}),
    "normalization_given_scalar": ((4, 3), {"type": "normalization", "mean": 0.5, "variance": 2, "invert": True}),
    "normalization_given_broadcast": ((4, 3), {"type": "normalization", "axis": [1, 2],
                                               "mean": [[1, 2, 3]], "variance": [[1, 1, 1]]}),
    "normalization_frozen": ((4, 3), {"type": "normalization", "trainable": False}),
    "resizing": ((8, 8, 3), {"type": "resizing", "height": 4, "width": 5}),
    "resizing_any_size": ((None, None, 3), {"type": "resizing", "height": 6, "width": 6, "interpolation": "nearest",
                                            "crop_to_aspect_ratio": True}),
    "resizing_channels_first": ((3, 8, 8), {"type": "resizing", "height": 4, "width": 5,
                                            "data_format": "channels_first", "pad_to_aspect_ratio": True}),
    "center_crop": ((8, 8, 3), {"type": "center_crop", "height": 4, "width": 5}),
    "center_crop_larger": ((4, 4, 1), {"type": "center_crop", "height": 6, "width": 6}),
    "center_crop_channels_first": ((3, 8, 8), {"type": "center_crop", "height": 2, "width": 3,
                                               "data_format": "channels_first"}),
    "random_crop": ((8, 8, 3), {"type": "random_crop", "height": 4, "width": 5, "seed": 1}),
    "random_crop_channels_first": ((3, 8, 8), {"type": "random_crop", "height": 4, "width": 5,
                                               "data_format": "channels_first"}),
    "random_flip": ((8, 8, 3), {"type": "random_flip"}),
    "random_flip_horizontal": ((None, None, 1), {"type": "random_flip", "mode": "horizontal", "seed": 3}),
    "random_rotation": ((8, 8, 3), {"type": "random_rotation", "factor": 0.1}),
    "random_rotation_range": ((8, 8, 3), {"type": "random_rotation", "factor": [-0.2, 0.1], "fill_mode": "constant",
                                          "fill_value": 1.0, "interpolation": "nearest"}),
    "random_zoom": ((8, 8, 3), {"type": "random_zoom", "height_factor": [-0.2, 0.3]}),
    "random_zoom_both": ((8, 8, 3), {"type": "random_zoom", "height_factor": 0.2, "width_factor": 0.1,
                                     "fill_mode": "nearest"}),
    "random_translation": ((8, 8, 3), {"type": "random_translation", "height_factor": 0.1, "width_factor": 0.2}),
    "random_contrast": ((8, 8, 3), {"type": "random_contrast", "factor": 0.1}),
    "random_contrast_pair": ((3, 8, 8), {"type": "random_contrast", "factor": [0.1, 0.5], "value_range": [0, 1],
                                         "data_format": "channels_first"}),
    "random_brightness": ((8, 8, 3), {"type": "random_brightness", "factor": 0.1, "value_range": [0, 1]}),
    "random_brightness_frozen": ((8, 8, 3), {"type": "random_brightness", "factor": [-0.1, 0.2], "trainable": False}),
    "hashing_ids": ((1,), {"type": "hashing", "num_bins": 5}, "int32"),
    "hashing_one_hot": ((3, 4), {"type": "hashing", "num_bins": 5, "output_mode": "one_hot", "salt": 3}, "int64"),
    "hashing_strings_multi_hot": ((4,), {"type": "hashing", "num_bins": 7, "output_mode": "multi_hot",
                                         "mask_value": ""}, "string"),
    "category_encoding": ((1,), {"type": "category_encoding", "num_tokens": 5}, "int32"),
    "category_encoding_one_hot": ((4,), {"type": "category_encoding", "num_tokens": 5, "output_mode": "one_hot"},
                                  "int32"),
    "category_encoding_count": ((3, 4), {"type": "category_encoding", "num_tokens": 5, "output_mode": "count"},
                                "int32"),
    "discretization": ((3, 4), {"type": "discretization", "bin_boundaries": [0.0, 1.0]}),
    "discretization_one_hot": ((4,), {"type": "discretization", "bin_boundaries": [0, 1.5], "output_mode": "one_hot"}),
    "discretization_to_adapt": ((4,), {"type": "discretization", "num_bins": 4, "output_mode": "count"}),
    "string_lookup_ids": ((3,), {"type": "string_lookup", "vocabulary": ["a", "b"], "mask_token": ""}, "string"),
    "string_lookup_to_adapt": ((2, 3), {"type": "string_lookup", "num_oov_indices": 2}, "string"),
    "string_lookup_one_hot": ((3,), {"type": "string_lookup", "vocabulary": ["a"], "output_mode": "one_hot",
                                     "num_oov_indices": 0}, "string"),
    "string_lookup_multi_hot_padded": ((3,), {"type": "string_lookup", "output_mode": "multi_hot", "max_tokens": 10,
                                              "pad_to_max_tokens": True}, "string"),
    "string_lookup_tf_idf": ((2, 3), {"type": "string_lookup", "vocabulary": ["a", "b"], "output_mode": "tf_idf",
                                      "idf_weights": [1.0, 0.5]}, "string"),
    "integer_lookup": ((1,), {"type": "integer_lookup", "vocabulary": [4, 5, 9]}, "int32"),
    "integer_lookup_count": ((3,), {"type": "integer_lookup", "vocabulary": [4, 5], "mask_token": 0,
                                    "output_mode": "count"}, "int64"),
    "integer_lookup_one_hot_padded": ((1,), {"type": "integer_lookup", "output_mode": "one_hot", "max_tokens": 7,
                                             "pad_to_max_tokens": True}, "int32"),
    "text_vectorization": ((), {"type": "text_vectorization", "max_tokens": 20}, "string"),
    "text_vectorization_length": ((1,), {"type": "text_vectorization", "output_sequence_length": 6,
                                         "vocabulary": ["a", "b"], "split": "character"}, "string"),
    "text_vectorization_multi_hot": ((), {"type": "text_vectorization", "vocabulary": ["a", "b"], "ngrams": 2,
                                          "output_mode": "multi_hot"}, "string"),
    "text_vectorization_count_padded": ((), {"type": "text_vectorization", "output_mode": "count", "max_tokens": 9,
                                             "pad_to_max_tokens": True, "standardize": None}, "string"),
    "text_vectorization_tf_idf": ((), {"type": "text_vectorization", "vocabulary": ["a", "b", "c"],
                                       "idf_weights": [1.0, 2.0, 0.5], "output_mode": "tf_idf"}, "string"),
}


@pytest.mark.parametrize("case", MATCHES.values(), ids=MATCHES.keys())
def test_matches_keras(case):
    shape, layer, *dtype = case
    assert_matches_keras(one_layer(shape, layer, dtype=dtype[0] if dtype else "float32"))


def test_hashed_ids_feed_an_embedding():
    """hashing gives int64 ids (not the float32 of most layers): an embedding reads them, and the
    model maps strings to vectors."""
    spec = one_layer((3,), {"type": "hashing", "num_bins": 9, "salt": [1, 2]},
                     {"type": "embedding", "input_dim": 9, "output_dim": 2}, dtype="string")
    model = assert_matches_keras(spec)
    out = np.asarray(model(np.array([["a", "b", "a"]], dtype=object)))
    np.testing.assert_allclose(out[0, 0], out[0, 2])


def test_augmentation_pipeline_before_a_convnet_matches_keras():
    assert_matches_keras(one_layer(
        (32, 32, 3), {"type": "resizing", "height": 16, "width": 16}, {"type": "rescaling", "scale": 0.0039215686},
        {"type": "random_flip", "mode": "horizontal"}, {"type": "random_rotation", "factor": 0.05},
        {"type": "random_zoom", "height_factor": 0.1}, {"type": "random_translation", "height_factor": 0.1,
                                                        "width_factor": 0.1},
        {"type": "random_contrast", "factor": 0.2, "value_range": [0, 1]}, {"type": "random_crop", "height": 12,
                                                                            "width": 12},
        {"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "flatten"}, {"type": "dense", "units": 2}))


def test_normalization_weights_are_counted_exactly():
    """Without mean and variance Keras keeps them as weights, plus a scalar sample count."""
    adapted = load(one_layer((4, 6), {"type": "normalization"})).shapes
    assert (adapted.trainable, adapted.non_trainable) == (0, 6 + 6 + 1)
    given = load(one_layer((4, 6), {"type": "normalization", "mean": 0.0, "variance": 1.0})).shapes
    assert given.total == 0


@pytest.mark.parametrize("layer", [
    {"type": "random_flip"}, {"type": "random_rotation", "factor": 0.2},
    {"type": "random_zoom", "height_factor": 0.3}, {"type": "random_translation", "height_factor": 0.2,
                                                    "width_factor": 0.2},
    {"type": "random_contrast", "factor": 0.5}, {"type": "random_brightness", "factor": 0.5},
], ids=lambda layer: layer["type"])
def test_augmentations_act_only_in_training(layer):
    model = netspec.build_model(one_layer((8, 8, 3), {**layer, "seed": 7}))
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), x)
    assert not np.allclose(model(x, training=True), x)


def test_random_crop_crops_in_training_and_passes_through_at_inference():
    """Keras 3.15's RandomCrop returns its input unchanged at inference, whatever its declared output
    shape; this pins that behaviour, which the layer's docstring warns of."""
    model = netspec.build_model(one_layer((6, 6, 1), {"type": "random_crop", "height": 2, "width": 2, "seed": 1}))
    x = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    assert model(x, training=True).shape == (1, 2, 2, 1)
    np.testing.assert_allclose(model(x, training=False), x)


def test_normalization_over_all_values_round_trips():
    """`axis: null` (one mean and variance for everything) reaches Keras, which keeps it as ()."""
    from netspec.build import instantiate
    from netspec.layers.preprocessing import Normalization

    layer = instantiate(Normalization.model_validate({"type": "normalization", "axis": None}).lower("n"))
    config = layer.get_config()
    assert config["axis"] == ()
    assert type(layer).from_config(config).get_config() == config


def test_normalization_given_in_spec_standardizes():
    model = netspec.build_model(one_layer((3,), {"type": "normalization", "mean": [1, 2, 3], "variance": [1, 4, 9]}))
    np.testing.assert_allclose(model(np.array([[2, 4, 6]], "float32")), [[1, 1, 1]], rtol=1e-5)


ROUND_TRIPS = [
    {"type": "hashing", "num_bins": 4, "salt": [3, 4], "mask_value": "", "output_mode": "count"},
    {"type": "category_encoding", "num_tokens": 6, "output_mode": "one_hot"},
    {"type": "discretization", "bin_boundaries": [-1.0, 0.0, 2.5], "output_mode": "multi_hot"},
    {"type": "discretization", "num_bins": 3, "epsilon": 0.001},
    {"type": "string_lookup", "vocabulary": ["a", "b"], "mask_token": "", "num_oov_indices": 2},
    {"type": "integer_lookup", "max_tokens": 6, "pad_to_max_tokens": True, "output_mode": "count"},
    {"type": "text_vectorization", "vocabulary": ["x", "y"], "ngrams": 2, "output_sequence_length": 5,
     "standardize": "lower", "split": "character"},
    {"type": "rescaling", "scale": 0.5, "offset": -1.0},
    {"type": "rescaling", "scale": [0.5, 1.0, 2.0]},
    {"type": "normalization", "axis": [1, 2], "mean": [[1, 2]], "variance": [[1, 2]], "invert": True},
    {"type": "resizing", "height": 4, "width": 5, "interpolation": "bicubic", "antialias": True,
     "pad_to_aspect_ratio": True, "fill_value": 1.0, "data_format": "channels_first"},
    {"type": "center_crop", "height": 4, "width": 5},
    {"type": "random_crop", "height": 4, "width": 5, "seed": 2},
    {"type": "random_flip", "mode": "vertical", "seed": 1},
    {"type": "random_rotation", "factor": [-0.1, 0.2], "fill_mode": "wrap", "interpolation": "nearest"},
    {"type": "random_zoom", "height_factor": 0.2, "width_factor": [-0.1, 0.3], "fill_value": 2.0},
    {"type": "random_translation", "height_factor": 0.1, "width_factor": [0.0, 0.2], "seed": 3},
    {"type": "random_contrast", "factor": [0.1, 0.3], "value_range": [0, 1]},
    {"type": "random_brightness", "factor": 0.2, "value_range": [-1, 1], "data_format": "channels_first"},
]


def test_every_type_of_the_family_is_compared_and_round_tripped():
    family = {tag for tag, cls in LAYER_TYPES.items() if cls.__module__ == "netspec.layers.preprocessing"}
    assert {case[1]["type"] for case in MATCHES.values()} == family
    assert {layer["type"] for layer in ROUND_TRIPS} == family


@pytest.mark.parametrize("layer", ROUND_TRIPS, ids=[f"{i}-{layer['type']}" for i, layer in enumerate(ROUND_TRIPS)])
def test_keras_config_round_trip(layer):
    assert_config_round_trip(layer)


def _spec_text(shape: str, layer: str) -> str:
    """A YAML spec whose layer under test is on line 6."""
    return f"name: t\ninputs:\n  - {{name: x, shape: {shape}}}\nlayers:\n  - {{type: identity}}\n  - {layer}\n"


SHAPE_ERRORS = {
    "discretization_multi_hot_of_matrix": (
        ("[3, 4]", "{type: discretization, bin_boundaries: [0.5], output_mode: multi_hot}"),
        ("layers[1].output_mode", ["reads one feature vector a sample", "(None, 3, 4)"], "add a `flatten`")),
    "image_layer_fed_grayscale_without_channels": (
        ("[8, 8]", "{type: random_flip}"),
        ("layers[1]", ["`random_flip` expects images of rank 4", "(None, 8, 8)"],
         "add a `reshape` that gives the images a channels axis, e.g. target_shape [8, 8, 1]")),
    "image_layer_fed_video": (
        ("[2, 8, 8, 3]", "{type: resizing, height: 4, width: 4}"),
        ("layers[1]", ["`resizing` expects images of rank 4", "(None, 2, 8, 8, 3)"], "`time_distributed`")),
    "crop_fed_vector": (
        ("[8]", "{type: center_crop, height: 4, width: 4}"),
        ("layers[1]", ["`center_crop` expects images"], "add a `reshape`")),
    "rescaling_scale_per_channel": (
        ("[4, 4, 3]", "{type: rescaling, scale: [1, 2]}"),
        ("layers[1].scale", ["`scale` has 2 values", "(None, 4, 4, 3)"], "one per channel")),
    "normalization_mean_does_not_broadcast": (
        ("[4, 6]", "{type: normalization, mean: [1, 2, 3], variance: [1, 1, 1]}"),
        ("layers[1].mean", ["shape [3], which does not broadcast", "[6]"], "one value per position")),
    "normalization_unknown_axis": (
        ("[4, null]", "{type: normalization}"),
        ("layers[1]", ["needs a known size on axis 2"], "fixed size")),
    "text_vectorization_of_several_texts": (
        ("[3]", "{type: text_vectorization, max_tokens: 10}"),
        ("layers[1]", ["reads one text a sample", "(None, 3)"], "`shape: []`")),
    "normalization_axis_out_of_range": (
        ("[4]", "{type: normalization, axis: 2}"),
        ("layers[1].axis", ["out of range for input of rank 2"], None)),
}


@pytest.mark.parametrize("case", SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys())
def test_shape_errors(case):
    (shape, layer), (path, words, hint) = case
    (diagnostic,) = shape_errors(_spec_text(shape, layer))
    assert (diagnostic.path, diagnostic.line) == (path, 6)
    for word in words:
        assert word in diagnostic.message, diagnostic.message
    if hint is not None:
        assert hint in diagnostic.hint, diagnostic.hint


VALUE_ERRORS = {
    "rotation_factor": ("{type: random_rotation, factor: 1.5}", "layers[1].factor", "in [-1.0, 1.0]"),
    "rotation_factor_triple": ("{type: random_rotation, factor: [0.1, 0.2, 0.3]}", "layers[1].factor",
                               "a list of two numbers"),
    "zoom_minus_one": ("{type: random_zoom, height_factor: -1}", "layers[1].height_factor", "in (-1.0, 1.0]"),
    "translation_width_missing": ("{type: random_translation, height_factor: 0.1}", "layers[1]",
                                  "missing required key `width_factor`"),
    "contrast_negative": ("{type: random_contrast, factor: -0.1}", "layers[1].factor", "in [0.0, 1.0]"),
    "brightness_value_range": ("{type: random_brightness, factor: 0.1, value_range: [255, 0]}",
                               "layers[1].value_range", "low < high"),
    "flip_mode": ("{type: random_flip, mode: horizontally}", "layers[1].mode", "horizontal"),
    "fill_mode": ("{type: random_rotation, factor: 0.1, fill_mode: edge}", "layers[1].fill_mode", "reflect"),
    "resize_interpolation": ("{type: resizing, height: 2, width: 2, interpolation: linear}",
                             "layers[1].interpolation", "bilinear"),
    "resize_both_aspect_modes": ("{type: resizing, height: 2, width: 2, crop_to_aspect_ratio: true, "
                                 "pad_to_aspect_ratio: true}", "layers[1].crop_to_aspect_ratio", "only one of"),
    "resize_fill_mode": ("{type: resizing, height: 2, width: 2, fill_mode: reflect}", "layers[1].fill_mode",
                         "constant"),
    "crop_height": ("{type: random_crop, height: 0, width: 2}", "layers[1].height", "received 0"),
    "normalization_mean_alone": ("{type: normalization, mean: [1, 2]}", "layers[1].mean",
                                 "`mean` is given without `variance`"),
    "normalization_shapes_differ": ("{type: normalization, mean: [1, 2], variance: [1, 2, 3]}", "layers[1].mean",
                                    "must have the same shape"),
    "normalization_negative_variance": ("{type: normalization, mean: 0, variance: -1}", "layers[1].variance",
                                        "must not be negative"),
    "normalization_ragged_mean": ("{type: normalization, mean: [[1], [2, 3]], variance: 1}", "layers[1].mean",
                                  "rectangular"),
    "normalization_mean_rank": ("{type: normalization, mean: [[1, 2]], variance: [[1, 2]]}", "layers[1].mean",
                                "more than the number of axes"),
    "lookup_width_unknown_before_adapting": ("{type: string_lookup, output_mode: multi_hot, max_tokens: 8}",
                                             "layers[1].max_tokens", "give `max_tokens` with `pad_to_max_tokens"),
    "text_vectorization_width_unknown": ("{type: text_vectorization, output_mode: count}", "layers[1]",
                                         "adapting learns only from the training data"),
    "tf_idf_without_weights": ("{type: integer_lookup, vocabulary: [1, 2], output_mode: tf_idf}",
                               "layers[1].vocabulary", "needs `idf_weights`"),
    "sequence_length_of_counts": ("{type: text_vectorization, vocabulary: [a], output_mode: count, "
                                  "output_sequence_length: 4}", "layers[1].output_sequence_length",
                                  "for `output_mode: int`"),
}


@pytest.mark.parametrize("case", VALUE_ERRORS.values(), ids=VALUE_ERRORS.keys())
def test_value_errors(case):
    layer, path, words = case
    diagnostics = shape_errors(_spec_text("[8, 8, 3]", layer))
    assert any(d.path == path and d.line == 6 and words in d.message for d in diagnostics), diagnostics
