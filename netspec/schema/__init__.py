"""Stage 2: plain data -> validated pydantic models, with located diagnostics."""

from __future__ import annotations

from pydantic import ValidationError

from netspec.errors import Diagnostic, SpecError
from netspec.layers import LAYER_TYPES
from netspec.layers.base import did_you_mean
from netspec.schema.spec import Input, Spec, SpecHead
from netspec.source import Source

__all__ = ["Input", "Spec", "validate_schema", "json_schema"]


def validate_schema(source: Source) -> Spec:
    """Validate `source.data` against the format; raise SpecError with every problem.

    Layers are validated one by one with their own type's model rather than
    through the union of all types: pydantic then builds validators only for
    the types a spec uses, which keeps `netspec validate` fast.
    """
    data = source.data
    diagnostics: list[Diagnostic] = []
    head = None
    try:
        head = SpecHead.model_validate({k: v for k, v in data.items() if k != "layers"})
    except ValidationError as exc:
        diagnostics += translate_errors(exc, source)
    layers = []
    raw_layers = data.get("layers")
    if raw_layers is None:
        diagnostics.append(source.diagnostic((), "missing required key `layers`", "list the model's layers under `layers:`"))
    elif not isinstance(raw_layers, list) or not raw_layers:
        diagnostics.append(source.diagnostic(("layers",), f"`layers` must be a non-empty list; received {raw_layers!r}"))
    else:
        for i, item in enumerate(raw_layers):
            layer = validate_layer(item, ("layers", i), source, diagnostics)
            layers.append(layer)
    if diagnostics:
        raise SpecError(sorted(diagnostics, key=lambda d: (d.line or 0, d.column or 0)))
    spec = Spec.model_construct(**dict(head), layers=layers)
    spec._source = source
    return spec


def validate_layer(item, path: tuple, source: Source, diagnostics: list[Diagnostic]):
    """One layer mapping -> its type's model; problems are appended to `diagnostics`."""
    if not isinstance(item, dict):
        diagnostics.append(source.diagnostic(path, f"a layer must be a mapping with a `type`; received {item!r}",
                                             "write it as `{type: dense, units: 10}`"))
        return None
    tag = item.get("type")
    if tag is None:
        diagnostics.append(source.diagnostic(path, "missing key `type`", "every layer needs a `type`, e.g. `type: dense`"))
        return None
    cls = LAYER_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        hint = did_you_mean(tag, LAYER_TYPES) if isinstance(tag, str) else None
        diagnostics.append(source.diagnostic((*path, "type"), f"unknown layer type `{tag}`",
                                             hint or "run `netspec schema` for the list of layer types"))
        return None
    try:
        return cls.model_validate(item)
    except ValidationError as exc:
        diagnostics.extend(translate_errors(exc, source, path))
        return None


def translate_errors(exc: ValidationError, source: Source, prefix: tuple = ()) -> list[Diagnostic]:
    """pydantic's errors -> netspec diagnostics: spec paths, positions, hints."""
    found: dict[str, Diagnostic] = {}
    for error in exc.errors(include_url=False):
        diagnostic = _diagnostic(error, source, prefix)
        # Several errors on one path come from alternatives of one union: keep the first.
        found.setdefault(diagnostic.path + "\0" + (diagnostic.message if error["type"] == "extra_forbidden" else ""),
                         diagnostic)
    return sorted(found.values(), key=lambda d: (d.line or 0, d.column or 0))


def _data_path(loc: tuple, data) -> tuple:
    """Drop the segments pydantic adds that are not in the data (union tags, member names)."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and (part == node.get("type") or not _is_key_like(part)):
            continue  # a discriminator tag or a union member's name
        else:
            path.append(part)  # a key that is missing or not allowed
            node = None
    return tuple(path)


def _is_key_like(part: str) -> bool:
    return part.isidentifier()


def _diagnostic(error: dict, source: Source, prefix: tuple) -> Diagnostic:
    loc = tuple(error["loc"])
    path = prefix + _data_path(loc, _get(source.data, prefix))
    kind = error["type"]
    value = error.get("input")
    message, hint, at_key = error["msg"], None, False
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if "; did you mean" in message:
        message, hint = message.split("; ", 1)
    if kind == "extra_forbidden":
        key = path[-1]
        owner = _owner(source.data, path[:-1])
        allowed = owner.get("allowed", [])
        message = f"unknown key `{key}`" + (f" for a `{owner['type']}` layer" if owner.get("type") else "")
        hint = did_you_mean(key, allowed) or (f"expected one of: {', '.join(allowed)}" if allowed else None)
        at_key = True
    elif kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", value)
        tags = _union_tags(error)
        message = f"unknown layer type `{tag}`"
        hint = did_you_mean(tag, tags) or "run `netspec schema` for the list of types"
        path = (*path, "type")
    elif kind == "union_tag_not_found":
        message = "missing key `type`"
        hint = "every layer needs a `type`, e.g. `type: dense`"
    elif kind == "missing":
        message = f"missing required key `{path[-1]}`"
        owner = _owner(source.data, path[:-1])
        if owner.get("type"):
            message += f" for a `{owner['type']}` layer"
        path, at_key = path[:-1], False
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"received {value!r}; expected {expected}"
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = did_you_mean(value, options) if isinstance(value, str) else None
    elif kind != "value_error" and "received" not in message.lower():
        message = f"{message}; received {value!r}" if not isinstance(value, dict | list) else message
    return source.diagnostic(path, message, hint, key=at_key)


def _get(data, path):
    for part in path:
        data = data[part]
    return data


def _owner(data, path) -> dict:
    """Type and allowed keys of the mapping at `path`, for hints."""
    node = data
    try:
        for part in path:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        return {}
    if not isinstance(node, dict):
        return {}
    cls = LAYER_TYPES.get(node.get("type")) if isinstance(node.get("type"), str) else None
    if cls is not None:
        return {"type": node["type"], "allowed": list(cls.model_fields)}
    model = _model_at(path)
    return {"allowed": list(model.model_fields)} if model else {}


def _model_at(path):
    from netspec.schema import data as data_module
    from netspec.schema import training

    names = [p for p in path if isinstance(p, str)]
    table = {
        (): SpecHead, ("training",): training.Training, ("data",): data_module.Data, ("inputs",): Input,
        ("training", "optimizer"): training.Optimizer, ("training", "optimizer", "learning_rate"): training.Schedule,
    }
    return table.get(tuple(names))


def _union_tags(error) -> list[str]:
    expected = error.get("ctx", {}).get("expected_tags", "")
    return [t.strip().strip("'") for t in expected.split(",") if t.strip()]


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the format, with every field's description."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://netspec.dev/schema/v1.json"
    return schema
