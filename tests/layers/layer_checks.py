"""Shared checks for the layer-family tests: one-layer specs, Keras config round trips, shape errors."""

from __future__ import annotations

import pytest

from netspec.build import instantiate
from netspec.errors import SpecError
from netspec.layers import LAYER_TYPES
from netspec.load import load_spec


def one_layer(shape, *layers, dtype: str = "float32") -> dict:
    """A spec of one model input of `shape` (batch excluded) followed by `layers`."""
    return {"name": "t", "inputs": [{"name": "x", "shape": list(shape), "dtype": dtype}], "layers": list(layers)}


def _same(spec_value, config_value) -> bool:
    """A spec value and the value Keras keeps for it (ints widened to tuples, lists to tuples)."""
    if isinstance(config_value, tuple | list):
        if isinstance(spec_value, int):
            return all(_same(spec_value, v) for v in config_value)
        return len(spec_value) == len(config_value) and all(_same(a, b) for a, b in zip(spec_value, config_value))
    return spec_value == config_value


def assert_config_round_trip(layer: dict) -> None:
    """Lower the spec layer, build the Keras layer: get_config -> from_config -> get_config is stable,
    and every argument the spec set reached Keras."""
    model = LAYER_TYPES[layer["type"]].model_validate(layer)
    call = model.lower("probe")
    keras_layer = instantiate(call)
    assert type(keras_layer).__name__ == model.keras_class
    config = keras_layer.get_config()
    clone = type(keras_layer).from_config(config)
    assert clone.get_config() == config
    assert config["name"] == "probe"
    for key, value in call.kwargs:
        if key in ("name", "dtype") or not isinstance(value, int | str | tuple | bool | type(None)):
            continue
        if isinstance(value, str) and key.endswith(("initializer", "regularizer", "constraint")):
            continue  # serialized as a {class_name, config} mapping
        assert _same(value, config[key]), f"{key}: spec {value!r} != keras {config[key]!r}"


def shape_errors(text: str) -> list:
    """The diagnostics load_spec raises for spec `text`; fails if the spec loads."""
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return info.value.diagnostics
