"""The pipeline: source -> compose -> schema -> graph -> shapes, and what it found for each spec.

`load` runs it and returns a `Loaded`: the validated `Spec` with its source
(file and positions, for located errors), its resolved graph and its shapes.
`load_spec` is the public entry point and returns just the Spec; functions
that take a Spec (build_model, generate_script, summarize, train) find the
rest with `loaded(spec)`. The results are kept beside the Spec, in a registry
that drops them when the Spec is collected, rather than in the pydantic model:
a Spec is the spec as written, nothing more.

`expand_spec`: the spec after the compose stage, as YAML text.

The stages import nothing from here: this module sits above all of them.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netspec.compose import expand
from netspec.graph import Graph, resolve_graph
from netspec.schema import Spec, validate_schema
from netspec.shapes import Shapes, infer_shapes
from netspec.source import Source, read_source
from netspec.space import refuse as refuse_spaces


@dataclass(eq=False)
class _Results:
    """What the pipeline found for one Spec, without the Spec itself: the registry holds these, and must not
    keep a Spec alive (the graph's nodes hold the Spec's layers, never the Spec)."""

    source: Source | None
    graph: Graph
    shapes: Shapes | None = None


@dataclass(frozen=True, eq=False)
class Loaded:
    """A loaded spec: the validated `spec`, its `source` (None for a Spec built in Python), its resolved
    `graph`, and its `shapes` (inferred by `load`, or on first use where `load` was told not to check them)."""

    spec: Spec
    _results: _Results = field(repr=False)

    @property
    def source(self) -> Source | None:
        return self._results.source

    @property
    def graph(self) -> Graph:
        return self._results.graph

    @property
    def shapes(self) -> Shapes:
        results = self._results
        if results.shapes is None:
            results.shapes = infer_shapes(results.graph, results.source)
        return results.shapes


# id(spec) -> its results, for every Spec `load` made or `loaded` was given; an entry goes with its Spec.
_REGISTRY: dict[int, _Results] = {}


def _register(spec: Spec, results: _Results) -> Loaded:
    key = id(spec)
    _REGISTRY[key] = results
    weakref.finalize(spec, _REGISTRY.pop, key, None).atexit = False  # nothing to tidy when the process ends
    return Loaded(spec, results)


def load(
    spec: str | os.PathLike | Mapping | Spec | Loaded,
    *,
    overrides: Iterable[str] = (),
    check_shapes: bool = True,
) -> Loaded:
    """Read and validate a spec (a path, YAML/JSON text, a mapping, or a Spec) through every stage.

    A spec with search spaces (netspec/space.py) is refused: `netspec.space.check` checks those.
    Raises `SpecError` (or its `ShapeError` kind) holding every problem found.
    `overrides` are `PATH=VALUE` strings, as the CLI's `--set` takes them. A Spec (or a Loaded) is taken
    as it is: its results are looked up, or for a Spec built in Python, its graph resolved now.
    """
    if isinstance(spec, Loaded | Spec):
        return loaded(spec)
    source = read_source(spec)
    overrides = list(overrides)
    refuse_spaces(source, overrides)
    source = expand(source, overrides)
    model = validate_schema(source)
    results = _Results(source, resolve_graph(model, source))
    if check_shapes:
        results.shapes = infer_shapes(results.graph, source)
    return _register(model, results)


def loaded(spec: str | os.PathLike | Mapping | Spec | Loaded) -> Loaded:
    """The pipeline's results for `spec`: those of a Spec that `load_spec` made, or of a Spec built in Python
    (its graph resolved on first use, without a source), or a path, text or mapping loaded now."""
    if isinstance(spec, Loaded):
        return spec
    if not isinstance(spec, Spec):
        return load(spec)
    results = _REGISTRY.get(id(spec))
    if results is None:
        return _register(spec, _Results(None, resolve_graph(spec, None)))
    return Loaded(spec, results)


def load_spec(
    spec: str | os.PathLike | Mapping | Spec,
    *,
    overrides: Iterable[str] = (),
    check_shapes: bool = True,
) -> Spec:
    """Read and validate a spec (a path, YAML/JSON text, a mapping, or a Spec).

    Raises `SpecError` (or its `ShapeError` kind) holding every problem found.
    `overrides` are `PATH=VALUE` strings, as the CLI's `--set` takes them.
    """
    return load(spec, overrides=overrides, check_shapes=check_shapes).spec


def expand_spec(spec: str | os.PathLike, overrides: Iterable[str] = (), *, check: bool = True) -> str:
    """The fully expanded spec as YAML text, itself a valid spec that builds the same model.

    With `check`, the expanded spec is validated (schema, graph, shapes) first,
    and its problems raised as SpecError, located where they were written.
    """
    from netspec.compose.emit import dump

    source = read_source(spec)
    overrides = list(overrides)
    refuse_spaces(source, overrides)
    expanded = expand(source, overrides)
    if check:
        model = validate_schema(expanded)
        infer_shapes(resolve_graph(model, expanded), expanded)
    name = os.path.basename(source.file) if source.file and source.base_dir is not None else None
    return dump(expanded.data, name)
