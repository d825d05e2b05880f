"""Composition: includes, `--set` overrides, vars, blocks and stacks, expanded into a plain spec.

Runs between the source and schema stages (`netspec.load`): `expand(source,
overrides)` returns a Source whose data is an ordinary spec (no `vars`,
`blocks`, `include`, block uses or stacks) and whose `origins` say where each
value was written, so that later stages' errors point at the block body, the
included file or the `--set` flag, with the chain that led there.

Order: includes are merged, then `--set` overrides apply (to the spec as
written, so `--set vars.width=64` and `--set layers[1].args.filters=8`
work), then vars are evaluated and substituted, then blocks and stacks
expand. `netspec expand` prints the result as YAML (`netspec.load.expand_spec`).

See blocks.py for how expanded layers are named and wired, stacks.py for
the built-in stacks, variables.py for `${name}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from netspec.compose.located import IDENTIFIER, REF, Located, graft
from netspec.compose.variables import Vars, has_references, substitute
from netspec.errors import Diagnostic, SpecError
from netspec.names import auto_names
from netspec.source import Source, describe_type

if TYPE_CHECKING:
    from netspec.compose.blocks import Aliases, Out

__all__ = ["STACKS", "STACK_TYPES", "expand"]

COMPOSITION_KEYS = ("vars", "blocks", "include")
# The built-in stacks' tags (stacks.py defines them): a plain spec is told from a composed one without
# building the stacks' models.
STACK_TYPES = ("conv_stack", "recurrent_stack", "dense_stack")


def __getattr__(name: str):
    if name == "STACKS":
        from netspec.compose.stacks import STACKS

        return STACKS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def expand(source: Source, overrides: Iterable[str] = ()) -> Source:
    """`source` with includes, overrides, vars, blocks and stacks expanded; SpecError lists every problem."""
    overrides = list(overrides)
    if not overrides and not _composes(source.data):
        return source  # a plain spec: nothing to do, and no cost for large ones
    # Imported here, so that a plain spec does not pay for them.
    from netspec.compose.blocks import Expander
    from netspec.compose.emit import ordered
    from netspec.compose.include import load_with_includes
    from netspec.compose.overrides import apply_overrides

    problems: list[Diagnostic] = []
    doc = load_with_includes(source, problems)
    doc = apply_overrides(doc, overrides, source.file, problems)
    if problems:
        raise SpecError(problems)
    data = doc.value
    scope = Vars(_vars(doc, problems), problems)
    expander = Expander(doc, scope, problems)

    out: dict = {}
    origins = {(): doc.origin}
    outs: list[Out] = []
    aliases: Aliases = {}
    for key in data:
        if key in COMPOSITION_KEYS:
            continue
        if key == "layers" and isinstance(data["layers"], list):
            layers = doc.child("layers")
            outs, aliases = expander.expand([layers.child(i) for i in range(len(layers.value))], scope)
            origins[("layers",)] = layers.origin
            continue
        part = substitute(doc.child(key), scope, problems)
        out[key] = part.value
        graft(origins, (key,), part)
    if outs or isinstance(data.get("layers"), list):
        _resolve(outs, aliases, out, problems)
        out["layers"] = [o.layer.value for o in outs]
        for i, o in enumerate(outs):
            graft(origins, ("layers", i), o.layer)
    if problems:
        raise SpecError(problems)
    groups = {i: o.groups for i, o in enumerate(outs) if o.groups}
    return Source(ordered(out), source.file, {}, {}, source.base_dir, origins, groups)


def _composes(data: dict) -> bool:
    if any(key in data for key in COMPOSITION_KEYS):
        return True
    layers = data.get("layers")
    kinds = {x.get("type") for x in layers if isinstance(x, dict) and isinstance(x.get("type"), str)} \
        if isinstance(layers, list) else set()
    return "block" in kinds or not kinds.isdisjoint(STACK_TYPES) or has_references(data)


def _vars(doc: Located, problems: list[Diagnostic]) -> dict[str, Located]:
    raw = doc.value.get("vars")
    if raw is None:
        return {}
    loc = doc.child("vars")
    if not isinstance(raw, dict):
        problems.append(loc.origin.diagnostic(f"`vars` must be a mapping from names to values; received {describe_type(raw)}",
                                              "write `vars: {width: 64}`"))
        return {}
    found = {}
    for name in raw:
        if IDENTIFIER.match(name):
            found[name] = loc.child(name)
        else:
            problems.append(loc.diagnostic((name,), f"variable name `{name}` is not an identifier",
                                           "use letters, digits and underscores, not starting with a digit", key=True))
    return found


def _resolve(outs: list[Out], aliases: Aliases, spec: dict, problems: list[Diagnostic]) -> None:
    """Give block inputs that read "the previous layer" its name, and block-use names their last layer's."""
    from types import SimpleNamespace

    from netspec.compose.blocks import Outer, Prev

    inputs = spec.get("inputs")
    input_names = [i["name"] for i in inputs if isinstance(i, dict) and isinstance(i.get("name"), str)] \
        if isinstance(inputs, list) else []
    layers = [SimpleNamespace(name=_str(o.layer.value, "name"), type=_str(o.layer.value, "type") or "layer") for o in outs]
    explicit = {layer.name for layer in layers if layer.name}
    names = auto_names(layers, explicit | set(input_names))
    position = {id(o): i for i, o in enumerate(outs)}
    for alias, (_, where) in aliases.items():
        if alias in explicit or alias in input_names:
            problems.append(where.diagnostic(f"`{alias}` names both a block use and a layer or input",
                                             "give the block use another `name`"))

    def resolve(ref, where):
        while isinstance(ref, Outer):
            ref = ref.ref
        if isinstance(ref, Prev):
            i = position[id(ref.first)]
            if i > 0:
                return names[i - 1] + ref.index
            if len(input_names) == 1:
                return input_names[0] + ref.index
            problems.append(where.diagnostic(
                f"this block reads the model input, but the model has {len(input_names)} inputs",
                "list the one it reads in the block use's `inputs`"))
            return None
        match = REF.match(ref) if isinstance(ref, str) else None
        if match and match.group(1) in aliases:
            return names[position[id(aliases[match.group(1)][0])]] + (match.group(2) or "")
        return ref

    for o in outs:
        layer = o.layer.value
        if isinstance(layer, dict) and isinstance(layer.get("inputs"), list):
            layer["inputs"] = [resolve(ref, o.layer.where("inputs", i)) for i, ref in enumerate(layer["inputs"])]
    if isinstance(spec.get("outputs"), list):
        spec["outputs"] = [resolve(ref, None) for ref in spec["outputs"]]


def _str(layer, key: str):
    value = layer.get(key) if isinstance(layer, dict) else None
    return value if isinstance(value, str) and value else None
