"""`netspec summary`: the JSON object of DESIGN.md section 2, costs, the table, and Keras's own numbers."""

from __future__ import annotations

import math

import pytest
from conftest import SPECS

from netspec.summary import format_summary, summarize

MNIST = SPECS / "mnist_convnet.yaml"

# The Keras example's published model.summary() (keras.io/examples/vision/mnist_convnet).
MNIST_LAYERS = [
    ("conv2d", "conv2d", [None, 26, 26, 32], 320),
    ("max_pooling2d", "max_pooling2d", [None, 13, 13, 32], 0),
    ("conv2d_1", "conv2d", [None, 11, 11, 64], 18_496),
    ("max_pooling2d_1", "max_pooling2d", [None, 5, 5, 64], 0),
    ("flatten", "flatten", [None, 1600], 0),
    ("dropout", "dropout", [None, 1600], 0),
    ("probs", "dense", [None, 10], 16_010),
]


def test_the_json_object_of_design_section_2():
    summary = summarize(MNIST)
    assert {"name", "total_params", "trainable_params", "non_trainable_params", "layers"} <= set(summary)
    assert (summary["name"], summary["total_params"], summary["trainable_params"], summary["non_trainable_params"]) == \
        ("mnist_convnet", 34_826, 34_826, 0)
    for layer in summary["layers"]:
        assert {"name", "type", "output_shape", "params"} <= set(layer)
    assert [(x["name"], x["type"], x["output_shape"], x["params"]) for x in summary["layers"]] == MNIST_LAYERS


def test_costs_per_sample():
    summary = summarize(MNIST)
    cost, layers = summary["cost"], {x["name"]: x for x in summary["layers"]}
    # a multiply-add counts as 2: output positions x kernel volume x input channels x filters x 2
    assert layers["conv2d"]["flops"] == 26 * 26 * 32 * (3 * 3 * 1) * 2
    assert layers["conv2d_1"]["flops"] == 11 * 11 * 64 * (3 * 3 * 32) * 2
    assert layers["probs"]["flops"] == 1600 * 10 * 2
    assert cost["flops_per_sample"] == sum(x["flops"] for x in summary["layers"])
    values = 28 * 28 * 1 + sum(math.prod(x["output_shape"][1:]) for x in summary["layers"])
    assert cost["activation_bytes_per_sample"] == {"float32": 4 * values, "mixed": 2 * values}
    assert cost["param_bytes"] == 4 * 34_826  # weights stay float32 under mixed precision
    assert cost["unknown_dimensions_counted_as_1"] is False


def spec(*layers, inputs=None, outputs=None):
    data = {"name": "s", "inputs": inputs or [{"name": "x", "shape": [None, 8]}], "layers": list(layers)}
    if outputs:
        data["outputs"] = outputs
    return data


def test_unknown_dimensions_are_null_and_several_outputs_are_a_list_of_shapes():
    summary = summarize(spec({"type": "lstm", "units": 4, "return_sequences": True, "return_state": True}))
    (layer,) = summary["layers"]
    assert layer["output_shape"] == [[None, None, 4], [None, 4], [None, 4]]
    assert layer["params"] == 4 * (8 * 4 + 4 * 4 + 4)
    assert summary["cost"]["unknown_dimensions_counted_as_1"] is True
    assert summary["inputs"] == [{"name": "x", "shape": [None, None, 8], "dtype": "float32"}]


def test_frozen_layers_and_batch_norm_statistics_are_non_trainable():
    summary = summarize(spec(
        {"type": "dense", "units": 4, "trainable": False}, {"type": "batch_normalization"}, {"type": "dense", "units": 2},
        inputs=[{"name": "x", "shape": [8]}]))
    assert [(x["trainable_params"], x["non_trainable_params"]) for x in summary["layers"]] == \
        [(0, 36), (8, 8), (10, 0)]
    assert (summary["total_params"], summary["trainable_params"], summary["non_trainable_params"]) == (62, 18, 44)


def test_summarize_takes_a_path_text_mapping_or_loaded_spec():
    from netspec.load import load_spec

    expected = summarize(MNIST)
    assert summarize(str(MNIST)) == expected
    assert summarize(MNIST.read_text()) == expected
    assert summarize(load_spec(MNIST)) == expected


def test_the_table_looks_like_keras_model_summary():
    text = format_summary(summarize(MNIST))
    lines = text.splitlines()
    assert lines[0] == 'Model: "mnist_convnet"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert lines[4].split() == ["conv2d", "(Conv2D)", "(None,", "26,", "26,", "32)", "320"]
    assert lines[10].split() == ["probs", "(Dense)", "(None,", "10)", "16,010"]
    assert "Total params: 34,826 (136.04 KB)" in lines
    assert "Trainable params: 34,826" in lines and "Non-trainable params: 0" in lines
    assert "Forward FLOPs per sample: 4.91 MFLOPs" in lines
    assert "Activation memory per sample: 157.73 KB (float32), 78.86 KB (mixed precision)" in lines
    assert "Connected to" not in text  # a plain chain


def test_the_table_shows_connections_for_a_graph():
    text = format_summary(summarize(spec(
        {"type": "dense", "units": 4, "name": "a", "inputs": ["x"]},
        {"type": "dense", "units": 4, "name": "b", "inputs": ["x"]},
        {"type": "concatenate", "inputs": ["a", "b"]},
        inputs=[{"name": "x", "shape": [8]}])))
    assert "Connected to" in text
    assert [line.split()[-2:] for line in text.splitlines() if line.startswith("concatenate")] == [["a,", "b"]]


@pytest.mark.slow
def test_summary_equals_keras_for_mnist_convnet():
    import netspec

    summary = summarize(MNIST)
    model = netspec.build_model(netspec.load_spec(MNIST))
    keras_layers = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    assert [x["name"] for x in summary["layers"]] == [layer.name for layer in keras_layers]
    for ours, theirs in zip(summary["layers"], keras_layers):
        assert ours["output_shape"] == list(theirs.output.shape), ours["name"]
        assert ours["params"] == theirs.count_params(), ours["name"]
    assert summary["total_params"] == model.count_params()
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert (summary["trainable_params"], summary["non_trainable_params"]) == \
        (trainable, model.count_params() - trainable)
