"""Merge layers: Keras's broadcasting and concatenation rules, checked against Keras; config round
trips; errors naming the shapes that do not fit."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras

from netspec.errors import ShapeError, SpecError
from netspec.layers import LAYER_TYPES
from netspec.load import load, load_spec


def spec(shapes: list, *layers, **extra) -> dict:
    """A model whose inputs a, b, c, ... have `shapes`."""
    inputs = [{"name": "abcdef"[i], "shape": shape} for i, shape in enumerate(shapes)]
    return {"name": "m", "inputs": inputs, "layers": list(layers), **extra}


def merge(kind: str, inputs: list, **args) -> dict:
    return {"type": kind, "inputs": inputs, **args}


def diagnostics(text, error=SpecError) -> list:
    with pytest.raises(error) as info:
        load_spec(text)
    return info.value.diagnostics


KERAS_CASES = {
    "add_three": spec([[4, 3]] * 3, merge("add", ["a", "b", "c"])),
    "add_broadcast_ones": spec([[1, 3], [4, 3]], merge("add", ["a", "b"])),
    "add_lower_rank": spec([[3], [4, 3]], merge("add", ["a", "b"])),
    "add_unknown_length": spec([[None, 3], [5, 3]], merge("add", ["a", "b"])),
    "add_one_and_unknown": spec([[1, 3], [None, 3]], merge("add", ["a", "b"])),
    "subtract": spec([[2, 3], [2, 1]], merge("subtract", ["a", "b"])),
    "multiply_gate": spec([[6, 8], [8]], merge("multiply", ["a", "b"])),
    "average": spec([[4, 4, 2]] * 2, merge("average", ["a", "b"])),
    "maximum": spec([[None, 2]] * 3, merge("maximum", ["a", "b", "c"])),
    "minimum": spec([[5], [1]], merge("minimum", ["a", "b"])),
    "concatenate_last": spec([[4, 3], [4, 5]], merge("concatenate", ["a", "b"])),
    "concatenate_axis1": spec([[4, 3], [2, 3], [1, 3]], merge("concatenate", ["a", "b", "c"], axis=1)),
    "concatenate_negative_axis": spec([[4, 3, 2], [4, 1, 2]], merge("concatenate", ["a", "b"], axis=-2)),
    "concatenate_unknown_axis": spec([[None, 3], [4, 3]], merge("concatenate", ["a", "b"], axis=1)),
    "concatenate_unknown_other_axis": spec([[None, 3], [4, 3]], merge("concatenate", ["a", "b"])),
    "dot_vectors": spec([[8], [8]], merge("dot", ["a", "b"], axes=1)),
    "dot_normalized": spec([[8], [8]], merge("dot", ["a", "b"], axes=-1, normalize=True)),
    "dot_attention_scores": spec([[5, 8], [7, 8]], merge("dot", ["a", "b"], axes=[2, 2])),
    "dot_mixed_ranks": spec([[8], [8, 5]], merge("dot", ["a", "b"], axes=[1, 1])),
    "dot_rank4": spec([[2, 3, 4], [4, 6]], merge("dot", ["a", "b"], axes=[-1, 1])),
    # a residual block and a two-branch model, with the merges inside a real graph
    "residual": spec([[8, 8, 3]],
                     {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "name": "branch"},
                     merge("add", ["branch", "a"]), {"type": "flatten"}, {"type": "dense", "units": 2}),
    "two_branches": spec([[6, 4], [3]],
                         {"type": "lstm", "units": 5, "inputs": ["a"], "name": "seq"},
                         {"type": "dense", "units": 2, "inputs": ["b"], "name": "side"},
                         merge("concatenate", ["seq", "side"]), {"type": "dense", "units": 1}),
}


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_matches_keras(case):
    assert_matches_keras(KERAS_CASES[case])


ROUND_TRIP = {
    "add": {}, "subtract": {}, "multiply": {}, "average": {}, "maximum": {}, "minimum": {},
    "concatenate": {"axis": 1},
    "dot": {"axes": [1, 2], "normalize": True},
}


@pytest.mark.parametrize("kind", list(ROUND_TRIP))
def test_keras_config_round_trip(kind):
    import keras

    from netspec.build import instantiate

    layer = LAYER_TYPES[kind].model_validate({"type": kind, **ROUND_TRIP[kind]})
    built = instantiate(layer.lower("rt"))
    assert type(built) is getattr(keras.layers, layer.keras_class)
    config = built.get_config()
    for key, value in ROUND_TRIP[kind].items():
        assert (list(config[key]) if isinstance(config[key], tuple) else config[key]) == value
    again = type(built).from_config(config)
    assert again.get_config() == config


def test_flops():
    layers = load(spec([[4, 3]] * 3, merge("add", ["a", "b", "c"]), merge("dot", ["add", "a"], axes=1),
                            merge("concatenate", ["dot", "dot"]))).shapes.layers
    assert [info.flops for info in layers] == [2 * 12, 2 * 4 * 3 * 3, 0]
    assert [info.outputs for info in layers] == [[(4, 3)], [(3, 3)], [(3, 6)]]


# ----- errors -----

MERGES = """\
name: merges
inputs:
  - {name: a, shape: [10, 7]}
  - {name: b, shape: [10, 8]}
  - {name: v, shape: [5]}
layers:
  - {type: add, inputs: [a, b]}
  - {type: multiply, inputs: [a, a, b]}
  - {type: concatenate, axis: 1, inputs: [a, b]}
  - {type: concatenate, inputs: [a, v]}
  - {type: concatenate, axis: 3, inputs: [a, b]}
  - {type: dot, axes: 2, inputs: [a, b]}
  - {type: dot, axes: [1, 3], inputs: [a, b]}
outputs: [add, multiply, concatenate, concatenate_1, concatenate_2, dot, dot_1]
"""


def test_merge_shape_errors_name_both_shapes():
    add, multiply, along, rank, axis, dot, dot_axis = diagnostics(MERGES, ShapeError)
    assert (add.path, add.line) == ("layers[0].inputs", 7)
    assert add.message == ("`add` cannot combine inputs of shapes (None, 10, 7) and (None, 10, 8): axis 2 has sizes "
                           "7 and 8 (elementwise merges need equal sizes, or 1 on one side)")
    assert "use `concatenate`" in add.hint
    assert (multiply.path, multiply.line) == ("layers[1].inputs", 8)
    assert "(None, 10, 7) and (None, 10, 8)" in multiply.message
    assert (along.path, along.line) == ("layers[2].inputs", 9)
    assert along.message == ("`concatenate` along axis 1 needs every other axis to match; axis 2 differs between "
                             "shapes (None, 10, 7), (None, 10, 8)")
    assert (rank.path, rank.line) == ("layers[3].inputs", 10)
    assert "same rank; received shapes (None, 10, 7), (None, 5)" in rank.message
    assert (axis.path, axis.line) == ("layers[4].axis", 11)
    assert "out of range for inputs of rank 3" in axis.message and "from 1 to 2" in axis.hint
    assert (dot.path, dot.line) == ("layers[5].axes", 12)
    assert dot.message == ("`dot` contracts axis 2 of (None, 10, 7) (size 7) with axis 2 of (None, 10, 8) (size 8); "
                           "the sizes must be equal")
    assert (dot_axis.path, dot_axis.line) == ("layers[6].axes", 13)
    assert "`axes` 3 is out of range for an input of shape (None, 10, 8)" in dot_axis.message


def test_dot_of_unknown_and_known_sizes_is_refused_as_keras_does():
    (d,) = diagnostics(spec([[None, 8], [5, 8]], merge("dot", ["a", "b"], axes=1)), ShapeError)
    assert "(size None)" in d.message and "(size 5)" in d.message


def test_input_counts():
    text = """\
name: counts
inputs: [{name: a, shape: [3]}, {name: b, shape: [3]}, {name: c, shape: [3]}]
layers:
  - {type: dense, units: 3, inputs: [a]}
  - {type: add}
  - {type: subtract, inputs: [a, b, c]}
  - {type: dot, axes: 1, inputs: [a]}
outputs: [add, subtract, dot]
"""
    alone, three, one = diagnostics(text)
    assert (alone.path, alone.line) == ("layers[1].inputs", 5)
    assert alone.message == "`add` takes at least 2 input(s); received 1"
    assert "list the layers to merge" in alone.hint
    assert (three.path, three.message) == ("layers[2].inputs", "`subtract` takes 2 input(s); received 3")
    assert (one.path, one.message) == ("layers[3].inputs", "`dot` takes 2 input(s); received 1")


def test_batch_axis_and_bad_axes_are_refused():
    text = """\
name: axes
inputs: [{name: a, shape: [3]}, {name: b, shape: [3]}]
layers:
  - {type: concatenate, axis: 0, inputs: [a, b]}
  - {type: dot, axes: [0, 1], inputs: [a, b]}
  - {type: dot, axes: [1, 1, 1], inputs: [a, b]}
  - {type: dot, axes: true, inputs: [a, b]}
outputs: [concatenate, dot, dot_1, dot_2]
"""
    batch, dot_batch, three, boolean = diagnostics(text)
    assert (batch.path, batch.line) == ("layers[0].axis", 4)
    assert "batch axis; received axis=0" in batch.message
    assert (dot_batch.path, dot_batch.line) == ("layers[1].axes", 5)
    assert "received axes=[0, 1]" in dot_batch.message
    assert (three.path, three.line) == ("layers[2].axes", 6)
    assert (boolean.path, boolean.line) == ("layers[3].axes", 7)
