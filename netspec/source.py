"""Stage 1: text -> plain data plus the line and column of every value.

YAML and JSON both go through PyYAML's composer, which keeps marks on every
node; we build the Python values ourselves so that we can refuse duplicate
keys, recursive or exploding aliases ("billion laughs") and other hostile
input with a located error instead of a traceback or an out-of-memory kill.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netspec.errors import Diagnostic, SpecError

Path_ = tuple  # a path inside the spec: ("layers", 3, "kernel_size")

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000  # values after alias expansion; a 10,000-layer spec needs ~60,000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_Loader):  # type: ignore[misc, valid-type]
    """SafeLoader that reads `1e-3` as a float, as YAML 1.2 and JSON do."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Source:
    """A spec's data, where it came from, and where each value was written."""

    data: Any
    file: str | None = None
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    base_dir: Path | None = None

    def locate(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of `path`, or of its nearest written ancestor."""
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))

    def diagnostic(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        line, column = self.locate(path, key=key)
        return Diagnostic(message, format_path(path), self.file, line, column, hint)


def format_path(path: Path_) -> str:
    """("layers", 3, "kernel_size") -> "layers[3].kernel_size"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def read_source(spec: str | os.PathLike | Mapping, *, file: str | None = None) -> Source:
    """Read a spec from a path, from YAML/JSON text, or take a mapping as is."""
    if isinstance(spec, Mapping):
        return Source(dict(spec), file=file)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and _looks_like_path(spec)):
        path = Path(spec)
        return parse_text(_read_file(path), file=file or str(spec), base_dir=path.parent)
    return parse_text(str(spec), file=file or "<string>")


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml", ".json")) or os.path.exists(text)


def _read_file(path: Path) -> str:
    name = str(path)
    try:
        if path.is_dir():
            _fail(name, "is a directory, not a spec file", "pass the path of a .yaml or .json file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            _fail(name, f"file is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        _fail(name, "no such file", "check the path and the current directory")
    except PermissionError:
        _fail(name, "permission denied: the file cannot be read")
    except OSError as exc:
        _fail(name, f"cannot read the file: {exc.strerror or exc}")
    return _decode(raw, name)


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        _fail(name, "the file is binary (it contains NUL bytes), not YAML or JSON text", line=line)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _fail(name, f"the file is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})", line=line)


def _fail(file: str, message: str, hint: str | None = None, line: int | None = None, column: int | None = None):
    raise SpecError([Diagnostic(message, "", file, line, column, hint)])


def parse_text(text: str, *, file: str | None = None, base_dir: Path | None = None) -> Source:
    if len(text) > MAX_FILE_BYTES:
        _fail(file, f"spec text is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}")
    if not text.strip():
        _fail(file, "the spec is empty", "a spec is a mapping with at least `name`, `inputs` and `layers`", 1, 1)
    is_json = (file or "").endswith(".json") or text.lstrip().startswith(("{", "["))
    if is_json:
        _check_json(text, file)
    try:
        node = yaml.compose(text, Loader=_SpecLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        _fail(file, f"YAML syntax error: {problem}", _yaml_hint(problem), line, col)
    except yaml.YAMLError as exc:
        _fail(file, f"YAML error: {exc}")
    except RecursionError:
        _fail(file, "the spec is nested too deeply to read")
    if node is None:
        _fail(file, "the spec is empty", "a spec is a mapping with at least `name`, `inputs` and `layers`", 1, 1)
    builder = _Builder(file)
    data = builder.build(node, ())
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        _fail(file, f"the top level of a spec must be a mapping; received a {kind}",
              "start the file with `name:`, `inputs:` and `layers:` keys", node.start_mark.line + 1, node.start_mark.column + 1)
    return Source(data, file, builder.positions, builder.key_positions, base_dir)


def _check_json(text: str, file: str | None) -> None:
    """JSON gets JSON's own syntax errors, which name the right place."""

    def no_duplicates(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=no_duplicates)
    except _DuplicateKey:
        return  # located below, by the YAML pass, which knows the line
    except json.JSONDecodeError as exc:
        _fail(file, f"JSON syntax error: {exc.msg}", None, exc.lineno, exc.colno)
    except RecursionError:
        _fail(file, "the spec is nested too deeply to read")


class _DuplicateKey(Exception):
    pass


def _yaml_hint(problem: str) -> str | None:
    if "tab" in problem:
        return "indent with spaces; YAML does not allow tabs"
    if "mapping values are not allowed" in problem:
        return "a value that contains ': ' must be quoted"
    if "found character '%'" in problem or "found undefined alias" in problem:
        return None
    if "could not find expected ':'" in problem:
        return "check the indentation and that every key ends with ':'"
    return None


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording marks."""

    def __init__(self, file: str | None):
        self.file = file
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.count = 0
        self.active: set[int] = set()
        self.constructor = _SpecLoader("")  # only its scalar constructors are used

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            self._error(node, f"the spec expands to more than {MAX_NODES:,} values",
                        "this usually means aliases that expand exponentially (a 'billion laughs' file)")
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            self._error(node, "an alias refers to a value that contains itself", "remove the recursive alias")
        if len(path) > 100:
            self._error(node, "the spec is nested more than 100 levels deep")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(key_node, "a mapping key must be a plain string")
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._error(key_node, "YAML merge keys (`<<`) are not supported", "use `blocks` and `vars` to reuse parts of a spec")
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = str(key) if isinstance(key, int | float) or key is None else key
                if not isinstance(key, str):
                    self._error(key_node, f"mapping keys must be strings; received {key!r}")
            if key in out:
                first = self.key_positions[(*path, key)]
                self._error(key_node, f"duplicate key `{key}` (first written at line {first[0]})",
                            "remove one of them; YAML keeps only the last, which hides mistakes")
            self.key_positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self._error(node, f"cannot read value {node.value!r}: {exc}")

    def _error(self, node: yaml.Node, message: str, hint: str | None = None):
        mark = node.start_mark
        _fail(self.file, message, hint, mark.line + 1, mark.column + 1)
