"""Compile time: `netspec.build_model` against the same model written by hand in Keras.

Both build a chain of Dense layers (`dense`, `dense_1`, ...) in one process with
TensorFlow already imported and warmed up. Runs alternate between the two
builders (so neither always pays for the other's garbage), each after
`keras.backend.clear_session()` and `gc.collect()`, and the median is kept.

    python benchmarks/bench_build.py            # 100 and 500 layers, growth to 5,000
    python benchmarks/bench_build.py --quick    # 100 and 500 layers only

Prints, per size, the median seconds of each builder and their ratio (target:
netspec within 1.15x of hand-written), then netspec's time per layer from 100
up to 5,000 layers (growth near linear: per-layer time roughly constant).
Hand-written Keras needs a raised recursion limit past ~1,000 layers (see
netspec/build.py); for the growth table it gets the same headroom netspec uses.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

UNITS = 16


def chain_spec(depth: int) -> dict:
    return {"name": f"chain{depth}", "inputs": [{"name": "x", "shape": [UNITS]}],
            "layers": [{"type": "dense", "units": UNITS} for _ in range(depth)]}


def hand_written(keras, depth: int):
    x = inputs = keras.Input((UNITS,), name="x")
    for _ in range(depth):
        x = keras.layers.Dense(UNITS)(x)
    return keras.Model(inputs, x, name=f"chain{depth}")


def timed(keras, build) -> float:
    keras.backend.clear_session(free_memory=False)
    gc.collect()
    start = time.perf_counter()
    model = build()
    seconds = time.perf_counter() - start
    del model
    return seconds


def compare(keras, netspec, depth: int, repeats: int) -> tuple[float, float, float]:
    """Median seconds of build_model (spec already loaded), of hand-written Keras, and of load_spec."""
    from netspec.build import FRAMES_PER_LAYER, build_model, recursion_headroom

    text = chain_spec(depth)
    spec = netspec.load_spec(text)
    ours, theirs, loads = [], [], []
    for i in range(repeats):
        runs = [("ours", lambda: build_model(spec)),
                ("theirs", lambda: hand_written(keras, depth))]
        for who, build in runs if i % 2 == 0 else runs[::-1]:
            with recursion_headroom(FRAMES_PER_LAYER * depth):  # a no-op below ~1,000 layers
                (ours if who == "ours" else theirs).append(timed(keras, build))
        start = time.perf_counter()
        netspec.load_spec(text)
        loads.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(theirs), statistics.median(loads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the growth table (100 to 5,000 layers)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per builder at 100 and 500 layers")
    args = parser.parse_args()

    import keras

    import netspec

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    compare(keras, netspec, 20, 2)  # warm-up: TensorFlow's first variables and traces

    print("\nCompile time, chain of Dense layers (median seconds)")
    print(f"{'layers':>7} {'netspec':>9} {'keras':>9} {'ratio':>7} {'load_spec':>10}")
    for depth in (100, 500):
        ours, theirs, load = compare(keras, netspec, depth, args.repeats)
        print(f"{depth:>7} {ours:>9.3f} {theirs:>9.3f} {ours / theirs:>6.2f}x {load:>10.3f}", flush=True)

    if not args.quick:
        print("\nGrowth: seconds per layer (build_model vs hand-written with the same recursion headroom)")
        print(f"{'layers':>7} {'netspec':>9} {'ms/layer':>9} {'keras':>9} {'ms/layer':>9} {'ratio':>7}")
        first = None
        for depth in (100, 1000, 2000, 5000):
            ours, theirs, _ = compare(keras, netspec, depth, 1 if depth >= 2000 else 3)
            per_layer = ours / depth
            first = first or per_layer
            print(f"{depth:>7} {ours:>9.2f} {1000 * per_layer:>9.2f} {theirs:>9.2f} {1000 * theirs / depth:>9.2f} "
                  f"{ours / theirs:>6.2f}x", flush=True)
        print(f"per-layer time at 5,000 layers / at 100 layers: {per_layer / first:.2f} (1.00 = linear growth)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
