"""Pooling layers: max and average, 1D/2D/3D, and their global kinds."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from netspec.layers.base import DataFormat, Inference, Layer, ShapeMismatch, Size, as_tuple, conv_output_length, fmt_shape
from netspec.layers.conv import join_channels, split_channels


class _Pooling(Layer):
    pool_size: Size = Field(2, description="Size of the pooling window (int or one per spatial dim).")
    strides: Size | None = Field(None, description="Stride of the window; null means `pool_size`.")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    rank: ClassVar[int] = 2

    @model_validator(mode="after")
    def _check_tuples(self):
        for key in ("pool_size", "strides"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) != self.rank:
                raise ValueError(f"`{key}` of `{self.type}` needs {self.rank} value(s); received {list(value)}")
        return self

    def infer(self, inputs):
        spatial, channels = split_channels(inputs[0], self.rank, self.data_format, self.type)
        pool = as_tuple(self.pool_size, self.rank, "pool_size")
        strides = as_tuple(self.strides if self.strides is not None else self.pool_size, self.rank, "strides")
        out = []
        for axis, (length, p, s) in enumerate(zip(spatial, pool, strides)):
            size = conv_output_length(length, p, self.padding, s)
            if size is not None and size <= 0:
                raise ShapeMismatch(
                    f"the pool window ({p}) is larger than spatial axis {axis} of the input (size {length}); "
                    f"received shape {fmt_shape(inputs[0])}",
                    "use `padding: same`, a smaller `pool_size`, or fewer downsampling layers before this one",
                    field="pool_size",
                )
            out.append(size)
        return Inference([join_channels(out, channels, self.data_format)])


def _pool(kind: str, rank: int, cls_name: str, keras_class: str):
    doc = f"{kind.capitalize()} pooling over {rank} spatial dimension(s)."
    type_name = f"{kind}_pooling{rank}d"
    return type(cls_name, (_Pooling,), {
        "__doc__": doc,
        "__annotations__": {"type": Literal[type_name]},
        "keras_class": keras_class,
        "rank": rank,
        "__module__": __name__,
    })


MaxPooling1D = _pool("max", 1, "MaxPooling1D", "MaxPooling1D")
MaxPooling2D = _pool("max", 2, "MaxPooling2D", "MaxPooling2D")
MaxPooling3D = _pool("max", 3, "MaxPooling3D", "MaxPooling3D")
AveragePooling1D = _pool("average", 1, "AveragePooling1D", "AveragePooling1D")
AveragePooling2D = _pool("average", 2, "AveragePooling2D", "AveragePooling2D")
AveragePooling3D = _pool("average", 3, "AveragePooling3D", "AveragePooling3D")


class _GlobalPooling(Layer):
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keepdims: bool = Field(False, description="Keep the spatial dimensions, with size 1.")

    rank: ClassVar[int] = 2

    def infer(self, inputs):
        spatial, channels = split_channels(inputs[0], self.rank, self.data_format, self.type)
        if self.keepdims:
            return Inference([join_channels([1] * self.rank, channels, self.data_format)])
        return Inference([(channels,)])


def _global_pool(kind: str, rank: int, cls_name: str):
    type_name = f"global_{kind}_pooling{rank}d"
    return type(cls_name, (_GlobalPooling,), {
        "__doc__": f"Global {kind} pooling over {rank} spatial dimension(s).",
        "__annotations__": {"type": Literal[type_name]},
        "keras_class": cls_name,
        "rank": rank,
        "__module__": __name__,
    })


GlobalMaxPooling1D = _global_pool("max", 1, "GlobalMaxPooling1D")
GlobalMaxPooling2D = _global_pool("max", 2, "GlobalMaxPooling2D")
GlobalMaxPooling3D = _global_pool("max", 3, "GlobalMaxPooling3D")
GlobalAveragePooling1D = _global_pool("average", 1, "GlobalAveragePooling1D")
GlobalAveragePooling2D = _global_pool("average", 2, "GlobalAveragePooling2D")
GlobalAveragePooling3D = _global_pool("average", 3, "GlobalAveragePooling3D")
