"""Convolution layers: shapes and parameter counts equal Keras's, config round trips, shape errors."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

from netspec.errors import SpecError
from netspec.load import load_spec, loaded

CF = "channels_first"

MATCHES_KERAS = [
    # conv1d
    ((9, 3), {"type": "conv1d", "filters": 4, "kernel_size": 3}),
    ((9, 3), {"type": "conv1d", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ((9, 3), {"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}),
    ((9, 3), {"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "causal", "strides": 2}),
    ((3, 10), {"type": "conv1d", "filters": 4, "kernel_size": [4], "strides": 3, "data_format": CF}),
    ((None, 4), {"type": "conv1d", "filters": 6, "kernel_size": 2, "groups": 2, "use_bias": False}),
    # conv2d
    ((8, 7, 3), {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "strides": [2, 1]}),
    ((8, 7, 3), {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same", "strides": 3}),
    ((9, 9, 2), {"type": "conv2d", "filters": 2, "kernel_size": 3, "dilation_rate": [2, 3]}),
    ((2, 8, 6), {"type": "conv2d", "filters": 3, "kernel_size": 3, "data_format": CF, "padding": "same"}),
    ((None, None, 4), {"type": "conv2d", "filters": 4, "kernel_size": 3, "groups": 4, "strides": 2}),
    ((None, 6, 3), {"type": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": False, "activation": "relu"}),
    # conv3d
    ((5, 6, 7, 2), {"type": "conv3d", "filters": 2, "kernel_size": [2, 3, 1], "strides": [1, 2, 3]}),
    ((2, 5, 6, 7), {"type": "conv3d", "filters": 2, "kernel_size": 2, "padding": "same", "data_format": CF}),
    ((None, 6, 7, 2), {"type": "conv3d", "filters": 2, "kernel_size": 2, "dilation_rate": 2}),
    # transposed
    ((5, 3), {"type": "conv1d_transpose", "filters": 4, "kernel_size": 3}),
    ((5, 3), {"type": "conv1d_transpose", "filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1}),
    ((5, 3), {"type": "conv1d_transpose", "filters": 4, "kernel_size": 2, "strides": 3, "padding": "same"}),
    ((3, None), {"type": "conv1d_transpose", "filters": 2, "kernel_size": 3, "data_format": CF, "strides": 2}),
    ((5, 3), {"type": "conv1d_transpose", "filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}),
    ((4, 5, 3), {"type": "conv2d_transpose", "filters": 4, "kernel_size": 3, "strides": 2}),
    ((4, 5, 3), {"type": "conv2d_transpose", "filters": 4, "kernel_size": [2, 3], "strides": [3, 2],
                 "padding": "same", "output_padding": [2, 0]}),
    ((4, 5, 3), {"type": "conv2d_transpose", "filters": 2, "kernel_size": 4, "strides": 2, "padding": "same",
                 "output_padding": 1}),
    ((3, 4, None), {"type": "conv2d_transpose", "filters": 2, "kernel_size": 2, "data_format": CF, "use_bias": False}),
    ((4, 5, 3), {"type": "conv2d_transpose", "filters": 2, "kernel_size": 3, "dilation_rate": [2, 1]}),
    ((3, 4, 2, 2), {"type": "conv3d_transpose", "filters": 2, "kernel_size": [2, 3, 1], "strides": [1, 2, 3]}),
    ((2, 3, 4, 2), {"type": "conv3d_transpose", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                    "output_padding": [1, 0, 1], "data_format": CF}),
    # separable
    ((9, 3), {"type": "separable_conv1d", "filters": 4, "kernel_size": 3}),
    ((9, 3), {"type": "separable_conv1d", "filters": 4, "kernel_size": 3, "depth_multiplier": 2, "strides": 2,
              "padding": "same"}),
    ((3, None), {"type": "separable_conv1d", "filters": 2, "kernel_size": 2, "data_format": CF, "use_bias": False}),
    ((9, 3), {"type": "separable_conv1d", "filters": 2, "kernel_size": 3, "dilation_rate": 3}),
    ((8, 7, 3), {"type": "separable_conv2d", "filters": 5, "kernel_size": [3, 2], "depth_multiplier": 3}),
    ((3, 8, 7), {"type": "separable_conv2d", "filters": 5, "kernel_size": 3, "strides": 2, "padding": "same",
                 "data_format": CF}),
    ((None, 9, 2), {"type": "separable_conv2d", "filters": 2, "kernel_size": 3, "dilation_rate": 2}),
    # Keras takes strides and dilation together for separable and depthwise convolutions.
    ((16, 16, 3), {"type": "separable_conv2d", "filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}),
    # depthwise
    ((9, 3), {"type": "depthwise_conv1d", "kernel_size": 3}),
    ((9, 3), {"type": "depthwise_conv1d", "kernel_size": 2, "depth_multiplier": 4, "strides": 2, "padding": "same"}),
    ((3, None), {"type": "depthwise_conv1d", "kernel_size": 3, "data_format": CF, "dilation_rate": 2}),
    ((8, 7, 3), {"type": "depthwise_conv2d", "kernel_size": [3, 2], "depth_multiplier": 2, "use_bias": False}),
    ((3, 8, 7), {"type": "depthwise_conv2d", "kernel_size": 3, "strides": [2, 1], "data_format": CF}),
    ((None, 8, 2), {"type": "depthwise_conv2d", "kernel_size": 3, "padding": "same", "depth_multiplier": 3}),
    ((16, 16, 3), {"type": "depthwise_conv2d", "kernel_size": 3, "strides": 2, "dilation_rate": 2}),
]


def _id(case):
    shape, layer = case
    args = "-".join(f"{k}={v}" for k, v in layer.items() if k != "type")
    return f"{layer['type']}[{shape}]{args}".replace(" ", "")


@pytest.mark.parametrize(("shape", "layer"), MATCHES_KERAS, ids=[_id(c) for c in MATCHES_KERAS])
def test_matches_keras(shape, layer):
    assert_matches_keras(one_layer(shape, layer))


def test_stack_matches_keras():
    # A small encoder-decoder: sizes shrink, then grow back through transposed convolutions.
    assert_matches_keras(one_layer(
        (12, 12, 1),
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "separable_conv2d", "filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"},
        {"type": "depthwise_conv2d", "kernel_size": 3, "depth_multiplier": 2},
        {"type": "conv2d_transpose", "filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1},
        {"type": "conv2d", "filters": 1, "kernel_size": 1, "trainable": False},
    ))


ROUND_TRIP = [
    {"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "groups": 2,
     "activation": "relu", "kernel_initializer": "he_normal", "kernel_regularizer": {"type": "l2", "l2": 0.01}},
    {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "strides": 2, "data_format": CF, "use_bias": False,
     "bias_constraint": "non_neg"},
    {"type": "conv3d", "filters": 2, "kernel_size": 2, "padding": "same", "activity_regularizer": "l1"},
    {"type": "conv1d_transpose", "filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1},
    {"type": "conv2d_transpose", "filters": 3, "kernel_size": [2, 3], "padding": "same", "dilation_rate": 2,
     "kernel_constraint": {"type": "max_norm", "max_value": 2.0}},
    {"type": "conv3d_transpose", "filters": 3, "kernel_size": 3, "strides": [1, 2, 2], "output_padding": [0, 1, 1],
     "data_format": CF},
    {"type": "separable_conv1d", "filters": 3, "kernel_size": 3, "depth_multiplier": 2,
     "pointwise_initializer": "zeros", "depthwise_regularizer": "l2", "pointwise_constraint": "unit_norm"},
    {"type": "separable_conv2d", "filters": 3, "kernel_size": 3, "strides": 2, "data_format": CF,
     "depthwise_initializer": {"type": "random_normal", "stddev": 0.1, "seed": 1}},
    {"type": "depthwise_conv1d", "kernel_size": 3, "depth_multiplier": 3, "padding": "same",
     "depthwise_constraint": "non_neg"},
    {"type": "depthwise_conv2d", "kernel_size": [3, 1], "dilation_rate": 2, "use_bias": False,
     "depthwise_initializer": "ones", "activation": "tanh"},
]


@pytest.mark.parametrize("layer", ROUND_TRIP, ids=[layer["type"] for layer in ROUND_TRIP])
def test_config_round_trip(layer):
    assert_config_round_trip(layer)


def test_arguments_are_keras_constructor_arguments():
    """Each class's fields are exactly its Keras class's constructor arguments, with Keras's defaults."""
    import inspect

    import keras

    from netspec.layers import LAYER_TYPES

    for tag in ["conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose", "conv3d_transpose",
                "separable_conv1d", "separable_conv2d", "depthwise_conv1d", "depthwise_conv2d"]:
        cls = LAYER_TYPES[tag]
        params = inspect.signature(getattr(keras.layers, cls.keras_class).__init__).parameters
        keras_args = {k: p.default for k, p in params.items() if k not in ("self", "kwargs")}
        ours = {k: f.default for k, f in cls.model_fields.items() if k not in cls.spec_only_fields}
        assert set(ours) == set(keras_args), tag
        for key, default in ours.items():
            expected = keras_args[key]
            if expected is inspect.Parameter.empty:
                assert cls.model_fields[key].is_required(), (tag, key)
            elif default != expected:
                # Keras writes a per-axis default as a tuple, netspec as the int Keras expands to it.
                assert expected == (default,) * cls.rank, (tag, key, default, expected)


def test_flops_count_multiply_adds_as_two():
    spec = load_spec(one_layer(
        (8, 8, 3),
        {"type": "conv2d", "filters": 4, "kernel_size": 3},  # 6x6 positions, 3*3*3 weights per filter
        {"type": "depthwise_conv2d", "kernel_size": 3, "depth_multiplier": 2},  # 4x4 positions, 8 channels
        {"type": "separable_conv2d", "filters": 5, "kernel_size": 3},  # 2x2 positions
        {"type": "conv2d_transpose", "filters": 2, "kernel_size": 2},  # 2x2 input positions
    ))
    flops = [info.flops for info in loaded(spec).shapes.layers]
    assert flops == [
        2 * (3 * 3 * 3 * 4) * 36,
        2 * (3 * 3 * 8) * 16,
        2 * (3 * 3 * 8 + 8 * 5) * 4,
        2 * (2 * 2 * 5 * 2) * 4,
    ]


# ----- shape errors: path, line, message, hint -----

HEAD = """\
name: t
inputs:
  - {name: image, shape: %s}
layers:
"""


def test_kernel_larger_than_what_is_left():
    errors = shape_errors(HEAD % "[10, 10, 1]" + """\
  - {type: conv2d, filters: 4, kernel_size: 3}
  - {type: max_pooling2d, pool_size: 2}
  - {type: conv2d, filters: 4, kernel_size: 3, strides: 2}
  - {type: conv2d, filters: 4, kernel_size: [1, 3]}
  - {type: flatten}
""")
    assert len(errors) == 1
    (error,) = errors
    assert error.path == "layers[3].kernel_size"
    assert error.line == 8
    assert error.message == (
        "`conv2d`: the kernel (3) is larger than axis 2 (width) of its input, which has size 1 here; "
        "received shape (None, 1, 1, 4)"
    )
    assert error.hint.startswith("the size ran out at this layer: layers[2] leaves only 1 on axis 2 (width);")
    assert "`padding: same`" in error.hint and "fewer downsampling" in error.hint


def test_dilated_kernel_larger_than_input_channels_first():
    (error,) = shape_errors(HEAD % "[2, 4, 9]" + """\
  - {type: separable_conv2d, filters: 2, kernel_size: 2,
     dilation_rate: 4, data_format: channels_first}
""")
    assert (error.path, error.line) == ("layers[0].kernel_size", 5)
    assert "the kernel (2, dilated to 5) is larger than axis 2 (height) of its input, which has size 4" in error.message
    assert "input `image` leaves only 4 on axis 2 (height)" in error.hint


def test_conv2d_fed_a_sequence_of_images():
    (error,) = shape_errors(HEAD % "[5, 16, 16, 3]" + """\
  - {type: conv2d, filters: 4, kernel_size: 3}
""")
    assert (error.path, error.line) == ("layers[0]", 5)
    assert error.message == (
        "`conv2d` expects input of rank 4 (batch, height, width, channels); received shape (None, 5, 16, 16, 3) (rank 5)"
    )
    assert "wrap it in `time_distributed`" in error.hint and "each of the 5 steps of axis 1" in error.hint
    assert "or use `conv3d`" in error.hint


def test_conv_fed_the_wrong_rank():
    (error,) = shape_errors(HEAD % "[784]" + """\
  - {type: dense, units: 4}
  - {type: conv2d, filters: 4, kernel_size: 3}
""")
    assert (error.path, error.line) == ("layers[1]", 6)
    assert error.message == (
        "`conv2d` expects input of rank 4 (batch, height, width, channels); received shape (None, 4) (rank 2)"
    )
    assert error.hint == "add a `reshape` after layers[0] that gives it the layout (batch, height, width, channels)"

    (error,) = shape_errors(HEAD % "[28, 28]" + """\
  - {type: conv2d, filters: 4, kernel_size: 3}
""")
    assert error.hint == ("add a `reshape` after input `image` that gives it a channels axis, "
                          "e.g. `target_shape: [28, 28, 1]`")


def test_conv1d_fed_images_suggests_conv2d():
    (error,) = shape_errors(HEAD % "[8, 8, 3]" + """\
  - {type: conv1d_transpose, filters: 4, kernel_size: 3}
""")
    assert "expects input of rank 3 (batch, steps, channels)" in error.message
    assert "wrap it in `time_distributed`" in error.hint and "or use `conv2d_transpose`" in error.hint


def test_unknown_channels_and_groups():
    (error,) = shape_errors(HEAD % "[8, null]" + """\
  - {type: conv1d, filters: 4, kernel_size: 3}
""")
    assert error.path == "layers[0]" and "needs a known channels dimension" in error.message

    (error,) = shape_errors(HEAD % "[8, 3]" + """\
  - {type: conv1d, filters: 4, kernel_size: 3, groups: 2}
""")
    assert (error.path, error.line) == ("layers[0].groups", 5)
    assert "`groups` (=2)" in error.message and "3 channels" in error.message


def test_transposed_output_size_zero():
    (error,) = shape_errors(HEAD % "[1, 4, 3]" + """\
  - {type: conv2d_transpose, filters: 2, kernel_size: 2, padding: same, strides: 2, output_padding: 0}
""")
    assert error.path == "layers[0].output_padding"
    assert "would give axis 1 (height) size 0" in error.message


@pytest.mark.parametrize(("layer", "path", "words"), [
    ("{type: conv2d, filters: 4, kernel_size: [3, 3, 3]}", "layers[0].kernel_size", "needs 2 value(s)"),
    ("{type: conv2d, filters: 4, kernel_size: 3, strides: 2, dilation_rate: 2}", "layers[0].strides",
     "`strides` > 1 cannot be combined with `dilation_rate` > 1"),
    ("{type: conv2d_transpose, filters: 4, kernel_size: 3, strides: 2, dilation_rate: 2}", "layers[0].strides",
     "`strides` > 1 cannot be combined"),
    ("{type: conv2d, filters: 5, kernel_size: 3, groups: 2}", "layers[0].filters", "`filters` (=5) must be divisible"),
    ("{type: conv2d_transpose, filters: 4, kernel_size: 3, strides: 2, output_padding: 2}", "layers[0].output_padding",
     "each `output_padding` must be less than its `strides`"),
    ("{type: conv2d_transpose, filters: 4, kernel_size: 3, output_padding: -1}", "layers[0].output_padding",
     "non-negative integer"),
    ("{type: conv2d_transpose, filters: 4, kernel_size: 3, groups: 2}", "layers[0].groups", "unknown key `groups`"),
    ("{type: separable_conv2d, filters: 4, kernel_size: 3, padding: causal}", "layers[0].padding", "'valid' or 'same'"),
    ("{type: depthwise_conv2d, kernel_size: 3, depth_multiplier: 0}", "layers[0].depth_multiplier",
     "expected a positive integer; received 0"),
    ("{type: depthwise_conv2d, filters: 4, kernel_size: 3}", "layers[0].filters", "unknown key `filters`"),
])
def test_invalid_arguments(layer, path, words):
    with pytest.raises(SpecError) as info:
        load_spec(HEAD % "[8, 8, 3]" + f"  - {layer}\n")
    (error,) = info.value.diagnostics
    assert error.path == path and error.line == 5
    assert words in error.message, error.message
