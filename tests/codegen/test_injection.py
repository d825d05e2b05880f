"""Injection: hostile values in every string field that reaches a script stay inert data.

Each payload goes into the description, the data source, validation and test sources, the npz keys,
every callback's file names and `monitor`, the spec file's own name, and the tuned run folder's name
(a loss's or metric's `name` is no free text: the schema holds it to TensorFlow's scope-name characters,
and refuses every payload there). The script must still compile, pass ruff, have exactly the code of a script
made from harmless values (its AST equal once string constants are blanked), carry each payload back
as the same string, build the same model, and run without executing any of it.
"""

from __future__ import annotations

import ast
import json
import runpy

import numpy as np
import pytest
from codegen_support import ROOT, assert_same_model, ruff, run_scripts

import netspec
from netspec.errors import SpecError

CANARY = "PWNED"  # a file that a payload would create in the working directory if it ran
PAYLOADS = {
    "quotes": "'\"",
    "triple_quotes": "''' \"\"\" '''\"\"\"",
    "backslashes": "\\ \\\\ \\' \\\" \\n \\x00 \\u202e \\",
    "newlines": f"\n__import__('os').system('touch {CANARY}')\n# \r\n\r\x0b\x0c\x1c\x85\u2028\u2029",
    "breakout": f"\"); __import__('os').system('touch {CANARY}'); (\"",
    "docstring": f'"""\n__import__("os").system("touch {CANARY}")\n"""',
    "comment_escape": f"x\n#\nimport os; os.system('touch {CANARY}')",
    "fstring": "{__import__('os').system('touch " + CANARY + "')}",
    "jinja": "{{ 7 * 7 }} {% for x in range(3) %}{{ x }}{% endfor %} {# c #} {{ lipsum.__globals__ }}",
    "jinja_raw": "{% raw %}{{ x }}{% endraw %} {%- if true -%}X{%- endif -%}",
    "percent": "%(prog)s %s %(default)s %",
    "unicode": "ünïcødé 中文 😀 \u202eevil\u202c \u200b \ufeff \U0001F600 e\u0301",
    "control": "\x00\x01\x1b[31m\x7f",
    "surrogate": "\ud800 \udfff",
    "long": "a'\"\\" * 2500,
}


def hostile_spec(payload: str) -> dict:
    """A real spec with `payload` in every free-text field that a script receives."""
    return {
        "name": "hostile",
        "description": payload,
        "inputs": [{"name": "x", "shape": [6]}],
        "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                   {"type": "dense", "units": 3, "activation": "softmax", "name": "out"}],
        "training": {
            "loss": {"type": "sparse_categorical_crossentropy", "name": "loss.v1"},
            "metrics": ["accuracy", {"type": "sparse_categorical_accuracy", "name": "acc/sparse-1"}],
            "epochs": 1,
            "callbacks": [
                {"type": "early_stopping", "monitor": payload},
                {"type": "reduce_lr_on_plateau", "monitor": payload},
                {"type": "model_checkpoint", "filepath": payload + ".keras", "monitor": payload},
                {"type": "csv_logger", "filename": payload + ".csv", "separator": payload},
                {"type": "tensorboard", "log_dir": payload},
                {"type": "backup_and_restore", "backup_dir": payload},
            ],
        },
        "data": {"source": payload + ".npz", "validation": payload, "test": payload, "x": payload, "y": payload},
    }


def runnable_spec(payload: str) -> dict:
    """The hostile spec as far as Keras takes any string: callbacks writing in the run folder, and no
    loss or metric names (TensorFlow makes them scope names, which allow only [A-Za-z0-9_.\\/>-])."""
    spec = hostile_spec(payload)
    spec["training"]["loss"] = "sparse_categorical_crossentropy"
    spec["training"]["metrics"] = ["accuracy"]
    spec["training"]["callbacks"] = [  # an unknown monitor needs a mode: Keras cannot guess it
        {"type": "early_stopping", "monitor": payload, "mode": "min"},
        {"type": "csv_logger", "filename": payload + ".csv"},
        # Keras formats the checkpoint path with str.format (`{epoch}`): literal braces are doubled.
        {"type": "model_checkpoint", "filepath": payload.replace("{", "{{").replace("}", "}}") + ".keras",
         "monitor": payload, "mode": "min"},
    ]
    # The script reads the file `--data` names (no file can have every payload's name), with keys x and y.
    spec["data"] = {"source": payload + ".npz"}
    return spec


def blank_strings(source: str) -> str:
    """The script's AST with every string constant blanked: what is code, not data."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def string_constants(source: str) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


BENIGN = blank_strings(netspec.generate_script(hostile_spec("benign")))


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_is_refused_as_a_loss_or_metric_name(payload):
    spec = hostile_spec("benign")
    spec["training"]["loss"]["name"] = payload
    spec["training"]["metrics"][1]["name"] = payload
    with pytest.raises(SpecError) as caught:
        netspec.load_spec(spec)
    assert sorted(d.path for d in caught.value.diagnostics) == ["training.loss.name", "training.metrics[1].name"]


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_stays_data(payload, tmp_path):
    source = netspec.generate_script(hostile_spec(payload))
    compile(source, "hostile", "exec")
    assert blank_strings(source) == BENIGN  # the same code as with harmless values
    constants = string_constants(source)
    for expected in (payload, payload + ".npz", payload + ".keras", payload + ".csv"):
        assert expected in constants, f"{expected[:40]!r} does not come back as one string"
    # Jinja never saw the values as templates: they come back verbatim (checked above), not rendered.
    assert "49" not in "".join(line for line in source.splitlines() if not line.startswith("#"))
    # The header stays comments: the payload is one quoted line in it.
    header = source[: source.index('"""')]
    assert all(line.startswith("#") for line in header.strip().splitlines())
    path = tmp_path / "script.py"
    path.write_text(source, encoding="utf-8")
    assert ruff("check", "--no-cache", str(path)).returncode == 0
    assert ruff("format", "--no-cache", "--check", str(path)).returncode == 0


@pytest.mark.parametrize("name", ["quotes", "breakout", "jinja", "unicode", "percent"])
def test_hostile_spec_file_name_and_tuned_run_folder(name, tmp_path):
    """The spec's file name and the tuned run's folder name reach the header: they stay comments."""

    def generate(label: str) -> str:
        spec_file = tmp_path / f"spec {label}.yaml"
        spec_file.write_text(json.dumps(hostile_spec("ok")), encoding="utf-8")
        run = tmp_path / f"run {label}"
        run.mkdir()
        (run / "tuning.json").write_text(json.dumps({"jit_compile": False, "steps_per_execution": 2}))
        return netspec.generate_script(spec_file, tuned_from=run)

    source = generate(PAYLOADS[name].replace("/", "_"))
    compile(source, "hostile", "exec")
    assert blank_strings(source) == blank_strings(generate("benign"))
    header = source[: source.index('"""')]
    assert all(line.startswith("#") for line in header.strip().splitlines())


def test_names_cannot_carry_code():
    """Names become variables, so they must be identifiers: the schema refuses anything else."""
    for bad in ("x; import os", "a b", "1x", "é", "x\n", "__import__('os')"):
        spec = hostile_spec("ok")
        spec["layers"][1]["name"] = bad
        with pytest.raises(SpecError):
            netspec.generate_script(spec)
        spec = hostile_spec("ok")
        spec["inputs"][0]["name"] = bad
        with pytest.raises(SpecError):
            netspec.generate_script(spec)


def test_initializer_arguments_that_are_keywords_still_compile():
    spec = hostile_spec("ok")
    spec["layers"][0]["kernel_initializer"] = {"type": "he_normal", "seed": 1, "class": "x", "lambda": "y"}
    source = netspec.generate_script(spec)
    compile(source, "hostile", "exec")
    assert '**{"class": "x"}' in source and '**{"lambda": "y"}' in source


@pytest.mark.slow
def test_hostile_scripts_build_the_same_model_and_run_nothing(tmp_path):
    """Import each hostile script and run its main() in a netspec-free process; no payload executes."""
    seed = 4
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((32, 6), dtype="float32"), y=rng.integers(0, 3, 32))
    jobs, specs = [], {}
    for key, payload in PAYLOADS.items():
        if key in ("long", "surrogate", "control"):  # no file name holds these (length, NUL): checked above
            continue
        spec = runnable_spec(payload)
        script = tmp_path / f"hostile_{key}.py"
        script.write_text(netspec.generate_script(spec), encoding="utf-8")
        out = tmp_path / f"run_{key}"
        jobs.append({"script": str(script), "out": str(out), "seed": seed,
                     "args": ["--data", str(data), "--epochs", "1", "--out", str(out)]})
        specs[str(script)] = spec
    results = run_scripts(jobs, tmp_path)
    for script, result in results.items():
        assert "error" not in result, result.get("error")
        assert_same_model(result["model"], result["weights"], specs[script], seed)
    assert not list(tmp_path.rglob(CANARY)) and not (ROOT / CANARY).exists()


def test_importing_a_hostile_script_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, payload in PAYLOADS.items():
        path = tmp_path / f"{key}.py"
        path.write_text(netspec.generate_script(hostile_spec(payload)), encoding="utf-8")
        namespace = runpy.run_path(str(path), run_name="imported")
        assert callable(namespace["main"]) and namespace["DATA"].endswith(payload + ".npz")
    assert not (tmp_path / CANARY).exists()
