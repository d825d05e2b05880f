"""`${name}`: the spec's `vars` and a block's parameters, substituted into values.

A string that is exactly `${name}` (also quoted, `"${name}"`, as YAML flow
style requires) is replaced by the value itself, keeping its type: an int
stays an int, a list stays a list. A string that holds `${name}` among other
text gets the value's text spliced in. `$$` writes a literal `$`.
"""

from __future__ import annotations

import copy
import re

from netspec.compose.located import Located, drop_under, rechain, site
from netspec.errors import Diagnostic
from netspec.names import closest
from netspec.source import describe_type

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_WHOLE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


def has_references(value) -> bool:
    """Whether any string in `value` holds `${` or `$$` (and so needs substitution)."""
    if isinstance(value, str):
        return "$" in value and ("${" in value or "$$" in value)
    if isinstance(value, dict):
        return any(has_references(v) for v in value.values())
    if isinstance(value, list):
        return any(has_references(v) for v in value)
    return False


def escape(text: str) -> str:
    """The text a spec must hold to mean `text` literally after substitution."""
    return text.replace("$", "$$") if "${" in text or "$$" in text else text


class Scope:
    """Names that `${...}` can refer to: a block's parameters, then the spec's vars."""

    def __init__(self, values: dict[str, Located], parent: Scope | None = None, block: str | None = None):
        self.values = values
        self.parent = parent
        self.block = block

    def lookup(self, name: str) -> Located | None:
        if name in self.values:
            return self.values[name]
        return self.parent.lookup(name) if self.parent else None

    def names(self) -> list[str]:
        return [*self.values, *(self.parent.names() if self.parent else ())]

    def unknown_hint(self, name: str) -> str:
        match = closest(name, self.names())
        if match:
            return f"did you mean `${{{match}}}`?"
        where = f" or in block `{self.block}`'s `params`" if self.block else ""
        return f"define `{name}` under `vars:`{where}; write `$${{` for a literal `${{`"


class Vars(Scope):
    """The spec's `vars`, evaluated in order of need; a var may use other vars."""

    def __init__(self, raw: dict[str, Located], problems: list[Diagnostic]):
        super().__init__({})
        self.raw = raw
        self.problems = problems
        self.evaluating: list[str] = []
        for name in raw:
            self.lookup(name)

    def lookup(self, name: str) -> Located | None:
        if name in self.values:
            return self.values[name]
        if name not in self.raw:
            return None
        if name in self.evaluating:
            cycle = " -> ".join([*self.evaluating[self.evaluating.index(name):], name])
            self.problems.append(self.raw[name].origin.diagnostic(
                f"variable `{name}` refers to itself: {cycle}", "give one of them a plain value"))
            self.values[name] = None
            return None
        self.evaluating.append(name)
        try:
            self.values[name] = substitute(self.raw[name], self, self.problems)
        finally:
            self.evaluating.pop()
        return self.values[name]

    def names(self) -> list[str]:
        return list(self.raw)


def substitute(loc: Located, scope: Scope, problems: list[Diagnostic]) -> Located:
    """A copy of `loc` with every `${name}` replaced; unknown names become problems."""
    inner = dict(loc.inner)

    def walk(value, path):
        # containers are always copied (expansion changes layers in place); plain leaves are not visited
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) if _visit(v) else v for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) if _visit(v) else v for i, v in enumerate(value)]
        return _string(value, path) if _visit(value) else value

    def lookup(name, path):
        bound = scope.lookup(name)
        if bound is None and not _known_broken(scope, name):
            problems.append(loc.diagnostic(path, f"unknown variable `${{{name}}}`", scope.unknown_hint(name)))
        return bound

    def _string(text, path):
        whole = _WHOLE.fullmatch(text)
        if whole:
            bound = lookup(whole.group(1), path)
            if bound is None:
                return text
            _move(bound, path, text)
            return copy.deepcopy(bound.value)

        def splice(match):
            token = match.group(0)
            if token == "$$":
                return "$"
            if match.group(1) is None:
                problems.append(loc.diagnostic(path, f"unterminated `${{` in {text!r}",
                                               "close it with `}`, or write `$${` for a literal `${`"))
                return token
            name = _NAME.fullmatch(match.group(1))
            if name is None:
                problems.append(loc.diagnostic(path, f"`{token}` is not a reference to a variable",
                                               "write `${name}` with the name of a var or block parameter"))
                return token
            bound = lookup(name.group(1), path)
            if bound is None:
                return token
            if isinstance(bound.value, dict | list):
                problems.append(loc.diagnostic(
                    path, f"`{token}` is {describe_type(bound.value)}, which cannot be spliced into the text {text!r}",
                    f"write the whole value as just \"{token}\" to substitute {describe_type(bound.value)}"))
                return token
            return _text(bound.value)

        return _TOKEN.sub(splice, text)

    def _move(bound: Located, path, text):
        """Values substituted here were written where the var or argument was; say how they got here."""
        here = loc.where(*path)
        extra = (f"substituted for `{text}` at {site(here)}", *here.chain)

        def moved(origin):
            return rechain(origin, (*(c for c in origin.chain if c not in here.chain), *extra))

        drop_under(inner, path)
        inner[path] = rechain(bound.origin, moved(bound.origin).chain, covers_key=False)
        for key, origin in bound.inner.items():
            if key:
                inner[(*path, *key)] = moved(origin)

    value = walk(loc.value, ())
    origin = inner.pop((), loc.origin)
    return Located(value, origin, inner)


def _visit(value) -> bool:
    return isinstance(value, dict | list) or (isinstance(value, str) and "$" in value)


def _known_broken(scope: Scope, name: str) -> bool:
    """A var already reported (a cycle) is not reported again at each use."""
    while scope is not None:
        if name in scope.values and scope.values[name] is None:
            return True
        scope = scope.parent
    return False


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
