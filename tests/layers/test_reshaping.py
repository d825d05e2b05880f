"""Reshaping layers: shapes equal Keras's, config round trips, shape errors."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

from netspec.errors import SpecError
from netspec.load import load_spec

CF = "channels_first"

MATCHES_KERAS = [
    ((4, 5, 3), {"type": "flatten"}),
    ((3, 4, 5), {"type": "flatten", "data_format": CF}),
    ((None, 5), {"type": "flatten"}),
    ((7,), {"type": "flatten"}),
    ((4, 6), {"type": "reshape", "target_shape": [2, 3, 4]}),
    ((4, 6), {"type": "reshape", "target_shape": [-1, 8]}),
    ((4, 6), {"type": "reshape", "target_shape": [3, -1, 2]}),
    ((None, 6), {"type": "reshape", "target_shape": [-1, 3]}),
    ((None, 6), {"type": "reshape", "target_shape": [2, 3]}),
    ((2, 3, 4), {"type": "permute", "dims": [3, 1, 2]}),
    ((None, 3), {"type": "permute", "dims": [2, 1]}),
    ((5,), {"type": "repeat_vector", "n": 3}),
    ((None,), {"type": "repeat_vector", "n": 2}),
    ((5, 2), {"type": "zero_padding1d"}),
    ((None, 2), {"type": "zero_padding1d", "padding": [1, 3]}),
    ((2, 5), {"type": "zero_padding1d", "padding": 2, "data_format": CF}),
    ((4, 5, 2), {"type": "zero_padding2d"}),
    ((4, 5, 2), {"type": "zero_padding2d", "padding": [1, 2]}),
    ((2, 4, None), {"type": "zero_padding2d", "padding": [[1, 2], [3, 0]], "data_format": CF}),
    ((2, 3, 4, 1), {"type": "zero_padding3d"}),
    ((1, 2, 3, 4), {"type": "zero_padding3d", "padding": [[0, 1], [2, 3], [1, 1]], "data_format": CF}),
    ((2, 3, 4, 1), {"type": "zero_padding3d", "padding": [1, 0, 2]}),
    ((6, 2), {"type": "cropping1d"}),
    ((6, 2), {"type": "cropping1d", "cropping": [0, 5]}),
    ((None, 2), {"type": "cropping1d", "cropping": 2}),
    ((6, 7, 2), {"type": "cropping2d"}),
    ((6, 7, 2), {"type": "cropping2d", "cropping": [[1, 2], [3, 0]]}),
    ((2, 6, None), {"type": "cropping2d", "cropping": [2, 1], "data_format": CF}),
    ((4, 5, 6, 1), {"type": "cropping3d"}),
    ((1, 4, 5, 6), {"type": "cropping3d", "cropping": [[0, 1], [2, 2], [1, 0]], "data_format": CF}),
    ((None, 5, 6, 1), {"type": "cropping3d", "cropping": [1, 2, 0]}),
    ((5, 2), {"type": "up_sampling1d"}),
    ((None, 2), {"type": "up_sampling1d", "size": 3}),
    ((4, 5, 2), {"type": "up_sampling2d"}),
    ((4, 5, 2), {"type": "up_sampling2d", "size": [2, 3], "interpolation": "bilinear"}),
    ((2, None, 5), {"type": "up_sampling2d", "size": 3, "data_format": CF, "interpolation": "bicubic"}),
    ((2, 3, 4, 1), {"type": "up_sampling3d"}),
    ((1, 2, 3, None), {"type": "up_sampling3d", "size": [1, 2, 3], "data_format": CF}),
]


def _id(case):
    shape, layer = case
    args = "-".join(f"{k}={v}" for k, v in layer.items() if k != "type")
    return f"{layer['type']}[{shape}]{args}".replace(" ", "")


@pytest.mark.parametrize(("shape", "layer"), MATCHES_KERAS, ids=[_id(c) for c in MATCHES_KERAS])
def test_matches_keras(shape, layer):
    assert_matches_keras(one_layer(shape, layer))


def test_int_input_flows_through_reshaping():
    assert_matches_keras(one_layer(
        (4, 6), {"type": "reshape", "target_shape": [24]}, {"type": "embedding", "input_dim": 10, "output_dim": 2},
        dtype="int32"))


ROUND_TRIP = [
    {"type": "flatten", "data_format": CF},
    {"type": "reshape", "target_shape": [-1, 4]},
    {"type": "permute", "dims": [2, 1]},
    {"type": "repeat_vector", "n": 4},
    {"type": "zero_padding1d", "padding": [1, 2], "data_format": CF},
    {"type": "zero_padding2d", "padding": [[1, 2], [3, 4]]},
    {"type": "zero_padding3d", "padding": 2, "data_format": CF},
    {"type": "cropping1d", "cropping": [2, 0]},
    {"type": "cropping2d", "cropping": [1, 2], "data_format": CF},
    {"type": "cropping3d", "cropping": [[1, 0], [0, 1], [2, 2]]},
    {"type": "up_sampling1d", "size": 3},
    {"type": "up_sampling2d", "size": [2, 1], "interpolation": "bilinear", "data_format": CF},
    {"type": "up_sampling3d", "size": 3},
]


@pytest.mark.parametrize("layer", ROUND_TRIP, ids=[layer["type"] for layer in ROUND_TRIP])
def test_config_round_trip(layer):
    assert_config_round_trip(layer)


def test_arguments_are_keras_constructor_arguments():
    import inspect

    import keras

    from netspec.layers import LAYER_TYPES
    from netspec.layers.reshaping import pairs

    for tag, cls in LAYER_TYPES.items():
        if cls.__module__ != "netspec.layers.reshaping":
            continue
        params = inspect.signature(getattr(keras.layers, cls.keras_class).__init__).parameters
        keras_args = {k: p.default for k, p in params.items() if k not in ("self", "kwargs")}
        ours = {k: f for k, f in cls.model_fields.items() if k not in cls.spec_only_fields}
        assert set(ours) == set(keras_args), tag
        for key, field in ours.items():
            expected = keras_args[key]
            if expected is inspect.Parameter.empty:
                assert field.is_required(), (tag, key)
            elif field.default != expected:
                # The int netspec writes for a default that Keras writes per axis.
                widened = pairs(field.default, cls.rank) if key in ("padding", "cropping") else None
                if cls.rank == 1 and widened:
                    widened = widened[0]
                assert expected in (widened, (field.default,) * cls.rank), (tag, key, field.default, expected)


HEAD = """\
name: t
inputs:
  - {name: x, shape: %s}
layers:
"""


def test_reshape_sizes_do_not_multiply_out():
    (error,) = shape_errors(HEAD % "[5, 3]" + """\
  - {type: dense, units: 4}
  - {type: reshape, target_shape: [3, 3]}
""")
    assert (error.path, error.line) == ("layers[1].target_shape", 6)
    assert error.message == "cannot reshape (None, 5, 4) (20 values) into [3, 3] (9 values)"
    assert error.hint == "the product of `target_shape` must be 20; or write -1 for one axis to infer it"


def test_reshape_minus_one_does_not_divide():
    (error,) = shape_errors(HEAD % "[5, 3]" + "  - {type: reshape, target_shape: [-1, 4]}\n")
    assert (error.path, error.line) == ("layers[0].target_shape", 5)
    assert "15 is not divisible by 4" in error.message


def test_reshape_unknown_size_that_can_never_fit():
    (error,) = shape_errors(HEAD % "[null, 6]" + "  - {type: reshape, target_shape: [4, 4]}\n")
    assert "the input's size is a multiple of 6, which 16" in error.message
    assert "use -1" in error.hint


def test_cropping_more_than_the_input():
    (error,) = shape_errors(HEAD % "[6, 8, 2]" + """\
  - {type: zero_padding2d, padding: [0, 1]}
  - {type: cropping2d, cropping: [[1, 1], [5, 5]]}
""")
    assert (error.path, error.line) == ("layers[1].cropping", 6)
    assert error.message == (
        "`cropping2d` crops 10 (5 + 5) from axis 2 (width) of its input, which has size 10 here; "
        "received shape (None, 6, 10, 2)"
    )
    assert error.hint == "crop less than the size of each axis: layers[0] leaves only 10 on axis 2 (width)"


def test_cropping1d_default_on_a_two_step_input():
    (error,) = shape_errors(HEAD % "[2, 3]" + "  - {type: cropping1d}\n")
    assert (error.path, error.line) == ("layers[0]", 5)
    assert "crops 2 (1 + 1) from axis 1 (steps)" in error.message


def test_up_sampling2d_fed_a_sequence_of_images():
    (error,) = shape_errors(HEAD % "[3, 4, 4, 1]" + "  - {type: up_sampling2d}\n")
    assert "wrap it in `time_distributed`" in error.hint and "or use `up_sampling3d`" in error.hint


def test_repeat_vector_fed_a_sequence():
    (error,) = shape_errors(HEAD % "[5, 3]" + "  - {type: repeat_vector, n: 2}\n")
    assert error.message == "`repeat_vector` expects input of rank 2 (batch, features); received shape (None, 5, 3)"
    # a model input has no `return_sequences`: the hint does not suggest it
    assert error.hint == "it repeats one vector per sample: add a `flatten` or a global pooling layer before this one"


def test_permute_of_the_wrong_rank():
    (error,) = shape_errors(HEAD % "[5, 3]" + "  - {type: permute, dims: [3, 1, 2]}\n")
    assert (error.path, error.line) == ("layers[0].dims", 5)
    assert "expects input of rank 4" in error.message


@pytest.mark.parametrize(("layer", "path", "words"), [
    ("{type: reshape, target_shape: [-1, -1]}", "layers[0].target_shape", "-1 only once"),
    ("{type: reshape, target_shape: [0, 4]}", "layers[0].target_shape", "positive or -1"),
    ("{type: permute, dims: [1, 3]}", "layers[0].dims", "permutation of 1..2"),
    ("{type: zero_padding1d, padding: [[1, 1]]}", "layers[0].padding", "an int or two ints"),
    ("{type: zero_padding2d, padding: [1, 2, 3]}", "layers[0].padding", "2 ints (one per spatial axis)"),
    ("{type: cropping3d, cropping: [[1, 1], [1, 1]]}", "layers[0].cropping", "3 pairs"),
    ("{type: cropping2d, cropping: -1}", "layers[0].cropping", "non-negative integer"),
    ("{type: up_sampling1d, size: [2]}", "layers[0].size", "integer"),
    ("{type: up_sampling2d, interpolation: linear}", "layers[0].interpolation", "'bilinear'"),
    ("{type: up_sampling1d, data_format: channels_first}", "layers[0].data_format", "unknown key `data_format`"),
])
def test_invalid_arguments(layer, path, words):
    with pytest.raises(SpecError) as info:
        load_spec(HEAD % "[8, 8, 3]" + f"  - {layer}\n")
    (error,) = info.value.diagnostics
    assert error.path == path and error.line == 5
    assert words in error.message, error.message
