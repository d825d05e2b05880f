"""The format reference, generated from the schema: docs/format.md and `netspec layers [TYPE]`.

Every table here is read off the pydantic models that validate specs (their
fields, defaults and descriptions) and their JSON Schema (types and bounds),
so the reference cannot say anything the validator does not do. A test
fails when docs/format.md differs from `format_reference()`; regenerate it
with `python -m netspec.docs > docs/format.md`.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MAX_ENUM = 8  # longer lists of names are summarised


# ----- one key of a model -----


def _json_type(schema: dict, defs: dict) -> str:
    """A property's JSON Schema as a short type: `int ≥ 1`, `"valid" | "same"`, `list of float`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        return name if "properties" in target or "discriminator" in target else _json_type(target, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [part for s in schema[key] for part in _json_type(s, defs).split(" or ")]
            return " or ".join(dict.fromkeys(parts))
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        values = schema["enum"]
        named = _named_sets().get(frozenset(values))
        if named:
            return f"[{named}](#named-values)"
        if len(values) > MAX_ENUM:
            return f"one of {len(values)} names"
        return " \\| ".join(json.dumps(v) for v in values)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_json_type({**schema, "type": k}, defs) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"list of {_json_type(items, defs)}" if items else "list"
    if kind in ("integer", "number"):
        text = "int" if kind == "integer" else "float"
        bounds = []
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
            if key in schema and abs(schema[key]) < 1e9:
                bounds.append(f"{sign} {schema[key]}")
        return f"{text} {', '.join(bounds)}" if bounds else text
    if kind == "object":
        return "mapping"
    return {"string": "string", "boolean": "bool", "null": "null"}.get(kind, "any")


def _named_sets() -> dict[frozenset, str]:
    """Lists of names that many keys share, listed once in the reference's "Named values" section."""
    from netspec.layers.base import ACTIVATIONS, CONSTRAINTS, INITIALIZERS, REGULARIZERS
    from netspec.schema.training import LOSSES, METRICS

    return {frozenset(ACTIVATIONS): "activation", frozenset(INITIALIZERS): "initializer",
            frozenset(REGULARIZERS): "regularizer", frozenset(CONSTRAINTS): "constraint",
            frozenset(LOSSES): "loss", frozenset(METRICS): "metric"}


def _default(field) -> str:
    if field.is_required():
        return "required"
    default = field.default_factory() if field.default_factory is not None else field.default
    if default is PydanticUndefined:
        return "see description"
    if isinstance(default, BaseModel):
        return json.dumps(default.model_dump(exclude_none=True))
    try:
        return json.dumps(default)
    except TypeError:
        return str(default)


def fields(model: type[BaseModel], *, skip: Iterable[str] = ("type",)) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of each field of a model, in its order."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    properties = schema.get("properties", {})
    rows = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = field.alias or name
        kind = _json_type(properties.get(key, {}), defs) if key in properties else "any"
        rows.append((key, kind, _default(field), " ".join((field.description or "").split())))
    return rows


def _table(rows) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, kind, default, description in rows:
        description = description.replace("|", "\\|")  # a pipe would end the cell
        lines.append(f"| `{key}` | {kind} | {default} | {description} |")
    return lines


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())


# ----- the whole reference -----


def format_reference() -> str:
    """docs/format.md: every layer type, the training section, the data section and composition."""
    from netspec.compose.stacks import STACKS
    from netspec.layers import LAYER_TYPES
    from netspec.lowering import CALLBACKS
    from netspec.schema import Input
    from netspec.schema.data import Data
    from netspec.schema.training import (
        LOSSES,
        METRICS,
        OPTIMIZERS,
        PRECISIONS,
        Callback,
        ExecutionSettings,
        Optimizer,
        Schedule,
        Training,
    )

    out = [
        "# The netspec format",
        "",
        "Generated from netspec's schema by `python -m netspec.docs > docs/format.md` (a test checks it is",
        "current); `netspec layers` and `netspec layers TYPE` print the same in a terminal, and",
        "`netspec schema` prints the JSON Schema that editors use.",
        "",
        "A spec is a mapping with `name`, `inputs`, `layers` and, optionally, `outputs`, `training`, `data`,",
        "`description` and `netspec` (the format version, 1). Each layer is `{type: ..., <Keras arguments>}`: `type`",
        "is the Keras layer's snake_case name and every other key the Keras constructor argument of the same name",
        "and default. Keys every layer takes: `name` (a unique identifier), `inputs` (names of earlier layers or",
        "model inputs, `name[1]` for a layer's second output; default: the previous layer) and `trainable`.",
        "",
        "`plugins` lists Python modules to import (`plugins: [my_package.layers]`, or `--plugin MODULE` on any",
        "verb): their Keras layer classes registered with `@netspec.layer_type` or",
        "`keras.saving.register_keras_serializable` become layer types named in snake_case (`ScaledDense` ->",
        "`scaled_dense`), whose keys are the constructor's arguments. They are not listed below.",
        "",
        "## Contents",
        "",
        "- [Inputs](#inputs)",
        "- [Layers](#layers)",
        "- [Training](#training)",
        "- [Data](#data)",
        "- [Composition](#composition)",
        "- [Named values](#named-values)",
        "",
        "## Inputs",
        "",
        f"`inputs` is a list of model inputs. {_summary(Input)}",
        "",
        *_table(fields(Input, skip=())),
        "",
        "## Layers",
        "",
        f"{len(LAYER_TYPES)} types: " + ", ".join(f"[`{t}`](#{t})" for t in LAYER_TYPES) + ".",
        "",
    ]
    common = ("name", "inputs", "trainable")
    for tag, cls in LAYER_TYPES.items():
        out += [f"### {tag}", "", f"`keras.layers.{cls.keras_class}`: {_summary(cls)}", ""]
        rows = fields(cls, skip=("type", *common))
        out += _table(rows) if rows else ["No arguments besides `name`, `inputs` and `trainable`."]
        out.append("")
    out += [
        "## Training",
        "",
        "`training` (optional) says how `netspec train` and a generated script train the model.",
        "",
        *_table(fields(Training, skip=())),
        "",
        f"`precision`: {', '.join(f'`{p}`' for p in PRECISIONS)}. `execution` as a mapping:",
        "",
        *_table(fields(ExecutionSettings, skip=())),
        "",
        "### Optimizers",
        "",
        f"`optimizer` is a name or `{{type, learning_rate, ...}}`. {_summary(Optimizer)} Every optimizer also takes",
        "`weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,",
        "`ema_overwrite_frequency`, `loss_scale_factor` and `gradient_accumulation_steps`.",
        "",
        "| type | Keras class | its own arguments |",
        "|---|---|---|",
        *(f"| `{t}` | `keras.optimizers.{cls}` | {', '.join(f'`{a}`' for a in args)} |"
          for t, (cls, args) in OPTIMIZERS.items()),
        "",
        "### Learning-rate schedules",
        "",
        f"`learning_rate` is a number or a schedule `{{type, ...}}`: {_summary(Schedule)}",
        "",
        *_table(fields(Schedule, skip=())),
        "",
        "### Losses and metrics",
        "",
        "A loss or metric is a Keras name, or `{type: NAME, ...arguments}` for the class of that name",
        "(`{type: huber, delta: 2.0}`); with several outputs, a mapping from output name to loss (list of",
        "metrics).",
        "",
        "Their names are listed under [Named values](#named-values).",
        "",
        "### Callbacks",
        "",
        "`callbacks` is a list of names or `{type, ...}`; files they write are relative to the run folder.",
        "",
    ]
    models = {typing.get_args(m.model_fields["type"].annotation)[0]: m
              for m in typing.get_args(typing.get_args(Callback)[0])}
    for tag, (keras_class, *_) in CALLBACKS.items():
        model = models[tag]
        out += [f"#### {tag}", "", f"`keras.callbacks.{keras_class}`: {_summary(model)}", ""]
        rows = fields(model)
        out += (_table(rows) if rows else ["No arguments."]) + [""]
    out += [
        "## Data",
        "",
        "`data` (optional) is a source, or a mapping with `source` and the keys below. Sources: `builtin:digits`",
        "(scikit-learn's 8x8 digits as (8, 8, 1) images in [0, 1]), `builtin:digits_sequence` (the same as 8",
        "steps of 8 features), `synthetic` (random data shaped like the inputs, labels as the losses take them),",
        "`keras:NAME` (a `keras.datasets` set, downloaded on first use), or a path relative to the spec file: an",
        "`.npz` file (features under `x` or the input names, labels under `y` or the output names; `data.x` and",
        "`data.y` name other keys), an `.npy` file (features only), a CSV table (a header row; labels in",
        "`label`, `y` or the last column; `data.x` and `data.y` name columns), or a folder of class subfolders of",
        "images or of `.txt` files. A folder is streamed from disk a batch at a time, so it may be larger than",
        "memory, as may an `.npy` file (memory-mapped, read a batch at a time); an `.npz` file is read into memory",
        "key by key, only the keys used.",
        "",
        *_table(fields(Data, skip=())),
        "",
        "## Composition",
        "",
        "`vars` (values, used as `${name}`), `blocks` (named groups of layers with `args`, used as",
        "`{block: NAME, args: {...}, repeat: N}` in `layers`), `include` (other spec files merged in) and the",
        "stacks below are expanded before validation; `netspec expand SPEC` prints the result, and",
        "`--set PATH=VALUE` changes any value of the spec as written.",
        "",
    ]
    for tag, stack in STACKS.items():
        out += [f"### {tag}", "", _summary(stack), "", *_table(fields(stack)), ""]
    from netspec.layers.base import ACTIVATIONS, CONSTRAINTS, INITIALIZERS, REGULARIZERS

    out += ["## Named values", "",
            "An initializer, regularizer or constraint is a name, or `{type: NAME, ...arguments}` for the Keras",
            "class of that name (`{type: he_normal, seed: 1}`).", ""]
    for label, names in (("activation", ACTIVATIONS), ("initializer", INITIALIZERS), ("regularizer", REGULARIZERS),
                         ("constraint", CONSTRAINTS), ("loss", LOSSES), ("metric", METRICS)):
        out += [f"- {label}: " + ", ".join(f"`{n}`" for n in names), ""]
    return "\n".join(out).rstrip() + "\n"


# ----- in a terminal -----


def layer_list() -> str:
    """Every layer type with its Keras class, one a line."""
    from netspec.layers import LAYER_TYPES

    width = max(map(len, LAYER_TYPES))
    lines = [f"{tag:<{width}}  keras.layers.{cls.keras_class}" for tag, cls in LAYER_TYPES.items()]
    return "\n".join(lines + ["", "`netspec layers TYPE` lists a type's keys."])


def layer_help(tag: str) -> str:
    """One layer type's keys, defaults and descriptions, as `netspec layers TYPE` prints them."""
    from netspec.errors import UsageError
    from netspec.layers import LAYER_TYPES
    from netspec.names import did_you_mean

    cls = LAYER_TYPES.get(tag)
    if cls is None:
        hint = did_you_mean(tag, LAYER_TYPES) or "`netspec layers` lists them"
        raise UsageError(f"unknown layer type `{tag}`; {hint}")
    lines = [f"{tag}: keras.layers.{cls.keras_class}", _summary(cls), ""]
    for key, kind, default, description in fields(cls, skip=("type", "name", "inputs", "trainable")):
        kind = re.sub(r"\[([^\]]+)\]\(#[^)]*\)", r"\1 name", kind).replace("\\|", "|")  # Markdown -> text
        lines.append(f"  {key}: {kind} (default: {default})")
        if description:
            lines.append(f"      {description}")
    lines += ["", "Every layer also takes `name`, `inputs` and `trainable`. Names: docs/format.md#named-values"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_reference(), end="")
