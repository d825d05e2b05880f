"""docs/format.md is the format reference generated from the schema, and it is current; `netspec layers`."""

from __future__ import annotations

from pathlib import Path

from netspec.cli import main
from netspec.compose.stacks import STACKS
from netspec.docs import format_reference, layer_help
from netspec.layers import LAYER_TYPES
from netspec.lowering import CALLBACKS
from netspec.schema.data import Data
from netspec.schema.training import OPTIMIZERS, Training

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "format.md"


def test_the_checked_in_reference_is_current():
    assert REFERENCE.read_text(encoding="utf-8") == format_reference(), (
        "docs/format.md is stale: regenerate it with `python -m netspec.docs > docs/format.md`")


def test_every_layer_type_has_its_keras_class_and_every_key():
    text = format_reference()
    for tag, cls in LAYER_TYPES.items():
        section = text.split(f"\n### {tag}\n", 1)[1].split("\n### ", 1)[0]
        assert f"`keras.layers.{cls.keras_class}`" in section, tag
        for key in set(cls.model_fields) - {"type", "name", "inputs", "trainable"}:
            assert f"| `{cls.model_fields[key].alias or key}` |" in section, (tag, key)


def test_training_data_and_composition_are_covered():
    text = format_reference()
    for key in (*Training.model_fields, *Data.model_fields):
        assert f"| `{key}` |" in text, key
    for name, (keras_class, _) in OPTIMIZERS.items():
        assert f"| `{name}` | `keras.optimizers.{keras_class}` |" in text
    for name, (keras_class, *_) in CALLBACKS.items():
        assert f"#### {name}\n\n`keras.callbacks.{keras_class}`" in text
    for name in STACKS:
        assert f"### {name}\n" in text
    assert "`builtin:digits`" in text and "`synthetic`" in text and ".npz" in text


def test_bounds_and_defaults_are_read_off_the_schema():
    text = format_reference()
    assert "| `filters` | int > 0 | required | Number of output filters. |" in text
    assert '| `rate` | float ≥ 0.0, < 1.0 | required |' in text
    assert '| `padding` | "valid" \\| "same" | "valid" |' in text


def test_netspec_layers(capsys):
    assert main(["layers"]) == 0
    listing = capsys.readouterr().out
    assert all(f"keras.layers.{cls.keras_class}" in listing for cls in LAYER_TYPES.values())
    assert main(["layers", "conv2d"]) == 0
    one = capsys.readouterr().out
    assert one.startswith("conv2d: keras.layers.Conv2D") and "  filters: int > 0 (default: required)" in one
    assert "](#" not in one  # plain text, not Markdown
    assert main(["layers", "conv2"]) == 2
    assert "did you mean `conv2d`?" in capsys.readouterr().err
    assert layer_help("lstm").count("\n  ") > 10
