"""`netspec generate` on a 1,000-layer spec, as a whole process, against `python -c "import tensorflow"`.

Generating a script never imports TensorFlow, so it should cost a small part of
what merely importing TensorFlow costs (target: under 1/10). Each command runs
several times in a fresh process; the medians are compared.

    python benchmarks/bench_generate.py [--runs 5] [--layers 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def big_spec(layers: int) -> dict:
    """A plain but varied stack: dense, dropout, normalization, activations, and a residual add every 10 layers."""
    kinds = [
        {"type": "dense", "units": 32, "activation": "relu"},
        {"type": "dropout", "rate": 0.1},
        {"type": "layer_normalization"},
        {"type": "dense", "units": 32, "kernel_initializer": {"type": "he_normal", "seed": 1}},
        {"type": "activation", "activation": "gelu"},
    ]
    spec_layers = []
    for i in range(layers - 1):
        layer = dict(kinds[i % len(kinds)], name=f"layer_{i}")
        if i % 10 == 9:
            layer = {"type": "add", "name": f"layer_{i}", "inputs": [f"layer_{i - 1}", f"layer_{i - 5}"]}
        spec_layers.append(layer)
    spec_layers.append({"type": "dense", "units": 10, "activation": "softmax", "name": "probs"})
    return {
        "name": "deep_stack",
        "description": f"{layers} layers, for timing `netspec generate`",
        "inputs": [{"name": "features", "shape": [32]}],
        "layers": spec_layers,
        "training": {"optimizer": {"type": "adam", "learning_rate": 0.001}, "epochs": 1},
        "data": {"source": "synthetic", "samples": 64},
    }


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default: %(default)s)")
    parser.add_argument("--layers", type=int, default=1000, help="layers of the spec (default: %(default)s)")
    args = parser.parse_args()

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "deep_stack.json"
        spec.write_text(json.dumps(big_spec(args.layers)), encoding="utf-8")
        script = Path(folder) / "train.py"
        generate = [sys.executable, "-m", "netspec", "generate", str(spec), "-o", str(script)]
        tensorflow = [sys.executable, "-c", "import tensorflow"]
        timed(generate, env)  # warm the file cache for both, so neither pays for first reads
        timed(tensorflow, env)
        generate_times, tensorflow_times = [], []
        for _ in range(args.runs):  # interleaved, so that machine load affects both alike
            generate_times.append(timed(generate, env))
            tensorflow_times.append(timed(tensorflow, env))
        lines = script.read_text(encoding="utf-8").count("\n")

    gen, tf = statistics.median(generate_times), statistics.median(tensorflow_times)
    print(f"netspec generate ({args.layers} layers -> {lines:,}-line script): median {gen:.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in generate_times)})")
    print(f"python -c 'import tensorflow':               median {tf:.3f} s "
          f"(runs: {', '.join(f'{t:.3f}' for t in tensorflow_times)})")
    print(f"ratio generate / import tensorflow: {gen / tf:.3f} (target < 0.1)")


if __name__ == "__main__":
    main()
