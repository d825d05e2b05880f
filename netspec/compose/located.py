"""Values that remember where each of their parts was written.

Composition copies values around (from included files, block bodies, `vars`,
`--set` flags) into the expanded spec. A `Located` carries, next to the value,
the `Origin` of its root and of every part written somewhere else, so that an
error found later, in the schema or the shape stage, points at the line where
the user wrote the value, with the chain of how it got there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from netspec.errors import Diagnostic
from netspec.source import Origin, Source, format_path

Path_ = tuple


@dataclass
class Located:
    value: Any
    origin: Origin
    # relative path -> Origin, for parts written elsewhere than `origin` says
    inner: dict[Path_, Origin] = field(default_factory=dict)

    def where(self, *path) -> Origin:
        """Origin of the part at `path`."""
        for i in range(len(path), -1, -1):
            found = self.inner.get(path[:i])
            if found is not None:
                return found.at(*path[i:])
        return self.origin.at(*path)

    def child(self, *path) -> Located:
        value = self.value
        for part in path:
            value = value[part]
        n = len(path)
        inner = {key[n:]: o for key, o in self.inner.items() if len(key) > n and key[:n] == path}
        return Located(value, self.where(*path), inner)

    def diagnostic(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        path = tuple(path)
        exact = self.inner.get(path)
        if key and path and not (exact is not None and exact.covers_key):
            origin = self.where(*path[:-1]).at(path[-1])  # the key was written with its mapping
        else:
            origin = self.where(*path)
        return origin.diagnostic(message, hint, key=key)

    def nest(self, entry: str, outer: tuple[str, ...]) -> Located:
        """Add `entry` to every chain, just before the `outer` chain it already ends with."""
        return Located(self.value, nest(self.origin, entry, outer),
                       {k: nest(o, entry, outer) for k, o in self.inner.items()})


def nest(origin: Origin, entry: str, outer: tuple[str, ...]) -> Origin:
    chain = origin.chain
    if outer and chain[-len(outer):] == outer:
        chain = (*chain[: -len(outer)], entry, *outer)
    else:
        chain = (*chain, entry)
    return rechain(origin, chain)


def rechain(origin: Origin, chain: tuple[str, ...], covers_key: bool = True) -> Origin:
    return Origin(origin.source, origin.path, chain, covers_key)


def graft(into: dict[Path_, Origin], prefix: Path_, located: Located) -> None:
    """Record where `located` (placed at `prefix`) and its parts were written."""
    into[prefix] = located.origin
    for key, origin in located.inner.items():
        into[(*prefix, *key)] = origin


def drop_under(inner: dict[Path_, Origin], path: Path_) -> None:
    """Forget the origins of `path` and everything below it (the value there was replaced)."""
    n = len(path)
    for key in [k for k in inner if k[:n] == path]:
        del inner[key]


def site(origin: Origin) -> str:
    """`spec.yaml:12` for an origin, or its path where it has no line."""
    line, _ = origin.source.locate(origin.path)
    file = origin.source.file or "<spec>"
    return f"{file}:{line}" if line is not None else f"{file} at {format_path(origin.path) or 'top level'}"


def root(source: Source) -> Located:
    return Located(source.data, Origin(source))


REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[\d+\])?$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
