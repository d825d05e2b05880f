"""Peak memory of training on an image folder: flat in the folder's size, since netspec streams it from disk.

Generates two folders of small PNGs with PIL (32x32 RGB, 10 classes): 2,000
images and 20,000. Each contender trains a small convnet on each folder in a
process of its own, and the peak resident memory of that process (its
ru_maxrss, from os.wait4) is compared between the two folders:

* netspec:   `netspec train SPEC --data FOLDER --epochs E`, which lists the
             files, splits the list and reads a batch at a time (tf.data)
* in memory: the same model fitted on the folder read whole into NumPy arrays
             (keras.utils.image_dataset_from_directory, then np.stack), as
             netspec read folders before; shown for contrast (--no-contrast
             leaves it out): its peak grows with the folder

Target: netspec's peak on 20,000 images within 20% of its peak on 2,000.
Prints the CPU model, the peaks and their ratio; exits 1 if the target is missed.

    python benchmarks/bench_data.py [--small 2000] [--large 20000] [--epochs 1] [--no-contrast]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from netspec.runner.precision import cpu_name

ROOT = Path(__file__).resolve().parent.parent
CLASSES = 10
TARGET = 1.2  # the large folder's peak over the small one's, at most

SPEC = textwrap.dedent("""
    name: folder_convnet
    inputs: [{name: image, shape: [32, 32, 3]}]
    layers:
      - {type: rescaling, scale: 0.00392156862745098}
      - {type: conv2d, filters: 16, kernel_size: 3, activation: relu}
      - {type: max_pooling2d, pool_size: 2}
      - {type: conv2d, filters: 32, kernel_size: 3, activation: relu}
      - {type: global_average_pooling2d}
      - {type: dense, units: 10, activation: softmax}
    training: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy], batch_size: 64, seed: 0}
    data: {source: images, test_split: 0.1, validation_split: 0.1}
""")

# What netspec did before folders were streamed: the folder read whole into arrays, then fitted.
IN_MEMORY = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    from netspec import build_model, load_spec

    folder, spec, epochs = sys.argv[1], load_spec(sys.argv[2]), int(sys.argv[3])
    images = keras.utils.image_dataset_from_directory(folder, image_size=(32, 32), batch_size=None,
                                                      shuffle=False, verbose=False)
    x, y = zip(*images.as_numpy_iterator())
    x, y = np.stack(x), np.array(y, dtype="int32")
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    model.fit(x, y, batch_size=64, epochs=epochs, validation_split=0.1, verbose=0)
""")


def make_folder(folder: Path, count: int) -> None:
    """`count` random 32x32 RGB PNGs, spread over CLASSES class subfolders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(count)
    for label in range(CLASSES):
        (folder / f"class_{label}").mkdir(parents=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"class_{i % CLASSES}" / f"{i:06d}.png")


def peak_mib(command: list[str], cwd: Path) -> tuple[float, float]:
    """(peak resident MiB, seconds) of a child process running `command`; its rusage, from os.wait4."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    per_mib = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return usage.ru_maxrss / per_mib, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000, help="images in the small folder")
    parser.add_argument("--large", type=int, default=20000, help="images in the large folder")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--no-contrast", action="store_true", help="leave out the in-memory contender")
    args = parser.parse_args(argv)

    print(f"CPU: {cpu_name()}; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        (tmp / "spec.yaml").write_text(SPEC, encoding="utf-8")
        (tmp / "in_memory.py").write_text(IN_MEMORY, encoding="utf-8")
        peaks: dict[str, dict[int, float]] = {"netspec": {}, "in memory": {}}
        for count in (args.small, args.large):
            folder = tmp / f"images_{count}"
            started = time.perf_counter()
            make_folder(folder, count)
            print(f"{count:,} PNGs written in {time.perf_counter() - started:.1f} s")
            train = [sys.executable, "-m", "netspec", "train", "spec.yaml", "--data", str(folder),
                     "--epochs", str(args.epochs), "--out", str(tmp / f"run_{count}")]
            peaks["netspec"][count], seconds = peak_mib(train, tmp)
            info = json.loads((tmp / f"run_{count}" / "run.json").read_text(encoding="utf-8"))
            print(f"  netspec train:    peak {peaks['netspec'][count]:7.1f} MiB ({seconds:.1f} s; "
                  f"{info['samples']['train']:,} training samples, {info['fit_seconds']:.1f} s in fit)")
            if not args.no_contrast:
                contrast = [sys.executable, "in_memory.py", str(folder), "spec.yaml", str(args.epochs)]
                peaks["in memory"][count], seconds = peak_mib(contrast, tmp)
                print(f"  read into memory: peak {peaks['in memory'][count]:7.1f} MiB ({seconds:.1f} s)")

    print()
    for name, found in peaks.items():
        if found:
            ratio = found[args.large] / found[args.small]
            print(f"{name:>9}: {found[args.small]:7.1f} MiB on {args.small:,} images, {found[args.large]:7.1f} MiB on "
                  f"{args.large:,}: ratio {ratio:.3f}")
    ratio = peaks["netspec"][args.large] / peaks["netspec"][args.small]
    verdict = "flat" if ratio <= TARGET else "NOT flat"
    print(f"netspec's peak memory is {verdict}: {ratio:.3f}x for {args.large // args.small}x the images "
          f"(target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
