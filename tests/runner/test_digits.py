"""The README's promise: the digits specs train on this CPU, each in under two minutes, to their accuracy."""

from __future__ import annotations

import time

import pytest
from conftest import SPECS

from netspec.runner import train

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("name", "accuracy"), [
    ("digits_cnn", 0.95),
    ("digits_lstm", 0.90),
    ("digits_conv1d_gru", 0.90),
])
def test_digits_spec_reaches_its_accuracy_in_under_two_minutes(tmp_path, name, accuracy):
    started = time.perf_counter()
    result = train(SPECS / f"{name}.yaml", out=tmp_path / name, verbose=0)
    seconds = time.perf_counter() - started
    assert result.metrics["accuracy"] >= accuracy, result.metrics
    assert seconds < 120, f"{name} took {seconds:.0f} s"
    assert result.precision == "float32" and len(result.history["loss"]) == result.epochs
