"""The README's promise: the digits specs train on this CPU to their accuracy, with the auto settings and tuned.

(How long they take is the benchmarks' business: benchmarks/bench_train.py and bench_tuning.py.)
"""

from __future__ import annotations

import json

import pytest
from conftest import SPECS

from netspec.runner import train, tuning

pytestmark = pytest.mark.slow

ACCURACY = {"digits_cnn": 0.95, "digits_lstm": 0.90, "digits_conv1d_gru": 0.90}


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_digits_spec_reaches_its_accuracy(tmp_path, name):
    result = train(SPECS / f"{name}.yaml", out=tmp_path / name, verbose=0)
    assert result.metrics["accuracy"] >= ACCURACY[name], result.metrics
    assert result.precision == "float32" and len(result.history["loss"]) == result.epochs


@pytest.mark.parametrize("native_bf16", [False, True], ids=["emulated-bf16", "native-bf16"])
@pytest.mark.parametrize("name", ["digits_cnn", "digits_conv1d_gru"])
def test_tuning_does_not_trade_accuracy_away(tmp_path, monkeypatch, name, native_bf16):
    # A digits run is too short to repay every trial; without the savings rule every candidate runs, so the run
    # trains with whatever the trials chose, as a longer run would. The candidates include mixed_bfloat16 only on
    # CPUs with native bfloat16: both kinds are taken, whatever this machine's CPU.
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tuning, "SAVING_OVER_COST", 0.0)
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "avx512" if native_bf16 else "")
    result = train(SPECS / f"{name}.yaml", out=tmp_path / name, verbose=0, execution="tuned")
    record = json.loads((result.run_dir / "tuning.json").read_text())
    ran = [c for c in record["candidates"] if c["status"] == "ok"]
    assert len(ran) >= 2 and result.execution.mode == "tuned"
    assert ("mixed_bfloat16" in {c["precision"] for c in record["candidates"]}) == native_bf16
    assert result.metrics["accuracy"] >= ACCURACY[name], (result.metrics, record["choice"])


def test_bfloat16_chosen_by_tuning_keeps_the_digits_cnn_accuracy(tmp_path, monkeypatch):
    # Where tuning picks mixed_bfloat16 (a CPU with native bfloat16, where it trains faster), the digits CNN's test
    # accuracy stays within 1 point of float32's. Whether it wins a real trial depends on the CPU, so the trial's
    # speed is doubled here; its loss, which decides whether it is accepted, is measured.
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "avx512")
    monkeypatch.setattr(tuning, "SAVING_OVER_COST", 0.0)
    narrowed, measure = tuning.candidates, tuning._measure
    monkeypatch.setattr(tuning, "candidates", lambda *args, **kwargs: narrowed(*args, **kwargs)[:2])

    def faster_bfloat16(model, candidate, *args):
        measured = measure(model, candidate, *args)
        boost = 2.0 if candidate.precision == "mixed_bfloat16" else 1.0
        return {**measured, "samples_per_second": boost * measured["samples_per_second"]}

    monkeypatch.setattr(tuning, "_measure", faster_bfloat16)
    bf16 = train(SPECS / "digits_cnn.yaml", out=tmp_path / "bf16", verbose=0, execution="tuned")
    assert bf16.precision == "mixed_bfloat16", json.loads((bf16.run_dir / "tuning.json").read_text())
    float32 = train(SPECS / "digits_cnn.yaml", out=tmp_path / "float32", verbose=0, precision="float32",
                    execution="auto")
    assert abs(bf16.metrics["accuracy"] - float32.metrics["accuracy"]) <= 0.01, (bf16.metrics, float32.metrics)
