"""Golden invalid specs: one file per kind of mistake, each beside its exact expected diagnostics.

tests/invalid/NAME.yaml (or .json) is run through `netspec validate`; its
stderr must equal tests/invalid/NAME.expected line for line (file, line,
column, path, message and hint), with exit code 1 and nothing on stdout.

After a deliberate change of wording, regenerate the golden files with
`NETSPEC_UPDATE_GOLDEN=1 pytest tests/test_invalid_specs.py` and review the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest
from conftest import ROOT

from netspec.cli import main
from netspec.errors import SpecError
from netspec.load import load_spec

INVALID = ROOT / "tests" / "invalid"
SPECS = sorted(p for p in INVALID.iterdir() if p.suffix in (".yaml", ".json"))
UPDATE = os.environ.get("NETSPEC_UPDATE_GOLDEN") == "1"
LINE = re.compile(r"^(?P<file>tests/invalid/[\w.]+):(?P<line>\d+):(?P<column>\d+): error: ")


def run_validate(relative: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", relative])
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_is_large_and_complete():
    assert len(SPECS) >= 40
    expected = {p.stem for p in INVALID.glob("*.expected")}
    assert expected == {p.stem for p in SPECS}, "every invalid spec needs a NAME.expected beside it, and vice versa"


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_invalid_spec_gives_its_golden_diagnostics(spec):
    relative = spec.relative_to(ROOT).as_posix()
    code, out, err = run_validate(relative)
    golden = spec.with_suffix(".expected")
    if UPDATE:
        golden.write_text(err)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines() == golden.read_text().splitlines()
    for line in err.splitlines():  # every diagnostic is located in its file
        match = LINE.match(line)
        assert match and match["file"] == relative, line
        assert int(match["line"]) >= 1 and int(match["column"]) >= 1


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_the_api_raises_spec_error_with_the_same_diagnostics(spec):
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    _, _, err = run_validate(spec.relative_to(ROOT).as_posix())
    assert [d.format().split(": error: ", 1)[1] for d in info.value.diagnostics] == \
        [line.split(": error: ", 1)[1] for line in err.splitlines()]


def test_several_mistakes_are_all_reported_at_once():
    _, _, err = run_validate("tests/invalid/several_mistakes.yaml")
    paths = [line.split(": error: ")[1].split(": ")[0] for line in err.splitlines()]
    assert paths == ["name", "layers[0].filters", "layers[0].activation", "layers[1].type", "layers[2].rate",
                     "layers[3].unit", "training.optimizer", "training.epochs"]


def test_absurd_size_is_refused_with_the_budget_named():
    _, _, err = run_validate("tests/invalid/absurd_size.yaml")
    assert "layers[0].units" in err and "parameter budget" in err and "10,000,000,000" in err
