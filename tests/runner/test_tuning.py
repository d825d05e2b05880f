"""Execution tuning: trials, the choice, tuning.json, the cache, restored weights, --tuned-from."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from runner_support import tiny_spec

from netspec.cli import main
from netspec.load import load_spec
from netspec.runner import train, tuning
from netspec.runner.execution import AUTO_TUNE_MIN_STEPS, Execution, choose_execution
from netspec.runner.precision import Device

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tuned_runs(tmp_path_factory):
    """A tuned run with every trial in budget, then a second run of the same spec (served by the cache)."""
    root = tmp_path_factory.mktemp("tuned")
    patch = pytest.MonkeyPatch()
    patch.setenv("NETSPEC_CACHE_DIR", str(root / "cache"))
    patch.setattr(tuning, "BUDGET_FRACTION", 1000.0)  # a 2-epoch run would leave no budget for trials
    try:
        first = train(tiny_spec(), execution="tuned", out=root / "first", verbose=0)

        def no_trials(*args, **kwargs):
            raise AssertionError("the second run should not run trials")

        patch.setattr(tuning, "_trial", no_trials)
        second = train(tiny_spec(), execution="tuned", out=root / "second", verbose=0)
    finally:
        patch.undo()
    return first, second


def test_tuned_run_times_candidates_and_trains_with_the_fastest(tuned_runs):
    first, _ = tuned_runs
    record = json.loads((first.run_dir / "tuning.json").read_text())
    ran = [c for c in record["candidates"] if c["status"] == "ok"]
    assert len(record["candidates"]) == 4  # XLA off/on x steps_per_execution auto/1 (no native bf16 assumed)
    assert ran and all(c["samples_per_second"] > 0 for c in ran)
    best = max(ran, key=lambda c: c["samples_per_second"])
    assert {k: record[k] for k in ("jit_compile", "steps_per_execution", "precision")} == \
        {k: best[k] for k in ("jit_compile", "steps_per_execution", "precision")}
    assert record["machine"]["device"] and record["cached"] is False
    info = json.loads((first.run_dir / "run.json").read_text())
    assert info["execution"] == {"jit_compile": best["jit_compile"], "steps_per_execution":
                                 best["steps_per_execution"], "mode": "tuned"}
    assert info["precision"] == best["precision"]


def test_second_run_of_the_same_spec_reads_the_cache(tuned_runs):
    first, second = tuned_runs
    cached = json.loads((second.run_dir / "tuning.json").read_text())
    assert cached["cached"] is True
    assert second.execution == first.execution


def test_tuned_run_starts_from_the_same_weights_as_an_untuned_run(tuned_runs, tmp_path):
    first, _ = tuned_runs
    chosen = first.execution
    plain = train(tiny_spec(), out=tmp_path / "plain", verbose=0,
                  execution=f"jit_compile={str(chosen.jit_compile).lower()},"
                            f"steps_per_execution={chosen.steps_per_execution}")
    # Same seed, settings and data order: only the trials lie between, and they leave no trace.
    np.testing.assert_allclose(first.history["loss"], plain.history["loss"], rtol=1e-4)
    for a, b in zip(first.model.get_weights(), plain.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def overflowing_spec() -> dict:
    """Finite in float32; under float16 the first layer's activations (~1e5, float16 max 65504) overflow to inf."""
    spec = tiny_spec()
    spec["layers"] = [
        {"type": "flatten"},
        {"type": "dense", "units": 16, "activation": "relu", "kernel_initializer": {"type": "constant", "value": 1e4}},
        {"type": "dense", "units": 10, "activation": "softmax", "name": "digit"},
    ]
    return spec


def test_failing_candidate_is_skipped_and_weights_are_restored():
    import keras

    from netspec.build import build_model
    from netspec.runner import data as data_module

    spec = load_spec(overflowing_spec())
    keras.utils.set_random_seed(1)
    splits = data_module.load_splits(spec, spec.data, data_module.spec_signature(spec), seed=1)
    model = build_model(spec)
    initial = [np.array(v) for v in model.get_weights()]
    trials = [tuning.Candidate(False, 4, "float32"), tuning.Candidate(False, 4, "mixed_float16")]
    result = tuning.tune(spec, model, splits, base=Execution(False, 4), policy="float32", device=Device("cpu", "test"),
                         backend="tensorflow", seed=1, trial_candidates=trials, budget_seconds=1e6)
    float16 = result.record["candidates"][1]
    assert float16["status"] == "failed" and "not finite" in float16["note"]
    assert result.precision == "float32" and result.record["candidates"][0]["status"] == "ok"
    assert "failed" in result.line()
    for a, b in zip(initial, result.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_auto_tunes_only_long_runs():
    spec = load_spec(tiny_spec())
    cpu = Device("cpu", "test")
    short = choose_execution("auto", spec, device=cpu, backend="tensorflow", steps_per_epoch=100, epochs=10)
    long = choose_execution("auto", spec, device=cpu, backend="tensorflow", steps_per_epoch=100,
                            epochs=AUTO_TUNE_MIN_STEPS // 100)
    assert (short.mode, long.mode) == ("auto", "tuned")
    explicit = load_spec(tiny_spec(execution={"jit_compile": False, "steps_per_execution": 8}))
    chosen = choose_execution(explicit.training.execution, explicit, device=cpu, backend="tensorflow",
                              steps_per_epoch=100)
    assert (chosen.jit_compile, chosen.steps_per_execution, chosen.mode) == (False, 8, "explicit")


def test_generate_tuned_from_bakes_the_chosen_settings_in(tuned_runs, tmp_path):
    first, _ = tuned_runs
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(json.dumps(tiny_spec()))
    script = tmp_path / "train.py"
    assert main(["generate", str(spec_file), "--tuned-from", str(first.run_dir), "-o", str(script)]) == 0
    text = script.read_text()
    chosen = first.execution
    assert f"JIT_COMPILE = {chosen.jit_compile}\n" in text
    assert f"STEPS_PER_EXECUTION = {chosen.steps_per_execution}\n" in text
    assert f'default="{first.precision}"' in text
    done = subprocess.run([sys.executable, str(script), "--epochs", "1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_too_short_to_repay_a_trial_keeps_the_auto_settings(tmp_path, cache):
    result = train(tiny_spec(epochs=1), execution="tuned", out=tmp_path / "short", verbose=0)
    record = json.loads((result.run_dir / "tuning.json").read_text())
    assert record["candidates"] == [] and "too few" in record["note"]
    assert (result.execution.jit_compile, result.execution.mode) == (False, "tuned")
    assert not cache.exists()  # a longer run of the same spec still tunes
