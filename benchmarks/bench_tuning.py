"""Tuned training throughput: `netspec train --execution tuned` against a naive `model.fit` with Keras's defaults.

For each spec in specs/ that netspec's built-in data (`builtin:digits`,
`builtin:digits_sequence`) or synthetic data can feed, two contenders train
the same model (netspec.build_model) on the same arrays (the runner's own split
of the spec's data; `synthetic` data shaped like the inputs for specs whose
data is not built in), with the same batch size and epochs, each in its own
process:

* tuned:  `netspec.train(spec, execution="tuned")` with an empty tuning cache,
          so the trials run (within their 5% budget)
* naive:  `model.compile(optimizer, loss, metrics)` with Keras's defaults
          (jit_compile="auto", steps_per_execution=1, float32) and
          `model.fit(x, y, batch_size, epochs, validation_data)` on NumPy arrays

Throughput is training samples x epochs / seconds of the training `model.fit`
(compilation included: a user waits for it). The tuned column "+trials" also
counts the trials' seconds. Spec callbacks are left out of both, so both run
every epoch.

    python benchmarks/bench_tuning.py [--specs digits_cnn mnist_convnet ...] [--epochs N] [--samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ("builtin:digits", "builtin:digits_sequence")

TUNED = textwrap.dedent("""
    import json, sys
    from netspec.runner import train
    spec = json.loads(open(sys.argv[1]).read())
    result = train(spec, execution="tuned", out=sys.argv[2], verbose=0)
    info = json.loads(open(result.run_dir / "run.json").read())
    tuning = json.loads(open(result.run_dir / "tuning.json").read())
    report = {"fit_seconds": info["fit_seconds"], "samples": info["samples"]["train"] * info["epochs_run"],
              "trial_seconds": tuning["trial_seconds"], "choice": tuning["choice"],
              "ran": sum(c["status"] == "ok" for c in tuning["candidates"]), "candidates": len(tuning["candidates"]),
              "metrics": result.metrics}
    open(sys.argv[3], "w").write(json.dumps(report))
""")

NAIVE = textwrap.dedent("""
    import json, sys, time
    import keras
    from netspec import build_model, load_spec
    from netspec.runner import data as data_module
    from netspec.runner.compile import make_loss, make_metrics, make_optimizer

    spec = load_spec(json.loads(open(sys.argv[1]).read()))
    seed = spec.training.seed
    keras.utils.set_random_seed(seed)
    splits = data_module.load_splits(spec, spec.data, data_module.spec_signature(spec), seed=seed)
    model = build_model(spec)
    names = list(model.output_names)
    model.compile(optimizer=make_optimizer(spec.training.optimizer), loss=make_loss(spec.training.loss, names),
                  metrics=make_metrics(spec.training.metrics, names))
    validation = None
    if splits.validation is not None:
        validation = (splits.validation.features(), splits.validation.labels())
    started = time.perf_counter()
    model.fit(splits.train.features(), splits.train.labels(), batch_size=spec.training.batch_size,
              epochs=spec.training.epochs, validation_data=validation, verbose=0)
    seconds = time.perf_counter() - started
    metrics = model.evaluate(splits.test.features(), splits.test.labels(), verbose=0, return_dict=True)
    report = {"fit_seconds": seconds, "samples": len(splits.train) * spec.training.epochs,
              "metrics": {k: float(v) for k, v in metrics.items()}}
    open(sys.argv[3], "w").write(json.dumps(report))
""")


def bench_spec(path: Path, *, epochs: int | None, samples: int, synthetic_epochs: int) -> dict:
    """The spec as both contenders train it: its built-in data, else synthetic data; no callbacks; fixed seed."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = spec.get("data")
    source = data if isinstance(data, str) else (data or {}).get("source")
    training = spec.setdefault("training", {})
    if source not in BUILTIN:
        spec["data"] = {"source": "synthetic", "samples": samples}
        training["epochs"] = synthetic_epochs
    if epochs is not None:
        training["epochs"] = epochs
    training["seed"] = training.get("seed") or 0
    training.pop("callbacks", None)
    training.pop("execution", None)
    return spec


def feedable(path: Path) -> bool:
    """Built-in data, or inputs that synthetic data can stand in for (no strings: text specs need a vocabulary)."""
    from netspec import load_spec

    try:
        spec = load_spec(path)
    except Exception:
        return False
    return all(getattr(i, "dtype", "float32") != "string" for i in spec.inputs)


def run(kind: str, spec: dict, work: Path) -> dict:
    name = spec["name"]
    spec_file, report = work / f"{name}.json", work / f"{name}-{kind}-report.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "NETSPEC_CACHE_DIR": str(work / "cache")}  # empty: the trials run
    code = TUNED if kind == "tuned" else NAIVE
    done = subprocess.run([sys.executable, "-c", code, str(spec_file), str(work / f"{name}-run"), str(report)],
                          capture_output=True, text=True, env=env, cwd=work)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", help="spec names in specs/ (default: all that can be fed)")
    parser.add_argument("--epochs", type=int, help="epochs for every spec (default: the spec's for built-in data)")
    parser.add_argument("--samples", type=int, default=4096, help="synthetic samples for other specs")
    parser.add_argument("--synthetic-epochs", type=int, default=3, help="epochs on synthetic data")
    args = parser.parse_args()

    paths = [ROOT / "specs" / f"{n}.yaml" for n in args.specs] if args.specs else \
        sorted(p for p in (ROOT / "specs").glob("*.yaml") if feedable(p))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            spec = bench_spec(path, epochs=args.epochs, samples=args.samples, synthetic_epochs=args.synthetic_epochs)
            work = Path(tmp) / path.stem
            work.mkdir()
            try:
                tuned, naive = run("tuned", spec, work), run("naive", spec, work)
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                continue
            rows.append((path.stem, spec, tuned, naive))
            print(f"{path.stem}: done", file=sys.stderr, flush=True)

    print(f"CPU, {os.cpu_count()} cores; samples/s of the training model.fit (compilation included)")
    print(f"{'spec':<28} {'data':<24} {'ep':>3} {'naive':>8} {'tuned':>8} {'ratio':>6} {'+trials':>8} {'ratio':>6}"
          f"  {'trials':>6}  choice")
    for name, spec, tuned, naive in rows:
        data = spec["data"] if isinstance(spec["data"], str) else f"synthetic {spec['data']['samples']}"
        base = naive["samples"] / naive["fit_seconds"]
        fit = tuned["samples"] / tuned["fit_seconds"]
        total = tuned["samples"] / (tuned["fit_seconds"] + tuned["trial_seconds"])
        choice = tuned["choice"]
        jit = {True: "on", False: "off"}.get(choice["jit_compile"], choice["jit_compile"])
        print(f"{name:<28} {data:<24} {spec['training']['epochs']:>3} {base:>8,.0f} {fit:>8,.0f} {fit / base:>5.2f}x "
              f"{total:>8,.0f} {total / base:>5.2f}x  {tuned['ran']}/{tuned['candidates']:<4}  "
              f"XLA {jit}, spe {choice['steps_per_execution']}, {choice['precision']}")
    for name, _, tuned, naive in rows:
        acc = {k: round(v, 4) for k, v in tuned["metrics"].items()}
        print(f"{name}: test metrics tuned {acc}, naive {({k: round(v, 4) for k, v in naive['metrics'].items()})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
