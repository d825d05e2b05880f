"""Convolution layers, 1D/2D/3D: plain (transposed, separable and depthwise are
added beside them, on the same `_Conv` base)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from netspec.layers.base import (
    ActivationName,
    Constraint,
    DataFormat,
    Inference,
    Initializer,
    Layer,
    PositiveInt,
    Regularizer,
    ShapeMismatch,
    Size,
    as_tuple,
    conv_output_length,
    fmt_shape,
)

CONV_OBJECTS = {
    "kernel_initializer": "initializers", "bias_initializer": "initializers",
    "kernel_regularizer": "regularizers", "bias_regularizer": "regularizers",
    "activity_regularizer": "regularizers",
    "kernel_constraint": "constraints", "bias_constraint": "constraints",
}


def split_channels(shape, rank: int, data_format, layer: str):
    """(spatial dims, channels) of an input of `rank` spatial dims, or a mismatch with a fix."""
    if len(shape) != rank + 1:
        hint = None
        if len(shape) == rank + 2:
            hint = f"the input has an extra leading axis (a sequence of frames?): wrap the layer in `time_distributed`"
        elif len(shape) == rank:
            hint = f"add a `reshape` that gives the input a channels axis, e.g. target_shape {list(shape) + [1]}"
        else:
            hint = f"add a `reshape` to rank {rank + 1}"
        raise ShapeMismatch(
            f"`{layer}` expects input of rank {rank + 2} (batch, {rank} spatial dims, channels); "
            f"received shape {fmt_shape(shape)}",
            hint,
        )
    if data_format == "channels_first":
        return list(shape[1:]), shape[0]
    return list(shape[:-1]), shape[-1]


def join_channels(spatial, channels, data_format):
    return (channels, *spatial) if data_format == "channels_first" else (*spatial, channels)


class _Conv(Layer):
    filters: PositiveInt = Field(description="Number of output filters.")
    kernel_size: Size = Field(description="Size of the convolution window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the convolution (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")
    groups: PositiveInt = Field(1, description="Number of groups the input channels are split into.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer for the kernel.")
    bias_initializer: Initializer = Field("zeros", description="Initializer for the bias.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer for the kernel.")
    bias_regularizer: Regularizer = Field(None, description="Regularizer for the bias.")
    activity_regularizer: Regularizer = Field(None, description="Regularizer for the output.")
    kernel_constraint: Constraint = Field(None, description="Constraint on the kernel.")
    bias_constraint: Constraint = Field(None, description="Constraint on the bias.")

    rank: ClassVar[int] = 2
    object_fields = CONV_OBJECTS

    @model_validator(mode="after")
    def _check_tuples(self):
        for key in ("kernel_size", "strides", "dilation_rate"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) != self.rank:
                raise ValueError(
                    f"`{key}` of `{self.type}` needs {self.rank} value(s), one per spatial dimension; received {list(value)}"
                )
        strides, dilation = as_tuple(self.strides, self.rank, "strides"), as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        if any(s > 1 for s in strides) and any(d > 1 for d in dilation):
            raise ValueError(f"`strides` > 1 cannot be combined with `dilation_rate` > 1; received strides={self.strides}, dilation_rate={self.dilation_rate}")
        if self.filters % self.groups:
            raise ValueError(f"`filters` (={self.filters}) must be divisible by `groups` (={self.groups})")
        return self

    def infer(self, inputs):
        spatial, channels = split_channels(inputs[0], self.rank, self.data_format, self.type)
        if channels is None:
            raise ShapeMismatch(f"`{self.type}` needs a known channels dimension; received shape {fmt_shape(inputs[0])}")
        if channels % self.groups:
            raise ShapeMismatch(f"input channels (={channels}) must be divisible by `groups` (={self.groups})")
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        out = []
        for axis, (length, k, s, d) in enumerate(zip(spatial, kernel, strides, dilation)):
            size = conv_output_length(length, k, self.padding, s, d)
            if size is not None and size <= 0:
                raise ShapeMismatch(
                    f"the kernel ({k}, dilation {d}) is larger than spatial axis {axis} of the input "
                    f"(size {length}); received shape {fmt_shape(inputs[0])}",
                    "use `padding: same`, a smaller `kernel_size`, or fewer pooling/strided layers before this one",
                    field="kernel_size",
                )
            out.append(size)
        weights = 1
        for k in kernel:
            weights *= k
        weights *= (channels // self.groups) * self.filters
        params = weights + (self.filters if self.use_bias else 0)
        positions = 1
        for size in out:
            positions *= size or 1
        return Inference([join_channels(out, self.filters, self.data_format)], params, flops=2 * weights * positions)


class Conv1D(_Conv):
    """1D convolution (temporal convolution) over (steps, channels)."""

    type: Literal["conv1d"]
    padding: Literal["valid", "same", "causal"] = Field("valid", description="`valid`, `same` or `causal`.")
    keras_class = "Conv1D"
    rank = 1


class Conv2D(_Conv):
    """2D convolution over (height, width, channels)."""

    type: Literal["conv2d"]
    keras_class = "Conv2D"
    rank = 2


class Conv3D(_Conv):
    """3D convolution over (depth, height, width, channels)."""

    type: Literal["conv3d"]
    keras_class = "Conv3D"
    rank = 3
