"""The JSON Schema (draft 2020-12) of the spec format, for editors and `netspec schema`.

Derived from the schema stage's pydantic models, plus what composition adds
to a spec as written (block uses and stacks in `layers`, `${name}`
placeholders, `vars`/`blocks`/`include`). It lives apart from both stages so
that neither imports the other.
"""

from __future__ import annotations

from netspec.compose.stacks import STACKS
from netspec.layers import LAYER_TYPES
from netspec.schema.spec import Spec
from netspec.schema.training import OPTIMIZERS

__all__ = ["json_schema", "layer_json_schemas"]


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the format, with every field's description.

    Editors read it through a `# yaml-language-server: $schema=...` comment;
    `netspec.schema.json` at the repository root is this, written out.
    Besides what pydantic derives from the models, it describes the
    shorthands the validators accept (`optimizer: adam`, `callbacks:
    [terminate_on_nan]`, `data: builtin:digits`) and the top-level
    composition keys (`vars`, `blocks`, `include`), expanded before validation.
    """
    schema = Spec.model_json_schema()
    defs = schema["$defs"]
    for name, field in Spec.model_fields.items():  # pydantic drops descriptions beside a `$ref`
        prop = schema["properties"][name]
        if field.description and "description" not in prop:
            prop["description"] = field.description
    for union in _tagged_unions(schema):
        for tag, ref in union["discriminator"]["mapping"].items():
            model = defs[ref.rsplit("/", 1)[1]]
            cls = LAYER_TYPES.get(tag)
            what = f"Layer type `{tag}` (keras.layers.{cls.keras_class})." if cls else f"Type `{tag}`."
            model["properties"]["type"].setdefault("description", what)
    training = defs["Training"]["properties"]
    training["optimizer"] = {"anyOf": [{"enum": list(OPTIMIZERS)}, {"$ref": training["optimizer"].pop("$ref")}],
                             **training["optimizer"]}
    callbacks = training["callbacks"]["items"]
    callbacks_tags = list(callbacks["discriminator"]["mapping"])
    training["callbacks"]["items"] = {"anyOf": [{"enum": callbacks_tags}, callbacks]}
    schema["properties"]["data"]["anyOf"].insert(
        0, {"type": "string", "description": "Shorthand for `{source: ...}`, e.g. `builtin:digits`."})
    schema["properties"].update(_COMPOSITION_SCHEMA)
    _allow_composition(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


_PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_.]*\}$",
                "description": "A `${var}` or block parameter, substituted before validation."}


def _allow_composition(schema: dict) -> None:
    """Let editors accept specs as written: block uses and stacks in `layers`, `${name}` for any number."""
    layers = schema["properties"]["layers"]
    layers["items"] = {"anyOf": [layers["items"], *layer_json_schemas().values()]}

    def visit(node):
        if isinstance(node, dict):
            for value in node.values():
                visit(value)
            if node.get("type") in ("integer", "number", "boolean") and "anyOf" not in node:
                kept = {k: node.pop(k) for k in list(node) if k not in ("description", "title", "default")}
                node["anyOf"] = [kept, _PLACEHOLDER]
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)


def _tagged_unions(node):
    """Every `{discriminator: {propertyName: type, mapping}}` in a schema."""
    if isinstance(node, dict):
        if isinstance(node.get("discriminator"), dict) and "mapping" in node["discriminator"]:
            yield node
        for value in node.values():
            yield from _tagged_unions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tagged_unions(value)


_COMPOSITION_SCHEMA = {
    "vars": {"type": "object", "description": "Named values, used elsewhere as `${name}` (expanded before validation)."},
    "blocks": {"type": "object", "description": "Named, parameterised groups of layers, used in `layers` "
               "as `{type: block, block: NAME, args: {...}}` (expanded before validation)."},
    "include": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                "description": "Spec file(s) merged into this one, relative to it (expanded before validation)."},
}


def layer_json_schemas() -> dict[str, dict]:
    """JSON Schemas of the entries composition adds to `layers` (block uses and stacks), by `type`."""
    ref = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    use = {
        "type": "object", "additionalProperties": False, "required": ["type", "block"],
        "description": "A use of a block defined under `blocks` (expanded before validation).",
        "properties": {
            "type": {"const": "block"},
            "block": {"type": "string", "description": "Name of the block under `blocks`."},
            "args": {"type": "object", "description": "Values of the block's parameters; the rest take their defaults."},
            "repeat": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}],
                       "description": "Number of copies, chained one after another."},
            "name": {"type": "string", "description": "Prefix of the copies' layer names; also names the block's output."},
            "inputs": {**ref, "description": "What the block reads; default: the previous layer."},
            "trainable": {"type": "boolean", "description": "false freezes every layer of the block."},
        },
    }
    schemas = {"block": use}
    for kind, cls in STACKS.items():
        schema = cls.model_json_schema()
        schema.setdefault("description", cls.__doc__)
        schemas[kind] = schema
    return schemas
