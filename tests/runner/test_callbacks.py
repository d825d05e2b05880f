"""Callbacks: the `auto` mode rule against Keras's metric directions, and `monitor` checked before training."""

from __future__ import annotations

import json

import pytest
from runner_support import tiny_spec

from netspec.cli import main
from netspec.errors import SpecError
from netspec.runner import train
from netspec.runner.callbacks import monitor_mode
from netspec.runner.compile import snake_case
from netspec.schema.training import METRICS

# Metrics whose constructor needs arguments, with the least it takes.
REQUIRED_ARGS = {
    "io_u": {"num_classes": 2, "target_class_ids": [0]},
    "one_hot_io_u": {"num_classes": 2, "target_class_ids": [0]},
    "mean_io_u": {"num_classes": 2},
    "one_hot_mean_io_u": {"num_classes": 2},
}


def test_auto_mode_agrees_with_the_direction_keras_gives_each_metric():
    import keras

    classes = {snake_case(name): cls for name, cls in vars(keras.metrics).items() if isinstance(cls, type)}
    checked = 0
    for name in METRICS:
        if name not in classes:
            continue  # an alias (`acc`, `mae`): a function without a direction
        direction = getattr(classes[name](**REQUIRED_ARGS.get(name, {})), "_direction", None)
        if direction is None:
            continue  # counts (true_positives, ...): Keras gives no direction either
        expected = {"up": "max", "down": "min"}[direction]
        assert monitor_mode(f"val_{name}", "auto") == expected, name
        assert monitor_mode(name, "auto") == expected, name
        checked += 1
    assert checked >= 30


def test_misspelt_monitor_is_a_located_error_before_the_run_folder_exists(tmp_path, capsys):
    spec = tiny_spec(callbacks=[{"type": "early_stopping", "monitor": "val_acuracy", "patience": 2}])
    spec["training"]["metrics"] = ["accuracy"]
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec, indent=2))
    assert main(["train", str(spec_file), "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(spec_file.read_text().splitlines(), 1) if "val_acuracy" in text)
    assert f"spec.json:{line}:" in err and "training.callbacks[0].monitor" in err
    assert "does not log `val_acuracy`" in err and "did you mean `val_accuracy`?" in err
    assert not (tmp_path / "run").exists()


def test_validation_monitor_without_validation_data_says_how_to_get_it(tmp_path):
    spec = tiny_spec(callbacks=[{"type": "reduce_lr_on_plateau", "monitor": "val_loss"}])
    spec["data"] = {"source": "builtin:digits", "validation_split": 0}
    with pytest.raises(SpecError) as caught:
        train(spec, out=tmp_path / "run", verbose=0)
    message = str(caught.value)
    assert "only with validation data" in message and "validation_split" in message


def test_monitor_of_a_metric_without_direction_trains_where_keras_auto_mode_gives_up(tmp_path):
    # FalseNegatives has no `_direction`: Keras's own `auto` stops the run at the first epoch's end ("isn't able
    # to automatically determine whether that metric should be maximized or minimized"); netspec's rule says min.
    spec = tiny_spec(callbacks=[{"type": "early_stopping", "monitor": "val_false_negatives", "patience": 5}],
                     epochs=3, loss="mse", metrics=["false_negatives"])
    spec["layers"][-1] = {"type": "dense", "units": 1, "name": "digit"}  # the digit as a number: regression
    result = train(spec, out=tmp_path / "run", verbose=0)
    assert len(result.history["val_false_negatives"]) == 3


def test_saving_does_not_rebuild_kerass_skip_sets_for_every_save(tmp_path):
    # Keras's saving looks its per-kind skip sets up under another key than it stores them, and so builds
    # a bare Layer (and Optimizer, Metric) on every save; the runner caches them. A bare Layer is counted.
    import keras
    from keras.src.layers.layer import Layer
    from keras.src.saving import saving_lib

    from netspec.build import build_model
    from netspec.runner import callbacks

    model = build_model(tiny_spec())
    model.save_weights(tmp_path / "first.weights.h5")
    built = []
    init = Layer.__init__

    def counted(self, *args, **kwargs):
        if type(self) is Layer:
            built.append(self)
        init(self, *args, **kwargs)

    keras.src.layers.layer.Layer.__init__ = counted
    try:
        callbacks.cache_saving_skipsets()
        model.save_weights(tmp_path / "second.weights.h5")  # fills the cache
        built.clear()
        model.save_weights(tmp_path / "third.weights.h5")
    finally:
        Layer.__init__ = init
    assert built == []
    assert hasattr(saving_lib.get_attr_skipset, "cache_info")
    callbacks.cache_saving_skipsets()  # a second call wraps nothing again
    assert not hasattr(saving_lib.get_attr_skipset.__wrapped__, "cache_info")
    model.load_weights(tmp_path / "third.weights.h5")  # what is saved still loads


def _backup_after_saves(tmp_path, saves: int):
    """The runner's Backup of the tiny model, saved after `saves` epochs; the weights grow by 1 each epoch.
    Returns the model, the callback and the first weight's value at each save."""
    import numpy as np

    from netspec.build import build_model
    from netspec.runner import callbacks

    model = build_model(tiny_spec())
    backup = callbacks.backup([], type("Run", (), {"resolve": lambda self, p: tmp_path / p})())
    backup.set_model(model)
    values = []
    for epoch in range(saves):
        if epoch:
            for variable in model.trainable_variables:
                variable.assign(variable + 1.0)
        values.append(np.array(model.trainable_variables[0]))
        backup.on_epoch_end(epoch)
    return model, backup, values


def _saved_epoch(path) -> int:
    return json.loads(open(path).read())["epoch"]


def _first_weight(model, path, tmp_path):
    """The first weight as the file `path` holds it (Keras loads only files named .weights.h5)."""
    import shutil

    import numpy as np

    shutil.copy(path, tmp_path / "check.weights.h5")
    model.load_weights(tmp_path / "check.weights.h5")
    return np.array(model.trainable_variables[0])


def test_backup_keeps_the_previous_epoch_by_a_link_not_a_copy(tmp_path):
    import os

    import numpy as np

    model, backup, values = _backup_after_saves(tmp_path, 2)
    current, previous = backup._weights_path, backup._prev_weights_path
    second = os.stat(current).st_ino
    assert (_saved_epoch(backup._training_metadata_path), _saved_epoch(backup._prev_training_metadata_path)) == (2, 1)
    np.testing.assert_array_equal(_first_weight(model, previous, tmp_path), values[0])
    np.testing.assert_array_equal(_first_weight(model, current, tmp_path), values[1])
    backup.on_epoch_end(2)  # the third save: the second's file is now the previous one, the same file
    assert os.stat(previous).st_ino == second != os.stat(current).st_ino
    assert sorted(os.listdir(backup.backup_dir)) == sorted(
        os.path.basename(p) for p in (current, previous, backup._training_metadata_path,
                                      backup._prev_training_metadata_path))


def test_backup_restores_the_previous_epoch_where_the_last_does_not_load(tmp_path):
    import numpy as np

    from netspec.build import build_model
    from netspec.runner import callbacks

    _, backup, values = _backup_after_saves(tmp_path, 2)
    with open(backup._weights_path, "wb") as damaged:  # its own file: the previous one is another
        damaged.write(b"not hdf5")
    model = build_model(tiny_spec())
    restoring = callbacks.backup([], type("Run", (), {"resolve": lambda self, p: tmp_path / p})())
    restoring.set_model(model)
    restoring.on_train_begin()  # Keras's restore
    assert model._initial_epoch == 1
    np.testing.assert_array_equal(model.trainable_variables[0], values[0])


def test_backup_copies_where_the_file_system_has_no_links(tmp_path, monkeypatch):
    import os

    import numpy as np

    def no_links(*args):
        raise PermissionError("no hard links here")

    monkeypatch.setattr(os, "link", no_links)
    model, backup, values = _backup_after_saves(tmp_path, 3)
    assert (_saved_epoch(backup._training_metadata_path), _saved_epoch(backup._prev_training_metadata_path)) == (3, 2)
    np.testing.assert_array_equal(_first_weight(model, backup._prev_weights_path, tmp_path), values[1])


def test_backup_leaves_no_file_a_failed_save_was_writing_and_names_such_files_as_temporaries(tmp_path):
    import os

    import pytest

    from netspec.runner import callbacks
    from netspec.runner.run import RunFolder

    model, backup, _ = _backup_after_saves(tmp_path, 2)
    before = sorted(os.listdir(backup.backup_dir))

    def disk_full(path, **kwargs):
        with open(path, "wb") as partial:
            partial.write(b"half a file")
        raise OSError("No space left on device")

    model.save_weights = disk_full
    with pytest.raises(OSError, match="No space"):
        backup.on_epoch_end(2)
    assert sorted(os.listdir(backup.backup_dir)) == before
    # A kill mid-save leaves the files being written: a resumed run removes them with its other temporaries.
    left = [callbacks._temporary(backup._weights_path, ".weights.h5"), callbacks._temporary(backup._prev_weights_path)]
    for path in left:
        open(path, "wb").close()
    folder = RunFolder.__new__(RunFolder)
    folder.path = tmp_path
    folder.remove_stale_temporaries()
    assert not any(os.path.exists(path) for path in left)
    assert sorted(os.listdir(backup.backup_dir)) == before


def test_backup_without_double_checkpoint_keeps_no_previous_files(tmp_path):
    import os

    from netspec.build import build_model
    from netspec.runner import callbacks

    model = build_model(tiny_spec())
    backup = callbacks._classes().Backup(str(tmp_path / "backup"), double_checkpoint=False, delete_checkpoint=False)
    backup.set_model(model)
    for epoch in range(2):
        backup.on_epoch_end(epoch)
    assert sorted(os.listdir(tmp_path / "backup")) == ["latest.weights.h5", "training_metadata.json"]


def test_the_history_takes_the_epoch_keras_runs_even_one_it_already_holds(tmp_path):
    # A resume reads the history up to the last backup's epoch; where that backup does not load, Keras falls back
    # to the one before and runs the epoch again: the history must not hold it twice.
    from netspec.runner import callbacks

    written = []
    run = type("Run", (), {"write_history": lambda self, history, durable: written.append(history)})()
    recorder = callbacks.recorder(run, {"loss": [0.9, 0.7, 0.5], "accuracy": [0.1, 0.3, 0.5]})
    recorder.on_epoch_begin(2)
    recorder.on_epoch_end(2, {"loss": 0.45, "accuracy": 0.55})
    assert recorder.history == {"loss": [0.9, 0.7, 0.45], "accuracy": [0.1, 0.3, 0.55]} == written[-1]
    recorder.on_epoch_begin(3)
    recorder.on_epoch_end(3, {"loss": 0.4, "accuracy": 0.6})
    assert recorder.epochs == 4 and recorder.history["loss"][-1] == 0.4
