"""`netspec summary`: per-layer shapes and parameters, totals, and costs, without TensorFlow."""

from __future__ import annotations

import sys

from netspec.load import Loaded, loaded
from netspec.schema import Spec
from netspec.shapes import LayerInfo

# Bytes per value: float32, and the float16/bfloat16 activations of mixed precision.
# Weights stay float32 under mixed precision, so parameter memory is float32 either way.
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
        # extras beyond the fixed summary object (name, type, output_shape, params):
        "trainable_params": info.trainable,
        "non_trainable_params": info.non_trainable,
        "inputs": [str(ref) for ref in info.node.inputs],
        "flops": info.flops,
    }


def _elements(shape) -> int:
    """Values per sample; an unknown dimension (null) counts as 1."""
    n = 1
    for d in shape:
        n *= 1 if d is None else d
    return n


def summarize(spec) -> dict:
    """`netspec summary --json`'s object: `name`, `total_params`, `trainable_params`, `non_trainable_params` and
    `layers` (each `name`, `type`, `output_shape`, `params`: what Keras reports for the built model), plus
    `inputs`, `outputs` and `cost`.

    `cost` holds forward FLOPs per sample (a multiply-add counts as 2),
    activation memory per sample (the inputs and every layer output, at 4
    bytes a value in float32 and 2 under mixed precision) and parameter
    memory (4 bytes a weight: mixed precision keeps weights in float32).
    Unknown dimensions (null) count as 1, so for specs with variable
    lengths these are per step of the unknown axis.

    A spec with search spaces (or `netspec.space.check`'s result for one) is summarized at its first point (each
    choice's first option, each range's low bound), with `search` added: the spaces, the points checked, and
    the smallest and largest parameter counts among them.
    """
    from netspec.space import Checked, check

    if not isinstance(spec, Spec | Loaded | Checked):
        spec = check(spec)  # a spec with search spaces is checked whole; its first point is shown
    if isinstance(spec, Checked):
        return {**summarize(spec.loaded), "search": _search_json(spec)}
    result = loaded(spec)
    model, shapes = result.spec, result.shapes
    values = sum(_elements(s) for s in shapes.input_shapes.values())
    values += sum(_elements(s) for info in shapes.layers for s in info.outputs)
    unknown = any(d is None for info in shapes.layers for s in info.outputs for d in s)
    result = {
        "name": model.name,
        "total_params": shapes.total,
        "trainable_params": shapes.trainable,
        "non_trainable_params": shapes.non_trainable,
        "layers": [_layer_json(info) for info in shapes.layers],
        "inputs": [{"name": i.name, "shape": _json_shape(i.shape), "dtype": i.dtype} for i in model.inputs],
        "outputs": [str(ref) for ref in shapes.graph.outputs],
        "cost": {
            "flops_per_sample": sum(info.flops for info in shapes.layers),
            "activation_bytes_per_sample": {kind: values * size for kind, size in BYTES.items()},
            "param_bytes": shapes.total * BYTES["float32"],
            "unknown_dimensions_counted_as_1": unknown,
        },
    }
    notes = _plugin_notes(shapes)
    if notes:
        result["notes"] = notes  # beside the fixed summary object: what Keras had to compute
    return result


def _plugin_notes(shapes) -> list[str]:
    """A note where Keras computed shapes of plugin layers without static rules (netspec.plugins)."""
    if "netspec.plugins" not in sys.modules:  # no plugin was loaded
        return []
    from netspec.plugins import KERAS_NOTE, keras_shaped

    names = keras_shaped((info.node.name, info.node.layer) for info in shapes.layers)
    return [KERAS_NOTE.format(layers=", ".join(f"`{name}`" for name in names))] if names else []


def _search_json(checked) -> dict:
    def point(p):
        return {s.name: s.show(p[s.name]) for s in walk(checked.spaces, p) if s.name in p}

    from netspec.space import walk

    source = checked.source
    spaces = []
    for space in _all_spaces(checked.spaces):
        entry = {"name": space.name, "kind": space.kind, "line": source.locate(space.path)[0]}
        if space.kind == "choice":
            entry["options"] = len(space.options)
        else:
            entry.update(low=space.low, high=space.high, step=space.step, log=space.log)
        spaces.append(entry)
    return {
        "spaces": spaces,
        "grid_points": checked.size,  # float ranges counted at their two bounds
        "checked_points": checked.checked,
        "exhaustive": checked.exhaustive,
        "shown_point": point(checked.first),
        "min_params": checked.smallest[0],
        "min_point": point(checked.smallest[1]),
        "max_params": checked.largest[0],
        "max_point": point(checked.largest[1]),
    }


def _all_spaces(spaces):
    for space in spaces:
        yield space
        for nested in space.nested:
            yield from _all_spaces(nested)


def _fmt_point(point: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in point.items())


def _fmt_shape(shape) -> str:
    if shape and isinstance(shape[0], list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _bytes(n: float) -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1024 or prefix == "T":
            return f"{n:.0f} B" if prefix == "" else f"{n:.2f} {prefix}B"
        n /= 1024
    return f"{n} B"


def _count(n: float) -> str:
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {prefix}"
    return f"{int(n)} "


def format_summary(summary: dict) -> str:
    """A table like Keras's `model.summary()`; a "Connected to" column when the layers are not a plain chain."""
    from netspec.layers import LAYER_TYPES

    layers = summary["layers"]
    chain = all(layer["inputs"] == ([previous["name"]] if previous else [i["name"] for i in summary["inputs"]])
                for previous, layer in zip([None, *layers], layers))
    head = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    rows = []
    for layer in layers:
        keras_class = getattr(LAYER_TYPES.get(layer["type"]), "keras_class", "") or layer["type"]
        row = [f"{layer['name']} ({keras_class})", _fmt_shape(layer["output_shape"]), f"{layer['params']:,}"]
        rows.append(row if chain else [*row, ", ".join(layer["inputs"])])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line_of(cells):
        return "  ".join(c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    cost = summary["cost"]
    activations = cost["activation_bytes_per_sample"]
    out = [f'Model: "{summary["name"]}"', rule, line_of(head), rule, *(line_of(r) for r in rows), rule]
    out += [
        f"Total params: {summary['total_params']:,} ({_bytes(cost['param_bytes'])})",
        f"Trainable params: {summary['trainable_params']:,}",
        f"Non-trainable params: {summary['non_trainable_params']:,}",
        f"Forward FLOPs per sample: {_count(cost['flops_per_sample'])}FLOPs",
        f"Activation memory per sample: {_bytes(activations['float32'])} (float32), "
        f"{_bytes(activations['mixed'])} (mixed precision)",
    ]
    if cost["unknown_dimensions_counted_as_1"]:
        out.append("(unknown dimensions counted as 1 in FLOPs and memory)")
    search = summary.get("search")
    if search:
        how = ("every point checked" if search["exhaustive"]
               else f"{search['checked_points']:,} points checked, drawn with a fixed seed")
        out += [
            "",
            f"Search space: {len(search['spaces'])} spaces, {search['grid_points']:,} points on the grid "
            f"(float ranges at their bounds); {how}",
            f"Shown above: the first point ({_fmt_point(search['shown_point'])})",
            f"Smallest: {search['min_params']:,} params ({_fmt_point(search['min_point'])})",
            f"Largest: {search['max_params']:,} params ({_fmt_point(search['max_point'])})",
        ]
    out += [f"Note: {note}" for note in summary.get("notes", ())]
    return "\n".join(out)
