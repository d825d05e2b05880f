"""The layer registry: every layer type of the format, by its tag.

Each family module (every module here but `base` and `_private` ones) defines its layer classes; a
class with a `type: Literal[...]` field is a layer type. Adding a type means
adding a class to one family file; adding a family means adding a file.

The registry is lazy, so that a spec pays only for the types it uses: a family
is imported when one of its types is first looked up (importing all of them,
about a hundred pydantic classes, costs more than the rest of `netspec
validate`). Which family defines a tag is read from the families' source text
(`type: Literal["dense"]`), far cheaper than importing them; that is only a
hint: a tag is always looked up among the imported classes, and one the hint
does not place loads every family before it is called unknown. Iterating the
registry, or `AnyLayer`, loads every family. So that a family costs only its
own classes, the helpers families share live in `base`, and the modules that
define models do not postpone their annotations (see `base.SpecModel`).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import threading
import typing
from collections.abc import Iterator, Mapping

from netspec.layers.base import Inference, KerasCall, Layer, Shape, ShapeMismatch

# How a family file declares a layer type's tag, in the class's body: `    type: Literal["dense"]`.
_TAG = re.compile(r"""^[ \t]+type[ \t]*:[ \t]*Literal\[[ \t]*["']([^"']+)["'][ \t]*\]""", re.MULTILINE)


@functools.cache
def _families() -> list[str]:
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base" and not m.name.startswith("_"))


class _Registry(Mapping):
    """Tag -> layer class, importing each family on first use (see the module's docstring)."""

    def __init__(self):
        self._types: dict[str, type[Layer]] = {}
        self._loaded: set[str] = set()
        self._complete = False
        self._hints: dict[str, str] | None = None
        self._lock = threading.RLock()  # two threads may look up their first types at once

    def __getitem__(self, tag: str) -> type[Layer]:
        if tag not in self._types and not self._complete and isinstance(tag, str):
            family = self._where().get(tag)
            if family is not None:
                self._load(family)
            if tag not in self._types:
                self._load_all()
        return self._types[tag]

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return iter(self._types)

    def __len__(self) -> int:
        self._load_all()
        return len(self._types)

    def __repr__(self) -> str:
        return f"LAYER_TYPES({dict(self)!r})"

    def _where(self) -> dict[str, str]:
        """Tag -> the family whose source text declares it (empty where the sources are not shipped)."""
        if self._hints is None:
            hints: dict[str, str] = {}
            for family in _families():
                try:
                    with open(os.path.join(__path__[0], f"{family}.py"), encoding="utf-8") as file:
                        text = file.read()
                except OSError:
                    continue
                for tag in _TAG.findall(text):
                    hints.setdefault(tag, family)
            self._hints = hints
        return self._hints

    def _load(self, family: str) -> None:
        with self._lock:
            if family in self._loaded:
                return
            module = importlib.import_module(f"{__name__}.{family}")
            for obj in vars(module).values():
                if isinstance(obj, type) and issubclass(obj, Layer) and obj.__module__ == module.__name__:
                    annotation = obj.model_fields["type"].annotation
                    if typing.get_origin(annotation) is typing.Literal:
                        (tag,) = typing.get_args(annotation)
                        if tag in self._types:
                            raise TypeError(f"layer type {tag!r} is defined twice")
                        self._types[tag] = obj
            self._loaded.add(family)

    def register(self, tag: str, cls: type[Layer]) -> None:
        """A type from outside the family files (a plugin's): built-in types are loaded first, so that a clash
        with one is found now."""
        self._load_all()
        with self._lock:
            if self._types.get(tag, cls) is not cls:
                raise TypeError(f"layer type {tag!r} is defined twice")
            self._types[tag] = cls

    def unregister(self, tag: str) -> None:
        """Forget a type `register` added (a plugin's)."""
        with self._lock:
            self._types.pop(tag, None)

    def _load_all(self) -> None:
        with self._lock:
            if not self._complete:
                for family in _families():
                    self._load(family)
                self._types = dict(sorted(self._types.items()))
                self._complete = True


LAYER_TYPES: Mapping[str, type[Layer]] = _Registry()


class AnyLayerType:
    """`AnyLayer` as a field type whose union is built with the field's validator or JSON Schema, not at import.

    A model with a field of this type (`Spec.layers`) can be defined without loading every family;
    its validator and schema are those of `AnyLayer`.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        return handler(__getattr__("AnyLayer"))


def __getattr__(name: str):
    if name == "AnyLayer":  # the tagged union of every layer type, built on first use
        from typing import Annotated, Union

        from pydantic import Field

        union = Annotated[Union[tuple(LAYER_TYPES.values())], Field(discriminator="type")]  # noqa: UP007
        globals()["AnyLayer"] = union
        return union
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_layer_type(cls: type[Layer]) -> None:
    """Add a layer type defined outside the family files (a plugin's, netspec/plugins.py) to LAYER_TYPES.

    Specs validate each layer by its type's model from LAYER_TYPES (top-level and nested in wrappers), so
    the type is usable from now on; `AnyLayer` keeps the built-in types only.
    """
    (tag,) = typing.get_args(cls.model_fields["type"].annotation)
    LAYER_TYPES.register(tag, cls)


__all__ = ["LAYER_TYPES", "AnyLayer", "AnyLayerType", "register_layer_type", "Inference", "KerasCall", "Layer", "Shape", "ShapeMismatch"]
