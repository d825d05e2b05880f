"""The pipeline's results: `load` returns them as a `Loaded`; a Spec from `load_spec` finds them with `loaded`."""

from __future__ import annotations

import gc
import sys

import pytest
from conftest import SPECS

import netspec
from netspec.errors import ShapeError
from netspec.load import _REGISTRY, Loaded, load, load_spec, loaded
from netspec.schema import Spec

TEXT = "name: m\ninputs: [{name: x, shape: [8]}]\nlayers:\n  - {type: dense, units: 4}\n"
BAD_SHAPES = "name: m\ninputs: [{name: x, shape: [8]}]\nlayers:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n"


def test_load_returns_every_stage():
    result = load(SPECS / "mnist_convnet.yaml")
    assert isinstance(result, Loaded) and isinstance(result.spec, Spec)
    assert result.source.file.endswith("mnist_convnet.yaml")
    assert [n.layer for n in result.graph.nodes] == result.spec.layers
    assert result.shapes.total == netspec.summarize(result.spec)["total_params"]


def test_a_spec_from_load_spec_finds_its_results():
    spec = load_spec(TEXT)
    result = loaded(spec)
    assert result.spec is spec and result.source is not None
    assert loaded(spec).graph is result.graph and loaded(spec).shapes is result.shapes
    assert loaded(result) is result and load_spec(spec) is spec


def test_a_spec_keeps_no_pipeline_state():
    spec = load_spec(TEXT)
    assert spec.__pydantic_private__ is None
    assert not hasattr(spec, "source") and not hasattr(spec, "_graph") and not hasattr(spec, "_shapes")


def test_a_spec_built_in_python_is_resolved_on_first_use_without_a_source():
    spec = Spec.model_validate({"name": "m", "inputs": [{"name": "x", "shape": [8]}],
                                "layers": [{"type": "dense", "units": 4}]})
    result = loaded(spec)
    assert result.source is None and [n.name for n in result.graph.nodes] == ["dense"]
    assert result.shapes.total == 36 and loaded(spec).graph is result.graph


def test_shapes_are_checked_on_first_use_without_check_shapes():
    result = load(BAD_SHAPES, check_shapes=False)
    with pytest.raises(ShapeError) as info:
        _ = result.shapes
    assert info.value.diagnostics[0].line == 4  # located in the text, as `load` would locate it
    with pytest.raises(ShapeError):
        load(BAD_SHAPES)


def test_the_registry_lets_go_of_collected_specs():
    gc.collect()
    before = len(_REGISTRY)
    specs = [load_spec(TEXT) for _ in range(5)]
    assert len(_REGISTRY) == before + 5
    del specs
    gc.collect()
    assert len(_REGISTRY) == before



def _deep_spec(layers: int) -> str:
    """A valid spec of `layers` layers: a cycle of several types that keeps the shape (8, 8, 4)."""
    cycle = ["{type: conv2d, filters: 4, kernel_size: 3, padding: same, activation: relu}",
             "{type: batch_normalization}", "{type: dropout, rate: 0.1}", "{type: dense, units: 4}"]
    body = "".join(f"  - {cycle[i % len(cycle)]}\n" for i in range(layers))
    return f"name: deep\ninputs: [{{name: x, shape: [8, 8, 4]}}]\nlayers:\n{body}"


def _profile_events(text: str) -> int:
    """How many Python and builtin calls (and returns) `load_spec(text)` makes: its work, which no busy machine skews."""
    count = 0

    def count_event(frame, event, arg):
        nonlocal count
        count += 1

    sys.setprofile(count_event)
    try:
        load_spec(text)
    finally:
        sys.setprofile(None)
    return count


def test_the_pipeline_does_the_same_work_per_layer_at_1000_and_10000_layers():
    # Linear in the number of layers: no step looks through all layers for each layer, and validators are built
    # once per type, not per layer. Counting calls rather than timing them keeps this exact on a busy machine;
    # benchmarks/bench_startup.py --linearity times it.
    load_spec(_deep_spec(8))  # every type of the cycle built, every module imported
    per_layer = {n: _profile_events(_deep_spec(n)) / n for n in (1_000, 10_000)}
    assert per_layer[10_000] == pytest.approx(per_layer[1_000], rel=0.02), per_layer
