"""Stage 2: data -> validated models; pydantic's errors become located, Keras-style diagnostics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from netspec.errors import SpecError
from netspec.layers import LAYER_TYPES
from netspec.schema import validate_schema
from netspec.source import parse_text, read_source

BASE = {"name": "m", "inputs": [{"name": "x", "shape": [28, 28, 1]}]}


def problems(spec) -> list[tuple[str, str, str | None]]:
    """(path, message, hint) of every diagnostic of `spec` (a mapping or YAML text)."""
    source = read_source(spec) if isinstance(spec, dict) else parse_text(spec)
    with pytest.raises(SpecError) as info:
        validate_schema(source)
    return [(d.path, d.message, d.hint) for d in info.value.diagnostics]


def with_layers(*layers, **top):
    return {**BASE, "layers": list(layers), **top}


def test_a_valid_spec_becomes_models_with_keras_defaults():
    spec = validate_schema(read_source(with_layers({"type": "conv2d", "filters": 8, "kernel_size": 3})))
    (conv,) = spec.layers
    assert type(conv) is LAYER_TYPES["conv2d"]
    assert (conv.padding, conv.strides, conv.activation, conv.use_bias) == ("valid", 1, None, True)
    assert spec.netspec == 1 and spec.training.optimizer.type == "adam" and spec.outputs is None


def test_shorthands_are_accepted():
    spec = validate_schema(read_source(with_layers(
        {"type": "dense", "units": 2},
        training={"optimizer": "sgd", "callbacks": ["terminate_on_nan"], "loss": {"type": "huber", "delta": 2.0},
                  "metrics": {"dense": ["mae"]}},
        data="builtin:digits")))
    assert spec.training.optimizer.type == "sgd"
    assert spec.training.callbacks[0].type == "terminate_on_nan"
    assert spec.data.source == "builtin:digits"


def test_keras_style_messages_say_what_was_received_and_expected():
    assert problems(with_layers({"type": "dense", "units": 0})) == [
        ("layers[0].units", "expected a positive integer; received 0", None)]
    assert problems(with_layers({"type": "dense", "units": "8"})) == [
        ("layers[0].units", "expected an integer; received '8'", None)]
    assert problems(with_layers({"type": "dense", "units": 8, "use_bias": "maybe"})) == [
        ("layers[0].use_bias", "expected true or false; received 'maybe'", None)]
    assert problems(with_layers({"type": "dense", "units": 8, "trainable": None})) == [
        ("layers[0].trainable", "expected true or false; received null", None)]


def test_a_misspelled_key_is_one_mistake_not_two():
    # `kernal_size` unknown and `kernel_size` missing: one diagnostic with a did-you-mean
    assert problems(with_layers({"type": "conv2d", "filters": 8, "kernal_size": 3})) == [
        ("layers[0].kernal_size", "unknown key `kernal_size` for a `conv2d` layer", "did you mean `kernel_size`?")]


def test_an_unrelated_unknown_key_leaves_the_missing_one_reported():
    found = problems(with_layers({"type": "conv2d", "filters": 8, "colour": 3}))
    assert [p[:2] for p in found] == [("layers[0]", "missing required key `kernel_size` for a `conv2d` layer"),
                                      ("layers[0].colour", "unknown key `colour` for a `conv2d` layer")]
    assert found[1][2].startswith("expected one of: type, name, inputs, trainable, filters, kernel_size")


def test_case_only_differences_get_a_did_you_mean():
    assert problems(with_layers({"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "Same"}))[0][2] == \
        "did you mean `same`?"


def test_unknown_and_non_string_layer_types():
    assert problems(with_layers({"type": "Conv2D", "filters": 8, "kernel_size": 3}))[0] == (
        "layers[0].type", "unknown layer type `Conv2D`", "did you mean `conv2d`?")
    path, message, _ = problems(with_layers({"type": 3}))[0]
    assert (path, message) == ("layers[0].type", "unknown layer type `3`")


def test_union_alternatives_do_not_add_noise():
    # a schedule mapping with a mistake: no "expected a number" from the float alternative of learning_rate
    found = problems(with_layers({"type": "dense", "units": 2}, training={
        "optimizer": {"type": "adam", "learning_rate": {"type": "cosine_decay", "decay_steps": 10}}}))
    assert found == [("training.optimizer.learning_rate", "`cosine_decay` needs `initial_learning_rate`", None)]


def test_when_no_alternative_fits_the_expected_ones_are_listed():
    ((path, message, _),) = problems(with_layers({"type": "dense", "units": 2}, training={
        "optimizer": {"type": "adam", "learning_rate": [0.1]}}))
    assert path == "training.optimizer.learning_rate"
    assert message.startswith("expected a number") and message.endswith("received [0.1]")


def test_validator_messages_point_at_the_key_they_name():
    found = problems(with_layers({"type": "conv2d", "filters": 8, "kernel_size": [3, 3, 3]}))
    assert found[0][0] == "layers[0].kernel_size"


def test_errors_in_nested_collections_name_the_item():
    assert problems(with_layers({"type": "dense", "units": 2}, training={"metrics": ["mae", "acc", "f2"]}))[0][:2] == (
        "training.metrics[2]", "unknown metric 'f2'")
    assert problems(with_layers({"type": "dense", "units": 2, "name": "out"},
                                training={"loss": {"out": "mse", "aux": "hubr"}}))[0][:2] == (
        "training.loss.aux", "unknown loss 'hubr'")
    assert problems(with_layers({"type": "dense", "units": 2},
                                training={"callbacks": [{"type": "early_stopping", "patience": "x"}]}))[0][:2] == (
        "training.callbacks[0].patience", "expected an integer; received 'x'")


def test_every_layer_and_top_level_problem_is_reported_at_once():
    found = problems(
        {"name": "bad name", "inputs": [{"name": "x", "shape": [0]}], "outputs": [],
         "layers": [{"type": "dense", "units": -1}, {"type": "dropout"}, "flatten", {"type": "nope"}],
         "training": {"epochs": 0, "precision": "fp8"}})
    assert [p[0] for p in found] == ["name", "inputs[0].shape[0]", "outputs", "layers[0].units", "layers[1]",
                                     "layers[2]", "layers[3].type", "training.epochs", "training.precision"]


def test_positions_come_from_the_text():
    source = parse_text("name: m\ninputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 0}\n", file="m.yaml")
    with pytest.raises(SpecError) as info:
        validate_schema(source)
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.column, d.path) == ("m.yaml", 4, 26, "layers[0].units")


def test_yaml_and_json_give_the_same_diagnostics():
    spec = with_layers({"type": "dense", "units": 0}, {"type": "dropout", "rate": 2})
    as_yaml = problems(json.dumps(spec).replace('"', "'"))  # YAML flow style
    as_json = problems(json.dumps(spec, indent=2))
    assert as_yaml == as_json and len(as_json) == 2


def test_layers_are_validated_one_by_one_so_only_used_types_are_built():
    # the cost of `netspec validate` grows with the types a spec uses, not with the whole format
    code = (
        "import json, netspec\n"
        "from netspec.layers import LAYER_TYPES\n"
        "netspec.load_spec('specs/mnist_convnet.yaml')\n"
        "print(json.dumps(sorted(t for t, c in LAYER_TYPES.items() if c.__pydantic_complete__)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["conv2d", "dense", "dropout", "flatten", "max_pooling2d"]


@pytest.mark.parametrize("options", [{}, {"mode": "json"}, {"mode": "json", "exclude_unset": True},
                                     {"mode": "json", "exclude": {"name", "description", "data"}},
                                     {"exclude": {"layers"}}])
def test_dump_spec_is_model_dump_key_for_key(options):
    from netspec.load import load_spec
    from netspec.schema import dump_spec

    for path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = load_spec(path)
        dumped = dump_spec(spec, **options)
        assert list(dumped) == list(spec.model_dump(**options))  # the same keys in the same order
        assert json.dumps(dumped, default=str) == json.dumps(spec.model_dump(**options), default=str), path


def test_dump_spec_builds_neither_the_union_of_every_layer_type_nor_the_families_the_spec_does_not_use():
    # A fresh interpreter: this one has built the union long ago.
    code = """
import sys
import netspec.layers
from netspec.load import load_spec
from netspec.runner.tuning import model_hash
model_hash(load_spec("specs/mnist_convnet.yaml"))
families = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("netspec.layers.") and m != "netspec.layers.base")
assert "AnyLayer" not in vars(netspec.layers), "the union was built"
assert families == ["conv", "core", "pooling", "reshaping"], families
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
