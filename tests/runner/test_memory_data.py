"""The library API trains on data held in memory: NumPy arrays, lists and dicts by input and output name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_support import tiny_spec
from sklearn.datasets import load_digits

import netspec
from netspec import DataError

pytestmark = pytest.mark.slow


def digits():
    data = load_digits()
    return (data.images / 16.0).astype("float32")[..., None], data.target


def test_train_on_arrays_checks_splits_and_records(tmp_path):
    x, y = digits()
    result = netspec.train(tiny_spec(epochs=2), data=(x, y), out=tmp_path / "run", verbose=0)
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["samples"] == {"train": 1294, "validation": 144, "test": 359}  # the spec's shares, as for files
    assert result.metrics["accuracy"] > 0.5 and result.model is not None
    assert "memory:arrays" in (result.run_dir / "spec.yaml").read_text()
    # The same seed splits arrays as it splits the same samples read from a file.
    from_file = tmp_path / "digits.npz"
    np.savez(from_file, x=x, y=y)
    again = netspec.train(tiny_spec(epochs=2), data=str(from_file), out=tmp_path / "file", verbose=0)
    assert again.history.keys() == result.history.keys()
    for key, values in result.history.items():
        assert again.history[key] == pytest.approx(values, rel=1e-6), key


def test_dicts_by_name_and_separate_validation_and_test(tmp_path):
    x, y = digits()
    result = netspec.train(tiny_spec(epochs=1), data={"image": x[:1000], "digit": y[:1000]},
                           validation_data=(x[1000:1200], y[1000:1200]), test_data=({"image": x[1200:]}, y[1200:]),
                           out=tmp_path / "run", verbose=0)
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["samples"] == {"train": 1000, "validation": 200, "test": 597}


def test_arrays_that_do_not_fit_are_a_data_error_before_anything_is_made(tmp_path):
    x, y = digits()
    with pytest.raises(DataError) as info:
        netspec.train(tiny_spec(), data=(x[:, :4], y), out=tmp_path / "run", verbose=0)
    assert "(None, 4, 8, 1)" in str(info.value) and "(None, 8, 8, 1) float32" in str(info.value)
    with pytest.raises(DataError, match=r"arrays for \['pixels'\].*inputs are \['image'\]"):
        netspec.train(tiny_spec(), data=({"pixels": x}, y), out=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_run_on_memory_data_cannot_be_resumed_from_its_folder(tmp_path):
    x, y = digits()
    run = netspec.train(tiny_spec(epochs=1), data=(x, y), out=tmp_path / "run", verbose=0).run_dir
    info = json.loads((run / "run.json").read_text())
    info["status"] = "running"
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="held in memory"):
        netspec.train(None, resume=run, verbose=0)


def test_a_reshape_of_the_features_is_said_in_one_line(tmp_path, capsys):
    from netspec.cli import main
    from netspec.errors import DataNote

    x, y = digits()
    with pytest.warns(DataNote, match=r"shape \(None, 64\); reshaped to input `image`'s \(None, 8, 8, 1\)"):
        netspec.train(tiny_spec(epochs=1), data=(x.reshape(len(x), 64), y), out=tmp_path / "run", verbose=0)
    np.savez(tmp_path / "flat.npz", x=x.reshape(len(x), 64), y=y)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=1)))
    assert main(["train", str(spec), "--data", str(tmp_path / "flat.npz"), "--out", str(tmp_path / "cli")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "reshaped" in line]
    assert len(notes) == 1 and notes[0].startswith("netspec: note: ") and "flat.npz: features `x`" in notes[0]


def test_class_weight_weighs_the_loss_and_auto_balances(tmp_path):
    from netspec import runtime

    x, y = digits()
    plain = netspec.train(tiny_spec(epochs=1), data=(x, y), out=tmp_path / "plain", verbose=0)
    weighted = netspec.train(tiny_spec(epochs=1, class_weight={0: 50.0}), data=(x, y), out=tmp_path / "w",
                             verbose=0)
    assert weighted.history["loss"][0] > 2 * plain.history["loss"][0]  # class 0's errors count 50 times
    assert weighted.history["val_loss"] != plain.history["val_loss"]  # and training went elsewhere
    labels = np.array([0, 0, 0, 1])
    assert runtime.balanced_class_weight(labels) == {0: 4 / 6, 1: 2.0}


def test_train_on_a_tf_data_dataset(tmp_path):
    import tensorflow as tf

    x, y = digits()
    batches = tf.data.Dataset.from_tensor_slices((x[:1500], y[:1500])).shuffle(1500, seed=0).batch(64)
    held_out = tf.data.Dataset.from_tensor_slices((x[1500:], y[1500:])).batch(64)
    result = netspec.train(tiny_spec(epochs=2), data=batches, validation_data=held_out, test_data=held_out,
                           out=tmp_path / "run", verbose=0)
    assert result.epochs == 2 and "val_loss" in result.history and result.metrics["accuracy"] > 0.5
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["samples"]["train"] is None and info["execution"]["steps_per_execution"] == 1  # 2 epochs of its 24 batches: too few steps for the loop
    flat = tf.data.Dataset.from_tensor_slices((x.reshape(len(x), 64), y)).batch(64)
    with pytest.raises(DataError, match=r"batches of shape \(None, 64\) for input `image`, which takes"):
        netspec.train(tiny_spec(), data=flat, out=tmp_path / "bad", verbose=0)
    with pytest.raises(netspec.UsageError, match="tuning times steps of one device on NumPy data"):
        netspec.train(tiny_spec(execution="tuned"), data=batches, out=tmp_path / "tuned", verbose=0)
