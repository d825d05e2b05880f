"""Exports (loaded back and compared), `evaluate` and `predict`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_support import tiny_spec

from netspec import DataError, UsageError
from netspec.cli import main
from netspec.runner import evaluate, predict, train
from netspec.runner.export import load_export

pytestmark = pytest.mark.slow

# Float32 models: a SavedModel runs the same TensorFlow kernels as Keras, and
# TFLite's kernels differ only in summation order; both stay within 1e-5 of
# softmax probabilities.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tiny_spec(epochs=2), out=tmp_path_factory.mktemp("verbs") / "r", export=["saved_model", "tflite"],
                 verbose=0)


def digits(n=50):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n] / 16.0).astype("float32")[..., None], d.target[:n]


@pytest.mark.parametrize("format", ["saved_model", "tflite"])
def test_export_loads_back_and_predicts_like_keras(run, format):
    path = run.exports[format]
    assert path == run.run_dir / {"saved_model": "saved_model", "tflite": "model.tflite"}[format]
    x, _ = digits(17)
    got = load_export(path)(x)
    expected = run.model.predict(x, verbose=0)
    assert got.shape == (17, 10)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
    info = json.loads((run.run_dir / "run.json").read_text())
    assert info["export_max_abs_diff"][format] <= TOLERANCE


def test_evaluate_a_run_reuses_its_test_split(run):
    metrics = evaluate(run.run_dir)
    assert metrics == pytest.approx(run.metrics, abs=1e-6)


def test_evaluate_a_model_file_on_data(run, tmp_path):
    x, y = digits(200)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    metrics = evaluate(run.run_dir / "model.keras", data=str(tmp_path / "d.npz"), out=tmp_path / "out")
    expected = run.model.evaluate(x, y, verbose=0, return_dict=True)
    assert metrics == pytest.approx(expected, abs=1e-5)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == pytest.approx(metrics)


def test_evaluate_refuses_a_spec(tmp_path):
    # A spec's weights are freshly initialised: its "metrics" would be a silent wrong answer.
    with pytest.raises(UsageError, match=r"trained model .*netspec train"):
        evaluate(tiny_spec(), data="builtin:digits")


def test_evaluate_says_what_it_scored_and_splits_like_the_run(run, tmp_path, capsys):
    assert main(["evaluate", str(run.run_dir / "model.keras"), "--data", "builtin:digits"]) == 0
    err = capsys.readouterr().err
    assert "scored all 1797 samples of builtin:digits" in err and "--split test" in err
    assert main(["evaluate", str(run.run_dir), "--data", "builtin:digits", "--split", "test"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == pytest.approx(run.metrics, abs=1e-6)  # the run's own held-out part
    assert "held-out test samples of builtin:digits" in captured.err
    assert main(["evaluate", str(run.run_dir / "model.keras"), "--data", "builtin:digits", "--split", "test"]) == 2
    assert "needs the run folder" in capsys.readouterr().err


def test_predict_class_ids(run, tmp_path):
    x, _ = digits(30)
    np.save(tmp_path / "x.npy", x)
    ids = predict(run.run_dir, data=str(tmp_path / "x.npy"), output=tmp_path / "c.npy", classes=True)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), run.model.predict(x, verbose=0).argmax(-1))
    np.testing.assert_array_equal(ids, np.load(tmp_path / "c.npy"))
    from netspec.runner.inference import class_ids

    np.testing.assert_array_equal(class_ids(np.array([[0.2], [0.7]])), [0, 1])


def test_evaluate_needs_data_for_a_model_file(run):
    with pytest.raises(UsageError, match="needs --data"):
        evaluate(run.run_dir / "model.keras")


def test_predict_writes_npy(run, tmp_path):
    x, _ = digits(30)
    np.save(tmp_path / "x.npy", x.reshape(30, 64))  # flat rows are reshaped to the input
    predictions = predict(run.run_dir, data=str(tmp_path / "x.npy"), output=tmp_path / "p.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), run.model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_array_equal(predictions, np.load(tmp_path / "p.npy"))


def test_evaluate_and_predict_take_data_held_in_memory(run):
    import tensorflow as tf

    x, y = digits(60)
    expected = run.model.evaluate(x, y.astype("int32"), batch_size=64, verbose=0, return_dict=True)
    assert evaluate(run.run_dir, data=(x, y), verbose=0) == pytest.approx(expected, abs=1e-6)
    assert evaluate(run.model, data={"image": x, "digit": y}, verbose=0) == pytest.approx(expected, abs=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    assert evaluate(run.run_dir, data=dataset, verbose=0) == pytest.approx(expected, abs=1e-5)
    probabilities = predict(run.model, data=x)  # returned, no file
    assert probabilities.shape == (60, 10)
    np.testing.assert_array_equal(predict(run.run_dir, data=(x, y), classes=True), probabilities.argmax(-1))
    np.testing.assert_allclose(predict(run.model, data=tf.data.Dataset.from_tensor_slices(x).batch(8)),
                               probabilities, atol=1e-6)
    with pytest.raises(DataError, match=r"\(None, 4, 8, 1\)"):
        predict(run.model, data=x[:, :4])


def test_predict_checks_the_data(run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 5)))
    with pytest.raises(DataError, match=r"\(None, 5\).*\(None, 8, 8, 1\)"):
        predict(run.run_dir / "model.keras", data=str(tmp_path / "x.npy"), output=tmp_path / "p.npy")
    with pytest.raises(UsageError, match="run folder or a .keras model"):
        predict(tiny_spec(), data="builtin:digits", output=tmp_path / "p.npy")


def test_cli_evaluate_and_predict(run, tmp_path, capsys):
    assert main(["evaluate", str(run.run_dir), "--data", "builtin:digits"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    x, y = digits(1797)
    expected = run.model.evaluate(x, y.astype("int32"), batch_size=64, verbose=0, return_dict=True)
    assert metrics == pytest.approx(expected, abs=1e-5)
    assert main(["evaluate", str(run.run_dir)]) == 0  # the run's own test split
    assert json.loads(capsys.readouterr().out) == pytest.approx(run.metrics, abs=1e-6)
    out = tmp_path / "preds.npy"
    assert main(["predict", str(run.run_dir / "model.keras"), "--data", "builtin:digits", "-o", str(out)]) == 0
    assert np.load(out).shape == (1797, 10)


def test_evaluate_an_uncompiled_model_file(tmp_path):
    from netspec import build_model

    build_model(tiny_spec(), compile=False).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match="saved without a loss"):
        evaluate(tmp_path / "m.keras", data="builtin:digits")
