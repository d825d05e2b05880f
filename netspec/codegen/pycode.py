"""Python source for generated scripts: literals, identifiers, and statements laid out as `ruff format` would.

Spec values reach a script only through `literal` (the text of a Python
literal that `ast.literal_eval` reads back as the same value) or as checked
identifiers, so no spec value can become code.

Statements are laid out so that `ruff format` (default settings) leaves them
unchanged: a statement that fits in 88 columns stays on one line; otherwise
its brackets are split one item a line, each item followed by a comma. Ruff
keeps such a "magic trailing comma" split as it is, so the output is a fixed
point of the formatter whichever split ruff itself would have picked.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata
from dataclasses import dataclass

LINE_LENGTH = 88  # ruff format's default
INDENT = "    "

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotALiteral(TypeError):
    """A value that has no Python literal form (a date, bytes, an object)."""


# ----- literals -----


def string_literal(text: str) -> str:
    """A string literal, quoted as ruff quotes it: double quotes unless that needs more escapes.

    Like `repr`, it escapes backslashes, the chosen quote, and every character
    that is not printable (newlines, controls, bidi overrides, surrogates).
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for char in text:
        if char == quote or char == "\\":
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # \n, \t, \x00, \u202e, \udc80 ...
    return quote + "".join(out) + quote


def literal(value) -> Expr:
    """The Python literal of a plain value: None, bool, int, float, str, list, tuple, dict."""
    if value is None or isinstance(value, bool):
        return Atom(repr(value))
    if isinstance(value, int):
        return Atom(repr(int(value)))
    if isinstance(value, float):
        if math.isnan(value):
            return Atom('float("nan")')
        if math.isinf(value):
            return Atom('float("inf")' if value > 0 else '-float("inf")')
        return Atom(repr(float(value)).replace("e+", "e"))  # ruff writes 1e20, not 1e+20
    if isinstance(value, str):
        return Atom(string_literal(str(value)))
    if isinstance(value, list):
        return Seq("[", "]", tuple(literal(v) for v in value))
    if isinstance(value, tuple):
        return Seq("(", ")", tuple(literal(v) for v in value), tuple_=True)
    if isinstance(value, dict):
        return Seq("{", "}", tuple(Pair(literal(k), literal(v)) for k, v in value.items()))
    raise NotALiteral(f"{type(value).__name__} value {value!r} has no Python literal form")


# ----- identifiers -----


def is_identifier(name) -> bool:
    """An ASCII identifier that is not a keyword: safe as a variable or keyword-argument name."""
    return isinstance(name, str) and bool(_IDENTIFIER.match(name)) and not keyword.iskeyword(name)


def dotted(name: str) -> str:
    """A dotted name built from code (`keras.layers.Conv2D`); refuse anything else."""
    if not all(is_identifier(part) for part in name.split(".")):
        raise ValueError(f"not a dotted Python name: {name!r}")
    return name


# Names a reader would misread or that would shadow what the script uses.
_AMBIGUOUS = {"l", "I", "O"}  # pycodestyle E741
_BUILTINS = set(dir(builtins))


class Namer:
    """Variable names from spec names: valid, unique, at most `max_length` long (before a
    uniqueness suffix), and shadowing nothing the script uses."""

    def __init__(self, reserved=(), max_length: int = 80):
        self.taken = set(reserved) | _BUILTINS | _AMBIGUOUS | set(keyword.kwlist) | set(keyword.softkwlist)
        self.max_length = max_length

    def name(self, wanted: str) -> str:
        base = re.sub(r"\W", "_", wanted or "", flags=re.ASCII).lstrip("_") or "v"
        if base[0].isdigit():
            base = "v_" + base
        base = base[: self.max_length]
        candidate, n = base, 0
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_" if n == 1 else f"{base}_{n - 1}"
        self.taken.add(candidate)
        return candidate


# ----- expressions -----


@dataclass(frozen=True)
class Atom:
    """Text that is already a valid expression that ruff leaves alone (a name, a literal)."""

    text: str


@dataclass(frozen=True)
class Seq:
    """A bracketed list of items: a list, tuple, dict, or a call's arguments."""

    open: str
    close: str
    items: tuple
    tuple_: bool = False


@dataclass(frozen=True)
class Pair:
    """`key: value` in a dict."""

    key: object
    value: object


@dataclass(frozen=True)
class Keyword:
    """`name=value` in a call; `name` None means `**value`."""

    name: str | None
    value: object


@dataclass(frozen=True)
class Call:
    func: object  # Atom (a dotted name) or another Call
    args: Seq


Expr = Atom | Seq | Call


def name(text: str) -> Atom:
    return Atom(dotted(text))


def call(func, *args, **kwargs) -> Call:
    """`func(*args, **kwargs)`; kwargs keep their order."""
    func = name(func) if isinstance(func, str) else func
    return Call(func, Seq("(", ")", tuple(args) + tuple(keyword_arg(k, v) for k, v in kwargs.items())))


def keyword_arg(key, value) -> Keyword:
    """`key=value`, or `**{"key": value}` where the key is not a plain identifier."""
    if is_identifier(key):
        return Keyword(key, value)
    return Keyword(None, Seq("{", "}", (Pair(literal(key), value),)))


def flat(expr) -> str:
    if isinstance(expr, Atom):
        return expr.text
    if isinstance(expr, Call):
        return flat(expr.func) + flat(expr.args)
    if isinstance(expr, Keyword):
        return (f"{expr.name}=" if expr.name else "**") + flat(expr.value)
    if isinstance(expr, Pair):
        return f"{flat(expr.key)}: {flat(expr.value)}"
    if isinstance(expr, Seq):
        inner = ", ".join(flat(item) for item in expr.items)
        if expr.tuple_ and len(expr.items) == 1:
            inner += ","
        return expr.open + inner + expr.close
    raise TypeError(f"not an expression: {expr!r}")


def width(text: str) -> int:
    """Columns `text` takes, never less than ruff counts (it counts wide characters as 2).

    Deciding to split on this bound is always safe: a split ruff would not
    have made is kept anyway, thanks to its magic trailing commas.
    """
    if text.isascii():
        return len(text)
    return sum(1 if ord(char) < 128 else 2 for char in text)


def ruff_width(text: str) -> int:
    """Columns `text` takes as ruff counts them (Unicode East Asian width; combining marks 0)."""
    total = 0
    for char in text:
        if ord(char) < 128:
            total += 1
        elif unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
            continue
        else:
            total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def statement(expr, indent: int = 0, prefix: str = "", suffix: str = "") -> list[str]:
    """The lines of `prefix + expr + suffix` at `indent` levels, laid out as ruff would keep them.

    `prefix` is what precedes the expression (`x = `, `return `). As ruff does,
    an expression whose first line will not fit after it is put in parentheses
    of its own, if every line then fits.
    """
    pad = INDENT * indent
    lines = _layout(expr, pad, prefix, suffix)
    if prefix and not _fits_exactly(lines[0]):
        wrapped = [pad + prefix + "(", *_layout(expr, pad + INDENT, "", ""), pad + ")" + suffix]
        if all(_fits_exactly(line) for line in wrapped):
            return wrapped
    return lines


def _fits_exactly(line: str) -> bool:
    # Whether ruff adds parentheses is not kept or undone by trailing commas: measure as it does.
    return ruff_width(line) <= LINE_LENGTH


def _fits(line: str) -> bool:
    return width(line) <= LINE_LENGTH


def _layout(expr, pad: str, prefix: str, suffix: str) -> list[str]:
    line = pad + prefix + flat(expr) + suffix
    if _fits(line):
        return [line]
    if isinstance(expr, Keyword):
        head = f"{expr.name}=" if expr.name else "**"
        return _layout(expr.value, pad, prefix + head, suffix)
    if isinstance(expr, Pair):
        return _layout(expr.value, pad, prefix + flat(expr.key) + ": ", suffix)
    if isinstance(expr, Seq) and expr.items:
        return _split(expr, pad, prefix, suffix)
    if isinstance(expr, Call) and expr.args.items:
        if isinstance(expr.func, Call) and expr.func.args.items:
            # A chain `f(a)(b)`: split the first call and keep `)(b)` on its closing line
            # when that fits; else keep `f(a)(` whole and split `b`; else split both.
            closing = pad + ")" + flat(expr.args) + suffix
            if _fits(closing):
                return _layout(expr.func, pad, prefix, flat(expr.args) + suffix)
            head = pad + prefix + flat(expr.func) + "("
            if _fits(head):
                return _split(expr.args, pad, prefix + flat(expr.func), suffix)
            first = _layout(expr.func, pad, prefix, "(")
            return first[:-1] + _split(expr.args, pad, first[-1][len(pad):-1], suffix)
        return _split(expr.args, pad, prefix + flat(expr.func), suffix)
    return [line]  # nothing to split (a long string): ruff leaves it too


def _split(seq: Seq, pad: str, prefix: str, suffix: str) -> list[str]:
    lines = [pad + prefix + seq.open]
    for item in seq.items:
        lines += _layout(item, pad + INDENT, "", ",")
    lines.append(pad + seq.close + suffix)
    return lines
