"""Wrappers (bidirectional, time_distributed): shapes and counts against Keras, nested layers'
validation paths and names, config round trips, shape errors."""

from __future__ import annotations

import copy

import pytest
from keras_compare import assert_matches_keras

from netspec.errors import ShapeError, SpecError
from netspec.layers import LAYER_TYPES
from netspec.load import load, load_spec, loaded
from netspec.lowering import lower_node


def spec(shape, *layers, **extra) -> dict:
    return {"name": "m", "inputs": [{"name": "x", "shape": shape}], "layers": list(layers), **extra}


def diagnostics(text, error=SpecError) -> list:
    with pytest.raises(error) as info:
        load_spec(text)
    return info.value.diagnostics


def bidirectional(layer: dict, **extra) -> dict:
    return {"type": "bidirectional", "layer": layer, **extra}


def time_distributed(layer: dict, **extra) -> dict:
    return {"type": "time_distributed", "layer": layer, **extra}


LSTM4 = {"type": "lstm", "units": 4}

KERAS_CASES = {
    **{f"bidirectional_{mode}": spec([6, 5], bidirectional({**LSTM4, "return_sequences": True}, merge_mode=mode))
       for mode in ("concat", "sum", "mul", "ave")},
    "bidirectional_null_merge": spec([6, 5], bidirectional(LSTM4, merge_mode=None)),
    "bidirectional_state_concat": spec([None, 5], bidirectional({**LSTM4, "return_state": True})),
    "bidirectional_state_null_merge": spec([6, 5], bidirectional({"type": "gru", "units": 3, "return_state": True,
                                                                  "return_sequences": True}, merge_mode=None)),
    "bidirectional_pick_outputs": spec([6, 5], bidirectional(LSTM4, merge_mode=None, name="bi"),
                                       {"type": "add", "inputs": ["bi", "bi[1]"]}),
    "bidirectional_backward_layer": spec([6, 5], bidirectional(
        {"type": "gru", "units": 3, "reset_after": False, "name": "fw"},
        backward_layer={"type": "gru", "units": 3, "reset_after": False, "go_backwards": True, "name": "bw"})),
    "bidirectional_simple_rnn_frozen_inner": spec([6, 5], bidirectional({"type": "simple_rnn", "units": 3,
                                                                         "trainable": False})),
    "bidirectional_frozen": spec([6, 5], bidirectional(LSTM4, trainable=False)),
    "bidirectional_conv_lstm1d": spec([4, 9, 2], bidirectional({"type": "conv_lstm1d", "filters": 2,
                                                                "kernel_size": 3}, merge_mode="sum")),
    "bidirectional_text_classifier": {
        "name": "text", "inputs": [{"name": "tokens", "shape": [None], "dtype": "int32"}],
        "layers": [{"type": "embedding", "input_dim": 50, "output_dim": 8},
                   bidirectional({**LSTM4, "return_sequences": True}),
                   bidirectional({"type": "lstm", "units": 2}),
                   {"type": "dense", "units": 1, "activation": "sigmoid"}],
    },
    "time_distributed_dense": spec([6, 5], time_distributed({"type": "dense", "units": 3})),
    "time_distributed_dense_rank4": spec([6, 2, 5], time_distributed({"type": "dense", "units": 3,
                                                                      "use_bias": False})),
    "time_distributed_null_steps": spec([None, 5], time_distributed({"type": "dense", "units": 3})),
    "time_distributed_conv2d": spec([4, 10, 10, 2], time_distributed({"type": "conv2d", "filters": 3,
                                                                      "kernel_size": 3, "strides": 2})),
    "time_distributed_lstm": spec([3, 6, 5], time_distributed({"type": "lstm", "units": 4, "return_sequences": True})),
    "time_distributed_bidirectional": spec([3, 6, 5], time_distributed(bidirectional(LSTM4, merge_mode="ave"))),
    "time_distributed_frozen_inner": spec([6, 5], time_distributed({"type": "dense", "units": 3, "trainable": False})),
    "time_distributed_named_inner": spec([6, 5], time_distributed({"type": "dense", "units": 3, "name": "per_step"})),
    # a time-distributed CNN feeding an LSTM: the video classifier shape
    "video_classifier": spec([None, 12, 12, 1],
                             time_distributed({"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"}),
                             time_distributed({"type": "max_pooling2d"}),
                             time_distributed({"type": "flatten"}),
                             {"type": "lstm", "units": 6},
                             {"type": "dense", "units": 3, "activation": "softmax"}),
}


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_matches_keras(case):
    assert_matches_keras(KERAS_CASES[case])


def test_nested_layers_keep_keras_names():
    import netspec

    model = netspec.build_model(spec(
        [6, 5],
        bidirectional({**LSTM4, "return_sequences": True}),
        bidirectional({**LSTM4, "name": "enc"}, backward_layer={**LSTM4, "go_backwards": True, "name": "enc_back"}),
        {"type": "repeat_vector", "n": 2},
        time_distributed({"type": "dense", "units": 2}),
    ))
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["bidirectional", "bidirectional_1", "repeat_vector", "time_distributed"]
    second = model.get_layer("bidirectional_1")
    assert (second.forward_layer.name, second.backward_layer.name) == ("forward_enc", "enc_back")
    # an unnamed nested layer is left to Keras's own naming
    assert model.get_layer("time_distributed").layer.name.startswith("dense")


def test_nested_layer_lowers_without_a_name():
    layer = LAYER_TYPES["time_distributed"].model_validate(time_distributed({"type": "dense", "units": 3}))
    call = layer.lower("td")
    inner = call.kwargs_dict["layer"]
    assert (inner.name, inner.kwargs) == ("Dense", (("units", 3),))
    assert call.kwargs_dict["name"] == "td"


def test_output_wrappers_compute_in_float32():
    """Mixed precision: the nested layer computes the output (e.g. its softmax), so it gets float32 too."""
    model = load_spec(spec([6, 5], bidirectional({**LSTM4, "return_sequences": True}),
                           time_distributed({"type": "dense", "units": 3, "activation": "softmax"})))
    graph = loaded(model).graph
    inner, outer = (lower_node(node, graph) for node in graph.nodes)
    assert "dtype" not in inner.kwargs_dict and "dtype" not in inner.kwargs_dict["layer"].kwargs_dict
    assert outer.kwargs_dict["dtype"] == "float32"
    assert outer.kwargs_dict["layer"].kwargs_dict["dtype"] == "float32"


ROUND_TRIP = {
    "bidirectional": bidirectional({"type": "gru", "units": 3, "return_sequences": True}, merge_mode="mul"),
    "bidirectional_backward": bidirectional(
        {"type": "lstm", "units": 3}, merge_mode=None,
        backward_layer={"type": "lstm", "units": 3, "go_backwards": True, "dropout": 0.1}),
    "time_distributed": time_distributed({"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same"}),
}


@pytest.mark.parametrize("case", list(ROUND_TRIP))
def test_keras_config_round_trip(case):
    import keras

    from netspec.build import instantiate

    data = ROUND_TRIP[case]
    layer = LAYER_TYPES[data["type"]].model_validate(data)
    built = instantiate(layer.lower("rt"))
    assert type(built) is getattr(keras.layers, layer.keras_class)
    config = built.get_config()
    assert config["layer"]["class_name"] == layer.layer.keras_class
    if layer.type == "bidirectional":
        assert config["merge_mode"] == layer.merge_mode
        assert built.backward_layer.go_backwards and built.return_sequences == layer.layer.return_sequences
        if layer.backward_layer is not None:
            assert config["backward_layer"]["config"]["dropout"] == 0.1
    again = type(built).from_config(copy.deepcopy(config))  # Keras's Wrapper.from_config pops from its argument
    assert again.get_config() == config


# ----- validation of the nested layer -----

NESTED = """\
name: nested
inputs: [{name: x, shape: [5, 8]}]
layers:
  - type: bidirectional
    layer: {type: lstm, units: 0}
  - type: bidirectional
    layer: {type: lsmt, units: 4}
  - type: time_distributed
    layer:
      type: dense
      unitz: 3
  - type: bidirectional
    layer: {type: dense, units: 3}
  - type: time_distributed
    layer: {type: dense, units: 2, inputs: [x]}
  - type: bidirectional
    layer: {type: gru, units: 3}
    backward_layer: {type: gru, units: 3}
  - type: time_distributed
    layer: {type: add}
  - type: time_distributed
  - type: bidirectional
    layer: 3
"""


def test_nested_layer_errors_have_nested_paths():
    found = {(d.path, d.line): d for d in diagnostics(NESTED)}
    assert sorted(found) == [
        ("layers[0].layer.units", 5), ("layers[1].layer.type", 7), ("layers[2].layer.unitz", 11),
        ("layers[3].layer", 13), ("layers[4].layer.inputs", 15), ("layers[5].backward_layer", 18),
        ("layers[6].layer", 20), ("layers[7]", 21), ("layers[8].layer", 23),
    ]
    assert "0" in found["layers[0].layer.units", 5].message
    assert found["layers[1].layer.type", 7].hint == "did you mean `lstm`?"
    assert "`units`" in found["layers[2].layer.unitz", 11].hint
    assert "received a `dense` layer" in found["layers[3].layer", 13].message
    assert "takes no `inputs`" in found["layers[4].layer.inputs", 15].message
    assert "set `go_backwards: true` on it" in found["layers[5].backward_layer", 18].message
    assert "reads several inputs" in found["layers[6].layer", 20].message
    assert "missing required key `layer`" in found["layers[7]", 21].message
    assert "received 3" in found["layers[8].layer", 23].message


def test_backward_layer_must_match_return_flags():
    data = spec([5, 3], bidirectional({**LSTM4, "return_sequences": True},
                                      backward_layer={**LSTM4, "go_backwards": True}))
    (d,) = diagnostics(data)
    assert d.path == "layers[0].backward_layer"
    assert "must agree on `return_sequences`" in d.message


def test_schema_describes_nested_layers():
    from netspec.jsonschema import json_schema

    schema = json_schema()
    nested = schema["$defs"]["Bidirectional"]["properties"]["layer"]
    while "$ref" in nested:  # the union of layer types, shared with the top level's `layers`
        nested = schema["$defs"][nested["$ref"].removeprefix("#/$defs/")]
    refs = {option["$ref"] for option in nested["oneOf"]}
    assert {"#/$defs/LSTM", "#/$defs/TimeDistributed", "#/$defs/Dense"} <= refs
    assert nested["discriminator"]["propertyName"] == "type"


# ----- shape errors -----

SHAPES = """\
name: shapes
inputs:
  - {name: seq, shape: [10, 8]}
  - {name: vid, shape: [4, 16, 16, 3]}
  - {name: vec, shape: [5]}
  - {name: seqs, shape: [4, 10, 8]}
layers:
  - type: time_distributed
    inputs: [vid]
    layer: {type: conv2d, filters: 4, kernel_size: 20}
  - type: time_distributed
    inputs: [vec]
    layer: {type: dense, units: 3}
  - type: time_distributed
    inputs: [seqs]
    layer: {type: lstm, units: 3, return_state: true}
  - type: bidirectional
    inputs: [seq]
    layer: {type: lstm, units: 4}
    backward_layer: {type: lstm, units: 5, go_backwards: true}
  - type: time_distributed
    inputs: [vid]
    layer: {type: conv1d, filters: 4, kernel_size: 3}
outputs: [time_distributed, time_distributed_1, time_distributed_2, bidirectional, time_distributed_3]
"""


def test_wrapper_shape_errors():
    kernel, no_time, states, backward, rank = diagnostics(SHAPES, ShapeError)
    assert (kernel.path, kernel.line) == ("layers[0].layer", 10)
    assert "(None, 16, 16, 3)" in kernel.message and "`time_distributed` applies it to each timestep" in kernel.message
    assert (no_time.path, no_time.line) == ("layers[1]", 11)
    assert no_time.message == ("`time_distributed` expects input of rank 3 or more (batch, timesteps, ...); "
                               "received shape (None, 5)")
    assert "without `time_distributed`" in no_time.hint
    assert (states.path, states.line) == ("layers[2].layer", 16)
    assert "needs a layer with one output" in states.message and "remove `return_state`" in states.hint
    assert (backward.path, backward.line) == ("layers[3].backward_layer", 20)
    assert "(None, 5)" in backward.message and "(None, 4)" in backward.message
    assert (rank.path, rank.line) == ("layers[4].layer", 23)
    assert "received shape (None, 16, 16, 3)" in rank.message


def test_counts_and_flops_of_wrappers():
    layers = load(spec([6, 5], bidirectional({**LSTM4, "return_sequences": True}),
                            time_distributed({"type": "dense", "units": 3}))).shapes.layers
    lstm_params = 4 * (5 * 4 + 4 * 4 + 4)
    assert (layers[0].trainable, layers[0].outputs) == (2 * lstm_params, [(6, 8)])
    assert layers[0].flops == 2 * 2 * (5 * 16 + 4 * 16) * 6
    assert (layers[1].trainable, layers[1].outputs) == (8 * 3 + 3, [(6, 3)])
    assert layers[1].flops == 2 * 8 * 3 * 6
