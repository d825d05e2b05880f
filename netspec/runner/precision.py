"""Precision policy: which Keras dtype policy a run uses, and the device that decides `auto`.

`auto` (decided by netspec.runtime.choose_settings, which scripts carry too) follows the TensorFlow
mixed-precision guide: bfloat16 compute on GPUs
of compute capability 8.0 or more (Ampere and later: bfloat16 tensor cores,
no loss scaling needed), float16 on older GPUs (with loss scaling, which
Keras's `compile(auto_scale_loss=True)` adds as a LossScaleOptimizer), and
float32 on CPUs. An explicit policy is honoured on any device.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass

from netspec.errors import UsageError
from netspec.schema.training import PRECISIONS

POLICIES = PRECISIONS[1:]  # all but `auto`


@dataclass(frozen=True)
class Device:
    """The accelerator training runs on: `cpu` or `gpu`, its name, and a GPU's compute capability."""

    kind: str
    name: str
    compute_capability: tuple[int, int] | None = None

    def describe(self) -> str:
        if self.kind == "gpu":
            cc = f", compute capability {self.compute_capability[0]}.{self.compute_capability[1]}" \
                if self.compute_capability else ""
            return f"GPU {self.name}{cc}"
        return f"CPU {self.name}"


def detect_device() -> Device:
    """The first GPU the Keras backend sees, else the CPU."""
    import keras

    finder = {"tensorflow": _tensorflow_gpu, "jax": _jax_gpu, "torch": _torch_gpu}.get(keras.backend.backend())
    gpu = finder() if finder else None
    return gpu or Device("cpu", cpu_name())


def _tensorflow_gpu() -> Device | None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return Device("gpu", details.get("device_name", gpus[0].name), details.get("compute_capability"))


def _jax_gpu() -> Device | None:
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return None
    capability = getattr(gpus[0], "compute_capability", None)
    if isinstance(capability, str) and "." in capability:
        capability = tuple(int(part) for part in capability.split(".")[:2])
    return Device("gpu", gpus[0].device_kind, capability or None)


def _torch_gpu() -> Device | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return Device("gpu", torch.cuda.get_device_name(0), tuple(torch.cuda.get_device_capability(0)))


def start_backend() -> None:
    """Import Keras and its backend. TensorFlow: probe the devices (the CUDA probe) once, now. JAX probes its
    devices only once it has joined the other processes of a run (jax.distributed must start before anything
    touches a device)."""
    import keras

    if keras.backend.backend() != "jax":
        detect_device()


def cpu_name() -> str:
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return f"{name} ({os.cpu_count()} cores)"


def capability(device: Device) -> tuple[int, int] | None:
    """The GPU's compute capability as netspec.runtime takes it: None on a CPU, (0, 0) where unknown."""
    return (tuple(device.compute_capability) if device.compute_capability else (0, 0)) if device.kind == "gpu" \
        else None


def resolve_policy(precision: str | None, device: Device) -> str:
    """The Keras dtype policy for a spec's `precision` on `device` (the rule: netspec.runtime.choose_settings)."""
    from netspec import runtime

    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; expected auto, {', '.join(POLICIES)}")
    return runtime.choose_settings(precision, False, 1, capability(device), 1, 1, 0.0, False)[0]


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build and train under Keras's global dtype policy `name`, then restore the previous one."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
