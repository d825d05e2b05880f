"""specs/: every ready spec validates, matches its published parameter count, and builds
into a Keras model equal to netspec's summary layer by layer."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from conftest import SPECS
from keras_compare import assert_matches_keras, keras_layer_facts

import netspec
from netspec.build import precision_report
from netspec.load import loaded

SPEC_FILES = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json"))
PUBLISHED = re.compile(r'"Total params: ([\d,]+)"')

# The models the runner trains on the built-in data, and the data each names.
DIGITS = {"digits_cnn": "builtin:digits", "digits_lstm": "builtin:digits_sequence",
          "digits_conv1d_gru": "builtin:digits_sequence"}


def header(path) -> str:
    """The comment lines at the top of a spec file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def published_total(path) -> int:
    found = PUBLISHED.findall(header(path))
    assert len(found) == 1, f'{path.name}: the header must quote exactly one "Total params: N"; found {found}'
    return int(found[0].replace(",", ""))


def test_library_covers_the_issue():
    names = {p.stem for p in SPEC_FILES}
    published = [p for p in SPEC_FILES if p.stem not in DIGITS]
    assert len(published) >= 15, sorted(p.stem for p in published)
    assert set(DIGITS) <= names
    for path in published:  # each names where it comes from
        assert re.search(r"https?://\S+", header(path)), f"{path.name}: no source URL in its header"


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_totals_equal_the_published_figure(path):
    spec = netspec.load_spec(path)
    summary = netspec.summarize(spec)
    assert summary["name"] == path.stem
    assert summary["total_params"] == published_total(path)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_builds_into_the_same_keras_model(path):
    keras.backend.clear_session()
    assert_matches_keras(path)


@pytest.mark.parametrize("name", sorted(DIGITS))
def test_digits_specs_name_their_builtin_data(name):
    spec = netspec.load_spec(SPECS / f"{name}.yaml")
    assert spec.data is not None and spec.data.source == DIGITS[name]
    expected = [8, 8, 1] if DIGITS[name] == "builtin:digits" else [8, 8]
    assert [list(i.shape) for i in spec.inputs] == [expected]


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_under_mixed_precision_has_float32_outputs(path):
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = netspec.build_model(path)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    report = precision_report(model)
    assert set(report["outputs"].values()) == {"float32"}
    assert report["policies"].get("mixed_float16", 0) >= 1
    # a mixed policy changes dtypes, never shapes or counts
    spec = netspec.load_spec(path)
    facts = keras_layer_facts(model)
    for info in loaded(spec).shapes.layers:
        assert facts[info.node.name]["outputs"] == [tuple(s) for s in info.outputs]
        assert facts[info.node.name]["trainable"] + facts[info.node.name]["non_trainable"] == info.params


def test_spec_forward_pass_under_mixed_precision():
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = netspec.build_model(SPECS / "digits_conv1d_gru.yaml")
        out = model(np.random.default_rng(0).random((4, 8, 8), dtype=np.float32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out).sum(axis=-1), 1.0, rtol=1e-3)
