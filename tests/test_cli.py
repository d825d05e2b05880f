"""The command line: exit codes 0/1/2, diagnostics on stderr, `--json`, `schema`, `summary`; never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS

from netspec.cli import main
from netspec.jsonschema import json_schema

MNIST = str(SPECS / "mnist_convnet.yaml")
INVALID = ROOT / "tests" / "invalid"


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_validate_a_valid_spec(capsys):
    assert run(capsys, "validate", MNIST) == (0, f"{MNIST}: ok\n", "")


def test_validate_an_invalid_spec(capsys):
    path = str(INVALID / "zero_size.yaml")
    code, out, err = run(capsys, "validate", path)
    assert (code, out) == (1, "")
    assert err == f"{path}:5:26: error: layers[0].units: expected a positive integer; received 0\n"


def test_validate_several_files_reports_each(capsys):
    bad = str(INVALID / "several_mistakes.yaml")
    code, out, err = run(capsys, "validate", MNIST, bad)
    assert code == 1
    assert out == f"{MNIST}: ok\n"
    assert len(err.splitlines()) == 8 and all(line.startswith(f"{bad}:") for line in err.splitlines())


def test_missing_file_directory_and_unreadable_file_are_usage_errors(capsys, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    assert run(capsys, "validate", missing) == (2, "", f"{missing}: error: no such file "
                                                      "Hint: check the path and the current directory\n")
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "is a directory" in err
    # a file that cannot be read outranks an invalid one, which outranks a valid one
    code, out, err = run(capsys, "validate", MNIST, str(INVALID / "zero_size.yaml"), missing)
    assert code == 2 and out == f"{MNIST}: ok\n" and len(err.splitlines()) == 2
    code, _, err = run(capsys, "summary", missing)
    assert code == 2 and "no such file" in err


def test_validate_json_for_tools_and_editors(capsys):
    path = str(INVALID / "unknown_key.yaml")
    code, out, err = run(capsys, "validate", "--json", MNIST, path)
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["valid"] is False
    assert report["files"][0] == {"file": MNIST, "valid": True, "diagnostics": []}
    assert report["files"][1] == {"file": path, "valid": False, "diagnostics": [{
        "message": "unknown key `kernal_size` for a `conv2d` layer", "path": "layers[0].kernal_size", "file": path,
        "line": 5, "column": 32, "hint": "did you mean `kernel_size`?", "severity": "error"}]}
    assert run(capsys, "validate", "--json", MNIST)[0] == 0


def test_usage_errors_exit_2(capsys):
    assert run(capsys)[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    code, _, err = run(capsys, "validate")
    assert code == 2 and "SPEC" in err
    assert run(capsys, "summary", MNIST, "--no-such-flag")[0] == 2


def test_schema_prints_the_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == json_schema()


def test_summary_table_and_json(capsys):
    code, out, _ = run(capsys, "summary", MNIST)
    assert code == 0 and out.startswith('Model: "mnist_convnet"') and "Total params: 34,826" in out
    code, out, _ = run(capsys, "summary", "--json", MNIST)
    summary = json.loads(out)
    assert code == 0 and summary["total_params"] == 34_826 and len(summary["layers"]) == 7


def test_summary_of_an_invalid_spec_prints_its_diagnostics(capsys):
    code, out, err = run(capsys, "summary", str(INVALID / "kernel_too_large.yaml"))
    assert (code, out) == (1, "")
    assert ":8:45: error: layers[3].kernel_size: " in err


@pytest.mark.parametrize("name", ["binary_garbage.yaml", "alias_bomb.yaml", "yaml_syntax_error.yaml",
                                  "reshape_mismatch.yaml", "several_mistakes.yaml"])
def test_no_verb_ends_in_a_traceback(capsys, name):
    for verb in ("validate", "summary"):
        code, out, err = run(capsys, verb, str(INVALID / name))
        assert code == 1 and ": error: " in err


@pytest.mark.slow
def test_python_dash_m_netspec_and_the_console_script():
    result = subprocess.run([sys.executable, "-m", "netspec", "validate", MNIST], capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stdout) == (0, f"{MNIST}: ok\n")
    result = subprocess.run([sys.executable, "-m", "netspec", "validate", str(INVALID / "tabs.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "tab character" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "netspec", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("netspec ")


def test_arguments_are_always_file_names(capsys, tmp_path):
    # a name without .yaml/.json is still a file, never YAML text
    spec = tmp_path / "spec.txt"
    spec.write_text((SPECS / "mnist_convnet.yaml").read_text())
    assert run(capsys, "validate", str(spec))[0] == 0
    code, _, err = run(capsys, "validate", "no_such_spec")
    assert code == 2 and err.startswith("no_such_spec: error: no such file")


@pytest.mark.slow
def test_build_prints_no_tensorflow_start_up_lines(tmp_path):
    # On a machine without a GPU, TensorFlow writes CUDA-probe lines (one marked E, an error) to stderr before
    # its logging starts; the CLI filters them, so a successful build writes nothing there.
    done = subprocess.run([sys.executable, "-m", "netspec", "build", str(SPECS / "digits_cnn.yaml"), "-o",
                           str(tmp_path / "m.keras")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and "wrote" in done.stdout
    assert done.stderr == ""


def test_every_option_says_what_it_takes(capsys):
    from netspec.cli import _parser

    parser = _parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    for name, sub in verbs.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"netspec {name} {action.option_strings or action.dest} has no help"
    for name in ("evaluate", "predict"):
        spec = next(a for a in verbs[name]._actions if a.dest == "spec")
        assert spec.metavar == "MODEL" and "run folder" in spec.help and ".keras" in spec.help


def test_readme_says_which_verbs_take_set():
    from netspec.cli import _parser

    parser = _parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    taking = sorted(n for n, sub in verbs.items() if any(a.dest == "overrides" for a in sub._actions))
    readme = (ROOT / "README.md").read_text()
    claim = readme[readme.index("take `--set PATH=VALUE`") - 120:readme.index("take `--set PATH=VALUE`")]
    assert sorted(re.findall(r"`(\w+)`", claim)) == taking, (claim, taking)
