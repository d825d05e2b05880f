"""Search spaces: values that stand for many, for `netspec tune` to search and `validate`/`summary` to check.

Written in place of any value under `layers`, `training`, `vars` or `data`:

    {choice: [a, b, ...]}                    one of the options (each may hold spaces of its own)
    {int: [lo, hi], step: 1, log: false}     an integer of the range, both bounds included
    {float: [lo, hi], log: false}            a number of the range (`step` too, as Optuna takes it)

Spaces are found in the spec as written, before composition (a var or a block's argument may hold one), and
named by their path there: `layers[3].filters`, `vars.width`, and inside an option of a choice
`layers[2].choice[1].units` (sampled only when that option is picked). A point gives each active space a
value; `substitute` writes it into the spec, keeping the file's positions (a chosen option's at the space),
so that the point loads through the usual pipeline and its errors point at the space's line.

`check` is what `validate` and `summary` run on a spec with spaces: the declarations, then every point of the
grid (choices' options, ints' values, floats' bounds) up to `EXHAUSTIVE` points, else a seeded sample that
takes every option of every choice, the low and the high corner, and random points between.
Nothing here imports TensorFlow or Optuna.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from netspec.errors import Diagnostic, SpecError, UsageError
from netspec.source import Source, diagnostic_at, format_path, read_source

KINDS = ("choice", "int", "float")
MODIFIERS = {"choice": (), "int": ("step", "log"), "float": ("step", "log")}
SEARCHED = ("layers", "training", "vars", "data")  # the top-level keys whose values may be spaces
EXHAUSTIVE = 1000  # grids up to this many points are checked whole
SAMPLED = 200  # else this many points, drawn with SEED
SEED = 0
MAX_FAILING_POINTS = 10  # points whose errors `check` reports (the first one's in full, then only new errors)

Point = dict  # a space's name -> its value (for a choice: the index of the option picked), in walk order


@dataclass
class Space:
    """One space: `path` where it is written (raw: inside a choice's option it runs through `choice[i]`), `at`
    where its value lands once the choices above it are made, and its declaration."""

    path: tuple
    at: tuple
    kind: str
    options: list = field(default_factory=list)  # choice
    nested: list[list[Space]] = field(default_factory=list)  # choice: the spaces inside each option
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False

    @property
    def name(self) -> str:
        return format_path(self.path)

    def values(self) -> list:
        """The grid's values: a choice's option indexes, every value of an int range, a float range's bounds."""
        if self.kind == "choice":
            return list(range(len(self.options)))
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return [self.low] if self.low == self.high else [self.low, self.high]

    def scalar_options(self) -> bool:
        return all(option is None or isinstance(option, bool | int | float | str) for option in self.options)

    def show(self, value) -> str:
        """A value as points are named: `relu`, `64`, `0.001`; an option that is not a scalar as `choice[1]`."""
        if self.kind == "choice":
            if not self.scalar_options():
                return f"choice[{value}]"
            value = self.options[value]
        if isinstance(value, float):
            return f"{value:.6g}"
        return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    def declaration(self) -> dict:
        """The space as data, for telling one search's spaces from another's."""
        if self.kind == "choice":
            return {"path": self.name, "choice": len(self.options),
                    "nested": [[s.declaration() for s in n] for n in self.nested]}
        return {"path": self.name, self.kind: [self.low, self.high], "step": self.step, "log": self.log}


def is_space(value) -> bool:
    """A mapping with exactly one of `choice`, `int`, `float` among its keys."""
    return isinstance(value, dict) and sum(kind in value for kind in KINDS) == 1


def has_spaces(data) -> bool:
    if not isinstance(data, dict):
        return False
    return any(_any_space(data[key]) for key in SEARCHED if key in data)


def _any_space(value) -> bool:
    if isinstance(value, dict):
        return is_space(value) or any(_any_space(v) for v in value.values())
    if isinstance(value, list):
        return any(_any_space(v) for v in value)
    return False


def find(source: Source, problems: list[Diagnostic] | None = None) -> list[Space]:
    """The spaces of a spec as written, outermost only (each choice holds those in its options); mistakes in
    their declarations go to `problems` (raised as SpecError where it is None)."""
    own = problems is None
    problems = [] if own else problems
    data = source.data
    spaces: list[Space] = []
    if isinstance(data, dict):
        for key in [k for k in data if k in SEARCHED]:  # in the file's order
            _walk(data[key], (key,), (key,), source, spaces, problems)
    if own and problems:
        raise SpecError(problems)
    return spaces


def _walk(value, path: tuple, at: tuple, source: Source, into: list[Space], problems: list[Diagnostic]) -> None:
    if is_space(value):
        space = _declared(value, path, at, source, problems)
        if space is not None:
            into.append(space)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, key), (*at, key), source, into, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, (*path, i), (*at, i), source, into, problems)


def _declared(value: dict, path: tuple, at: tuple, source: Source, problems: list[Diagnostic]) -> Space | None:
    """The Space `value` declares, or None with its mistakes added to `problems`."""
    kind = next(k for k in KINDS if k in value)
    before = len(problems)

    def problem(where: tuple, message: str, hint: str | None = None, key: bool = False):
        problems.append(diagnostic_at(source, (*path, *where), message, hint, key=key))

    allowed = (kind, *MODIFIERS[kind])
    for key in value:
        if key not in allowed:
            extra = f"`{kind}` takes {', '.join(f'`{m}`' for m in MODIFIERS[kind])}" if MODIFIERS[kind] else \
                "a `choice` takes only its list of options"
            problem((key,), f"a `{kind}` search space has no key `{key}`; {extra}",
                    "write `{choice: [a, b]}`, `{int: [lo, hi], step: 1, log: false}` or `{float: [lo, hi], log: "
                    "false}`", key=True)
    if kind == "choice":
        options = value["choice"]
        if not isinstance(options, list) or not options:
            problem(("choice",), f"`choice` takes a non-empty list of options; received {_describe(options)}",
                    "write `{choice: [32, 64, 128]}`")
            return None
        nested = []
        for i, option in enumerate(options):
            inner: list[Space] = []
            _walk(option, (*path, "choice", i), at, source, inner, problems)
            nested.append(inner)
        return Space(path, at, kind, options=options, nested=nested) if len(problems) == before else None
    bounds = value[kind]
    number = int if kind == "int" else (int, float)
    if not (isinstance(bounds, list) and len(bounds) == 2
            and all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)):
        what = "integers" if kind == "int" else "numbers"
        problem((kind,), f"`{kind}` takes its range as two {what} [low, high]; received {_describe(bounds)}",
                f"write `{{{kind}: [{'16, 128' if kind == 'int' else '0.0001, 0.1'}]}}`")
        return None
    low, high = bounds
    if kind == "float" and not all(math.isfinite(b) for b in bounds):
        problem((kind,), f"the bounds of a `float` range must be finite numbers; received [{low}, {high}]")
        return None
    if low > high:
        problem((kind,), f"the range's low bound ({low}) is above its high bound ({high})",
                f"write `[{high}, {low}]`")
    log = value.get("log", False)
    if not isinstance(log, bool):
        problem(("log",), f"`log` is true or false; received {_describe(log)}")
        log = False
    step = value.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            problem(("step",), f"`step` of an `{kind}` range is a positive {'integer' if kind == 'int' else 'number'}; "
                    f"received {_describe(step)}")
            step = None
        elif log and step != 1:
            problem(("step",), "a range is either `log` or stepped, not both (Optuna samples log ranges "
                    "continuously)", "leave out `step`, or `log`")
        elif low <= high and not _divides(step, high - low):
            problem(("step",), f"`step` {step} does not divide the range [{low}, {high}] (its width is {high - low}), "
                    "so the high bound could never be picked",
                    f"make the high bound {low + step * math.floor((high - low) / step)}, or choose another step")
    if log and low <= 0:
        problem((kind,), f"a `log` range must lie above 0; its low bound is {low}",
                "start it at a positive value, e.g. 1e-4, or leave out `log`")
    if len(problems) > before:
        return None
    return Space(path, at, kind, low=low, high=high, step=step if kind == "float" else (step or 1), log=log)


def _divides(step, width) -> bool:
    if isinstance(step, int) and isinstance(width, int):
        return width % step == 0
    ratio = width / step
    return abs(ratio - round(ratio)) < 1e-9 * max(1.0, abs(ratio))


def _describe(value) -> str:
    from netspec.source import describe_type

    text = repr(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else ""
    return f"{describe_type(value)} {text}".strip()


# ----- points -----


def walk(spaces: list[Space], point: Point) -> Iterator[Space]:
    """The spaces `point` gives values: the given ones, and those inside the options it picks."""
    for space in spaces:
        yield space
        if space.kind == "choice" and space.name in point:
            yield from walk(space.nested[point[space.name]], point)


def size(spaces: list[Space]) -> int:
    """Points of the grid (floats at their two bounds)."""
    total = 1
    for space in spaces:
        if space.kind == "choice":
            total *= sum(size(nested) for nested in space.nested)
        else:
            total *= len(space.values()) if space.kind == "float" else \
                (int(space.high) - int(space.low)) // int(space.step or 1) + 1
    return total


def grid(spaces: list[Space]) -> Iterator[Point]:
    """Every point of the grid, in order: the first options and low bounds first."""
    if not spaces:
        yield {}
        return
    first, rest = spaces[0], spaces[1:]
    for head in _values(first):
        for tail in grid(rest):
            yield {**head, **tail}


def _values(space: Space) -> Iterator[Point]:
    if space.kind == "choice":
        for i, nested in enumerate(space.nested):
            for inner in grid(nested):
                yield {space.name: i, **inner}
    else:
        for value in space.values():
            yield {space.name: value}


def sample(spaces: list[Space], count: int, seed: int = SEED) -> list[Point]:
    """`count` distinct points, drawn with `seed`: the low corner, the high corner, then random ones (a range's
    bounds drawn often, where shapes break); each choice picks its options in turn, so that all are taken."""
    rng = random.Random(seed)
    turns: dict[str, int] = {}
    points, seen = [], set()
    for n in range(count * 5):  # duplicates are skipped; give up on a small space long before looping forever
        point: Point = {}
        _draw(spaces, rng, turns, "low" if n == 0 else "high" if n == 1 else "random", point)
        key = tuple(point.items())
        if key not in seen:
            seen.add(key)
            points.append(point)
            if len(points) == count:
                break
    return points


def _draw(spaces: list[Space], rng: random.Random, turns: dict, mode: str, point: Point) -> None:
    for space in spaces:
        if space.kind == "choice":
            turn = turns.get(space.name, 0)
            turns[space.name] = turn + 1
            point[space.name] = index = turn % len(space.options)
            _draw(space.nested[index], rng, turns, mode, point)
            continue
        roll = rng.random()
        if mode == "low" or (mode == "random" and roll < 0.2):
            point[space.name] = space.low
        elif mode == "high" or (mode == "random" and roll < 0.4):
            point[space.name] = space.high
        else:
            point[space.name] = _random_value(space, rng)


def _random_value(space: Space, rng: random.Random):
    low, high = space.low, space.high
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if space.log else rng.uniform(low, high)
    if space.kind == "int":
        step = int(space.step or 1)
        return int(low) + step * round((min(max(value, low), high) - low) / step)
    if space.step:
        return low + space.step * round((value - low) / space.step)
    return value


def describe(spaces: list[Space], point: Point) -> str:
    """`layers[3].filters=64, training.optimizer.learning_rate=0.001`: how messages and tables name a point."""
    return ", ".join(f"{s.name}={s.show(point[s.name])}" for s in walk(spaces, point) if s.name in point)


def value_of(space: Space, point: Point):
    """What `point` writes in `space`'s place."""
    value = point[space.name]
    return _copy(space.options[value]) if space.kind == "choice" else value


def substitute(source: Source, spaces: list[Space], point: Point) -> Source:
    """`source` with `point`'s values in place of its spaces, a plain spec; positions move with the values (an
    option's to where the choice stood), so that the point's errors are located where its values were written."""
    import copy

    data = copy.deepcopy(source.data)
    active = list(walk(spaces, point))
    for space in active:  # outer spaces first: an option is in place before the spaces inside it are filled
        _put(data, space.at, value_of(space, point))
    return Source(data, source.file, _moved(source.positions, active, point),
                  _moved(source.key_positions, active, point), source.base_dir)


def _put(data, path: tuple, value) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _copy(value):
    import copy

    return copy.deepcopy(value)


def _moved(positions: dict, active: list[Space], point: Point) -> dict:
    by_path = {space.path: space for space in active}
    own, out = {}, {}
    for key, where in positions.items():
        space = next((by_path[key[:n]] for n in range(len(key), 0, -1) if key[:n] in by_path), None)
        if space is None:
            out[key] = where
        elif key == space.path:
            own[space.at] = where
        else:
            n = len(space.path)
            if space.kind == "choice" and key[n] == "choice" and len(key) > n + 1 and key[n + 1] == point[space.name]:
                out[(*space.at, *key[n + 2:])] = where  # the chosen option, and what is inside it
    return {**own, **out}


# ----- checking a spec with spaces -----


@dataclass
class Checked:
    """What `check` found: the spec's `spaces`, the grid's `size`, the points loaded (`checked`, all of them when
    `exhaustive`), the first point (`first`, its Loaded `loaded`) and the smallest and largest parameter counts
    with their points."""

    source: Source
    spaces: list[Space]
    size: int
    checked: int
    exhaustive: bool
    first: Point
    loaded: Any  # netspec.load.Loaded of `first`
    smallest: tuple[int, Point]
    largest: tuple[int, Point]

    def describe(self, point: Point) -> str:
        return describe(self.spaces, point)


def read(spec, overrides: Iterable[str] = ()) -> tuple[Source, list[Space]]:
    """A spec's source and its spaces, less those that `--set` flags replace (a flag that changes a space's
    declaration rather than replacing it is a usage error)."""
    source = read_source(spec)
    if not has_spaces(source.data):
        return source, []
    spaces = find(source)
    flags = _flag_paths(overrides, source.data)
    kept = []
    for space in spaces:
        if any(space.path[: len(flag)] == flag for flag in flags):
            continue  # `--set layers[3].filters=64` picks one value: no space there any more
        inside = next((flag for flag in flags if flag[: len(space.path)] == space.path), None)
        if inside is not None:
            raise UsageError(f"--set {format_path(inside)}=... changes the search space at {space.name}; set the "
                             f"whole value instead (`--set {space.name}=VALUE`), or edit the space in the spec")
        kept.append(space)
    return source, kept


def _flag_paths(overrides: Iterable[str], data) -> list[tuple]:
    from netspec.compose.overrides import parse_override

    paths = []
    for text in overrides:
        path, _ = parse_override(text)
        normal, node = [], data
        for part in path:  # `layers[-1]` names the same entry as `layers[7]`
            if isinstance(part, int) and isinstance(node, list) and -len(node) <= part < 0:
                part += len(node)
            normal.append(part)
            node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
        paths.append(tuple(normal))
    return paths


def _has(node, part) -> bool:
    return part in node if isinstance(node, dict) else isinstance(part, int) and 0 <= part < len(node)


def refuse(source: Source, overrides: Iterable[str] = ()) -> None:
    """A SpecError at each space of a spec that a verb needs plain (build, train, generate, ...)."""
    if not has_spaces(source.data):
        return
    _, spaces = read(source, overrides)
    if spaces:
        raise SpecError([diagnostic_at(source, space.path, f"a search space (`{space.kind}`) stands here, and this "
                                       "needs one value", "`netspec tune` searches the spec's spaces and writes the "
                                       "best point as best.yaml; to use one point now, set each space with --set, "
                                       f"e.g. `--set {space.name}=VALUE`") for space in spaces])


def check(spec: str | os.PathLike | Mapping | Source, overrides: Iterable[str] = (), *, limit: int = EXHAUSTIVE,
          sampled: int = SAMPLED, seed: int = SEED):
    """Check a spec with its spaces: a `Checked`, or for a spec without spaces its `Loaded`, as `load` gives it.

    Raises SpecError with the declarations' mistakes, or with the errors of the points that fail to load (each
    message starting with the point's values), at most MAX_FAILING_POINTS of them."""
    from netspec.load import load

    overrides = list(overrides)
    source, spaces = read(spec, overrides)
    if not spaces:
        return load(source, overrides=overrides)
    total = size(spaces)
    exhaustive = total <= limit
    points = list(grid(spaces)) if exhaustive else sample(spaces, sampled, seed)
    problems: list[Diagnostic] = []
    seen: set = set()
    failing = 0
    first = smallest = largest = None
    for point in points:
        try:
            result = load(substitute(source, spaces, point), overrides=overrides)
        except SpecError as exc:
            # One report a place: other points failing at the same place mostly repeat the first one's error.
            new = [d for d in exc.diagnostics if (d.file, d.line, d.column, d.path) not in seen]
            seen.update((d.file, d.line, d.column, d.path) for d in exc.diagnostics)
            if new and failing < MAX_FAILING_POINTS:
                failing += 1
                named = describe(spaces, point)
                problems.extend(_named(d, named) for d in new)
            continue
        params = result.shapes.total
        if first is None:
            first = (point, result)
        if smallest is None or params < smallest[0]:
            smallest = (params, point)
        if largest is None or params > largest[0]:
            largest = (params, point)
    if problems:
        raise SpecError(problems)
    return Checked(source, spaces, total, len(points), exhaustive, first[0], first[1], smallest, largest)


def _named(diagnostic: Diagnostic, point: str) -> Diagnostic:
    from dataclasses import replace

    return replace(diagnostic, message=f"{point}: {diagnostic.message}")
