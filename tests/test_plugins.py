"""Plugins: `plugins:` / `--plugin` modules whose Keras layer classes become layer types.

tests/plugins holds two: netspec_test_plugin (`ScaledDense`, declared with @netspec.layer_type and static
shape rules, its module free of Keras) and netspec_keras_plugin (`ChannelScale`, registered only with
keras.saving.register_keras_serializable: Keras computes its shapes). Both are made importable here.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import ROOT

import netspec
from netspec.cli import main
from netspec.errors import SpecError

PLUGINS = ROOT / "tests" / "plugins"
BOTH = PLUGINS / "both_plugins.yaml"
STATIC = PLUGINS / "static_plugin.yaml"

if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


@pytest.fixture(autouse=True, scope="module")
def _plugin_types_stay_in_this_module():
    """The types these plugins add leave with this module: other tests (the JSON Schema's) hold the built-in
    layer types to what the format defines, and may run after these in the same worker."""
    from netspec import plugins
    from netspec.layers import LAYER_TYPES

    before = set(plugins._LOADED)
    yield
    for module in set(plugins._LOADED) - before:
        for tag in plugins._LOADED.pop(module):
            LAYER_TYPES.unregister(tag)


def _errors(text: str) -> list:
    with pytest.raises(SpecError) as caught:
        netspec.load_spec(text)
    return caught.value.diagnostics


HEAD = "name: p\nplugins: [netspec_test_plugin]\ninputs: [{name: x, shape: [4]}]\nlayers:\n"


def test_summary_shapes_from_the_static_rule_and_from_keras(capsys):
    summary = netspec.summarize(BOTH)
    layers = {layer["name"]: layer for layer in summary["layers"]}
    assert layers["scaled_dense"]["output_shape"] == [None, 16]
    assert layers["scaled_dense"]["params"] == 64 * 16 + 16  # the plugin's params rule
    assert layers["channel_scale"]["output_shape"] == [None, 16]
    assert layers["channel_scale"]["params"] == 16  # counted on the layer Keras built
    assert {"name", "total_params", "trainable_params", "non_trainable_params", "layers"} <= set(summary)
    assert len(summary["notes"]) == 1 and "`channel_scale`" in summary["notes"][0]
    assert "scaled_dense" not in summary["notes"][0]
    assert main(["summary", str(BOTH)]) == 0
    assert "Note: shapes or parameter counts of `channel_scale` come from Keras" in capsys.readouterr().out
    assert "notes" not in netspec.summarize(STATIC)  # static rules only: nothing to note


def test_unknown_and_mistyped_arguments_are_located_errors():
    (unknown,) = _errors(HEAD + "  - {type: scaled_dense, unitz: 4}\n")
    assert (unknown.path, unknown.line) == ("layers[0].unitz", 5)
    assert "unknown key `unitz` for a `scaled_dense` layer" in unknown.message
    assert unknown.hint == "did you mean `units`?"
    (mistyped,) = _errors(HEAD + "  - {type: scaled_dense, units: many}\n")
    assert mistyped.path == "layers[0].units" and "integer" in mistyped.message
    (shape,) = _errors(HEAD.replace("[4]", "[null]") + "  - {type: scaled_dense, units: 3}\n")
    assert "needs a known last axis" in shape.message and shape.path == "layers[0]"


def test_a_module_that_cannot_be_imported_is_an_error_at_its_line(capsys):
    text = "name: p\nplugins:\n  - netspec_test_plugin\n  - no_such_plugin_module\ninputs: [{name: x, shape: [4]}]\n" \
           "layers: [{type: scaled_dense, units: 2}]\n"
    (error,) = _errors(text)
    assert (error.path, error.line) == ("plugins[1]", 4)
    assert "cannot import plugin `no_such_plugin_module`" in error.message and "PYTHONPATH" in error.hint
    (bad,) = _errors(text.replace("no_such_plugin_module", "not a module"))
    assert bad.path == "plugins[1]"
    assert main(["validate", "--plugin", "no_such_plugin_module", str(STATIC)]) == 2
    assert "--plugin no_such_plugin_module: cannot import" in capsys.readouterr().err


def test_plugin_option_adds_types_to_a_spec_without_plugins(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(STATIC.read_text().replace("plugins: [netspec_test_plugin]\n", ""))
    assert main(["validate", "--plugin", "netspec_test_plugin", str(spec)]) == 0


def test_type_names_are_keras_snake_case():
    from netspec.plugins import snake_case

    assert snake_case("ScaledDense") == "scaled_dense" and snake_case("Conv2DPlus") == "conv2d_plus"


@pytest.fixture(scope="module")
def built():
    return netspec.build_model(BOTH, compile=False)


@pytest.mark.slow
def test_build_counts_what_summary_says(built):
    summary = netspec.summarize(BOTH)
    assert built.count_params() == summary["total_params"]
    assert [type(layer).__name__ for layer in built.layers[1:]] == ["Flatten", "ScaledDense", "ChannelScale", "Dense"]
    assert [tuple(layer.output.shape) for layer in built.layers[2:4]] == [(None, 16), (None, 16)]


@pytest.mark.slow
def test_generated_script_imports_the_plugin_and_builds_the_same_model(built, tmp_path):
    script = netspec.generate_script(BOTH)
    assert "import netspec_keras_plugin\nimport netspec_test_plugin\n" in script
    assert "netspec_test_plugin.ScaledDense(" in script and "netspec_keras_plugin.ChannelScale(" in script
    path = tmp_path / "train_plugins.py"
    path.write_text(script)
    spec = importlib.util.spec_from_file_location("train_plugins", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    assert [layer.get_config() for layer in model.layers] == [layer.get_config() for layer in built.layers]


@pytest.mark.slow
def test_import_takes_the_classes_of_the_plugins_it_is_given(built, tmp_path):
    import subprocess

    built.save(tmp_path / "plugins.keras")
    # In a fresh process, without --plugin, the classes are custom ones (this process has the plugins loaded).
    bare = subprocess.run([sys.executable, "-m", "netspec", "import", str(tmp_path / "plugins.keras"), "-o",
                           str(tmp_path / "bare.yaml")], capture_output=True, text=True, timeout=120)
    assert bare.returncode == 1 and "is a custom layer class" in bare.stderr
    assert main(["import", str(tmp_path / "plugins.keras"), "-o", str(tmp_path / "spec.yaml"), "--plugin",
                 "netspec_test_plugin", "--plugin", "netspec_keras_plugin"]) == 0
    imported = netspec.load_spec(tmp_path / "spec.yaml")
    assert imported.plugins == ["netspec_keras_plugin", "netspec_test_plugin"]
    assert [layer.type for layer in imported.layers] == ["flatten", "scaled_dense", "channel_scale", "dense"]
    again = netspec.build_model(tmp_path / "spec.yaml", compile=False)
    assert [layer.get_config() for layer in again.layers] == [layer.get_config() for layer in built.layers]


@pytest.mark.slow
def test_train_one_epoch_and_evaluate_the_run(tmp_path):
    result = netspec.train(BOTH, out=tmp_path / "run")
    assert (tmp_path / "run" / "model.keras").exists()
    metrics = netspec.evaluate(tmp_path / "run")  # the saved model's plugin classes load
    assert 0 <= metrics["accuracy"] <= 1
    assert result.run_dir == tmp_path / "run"
