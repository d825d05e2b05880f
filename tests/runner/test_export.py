"""TFLite exports of recurrent models, and what a failed export leaves: no file, a finished run, one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netspec import UsageError
from netspec.cli import main
from netspec.runner import train

pytestmark = pytest.mark.slow

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
RECURRENT = sorted(p for p in SPECS_DIR.glob("*.yaml")
                   if any(f"type: {t}," in p.read_text() for t in ("lstm", "gru", "simple_rnn", "conv_lstm2d")))
# Sequences of unknown length cannot be unrolled: refused before training.
UNKNOWN_LENGTH = {"imdb_bilstm", "rnn_gru_simple_rnn", "shakespeare_gru"}
# Ops besides recurrence that TFLite's builtin ops lack (max_pooling3d is FlexMaxPool3D).
OTHER_FLEX_OPS = {"ucf50_convlstm": "MaxPool3D"}
SMALL_DATA = ["data={source: synthetic, samples: 4, test_split: 0.25}", "training.validation_split=0.25"]


def test_every_recurrent_spec_is_covered():
    assert len(RECURRENT) >= 10, RECURRENT


@pytest.mark.parametrize("path", RECURRENT, ids=lambda p: p.stem)
def test_recurrent_spec_exports_as_tflite(path, tmp_path):
    out = tmp_path / "run"
    if path.stem in UNKNOWN_LENGTH:
        with pytest.raises(UsageError, match="unknown length.*fixed length"):
            train(path, out=out, epochs=1, export=["tflite"], overrides=SMALL_DATA, verbose=0)
        assert not (out / "run.json").exists()  # refused before training
        return
    result = train(path, out=out, epochs=1, export=["tflite"], overrides=SMALL_DATA, verbose=0)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished"
    if path.stem in OTHER_FLEX_OPS:
        assert OTHER_FLEX_OPS[path.stem] in result.export_errors["tflite"]
        assert info["export_errors"] == result.export_errors
        assert not (out / "model.tflite").exists()
    else:
        assert result.export_errors == {} and (out / "model.tflite").is_file()
        if "export_max_abs_diff" in info:  # one input and one output: compared with Keras on test samples
            assert info["export_max_abs_diff"]["tflite"] < 1e-4
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left


POOL3D = """\
name: pool3d
inputs: [{name: volume, shape: [4, 4, 4, 1]}]
layers:
  - {type: max_pooling3d, pool_size: 2}
  - {type: flatten}
  - {type: dense, units: 3, activation: softmax}
training: {loss: sparse_categorical_crossentropy, batch_size: 4, seed: 0}
data: {source: synthetic, samples: 8}
"""


def test_failed_export_is_one_line_and_the_run_finishes(tmp_path, capsys):
    spec = tmp_path / "pool3d.yaml"
    spec.write_text(POOL3D)
    out = tmp_path / "run"
    code = main(["train", str(spec), "--epochs", "1", "--export", "tflite", "--export", "saved_model",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("netspec: error: exporting as tflite failed: "), captured.err
    assert "MaxPool3D" in errors[0] and "Traceback" not in captured.err
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and "MaxPool3D" in info["export_errors"]["tflite"]
    assert not (out / "model.tflite").exists() and (out / "saved_model").is_dir()  # the other export is written
