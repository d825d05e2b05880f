"""Core layers (dense, embedding, identity, activations, dropout and noise) against Keras 3."""

from __future__ import annotations

import numpy as np
import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

from netspec.errors import ShapeError
from netspec.layers import LAYER_TYPES
from netspec.load import load, load_spec

# (input shape, layer, input dtype): each one model, compared layer by layer with Keras.
MATCHES = {
    "dense": ((8,), {"type": "dense", "units": 4}),
    "dense_rank3": ((5, 8), {"type": "dense", "units": 3, "activation": "relu"}),
    "dense_rank4_no_bias": ((2, 3, 4), {"type": "dense", "units": 2, "use_bias": False}),
    "dense_unknown_steps": ((None, 6), {"type": "dense", "units": 2}),
    "dense_objects": ((8,), {"type": "dense", "units": 3, "kernel_initializer": {"type": "he_normal", "seed": 1},
                             "kernel_regularizer": {"type": "l2", "l2": 0.01}, "bias_constraint": "non_neg"}),
    "dense_lora": ((8,), {"type": "dense", "units": 4, "lora_rank": 2}),
    "dense_lora_alpha": ((3, 8), {"type": "dense", "units": 4, "lora_rank": 3, "lora_alpha": 6.0}),
    "dense_frozen": ((8,), {"type": "dense", "units": 4, "trainable": False}),
    "dense_lora_frozen": ((8,), {"type": "dense", "units": 4, "lora_rank": 2, "trainable": False}),
    "embedding": ((5,), {"type": "embedding", "input_dim": 10, "output_dim": 4}, "int32"),
    "embedding_any_length_mask": ((None,), {"type": "embedding", "input_dim": 7, "output_dim": 3,
                                            "mask_zero": True}, "int32"),
    "embedding_rank2_ids": ((3, 4), {"type": "embedding", "input_dim": 6, "output_dim": 2}, "int64"),
    "embedding_lora": ((5,), {"type": "embedding", "input_dim": 10, "output_dim": 4, "lora_rank": 2}, "int32"),
    "embedding_frozen": ((5,), {"type": "embedding", "input_dim": 10, "output_dim": 4, "trainable": False}, "int32"),
    "identity": ((3, 2), {"type": "identity"}),
    "activation": ((4,), {"type": "activation", "activation": "gelu"}),
    "activation_softmax": ((3, 5), {"type": "activation", "activation": "softmax"}),
    "re_lu": ((4,), {"type": "re_lu"}),
    "re_lu_capped": ((2, 4), {"type": "re_lu", "max_value": 6, "negative_slope": 0.1, "threshold": 0.5}),
    "leaky_re_lu": ((4,), {"type": "leaky_re_lu", "negative_slope": 0.1}),
    "elu": ((4,), {"type": "elu", "alpha": 0.5}),
    "softmax": ((3, 5), {"type": "softmax"}),
    "softmax_axis1": ((3, 5), {"type": "softmax", "axis": 1}),
    "softmax_axes": ((2, 3, 5), {"type": "softmax", "axis": [-2, -1]}),
    "p_re_lu": ((4,), {"type": "p_re_lu"}),
    "p_re_lu_image": ((3, 4, 2), {"type": "p_re_lu", "alpha_initializer": "ones"}),
    "p_re_lu_shared": ((3, 4, 2), {"type": "p_re_lu", "shared_axes": [1, 2]}),
    "p_re_lu_shared_int": ((None, 2), {"type": "p_re_lu", "shared_axes": 1}),
    "p_re_lu_frozen": ((3, 4), {"type": "p_re_lu", "trainable": False}),
    "dropout": ((4,), {"type": "dropout", "rate": 0.5}),
    "dropout_noise_shape": ((3, 4), {"type": "dropout", "rate": 0.3, "noise_shape": [None, 1, 4], "seed": 3}),
    "spatial_dropout1d": ((5, 4), {"type": "spatial_dropout1d", "rate": 0.2}),
    "spatial_dropout2d": ((4, 4, 3), {"type": "spatial_dropout2d", "rate": 0.2}),
    "spatial_dropout2d_cf": ((3, 4, 4), {"type": "spatial_dropout2d", "rate": 0.2, "data_format": "channels_first"}),
    "spatial_dropout3d": ((2, 2, 2, 3), {"type": "spatial_dropout3d", "rate": 0.1}),
    "spatial_dropout3d_frozen": ((2, 2, 2, 3), {"type": "spatial_dropout3d", "rate": 0.1, "trainable": False}),
    "gaussian_dropout": ((4,), {"type": "gaussian_dropout", "rate": 0.2}),
    "gaussian_noise": ((2, 4), {"type": "gaussian_noise", "stddev": 0.1, "seed": 1}),
    "alpha_dropout": ((2, 4), {"type": "alpha_dropout", "rate": 0.2, "seed": 1}),
    "masking": ((None, 4), {"type": "masking", "mask_value": -1}),
    "activity_regularization": ((4,), {"type": "activity_regularization", "l1": 0.01, "l2": 0.001}),
    "einsum_dense_matrix": ((8,), {"type": "einsum_dense", "equation": "ab,bc->ac", "output_shape": 4,
                                   "bias_axes": "c"}),
    "einsum_dense_sequence": ((5, 8), {"type": "einsum_dense", "equation": "abc,cd->abd", "output_shape": [5, 4]}),
    "einsum_dense_heads": ((5, 8), {"type": "einsum_dense", "equation": "abc,cde->abde", "output_shape": [None, 2, 3],
                                    "bias_axes": "de", "activation": "relu"}),
    "einsum_dense_left_ellipsis": ((3, 5, 8), {"type": "einsum_dense", "equation": "...b,bc->...c",
                                               "output_shape": 4, "bias_axes": "c"}),
    "einsum_dense_right_ellipsis": ((5, 8), {"type": "einsum_dense", "equation": "ab...,bc->ac...",
                                             "output_shape": [4]}),
    "einsum_dense_lora": ((5, 8), {"type": "einsum_dense", "equation": "abc,cd->abd", "output_shape": [None, 4],
                                   "lora_rank": 2, "bias_axes": "d"}),
}


@pytest.mark.parametrize("case", MATCHES.values(), ids=MATCHES.keys())
def test_matches_keras(case):
    shape, layer, *dtype = case
    assert_matches_keras(one_layer(shape, layer, dtype=dtype[0] if dtype else "float32"))


def test_stack_of_core_layers_matches_keras():
    """Dense on a sequence, activations and dropout in one model, with a frozen layer in the middle."""
    assert_matches_keras(one_layer(
        (6,), {"type": "embedding", "input_dim": 20, "output_dim": 8},
        {"type": "dense", "units": 5, "trainable": False}, {"type": "leaky_re_lu"},
        {"type": "spatial_dropout1d", "rate": 0.1}, {"type": "p_re_lu", "shared_axes": [1]},
        {"type": "dense", "units": 3}, {"type": "softmax"}, dtype="int32"))


def test_frozen_weights_count_as_non_trainable():
    shapes = load(one_layer((8,), {"type": "dense", "units": 4, "trainable": False})).shapes
    assert (shapes.trainable, shapes.non_trainable) == (0, 36)
    lora = load(one_layer((8,), {"type": "dense", "units": 4, "lora_rank": 2})).shapes
    assert (lora.trainable, lora.non_trainable) == (8 * 2 + 2 * 4 + 4, 32)


def test_dense_flops_per_sample():
    info = load(one_layer((5, 8), {"type": "dense", "units": 3})).shapes.layers[0]
    assert info.flops == 2 * 5 * 8 * 3


def test_identity_keeps_integer_ids_for_embedding():
    assert_matches_keras(one_layer((4,), {"type": "identity"}, {"type": "embedding", "input_dim": 5, "output_dim": 2},
                                   dtype="int32"))


def test_dropout_and_noise_act_only_in_training():
    import netspec

    model = netspec.build_model(one_layer(
        (16,), {"type": "dropout", "rate": 0.5}, {"type": "gaussian_noise", "stddev": 0.5},
        {"type": "gaussian_dropout", "rate": 0.3}))
    x = np.ones((2, 16), "float32")
    np.testing.assert_array_equal(model(x, training=False), x)
    assert not np.allclose(model(x, training=True), x)


ROUND_TRIPS = [
    {"type": "dense", "units": 3, "activation": "tanh", "use_bias": False,
     "kernel_initializer": {"type": "random_normal", "stddev": 0.1}, "kernel_regularizer": "l2"},
    {"type": "dense", "units": 3, "lora_rank": 2, "lora_alpha": 4.0},
    {"type": "embedding", "input_dim": 9, "output_dim": 3, "mask_zero": True, "embeddings_initializer": "he_uniform"},
    {"type": "embedding", "input_dim": 9, "output_dim": 3, "lora_rank": 2},
    {"type": "identity"},
    {"type": "activation", "activation": "gelu"},
    {"type": "re_lu", "max_value": 6.0},
    {"type": "leaky_re_lu", "negative_slope": 0.2},
    {"type": "elu", "alpha": 0.5},
    {"type": "softmax", "axis": [1, 2]},
    {"type": "p_re_lu", "shared_axes": [1, 2], "alpha_regularizer": "l1"},
    {"type": "dropout", "rate": 0.25, "noise_shape": [None, 1, 8], "seed": 2},
    {"type": "spatial_dropout1d", "rate": 0.1, "seed": 1},
    {"type": "spatial_dropout2d", "rate": 0.1, "data_format": "channels_first"},
    {"type": "spatial_dropout3d", "rate": 0.1},
    {"type": "gaussian_dropout", "rate": 0.1},
    {"type": "gaussian_noise", "stddev": 0.2},
    {"type": "alpha_dropout", "rate": 0.1, "noise_shape": [None, 1, 4], "seed": 3},
    {"type": "masking", "mask_value": 2.0},
    {"type": "activity_regularization", "l2": 0.1},
    {"type": "einsum_dense", "equation": "abc,cde->abde", "output_shape": [None, 2, 3], "bias_axes": "de",
     "kernel_initializer": "he_normal", "lora_rank": 2},
]


def test_every_type_of_the_family_is_compared_and_round_tripped():
    family = {tag for tag, cls in LAYER_TYPES.items() if cls.__module__ == "netspec.layers.core"}
    assert {case[1]["type"] for case in MATCHES.values()} == family
    assert {layer["type"] for layer in ROUND_TRIPS} == family


@pytest.mark.parametrize("layer", ROUND_TRIPS, ids=[f"{i}-{layer['type']}" for i, layer in enumerate(ROUND_TRIPS)])
def test_keras_config_round_trip(layer):
    assert_config_round_trip(layer)


def _spec_text(shape: str, layer: str, dtype: str = "float32") -> str:
    """A YAML spec whose layer under test is on line 6."""
    return (
        "name: t\n"
        "inputs:\n"
        f"  - {{name: x, shape: {shape}, dtype: {dtype}}}\n"
        "layers:\n"
        "  - {type: identity}\n"
        f"  - {layer}\n"
    )


# (input shape, layer, dtype) -> (path, message words, hint words)
SHAPE_ERRORS = {
    "embedding_fed_floats": (
        ("[5]", "{type: embedding, input_dim: 10, output_dim: 4}", "float32"),
        ("layers[1]", ["`embedding` reads integer token ids", "float32"], "give the model input `dtype: int32`")),
    "dense_unknown_features": (
        ("[4, null]", "{type: dense, units: 2}", "float32"),
        ("layers[1]", ["`dense` needs a known last dimension", "(None, 4, None)"], "fixed size on its last axis")),
    "dropout_noise_shape_rank": (
        ("[3, 4]", "{type: dropout, rate: 0.1, noise_shape: [null, 4]}", "float32"),
        ("layers[1].noise_shape", ["has 2 entries", "rank 3"], "batch axis included")),
    "dropout_noise_shape_size": (
        ("[3, 4]", "{type: dropout, rate: 0.1, noise_shape: [null, 1, 5]}", "float32"),
        ("layers[1].noise_shape", ["entry 2 is 5", "size 4"], "use 1 to share the mask")),
    "spatial_dropout2d_on_sequence": (
        ("[5, 4]", "{type: spatial_dropout2d, rate: 0.1}", "float32"),
        ("layers[1]", ["expects input of rank 4", "(None, 5, 4)"], "use `spatial_dropout1d`")),
    "p_re_lu_unknown_dim": (
        ("[null, 4]", "{type: p_re_lu}", "float32"),
        ("layers[1]", ["needs a known size on axis 1", "(None, None, 4)"], "fixed size")),
    "p_re_lu_shared_axis_out_of_range": (
        ("[5, 4]", "{type: p_re_lu, shared_axes: [3]}", "float32"),
        ("layers[1].shared_axes", ["names axis 3", "axes 1 to 2"], "between 1 and")),
    "softmax_axis_out_of_range": (
        ("[4, 6]", "{type: softmax, axis: 3}", "float32"),
        ("layers[1].axis", ["`axis` 3 of `softmax` is out of range", "[-3, 2]"], "batch axis as 0")),
    "softmax_batch_axis": (
        ("[4, 6]", "{type: softmax, axis: -3}", "float32"),
        ("layers[1].axis", ["is the batch axis"], "use 1 for the first axis")),
    "einsum_dense_rank": (
        ("[5, 8]", "{type: einsum_dense, equation: 'ab,bc->ac', output_shape: 4}", "float32"),
        ("layers[1].equation", ["`ab` has 2 axes, the input 3"], "one equation letter per input axis")),
    "einsum_dense_unknown_kernel_axis": (
        ("[5, null]", "{type: einsum_dense, equation: 'abc,cd->abd', output_shape: [5, 4]}", "float32"),
        ("layers[1].equation", ["kernel axis `c` takes an unknown size"], "one equation letter per input axis")),
    "einsum_dense_bias_axes": (
        ("[8]", "{type: einsum_dense, equation: 'ab,bc->ac', output_shape: 4, bias_axes: d}", "float32"),
        ("layers[1].equation", ["`bias_axes` 'd' names `d`"], "one equation letter per input axis")),
}


@pytest.mark.parametrize("case", SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys())
def test_shape_errors(case):
    (shape, layer, dtype), (path, words, hint) = case
    with pytest.raises(ShapeError):
        load_spec(_spec_text(shape, layer, dtype))
    (diagnostic,) = shape_errors(_spec_text(shape, layer, dtype))
    assert diagnostic.path == path
    assert diagnostic.line == 6
    for word in words:
        assert word in diagnostic.message, diagnostic.message
    assert hint in diagnostic.hint, diagnostic.hint


def test_embedding_fed_floats_after_a_layer_names_the_input():
    text = ("name: t\ninputs:\n  - {name: ids, shape: [5]}\nlayers:\n"
            "  - {type: embedding, input_dim: 10, output_dim: 4}\n")
    (diagnostic,) = shape_errors(text)
    assert (diagnostic.path, diagnostic.line, diagnostic.column) == ("layers[0]", 5, 5)
    assert diagnostic.message == "`embedding` reads integer token ids; it receives float32 values from `ids`"
    assert diagnostic.hint == "give the model input `dtype: int32`"


# Value checks that Keras raises late (at build or in training) or never: (layer, path, words of the message).
# Messages worded by the schema stage (pydantic's constraints) are matched on the value they repeat.
VALUE_ERRORS = {
    "units_zero": ("{type: dense, units: 0}", "layers[1].units", "received 0"),
    "lora_alpha_alone": ("{type: dense, units: 2, lora_alpha: 2.0}", "layers[1].lora_alpha", "without `lora_rank`"),
    "lora_with_constraint": ("{type: dense, units: 2, lora_rank: 1, kernel_constraint: max_norm}",
                             "layers[1].kernel_constraint",
                             "incompatible with `kernel_constraint`"),
    "embedding_input_dim": ("{type: embedding, input_dim: 0, output_dim: 2}", "layers[1].input_dim",
                            "received 0"),
    "dropout_rate_one": ("{type: dropout, rate: 1.0}", "layers[1].rate", "received 1.0"),
    "dropout_rate_negative": ("{type: spatial_dropout1d, rate: -0.1}", "layers[1].rate", "received -0.1"),
    "noise_stddev": ("{type: gaussian_noise, stddev: 2}", "layers[1].stddev", "received 2"),
    "noise_stddev_bool": ("{type: gaussian_noise, stddev: true}", "layers[1].stddev", "received true"),
    "re_lu_negative_cap": ("{type: re_lu, max_value: -1}", "layers[1].max_value", "received -1"),
    "leaky_negative_slope": ("{type: leaky_re_lu, negative_slope: -0.1}", "layers[1].negative_slope",
                             "received -0.1"),
    "p_re_lu_axis_zero": ("{type: p_re_lu, shared_axes: [0]}", "layers[1].shared_axes[0]", "received 0"),
    "spatial_data_format": ("{type: spatial_dropout2d, rate: 0.1, data_format: channel_last}",
                            "layers[1].data_format", "channels_last"),
}


@pytest.mark.parametrize("case", VALUE_ERRORS.values(), ids=VALUE_ERRORS.keys())
def test_value_errors(case):
    layer, path, words = case
    diagnostics = shape_errors(_spec_text("[4, 4, 3]", layer))
    assert any(d.path == path and d.line == 6 and words in d.message for d in diagnostics), diagnostics


def test_misspelled_activation_layer_type_suggests_keras_name():
    (diagnostic,) = shape_errors(_spec_text("[4]", "{type: leaky_relu}"))
    assert diagnostic.path == "layers[1].type"
    assert diagnostic.hint == "did you mean `leaky_re_lu`?"
