"""Merge layers: add, subtract, multiply, average, maximum, minimum, concatenate, dot.

Each is called on a list of tensors (`call_convention = "list"`) named in the
layer's `inputs`. Shape rules follow keras/src/layers/merging/: elementwise
merges broadcast like `Merge._compute_elemwise_op_output_shape` (trailing axes
aligned, 1 stretches, an unknown size wins), concatenation keeps the first
input's shape but for the summed axis, `dot` follows `Dot.compute_output_shape`.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainValidator, Strict, WithJsonSchema, field_validator

from netspec.layers.base import MAX_SIZE, Inference, Layer, ShapeMismatch, fmt_shape, product

# Merges take any number of inputs from 2 up.
MANY = MAX_SIZE
StrictInt = Annotated[int, Strict()]


def _axes_check(value):
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    if is_int(value):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and all(is_int(x) for x in value):
        return tuple(value)
    raise ValueError(f"expected an axis (integer) or a list of two axes [axis of the first input, axis of the "
                     f"second]; received {value!r}")


# `dot`'s axes: one axis for both inputs, or one per input.
DotAxes = Annotated[
    Any,
    PlainValidator(_axes_check),
    WithJsonSchema({"oneOf": [{"type": "integer"},
                              {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}]}),
]


def _positions(shape) -> int:
    return product([d or 1 for d in shape])


class _Merge(Layer):
    """Elementwise merge of two or more tensors of broadcastable shapes."""

    call_convention = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = MANY
    # Operations per output element and merged input, for the flops estimate.
    ops_per_element: ClassVar[int] = 1

    def infer(self, inputs):
        output = inputs[0]
        for shape in inputs[1:]:
            output = self._broadcast(output, shape)
        return Inference([output], flops=self.ops_per_element * (len(inputs) - 1) * _positions(output))

    def _broadcast(self, shape1, shape2):
        """Keras's `Merge._compute_elemwise_op_output_shape`, with the received shapes in its error."""
        received = f"{fmt_shape(shape1)} and {fmt_shape(shape2)}"
        if len(shape1) < len(shape2):
            shape1, shape2 = shape2, shape1
        if not shape2:
            return tuple(shape1)
        lead = len(shape1) - len(shape2)
        output = list(shape1[:lead])
        for axis, (i, j) in enumerate(zip(shape1[lead:], shape2), start=lead + 1):
            if i is None or j is None:
                output.append(None)
            elif i == 1 or j == 1:
                output.append(max(i, j))
            elif i != j:
                raise ShapeMismatch(
                    f"`{self.type}` cannot combine inputs of shapes {received}: "
                    f"axis {axis} has sizes {i} and {j} (elementwise merges need equal sizes, or 1 on one side)",
                    "give the inputs the same shape (e.g. matching `units` or `filters`, or a 1x1 `conv2d` / "
                    "`dense` projection on one branch), or use `concatenate` to join them along an axis",
                    field="inputs",
                )
            else:
                output.append(i)
        return tuple(output)


class Add(_Merge):
    """Adds its inputs elementwise."""

    type: Literal["add"]
    keras_class = "Add"


class Subtract(_Merge):
    """Subtracts the second input from the first, elementwise."""

    type: Literal["subtract"]
    keras_class = "Subtract"
    max_inputs = 2


class Multiply(_Merge):
    """Multiplies its inputs elementwise."""

    type: Literal["multiply"]
    keras_class = "Multiply"


class Average(_Merge):
    """Averages its inputs elementwise."""

    type: Literal["average"]
    keras_class = "Average"


class Maximum(_Merge):
    """Elementwise maximum of its inputs."""

    type: Literal["maximum"]
    keras_class = "Maximum"


class Minimum(_Merge):
    """Elementwise minimum of its inputs."""

    type: Literal["minimum"]
    keras_class = "Minimum"


def _axis_index(axis: int, rank: int) -> int | None:
    """A Keras axis (batch is axis 0; negative counts from the end) -> index into a shape without batch."""
    if 1 <= axis <= rank:
        return axis - 1
    if -rank <= axis <= -1:
        return rank + axis
    return None


class Concatenate(_Merge):
    """Joins its inputs along `axis`; every other axis must match."""

    type: Literal["concatenate"]
    axis: StrictInt = Field(-1, description="Axis to join along (-1: the last; 0, the batch axis, is not allowed).")

    keras_class = "Concatenate"
    ops_per_element = 0

    @field_validator("axis")
    @classmethod
    def _not_batch(cls, value):
        if value == 0:
            raise ValueError("`axis` 0 is the batch axis; received axis=0. Use -1 (the last axis) or 1, 2, ...")
        return value

    def infer(self, inputs):
        first = inputs[0]
        rank = len(first)
        listing = ", ".join(fmt_shape(s) for s in inputs)
        if any(len(s) != rank for s in inputs):
            raise ShapeMismatch(
                f"`concatenate` needs inputs of the same rank; received shapes {listing}",
                "add a `reshape` (or `flatten`) so that the inputs have the same number of axes",
                field="inputs",
            )
        index = _axis_index(self.axis, rank)
        if index is None:
            where = "is the batch axis" if self.axis == -(rank + 1) else "is out of range"
            raise ShapeMismatch(
                f"`axis` {self.axis} {where} for inputs of rank {rank + 1}; received shapes {listing}",
                f"use an axis from 1 to {rank} (or -{rank} to -1)",
                field="axis",
            )
        for pos in range(rank):
            if pos == index:
                continue
            sizes = {s[pos] for s in inputs} - {None}
            if len(sizes) > 1:
                raise ShapeMismatch(
                    f"`concatenate` along axis {self.axis} needs every other axis to match; axis {pos + 1} "
                    f"differs between shapes {listing}",
                    "make the inputs agree on every axis but the one joined (e.g. with `reshape`, pooling or "
                    "cropping), or set `axis` to the axis where they differ",
                    field="inputs",
                )
        sizes = [s[index] for s in inputs]
        output = list(first)
        output[index] = None if None in sizes else sum(sizes)
        return Inference([tuple(output)])


class Dot(Layer):
    """Dot product of two inputs along `axes` (cosine proximity with `normalize`)."""

    type: Literal["dot"]
    axes: DotAxes = Field(
        description="Axis of both inputs to contract, or [axis of the first, axis of the second]; 0, the batch "
        "axis, is not allowed.",
    )
    normalize: bool = Field(False, description="L2-normalize both inputs along `axes` first (cosine similarity).")

    keras_class = "Dot"
    call_convention = "list"
    min_inputs = 2
    max_inputs = 2

    @field_validator("axes")
    @classmethod
    def _not_batch(cls, value):
        if value == 0 or (isinstance(value, tuple) and 0 in value):
            raise ValueError(f"`axes` may not include 0, the batch axis; received axes={_written(value)}")
        return value

    def infer(self, inputs):
        shape1, shape2 = inputs
        axes = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        picked = []
        for axis, shape in zip(axes, (shape1, shape2)):
            index = _axis_index(axis, len(shape))
            if index is None:
                raise ShapeMismatch(
                    f"`axes` {axis} is out of range for an input of shape {fmt_shape(shape)}",
                    f"use an axis from 1 to {len(shape)} (or -{len(shape)} to -1)" if shape else
                    "give the input at least one axis besides the batch",
                    field="axes",
                )
            picked.append(index)
        size1, size2 = shape1[picked[0]], shape2[picked[1]]
        if size1 != size2:  # Keras compares the sizes as they are: null matches only null
            raise ShapeMismatch(
                f"`dot` contracts axis {axes[0]} of {fmt_shape(shape1)} (size {size1}) with axis {axes[1]} of "
                f"{fmt_shape(shape2)} (size {size2}); the sizes must be equal",
                "pick `axes` of equal size, or project one input (e.g. with `dense`) to the other's size",
                field="axes",
            )
        rest1 = [d for i, d in enumerate(shape1) if i != picked[0]]
        rest2 = [d for i, d in enumerate(shape2) if i != picked[1]]
        output = tuple(rest1 + rest2) or (1,)
        return Inference([output], flops=2 * (size1 or 1) * _positions(output))


def _written(value):
    """A value as the spec wrote it (lists, not the tuples they were stored as)."""
    return list(value) if isinstance(value, tuple) else value
