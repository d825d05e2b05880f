"""Reshaping layers: flatten, reshape, permute, repeat_vector, and zero padding,
cropping and upsampling in 1D/2D/3D.

Shape rules follow keras/src/layers/reshaping/ and, for `reshape`,
keras/src/ops/operation_utils.py (`compute_reshape_output_shape`).
"""

import math
from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict, field_validator

from netspec.layers.base import (
    DataFormat,
    Inference,
    Layer,
    PadAmount,
    PositiveInt,
    ShapeMismatch,
    Size,
    as_tuple,
    axis_label,
    fmt_shape,
    join_channels,
    layer_label,
    product,
    split_channels,
)


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    type: Literal["flatten"]
    data_format: DataFormat = Field(
        None, description="`channels_first` moves the channels axis last before flattening; the shape is the same."
    )
    keras_class = "Flatten"
    keeps_input_dtype = True

    def infer(self, inputs):
        return Inference([(product(inputs[0]),)])


class Reshape(Layer):
    """Reshapes to `target_shape` (batch excluded); one entry may be -1."""

    type: Literal["reshape"]
    target_shape: list[Annotated[int, Strict()]] = Field(
        description="Output shape without the batch axis; one entry may be -1, inferred from the input size."
    )
    keras_class = "Reshape"
    keeps_input_dtype = True

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
        known = math.prod(d for d in target if d != -1)
        if size is None:
            # Keras cannot check an input of unknown size, but a known part that
            # does not divide the target can never reshape, whatever the unknown size.
            partial = math.prod(d for d in shape if d is not None)
            if -1 not in target and known % partial:
                raise ShapeMismatch(
                    f"cannot reshape {fmt_shape(shape)} into {target}: the input's size is a multiple of {partial}, "
                    f"which {known} (the product of `target_shape`) is not",
                    "use -1 for one axis of `target_shape` to infer it from the input",
                    field="target_shape",
                )
            return Inference([tuple(None if d == -1 else d for d in target)])
        if -1 in target:
            if size % known:
                raise ShapeMismatch(
                    f"cannot reshape {fmt_shape(shape)} ({size} values) into {target}: "
                    f"{size} is not divisible by {known}, the product of the known sizes",
                    f"make the product of the other entries of `target_shape` divide {size}",
                    field="target_shape",
                )
            target[target.index(-1)] = size // known
        elif size != known:
            raise ShapeMismatch(
                f"cannot reshape {fmt_shape(shape)} ({size} values) into {target} ({known} values)",
                f"the product of `target_shape` must be {size}; or write -1 for one axis to infer it",
                field="target_shape",
            )
        return Inference([tuple(target)])


class Permute(Layer):
    """Permutes the axes of the input (1-based, batch excluded)."""

    type: Literal["permute"]
    dims: list[PositiveInt] = Field(description="Permutation of the axes, 1-based, e.g. [2, 1].")
    keras_class = "Permute"
    keeps_input_dtype = True

    @field_validator("dims")
    @classmethod
    def _check(cls, value):
        if sorted(value) != list(range(1, len(value) + 1)):
            raise ValueError(f"`dims` must be a permutation of 1..{len(value)}; received {value}")
        return value

    def lower_value(self, key, value):
        return tuple(value) if key == "dims" else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        if len(self.dims) != len(shape):
            raise ShapeMismatch(
                f"`permute` with dims {self.dims} expects input of rank {len(self.dims) + 1} "
                f"(batch and {len(self.dims)} axes); received shape {fmt_shape(shape)}",
                f"list each of the input's {len(shape)} non-batch axes once in `dims`",
                field="dims",
            )
        return Inference([tuple(shape[d - 1] for d in self.dims)])


class RepeatVector(Layer):
    """Repeats a 2D input `n` times: (batch, features) -> (batch, n, features)."""

    type: Literal["repeat_vector"]
    n: PositiveInt = Field(description="Number of repetitions.")
    keras_class = "RepeatVector"
    keeps_input_dtype = True

    def infer(self, inputs):
        (shape,) = inputs
        if len(shape) != 1:
            raise ShapeMismatch(
                f"`repeat_vector` expects input of rank 2 (batch, features); received shape {fmt_shape(shape)}",
                "it repeats one vector per sample: set `return_sequences: false` on {input}",
                producer_key="return_sequences",
                otherwise="it repeats one vector per sample: add a `flatten` or a global pooling layer before this one",
            )
        return Inference([(self.n, shape[0])])


# ----- zero padding and cropping -----


def pairs(value, rank: int) -> tuple:
    """Keras's forms of a padding or cropping amount -> one (before, after) pair per spatial axis."""
    if isinstance(value, int):
        return ((value, value),) * rank
    if rank == 1:
        return (tuple(value),)
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


def _check_amount(value, rank: int, key: str):
    """Keras takes an int, or for 1D two ints (before, after), or else one int or one pair per axis."""
    if isinstance(value, int):
        return value
    if rank == 1:
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            return value
        raise ValueError(f"`{key}` needs an int or two ints [before, after]; received {_plain(value)}")
    if len(value) == rank:
        return value
    example = [[1, 1]] * rank
    raise ValueError(
        f"`{key}` needs an int, {rank} ints (one per spatial axis), or {rank} pairs such as {example}; "
        f"received {_plain(value)}"
    )


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


class _ZeroPadding(Layer):
    """Adds rows, columns, ... of zeros at the start and end of each spatial axis."""

    padding: PadAmount = Field(
        1,
        description="Zeros added per spatial axis: an int, one int per axis, or one [before, after] pair per axis "
        "(1D: an int or [before, after]).",
    )
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    rank: ClassVar[int] = 2
    keeps_input_dtype = True

    @field_validator("padding")
    @classmethod
    def _check_padding(cls, value):
        return _check_amount(value, cls.rank, "padding")

    def infer(self, inputs):
        (shape,) = inputs
        spatial, channels = split_channels(shape, self.rank, self.data_format, self.type)
        out = [None if d is None else d + a + b for d, (a, b) in zip(spatial, pairs(self.padding, self.rank))]
        return Inference([join_channels(out, channels, self.data_format)])


class ZeroPadding1D(_ZeroPadding):
    """Zero padding at the start and end of the steps axis of (steps, channels)."""

    type: Literal["zero_padding1d"]
    keras_class = "ZeroPadding1D"
    rank = 1


class ZeroPadding2D(_ZeroPadding):
    """Zero padding around images: rows at the top and bottom, columns at the left and right."""

    type: Literal["zero_padding2d"]
    keras_class = "ZeroPadding2D"
    rank = 2


class ZeroPadding3D(_ZeroPadding):
    """Zero padding around volumes, on the depth, height and width axes."""

    type: Literal["zero_padding3d"]
    keras_class = "ZeroPadding3D"
    rank = 3


class _Cropping(Layer):
    """Removes entries at the start and end of each spatial axis."""

    rank: ClassVar[int] = 2
    keeps_input_dtype = True

    @field_validator("cropping", check_fields=False)
    @classmethod
    def _check_cropping(cls, value):
        return _check_amount(value, cls.rank, "cropping")

    def infer(self, inputs):
        (shape,) = inputs
        data_format = getattr(self, "data_format", None)  # 1D cropping has none
        spatial, channels = split_channels(shape, self.rank, data_format, self.type)
        out = []
        for index, (length, (a, b)) in enumerate(zip(spatial, pairs(self.cropping, self.rank))):
            if length is not None and a + b >= length:
                axis = axis_label(index, self.rank, data_format)
                raise ShapeMismatch(
                    f"{layer_label(self)} crops {a + b} ({a} + {b}) from {axis} of its input, which has size {length} here; "
                    f"received shape {fmt_shape(shape)}",
                    f"crop less than the size of each axis: {{input}} leaves only {length} on {axis}",
                    field="cropping",
                )
            out.append(None if length is None else length - a - b)
        return Inference([join_channels(out, channels, data_format)])


class Cropping1D(_Cropping):
    """Crops the start and end of the steps axis of (steps, channels)."""

    type: Literal["cropping1d"]
    cropping: PadAmount = Field(1, description="Entries cropped: an int, or [before, after].")
    keras_class = "Cropping1D"
    rank = 1


class Cropping2D(_Cropping):
    """Crops images: rows at the top and bottom, columns at the left and right."""

    type: Literal["cropping2d"]
    cropping: PadAmount = Field(
        0, description="Rows and columns cropped: an int, [rows, columns], or [[top, bottom], [left, right]]."
    )
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "Cropping2D"
    rank = 2


class Cropping3D(_Cropping):
    """Crops volumes on the depth, height and width axes."""

    type: Literal["cropping3d"]
    cropping: PadAmount = Field(
        1, description="Entries cropped per spatial axis: an int, one int per axis, or one [before, after] pair per axis."
    )
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "Cropping3D"
    rank = 3


# ----- upsampling -----


class _UpSampling(Layer):
    """Repeats each entry of the spatial axes `size` times."""

    rank: ClassVar[int] = 2
    keeps_input_dtype = True

    @field_validator("size", check_fields=False)
    @classmethod
    def _one_per_axis(cls, value):
        if isinstance(value, tuple) and len(value) != cls.rank:
            raise ValueError(f"`size` needs {cls.rank} value(s), one per spatial dimension, or a single int; "
                             f"received {list(value)}")
        return value

    def infer(self, inputs):
        (shape,) = inputs
        data_format = getattr(self, "data_format", None)  # 1D upsampling has none
        spatial, channels = split_channels(shape, self.rank, data_format, self.type)
        sizes = as_tuple(self.size, self.rank, "size")
        out = [None if d is None else d * f for d, f in zip(spatial, sizes)]
        return Inference([join_channels(out, channels, data_format)])


class UpSampling1D(_UpSampling):
    """Repeats each step `size` times: (steps, channels) -> (steps * size, channels)."""

    type: Literal["up_sampling1d"]
    size: PositiveInt = Field(2, description="Upsampling factor.")
    keras_class = "UpSampling1D"
    rank = 1


class UpSampling2D(_UpSampling):
    """Upsamples images by `size` on rows and columns."""

    type: Literal["up_sampling2d"]
    size: Size = Field(2, description="Upsampling factors for rows and columns (int or [rows, columns]).")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = Field(
        "nearest",
        description="How new pixels are computed: `nearest` repeats; the others resize "
        "(`area` runs on TensorFlow only, `lanczos*` not on PyTorch).",
    )
    keras_class = "UpSampling2D"
    rank = 2


class UpSampling3D(_UpSampling):
    """Upsamples volumes by `size` on the depth, height and width axes."""

    type: Literal["up_sampling3d"]
    size: Size = Field(2, description="Upsampling factors per spatial axis (int or one per axis).")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "UpSampling3D"
    rank = 3
