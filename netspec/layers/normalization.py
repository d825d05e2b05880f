"""Normalization layers: batch, layer, group, unit and RMS normalization.

Axes are counted as Keras counts them: 0 is the batch axis (never allowed
here), 1 the first axis of a sample, -1 the last; `channels_first` images
normalize over `axis: 1`.
"""

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from netspec.layers.base import (
    Axes,
    Axis,
    Constraint,
    Inference,
    Initializer,
    Layer,
    Regularizer,
    ShapeMismatch,
    SpecModel,
    known_dims,
    resolve_axes,
)

PositiveFloat = Annotated[float, Strict(), Field(gt=0.0)]
Momentum = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


# Forward FLOPs per input element, at inference. Batch normalization folds its
# statistics into one multiply-add; the others compute statistics per sample.
_FLOPS_PER_ELEMENT = {
    "batch_normalization": 2,  # x * a + b
    "layer_normalization": 8,  # mean, variance, normalize, scale and shift
    "group_normalization": 8,
    "rms_normalization": 4,  # square-sum, rescale, scale
    "unit_normalization": 3,  # square-sum, divide
}


def _elements(shape) -> int:
    count = 1
    for d in shape:
        count *= d or 1
    return count


class _AffineNormalization(Layer):
    """Fields of the normalizations with a learned scale (`gamma`) and offset (`beta`)."""

    epsilon: PositiveFloat = Field(1e-3, description="Small value added to the variance to avoid dividing by zero.")
    center: bool = Field(True, description="Whether to learn an offset `beta`.")
    scale: bool = Field(True, description="Whether to learn a scale `gamma`.")
    beta_initializer: Initializer = Field("zeros", description="Initializer for beta.")
    gamma_initializer: Initializer = Field("ones", description="Initializer for gamma.")
    beta_regularizer: Regularizer = Field(None, description="Regularizer for beta.")
    gamma_regularizer: Regularizer = Field(None, description="Regularizer for gamma.")
    beta_constraint: Constraint = Field(None, description="Constraint on beta.")
    gamma_constraint: Constraint = Field(None, description="Constraint on gamma.")

    def _affine(self, size: int) -> int:
        return size * (int(self.center) + int(self.scale))

    def _flops(self, shape) -> int:
        return _FLOPS_PER_ELEMENT[self.type] * _elements(shape)


class RenormClipping(SpecModel):
    """Limits of the batch renormalization corrections."""

    rmax: PositiveFloat | None = Field(None, description="Largest value of the correction `r`.")
    rmin: PositiveFloat | None = Field(None, description="Smallest value of the correction `r`.")
    dmax: Annotated[float, Strict(), Field(ge=0.0)] | None = Field(None, description="Largest absolute value of `d`.")

    @model_validator(mode="after")
    def _order(self):
        if self.rmax is not None and self.rmin is not None and self.rmax < self.rmin:
            raise ValueError(f"`rmax` (={self.rmax}) must not be smaller than `rmin` (={self.rmin})")
        return self


class BatchNormalization(_AffineNormalization):
    """Normalizes each feature over the batch: learned `gamma`, `beta` (trainable) and moving mean
    and variance (non-trainable statistics), one of each per feature on `axis`."""

    type: Literal["batch_normalization"]
    axis: Axis = Field(-1, description="The features axis (1 for `channels_first` images); -1 is the last.")
    momentum: Momentum = Field(0.99, description="Momentum of the moving mean and variance, in [0, 1].")
    moving_mean_initializer: Initializer = Field("zeros", description="Initializer for the moving mean.")
    moving_variance_initializer: Initializer = Field("ones", description="Initializer for the moving variance.")
    renorm: bool = Field(False, description="Whether to use batch renormalization (adds 3 statistics per feature).")
    renorm_clipping: RenormClipping | None = Field(
        None, description="Clipping of the renormalization corrections: `{rmax, rmin, dmax}`; needs `renorm: true`.")
    renorm_momentum: Momentum = Field(0.99, description="Momentum of the renormalization statistics, in [0, 1].")
    synchronized: bool = Field(False, description="Whether to synchronize the statistics across replicas "
                               "(TensorFlow backend only).")

    keras_class = "BatchNormalization"

    @model_validator(mode="after")
    def _check_renorm(self):
        if self.renorm_clipping is not None and not self.renorm:
            raise ValueError("`renorm_clipping` has no effect without `renorm: true`; set `renorm: true`, "
                             "or remove `renorm_clipping`")
        return self

    def lower_value(self, key, value):
        if key == "renorm_clipping":
            return value.model_dump(exclude_none=True)
        return super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        (size,) = known_dims(shape, resolve_axes(self.axis, shape, self.type), self.type)
        statistics = (5 if self.renorm else 2) * size
        return Inference([shape], self._affine(size), statistics, flops=self._flops(shape))


def _weight_size(layer: Layer, shape, axes) -> int:
    """Size of a weight with one entry per position of the normalized axes (Keras sorts them)."""
    size = 1
    for dim in known_dims(shape, sorted(resolve_axes(axes, shape, layer.type)), layer.type):
        size *= dim
    return size


class LayerNormalization(_AffineNormalization):
    """Normalizes each sample over `axis` (by default its last axis), with a learned scale and offset."""

    type: Literal["layer_normalization"]
    axis: Axes = Field(-1, description="Axis, or list of axes, to normalize over; -1 is the last.")

    keras_class = "LayerNormalization"

    def infer(self, inputs):
        (shape,) = inputs
        size = _weight_size(self, shape, self.axis)
        return Inference([shape], self._affine(size), flops=self._flops(shape))


class GroupNormalization(_AffineNormalization):
    """Normalizes each sample over groups of channels; `groups: -1` is instance normalization."""

    type: Literal["group_normalization"]
    groups: Annotated[int, Strict(), Field(ge=-1)] = Field(
        32, description="Number of groups the channels are split into (a divisor of the channels); "
        "-1: one group per channel (instance normalization).")
    axis: Axis = Field(-1, description="The channels axis (1 for `channels_first` images); -1 is the last.")

    keras_class = "GroupNormalization"

    @model_validator(mode="after")
    def _check_groups(self):
        if self.groups == 0:
            raise ValueError("`groups` must be a positive integer, or -1 for instance normalization; received 0")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        (channels,) = known_dims(shape, resolve_axes(self.axis, shape, self.type), self.type)
        groups = channels if self.groups == -1 else self.groups
        if groups > channels or channels % groups:
            divisors = [str(d) for d in range(1, min(channels, 10_000) + 1) if channels % d == 0]
            shown = ", ".join(divisors[:12]) + (", ..." if len(divisors) > 12 else "")
            raise ShapeMismatch(
                f"`groups` (={groups}) must divide the number of channels (={channels}) of the input on axis "
                f"{self.axis}",
                f"choose `groups` among the divisors of {channels}: {shown}",
                field="groups",
            )
        return Inference([shape], self._affine(channels), flops=self._flops(shape))


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis`; no weights."""

    type: Literal["unit_normalization"]
    axis: Axes = Field(-1, description="Axis, or list of axes, over which the norm is taken; -1 is the last.")

    keras_class = "UnitNormalization"

    def infer(self, inputs):
        (shape,) = inputs
        resolve_axes(self.axis, shape, self.type)
        return Inference([shape], flops=_FLOPS_PER_ELEMENT[self.type] * _elements(shape))


class RMSNormalization(Layer):
    """Root-mean-square normalization over `axis`, with a learned scale."""

    type: Literal["rms_normalization"]
    axis: Axes = Field(-1, description="Axis, or list of axes, to normalize over; -1 is the last.")
    epsilon: PositiveFloat = Field(1e-6, description="Small value added to the mean square to avoid dividing by zero.")

    keras_class = "RMSNormalization"

    def infer(self, inputs):
        (shape,) = inputs
        size = _weight_size(self, shape, self.axis)
        return Inference([shape], size, flops=_FLOPS_PER_ELEMENT[self.type] * _elements(shape))
