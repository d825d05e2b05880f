"""Keras weights files (`.weights.h5`): where each layer's weights live in one, and loading them by layer name.

Keras 3 keys a model's weights by position, not by layer name
(keras/src/saving/saving_lib.py, `_save_container_state`): the layers of a
Sequential or Functional model, in `model.layers` order, are stored under
`layers/<class in snake_case>`, with `_1`, `_2`, ... for repeated classes,
and a nested model's layers under its own path (`layers/sequential/layers/dense`).
`keras_layout` replays that rule. A file written by `netspec import` records
which layer name each path belongs to (the `netspec_layers` attribute of the
file's root), so `load_weights` can move each layer's weights to where the
model being loaded keeps that layer, and refuses a file whose layers it
cannot match, rather than loading weights into the wrong layers.

Only h5py and NumPy here: reading and re-keying a weights file is data work.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from netspec.errors import UsageError

# Root attribute of a weights file written by netspec: JSON {layer name: path of its weights}.
NAMES_ATTRIBUTE = "netspec_layers"
SUFFIX = ".weights.h5"


def snake_case(name: str) -> str:
    """Keras's `naming.to_snake_case` (keras/src/utils/naming.py): `Conv2D` -> `conv2d`, `ReLU` -> `re_lu`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_layout(layers, prefix: str = "layers") -> dict[str, str]:
    """{layer name: path of its weights} for `layers`, (name, Keras class name) pairs in `model.layers` order."""
    used: dict[str, int] = {}
    paths = {}
    for name, class_name in layers:
        key = snake_case(class_name)
        if key in used:  # keras/src/saving/saving_lib.py `_get_unique_name`
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        paths[name] = f"{prefix}/{key}"
    return paths


def model_layout(model) -> dict[str, str]:
    """Where Keras keeps each layer's weights for a built model (its top-level layers)."""
    return keras_layout((layer.name, type(layer).__name__) for layer in model.layers)


def check_suffix(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise UsageError(f"{what} is a Keras weights file, whose name ends in `{SUFFIX}`; received {str(path)!r}. "
                         f"Name it e.g. `{path.name.split('.')[0] or 'model'}{SUFFIX}`")
    return path


def rekey(source, target, moves: dict[str, str], names: dict[str, str] | None = None) -> None:
    """Copy the weights file `source` to `target` (paths or open binary files), each layer's weights moved from
    `moves`' key to its value; what lies outside `layers/` (an optimizer's state) stays behind, but the model's
    own variables (`vars`). `names`, {layer name: path in target}, is recorded in the target's root."""
    import h5py

    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            if key != NAMES_ATTRIBUTE:
                new.attrs[key] = value
        if "vars" in old:
            old.copy(old["vars"], new, "vars")
        new.require_group("layers")
        for before, after in moves.items():
            if before in old:
                old.copy(old[before], new, after)
        if names is not None:
            new.attrs[NAMES_ATTRIBUTE] = json.dumps(names)


def recorded_layout(path: str | Path) -> dict[str, str] | None:
    """{layer name: path} that netspec recorded in a weights file, or None for a file Keras wrote."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            text = file.attrs.get(NAMES_ATTRIBUTE)
    except OSError as exc:
        raise UsageError(f"cannot read the weights file {str(path)!r}: {exc}") from exc
    if text is None:
        return None
    return json.loads(text if isinstance(text, str) else bytes(text).decode("utf-8"))


def load_weights(model, path: str | Path) -> None:
    """Load a `.weights.h5` file into a built model.

    A file that `netspec import --weights` wrote is matched by layer name: where the model keeps a layer's
    weights elsewhere than the file does, they are moved first (in a temporary copy). A file Keras wrote is
    loaded as Keras loads it, by position.
    """
    import tempfile

    path = check_suffix(path, "the weights file")
    if not path.is_file():
        raise UsageError(f"no weights file {str(path)!r}")
    recorded = recorded_layout(path)
    if recorded is None:
        _keras_load(model, path)
        return
    own = model_layout(model)
    weighted = {layer.name for layer in model.layers if layer.weights}
    missing = sorted(name for name in weighted if name not in recorded)
    if missing:
        raise UsageError(f"the weights file {str(path)!r} holds no weights for layer(s) {', '.join(missing)} of "
                         f"model `{model.name}`; it was written for a model with layers "
                         f"{', '.join(sorted(recorded)[:12])}{', ...' if len(recorded) > 12 else ''}")
    moves = {recorded[name]: own[name] for name in own if name in recorded}
    if all(before == after for before, after in moves.items()):
        _keras_load(model, path)
        return
    with tempfile.TemporaryDirectory() as folder:
        moved = Path(folder) / f"moved{SUFFIX}"
        rekey(path, moved, moves, {name: own[name] for name in own if name in recorded})
        _keras_load(model, moved)


def _keras_load(model, path: Path) -> None:
    try:
        model.load_weights(path)
    except ValueError as exc:
        text = " ".join(str(exc).split())
        raise UsageError(f"the weights in {str(path)!r} do not fit model `{model.name}`: {text[:600]}") from exc
