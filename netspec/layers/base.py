"""What every layer type shares: the pydantic base, common field types, and the
contract each type fulfils in its one definition:

* its fields are the Keras constructor arguments, with Keras's defaults;
* `keras_class` names the class in `keras.layers` it lowers to;
* `infer(inputs)` gives output shape(s) and parameter counts in pure Python.

Shapes here never include the batch dimension; `None` is an unknown size.
"""

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, Strict, WithJsonSchema, create_model

from netspec.names import did_you_mean

Shape = tuple  # tuple[int | None, ...]

# Upper bound for any single size in a spec; larger values are typos or attacks.
MAX_SIZE = 2**31 - 1


class ShapeMismatch(Exception):
    """Raised by `infer` when a layer cannot take the shapes it is given."""

    def __init__(self, message: str, hint: str | None = None, field: str | None = None, *,
                 producer_key: str | None = None, otherwise: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        # A hint that tells to set `producer_key` on {input} holds only where that layer has the key;
        # elsewhere `otherwise` is the hint.
        self.producer_key = producer_key
        self.otherwise = otherwise


@dataclass
class Inference:
    outputs: list[Shape]
    trainable: int = 0
    non_trainable: int = 0
    # flops per sample (multiply-add = 2); None where not estimated
    flops: int = 0


# ----- field types shared by many layers -----

PositiveInt = Annotated[int, Strict(), Field(gt=0, le=MAX_SIZE)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
# Numbers: an int is accepted, a bool or a string is not.
Number = Annotated[float, Strict()]
# An axis or a list of axes, counted as Keras counts them: 0 is the batch axis, -1 the last.
Axis = Annotated[int, Strict()]
Axes = Axis | list[Axis]

ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus",
    "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh",
    "tanh_shrink", "threshold",
)


def _check_name(kind: str, names) -> Any:
    def check(value):
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected the name of a Keras {kind}; received {value!r}")
        if value not in names:
            hint = did_you_mean(value, names)
            raise ValueError(f"unknown {kind} {value!r}" + (f"; {hint}" if hint else f"; expected one of: {', '.join(names)}"))
        return value

    return check


ActivationName = Annotated[
    str | None,
    PlainValidator(_check_name("activation", ACTIVATIONS)),
    WithJsonSchema({"anyOf": [{"enum": list(ACTIVATIONS)}, {"type": "null"}]}),
]


def _size_check(value):
    ok_int = isinstance(value, int) and not isinstance(value, bool)
    if ok_int:
        items = [value]
    elif isinstance(value, list | tuple) and value:
        items = list(value)
    else:
        raise ValueError(f"expected a positive integer or a list of positive integers; received {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 < item <= MAX_SIZE:
            raise ValueError(f"expected a positive integer or a list of positive integers; received {value!r}")
    return value if ok_int else tuple(items)


def _size_schema(minimum: int) -> dict:
    item = {"type": "integer", "minimum": minimum}
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1}]}


# An int, or one int per spatial dimension (checked against the rank by the layer).
Size = Annotated[Any, PlainValidator(_size_check), WithJsonSchema(_size_schema(1))]


def _padding_check(value):
    """Cropping/padding amounts: int, list of ints, or list of [before, after] pairs."""

    def is_count(x):
        return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_SIZE

    if is_count(value):
        return value
    if isinstance(value, list | tuple) and value:
        if all(is_count(x) for x in value):
            return tuple(value)
        if all(isinstance(x, list | tuple) and len(x) == 2 and all(is_count(y) for y in x) for x in value):
            return tuple(tuple(x) for x in value)
    raise ValueError(f"expected a non-negative integer, a list of them, or a list of [before, after] pairs; received {value!r}")


PadAmount = Annotated[
    Any,
    PlainValidator(_padding_check),
    WithJsonSchema({"oneOf": [
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
        ]}},
    ]}),
]

DataFormat = Literal["channels_last", "channels_first"] | None


# ----- Keras objects named in a spec: initializers, regularizers, constraints -----

INITIALIZERS = {
    "constant": "Constant", "glorot_normal": "GlorotNormal", "glorot_uniform": "GlorotUniform",
    "he_normal": "HeNormal", "he_uniform": "HeUniform", "identity": "Identity",
    "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform", "ones": "Ones",
    "orthogonal": "Orthogonal", "random_normal": "RandomNormal", "random_uniform": "RandomUniform",
    "normal": "RandomNormal", "uniform": "RandomUniform",  # Keras's aliases; embedding defaults to "uniform"
    "truncated_normal": "TruncatedNormal", "variance_scaling": "VarianceScaling", "zeros": "Zeros",
}
REGULARIZERS = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "orthogonal_regularizer": "OrthogonalRegularizer"}
CONSTRAINTS = {"max_norm": "MaxNorm", "min_max_norm": "MinMaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm"}


@dataclass(frozen=True)
class KerasCall:
    """A call of a Keras class: `keras.<module>.<name>(**kwargs)`.

    The one lowered form that both the model builder (which calls it) and the
    code generator (which prints it) consume, so the two cannot drift apart.
    """

    module: str  # "layers", "initializers", ...
    name: str  # "Conv2D"
    kwargs: tuple  # ((key, value), ...) in a stable order; values may be KerasCall

    @property
    def kwargs_dict(self) -> dict:
        return dict(self.kwargs)


@dataclass(frozen=True)
class KerasModule:
    """Marks a field whose value is a Keras object of `keras.<name>` (lowered by `lower_object`)."""

    name: str


def _keras_object(kind: str, table: dict[str, str], module: str):
    scalar = (int, float, str, bool, type(None))

    def check(value):
        if isinstance(value, str):
            _check_name(kind, list(table))(value)
            return value
        if isinstance(value, dict):
            if "type" not in value:
                raise ValueError(f"a {kind} given as a mapping needs a `type` key, one of: {', '.join(table)}")
            _check_name(kind, list(table))(value["type"])
            for key, arg in value.items():
                if key == "type":
                    continue
                if not key.isidentifier() or not isinstance(arg, scalar):
                    raise ValueError(f"{kind} argument `{key}` must be a number, string or boolean; received {arg!r}")
            return dict(value)
        if value is None:
            return None
        raise ValueError(f"expected a {kind} name or a mapping with `type`; received {value!r}")

    schema = {"anyOf": [
        {"enum": list(table)},
        {"type": "object", "properties": {"type": {"enum": list(table)}}, "required": ["type"]},
        {"type": "null"},
    ]}
    return Annotated[Any, PlainValidator(check), WithJsonSchema(schema), KerasModule(module)]


Initializer = _keras_object("initializer", INITIALIZERS, "initializers")
Regularizer = _keras_object("regularizer", REGULARIZERS, "regularizers")
Constraint = _keras_object("constraint", CONSTRAINTS, "constraints")
_OBJECT_TABLES = {"initializers": INITIALIZERS, "regularizers": REGULARIZERS, "constraints": CONSTRAINTS}


def lower_object(module: str, value):
    """A spec's `{type: he_normal, seed: 1}` -> KerasCall; a plain name stays a string."""
    if not isinstance(value, dict):
        return value
    args = tuple((k, v) for k, v in value.items() if k != "type")
    return KerasCall(module, _OBJECT_TABLES[module][value["type"]], args)


# ----- the layer base -----


class SpecModel(BaseModel):
    """Base of every model in the format: unknown keys are errors.

    Its validator is built on first use (`defer_build`), so a spec pays only for the models it uses. The
    modules that define models do not use `from __future__ import annotations`: pydantic evaluates a
    string annotation again for every subclass, which made importing a layer family a fifth slower.
    """

    model_config = ConfigDict(extra="forbid", validate_default=False, defer_build=True)


class Layer(SpecModel):
    """Keys every layer has: `type`, `name`, `inputs`, `trainable`."""

    type: str
    name: Identifier | None = Field(None, description="Unique layer name; default: Keras-style `<type>`, `<type>_1`, ...")
    inputs: list[str] | None = Field(
        None,
        description="Names of earlier layers or model inputs this layer reads (`name[i]` picks output i); "
        "default: the previous layer, or the only model input for the first layer.",
    )
    trainable: bool = Field(True, description="Whether the layer's weights are updated in training.")

    keras_class: ClassVar[str] = ""
    # How the Keras layer is called: layer(x) | layer([a, b]) | layer(a, b, ...) |
    # "attention": layer(query, value[, key]), where a single input x is layer(x, x)
    call_convention: ClassVar[Literal["single", "list", "args", "attention"]] = "single"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    # Fields whose values are Keras objects: lowered through `lower_object`.
    object_fields: ClassVar[dict[str, str]] = {}  # derived from the field types, see below
    # Fields of the spec that are not constructor arguments.
    spec_only_fields: ClassVar[frozenset[str]] = frozenset({"type", "inputs", "name", "trainable"})
    # Whether the output has the (first) input's dtype: layers that only move values (reshape,
    # crop, pad, repeat) keep integer ids integer, so an `embedding` may follow them.
    keeps_input_dtype: ClassVar[bool] = False

    # --- shapes ---

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        super().__pydantic_init_subclass__(**kwargs)
        # Fields typed Initializer / Regularizer / Constraint lower to Keras objects.
        cls.object_fields = {
            name: meta.name for name, info in cls.model_fields.items()
            for meta in info.metadata if isinstance(meta, KerasModule)
        }

    def infer(self, inputs: list[Shape]) -> Inference:  # pragma: no cover - every type overrides
        raise NotImplementedError(f"{type(self).__name__} has no shape rule")

    # --- lowering to Keras ---

    def constructor_kwargs(self) -> dict[str, Any]:
        """Constructor arguments that differ from Keras's defaults, in field order."""
        out: dict[str, Any] = {}
        for key, info in type(self).model_fields.items():
            if key in self.spec_only_fields:
                continue
            value = getattr(self, key)
            if type(value) is type(info.default) and value == info.default:
                continue
            out[key] = self.lower_value(key, value)
        return out

    def lower_value(self, key: str, value):
        if key in self.object_fields:
            return lower_object(self.object_fields[key], value)
        if isinstance(value, Layer):
            return value.lower()
        return value

    def lower(self, name: str | None = None, *, extra: dict | None = None) -> KerasCall:
        kwargs = self.constructor_kwargs()
        if not self.trainable:
            kwargs["trainable"] = False
        if extra:
            kwargs.update(extra)
        name = name or self.name
        if name is not None:
            kwargs["name"] = name
        return KerasCall("layers", self.keras_class, tuple(kwargs.items()))


# ----- the weight arguments: initializers, regularizers, constraints -----


def weight_args(**weights: tuple[str, str]) -> type[SpecModel]:
    """A mixin with the Keras arguments that set up a layer's weights, in Keras's order: each
    weight's `<weight>_initializer`, then each `<weight>_regularizer` and `activity_regularizer`,
    then each `<weight>_constraint`.

    `weights` maps each weight's argument prefix to what the descriptions call it and its
    initializer's default: `weight_args(kernel=("the kernel", "glorot_uniform"), bias=("the bias", "zeros"))`.

    A class's own fields come after those of its bases, each base's after those of the bases
    listed after it; so a layer lists the mixin before the base that holds the arguments Keras
    puts first (`filters`, ..., `use_bias`), and declares those Keras puts last itself.
    """
    fields: dict[str, Any] = {}
    for prefix, (noun, initializer) in weights.items():
        fields[f"{prefix}_initializer"] = (Initializer, Field(initializer, description=f"Initializer for {noun}."))
    for prefix, (noun, _) in weights.items():
        fields[f"{prefix}_regularizer"] = (Regularizer, Field(None, description=f"Regularizer for {noun}."))
    fields["activity_regularizer"] = (Regularizer, Field(None, description="Regularizer for the output."))
    for prefix, (noun, _) in weights.items():
        fields[f"{prefix}_constraint"] = (Constraint, Field(None, description=f"Constraint on {noun}."))
    name = "".join(prefix.title() for prefix in weights) + "WeightArgs"
    return create_model(name, __base__=SpecModel, __module__=__name__, **fields)


# A kernel and a bias: the convolutions and `dense`.
KernelBiasWeightArgs = weight_args(kernel=("the kernel", "glorot_uniform"), bias=("the bias", "zeros"))


# ----- helpers for shape rules -----


def as_tuple(value, rank: int, what: str) -> tuple:
    """Keras's `standardize_tuple`: an int becomes `rank` copies."""
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    if len(value) != rank:
        raise ShapeMismatch(f"`{what}` needs {rank} value(s) for this layer; received {list(value)}", field=what)
    return value


def conv_output_length(length, kernel: int, padding: str, stride: int, dilation: int = 1):
    """Keras's conv_utils output length; None stays None."""
    if length is None:
        return None
    dilated = (kernel - 1) * dilation + 1
    if padding == "same":
        out = length
    elif padding == "causal":
        out = length
    else:  # valid
        out = length - dilated + 1
    return (out + stride - 1) // stride if out > 0 else out


def deconv_output_length(length, kernel: int, padding: str, stride: int, output_padding=None, dilation: int = 1):
    if length is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        return length * stride
    pad = kernel // 2 if padding == "same" else 0
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def product(dims) -> int | None:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)


def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join(["None", *("None" if d is None else str(d) for d in shape)]) + ")"


# ----- helpers for the layers that take an `axis` (core, normalization, preprocessing, attention) -----


def resolve_axes(axes, shape, layer: str, what: str = "axis") -> list[int]:
    """Keras axes (batch = 0, negatives from the end) -> non-negative axes, checked against the input.

    The batch axis is refused: every layer here would make a weight or a
    statistic of the batch size, which is unknown when the model is built.
    """
    rank = len(shape) + 1
    found = []
    for axis in axes if isinstance(axes, list | tuple) else [axes]:
        index = axis + rank if axis < 0 else axis
        if not 0 <= index < rank:
            raise ShapeMismatch(
                f"`{what}` {axis} of `{layer}` is out of range for input of rank {rank} "
                f"(shape {fmt_shape(shape)}); expected an axis in [{-rank}, {rank - 1}]",
                "count axes with the batch axis as 0, or from the end with -1 for the last axis",
                field=what,
            )
        if index == 0:
            raise ShapeMismatch(
                f"`{what}` {axis} of `{layer}` is the batch axis (input shape {fmt_shape(shape)})",
                "axis 0 is the batch; use 1 for the first axis of a sample, or -1 for the last",
                field=what,
            )
        if index in found:
            raise ShapeMismatch(f"`{what}` of `{layer}` names axis {index} twice; received {axes}", field=what)
        found.append(index)
    return found


def known_dims(shape, axes: list[int], layer: str, what: str = "axis") -> list[int]:
    """Sizes of the given (non-negative, batch = 0) axes; each must be known, as a weight is sized by it."""
    dims = [shape[a - 1] for a in axes]
    for axis, dim in zip(axes, dims):
        if dim is None:
            raise ShapeMismatch(
                f"`{layer}` needs a known size on axis {axis} to size its weights; received shape {fmt_shape(shape)}",
                "give that axis a fixed size in the model input's `shape`",
                field=what,
            )
    return dims


# ----- input layout helpers: convolutions, pooling, reshaping and recurrent layers -----
#
# Here rather than in conv.py, so that a spec using pooling, reshaping or recurrent layers but
# no convolution does not import the convolutions (the registry imports a family on first use).

SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def layout(rank: int, data_format) -> str:
    """`(batch, height, width, channels)` or `(batch, channels, height, width)`."""
    spatial = list(SPATIAL_NAMES[rank])
    axes = ["channels", *spatial] if data_format == "channels_first" else [*spatial, "channels"]
    return "(batch, " + ", ".join(axes) + ")"


def axis_label(index: int, rank: int, data_format) -> str:
    """Spatial axis `index` (0-based) as Keras counts it, batch included: `axis 2 (width)`."""
    offset = 2 if data_format == "channels_first" else 1
    return f"axis {index + offset} ({SPATIAL_NAMES[rank][index]})"


def _sibling_type(layer: str, rank: int) -> str | None:
    """The same layer type one rank up (`conv2d` -> `conv3d`), if the format has it."""
    from netspec.layers import LAYER_TYPES  # the registry imports the families, which import this module

    candidate = layer.replace(f"{rank}d", f"{rank + 1}d", 1)
    return candidate if candidate != layer and candidate in LAYER_TYPES else None


def rank_hint(shape, rank: int, data_format, layer: str) -> str:
    """The usual fix for a layer of `rank` spatial dims fed input of the wrong rank."""
    if len(shape) == rank + 2:
        sibling = _sibling_type(layer, rank)
        items = {1: "sequences", 2: "images", 3: "volumes"}[rank]
        return (
            f"the input has one axis more than `{layer}` takes (a sequence of {items}?): wrap it in "
            f"`time_distributed` to apply it to each of the {shape[0] or 'N'} steps of axis 1"
            + (f", or use `{sibling}`" if sibling else "")
        )
    if len(shape) == rank:
        target = [1, *shape] if data_format == "channels_first" else [*shape, 1]
        target = [-1 if d is None else d for d in target]
        return f"add a `reshape` after {{input}} that gives it a channels axis, e.g. `target_shape: {target}`"
    return f"add a `reshape` after {{input}} that gives it the layout {layout(rank, data_format)}"


def split_channels(shape, rank: int, data_format, layer: str):
    """(spatial dims, channels) of an input with `rank` spatial dims, or a mismatch with a fix."""
    if len(shape) != rank + 1:
        raise ShapeMismatch(
            f"`{layer}` expects input of rank {rank + 2} {layout(rank, data_format)}; "
            f"received shape {fmt_shape(shape)} (rank {len(shape) + 1})",
            rank_hint(shape, rank, data_format, layer),
        )
    if data_format == "channels_first":
        return list(shape[1:]), shape[0]
    return list(shape[:-1]), shape[-1]


def join_channels(spatial, channels, data_format):
    return (channels, *spatial) if data_format == "channels_first" else (*spatial, channels)


def positions(spatial) -> int:
    """Number of spatial positions; an unknown size counts as 1 (cost per known position)."""
    return math.prod(d or 1 for d in spatial)


def layer_label(layer: Layer) -> str:
    """How a message names a layer: `conv_b` (conv2d), or `conv2d` when it has no name of its own."""
    return f"`{layer.name}` ({layer.type})" if layer.name else f"`{layer.type}`"


def ran_out(layer: Layer, window: str, index: int, rank: int, data_format, length, shape, field: str) -> ShapeMismatch:
    """The error of a window (kernel, pool) larger than what is left of the input."""
    axis = axis_label(index, rank, data_format)
    return ShapeMismatch(
        f"{layer_label(layer)}: the {window} is larger than {axis} of its input, which has size {length} here; "
        f"received shape {fmt_shape(shape)}",
        f"the size ran out at this layer: {{input}} leaves only {length} on {axis}; use `padding: same` here "
        f"or on earlier layers, a smaller `{field}`, or fewer downsampling (pooling or strided) layers before this one",
        field=field,
    )
