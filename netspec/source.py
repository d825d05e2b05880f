"""Stage 1: text -> plain data plus the line and column of every value.

YAML and JSON both go through PyYAML's composer, which keeps marks on every
node; we build the Python values ourselves so that we can refuse duplicate
keys, recursive or exploding aliases ("billion laughs") and other hostile
input with a located error instead of a traceback or an out-of-memory kill.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from netspec.errors import Diagnostic, SpecError, SpecFileError

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
    """A spec's data, where it came from, and where each value was written.

    An expanded spec (netspec/compose) has `origins`: a value there may have been
    written in another file, a block body or a `--set` flag; `origins[path]`
    says where for `path` and everything below it that has no entry of its own,
    and `groups[i]` the block copies and stacks that `layers[i]` came from,
    outermost first (netspec.compose.blocks.Group; pictures draw them).
    """

    data: Any
    file: str | None = None
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    base_dir: Path | None = None
    origins: dict[Path_, Origin] = field(default_factory=dict)
    groups: dict[int, tuple] = field(default_factory=dict)

    def origin(self, path: Path_, *, key: bool = False) -> Origin:
        """Where the value at `path` (its key, if `key`) was written."""
        path = tuple(path)
        for i in range(len(path), -1, -1) if self.origins else ():
            found = self.origins.get(path[:i])
            if found is not None and not (key and i == len(path) and not found.covers_key):
                return found.at(*path[i:])
        return Origin(self, path)

    def locate(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of `path`, or of its nearest written ancestor (in the file `origin` names)."""
        path = tuple(path)
        if self.origins:
            found = self.origin(path, key=key)
            if found.source is not self:
                return found.source.locate(found.path, key=key)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))

    def diagnostic(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        if self.origins:
            found = self.origin(path, key=key)
            if found.source is not self:
                return found.diagnostic(message, hint, key=key)
        line, column = self.locate(path, key=key)
        return Diagnostic(message, format_path(path), self.file, line, column, hint)


@dataclass(frozen=True)
class Origin:
    """Where a value was written: `path` in `source`, and how it got into the expanded spec.

    `chain` says how, innermost first ("in block conv_block, copy 2, used at
    layers[4]", "included by spec.yaml:3"); diagnostics append it to their
    message. `covers_key` is false where only the value was written there (a
    `${name}` substitution), so errors about the key itself look further up.
    """

    source: Source
    path: Path_ = ()
    chain: tuple[str, ...] = ()
    covers_key: bool = True

    def at(self, *parts) -> Origin:
        return Origin(self.source, (*self.path, *parts), self.chain) if parts else self

    def diagnostic(self, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        found = self.source.diagnostic(self.path, message, hint, key=key)
        return replace(found, message=f"{found.message} ({'; '.join(self.chain)})") if self.chain else found


def diagnostic_at(source: Source | None, path: Path_, message: str, hint: str | None = None, *,
                  key: bool = False) -> Diagnostic:
    """A diagnostic at `path`, with its file position where the spec came from a source (a dict has none);
    `key`: at the key's position rather than its value's."""
    if source is not None:
        return source.diagnostic(path, message, hint, key=key)
    return Diagnostic(message, format_path(path), hint=hint)


def format_path(path: Path_) -> str:
    """("layers", 3, "kernel_size") -> "layers[3].kernel_size"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def read_source(spec: str | os.PathLike | Mapping | Source, *, file: str | None = None) -> Source:
    """Read a spec from a path, from YAML/JSON text, or take a mapping (or a Source: netspec.space's points) as is."""
    if isinstance(spec, Source):
        return spec
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
            _fail(name, "is a directory, not a spec file", "pass the path of a .yaml or .json file", error=SpecFileError)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            _fail(name, f"file is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,} bytes")
        with path.open("rb") as handle:  # read no more than the limit, even if the file grows meanwhile
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            _fail(name, f"file is over {MAX_FILE_BYTES:,} bytes, the limit for a spec")
    except FileNotFoundError:
        _fail(name, "no such file", "check the path and the current directory", error=SpecFileError)
    except PermissionError:
        _fail(name, "permission denied: the file cannot be read", error=SpecFileError)
    except OSError as exc:
        _fail(name, f"cannot read the file: {exc.strerror or exc}", error=SpecFileError)
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


def _fail(file: str | None, message: str, hint: str | None = None, line: int | None = None, column: int | None = None,
          *, error: type[SpecError] = SpecError):
    raise error([Diagnostic(message, "", file, line, column, hint)])


def parse_text(text: str, *, file: str | None = None, base_dir: Path | None = None) -> Source:
    """YAML or JSON text -> Source; every problem becomes a located SpecError."""
    if len(text) > MAX_FILE_BYTES:
        _fail(file, f"spec text is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}")
    if "\x00" in text:
        _fail(file, "the text contains NUL characters: it is binary, not YAML or JSON", line=text[: text.index("\x00")].count("\n") + 1)
    if not text.strip():
        _fail(file, "the spec is empty", "a spec is a mapping with at least `name`, `inputs` and `layers`", 1, 1)
    if (file or "").endswith(".json") or text.lstrip().startswith("{"):
        _check_json(text, file, strict=(file or "").endswith(".json"))
    loader = _SpecLoader(text)
    builder = _Builder(file, loader)
    try:
        data = builder.document()
    except yaml.MarkedYAMLError as exc:
        _fail(file, *_yaml_problem(exc, text))
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        _fail(file, f"the text contains a character YAML does not allow ({exc.character!r})", None, line)
    except yaml.YAMLError as exc:
        _fail(file, f"YAML error: {exc}")
    except RecursionError:
        _fail(file, "the spec is nested too deeply to read")
    finally:
        loader.dispose()
    if data is _EMPTY:
        _fail(file, "the spec is empty", "a spec is a mapping with at least `name`, `inputs` and `layers`", 1, 1)
    if not isinstance(data, dict):
        line, column = builder.positions[()]
        _fail(file, f"the top level of a spec must be a mapping; received {describe_type(data)}",
              "start the file with `name:`, `inputs:` and `layers:` keys", line, column)
    return Source(data, file, builder.positions, builder.key_positions, base_dir)


def describe_type(value) -> str:
    """A value's kind in the words of YAML/JSON: `a list`, `a string`, ..."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")


def _check_json(text: str, file: str | None, strict: bool) -> None:
    """JSON gets JSON's own syntax errors, which name the right place.

    `strict` for a .json file; otherwise text that merely starts with `{` may
    still be YAML flow style, and a JSON error is left to the YAML pass.
    """
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if strict:
            before = text[: exc.pos].rstrip()
            hint = "JSON allows no comma after the last item" if before.endswith(",") else None
            _fail(file, f"JSON syntax error: {exc.msg}", hint, exc.lineno, exc.colno)
    except RecursionError:
        _fail(file, "the spec is nested too deeply to read")


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> tuple:
    """(message, hint, line, column) of a YAML syntax error."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    hint = None
    if mark is not None and text[mark.index: mark.index + 1] == "\t" or "tab" in problem:
        return "YAML syntax error: a tab character where YAML expects spaces", "indent with spaces; YAML does not allow tabs", line, column
    context = exc.context_mark
    if exc.context and context is not None and (context.line, context.column) != (mark.line, mark.column):
        problem += f" ({exc.context} that starts at line {context.line + 1}, column {context.column + 1})"
    if "mapping values are not allowed" in problem:
        hint = "a value that contains ': ' must be quoted"
    elif "could not find expected ':'" in problem:
        hint = "check the indentation and that every key ends with ':'"
    elif "did not find expected" in problem and exc.context and "flow" in exc.context:
        hint = "close every `[` with `]` and every `{` with `}`, and separate items with commas"
    return f"YAML syntax error: {problem}", hint, line, column


_EMPTY = object()  # a stream without a document
_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_PLAIN_TAGS = {"!", *(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map"))}
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,30})")
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
MAX_DEPTH = 100


class _Builder:
    """Builds dicts, lists and scalars straight from the parser's events.

    Building from events (rather than from composed nodes) keeps time and
    memory proportional to what is accepted: the value count is checked as
    values arrive, aliases add the size of what they repeat before it is
    copied, and an alias to a collection still being read is recursion.
    """

    def __init__(self, file: str | None, loader):
        self.file = file
        self.loader = loader
        self.next = loader.get_event
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.count = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.aliases = 0
        self.plain: dict[str, Any] = {}  # text of a plain scalar -> its value

    def document(self) -> Any:
        self.next()  # StreamStartEvent
        event = self.next()
        if isinstance(event, yaml.StreamEndEvent):
            return _EMPTY
        data = self.value(self.next(), ())
        self.next()  # DocumentEndEvent
        event = self.next()
        if not isinstance(event, yaml.StreamEndEvent):
            self._error(event, "the file holds more than one YAML document", "keep one spec per file, without `---` separators")
        return data

    def value(self, event, path: Path_) -> Any:
        mark = event.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if type(event) is yaml.ScalarEvent and event.tag is None and event.anchor is None:
            # the common case, kept short: most values of a spec are untagged scalars
            self.count += 1
            if self.count > MAX_NODES:
                self._too_many(event)
            text = event.value
            if not event.implicit[0]:
                return text  # quoted: a string
            if text in self.plain:  # plain scalars repeat a lot (`relu`, `3`): read each text once
                return self.plain[text]
            value = self.plain[text] = self._scalar(event)
            return value
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        start = self.count
        self.count += 1
        if self.count > MAX_NODES:
            self._too_many(event)
        anchor = event.anchor
        if event.tag is not None and event.tag not in _PLAIN_TAGS:
            self._error(event, f"the YAML tag `{event.tag.replace('tag:yaml.org,2002:', '!!')}` is not allowed in a spec",
                        "remove the tag: a spec holds plain values (mappings, lists, strings, numbers, booleans, null)")
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event)
        else:
            if len(path) > MAX_DEPTH:
                self._error(event, f"the spec is nested more than {MAX_DEPTH} levels deep")
            if anchor is not None:
                self.open_anchors.add(anchor)
            if isinstance(event, yaml.SequenceStartEvent):
                value = self._sequence(path)
            elif isinstance(event, yaml.MappingStartEvent):
                value = self._mapping(path)
            else:
                self._error(event, f"unexpected YAML event {type(event).__name__}")
            self.open_anchors.discard(anchor)
        if anchor is not None:
            self.anchors[anchor] = (value, self.count - start)
        return value

    def _sequence(self, path: Path_) -> list:
        out: list = []
        while True:
            event = self.next()
            if isinstance(event, yaml.SequenceEndEvent):
                return out
            out.append(self.value(event, (*path, len(out))))

    def _mapping(self, path: Path_) -> dict:
        out: dict = {}
        while True:
            event = self.next()
            if isinstance(event, yaml.MappingEndEvent):
                return out
            if not isinstance(event, yaml.ScalarEvent):
                self._error(event, "a mapping key must be a plain string", "write keys as `name: value`")
            key = event.value
            if key == "<<" and event.implicit[0]:
                self._error(event, "YAML merge keys (`<<`) are not supported", "use `blocks` and `vars` to reuse parts of a spec")
            key_path = (*path, key)
            if key in out:
                first = self.key_positions[key_path]
                self._error(event, f"duplicate key `{key}` (first written at line {first[0]})",
                            "remove one of them; a parser would silently keep only the last")
            self.key_positions[key_path] = (event.start_mark.line + 1, event.start_mark.column + 1)
            out[key] = self.value(self.next(), key_path)

    def _scalar(self, event) -> Any:
        value, tag = event.value, event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return value  # quoted: a string
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR:
            return value
        if len(value) > 100 and tag in (_INT, _FLOAT):
            self._error(event, f"a number written with {len(value):,} characters is far too long for a spec",
                        "check this value for a typo")
        if tag == _INT and _DECIMAL.fullmatch(value):
            return int(value)
        if tag == _FLOAT and _PLAIN_FLOAT.fullmatch(value):
            return float(value)
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self._error(event, f"cannot read value {shorten(value)}: {str(exc).splitlines()[0]}")

    def _alias(self, event) -> Any:
        name = event.anchor
        if name in self.open_anchors:
            self._error(event, f"the alias `*{name}` refers to a value that contains itself", "remove the recursive alias")
        if name not in self.anchors:
            self._error(event, f"the alias `*{name}` names no anchor written before it", f"define `&{name}` before using `*{name}`")
        value, size = self.anchors[name]
        self.aliases += 1
        self.count += size
        if self.count > MAX_NODES:
            self._too_many(event)
        return copy.deepcopy(value) if isinstance(value, list | dict) else value

    def _too_many(self, event):
        if self.aliases:
            self._error(event, f"the spec expands to more than {MAX_NODES:,} values through its aliases",
                        "aliases that repeat aliases grow exponentially (a 'billion laughs' file); remove them")
        self._error(event, f"the spec holds more than {MAX_NODES:,} values, too many for a network spec",
                    "split it, or generate the layers with `blocks`")

    def _error(self, event, message: str, hint: str | None = None):
        mark = event.start_mark
        _fail(self.file, message, hint, mark.line + 1, mark.column + 1)


def shorten(value: Any, limit: int = 60) -> str:
    """repr of a value for a message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
