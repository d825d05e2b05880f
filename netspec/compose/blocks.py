"""Blocks: named, parameterised groups of layers, used (and repeated) in `layers`.

```yaml
blocks:
  residual:
    params: {filters: 64}      # parameters and their defaults (a list names required ones)
    inputs: [x]                # optional: names for the block's input(s) inside its body
    layers:
      - {type: conv2d, filters: "${filters}", kernel_size: 3, padding: same, name: conv}
      - {type: add, inputs: [x, conv]}
layers:
  - {type: block, block: residual, args: {filters: 32}, repeat: 2, name: stage1}
```

Names. Every copy of a block gets a numbered instance name: the use's
`name` (else the block's name) with `_0`, `_1`, `_2`, ... (counted over the
whole list the use is in, so a second use of the same name goes on counting).
Each layer of a copy is named `<instance>_<name in the block>`; a layer
without a name in the block gets its Keras-style name within the copy
(`conv2d`, `conv2d_1`, ...). So the copies of `stage1` above hold
`stage1_0_conv` and `stage1_1_conv`. Built-in stacks name their layers the
same way, but Keras-style like a layer: the first `conv_stack` unnumbered
(`conv_stack_conv2d_1`), the next `conv_stack_1_...`. A block used inside a
block nests the prefixes (`stage1_1_res_0_conv`).

References. Inside a copy, `inputs` that name a layer of the block (or a
block use in it) mean that copy's layer; names of the block's `inputs` mean
what the use feeds it; other names are left as written (the spec's layers
and model inputs). The first layer of the block reads the use's `inputs`
(or, without them, the previous layer); copy 2 reads copy 1's last layer.
A use's `name` refers to its last copy's last layer, so later layers and
`outputs` can name the block as a whole; `<name>_<inner>` names the block
use `inner` inside its last copy (`enc_convs` for `enc_0_convs`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

from netspec.compose.located import IDENTIFIER, REF, Located, rechain
from netspec.compose.stacks import STACKS, generate
from netspec.compose.variables import Scope, substitute
from netspec.errors import Diagnostic
from netspec.names import auto_names, did_you_mean, suggest_key
from netspec.source import Origin, describe_type, format_path, shorten

USE_KEYS = ("type", "block", "args", "repeat", "name", "inputs", "trainable")
DEFINITION_KEYS = ("params", "inputs", "layers", "description")
MAX_REPEAT = 10_000
MAX_LAYERS = 50_000


@dataclass(eq=False)
class Group:
    """One copy of a block use, or one stack, that expanded layers came from (for pictures: netspec.drawing)."""

    kind: str  # "block" or "stack"
    name: str  # the block's name, or the stack's type
    instance: str  # the copy's name within its list (`stage1_0`, `conv_stack`); the layers' prefix
    copy: int = 1  # which copy of the use's `repeat`, from 1
    copies: int = 1


@dataclass(eq=False)
class Out:
    """One layer of the expanded spec (its dict is ours to change), and the groups it came from, outermost first."""

    layer: Located
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True)
class Outer:
    """A reference written in an enclosing list, carried into a block copy; the copy leaves it alone."""

    ref: object  # str, or Outer for one written further out


@dataclass(frozen=True)
class Prev:
    """The layer just before `first` in the expanded spec: a block's input when its use names none."""

    first: Out
    index: str = ""


@dataclass
class Definition:
    name: str
    loc: Located
    params: dict[str, Located | None]  # defaults, already substituted; None = required
    ports: list[str]


Aliases = dict[str, tuple[Out, Origin]]


class Expander:
    def __init__(self, doc: Located, scope: Scope, problems: list[Diagnostic]):
        self.scope = scope
        self.problems = problems
        self.blocks = self._definitions(doc)
        self.active: list[str] = []
        self.count = 0
        self.overflow = False

    # ----- definitions -----

    def _definitions(self, doc: Located) -> dict[str, Definition]:
        raw = doc.value.get("blocks")
        if raw is None:
            return {}
        loc = doc.child("blocks")
        if not isinstance(raw, dict):
            self._problem(loc, (), f"`blocks` must be a mapping from block names to blocks; received {describe_type(raw)}")
            return {}
        found = {}
        for name, body in raw.items():
            item = loc.child(name)
            if not IDENTIFIER.match(name):
                self._problem(loc, (name,), f"block name `{name}` is not an identifier",
                              "use letters, digits and underscores, not starting with a digit", key=True)
                continue
            if not isinstance(body, dict):
                self._problem(item, (), f"block `{name}` must be a mapping with `layers`; received {describe_type(body)}",
                              "write `params:` (optional) and `layers:` under the block's name")
                continue
            definition = self._definition(name, item)
            if definition is not None:
                found[name] = definition
        return found

    def _definition(self, name: str, item: Located) -> Definition | None:
        body = item.value
        ok = self._known_keys(item, DEFINITION_KEYS, f"block `{name}`")
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            self._problem(item, ("layers",) if "layers" in body else (),
                          f"block `{name}` needs a non-empty list of `layers`"
                          + (f"; received {describe_type(layers)}" if "layers" in body else ""))
            ok = False
        params: dict[str, Located | None] = {}
        raw_params = body.get("params", {})
        if isinstance(raw_params, list) and all(isinstance(p, str) for p in raw_params):
            params = dict.fromkeys(raw_params)
        elif isinstance(raw_params, dict):
            params = {p: substitute(item.child("params", p), self.scope, self.problems) for p in raw_params}
        else:
            self._problem(item, ("params",), f"`params` must map parameter names to defaults; received {describe_type(raw_params)}",
                          "write `params: {filters: 32}` (or a list of names that have no default)")
            ok = False
        for param in params:
            if not IDENTIFIER.match(param):
                self._problem(item, ("params", param), f"parameter name `{param}` is not an identifier", key=True)
                ok = False
        ports = body.get("inputs", [])
        if "inputs" in body and not (isinstance(ports, list) and ports
                                     and all(isinstance(p, str) and IDENTIFIER.match(p) for p in ports)):
            self._problem(item, ("inputs",), f"a block's `inputs` must be a list of names; received {shorten(ports)}",
                          "write `inputs: [x]` and use `x` in the `inputs` of the block's layers")
            ports, ok = [], False
        elif len(set(ports)) != len(ports):
            self._problem(item, ("inputs",), f"`inputs` names an input twice: {ports}")
            ok = False
        return Definition(name, item, params, ports) if ok else None

    # ----- lists of layers -----

    def expand(self, items: list[Located], scope: Scope) -> tuple[list[Out], Aliases]:
        """Expand every block use and stack in `items` (one list: the spec's layers or a block's body)."""
        outs: list[Out] = []
        aliases: Aliases = {}
        counters: dict[str, int] = {}
        for raw in items:
            if self.overflow:
                break
            item = substitute(raw, scope, self.problems)
            kind = item.value.get("type") if isinstance(item.value, dict) else None
            if kind == "block":
                got, got_aliases = self._use_block(item, counters)
            elif isinstance(kind, str) and kind in STACKS:
                got, got_aliases = self._use_stack(item, counters)
            else:
                if isinstance(kind, str) and kind in self.blocks:
                    self._problem(item, ("type",), f"`{kind}` is a block, not a layer type",
                                  f"use it as `{{type: block, block: {kind}}}`")
                got, got_aliases = [Out(item)], {}
                self._grow(item, 1)
            outs.extend(got)
            aliases.update(got_aliases)
        return outs, aliases

    def _grow(self, item: Located, n: int) -> bool:
        self.count += n
        if self.count > MAX_LAYERS and not self.overflow:
            self.overflow = True
            self._problem(item, (), f"the spec expands to more than {MAX_LAYERS:,} layers",
                          "lower `repeat`, or the number of entries in `filters` / `units`")
        return not self.overflow

    # ----- block uses -----

    def _use_block(self, item: Located, counters: dict[str, int]) -> tuple[list[Out], Aliases]:
        use = item.value
        ok = self._known_keys(item, USE_KEYS, "block use")
        name = use.get("block")
        definition = self.blocks.get(name) if isinstance(name, str) else None
        if definition is None:
            if "block" not in use:
                self._problem(item, (), "missing key `block`: which block to use",
                              f"one of: {', '.join(self.blocks)}" if self.blocks else "define blocks under `blocks:`")
            elif isinstance(name, str) and name in STACKS:
                self._problem(item, ("block",), f"`{name}` is a built-in stack, not a block",
                              f"write `{{type: {name}, ...}}` instead of a block use")
            else:
                hint = did_you_mean(name, self.blocks) if isinstance(name, str) else None
                self._problem(item, ("block",), f"unknown block `{name}`",
                              hint or (f"the blocks are: {', '.join(self.blocks)}" if self.blocks
                                       else "define it under `blocks:`"))
            return [], {}
        if name in self.active:
            cycle = " -> ".join([*self.active[self.active.index(name):], name])
            self._problem(item, ("block",), f"block `{name}` uses itself: {cycle}", "a block cannot contain itself")
            return [], {}
        repeat = use.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            self._problem(item, ("repeat",), f"`repeat` must be a whole number from 1 to {MAX_REPEAT:,}; received {shorten(repeat)}")
            ok = False
        args = use.get("args", {})
        if not isinstance(args, dict):
            self._problem(item, ("args",), f"`args` must map parameter names to values; received {describe_type(args)}")
            ok, args = False, {}
        params = definition.params
        for arg in args:
            if arg not in params:
                hint = did_you_mean(arg, params) or (f"its parameters are: {', '.join(params)}" if params
                                                     else "it takes no parameters")
                self._problem(item, ("args", arg), f"block `{name}` has no parameter `{arg}`", hint, key=True)
                ok = False
        for param, default in params.items():
            if default is None and param not in args:
                self._problem(item, (), f"block `{name}` needs a value for its parameter `{param}`",
                              f"add `args: {{{param}: ...}}`")
                ok = False
        ok = self._common_keys(item) and ok
        feeds = use.get("inputs")
        ports = definition.ports
        if ok and ports and feeds is not None and len(feeds) != len(ports):
            self._problem(item, ("inputs",), f"block `{name}` takes {len(ports)} input(s) ({', '.join(ports)}); "
                          f"received {len(feeds)}")
            ok = False
        if ok and len(ports) > 1 and feeds is None:
            self._problem(item, (), f"block `{name}` takes {len(ports)} inputs ({', '.join(ports)}); list them in `inputs`")
            ok = False
        first_written = definition.loc.value["layers"][0]
        if ok and feeds and not ports and isinstance(first_written, dict) and "inputs" in first_written:
            self._problem(item, ("inputs",), f"the first layer of block `{name}` names its own `inputs`, so the "
                          "use's `inputs` would be ignored", f"name the block's inputs under `blocks.{name}.inputs` "
                          "and use those names in its layers")
            ok = False
        if not ok:
            return [], {}

        scope = Scope({p: item.child("args", p) if p in args else params[p] for p in params}, self.scope, name)
        prefix = use.get("name") or name
        outs: list[Out] = []
        aliases: Aliases = {}
        last_aliases: Aliases = {}
        self.active.append(name)
        try:
            for copy in range(1, repeat + 1):
                if self.overflow:
                    break
                entry = f"in block {name}, copy {copy}, used at {format_path(item.origin.path) or 'top level'}"
                if item.origin.source.file != definition.loc.origin.source.file:
                    entry += f" of {item.origin.source.file or '<spec>'}"
                extra = (entry, *item.origin.chain)
                body = [_extend(definition.loc.child("layers", j), extra) for j in range(len(definition.loc.value["layers"]))]
                feeds_here = _bound(feeds) if copy == 1 and feeds is not None else None
                if feeds_here is not None and isinstance(body[0].value, dict) and "inputs" not in body[0].value:
                    body[0] = _with(body[0], "inputs", feeds_here[:1] if ports else feeds_here, item.where("inputs"))
                sub_outs, sub_aliases = self.expand(body, scope)
                if not sub_outs:
                    continue
                # copy 1 reads the use's inputs; later copies (or a use without inputs) read the layer before
                sources = feeds_here if feeds_here is not None else [Prev(sub_outs[0]), *_bound(feeds or [])[1:]]
                last_aliases = dict(sub_aliases)
                instance = _instance(prefix, counters, numbered=True)
                self._finish_copy(item, sub_outs, sub_aliases, instance, dict(zip(ports, sources)))
                _group(sub_outs, Group("block", name, instance, copy, repeat))
                outs.extend(sub_outs)
                aliases.update(sub_aliases)
        finally:
            self.active.pop()
        if outs and use.get("name"):
            aliases[use["name"]] = (outs[-1], item.where("name"))
            # `<use>_<inner use>` names that block use in the last copy, as `<use>` names the last copy
            for alias, (target, _) in last_aliases.items():
                aliases.setdefault(f"{use['name']}_{alias}", (target, item.where("name")))
        return outs, aliases

    def _use_stack(self, item: Located, counters: dict[str, int]) -> tuple[list[Out], Aliases]:
        if not self._common_keys(item):
            return [], {}
        layers = generate(item, self.problems)
        if layers is None:
            return [], {}
        kind = item.value["type"]
        entry = f"in {kind}, used at {format_path(item.origin.path) or 'top level'}"
        outs = [Out(layer.nest(entry, item.origin.chain)) for layer in layers]
        feeds = item.value.get("inputs")
        if feeds is not None:
            outs[0].layer = _with(outs[0].layer, "inputs", _bound(feeds), item.where("inputs"))
        if not self._grow(item, len(outs)):
            return [], {}
        instance = _instance(item.value.get("name") or kind, counters)
        self._finish_copy(item, outs, {}, instance, {})
        _group(outs, Group("stack", kind, instance))
        return outs, ({item.value["name"]: (outs[-1], item.where("name"))} if item.value.get("name") else {})

    def _common_keys(self, item: Located) -> bool:
        """`name`, `inputs` and `trainable` of a block use or a stack."""
        use, ok = item.value, True
        name = use.get("name")
        if name is not None and not (isinstance(name, str) and IDENTIFIER.match(name)):
            self._problem(item, ("name",), f"`name` must be an identifier; received {shorten(name)}")
            ok = False
        feeds = use.get("inputs")
        if feeds is not None and not (isinstance(feeds, list) and feeds and all(isinstance(f, str | Outer) for f in feeds)):
            self._problem(item, ("inputs",), f"`inputs` must be a list of layer or input names; received {shorten(feeds)}")
            ok = False
        if not isinstance(use.get("trainable", True), bool):
            self._problem(item, ("trainable",), f"`trainable` must be true or false; received {shorten(use['trainable'])}")
            ok = False
        return ok

    def _finish_copy(self, item: Located, outs: list[Out], aliases: Aliases, instance: str, ports: dict) -> None:
        """Name the layers of one copy `<instance>_<local name>` and point its references at this copy."""
        names = _local_names(outs)
        renames = {local: f"{instance}_{local}" for local in names.values()}
        alias_names = {alias: f"{instance}_{alias}" for alias in aliases}
        local_aliases = dict(aliases)
        aliases.clear()
        aliases.update({alias_names[a]: target for a, target in local_aliases.items()})
        frozen = item.value.get("trainable") is False
        for out in outs:
            layer = out.layer.value
            if not isinstance(layer, dict):
                continue
            updates = {"name": renames[names[id(out)]]}
            if "inputs" in layer:
                updates["inputs"] = self._rewrite(out.layer, layer["inputs"], renames, alias_names, ports)
            inner = dict(out.layer.inner)
            if frozen and layer.get("trainable", True) is not False:
                updates["trainable"] = False
                inner[("trainable",)] = item.where("trainable")
            rest = {k: v for k, v in layer.items() if k not in ("type", "name", "inputs")}
            ordered = {"type": layer.get("type"), "name": updates["name"]}
            if "inputs" in updates:
                ordered["inputs"] = updates["inputs"]
            ordered.update(rest)
            if "trainable" in updates:
                ordered["trainable"] = False
            out.layer = Located(ordered, out.layer.origin, inner)

    def _rewrite(self, layer: Located, refs, renames: dict, alias_names: dict, ports: dict):
        if not isinstance(refs, list):
            return refs
        out = []
        for i, ref in enumerate(refs):
            if isinstance(ref, Outer):
                ref = ref.ref  # written outside this copy: from here on it is the enclosing list's name
            elif isinstance(ref, str) and (match := REF.match(ref)):
                base, index = match.group(1), match.group(2) or ""
                if base in renames:
                    ref = renames[base] + index
                elif base in alias_names:
                    ref = alias_names[base] + index
                elif base in ports:
                    bound = ports[base]
                    ref = _index(bound.ref if isinstance(bound, Outer) else bound, index)
                    if ref is None:
                        self._problem(layer, ("inputs", i), f"`{base}` is already one output of a layer; `{refs[i]}` "
                                      "cannot pick another")
                        ref = refs[i]
            out.append(ref)
        return out

    # ----- helpers -----

    def _known_keys(self, item: Located, allowed: tuple, what: str) -> bool:
        ok = True
        for key in item.value:
            if key not in allowed:
                hint = suggest_key(key, allowed) or f"expected one of: {', '.join(allowed)}"
                self._problem(item, (key,), f"unknown key `{key}` for a {what}", hint, key=True)
                ok = False
        return ok

    def _problem(self, loc: Located, path: tuple, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.problems.append(loc.diagnostic(path, message, hint, key=key))


def _instance(prefix: str, counters: dict[str, int], numbered: bool = False) -> str:
    """A block copy is always numbered (`stage_0`, `stage_1`, ...); a stack is named Keras-style (`conv_stack`,
    `conv_stack_1`, ...), like a layer."""
    n = counters.get(prefix, 0)
    counters[prefix] = n + 1
    return f"{prefix}_{n}" if numbered or n else prefix


def _group(outs: list[Out], group: Group) -> None:
    for out in outs:
        out.groups = (group, *out.groups)


def _local_names(outs: list[Out]) -> dict[int, str]:
    """Each layer's name within its copy: its own, else Keras-style by type (`conv2d`, `conv2d_1`, ...)."""
    layers = [SimpleNamespace(name=_name(o), type=_type(o)) for o in outs]
    taken = {layer.name for layer in layers if layer.name}
    return {id(o): name for o, name in zip(outs, auto_names(layers, taken))}


def _name(out: Out):
    value = out.layer.value
    name = value.get("name") if isinstance(value, dict) else None
    return name if isinstance(name, str) and name else None


def _type(out: Out) -> str:
    value = out.layer.value
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and IDENTIFIER.match(kind) else "layer"


def _bound(feeds: list) -> list:
    """A use's `inputs`, as carried into its copies."""
    return [Outer(f) for f in feeds]


def _index(ref, index: str):
    """`ref` with an output index appended; None if it already has one."""
    if not index:
        return ref
    if isinstance(ref, Prev):
        return None if ref.index else replace(ref, index=index)
    if isinstance(ref, Outer):
        inner = _index(ref.ref, index)
        return None if inner is None else Outer(inner)
    return None if "[" in ref else ref + index


def _with(layer: Located, key: str, value, origin: Origin) -> Located:
    inner = {**layer.inner, (key,): origin}
    return Located({**layer.value, key: value}, layer.origin, inner)


def _extend(loc: Located, extra: tuple[str, ...]) -> Located:
    def extend(origin: Origin) -> Origin:
        return rechain(origin, (*(c for c in origin.chain if c not in extra), *extra))

    return Located(loc.value, extend(loc.origin), {k: extend(o) for k, o in loc.inner.items()})
