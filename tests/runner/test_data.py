"""Data sources, their fit to the model's inputs, splits: no training here."""

from __future__ import annotations

import numpy as np
import pytest
from runner_support import tiny_spec

from netspec import DataError, load_spec
from netspec.runner import data as data_module
from netspec.schema.data import Data


def signature(spec=None):
    return data_module.spec_signature(load_spec(spec or tiny_spec()))


def read(source, spec=None, **options):
    sig = signature(spec)
    raw = data_module.read(source, Data(source=source, **options), sig, seed=0)
    return data_module.fit(raw, sig, source)


def test_builtin_digits_are_8x8x1_images_in_unit_range():
    arrays = read("builtin:digits")
    x, y = arrays.x["image"], arrays.y["digit"]
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.dtype == np.int32 and set(np.unique(y)) == set(range(10))


def test_builtin_digits_sequence_is_8_steps_of_8_features():
    spec = tiny_spec()
    spec["inputs"] = [{"name": "rows", "shape": [8, 8]}]
    spec["layers"] = [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
    arrays = read("builtin:digits_sequence", spec)
    assert arrays.x["rows"].shape == (1797, 8, 8)
    np.testing.assert_array_equal(arrays.x["rows"], read("builtin:digits").x["image"][..., 0])


def test_unknown_builtin_names_the_known_ones():
    with pytest.raises(DataError, match="builtin:digits_sequence"):
        read("builtin:mnist")


def test_npz_with_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.rand(20, 8, 8).astype("float64"), y=np.arange(20) % 10)
    arrays = read(str(path))
    assert arrays.x["image"].shape == (20, 8, 8, 1) and arrays.x["image"].dtype == np.float32  # channel added
    assert arrays.y["digit"].dtype == np.int32


def test_npz_keys_named_after_inputs_and_outputs(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((5, 8, 8, 1)), digit=np.ones(5))
    arrays = read(str(path))
    assert arrays.y["digit"].tolist() == [1] * 5


def test_npz_without_feature_key_lists_its_keys(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((5, 64)), labels=np.zeros(5))
    with pytest.raises(DataError, match=r"keys \['features', 'labels'\].*data.x"):
        read(str(path))
    arrays = read(str(path), x="features", y="labels")
    assert arrays.x["image"].shape == (5, 8, 8, 1)


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
    sig = data_module.Signature((data_module.Port("text", (1,), "string"),),
                                (data_module.Port("dense", (2,), "float32", "sparse_categorical_crossentropy"),))
    raw = data_module.read(str(path), Data(source=str(path)), sig)
    arrays = data_module.fit(raw, sig, str(path))
    assert raw.class_names == ["neg", "pos"]
    assert arrays.x["text"].shape == (6, 1) and arrays.x["text"][0, 0] == "neg review 0"
    assert arrays.y["dense"].tolist() == [0, 0, 0, 1, 1, 1]


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
    assert read(str(path), spec).x["tokens"].dtype == np.int32


def test_csv_with_header_and_label_column(tmp_path):
    path = tmp_path / "d.csv"
    rows = ["label," + ",".join(f"p{i}" for i in range(64))]
    rows += [f"{k % 10}," + ",".join(str((k + i) % 17 / 16) for i in range(64)) for k in range(12)]
    path.write_text("\n".join(rows) + "\n")
    arrays = read(str(path))
    assert arrays.x["image"].shape == (12, 8, 8, 1)
    assert arrays.y["digit"].tolist() == [k % 10 for k in range(12)]
    assert arrays.x["image"][1, 0, 1, 0] == pytest.approx(2 / 16)


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
    assert arrays.x["image"].shape == (6, 8, 8, 1)
    assert arrays.x["image"][:3].max() == 0 and arrays.x["image"][3:].min() == 255
    assert arrays.y["digit"].tolist() == [0, 0, 0, 1, 1, 1]


def test_missing_path():
    with pytest.raises(DataError, match="does not exist.*builtin:digits"):
        read("no/such/file.npz")


def test_npy_holds_features_only(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 64)))
    sig = signature()
    raw = data_module.read(str(path), Data(source=str(path)), sig)
    assert data_module.fit(raw, sig, str(path), labels_required=False).x["image"].shape == (4, 8, 8, 1)
    with pytest.raises(DataError, match="no labels"):
        data_module.fit(raw, sig, str(path))


def test_synthetic_follows_inputs_outputs_and_loss():
    spec = tiny_spec()
    spec["training"]["loss"] = "mse"
    arrays = read("synthetic", spec, samples=7)
    assert arrays.x["image"].shape == (7, 8, 8, 1)
    assert arrays.y["digit"].shape == (7, 10) and arrays.y["digit"].dtype == np.float32
    sparse = read("synthetic", samples=7)
    assert sparse.y["digit"].shape == (7,) and sparse.y["digit"].max() < 10


def test_splits_are_disjoint_sized_and_seeded():
    spec = load_spec(tiny_spec(validation_split=0.1))
    options = Data(source="builtin:digits", test_split=0.2)
    sig = data_module.spec_signature(spec)
    splits = data_module.load_splits(spec, options, sig, seed=3)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (1294, 144, 359)
    rows = [{arr.tobytes() for arr in part.x["image"]} for part in (splits.train, splits.validation, splits.test)]
    assert not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    again = data_module.load_splits(spec, options, sig, seed=3)
    np.testing.assert_array_equal(again.test.x["image"], splits.test.x["image"])
    other = data_module.load_splits(spec, options, sig, seed=4)
    assert not np.array_equal(other.test.x["image"], splits.test.x["image"])


def test_separate_validation_source(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, x=np.zeros((9, 8, 8, 1)), y=np.zeros(9))
    spec = load_spec(tiny_spec())
    splits = data_module.load_splits(spec, Data(source="builtin:digits", validation=str(path)),
                                     data_module.spec_signature(spec), seed=0)
    assert len(splits.validation) == 9 and len(splits.train) + len(splits.test) == 1797


def test_tf_dataset_batches_and_shuffles():
    arrays = read("builtin:digits")
    small = arrays.take(np.arange(100))
    args = data_module.fit_arguments(small, batch_size=32, shuffle=True, seed=0)
    batches = list(args["x"])
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]
    first = np.concatenate([b[1].numpy() for b in batches])
    second = np.concatenate([b[1].numpy() for b in args["x"]])
    assert sorted(first) == sorted(small.y["digit"]) and not np.array_equal(first, second)  # reshuffled
