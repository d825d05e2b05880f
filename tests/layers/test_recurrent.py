"""Recurrent layers: shapes and parameter counts against Keras, config round trips, shape errors."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras

from netspec.errors import ShapeError, SpecError
from netspec.layers import LAYER_TYPES
from netspec.layers.base import CONSTRAINTS, INITIALIZERS, REGULARIZERS, KerasCall
from netspec.load import load, load_spec


def spec(shape, *layers, **extra) -> dict:
    return {"name": "m", "inputs": [{"name": "x", "shape": shape}], "layers": list(layers), **extra}


def diagnostics(text: str, error=SpecError) -> list:
    with pytest.raises(error) as info:
        load_spec(text)
    return info.value.diagnostics


KERAS_CASES = {
    "simple_rnn": spec([6, 5], {"type": "simple_rnn", "units": 4}),
    "simple_rnn_no_bias_sequences": spec([6, 5], {"type": "simple_rnn", "units": 3, "use_bias": False,
                                                  "return_sequences": True, "activation": "relu"}),
    "simple_rnn_state": spec([None, 5], {"type": "simple_rnn", "units": 3, "return_state": True}),
    "lstm": spec([6, 5], {"type": "lstm", "units": 4, "dropout": 0.1, "recurrent_dropout": 0.1}),
    "lstm_state_sequences": spec([6, 5], {"type": "lstm", "units": 4, "return_sequences": True, "return_state": True,
                                          "go_backwards": True}),
    "lstm_null_length_unroll_free": spec([None, 3], {"type": "lstm", "units": 2, "use_bias": False,
                                                     "unit_forget_bias": False}),
    "lstm_unroll": spec([4, 3], {"type": "lstm", "units": 2, "unroll": True}),
    "gru_reset_after": spec([6, 5], {"type": "gru", "units": 4}),
    "gru_keras2": spec([6, 5], {"type": "gru", "units": 4, "reset_after": False, "return_state": True}),
    "gru_no_bias": spec([None, 5], {"type": "gru", "units": 4, "use_bias": False, "return_sequences": True}),
    "stacked": spec([7, 3], {"type": "lstm", "units": 8, "return_sequences": True},
                    {"type": "gru", "units": 6, "return_sequences": True},
                    {"type": "simple_rnn", "units": 2}),
    "state_picked": spec([7, 3], {"type": "lstm", "units": 5, "return_state": True, "name": "enc"},
                         {"type": "dense", "units": 2, "inputs": ["enc[2]"]}),
    "frozen": spec([7, 3], {"type": "gru", "units": 5, "trainable": False}),
    "regularized": spec([7, 3], {"type": "lstm", "units": 3, "kernel_regularizer": "l2",
                                 "recurrent_regularizer": {"type": "l1", "l1": 0.01},
                                 "recurrent_initializer": "glorot_uniform", "kernel_constraint": "max_norm"}),
    "conv_lstm1d": spec([None, 9, 2], {"type": "conv_lstm1d", "filters": 3, "kernel_size": 3, "return_state": True}),
    "conv_lstm1d_dilated": spec([4, 9, 2], {"type": "conv_lstm1d", "filters": 2, "kernel_size": 2, "dilation_rate": 3,
                                            "return_sequences": True}),
    "conv_lstm2d": spec([3, 8, 7, 2], {"type": "conv_lstm2d", "filters": 4, "kernel_size": [3, 2], "strides": 2,
                                       "padding": "same", "return_sequences": True}),
    "conv_lstm2d_channels_first": spec([3, 2, 8, 7], {"type": "conv_lstm2d", "filters": 2, "kernel_size": 3,
                                                      "data_format": "channels_first", "return_state": True}),
    "conv_lstm3d": spec([2, 5, 6, 4, 1], {"type": "conv_lstm3d", "filters": 2, "kernel_size": [2, 3, 1],
                                          "use_bias": False}),
    # hybrids: conv -> RNN; conv -> reshape -> RNN (OCR-style); ConvLSTM -> pooling -> dense
    "conv1d_lstm": spec([20, 4], {"type": "conv1d", "filters": 8, "kernel_size": 3, "activation": "relu"},
                        {"type": "max_pooling1d"}, {"type": "lstm", "units": 6}, {"type": "dense", "units": 2}),
    "conv2d_reshape_gru": spec([16, 12, 1], {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
                               {"type": "max_pooling2d"}, {"type": "reshape", "target_shape": [8, 24]},
                               {"type": "gru", "units": 5, "return_sequences": True},
                               {"type": "dense", "units": 3, "activation": "softmax"}),
    "conv_lstm2d_head": spec([3, 8, 8, 1], {"type": "conv_lstm2d", "filters": 2, "kernel_size": 3},
                             {"type": "global_average_pooling2d"}, {"type": "dense", "units": 2}),
    "rnn_lstm_cell": spec([6, 3], {"type": "rnn", "cell": {"type": "lstm_cell", "units": 4}}),
    "rnn_gru_cell_keras2": spec([6, 3], {"type": "rnn", "cell": {"type": "gru_cell", "units": 4, "reset_after": False},
                                         "return_sequences": True}),
    "rnn_stacked_cells": spec([None, 3], {"type": "rnn", "cell": [
        {"type": "lstm_cell", "units": 4}, {"type": "gru_cell", "units": 2},
        {"type": "simple_rnn_cell", "units": 3, "kernel_initializer": "he_normal", "dropout": 0.1}]}),
    "rnn_one_cell_list_unrolled": spec([5, 3], {"type": "rnn", "unroll": True, "return_state": True,
                                                "cell": [{"type": "simple_rnn_cell", "units": 4, "use_bias": False}]}),
    "rnn_frozen_state_picked": spec([5, 3], {"type": "rnn", "name": "enc", "trainable": False, "return_state": True,
                                             "cell": [{"type": "gru_cell", "units": 2}, {"type": "simple_rnn_cell",
                                                                                         "units": 3}]},
                                    {"type": "dense", "units": 2, "inputs": ["enc[1]"]}),
    "rnn_lstm_cell_states": spec([5, 3], {"type": "rnn", "name": "enc", "return_state": True,
                                          "cell": {"type": "lstm_cell", "units": 2}},
                                 {"type": "dense", "units": 2, "inputs": ["enc[2]"]}),
}


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_matches_keras(case):
    assert_matches_keras(KERAS_CASES[case])


ROUND_TRIP = {
    "simple_rnn": {"units": 3, "activation": "relu", "dropout": 0.2, "return_sequences": True, "seed": 1},
    "lstm": {"units": 4, "recurrent_activation": "hard_sigmoid", "unit_forget_bias": False, "go_backwards": True,
             "kernel_initializer": {"type": "he_normal", "seed": 3}, "bias_regularizer": "l2", "use_cudnn": False},
    "gru": {"units": 5, "reset_after": False, "return_state": True, "unroll": True, "recurrent_dropout": 0.1},
    "conv_lstm1d": {"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True},
    "conv_lstm2d": {"filters": 3, "kernel_size": [3, 1], "strides": [2, 1], "data_format": "channels_first"},
    "conv_lstm3d": {"filters": 1, "kernel_size": 2, "dilation_rate": 2, "recurrent_constraint": "unit_norm"},
}


@pytest.mark.parametrize("kind", list(ROUND_TRIP))
def test_keras_config_round_trip(kind):
    import keras

    from netspec.build import instantiate

    layer = LAYER_TYPES[kind].model_validate({"type": kind, **ROUND_TRIP[kind]})
    call = layer.lower("rt")
    built = instantiate(call)
    assert type(built) is getattr(keras.layers, layer.keras_class)
    config = built.get_config()
    for key, value in call.kwargs:  # every argument the spec sets reaches Keras
        assert_reaches_keras(layer, built, config, key, value)
    again = type(built).from_config(config)
    assert again.get_config() == config


def test_rnn_config_round_trip_keeps_every_cell():
    """`rnn` over stacked cells: Keras builds StackedRNNCells of the spec's cells, arguments included; its config
    round trip is stable but for the names Keras gives the cells."""
    from netspec.build import instantiate

    layer = LAYER_TYPES["rnn"].model_validate({"type": "rnn", "go_backwards": True, "cell": [
        {"type": "lstm_cell", "units": 3, "unit_forget_bias": False, "kernel_regularizer": "l2"},
        {"type": "gru_cell", "units": 2, "reset_after": False, "seed": 1}]})
    built = instantiate(layer.lower("rt"))
    cells = built.get_config()["cell"]["config"]["cells"]
    assert [c["class_name"] for c in cells] == ["LSTMCell", "GRUCell"]
    assert (cells[0]["config"]["unit_forget_bias"], cells[1]["config"]["reset_after"]) == (False, False)
    assert cells[0]["config"]["kernel_regularizer"]["class_name"] == "L2" and built.go_backwards

    def unnamed(config):
        return {k: unnamed(v) for k, v in config.items() if k != "name"} if isinstance(config, dict) else [
            unnamed(v) for v in config] if isinstance(config, list) else config

    assert unnamed(type(built).from_config(built.get_config()).get_config()) == unnamed(built.get_config())


def test_states_of_stacked_lstm_cells_are_refused():
    (diagnostic, *_) = diagnostics("name: m\ninputs: [{name: x, shape: [5, 3]}]\nlayers:\n  - {type: rnn, "
                                   "return_state: true, cell: [{type: lstm_cell, units: 2}]}\n")
    assert "nested list" in diagnostic.message and diagnostic.line == 4


def test_cells_are_not_layers_of_the_graph():
    (diagnostic, *_) = diagnostics("name: m\ninputs: [{name: x, shape: [5, 3]}]\nlayers:\n  - {type: lstm_cell, units: 2}\n")
    assert "unknown layer type `lstm_cell`" in diagnostic.message and "{type: rnn, cell:" in diagnostic.hint


def assert_reaches_keras(layer, built, config, key, value):
    """The Keras layer holds `key=value` (in its config, or, where Keras 3.15 leaves it out of the config,
    as `use_cudnn` and SimpleRNN's `seed`, on the layer or its cell)."""
    if key in config:
        got = config[key]
    else:
        got = getattr(built, key) if hasattr(built, key) else getattr(built.cell, key)
    if key in layer.object_fields:
        table = {"initializers": INITIALIZERS, "regularizers": REGULARIZERS, "constraints": CONSTRAINTS}
        expected = value.name if isinstance(value, KerasCall) else table[layer.object_fields[key]][value]
        assert got["class_name"] == expected, key
    elif isinstance(value, int) and isinstance(got, list | tuple):  # Keras keeps one size per dimension
        assert set(got) == {value}, key
    elif isinstance(value, tuple):
        assert tuple(got) == value, key
    else:
        assert got == value, key


def test_lowering_emits_only_non_defaults():
    lstm = LAYER_TYPES["lstm"].model_validate({"type": "lstm", "units": 4, "dropout": 0.0, "activation": "tanh",
                                               "return_state": True})
    assert lstm.lower().kwargs == (("units", 4), ("return_state", True))
    linear = LAYER_TYPES["gru"].model_validate({"type": "gru", "units": 2, "activation": None})
    assert linear.lower("g").kwargs_dict == {"units": 2, "activation": None, "name": "g"}


@pytest.mark.parametrize(("reset_after", "params"), [(True, 3 * (5 * 4 + 4 * 4 + 2 * 4)), (False, 3 * (5 * 4 + 4 * 4 + 4))])
def test_gru_parameter_formula(reset_after, params):
    info = load(spec([6, 5], {"type": "gru", "units": 4, "reset_after": reset_after})).shapes.layers[0]
    assert (info.trainable, info.non_trainable) == (params, 0)


def test_flops_are_per_step_matmuls_times_steps():
    shapes = load(spec([10, 8], {"type": "lstm", "units": 16, "return_sequences": True},
                            {"type": "simple_rnn", "units": 4})).shapes.layers
    assert shapes[0].flops == 2 * (8 * 64 + 16 * 64) * 10
    assert shapes[1].flops == 2 * (16 * 4 + 4 * 4) * 10
    unknown = load(spec([None, 8], {"type": "gru", "units": 2})).shapes.layers[0]
    assert unknown.flops == 2 * (8 * 6 + 2 * 6)  # one step where the length is unknown
    conv = load(spec([5, 6, 6, 2], {"type": "conv_lstm2d", "filters": 3, "kernel_size": 3})).shapes.layers[0]
    assert conv.flops == 2 * (9 * 2 * 12 + 9 * 3 * 12) * 16 * 5


# ----- errors -----

RNN_AFTER_RNN = """\
name: stacked
inputs: [{name: x, shape: [10, 8]}]
layers:
  - {type: lstm, units: 16}
  - {type: lstm, units: 8}
"""


def test_rnn_after_rnn_without_return_sequences():
    (d,) = diagnostics(RNN_AFTER_RNN, ShapeError)
    assert (d.path, d.line) == ("layers[1]", 5)
    assert d.message == ("`lstm` expects a sequence of rank 3 (batch, timesteps, features); "
                         "received shape (None, 16)")
    assert "set `return_sequences: true` on layers[0]" in d.hint


def test_bidirectional_after_rnn_names_the_rnn():
    text = RNN_AFTER_RNN.replace("  - {type: lstm, units: 8}", "  - type: bidirectional\n    layer: {type: gru, units: 8}")
    (d,) = diagnostics(text, ShapeError)
    assert (d.path, d.line) == ("layers[1].layer", 6)
    assert "received shape (None, 16)" in d.message
    assert "set `return_sequences: true` on layers[0]" in d.hint


IMAGES = """\
name: images
inputs:
  - {name: img, shape: [28, 28, 1]}
  - {name: video, shape: [4, 16, 16, 3]}
layers:
  - {type: lstm, units: 8, inputs: [img]}
  - {type: gru, units: 8, inputs: [video]}
outputs: [lstm, gru]
"""


def test_rnn_fed_images():
    image, video = diagnostics(IMAGES, ShapeError)
    assert (image.path, image.line) == ("layers[0]", 6)
    assert "received shape (None, 28, 28, 1)" in image.message
    assert "add a `reshape` with target_shape [28, 28]" in image.hint
    assert "`time_distributed`" in image.hint
    assert (video.path, video.line) == ("layers[1]", 7)
    assert "received shape (None, 4, 16, 16, 3)" in video.message
    assert "in `time_distributed`" in video.hint and "target_shape [4, 768]" in video.hint


def test_unroll_needs_a_known_length():
    text = "name: u\ninputs: [{name: x, shape: [null, 3]}]\nlayers:\n  - type: lstm\n    units: 2\n    unroll: true\n"
    (d,) = diagnostics(text, ShapeError)
    assert (d.path, d.line) == ("layers[0].unroll", 6)
    assert d.message == "`unroll: true` needs a known number of timesteps; received shape (None, None, 3)"
    assert "fixed length" in d.hint


def test_unknown_features_are_refused():
    (d,) = diagnostics(spec([5, None], {"type": "lstm", "units": 2}), ShapeError)
    assert d.path == "layers[0]" and "known number of features" in d.message


def test_stateful_is_refused_with_a_reason():
    text = "name: s\ninputs: [{name: x, shape: [5, 3]}]\nlayers:\n  - {type: gru, units: 2, stateful: true}\n"
    (d,) = diagnostics(text)
    assert (d.path, d.line) == ("layers[0].stateful", 4)
    assert "fixed batch size" in d.message and "received stateful=true" in d.message


def test_conv_lstm_errors():
    text = """\
name: c
inputs:
  - {name: img, shape: [28, 28, 1]}
  - {name: seq, shape: [3, 4, 4, 1]}
  - {name: open, shape: [3, null, 4, 1]}
layers:
  - {type: conv_lstm2d, filters: 2, kernel_size: 3, inputs: [img]}
  - {type: conv_lstm2d, filters: 2, kernel_size: 5, inputs: [seq]}
  - {type: conv_lstm2d, filters: 2, kernel_size: 3, inputs: [open]}
  - {type: conv_lstm2d, filters: 2, kernel_size: [3, 3, 3], inputs: [seq]}
outputs: [conv_lstm2d, conv_lstm2d_1, conv_lstm2d_2, conv_lstm2d_3]
"""
    (tuple_length,) = diagnostics(text)
    assert (tuple_length.path, tuple_length.line) == ("layers[3].kernel_size", 10)
    assert "needs 2 value(s)" in tuple_length.message
    rank, kernel, unknown = diagnostics(text.replace(", kernel_size: [3, 3, 3]", ", kernel_size: 2"), ShapeError)
    assert (rank.path, rank.line) == ("layers[0]", 7)
    assert "rank 5" in rank.message and "received shape (None, 28, 28, 1)" in rank.message
    assert "use `conv2d` for a single frame" in rank.hint
    assert (kernel.path, kernel.line) == ("layers[1].kernel_size", 8)
    assert "larger than spatial axis 0" in kernel.message
    assert (unknown.path, unknown.line) == ("layers[2]", 9)
    assert "known spatial and channel sizes" in unknown.message
