"""The exported JSON Schema, checked by an independent validator (the `jsonschema` package).

It must accept every spec in specs/, reject typical mistakes, describe every
field, hold every layer type, and `netspec.schema.json` at the repository
root (which the specs' `# yaml-language-server: $schema=...` comment names)
must be its current text.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import ROOT, SPECS

from netspec import jsonschema as netspec_jsonschema
from netspec.compose import COMPOSITION_KEYS, expand
from netspec.jsonschema import json_schema
from netspec.layers import LAYER_TYPES
from netspec.schema.training import OPTIMIZERS
from netspec.source import read_source

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SPEC_FILES = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json"))

VALID = {
    "name": "ok",
    "inputs": [{"name": "x", "shape": [28, 28, 1]}],
    "layers": [
        {"type": "conv2d", "filters": 8, "kernel_size": [3, 3], "padding": "same", "activation": "relu",
         "kernel_initializer": {"type": "he_normal", "seed": 1}},
        {"type": "max_pooling2d"},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 10, "activation": "softmax", "name": "probs"},
    ],
    "outputs": ["probs"],
    "training": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                 "callbacks": ["terminate_on_nan", {"type": "early_stopping", "patience": 2}],
                 "precision": "mixed_bfloat16"},
    "data": "builtin:digits",
}


def errors_of(instance) -> list:
    return list(VALIDATOR.iter_errors(instance))


def test_it_is_a_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_it_holds_every_layer_type_at_top_level_and_inside_wrappers():
    unions = [u for u in _find(SCHEMA, "discriminator") if "mapping" in u["discriminator"]]
    layer_unions = [set(u["discriminator"]["mapping"]) for u in unions if "dense" in u["discriminator"]["mapping"]]
    assert layer_unions and all(tags == set(LAYER_TYPES) for tags in layer_unions)
    layer_union, *composition = SCHEMA["properties"]["layers"]["items"]["anyOf"]
    assert set(resolve(SCHEMA, layer_union)["discriminator"]["mapping"]) == set(LAYER_TYPES)
    # block uses and the built-in stacks, expanded before validation
    assert {entry["properties"]["type"].get("const") or tuple(entry["properties"]["type"].get("enum", ()))
            for entry in composition}


def test_composed_specs_as_written_are_accepted():
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "layers" in data:
            errors = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)]
            assert errors == [], path


def test_every_field_has_a_description():
    undocumented = [f"{name}.{key}" for name, model in SCHEMA["$defs"].items()
                    for key, field in model.get("properties", {}).items() if not field.get("description")]
    undocumented += [key for key, field in SCHEMA["properties"].items() if not field.get("description")]
    assert undocumented == []


def test_accepts_a_spec_with_every_shorthand():
    assert errors_of(VALID) == []


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.name for p in SPEC_FILES])
def test_accepts_every_spec_in_specs(path):
    data = yaml.safe_load(path.read_text())
    if any(key in data for key in COMPOSITION_KEYS):
        # `${var}` values and block uses are composition: check what they expand to
        data = expand(read_source(path)).data
    assert [e.message for e in errors_of(data)] == []


def spec_with(**changes):
    data = json.loads(json.dumps(VALID))
    for dotted, value in changes.items():
        path = dotted.split("__")
        node = data
        for part in path[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = path[-1]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()

INVALID = {
    "unknown layer key": spec_with(layers__0__kernal_size=3),
    "unknown layer type": spec_with(layers__1__type="max_pool2d"),
    "missing required key": spec_with(layers__0__filters=_DELETE),
    "missing top-level key": spec_with(inputs=_DELETE),
    "unknown top-level key": spec_with(trainng={}),
    "string for an integer": spec_with(layers__4__units="ten"),
    "zero size": spec_with(layers__4__units=0),
    "negative kernel": spec_with(layers__0__kernel_size=[3, -3]),
    "rate of 1.5": spec_with(layers__3__rate=1.5),
    "bad padding": spec_with(layers__0__padding="SAME"),
    "bad activation": spec_with(layers__0__activation="relux"),
    "bad initializer": spec_with(layers__0__kernel_initializer="he_normall"),
    "bad data_format": spec_with(layers__0__data_format="channels_middle"),
    "bad input dtype": spec_with(inputs__0__dtype="int33"),
    "zero input dimension": spec_with(inputs__0__shape=[28, 0, 1]),
    "empty layers": spec_with(layers=[]),
    "layer without type": spec_with(layers__2={"units": 3}),
    "bad optimizer": spec_with(training__optimizer="adamm"),
    "bad loss": spec_with(training__loss="msee"),
    "bad metric": spec_with(training__metrics=["acuracy"]),
    "bad precision": spec_with(training__precision="mixed_float8"),
    "bad callback": spec_with(training__callbacks=["early_stoping"]),
    "zero batch size": spec_with(training__batch_size=0),
    "top level list": [VALID],
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_rejects_typical_mistakes(case):
    assert errors_of(INVALID[case]) != []


def test_netspec_validates_the_valid_example_too():
    # the schema and the validator agree on the example both accept
    from netspec.load import load_spec

    assert load_spec(VALID).name == "ok"


def test_root_schema_file_is_up_to_date():
    path = ROOT / "netspec.schema.json"
    assert path.exists(), "write it with `python -m netspec.jsonschema netspec.schema.json`"
    assert json.loads(path.read_text()) == SCHEMA, "stale: regenerate with `python -m netspec.jsonschema netspec.schema.json`"


def test_the_packaged_copy_that_netspec_schema_prints_is_current():
    with open(netspec_jsonschema.PACKAGED_SCHEMA, encoding="utf-8") as file:
        assert file.read() == json.dumps(SCHEMA, indent=2) + "\n", "stale: run `python -m netspec.jsonschema`"
    with open(netspec_jsonschema.PACKAGED_DIGEST, encoding="utf-8") as file:
        assert file.read().strip() == netspec_jsonschema.sources_digest(), "stale: run `python -m netspec.jsonschema`"
    assert netspec_jsonschema.json_schema_text() == json.dumps(SCHEMA, indent=2)


def test_the_schema_is_generated_anew_once_its_sources_change(monkeypatch, tmp_path):
    # A layer type added or edited since the copy was written: `netspec schema` must not print the old schema.
    stale = tmp_path / "netspec.schema.json"
    stale.write_text("{}\n")
    (tmp_path / "netspec.schema.json.sha256").write_text(netspec_jsonschema.sources_digest() + "\n")
    monkeypatch.setattr(netspec_jsonschema, "PACKAGED_SCHEMA", str(stale))
    monkeypatch.setattr(netspec_jsonschema, "PACKAGED_DIGEST", str(stale) + ".sha256")
    assert netspec_jsonschema.json_schema_text() == "{}"  # the copy is taken while its digest matches
    monkeypatch.setattr(netspec_jsonschema, "sources_digest", lambda: "sources edited since")
    assert netspec_jsonschema.json_schema_text() == json.dumps(SCHEMA, indent=2)
    monkeypatch.setattr(netspec_jsonschema, "PACKAGED_DIGEST", str(tmp_path / "not shipped"))
    assert netspec_jsonschema.json_schema_text() == json.dumps(SCHEMA, indent=2)


def test_the_digest_follows_every_layer_family(tmp_path, monkeypatch):
    # A new family file changes the digest as an edited one does (the families are found, not listed).
    import shutil

    package = tmp_path / "netspec"
    shutil.copytree(ROOT / "netspec", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(netspec_jsonschema, "_PACKAGE", str(package))
    before = netspec_jsonschema.sources_digest()
    (package / "layers" / "extra.py").write_text("# a new family\n")
    assert netspec_jsonschema.sources_digest() != before


def test_specs_point_editors_at_the_root_schema_file():
    for path in SPEC_FILES:
        if path.suffix == ".yaml":
            assert "# yaml-language-server: $schema=../netspec.schema.json" in path.read_text(), path.name


def test_every_optimizer_is_offered_by_name():
    optimizer = SCHEMA["$defs"]["Training"]["properties"]["optimizer"]
    assert {"enum": list(OPTIMIZERS)} in optimizer["anyOf"]


def _find(node, key):
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from _find(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _find(value, key)


def resolve(schema, node):
    """A subschema, or the `$defs` entry its `$ref` names (where subschemas used in many places are shared)."""
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node
