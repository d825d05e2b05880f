"""The stages' import layering: the schema never imports composition, composition never imports the shape stage.

Each check runs in a fresh interpreter, since this test process has long
imported every module.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.parametrize(("module", "absent"), [
    ("netspec.schema", "netspec.compose"),
    ("netspec.compose", "netspec.shapes"),
])
def test_a_stage_does_not_import_what_it_must_not_depend_on(module, absent):
    code = f"import {module}, sys; assert {absent!r} not in sys.modules, sorted(m for m in sys.modules if m.startswith('netspec'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# What a verb imports, in a fresh interpreter: the start-up cost of the light verbs is mostly imports.
VERB_IMPORTS = r"""
import contextlib, io, json, sys
from netspec.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(sys.argv[1:]) == 0
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", VERB_IMPORTS, *argv], capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_schema_prints_the_packaged_copy_without_pydantic_yaml_or_any_layer():
    assert {"pydantic", "yaml", "jinja2", "netspec.layers", "netspec.schema"} & _modules_after("schema") == set()


@pytest.mark.parametrize("verb", ["validate", "summary", "expand"])
def test_a_verb_imports_the_families_of_the_spec_and_nothing_it_does_not_run(verb):
    modules = _modules_after(verb, "specs/mnist_convnet.yaml")
    assert {"jinja2", "netspec.codegen", "netspec.build", "netspec.runner"} & modules == set()
    assert {"netspec.compose.blocks", "netspec.compose.stacks"} & modules == set()  # a plain spec: nothing to compose
    assert {"importlib.metadata", "email"} & modules == set()  # pydantic's plugin scan (cli._skip_pydantic_plugin_loader)
    families = {m.rsplit(".", 1)[1] for m in modules if m.startswith("netspec.layers.")} - {"base"}
    assert families == {"conv", "core", "pooling", "reshaping"}


@pytest.mark.parametrize(("layers", "family"), [
    ("[{type: batch_normalization}, {type: layer_normalization, axis: -1}]", "normalization"),
    ("[{type: rescaling, scale: 0.5}, {type: normalization, axis: -1}]", "preprocessing"),
    ("[{type: multi_head_attention, num_heads: 2, key_dim: 4, inputs: [x, x]}]", "attention"),
    ("[{type: time_distributed, layer: {type: layer_normalization}}]", "wrappers normalization"),
])
def test_a_spec_imports_the_families_of_its_layer_types_only(tmp_path, layers, family):
    # The axis helpers that normalization, preprocessing and attention share with `core` live in layers/base.py, so
    # none of them pulls in core's twenty-odd models; `time_distributed` loads the recurrent family only to check
    # a `bidirectional`'s layer.
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"netspec: 1\nname: m\ninputs: [{{name: x, shape: [6, 4]}}]\nlayers: {layers}\n")
    modules = _modules_after("validate", str(spec))
    assert {m.rsplit(".", 1)[1] for m in modules if m.startswith("netspec.layers.")} - {"base"} == set(family.split())


def test_generate_lowers_without_the_keras_builder(tmp_path):
    # The script and the runner share `lowering`; the code generator never loads `build` (Keras's side).
    modules = _modules_after("generate", "specs/mnist_convnet.yaml", "-o", str(tmp_path / "train.py"))
    assert "netspec.lowering" in modules and "netspec.build" not in modules


def test_composed_specs_still_find_their_stacks():
    import netspec.compose as compose

    assert compose.STACK_TYPES == tuple(compose.STACKS)  # the tags a plain spec is told apart by are the stacks'
    assert "netspec.compose.stacks" in _modules_after("validate", "examples/digits_stacks.yaml")


PLUGINS = r"""
import contextlib, io, json, os, sys
from netspec.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["validate", "specs/mnist_convnet.yaml"]) == 0
import pydantic.plugin._loader as loader
report = {"metadata": "importlib.metadata" in sys.modules, "plugins": list(loader.get_plugins())}
report["loader"] = getattr(loader, "PYDANTIC_ENTRY_POINT_GROUP", None)  # another name: the real module
report["after"] = "importlib.metadata" in sys.modules
print(json.dumps(report))
"""


@pytest.mark.parametrize("setting", [None, "__all__", "some_plugin"])
def test_pydantic_plugin_loader_is_skipped_only_where_plugins_are_off(setting):
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    result = subprocess.run([sys.executable, "-c", PLUGINS], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    off = setting in (None, "__all__")  # the CLI turns plugins off unless told otherwise
    assert report["metadata"] is not off  # importlib.metadata only where pydantic may scan for plugins
    assert report["plugins"] == []
    assert report["loader"] == "pydantic" and report["after"]  # any other name loads pydantic's own loader


def test_the_cli_restores_the_garbage_collector_and_turns_it_on_after_importing_keras(monkeypatch, tmp_path):
    from netspec import cli

    seen = {}
    monkeypatch.setattr(cli, "_start_keras_quietly", lambda: seen.setdefault("collecting", gc.isenabled()))
    monkeypatch.setattr(cli, "_VERBS", {**cli._VERBS, "build": lambda args: seen.setdefault(
        "verb", (gc.isenabled(), gc.get_freeze_count() > 0)) and 0})
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert cli.main(["validate", str(ROOT / "specs" / "mnist_convnet.yaml")]) == 0
    assert gc.isenabled()
    cli.main(["build", str(ROOT / "specs" / "mnist_convnet.yaml"), "-o", str(tmp_path / "m.keras")])
    # Keras is imported with the collector off; the verb runs with it on and what was imported frozen.
    assert seen == {"collecting": False, "verb": (True, True)}
    assert gc.isenabled() and gc.get_freeze_count() == 0  # unfrozen again
    with pytest.raises(SystemExit):  # bad usage: argparse exits, the collector as it was
        cli.main(["validate", "--no-such-flag"])
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        assert cli.main(["validate", str(ROOT / "specs" / "mnist_convnet.yaml")]) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_light_verb_about_to_exit_freezes_what_it_made_and_a_keras_verb_does_not(monkeypatch, tmp_path):
    """`run` (the `netspec` command) tells `main` the process ends next: a light verb then freezes every object,
    so that the collections Python makes at exit do not scan them; a call from Python code freezes nothing."""
    from netspec import cli

    spec = str(ROOT / "specs" / "mnist_convnet.yaml")
    monkeypatch.setattr(cli, "_start_keras_quietly", lambda: None)
    monkeypatch.setattr(cli, "_VERBS", {**cli._VERBS, "build": lambda args: 0})
    try:
        assert cli.main(["validate", spec]) == 0
        assert gc.get_freeze_count() == 0
        cli.main(["build", spec, "-o", str(tmp_path / "m.keras")], exiting=True)
        assert gc.get_freeze_count() == 0 and gc.isenabled()  # training's objects stay collectable
        monkeypatch.setattr(sys, "argv", ["netspec", "validate", spec])
        with pytest.raises(SystemExit) as exit_:
            cli.run()
        assert exit_.value.code == 0
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()
