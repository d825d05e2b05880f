"""The light verbs as whole processes against `python -c "import tensorflow"`, in the same run.

`validate`, `summary`, `schema`, `expand` and `generate` never import
TensorFlow; each should cost at most 1/20 of merely importing it. Each verb
runs several times in a fresh process (interpreter start included) through
both ways users start netspec: `python -m netspec` and the `netspec` console
script beside the interpreter, run with PYTHONPATH set to this checkout (so
both run the code benchmarked here, whichever netspec is installed). Commands
run round after round, the TensorFlow imports spread among them, so that a
change in a shared machine's load weighs on both sides of each ratio alike.
Medians of wall-clock and CPU time are printed, with each one's ratio to the
TensorFlow import.

`--compare DIR` runs the same commands on another checkout in the same rounds
(e.g. the main branch: before and after a change). `--linearity` also times
what `netspec validate` runs on 1,000- and 10,000-layer specs, in one process
(start-up would swamp the smaller), and prints the time per layer at each
(linear: about the same).

    python benchmarks/bench_startup.py [--runs 7] [--tf-runs 3] [--compare DIR] [--linearity]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validate import Times, bytecode_cached, describe, tensorflow_import, time_process  # noqa: E402

from netspec.runner.precision import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1 / 20
# A composed spec (an include, vars, blocks), so that `expand` has work to do and the other verbs run composition;
# and a plain one.
COMPOSED = Path("examples") / "resnet_blocks.yaml"
PLAIN = Path("specs") / "cifar10_vgg_bn.yaml"
VERBS = ("validate", "summary", "schema", "expand", "generate")
# `load_spec` (what validate runs) on 1,000 and 10,000 layers, best of 5 each, in one process.
LINEARITY = """
import gc, sys, time
sys.path.insert(0, "benchmarks")
from bench_validate import spec_text
import netspec
netspec.load_spec(spec_text(1_000))  # warm-up: every type built, every module imported
for collector in ("on", "off"):  # Python's cyclic collector scans every live object: more of them at 10,000
    if collector == "off":
        gc.disable()
    per_layer = {}
    for layers in (1_000, 10_000):
        text = spec_text(layers)
        times = []
        for _ in range(5):
            start = time.process_time()
            netspec.load_spec(text)
            times.append(time.process_time() - start)
        per_layer[layers] = min(times) / layers
        print(f"validate {layers:>6,} layers in-process, gc {collector:<3}: {min(times) * 1e3:6.1f} ms CPU, "
              f"{per_layer[layers] * 1e6:.1f} us a layer")
    print(f"per-layer cost 10,000 / 1,000 layers, gc {collector}: {per_layer[10_000] / per_layer[1_000]:.2f} (1.0 = linear)")
"""


def entry_points() -> dict[str, list[str]]:
    """How to start netspec: `python -m netspec`, and the console script where this interpreter has one."""
    found = {"python -m netspec": [sys.executable, "-m", "netspec"]}
    script = Path(sys.executable).parent / "netspec"
    if script.exists():
        found["netspec script"] = [str(script)]
    return found


def verb_argv(verb: str, spec: Path, out_dir: Path) -> list[str]:
    return {"schema": ["schema"], "generate": ["generate", str(spec), "-o", str(out_dir / "train.py")]}.get(
        verb, [verb, str(spec)])


def _add(times: Times, more: Times) -> None:
    times.extend(more)
    times.cpu.extend(more.cpu)


def ratio(ours: Times, tf: Times) -> str:
    wall = statistics.median(ours) / statistics.median(tf)
    cpu = statistics.median(ours.cpu) / statistics.median(tf.cpu)
    return f"1/{1 / wall:<4.0f} wall, 1/{1 / cpu:<4.0f} CPU {'PASS' if wall <= TARGET else 'FAIL'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (the median is reported)")
    parser.add_argument("--tf-runs", type=int, default=3, help="runs of the TensorFlow import")
    parser.add_argument("--spec", type=Path, action="append",
                        help=f"spec(s) to run the verbs on, relative to each checkout (default: {COMPOSED} and {PLAIN})")
    parser.add_argument("--compare", type=Path, metavar="DIR", help="another checkout to run the same commands on")
    parser.add_argument("--linearity", action="store_true", help="also time validating 1,000 and 10,000 layers")
    args = parser.parse_args()
    checkouts = {"this": ROOT, **({"compare": args.compare.resolve()} if args.compare else {})}
    specs = args.spec or [COMPOSED, PLAIN]
    print(f"CPU: {cpu_name()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Python {platform.python_version()}; " + "; ".join(f"{k}: {v}" for k, v in checkouts.items()))

    def env_of(checkout: Path) -> dict:
        # Each command runs in its checkout (`-m` looks in the current folder first) with it on PYTHONPATH, its
        # bytecode cached as users' is.
        path = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
        return {**bytecode_cached(), "PYTHONPATH": path}

    with tempfile.TemporaryDirectory() as tmp:
        commands = {(label, str(spec), entry, verb): (argv0 + verb_argv(verb, spec, Path(tmp)), checkout)
                    for spec in specs for entry, argv0 in entry_points().items() for verb in VERBS
                    for label, checkout in checkouts.items()}
        for argv, checkout in commands.values():
            time_process(argv, 1, env_of(checkout), cwd=str(checkout))  # warm the file cache and the bytecode
        results = {key: Times() for key in commands}
        tf = Times()
        tf_rounds = {i * args.runs // args.tf_runs for i in range(args.tf_runs)}
        for round_ in range(args.runs):
            for key, (argv, checkout) in commands.items():
                _add(results[key], time_process(argv, 1, env_of(checkout), cwd=str(checkout)))
            if round_ in tf_rounds:
                _add(tf, tensorflow_import(1))
        print(f'\npython -c "import tensorflow": {describe(tf)}; target: each verb <= 1/20 of it\n')
        for (label, spec, entry, verb), times in results.items():
            print(f"{label:<8} {Path(spec).name:<20} {entry:<17} {verb:<9} {describe(times)}  {ratio(times, tf)}")
        if args.linearity:
            # In one process, after a warm-up: start-up would swamp what 1,000 layers cost.
            result = subprocess.run([sys.executable, "-c", LINEARITY], capture_output=True, text=True, cwd=str(ROOT),
                                    env=env_of(ROOT), check=True)
            print("\n" + result.stdout.strip())
    failed = [key for key, times in results.items()
              if key[0] == "this" and statistics.median(times) / statistics.median(tf) > TARGET]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
