"""The pipeline's results: `load` returns them as a `Loaded`; a Spec from `load_spec` finds them with `loaded`."""

from __future__ import annotations

import gc

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
