"""Execution settings: `jit_compile` and `steps_per_execution` for `model.compile`.

`auto` is a fixed rule. With TensorFlow on a CPU, XLA is off: Keras's own
`auto` turns it off on machines without an accelerator too, and measured
here (2-core AMD EPYC, TensorFlow 2.21, Keras 3.15) forcing it on trained the
MNIST convnet 4x slower (about 600 against 2,500 samples/s) after compiling
for several seconds (an LSTM over 8 steps: 30 s, longer than a whole digits
run). On GPUs and on the JAX and PyTorch backends Keras's own `auto` stands.
Running several steps per call of the compiled function
(`steps_per_execution`, up to 32) saves the Python overhead of small steps
on every backend (benchmarks/bench_tuning.py, epochs after the first: the
digits CNN at batch 32 1.7x, the digits LSTM 2.2x). The loop costs tracing
time in the first epoch, which a large step never earns back on a CPU:
steps of LARGE_STEP_FLOPS or more (training FLOPs from the shape inference)
run one per call there (the CIFAR-10 VGG at batch 64, 15 GFLOP a step, one
epoch of synthetic data: 0.86x of plain `fit` with 8 per call, 0.95x with 1),
and so do CPU runs of fewer than 500 training steps: the loop's trace costs
about 0.25 s more than one step's (a small Conv1D autoencoder), which the
millisecond or so it saves a step does not repay in a short run.

`tuned` measures instead (netspec/runner/tuning.py): `choose_execution`
returns the auto settings with mode `tuned`, the trainer times the candidates
and trains with the fastest. `auto` does the same for a run long enough to
repay the trials: at least AUTO_TUNE_MIN_STEPS training steps (epochs x steps
per epoch). A trial costs a compilation (1-3 s for small models here, more
under XLA) and some 20 steps; against 50,000 steps even a 1 ms step makes a
50 s run, and tuning.py tries only the candidates whose expected saving
repays their cost. A shorter `auto` run trains with the choice cached by an
earlier tuned run of the same model on the same machine, if there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec.errors import UsageError

# Steps run by one call of the compiled train function under `auto`.
AUTO_STEPS_PER_EXECUTION = 32
# Under `auto`, runs of at least this many training steps are tuned (see the module's docstring).
AUTO_TUNE_MIN_STEPS = 50_000


@dataclass(frozen=True)
class Execution:
    jit_compile: bool | str = "auto"
    steps_per_execution: int = 1
    mode: str = "auto"  # how the settings were chosen: auto | explicit | tuned

    def describe(self) -> str:
        jit = {True: "on", False: "off"}.get(self.jit_compile, self.jit_compile)
        return f"XLA {jit}, steps_per_execution {self.steps_per_execution} ({self.mode})"

    def to_dict(self) -> dict:
        return {"jit_compile": self.jit_compile, "steps_per_execution": self.steps_per_execution, "mode": self.mode}


def parse_execution(value) -> dict:
    """`auto`, `tuned`, a mapping, or `jit_compile=false,steps_per_execution=8` -> {mode, settings...}."""
    if value is None:
        return {"mode": "auto"}
    if hasattr(value, "model_dump"):  # the spec's `training.execution` settings
        value = {k: v for k, v in value.model_dump().items() if v is not None}
    if isinstance(value, dict):
        settings = dict(value)
    elif value in ("auto", "tuned"):
        return {"mode": value}
    else:
        settings = {}
        for part in str(value).split(","):
            key, sep, raw = part.partition("=")
            if not sep:
                raise UsageError(f"cannot read execution setting {part!r}; expected auto, tuned, or "
                                 "jit_compile=true|false|auto,steps_per_execution=N")
            settings[key.strip()] = raw.strip()
    out: dict = {"mode": "explicit"}
    for key, raw in settings.items():
        if key == "jit_compile":
            text = str(raw).lower()
            if text not in ("true", "false", "auto"):
                raise UsageError(f"jit_compile must be true, false or auto; received {raw!r}")
            out["jit_compile"] = {"true": True, "false": False}.get(text, "auto")
        elif key == "steps_per_execution":
            try:
                out["steps_per_execution"] = int(raw)
            except ValueError:
                out["steps_per_execution"] = 0
            if out["steps_per_execution"] < 1:
                raise UsageError(f"steps_per_execution must be a positive integer; received {raw!r}")
        else:
            raise UsageError(f"unknown execution setting {key!r}; expected jit_compile or steps_per_execution")
    return out


def choose_execution(setting, base: Execution, steps_per_epoch: int, epochs: int | None = None) -> Execution:
    """The settings a run compiles with, from `--execution` / the spec's setting; `base` holds the auto
    settings (netspec.runtime.choose_settings).

    Mode `tuned` in the result means "measure before training" (tuning.py): its settings are the
    baseline candidate, which the trials replace with the fastest.
    """
    parsed = parse_execution(setting)
    long_run = epochs is not None and epochs * steps_per_epoch >= AUTO_TUNE_MIN_STEPS
    if parsed["mode"] == "tuned" or (parsed["mode"] == "auto" and long_run):
        return Execution(base.jit_compile, base.steps_per_execution, "tuned")
    if parsed["mode"] == "auto":
        return Execution(base.jit_compile, base.steps_per_execution, "auto")
    return Execution(parsed.get("jit_compile", base.jit_compile),
                     parsed.get("steps_per_execution", base.steps_per_execution), "explicit")
