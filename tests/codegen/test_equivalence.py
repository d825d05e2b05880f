"""The model a generated script builds is netspec's model, and the script trains without netspec.

For every spec in specs/ and the codegen tests' own: the script runs in a
process where `import netspec` raises; its build_model() must give the same
layer classes, configs, names, shapes, parameter counts and (same seed) the
same initial weights as netspec.build_model; its main() trains one epoch on
small data (the built-in digits where the spec names them, else synthetic)
and writes the model and metrics.json.
"""

from __future__ import annotations

import json

import pytest
from codegen_support import OWN_SPECS, all_specs, assert_same_model, blocked_env, run_blocked, run_scripts, spec_id

import netspec
from netspec.load import load_spec

SEED = 3
SPECS = all_specs()
# Specs without built-in data train on 4 synthetic samples (1 test, 1 validation, 2 train): some of
# specs/ are full-size published models (a 3D CNN takes 30 GFLOPs a sample).
SMALL_DATA = ["data={source: synthetic, samples: 4, test_split: 0.25}", "training.validation_split=0.25"]


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """Generate every spec's script and run them all in one netspec-free process (one TensorFlow import)."""
    tmp_path = tmp_path_factory.mktemp("scripts")
    jobs, scripts = [], {}
    for path in SPECS:
        spec = load_spec(path)
        digits = spec.data is not None and spec.data.source.startswith("builtin:")  # real data: one epoch of it
        script = tmp_path / f"{spec_id(path).replace('/', '__')}.py"
        script.write_text(netspec.generate_script(load_spec(path, overrides=[] if digits else SMALL_DATA)),
                          encoding="utf-8")
        args = ["--epochs", "1", "--batch-size", "64", "--out", str(tmp_path / script.stem)]
        jobs.append({"script": str(script), "out": str(tmp_path / script.stem), "args": args, "seed": SEED})
        scripts[path] = str(script)
    results = run_scripts(jobs, tmp_path)
    return {path: results[script] for path, script in scripts.items()}


def test_specs_found():
    assert len(SPECS) >= 9, SPECS


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_script_builds_netspecs_model_and_trains(script_runs, path):
    result = script_runs[path]
    assert "error" not in result, result.get("error")
    assert_same_model(result["model"], result["weights"], path, SEED)
    metrics = result["metrics"]
    assert "loss" in metrics and all(isinstance(v, float) for v in metrics.values()), metrics
    assert result["policy"] == "float32"  # precision auto on this CPU


@pytest.mark.slow
def test_script_runs_as_main_without_netspec(tmp_path):
    """`python train.py ...` end to end: the __main__ guard, argparse, and the run folder."""
    assert run_blocked(["-c", "import netspec"], tmp_path).returncode != 0
    script = tmp_path / "train.py"
    script.write_text(netspec.generate_script(OWN_SPECS / "cnn_digits.yaml"), encoding="utf-8")
    out = tmp_path / "run"
    done = run_blocked([str(script), "--epochs", "1", "--batch-size", "128", "--out", str(out), "--seed", "5",
                        "--learning-rate", "0.01", "--precision", "float32"], tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "seed 5, float32, XLA False" in done.stdout and " - accuracy: " in done.stdout  # Keras's own lines
    assert set(json.loads((out / "metrics.json").read_text())) == {"accuracy", "loss"}
    assert {"model.keras", "metrics.json", "history.json", "best.keras", "training_log.csv"} <= {
        p.name for p in out.iterdir()}
    # Importing the script runs nothing: no training, no output folder.
    imported = run_blocked(["-c", f"import runpy; runpy.run_path({str(script)!r}); print('imported')"], tmp_path)
    assert imported.returncode == 0 and imported.stdout.strip() == "imported", imported.stderr[-2000:]


def test_blocked_environment_really_blocks_netspec(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import netspec"], env=blocked_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode != 0 and "must not import netspec" in done.stderr
