"""Normalization layers (batch, layer, group, unit, RMS) against Keras 3."""

from __future__ import annotations

import pytest
from keras_compare import assert_matches_keras
from layer_checks import assert_config_round_trip, one_layer, shape_errors

from netspec.layers import LAYER_TYPES
from netspec.load import load

MATCHES = {
    "batch_norm_dense": ((6,), {"type": "batch_normalization"}),
    "batch_norm_image": ((4, 4, 3), {"type": "batch_normalization", "momentum": 0.9, "epsilon": 1e-5}),
    "batch_norm_channels_first": ((3, 4, 4), {"type": "batch_normalization", "axis": 1}),
    "batch_norm_middle_axis": ((5, 2, 3), {"type": "batch_normalization", "axis": -2}),
    "batch_norm_unknown_steps": ((None, 3), {"type": "batch_normalization"}),
    "batch_norm_no_center": ((4, 3), {"type": "batch_normalization", "center": False}),
    "batch_norm_no_affine": ((4, 3), {"type": "batch_normalization", "center": False, "scale": False}),
    "batch_norm_renorm": ((4, 3), {"type": "batch_normalization", "renorm": True,
                                   "renorm_clipping": {"rmax": 3.0, "rmin": 0.5, "dmax": 5}}),
    "batch_norm_objects": ((5,), {"type": "batch_normalization", "gamma_regularizer": "l2",
                                  "beta_constraint": "non_neg", "moving_variance_initializer": "zeros"}),
    "batch_norm_frozen": ((4, 4, 3), {"type": "batch_normalization", "trainable": False}),
    "layer_norm": ((5, 6), {"type": "layer_normalization"}),
    "layer_norm_axes": ((4, 6), {"type": "layer_normalization", "axis": [1, 2]}),
    "layer_norm_axes_unsorted": ((2, 3, 4), {"type": "layer_normalization", "axis": [-1, 1]}),
    "layer_norm_no_scale": ((5, 6), {"type": "layer_normalization", "scale": False, "epsilon": 1e-6}),
    "layer_norm_frozen": ((5, 6), {"type": "layer_normalization", "trainable": False}),
    "group_norm": ((4, 4, 8), {"type": "group_normalization", "groups": 4}),
    "group_norm_instance": ((4, 6), {"type": "group_normalization", "groups": -1}),
    "group_norm_channels_first": ((6, 4, 4), {"type": "group_normalization", "groups": 2, "axis": 1}),
    "group_norm_no_center": ((4, 6), {"type": "group_normalization", "groups": 3, "center": False}),
    "group_norm_frozen": ((4, 6), {"type": "group_normalization", "groups": 3, "trainable": False}),
    "unit_norm": ((5,), {"type": "unit_normalization"}),
    "unit_norm_axes": ((4, 6), {"type": "unit_normalization", "axis": [1, 2]}),
    "rms_norm": ((5, 6), {"type": "rms_normalization"}),
    "rms_norm_axes": ((4, 6), {"type": "rms_normalization", "axis": [-2, -1], "epsilon": 1e-5}),
    "rms_norm_frozen": ((5, 6), {"type": "rms_normalization", "trainable": False}),
}


@pytest.mark.parametrize("case", MATCHES.values(), ids=MATCHES.keys())
def test_matches_keras(case):
    shape, layer = case
    assert_matches_keras(one_layer(shape, layer))


def test_conv_block_with_batch_norm_matches_keras():
    assert_matches_keras(one_layer(
        (8, 8, 3), {"type": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": False},
        {"type": "batch_normalization"}, {"type": "re_lu"},
        {"type": "conv2d", "filters": 6, "kernel_size": 3, "data_format": "channels_first"},
        {"type": "batch_normalization", "axis": 1}, {"type": "group_normalization", "groups": 3, "axis": 1},
        {"type": "flatten"}, {"type": "dense", "units": 4}, {"type": "layer_normalization"}))


def test_batch_norm_statistics_are_non_trainable():
    shapes = load(one_layer((4, 4, 3), {"type": "batch_normalization"})).shapes
    assert (shapes.trainable, shapes.non_trainable) == (6, 6)
    renorm = load(one_layer((4, 4, 3), {"type": "batch_normalization", "renorm": True})).shapes
    assert (renorm.trainable, renorm.non_trainable) == (6, 15)
    frozen = load(one_layer((4, 4, 3), {"type": "batch_normalization", "trainable": False})).shapes
    assert (frozen.trainable, frozen.non_trainable) == (0, 12)


def test_flops_per_sample():
    layers = load(one_layer((4, 3), {"type": "batch_normalization"}, {"type": "layer_normalization"})).shapes
    assert [info.flops for info in layers.layers] == [2 * 12, 8 * 12]


ROUND_TRIPS = [
    {"type": "batch_normalization", "axis": 1, "momentum": 0.9, "epsilon": 1e-5, "center": False,
     "gamma_initializer": {"type": "constant", "value": 0.5}, "beta_regularizer": "l1"},
    {"type": "batch_normalization", "renorm": True, "renorm_clipping": {"rmax": 2.0, "dmax": 1.0},
     "renorm_momentum": 0.9},
    {"type": "batch_normalization", "synchronized": True},
    {"type": "layer_normalization", "axis": [1, 2], "scale": False},
    {"type": "group_normalization", "groups": 4, "axis": 1, "gamma_constraint": "non_neg"},
    {"type": "group_normalization", "groups": -1},
    {"type": "unit_normalization", "axis": [1, 2]},
    {"type": "rms_normalization", "axis": -2, "epsilon": 1e-5},
]


def test_every_type_of_the_family_is_compared_and_round_tripped():
    family = {tag for tag, cls in LAYER_TYPES.items() if cls.__module__ == "netspec.layers.normalization"}
    assert {case[1]["type"] for case in MATCHES.values()} == family
    assert {layer["type"] for layer in ROUND_TRIPS} == family


@pytest.mark.parametrize("layer", ROUND_TRIPS, ids=[f"{i}-{layer['type']}" for i, layer in enumerate(ROUND_TRIPS)])
def test_keras_config_round_trip(layer):
    assert_config_round_trip(layer)


def _spec_text(shape: str, layer: str) -> str:
    """A YAML spec whose layer under test is on line 6."""
    return f"name: t\ninputs:\n  - {{name: x, shape: {shape}}}\nlayers:\n  - {{type: identity}}\n  - {layer}\n"


SHAPE_ERRORS = {
    "axis_out_of_range": (
        ("[4, 3]", "{type: batch_normalization, axis: 3}"),
        ("layers[1].axis", ["`axis` 3 of `batch_normalization` is out of range", "[-3, 2]"], "batch axis as 0")),
    "batch_axis": (
        ("[4, 3]", "{type: batch_normalization, axis: 0}"),
        ("layers[1].axis", ["`axis` 0 of `batch_normalization` is the batch axis"], "use 1 for the first axis")),
    "unknown_channels": (
        ("[4, null]", "{type: batch_normalization}"),
        ("layers[1]", ["needs a known size on axis 2", "(None, 4, None)"], "fixed size")),
    "layer_norm_same_axis_twice": (
        ("[4, 3]", "{type: layer_normalization, axis: [2, -1]}"),
        ("layers[1].axis", ["names axis 2 twice"], None)),
    "layer_norm_unknown_axis": (
        ("[null, 3]", "{type: layer_normalization, axis: [1, 2]}"),
        ("layers[1].axis", ["needs a known size on axis 1"], "fixed size")),
    "groups_do_not_divide": (
        ("[4, 6]", "{type: group_normalization, groups: 4}"),
        ("layers[1].groups", ["`groups` (=4) must divide the number of channels (=6)"], "1, 2, 3, 6")),
    "groups_above_channels": (
        ("[4, 6]", "{type: group_normalization}"),
        ("layers[1]", ["`groups` (=32) must divide the number of channels (=6)"], "divisors of 6")),
    "unit_norm_axis": (
        ("[4]", "{type: unit_normalization, axis: 2}"),
        ("layers[1].axis", ["out of range for input of rank 2"], "from the end")),
}


@pytest.mark.parametrize("case", SHAPE_ERRORS.values(), ids=SHAPE_ERRORS.keys())
def test_shape_errors(case):
    (shape, layer), (path, words, hint) = case
    (diagnostic,) = shape_errors(_spec_text(shape, layer))
    assert (diagnostic.path, diagnostic.line) == (path, 6)
    for word in words:
        assert word in diagnostic.message, diagnostic.message
    if hint is not None:
        assert hint in diagnostic.hint, diagnostic.hint


VALUE_ERRORS = {
    "momentum": ("{type: batch_normalization, momentum: 1.5}", "layers[1].momentum", "received 1.5"),
    "epsilon": ("{type: layer_normalization, epsilon: 0}", "layers[1].epsilon", "received 0"),
    "axis_float": ("{type: batch_normalization, axis: 1.5}", "layers[1].axis", "received 1.5"),
    "renorm_clipping_without_renorm": ("{type: batch_normalization, renorm_clipping: {rmax: 2}}",
                                       "layers[1].renorm_clipping",
                                       "no effect without `renorm: true`"),
    "renorm_clipping_order": ("{type: batch_normalization, renorm: true, renorm_clipping: {rmax: 1, rmin: 2}}",
                              "layers[1].renorm_clipping.rmax", "`rmax` (=1.0) must not be smaller than `rmin` (=2.0)"),
    "renorm_clipping_key": ("{type: batch_normalization, renorm: true, renorm_clipping: {rmaxx: 2}}",
                            "layers[1].renorm_clipping.rmaxx", "unknown key `rmaxx`"),
    "groups_zero": ("{type: group_normalization, groups: 0}", "layers[1].groups", "positive integer, or -1"),
    "groups_below_minus_one": ("{type: group_normalization, groups: -2}", "layers[1].groups", "received -2"),
}


@pytest.mark.parametrize("case", VALUE_ERRORS.values(), ids=VALUE_ERRORS.keys())
def test_value_errors(case):
    layer, path, words = case
    diagnostics = shape_errors(_spec_text("[4, 3]", layer))
    assert any(d.path == path and d.line == 6 and words in d.message for d in diagnostics), diagnostics
