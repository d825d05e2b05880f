"""Precision policy and execution settings: the rules, without training."""

from __future__ import annotations

import pytest

from netspec import UsageError, load_spec, runtime
from netspec.lowering import step_flops
from netspec.runner.execution import Execution, choose_execution, parse_execution
from netspec.runner.precision import Device, capability, resolve_policy

LARGE_STEP_FLOPS = 5e9  # the rule's threshold, written in netspec/runtime.py's choose_settings

CPU = Device("cpu", "test cpu")


@pytest.mark.parametrize(("device", "expected"), [
    (CPU, "float32"),
    (Device("gpu", "A100", (8, 0)), "mixed_bfloat16"),
    (Device("gpu", "H100", (9, 0)), "mixed_bfloat16"),
    (Device("gpu", "T4", (7, 5)), "mixed_float16"),
    (Device("gpu", "V100", (7, 0)), "mixed_float16"),
])
def test_auto_precision(device, expected):
    assert resolve_policy("auto", device) == expected
    assert resolve_policy(None, device) == expected


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_explicit_precision_is_honoured_on_any_device(policy):
    for device in (CPU, Device("gpu", "T4", (7, 5)), Device("gpu", "H100", (9, 0))):
        assert resolve_policy(policy, device) == policy


def test_unknown_precision():
    with pytest.raises(UsageError, match="float16"):
        resolve_policy("half", CPU)


def test_device_descriptions():
    assert Device("gpu", "H100", (9, 0)).describe() == "GPU H100, compute capability 9.0"
    assert CPU.describe() == "CPU test cpu"


def test_parse_execution():
    assert parse_execution(None) == {"mode": "auto"}
    assert parse_execution("tuned") == {"mode": "tuned"}
    assert parse_execution("jit_compile=false,steps_per_execution=8") == {
        "mode": "explicit", "jit_compile": False, "steps_per_execution": 8}
    assert parse_execution({"jit_compile": True}) == {"mode": "explicit", "jit_compile": True}
    for bad, message in (("fast", "expected auto, tuned"), ("jit_compile=maybe", "true, false or auto"),
                         ("steps_per_execution=0", "positive integer"), ("xla=true", "unknown execution setting")):
        with pytest.raises(UsageError, match=message):
            parse_execution(bad)


def auto(device, steps_per_epoch, flops=1e6, epochs=100):
    """The auto execution settings (the rule scripts carry) as the runner's Execution."""
    _, jit, steps = runtime.choose_settings("auto", "auto", "auto", capability(device), steps_per_epoch, epochs,
                                            flops, False)
    return Execution(jit, steps, "auto")


def test_auto_execution_turns_xla_off_on_tensorflow_cpus_only(monkeypatch):
    assert choose_execution("auto", auto(CPU, 100), 100) == Execution(False, 32, "auto")
    on_gpu = choose_execution(None, auto(Device("gpu", "H100", (9, 0)), 5), 5)
    assert on_gpu == Execution("auto", 5, "auto")  # never more steps per call than an epoch has
    explicit = choose_execution("steps_per_execution=4", auto(CPU, 9), 9)
    assert explicit == Execution(False, 4, "explicit")
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert auto(CPU, 9).jit_compile == "auto"


def test_auto_runs_large_cpu_steps_one_per_call():
    # A 224x224 convolution at batch 32: ~17 GFLOP a training step. A loop of steps saves the Python overhead
    # (a millisecond) of steps this large for nothing, and costs tracing time; on a GPU it still pays.
    spec = load_spec({"name": "big", "inputs": [{"name": "x", "shape": [224, 224, 3]}],
                      "layers": [{"type": "conv2d", "filters": 64, "kernel_size": 3}, {"type": "flatten"},
                                 {"type": "dense", "units": 2}], "training": {"batch_size": 32}})
    flops = step_flops(spec)
    assert flops >= LARGE_STEP_FLOPS
    assert choose_execution("auto", auto(CPU, 100, flops), 100) == Execution(False, 1, "auto")
    gpu = Device("gpu", "H100", (9, 0))
    assert auto(gpu, 100, flops).steps_per_execution == 32
    small = load_spec({"name": "m", "inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": "dense", "units": 2}]})
    assert 0 < step_flops(small) < LARGE_STEP_FLOPS
    assert auto(CPU, 100, step_flops(small)).steps_per_execution == 32


def test_auto_runs_short_cpu_runs_one_step_per_call():
    # The multi-step loop traces longer (about 0.25 s more for a small convnet here) and saves a millisecond or
    # so a step: a CPU run of under 500 steps does not earn it back. A GPU keeps the loop.
    assert auto(CPU, 100, epochs=4).steps_per_execution == 1  # 400 steps
    assert auto(CPU, 100, epochs=5).steps_per_execution == 32  # 500
    assert auto(CPU, 10, epochs=50).steps_per_execution == 10  # 500, never more per call than an epoch has
    assert auto(Device("gpu", "H100", (9, 0)), 100, epochs=1).steps_per_execution == 32
