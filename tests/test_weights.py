"""netspec.weights: Keras's weights layout replayed, and weights loaded by layer name."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

import netspec
from netspec.errors import UsageError
from netspec.layers import LAYER_TYPES
from netspec.weights import NAMES_ATTRIBUTE, keras_layout, load_weights, model_layout, rekey, snake_case

L = keras.layers
SPEC = {"name": "three", "inputs": [{"name": "x", "shape": [4]}], "layers": [
    {"type": "dense", "units": 3, "name": "first"}, {"type": "dense", "units": 3, "name": "second"},
    {"type": "batch_normalization"}, {"type": "dense", "units": 2, "name": "last"}]}


def test_snake_case_is_keras_own():
    from keras.src.utils.naming import to_snake_case

    for cls in LAYER_TYPES.values():
        assert snake_case(cls.keras_class) == to_snake_case(cls.keras_class)


def test_the_layout_is_where_keras_writes_the_weights(tmp_path):
    inner = keras.Sequential([keras.Input((3,)), L.Dense(2), L.Dense(2)], name="inner")
    x = keras.Input((3,))
    model = keras.Model(x, L.Add()([inner(L.Dense(3)(x)), L.Dense(2)(x)]))
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "r") as file:
        written = {f"layers/{key}" for key in file["layers"]}
        nested = {f"layers/sequential/layers/{key}" for key in file["layers/sequential/layers"]}
    assert set(model_layout(model).values()) == written
    assert set(keras_layout(((layer.name, type(layer).__name__) for layer in inner.layers),
                            "layers/sequential/layers").values()) == nested


@pytest.fixture
def three(tmp_path):
    keras.utils.set_random_seed(2)
    model = netspec.build_model(SPEC, compile=False)
    model.save_weights(tmp_path / "three.weights.h5")
    return model, tmp_path / "three.weights.h5"


def test_weights_recorded_by_name_are_moved_to_where_the_model_keeps_them(three, tmp_path):
    model, path = three
    own = model_layout(model)
    assert own["first"] != own["second"]
    swapped = {**own, "first": own["second"], "second": own["first"]}  # as another model would keep them
    rekey(path, tmp_path / "swapped.weights.h5", {own[n]: swapped[n] for n in own}, swapped)
    fresh = netspec.build_model(SPEC, compile=False)
    load_weights(fresh, tmp_path / "swapped.weights.h5")
    for name in ("first", "second", "batch_normalization", "last"):
        for a, b in zip(model.get_layer(name).get_weights(), fresh.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_a_keras_weights_file_loads_as_keras_loads_it(three):
    model, path = three
    with h5py.File(path, "r") as file:
        assert NAMES_ATTRIBUTE not in file.attrs
    fresh = netspec.build_model(SPEC, compile=False, weights=path)
    np.testing.assert_array_equal(model.get_layer("last").get_weights()[0], fresh.get_layer("last").get_weights()[0])


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras, on the weights that do not fit
def test_weights_of_another_model_are_refused(three, tmp_path):
    model, path = three
    own = model_layout(model)
    partial = {name: p for name, p in own.items() if name != "second"}
    rekey(path, tmp_path / "partial.weights.h5", {p: p for p in partial.values()}, partial)
    with pytest.raises(UsageError, match="holds no weights for layer.s. second"):
        load_weights(netspec.build_model(SPEC, compile=False), tmp_path / "partial.weights.h5")
    with pytest.raises(UsageError, match="ends in `.weights.h5`"):
        load_weights(model, tmp_path / "three.h5")
    with pytest.raises(UsageError, match="no weights file"):
        load_weights(model, tmp_path / "missing.weights.h5")
    small = {**SPEC, "layers": [{**SPEC["layers"][0], "units": 5}, *SPEC["layers"][1:]]}
    with pytest.raises(UsageError, match="do not fit model `three`"):
        netspec.build_model(small, compile=False, weights=path)
