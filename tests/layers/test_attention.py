"""multi_head_attention against Keras 3: self-attention, [query, value] and [query, value, key]."""

from __future__ import annotations

import numpy as np
import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

import netspec
from netspec.layers import LAYER_TYPES
from netspec.load import load


def attention_spec(layer: dict, *shapes) -> dict:
    """Inputs q (and v, k) of the given shapes feeding one attention layer (reading all of them)."""
    names = ["q", "v", "k"][: len(shapes)]
    return {"name": "t", "inputs": [{"name": n, "shape": list(s)} for n, s in zip(names, shapes)],
            "layers": [{**layer, "inputs": names}]}


MHA = {"type": "multi_head_attention", "num_heads": 2, "key_dim": 4}

MATCHES = {
    "self": (MHA, (5, 8)),
    "self_unknown_length": ({**MHA, "value_dim": 3}, (None, 8)),
    "query_value": (MHA, (5, 8), (7, 6)),
    "query_value_key": ({**MHA, "value_dim": 5}, (5, 8), (7, 6), (7, 3)),
    "no_bias": ({**MHA, "use_bias": False}, (5, 8)),
    "output_shape_int": ({**MHA, "output_shape": 7}, (5, 8), (6, 8)),
    "output_shape_tuple": ({**MHA, "output_shape": [2, 3]}, (5, 8)),
    "gate": ({**MHA, "use_gate": True, "value_dim": 3}, (5, 8), (6, 4)),
    "dropout_objects": ({**MHA, "dropout": 0.1, "seed": 1, "kernel_initializer": "he_normal",
                         "kernel_regularizer": "l2", "bias_constraint": "max_norm"}, (5, 8)),
    "sliding_window": ({**MHA, "sliding_window": 2}, (6, 8)),
    "image_attention_default_axes": (MHA, (3, 4, 8)),
    "image_attention_last_axis": ({**MHA, "attention_axes": [2]}, (3, 4, 8), (3, 6, 5)),
    "image_attention_negative_axis": ({**MHA, "attention_axes": -2}, (3, 4, 8)),
    "image_attention_both_axes": ({**MHA, "attention_axes": [1, 2], "output_shape": [4]}, (3, 4, 8)),
    "frozen": ({**MHA, "trainable": False}, (5, 8), (6, 8)),
    "attention_query_value_key": ({"type": "attention"}, (5, 8), (7, 6), (7, 8)),
    "attention_scaled_concat": ({"type": "attention", "use_scale": True, "score_mode": "concat", "dropout": 0.1,
                                 "seed": 2}, (5, 8), (7, 8)),
    "attention_unknown_lengths": ({"type": "attention"}, (None, 8), (None, 8)),
    "additive_attention": ({"type": "additive_attention"}, (5, 8), (7, 3), (7, 8)),
    "additive_attention_unscaled": ({"type": "additive_attention", "use_scale": False}, (5, 8), (7, 8)),
}


@pytest.mark.parametrize("case", MATCHES.values(), ids=MATCHES.keys())
def test_matches_keras(case):
    layer, *shapes = case
    assert_matches_keras(attention_spec(layer, *shapes))


def test_parameter_count_includes_every_projection():
    layer = {**MHA, "value_dim": 3, "output_shape": 5}
    shapes = load(attention_spec(layer, (5, 8), (7, 6), (7, 2))).shapes
    query, key, value, output = 8 * 8 + 8, 2 * 8 + 8, 6 * 6 + 6, 6 * 5 + 5
    assert shapes.total == query + key + value + output


def test_flops_per_sample():
    (info,) = load(attention_spec(MHA, (5, 8), (7, 6))).shapes.layers
    projections = 2 * (5 * 8 * 8 + 7 * 6 * 8 + 7 * 6 * 8 + 5 * 8 * 8)
    assert info.flops == projections + 2 * 2 * 5 * 7 * (4 + 4)


def test_transformer_block_runs_and_matches_keras():
    """A real encoder block: self-attention, residual add, layer norm, feed-forward; trained one step."""
    spec = {
        "name": "encoder", "inputs": [{"name": "ids", "shape": [6], "dtype": "int32"}],
        "layers": [
            {"type": "embedding", "input_dim": 20, "output_dim": 8, "name": "emb"},
            {"type": "multi_head_attention", "num_heads": 2, "key_dim": 4, "dropout": 0.1, "name": "att"},
            {"type": "add", "inputs": ["emb", "att"]},
            {"type": "layer_normalization", "name": "norm"},
            {"type": "dense", "units": 16, "activation": "relu"},
            {"type": "global_average_pooling1d"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    }
    assert_matches_keras(spec)
    model = netspec.build_model(spec)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    history = model.fit(rng.integers(0, 20, (8, 6)), rng.integers(0, 3, (8,)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("shapes", [[(5, 8)], [(5, 8), (7, 6)], [(5, 8), (7, 6), (7, 3)]], ids=["1", "2", "3"])
def test_inputs_are_query_value_key_in_order(shapes):
    """One input attends to itself; two are [query, value]; three [query, value, key]: checked on values."""
    import keras

    model = netspec.build_model(attention_spec(MHA, *shapes))
    layer = model.get_layer("multi_head_attention")
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(2, *s)).astype("float32") for s in shapes]
    query = arrays[0]
    value = arrays[1] if len(arrays) > 1 else query
    key = arrays[2] if len(arrays) > 2 else value
    expected = layer(keras.ops.convert_to_tensor(query), keras.ops.convert_to_tensor(value),
                     keras.ops.convert_to_tensor(key))
    np.testing.assert_allclose(model(arrays if len(arrays) > 1 else arrays[0]), expected, rtol=1e-5, atol=1e-6)


ROUND_TRIPS = [
    {"type": "multi_head_attention", "num_heads": 2, "key_dim": 4},
    {"type": "multi_head_attention", "num_heads": 3, "key_dim": 2, "value_dim": 5, "dropout": 0.2, "use_bias": False,
     "output_shape": [2, 3], "attention_axes": [1, 2], "seed": 4, "kernel_initializer": "lecun_normal"},
    {"type": "multi_head_attention", "num_heads": 1, "key_dim": 8, "sliding_window": 3, "use_gate": True,
     "bias_regularizer": {"type": "l1", "l1": 0.1}},
    {"type": "attention", "use_scale": True, "score_mode": "concat", "dropout": 0.1, "seed": 1},
    {"type": "additive_attention", "use_scale": False, "dropout": 0.2},
]


def test_every_type_of_the_family_is_compared_and_round_tripped():
    family = {tag for tag, cls in LAYER_TYPES.items() if cls.__module__ == "netspec.layers.attention"}
    assert {case[0]["type"] for case in MATCHES.values()} == family
    assert {layer["type"] for layer in ROUND_TRIPS} == family


@pytest.mark.parametrize("layer", ROUND_TRIPS, ids=[str(i) for i in range(len(ROUND_TRIPS))])
def test_keras_config_round_trip(layer):
    assert_config_round_trip(layer)


def _spec_text(layer: str, *shapes: str) -> str:
    """A YAML spec with inputs q, v, k (as many as shapes); the attention layer is on the last line."""
    names = ["q", "v", "k"][: len(shapes)]
    lines = ["name: t", "inputs:", *(f"  - {{name: {n}, shape: {s}}}" for n, s in zip(names, shapes)), "layers:",
             f"  - {{{layer}, inputs: [{', '.join(names)}]}}"]
    return "\n".join(lines) + "\n"


SHAPE_ERRORS = {
    "query_without_positions": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4", "[8]"),
        ("layers[0]", ["expects a query of rank 3 or more", "(None, 8)"], "`repeat_vector`")),
    "unknown_features": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4", "[5, 8]", "[5, null]"),
        ("layers[0]", ["the value needs a known last dimension", "(None, 5, None)"], "fixed size")),
    "ranks_differ": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4", "[5, 8]", "[2, 5, 8]"),
        ("layers[0]", ["the value has shape (None, 2, 5, 8) but the query (None, 5, 8)"], "reshape")),
    "value_and_key_positions_differ": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4", "[5, 8]", "[6, 8]", "[7, 8]"),
        ("layers[0]", ["value and key must agree on every axis but the last", "(None, 7, 8)"], "same positions")),
    "non_attention_axis_differs": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4, attention_axes: [2]", "[3, 5, 8]", "[4, 5, 8]"),
        ("layers[0].attention_axes", ["differ on axis 1, which is not an attention axis"], "`attention_axes`")),
    "attention_axis_is_features": (
        ("type: multi_head_attention, num_heads: 2, key_dim: 4, attention_axes: -1", "[5, 8]"),
        ("layers[0].attention_axes", ["axes 1 to 1", "(None, 5, 8)"], "leave `attention_axes` unset")),
}


@pytest.mark.parametrize("case", SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys())
def test_shape_errors(case):
    (layer, *shapes), (path, words, hint) = case
    text = _spec_text(layer, *shapes)
    (diagnostic,) = shape_errors(text)
    assert (diagnostic.path, diagnostic.line) == (path, 4 + len(shapes))
    for word in words:
        assert word in diagnostic.message, diagnostic.message
    assert hint in diagnostic.hint, diagnostic.hint


def test_attention_reads_one_input_named_twice_as_self_attention():
    spec = {"name": "t", "inputs": [{"name": "x", "shape": [5, 8]}],
            "layers": [{"type": "additive_attention", "inputs": ["x", "x"]}]}
    assert load(spec).shapes.total == 8
    assert_matches_keras(spec)


@pytest.mark.parametrize("kind", ["attention", "additive_attention"])
def test_score_attention_needs_matching_query_and_key_features(kind):
    (diagnostic,) = shape_errors(_spec_text(f"type: {kind}", "[5, 8]", "[7, 6]"))
    assert diagnostic.path == "layers[0]"
    assert "their last axes must agree" in diagnostic.message and "dense" in diagnostic.hint


def test_too_many_inputs_is_reported():
    text = _spec_text("type: multi_head_attention, num_heads: 2, key_dim: 4", "[5, 8]", "[5, 8]", "[5, 8]")
    text = text.replace("inputs: [q, v, k]", "inputs: [q, v, k, q]")
    (diagnostic,) = shape_errors(text)
    assert diagnostic.path == "layers[0].inputs"
    assert "`multi_head_attention` takes 1 to 3 input(s); received 4" in diagnostic.message


VALUE_ERRORS = {
    "num_heads": ("type: multi_head_attention, num_heads: 0, key_dim: 4", "layers[0].num_heads", "received 0"),
    "key_dim_missing": ("type: multi_head_attention, num_heads: 2", "layers[0]", "missing required key `key_dim`"),
    "dropout": ("type: multi_head_attention, num_heads: 2, key_dim: 4, dropout: 1.2", "layers[0].dropout",
                "received 1.2"),
    "sliding_window": ("type: multi_head_attention, num_heads: 2, key_dim: 4, sliding_window: 0",
                       "layers[0].sliding_window", "received 0"),
    "output_shape": ("type: multi_head_attention, num_heads: 2, key_dim: 4, output_shape: [0]",
                     "layers[0].output_shape", "received"),
}


@pytest.mark.parametrize("case", VALUE_ERRORS.values(), ids=VALUE_ERRORS.keys())
def test_value_errors(case):
    layer, path, words = case
    diagnostics = shape_errors(_spec_text(layer, "[5, 8]"))
    assert any(d.path.startswith(path) and d.line == 5 and words in d.message for d in diagnostics), diagnostics


def test_flash_attention_is_refused_on_the_tensorflow_backend(monkeypatch):
    """Keras builds such a model and fails only when it first runs."""
    text = _spec_text("type: multi_head_attention, num_heads: 2, key_dim: 4, flash_attention: true", "[5, 8]")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    (diagnostic,) = shape_errors(text)
    assert (diagnostic.path, diagnostic.line) == ("layers[0].flash_attention", 5)
    assert "not supported by Keras's TensorFlow backend" in diagnostic.message
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert load(text).shapes.total == 288
    (diagnostic,) = shape_errors(text.replace("flash_attention: true", "flash_attention: true, dropout: 0.1"))
    assert (diagnostic.path, diagnostic.line) == ("layers[0].dropout", 5)
    assert "is not supported with flash attention" in diagnostic.message


def test_self_attention_spec_with_one_input_matches_keras_with_query_as_value():
    assert_matches_keras(one_layer((4, 6), MHA, {"type": "multi_head_attention", "num_heads": 1, "key_dim": 2}))
