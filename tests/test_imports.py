"""The stages' import layering: the schema never imports composition, composition never imports the shape stage.

Each check runs in a fresh interpreter, since this test process has long
imported every module.
"""

from __future__ import annotations

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
