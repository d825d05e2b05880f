"""Shared by the codegen tests: spec lists, running generated scripts without netspec, comparing models."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OWN_SPECS = HERE / "specs"
GOLDEN = ROOT / "tests" / "golden" / "scripts"
PYTHON = sys.executable
RUFF = str(Path(sys.executable).with_name("ruff"))

# What a generated script may import: the standard library, NumPy, Keras, and TensorFlow (for tf.data).
# Keras, NumPy, and inside the functions that need them: TensorFlow or JAX (the GPU query), scikit-learn (its digits).
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"numpy", "keras", "tensorflow", "jax", "sklearn"}


def _mnist_with(data) -> dict:
    import yaml

    spec = yaml.safe_load((ROOT / "specs" / "mnist_convnet.yaml").read_text(encoding="utf-8"))
    return {**spec, "data": data} if data is not None else spec


# The mnist spec with each kind of data source: each kind renders its own reader into the script.
MNIST_DATA_KINDS = {
    "none": _mnist_with(None),
    "npz": _mnist_with({"source": "train.npz", "x": "pixels", "y": "labels"}),
    "npy": _mnist_with({"source": "features.npy"}),
    "csv": _mnist_with({"source": "table.csv", "x": ["a", "b"], "y": "label"}),
    "image_folder": _mnist_with({"source": "pictures", "image_size": [28, 28], "validation": "pictures_val"}),
    "text_folder": _mnist_with({"source": "texts", "format": "text_folder"}),
    "digits": _mnist_with("builtin:digits"),
    "keras": _mnist_with("keras:mnist"),
    "synthetic": _mnist_with({"source": "synthetic", "samples": 64, "num_classes": 10}),
}


def all_specs() -> list[Path]:
    """Every spec in specs/ (other helpers add them) and the codegen tests' own."""
    found = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs").glob("*.json"))
    return found + sorted(OWN_SPECS.glob("*.yaml"))


def spec_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def imported_modules(source: str) -> set[str]:
    """Top-level module names the script imports, wherever the import statement is."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def blocked_env(tmp_path: Path) -> dict:
    """An environment where `import netspec` raises: a module of that name comes first on sys.path."""
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "netspec.py").write_text(
        'raise ImportError("a generated script must not import netspec")\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(blocker), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def run_blocked(args: list[str], tmp_path: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, *args], cwd=tmp_path, env=blocked_env(tmp_path), capture_output=True, text=True,
                          timeout=timeout)


def run_scripts(jobs: list[dict], tmp_path: Path) -> dict:
    """Run script_driver.py over `jobs` in one process without netspec; its results by script path."""
    jobs_file, results_file = tmp_path / "jobs.json", tmp_path / "results.json"
    jobs_file.write_text(json.dumps(jobs), encoding="utf-8")
    done = run_blocked([str(HERE / "script_driver.py"), str(jobs_file), str(results_file)], tmp_path)
    assert done.returncode == 0, done.stderr[-5000:]
    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert results["netspec_modules"] == [], results["netspec_modules"]
    return {r["script"]: r for r in results["results"]}


def netspec_model_facts(spec, seed: int) -> tuple[dict, list]:
    """What the driver records, for netspec.build_model(spec) in this process."""
    import keras

    import netspec

    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = netspec.build_model(spec, compile=False)  # as the script's build_model(): compiled in main()
    facts = {
        "json": model.to_json(),
        "params": int(model.count_params()),
        "layers": [[layer.name, type(layer).__name__] for layer in model.layers],
        "output_shapes": [list(t.shape) for t in model.outputs],
    }
    return facts, [np.asarray(w) for w in model.get_weights()]


def assert_same_model(script_facts: dict, weights_file: str, spec, seed: int) -> None:
    """The script's build_model() equals netspec.build_model(spec): architecture, names, shapes, counts, weights."""
    expected, expected_weights = netspec_model_facts(spec, seed)
    got_layers = [list(pair) for pair in script_facts["layers"]]
    assert got_layers == expected["layers"]
    assert script_facts["output_shapes"] == expected["output_shapes"]
    assert script_facts["params"] == expected["params"]
    assert json.loads(script_facts["json"]) == json.loads(expected["json"])
    with np.load(weights_file) as stored:
        weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    assert len(weights) == len(expected_weights)
    for got, want in zip(weights, expected_weights):
        np.testing.assert_array_equal(got, want)


def ruff(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """ruff with its default settings (--isolated ignores the project's pyproject.toml)."""
    return subprocess.run([RUFF, *args, "--isolated"], capture_output=True, text=True, cwd=cwd)
