"""Time `netspec summary` on 100-, 1,000- and 10,000-layer specs against `python -c "import tensorflow"`.

Whole processes, several runs each; prints the medians, each one's ratio to
the TensorFlow import, and the cost per layer between sizes. Targets: the
1,000-layer summary under 1/10 of the import, and cost linear in layers
(the time per added layer about the same from 1,000 to 10,000 as from 100
to 1,000).

    python benchmarks/bench_summary.py [--runs 3] [--tf-runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_validate import (  # noqa: E402
    bytecode_cached,
    describe,
    netspec,
    ratio,
    spec_text,
    tensorflow_import,
    time_process,
)

SIZES = (100, 1_000, 10_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tf-runs", type=int, default=3)
    args = parser.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            path = Path(tmp) / f"generated_{size}.yaml"
            path.write_text(spec_text(size))
            time_process(netspec("summary", str(path)), 1, bytecode_cached())  # warm up
            runs[size] = time_process(netspec("summary", str(path)), args.runs, bytecode_cached())
            print(f"netspec summary ({size:>6,} layers): {describe(runs[size])}")
    tf = tensorflow_import(args.tf_runs)
    print(f'python -c "import tensorflow":        {describe(tf)}')
    for size in SIZES:
        print(f"ratio summary({size:,}) / import tensorflow: {ratio(runs[size], tf)}")
    for kind, pick in (("wall", lambda t: t), ("CPU", lambda t: t.cpu)):
        median = {size: statistics.median(pick(runs[size])) for size in SIZES}
        small = (median[1_000] - median[100]) / 900
        large = (median[10_000] - median[1_000]) / 9_000
        print(f"{kind} cost per added layer: {small * 1e3:.3f} ms (100 -> 1,000), "
              f"{large * 1e3:.3f} ms (1,000 -> 10,000); ratio {large / small:.2f} (1.0 = linear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
