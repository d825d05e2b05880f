"""`train`: the run folder, callbacks, precision policies, data errors, the CLI verb."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_support import tiny_spec

from netspec import DataError, load_spec
from netspec.cli import main
from netspec.load import loaded
from netspec.runner import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return train(tiny_spec(epochs=3), out=tmp_path_factory.mktemp("run") / "r", verbose=0)


def test_run_folder_holds_every_file(result):
    names = {p.relative_to(result.run_dir).as_posix() for p in result.run_dir.rglob("*") if p.is_file()}
    for name in ("spec.yaml", "run.json", "model.keras", "history.json", "history.csv", "metrics.json",
                 "plots/loss.png", "plots/accuracy.png", "model.svg"):
        assert name in names
    assert not any(n.startswith("backup/") or "/." in n or n.startswith(".") for n in names)  # state and temporaries gone


def test_metrics_use_keras_names_and_match_the_model(result):
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics) == {"loss", "accuracy"} and metrics == result.metrics
    assert 0.5 < metrics["accuracy"] <= 1.0


def test_history_json_and_csv(result):
    history = json.loads((result.run_dir / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.values())
    assert history["loss"][2] < history["loss"][0]
    lines = (result.run_dir / "history.csv").read_text().splitlines()
    assert lines[0].split(",")[0] == "epoch" and len(lines) == 4
    row = dict(zip(lines[0].split(","), lines[2].split(",")))
    assert float(row["val_loss"]) == pytest.approx(history["val_loss"][1])


def test_resolved_spec_reloads_to_the_same_model(result):
    spec = load_spec(result.run_dir / "spec.yaml")
    assert spec.training.epochs == 3 and spec.training.seed == 1 and spec.data.source == "builtin:digits"
    assert loaded(spec).shapes.total == result.model.count_params()


def test_saved_model_predicts_like_the_trained_one(result):
    import keras

    loaded = keras.saving.load_model(result.run_dir / "model.keras")
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)


def test_plots_are_png(result):
    for name in ("loss", "accuracy"):
        assert (result.run_dir / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_folder_holds_a_picture_of_the_network_with_its_blocks(tmp_path):
    import xml.etree.ElementTree as ET

    spec = tiny_spec(epochs=1)
    spec["blocks"] = {"features": {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"}]}}
    spec["layers"][0] = {"type": "block", "block": "features", "name": "stem"}
    run_dir = train(spec, out=tmp_path / "r", verbose=0).run_dir
    root = ET.parse(run_dir / "model.svg").getroot()
    shown = {"".join(e.itertext()) for e in root.iter() if e.tag.endswith("}text")}
    assert {"stem_0: block features", "stem_0_conv2d", "(None, 6, 6, 4)", "digit", "(None, 10)"} <= shown


def test_a_picture_that_cannot_be_drawn_is_a_note_not_a_failed_run(tmp_path, monkeypatch):
    from netspec.errors import DrawNote
    from netspec.runner import trainer
    from netspec.runner.run import RunFolder

    def broken(*args, **kwargs):
        raise RuntimeError("no picture today")

    monkeypatch.setattr("netspec.drawing.save", broken)
    with pytest.warns(DrawNote, match="model.svg was not written: no picture today"):
        trainer._draw(loaded(load_spec(tiny_spec())), None, RunFolder(tmp_path))
    assert not (tmp_path / "model.svg").exists()


def test_tensorboard_event_reader_reads_the_logs(result):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_log = EventAccumulator(str(result.run_dir / "logs" / "train")).Reload()
    validation_log = EventAccumulator(str(result.run_dir / "logs" / "validation")).Reload()
    assert [e.step for e in train_log.Scalars("epoch_loss")] == [0, 1, 2]
    assert [e.value for e in validation_log.Scalars("epoch_accuracy")] == pytest.approx(
        result.history["val_accuracy"], abs=1e-6)


def test_run_json_records_the_settings(result):
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["precision"] == "float32" and info["epochs_run"] == 3
    # 3 epochs of 21 steps: a CPU run too short to repay the multi-step loop's trace (runtime.choose_settings)
    assert info["execution"] == {"jit_compile": False, "steps_per_execution": 1, "mode": "auto"}
    assert info["samples"] == {"train": 1294, "validation": 144, "test": 359} and info["samples_per_second"] > 0


def test_one_line_per_epoch_when_not_a_terminal(tmp_path, capsys):
    train(tiny_spec(epochs=2), out=tmp_path / "r")
    out = capsys.readouterr().out
    # Keras's own `verbose=2` lines: the epoch, then its metrics on one line.
    lines = out.splitlines()
    epochs = [i for i, line in enumerate(lines) if line.startswith("Epoch ")]
    assert [lines[i] for i in epochs] == ["Epoch 1/2", "Epoch 2/2"]
    assert " - loss: " in lines[epochs[1] + 1] and "val_accuracy: " in lines[epochs[1] + 1]
    assert "\x08" not in out and "━" not in out  # no progress bar


def test_runs_go_under_runs_name_timestamp(tmp_path):
    result = train(tiny_spec(epochs=1), runs_root=tmp_path / "runs", verbose=0)
    assert result.run_dir.parent == tmp_path / "runs" / "tiny" and len(result.run_dir.name) == 15


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_each_precision_policy_trains_with_float32_outputs(tmp_path, policy):
    import keras

    result = train(tiny_spec(epochs=1), precision=policy, out=tmp_path / "r", verbose=0)
    model = result.model
    compute = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[policy]
    assert model.get_layer("conv2d").compute_dtype == compute
    assert model.get_layer("conv2d").kernel.dtype == "float32"  # variables stay float32
    assert model.get_layer("digit").compute_dtype == "float32"
    assert model.outputs[0].dtype == "float32"
    prediction = model(np.zeros((2, 8, 8, 1), "float32"))
    assert keras.backend.standardize_dtype(prediction.dtype) == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    assert result.precision == policy and np.isfinite(result.metrics["loss"])
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_spec_callbacks(tmp_path):
    callbacks = [
        {"type": "early_stopping", "monitor": "val_loss", "patience": 0, "min_delta": 10.0},
        {"type": "reduce_lr_on_plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5, "min_delta": 10.0},
        {"type": "model_checkpoint", "filepath": "ckpt/best.keras"},
        {"type": "tensorboard", "log_dir": "tb", "write_graph": False},
        {"type": "csv_logger", "filename": "log.csv"},
        {"type": "backup_and_restore", "backup_dir": "state", "delete_checkpoint": False},
        "terminate_on_nan",
    ]
    result = train(tiny_spec(epochs=5, callbacks=callbacks), out=tmp_path / "r", verbose=0)
    run = result.run_dir
    assert result.epochs == 2  # early stopping: no epoch improves val_loss by 10
    assert result.history["learning_rate"] == pytest.approx([0.01, 0.01])  # the rate each epoch ran with
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.005)  # halved after the second
    assert (run / "ckpt" / "best.keras").exists() and (run / "state" / "latest.weights.h5").exists()
    assert len((run / "log.csv").read_text().splitlines()) == 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert "epoch_loss" in EventAccumulator(str(run / "tb" / "train")).Reload().Tags()["tensors"]


def test_terminate_on_nan(tmp_path):
    # The NaN is in the labels of a regression loss, so the loss itself is NaN whatever the kernels do. (NaN inputs
    # do not do: on CPUs with AVX-512/bfloat16, oneDNN's ReLU and max kernels turn NaN into 0 before the loss.)
    path = tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    y = rng.random((200, 10), dtype="float32")
    y[::2] = np.nan  # half the samples: every batch of 16 holds some
    np.savez(path, x=rng.random((200, 8, 8, 1), dtype="float32"), y=y)
    result = train(tiny_spec(epochs=4, loss="mse", callbacks=["terminate_on_nan"], batch_size=16), data=str(path),
                   execution="steps_per_execution=1", out=tmp_path / "r", verbose=0)
    assert result.epochs <= 1  # stopped in the first epoch, not after all 4
    assert json.loads((result.run_dir / "metrics.json").read_text())["loss"] is None  # NaN is written as null


def test_data_that_does_not_fit_fails_before_training(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((20, 28, 28, 1)), y=np.zeros(20))
    with pytest.raises(DataError, match=r"\(None, 28, 28, 1\).*\(None, 8, 8, 1\)"):
        train(tiny_spec(), data=str(path), out=tmp_path / "r", verbose=0)
    assert not (tmp_path / "r").exists()


def test_cli_train(tmp_path, capsys):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=1)))
    assert main(["train", str(spec), "--out", str(tmp_path / "r"), "--batch-size", "128"]) == 0
    out = capsys.readouterr().out
    assert f"run folder: {tmp_path / 'r'}" in out and "test: accuracy: " in out
    assert "test metrics" not in out  # the test metrics once: the trainer's line
    assert load_spec(tmp_path / "r" / "spec.yaml").training.batch_size == 128


def test_cli_data_error_is_one_line_and_exit_1(tmp_path, capsys):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=1)))
    assert main(["train", str(spec), "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netspec: error: data source") and "Traceback" not in err


def test_training_needs_data(tmp_path):
    spec = tiny_spec()
    del spec["data"]
    with pytest.raises(DataError, match="--data builtin:digits"):
        train(spec, out=tmp_path / "r", verbose=0)


def test_overrides_and_augmentation_that_acts_in_training_only(tmp_path):
    from netspec.runner import evaluate

    spec = tiny_spec()
    spec["layers"][:0] = [{"type": "random_flip", "mode": "horizontal", "seed": 3},
                          {"type": "random_contrast", "factor": 0.5, "seed": 4}]
    result = train(spec, overrides=["training.epochs=1", "training.batch_size=128"], out=tmp_path / "r", verbose=0)
    assert result.epochs == 1 and load_spec(result.run_dir / "spec.yaml").training.batch_size == 128
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype="float32")
    assert not np.allclose(result.model(x, training=True), result.model(x, training=False))
    # Inference leaves the data alone: evaluating twice gives the run's own test metrics.
    assert evaluate(result.run_dir) == evaluate(result.run_dir) == pytest.approx(result.metrics, abs=1e-6)


def test_arguments_keras_refuses_are_located_spec_errors(tmp_path):
    from netspec import SpecError

    spec = tiny_spec()
    spec["training"]["loss"] = {"type": "sparse_categorical_crossentropy", "from_logit": True}
    with pytest.raises(SpecError) as info:
        train(spec, out=tmp_path / "r", verbose=0)
    assert info.value.diagnostics[0].path == "training.loss" and "from_logit" in info.value.diagnostics[0].message
    assert not (tmp_path / "r").exists()


def test_a_run_freezes_the_objects_that_exist_and_leaves_a_process_that_froze_its_own(monkeypatch):
    import gc

    from netspec.runner import trainer

    assert gc.get_freeze_count() == 0
    seen = []

    class Planned(Exception):
        pass

    def plan(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        raise Planned

    monkeypatch.setattr(trainer, "_plan", plan)
    with pytest.raises(Planned):
        train(tiny_spec(), verbose=0)
    assert seen[0] > 0 and gc.get_freeze_count() == 0  # while the run goes on, and no longer
    gc.freeze()  # a process that manages its own (a server before it forks)
    try:
        frozen = gc.get_freeze_count()
        with trainer.frozen_objects():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_fit_is_called_near_the_start_of_each_netspec_function_on_the_stack(monkeypatch):
    # TensorFlow captures the Python stack for every op it traces, and finding a frame's line walks its function's
    # line table up to the call: `fit` called 150 lines into one function traced the addition RNN 0.07 s slower.
    # So each of the runner's functions on the way to `fit` calls the next within its first few statements.
    import os
    import sys

    import keras

    import netspec

    package = os.path.dirname(netspec.__file__)
    offsets = {}

    def fit(self, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(package):
                offsets[frame.f_code.co_name] = frame.f_lasti  # bytes of bytecode before the call
            frame = frame.f_back
        raise KeyboardInterrupt  # enough: the run stops as at Ctrl-C

    monkeypatch.setattr(keras.Model, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_spec(epochs=1), verbose=0)
    assert {"train", "_run", "_fit"} <= offsets.keys()
    assert max(offsets.values()) <= 512, offsets
