"""Reshaping layers: flatten, reshape, permute, repeat_vector, and padding,
cropping and upsampling in 1D/2D/3D."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from netspec.layers.base import DataFormat, Inference, Layer, PositiveInt, ShapeMismatch, fmt_shape, product


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    type: Literal["flatten"]
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "Flatten"

    def infer(self, inputs):
        return Inference([(product(inputs[0]),)])


class Reshape(Layer):
    """Reshapes to `target_shape` (batch excluded); one entry may be -1."""

    type: Literal["reshape"]
    target_shape: list[int] = Field(description="Output shape without the batch axis; one entry may be -1.")
    keras_class = "Reshape"

    @field_validator("target_shape")
    @classmethod
    def _check(cls, value):
        if any(d == 0 or d < -1 for d in value):
            raise ValueError(f"`target_shape` entries must be positive or -1; received {value}")
        if value.count(-1) > 1:
            raise ValueError(f"`target_shape` may contain -1 only once; received {value}")
        return value

    def lower_value(self, key, value):
        return tuple(value) if key == "target_shape" else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        size = product(shape)
        target = list(self.target_shape)
        known = product([d for d in target if d != -1])
        if -1 in target:
            if size is not None:
                if size % known:
                    raise ShapeMismatch(
                        f"cannot reshape {size} values ({fmt_shape(shape)}) into {target}: {size} is not divisible by {known}",
                        "make the product of `target_shape` divide the input size",
                        field="target_shape",
                    )
                target[target.index(-1)] = size // known
            else:
                target[target.index(-1)] = None
        elif size is not None and size != known:
            raise ShapeMismatch(
                f"cannot reshape {size} values ({fmt_shape(shape)}) into {target} ({known} values)",
                f"the product of `target_shape` must be {size}; use -1 for one axis to infer it",
                field="target_shape",
            )
        return Inference([tuple(target)])


class Permute(Layer):
    """Permutes the axes of the input (1-based, batch excluded)."""

    type: Literal["permute"]
    dims: list[PositiveInt] = Field(description="Permutation of the axes, 1-based, e.g. [2, 1].")
    keras_class = "Permute"

    def lower_value(self, key, value):
        return tuple(value) if key == "dims" else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        if sorted(self.dims) != list(range(1, len(shape) + 1)):
            raise ShapeMismatch(
                f"`dims` {self.dims} is not a permutation of the input's axes 1..{len(shape)} (shape {fmt_shape(shape)})",
                field="dims",
            )
        return Inference([tuple(shape[d - 1] for d in self.dims)])


class RepeatVector(Layer):
    """Repeats a 2D input `n` times: (batch, features) -> (batch, n, features)."""

    type: Literal["repeat_vector"]
    n: PositiveInt = Field(description="Number of repetitions.")
    keras_class = "RepeatVector"

    def infer(self, inputs):
        (shape,) = inputs
        if len(shape) != 1:
            raise ShapeMismatch(
                f"`repeat_vector` expects input of rank 2 (batch, features); received shape {fmt_shape(shape)}",
                "a recurrent layer before it must not return sequences (set `return_sequences: false`)",
            )
        return Inference([(self.n, shape[0])])
