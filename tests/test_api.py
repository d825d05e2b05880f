"""The library API as a Keras user expects it: build_model compiles a spec that says how to train; dir(netspec)."""

from __future__ import annotations

import numpy as np

import netspec

TINY = {"name": "tiny", "inputs": [{"name": "x", "shape": [4]}],
        "layers": [{"type": "dense", "units": 3, "activation": "softmax", "name": "probs"}]}


def test_build_model_compiles_a_spec_with_a_training_section():
    spec = {**TINY, "training": {"optimizer": {"type": "sgd", "learning_rate": 0.05}, "loss": "sparse_categorical_crossentropy",
                                 "metrics": ["accuracy"]}}
    model = netspec.build_model(spec)
    assert model.compiled and type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == np.float32(0.05)
    history = model.fit(np.random.rand(16, 4), np.arange(16) % 3, epochs=1, verbose=0)  # no "call compile()" error
    assert set(history.history) == {"loss", "accuracy"}


def test_build_model_leaves_a_spec_without_training_uncompiled_unless_asked():
    assert not netspec.build_model(TINY).compiled
    model = netspec.build_model(TINY, compile=True)  # the format's defaults: adam, sparse categorical crossentropy
    assert model.compiled and type(model.optimizer).__name__ == "Adam"


def test_dir_lists_the_lazy_names():
    assert {"build_model", "train", "evaluate", "predict", "generate_script", "load_spec", "summarize"} <= set(dir(netspec))


def test_no_docstring_points_at_a_file_the_project_lacks():
    import inspect
    import pkgutil
    from pathlib import Path

    root = Path(netspec.__file__).resolve().parents[1]
    for module in pkgutil.walk_packages(netspec.__path__, "netspec."):
        source = Path(netspec.__file__).parent.joinpath(*module.name.split(".")[1:])
        path = source.with_suffix(".py") if source.with_suffix(".py").exists() else source / "__init__.py"
        text = path.read_text(encoding="utf-8")
        for name in ("DESIGN.md", "STYLE.md"):
            assert name not in text or (root / name).exists(), (module.name, name)
    assert inspect.getdoc(netspec.summarize)


def test_default_learning_rates_are_keras_own():
    """The runner passes them and scripts print them (so both compile the same config): they must be Keras's."""
    import inspect

    import keras

    from netspec.schema.training import DEFAULT_LEARNING_RATES, OPTIMIZERS

    for name, (keras_class, _) in OPTIMIZERS.items():
        default = inspect.signature(getattr(keras.optimizers, keras_class)).parameters["learning_rate"].default
        assert DEFAULT_LEARNING_RATES[name] == default, name
