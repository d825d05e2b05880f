"""Stage 2: plain data -> validated pydantic models, with located diagnostics."""

from __future__ import annotations

import json
import re
import typing

from pydantic import ValidationError

from netspec.errors import Diagnostic, SpecError
from netspec.layers import LAYER_TYPES
from netspec.layers.base import MAX_SIZE
from netspec.names import KERAS2_RENAMES, closest, did_you_mean, layer_type_hint, suggest_key
from netspec.schema.spec import FORMAT_VERSION, PLUGIN_MODULE, Input, Spec, SpecHead
from netspec.source import Source, shorten

# The parameter budget: the shapes stage refuses a spec with more parameters,
# before anything is allocated.
MAX_PARAMS = 10_000_000_000

__all__ = ["Input", "Spec", "dump_spec", "validate_schema"]


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
    _load_plugins(data.get("plugins"), source, diagnostics)
    layers = []
    raw_layers = data.get("layers")
    if raw_layers is None:
        diagnostics.append(source.diagnostic((), "missing required key `layers`", "list the model's layers under `layers:`"))
    elif not isinstance(raw_layers, list) or not raw_layers:
        diagnostics.append(source.diagnostic(("layers",), f"expected a non-empty list of layers; received {show(raw_layers)}",
                                             "list the layers, e.g. `- {type: dense, units: 10}`"))
    else:
        for i, item in enumerate(raw_layers):
            layer = validate_layer(item, ("layers", i), source, diagnostics)
            layers.append(layer)
    if diagnostics:
        # In the order written: by position, or for data without positions (a mapping) by top-level key.
        rank = {key: i for i, key in enumerate(data)}
        raise SpecError(sorted(diagnostics, key=lambda d: (
            d.line or 0, d.column or 0, rank.get(re.match(r"[^.\[]*", d.path).group(), -1))))
    return Spec.model_construct(**dict(head), layers=layers)


def dump_spec(spec: Spec, *, exclude: frozenset[str] | set[str] = frozenset(), **options) -> dict:
    """`spec.model_dump(exclude=..., **options)`, without building Spec's serializer: that needs the union of every
    layer type, so it imports every layer family and builds all their schemas (0.2 s). The head goes through
    SpecHead's serializer and each layer through its own model's, as Spec's would (`SerializeAsAny`)."""
    head = SpecHead.model_construct(_fields_set=spec.model_fields_set - {"layers"},
                                    **{key: getattr(spec, key) for key in SpecHead.model_fields})
    dumped = head.model_dump(exclude=set(exclude) & set(SpecHead.model_fields), **options)
    if "layers" not in exclude:
        dumped["layers"] = [layer.model_dump(**options) for layer in spec.layers]
    return dumped


def _load_plugins(modules, source: Source, diagnostics: list[Diagnostic]) -> None:
    """Import the spec's `plugins:` (before its layers are validated: they add layer types); a module
    that cannot be imported is an error at the line that names it. Malformed entries are SpecHead's to report."""
    if not isinstance(modules, list) or not modules:
        return
    from netspec.plugins import PluginError, load_plugin

    for i, module in enumerate(modules):
        if isinstance(module, str) and re.match(PLUGIN_MODULE, module):
            try:
                load_plugin(module)
            except PluginError as exc:
                diagnostics.append(source.diagnostic(("plugins", i), exc.message, exc.hint))


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
        hint = layer_type_hint(tag, LAYER_TYPES) if isinstance(tag, str) else None
        diagnostics.append(source.diagnostic((*path, "type"), f"unknown layer type `{tag}`",
                                             hint or "`netspec layers` lists the layer types (docs/format.md describes each)"))
        return None
    try:
        return cls.model_validate(item)
    except ValidationError as exc:
        diagnostics.extend(translate_errors(exc, source, path))
        return None


# pydantic error kinds that only say "this alternative has the wrong type":
# inside a union they are noise beside the alternative that matched the input.
_TYPE_KINDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "string_type": "a string",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
    "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "none_required": "null", "literal_error": "",
}
_IDENTIFIER_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"


def translate_errors(exc: ValidationError, source: Source, prefix: tuple = ()) -> list[Diagnostic]:
    """pydantic's errors -> netspec diagnostics: spec paths, positions, hints.

    Errors from the alternatives of a union are reduced to the one that
    speaks of the input, and a missing key that an unknown key misspells is
    folded into the "did you mean" of the unknown key.
    """
    data = _get(source.data, prefix)
    items = []
    for error in exc.errors(include_url=False):
        path, union_at = _data_path(tuple(error["loc"]), data, error["type"])
        items.append(_Item(error, prefix + path, None if union_at is None else prefix + union_at))
    items = _drop_union_noise(items)
    items = _drop_misspelled_missing(items, source)
    found: dict[tuple, Diagnostic] = {}
    for item in items:
        diagnostic = _diagnostic(item, source)
        found.setdefault((diagnostic.path, diagnostic.message), diagnostic)
    return sorted(found.values(), key=lambda d: (d.line or 0, d.column or 0))


class _Item:
    """One pydantic error, with its path in the spec's data."""

    def __init__(self, error: dict, path: tuple, union_at: tuple | None):
        self.error, self.path, self.union_at = error, path, union_at
        self.kind = error["type"]


def _data_path(loc: tuple, data, kind: str) -> tuple[tuple, tuple | None]:
    """pydantic's `loc` -> the path in the data, and where a union's alternatives branched.

    `loc` also names union members (`float`, `function-after[...]`) and tags;
    those are not in the data and are dropped. Only the last segment of a
    missing or unknown key is a key that is not in the data.
    """
    path: list = []
    union_at = None
    node = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif i == last and kind in ("missing", "extra_forbidden"):
            path.append(part)
        elif union_at is None:
            union_at = tuple(path)  # a union member's name or a tag
    return tuple(path), union_at


def _drop_union_noise(items: list[_Item]) -> list[_Item]:
    """Of the errors of one union's alternatives, keep those that are not mere type mismatches;
    when every alternative mismatched, keep one error that lists what was expected."""
    groups: dict[tuple, list[_Item]] = {}
    for item in items:
        if item.union_at is not None:
            groups.setdefault(item.union_at, []).append(item)
    drop: set[int] = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        # An error inside the input (deeper than the union) comes from the alternative that fits its shape.
        real = [i for i in group if i.kind not in _TYPE_KINDS or len(i.path) > len(i.union_at)]
        if real:
            drop.update(id(i) for i in group if i not in real)
        else:
            expected = []
            for i in group:
                words = _TYPE_KINDS[i.kind] or i.error.get("ctx", {}).get("expected", "")
                if words and words not in expected:
                    expected.append(words)
            first = group[0]
            first.kind = "union_mismatch"
            first.expected = ", or ".join(expected)
            first.path = first.union_at
            drop.update(id(i) for i in group[1:])
    return [i for i in items if id(i) not in drop]


def _drop_misspelled_missing(items: list[_Item], source: Source) -> list[_Item]:
    """`kernal_size` unknown and `kernel_size` missing are one mistake: keep the unknown key's error."""
    missing = {i.path: i for i in items if i.kind == "missing"}
    drop = set()
    for item in items:
        if item.kind == "extra_forbidden":
            allowed = _owner(source.data, item.path[:-1]).get("allowed", [])
            match = KERAS2_RENAMES.get(item.path[-1])
            match = match if match in allowed else closest(item.path[-1], allowed)
            if match is not None and (*item.path[:-1], match) in missing:
                drop.add(id(missing[(*item.path[:-1], match)]))
    return [i for i in items if id(i) not in drop]


def show(value) -> str:
    """A received value as the user wrote it: true/false/null, strings quoted, cut when long."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        try:
            return shorten_text(json.dumps(value))
        except (TypeError, ValueError):
            pass
    return shorten(value)


def shorten_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number_words(ctx_value, value) -> str:
    return "integer" if isinstance(value, int) and not isinstance(ctx_value, float) else "number"


def _diagnostic(item: _Item, source: Source) -> Diagnostic:
    error, path, kind = item.error, item.path, item.kind
    value = error.get("input")
    ctx = error.get("ctx", {})
    message, hint, at_key = error["msg"], None, False
    received = f"received {show(value)}"
    if kind == "value_error":
        message = str(ctx["error"]) if "error" in ctx else message.removeprefix("Value error, ")
        if "; did you mean" in message:
            message, hint = message.split("; ", 1)
        key = _key_named_in(message, source.data, path)
        if key is not None:
            path, at_key = (*path, key), message.startswith("unknown")
    elif kind == "extra_forbidden":
        key = path[-1]
        owner = _owner(source.data, path[:-1])
        allowed = owner.get("allowed", [])
        message = f"unknown key `{key}`" + (f" for a `{owner['type']}` {owner['kind']}" if owner.get("type") else "")
        hint = suggest_key(key, allowed) or (f"expected one of: {', '.join(allowed)}" if allowed else None)
        at_key = True
    elif kind == "union_tag_invalid":
        tag = ctx.get("tag", value)
        tags = _union_tags(error)
        message = f"unknown {_kind_of(path)} `{tag}`"
        hint = (layer_type_hint(tag, tags) if _kind_of(path) == "layer type" and isinstance(tag, str) else None) \
            or _suggest(tag, tags) or f"expected one of: {', '.join(tags)}"
        group = _group_in_wrapper(tag, path, source.data) if isinstance(tag, str) else None
        if group is not None:
            message, hint = group
        path = (*path, "type")
    elif kind == "union_tag_not_found":
        message = "missing key `type`"
        hint = f"every {_kind_of(path)} needs a `type`" + (", e.g. `type: dense`" if _kind_of(path) == "layer type" else "")
    elif kind == "union_mismatch":
        message = f"expected {item.expected}; {received}"
    elif kind == "missing":
        key = path[-1]
        owner = _owner(source.data, path[:-1])
        message = f"missing required key `{key}`" + (f" for a `{owner['type']}` {owner['kind']}" if owner.get("type") else "")
        hint = _MISSING_HINTS.get(path)
        path = path[:-1]
    elif kind == "literal_error":
        expected = ctx.get("expected", "")
        message = f"expected {expected}; {received}"
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = _suggest(value, options) if isinstance(value, str) else None
        if path == ("netspec",):
            hint = f"this netspec reads format version {FORMAT_VERSION}; write `netspec: {FORMAT_VERSION}` or upgrade netspec"
    elif kind == "less_than_equal" and ctx.get("le") == MAX_SIZE:
        message = (f"{received}, an absurd size: a single size is at most {MAX_SIZE:,}, and a model at most "
                   f"{MAX_PARAMS:,} parameters (the parameter budget)")
        hint = "check this number for a typo"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, bound = {"greater_than": (">", ctx.get("gt")), "greater_than_equal": (">=", ctx.get("ge")),
                     "less_than": ("<", ctx.get("lt")), "less_than_equal": ("<=", ctx.get("le"))}[kind]
        what = _number_words(bound, value)
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        if bound == 0 and op == ">":
            message = f"expected a positive {what}; {received}"
        elif bound == 0 and op == ">=":
            message = f"expected a non-negative {what}; {received}"
        else:
            message = f"expected a {what} {op} {bound}; {received}"
        if op == "<" and bound == 1:
            hint = "a rate or fraction lies in [0, 1), e.g. 0.5"
    elif kind in _TYPE_KINDS:
        message = f"expected {_TYPE_KINDS[kind]}; {received}"
        if kind == "model_type" and path and path[0] == "inputs":
            hint = "write each input as a mapping, e.g. `{name: image, shape: [28, 28, 1]}`"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == _IDENTIFIER_PATTERN:
        message = f"expected a Python identifier (letters, digits and `_`, not starting with a digit); {received}"
        if isinstance(value, str):
            fixed = re.sub(r"\W+", "_", value.strip())
            fixed = fixed if fixed[:1].isalpha() or fixed[:1] == "_" else f"_{fixed}"
            hint = f"for example `{fixed}`"
    elif kind == "string_too_long":
        message = f"expected at most {ctx.get('max_length')} characters; received {len(value):,} characters"
    elif kind == "too_short":
        message = f"expected at least {ctx.get('min_length')} item(s); {received}"
    elif kind == "too_long":
        message = f"expected at most {ctx.get('max_length')} item(s); received {ctx.get('actual_length')}"
    else:
        message = f"{message}; {received}" if not isinstance(value, dict | list) else message
    return source.diagnostic(path, message, hint, key=at_key)


_MISSING_HINTS = {
    ("name",): "add `name: my_model` (a Python identifier)",
    ("inputs",): "add the model inputs, e.g. `inputs: [{name: image, shape: [28, 28, 1]}]`",
}


def _kind_of(path: tuple) -> str:
    """What a `type` key selects at `path`: a layer type, a callback, a schedule."""
    names = [p for p in path if isinstance(p, str)]
    if names and names[-1] == "callbacks":
        return "callback"
    if names and names[-1] == "learning_rate":
        return "schedule"
    return "layer type"


def _group_in_wrapper(tag: str, path: tuple, data) -> tuple[str, str] | None:
    """A stack or block use nested in a wrapper: a wrapper takes one layer, so say how to write that."""
    from netspec.compose.stacks import STACKS

    wrapper = _get(data, path[:-1])
    if not (path and path[-1] in ("layer", "backward_layer") and isinstance(wrapper, dict)) \
            or (tag not in STACKS and tag != "block"):
        return None
    kind = wrapper.get("type")
    what = "a block use" if tag == "block" else f"`{tag}`, a stack,"
    if kind == "time_distributed":
        how = ("write its layers one by one, each in its own `time_distributed`, e.g. "
               "`{type: time_distributed, layer: {type: conv2d, filters: 16, kernel_size: 3}}`")
    else:
        how = (f"write one recurrent layer here, e.g. `{{type: {kind}, layer: {{type: lstm, units: 64}}}}`, "
               f"and one `{kind}` per layer of the stack")
    return f"`{kind}` wraps one layer, and {what} expands to several", how


def _suggest(value, options) -> str | None:
    """did-you-mean that also catches a difference in case only (`SAME` for `same`)."""
    if isinstance(value, str):
        for option in options:
            if option.lower() == value.lower():
                return f"did you mean `{option}`?"
    return did_you_mean(value, options)


def _key_named_in(message: str, data, path: tuple) -> str | None:
    """The first key of the mapping at `path` that a validator's message names in backticks."""
    node = _get(data, path)
    if not isinstance(node, dict):
        return None
    for name in re.findall(r"`([^`]+)`", message):
        if name in node and name != "type":
            return name
    return None


def _get(data, path):
    try:
        for part in path:
            data = data[part]
    except (KeyError, IndexError, TypeError):
        return None
    return data


def _owner(data, path) -> dict:
    """Type, kind and allowed keys of the mapping at `path`, for hints."""
    node = _get(data, path)
    if not isinstance(node, dict):
        return {}
    tag = node.get("type") if isinstance(node.get("type"), str) else None
    kind = _kind_of(path)
    table = {"layer type": LAYER_TYPES, "callback": _callback_types(), "schedule": {}}[kind]
    cls = table.get(tag) if tag else None
    if cls is not None:
        return {"type": tag, "kind": "layer" if kind == "layer type" else kind, "allowed": list(cls.model_fields)}
    model = _model_at(path)
    return {"allowed": list(model.model_fields)} if model else {}


def _callback_types() -> dict:
    from netspec.schema import training

    union = typing.get_args(training.Callback)[0]
    return {typing.get_args(cls.model_fields["type"].annotation)[0]: cls for cls in typing.get_args(union)}


def _model_at(path):
    from netspec.schema import data as data_module
    from netspec.schema import training

    names = tuple(p for p in path if isinstance(p, str))
    table = {
        (): SpecHead, ("training",): training.Training, ("data",): data_module.Data, ("inputs",): Input,
        ("training", "optimizer"): training.Optimizer, ("training", "optimizer", "learning_rate"): training.Schedule,
    }
    return table.get(names)


def _union_tags(error) -> list[str]:
    expected = error.get("ctx", {}).get("expected_tags", "")
    return [t.strip().strip("'") for t in expected.split(",") if t.strip()]
