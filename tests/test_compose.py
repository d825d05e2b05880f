"""Composition: vars, blocks, repeats, stacks, includes, `--set`, and `netspec expand`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from netspec import cli
from netspec.compose import expand
from netspec.errors import ShapeError, SpecError, UsageError
from netspec.load import expand_spec, load_spec, loaded
from netspec.source import read_source
from netspec.summary import summarize

GOLDEN = ROOT / "tests" / "golden" / "expand"
EXAMPLES = ROOT / "examples"
UPDATE = os.environ.get("NETSPEC_UPDATE_GOLDEN") == "1"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def where(path: Path, marker: str, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `marker` in a file."""
    lines = path.read_text().splitlines()
    seen = 0
    for number, line in enumerate(lines, 1):
        if marker in line:
            seen += 1
            if seen == nth:
                return number, line.index(marker) + 1
    raise AssertionError(f"{marker!r} not in {path}")


def errors(spec, overrides=()) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides=overrides)
    return info.value.diagnostics


def layer_rows(spec) -> list[tuple]:
    """(type, output shape, params) of every layer: a model's structure without its names."""
    return [(row["type"], row["output_shape"], row["params"]) for row in summarize(load_spec(spec))["layers"]]


def totals(spec) -> tuple:
    summary = summarize(load_spec(spec))
    return summary["total_params"], summary["trainable_params"], summary["non_trainable_params"]


# ----- golden expansions -----

GOLDEN_CASES = sorted(p for p in GOLDEN.glob("*.yaml") if not p.name.endswith(".expanded.yaml"))


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[p.stem for p in GOLDEN_CASES])
def test_golden_expansion(case):
    text = expand_spec(case)
    expected = case.with_name(case.stem + ".expanded.yaml")
    if UPDATE:
        expected.write_text(text)
    assert text == expected.read_text()


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[p.stem for p in GOLDEN_CASES])
def test_expanded_spec_is_a_valid_spec_of_the_same_model(case, tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text(expand_spec(case))
    composed, expanded = summarize(load_spec(case)), summarize(load_spec(flat))
    assert expanded == composed
    assert expand_spec(flat).splitlines()[1:] == expand_spec(case).splitlines()[1:]  # a fixed point


def test_plain_spec_passes_through_untouched():
    source = read_source(ROOT / "specs" / "mnist_convnet.yaml")
    assert expand(source) is source


# ----- vars and substitution -----

BASE = """
name: m
inputs:
  - {name: x, shape: [8, 8, 1]}
"""


def test_whole_reference_keeps_its_type_quoted_or_not():
    spec = load_spec(BASE + """
vars: {n: 4, k: [3, 3], bias: false, rate: 1.0e-3}
layers:
  - type: conv2d
    filters: ${n}
    kernel_size: "${k}"
    use_bias: ${bias}
  - {type: flatten}
  - {type: dense, units: "${n}", name: "out_${n}"}
training: {optimizer: {type: adam, learning_rate: "${rate}"}}
""")
    conv, _, dense = spec.layers
    assert (conv.filters, conv.kernel_size, conv.use_bias) == (4, (3, 3), False)
    assert (dense.units, dense.name) == (4, "out_4")
    assert spec.training.optimizer.learning_rate == 0.001


def test_vars_may_use_vars_and_dollar_dollar_is_a_literal_dollar():
    spec = load_spec(BASE + """
vars: {a: 2, b: "${a}", label: "v${a}"}
description: "$${a} costs $$3, ${label}"
layers:
  - {type: flatten}
  - {type: dense, units: "${b}"}
""")
    assert spec.layers[1].units == 2
    assert spec.description == "${a} costs $3, v2"


def test_unknown_and_cyclic_vars(tmp_path):
    path = write(tmp_path, "s.yaml", BASE + """
vars: {width: 4, a: "${b}", b: "${a}"}
layers:
  - {type: flatten}
  - {type: dense, units: "${widht}"}
""")
    found = errors(path)
    messages = [d.message for d in found]
    assert "variable `a` refers to itself: a -> b -> a" in messages
    unknown = next(d for d in found if "widht" in d.message)
    assert unknown.message == "unknown variable `${widht}`"
    assert unknown.hint == "did you mean `${width}`?"
    assert (unknown.line, unknown.column) == where(path, '"${widht}"')
    assert unknown.path == "layers[1].units"


def test_splicing_a_list_into_text_is_refused():
    found = errors(BASE + """
vars: {k: [3, 3]}
description: "kernel ${k}"
layers: [{type: flatten}]
""")
    assert "`${k}` is a list, which cannot be spliced" in found[0].message


# ----- blocks -----

RESIDUAL = BASE + """
blocks:
  residual:
    params: {filters: 1}
    inputs: [x_in]
    layers:
      - {type: conv2d, filters: "${filters}", kernel_size: 3, padding: same, name: conv}
      - {type: add, inputs: [x_in, conv], name: sum}
layers:
  - {type: conv2d, filters: 4, kernel_size: 1, name: stem}
  - {type: block, block: residual, args: {filters: 4}, repeat: 3, name: res}
  - {type: flatten, inputs: [res]}
"""


def test_repeat_names_copies_and_keeps_references_local():
    spec = load_spec(RESIDUAL)
    names = [n.name for n in loaded(spec).graph.nodes]
    # every copy is numbered, the first too
    assert names == ["stem", "res_0_conv", "res_0_sum", "res_1_conv", "res_1_sum", "res_2_conv", "res_2_sum", "flatten"]
    inputs = {n.name: [str(r) for r in n.inputs] for n in loaded(spec).graph.nodes}
    assert inputs["res_0_sum"] == ["stem", "res_0_conv"]  # the block's input is the layer before the use
    assert inputs["res_1_conv"] == ["res_0_sum"]  # copy 2 reads copy 1's last layer
    assert inputs["res_1_sum"] == ["res_0_sum", "res_1_conv"]  # ... and its own conv, not copy 1's
    assert inputs["res_2_sum"] == ["res_1_sum", "res_2_conv"]
    assert inputs["flatten"] == ["res_2_sum"]  # a use's name is its last layer


def test_defaults_args_required_params_and_unknown_names(tmp_path):
    path = write(tmp_path, "s.yaml", BASE + """
blocks:
  conv_block:
    params: [filters]
    layers:
      - {type: conv2d, filters: "${filters}", kernel_size: 3}
layers:
  - {type: block, block: conv_blok}
  - {type: block, block: conv_block, args: {filtrs: 3}}
  - {type: block, block: conv_block}
  - {type: block, block: conv_block, args: {filters: 2}, repat: 2}
""")
    found = errors(path)
    by_message = {d.message: d for d in found}
    unknown_block = by_message["unknown block `conv_blok`"]
    assert unknown_block.hint == "did you mean `conv_block`?"
    assert (unknown_block.line, unknown_block.column) == where(path, "conv_blok}")
    unknown_arg = by_message["block `conv_block` has no parameter `filtrs`"]
    assert unknown_arg.hint == "did you mean `filters`?" and unknown_arg.path == "layers[1].args.filtrs"
    assert (unknown_arg.line, unknown_arg.column) == where(path, "filtrs")
    missing = by_message["block `conv_block` needs a value for its parameter `filters`"]
    assert missing.line == where(path, "{type: block, block: conv_block}")[0]
    assert by_message["unknown key `repat` for a block use"].hint == "did you mean `repeat`?"


def test_a_block_that_uses_itself_is_refused():
    found = errors(BASE + """
blocks:
  a: {layers: [{type: block, block: b}]}
  b: {layers: [{type: block, block: a}]}
layers: [{type: block, block: a}]
""")
    assert found[0].message.startswith("block `a` uses itself: a -> b -> a (in block b, copy 1, used at blocks.a.")


def test_use_inputs_ports_and_several_inputs():
    spec = load_spec("""
name: m
inputs:
  - {name: a, shape: [4]}
  - {name: b, shape: [4]}
blocks:
  merge_scale:
    inputs: [left, right]
    layers:
      - {type: add, inputs: [left, right]}
      - {type: dense, units: 4}
layers:
  - {type: dense, units: 4, inputs: [a], name: da}
  - {type: block, block: merge_scale, inputs: [da, b], repeat: 2}
""")
    inputs = {n.name: [str(r) for r in n.inputs] for n in loaded(spec).graph.nodes}
    assert inputs["merge_scale_0_add"] == ["da", "b"]
    assert inputs["merge_scale_1_add"] == ["merge_scale_0_dense", "b"]  # first input: the previous copy


def test_block_port_count_and_first_layer_with_several_model_inputs():
    found = errors("""
name: m
inputs:
  - {name: a, shape: [4]}
  - {name: b, shape: [4]}
blocks:
  pair: {inputs: [l, r], layers: [{type: add, inputs: [l, r]}]}
  one: {inputs: [x], layers: [{type: dense, units: 2, inputs: [x]}]}
layers:
  - {type: block, block: pair, inputs: [a]}
  - {type: block, block: one}
""")
    messages = [d.message for d in found]
    assert "block `pair` takes 2 input(s) (l, r); received 1" in messages
    assert "this block reads the model input, but the model has 2 inputs (in block one, copy 1, used at layers[1])" \
        in messages


def test_trainable_false_freezes_every_layer_of_the_use():
    spec = load_spec(RESIDUAL.replace("repeat: 3, name: res}", "repeat: 3, name: res, trainable: false}"))
    frozen = [layer.name for layer in spec.layers if not layer.trainable]
    assert frozen == ["res_0_conv", "res_0_sum", "res_1_conv", "res_1_sum", "res_2_conv", "res_2_sum"]
    assert summarize(spec)["trainable_params"] == 8  # the stem's 1x1 conv only


def test_writing_a_block_name_as_a_layer_type_gets_a_hint():
    found = errors(BASE + """
blocks:
  head: {layers: [{type: flatten}]}
layers: [{type: head}]
""")
    assert found[0].message == "`head` is a block, not a layer type"
    assert found[0].hint == "use it as `{type: block, block: head}`"


def test_expansion_size_is_bounded(monkeypatch):
    from netspec.compose import blocks

    monkeypatch.setattr(blocks, "MAX_LAYERS", 500)  # the real bound (50,000) takes seconds to reach
    found = errors(BASE + """
blocks:
  inner: {layers: [{type: dropout, rate: 0.1}]}
  outer: {layers: [{type: block, block: inner, repeat: 10000}]}
layers: [{type: block, block: outer, repeat: 10000}]
""")
    assert len(found) == 1
    assert found[0].message.startswith("the spec expands to more than 500 layers (in block inner, copy 501, used at "
                                       "blocks.outer.layers[0]; in block outer, copy 1, used at layers[0])")
    (too_many,) = errors(BASE + "blocks: {b: {layers: [{type: flatten}]}}\nlayers: [{type: block, block: b, repeat: 10001}]\n")
    assert too_many.message == "`repeat` must be a whole number from 1 to 10,000; received 10001"


# ----- stacks: each shorthand equals its hand-expanded spec -----

STACK_PAIRS = {
    "conv_stack": ("""
name: m
inputs: [{name: x, shape: [28, 28, 1]}]
layers:
  - {type: conv_stack, filters: [16, 32, 32, 64], kernel_size: 3, padding: same, batch_norm: true,
     pool: max, pool_every: 2, dropout: 0.25}
""", """
name: m
inputs: [{name: x, shape: [28, 28, 1]}]
layers:
  - {type: conv2d, filters: 16, kernel_size: 3, padding: same}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: conv2d, filters: 32, kernel_size: 3, padding: same}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: max_pooling2d, pool_size: 2}
  - {type: dropout, rate: 0.25}
  - {type: conv2d, filters: 32, kernel_size: 3, padding: same}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: conv2d, filters: 64, kernel_size: 3, padding: same}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: max_pooling2d, pool_size: 2}
  - {type: dropout, rate: 0.25}
"""),
    "conv_stack_1d": ("""
name: m
inputs: [{name: x, shape: [200, 3]}]
layers:
  - {type: conv_stack, conv: conv1d, filters: [8, 16, 32], kernel_size: 5, strides: 2, pool: average}
""", """
name: m
inputs: [{name: x, shape: [200, 3]}]
layers:
  - {type: conv1d, filters: 8, kernel_size: 5, strides: 2, activation: relu}
  - {type: average_pooling1d, pool_size: 2}
  - {type: conv1d, filters: 16, kernel_size: 5, strides: 2, activation: relu}
  - {type: average_pooling1d, pool_size: 2}
  - {type: conv1d, filters: 32, kernel_size: 5, strides: 2, activation: relu}
  - {type: average_pooling1d, pool_size: 2}
"""),
    "recurrent_stack": ("""
name: m
inputs: [{name: x, shape: [20, 6]}]
layers:
  - {type: recurrent_stack, cell: gru, units: [32, 16, 8], bidirectional: true, dropout: 0.1}
""", """
name: m
inputs: [{name: x, shape: [20, 6]}]
layers:
  - {type: bidirectional, layer: {type: gru, units: 32, return_sequences: true, dropout: 0.1}}
  - {type: bidirectional, layer: {type: gru, units: 16, return_sequences: true, dropout: 0.1}}
  - {type: bidirectional, layer: {type: gru, units: 8, dropout: 0.1}}
"""),
    "recurrent_stack_sequences": ("""
name: m
inputs: [{name: x, shape: [null, 6]}]
layers:
  - {type: recurrent_stack, cell: simple_rnn, units: [12, 4], return_sequences: true}
""", """
name: m
inputs: [{name: x, shape: [null, 6]}]
layers:
  - {type: simple_rnn, units: 12, return_sequences: true}
  - {type: simple_rnn, units: 4, return_sequences: true}
"""),
    "dense_stack": ("""
name: m
inputs: [{name: x, shape: [30]}]
layers:
  - {type: dense_stack, units: [64, 32, 3], batch_norm: true, dropout: 0.5, output_activation: softmax}
""", """
name: m
inputs: [{name: x, shape: [30]}]
layers:
  - {type: dense, units: 64}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: dropout, rate: 0.5}
  - {type: dense, units: 32}
  - {type: batch_normalization}
  - {type: activation, activation: relu}
  - {type: dropout, rate: 0.5}
  - {type: dense, units: 3, activation: softmax}
"""),
}


@pytest.mark.parametrize("name", list(STACK_PAIRS))
def test_stack_equals_its_hand_expanded_spec(name):
    shorthand, by_hand = STACK_PAIRS[name]
    assert totals(shorthand) == totals(by_hand)
    assert layer_rows(shorthand) == layer_rows(by_hand)


def test_stack_errors_point_at_the_stack(tmp_path):
    path = write(tmp_path, "s.yaml", BASE + """
layers:
  - {type: conv_stack, filters: 32, pool: maxx, kernel_sise: 3}
""")
    found = {d.path: d for d in errors(path)}
    assert found["layers[0].filters"].message == "`filters` must be a list, one entry per layer; received 32"
    assert found["layers[0].filters"].hint == "write `filters: [32]` for one layer"
    assert found["layers[0].pool"].hint == "did you mean `max`?"
    assert found["layers[0].kernel_sise"].hint == "did you mean `kernel_size`?"
    assert (found["layers[0].kernel_sise"].line, found["layers[0].kernel_sise"].column) == where(path, "kernel_sise")


def test_layer_json_schemas_accept_the_examples_and_refuse_typos():
    import jsonschema

    from netspec.compose.blocks import USE_KEYS
    from netspec.jsonschema import layer_json_schemas

    schemas = layer_json_schemas()
    assert set(schemas["block"]["properties"]) == set(USE_KEYS)
    checked = 0
    for path in [*EXAMPLES.glob("*.yaml"), *GOLDEN_CASES]:
        for layer in yaml.safe_load(path.read_text())["layers"]:
            if layer["type"] in schemas:
                jsonschema.validate(layer, schemas[layer["type"]])
                checked += 1
    assert checked >= 10
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "dense_stack", "unit": [3]}, schemas["dense_stack"])


# ----- errors point where the value was written -----


def test_schema_error_in_a_block_body_names_the_body_line_and_the_chain(tmp_path):
    path = write(tmp_path, "net.yaml", BASE + """
blocks:
  conv_block:
    params: {filters: 8}
    layers:
      - {type: conv2d, filters: "${filters}", kernel_size: 3, padding: same}
      - {type: activation, activaton: relu}
layers:
  - {type: flatten}
  - {type: reshape, target_shape: [8, 8, 1]}
  - {type: block, block: conv_block, repeat: 2}
""")
    found = errors(path)
    assert len(found) == 2  # one per copy
    for copy, diagnostic in enumerate(found, 1):
        assert diagnostic.file == str(path)
        assert (diagnostic.line, diagnostic.column) == where(path, "activaton")
        assert diagnostic.path == "blocks.conv_block.layers[1].activaton"
        assert diagnostic.message == (f"unknown key `activaton` for a `activation` layer "
                                      f"(in block conv_block, copy {copy}, used at layers[2])")
        assert diagnostic.hint == "did you mean `activation`?"


def test_bad_argument_points_at_the_argument_through_the_substitution(tmp_path):
    path = write(tmp_path, "net.yaml", BASE + """
blocks:
  conv_block:
    params: {filters: 8}
    layers:
      - type: conv2d
        filters: ${filters}
        kernel_size: 3
layers:
  - {type: block, block: conv_block, args: {filters: -4}}
""")
    (diagnostic,) = errors(path)
    assert (diagnostic.file, (diagnostic.line, diagnostic.column)) == (str(path), where(path, "-4"))
    assert diagnostic.path == "layers[0].args.filters"
    body_line = where(path, "filters: ${filters}")[0]
    assert diagnostic.message.endswith(f"(substituted for `${{filters}}` at {path}:{body_line}; "
                                       "in block conv_block, copy 1, used at layers[0])")


def test_shape_error_in_a_repeated_block_names_the_copy(tmp_path):
    path = write(tmp_path, "net.yaml", BASE + """
blocks:
  shrink:
    layers:
      - {type: conv2d, filters: 2, kernel_size: 3}
layers:
  - {type: block, block: shrink, repeat: 4}
""")
    with pytest.raises(ShapeError) as info:
        load_spec(path)
    (diagnostic,) = info.value.diagnostics  # 8 -> 6 -> 4 -> 2 -> copy 4 has nothing left
    assert (diagnostic.file, diagnostic.line) == (str(path), where(path, "{type: conv2d")[0])
    assert diagnostic.path.startswith("blocks.shrink.layers[0]")
    assert "in block shrink, copy 4, used at layers[0]" in diagnostic.message


def test_errors_in_included_files_point_into_them(tmp_path):
    common = write(tmp_path, "common/training.yaml", """
# shared settings
training:
  epochs: 5
  batch_size: -2
blocks:
  head:
    layers:
      - {type: dense, units: 10, activaton: softmax}
""")
    main = write(tmp_path, "net.yaml", BASE + """
include: [common/training.yaml]
layers:
  - {type: flatten}
  - {type: block, block: head}
""")
    found = errors(main)
    include_line = where(main, "include:")[0]
    batch, head = sorted(found, key=lambda d: d.line)
    assert (batch.file, (batch.line, batch.column)) == (str(common), where(common, "-2"))
    assert batch.path == "training.batch_size"
    assert batch.message.endswith(f"(included by {main}:{include_line})")
    assert (head.file, (head.line, head.column)) == (str(common), where(common, "activaton"))
    assert head.message.endswith(f"(included by {main}:{include_line}; in block head, copy 1, used at layers[1] "
                                 f"of {main})")


def test_include_merges_in_order_and_the_including_file_wins(tmp_path):
    write(tmp_path, "a.yaml", "training: {epochs: 1, batch_size: 8}\n")
    write(tmp_path, "b.yaml", "training: {epochs: 2, seed: 3}\n")
    main = write(tmp_path, "net.yaml", BASE + """
include: [a.yaml, b.yaml]
layers: [{type: flatten}]
training: {batch_size: 16}
""")
    training = load_spec(main).training
    assert (training.epochs, training.batch_size, training.seed) == (2, 16, 3)


def test_include_cycles_and_missing_files(tmp_path):
    write(tmp_path, "parts/loop.yaml", "include: ../net.yaml\n")
    main = write(tmp_path, "net.yaml", BASE + """
include: [parts/loop.yaml, parts/nothere.yaml]
layers: [{type: flatten}]
""")
    cycle, missing = errors(main)
    assert cycle.message.startswith("include cycle: net.yaml -> loop.yaml -> net.yaml")
    assert cycle.file == str(tmp_path / "parts/loop.yaml")
    assert missing.message.startswith("cannot include `parts/nothere.yaml`: no such file")
    assert (missing.file, missing.line) == (str(main), where(main, "include:")[0])


def test_set_errors_point_at_the_flag(tmp_path):
    path = write(tmp_path, "net.yaml", BASE + """
layers:
  - {type: conv2d, filters: 4, kernel_size: 3}
  - {type: flatten}
  - {type: dense, units: 10}
""")
    (diagnostic,) = errors(path, ["layers[2].units=-1"])
    assert (diagnostic.file, diagnostic.line, diagnostic.path) == (str(path), None, "layers[2].units")
    assert diagnostic.message.endswith("(from `--set layers[2].units=-1`)")
    (typo,) = errors(path, ["training.epochz=3"])
    assert typo.path == "training.epochz" and typo.hint == "did you mean `epochs`?"
    assert typo.message.endswith("(from `--set training.epochz=3`)")
    with pytest.raises(ShapeError) as info:
        load_spec(path, overrides=["layers[0].kernel_size=9"])
    (shape,) = info.value.diagnostics
    assert (shape.file, shape.line, shape.path) == (str(path), None, "layers[0].kernel_size")
    assert shape.message.endswith("(from `--set layers[0].kernel_size=9`)")
    (far,) = errors(path, ["layers[7].units=3"])
    assert far.message == "`layers` has 3 entries; there is no entry [7] (from `--set layers[7].units=3`)"
    (var,) = errors(path, ["vars.widht=3"])
    assert var.message.startswith("`vars` has no `widht`")


def test_set_values_are_typed_by_yaml_then_by_the_schema():
    spec = load_spec(RESIDUAL, overrides=[
        "training.epochs=5", "description=2024", "layers[0].activation=null", "layers[1].repeat=2",
        "layers[1].args.filters=6", "layers[0].filters=6", "training.optimizer={type: sgd, learning_rate: 1e-2}", "layers[-1].name=flat",
    ])
    assert spec.training.epochs == 5 and spec.description == "2024"
    assert spec.layers[0].activation is None
    assert [layer.name for layer in spec.layers][-1] == "flat" and len(spec.layers) == 6
    assert spec.layers[1].filters == spec.layers[0].filters == 6
    assert spec.training.optimizer.learning_rate == 0.01


def test_set_reaches_vars_and_malformed_flags_are_usage_errors():
    spec = load_spec(BASE + "vars: {n: 4}\nlayers: [{type: flatten}, {type: dense, units: '${n}'}]\n",
                     overrides=["vars.n=7"])
    assert spec.layers[1].units == 7
    for bad in ("epochs", "training..epochs=1", "layers[x].units=1", "=3"):
        with pytest.raises(UsageError):
            load_spec(RESIDUAL, overrides=[bad])


# ----- the ResNet example: blocks build the same model as the flat spec -----


def test_resnet_blocks_and_flat_have_the_same_summary():
    blocks, flat = summarize(load_spec(EXAMPLES / "resnet_blocks.yaml")), summarize(load_spec(EXAMPLES / "resnet_flat.yaml"))
    assert blocks["layers"] == flat["layers"]
    assert blocks["total_params"] == flat["total_params"] == 43_418
    assert load_spec(EXAMPLES / "resnet_blocks.yaml").training == load_spec(EXAMPLES / "resnet_flat.yaml").training


@pytest.mark.slow
def test_resnet_blocks_builds_the_same_keras_model_as_the_flat_spec():
    import netspec

    models = [netspec.build_model(load_spec(EXAMPLES / name)) for name in ("resnet_blocks.yaml", "resnet_flat.yaml")]
    configs = []
    for model in models:
        config = model.get_config()
        config.pop("name")
        configs.append(config)
    assert configs[0] == configs[1]
    assert [w.shape for w in models[0].weights] == [w.shape for w in models[1].weights]
    assert models[0].count_params() == models[1].count_params() == 43_418


@pytest.mark.slow
def test_stacks_build_in_keras_with_netspec_counts():
    from keras_compare import assert_matches_keras

    assert_matches_keras(GOLDEN / "stacks.yaml")
    assert_matches_keras(EXAMPLES / "digits_rnn_stack.yaml")


@pytest.mark.parametrize("name", ["resnet_blocks.yaml", "digits_stacks.yaml", "digits_rnn_stack.yaml"])
def test_examples_are_valid(name):
    load_spec(EXAMPLES / name)


# ----- the command line -----


def test_cli_expand_prints_a_spec_that_builds_the_same_model(tmp_path, capsys):
    assert cli.main(["expand", str(EXAMPLES / "resnet_blocks.yaml"), "--set", "vars.width=8"]) == 0
    text = capsys.readouterr().out
    data = yaml.safe_load(text)
    assert not {"vars", "blocks", "include"} & set(data)
    assert data["layers"][0] == {"type": "conv2d", "name": "stem", "filters": 8, "kernel_size": 3, "padding": "same",
                                 "use_bias": False}
    flat = tmp_path / "flat.yaml"
    flat.write_text(text)
    assert summarize(load_spec(flat)) == summarize(load_spec(EXAMPLES / "resnet_blocks.yaml", overrides=["vars.width=8"]))


def test_cli_set_and_exit_codes(tmp_path, capsys):
    spec = str(EXAMPLES / "digits_stacks.yaml")
    assert cli.main(["summary", spec, "--json", "--set", "layers[2].units=[64, 10]"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layers"][-3]["output_shape"] == [None, 64]
    assert cli.main(["validate", spec, "--set", "layers[0].filters=[0]"]) == 1
    err = capsys.readouterr().err
    assert f"{spec}: error: layers[0].filters[0]: " in err and "(from `--set layers[0].filters=[0]`)" in err
    assert cli.main(["expand", spec, "--set", "layers0.units"]) == 2
    assert "--set expects PATH=VALUE" in capsys.readouterr().err
    broken = write(tmp_path, "broken.yaml", BASE + "layers: [{type: block, block: nothing}]\n")
    assert cli.main(["expand", str(broken)]) == 1
    assert f"{broken}:4:" in capsys.readouterr().err


@pytest.mark.slow
def test_expand_and_validate_never_import_tensorflow():
    code = (
        "import sys; from netspec.load import expand_spec, load_spec\n"
        f"expand_spec({str(EXAMPLES / 'resnet_blocks.yaml')!r}, ['vars.width=8'])\n"
        f"load_spec({str(GOLDEN / 'stacks.yaml')!r})\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_a_bad_var_used_twice_is_reported_once():
    spec = """
name: m
vars: {width: 8}
inputs: [{name: x, shape: [8]}]
layers:
  - {type: dense, units: "${width}"}
  - {type: dense, units: "${width}"}
"""
    found = errors(spec, overrides=["vars.width=abc"])
    assert [d.path for d in found] == ["vars.width"]
    assert "from `--set vars.width=abc`" in found[0].message
    assert len(errors(spec.replace("width: 8", "width: abc"))) == 1


def test_set_values_are_yaml_in_a_json_spec_too(tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text('{"name": "s", "inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": "dense", "units": 2}]}')
    from netspec.load import load_spec

    loaded = load_spec(spec, overrides=["training.batch_size=32", "layers[0].units=3"])
    assert loaded.training.batch_size == 32 and loaded.layers[0].units == 3


def test_a_mapping_made_by_set_is_located_at_the_flag(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 2}\n")
    from netspec.load import load_spec

    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides=["data.x=frames"])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.line is None and "from `--set data.x=frames`" in diagnostic.format(), diagnostic.format()
