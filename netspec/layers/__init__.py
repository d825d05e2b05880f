"""The layer registry: every layer type of the format, joined into one tagged union.

Each family module defines its layer classes; a class with a `type: Literal[...]`
field is a layer type. Adding a type means adding a class to one family file.
"""

from __future__ import annotations

import typing
from typing import Annotated, Union

from pydantic import Field

from netspec.layers import (
    attention,
    conv,
    core,
    merge,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    wrappers,
)
from netspec.layers.base import Inference, KerasCall, Layer, Shape, ShapeMismatch

_FAMILIES = [core, conv, pooling, reshaping, recurrent, wrappers, merge, normalization, preprocessing, attention]


def _layer_types() -> dict[str, type[Layer]]:
    found: dict[str, type[Layer]] = {}
    for module in _FAMILIES:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Layer) and obj.__module__ == module.__name__:
                annotation = obj.model_fields["type"].annotation
                if typing.get_origin(annotation) is typing.Literal:
                    (tag,) = typing.get_args(annotation)
                    if tag in found:
                        raise TypeError(f"layer type {tag!r} is defined twice")
                    found[tag] = obj
    return dict(sorted(found.items()))


LAYER_TYPES: dict[str, type[Layer]] = _layer_types()

AnyLayer = Annotated[Union[tuple(LAYER_TYPES.values())], Field(discriminator="type")]  # noqa: UP007

# Wrappers hold a nested layer typed by the union above, written as the forward
# reference "AnyLayer"; models build lazily (defer_build), and resolve it here.
for _module in _FAMILIES:
    _module.AnyLayer = AnyLayer


def register_layer_type(cls: type[Layer]) -> None:
    """Add a layer type defined outside the family files (a plugin's, netspec/plugins.py) to LAYER_TYPES.

    Specs validate each layer by its type's model from LAYER_TYPES (top-level and nested in wrappers), so
    the type is usable from now on; `AnyLayer` keeps the built-in types only.
    """
    (tag,) = typing.get_args(cls.model_fields["type"].annotation)
    if LAYER_TYPES.get(tag, cls) is not cls:
        raise TypeError(f"layer type {tag!r} is defined twice")
    LAYER_TYPES[tag] = cls


__all__ = ["LAYER_TYPES", "AnyLayer", "register_layer_type", "Inference", "KerasCall", "Layer", "Shape", "ShapeMismatch"]
