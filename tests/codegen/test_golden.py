"""Golden scripts: the exact script for each of the codegen tests' own specs (CNN, RNN, hybrid,
branching graph, several inputs and outputs, attention and wrappers, each data kind).

A change to the templates or the code generator shows up here as a diff to review. After an intended change,
regenerate them with

    NETSPEC_UPDATE_GOLDEN=1 pytest tests/codegen/test_golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import difflib
import os

import pytest
from codegen_support import GOLDEN, OWN_SPECS, ROOT

import netspec

REGENERATE = os.environ.get("NETSPEC_UPDATE_GOLDEN") == "1"
SPECS = sorted(OWN_SPECS.glob("*.yaml"))


def test_enough_golden_specs():
    assert len(SPECS) >= 8
    names = {p.stem for p in SPECS}
    assert {"cnn_digits", "lstm_digits_sequence", "conv1d_gru_hybrid", "residual_branches"} <= names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_script_matches_golden(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the header names the spec by the path given: keep it relative
    script = netspec.generate_script(str(path.relative_to(ROOT)))
    golden = GOLDEN / f"{path.stem}.py"
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(script, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with NETSPEC_UPDATE_GOLDEN=1 to write it"
    expected = golden.read_text(encoding="utf-8")
    if script != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), script.splitlines(True), str(golden),
                                            "generated", n=2))
        pytest.fail(f"the script for {path.name} differs from {golden.name}:\n{diff[:6000]}")


def test_no_stale_golden_files():
    assert {p.stem for p in GOLDEN.glob("*.py")} == {p.stem for p in SPECS}
