"""Execution tuning: time the candidates on the real model and data, train with the fastest.

Candidates: XLA off and on, `steps_per_execution` 1 and the auto count (both,
whichever the auto rule picked), and, on CPUs with native bfloat16
(avx512_bf16 or amx_bf16 in /proc/cpuinfo) under `precision: auto`, float32
and mixed_bfloat16; elsewhere the runner's precision rule stands. The auto
settings go first: they are the baseline. The others follow by expected gain
(PRIOR_GAIN): those that change one setting — mixed_bfloat16 with the auto
execution settings right after the baseline, then the other
steps_per_execution, then the other XLA setting — then those that change
several.

A trial compiles the model with the candidate's settings, runs one step
(tracing; XLA compilation; with the training data's partial last batch, so
that training runs the same function), then times calls of `fit` of TRIAL_CHUNK steps
each (the calls of the compiled function only); its rate is its fastest
chunk's (the machine is shared: noise only slows a chunk down). The
baseline takes chunks until its two fastest agree within
TRIAL_STABLE_WITHIN, TRIAL_MAX_STEPS are timed, or no later candidate could
repay its trial any more (a short run: more chunks would only raise the
baseline's rate and cost); every later trial runs as many, so that all
train the same steps on the same data from the same weights. Afterwards every model variable gets its initial value back, and
Python's and NumPy's random states theirs, so training starts from the same
weights and draws the same numbers as an untuned run with the same seed.
Each trial's cost (seconds from building its model to its last step) goes
into tuning.json and the printed line.

A candidate that fails to build, compile or run, or whose loss is not
finite, is skipped with a note, never chosen; so is an XLA candidate that
Keras declines to compile with XLA (RandomRotation, RandomZoom and other
layers with `supports_jit = False`), which would only repeat the XLA-off
trial. A candidate under another precision than the baseline's is accepted
only if its trial's loss is within PRECISION_LOSS_MARGIN of the baseline
trial's (at least PRECISION_LOSS_FLOOR); once one is rejected or fails, that
precision's other candidates are not tried.

mixed_bfloat16 is tried only where the CPU computes bfloat16 natively: on an
AMD EPYC (Zen 3, AVX2, no AVX-512) oneDNN emulates it, and the MNIST convnet
trained 8x slower under it (200 against 1,590 samples/s).

Which trials run: the baseline's rate gives the run's expected time (epochs
of training steps, and validation at a third of a step). A later candidate
is tried if its expected saving — the rest of the run at the fastest rate so
far, less the same run at the candidate's expected rate — is at least
SAVING_OVER_COST times its expected cost. Its expected rate is the
baseline's times, for each setting it changes, the gain measured by the
trial that changed only that setting (else the expected gain: the median
such trials of earlier models measured on this machine, from the cache, else
prior_gains() — so a machine where bfloat16 lost stops paying for its trials);
its expected cost is
the dearest trial so far with the same XLA setting (twice the dearest trial
for the first XLA trial), a quarter more where it builds a model under a new
precision. So the gain trials have bought counts: after a fast bfloat16
trial, the small gains are no longer worth their trials. A run with fewer
training steps than two trials (TRIAL_COST_STEPS steps each) could repay at
the best prior gain is not tried at all: it trains with the auto settings
(uncached).

Training goes on with the chosen trial's model, still compiled with the chosen settings and its training
function traced (its optimizer's state given back): the run does not compile and trace it a second time.
A trial never compiles the model that holds the fastest candidate so far; it takes another model of its
precision, built by an earlier trial or anew.

The result is cached by model hash and machine under
$NETSPEC_CACHE_DIR/tuning/ (default ~/.cache/netspec/tuning/): the next run
of the same spec on the same machine, `tuned` or `auto`, trains with the
choice without trials (generated scripts do not read it: `netspec generate
--tuned-from RUN_DIR` bakes a choice in).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netspec import atomic
from netspec.lowering import TUNING_FILE  # noqa: E402,F401 - the file a tuned run writes
from netspec.runner.execution import AUTO_STEPS_PER_EXECUTION, Execution

TRIAL_CHUNK = 8  # steps per timed call of `fit`; a trial's rate is its fastest chunk's
TRIAL_MAX_STEPS = 32  # timed steps at most (the baseline stops sooner once two chunks agree)
TRIAL_STABLE_WITHIN = 0.10  # two chunks whose rates differ by less than this are a stable measurement
TRIAL_COST_STEPS = 64  # a trial's cost in training steps (tracing, warm-up, timed steps), before any is measured
# Expected speed-up over the baseline of changing one setting, until a trial measures it; a candidate that
# changes several is expected to gain the product. bfloat16's is by how the CPU computes it (prior_gains).
PRIOR_GAIN = {"precision": 1.15, "steps_per_execution": 1.1, "jit_compile": 1.05}
# With AMX-BF16, whose tiles multiply bfloat16 matrices many times faster than float32 FMAs (the MNIST convnet
# trained 1.6x faster on a Xeon with AMX). AVX512-BF16 alone only adds a bfloat16 dot product, which casts
# and reorders eat in small models: the same convnet trained at 0.6-0.75x of float32 on a Xeon without AMX,
# so there the trial is expected to pay off only in long runs (PRIOR_GAIN's).
PRIOR_GAIN_AMX_BFLOAT16 = 1.5
SAVING_OVER_COST = 1.0  # a trial runs if its expected saving is at least this times its expected cost
FIRST_XLA_COST_FACTOR = 2.0  # an XLA trial's expected cost, from the dearest non-XLA trial so far
REBUILD_COST_FACTOR = 1.25  # a trial under a new precision builds its model too
# A later trial builds a spare model of its precision, so that the fastest trial's stays compiled for training,
# only where the model's variables take at most this much memory (see _Trials.free).
SPARE_MODEL_MAX_BYTES = 256 * 2**20
# A precision other than the baseline's is chosen only if its trial's loss is finite and within this share of
# the baseline trial's loss (or PRECISION_LOSS_FLOOR, for losses near 0): both trained the same steps from the
# same weights on the same data.
PRECISION_LOSS_MARGIN = 0.10
PRECISION_LOSS_FLOOR = 0.02
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
    # The model is compiled with the chosen settings and its training function traced by the chosen trial, its
    # optimizer back at its initial state: training need not compile (and trace) it again.
    compiled: bool = False

    def line(self) -> str:
        """The one line a run prints."""
        if self.record.get("cached"):
            return f"tuning (cached {self.record['cache_file']}): {self.chosen_label()}"
        if not self.record["candidates"]:
            return f"tuning skipped: {self.record['note']}"
        parts = []
        for c in self.record["candidates"]:
            if c["status"] == "skipped" and c["seconds"] is None:
                continue  # not tried: tuning.json says why
            rate = f"{c['samples_per_second']:,.0f}/s" if c["status"] == "ok" else c["status"]
            parts.append(f"{_candidate(c).label()} {rate} ({c['seconds']:.1f} s)")
        untried = sum(c["seconds"] is None for c in self.record["candidates"])
        return (f"tuning ({self.record['trial_seconds']:.1f} s of trials"
                + (f", {untried} not worth a trial" if untried else "") + "): "
                + "; ".join(parts) + f" -> {self.chosen_label()}")

    def chosen_label(self) -> str:
        return Candidate(self.execution.jit_compile, self.execution.steps_per_execution, self.precision).label()


# ----- machine and cache -----


def cpu_bfloat16() -> str:
    """How the CPU computes bfloat16: "amx" (AMX-BF16 matrix tiles), "avx512" (AVX512-BF16 dot products
    only), or "" (emulated, through float32)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "amx" if "amx_bf16" in flags else "avx512" if "avx512_bf16" in flags else ""
    return ""


def native_bfloat16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    return cpu_bfloat16() != ""


def prior_gains() -> dict:
    """PRIOR_GAIN, bfloat16's by the CPU's bfloat16 units (PRIOR_GAIN_AMX_BFLOAT16 says why)."""
    return {**PRIOR_GAIN, "precision": PRIOR_GAIN_AMX_BFLOAT16} if cpu_bfloat16() == "amx" else dict(PRIOR_GAIN)


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
    from netspec.schema import dump_spec

    dumped = dump_spec(spec, mode="json", exclude={"name", "description", "data"})
    for key in _RUN_ONLY_KEYS:
        dumped.get("training", {}).pop(key, None)
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return atomic.cache_dir("tuning")


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
    """The baseline (the auto settings) first, then the others by expected gain: those that change one
    setting (mixed_bfloat16 on CPUs with native bfloat16, then the other steps_per_execution, then the other
    XLA setting), then those that change several, by the product of their gains."""
    baseline = Candidate(base.jit_compile, base.steps_per_execution, policy)
    policies = [policy]
    if device.kind == "cpu" and (precision_setting or "auto") == "auto" and native_bfloat16() \
            and policy != "mixed_bfloat16":
        policies.append("mixed_bfloat16")
    # One step per call, and several (the auto rule's count), whichever the baseline has.
    several = max(1, min(AUTO_STEPS_PER_EXECUTION, steps_per_epoch))
    steps = list(dict.fromkeys([base.steps_per_execution, 1, several]))
    other_jit = {False: True, True: False}.get(base.jit_compile, False)  # "auto" (XLA on a GPU) vs off
    others = [Candidate(j, s, p) for j in (base.jit_compile, other_jit) for p in policies for s in steps]
    others = [c for c in others if c != baseline]
    # sorted is stable: among equal keys the order above stands
    others.sort(key=lambda c: (len(changed(c, baseline)), -prior_gain(c, baseline)))
    return [baseline] + others


def changed(candidate: Candidate, baseline: Candidate) -> list[str]:
    """The settings in which a candidate differs from the baseline."""
    return [k for k in ("precision", "steps_per_execution", "jit_compile")
            if getattr(candidate, k) != getattr(baseline, k)]


def prior_gain(candidate: Candidate, baseline: Candidate, gains: dict | None = None) -> float:
    return math.prod((gains or prior_gains())[k] for k in changed(candidate, baseline))


def learned_gains(machine: dict) -> dict:
    """prior_gains(), with each setting's gain replaced by the median of what earlier trials on this machine
    measured (cached records of other models: trials that changed only that setting, against their baseline)."""
    prior = prior_gains()
    measured: dict[str, list[float]] = {k: [] for k in prior}
    for path in sorted(cache_dir().glob("*.json")):
        record = _read_cache(path)
        if record is None or record.get("machine") != machine:
            continue
        results = [r for r in record.get("candidates", []) if isinstance(r, dict)]
        base = next((r for r in results if r.get("status") == "ok"), None)
        for r in results:
            if base is None or r is base or not r.get("samples_per_second"):
                continue
            keys = changed(_candidate(r), _candidate(base))
            if len(keys) == 1:
                measured[keys[0]].append(r["samples_per_second"] / base["samples_per_second"])
    return {k: statistics.median(v) if v else prior[k] for k, v in measured.items()}


def expected_rate(candidate: Candidate, baseline: dict, results: list[dict], gains: dict | None = None) -> float:
    """The candidate's expected samples/s: the baseline's rate times, for each setting it changes, the gain a
    trial that changed only that setting measured (else the prior gain)."""
    base = _candidate(baseline)
    rate = baseline["samples_per_second"]
    for key in changed(candidate, base):
        single = Candidate(**{**base.settings(), key: getattr(candidate, key)})
        measured = [r["samples_per_second"] for r in results
                    if r.get("samples_per_second") and _candidate(r) == single]
        rate *= measured[0] / baseline["samples_per_second"] if measured else (gains or prior_gains())[key]
    return rate


def expected_cost(candidate: Candidate, results: list[dict], built: set[str]) -> float:
    """A trial's expected seconds: the dearest trial so far with the same XLA setting (twice the dearest trial
    for the first XLA trial, whose compilation costs more), more where it builds a model first."""
    done = [r for r in results if r["seconds"] is not None and r["status"] != "skipped"]
    same_jit = [r["seconds"] for r in done if r["jit_compile"] == candidate.jit_compile]
    cost = max(same_jit) if same_jit else FIRST_XLA_COST_FACTOR * max((r["seconds"] for r in done), default=0.0)
    return cost * (1.0 if candidate.precision in built else REBUILD_COST_FACTOR)


def expected_saving(candidate: Candidate, baseline: dict, results: list[dict], run_samples: float,
                    gains: dict | None = None) -> float:
    """Seconds the rest of the run would save training with the candidate instead of the fastest so far."""
    best = max(r["samples_per_second"] for r in results if r["status"] == "ok")
    return max(0.0, run_samples / best - run_samples / expected_rate(candidate, baseline, results, gains))


def tune(spec, model, splits, *, base: Execution, policy: str, device, backend: str, source=None,
         trial_candidates: list[Candidate] | None = None, budget_seconds: float | None = None,
         trials: bool = True) -> Tuning | None:
    """Measure the candidates (or read the cache) and return the settings and model to train with.

    `model` is built and holds the initial weights. With `trials` False (execution `auto`) only the cache
    is read: None where it holds no choice. `trial_candidates` replaces the candidates and `budget_seconds`
    the savings rule with a fixed limit on the trials' seconds (for tests).
    """
    machine = machine_description(device, backend)
    cached_at = cache_file(spec, machine)
    record = _read_cache(cached_at)
    if record is None and not trials:
        return None
    initial = [(v, np.array(v)) for v in model.variables]  # seed generators' states among them
    # Python's and NumPy's random states: a model the trials build draws its initializers' seeds from Python's.
    # They are given back afterwards rather than seeded anew: tf.random.set_seed (in keras.utils.set_random_seed)
    # clears TensorFlow's kernel cache, and training's first steps would then build every kernel again (0.4 s of
    # the digits Conv1D+GRU's). The trials draw none of TensorFlow's own: Keras's random ops are stateless.
    drawn = random.getstate(), np.random.get_state()
    steps_per_epoch = math.ceil(len(splits.train) / spec.training.batch_size)
    found = trial_candidates or candidates(base, policy, precision_setting=spec.training.precision, device=device,
                                           steps_per_epoch=steps_per_epoch)
    trials = None
    if record is not None:
        record = {**record, "cached": True, "cache_file": str(cached_at)}
    elif budget_seconds is None and _too_short(spec, splits, found, gains := learned_gains(machine)):
        record = {**_untried(base, policy, spec, splits, found, gains), "machine": machine,
                  "model_hash": model_hash(spec)}
    else:
        trials = _Trials(spec, initial, model, policy)
        record = _trials(spec, model, initial, splits, found, policy=policy, source=source,
                         budget_seconds=budget_seconds, gains=learned_gains(machine), built=trials)
        record.update({"machine": machine, "model_hash": model_hash(spec)})
        atomic.write_text(cached_at, json.dumps(record, indent=2) + "\n")
        record = {**record, "cached": False, "cache_file": str(cached_at)}
    _restore(initial)
    random.setstate(drawn[0])  # training draws as an untuned run would
    np.random.set_state(drawn[1])
    chosen_policy = record["precision"]
    steps = min(record["steps_per_execution"], max(1, steps_per_epoch))
    execution = Execution(record["jit_compile"], steps, "tuned")
    chosen = Candidate(execution.jit_compile, execution.steps_per_execution, chosen_policy)
    trained, compiled = trials.chosen(chosen) if trials is not None else (None, False)
    if trained is not None:  # built by its trial, back at the initial values
        model = trained
    elif chosen_policy != policy:
        model = _rebuilt(spec, chosen_policy, initial)
    return Tuning(execution, chosen_policy, model, record, compiled)


def _run_steps(spec, splits) -> int:
    return spec.training.epochs * max(1, math.ceil(len(splits.train) / spec.training.batch_size))


def _needed_steps(found: list[Candidate], gains: dict | None = None) -> int:
    """The fewest training steps whose expected saving (at the best expected gain) repays two trials."""
    gain = max((prior_gain(c, found[0], gains) for c in found[1:]), default=1.0)
    if SAVING_OVER_COST <= 0:
        return 0  # every trial runs (tests)
    if gain <= 1.0:
        return math.inf  # nothing to gain: the baseline alone
    return math.ceil(SAVING_OVER_COST * 2 * TRIAL_COST_STEPS / (1 - 1 / gain))


def _too_short(spec, splits, found: list[Candidate], gains: dict | None = None) -> bool:
    return _run_steps(spec, splits) < _needed_steps(found, gains)


def _untried(base: Execution, policy: str, spec, splits, found, gains=None) -> dict:
    settings = {"jit_compile": base.jit_compile, "steps_per_execution": base.steps_per_execution,
                "precision": policy}
    needed = _needed_steps(found, gains)
    return {**settings, "choice": dict(settings), "candidates": [], "trial_seconds": 0.0,
            "note": f"the run's {_run_steps(spec, splits)} training steps are too few to repay the trials "
                    f"(tuning needs at least {needed}); the auto settings stand", "cached": False}


_clock = time.perf_counter  # a trial's cost, from building its model to the end of its timed steps


def _candidate(result: dict) -> Candidate:
    return Candidate(result["jit_compile"], result["steps_per_execution"], result["precision"])


@dataclass
class _Built:
    """A model the trials compiled: its precision, the candidate it was last compiled for (None until a trial
    under it ran through) and its optimizer's initial state."""

    model: Any
    precision: str
    compiled: Candidate | None = None
    optimizer: list = field(default_factory=list)


class _Trials:
    """The models the trials of one run built (the run's own first), so that training can go on with the
    chosen trial's model, compiled as its trial left it.

    A trial compiles a model of its precision that does not hold the fastest candidate so far, and builds
    another where none is free: the fastest stays compiled and traced for training. (The MNIST convnet's
    float32 32-step trial was the fastest, the later 1-step trial compiled the model again, and training
    then traced its function a second time: about 1 s.) At most two models of a precision are built, and
    only one of a large model."""

    def __init__(self, spec, initial, model, policy: str):
        self.spec, self.initial = spec, initial
        self.built = [_Built(model, policy)]

    @property
    def precisions(self) -> set[str]:
        return {b.precision for b in self.built}

    def free(self, candidate: Candidate, fastest: Candidate | None) -> _Built:
        """A model of the candidate's precision that the fastest candidate so far is not compiled on; or, where
        the model's variables take more than SPARE_MODEL_MAX_BYTES, the one model of that precision (a second
        copy of a large model could exhaust an accelerator's memory, and its run is long enough that tracing
        again hardly counts)."""
        same = [b for b in self.built if b.precision == candidate.precision]
        for built in same:
            if fastest is None or built.compiled != fastest:
                return built
        if same and _variable_bytes(same[0].model) > SPARE_MODEL_MAX_BYTES:
            return same[0]
        built = _Built(_rebuilt(self.spec, candidate.precision, self.initial), candidate.precision)
        self.built.append(built)
        return built

    def chosen(self, chosen: Candidate) -> tuple[Any, bool]:
        """The model to train with the chosen candidate (None: none built under its precision), and whether
        it is compiled with the chosen settings as its trial left it; if so, its optimizer gets its initial
        state back (the model's variables have theirs already)."""
        for built in self.built:
            if built.compiled == chosen:
                _restore(built.optimizer)
                return built.model, True
        same = [b.model for b in self.built if b.precision == chosen.precision]
        return (same[0] if same else None), False


def _trials(spec, model, initial, splits, found: list[Candidate], *, policy, source, budget_seconds,
            gains: dict | None = None, built: _Trials | None = None) -> dict:
    trials = built or _Trials(spec, initial, model, policy)
    training = spec.training
    batch = training.batch_size
    steps_per_epoch = max(1, math.ceil(len(splits.train) / batch))
    warmup = _warmup_samples(len(splits.train), batch)
    index = np.arange(warmup + TRIAL_MAX_STEPS * batch) % len(splits.train)  # the real data, repeated where short
    trial_data = splits.train.take(index)
    # The run's samples: epochs of training and validation (validation steps cost about a third of a step).
    validation = len(splits.validation) if splits.validation is not None else 0
    run_samples = training.epochs * (steps_per_epoch * batch + validation / 3)
    results, spent = [], 0.0
    baseline, chunks = None, None  # the first candidate that runs; the timed chunks it took
    for index, candidate in enumerate(found):
        result = {**candidate.settings(), "samples_per_second": None, "seconds": None, "loss": None,
                  "status": "ok", "note": ""}
        results.append(result)
        skip = _skip_reason(candidate, results[:-1], baseline, run_samples, spent, budget_seconds, trials.precisions,
                            gains)
        if skip:
            result.update(status="skipped", note=skip)
            continue
        started = _clock()
        entry = None
        try:
            entry = trials.free(candidate, _fastest(results[:-1]))
            entry.compiled = None  # until the trial has run through
            # The baseline stops timing once no later candidate could repay its trial.
            hopeless = None if baseline is not None else functools.partial(
                _none_repays, found[index + 1:], results[:-1], result, started, spent, run_samples, budget_seconds,
                trials.precisions, gains)
            measured = _measure(entry.model, candidate, trial_data, training, source, chunks, warmup, hopeless)
            result.update(samples_per_second=round(measured["samples_per_second"], 1), loss=measured["loss"])
            entry.compiled, entry.optimizer = candidate, measured["optimizer"]
            chunks = chunks or measured["chunks"]
        except WithoutXLA as exc:  # Keras would run it as the XLA-off candidate: not a candidate of its own
            result.update(status="skipped", note=str(exc))
        except Exception as exc:  # a candidate that does not build, compile or run is skipped, never chosen
            result.update(status="failed", note=f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
        finally:
            result["seconds"] = round(_clock() - started, 3)
            spent += result["seconds"]
            if entry is not None:
                _restore(initial if entry.model is model else _pairs(entry.model, initial))
        if result["status"] == "ok":
            _judge_loss(result, baseline)
        if result["status"] == "ok" and baseline is None:
            baseline = result
    accepted = [r for r in results if r["status"] == "ok"]
    best = max(accepted, key=lambda r: r["samples_per_second"]) if accepted else \
        {**found[0].settings(), "note": "no candidate ran; the auto settings stand"}
    return {
        "jit_compile": best["jit_compile"], "steps_per_execution": best["steps_per_execution"],
        "precision": best["precision"],
        "choice": {k: best[k] for k in ("jit_compile", "steps_per_execution", "precision")},
        "candidates": results, "batch_size": batch,
        "trial_steps": math.ceil(warmup / batch) + (chunks or 0) * TRIAL_CHUNK,
        "trial_seconds": round(spent, 3),
        "expected_gains": {k: round(v, 3) for k, v in (gains or prior_gains()).items()},
        "run_seconds_expected": round(run_samples / best["samples_per_second"], 1) if accepted else None,
        "budget_rule": (f"trials within {budget_seconds:g} s" if budget_seconds is not None else
                        "a trial runs while its expected saving over the rest of the run exceeds its expected cost"),
    }


def _none_repays(rest, earlier, result, started, spent, run_samples, budget_seconds, built, gains, rate) -> bool:
    """Whether none of the candidates `rest` would be tried after a baseline trial started at `started` that
    has measured `rate` so far."""
    so_far = {**result, "samples_per_second": rate, "seconds": _clock() - started}
    return all(_skip_reason(c, [*earlier, so_far], so_far, run_samples, spent + so_far["seconds"], budget_seconds,
                            built, gains) for c in rest)


def _fastest(results: list[dict]) -> Candidate | None:
    accepted = [r for r in results if r["status"] == "ok"]
    return _candidate(max(accepted, key=lambda r: r["samples_per_second"])) if accepted else None


def _skip_reason(candidate, results, baseline, run_samples, spent, budget_seconds, built, gains=None) -> str:
    """Why a candidate is not tried (empty: try it)."""
    if baseline is None:
        return ""  # nothing measured yet: the first candidate that runs is the baseline
    for r in results:
        if r["status"] in ("failed", "rejected") and r["precision"] == candidate.precision != baseline["precision"]:
            return f"{candidate.precision} already {r['status']} ({r['note']})"
        if r["status"] == "skipped" and r["note"].startswith("Keras runs") and r["jit_compile"] == \
                candidate.jit_compile:
            return r["note"]
    cost = expected_cost(candidate, results, built)
    if budget_seconds is not None:
        if spent + cost > budget_seconds:
            return f"over the trial budget (expected {cost:.1f} s, {budget_seconds - spent:.1f} s left)"
        return ""
    saving = expected_saving(candidate, baseline, results, run_samples, gains)
    if saving < SAVING_OVER_COST * cost:
        return f"expected saving {saving:.1f} s < expected cost {cost:.1f} s"
    return ""


def _judge_loss(result: dict, baseline: dict | None) -> None:
    """A finite loss, and, for a precision other than the baseline's, one within the margin of the baseline's."""
    loss = result["loss"]
    if loss is None or not math.isfinite(loss):
        result.update(status="failed", note="loss not finite", samples_per_second=None)
    elif baseline is not None and result["precision"] != baseline["precision"]:
        reference = baseline["loss"]
        margin = max(PRECISION_LOSS_MARGIN * abs(reference), PRECISION_LOSS_FLOOR)
        if abs(loss - reference) > margin:
            result.update(status="rejected", note=f"loss {loss:.4g} against {reference:.4g} under "
                                                  f"{baseline['precision']}: beyond the margin of {margin:.3g}")


def _warmup_samples(train_samples: int, batch: int) -> int:
    """The samples of a trial's first call of `fit`, which traces the training function.

    On TensorFlow, a batch and the training data's last partial batch, if it has one: Keras gives batches a
    static size only where every batch is full, so a trial traced on full batches alone would leave training
    to trace its function again (1 s of the digits Conv1D+GRU's first epoch). A function traced for any batch
    size also serves the trial's full batches (Keras's tf.functions reduce retracing). JAX compiles each
    shape, so there the trial's steps keep the one shape they time.
    """
    import keras

    partial = train_samples % batch if keras.backend.backend() == "tensorflow" else 0
    return batch + partial


def _measure(model, candidate: Candidate, data, training, source, chunks: int | None, warmup: int,
             hopeless=None) -> dict:
    """Compile with the candidate's settings; a warm-up call of `warmup` samples (tracing), then timed calls of
    TRIAL_CHUNK steps: `chunks` of them, or (the baseline) until two agree within TRIAL_STABLE_WITHIN,
    TRIAL_MAX_STEPS are timed, or `hopeless(fastest rate so far)` says that no later candidate could repay its
    trial (the rate found so far can only rise and the trial's cost only grow, so timing more chunks would
    not change which trials run). Every trial with the same `chunks` trains the same steps on the same data:
    their losses compare."""
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
    # Built now, as fit would build it, so that its initial state can be given back after the trial.
    model.optimizer.build(model.trainable_variables)
    optimizer = [(v, np.array(v)) for v in model.optimizer.variables]
    seconds = []

    class Timer(keras.callbacks.Callback):  # the calls of the compiled function, not fit's setup
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            seconds[-1] += time.perf_counter() - self.started

    batch = training.batch_size
    rates, losses, start = [], [], 0
    planned = chunks or TRIAL_MAX_STEPS // TRIAL_CHUNK
    for part in range(1 + planned):
        samples = warmup if part == 0 else TRIAL_CHUNK * batch  # the first fit traces; later ones reuse its function
        args = data_module.fit_arguments(data.take(slice(start, start + samples)), batch_size=batch, shuffle=False)
        start += samples
        seconds.append(0.0)
        history = model.fit(**args, epochs=1, verbose=0, callbacks=[Timer()])
        losses += [float(v) for v in history.history.get("loss", [float("nan")])]
        if part == 0:
            continue
        rates.append(samples / max(seconds[-1], 1e-9))
        if not all(math.isfinite(v) for v in losses):
            break
        fastest = sorted(rates, reverse=True)[:2]
        if chunks is None and len(fastest) == 2 and fastest[1] >= (1 - TRIAL_STABLE_WITHIN) * fastest[0]:
            break
        if chunks is None and hopeless is not None and hopeless(fastest[0]):
            break
    finite = all(math.isfinite(v) for v in losses)
    return {"samples_per_second": max(rates), "loss": losses[-1] if finite else float("nan"),
            "chunks": len(rates), "optimizer": optimizer}


def _variable_bytes(model) -> int:
    return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.variables)


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
