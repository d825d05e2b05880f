"""Stage 3: names, references, outputs, dead layers and unused inputs."""

from __future__ import annotations

import pytest

from netspec.errors import SpecError
from netspec.graph import Ref, resolve_graph
from netspec.load import load_spec
from netspec.names import auto_names
from netspec.schema import validate_schema
from netspec.source import read_source


def graph_of(layers, inputs=(("x", [16]),), outputs=None):
    spec = {"name": "g", "inputs": [{"name": n, "shape": s} for n, s in inputs], "layers": layers}
    if outputs is not None:
        spec["outputs"] = outputs
    source = read_source(spec)
    return resolve_graph(validate_schema(source), source)


def graph_problems(layers, **kwargs) -> list[tuple[str, str, str | None]]:
    with pytest.raises(SpecError) as info:
        graph_of(layers, **kwargs)
    return [(d.path, d.message, d.hint) for d in info.value.diagnostics]


def dense(units=4, **more):
    return {"type": "dense", "units": units, **more}


def test_layers_get_keras_style_names():
    graph = graph_of([dense(), dense(), {"type": "dropout", "rate": 0.1}, dense()])
    assert [n.name for n in graph.nodes] == ["dense", "dense_1", "dropout", "dense_2"]


def test_auto_names_skip_names_that_are_taken():
    graph = graph_of([dense(), dense(name="dense_1"), dense()])
    assert [n.name for n in graph.nodes] == ["dense", "dense_1", "dense_2"]
    graph = graph_of([dense(name="dense"), dense()])
    assert [n.name for n in graph.nodes] == ["dense", "dense_1"]


def test_auto_names_never_take_a_model_input_name():
    graph = graph_of([dense()], inputs=(("dense", [16]),))
    assert [n.name for n in graph.nodes] == ["dense_1"]


def test_auto_names_function():
    layers = validate_schema(read_source({"name": "g", "inputs": [{"name": "x", "shape": [4]}],
                                          "layers": [dense(), dense(name="a"), dense()]})).layers
    assert auto_names(layers, {"a", "x"}) == ["dense", "a", "dense_1"]


def test_default_inputs_chain_the_layers():
    graph = graph_of([dense(), dense(), dense()])
    assert [n.inputs for n in graph.nodes] == [[Ref("x")], [Ref("dense")], [Ref("dense_1")]]
    assert graph.outputs == [Ref("dense_2")]


def test_branches_and_merges_with_several_inputs_and_outputs():
    graph = graph_of(
        [dense(8, name="a", inputs=["x"]), dense(8, name="b", inputs=["y"]), {"type": "add", "inputs": ["a", "b"]},
         dense(2, name="head1"), dense(3, name="head2", inputs=["add"])],
        inputs=(("x", [16]), ("y", [16])), outputs=["head1", "head2"])
    assert graph.by_name()["add"].inputs == [Ref("a"), Ref("b")]
    assert graph.outputs == [Ref("head1"), Ref("head2")]
    assert [n.name for n in graph.inputs] == ["x", "y"]


def test_references_to_an_output_by_index():
    graph = graph_of([{"type": "lstm", "units": 4, "return_state": True, "name": "rnn"},
                      dense(2, inputs=["rnn[1]"])], inputs=(("x", [5, 3]),))
    assert graph.nodes[1].inputs == [Ref("rnn", 1)]
    assert str(Ref("rnn", 1)) == "rnn[1]" and str(Ref("rnn")) == "rnn"


def test_output_index_beyond_a_layers_outputs_is_a_shape_error():
    from netspec.errors import ShapeError

    spec = {"name": "g", "inputs": [{"name": "x", "shape": [5, 3]}],
            "layers": [{"type": "lstm", "units": 4, "return_state": True, "name": "rnn"}, dense(2, inputs=["rnn[3]"])]}
    with pytest.raises(ShapeError) as info:
        load_spec(spec)
    (d,) = info.value.diagnostics
    assert d.path == "layers[1].inputs"
    assert d.message == "`rnn[3]` names output 3, but `rnn` has 3 output(s)"
    assert d.hint == "outputs are numbered from 0: use `rnn` to `rnn[2]`"


def test_duplicate_names():
    assert graph_problems([dense(name="h"), dense(name="h")]) == [
        ("layers[1].name", "duplicate name `h` (already used by layers[0])", "layer and input names must be unique")]
    assert graph_problems([dense(name="x")])[0][1] == "duplicate name `x` (already used by input)"
    found = graph_problems([dense(inputs=["x"])], inputs=(("x", [4]), ("x", [4])))
    assert found[0][:2] == ("inputs[1].name", "duplicate input name `x`")


def test_inputs_may_only_name_earlier_layers():
    found = graph_problems([dense(name="a", inputs=["b"]), dense(name="b", inputs=["x"])], outputs=["a"])
    assert found == [("layers[0].inputs[0]",
                      "`b` is not an earlier layer or a model input (it is defined later; layers may only read earlier ones)",
                      "move this layer below it")]


def test_unknown_references_get_a_did_you_mean_and_nothing_else():
    # the layer left dangling is not also reported as dead
    assert graph_problems([dense(name="hidden"), dense(inputs=["hiden"])]) == [
        ("layers[1].inputs[0]", "`hiden` is not an earlier layer or a model input", "did you mean `hidden`?")]


def test_outputs_must_exist():
    assert graph_problems([dense(name="probs")], outputs=["prob"]) == [
        ("outputs[0]", "output `prob` is not a layer or input of the model", "did you mean `probs`?")]


def test_dead_layers_and_unused_inputs():
    assert graph_problems([dense(name="side"), dense(name="out", inputs=["x"])]) == [
        ("layers[0]", "layer `side` does not lead to any model output",
         "list it in `outputs`, feed it to a later layer, or remove it")]
    assert graph_problems([dense(inputs=["x"])], inputs=(("x", [4]), ("extra", [4]))) == [
        ("inputs[1].name", "model input `extra` is never used", "list it in some layer's `inputs`, or remove it")]


def test_a_layer_that_is_an_output_and_also_feeds_others_is_live():
    graph = graph_of([dense(name="a"), dense(name="b")], outputs=["a", "b"])
    assert graph.outputs == [Ref("a"), Ref("b")]


def test_input_counts_per_layer_type():
    assert graph_problems([{"type": "add"}]) == [
        ("layers[0].inputs", "`add` takes at least 2 input(s); received 1", "list the layers to merge in `inputs`")]
    found = graph_problems([dense(inputs=["x", "y"])], inputs=(("x", [4]), ("y", [4])))
    assert found[0][1] == "`dense` takes 1 input(s); received 2"


def test_the_first_layer_of_a_model_with_several_inputs_must_name_them():
    assert graph_problems([dense()], inputs=(("a", [4]), ("b", [4]))) == [
        ("layers[0]", "the first layer must name its `inputs`: the model has 2 inputs", "add `inputs: [a]`")]
