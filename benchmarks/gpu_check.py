"""GPU check: a conv net through `netspec.build_model` and `netspec.train` on Keras's JAX backend, NumPy data.

For the GPU machine, where TensorFlow is not installed: the runner must work
without it. Trains the same conv net four ways (build_model + model.fit, and
netspec.train; each in float32 and in mixed precision: the policy `auto`
picks on this GPU, or mixed_bfloat16 where there is no GPU) and prints, for
each, the training throughput (samples/s over the whole fit, and over the
epochs after the first, which exclude compilation), the dtype of the model's
outputs and of a hidden layer's computation, and whether TensorFlow got imported.

    KERAS_BACKEND=jax python benchmarks/gpu_check.py [--samples 16384] [--epochs 4] [--batch-size 256]

`--data-parallel` instead trains netspec.train with `training.distribution: {type: data_parallel, devices: N}`
for N = 1, 2, 4, ... up to every local device, the global batch growing with N (`--batch-size` per device), and
prints the throughput per device count and the speed-up over one device. It feeds whole batches through tf.data
(netspec.runtime.batches), so TensorFlow must be installed beside JAX.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

SPEC = {
    "name": "gpu_check_convnet",
    "description": "A small VGG-style conv net for 32x32 RGB images",
    "inputs": [{"name": "image", "shape": [32, 32, 3]}],
    "layers": [
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "max_pooling2d", "pool_size": 2},
        {"type": "conv2d", "filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "conv2d", "filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "max_pooling2d", "pool_size": 2},
        {"type": "conv2d", "filters": 256, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "global_average_pooling2d"},
        {"type": "dense", "units": 10, "activation": "softmax", "name": "probs"},
    ],
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.001}, "loss": "sparse_categorical_crossentropy",
                 "metrics": ["accuracy"], "seed": 0, "validation_split": 0.0},
}


def numpy_data(samples: int, seed: int = 0):
    """Images whose class is learnable (a brightness pattern per class), as NumPy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=samples).astype("int32")
    x = rng.normal(0.0, 1.0, size=(samples, 32, 32, 3)).astype("float32")
    x[:, :, :, 0] += (y[:, None, None] - 4.5) / 3.0
    return x, y


def steady(epoch_seconds: list[float], samples: int) -> float:
    later = epoch_seconds[1:]
    return samples * len(later) / sum(later) if later else float("nan")


def check_build_model(policy: str, x, y, args) -> dict:
    """netspec.build_model, compiled and fitted by hand on the NumPy arrays."""
    import keras

    import netspec
    from netspec.runner.precision import dtype_policy

    times: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    with dtype_policy(policy):
        keras.utils.set_random_seed(0)
        model = netspec.build_model(SPEC)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        started = time.perf_counter()
        history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[EpochTimer()])
        seconds = time.perf_counter() - started
        output = model.predict(x[:8], verbose=0)
        direct = model(x[:8])
    return {
        "path": "build_model + fit", "policy": policy, "samples_per_s": len(x) * args.epochs / seconds,
        "steady_samples_per_s": steady(times, len(x)), "final_loss": history.history["loss"][-1],
        "output_dtype": str(keras.backend.standardize_dtype(direct.dtype)), "predict_dtype": str(output.dtype),
        "hidden_compute_dtype": model.layers[1].compute_dtype,
        "loss_scaled": type(model.optimizer).__name__ == "LossScaleOptimizer",
    }


def check_train(policy: str, data_path: Path, samples: int, out: Path, args) -> dict:
    """netspec.train on an .npz file of NumPy arrays (the runner's non-TensorFlow data path)."""
    import keras

    import netspec

    result = netspec.train(SPEC, data=str(data_path), precision=policy, epochs=args.epochs,
                           batch_size=args.batch_size, out=out / policy, verbose=0)
    info = json.loads((result.run_dir / "run.json").read_text())
    model = result.model
    direct = model(keras.ops.zeros((8, 32, 32, 3)))
    train_samples = info["samples"]["train"]
    return {
        "path": "netspec.train", "policy": result.precision, "samples_per_s": result.samples_per_second,
        "steady_samples_per_s": steady(info["epoch_seconds"], train_samples), "final_loss": result.history["loss"][-1],
        "test_accuracy": result.metrics.get("accuracy"),
        "output_dtype": str(keras.backend.standardize_dtype(direct.dtype)),
        "hidden_compute_dtype": model.layers[1].compute_dtype,
        "loss_scaled": type(model.optimizer).__name__ == "LossScaleOptimizer",
        "device": info["device"], "execution": info["execution"],
    }


def check_data_parallel(data_path: Path, out: Path, args) -> list[dict]:
    """netspec.train on 1, 2, 4, ... local devices (Keras's DataParallel), `args.batch_size` samples per device."""
    import keras

    import netspec

    count = len(keras.distribution.list_devices())
    rows = []
    for devices in sorted({2**k for k in range(count.bit_length()) if 2**k <= count} | {count}):
        spec = {**SPEC, "training": {**SPEC["training"], "distribution": {"type": "data_parallel",
                                                                          "devices": devices}}}
        result = netspec.train(spec, data=str(data_path), epochs=args.epochs, batch_size=args.batch_size * devices,
                               out=out / f"devices-{devices}", verbose=0)
        info = json.loads((result.run_dir / "run.json").read_text())
        rows.append({"devices": info["replicas"], "batch_size": args.batch_size * devices,
                     "steady_samples_per_s": steady(info["epoch_seconds"], info["samples"]["train"]),
                     "final_loss": result.history["loss"][-1]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'devices':>7} {'batch':>6} {'samples/s':>10} {'speed-up':>8} {'per device':>10}")
    for row in rows:
        speedup = row["steady_samples_per_s"] / rows[0]["steady_samples_per_s"]
        print(f"{row['devices']:>7} {row['batch_size']:>6} {row['steady_samples_per_s']:>10,.0f} {speedup:>7.2f}x "
              f"{speedup / row['devices']:>9.0%}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None, help="default: 16384 on a GPU, 1024 on a CPU")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data-parallel", action="store_true",
                        help="throughput of data parallelism over 1, 2, 4, ... local devices")
    args = parser.parse_args()

    import keras
    import numpy as np

    from netspec.runner.precision import detect_device, resolve_policy

    device = detect_device()
    samples = args.samples or (16384 if device.kind == "gpu" else 1024)
    mixed = resolve_policy("auto", device) if device.kind == "gpu" else "mixed_bfloat16"
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, device {device.describe()}")
    if keras.backend.backend() == "jax":
        import jax

        print(f"jax {jax.__version__}, devices {jax.devices()}")
    x, y = numpy_data(samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "images.npz"
        np.savez(data_path, x=x, y=y)
        if args.data_parallel:
            rows = check_data_parallel(data_path, Path(tmp) / "runs", args)
            return 0 if all(np.isfinite(r["final_loss"]) for r in rows) else 1
        for policy in ("float32", mixed):
            rows.append(check_build_model(policy, x, y, args))
            rows.append(check_train(policy, data_path, samples, Path(tmp) / "runs", args))
            for row in rows[-2:]:
                print(json.dumps(row), flush=True)
    print()
    print(f"{'path':<18} {'policy':<15} {'samples/s':>10} {'epochs 2+':>10} {'output':>8} {'hidden':>9} {'scaled':>6}")
    for row in rows:
        print(f"{row['path']:<18} {row['policy']:<15} {row['samples_per_s']:>10,.0f} "
              f"{row['steady_samples_per_s']:>10,.0f} {row['output_dtype']:>8} {row['hidden_compute_dtype']:>9} "
              f"{str(row['loss_scaled']):>6}")
    for path in ("build_model + fit", "netspec.train"):
        fp32, mp = (r for r in rows if r["path"] == path)
        print(f"{path}: {mp['policy']} / float32 = {mp['steady_samples_per_s'] / fp32['steady_samples_per_s']:.2f}x "
              "(epochs 2+)")
    print(f"tensorflow imported: {'tensorflow' in sys.modules and sys.modules['tensorflow'] is not None}")
    ok = all(r["output_dtype"] == "float32" for r in rows) and all(np.isfinite(r["final_loss"]) for r in rows)
    print("OK" if ok else "FAILED: an output is not float32 or a loss is not finite")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
