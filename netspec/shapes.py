"""Stage 4: static shapes, parameter counts and costs, in pure Python.

Walks the graph in order, asking each layer's `infer` for its output shapes
and parameter counts. A layer that cannot take its input becomes a located
diagnostic with the received shape and a fix; layers downstream of a failure
are skipped rather than reported again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netspec.errors import Diagnostic, ShapeError, SpecError
from netspec.graph import Graph, Node
from netspec.layers.base import Inference, Shape, ShapeMismatch, fmt_shape
from netspec.schema import MAX_PARAMS  # the parameter budget: larger specs are refused before anything is allocated
from netspec.source import Source, diagnostic_at, format_path


@dataclass
class LayerInfo:
    node: Node
    outputs: list[Shape]
    trainable: int
    non_trainable: int
    flops: int = 0

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


@dataclass
class Shapes:
    graph: Graph
    layers: list[LayerInfo] = field(default_factory=list)
    input_shapes: dict[str, Shape] = field(default_factory=dict)

    @property
    def trainable(self) -> int:
        return sum(i.trainable for i in self.layers)

    @property
    def non_trainable(self) -> int:
        return sum(i.non_trainable for i in self.layers)

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def by_name(self) -> dict[str, LayerInfo]:
        return {i.node.name: i for i in self.layers}


def infer_shapes(graph: Graph, source: Source | None) -> Shapes:
    """Every layer's output shapes and parameters; ShapeError lists every layer that fails, located in
    `source` (where the spec was written, or None)."""
    result = Shapes(graph)
    known: dict[str, list[Shape]] = {}
    for spec_input, node in zip(graph.model_inputs, graph.inputs):
        shape = tuple(spec_input.shape)
        known[node.name] = [shape]
        result.input_shapes[node.name] = shape
    dtypes = {i.name: i.dtype for i in graph.model_inputs}
    problems: list[Diagnostic] = []
    total = 0
    for node in graph.nodes:
        if any(ref.name not in known for ref in node.inputs):
            continue  # an earlier layer failed; don't report the same problem twice
        try:
            shapes = [_pick(known[ref.name], ref, node) for ref in node.inputs]
            _check_dtype(node, dtypes)
            info = node.layer.infer(shapes)
        except ShapeMismatch as exc:
            problems.append(_diagnostic(source, node, exc, graph))
            continue
        trainable, non_trainable = (info.trainable, info.non_trainable) if node.layer.trainable else (0, info.trainable + info.non_trainable)
        known[node.name] = info.outputs
        dtypes[node.name] = _out_dtype(node, dtypes)
        total += trainable + non_trainable
        if total > MAX_PARAMS:
            problems.append(_diagnostic(source, node, ShapeMismatch(
                f"the model would have more than {MAX_PARAMS:,} parameters (the parameter budget) "
                f"at this layer ({total:,})", "reduce `units`, `filters` or the input size")))
            break
        result.layers.append(LayerInfo(node, info.outputs, trainable, non_trainable, info.flops))
    for j, ref in enumerate(graph.outputs):
        if ref.name in known and ref.index >= len(known[ref.name]):
            problems.append(_located(source, ("outputs", j), _no_such_output(ref, known[ref.name])))
    if problems:
        raise ShapeError(problems)
    return result


def _no_such_output(ref, outputs: list[Shape]) -> ShapeMismatch:
    return ShapeMismatch(f"`{ref}` names output {ref.index}, but `{ref.name}` has {len(outputs)} output(s)",
                         f"outputs are numbered from 0: use `{ref.name}`" + (f" to `{ref.name}[{len(outputs) - 1}]`"
                                                                              if len(outputs) > 1 else ""),
                         field="inputs")


def _pick(outputs: list[Shape], ref, node: Node) -> Shape:
    if ref.index >= len(outputs):
        raise _no_such_output(ref, outputs)
    return outputs[ref.index]


def _check_dtype(node: Node, dtypes: dict[str, str]) -> None:
    """Embeddings read integer ids; a float input is almost always a mistake."""
    if node.layer.type == "embedding":
        for ref in node.inputs:
            if dtypes.get(ref.name, "float32").startswith(("float", "bfloat")):
                raise ShapeMismatch(
                    f"`embedding` reads integer token ids; it receives {dtypes.get(ref.name)} values from `{ref.name}`",
                    "give the model input `dtype: int32`")


def _out_dtype(node: Node, dtypes: dict[str, str]) -> str:
    own = getattr(node.layer, "output_dtype", None)  # layers that give ids (hashing, lookups) say which
    if own is not None:
        return own()
    if node.layer.keeps_input_dtype and node.inputs:
        return dtypes.get(node.inputs[0].name, "float32")
    return "float32"


def _diagnostic(source: Source | None, node: Node, exc: ShapeMismatch, graph: Graph | None = None) -> Diagnostic:
    path = node.path + ((exc.field,) if exc.field and exc.field in node.layer.model_fields_set else ())
    hint = exc.hint
    if hint and "{input}" in hint and graph is not None and node.inputs:
        # Name the layer that produced the input, where the fix usually belongs.
        producer = graph.by_name().get(node.inputs[0].name)
        if exc.producer_key and not _has_key(producer, exc.producer_key):
            hint = exc.otherwise
        where = _layer_at(source, producer) if producer and producer.layer is not None else f"input `{node.inputs[0].name}`"
        hint = hint.replace("{input}", where)
    return _located(source, path, ShapeMismatch(exc.message, hint))


def _has_key(node: Node | None, key: str) -> bool:
    """Whether the layer (or the layer a wrapper holds) takes `key`; a model input takes none."""
    layer = node.layer if node is not None else None
    while layer is not None:
        if key in type(layer).model_fields:
            return True
        layer = getattr(layer, "layer", None)
    return False


def _layer_at(source: Source | None, node: Node) -> str:
    """`layers[6]`; for a layer that composition wrote, also its name and where the user wrote it
    (`layers[6] (`stage_1_pool`, blocks.stage.layers[1], in block stage, copy 2, used at layers[1])`)."""
    text = f"layers[{node.index}]"
    origin = source.origin(node.path) if source is not None and source.origins else None
    if origin is None or (not origin.chain and origin.path == tuple(node.path)):
        return text
    written = format_path(origin.path) or "top level"
    if origin.source.file != source.file:
        written += f" of {origin.source.file or '<spec>'}"
    return f"{text} (`{node.name}`, {'; '.join((written, *origin.chain))})"


def _located(source: Source | None, path: tuple, exc: ShapeMismatch) -> Diagnostic:
    return diagnostic_at(source, path, exc.message, exc.hint)


__all__ = ["Inference", "LayerInfo", "MAX_PARAMS", "Shapes", "SpecError", "fmt_shape", "infer_shapes"]
