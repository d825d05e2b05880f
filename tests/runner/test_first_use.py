"""What a first-time user hit: --data with --set data.*, evaluate of a spec, and the run's own lines."""

from __future__ import annotations

import numpy as np
import pytest

from netspec.cli import main

pytestmark = pytest.mark.slow

SPEC = """\
name: s
inputs: [{name: frames, shape: [4]}]
layers:
  - {type: dense, units: 3, activation: softmax, name: labels}
training: {loss: sparse_categorical_crossentropy, metrics: [accuracy], batch_size: 4, seed: 0, epochs: 1}
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "other.npz", frames=rng.random((40, 4), dtype="float32"), labels=rng.integers(0, 3, 40))
    return tmp_path


def test_data_and_set_data_combine(files, capsys):
    code = main(["train", "s.yaml", "--data", "other.npz", "--set", "data.x=frames", "--set", "data.y=labels",
                 "--set", "data.test_split=0.25", "--out", "run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    spec = (files / "run" / "spec.yaml").read_text()
    assert "x: frames" in spec and "y: labels" in spec and str(files / "other.npz") in spec
    assert captured.out.count("test: ") == 1 and "test metrics" not in captured.out  # printed once


def test_mixed_float16_on_a_cpu_says_so(files, capsys):
    from netspec.runner.precision import capability, detect_device

    if capability(detect_device()) is not None:
        pytest.skip("a GPU runs mixed_float16 well")
    assert main(["train", "s.yaml", "--data", "other.npz", "--set", "data.x=frames", "--set", "data.y=labels",
                 "--precision", "mixed_float16", "--out", "run"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "mixed_float16" in line]
    assert notes == ["note: mixed_float16 on a CPU is slower than float32 (CPUs compute float16 by converting it); "
                     "precision auto would pick float32 here"]


def test_plots_tick_whole_epochs():
    from netspec.runner.run import plot

    figure = plot({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]}, "loss")
    ticks = figure.axes[0].get_xticks()
    assert len(ticks) and all(t == int(t) for t in ticks), ticks
