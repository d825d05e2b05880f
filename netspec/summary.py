"""`netspec summary`: per-layer shapes and parameters, totals, and costs, without TensorFlow."""

from __future__ import annotations

from netspec.load import load_spec
from netspec.shapes import LayerInfo, Shapes, infer_shapes

BYTES = {"float32": 4, "mixed": 2}


def _json_shape(shape) -> list:
    return [None, *shape]


def _layer_json(info: LayerInfo) -> dict:
    outputs = [_json_shape(s) for s in info.outputs]
    return {
        "name": info.node.name,
        "type": info.node.layer.type,
        "output_shape": outputs[0] if len(outputs) == 1 else outputs,
        "params": info.params,
    }


def _elements(shape) -> int:
    n = 1
    for d in shape:
        n *= d or 1
    return n


def summarize(spec) -> dict:
    """The summary object of DESIGN.md section 2, plus a `cost` entry.

    `cost` holds forward FLOPs per sample (a multiply-add counts as 2; unknown
    dimensions count as 1), activation memory per sample (every layer output
    and the inputs, float32 and mixed precision) and parameter memory.
    """
    model = load_spec(spec)
    shapes: Shapes = model._shapes or infer_shapes(model._graph)
    activations = sum(_elements(s) for s in shapes.input_shapes.values())
    activations += sum(_elements(s) for info in shapes.layers for s in info.outputs)
    return {
        "name": model.name,
        "total_params": shapes.total,
        "trainable_params": shapes.trainable,
        "non_trainable_params": shapes.non_trainable,
        "layers": [_layer_json(info) for info in shapes.layers],
        "cost": {
            "flops_per_sample": sum(info.flops for info in shapes.layers),
            "activation_bytes_per_sample": {"float32": activations * 4, "mixed": activations * 2},
            "param_bytes": shapes.total * 4,
        },
    }


def _fmt_shape(shape) -> str:
    if shape and isinstance(shape[0], list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1024 or prefix == "T":
            return f"{n:.0f} {prefix}{unit}" if prefix == "" else f"{n:.2f} {prefix}{unit}"
        n /= 1024
    return f"{n} {unit}"


def _count(n: float) -> str:
    for prefix, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {prefix}"
    return str(int(n))


def format_summary(summary: dict) -> str:
    """A table like Keras's `model.summary()`."""
    rows = [(f"{layer['name']} ({layer['type']})", _fmt_shape(layer["output_shape"]), f"{layer['params']:,}")
            for layer in summary["layers"]]
    head = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    line = "  ".join("-" * w for w in widths)
    out = [f'Model: "{summary["name"]}"', line,
           f"{head[0]:<{widths[0]}}  {head[1]:<{widths[1]}}  {head[2]:>{widths[2]}}", line]
    out += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    cost = summary["cost"]
    out += [
        line,
        f"Total params: {summary['total_params']:,} ({_human(cost['param_bytes'])})",
        f"Trainable params: {summary['trainable_params']:,}",
        f"Non-trainable params: {summary['non_trainable_params']:,}",
        f"Forward FLOPs per sample: {_count(cost['flops_per_sample'])}FLOPs",
        "Activation memory per sample: "
        f"{_human(cost['activation_bytes_per_sample']['float32'])} (float32), "
        f"{_human(cost['activation_bytes_per_sample']['mixed'])} (mixed precision)",
    ]
    return "\n".join(out)
