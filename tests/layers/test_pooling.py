"""Pooling layers: shapes equal Keras's, config round trips, shape errors."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

from netspec.errors import SpecError
from netspec.load import load_spec, loaded

CF = "channels_first"

MATCHES_KERAS = [
    ((9, 3), {"type": "max_pooling1d"}),
    ((9, 3), {"type": "max_pooling1d", "pool_size": 3, "strides": 2, "padding": "same"}),
    ((3, None), {"type": "max_pooling1d", "pool_size": 2, "data_format": CF}),
    ((9, 3), {"type": "average_pooling1d", "pool_size": 4, "strides": 1}),
    ((3, 9), {"type": "average_pooling1d", "pool_size": [2], "padding": "same", "data_format": CF}),
    ((7, 7, 2), {"type": "max_pooling2d"}),
    ((7, 8, 2), {"type": "max_pooling2d", "pool_size": [3, 2], "strides": [2, 3], "padding": "same"}),
    ((2, 7, 8), {"type": "max_pooling2d", "pool_size": 3, "data_format": CF}),
    ((None, 6, 2), {"type": "average_pooling2d", "pool_size": 2, "strides": 1}),
    ((2, None, 5), {"type": "average_pooling2d", "pool_size": [1, 2], "padding": "same", "data_format": CF}),
    ((4, 5, 6, 1), {"type": "max_pooling3d"}),
    ((4, 5, 6, 1), {"type": "max_pooling3d", "pool_size": [1, 2, 3], "strides": 2, "padding": "same"}),
    ((1, 4, 5, 6), {"type": "average_pooling3d", "pool_size": 2, "data_format": CF}),
    ((None, 5, 6, 2), {"type": "average_pooling3d", "pool_size": [2, 3, 2], "strides": [1, 1, 2]}),
    ((9, 3), {"type": "global_max_pooling1d"}),
    ((None, 3), {"type": "global_average_pooling1d", "keepdims": True}),
    ((3, 9), {"type": "global_average_pooling1d", "data_format": CF}),
    ((5, 6, 2), {"type": "global_max_pooling2d", "keepdims": True, "data_format": CF}),
    ((None, None, 2), {"type": "global_average_pooling2d"}),
    ((3, 4, 5, 2), {"type": "global_max_pooling3d"}),
    ((2, 3, 4, 5), {"type": "global_average_pooling3d", "keepdims": True, "data_format": CF}),
]


def _id(case):
    shape, layer = case
    args = "-".join(f"{k}={v}" for k, v in layer.items() if k != "type")
    return f"{layer['type']}[{shape}]{args}".replace(" ", "")


@pytest.mark.parametrize(("shape", "layer"), MATCHES_KERAS, ids=[_id(c) for c in MATCHES_KERAS])
def test_matches_keras(shape, layer):
    assert_matches_keras(one_layer(shape, layer))


ROUND_TRIP = [
    {"type": "max_pooling1d", "pool_size": 3, "strides": 1, "padding": "same"},
    {"type": "max_pooling2d", "pool_size": [2, 3], "data_format": CF},
    {"type": "max_pooling3d", "strides": 1},
    {"type": "average_pooling1d", "pool_size": 2},
    {"type": "average_pooling2d", "pool_size": 3, "strides": [1, 2], "padding": "same"},
    {"type": "average_pooling3d", "pool_size": [1, 2, 2], "data_format": CF},
    {"type": "global_max_pooling1d", "keepdims": True},
    {"type": "global_max_pooling2d", "data_format": CF},
    {"type": "global_max_pooling3d"},
    {"type": "global_average_pooling1d", "data_format": CF, "keepdims": True},
    {"type": "global_average_pooling2d", "keepdims": True},
    {"type": "global_average_pooling3d"},
]


@pytest.mark.parametrize("layer", ROUND_TRIP, ids=[layer["type"] for layer in ROUND_TRIP])
def test_config_round_trip(layer):
    assert_config_round_trip(layer)


def test_arguments_are_keras_constructor_arguments():
    import inspect

    import keras

    from netspec.layers import LAYER_TYPES

    for tag, cls in LAYER_TYPES.items():
        if cls.__module__ != "netspec.layers.pooling":
            continue
        params = inspect.signature(getattr(keras.layers, cls.keras_class).__init__).parameters
        keras_args = {k: p.default for k, p in params.items() if k not in ("self", "kwargs", "name")}
        ours = {k: f for k, f in cls.model_fields.items() if k not in cls.spec_only_fields}
        assert set(ours) == set(keras_args), tag
        for key, field in ours.items():
            expected = keras_args[key]
            if expected is inspect.Parameter.empty:
                assert field.is_required(), (tag, key)
            elif field.default != expected:
                assert expected == (field.default,) * cls.rank, (tag, key, field.default, expected)


def test_flops():
    spec = load_spec(one_layer(
        (8, 8, 3), {"type": "max_pooling2d"}, {"type": "average_pooling2d", "pool_size": 3, "strides": 1},
        {"type": "global_average_pooling2d"}))
    assert [info.flops for info in loaded(spec).shapes.layers] == [2 * 2 * 16 * 3, 3 * 3 * 4 * 3, 4 * 3]


HEAD = """\
name: t
inputs:
  - {name: frames, shape: %s}
layers:
"""


def test_pool_larger_than_what_is_left():
    (error,) = shape_errors(HEAD % "[12, 3]" + """\
  - {type: max_pooling1d, pool_size: 3}
  - {type: max_pooling1d, pool_size: 3}
  - {type: max_pooling1d}
""")
    assert (error.path, error.line) == ("layers[2]", 7)
    assert error.message == (
        "`max_pooling1d`: the pool window (2) is larger than axis 1 (steps) of its input, which has size 1 here; "
        "received shape (None, 1, 3)"
    )
    assert error.hint.startswith("the size ran out at this layer: layers[1] leaves only 1 on axis 1 (steps);")
    assert "fewer downsampling (pooling or strided) layers" in error.hint


def test_pool_error_located_at_pool_size_channels_first():
    (error,) = shape_errors(HEAD % "[2, 8, 3]" + """\
  - {type: average_pooling2d, name: pool_a, pool_size: [2, 4], data_format: channels_first}
""")
    assert (error.path, error.line) == ("layers[0].pool_size", 5)
    assert error.message.startswith("`pool_a` (average_pooling2d): the pool window (4) is larger than axis 3 (width)")
    assert "input `frames` leaves only 3 on axis 3 (width)" in error.hint


@pytest.mark.parametrize("tag", ["max_pooling2d", "global_average_pooling2d"])
def test_2d_pooling_fed_a_sequence_of_images(tag):
    (error,) = shape_errors(HEAD % "[4, 8, 8, 3]" + f"  - {{type: {tag}}}\n")
    assert (error.path, error.line) == ("layers[0]", 5)
    assert f"`{tag}` expects input of rank 4 (batch, height, width, channels)" in error.message
    assert "wrap it in `time_distributed`" in error.hint
    assert f"or use `{tag.replace('2d', '3d')}`" in error.hint


def test_1d_pooling_fed_a_vector():
    (error,) = shape_errors(HEAD % "[12]" + "  - {type: global_max_pooling1d}\n")
    assert error.hint == "add a `reshape` after input `frames` that gives it a channels axis, e.g. `target_shape: [12, 1]`"


@pytest.mark.parametrize(("layer", "path", "words"), [
    ("{type: average_pooling2d}", "layers[0]", "missing required key `pool_size`"),
    ("{type: max_pooling2d, pool_size: [2, 2, 2]}", "layers[0].pool_size", "needs 2 value(s)"),
    ("{type: max_pooling1d, strides: [1, 1]}", "layers[0].strides", "needs 1 value(s)"),
    ("{type: max_pooling2d, padding: causal}", "layers[0].padding", "'valid' or 'same'"),
    ("{type: global_max_pooling2d, pool_size: 2}", "layers[0].pool_size", "unknown key `pool_size`"),
])
def test_invalid_arguments(layer, path, words):
    with pytest.raises(SpecError) as info:
        load_spec(HEAD % "[8, 8, 3]" + f"  - {layer}\n")
    (error,) = info.value.diagnostics
    assert error.path == path and error.line == 5
    assert words in error.message, error.message
