"""Time `netspec validate` on a generated 200-layer spec against `python -c "import tensorflow"`.

Both run as whole processes (interpreter start included), several times each;
the medians and their ratio are printed. Target: validate under 1/10 of the
TensorFlow import.

    python benchmarks/bench_validate.py [--runs 5] [--tf-runs 3] [--layers 200]
"""

from __future__ import annotations

import argparse
import atexit
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.1

# A VGG-like cycle that keeps the shape (32, 32, 16), so any number of layers is a valid spec;
# several layer types, so that validation builds more than one model.
CYCLE = [
    "{type: conv2d, filters: 16, kernel_size: 3, padding: same, activation: relu}",
    "{type: batch_normalization}",
    "{type: activation, activation: relu}",
    "{type: separable_conv2d, filters: 16, kernel_size: [3, 3], padding: same}",
    "{type: depthwise_conv2d, kernel_size: 3, padding: same}",
    "{type: spatial_dropout2d, rate: 0.1}",
    "{type: conv2d, filters: 16, kernel_size: 1, use_bias: false, kernel_initializer: he_normal}",
    "{type: layer_normalization}",
]


def spec_text(layers: int) -> str:
    """A valid spec with exactly `layers` layers."""
    body = [CYCLE[i % len(CYCLE)] for i in range(max(layers - 2, 0))]
    lines = [
        "netspec: 1",
        f"name: generated_{layers}",
        "inputs:",
        "  - {name: image, shape: [32, 32, 16]}",
        "layers:",
        *(f"  - {layer}" for layer in body),
        "  - {type: global_average_pooling2d}",
        "  - {type: dense, units: 10, activation: softmax}",
        "training: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}",
    ]
    return "\n".join(lines) + "\n"


class Times(list):
    """Wall-clock seconds of each run, with `cpu`: the CPU seconds (user + system) of each run.

    On a busy shared machine the wall clock also counts time spent waiting
    for a core; CPU time does not, so both are reported.
    """

    def __init__(self):
        super().__init__()
        self.cpu: list[float] = []


def time_process(argv: list[str], runs: int, env: dict | None = None, cwd: str | None = None) -> Times:
    times = Times()
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr}")
    return times


_PYCACHE: list[str] = []


def bytecode_cached(env: dict | None = None) -> dict:
    """`env` (default: this process's) with Python's bytecode cache on, in a folder of its own.

    So netspec runs as it does installed or checked out (its modules compiled once, by the warm-up run), even
    where PYTHONDONTWRITEBYTECODE is set, and no `__pycache__` folder is written into the checkout.
    """
    if not _PYCACHE:
        _PYCACHE.append(tempfile.mkdtemp(prefix="netspec-bench-pycache-"))
        atexit.register(shutil.rmtree, _PYCACHE[0], True)
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE[0]
    return env


def tensorflow_import(runs: int) -> list[float]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return time_process([sys.executable, "-c", "import tensorflow"], runs, env)


def netspec(*argv: str) -> list[str]:
    return [sys.executable, "-m", "netspec", *argv]


def describe(times: Times) -> str:
    return (f"median {statistics.median(times):.3f} s wall, {statistics.median(times.cpu):.3f} s CPU "
            f"(wall min {min(times):.3f}, max {max(times):.3f}; {len(times)} runs)")


def ratio(ours: Times, tf: Times) -> str:
    wall = statistics.median(ours) / statistics.median(tf)
    cpu = statistics.median(ours.cpu) / statistics.median(tf.cpu)
    verdict = "PASS" if wall < TARGET else "FAIL"
    return f"{wall:.3f} wall, {cpu:.3f} CPU  (target < {TARGET} wall: {verdict})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tf-runs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"generated_{args.layers}.yaml"
        path.write_text(spec_text(args.layers))
        time_process(netspec("validate", str(path)), 1, bytecode_cached())  # warm the file cache and bytecode
        validate = time_process(netspec("validate", str(path)), args.runs, bytecode_cached())
    tf = tensorflow_import(args.tf_runs)
    print(f"netspec validate ({args.layers} layers): {describe(validate)}")
    print(f'python -c "import tensorflow":   {describe(tf)}')
    print(f"ratio validate / import tensorflow: {ratio(validate, tf)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
