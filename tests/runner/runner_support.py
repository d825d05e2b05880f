"""Small specs and helpers shared by the runner's tests."""

from __future__ import annotations

import copy


def tiny_spec(**training) -> dict:
    """A small digits CNN that trains in a second or two."""
    spec = {
        "name": "tiny",
        "inputs": [{"name": "image", "shape": [8, 8, 1]}],
        "layers": [
            {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 10, "activation": "softmax", "name": "digit"},
        ],
        "training": {"optimizer": {"type": "adam", "learning_rate": 0.01}, "epochs": 2, "batch_size": 64, "seed": 1},
        "data": "builtin:digits",
    }
    spec["training"].update(training)
    return copy.deepcopy(spec)
