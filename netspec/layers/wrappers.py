"""Wrappers: bidirectional and time_distributed, each holding a nested layer under `layer`.

The nested layer is any layer type of the format (the `AnyLayer` union of
the registry), validated in place, so that its mistakes are reported at paths
like `layers[2].layer.units`. It lowers to a KerasCall inside the wrapper's
arguments; Keras names it itself unless the spec does.
"""

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, TypeAdapter, ValidationInfo, field_validator

from netspec.layers.base import Inference, KerasCall, Layer, ShapeMismatch, fmt_shape


@cache
def _union() -> TypeAdapter:
    from netspec.layers import AnyLayer

    return TypeAdapter(AnyLayer)


def _validate_nested(value):
    """Validate a nested layer with its own type's model, as `validate_schema` does for top-level layers.

    Validating through the union of all types would build every type's validator (about half a
    second) the first time any spec holds a wrapper; the union is used only to report a missing
    or unknown `type`, with the same errors as for a top-level layer.
    """
    from netspec.layers import LAYER_TYPES

    if isinstance(value, Layer):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected a layer: a mapping with a `type`, e.g. `{{type: lstm, units: 64}}`; received {value!r}")
    tag = value.get("type")
    cls = LAYER_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        return _union().validate_python(value)
    return cls.model_validate(value)


_generating: list[bool] = []  # nested-layer JSON Schemas being generated (a stack)


class _UnionJsonSchema:
    """The JSON Schema of a nested layer: the union of all layer types (built only when asked for)."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        union = _union().core_schema
        if _generating:
            # A wrapper inside the union being generated: refer to the layer definitions that the
            # outer generation writes, rather than generating them again without end.
            if union.get("type") == "definitions":  # shared sub-schemas (an rnn's cells) are the outer's too
                union = union["schema"]
            choices = {tag: choice if choice["type"] == "definition-ref" else
                       {"type": "definition-ref", "schema_ref": choice["ref"]}
                       for tag, choice in union["choices"].items()}
            union = {**union, "choices": choices}
        _generating.append(True)
        try:
            return handler(union)
        finally:
            _generating.pop()


# A layer nested in a wrapper: any layer type of the format.
NestedLayer = Annotated[Any, PlainValidator(_validate_nested), _UnionJsonSchema()]


def _check_nested(layer: Layer, wrapper: str) -> Layer:
    if layer.inputs is not None:
        raise ValueError(f"the layer inside `{wrapper}` reads the wrapper's input; it takes no `inputs`; "
                         f"received inputs={layer.inputs}")
    return layer


def _check_recurrent(layer: Layer, wrapper: str, key: str) -> Layer:
    # Imported here: `time_distributed` over a convolution need not import the recurrent family.
    from netspec.layers.recurrent import RECURRENT_TYPES

    if layer.type not in RECURRENT_TYPES:
        raise ValueError(f"`{wrapper}` wraps a recurrent layer ({', '.join(RECURRENT_TYPES)}); "
                         f"received a `{layer.type}` layer as `{key}`")
    return _check_nested(layer, wrapper)


def _infer_nested(layer: Layer, inputs: list, key: str, context: str = "") -> tuple[Inference, int, int]:
    """The nested layer's inference and its (trainable, non-trainable) counts; errors point at `key`."""
    try:
        info = layer.infer(inputs)
    except ShapeMismatch as exc:
        raise ShapeMismatch(exc.message + context, exc.hint, field=key) from exc
    if layer.trainable:
        return info, info.trainable, info.non_trainable
    return info, 0, info.trainable + info.non_trainable


def _lower_nested(wrapper: Layer, call: KerasCall, extra: dict | None) -> KerasCall:
    """An output wrapper's float32 `dtype` goes to its nested layers too: they compute the output."""
    if not extra or "dtype" not in extra:
        return call
    kwargs = dict(call.kwargs)
    for key in ("layer", "backward_layer"):
        nested = getattr(wrapper, key, None)
        if nested is not None:
            kwargs[key] = nested.lower(extra={"dtype": extra["dtype"]})
    return KerasCall(call.module, call.name, tuple(kwargs.items()))


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges their outputs."""

    type: Literal["bidirectional"]
    layer: NestedLayer = Field(description="The recurrent layer to run in both directions, e.g. `{type: lstm, units: 64}`.")
    merge_mode: Literal["concat", "sum", "mul", "ave"] | None = Field(
        "concat",
        description="How the forward and backward outputs are combined; null returns them as two outputs.",
    )
    backward_layer: NestedLayer | None = Field(
        None,
        description="The layer run backwards (with `go_backwards: true`); default: a copy of `layer`.",
    )

    keras_class = "Bidirectional"

    @field_validator("layer")
    @classmethod
    def _check_layer(cls, value):
        return _check_recurrent(value, "bidirectional", "layer")

    @field_validator("backward_layer")
    @classmethod
    def _check_backward(cls, value, info: ValidationInfo):
        if value is None:
            return None
        _check_recurrent(value, "bidirectional", "backward_layer")
        forward = info.data.get("layer")
        if forward is None:
            return value
        if value.go_backwards == forward.go_backwards:
            raise ValueError(f"`backward_layer` must run the other way than `layer`: set `go_backwards: "
                             f"{str(not forward.go_backwards).lower()}` on it; received "
                             f"go_backwards={str(value.go_backwards).lower()} on both")
        for key in ("return_sequences", "return_state"):
            if getattr(value, key) != getattr(forward, key):
                raise ValueError(f"`backward_layer` and `layer` must agree on `{key}`; received "
                                 f"{str(getattr(forward, key)).lower()} and {str(getattr(value, key)).lower()}")
        return value

    def infer(self, inputs):
        forward, trainable, non_trainable = _infer_nested(self.layer, inputs, "layer")
        if self.backward_layer is None:
            backward, back_trainable, back_non_trainable = forward, trainable, non_trainable
        else:
            backward, back_trainable, back_non_trainable = _infer_nested(self.backward_layer, inputs, "backward_layer")
            if backward.outputs != forward.outputs:
                raise ShapeMismatch(
                    f"`backward_layer` gives output shape(s) {_shapes(backward.outputs)}, `layer` gives "
                    f"{_shapes(forward.outputs)}; the two directions must agree",
                    "give both the same `units` (or `filters`)",
                    field="backward_layer",
                )
        output, states = forward.outputs[0], forward.outputs[1:]
        if self.merge_mode == "concat":
            outputs = [(*output[:-1], output[-1] * 2)]
        elif self.merge_mode is None:
            outputs = [output, output]
        else:
            outputs = [output]
        return Inference(
            outputs + states + states,
            trainable + back_trainable,
            non_trainable + back_non_trainable,
            flops=forward.flops + backward.flops,
        )

    def lower(self, name=None, *, extra=None):
        return _lower_nested(self, super().lower(name, extra=extra), extra)


class TimeDistributed(Layer):
    """Applies its layer to every timestep (axis 1) of the input, with the same weights."""

    type: Literal["time_distributed"]
    layer: NestedLayer = Field(description="The layer applied to each timestep, e.g. `{type: conv2d, filters: 16, kernel_size: 3}`.")

    keras_class = "TimeDistributed"

    @field_validator("layer")
    @classmethod
    def _check_layer(cls, value):
        if value.call_convention != "single":  # Keras calls it with one tensor a timestep
            raise ValueError(f"`time_distributed` applies a layer to one tensor a timestep; the `{value.type}` "
                             "layer reads several inputs")
        return _check_nested(value, "time_distributed")

    def infer(self, inputs):
        (shape,) = inputs
        if len(shape) < 2:
            raise ShapeMismatch(
                f"`time_distributed` expects input of rank 3 or more (batch, timesteps, ...); "
                f"received shape {fmt_shape(shape)}",
                "the input has no time axis: apply the layer directly, without `time_distributed`",
            )
        steps, frame = shape[0], shape[1:]
        inner, trainable, non_trainable = _infer_nested(
            self.layer, [frame], "layer", f"; `time_distributed` applies it to each timestep of its input {fmt_shape(shape)}")
        if len(inner.outputs) != 1:
            raise ShapeMismatch(
                f"`time_distributed` needs a layer with one output; this `{self.layer.type}` gives "
                f"{len(inner.outputs)}: {_shapes(inner.outputs)}",
                "remove `return_state` (or give a `bidirectional` a `merge_mode`)",
                field="layer",
            )
        return Inference([(steps, *inner.outputs[0])], trainable, non_trainable, flops=inner.flops * (steps or 1))

    def lower(self, name=None, *, extra=None):
        return _lower_nested(self, super().lower(name, extra=extra), extra)


def _shapes(shapes) -> str:
    return ", ".join(fmt_shape(s) for s in shapes)
