"""`--set PATH=VALUE`: change one value of a spec from the command line.

PATH addresses the spec as written (after includes, before blocks expand):
`training.epochs`, `layers[2].units`, `layers[-1].activation`,
`vars.width`, `layers[1].args.filters`. VALUE is read as YAML (`5` is an int,
`[3, 3]` a list, `{type: adam}` a mapping), then typed by the schema: where
the field at PATH takes text and not the YAML reading (`description=2024`),
the text is kept. Errors in the value point at the flag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, TypeAdapter, ValidationError

from netspec.compose.located import Located, drop_under
from netspec.errors import Diagnostic, SpecError, UsageError
from netspec.names import did_you_mean
from netspec.source import Origin, Source, describe_type, format_path, parse_text

_PATH = re.compile(r"^[^.\[\]\s]+(?:\.[^.\[\]\s]+|\[-?\d+\])*$")
_PART = re.compile(r"\.?([^.\[\]\s]+)|\[(-?\d+)\]")
# Keys that hold the user's own names: a new key there is a typo, not an addition.
_CLOSED = ("vars", "blocks")


def parse_override(text: str) -> tuple[tuple, str]:
    """`layers[2].units=128` -> (("layers", 2, "units"), "128"); malformed flags are usage errors."""
    if not isinstance(text, str) or "=" not in text:
        raise UsageError(f"--set expects PATH=VALUE, e.g. `--set training.epochs=5`; received {text!r}")
    path_text, raw = text.split("=", 1)
    path_text = path_text.strip()
    if not _PATH.match(path_text):
        raise UsageError(f"--set {text!r}: {path_text!r} is not a spec path; write keys joined by dots and list "
                         "indexes in brackets, e.g. `layers[2].units` or `training.optimizer.learning_rate`")
    path = tuple(m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PART.finditer(path_text))
    return path, raw


def apply_overrides(doc: Located, overrides: Iterable[str], spec_file: str | None,
                    problems: list[Diagnostic]) -> Located:
    """`doc` with every override applied, in order; the values remember their flag."""
    parsed = [(text, *parse_override(text)) for text in overrides]  # all usage errors before any work
    value, inner = doc.value, dict(doc.inner)
    for text, path, raw in parsed:
        flag = Origin(Source({}, file=spec_file), path, (f"from `--set {text}`",))
        try:
            value, path, created = _set(value, path, raw, flag)
        except _Refused as exc:
            problems.append(flag.diagnostic(str(exc), exc.hint))
            continue
        drop_under(inner, path)
        for where in (*created, path):  # a mapping the flag made is the flag's too (`data` of `--set data.x=...`)
            inner[where] = Origin(flag.source, where, flag.chain)
    return Located(value, doc.origin, inner)


class _Refused(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _set(data: dict, path: tuple, raw: str, flag: Origin) -> tuple[dict, tuple, list[tuple]]:
    """A copy of `data` with the value at `path` replaced; the containers along the way are copied, not changed.
    Also the paths of the mappings it had to create."""
    root = dict(data)
    node = root
    done: list = []
    created: list[tuple] = []
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = format_path(done) or "the spec"
        if isinstance(part, int):
            if not isinstance(node, list):
                raise _Refused(f"cannot index `{where}` with [{part}]: it is {describe_type(node)}, not a list")
            if not -len(node) <= part < len(node):
                raise _Refused(f"`{where}` has {len(node)} entries; there is no entry [{part}]",
                               f"indexes run from 0 to {len(node) - 1} (or -1 for the last)")
            part = part % len(node)
        elif not isinstance(node, dict):
            raise _Refused(f"cannot set `{format_path([*done, part])}`: `{where}` is {describe_type(node)}, not a mapping")
        elif part not in node and done and done[0] in _CLOSED and len(done) in (1, 3):
            hint = did_you_mean(part, node) or f"the names there are: {', '.join(map(str, node)) or 'none'}"
            raise _Refused(f"`{where}` has no `{part}`", hint)
        done.append(part)
        if last:
            node[part] = _typed(raw, root, tuple(done), flag)
            return root, tuple(done), created
        child = node.get(part) if isinstance(node, dict) else node[part]
        if child is None and isinstance(node, dict):
            child = {}
            created.append(tuple(done))
        child = dict(child) if isinstance(child, dict) else list(child) if isinstance(child, list) else child
        node[part] = child
        node = child
    return root, tuple(done), created


def _typed(raw: str, data: dict, path: tuple, flag: Origin):
    """The YAML reading of `raw`, or the text itself where the schema's field takes text and not that reading."""
    value = _yaml(raw, flag)
    if isinstance(value, str | dict | list):
        return value
    annotation = _field_at(data, path)
    if annotation is None:
        return value
    try:
        adapter = TypeAdapter(annotation)
    except Exception:  # a field type pydantic cannot build alone (a forward reference): keep the YAML reading
        return value
    for candidate in (value, raw.strip()):
        try:
            adapter.validate_python(candidate)
            return candidate
        except ValidationError:
            continue
    return value


def _yaml(raw: str, flag: Origin):
    if "\n" in raw:
        return raw
    try:
        # YAML whatever the spec file is: a JSON spec's `--set training.epochs=5` is the number 5 too.
        return parse_text(f"value: {raw}").data["value"]
    except SpecError:
        return raw  # not YAML (`a: b: c`): the text itself


def _field_at(data: dict, path: tuple):
    """The pydantic annotation (with its constraints) of the field at `path`, or None where the schema has none."""
    from netspec.layers import LAYER_TYPES
    from netspec.schema.spec import Spec

    if len(path) >= 3 and path[0] == "layers" and isinstance(path[1], int):
        layer = data["layers"][path[1]] if isinstance(data.get("layers"), list) else None
        model = LAYER_TYPES.get(layer.get("type")) if isinstance(layer, dict) and isinstance(layer.get("type"), str) else None
        return _walk(model, path[2:]) if model else None
    return _walk(Spec, path)


def _walk(annotation, path: tuple):
    import typing

    field = None
    for part in path:
        step = None
        for member in _members(annotation):
            if isinstance(part, str) and isinstance(member, type) and issubclass(member, BaseModel):
                if part in member.model_fields:
                    field = member.model_fields[part]
                    step = field.annotation
                    break
            elif isinstance(part, int) and typing.get_origin(member) in (list, tuple):
                args = typing.get_args(member)
                field, step = None, args[0] if args else None
                break
        if step is None:
            return None
        annotation = step
    return field.rebuild_annotation() if field is not None else annotation


def _members(annotation) -> list:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]
