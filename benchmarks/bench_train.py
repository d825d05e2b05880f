"""Training throughput: `netspec train` against a hand-written Keras script and the generated script.

Three contenders train the same model (the spec's, built by netspec.build_model)
on the same data (the spec's data, the same train / validation / test split),
with the same batch size and epochs, on this machine's CPU:

* runner:       `netspec.train(spec, epochs=E)`
* hand-written: a plain Keras script, `model.compile` with Keras's defaults and
                `model.fit(x, y, batch_size, epochs, validation_data)` on NumPy arrays
* generated:    the script `netspec generate SPEC` writes, run as `python train.py --epochs E`

Each runs in its own process, in turns (runner, hand-written, generated,
runner, ...) so that a busy machine slows them alike. The same probe in every
process times `keras.Model.fit` (compilation included: a user waits for it)
and each epoch (the steady state). Throughput is training samples x epochs /
seconds; the medians over the repeats are printed, with the ratios.
Targets: runner >= 1.0x hand-written; generated within 5% of the runner.

    python benchmarks/bench_train.py [--spec specs/digits_cnn.yaml] [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs first in every contender's process: times each model.fit call and its epochs.
PROBE = textwrap.dedent("""
    import atexit, json, os, time
    import keras

    _fit = keras.Model.fit
    _report = {"fit_seconds": 0.0, "epoch_seconds": [], "samples": 0}

    class _EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None):
            _report["epoch_seconds"].append(time.perf_counter() - self.started)

    def _timed_fit(self, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [_EpochTimer()]
        started = time.perf_counter()
        try:
            return _fit(self, *args, **kwargs)
        finally:
            _report["fit_seconds"] += time.perf_counter() - started

    keras.Model.fit = _timed_fit
    atexit.register(lambda: open(os.environ["BENCH_REPORT"], "w").write(json.dumps(_report)))
""")

RUNNER = textwrap.dedent("""
    import sys
    from netspec.runner import train
    train(sys.argv[1], epochs=int(sys.argv[2]), out=sys.argv[3], verbose=0)
""")

# What a Keras user writes by hand: the arrays, the model, compile with Keras's defaults, fit.
HAND_WRITTEN = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    from netspec import build_model, load_spec

    spec = load_spec(sys.argv[1])
    data = np.load(sys.argv[4])
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(sys.argv[5])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], batch_size=spec.training.batch_size, epochs=int(sys.argv[2]),
              validation_data=(data["x_validation"], data["y_validation"]), verbose=2)
    print(model.evaluate(data["x_test"], data["y_test"], verbose=0, return_dict=True))
""")


def write_splits(spec_path: Path, path: Path) -> int:
    """The runner's own split of the spec's data, for the hand-written script; returns the training samples."""
    import numpy as np

    from netspec import load_spec
    from netspec.runner import data as data_module

    spec = load_spec(spec_path)
    splits = data_module.spec_splits(spec, seed=spec.training.seed or 0)
    arrays = {}
    for part in ("train", "validation", "test"):
        chunk = getattr(splits, part)  # one input and one output: arrays
        arrays[f"x_{part}"], arrays[f"y_{part}"] = chunk.x, chunk.y
    np.savez(path, **arrays)
    return len(splits.train)


def run(kind: str, spec: Path, epochs: int, work: Path, splits: Path, learning_rate: float, script: Path,
        repeat: int) -> dict:
    report = work / f"{kind}-{repeat}.json"
    out = work / f"{kind}-run-{repeat}"
    env = {**os.environ, "BENCH_REPORT": str(report), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    if kind == "runner":
        command = [sys.executable, "-c", PROBE + RUNNER, str(spec), str(epochs), str(out)]
    elif kind == "hand-written":
        command = [sys.executable, "-c", PROBE + HAND_WRITTEN, str(spec), str(epochs), str(out), str(splits),
                   str(learning_rate)]
    else:
        runner = f"import runpy, sys; sys.argv = {[str(script), '--epochs', str(epochs), '--out', str(out)]!r}; " \
                 f"runpy.run_path({str(script)!r}, run_name='__main__')"
        command = [sys.executable, "-c", PROBE + runner]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "digits_cnn.yaml"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-generated", action="store_true", help="leave out the generated script")
    args = parser.parse_args()

    from netspec import load_spec

    spec_path = Path(args.spec).resolve()
    spec = load_spec(spec_path)
    learning_rate = spec.training.optimizer.learning_rate or 0.001
    kinds = ["runner", "hand-written"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n_train = write_splits(spec_path, work / "splits.npz")
        script = work / "train.py"
        generated = not args.skip_generated
        if generated:
            try:
                from netspec.codegen import generate_script
            except ImportError:
                generated = False
            else:
                script.write_text(generate_script(spec), encoding="utf-8")
                kinds.append("generated")
        results: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for repeat in range(args.repeats):
            for kind in kinds:
                results[kind].append(run(kind, spec_path, args.epochs, work, work / "splits.npz", learning_rate,
                                         script, repeat))
                last = results[kind][-1]
                print(f"repeat {repeat + 1}/{args.repeats} {kind:>12}: fit {last['fit_seconds']:.2f} s",
                      file=sys.stderr, flush=True)

    def throughput(report: dict) -> float:
        return n_train * args.epochs / report["fit_seconds"]

    def steady(report: dict) -> float:
        later = report["epoch_seconds"][1:]
        return n_train * len(later) / sum(later) if later else float("nan")

    print(f"{spec.name}: {n_train} training samples, batch {spec.training.batch_size}, {args.epochs} epochs, "
          f"median of {args.repeats}; CPU, {os.cpu_count()} cores")
    print(f"{'':>14} {'samples/s (fit)':>16} {'ratio':>7} {'samples/s (epochs 2+)':>22} {'ratio':>7}")
    base = {"fit": statistics.median(throughput(r) for r in results["hand-written"]),
            "steady": statistics.median(steady(r) for r in results["hand-written"])}
    for kind in kinds:
        fit = statistics.median(throughput(r) for r in results[kind])
        later = statistics.median(steady(r) for r in results[kind])
        print(f"{kind:>14} {fit:>16,.0f} {fit / base['fit']:>6.2f}x {later:>22,.0f} {later / base['steady']:>6.2f}x")
    if generated:
        runner = statistics.median(throughput(r) for r in results["runner"])
        ours = statistics.median(throughput(r) for r in results["generated"])
        print(f"generated / runner: {ours / runner:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
