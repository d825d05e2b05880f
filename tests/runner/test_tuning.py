"""Execution tuning: trials, the choice, tuning.json, the cache, restored weights, --tuned-from."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from runner_support import tiny_spec
from tuning_support import CPU_IDS, NATIVE_BF16

from netspec.cli import main
from netspec.load import load_spec
from netspec.runner import train, tuning
from netspec.runner.execution import AUTO_TUNE_MIN_STEPS, Execution, choose_execution
from netspec.runner.precision import Device

# Every test fixes the CPU's bfloat16 and has a tuning cache of its own (fixtures in tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("native_bf16", "tuning_cache")]


# Whether the CPU computes bfloat16 natively decides the candidates (mixed_bfloat16 or not). No test takes it from
# the machine it runs on: each fixes it, and those whose expectations depend on it run both ways.




@pytest.fixture(scope="module", params=NATIVE_BF16, ids=CPU_IDS)
def tuned_runs(request, tmp_path_factory):
    """A tuned run with every trial in budget, then a second run of the same spec (served by the cache),
    on a CPU without native bfloat16 and on one with it."""
    native = request.param
    root = tmp_path_factory.mktemp("tuned")
    patch = pytest.MonkeyPatch()
    patch.setattr(tuning, "cpu_bfloat16", lambda: "avx512" if native else "")
    patch.setenv("NETSPEC_CACHE_DIR", str(root / "cache"))
    patch.setattr(tuning, "SAVING_OVER_COST", 0.0)  # a 2-epoch run would not repay the trials: every one runs
    try:
        first = train(tiny_spec(), execution="tuned", out=root / "first", verbose=0)

        def no_trials(*args, **kwargs):
            raise AssertionError("the second run should not run trials")

        patch.setattr(tuning, "_measure", no_trials)
        second = train(tiny_spec(), execution="tuned", out=root / "second", verbose=0)
    finally:
        patch.undo()
    return first, second, native


def test_tuned_run_times_candidates_and_trains_with_the_fastest(tuned_runs):
    first, _, native = tuned_runs
    record = json.loads((first.run_dir / "tuning.json").read_text())
    ran = [c for c in record["candidates"] if c["status"] == "ok"]
    # XLA off/on x steps_per_execution auto/1, under float32 and, where the CPU has native bfloat16, mixed_bfloat16
    precisions = ["float32", "mixed_bfloat16"] if native else ["float32"]
    assert len(record["candidates"]) == 4 * len(precisions)
    assert sorted({c["precision"] for c in record["candidates"]}) == precisions
    assert record["machine"]["native_bfloat16"] is native  # part of the cache key
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
    first, second, _ = tuned_runs
    cached = json.loads((second.run_dir / "tuning.json").read_text())
    assert cached["cached"] is True
    assert second.execution == first.execution


def test_tuned_run_starts_from_the_same_weights_as_an_untuned_run(tuned_runs, tmp_path):
    first, _, _ = tuned_runs
    chosen = first.execution
    # The chosen precision too: on a CPU with native bfloat16 the trials may pick mixed_bfloat16.
    plain = train(tiny_spec(), out=tmp_path / "plain", verbose=0, precision=first.precision,
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
    trials = [tuning.Candidate(False, 4, "float32"), tuning.Candidate(False, 4, "mixed_float16")]
    result, initial, *_ = _tune_tiny(overflowing_spec(), trials)
    float16 = result.record["candidates"][1]
    assert float16["status"] == "failed" and "not finite" in float16["note"]
    assert result.precision == "float32" and result.record["candidates"][0]["status"] == "ok"
    assert "failed" in result.line()
    for a, b in zip(initial, result.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_auto_tunes_only_long_runs():
    spec = load_spec(tiny_spec())
    auto = Execution(False, 32, "auto")  # the rule's settings on a TensorFlow CPU
    short = choose_execution(spec.training.execution, auto, 100, epochs=10)
    long = choose_execution(spec.training.execution, auto, 100, epochs=AUTO_TUNE_MIN_STEPS // 100)
    assert (short.mode, long.mode) == ("auto", "tuned")
    explicit = load_spec(tiny_spec(execution={"jit_compile": False, "steps_per_execution": 8}))
    chosen = choose_execution(explicit.training.execution, auto, 100)
    assert (chosen.jit_compile, chosen.steps_per_execution, chosen.mode) == (False, 8, "explicit")


def test_generate_tuned_from_bakes_the_chosen_settings_in(tuned_runs, tmp_path):
    first, _, _ = tuned_runs
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


def test_a_run_too_short_to_repay_a_trial_keeps_the_auto_settings(tmp_path, tuning_cache):
    result = train(tiny_spec(epochs=1), execution="tuned", out=tmp_path / "short", verbose=0)
    record = json.loads((result.run_dir / "tuning.json").read_text())
    assert record["candidates"] == [] and "too few" in record["note"]
    assert (result.execution.jit_compile, result.execution.mode) == (False, "tuned")
    assert not tuning_cache.exists()  # a longer run of the same spec still tunes


def _tune_tiny(spec_dict, trials):
    """`tune` on a tiny spec's real data and model with the given candidates and an unlimited budget: the result,
    the model's initial weights, the model and the data."""
    import keras

    from netspec.build import build_model
    from netspec.runner import data as data_module

    spec = load_spec(spec_dict)
    keras.utils.set_random_seed(1)
    splits = data_module.spec_splits(spec, seed=1)
    model = build_model(spec)
    initial = [np.array(v) for v in model.get_weights()]
    result = tuning.tune(spec, model, splits, base=Execution(False, 4), policy="float32",
                         device=Device("cpu", "test"), backend="tensorflow", trial_candidates=trials,
                         budget_seconds=1e6)
    return result, initial, model, splits


def test_xla_candidate_that_keras_runs_without_xla_is_skipped():
    # RandomRotation has supports_jit = False: Keras compiles the model without XLA even when asked for it,
    # so the XLA-on trial would only time the XLA-off model again.
    spec = tiny_spec()
    spec["layers"].insert(0, {"type": "random_rotation", "factor": 0.1})
    result, *_ = _tune_tiny(spec, [tuning.Candidate(False, 4, "float32"), tuning.Candidate(True, 4, "float32")])
    off, on = result.record["candidates"]
    assert off["status"] == "ok" and on["status"] == "skipped"
    assert "without XLA" in on["note"] and on["samples_per_second"] is None
    assert result.execution.jit_compile is False


def test_candidate_that_cannot_be_built_is_skipped_with_keras_reason():
    # The rebuild under another dtype policy is part of the trial: Keras refusing the policy fails only that trial.
    trials = [tuning.Candidate(False, 4, "float32"), tuning.Candidate(False, 4, "mixed_float99")]
    result, initial, *_ = _tune_tiny(tiny_spec(), trials)
    failed = result.record["candidates"][1]
    assert failed["status"] == "failed" and "mixed_float99" in failed["note"]
    assert result.precision == "float32"
    for a, b in zip(initial, result.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bfloat16_is_a_candidate_only_on_cpus_with_native_bfloat16(monkeypatch):
    base = Execution(False, 8)
    cpu, gpu = Device("cpu", "test"), Device("gpu", "test")
    tuning_candidates = tuning.candidates

    def candidates(*args, **kwargs):
        return tuning_candidates(*args, **kwargs, steps_per_epoch=8)

    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "")
    assert {c.precision for c in candidates(base, "float32", precision_setting="auto", device=cpu)} == {"float32"}
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "avx512")
    native = candidates(base, "float32", precision_setting="auto", device=cpu)
    assert native[0] == tuning.Candidate(False, 8, "float32")  # the baseline first
    assert native[1] == tuning.Candidate(False, 8, "mixed_bfloat16")  # then bfloat16 with the same settings
    assert len(native) == 8 and {c.precision for c in native} == {"float32", "mixed_bfloat16"}
    # A precision the spec asks for, or a GPU (the runner's precision rule), keeps the precision fixed.
    assert {c.precision for c in candidates(base, "float32", precision_setting="float32", device=cpu)} == {"float32"}
    assert {c.precision for c in candidates(base, "mixed_float16", precision_setting="auto", device=gpu)} == \
        {"mixed_float16"}


@pytest.mark.parametrize("native_bf16", NATIVE_BF16, ids=CPU_IDS, indirect=True)
def test_steps_per_execution_candidates_are_one_and_several_whatever_the_baseline(native_bf16):
    cpu = Device("cpu", "test")
    precisions = ["float32", "mixed_bfloat16"] if native_bf16 else ["float32"]
    several = tuning.candidates(Execution(False, 32), "float32", precision_setting=None, device=cpu, steps_per_epoch=100)
    one = tuning.candidates(Execution(False, 1), "float32", precision_setting=None, device=cpu, steps_per_epoch=100)
    for p in precisions:
        assert [c.steps_per_execution for c in several if c.jit_compile is False and c.precision == p] == [32, 1]
        # the baseline first
        assert [c.steps_per_execution for c in one if c.jit_compile is False and c.precision == p] == [1, 32]
    assert several[0] == tuning.Candidate(False, 32, "float32") and one[0] == tuning.Candidate(False, 1, "float32")
    assert len(several) == len(one) == 4 * len(precisions)
    short = tuning.candidates(Execution(False, 1), "float32", precision_setting=None, device=cpu, steps_per_epoch=1)
    # one step an epoch: XLA off and on (under each precision), nothing more to vary
    assert len(short) == 2 * len(precisions)


def test_run_that_tuning_moves_to_bfloat16_trains_under_it(monkeypatch, tmp_path):
    # Whether mixed_bfloat16 wins a real trial depends on the CPU (it is slow where bfloat16 is emulated): the
    # candidates are narrowed to it to follow the path a winning bfloat16 takes on any machine — rebuild under
    # mixed_bfloat16 with the same initial weights, train.
    import keras

    monkeypatch.setattr(tuning, "SAVING_OVER_COST", 0.0)
    monkeypatch.setattr(tuning, "candidates", lambda base, policy, **kw: [
        tuning.Candidate(base.jit_compile, base.steps_per_execution, "mixed_bfloat16")])
    result = train(tiny_spec(), execution="tuned", out=tmp_path / "bf16", verbose=0)
    assert result.precision == "mixed_bfloat16"
    assert json.loads((result.run_dir / "run.json").read_text())["precision"] == "mixed_bfloat16"
    conv = result.model.get_layer("conv2d")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.kernel.dtype == "float32"
    assert result.model.get_layer("digit").compute_dtype == "float32"  # outputs stay float32
    assert all(np.isfinite(result.history["loss"]))
    assert keras.config.dtype_policy().name == "float32"  # the caller's policy is back
    assert result.metrics["accuracy"] > 0.5


def test_the_chosen_trial_trains_on_compiled_as_it_was_with_its_optimizer_reset():
    import keras

    from netspec.build import build_model
    from netspec.runner import data as data_module
    from netspec.runner.compile import compile_model

    spec = load_spec(tiny_spec())
    result, _, model, splits = _tune_tiny(tiny_spec(), [tuning.Candidate(False, 4, "float32")])
    assert result.compiled and result.model is model and model.train_function is not None
    assert int(model.optimizer.iterations) == 0  # the trial's steps are forgotten: Adam's moments too
    assert all(not np.any(np.array(v)) for v in model.optimizer.variables if "momentum" in v.path or
               "velocity" in v.path)
    traced = model.train_function
    feed = data_module.fit_arguments(splits.train, batch_size=spec.training.batch_size, shuffle=False)
    reused = model.fit(**feed, epochs=2, verbose=0).history
    assert model.train_function is traced  # not traced again

    keras.utils.set_random_seed(1)  # an untuned run: built and compiled anew, the same seed
    fresh = build_model(spec)
    compile_model(fresh, spec.training, jit_compile=False, steps_per_execution=4)
    np.testing.assert_allclose(reused["loss"], fresh.fit(**feed, epochs=2, verbose=0).history["loss"], rtol=1e-6)


def test_training_with_a_partial_last_batch_runs_the_function_the_trial_traced():
    # Keras gives batches a static size only where all are full; the trial's first call includes the training
    # data's partial batch, so its function serves the training data too. A layer's `call` runs in Python only
    # while a function is traced: counting those calls counts traces.
    spec = load_spec(tiny_spec())
    result, _, model, splits = _tune_tiny(tiny_spec(), [tuning.Candidate(False, 4, "float32")])
    batch = spec.training.batch_size
    assert len(splits.train) % batch and result.compiled
    assert tuning._warmup_samples(len(splits.train), batch) == batch + len(splits.train) % batch
    layer = model.get_layer("digit")
    traced = []
    call = layer.call
    layer.call = lambda *args, **kwargs: traced.append(1) or call(*args, **kwargs)
    from netspec.runner import data as data_module

    model.fit(**data_module.fit_arguments(splits.train, batch_size=batch, shuffle=True), epochs=1, verbose=0)
    assert traced == []


def test_warmup_is_one_batch_where_every_batch_is_full_or_the_backend_compiles_each_shape(monkeypatch):
    import keras

    assert tuning._warmup_samples(64, 32) == 32
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # JAX: one shape per compilation
    assert tuning._warmup_samples(70, 32) == 32


def test_trials_give_back_pythons_and_numpys_random_states(monkeypatch):
    # The bfloat16 trial builds a second model, whose initializers draw their seeds from Python's random.
    import random

    states = {}
    trials = tuning._trials

    def recorded(*args, **kwargs):
        states["before"] = random.getstate(), np.random.get_state()[1].copy()
        record = trials(*args, **kwargs)
        states["after"] = random.getstate()
        return record

    monkeypatch.setattr(tuning, "_trials", recorded)
    result, *_ = _tune_tiny(tiny_spec(), [tuning.Candidate(False, 4, "float32"),
                                          tuning.Candidate(False, 4, "mixed_bfloat16")])
    assert result.record["candidates"][1]["status"] == "ok"
    assert states["after"] != states["before"][0]  # the trials drew
    assert random.getstate() == states["before"][0]  # and training draws as if they had not
    np.testing.assert_array_equal(np.random.get_state()[1], states["before"][1])


def test_a_later_trial_leaves_the_fastest_trial_compiled_and_traced_for_training(monkeypatch):
    # The first candidate is the faster; the second, of the same precision, must not compile its model again
    # (the MNIST convnet's training traced a second time, about 1 s): it takes a model of its own.
    measure = tuning._measure
    rates = iter([200.0, 100.0])
    compiled_on = []

    def timed(model, *args):
        compiled_on.append(model)
        return {**measure(model, *args), "samples_per_second": next(rates)}

    monkeypatch.setattr(tuning, "_measure", timed)
    spec = load_spec(tiny_spec())
    result, _, model, splits = _tune_tiny(tiny_spec(), [tuning.Candidate(False, 4, "float32"),
                                                        tuning.Candidate(False, 1, "float32")])
    assert compiled_on[0] is model and compiled_on[1] is not model
    assert result.execution.steps_per_execution == 4 and result.compiled and result.model is model
    assert model.steps_per_execution == 4 and model.train_function is not None
    assert int(model.optimizer.iterations) == 0
    for a, b in zip(model.get_weights(), compiled_on[1].get_weights()):  # both back at the initial values
        np.testing.assert_array_equal(a, b)
    layer = model.get_layer("digit")  # a layer's `call` runs in Python only while a function is traced
    traced = []
    call = layer.call
    layer.call = lambda *args, **kwargs: traced.append(1) or call(*args, **kwargs)
    from netspec.runner import data as data_module

    feed = data_module.fit_arguments(splits.train, batch_size=spec.training.batch_size, shuffle=True)
    model.fit(**feed, epochs=1, verbose=0)
    assert traced == []


def test_a_large_model_is_not_copied_for_a_later_trial(monkeypatch):
    # Over SPARE_MODEL_MAX_BYTES, the later trial compiles the one model again, and training compiles it anew.
    monkeypatch.setattr(tuning, "SPARE_MODEL_MAX_BYTES", 0)
    rates = iter([200.0, 100.0])
    monkeypatch.setattr(tuning, "_measure", lambda model, *args: {"samples_per_second": next(rates), "loss": 1.0,
                                                                  "chunks": 1, "optimizer": []})
    result, _, model, _ = _tune_tiny(tiny_spec(), [tuning.Candidate(False, 4, "float32"),
                                                   tuning.Candidate(False, 1, "float32")])
    assert result.execution.steps_per_execution == 4 and not result.compiled and result.model is model
    assert tuning._variable_bytes(model) == sum(np.array(v).nbytes for v in model.variables)


def test_a_trial_takes_a_model_that_does_not_hold_the_fastest_candidate():
    fastest = tuning.Candidate(False, 4, "float32")
    trials = tuning._Trials(None, [], "own model", "float32")
    trials.built[0].compiled = fastest
    spare = tuning._Built("spare model", "float32", tuning.Candidate(False, 1, "float32"))
    trials.built.append(spare)
    assert trials.free(tuning.Candidate(True, 4, "float32"), fastest) is spare
    assert trials.free(tuning.Candidate(True, 4, "float32"), None) is trials.built[0]
    assert trials.chosen(fastest) == ("own model", True)
    assert trials.chosen(tuning.Candidate(True, 1, "float32")) == ("own model", False)
    assert trials.chosen(tuning.Candidate(False, 4, "mixed_bfloat16")) == (None, False)
