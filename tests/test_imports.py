"""The stages' import layering: the schema never imports composition, composition never imports the shape stage.

Each check runs in a fresh interpreter, since this test process has long
imported every module.
"""

from __future__ import annotations

import json
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
    assert "netspec.compose.blocks" not in modules  # a plain spec: nothing to compose
    families = {m.rsplit(".", 1)[1] for m in modules if m.startswith("netspec.layers.")} - {"base"}
    assert families == {"conv", "core", "pooling", "reshaping"}
