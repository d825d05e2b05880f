"""The JSON Schema (draft 2020-12) of the spec format, for editors and `netspec schema`.

Derived from the schema stage's pydantic models, plus what composition adds
to a spec as written (block uses and stacks in `layers`, `${name}`
placeholders, `vars`/`blocks`/`include`). It lives apart from both stages so
that neither imports the other.
"""

from __future__ import annotations

import json
import os
from collections import Counter

# The models are imported by the functions that use them: `json_schema_text` reads the packaged copy
# without importing pydantic or any layer.

__all__ = ["json_schema", "json_schema_text", "layer_json_schemas"]


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the format, with every field's description.

    Editors read it through a `# yaml-language-server: $schema=...` comment;
    `netspec.schema.json` at the repository root is this, written out.
    Besides what pydantic derives from the models, it describes the
    shorthands the validators accept (`optimizer: adam`, `callbacks:
    [terminate_on_nan]`, `data: builtin:digits`) and the top-level
    composition keys (`vars`, `blocks`, `include`), expanded before validation.
    """
    from netspec.layers import LAYER_TYPES
    from netspec.schema.spec import Spec
    from netspec.schema.training import OPTIMIZERS

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
    share_repeated(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


_PLACEHOLDER = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_.]*\}$",
                "description": "A `${var}` or block parameter, substituted before validation."}
_PLACEHOLDER_REF = {"$ref": "#/$defs/Placeholder"}


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
                node["anyOf"] = [kept, dict(_PLACEHOLDER_REF)]
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    schema["$defs"]["Placeholder"] = dict(_PLACEHOLDER)


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


# ----- sharing repeated subschemas through `$defs` -----
#
# pydantic writes a field type that is not a model (an initializer, a size,
# `int | ${var}`) out in full at every field of that type: hundreds of copies.
# `share_repeated` moves each subschema that occurs often into `$defs` and
# refers to it with `$ref`; what a document must satisfy is unchanged, since
# a `$ref` to a copy of a subschema is that subschema (draft 2020-12).

# Keywords whose value is a subschema, a list of them, or a mapping to them: the
# only places a subschema is looked for (not `enum`, `const`, `default`, `discriminator`...).
_SUBSCHEMA = ("items", "not", "additionalProperties", "contains", "propertyNames", "if", "then", "else",
              "unevaluatedItems", "unevaluatedProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs")
# Keywords that only annotate: they stay at each use (a field's own description), not in the shared part.
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly")
# A subschema is shared when it occurs this often and that saves this many characters (of compact JSON).
_MIN_USES = 3
_MIN_SAVING = 200


def share_repeated(schema: dict) -> None:
    """Move every subschema that occurs often into `schema["$defs"]`, each use becoming a `$ref`.

    Subschemas are compared without their annotations, so that `kernel_initializer`
    and `bias_initializer` share one `Initializer` and keep their own title,
    default and description.
    Deterministic: the same schema always gives the same names and text.
    """
    defs = schema.setdefault("$defs", {})
    while True:
        uses = _uses(schema)
        chosen: list[str] = []
        for key in sorted(uses, key=lambda k: (-_saving(k, len(uses[k])), k)):
            if _saving(key, len(uses[key])) < _MIN_SAVING:
                break
            if len(uses[key]) < _MIN_USES:
                continue
            # Subschemas inside (or around) one moved in this round are counted again in the next.
            if any(key in other or other in key for other in chosen):
                continue
            chosen.append(key)
            _share(key, uses[key], defs)
        if not chosen:
            break
    schema["$defs"] = dict(sorted(defs.items()))


def _saving(key: str, count: int) -> int:
    return (count - 1) * len(key) - count * len('{"$ref": "#/$defs/SomeName"}')


# A use of a subschema: the node, the field it is in (the nearest enclosing property but `type`),
# and whether it is that field's whole schema.
_Use = tuple  # (dict, str | None, bool)


def _uses(schema: dict) -> dict[str, list[_Use]]:
    """Each subschema's canonical text (annotations left out) -> its uses."""
    found: dict[str, list[_Use]] = {}

    def visit(node, field: str | None, direct: bool, shareable: bool):
        if not isinstance(node, dict):
            return
        if shareable:
            core = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
            if core and set(core) != {"$ref"}:
                found.setdefault(json.dumps(core, sort_keys=True), []).append((node, field, direct))
        for key, value in node.items():
            if key in _SUBSCHEMA:
                visit(value, field, False, True)
            elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
                for item in value:
                    visit(item, field, False, True)
            elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
                for name, item in value.items():
                    if key == "properties" and (name != "type" or field is None):
                        visit(item, name, True, True)
                    else:  # a `$defs` entry is shared already, but its parts may be shared too
                        visit(item, field if key == "properties" else None, False, key != "$defs")

    visit(schema, None, False, False)
    return found


def _share(key: str, uses: list[_Use], defs: dict) -> None:
    shared = json.loads(key)
    name = _name_for(shared, uses, defs)
    defs[name] = shared
    for node, _, _ in uses:
        # each use keeps its own annotations (a field's title, default and description, which editors show)
        kept = {k: v for k, v in node.items() if k in _ANNOTATIONS}
        node.clear()
        node.update({"$ref": f"#/$defs/{name}", **kept})


def _name_for(shared: dict, uses: list[_Use], defs: dict) -> str:
    """A readable name, from the fields that use it: the words their names end in
    (`kernel_initializer`, `bias_initializer`: `Initializer`), else what it accepts
    (`BooleanOrPlaceholder`), else the commonest field's name."""
    fields = [field for _, field, _ in uses]
    direct = all(d for _, _, d in uses)
    candidates = []
    if all(fields):
        words = [f.split("_") for f in fields]
        common: list[str] = []
        while all(len(w) > len(common) for w in words) and len({w[-1 - len(common)] for w in words}) == 1:
            common.insert(0, words[0][-1 - len(common)])
        if common and direct:
            candidates += [_camel(common), _camel(common) + "Field"]
        elif common:  # a part of those fields' schemas: `loss` -> `LossName`, `metrics` -> `MetricName`
            if common[-1].endswith("s") and not common[-1].endswith("ss"):
                common[-1] = common[-1][:-1]
            candidates.append(_camel(common) + ("Name" if "enum" in shared else "Value"))
    structural = _describe(shared)
    if structural and len(structural) <= 32:
        candidates.append(structural)
    named = [f for f in fields if f]
    if named:
        commonest = _camel(sorted(Counter(named).items(), key=lambda item: (-item[1], item[0]))[0][0].split("_"))
        candidates += [commonest, commonest + ("Field" if direct else "Value")]
    candidates.append("Shared")
    for candidate in candidates:
        if candidate not in defs:
            return candidate
    base, n = candidates[-1], 2
    while f"{base}{n}" in defs:
        n += 1
    return f"{base}{n}"


def _camel(words: list[str]) -> str:
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def _describe(node: dict) -> str | None:
    """`BooleanOrPlaceholder`, `PositiveIntegerList`, ...: what a subschema accepts, in a name; None if unsure."""
    from netspec.layers.base import MAX_SIZE

    if set(node) - set(_ANNOTATIONS) == {"$ref"}:
        return node["$ref"].rsplit("/", 1)[1]
    for union in ("anyOf", "oneOf"):
        if union in node:
            parts = [_describe(part) if isinstance(part, dict) else None for part in node[union]]
            return "Or".join(parts) if all(parts) else None
    kind = node.get("type")
    if kind == "array":
        item = _describe(node["items"]) if isinstance(node.get("items"), dict) else None
        return f"{item}List" if item else None
    if kind in ("integer", "number"):
        word = "Integer" if kind == "integer" else "Number"
        bounds = {k: v for k, v in node.items() if k not in _ANNOTATIONS and k != "type"}
        if bounds.get("maximum", MAX_SIZE) != MAX_SIZE or "exclusiveMaximum" in bounds:
            return None  # a range: no short name says it
        if bounds.get("minimum", -1) >= 1 or bounds.get("exclusiveMinimum", -1) >= 0:
            return f"Positive{word}"
        if bounds.get("minimum") == 0:
            return f"NonNegative{word}"
        return word if not set(bounds) - {"maximum"} else None
    if set(node) - set(_ANNOTATIONS) != {"type"}:
        return None  # an enum, a pattern, properties...: no short name says it
    return {"boolean": "Boolean", "string": "String", "null": "Null", "object": "Object"}.get(kind)


_COMPOSITION_SCHEMA = {
    "vars": {"type": "object", "description": "Named values, used elsewhere as `${name}` (expanded before validation)."},
    "blocks": {"type": "object", "description": "Named, parameterised groups of layers, used in `layers` "
               "as `{type: block, block: NAME, args: {...}}` (expanded before validation)."},
    "include": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                "description": "Spec file(s) merged into this one, relative to it (expanded before validation)."},
}


def layer_json_schemas() -> dict[str, dict]:
    """JSON Schemas of the entries composition adds to `layers` (block uses and stacks), by `type`."""
    from netspec.compose.stacks import STACKS

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


# ----- the packaged copy, for `netspec schema` -----
#
# Generating the schema loads every layer type and builds the union of them all:
# several times what the rest of the verb costs. The package ships the text
# instead, with a digest of the sources it was generated from; where those have
# changed since (a layer type added or edited in a checkout), the text is
# generated anew, so `netspec schema` never prints a stale schema.
# `python -m netspec.jsonschema` rewrites the copy (tests/test_json_schema.py checks it is current).

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
PACKAGED_SCHEMA = os.path.join(_PACKAGE, "netspec.schema.json")
PACKAGED_DIGEST = PACKAGED_SCHEMA + ".sha256"
# What the schema is derived from, relative to the package: the layer families (every module in
# `layers/`), the other models of the format, the stacks, the JSON-specific parts here, PRECISIONS.
_SCHEMA_SOURCES = ("layers/", "schema/spec.py", "schema/training.py", "schema/data.py", "compose/stacks.py",
                   "jsonschema.py", "names.py")


def json_schema_text() -> str:
    """`json_schema()` as JSON text (2-space indents, no final newline): the packaged copy where it is current."""
    try:
        with open(PACKAGED_DIGEST, encoding="utf-8") as file:
            current = file.read().strip() == sources_digest()
        if current:
            with open(PACKAGED_SCHEMA, encoding="utf-8") as file:
                return file.read().removesuffix("\n")
    except OSError:  # not shipped (or sources missing): generate it
        pass
    return json.dumps(json_schema(), indent=2)


def sources_digest() -> str:
    """SHA-256 of the files the schema is generated from (their text, so line endings do not count)."""
    import hashlib

    digest = hashlib.sha256()
    for source in _SCHEMA_SOURCES:
        folder = os.path.join(_PACKAGE, source)
        names = sorted(f"{source}{n}" for n in os.listdir(folder) if n.endswith(".py")) if source.endswith("/") \
            else [source]
        for name in names:
            with open(os.path.join(_PACKAGE, name), encoding="utf-8") as file:
                digest.update(f"{name}\n{file.read()}\n".encode())
    return digest.hexdigest()


def write_packaged_schema(*also: str | os.PathLike) -> None:
    """Write the packaged copy and its digest, and the same text to each of `also`
    (`python -m netspec.jsonschema netspec.schema.json` in a checkout: the copy editors read too)."""
    from netspec import atomic

    text = json.dumps(json_schema(), indent=2) + "\n"
    for path in (PACKAGED_SCHEMA, *also):
        atomic.write_text(path, text)
    atomic.write_text(PACKAGED_DIGEST, sources_digest() + "\n")


if __name__ == "__main__":
    import sys

    write_packaged_schema(*sys.argv[1:])
    print("wrote " + ", ".join([PACKAGED_SCHEMA, PACKAGED_DIGEST, *sys.argv[1:]]))
