"""Data larger than memory: folders are streamed from disk a batch at a time, memory-mapped arrays stay on disk,
.npz archives are read key by key."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from runner_support import tiny_spec

import netspec
from netspec import DataError, load_spec, lowering, runtime
from netspec.runner import data as data_module
from netspec.runner import fitting, sources

CLASSES = ("cat", "dog", "eel")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Three class folders of 9x11 RGB PNGs (one in a subfolder of its class, as Keras lists it too)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    for label in CLASSES:
        (root / label / "more").mkdir(parents=True)
        for i in range(6):
            where = root / label / ("more" if i == 5 else "") / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(where)
        (root / label / "notes.txt").write_text("not an image")
    return root


def picture_spec(source, **data) -> dict:
    spec = tiny_spec(epochs=2, batch_size=4)
    spec["inputs"] = [{"name": "image", "shape": [8, 8, 3]}]
    spec["layers"][-1]["units"] = len(CLASSES)
    spec["data"] = {"source": str(source), "test_split": 0.2, **data}
    return spec


def splits_of(spec, seed=3):
    loaded = load_spec(spec)
    inputs, outputs = lowering.ports(loaded)
    program = lowering.lower_program(loaded, data_kind=sources.kind_of(loaded.data.source, loaded.data.format))
    return data_module.load_splits(program.data, inputs, outputs, seed=seed)


def batches(part, **kwargs) -> list:
    """Every batch the runner feeds of `part`, as NumPy."""
    return list(data_module.fit_arguments(part, batch_size=4, training=False, **kwargs)["x"].as_numpy_iterator())


# ----- folders -----


def test_a_folder_is_listed_as_keras_lists_it_and_read_as_keras_reads_it(pictures):
    import keras

    paths, ids = runtime.list_folder(str(pictures), lowering.FOLDER_KINDS["image_folder"])
    keras_images = keras.utils.image_dataset_from_directory(pictures, image_size=(8, 8), batch_size=None,
                                                            shuffle=False, verbose=False)
    assert paths.tolist() == keras_images.file_paths  # the same files (not notes.txt), in the same order
    assert ids.tolist() == [label for _, label in keras_images.as_numpy_iterator()]
    read = runtime.image_reader((8, 8), 3)
    inputs, labels = {"image": ((8, 8, 3), "float32")}, {"digit": ((), "int32")}
    streamed = runtime.stream((paths, ids), read, inputs, labels, batch_size=len(paths))
    x, y = next(streamed.as_numpy_iterator())
    np.testing.assert_array_equal(x, np.stack([image for image, _ in keras_images.as_numpy_iterator()]))
    assert x.dtype == np.float32 and y.dtype == np.int32


def test_a_folder_is_split_by_its_files_and_read_a_batch_at_a_time(pictures):
    splits = splits_of(picture_spec(pictures, validation_split=0.25))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (10, 4, 4)
    for part in (splits.train, splits.validation, splits.test):
        assert part.read is not None and part.x.dtype.kind == "U"  # file paths: nothing decoded yet
    files = [set(part.x) for part in (splits.train, splits.validation, splits.test)]
    assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])
    # The split is runtime.split's of the file list, seed for seed: what a script's load_data gives.
    listed = runtime.list_folder(str(pictures), lowering.FOLDER_KINDS["image_folder"])
    train, validation, test = runtime.split(listed, 3, test_split=0.2, validation_split=0.25)
    assert train[0].tolist() == splits.train.x.tolist() and test[1].tolist() == splits.test.y.tolist()
    assert [len(b[0]) for b in batches(splits.train)] == [4, 4, 2]
    assert splits_of(picture_spec(pictures, validation_split=0.25), seed=4).test.x.tolist() != test[0].tolist()


def test_shuffling_a_streamed_part_is_seeded_and_new_each_epoch(pictures):
    part = splits_of(picture_spec(pictures)).train

    def epochs(seed):
        dataset = data_module.fit_arguments(part, batch_size=4, shuffle=True, seed=seed)["x"]
        return [np.concatenate([y for _, y in dataset.as_numpy_iterator()]).tolist() for _ in range(2)]

    first, again = epochs(5), epochs(5)
    assert first == again  # the same seed, the same orders: as the script's stream(train, ..., seed)
    assert first[0] != first[1]  # a new order each epoch
    assert sorted(first[0]) == sorted(part.y.tolist())
    unshuffled = data_module.fit_arguments(part, batch_size=4, shuffle=False, seed=5)["x"]
    assert np.concatenate([y for _, y in unshuffled.as_numpy_iterator()]).tolist() == part.y.tolist()


@pytest.mark.slow
def test_a_streamed_folder_trains_validates_and_tests(pictures, tmp_path):
    spec = picture_spec(pictures, validation=str(pictures), test_split=0.25)
    spec["training"]["callbacks"] = [{"type": "early_stopping", "monitor": "val_accuracy", "patience": 3}]
    result = netspec.train(spec, out=tmp_path / "run", verbose=0, export=[])  # the monitor is checked on a batch
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["samples"] == {"train": 14, "validation": 18, "test": 4}
    assert info["class_names"] == list(CLASSES)
    assert len(result.history["loss"]) == 2 and "val_loss" in result.history and "accuracy" in result.metrics
    predictions = netspec.predict(result.run_dir, data=str(pictures))
    assert predictions.shape == (18, len(CLASSES))
    scored = netspec.evaluate(result.run_dir, data=str(pictures), verbose=0)
    assert set(scored) == set(result.metrics)


def test_a_folder_is_checked_on_its_first_file(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read .*0\.png"):
        splits_of(picture_spec(tmp_path))


# ----- memory-mapped arrays -----


def test_a_memory_mapped_npy_stays_on_disk_until_batches_are_read(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).random((40_000, 64)))  # 20 MB of float64; the input takes float32
    spec = tiny_spec()
    inputs, outputs = lowering.ports(load_spec(spec))
    tracemalloc.start()
    try:
        part = data_module.read_whole(str(path), inputs, outputs, labels_required=False)  # what `predict` reads
        assert part.rows is not None and fitting.memory_mapped(part.x)  # reshaped to (8, 8, 1), not copied
        assert part.x.dtype == np.float64  # cast a batch at a time, as it is read
        count = 0
        for batch in data_module.fit_arguments(part, batch_size=512, training=False)["x"].as_numpy_iterator():
            assert batch.dtype == np.float32 and batch.shape[1:] == (8, 8, 1)
            count += len(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < 4_000_000, peak  # a copy of the file, or of its float32 cast, would be 10-20 MB
    whole = np.load(path)
    np.testing.assert_array_equal(part.take(np.array([7, 3])).in_memory().x[:, :, :, 0],
                                  whole[[7, 3]].reshape(2, 8, 8).astype("float32"))


def test_memory_mapped_arrays_in_memory_splits_stay_on_disk(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.random((300, 8, 8, 1), dtype="float32"))
    np.save(tmp_path / "y.npy", rng.integers(0, 10, 300))
    x, y = (np.load(tmp_path / f"{name}.npy", mmap_mode="r") for name in ("x", "y"))
    inputs, outputs = lowering.ports(load_spec(tiny_spec()))
    splits = data_module.memory_splits((x, y), inputs, outputs, seed=2, test_split=0.2, validation_split=0.1)
    assert [len(p) for p in (splits.train, splits.validation, splits.test)] == [216, 24, 60]
    for part in (splits.train, splits.validation, splits.test):
        assert np.shares_memory(part.x, x)  # the whole file, with the numbers of this part's rows
    # The same samples as runtime.split of the arrays read whole, the split a script runs.
    train, _, test = runtime.split((np.asarray(x), np.asarray(y)), 2, test_split=0.2, validation_split=0.1)
    np.testing.assert_array_equal(splits.test.in_memory().x, test[0])
    streamed = np.concatenate([b[0] for b in batches(splits.train)])
    np.testing.assert_array_equal(streamed, train[0])
    assert runtime.balanced_class_weight(splits.train.y[splits.train.rows]) == runtime.balanced_class_weight(train[1])


# ----- .npz archives -----


def test_an_npz_archive_is_read_key_by_key(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 8, 8, 1)), y=np.zeros(5), unused=np.zeros((1000, 1000)))
    read = []
    original = np.lib.npyio.NpzFile.__getitem__

    def spy(self, key):
        read.append(key)
        return original(self, key)

    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", spy)
    spec = tiny_spec()
    spec["data"] = str(path)
    splits = splits_of(spec)
    assert read == ["x", "y"]  # the features, then the labels; never the unused key
    assert len(splits.train) + len(splits.validation or []) + len(splits.test) == 5
