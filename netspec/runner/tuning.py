"""Execution tuning: time the candidates on the real model and data, train with the fastest.

Candidates: XLA off and on, `steps_per_execution` 1 and the auto count (both, whichever the auto rule picked),
and, on CPUs with native bfloat16 (avx512_bf16 or amx_bf16 in /proc/cpuinfo)
under `precision: auto`, float32 and mixed_bfloat16; elsewhere the runner's
precision rule stands. The auto settings go first: they are the baseline.

Each trial compiles the model with the candidate's settings, warms up with
one call of the compiled function (tracing, XLA compilation), then times
TRIAL_STEPS batches of the training data. Afterwards every model
variable gets its initial value back, so training starts from the same
weights as an untuned run with the same seed. A candidate that fails to build,
compile or run, or whose loss is not finite, is skipped with a note, never
chosen; so is an XLA candidate that Keras declines to compile with XLA
(RandomRotation, RandomZoom and other layers with `supports_jit = False`),
which would only repeat the XLA-off trial.

mixed_bfloat16 is tried only where the CPU computes bfloat16 natively: on this
project's AMD EPYC (Zen 3, AVX2, no AVX-512) oneDNN emulates it, and the MNIST
convnet trained 8x slower under it (200 against 1,590 samples/s) — a trial
that would cost more than the 5% budget to learn nothing.

Budget: the trials cost at most BUDGET_FRACTION of the expected run time,
estimated from the baseline's throughput; the baseline's own trial is what
measures it. A run whose training steps are fewer than the baseline trial's
steps / BUDGET_FRACTION cannot pay even for that one: it trains with the auto
settings, untried (and uncached). A candidate whose expected cost
(the dearest trial so far with the same XLA setting; twice the dearest trial
for the first XLA trial, whose compilation costs more) would exceed the budget
is skipped. The result is cached by model hash and machine under
$NETSPEC_CACHE_DIR/tuning/ (default ~/.cache/netspec/tuning/), so the next run
of the same spec on the same machine skips the trials.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netspec import atomic
from netspec.lowering import TUNING_FILE  # noqa: E402,F401 - the file a tuned run writes
from netspec.runner.execution import AUTO_STEPS_PER_EXECUTION, Execution

TRIAL_STEPS = 32  # timed steps per candidate (after as many warm-up steps)
BUDGET_FRACTION = 0.05  # of the expected run time
FIRST_XLA_COST_FACTOR = 2.0  # an XLA trial's expected cost, from the dearest non-XLA trial so far
_RUN_ONLY_KEYS = ("epochs", "seed", "callbacks", "execution", "validation_split")


class WithoutXLA(Exception):
    """An XLA candidate that Keras compiles without XLA."""


@dataclass(frozen=True)
class Candidate:
    jit_compile: bool | str
    steps_per_execution: int
    precision: str

    def label(self) -> str:
        jit = {True: "on", False: "off"}.get(self.jit_compile, self.jit_compile)
        return f"XLA {jit}/spe {self.steps_per_execution}/{self.precision}"

    def settings(self) -> dict:
        return {"jit_compile": self.jit_compile, "steps_per_execution": self.steps_per_execution,
                "precision": self.precision}


@dataclass
class Tuning:
    execution: Execution
    precision: str
    model: Any  # the model to train: the chosen precision's, holding the initial weights
    record: dict = field(default_factory=dict)  # what tuning.json holds

    def line(self) -> str:
        """The one line a run prints."""
        if self.record.get("cached"):
            return f"tuning (cached {self.record['cache_file']}): {self.chosen_label()}"
        if not self.record["candidates"]:
            return f"tuning skipped: {self.record['note']}"
        parts = []
        for c in self.record["candidates"]:
            rate = f"{c['samples_per_second']:,.0f}/s" if c["status"] == "ok" else c["status"]
            parts.append(f"{Candidate(c['jit_compile'], c['steps_per_execution'], c['precision']).label()} {rate}")
        return (f"tuning ({self.record['trial_seconds']:.1f} s of {self.record['budget_seconds']:.1f} s budget): "
                + "; ".join(parts) + f" -> {self.chosen_label()}")

    def chosen_label(self) -> str:
        return Candidate(self.execution.jit_compile, self.execution.steps_per_execution, self.precision).label()


# ----- machine and cache -----


def native_bfloat16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def machine_description(device, backend: str) -> dict:
    import keras

    machine = {"device": device.describe(), "backend": backend, "keras": keras.__version__,
               "cpu_cores": os.cpu_count(), "native_bfloat16": device.kind == "cpu" and native_bfloat16()}
    if backend == "tensorflow":
        import tensorflow as tf

        machine["tensorflow"] = tf.__version__
    return machine


def model_hash(spec) -> str:
    """What decides a training step's speed: layers, inputs, outputs, optimizer, loss, metrics, batch size,
    precision setting; not the name, data source, epochs, seed or callbacks."""
    dumped = spec.model_dump(mode="json", exclude={"name", "description", "data"})
    for key in _RUN_ONLY_KEYS:
        dumped.get("training", {}).pop(key, None)
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    root = os.environ.get("NETSPEC_CACHE_DIR") or Path.home() / ".cache" / "netspec"
    return Path(root) / "tuning"


def cache_file(spec, machine: dict) -> Path:
    key = hashlib.sha256((model_hash(spec) + json.dumps(machine, sort_keys=True)).encode()).hexdigest()[:24]
    return cache_dir() / f"{key}.json"


def _read_cache(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: tune anew
    return record if isinstance(record, dict) and "jit_compile" in record else None


# ----- candidates and trials -----


def candidates(base: Execution, policy: str, *, precision_setting: str | None, device,
               steps_per_epoch: int) -> list[Candidate]:
    """The baseline (the auto settings) first, then the others."""
    policies = [policy]
    if device.kind == "cpu" and (precision_setting or "auto") == "auto" and native_bfloat16():
        policies.append("mixed_bfloat16")
    # One step per call, and several (the auto rule's count), whichever the baseline has.
    several = max(1, min(AUTO_STEPS_PER_EXECUTION, steps_per_epoch))
    steps = list(dict.fromkeys([base.steps_per_execution, 1, several]))
    other_jit = {False: True, True: False}.get(base.jit_compile, False)  # "auto" (XLA on a GPU) vs off
    found = []
    for jit in (base.jit_compile, other_jit):
        for p in policies:
            for s in steps:
                found.append(Candidate(jit, s, p))
    return found


def tune(spec, model, splits, *, base: Execution, policy: str, device, backend: str, seed: int, source=None,
         trial_candidates: list[Candidate] | None = None, budget_seconds: float | None = None) -> Tuning:
    """Measure the candidates (or read the cache) and return the settings and model to train with.

    `model` is built and holds the initial weights. `trial_candidates` replaces the candidates and
    `budget_seconds` the budget computed from the expected run time (for tests).
    """
    import keras

    machine = machine_description(device, backend)
    cached_at = cache_file(spec, machine)
    initial = [(v, np.array(v)) for v in model.variables]
    record = _read_cache(cached_at)
    if record is not None:
        record = {**record, "cached": True, "cache_file": str(cached_at)}
    elif budget_seconds is None and _too_short(spec, splits, base):
        record = {**_untried(base, policy, spec, splits), "machine": machine, "model_hash": model_hash(spec)}
    else:
        found = trial_candidates or candidates(base, policy, precision_setting=spec.training.precision, device=device,
                                               steps_per_epoch=math.ceil(len(splits.train) / spec.training.batch_size))
        record = _trials(spec, model, initial, splits, found, policy=policy, source=source,
                         budget_seconds=budget_seconds)
        record.update({"machine": machine, "model_hash": model_hash(spec)})
        atomic.write_text(cached_at, json.dumps(record, indent=2) + "\n")
        record = {**record, "cached": False, "cache_file": str(cached_at)}
    _restore(initial)
    keras.utils.set_random_seed(seed)  # the trials drew random numbers; training draws as an untuned run would
    chosen_policy = record["precision"]
    if chosen_policy != policy:
        model = _rebuilt(spec, chosen_policy, initial)
    steps = min(record["steps_per_execution"], max(1, math.ceil(len(splits.train) / spec.training.batch_size)))
    execution = Execution(record["jit_compile"], steps, "tuned")
    return Tuning(execution, chosen_policy, model, record)


def _run_steps(spec, splits) -> int:
    return spec.training.epochs * max(1, math.ceil(len(splits.train) / spec.training.batch_size))


def _too_short(spec, splits, base: Execution) -> bool:
    return _run_steps(spec, splits) * BUDGET_FRACTION < base.steps_per_execution + TRIAL_STEPS


def _untried(base: Execution, policy: str, spec, splits) -> dict:
    settings = {"jit_compile": base.jit_compile, "steps_per_execution": base.steps_per_execution,
                "precision": policy}
    needed = math.ceil((base.steps_per_execution + TRIAL_STEPS) / BUDGET_FRACTION)
    return {**settings, "choice": dict(settings), "candidates": [], "trial_seconds": 0.0, "budget_seconds": 0.0,
            "note": f"the run's {_run_steps(spec, splits)} training steps are too few to repay a trial "
                    f"(tuning needs at least {needed}); the auto settings stand", "cached": False}


def _trials(spec, model, initial, splits, found: list[Candidate], *, policy, source, budget_seconds) -> dict:
    training = spec.training
    batch = training.batch_size
    steps_per_epoch = max(1, math.ceil(len(splits.train) / batch))
    index = np.arange(TRIAL_STEPS * batch) % len(splits.train)  # the real data, repeated where it is short
    trial_data = splits.train.take(index)
    models = {policy: model}
    results, spent = [], 0.0
    budget = budget_seconds
    for candidate in found:
        result = {**candidate.settings(), "samples_per_second": None, "seconds": None, "status": "ok", "note": ""}
        results.append(result)
        same_jit = [r["seconds"] for r in results[:-1] if r["seconds"] is not None
                    and r["jit_compile"] == candidate.jit_compile]
        done = [r["seconds"] for r in results[:-1] if r["seconds"] is not None]
        expected = max(same_jit) if same_jit else FIRST_XLA_COST_FACTOR * max(done, default=0.0)
        if budget is not None and done and spent + expected > budget:
            result.update(status="skipped", note=f"over the trial budget (expected {expected:.1f} s, "
                                                 f"{budget - spent:.1f} s left)")
            continue
        started = time.perf_counter()
        trial_model = None
        try:
            if candidate.precision not in models:
                models[candidate.precision] = _rebuilt(spec, candidate.precision, initial)
            trial_model = models[candidate.precision]
            rate, losses = _trial(trial_model, candidate, trial_data, training, source)
        except WithoutXLA as exc:  # Keras would run it as the XLA-off candidate: not a candidate of its own
            result.update(status="skipped", note=str(exc))
            rate, losses = None, []
        except Exception as exc:  # a candidate that does not build, compile or run is skipped, never chosen
            result.update(status="failed", note=f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
            rate, losses = None, []
        finally:
            result["seconds"] = round(time.perf_counter() - started, 3)
            spent += result["seconds"]
            if trial_model is not None:
                _restore(initial if trial_model is model else _pairs(trial_model, initial))
        if result["status"] == "ok" and not all(math.isfinite(v) for v in losses):
            result.update(status="failed", note="loss not finite")
        elif result["status"] == "ok":
            result["samples_per_second"] = round(rate, 1)
        if budget is None and result["status"] == "ok":
            # The baseline's throughput gives the expected run time: epochs of training and validation
            # (validation steps cost about a third of a training step).
            validation = len(splits.validation) if splits.validation is not None else 0
            samples = training.epochs * (steps_per_epoch * batch + validation / 3)
            budget = BUDGET_FRACTION * samples / rate
    ok = [r for r in results if r["status"] == "ok"]
    best = max(ok, key=lambda r: r["samples_per_second"]) if ok else \
        {**found[0].settings(), "note": "no candidate ran; the auto settings stand"}
    return {
        "jit_compile": best["jit_compile"], "steps_per_execution": best["steps_per_execution"],
        "precision": best["precision"],
        "choice": {k: best[k] for k in ("jit_compile", "steps_per_execution", "precision")},
        "candidates": results, "trial_steps": TRIAL_STEPS, "batch_size": batch,
        "trial_seconds": round(spent, 3), "budget_seconds": round(budget or 0.0, 3),
        "budget_rule": f"{BUDGET_FRACTION:.0%} of the expected run time",
    }


def _trial(model, candidate: Candidate, data, training, source) -> tuple[float, list[float]]:
    """Compile with the candidate's settings; a warm-up pass, then a timed pass over TRIAL_STEPS batches."""
    import keras

    from netspec.runner import data as data_module
    from netspec.runner.compile import compile_model

    with warnings.catch_warnings():  # Keras warns when it declines XLA; the trial's note says so instead
        warnings.simplefilter("ignore", UserWarning)
        compile_model(model, training, source=source, jit_compile=candidate.jit_compile,
                      steps_per_execution=candidate.steps_per_execution)
        declined = candidate.jit_compile is not False and not model.jit_compile  # resolves "auto" as fit would
    if declined:
        raise WithoutXLA("Keras runs this model without XLA (a layer does not support it, or XLA is off on this "
                         "device), so this is the XLA-off candidate again")
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    batch = training.batch_size
    warm = data.take(slice(0, candidate.steps_per_execution * batch))
    losses = []
    for part in (warm, data):  # the second fit reuses the compiled function of the first
        args = data_module.fit_arguments(part, batch_size=batch, shuffle=False, seed=0)
        history = model.fit(**args, epochs=1, verbose=0, callbacks=[Timer()])
        losses += [float(v) for v in history.history.get("loss", [float("nan")])]
    return len(data) / times[-1], losses


def _rebuilt(spec, policy: str, initial) -> Any:
    """The model built under another dtype policy, holding the same initial values."""
    from netspec.build import build_model
    from netspec.runner.precision import dtype_policy

    with dtype_policy(policy):
        model = build_model(spec, compile=False)
    _restore(_pairs(model, initial))
    return model


def _pairs(model, initial) -> list:
    """The initial values, matched to another model's variables (same spec, so the same order)."""
    return [(v, value) for v, (_, value) in zip(model.variables, initial)]


def _restore(pairs) -> None:
    for variable, value in pairs:
        variable.assign(value)
