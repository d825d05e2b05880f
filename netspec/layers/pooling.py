"""Pooling layers: max and average in 1D/2D/3D, and their global kinds.

Shape rules follow keras/src/ops/operation_utils.py (`compute_pooling_output_shape`)
and keras/src/layers/pooling/base_global_pooling.py.
"""

import math
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from netspec.layers.base import (
    DataFormat,
    Inference,
    Layer,
    Size,
    as_tuple,
    conv_output_length,
    join_channels,
    positions,
    ran_out,
    split_channels,
)


class _Pooling(Layer):
    """Max or average over a sliding window; the channels pass through."""

    pool_size: Size = Field(2, description="Size of the pooling window (int or one per spatial dim).")
    strides: Size | None = Field(None, description="Stride of the window (int or one per spatial dim); null means `pool_size`.")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    rank: ClassVar[int] = 2

    @field_validator("pool_size", "strides")
    @classmethod
    def _one_per_axis(cls, value, info):
        if isinstance(value, tuple) and len(value) != cls.rank:
            raise ValueError(
                f"`{info.field_name}` needs {cls.rank} value(s), one per spatial dimension, or a single int; "
                f"received {list(value)}"
            )
        return value

    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = split_channels(shape, self.rank, self.data_format, self.type)
        pool = as_tuple(self.pool_size, self.rank, "pool_size")
        strides = as_tuple(self.strides if self.strides is not None else self.pool_size, self.rank, "strides")
        out = []
        for index, (length, p, s) in enumerate(zip(spatial, pool, strides)):
            size = conv_output_length(length, p, self.padding, s)
            if size is not None and size <= 0:
                raise ran_out(self, f"pool window ({p})", index, self.rank, self.data_format, length, shape,
                              "pool_size")
            out.append(size)
        # One comparison or addition per window element and output value.
        flops = math.prod(pool) * positions(out) * (channels or 1)
        return Inference([join_channels(out, channels, self.data_format)], flops=flops)


class MaxPooling1D(_Pooling):
    """Max pooling over the steps of (steps, channels)."""

    type: Literal["max_pooling1d"]
    keras_class = "MaxPooling1D"
    rank = 1


class MaxPooling2D(_Pooling):
    """Max pooling over the height and width of (height, width, channels)."""

    type: Literal["max_pooling2d"]
    keras_class = "MaxPooling2D"
    rank = 2


class MaxPooling3D(_Pooling):
    """Max pooling over the depth, height and width of (depth, height, width, channels)."""

    type: Literal["max_pooling3d"]
    keras_class = "MaxPooling3D"
    rank = 3


class AveragePooling1D(_Pooling):
    """Average pooling over the steps of (steps, channels)."""

    type: Literal["average_pooling1d"]
    pool_size: Size = Field(description="Size of the pooling window (int or one per spatial dim); no default, as in Keras.")
    keras_class = "AveragePooling1D"
    rank = 1


class AveragePooling2D(_Pooling):
    """Average pooling over the height and width of (height, width, channels)."""

    type: Literal["average_pooling2d"]
    pool_size: Size = Field(description="Size of the pooling window (int or one per spatial dim); no default, as in Keras.")
    keras_class = "AveragePooling2D"
    rank = 2


class AveragePooling3D(_Pooling):
    """Average pooling over the depth, height and width of (depth, height, width, channels)."""

    type: Literal["average_pooling3d"]
    pool_size: Size = Field(description="Size of the pooling window (int or one per spatial dim); no default, as in Keras.")
    keras_class = "AveragePooling3D"
    rank = 3


class _GlobalPooling(Layer):
    """Max or average over every spatial position: one value per channel."""

    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keepdims: bool = Field(False, description="Keep the spatial dimensions, each with size 1.")

    rank: ClassVar[int] = 2

    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = split_channels(shape, self.rank, self.data_format, self.type)
        flops = positions(spatial) * (channels or 1)
        if self.keepdims:
            return Inference([join_channels([1] * self.rank, channels, self.data_format)], flops=flops)
        return Inference([(channels,)], flops=flops)


class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over all steps: (steps, channels) -> (channels,)."""

    type: Literal["global_max_pooling1d"]
    keras_class = "GlobalMaxPooling1D"
    rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over height and width: (height, width, channels) -> (channels,)."""

    type: Literal["global_max_pooling2d"]
    keras_class = "GlobalMaxPooling2D"
    rank = 2


class GlobalMaxPooling3D(_GlobalPooling):
    """Maximum over depth, height and width: (depth, height, width, channels) -> (channels,)."""

    type: Literal["global_max_pooling3d"]
    keras_class = "GlobalMaxPooling3D"
    rank = 3


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over all steps: (steps, channels) -> (channels,)."""

    type: Literal["global_average_pooling1d"]
    keras_class = "GlobalAveragePooling1D"
    rank = 1


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (height, width, channels) -> (channels,)."""

    type: Literal["global_average_pooling2d"]
    keras_class = "GlobalAveragePooling2D"
    rank = 2


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width: (depth, height, width, channels) -> (channels,)."""

    type: Literal["global_average_pooling3d"]
    keras_class = "GlobalAveragePooling3D"
    rank = 3
