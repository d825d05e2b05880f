"""`netspec export` and `--export onnx`: a missing extra, names and dtypes of an ONNX export, mixed precision,
augmentation layers, and failures that become one line and leave no file."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from conftest import SPECS
from runner_support import tiny_spec

import netspec
from netspec.cli import main
from netspec.errors import ExportError, UsageError
from netspec.runner.export import sample_batch

NEEDS_EXTRA = "ONNX export needs the `onnx` extra: pip install -e '.[onnx]'"

TWO_WAY = """\
name: two_way
inputs: [{name: features, shape: [4]}, {name: tokens, shape: [3], dtype: int32}]
layers:
  - {type: embedding, input_dim: 5, output_dim: 2, inputs: [tokens], name: embedded}
  - {type: flatten, name: flat}
  - {type: concatenate, inputs: [features, flat], name: joined}
  - {type: dense, units: 2, activation: softmax, name: label}
  - {type: dense, units: 1, inputs: [joined], name: score}
outputs: [label, score]
"""

AUGMENTED = {
    "name": "augmented", "inputs": [{"name": "image", "shape": [8, 8, 3]}],
    "layers": [{"type": "random_flip"}, {"type": "random_rotation", "factor": 0.2},
               {"type": "random_contrast", "factor": 0.5}, {"type": "conv2d", "filters": 2, "kernel_size": 3}],
}


@pytest.fixture
def onnxruntime():
    for name in ("onnx", "tf2onnx"):
        pytest.importorskip(name, reason=NEEDS_EXTRA)
    return pytest.importorskip("onnxruntime", reason=NEEDS_EXTRA)


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ----- without the extra -----


@pytest.fixture
def without_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name in ("onnx", "tf2onnx") else real(name, *a, **k))


def test_onnx_without_the_extra_says_which_extra_to_install(without_the_extra, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", str(SPECS / "digits_cnn.yaml"), "--format", "onnx", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netspec: error: exporting as onnx needs the optional `onnx` extra (onnx, ")
    assert "tf2onnx not installed" in err
    assert "pip install -e '.[onnx]'" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()
    # train refuses before it trains: no run folder
    assert main(["train", str(SPECS / "digits_cnn.yaml"), "--export", "onnx", "--out", str(tmp_path / "run")]) == 2
    assert "`onnx` extra" in capsys.readouterr().err and not (tmp_path / "run").exists()
    with pytest.raises(UsageError, match=r"`onnx` extra"):
        netspec.export(SPECS / "digits_cnn.yaml", "onnx", out)


def test_a_folder_that_is_not_a_saved_model_is_never_replaced(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["export", str(SPECS / "digits_cnn.yaml"), "--format", "saved_model", "-o", str(tmp_path)]) == 2
    assert "holds no SavedModel" in capsys.readouterr().err and (tmp_path / "notes.txt").read_text() == "mine"


# ----- with it -----


@pytest.mark.slow
def test_export_a_spec_with_several_inputs_and_outputs(onnxruntime, tmp_path, capsys):
    spec = tmp_path / "two_way.yaml"
    spec.write_text(TWO_WAY)
    out = tmp_path / "two_way.onnx"
    assert main(["export", str(spec), "--format", "onnx", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out} (onnx; largest difference from Keras's predictions on 4 samples: ")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("features", ["batch", 4], "tensor(float)"), ("tokens", ["batch", 3], "tensor(int32)")]
    assert [(o.name, o.shape, o.type) for o in session.get_outputs()] == [
        ("label", ["batch", 2], "tensor(float)"), ("score", ["batch", 1], "tensor(float)")]
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_the_export_predicts_what_keras_predicts_on_other_data(onnxruntime, tmp_path):
    model = netspec.build_model(TWO_WAY, compile=False)
    written = netspec.export(model, "onnx", tmp_path / "m.onnx")
    assert written.format == "onnx" and written.samples == 4 and 0 <= written.max_abs_diff <= 1e-4
    x = sample_batch(model, samples=32, seed=7)  # not the batch the export was checked on
    label, score = model.predict(x, verbose=0)
    session = onnxruntime.InferenceSession(str(written.path), providers=["CPUExecutionProvider"])
    got = session.run(["label", "score"], {"features": x[0], "tokens": x[1]})
    np.testing.assert_allclose(got[0], label, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got[1], score, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_mixed_precision_run_exports_in_float32(onnxruntime, tmp_path, capsys):
    run = netspec.train(tiny_spec(epochs=1), precision="mixed_float16", out=tmp_path / "run", export=["onnx"],
                        verbose=0)
    info = json.loads((run.run_dir / "run.json").read_text())
    assert info["precision"] == "mixed_float16" and info["export_max_abs_diff"]["onnx"] <= 1e-4
    session = onnxruntime.InferenceSession(str(run.run_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == [o.type for o in session.get_outputs()] == ["tensor(float)"]
    # The export computes in float32 with the trained weights: within float16 rounding of the mixed model.
    x = sample_batch(run.model, samples=64, seed=3)[0]
    mixed = run.model.predict(x, verbose=0)
    exported = session.run(None, {"image": x})[0]
    assert 0 < np.max(np.abs(exported - mixed)) < 2e-3
    # and `netspec export` takes the run folder itself
    out = tmp_path / "again.onnx"
    assert main(["export", str(run.run_dir), "--format", "onnx", "-o", str(out)]) == 0
    np.testing.assert_allclose(onnxruntime.InferenceSession(str(out)).run(None, {"image": x})[0], exported,
                               atol=1e-6, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("format", ["onnx", "saved_model"])
def test_augmentation_layers_do_not_augment_exported_predictions(format, tmp_path, request):
    # Keras's export calls the model without training=False, and these layers' default is to augment.
    if format == "onnx":
        request.getfixturevalue("onnxruntime")
    model = netspec.build_model(AUGMENTED, compile=False)
    written = netspec.export(model, format, tmp_path / ("m.onnx" if format == "onnx" else "m"))
    assert written.max_abs_diff <= 1e-4
    from netspec.runner.export import load_export

    x = sample_batch(model, samples=8, seed=5)[0]
    np.testing.assert_allclose(load_export(written.path)(x), model.predict(x, verbose=0), atol=1e-5, rtol=0)


GELU = """\
name: gelu_net
inputs: [{name: x, shape: [8]}]
layers:
  - {type: dense, units: 4, activation: gelu, name: hidden}
  - {type: dense, units: 1}
"""
AREA = """\
name: area
inputs: [{name: image, shape: [16, 16, 3]}]
layers:
  - {type: resizing, height: 8, width: 8, interpolation: area, name: smaller}
"""


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "cause"), [
    (GELU, "tf2onnx has no ONNX conversion for the TensorFlow op(s) Erfc (in layer `hidden`); Erfc is the exact "
           "`gelu` activation's"),
    (AREA, "the onnx export's predictions differ from the Keras model's by up to "),
], ids=["unconverted_op", "wrong_conversion"])
def test_a_failed_export_is_one_line_and_leaves_no_file(onnxruntime, spec, cause, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    out = tmp_path / "out" / "model.onnx"
    assert main(["export", str(path), "--format", "onnx", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    name = spec.split("\n")[0].split(": ")[1]
    assert captured.err.startswith(f"netspec: error: exporting `{name}` as onnx failed: {cause}"), captured.err
    assert len(captured.err.splitlines()) == 1 and captured.out == ""
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor its staging folder


@pytest.mark.slow
def test_an_exception_in_the_converter_becomes_an_export_error(onnxruntime, monkeypatch, tmp_path):
    import tf2onnx

    def refuse(*args, **kwargs):
        raise RuntimeError("op Foo is not supported\nand a long trace after it")

    monkeypatch.setattr(tf2onnx.convert, "from_function", refuse)
    with pytest.raises(ExportError, match=r"^exporting `gelu_net` as onnx failed: tf2onnx could not convert the "
                                          r"model: op Foo is not supported$"):
        netspec.export(netspec.build_model(GELU, compile=False), "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
