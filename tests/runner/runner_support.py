"""Small specs and helpers shared by the runner's tests."""

from __future__ import annotations

import copy
from pathlib import Path


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


def write_texts(folder: Path, rng, count: int = 12) -> None:
    """Two classes of short texts, told apart by their words: `neg` and `pos` subfolders of .txt files."""
    words = {"neg": ["bad", "awful", "boring", "dull"], "pos": ["good", "great", "lovely", "fun"]}
    for label, own in words.items():
        (folder / label).mkdir(parents=True)
        for i in range(count):
            text = " ".join(rng.choice([*own, "the", "film", "was"], 6))
            (folder / label / f"{i}.txt").write_text(text.capitalize() + ".", encoding="utf-8")
