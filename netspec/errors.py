"""One error hierarchy. The library raises these; the CLI only prints them.

Every problem a user can fix is a `Diagnostic` (file, line, column, spec path,
message, hint). A `SpecError` carries all diagnostics found in one pass, so a
user sees every mistake at once, not one per run.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Diagnostic:
    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    severity: str = "error"

    def format(self) -> str:
        """`FILE:LINE:COL: error: PATH: MESSAGE` (and ` Hint: ...`): the one line a problem is printed as."""
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        text = self.message if not self.hint else f"{self.message} Hint: {self.hint}"
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {self.severity}: {path}{text}"

    def to_dict(self) -> dict:
        return asdict(self)

    def with_file(self, file: str | None) -> Diagnostic:
        return self if self.file or not file else replace(self, file=file)


class NetspecError(Exception):
    """Base of every error netspec raises on purpose."""


class SpecError(NetspecError):
    """A spec that cannot be used; holds every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = once(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


_USE_SITE = re.compile(r"substituted for `\$\{[^`]*\}` at [^;)]*")


def once(diagnostics) -> list[Diagnostic]:
    """Each mistake once: a bad value of a var (or `--set` flag) is reported where it was written, and
    its uses differ only in where it was substituted; the first use stands for the others."""
    seen, out = set(), []
    for d in diagnostics:
        key = (d.file, d.line, d.column, d.path, d.hint, _USE_SITE.sub("substituted", d.message))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class SpecFileError(SpecError):
    """A spec file that cannot be read at all: missing, a directory, not permitted (CLI exit 2)."""


class ShapeError(SpecError):
    """A spec whose layers cannot take the shapes they are given."""


class ModelImportError(SpecError):
    """A Keras model that `netspec import` cannot write as a spec: its diagnostics name each layer, argument or
    connection that has no netspec equivalent (the file is the model's, the path the layer's name)."""


class DataError(NetspecError):
    """Training data that cannot be read or does not fit the spec's inputs."""


class UsageError(NetspecError):
    """A command line or API call that is malformed (exit code 2)."""


class ExportError(NetspecError):
    """An export that could not be written or does not run; nothing of it is left on disk."""


class DataNote(UserWarning):
    """Something netspec did to data that the user should know of (features reshaped to fit an input)."""


class DrawNote(UserWarning):
    """A picture drawn otherwise than asked, or not drawn where it was only a by-product (a run's model.svg)."""
