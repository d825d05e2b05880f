"""A script reads, checks and splits data exactly as `netspec train` does (netspec.runner.data).

For each kind of source, the script's `load_data(source, seed)` must give the same train, validation
and test arrays as the runner's `load_splits` with the same seed, sample for sample; data that does
not fit the model must stop both: the runner with a DataError naming both shapes, the script with an
exception.
"""

from __future__ import annotations

import runpy

import numpy as np
import pytest

import netspec
from netspec import lowering
from netspec.errors import DataError
from netspec.load import load_spec
from netspec.runner import data as runner_data
from netspec.runner import sources

SEED = 11


def script_module(spec, tmp_path):
    path = tmp_path / "train_script.py"
    path.write_text(netspec.generate_script(spec), encoding="utf-8")
    return runpy.run_path(str(path), run_name="loaded")


def runner_splits(spec):
    spec = load_spec(spec)
    inputs, outputs = lowering.ports(spec)
    plan = lowering.lower_program(spec, data_kind=sources.kind_of(spec.data.source, spec.data.format)).data
    return runner_data.load_splits(plan, inputs, outputs, seed=SEED)


def assert_same_arrays(script_value, runner_value):
    """One array, or a dict of arrays by input (output) name: the same names, dtypes, shapes and values."""
    if isinstance(runner_value, dict):
        assert isinstance(script_value, dict) and set(script_value) == set(runner_value)
        for name, expected in runner_value.items():
            assert_same_arrays(script_value[name], expected)
        return
    assert isinstance(script_value, np.ndarray) and isinstance(runner_value, np.ndarray)
    assert script_value.dtype == runner_value.dtype and script_value.shape == runner_value.shape
    np.testing.assert_array_equal(script_value, runner_value)


def assert_same_split(script_part, runner_part, spec):
    if runner_part is None:
        assert script_part is None
        return
    loaded = load_spec(spec)
    x, y = script_part
    names = [i.name for i in loaded.inputs]
    if len(names) > 1:  # Keras form: a dict by input name, or one array
        assert isinstance(x, dict) and sorted(x) == sorted(names)
    else:
        assert isinstance(x, np.ndarray)
    assert_same_arrays(x, runner_part.x)
    assert_same_arrays(y, runner_part.y)


def assert_mirrors_runner(spec, tmp_path, source=None):
    """The script's parts are the runner's; a folder's (file paths and class ids) are also read alike: what the
    script's `stream` gives is what the runner feeds. Returns the script's parts, a folder's read into arrays."""
    module = script_module(spec, tmp_path)
    loaded = load_spec(spec)
    # Scripts of file data read `source` (--data); the others read the spec's own data set.
    named = loaded.data.source == "synthetic" or loaded.data.source.startswith(("builtin:", "keras:"))
    load_data = module["load_data"]
    parts = load_data(SEED) if named else load_data(source or loaded.data.source, SEED)
    splits = runner_splits(spec)
    for part, runner_part in zip(parts, (splits.train, splits.validation, splits.test)):
        assert_same_split(part, runner_part, spec)
    if splits.train.read is None:
        return parts
    reader = lowering.file_reader(sources.kind_of(loaded.data.source, loaded.data.format), loaded.data,
                                  lowering.ports(loaded)[0])
    read = module[reader.function](*reader.args)  # the script's own, as its main() makes it
    read_parts = []
    for part, runner_part in zip(parts, (splits.train, splits.validation, splits.test)):
        if part is not None:
            stream = module["stream"](part, read, module["INPUTS"], module["LABELS"], len(part[0]))
            part = next(stream.as_numpy_iterator())
            assert_same_split(part, runner_part.in_memory(), spec)
        read_parts.append(part)
    return tuple(read_parts)


def spec_with(inputs, layers, data, loss="sparse_categorical_crossentropy", outputs=None):
    spec = {"name": "reader", "inputs": inputs, "layers": layers, "data": data,
            "training": {"loss": loss, "validation_split": 0.2}}
    if outputs:
        spec["outputs"] = outputs
    return spec


IMAGE_NET = [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]


def test_builtin_digits_as_images_and_as_sequences(tmp_path):
    images = spec_with([{"name": "image", "shape": [8, 8, 1]}], IMAGE_NET, "builtin:digits")
    train, validation, test = assert_mirrors_runner(images, tmp_path)
    assert train[0].shape[1:] == (8, 8, 1) and 0.0 <= train[0].min() and train[0].max() == 1.0
    assert len(train[1]) + len(validation[1]) + len(test[1]) == 1797
    rows = spec_with([{"name": "rows", "shape": [8, 8]}], IMAGE_NET, "builtin:digits_sequence")
    (x, _), _, _ = assert_mirrors_runner(rows, tmp_path)
    assert x.shape[1:] == (8, 8)


def test_synthetic_data_is_the_runners(tmp_path):
    spec = spec_with(
        [{"name": "tokens", "shape": [None], "dtype": "int32"}, {"name": "features", "shape": [3]}],
        [{"type": "embedding", "input_dim": 5, "output_dim": 4, "inputs": ["tokens"]},
         {"type": "global_average_pooling1d", "name": "pooled"},
         {"type": "concatenate", "inputs": ["pooled", "features"]},
         {"type": "dense", "units": 3, "activation": "softmax", "name": "kind"},
         {"type": "dense", "units": 1, "activation": "sigmoid", "inputs": ["pooled"], "name": "flag"},
         {"type": "dense", "units": 2, "inputs": ["pooled"], "name": "value"}],
        {"source": "synthetic", "samples": 40, "test_split": 0.25},
        loss={"kind": "sparse_categorical_crossentropy", "flag": "binary_crossentropy", "value": "mse"},
        outputs=["kind", "flag", "value"])
    assert_mirrors_runner(spec, tmp_path)


def test_npz_with_named_keys_and_separate_validation_and_test(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", pixels=rng.random((30, 4, 4)).astype("float32"), labels=rng.integers(0, 3, 30))
    np.savez(tmp_path / "val.npz", pixels=rng.random((6, 4, 4)), labels=rng.integers(0, 3, 6))
    spec = spec_with([{"name": "image", "shape": [4, 4, 1]}],
                     [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}],
                     {"source": str(tmp_path / "train.npz"), "x": "pixels", "y": "labels",
                      "validation": str(tmp_path / "val.npz"), "test": str(tmp_path / "val.npz")})
    train, validation, test = assert_mirrors_runner(spec, tmp_path)
    assert train[0].shape == (30, 4, 4, 1)  # a size-1 channels axis is added, as the runner adds it
    assert len(validation[1]) == 6 and len(test[1]) == 6


def test_npz_keys_named_like_inputs_and_outputs(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", a=rng.random((20, 2)), b=rng.random((20, 3)), out=rng.random((20, 1)))
    spec = spec_with([{"name": "a", "shape": [2]}, {"name": "b", "shape": [3]}],
                     [{"type": "concatenate", "inputs": ["a", "b"]}, {"type": "dense", "units": 1, "name": "out"}],
                     {"source": str(tmp_path / "d.npz")}, loss="mse")
    assert_mirrors_runner(spec, tmp_path)


@pytest.mark.parametrize("header", [True, False])
def test_csv_tables(tmp_path, header):
    rng = np.random.default_rng(2)
    rows = [[f"{v:.5f}" for v in rng.random(3)] + [str(rng.integers(0, 2))] for _ in range(25)]
    lines = ([["a", "b", "c", "label"]] if header else []) + rows
    (tmp_path / "t.csv").write_text("\n".join(",".join(r) for r in lines) + "\n", encoding="utf-8")
    spec = spec_with([{"name": "m", "shape": [3]}], [{"type": "dense", "units": 2, "activation": "softmax"}],
                     {"source": str(tmp_path / "t.csv")})
    assert_mirrors_runner(spec, tmp_path)


def test_image_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    for name in ("cats", "dogs"):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pictures" / name / f"{i}.png")
    (tmp_path / "pictures" / "empty").mkdir()  # a folder without images is no class
    spec = spec_with([{"name": "picture", "shape": [12, 12, 3]}], IMAGE_NET,
                     {"source": str(tmp_path / "pictures"), "test_split": 0.25})
    train, _, _ = assert_mirrors_runner(spec, tmp_path)
    assert train[0].shape[1:] == (12, 12, 3) and train[0].max() > 1  # floats in [0, 255]
    gray = spec_with([{"name": "picture", "shape": [6, 6, 1]}], IMAGE_NET,
                     {"source": str(tmp_path / "pictures"), "image_size": [6, 6]})
    assert_mirrors_runner(gray, tmp_path)


def test_text_folders(tmp_path):
    for label, name in enumerate(("neg", "pos")):
        (tmp_path / "texts" / name).mkdir(parents=True)
        for i in range(5):
            (tmp_path / "texts" / name / f"{i}.txt").write_text(f"text {i} of class {label} ü", encoding="utf-8")
    spec = spec_with([{"name": "text", "shape": [], "dtype": "string"}],
                     [{"type": "reshape", "target_shape": [1]}, {"type": "dense", "units": 2}],
                     {"source": str(tmp_path / "texts"), "format": "text_folder"})
    train, _, _ = assert_mirrors_runner(spec, tmp_path)
    assert train[0].dtype.kind == "O" and "class" in train[0][0].decode()  # strings, as the runner's


def test_keras_datasets_keep_their_test_set(tmp_path, monkeypatch):
    import keras

    rng = np.random.default_rng(4)
    fake = ((rng.integers(0, 256, (20, 6, 6), dtype=np.uint8), rng.integers(0, 10, (20, 1))),
            (rng.integers(0, 256, (5, 6, 6), dtype=np.uint8), rng.integers(0, 10, (5, 1))))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    spec = spec_with([{"name": "image", "shape": [6, 6, 1]}], IMAGE_NET, "keras:mnist")
    train, _, test = assert_mirrors_runner(spec, tmp_path)
    assert len(test[1]) == 5 and train[0].max() <= 1.0


def test_data_that_does_not_fit_stops_both(tmp_path):
    spec = spec_with([{"name": "image", "shape": [28, 28, 1]}], IMAGE_NET, "builtin:digits")
    with pytest.raises(DataError) as info:
        runner_splits(spec)
    message = str(info.value)
    assert "(None, 8, 8, 1)" in message and "(None, 28, 28, 1)" in message and "`image`" in message
    module = script_module(spec, tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - the script stops with NumPy's or Keras's own error
        module["load_data"](SEED)


def test_npy_features_have_no_labels(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((10, 3), dtype="float32"))
    spec = spec_with([{"name": "m", "shape": [3]}], [{"type": "dense", "units": 2}], {"source": str(tmp_path / "f.npy")})
    with pytest.raises(DataError, match="no labels"):
        runner_splits(spec)
    module = script_module(spec, tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - the script stops too, at the latest in model.fit
        module["main"](["--data", str(tmp_path / "f.npy"), "--epochs", "1", "--out", str(tmp_path / "run"),
                        "--seed", "1", "--precision", "float32"])
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_script_feeds_numpy_arrays_by_name(tmp_path):
    """The script gives model.fit NumPy arrays, a dict by name for several inputs and outputs, on every backend."""
    import json

    import keras

    spec = spec_with([{"name": "a", "shape": [3]}, {"name": "b", "shape": [2]}],
                     [{"type": "concatenate", "inputs": ["a", "b"]},
                      {"type": "dense", "units": 3, "activation": "softmax", "name": "kind"},
                      {"type": "dense", "units": 1, "inputs": ["concatenate"], "name": "level"}],
                     {"source": "synthetic", "samples": 24},
                     loss={"kind": "sparse_categorical_crossentropy", "level": "mse"}, outputs=["kind", "level"])
    module = script_module(spec, tmp_path)
    train, _, _ = module["load_data"](SEED)
    x, y = train
    assert set(x) == {"a", "b"} and set(y) == {"kind", "level"}
    assert all(isinstance(array, np.ndarray) for array in (*x.values(), *y.values()))
    module["main"](["--epochs", "1", "--out", str(tmp_path / "run"), "--seed", "1", "--precision", "float32"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"loss", "kind_loss", "level_loss"} <= set(metrics)
    keras.backend.clear_session()
