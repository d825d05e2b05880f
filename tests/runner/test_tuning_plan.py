"""Execution tuning's decisions, on fake timings: candidate order, which trials run (expected saving against
expected cost), the precision acceptance margin, the cache read by `auto`. No test takes the CPU's bfloat16
from the machine it runs on: each fixes it, and those whose expectations depend on it run both ways."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from runner_support import tiny_spec
from tuning_support import CPU_IDS, NATIVE_BF16

from netspec.runner import train, tuning
from netspec.runner.execution import Execution
from netspec.runner.precision import Device
from netspec.runner.tuning import Candidate
from netspec.runner.tuning import cpu_bfloat16 as read_cpu_flags  # the real one: the fixtures fix tuning's

# Every test fixes the CPU's bfloat16 and has a tuning cache of its own (fixtures in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("native_bf16", "tuning_cache")

CPU = Device("cpu", "test")




# ----- candidate order -----


@pytest.mark.parametrize("native_bf16", NATIVE_BF16, ids=CPU_IDS, indirect=True)
def test_candidates_by_expected_gain(native_bf16):
    found = tuning.candidates(Execution(False, 32), "float32", precision_setting="auto", device=CPU,
                              steps_per_epoch=100)
    if native_bf16:  # bfloat16 with the auto execution settings right after the baseline
        assert found[:4] == [Candidate(False, 32, "float32"), Candidate(False, 32, "mixed_bfloat16"),
                             Candidate(False, 1, "float32"), Candidate(True, 32, "float32")]
        assert found[4] == Candidate(False, 1, "mixed_bfloat16")  # the two-setting changes after, by their gain
        assert len(found) == 8
    else:
        assert found == [Candidate(False, 32, "float32"), Candidate(False, 1, "float32"),
                         Candidate(True, 32, "float32"), Candidate(True, 1, "float32")]
    gains = [tuning.prior_gain(c, found[0]) for c in found]
    singles = [g for c, g in zip(found[1:], gains[1:]) if len(tuning.changed(c, found[0])) == 1]
    assert singles == sorted(singles, reverse=True)


@pytest.mark.parametrize("native_bf16", NATIVE_BF16, ids=CPU_IDS, indirect=True)
def test_explicit_precision_or_gpu_keeps_bfloat16_out(native_bf16):
    for precision_setting, device in (("float32", CPU), ("auto", Device("gpu", "test"))):
        found = tuning.candidates(Execution(False, 32), "float32", precision_setting=precision_setting,
                                  device=device, steps_per_epoch=100)
        assert {c.precision for c in found} == {"float32"}


# ----- which trials run: fake timings -----


class FakeData:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def take(self, index):
        return self


class FakeModel:
    variables: list = []


class Ran(list):
    """The candidates whose trials ran, in order; `cut_short`: the baseline, where it stopped after one chunk."""

    cut_short: list


def fake_tuning(monkeypatch, *, rates: dict, seconds: dict, losses: dict | None = None):
    """Trials that take `seconds[candidate]` of a fake clock and measure `rates[candidate]` samples/s, with
    `losses[candidate]` (default 1.0) as the trial's loss; no model is built or trained."""
    clock = SimpleNamespace(now=0.0)
    ran = Ran()
    ran.cut_short = []

    def measure(model, candidate, data, training, source, chunks, warmup, hopeless=None):
        # Two timed chunks, each half the trial's seconds; the baseline asks `hopeless` after the first.
        ran.append(candidate)
        measured = {"samples_per_second": rates[candidate], "loss": (losses or {}).get(candidate, 1.0),
                    "chunks": 2, "optimizer": []}
        clock.now += seconds[candidate] / 2
        if hopeless is not None and hopeless(rates[candidate]):
            ran.cut_short.append(candidate)
            return {**measured, "chunks": 1}
        clock.now += seconds[candidate] / 2
        return measured

    # The priors of a CPU with AMX-BF16 (bfloat16 expected 1.5x), whatever CPU the test runs on.
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "amx")
    monkeypatch.setattr(tuning, "_clock", lambda: clock.now)
    monkeypatch.setattr(tuning, "_measure", measure)
    monkeypatch.setattr(tuning, "_rebuilt", lambda spec, policy, initial: FakeModel())
    return ran


def run_trials(found, *, run_steps: int, batch: int = 100, budget_seconds=None) -> dict:
    """`_trials` for a run of `run_steps` training steps (one epoch, no validation)."""
    spec = SimpleNamespace(training=SimpleNamespace(epochs=1, batch_size=batch))
    splits = SimpleNamespace(train=FakeData(run_steps * batch), validation=None)
    return tuning._trials(spec, FakeModel(), [], splits, found, policy=found[0].precision, source=None,
                          budget_seconds=budget_seconds)


BASE, BF16 = Candidate(False, 32, "float32"), Candidate(False, 32, "mixed_bfloat16")
ONE, BF16_ONE = Candidate(False, 1, "float32"), Candidate(False, 1, "mixed_bfloat16")
XLA = Candidate(True, 32, "float32")


def test_long_run_tries_bfloat16_and_trains_with_it(monkeypatch):
    # 2,000 steps of 100 samples at 1,000/s: 200 s; bfloat16 at 1,600/s saves 75 s, for a 2 s trial.
    found = [BASE, BF16, ONE, XLA]
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 1600, ONE: 1000, XLA: 900},
                      seconds={BASE: 2.0, BF16: 2.0, ONE: 2.0, XLA: 4.0})
    record = run_trials(found, run_steps=2000)
    assert ran[:2] == [BASE, BF16]
    assert record["choice"] == BF16.settings()
    by = {tuning._candidate(c): c for c in record["candidates"]}
    assert by[BF16]["status"] == "ok" and by[BF16]["seconds"] == 2.0  # each trial's cost is reported
    assert record["trial_seconds"] == sum(c["seconds"] or 0 for c in record["candidates"])
    assert record["run_seconds_expected"] == pytest.approx(200000 / 1600, abs=0.1)


def test_trials_stop_where_the_expected_saving_no_longer_repays_them(monkeypatch):
    # 200 steps at 1,000 samples/s: 20 s. bfloat16 (expected 1.5x) would save 6.7 s for a 2.5 s trial: tried.
    # Measured 2x, it leaves 10 s to run: one step per call (expected 1.1x of the baseline, below bfloat16)
    # saves nothing, and bfloat16 with it (2.2x) 0.9 s, less than its 2 s: neither runs.
    found = [BASE, BF16, ONE, XLA, BF16_ONE]
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 2000, ONE: 1100, XLA: 1000, BF16_ONE: 2200},
                      seconds={BASE: 2.0, BF16: 2.0, ONE: 2.0, XLA: 4.0, BF16_ONE: 2.0})
    record = run_trials(found, run_steps=200)
    assert ran == [BASE, BF16]
    skipped = [c for c in record["candidates"] if c["status"] == "skipped"]
    assert len(skipped) == 3 and all("expected saving" in c["note"] and c["seconds"] is None for c in skipped)
    assert record["choice"] == BF16.settings()


@pytest.mark.parametrize(("bf16_rate", "tried"), [(1000, [BASE, BF16, ONE]), (2000, [BASE, BF16])])
def test_the_gain_bought_counts(monkeypatch, bf16_rate, tried):
    # 400 steps at 1,000 samples/s: 40 s. One step per call (expected 1.1x) would save 3.6 s for a 2 s trial:
    # tried where bfloat16 bought nothing; where it halved the rest of the run, one step per call would save
    # nothing and bfloat16 with it (2.2x) 1.8 s, less than its trial.
    found = [BASE, BF16, ONE, BF16_ONE]
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: bf16_rate, ONE: 1100, BF16_ONE: 2200},
                      seconds={BASE: 2.0, BF16: 2.0, ONE: 2.0, BF16_ONE: 2.0})
    record = run_trials(found, run_steps=400)
    assert ran == tried
    best = max((c for c in record["candidates"] if c["status"] == "ok"), key=lambda c: c["samples_per_second"])
    assert record["choice"] == tuning._candidate(best).settings()


def test_short_run_tries_only_the_baseline(monkeypatch):
    # 100 steps at 1,000 samples/s: 10 s; bfloat16 (expected 1.5x) would save 3.3 s, its trial costs 5 s.
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 1600}, seconds={BASE: 4.0, BF16: 4.0})
    record = run_trials([BASE, BF16], run_steps=100)
    assert ran == [BASE] and record["choice"] == BASE.settings()
    assert "expected saving 3.3 s < expected cost 5.0 s" in record["candidates"][1]["note"]


@pytest.mark.parametrize(("run_steps", "cut_short"), [(20, True), (100, False), (2000, False)])
def test_the_baseline_stops_timing_once_no_later_trial_could_repay_it(monkeypatch, run_steps, cut_short):
    # 20 steps at 1,000 samples/s: a 2 s run. After the baseline's first chunk (1 s), bfloat16 (expected 1.5x)
    # would save 0.7 s, less than the 1.25 s its trial would cost at least: nothing later can run, and the
    # baseline's other chunk would only make that surer. Longer runs time the baseline in full.
    found = [BASE, BF16, ONE, XLA]
    rates, seconds = {BASE: 1000, BF16: 1600, ONE: 1000, XLA: 900}, {BASE: 2.0, BF16: 2.0, ONE: 2.0, XLA: 4.0}
    ran = fake_tuning(monkeypatch, rates=rates, seconds=seconds)
    record = run_trials(found, run_steps=run_steps)
    assert ran.cut_short == ([BASE] if cut_short else [])
    assert record["candidates"][0]["seconds"] == (1.0 if cut_short else 2.0)
    # The same trials run, and are skipped, as where the baseline is always timed in full.
    monkeypatch.setattr(tuning, "_none_repays", lambda *args: False)
    full = fake_tuning(monkeypatch, rates=rates, seconds=seconds)
    again = run_trials(found, run_steps=run_steps)
    assert ran == full and full.cut_short == []
    assert [c["status"] for c in record["candidates"]] == [c["status"] for c in again["candidates"]]
    assert record["choice"] == again["choice"]


@pytest.mark.parametrize("units", ["", "avx512", "amx"])
def test_runs_too_short_for_any_trial_are_not_tried(units, monkeypatch):
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: units)
    found = tuning.candidates(Execution(False, 32), "float32", precision_setting="auto", device=CPU,
                              steps_per_epoch=100)
    needed = tuning._needed_steps(found)
    # bfloat16's expected gain makes tuning worth it on shorter runs of a CPU that has it natively, the more
    # with AMX (the fixed 5% budget needed 1,280)
    assert {"": 900 < needed < 1000, "avx512": 500 < needed < 550, "amx": needed < 400}[units], needed
    spec = SimpleNamespace(training=SimpleNamespace(epochs=20, batch_size=10))
    assert tuning._too_short(spec, SimpleNamespace(train=FakeData(10 * (needed // 20 - 1))), found)
    assert not tuning._too_short(spec, SimpleNamespace(train=FakeData(10 * (needed // 20 + 1))), found)


def test_a_fixed_budget_still_limits_the_trials(monkeypatch):
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 1600, ONE: 1000},
                      seconds={BASE: 2.0, BF16: 2.0, ONE: 2.0})
    record = run_trials([BASE, BF16, ONE], run_steps=10, budget_seconds=5.0)
    assert ran == [BASE, BF16] and "over the trial budget" in record["candidates"][2]["note"]


# ----- the precision acceptance margin -----


@pytest.mark.parametrize(("loss", "status"), [(1.04, "ok"), (0.96, "ok"), (1.2, "rejected"),
                                              (float("nan"), "failed")])
def test_bfloat16_is_accepted_only_within_the_loss_margin(monkeypatch, loss, status):
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 2000, BF16_ONE: 2500},
                      seconds={BASE: 2.0, BF16: 2.0, BF16_ONE: 2.0},
                      losses={BASE: 1.0, BF16: loss, BF16_ONE: loss})
    record = run_trials([BASE, BF16, BF16_ONE], run_steps=100000)
    bf16 = record["candidates"][1]
    assert bf16["status"] == status, bf16
    if status == "ok":
        assert record["choice"]["precision"] == "mixed_bfloat16"
    else:
        assert record["choice"] == BASE.settings()  # faster, but not accepted
        # one verdict on bfloat16 is enough: its other candidates are not tried
        assert ran == [BASE, BF16] and "mixed_bfloat16 already" in record["candidates"][2]["note"]


def test_the_margin_has_a_floor_for_losses_near_zero():
    baseline = {"precision": "float32", "loss": 0.001}
    near = {"precision": "mixed_bfloat16", "loss": 0.015, "status": "ok"}
    tuning._judge_loss(near, baseline)
    assert near["status"] == "ok"
    far = {"precision": "mixed_bfloat16", "loss": 0.05, "status": "ok"}
    tuning._judge_loss(far, baseline)
    assert far["status"] == "rejected" and "margin" in far["note"]


# ----- auto reads the cache -----


def _cache_choice(spec_dict, choice: dict) -> None:
    """Write the cache entry a tuned run of this spec on this machine (as tuning sees it) would leave."""
    import keras

    from netspec.load import load_spec

    machine = tuning.machine_description(detected_device(), keras.backend.backend())
    path = tuning.cache_file(load_spec(spec_dict), machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**choice, "choice": choice, "candidates": [], "trial_seconds": 1.0}))


def detected_device():
    from netspec.runner.precision import detect_device

    return detect_device()


@pytest.mark.slow
@pytest.mark.parametrize("native_bf16", NATIVE_BF16, ids=CPU_IDS, indirect=True)
def test_auto_trains_with_the_cached_choice_without_trials(native_bf16, tmp_path, monkeypatch):
    def no_trials(*args, **kwargs):
        raise AssertionError("auto runs no trials")

    monkeypatch.setattr(tuning, "_measure", no_trials)
    plain = train(tiny_spec(), out=tmp_path / "plain", verbose=0)  # nothing cached: the auto settings
    assert plain.execution.mode == "auto" and not (plain.run_dir / "tuning.json").exists()
    precision = "mixed_bfloat16" if native_bf16 else "float32"
    _cache_choice(tiny_spec(), {"jit_compile": False, "steps_per_execution": 1, "precision": precision})
    result = train(tiny_spec(), out=tmp_path / "cached", verbose=0)
    assert (result.execution.jit_compile, result.execution.steps_per_execution) == (False, 1)
    assert result.execution.mode == "tuned" and result.precision == precision
    record = json.loads((result.run_dir / "tuning.json").read_text())
    assert record["cached"] is True
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["precision"] == precision and info["execution"]["steps_per_execution"] == 1


# ----- gains learned on this machine -----


def _record(machine, rates: dict) -> dict:
    candidates = [{**c.settings(), "samples_per_second": r, "status": "ok", "seconds": 1.0, "loss": 1.0, "note": ""}
                  for c, r in rates.items()]
    return {**BASE.settings(), "candidates": candidates, "machine": machine}


@pytest.mark.parametrize("native_bf16", NATIVE_BF16, ids=CPU_IDS, indirect=True)
def test_gains_measured_for_earlier_models_on_this_machine_replace_the_priors(native_bf16, tuning_cache, monkeypatch):
    machine = {"device": "CPU test", "native_bfloat16": native_bf16}
    assert tuning.learned_gains(machine) == tuning.PRIOR_GAIN  # nothing cached yet (no AMX: the plain priors)
    (tuning_cache / "tuning").mkdir(parents=True)
    for i, ratio in enumerate((0.5, 0.6, 0.7)):
        (tuning_cache / "tuning" / f"{i}.json").write_text(json.dumps(_record(machine, {BASE: 1000, BF16: 1000 * ratio,
                                                                                 BF16_ONE: 2000})))
    (tuning_cache / "tuning" / "other.json").write_text(json.dumps(_record({"device": "elsewhere"}, {BASE: 1000, BF16: 3000})))
    gains = tuning.learned_gains(machine)
    assert gains["precision"] == pytest.approx(0.6)  # the median; two-setting changes and other machines left out
    assert gains["steps_per_execution"] == tuning.PRIOR_GAIN["steps_per_execution"]
    # With bfloat16 expected to lose, a run that would try it under the priors does not.
    ran = fake_tuning(monkeypatch, rates={BASE: 1000, BF16: 600}, seconds={BASE: 2.0, BF16: 2.0})
    spec = SimpleNamespace(training=SimpleNamespace(epochs=1, batch_size=100))
    splits = SimpleNamespace(train=FakeData(2000 * 100), validation=None)
    record = tuning._trials(spec, FakeModel(), [], splits, [BASE, BF16], policy="float32", source=None,
                            budget_seconds=None, gains=gains)
    assert ran == [BASE] and "expected saving 0.0 s" in record["candidates"][1]["note"]
    assert tuning._needed_steps([BASE, BF16], gains) == float("inf")  # nothing left to gain: not even a baseline


@pytest.mark.parametrize(("units", "native", "gain"), [("", False, 1.15), ("avx512", True, 1.15), ("amx", True, 1.5)])
def test_bfloat16_is_expected_to_gain_by_the_cpus_bfloat16_units(units, native, gain, monkeypatch):
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: units)
    assert tuning.native_bfloat16() is native
    assert tuning.prior_gains() == {**tuning.PRIOR_GAIN, "precision": gain}
    found = tuning.candidates(Execution(False, 32), "float32", precision_setting="auto", device=CPU,
                              steps_per_epoch=100)
    assert (found[1] == BF16) is native  # right after the baseline wherever the CPU has bfloat16 natively


@pytest.mark.parametrize(("flags", "units"), [("fpu avx2 fma", ""), ("fpu avx512f avx512_bf16", "avx512"),
                                              ("fpu avx512_bf16 amx_bf16 amx_tile", "amx")])
def test_cpu_bfloat16_reads_the_cpu_flags(flags, units, monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path,
                                                                         *a, **k))
    assert read_cpu_flags() == units
