"""Convolution layers in 1D/2D/3D: plain, transposed, separable and depthwise.

Each family is one private base holding the Keras constructor arguments of
its classes (with Keras 3's defaults): those up to `use_bias` in its `_*Args`
class, the initializers, regularizers and constraints in a `weight_args` mixin;
the per-rank classes only fix `type`, `keras_class` and `rank`. Shape rules follow keras/src/ops/operation_utils.py
(`compute_conv_output_shape`) and backend_utils.py
(`compute_conv_transpose_output_shape`).
"""

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, field_validator, model_validator

from netspec.layers.base import (
    MAX_SIZE,
    ActivationName,
    DataFormat,
    Inference,
    KernelBiasWeightArgs,
    Layer,
    PositiveInt,
    ShapeMismatch,
    Size,
    as_tuple,
    axis_label,
    conv_output_length,
    deconv_output_length,
    fmt_shape,
    join_channels,
    positions,
    ran_out,
    split_channels,
    weight_args,
)

# ----- argument types -----

def _output_padding_check(value):
    def is_count(x):
        return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_SIZE

    if value is None or is_count(value):
        return value
    if isinstance(value, list | tuple) and value and all(is_count(x) for x in value):
        return tuple(value)
    raise ValueError(f"expected a non-negative integer or a list of them; received {value!r}")


OutputPadding = Annotated[
    Any,
    PlainValidator(_output_padding_check),
    WithJsonSchema({"anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        {"type": "null"},
    ]}),
]

# ----- the shared machinery -----


class _BaseConv(Layer):
    """What every convolution shares: per-rank tuple checks and the sliding-window shape rule."""

    rank: ClassVar[int] = 2

    @field_validator("kernel_size", "strides", "dilation_rate", "output_padding", check_fields=False)
    @classmethod
    def _one_per_axis(cls, value, info):
        if isinstance(value, tuple) and len(value) != cls.rank:
            raise ValueError(
                f"`{info.field_name}` needs {cls.rank} value(s), one per spatial dimension, or a single int; "
                f"received {list(value)}"
            )
        return value

    def _input_channels(self, shape) -> tuple[list, int]:
        spatial, channels = split_channels(shape, self.rank, self.data_format, self.type)
        if channels is None:
            raise ShapeMismatch(
                f"`{self.type}` needs a known channels dimension to size its kernel; received shape {fmt_shape(shape)}",
                "give the channels axis of the input a fixed size",
            )
        return spatial, channels

    def _sliding_output(self, shape, spatial) -> list:
        """Output spatial sizes of a sliding window with this layer's kernel, strides, padding, dilation."""
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        out = []
        for index, (length, k, s, d) in enumerate(zip(spatial, kernel, strides, dilation)):
            size = conv_output_length(length, k, self.padding, s, d)
            if size is not None and size <= 0:
                window = f"kernel ({k}, dilated to {(k - 1) * d + 1})" if d > 1 else f"kernel ({k})"
                raise ran_out(self, window, index, self.rank, self.data_format, length, shape, "kernel_size")
            out.append(size)
        return out


def _no_strided_dilation(layer) -> None:
    """Keras refuses `strides > 1` together with `dilation_rate > 1` for these layers."""
    strides = as_tuple(layer.strides, layer.rank, "strides")
    dilation = as_tuple(layer.dilation_rate, layer.rank, "dilation_rate")
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            "`strides` > 1 cannot be combined with `dilation_rate` > 1; "
            f"received strides={layer.strides}, dilation_rate={layer.dilation_rate}"
        )


# ----- plain convolution -----


class _ConvArgs(_BaseConv):
    filters: PositiveInt = Field(description="Number of output filters.")
    kernel_size: Size = Field(description="Size of the convolution window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the convolution (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")
    groups: PositiveInt = Field(1, description="Number of groups the input channels are split into.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


class _Conv(KernelBiasWeightArgs, _ConvArgs):
    @model_validator(mode="after")
    def _check_args(self):
        _no_strided_dilation(self)
        if self.filters % self.groups:
            raise ValueError(f"`filters` (={self.filters}) must be divisible by `groups` (={self.groups})")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = self._input_channels(shape)
        if channels % self.groups:
            raise ShapeMismatch(
                f"`{self.type}` splits its input channels into `groups` (={self.groups}) but the input has "
                f"{channels} channels; received shape {fmt_shape(shape)}",
                "make the input's channels a multiple of `groups`", field="groups",
            )
        out = self._sliding_output(shape, spatial)
        kernel = math.prod(as_tuple(self.kernel_size, self.rank, "kernel_size"))
        weights = kernel * (channels // self.groups) * self.filters
        params = weights + (self.filters if self.use_bias else 0)
        return Inference([join_channels(out, self.filters, self.data_format)], params,
                         flops=2 * weights * positions(out))


class Conv1D(_Conv):
    """1D convolution (temporal convolution) over (steps, channels)."""

    type: Literal["conv1d"]
    padding: Literal["valid", "same", "causal"] = Field(
        "valid", description="`valid` (no padding), `same`, or `causal` (output t sees inputs up to t)."
    )
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


# ----- transposed convolution -----


class _ConvTransposeArgs(_BaseConv):
    filters: PositiveInt = Field(description="Number of output filters.")
    kernel_size: Size = Field(description="Size of the convolution window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the convolution (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    output_padding: OutputPadding = Field(
        None,
        description="Extra size added to one side of each output spatial dim (int or one per spatial dim), "
        "each less than its stride; null infers the output size.",
    )
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


class _ConvTranspose(KernelBiasWeightArgs, _ConvTransposeArgs):
    @model_validator(mode="after")
    def _check_args(self):
        _no_strided_dilation(self)
        if self.output_padding is not None:
            strides = as_tuple(self.strides, self.rank, "strides")
            padding = as_tuple(self.output_padding, self.rank, "output_padding")
            if any(p >= s for p, s in zip(padding, strides)):
                raise ValueError(
                    "each `output_padding` must be less than its `strides`; "
                    f"received output_padding={self.output_padding}, strides={self.strides}"
                )
        return self

    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = self._input_channels(shape)
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        extra = (None,) * self.rank if self.output_padding is None else as_tuple(self.output_padding, self.rank, "output_padding")
        out = []
        for index, (length, k, s, p, d) in enumerate(zip(spatial, kernel, strides, extra, dilation)):
            size = deconv_output_length(length, k, self.padding, s, p, d)
            if size is not None and size <= 0:
                raise ShapeMismatch(
                    f"`{self.type}` would give {axis_label(index, self.rank, self.data_format)} size {size} "
                    f"(input size {length}, kernel {k}, `padding: same`, output_padding {p}); "
                    f"received shape {fmt_shape(shape)}",
                    "use an odd `kernel_size`, `output_padding` > 0, or leave `output_padding` unset",
                    field="output_padding",
                )
            out.append(size)
        weights = math.prod(kernel) * channels * self.filters
        params = weights + (self.filters if self.use_bias else 0)
        # Each input position scatters the whole kernel into the output.
        return Inference([join_channels(out, self.filters, self.data_format)], params,
                         flops=2 * weights * positions(spatial))


class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution (deconvolution) over (steps, channels)."""

    type: Literal["conv1d_transpose"]
    keras_class = "Conv1DTranspose"
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution (deconvolution) over (height, width, channels)."""

    type: Literal["conv2d_transpose"]
    keras_class = "Conv2DTranspose"
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3D transposed convolution (deconvolution) over (depth, height, width, channels)."""

    type: Literal["conv3d_transpose"]
    keras_class = "Conv3DTranspose"
    rank = 3


# ----- separable convolution -----


class _SeparableConvArgs(_BaseConv):
    filters: PositiveInt = Field(description="Number of output filters of the pointwise step.")
    kernel_size: Size = Field(description="Size of the depthwise window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the depthwise step (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")
    depth_multiplier: PositiveInt = Field(1, description="Depthwise output channels per input channel.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


_SeparableWeightArgs = weight_args(
    depthwise=("the depthwise kernel", "glorot_uniform"),
    pointwise=("the pointwise kernel", "glorot_uniform"),
    bias=("the bias", "zeros"),
)


class _SeparableConv(_SeparableWeightArgs, _SeparableConvArgs):
    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = self._input_channels(shape)
        out = self._sliding_output(shape, spatial)
        depthwise = math.prod(as_tuple(self.kernel_size, self.rank, "kernel_size")) * channels * self.depth_multiplier
        pointwise = channels * self.depth_multiplier * self.filters
        params = depthwise + pointwise + (self.filters if self.use_bias else 0)
        return Inference([join_channels(out, self.filters, self.data_format)], params,
                         flops=2 * (depthwise + pointwise) * positions(out))


class SeparableConv1D(_SeparableConv):
    """1D separable convolution: a depthwise convolution, then a pointwise (1x1) one mixing channels."""

    type: Literal["separable_conv1d"]
    keras_class = "SeparableConv1D"
    rank = 1


class SeparableConv2D(_SeparableConv):
    """2D separable convolution: a depthwise convolution, then a pointwise (1x1) one mixing channels."""

    type: Literal["separable_conv2d"]
    keras_class = "SeparableConv2D"
    rank = 2


# ----- depthwise convolution -----


class _DepthwiseConvArgs(_BaseConv):
    kernel_size: Size = Field(description="Size of the depthwise window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the convolution (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    depth_multiplier: PositiveInt = Field(1, description="Output channels per input channel.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


_DepthwiseWeightArgs = weight_args(depthwise=("the depthwise kernel", "glorot_uniform"), bias=("the bias", "zeros"))


class _DepthwiseConv(_DepthwiseWeightArgs, _DepthwiseConvArgs):
    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = self._input_channels(shape)
        out = self._sliding_output(shape, spatial)
        filters = channels * self.depth_multiplier
        weights = math.prod(as_tuple(self.kernel_size, self.rank, "kernel_size")) * filters
        params = weights + (filters if self.use_bias else 0)
        return Inference([join_channels(out, filters, self.data_format)], params,
                         flops=2 * weights * positions(out))


class DepthwiseConv1D(_DepthwiseConv):
    """1D depthwise convolution: each input channel convolved with its own `depth_multiplier` kernels."""

    type: Literal["depthwise_conv1d"]
    keras_class = "DepthwiseConv1D"
    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2D depthwise convolution: each input channel convolved with its own `depth_multiplier` kernels."""

    type: Literal["depthwise_conv2d"]
    keras_class = "DepthwiseConv2D"
    rank = 2
