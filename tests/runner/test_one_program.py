"""One program: `netspec train` and the script `netspec generate` prints train alike, to the digit.

Every spec in specs/ and tests/codegen/specs that trains on built-in, synthetic or file data runs twice
with the same seed and data for two epochs on the CPU, with TensorFlow's op determinism: through the
runner, and as its generated script in a process where `import netspec` fails. Both must split the data
into the same parts, compile the same optimizer, losses, metrics and callbacks, and log the same history.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from runner_support import write_texts

import netspec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SEED = 7
RELATIVE = 1e-6  # history values must agree this closely (they are equal where the two run the same ops)


def trained_specs() -> list[Path]:
    found = []
    for path in sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "codegen" / "specs").glob("*.yaml")):
        if "data" in yaml.safe_load(path.read_text(encoding="utf-8")):
            found.append(path)
    return found


SPECS = trained_specs()


def make_data(folder: Path) -> None:
    """The files the codegen specs read: an image folder (and a validation one), an .npz file, a CSV table, a
    folder of short texts of two classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in (("pictures", 8), ("pictures_val", 3)):
        for label in ("cats", "dogs"):
            (folder / name / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / name / label / f"{i}.png")
    pixels = rng.random((48, 8, 8, 1), dtype="float32")
    np.savez(folder / "arrays.npz", pixels=pixels, targets=(pixels > 0.5).astype("float32"))
    rows = ["a,b,c,label"] + [f"{rng.random():.4f},{rng.random():.4f},{rng.random():.4f},{i % 3}" for i in range(40)]
    (folder / "table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    write_texts(folder / "texts", rng)



def run_driver(mode: str, jobs: list[dict], folder: Path) -> dict:
    jobs_file, results_file = folder / f"{mode}_jobs.json", folder / f"{mode}_results.json"
    jobs_file.write_text(json.dumps(jobs), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME",)}
    env.update(TF_DETERMINISTIC_OPS="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow",
               PYTHONDONTWRITEBYTECODE="1")
    if mode == "script":  # a module named netspec first on the path: the script must not need netspec
        blocker = folder / "blocker"
        blocker.mkdir(exist_ok=True)
        (blocker / "netspec.py").write_text('raise ImportError("a script must not import netspec")\n')
        env["PYTHONPATH"] = str(blocker)
    done = subprocess.run([sys.executable, str(HERE / "program_driver.py"), mode, str(jobs_file), str(results_file)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(results_file.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one_program")
    make_data(folder)
    runner_jobs, script_jobs = [], []
    for path in SPECS:
        spec = folder / path.name  # beside the data files, which relative paths name
        shutil.copy(path, spec)
        script = folder / f"{path.stem}.py"
        script.write_text(netspec.generate_script(spec), encoding="utf-8")
        runner_jobs.append({"name": path.stem, "spec": str(spec), "seed": SEED, "out": str(folder / f"runner_{path.stem}")})
        script_jobs.append({"name": path.stem, "script": str(script), "seed": SEED,
                            "out": str(folder / f"script_{path.stem}")})
    runner = run_driver("runner", runner_jobs, folder)
    script = run_driver("script", script_jobs, folder)
    assert script["_modules"] == []
    return runner, script


def test_every_kind_of_data_is_covered():
    kinds = {netspec.load_spec(p).data.source.split(":")[0].split(".")[-1] for p in SPECS}
    assert {"builtin", "synthetic", "npz", "csv", "pictures"} <= kinds, kinds
    assert len(SPECS) >= 13


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_runner_and_script_are_one_program(runs, path):
    runner, script = (results[path.stem] for results in runs)
    assert "error" not in runner, runner.get("error")
    assert "error" not in script, script.get("error")
    for key in ("train_samples", "validation_samples", "test_samples", "batch_size"):
        assert runner[key] == script[key], key
    assert runner["compile"] == script["compile"]
    assert runner["callbacks"] == script["callbacks"]
    assert runner["history"].keys() == script["history"].keys()
    for key, values in runner["history"].items():
        other = script["history"][key]
        assert len(values) == len(other) == 2, key
        for a, b in zip(values, other):
            assert math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12), (key, values, other)
