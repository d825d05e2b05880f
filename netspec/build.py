"""Keras stage: a resolved graph -> a Keras functional model.

Generic over layer types: each layer's one definition lowers itself to a
`KerasCall`; this module only instantiates calls and wires tensors.
"""

from __future__ import annotations

from typing import Any

from netspec.graph import Graph, Node
from netspec.layers.base import KerasCall
from netspec.load import load_spec

# Output layers compute in float32, so that softmax and losses stay stable under
# mixed precision (TensorFlow's mixed-precision guide); under a float32 policy
# this changes nothing.
OUTPUT_DTYPE = "float32"


def lower_node(node: Node, graph: Graph) -> KerasCall:
    """The Keras call for one node; output layers get float32 compute."""
    is_output = any(ref.name == node.name for ref in graph.outputs)
    return node.layer.lower(node.name, extra={"dtype": OUTPUT_DTYPE} if is_output else None)


def instantiate(value: Any, keras_module=None) -> Any:
    """Call a KerasCall (recursively through its arguments)."""
    if keras_module is None:
        import keras as keras_module
    if isinstance(value, KerasCall):
        cls = getattr(getattr(keras_module, value.module), value.name)
        return cls(**{k: instantiate(v, keras_module) for k, v in value.kwargs})
    if isinstance(value, list):
        return [instantiate(v, keras_module) for v in value]
    return value


def call_layer(layer, convention: str, args: list):
    if convention == "list":
        return layer(args)
    if convention == "args":
        return layer(*args)
    if convention == "attention":  # layer(query, value[, key]); one input attends to itself
        return layer(*args) if len(args) > 1 else layer(args[0], args[0])
    return layer(args[0])


def build_model(spec) -> Any:
    """Compile a spec (path, text, mapping or Spec) into a `keras.Model`."""
    import keras

    spec = load_spec(spec)
    graph: Graph = spec._graph
    tensors: dict[str, list] = {}
    model_inputs = []
    for spec_input in spec.inputs:
        tensor = keras.Input(shape=tuple(spec_input.shape), dtype=spec_input.dtype, name=spec_input.name,
                             sparse=spec_input.sparse)
        tensors[spec_input.name] = [tensor]
        model_inputs.append(tensor)
    for node in graph.nodes:
        layer = instantiate(lower_node(node, graph), keras)
        args = [tensors[ref.name][ref.index] for ref in node.inputs]
        out = call_layer(layer, node.layer.call_convention, args)
        tensors[node.name] = list(out) if isinstance(out, list | tuple) else [out]
    outputs = [tensors[ref.name][ref.index] for ref in graph.outputs]
    return keras.Model(
        inputs=model_inputs[0] if len(model_inputs) == 1 else model_inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=spec.name,
    )
