"""`include:`: merge other spec files into this one.

`include: path` or `include: [a.yaml, b.yaml]`; paths are relative to the
including file's folder. Included files are merged in order, later ones over
earlier ones, and the including file over all of them: mappings merge key by
key, any other value (a list such as `layers`, a number) is replaced whole.
An included file may include others; a cycle is refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from netspec.compose.located import Located, graft, site
from netspec.errors import Diagnostic, SpecError
from netspec.source import Origin, Source, describe_type, read_source


def load_with_includes(source: Source, problems: list[Diagnostic]) -> Located:
    """`source`'s data merged with everything it includes, remembering which file wrote what."""
    return _load(source, (), [_identity(source)], problems)


def _identity(source: Source) -> Path | None:
    return Path(source.file).resolve() if source.file and source.base_dir is not None else None


def _load(source: Source, chain: tuple[str, ...], stack: list, problems: list[Diagnostic]) -> Located:
    doc = Located(source.data, Origin(source, (), chain))
    if "include" not in source.data:
        return doc
    own = Located({k: v for k, v in source.data.items() if k != "include"}, doc.origin)
    entries = doc.child("include")
    listed = [entries.value] if isinstance(entries.value, str) else entries.value
    if not isinstance(listed, list) or not all(isinstance(p, str) and p.strip() for p in listed):
        problems.append(entries.origin.diagnostic(
            f"`include` must be a file path or a list of file paths; received {describe_type(entries.value)}",
            "write `include: [common/training.yaml]`"))
        return own
    base = source.base_dir or Path.cwd()
    merged = None
    for i, text in enumerate(listed):
        where = entries.origin if isinstance(entries.value, str) else entries.where(i)
        path = Path(text) if Path(text).is_absolute() else base / text
        identity = path.resolve()
        if identity in stack:
            names = [str(p.name) for p in stack[stack.index(identity):]] + [path.name]
            problems.append(where.diagnostic(f"include cycle: {' -> '.join(names)}",
                                             "a file must not include itself, directly or through others"))
            continue
        if not path.is_file():
            problems.append(where.diagnostic(
                f"cannot include `{text}`: {'it is a folder' if path.is_dir() else 'no such file'} ({path})",
                f"paths in `include` are relative to the folder of {source.file or 'the spec'}"))
            continue
        included_by = f"included by {site(where)}"
        try:
            included = read_source(path)
        except SpecError as exc:
            problems.extend(_add_chain(d, (included_by, *chain)) for d in exc.diagnostics)
            continue
        part = _load(included, (included_by, *chain), [*stack, identity], problems)
        merged = part if merged is None else merge(merged, part)
    return own if merged is None else merge(merged, own)


def merge(base: Located, top: Located) -> Located:
    """`top` over `base`: mappings merge key by key; anything else in `top` replaces."""
    value: dict = {}
    inner: dict = {}
    for key in [*base.value, *(k for k in top.value if k not in base.value)]:
        if key not in top.value:
            part = base.child(key)
        elif key in base.value and isinstance(base.value[key], dict) and isinstance(top.value[key], dict):
            part = merge(base.child(key), top.child(key))
        else:
            part = top.child(key)
        value[key] = part.value
        graft(inner, (key,), part)
    return Located(value, top.origin, inner)


def _add_chain(diagnostic: Diagnostic, chain: tuple[str, ...]) -> Diagnostic:
    return replace(diagnostic, message=f"{diagnostic.message} ({'; '.join(chain)})")
