"""`load_spec`: the one entry point that runs source -> compose -> schema -> graph -> shapes;
`expand_spec`: the spec after the compose stage, as YAML text.

The stages import nothing from here: this module sits above all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from netspec.compose import expand
from netspec.compose.emit import dump
from netspec.graph import resolve_graph
from netspec.schema import Spec, validate_schema
from netspec.shapes import Shapes, infer_shapes
from netspec.source import read_source


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
    if isinstance(spec, Spec):
        if spec._graph is None:
            spec._graph = resolve_graph(spec)
        return spec
    source = read_source(spec)
    source = expand(source, list(overrides))
    model = validate_schema(source)
    model._graph = resolve_graph(model)
    if check_shapes:
        model._shapes = infer_shapes(model._graph)
    return model


def shapes(spec) -> Shapes:
    """Shapes of a spec (loading it first if it is a path, text or mapping)."""
    model = load_spec(spec)
    if getattr(model, "_shapes", None) is None:
        model._shapes = infer_shapes(model._graph)
    return model._shapes


def expand_spec(spec: str | os.PathLike, overrides: Iterable[str] = (), *, check: bool = True) -> str:
    """The fully expanded spec as YAML text, itself a valid spec that builds the same model.

    With `check`, the expanded spec is validated (schema, graph, shapes) first,
    and its problems raised as SpecError, located where they were written.
    """
    source = read_source(spec)
    expanded = expand(source, overrides)
    if check:
        model = validate_schema(expanded)
        infer_shapes(resolve_graph(model))
    name = os.path.basename(source.file) if source.file and source.base_dir is not None else None
    return dump(expanded.data, name)
