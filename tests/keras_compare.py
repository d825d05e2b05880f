"""Differential checks: netspec's static shapes and parameter counts against Keras's own."""

from __future__ import annotations

import numpy as np

import netspec
from netspec.load import load_spec, loaded


def keras_layer_facts(model) -> dict[str, dict]:
    """Per layer of a built Keras model: output shapes (batch dim dropped), trainable, non-trainable."""
    facts = {}
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        out = layer.output
        outs = out if isinstance(out, list | tuple) else [out]
        facts[layer.name] = {
            "outputs": [tuple(o.shape)[1:] for o in outs],
            "trainable": int(sum(np.prod(w.shape) for w in layer.trainable_weights)),
            "non_trainable": int(sum(np.prod(w.shape) for w in layer.non_trainable_weights)),
        }
    return facts


def assert_matches_keras(spec):
    """Build the Keras model of `spec` and assert every layer's shapes and counts equal netspec's;
    returns the model."""
    model_spec = load_spec(spec)
    shapes = loaded(model_spec).shapes
    model = netspec.build_model(model_spec)
    keras_facts = keras_layer_facts(model)
    ours = {
        info.node.name: {"outputs": [tuple(s) for s in info.outputs], "trainable": info.trainable,
                         "non_trainable": info.non_trainable}
        for info in shapes.layers
    }
    assert set(ours) == set(keras_facts), (sorted(ours), sorted(keras_facts))
    for name, facts in keras_facts.items():
        assert ours[name] == facts, f"layer {name}: netspec {ours[name]} != keras {facts}"
    assert shapes.total == model.count_params()
    return model
