"""Data sources, their fit to the model's inputs, splits: no training here."""

from __future__ import annotations

import numpy as np
import pytest
from runner_support import tiny_spec

from netspec import DataError, load_spec, lowering
from netspec.lowering import Port
from netspec.runner import data as data_module
from netspec.runner import fitting, sources


def refs(inputs, outputs, seed=0) -> dict:
    """The values of a reader's Ref arguments, as load_splits gives them."""
    return {"seed": seed, "INPUTS": {p.name: p.features for p in inputs},
            "OUTPUTS": {p.name: (p.shape, p.label_kind) for p in outputs}}


def raw_of(source, spec=None, **options):
    """`source` (with the spec's `data` options) read as the runner reads it: (Raw, inputs, outputs)."""
    kind = sources.kind_of(source, options.get("format", "auto"))
    spec = spec or tiny_spec()
    spec["data"] = {"source": source, **options}
    loaded = load_spec(spec)
    inputs, outputs = lowering.ports(loaded)
    plan = lowering.lower_program(loaded, data_kind=kind).data
    return sources.read(plan.reader, refs(inputs, outputs), inputs, outputs, plan.read), inputs, outputs


def read(source, spec=None, **options) -> data_module.Part:
    """`source` read and fitted to the model: features and labels as model.fit takes them (a streamed part's
    samples read into memory)."""
    raw, inputs, outputs = raw_of(source, spec, **options)
    return data_module.fitted(raw, inputs, outputs, source).in_memory()


def splits_of(spec, seed):
    loaded = load_spec(spec)
    inputs, outputs = lowering.ports(loaded)
    plan = lowering.lower_program(loaded, data_kind=sources.kind_of(loaded.data.source, loaded.data.format)).data
    return data_module.load_splits(plan, inputs, outputs, seed=seed)


def test_builtin_digits_are_8x8x1_images_in_unit_range():
    arrays = read("builtin:digits")
    x, y = arrays.x, arrays.y  # one input and one output: plain arrays, as model.fit takes them
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.dtype == np.int32 and set(np.unique(y)) == set(range(10))


def test_builtin_digits_sequence_is_8_steps_of_8_features():
    spec = tiny_spec()
    spec["inputs"] = [{"name": "rows", "shape": [8, 8]}]
    spec["layers"] = [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
    arrays = read("builtin:digits_sequence", spec)
    assert arrays.x.shape == (1797, 8, 8)
    np.testing.assert_array_equal(arrays.x, read("builtin:digits").x[..., 0])


def test_unknown_builtin_names_the_known_ones():
    with pytest.raises(DataError, match="builtin:digits_sequence"):
        read("builtin:mnist")


def test_npz_with_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.rand(20, 8, 8).astype("float64"), y=np.arange(20) % 10)
    arrays = read(str(path))
    assert arrays.x.shape == (20, 8, 8, 1) and arrays.x.dtype == np.float32  # channel added
    assert arrays.y.dtype == np.int32


def test_npz_keys_named_after_inputs_and_outputs(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((5, 8, 8, 1)), digit=np.ones(5))
    arrays = read(str(path))
    assert arrays.y.tolist() == [1] * 5


def test_npz_without_feature_key_lists_its_keys(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((5, 64)), labels=np.zeros(5))
    with pytest.raises(DataError, match=r"keys \['features', 'labels'\].*data.x"):
        read(str(path))
    arrays = read(str(path), x="features", y="labels")
    assert arrays.x.shape == (5, 8, 8, 1)


def test_wrong_shape_names_both_shapes(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 28, 28, 3)), y=np.zeros(5))
    with pytest.raises(DataError) as info:
        read(str(path))
    message = str(info.value)
    assert "(None, 28, 28, 3)" in message and "(None, 8, 8, 1) float32" in message and "`image`" in message


def test_text_into_a_numeric_input_is_refused(tmp_path):
    path = tmp_path / "texts"
    for label in ("a", "b"):
        (path / label).mkdir(parents=True)
        (path / label / "1.txt").write_text(f"text of {label}")
    with pytest.raises(DataError, match="hold text.*dtype: string"):
        read(str(path))


def test_text_folder_gives_strings_for_a_string_input(tmp_path):
    path = tmp_path / "texts"
    for label in ("neg", "pos"):
        (path / label).mkdir(parents=True)
        for i in range(3):
            (path / label / f"{i}.txt").write_text(f"{label} review {i}")
    inputs = (Port("text", (1,), "string"),)
    outputs = (Port("dense", (2,), "float32", "sparse_categorical_crossentropy"),)
    assert sources.kind_of(str(path)) == "text_folder"
    call = lowering.reader("text_folder", str(path), None, inputs, outputs)
    raw = sources.read(call, refs(inputs, outputs), inputs, outputs, lowering.file_reader("text_folder", None, inputs))
    part = data_module.fitted(raw, inputs, outputs, str(path))
    assert raw.class_names == ["neg", "pos"]
    assert part.read is not None and len(part) == 6  # the files' paths: each read as training takes it
    x, y = part.in_memory().x, part.in_memory().y
    assert x.shape == (6, 1) and x[0, 0] == b"neg review 0"
    assert y.tolist() == [0, 0, 0, 1, 1, 1]


def test_labels_beyond_the_output_units(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 8, 8, 1)), y=np.array([0, 1, 2, 11, 3]))
    with pytest.raises(DataError, match=r"range over 0\.\.11.*10 units.*units: 12"):
        read(str(path))


def test_one_hot_labels_with_a_sparse_loss(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 8, 8, 1)), y=np.eye(10)[[0, 1, 2, 3, 4]])
    with pytest.raises(DataError, match="one-hot.*categorical_crossentropy"):
        read(str(path))


def test_fractional_values_into_an_integer_input(tmp_path):
    spec = tiny_spec()
    spec["inputs"] = [{"name": "tokens", "shape": [4], "dtype": "int32"}]
    spec["layers"] = [{"type": "embedding", "input_dim": 10, "output_dim": 2}, {"type": "flatten"},
                      {"type": "dense", "units": 10, "activation": "softmax"}]
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((3, 4), 0.5), y=np.zeros(3))
    with pytest.raises(DataError, match="fractional.*int32"):
        read(str(path), spec)
    np.savez(path, x=np.ones((3, 4)), y=np.zeros(3))
    assert read(str(path), spec).x.dtype == np.int32


def test_csv_with_header_and_label_column(tmp_path):
    path = tmp_path / "d.csv"
    rows = ["label," + ",".join(f"p{i}" for i in range(64))]
    rows += [f"{k % 10}," + ",".join(str((k + i) % 17 / 16) for i in range(64)) for k in range(12)]
    path.write_text("\n".join(rows) + "\n")
    arrays = read(str(path))
    assert arrays.x.shape == (12, 8, 8, 1)
    assert arrays.y.tolist() == [k % 10 for k in range(12)]
    assert arrays.x[1, 0, 1, 0] == pytest.approx(2 / 16)


def test_csv_with_a_bad_cell(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n1,x,1\n")
    with pytest.raises(DataError, match="must be a number"):
        read(str(path))


def test_image_folder(tmp_path):
    from PIL import Image

    for label, value in (("cat", 0), ("dog", 255)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (16, 16), color=value).save(tmp_path / label / f"{i}.png")
    arrays = read(str(tmp_path))  # resized to the input's 8x8, one channel
    assert arrays.x.shape == (6, 8, 8, 1)
    assert arrays.x[:3].max() == 0 and arrays.x[3:].min() == 255
    assert arrays.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_missing_path():
    with pytest.raises(DataError, match="does not exist.*builtin:digits"):
        read("no/such/file.npz")


def test_npy_holds_features_only(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 64)))
    raw, inputs, outputs = raw_of(str(path))
    x, y = fitting.fit(raw, inputs, outputs, str(path), labels_required=False)
    assert x.shape == (4, 8, 8, 1) and y is None
    with pytest.raises(DataError, match="no labels"):
        fitting.fit(raw, inputs, outputs, str(path))
    whole = data_module.read_whole(str(path), inputs, outputs, labels_required=False)  # what `predict` reads
    assert whole.x.shape == (4, 8, 8, 1) and whole.y is None
    with pytest.raises(DataError, match="no labels"):
        data_module.read_whole(str(path), inputs, outputs, labels_required=True)


def test_synthetic_follows_inputs_outputs_and_loss():
    spec = tiny_spec()
    spec["training"]["loss"] = "mse"
    arrays = read("synthetic", spec, samples=7)
    assert arrays.x.shape == (7, 8, 8, 1)
    assert arrays.y.shape == (7, 10) and arrays.y.dtype == np.float32
    sparse = read("synthetic", samples=7)
    assert sparse.y.shape == (7,) and sparse.y.max() < 10


def test_splits_are_disjoint_sized_and_seeded():
    spec = tiny_spec(validation_split=0.1)
    spec["data"] = {"source": "builtin:digits", "test_split": 0.2}
    splits = splits_of(spec, seed=3)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (1294, 144, 359)
    rows = [{arr.tobytes() for arr in part.x} for part in (splits.train, splits.validation, splits.test)]
    assert not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    again = splits_of(spec, seed=3)
    np.testing.assert_array_equal(again.test.x, splits.test.x)
    other = splits_of(spec, seed=4)
    assert not np.array_equal(other.test.x, splits.test.x)


def test_separate_validation_source(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, x=np.zeros((9, 8, 8, 1)), y=np.zeros(9))
    spec = tiny_spec()
    spec["data"] = {"source": "builtin:digits", "validation": str(path)}
    splits = splits_of(spec, seed=0)
    assert len(splits.validation) == 9 and len(splits.train) + len(splits.test) == 1797


def test_fit_arguments_are_arrays_batched_and_shuffled_by_keras():
    from keras.src.trainers.data_adapters import get_data_adapter

    arrays = read("builtin:digits")
    small = arrays.take(np.arange(100))
    args = data_module.fit_arguments(small, batch_size=32, shuffle=True)
    assert set(args) == {"x", "y", "batch_size", "shuffle"}
    assert args["x"] is small.x and args["y"] is small.y and isinstance(args["x"], np.ndarray)
    assert args["batch_size"] == 32 and args["shuffle"] is True
    # model.fit hands them to Keras's array adapter: batches of 32, reshuffled every epoch
    adapter = get_data_adapter(**args)
    batches = list(adapter.get_numpy_iterator())
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]
    first = np.concatenate([b[1] for b in batches])
    second = np.concatenate([b[1] for b in adapter.get_numpy_iterator()])
    assert sorted(first) == sorted(small.y) and not np.array_equal(first, second)  # reshuffled
    evaluation = data_module.fit_arguments(small, batch_size=32, training=False)
    assert "shuffle" not in evaluation and evaluation["batch_size"] == 32
    unlabelled = data_module.fit_arguments(data_module.Part(small.x), batch_size=8, training=False)
    assert set(unlabelled) == {"x", "batch_size"}
