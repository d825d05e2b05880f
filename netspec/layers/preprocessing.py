"""Preprocessing and augmentation layers: rescaling, normalization, resizing and
cropping, the random image augmentations, and the categorical encoders (hashing,
category_encoding, discretization).

The random layers change their input only in training (Keras calls them with
`training=True` inside `fit`); at inference they pass it through. None has
trainable weights.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, Strict, WithJsonSchema, model_validator

from netspec.layers.base import (
    Axes,
    DataFormat,
    Inference,
    KerasCall,
    Layer,
    Number,
    PositiveInt,
    ShapeMismatch,
    fmt_shape,
    known_dims,
    resolve_axes,
)

Seed = Annotated[int, Strict()] | None
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
AffineInterpolation = Literal["nearest", "bilinear"]


def _pair_or_number(low: float, high: float, *, open_low: bool = False):
    """A number, or a list of two numbers, each in [low, high] (or (low, high] where `open_low`)."""
    interval = f"{'(' if open_low else '['}{low}, {high}]"

    def inside(x) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool) and (low < x if open_low else low <= x) and x <= high

    def check(value):
        if inside(value):
            return float(value)
        if isinstance(value, list | tuple) and len(value) == 2 and all(inside(x) for x in value):
            return tuple(float(x) for x in value)
        raise ValueError(f"expected a number, or a list of two numbers [lower, upper], in {interval}; received {value!r}")

    bound = {"exclusiveMinimum" if open_low else "minimum": low, "maximum": high}
    schema = {"oneOf": [{"type": "number", **bound},
                        {"type": "array", "items": {"type": "number", **bound}, "minItems": 2, "maxItems": 2}]}
    return Annotated[Any, PlainValidator(check), WithJsonSchema(schema)]


def _value_range(value):
    ok = (isinstance(value, list | tuple) and len(value) == 2
          and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value))
    if not ok or not value[0] < value[1]:
        raise ValueError(f"expected [low, high], two numbers with low < high, e.g. [0, 255] or [0, 1]; received {value!r}")
    return tuple(value)


ValueRange = Annotated[Any, PlainValidator(_value_range),
                       WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})]


def image_dims(shape, data_format, layer: str):
    """(height, width, channels) of one image (batch excluded), or a mismatch with a fix."""
    if len(shape) != 3:
        if len(shape) == 2:
            hint = f"add a `reshape` that gives the images a channels axis, e.g. target_shape {[*shape, 1]}"
        elif len(shape) == 4:
            hint = "the input has an extra leading axis (a sequence of images?): wrap the layer in `time_distributed`"
        else:
            hint = "image layers read (height, width, channels) images; add a `reshape`"
        raise ShapeMismatch(
            f"`{layer}` expects images of rank 4 (batch, height, width, channels); received shape {fmt_shape(shape)}",
            hint)
    if data_format == "channels_first":
        return shape[1], shape[2], shape[0]
    return shape[0], shape[1], shape[2]


def _with_size(shape, data_format, height, width):
    if data_format == "channels_first":
        return (shape[0], height, width)
    return (height, width, shape[2])


def _elements(shape) -> int:
    count = 1
    for d in shape:
        count *= d or 1
    return count


def _nested_shape(value) -> tuple:
    """Shape of a number or a rectangular nested list of numbers."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ()
    if isinstance(value, list | tuple) and value:
        inner = {_nested_shape(v) for v in value}
        if len(inner) == 1:
            return (len(value), *inner.pop())
    raise ValueError(f"expected a number or a rectangular (nested) list of numbers; received {value!r}")


def _array(value):
    _nested_shape(value)
    return value


def _flat(value) -> list:
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [value]


NumberOrArray = Annotated[
    Any,
    PlainValidator(_array),
    WithJsonSchema({"oneOf": [{"type": "number"}, {"type": "array"}]}),
]


# ----- rescaling and normalization -----


class Rescaling(Layer):
    """Computes `inputs * scale + offset`, e.g. `scale: 0.00392156862745098` (1/255) for images in [0, 1]."""

    type: Literal["rescaling"]
    scale: Number | list[Number] = Field(description="Factor, or one factor per channel (last axis).")
    offset: Number | list[Number] = Field(0.0, description="Offset, or one offset per channel (last axis).")

    keras_class = "Rescaling"

    def infer(self, inputs):
        (shape,) = inputs
        for key in ("scale", "offset"):
            value = getattr(self, key)
            if isinstance(value, list):
                channels = shape[-1] if shape else None
                if not shape or (len(value) not in (1, channels) and channels is not None):
                    raise ShapeMismatch(
                        f"`{key}` has {len(value)} values, which does not broadcast to the input's last axis "
                        f"(shape {fmt_shape(shape)})", "give one value, or one per channel", field=key)
        return Inference([shape], flops=2 * _elements(shape))


class Normalization(Layer):
    """Standardizes features: `(x - mean) / sqrt(variance)` (or the inverse with `invert: true`).

    Give `mean` and `variance` in the spec; without them Keras keeps them as
    non-trainable weights (mean, variance and a sample count) that `adapt()`
    sets from data.
    """

    type: Literal["normalization"]
    axis: Axes | None = Field(
        -1, description="Axis, or list of axes, with one mean and variance per position (-1: per feature on the "
        "last axis); null: one mean and variance for all values.")
    mean: NumberOrArray | None = Field(
        None, description="Mean: a number, or a (nested) list broadcast to the kept axes.")
    variance: NumberOrArray | None = Field(None, description="Variance, the same shape as `mean`; >= 0.")
    invert: bool = Field(False, description="Whether to undo a normalization: `x * sqrt(variance) + mean`.")

    keras_class = "Normalization"

    @model_validator(mode="after")
    def _check_stats(self):
        if (self.mean is None) != (self.variance is None):
            given, missing = ("mean", "variance") if self.variance is None else ("variance", "mean")
            raise ValueError(f"`{given}` is given without `{missing}`; give both, or neither (and adapt the layer)")
        if self.mean is not None:
            mean_shape = _nested_shape(self.mean)
            variance_shape = _nested_shape(self.variance)
            if mean_shape != variance_shape:
                raise ValueError(f"`mean` (shape {list(mean_shape)}) and `variance` (shape {list(variance_shape)}) "
                                 "must have the same shape")
            if any(v < 0 for v in _flat(self.variance)):
                raise ValueError(f"`variance` must not be negative; received {self.variance!r}")
            axes = [] if self.axis is None else self.axis if isinstance(self.axis, list) else [self.axis]
            if len(mean_shape) > len(axes):
                raise ValueError(f"`mean` has rank {len(mean_shape)}, more than the number of axes in `axis` "
                                 f"({len(axes)}, axis={self.axis})")
        return self

    def adapts(self) -> bool:
        """Whether the statistics are learned from the training data (none are given)."""
        return self.mean is None

    def lower_value(self, key, value):
        return tuple(value) if key == "axis" and isinstance(value, list) else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        axes = sorted(resolve_axes([] if self.axis is None else self.axis, shape, self.type))
        dims = known_dims(shape, axes, self.type)
        flops = 2 * _elements(shape)
        if self.mean is None:
            size = 1
            for d in dims:
                size *= d
            return Inference([shape], 0, 2 * size + 1, flops=flops)  # mean, variance, count
        mean_shape = _nested_shape(self.mean)
        for i in range(1, len(mean_shape) + 1):
            if mean_shape[-i] not in (1, dims[-i]):
                raise ShapeMismatch(
                    f"`mean` and `variance` have shape {list(mean_shape)}, which does not broadcast to the sizes "
                    f"{dims} of the input's axes {axes} (shape {fmt_shape(shape)})",
                    "give one value per position of the normalized axes, or a single number", field="mean")
        return Inference([shape], flops=flops)


# ----- resizing and cropping -----


class Resizing(Layer):
    """Resizes images to `height` x `width`."""

    type: Literal["resizing"]
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")
    interpolation: Literal["bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area"] = Field(
        "bilinear", description="Interpolation method.")
    crop_to_aspect_ratio: bool = Field(False, description="Whether to crop to the output's aspect ratio first, "
                                       "rather than distort the image.")
    pad_to_aspect_ratio: bool = Field(False, description="Whether to pad to the output's aspect ratio first, "
                                      "rather than distort the image.")
    fill_mode: Literal["constant"] = Field("constant", description="How padding is filled (only `constant`).")
    fill_value: Number = Field(0.0, description="Value of the padding when `pad_to_aspect_ratio` is true.")
    antialias: bool = Field(False, description="Whether to use an anti-aliasing filter when downsampling.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    keras_class = "Resizing"

    @model_validator(mode="after")
    def _one_aspect_mode(self):
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be true")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        image_dims(shape, self.data_format, self.type)
        return Inference([_with_size(shape, self.data_format, self.height, self.width)])


class CenterCrop(Layer):
    """Crops the central `height` x `width` part of images (an image smaller than that is resized first)."""

    type: Literal["center_crop"]
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    keras_class = "CenterCrop"

    def infer(self, inputs):
        (shape,) = inputs
        image_dims(shape, self.data_format, self.type)
        return Inference([_with_size(shape, self.data_format, self.height, self.width)])


class RandomCrop(Layer):
    """In training, crops a random `height` x `width` part of each image.

    Keras 3.15 passes the input through unchanged at inference, whatever the
    output shape it declares (and netspec reports): layers after it that need
    that size (flatten, dense) then fail in `evaluate` and `predict`. Follow it
    with size-independent layers (convolutions, global pooling), or use
    `center_crop` / `resizing` for a fixed size at inference too.
    """

    type: Literal["random_crop"]
    height: PositiveInt = Field(description="Output height.")
    width: PositiveInt = Field(description="Output width.")
    seed: Seed = Field(None, description="Random seed.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    keras_class = "RandomCrop"

    def infer(self, inputs):
        (shape,) = inputs
        image_dims(shape, self.data_format, self.type)
        return Inference([_with_size(shape, self.data_format, self.height, self.width)])


# ----- random augmentations that keep the image size -----


class _RandomImage(Layer):
    seed: Seed = Field(None, description="Random seed.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")

    def infer(self, inputs):
        (shape,) = inputs
        image_dims(shape, self.data_format, self.type)
        return Inference([shape])


class RandomFlip(_RandomImage):
    """In training, flips images horizontally and/or vertically at random."""

    type: Literal["random_flip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = Field(
        "horizontal_and_vertical", description="Which flips to apply.")

    keras_class = "RandomFlip"


class _Affine(_RandomImage):
    fill_mode: FillMode = Field("reflect", description="How points outside the input are filled.")
    interpolation: AffineInterpolation = Field("bilinear", description="Interpolation method.")
    fill_value: Number = Field(0.0, description="Value of points outside the input when `fill_mode` is `constant`.")


class RandomRotation(_Affine):
    """In training, rotates images by a random angle, a fraction of 2 pi drawn from `factor`."""

    type: Literal["random_rotation"]
    factor: _pair_or_number(-1.0, 1.0) = Field(
        description="Rotation range as a fraction of 2 pi: a number f for [-f, f], or [lower, upper]; in [-1, 1].")

    keras_class = "RandomRotation"


class RandomZoom(_Affine):
    """In training, zooms images in or out at random (a negative factor zooms in)."""

    type: Literal["random_zoom"]
    height_factor: _pair_or_number(-1.0, 1.0, open_low=True) = Field(
        description="Vertical zoom range, a fraction of the height: f for [-f, f], or [lower, upper]; in (-1, 1].")
    width_factor: _pair_or_number(-1.0, 1.0, open_low=True) | None = Field(
        None, description="Horizontal zoom range, as `height_factor`; null keeps the aspect ratio.")

    keras_class = "RandomZoom"


class RandomTranslation(_Affine):
    """In training, shifts images by a random fraction of their height and width."""

    type: Literal["random_translation"]
    height_factor: _pair_or_number(-1.0, 1.0) = Field(
        description="Vertical shift range, a fraction of the height: f for [-f, f], or [lower, upper]; in [-1, 1].")
    width_factor: _pair_or_number(-1.0, 1.0) = Field(
        description="Horizontal shift range, a fraction of the width: f for [-f, f], or [lower, upper]; in [-1, 1].")

    keras_class = "RandomTranslation"


class RandomContrast(_RandomImage):
    """In training, scales each image's deviation from its mean by a random factor in
    [1 - lower, 1 + upper]; values are clipped to `value_range`."""

    type: Literal["random_contrast"]
    factor: _pair_or_number(0.0, 1.0) = Field(
        description="Contrast range: f for [1 - f, 1 + f], or [lower, upper]; in [0, 1].")
    value_range: ValueRange = Field((0, 255), description="Range of the input values, [low, high].")

    keras_class = "RandomContrast"


class RandomBrightness(_RandomImage):
    """In training, adds a random fraction of `value_range` to each image; values are clipped to `value_range`."""

    type: Literal["random_brightness"]
    factor: _pair_or_number(-1.0, 1.0) = Field(
        description="Brightness range as a fraction of `value_range`: f for [-f, f], or [lower, upper]; in [-1, 1].")
    value_range: ValueRange = Field((0, 255), description="Range of the input values, [low, high].")

    keras_class = "RandomBrightness"


# ----- categorical features: ids, bins and their encodings -----

EncodeMode = Literal["int", "one_hot", "multi_hot", "count"]


def _feature_rank(shape, layer: str) -> None:
    if len(shape) < 1:
        raise ShapeMismatch(f"`{layer}` reads a feature axis; received shape {fmt_shape(shape)}",
                            "give the model input `shape: [1]` for one value a sample")


def _one_hot_shape(shape, depth: int) -> tuple:
    """Keras's one_hot: a last axis of 1 becomes the depth; otherwise the depth is a new axis."""
    return (*shape[:-1], depth) if shape[-1] == 1 else (*shape, depth)


class _Encoder(Layer):
    output_mode: EncodeMode = Field("int", description="`int`: one id a value; `one_hot`, `multi_hot` or `count`: "
                                    "a vector of the ids' size.")
    sparse: Literal[False] = Field(False, description="Sparse outputs are not supported (dense only).")

    def depth(self) -> int:  # pragma: no cover - every type overrides
        raise NotImplementedError

    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else "float32"


class Hashing(_Encoder):
    """Hashes strings or integers into `num_bins` ids (`mask_value` to id 0 when given)."""

    type: Literal["hashing"]
    num_bins: PositiveInt = Field(description="Number of hash bins (ids 0 .. num_bins - 1).")
    mask_value: int | str | None = Field(None, description="A value that hashes to id 0 (the mask).")
    salt: Annotated[int, Strict()] | list[Annotated[int, Strict()]] | None = Field(
        None, description="Salt of SipHash64 (an int, or two); null uses FarmHash64.")

    keras_class = "Hashing"

    def lower_value(self, key, value):
        return tuple(value) if key == "salt" and isinstance(value, list) else super().lower_value(key, value)

    def infer(self, inputs):
        (shape,) = inputs
        _feature_rank(shape, self.type)
        if self.output_mode == "int":
            return Inference([shape])
        return Inference([(*shape[:-1], self.num_bins)])


class CategoryEncoding(_Encoder):
    """Encodes integer ids in [0, num_tokens) as one-hot, multi-hot or count vectors."""

    type: Literal["category_encoding"]
    num_tokens: PositiveInt = Field(description="Number of ids: inputs are in [0, num_tokens).")
    output_mode: Literal["one_hot", "multi_hot", "count"] = Field(
        "multi_hot", description="`one_hot`: a vector per id; `multi_hot`: one vector per sample marking its ids; "
        "`count`: as multi_hot, with counts.")

    keras_class = "CategoryEncoding"

    def output_dtype(self) -> str:
        return "float32"

    def infer(self, inputs):
        (shape,) = inputs
        _feature_rank(shape, self.type)
        if self.output_mode == "one_hot":
            return Inference([_one_hot_shape(shape, self.num_tokens)])
        return Inference([(*shape[:-1], self.num_tokens)])


class Discretization(_Encoder):
    """Buckets numbers into bins: ids 0 .. len(bin_boundaries), or encoded vectors of that size.

    Give `bin_boundaries`; or give `num_bins`, and the runner adapts the boundaries to quantiles of
    the training features before fitting."""

    type: Literal["discretization"]
    bin_boundaries: list[Number] | None = Field(None, description="Sorted boundaries of the bins; n boundaries "
                                                "make n + 1 bins.")
    num_bins: PositiveInt | None = Field(None, description="Number of bins to adapt from the training data "
                                         "(without `bin_boundaries`).")
    epsilon: Annotated[float, Strict(), Field(gt=0, lt=1)] = Field(
        0.01, description="Error tolerance of the adapted quantiles.")

    keras_class = "Discretization"

    @model_validator(mode="after")
    def _one_way(self):
        if (self.bin_boundaries is None) == (self.num_bins is None):
            raise ValueError("give `bin_boundaries` or `num_bins` (to adapt them from the training data), "
                             "exactly one")
        if self.bin_boundaries is not None and sorted(self.bin_boundaries) != list(self.bin_boundaries):
            raise ValueError(f"`bin_boundaries` must be sorted; received {self.bin_boundaries}")
        return self

    def output_dtype(self) -> str:
        return "int32" if self.output_mode == "int" else "float32"

    def adapts(self) -> bool:
        """Whether the bin boundaries are learned from the training data."""
        return self.bin_boundaries is None

    def lower(self, name=None, *, extra=None):
        # Keras's Discretization takes no `trainable` argument; with no weights, it changes nothing.
        call = super().lower(name, extra=extra)
        return KerasCall(call.module, call.name, tuple((k, v) for k, v in call.kwargs if k != "trainable"))

    def infer(self, inputs):
        (shape,) = inputs
        _feature_rank(shape, self.type)
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        if self.output_mode == "int":
            return Inference([shape])
        if self.output_mode == "one_hot":
            return Inference([_one_hot_shape(shape, depth)])
        if len(shape) > 1:  # Keras 3.15 declares (..., features, depth) reversed for these
            raise ShapeMismatch(
                f"`discretization` with `output_mode: {self.output_mode}` reads one feature vector a sample; "
                f"received shape {fmt_shape(shape)}", "add a `flatten` before it", field="output_mode")
        return Inference([(depth,)])


# ----- vocabularies: strings and integers to ids, texts to token ids -----

LookupMode = Literal["int", "one_hot", "multi_hot", "count", "tf_idf"]


class _Vocabulary(Layer):
    """A layer with a vocabulary: given in the spec, or learned by adapt (the runner and the scripts adapt
    it on the training features before fitting, see netspec.runtime.adapt)."""

    max_tokens: PositiveInt | None = Field(None, description="Largest vocabulary size, the OOV and mask tokens "
                                           "included; null: no limit.")
    pad_to_max_tokens: bool = Field(False, description="Whether encoded vectors (not `int` mode) are `max_tokens` "
                                    "wide, however small the vocabulary: a width known before adapting.")
    idf_weights: list[Number] | None = Field(None, description="`tf_idf` mode with a given `vocabulary`: one "
                                             "inverse document frequency per vocabulary term.")
    sparse: Literal[False] = Field(False, description="Sparse outputs are not supported (dense only).")

    def vocabulary_terms(self) -> list | None:
        return self.vocabulary

    def oov_terms(self) -> int:
        return 1

    def adapts(self) -> bool:
        """Whether the vocabulary is learned from the training data (none is given)."""
        return self.vocabulary_terms() is None

    @model_validator(mode="after")
    def _known_width(self):
        if self.output_mode == "int":
            if self.idf_weights is not None:
                raise ValueError("`idf_weights` is for `output_mode: tf_idf`")
            return self
        if self.adapts() and not (self.max_tokens and self.pad_to_max_tokens):
            raise ValueError(f"`output_mode: {self.output_mode}` gives vectors as wide as the vocabulary, which "
                             "adapting learns only from the training data: give `max_tokens` with "
                             "`pad_to_max_tokens: true` (a fixed width), or a `vocabulary`")
        if self.output_mode == "tf_idf" and not self.adapts():
            if self.idf_weights is None or len(self.idf_weights) != len(self.vocabulary_terms()):
                raise ValueError("`output_mode: tf_idf` with a given `vocabulary` needs `idf_weights`, one per "
                                 "vocabulary term")
        if self.max_tokens is not None and not self.adapts() and self.depth() > self.max_tokens:
            raise ValueError(f"the vocabulary and OOV tokens ({self.depth()}) are more than `max_tokens` "
                             f"({self.max_tokens})")
        return self

    def depth(self) -> int:
        """The width of an encoded vector: the vocabulary and the OOV ids (a mask takes none)."""
        if self.max_tokens is not None and self.pad_to_max_tokens:
            return self.max_tokens
        return len(self.vocabulary_terms()) + self.oov_terms()

    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else "float32"


class _Lookup(_Vocabulary):
    num_oov_indices: Annotated[int, Strict(), Field(ge=0)] = Field(
        1, description="Number of out-of-vocabulary ids (values not in the vocabulary hash into them).")
    output_mode: LookupMode = Field("int", description="`int`: one id a value; `one_hot`, `multi_hot`, `count` "
                                    "or `tf_idf`: a vector as wide as the vocabulary.")

    def oov_terms(self) -> int:
        return self.num_oov_indices

    def infer(self, inputs):
        (shape,) = inputs
        _feature_rank(shape, self.type)
        if self.output_mode == "int":
            return Inference([shape])
        if self.output_mode == "one_hot":
            return Inference([_one_hot_shape(shape, self.depth())])
        return Inference([(*shape[:-1], self.depth())])


class StringLookup(_Lookup):
    """Maps strings to integer ids from a vocabulary (given, or adapted to the training data), or encodes them
    as vectors of the vocabulary's width."""

    type: Literal["string_lookup"]
    vocabulary: list[str] | None = Field(None, description="The terms, in id order; null: adapt them to the "
                                         "training data.")
    mask_token: str | None = Field(None, description="A term that maps to id 0 (the mask); null: none.")
    oov_token: str = Field("[UNK]", description="The term of the OOV ids (for the vocabulary's listing).")

    keras_class = "StringLookup"


class IntegerLookup(_Lookup):
    """Maps integers (e.g. raw category codes) to contiguous ids from a vocabulary (given, or adapted to the
    training data), or encodes them as vectors of the vocabulary's width."""

    type: Literal["integer_lookup"]
    vocabulary: list[Annotated[int, Strict()]] | None = Field(
        None, description="The values, in id order; null: adapt them to the training data.")
    mask_token: Annotated[int, Strict()] | None = Field(None, description="A value that maps to id 0 (the mask).")
    oov_token: Annotated[int, Strict()] = Field(-1, description="The value of the OOV ids.")

    keras_class = "IntegerLookup"


class TextVectorization(_Vocabulary):
    """Turns texts (one string a sample) into token ids, or a vector of token counts: standardizes, splits
    and maps the tokens by a vocabulary, given or adapted to the training texts. In `int` mode the ids
    are padded or cut to `output_sequence_length`; without it their count varies (shape [null], as Keras
    declares it), which an embedding and global pooling accept."""

    type: Literal["text_vectorization"]
    vocabulary: list[str] | None = Field(None, description="The tokens, in id order (after the mask \"\" and "
                                         "the OOV \"[UNK]\"); null: adapt them to the training texts.")
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation"] | None = Field(
        "lower_and_strip_punctuation", description="How texts are standardized first; null: as they are.")
    split: Literal["whitespace", "character"] | None = Field(
        "whitespace", description="How a text splits into tokens; null: a text is one token.")
    ngrams: Annotated[int, Strict(), Field(ge=2)] | None = Field(
        None, description="Also make n-grams up to this length (2: words and pairs of words).")
    output_mode: Literal["int", "multi_hot", "count", "tf_idf"] = Field(
        "int", description="`int`: a sequence of token ids; `multi_hot`, `count` or `tf_idf`: one vector as "
        "wide as the vocabulary a text.")
    output_sequence_length: PositiveInt | None = Field(
        None, description="`int` mode: pad or cut each sequence to this length; null: the longest text's.")
    ragged: Literal[False] = Field(False, description="Ragged outputs are not supported.")

    keras_class = "TextVectorization"

    @model_validator(mode="after")
    def _sequence_length_in_int_mode(self):
        if self.output_sequence_length is not None and self.output_mode != "int":
            raise ValueError("`output_sequence_length` is for `output_mode: int`")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        one_text = shape == () or (shape == (1,) and self.output_mode == "int")
        if not one_text:
            raise ShapeMismatch(
                f"`text_vectorization` reads one text a sample; received shape {fmt_shape(shape)}",
                "give the string input `shape: []`" + ("" if self.output_mode != "int" or len(shape) != 1 else
                                                      " (or [1])"))
        if self.output_mode == "int":
            return Inference([(self.output_sequence_length,)])
        return Inference([(self.depth(),)])
