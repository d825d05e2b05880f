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


@pytest.mark.parametrize("name", ["digits_cnn", "digits_conv1d_gru"])
def test_tuning_does_not_trade_accuracy_away(tmp_path, monkeypatch, name):
    # A digits run is too short to repay trials within 5% of its time; a larger budget lets every candidate run,
    # so the run trains with whatever the trials chose, as a longer run would.
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tuning, "BUDGET_FRACTION", 10.0)
    result = train(SPECS / f"{name}.yaml", out=tmp_path / name, verbose=0, execution="tuned")
    record = json.loads((result.run_dir / "tuning.json").read_text())
    ran = [c for c in record["candidates"] if c["status"] == "ok"]
    assert len(ran) >= 2 and result.execution.mode == "tuned"
    assert result.metrics["accuracy"] >= ACCURACY[name], (result.metrics, record["choice"])
