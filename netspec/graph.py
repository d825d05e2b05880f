"""Stage 3: resolve names into a graph of layers in topological order.

Layers may only read model inputs and earlier layers, so the spec's order is
already a topological order; this stage names every layer (Keras-style
`<type>`, `<type>_1`, ... where the spec gives no name), resolves `inputs`
and `outputs`, and reports every dangling or ambiguous reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from netspec.errors import SpecError
from netspec.layers.base import Layer
from netspec.names import auto_names, did_you_mean
from netspec.schema import Input, Spec
from netspec.source import Source, diagnostic_at

_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@dataclass(frozen=True)
class Ref:
    """An output of a node: `name` alone is output 0; `name[i]` is output i."""

    name: str
    index: int = 0

    def __str__(self) -> str:
        return self.name if self.index == 0 else f"{self.name}[{self.index}]"


@dataclass
class Node:
    index: int  # position in spec.layers; -1 for a model input
    name: str
    layer: Layer | None  # None for a model input
    inputs: list[Ref] = field(default_factory=list)

    @property
    def path(self) -> tuple:
        return ("layers", self.index) if self.layer is not None else ("inputs",)


@dataclass
class Graph:
    model_inputs: list[Input]  # the spec's `inputs` (shapes, dtypes), one for each node of `inputs`
    inputs: list[Node]
    nodes: list[Node]  # layers in order
    outputs: list[Ref]

    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in (*self.inputs, *self.nodes)}


def resolve_graph(spec: Spec, source: Source | None) -> Graph:
    """The graph of a validated spec; `source` (where the spec was written, or None) locates its problems."""
    problems = []

    def problem(path, message, hint=None, key=False):
        problems.append(diagnostic_at(source, path, message, hint, key=key))

    inputs = []
    seen: dict[str, tuple] = {}
    for i, spec_input in enumerate(spec.inputs):
        if spec_input.name in seen:
            problem(("inputs", i, "name"), f"duplicate input name `{spec_input.name}`", "give every input a unique name")
        seen[spec_input.name] = ("inputs", i)
        inputs.append(Node(-1, spec_input.name, None))
    explicit = {layer.name for layer in spec.layers if layer.name}
    names = auto_names(spec.layers, set(explicit) | set(seen))

    nodes: list[Node] = []
    outputs_of: dict[str, int] = {n.name: 1 for n in inputs}
    used: set[str] = set()
    for i, (layer, name) in enumerate(zip(spec.layers, names)):
        if name in seen:
            where = seen[name]
            first = "input" if where[0] == "inputs" else f"layers[{where[1]}]"
            problem(("layers", i, "name"), f"duplicate name `{name}` (already used by {first})",
                    "layer and input names must be unique")
        refs: list[Ref] = []
        if layer.inputs is None:
            if i == 0:
                if len(inputs) == 1:
                    refs = [Ref(inputs[0].name)]
                else:
                    problem(("layers", 0), f"the first layer must name its `inputs`: the model has {len(inputs)} inputs",
                            f"add `inputs: [{inputs[0].name}]`")
            else:
                refs = [Ref(nodes[-1].name)]
        else:
            for j, text in enumerate(layer.inputs):
                match = _REF.match(text)
                target = match.group(1) if match else None
                if target is None or target not in outputs_of:
                    later = target in names[i:] if target else False
                    message = (f"`{text}` is not an earlier layer or a model input"
                               + (" (it is defined later; layers may only read earlier ones)" if later else ""))
                    hint = ("move this layer below it" if later else did_you_mean(text, list(outputs_of))
                            or (None if match else "write the name of a layer or model input, or `name[i]` for its output i"))
                    problem(("layers", i, "inputs", j), message, hint)
                    continue
                refs.append(Ref(target, int(match.group(2) or 0)))
        used.update(r.name for r in refs)
        count = len(refs)
        if refs and not layer.min_inputs <= count <= layer.max_inputs:
            want = (str(layer.min_inputs) if layer.min_inputs == layer.max_inputs
                    else f"{layer.min_inputs} to {layer.max_inputs}" if layer.max_inputs < 99 else f"at least {layer.min_inputs}")
            problem(("layers", i, "inputs"), f"`{layer.type}` takes {want} input(s); received {count}",
                    "list the layers to merge in `inputs`" if layer.min_inputs > 1
                    else "join them first with a merge layer such as `concatenate` or `add`")
        seen.setdefault(name, ("layers", i))
        outputs_of[name] = 1
        nodes.append(Node(i, name, layer, refs))

    outputs: list[Ref] = []
    if spec.outputs is None:
        outputs = [Ref(nodes[-1].name)] if nodes else []
    else:
        for j, text in enumerate(spec.outputs):
            match = _REF.match(text)
            if not match or match.group(1) not in outputs_of:
                problem(("outputs", j), f"output `{text}` is not a layer or input of the model",
                        did_you_mean(text, [n.name for n in nodes]))
                continue
            outputs.append(Ref(match.group(1), int(match.group(2) or 0)))
    used.update(r.name for r in outputs)
    if problems:
        # A dangling reference makes layers look dead and inputs unused; report only its cause.
        raise SpecError(problems)
    _check_reachable(nodes, outputs, problem)
    for i, node in enumerate(inputs):
        if node.name not in used:
            problem(("inputs", i, "name"), f"model input `{node.name}` is never used",
                    "list it in some layer's `inputs`, or remove it")
    if problems:
        raise SpecError(problems)
    return Graph(list(spec.inputs), inputs, nodes, outputs)


def _check_reachable(nodes: list[Node], outputs: list[Ref], problem) -> None:
    """Keras drops layers that lead to no output; a spec must not hold such dead layers."""
    live = {r.name for r in outputs}
    for node in reversed(nodes):
        if node.name in live:
            live.update(r.name for r in node.inputs)
    for node in nodes:
        if node.name not in live:
            problem(("layers", node.index), f"layer `{node.name}` does not lead to any model output",
                    "list it in `outputs`, feed it to a later layer, or remove it")
