"""Name helpers shared by every stage: "did you mean" suggestions and Keras-style layer names.

A leaf module: it imports nothing from netspec, so that composition, the
schema, the graph and the runner can all use it without importing each other.
"""

from __future__ import annotations

import difflib


def closest(word: str, choices, n: int = 1) -> str | None:
    found = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices) -> str | None:
    match = closest(word, choices)
    return f"did you mean `{match}`?" if match else None


def auto_names(layers, taken: set[str]) -> list[str]:
    """Keras's naming: the first `conv2d` is `conv2d`, then `conv2d_1`, ...

    `layers` are anything with `name` (None where unnamed) and `type`; the
    names chosen are added to `taken`.
    """
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer.name:
            names.append(layer.name)
            continue
        while True:
            n = counts.get(layer.type, 0)
            counts[layer.type] = n + 1
            candidate = layer.type if n == 0 else f"{layer.type}_{n}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names
