"""Tuned training throughput: `netspec train --execution tuned` against a naive `model.fit` with Keras's defaults.

For each spec in specs/ that netspec's built-in data (`builtin:digits`,
`builtin:digits_sequence`) or synthetic data can feed, two contenders train
the same model (netspec.build_model) on the same arrays (the runner's own split
of the spec's data; `synthetic` data shaped like the inputs for specs whose
data is not built in), with the same batch size and epochs, each in its own
process:

* tuned:  `netspec.train(spec, execution="tuned")` with an empty tuning cache,
          so the trials run (those whose expected saving repays their cost)
* naive:  `model.compile(optimizer, loss, metrics)` with Keras's defaults
          (jit_compile="auto", steps_per_execution=1, float32) and
          `model.fit(x, y, batch_size, epochs, validation_data)` on NumPy arrays

Throughput is training samples x epochs / seconds of the training `model.fit`
(compilation included: a user waits for it). The tuned column "+trials" also
counts the trials' seconds. "settled" compares the epochs after the first
(the first traces and compiles both functions, seconds that are the same work
for both contenders and dominate a short run): the speed a longer run settles
at. Spec callbacks are left out of both, so both run every epoch.

Synthetic data is sized by the model's cost (`netspec summary`'s forward FLOPs
per sample, x3 for a training step): about --work FLOPs per contender over
--synthetic-epochs epochs, between 8 batches and MAX_SAMPLES; a model too
costly for 8 batches x those epochs trains 1 epoch. Each contender runs
--repeats times, alternating which goes first (the machine is shared and its
speed drifts); the table gives the medians and the spread of the ratios of
the pairs.

    python benchmarks/bench_tuning.py [--specs digits_cnn mnist_convnet ...] [--repeats N] [--work FLOPS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ("builtin:digits", "builtin:digits_sequence")
MAX_SAMPLES = 2048  # synthetic samples at most

TUNED = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from netspec.runner import train
    spec = json.loads(open(sys.argv[1]).read())
    result = train(spec, execution=sys.argv[4], out=sys.argv[2], verbose=0)
    info = json.loads(open(result.run_dir / "run.json").read())
    tuning_file = Path(result.run_dir / "tuning.json")
    if tuning_file.exists():
        tuning = json.loads(tuning_file.read_text())
    else:  # explicit settings: nothing tried
        tuning = {"trial_seconds": 0.0, "candidates": [],
                  "choice": {**info["execution"], "precision": info["precision"]}}
    report = {"fit_seconds": info["fit_seconds"], "samples": info["samples"]["train"] * info["epochs_run"],
              "epoch_samples": info["samples"]["train"], "epoch_seconds": info["epoch_seconds"],
              "trial_seconds": tuning["trial_seconds"], "choice": tuning["choice"],
              "ran": sum(c["status"] == "ok" for c in tuning["candidates"]), "candidates": len(tuning["candidates"]),
              "metrics": result.metrics,
              "trials": [f"{c['precision']}/spe {c['steps_per_execution']}/XLA {c['jit_compile']}: "
                         + (f"{c['samples_per_second']:,.0f}/s, loss {c['loss']:.4f}, {c['seconds']:.1f} s"
                            if c["status"] == "ok" else f"{c['status']} ({c['note'][:60]})")
                         for c in tuning["candidates"]]}
    open(sys.argv[3], "w").write(json.dumps(report))
""")

NAIVE = textwrap.dedent("""
    import json, sys, time
    import keras
    from netspec import build_model, load_spec
    from netspec.runner import data as data_module
    from netspec.build import instantiate
    from netspec.lowering import lower_loss, lower_metrics, lower_optimizer

    spec = load_spec(json.loads(open(sys.argv[1]).read()))
    seed = spec.training.seed
    keras.utils.set_random_seed(seed)
    splits = data_module.spec_splits(spec, seed=seed)
    model = build_model(spec)
    names = list(model.output_names)
    model.compile(optimizer=instantiate(lower_optimizer(spec.training.optimizer)),
                  loss=instantiate(lower_loss(spec.training.loss, names)),
                  metrics=instantiate(lower_metrics(spec.training.metrics, names)))
    validation = None
    if splits.validation is not None:
        validation = (splits.validation.x, splits.validation.y)
    epoch_seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.started)

    started = time.perf_counter()
    model.fit(splits.train.x, splits.train.y, batch_size=spec.training.batch_size,
              epochs=spec.training.epochs, validation_data=validation, verbose=0, callbacks=[EpochTimer()])
    seconds = time.perf_counter() - started
    metrics = model.evaluate(splits.test.x, splits.test.y, verbose=0, return_dict=True)
    report = {"fit_seconds": seconds, "samples": len(splits.train) * spec.training.epochs,
              "epoch_samples": len(splits.train), "epoch_seconds": epoch_seconds,
              "metrics": {k: float(v) for k, v in metrics.items()}}
    open(sys.argv[3], "w").write(json.dumps(report))
""")


def bench_spec(path: Path, *, epochs: int | None, work: float, synthetic_epochs: int,
               samples: int | None = None) -> dict:
    """The spec as both contenders train it: its built-in data, else synthetic data; no callbacks; fixed seed."""
    from netspec import summarize

    fixed_samples = samples
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = spec.get("data")
    source = data if isinstance(data, str) else (data or {}).get("source")
    training = spec.setdefault("training", {})
    if source not in BUILTIN:
        cost = summarize(spec)["cost"]
        # Unknown dimensions count as 1 in the summary; synthetic data makes them 8 long.
        step_flops = 3 * cost["flops_per_sample"] * (8 if cost["unknown_dimensions_counted_as_1"] else 1)
        batch = training.get("batch_size") or 32
        synthetic_epochs_here = synthetic_epochs if 8 * batch * step_flops * synthetic_epochs <= 2 * work else 1
        samples = int(work / (step_flops * synthetic_epochs_here)) // batch * batch
        spec["data"] = {"source": "synthetic", "samples": min(MAX_SAMPLES, max(8 * batch, samples))}
        if fixed_samples is not None:
            spec["data"]["samples"] = fixed_samples
        training["epochs"] = synthetic_epochs_here
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


def run(kind: str, spec: dict, work: Path, execution: str = "tuned") -> dict:
    name = spec["name"]
    spec_file, report = work / f"{name}.json", work / f"{name}-{kind}-report.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "NETSPEC_CACHE_DIR": str(work / "cache")}  # empty: the trials run
    code = TUNED if kind == "tuned" else NAIVE
    done = subprocess.run([sys.executable, "-c", code, str(spec_file), str(work / f"{name}-run"), str(report),
                           execution],
                          capture_output=True, text=True, env=env, cwd=work)
    if done.returncode != 0:
        raise RuntimeError(f"{name} {kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(report.read_text())


def row(name: str, spec: dict, tuned: list[dict], naive: list[dict]) -> str:
    data = spec["data"] if isinstance(spec["data"], str) else f"synthetic {spec['data']['samples']}"
    rate = lambda r, extra=0.0: r["samples"] / (r["fit_seconds"] + extra)  # noqa: E731
    base = median([rate(r) for r in naive])
    fit = median([rate(r) for r in tuned])
    total = median([rate(r, r["trial_seconds"]) for r in tuned])
    pairs = [rate(t) / rate(n) for t, n in zip(tuned, naive)]
    # After the first epoch (tracing, compilation, caches): the training speed a longer run settles at.
    steady = lambda r: r["epoch_samples"] / median(r["epoch_seconds"][1:])  # noqa: E731
    settled = f"{median([steady(r) for r in tuned]) / median([steady(r) for r in naive]):>5.2f}x" \
        if len(tuned[0]["epoch_seconds"]) > 1 else "    -"
    last = tuned[-1]
    trials = f"{last['ran']}/{last['candidates']}" if last["candidates"] else "short"
    choice = last["choice"]
    jit = {True: "on", False: "off"}.get(choice["jit_compile"], choice["jit_compile"])
    return (f"{name:<30} {data:<17} {spec['training']['epochs']:>3} {base:>7,.0f} {fit:>7,.0f} {fit / base:>5.2f}x "
            f"{min(pairs):>5.2f}-{max(pairs):.2f}x {total:>7,.0f} {total / base:>5.2f}x  {settled:>7}  {trials:<7} "
            f"XLA {jit}, spe {choice['steps_per_execution']}, {choice['precision']}")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", help="spec names in specs/ (default: all that can be fed)")
    parser.add_argument("--epochs", type=int, help="epochs for every spec (default: the spec's for built-in data)")
    parser.add_argument("--work", type=float, default=1.5e11, help="training FLOPs per contender on synthetic data")
    parser.add_argument("--synthetic-epochs", type=int, default=4, help="epochs on synthetic data")
    parser.add_argument("--execution", default="tuned",
                        help="netspec's execution setting (default tuned; e.g. jit_compile=false,steps_per_execution=1)")
    parser.add_argument("--samples", type=int, help="synthetic samples (default: sized by --work); with --epochs "
                        "this sets a run's steps: samples x 0.72 (the training part) / batch x epochs")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each contender per spec")
    args = parser.parse_args()

    paths = [ROOT / "specs" / f"{n}.yaml" for n in args.specs] if args.specs else \
        sorted(p for p in (ROOT / "specs").glob("*.yaml") if feedable(p))
    print(f"CPU, {os.cpu_count()} cores; samples/s of the training model.fit (compilation included), "
          f"medians of {args.repeats} runs each; netspec with --execution {args.execution}", flush=True)
    print(f"{'spec':<30} {'data':<17} {'ep':>3} {'naive':>7} {'tuned':>7} {'ratio':>6} {'spread':>11} "
          f"{'+trials':>7} {'ratio':>6}  {'settled':>7}  {'trials':<7} choice", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            spec = bench_spec(path, epochs=args.epochs, work=args.work, synthetic_epochs=args.synthetic_epochs,
                              samples=args.samples)
            runs: dict[str, list] = {"tuned": [], "naive": []}
            started = time.perf_counter()
            try:
                for repeat in range(args.repeats):
                    for kind in ("tuned", "naive") if repeat % 2 == 0 else ("naive", "tuned"):
                        work = Path(tmp) / f"{path.stem}-{kind}-{repeat}"
                        work.mkdir()
                        runs[kind].append(run(kind, spec, work, args.execution))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                continue
            rows.append((path.stem, spec, runs["tuned"], runs["naive"]))
            print(row(path.stem, spec, runs["tuned"], runs["naive"]), flush=True)
            print(f"{path.stem}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    for name, _, tuned, naive in rows:
        metrics = lambda r: {k: round(v, 4) for k, v in r["metrics"].items()}  # noqa: E731
        print(f"{name}: test metrics tuned {metrics(tuned[0])}, naive {metrics(naive[0])}")
        for i, r in enumerate(tuned):
            print(f"  trials of tuned run {i + 1} ({r['trial_seconds']:.1f} s): " + "; ".join(r.get("trials", [])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
