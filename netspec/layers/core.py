"""Core layers: dense, activation, dropout and its kinds, embedding."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from netspec.layers.base import (
    ActivationName,
    Constraint,
    Inference,
    Initializer,
    Layer,
    PositiveInt,
    Rate,
    Regularizer,
    ShapeMismatch,
    expect_rank,
    fmt_shape,
)

_OBJECTS = {
    "kernel_initializer": "initializers", "bias_initializer": "initializers",
    "kernel_regularizer": "regularizers", "bias_regularizer": "regularizers",
    "activity_regularizer": "regularizers",
    "kernel_constraint": "constraints", "bias_constraint": "constraints",
}


class Dense(Layer):
    """Densely connected layer: `activation(inputs @ kernel + bias)` on the last axis."""

    type: Literal["dense"]
    units: PositiveInt = Field(description="Dimensionality of the output space.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = Field("glorot_uniform", description="Initializer for the kernel.")
    bias_initializer: Initializer = Field("zeros", description="Initializer for the bias.")
    kernel_regularizer: Regularizer = Field(None, description="Regularizer for the kernel.")
    bias_regularizer: Regularizer = Field(None, description="Regularizer for the bias.")
    activity_regularizer: Regularizer = Field(None, description="Regularizer for the output.")
    kernel_constraint: Constraint = Field(None, description="Constraint on the kernel.")
    bias_constraint: Constraint = Field(None, description="Constraint on the bias.")

    keras_class = "Dense"
    object_fields = _OBJECTS

    def infer(self, inputs):
        (shape,) = inputs
        if len(shape) < 1:
            raise ShapeMismatch(f"`dense` needs at least rank 2 input; received shape {fmt_shape(shape)}")
        features = shape[-1]
        if features is None:
            raise ShapeMismatch(
                f"`dense` needs a known last dimension; received shape {fmt_shape(shape)}",
                "give the input a fixed size on its last axis",
            )
        params = features * self.units + (self.units if self.use_bias else 0)
        positions = 1
        for d in shape[:-1]:
            positions *= d or 1
        return Inference([(*shape[:-1], self.units)], params, flops=2 * features * self.units * positions)


class Activation(Layer):
    """Applies an activation function to its input."""

    type: Literal["activation"]
    activation: ActivationName = Field(description="Activation function to apply.")

    keras_class = "Activation"

    def infer(self, inputs):
        return Inference([inputs[0]])


class Dropout(Layer):
    """Randomly sets a fraction `rate` of inputs to 0 during training."""

    type: Literal["dropout"]
    rate: Rate = Field(description="Fraction of the input units to drop, in [0, 1).")
    noise_shape: list[PositiveInt | None] | None = Field(None, description="Shape of the binary dropout mask.")
    seed: int | None = Field(None, description="Random seed.")

    keras_class = "Dropout"

    def infer(self, inputs):
        return Inference([inputs[0]])


class _SpatialDropout(Layer):
    rate: Rate = Field(description="Fraction of the feature maps to drop, in [0, 1).")
    seed: int | None = Field(None, description="Random seed.")
    spatial_rank: ClassVar[int] = 1

    def infer(self, inputs):
        expect_rank(inputs[0], self.spatial_rank + 1, self.type)
        return Inference([inputs[0]])


class SpatialDropout1D(_SpatialDropout):
    """Drops entire 1D feature maps."""

    type: Literal["spatial_dropout1d"]
    keras_class = "SpatialDropout1D"
    spatial_rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops entire 2D feature maps."""

    type: Literal["spatial_dropout2d"]
    data_format: Literal["channels_last", "channels_first"] | None = Field(None, description="Axis order.")
    keras_class = "SpatialDropout2D"
    spatial_rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops entire 3D feature maps."""

    type: Literal["spatial_dropout3d"]
    data_format: Literal["channels_last", "channels_first"] | None = Field(None, description="Axis order.")
    keras_class = "SpatialDropout3D"
    spatial_rank = 3


class GaussianDropout(Layer):
    """Multiplicative 1-centred Gaussian noise."""

    type: Literal["gaussian_dropout"]
    rate: Rate = Field(description="Drop probability, as for `dropout`.")
    seed: int | None = Field(None, description="Random seed.")
    keras_class = "GaussianDropout"

    def infer(self, inputs):
        return Inference([inputs[0]])


class GaussianNoise(Layer):
    """Additive zero-centred Gaussian noise."""

    type: Literal["gaussian_noise"]
    stddev: float = Field(ge=0, description="Standard deviation of the noise.")
    seed: int | None = Field(None, description="Random seed.")
    keras_class = "GaussianNoise"

    def infer(self, inputs):
        return Inference([inputs[0]])
