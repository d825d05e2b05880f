"""The light verbs as whole processes against `python -c "import tensorflow"`, in the same run.

`validate`, `summary`, `schema`, `expand` and `generate` never import
TensorFlow; each should cost at most 1/20 of merely importing it. Each verb
runs several times in a fresh process (interpreter start included) through
both ways users start netspec: `python -m netspec` and the `netspec` console
script beside the interpreter (run with PYTHONPATH set to this checkout, so
both run the code benchmarked here). Medians of wall-clock and CPU time are
printed, with each one's ratio to the TensorFlow import.

`--linearity` also times `netspec validate` on 1,000- and 10,000-layer specs
and prints the CPU time per layer at each, start-up taken out (linear: the
same at both sizes).

    python benchmarks/bench_startup.py [--runs 7] [--tf-runs 3] [--linearity]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validate import Times, describe, spec_text, tensorflow_import, time_process  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1 / 20
# A composed spec (an include, vars, blocks), so that `expand` has work to do and the other verbs run composition.
COMPOSED = ROOT / "examples" / "resnet_blocks.yaml"
PLAIN = ROOT / "specs" / "cifar10_vgg_bn.yaml"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def entry_points() -> dict[str, list[str]]:
    """How to start netspec: `python -m netspec`, and the console script where this interpreter has one."""
    found = {"python -m netspec": [sys.executable, "-m", "netspec"]}
    script = Path(sys.executable).parent / "netspec"
    if script.exists():
        found["netspec (console script)"] = [str(script)]
    return found


def verbs(spec: Path, out_dir: Path) -> dict[str, list[str]]:
    return {
        "validate": ["validate", str(spec)],
        "summary": ["summary", str(spec)],
        "schema": ["schema"],
        "expand": ["expand", str(spec)],
        "generate": ["generate", str(spec), "-o", str(out_dir / "train.py")],
    }


def _add(times: Times, more: Times) -> None:
    times.extend(more)
    times.cpu.extend(more.cpu)


def ratio(ours: Times, tf: Times) -> str:
    wall = statistics.median(ours) / statistics.median(tf)
    cpu = statistics.median(ours.cpu) / statistics.median(tf.cpu)
    return f"1/{1 / wall:4.0f} wall, 1/{1 / cpu:4.0f} CPU  {'PASS' if wall <= TARGET else 'FAIL'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each verb (the median is reported)")
    parser.add_argument("--tf-runs", type=int, default=3, help="runs of the TensorFlow import")
    parser.add_argument("--spec", type=Path, action="append",
                        help=f"spec(s) to run the verbs on (default: {COMPOSED.relative_to(ROOT)} and "
                             f"{PLAIN.relative_to(ROOT)})")
    parser.add_argument("--linearity", action="store_true", help="also time validate on 1,000 and 10,000 layers")
    args = parser.parse_args()
    specs = [spec.resolve() for spec in args.spec or [COMPOSED, PLAIN]]
    # Both entry points run this checkout, whichever netspec the interpreter has installed (and `-m` looks in
    # the current folder first).
    os.chdir(ROOT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Python {platform.python_version()}; netspec from {ROOT}")
    with tempfile.TemporaryDirectory() as tmp:
        commands = {(spec.name, entry, verb): [*argv0, *argv] for spec in specs
                    for entry, argv0 in entry_points().items() for verb, argv in verbs(spec, Path(tmp)).items()}
        for command in commands.values():
            time_process(command, 1, env)  # warm the file cache and the bytecode
        # Round after round of every command, the TensorFlow imports spread among them, so that a change in the
        # machine's load (a shared machine) weighs on both sides of each ratio alike.
        results = {key: Times() for key in commands}
        tf = Times()
        tf_rounds = {i * args.runs // args.tf_runs for i in range(args.tf_runs)}
        for round_ in range(args.runs):
            for key, command in commands.items():
                _add(results[key], time_process(command, 1, env))
            if round_ in tf_rounds:
                _add(tf, tensorflow_import(1))
        print(f'\npython -c "import tensorflow": {describe(tf)}; target: each verb <= 1/20 of it\n')
        for (spec_name, entry, verb), times in results.items():
            print(f"{spec_name:<22} {entry:<26} {verb:<9} {describe(times)}  ratio {ratio(times, tf)}")
        if args.linearity:
            print()
            medians = {}
            for layers in (50, 1_000, 10_000):
                path = Path(tmp) / f"generated_{layers}.yaml"
                path.write_text(spec_text(layers))
                command = [sys.executable, "-m", "netspec", "validate", str(path)]
                time_process(command, 1, env)
                times = time_process(command, max(3, args.runs // 2), env)
                medians[layers] = statistics.median(times.cpu)
                print(f"validate {layers:>6,} layers: {describe(times)}")
            # What a layer costs, start-up (the 50-layer run, which holds every type) taken out: the same
            # at both sizes when linear.
            per_layer = {n: (medians[n] - medians[50]) / (n - 50) for n in (1_000, 10_000)}
            print("CPU per layer: " + ", ".join(f"{per_layer[n] * 1e3:.3f} ms at {n:,} layers" for n in per_layer)
                  + f"; ratio {per_layer[10_000] / per_layer[1_000]:.2f} (1.0 = linear)")
    failed = [key for key, times in results.items() if statistics.median(times) / statistics.median(tf) > TARGET]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
