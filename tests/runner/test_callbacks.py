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
