"""Core layers: dense, einsum_dense, embedding, identity, masking, activation and the activation layers
(re_lu, leaky_re_lu, p_re_lu, elu, softmax), dropout and its spatial, Gaussian and alpha kinds, and
activity_regularization."""

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict, model_validator

from netspec.layers.base import (
    ActivationName,
    Axes,
    Constraint,
    DataFormat,
    Inference,
    Initializer,
    KerasCall,
    KernelBiasWeightArgs,
    Layer,
    Number,
    PositiveInt,
    Rate,
    Regularizer,
    ShapeMismatch,
    fmt_shape,
    known_dims,
    product,
    resolve_axes,
)

# A float of at least 0: an int is accepted, a bool or a string is not.
NonNegativeFloat = Annotated[float, Strict(), Field(ge=0.0)]


def _last_dim(shape, layer: str) -> int:
    if len(shape) < 1:
        raise ShapeMismatch(
            f"`{layer}` expects input of rank 2 or more (batch, ..., features); received shape {fmt_shape(shape)}",
            "give the model input a features axis, e.g. `shape: [1]`",
        )
    if shape[-1] is None:
        raise ShapeMismatch(
            f"`{layer}` needs a known last dimension to size its kernel; received shape {fmt_shape(shape)}",
            "give the input a fixed size on its last axis",
        )
    return shape[-1]


def _positions(shape) -> int:
    """Number of vectors a per-vector op sees in one sample (unknown sizes counted as 1)."""
    count = 1
    for d in shape:
        count *= d or 1
    return count


class _Elementwise(Layer):
    """A layer whose output has its input's shape and that has no weights."""

    def infer(self, inputs):
        return Inference([inputs[0]])


# ----- dense and embedding -----


class _DenseArgs(Layer):
    units: PositiveInt = Field(description="Dimensionality of the output space.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


class Dense(KernelBiasWeightArgs, _DenseArgs):
    """Densely connected layer: `activation(inputs @ kernel + bias)`.

    On inputs of rank > 2 the kernel acts on the last axis only:
    (batch, d0, ..., features) -> (batch, d0, ..., units).
    """

    # Keras's order: `units`, `activation`, `use_bias` (_DenseArgs), the weight arguments, then these.
    type: Literal["dense"]
    lora_rank: PositiveInt | None = Field(
        None, description="If set, LoRA: the kernel is frozen and two trainable low-rank factors of this rank are added.")
    lora_alpha: Annotated[float, Strict(), Field(gt=0)] | None = Field(
        None, description="LoRA scale numerator (the update is scaled by lora_alpha / lora_rank); default: lora_rank.")

    keras_class = "Dense"

    @model_validator(mode="after")
    def _check_lora(self):
        _check_lora(self, "kernel_constraint")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        features = _last_dim(shape, "dense")
        kernel = features * self.units
        bias = self.units if self.use_bias else 0
        trainable, frozen = _lora_split(kernel, features, self.units, self.lora_rank)
        flops = 2 * kernel * _positions(shape[:-1])
        return Inference([(*shape[:-1], self.units)], trainable + bias, frozen, flops=flops)


def _check_lora(layer, constraint_field: str) -> None:
    if layer.lora_alpha is not None and layer.lora_rank is None:
        raise ValueError("`lora_alpha` has no effect without `lora_rank`; set `lora_rank` too, or remove `lora_alpha`")
    if layer.lora_rank is not None and getattr(layer, constraint_field) is not None:
        raise ValueError(f"LoRA is incompatible with `{constraint_field}`; remove one of `lora_rank` and "
                         f"`{constraint_field}` (received lora_rank={layer.lora_rank})")


def _lora_split(size: int, rows: int, cols: int, rank: int | None) -> tuple[int, int]:
    """(trainable, non-trainable) counts of a (rows, cols) weight, under LoRA of `rank` if set:
    the weight is frozen and the factors (rows, rank) and (rank, cols) train."""
    if not rank:
        return size, 0
    return rows * rank + rank * cols, size


class Embedding(Layer):
    """Turns integer ids (e.g. token ids) into dense vectors: (batch, ...) -> (batch, ..., output_dim)."""

    type: Literal["embedding"]
    input_dim: PositiveInt = Field(description="Size of the vocabulary: the largest id plus 1.")
    output_dim: PositiveInt = Field(description="Dimension of the dense embedding.")
    embeddings_initializer: Initializer = Field(
        "uniform", description="Initializer for the embeddings matrix; Keras's `uniform` is `random_uniform`.")
    embeddings_regularizer: Regularizer = Field(None, description="Regularizer for the embeddings matrix.")
    embeddings_constraint: Constraint = Field(None, description="Constraint on the embeddings matrix.")
    mask_zero: bool = Field(False, description="Whether id 0 is padding, to be masked out by later layers.")
    lora_rank: PositiveInt | None = Field(
        None, description="If set, LoRA: the embeddings are frozen and two trainable low-rank factors are added.")
    lora_alpha: Annotated[float, Strict(), Field(gt=0)] | None = Field(
        None, description="LoRA scale numerator (the update is scaled by lora_alpha / lora_rank); default: lora_rank.")

    keras_class = "Embedding"

    @model_validator(mode="after")
    def _check_lora(self):
        _check_lora(self, "embeddings_constraint")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        size = self.input_dim * self.output_dim
        trainable, frozen = _lora_split(size, self.input_dim, self.output_dim, self.lora_rank)
        return Inference([(*shape, self.output_dim)], trainable, frozen)


class Identity(_Elementwise):
    """Returns its input unchanged (a named placeholder in a graph)."""

    type: Literal["identity"]
    keras_class = "Identity"
    keeps_input_dtype = True


# ----- activations -----


class Activation(_Elementwise):
    """Applies an activation function to its input."""

    type: Literal["activation"]
    activation: ActivationName = Field(description="Activation function to apply; null is linear.")

    keras_class = "Activation"


class ReLU(_Elementwise):
    """Rectified linear unit: `max(x, 0)`, with optional cap, threshold and leak."""

    type: Literal["re_lu"]
    max_value: NonNegativeFloat | None = Field(None, description="Largest output value (>= 0); null for no cap.")
    negative_slope: NonNegativeFloat = Field(0.0, description="Slope below the threshold (>= 0).")
    threshold: NonNegativeFloat = Field(0.0, description="Input value below which the output is damped (>= 0).")

    keras_class = "ReLU"


class LeakyReLU(_Elementwise):
    """Leaky rectified linear unit: `x` for x >= 0, `negative_slope * x` below."""

    type: Literal["leaky_re_lu"]
    negative_slope: NonNegativeFloat = Field(0.3, description="Slope for x < 0 (>= 0).")

    keras_class = "LeakyReLU"


class ELU(_Elementwise):
    """Exponential linear unit: `x` for x >= 0, `alpha * (exp(x) - 1)` below."""

    type: Literal["elu"]
    alpha: Number = Field(1.0, description="Scale of the negative part.")

    keras_class = "ELU"


class Softmax(Layer):
    """Softmax over one or several axes (Keras counts axes with the batch as 0; -1 is the last)."""

    type: Literal["softmax"]
    axis: Axes = Field(-1, description="Axis, or list of axes, the softmax normalizes over.")

    keras_class = "Softmax"

    def lower_value(self, key, value):
        return tuple(value) if key == "axis" and isinstance(value, list) else super().lower_value(key, value)

    def infer(self, inputs):
        resolve_axes(self.axis, inputs[0], self.type)
        return Inference([inputs[0]])


class PReLU(Layer):
    """Parametric ReLU: `x` for x >= 0, `alpha * x` below, with a learned `alpha` per input
    position, shared along `shared_axes`."""

    type: Literal["p_re_lu"]
    alpha_initializer: Initializer = Field("zeros", description="Initializer for the learned slopes.")
    alpha_regularizer: Regularizer = Field(None, description="Regularizer for the learned slopes.")
    alpha_constraint: Constraint = Field(None, description="Constraint on the learned slopes.")
    shared_axes: Annotated[int, Strict(), Field(gt=0)] | list[Annotated[int, Strict(), Field(gt=0)]] | None = Field(
        None, description="Axes (1 = the first axis after the batch) along which one slope is shared, "
        "e.g. [1, 2] for one slope per channel of an image.")

    keras_class = "PReLU"

    def infer(self, inputs):
        (shape,) = inputs
        shared = self.shared_axes if isinstance(self.shared_axes, list) else [self.shared_axes] if self.shared_axes else []
        for axis in shared:
            if axis > len(shape):
                raise ShapeMismatch(
                    f"`shared_axes` names axis {axis}, but the input has axes 1 to {len(shape)} after the batch "
                    f"(shape {fmt_shape(shape)})", "list axes between 1 and the input's last axis", field="shared_axes")
        kept = [a for a in range(1, len(shape) + 1) if a not in shared]
        dims = known_dims(shape, kept, self.type, "shared_axes")
        return Inference([shape], product(dims))


# ----- dropout and noise -----


class Dropout(Layer):
    """Randomly sets a fraction `rate` of inputs to 0 during training."""

    type: Literal["dropout"]
    rate: Rate = Field(description="Fraction of the input units to drop, in [0, 1).")
    noise_shape: list[PositiveInt | None] | None = Field(
        None, description="Shape of the binary dropout mask, batch axis included; 1 shares the mask along an axis "
        "and null takes the input's size, e.g. [null, 1, null] for the same mask at every time step.")
    seed: int | None = Field(None, description="Random seed.")

    keras_class = "Dropout"

    def lower_value(self, key, value):
        return tuple(value) if key == "noise_shape" and value is not None else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        if self.noise_shape is not None:
            full = (None, *shape)
            if len(self.noise_shape) != len(full):
                raise ShapeMismatch(
                    f"`noise_shape` {self.noise_shape} has {len(self.noise_shape)} entries, but the input has rank "
                    f"{len(full)} (shape {fmt_shape(shape)})",
                    "give one entry per axis, batch axis included (null for the batch)", field="noise_shape")
            for axis, (mask, dim) in enumerate(zip(self.noise_shape, full)):
                if mask not in (None, 1) and dim is not None and mask != dim:
                    raise ShapeMismatch(
                        f"`noise_shape` entry {axis} is {mask}, which does not broadcast to the input's size {dim} "
                        f"on that axis (shape {fmt_shape(shape)})",
                        "use 1 to share the mask along an axis, or null for the input's size", field="noise_shape")
        return Inference([shape])


class _SpatialDropout(Layer):
    rate: Rate = Field(description="Fraction of the feature maps to drop, in [0, 1).")
    seed: int | None = Field(None, description="Random seed.")
    spatial_rank: ClassVar[int] = 1

    def lower(self, name=None, *, extra=None):
        # Keras's SpatialDropout*D take no `trainable` argument; with no weights, it changes nothing.
        call = super().lower(name, extra=extra)
        return KerasCall(call.module, call.name, tuple((k, v) for k, v in call.kwargs if k != "trainable"))

    def infer(self, inputs):
        (shape,) = inputs
        rank = self.spatial_rank + 1
        if len(shape) != rank:
            layout = "steps" if self.spatial_rank == 1 else f"{self.spatial_rank} spatial dims"
            raise ShapeMismatch(
                f"`{self.type}` expects input of rank {rank + 1} (batch, {layout}, channels); "
                f"received shape {fmt_shape(shape)}",
                f"use `spatial_dropout{len(shape) - 1}d` for this input" if 2 <= len(shape) <= 4
                else "use `dropout` for this input")
        return Inference([shape])


class SpatialDropout1D(_SpatialDropout):
    """Drops entire 1D feature maps (whole channels of a sequence)."""

    type: Literal["spatial_dropout1d"]
    keras_class = "SpatialDropout1D"
    spatial_rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops entire 2D feature maps."""

    type: Literal["spatial_dropout2d"]
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "SpatialDropout2D"
    spatial_rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops entire 3D feature maps."""

    type: Literal["spatial_dropout3d"]
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    keras_class = "SpatialDropout3D"
    spatial_rank = 3


class GaussianDropout(_Elementwise):
    """Multiplicative 1-centred Gaussian noise with stddev `sqrt(rate / (1 - rate))`, in training only."""

    type: Literal["gaussian_dropout"]
    rate: Rate = Field(description="Drop probability, as for `dropout`, in [0, 1).")
    seed: int | None = Field(None, description="Random seed.")
    keras_class = "GaussianDropout"


class GaussianNoise(_Elementwise):
    """Additive zero-centred Gaussian noise, in training only."""

    type: Literal["gaussian_noise"]
    stddev: Annotated[float, Strict(), Field(ge=0, le=1)] = Field(
        description="Standard deviation of the noise, in [0, 1] (Keras's bound).")
    seed: int | None = Field(None, description="Random seed.")
    keras_class = "GaussianNoise"


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of its inputs (for `selu` networks), in training only."""

    type: Literal["alpha_dropout"]
    keras_class = "AlphaDropout"


# ----- masking and regularization -----


class Masking(_Elementwise):
    """Masks the time steps whose features all equal `mask_value`: later layers that take a mask
    (recurrent layers, attention, pooling) skip them."""

    type: Literal["masking"]
    mask_value: Number = Field(0.0, description="Value whose steps (all features equal to it) are masked.")

    keras_class = "Masking"


class ActivityRegularization(_Elementwise):
    """Passes its input through, adding `l1 * sum(|x|) + l2 * sum(x^2)` of it to the loss."""

    type: Literal["activity_regularization"]
    l1: NonNegativeFloat = Field(0.0, description="L1 regularization factor (>= 0).")
    l2: NonNegativeFloat = Field(0.0, description="L2 regularization factor (>= 0).")

    keras_class = "ActivityRegularization"


# ----- einsum_dense -----

_EINSUM_FORMS = (  # Keras's three forms of equation, "..." written as 0 (keras/src/layers/core/einsum_dense.py)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False),
)


def _einsum_parts(equation: str):
    """(input spec, weight spec, output spec, left_elided) of an equation, or None if Keras refuses it."""
    replaced = equation.replace("...", "0")
    for pattern, left in _EINSUM_FORMS:
        found = pattern.match(replaced)
        if found:
            return (*found.groups(), left)
    return None


class _EinsumArgs(Layer):
    equation: str = Field(description="Einsum equation `input,kernel->output` (batch axis included), e.g. "
                          "`ab,bc->ac`; `...` stands for leading (or trailing) axes.")
    output_shape: Annotated[int, Strict(), Field(gt=0)] | list[PositiveInt | None] = Field(
        description="Output shape without the batch and elided axes; null takes the input's size.")
    activation: ActivationName = Field(None, description="Activation function; null is linear.")
    bias_axes: Annotated[str, Field(pattern=r"^[a-zA-Z]+$")] | None = Field(
        None, description="Letters of the output axes that get a bias; null: no bias.")


class EinsumDense(KernelBiasWeightArgs, _EinsumArgs):
    """A dense layer of any rank, written as an einsum equation over input and kernel:
    `equation: "abc,cd->abd"` projects the last axis of a sequence, `"...b,bc->...c"` any leading axes.
    The kernel takes its sizes from the input and from `output_shape`."""

    # Keras's order: `equation` ... `bias_axes` (_EinsumArgs), the weight arguments, then these.
    type: Literal["einsum_dense"]
    lora_rank: PositiveInt | None = Field(
        None, description="If set, LoRA: the kernel is frozen and two trainable low-rank factors are added.")
    lora_alpha: Annotated[float, Strict(), Field(gt=0)] | None = Field(
        None, description="LoRA scale numerator; default: lora_rank.")

    keras_class = "EinsumDense"

    @model_validator(mode="after")
    def _check_equation(self):
        if _einsum_parts(self.equation) is None:
            raise ValueError(f"invalid einsum equation {self.equation!r}: expected `X,Y->Z`, `...X,Y->...Z` or "
                             "`X...,Y->Z...`, letters only, e.g. `ab,bc->ac`")
        _check_lora(self, "kernel_constraint")
        return self

    def lower_value(self, key, value):
        return tuple(value) if key == "output_shape" and isinstance(value, list) else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        full = (None, *shape)
        input_spec, weight_spec, output_spec, left = _einsum_parts(self.equation)
        elided = len(full) - len(input_spec)
        problem = None
        if elided < 0 or (elided and "0" not in self.equation.replace("...", "0")):
            problem = f"the equation's input `{input_spec}` has {len(input_spec)} axes, the input {len(full)} " \
                      "(batch included)"
        if problem is None:
            out = [full[0], *([self.output_shape] if isinstance(self.output_shape, int) else self.output_shape)]
            if elided > 0 and left:
                for i in range(1, elided):
                    out.insert(1, full[i])
            elif elided > 0:
                out.extend(full[len(full) - elided:])
            if left:
                in_map = {d: i + elided - len(full) for i, d in enumerate(input_spec)}
                out_map = {d: i + elided for i, d in enumerate(output_spec)}
            else:
                in_map = {d: i for i, d in enumerate(input_spec)}
                out_map = {d: i for i, d in enumerate(output_spec)}
            if len(out) != len(output_spec) + (elided if elided > 0 else 0) and problem is None:
                problem = (f"`output_shape` {self.output_shape} gives {len(out) - 1} axes after the batch, "
                           f"the equation's output `{output_spec}` {len(output_spec) - 1 + max(elided, 0)}")
        if problem is None:
            for d in input_spec:
                if d in out_map and out[out_map[d]] is not None and out[out_map[d]] != full[in_map[d]]:
                    problem = (f"input and output differ on the shared axis `{d}`: {full[in_map[d]]} in the "
                               f"input, {out[out_map[d]]} in `output_shape`")
            for d in output_spec:
                if d not in input_spec and d not in weight_spec:
                    problem = f"output axis `{d}` is in neither the input `{input_spec}` nor the kernel `{weight_spec}`"
        if problem is None:
            kernel = []
            for d in weight_spec:
                size = out[out_map[d]] if d in out_map else full[in_map[d]] if d in in_map else "missing"
                if size == "missing":
                    problem = f"kernel axis `{d}` is in neither the input `{input_spec}` nor the output `{output_spec}`"
                elif size is None:
                    problem = f"kernel axis `{d}` takes an unknown size from the input (shape {fmt_shape(shape)})"
                kernel.append(size)
        if problem is None and self.bias_axes is not None:
            missing = [c for c in self.bias_axes if c not in output_spec]
            if missing:
                problem = f"`bias_axes` {self.bias_axes!r} names `{missing[0]}`, not an axis of the output `{output_spec}`"
            else:
                offset = elided if left else 0
                first = min(output_spec.find(c) for c in self.bias_axes)
                bias = [out[i + offset] if c in self.bias_axes else 1 for i, c in enumerate(output_spec) if i >= first]
                if None in bias:
                    problem = f"`bias_axes` {self.bias_axes!r} names an axis of unknown size (shape {fmt_shape(shape)})"
        if problem is not None:
            raise ShapeMismatch(f"`einsum_dense` with equation {self.equation!r} cannot read shape "
                                f"{fmt_shape(shape)}: {problem}",
                                "write one equation letter per input axis (batch first), and give the kernel "
                                "axes their sizes in `output_shape`", field="equation")
        size = product(kernel)
        bias_size = product(bias) if self.bias_axes is not None else 0
        trainable, frozen = _lora_split(size, product(kernel[:-1]), kernel[-1], self.lora_rank) if \
            self.lora_rank else (size, 0)
        flops = 2 * size * _positions([d for d in out[1:] if d is not None]) // max(1, kernel[-1])
        return Inference([tuple(out[1:])], trainable + bias_size, frozen, flops=flops)
