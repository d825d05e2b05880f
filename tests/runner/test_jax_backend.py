"""The runner without TensorFlow: Keras on JAX, NumPy data (as on the GPU machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from runner_support import tiny_spec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed"),
]

SCRIPT = r"""
import json, os, sys
import numpy as np
sys.modules["tensorflow"] = None  # importing it fails, as where it is not installed
os.environ["KERAS_BACKEND"] = "jax"
import keras
from netspec.runner import train
report = {}
for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
    result = train(json.loads(sys.argv[1]), precision=policy, out=os.path.join(sys.argv[2], policy), verbose=0)
    output = result.model(np.zeros((2, 8, 8, 1), "float32"))
    report[policy] = {"accuracy": result.metrics["accuracy"], "output": keras.backend.standardize_dtype(output.dtype),
                      "conv": result.model.get_layer("conv2d").compute_dtype,
                      "loss_scaled": isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer),
                      "files": sorted(os.listdir(result.run_dir))}
report["tensorflow"] = "tensorflow" in {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
print(json.dumps(report))
"""


def test_train_on_jax_without_tensorflow(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(tiny_spec(epochs=2)), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report.pop("tensorflow") is False
    for policy, compute in (("float32", "float32"), ("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")):
        assert report[policy]["output"] == "float32" and report[policy]["conv"] == compute
        assert report[policy]["loss_scaled"] == (policy == "mixed_float16")
        assert report[policy]["accuracy"] > 0.5
        assert {"model.keras", "metrics.json", "history.json", "logs", "plots"} <= set(report[policy]["files"])
