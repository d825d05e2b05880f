"""Hypothesis strategies: random valid specs, as plain dicts, across every layer family.

A spec is grown layer by layer. Each step looks at the shape of the tensor it
extends, picks a layer type that can take it and draws that type's arguments
within what the shape allows (a kernel no larger than what is left of an axis,
groups that divide the channels, axes that exist, a `target_shape` that
multiplies out), so draws are valid by construction rather than filtered. The
shape after each layer comes from netspec's own rule; the differential test
then checks every one of them against the model Keras builds.

`GENERATORS` holds one generator per layer type: `when(kind, shape, dtype)`
says whether the type can take a tensor, `draw(draw, type, shape, dtype)` returns
the layer's dict. Merges and attention read several tensors and are grown by
`Builder.merge` and `Builder.attend` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from netspec.layers import LAYER_TYPES
from netspec.layers.base import deconv_output_length

# ----- small draws -----

ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "softmax", "gelu", "linear", "elu"]
INT_DTYPES = ("int32", "int64")


def pick(draw, values):
    return draw(st.sampled_from(list(values)))


def flag(draw) -> bool:
    return draw(st.booleans())


def put(draw, layer: dict, key: str, value, default) -> None:
    """Set `key` when it differs from Keras's default; sometimes write the default out too."""
    if value != default or flag(draw):
        layer[key] = value


def maybe(draw, layer: dict, key: str, strategy) -> None:
    """Leave `key` at its default, or draw a value for it."""
    if flag(draw):
        layer[key] = draw(strategy)


def per_axis(draw, values: list[int]):
    """One value per axis, or a single int when they are all equal (Keras takes both forms)."""
    if len(set(values)) == 1 and flag(draw):
        return values[0]
    return list(values)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def rate(draw) -> float:
    return pick(draw, [0.0, 0.1, 0.25, 0.5])


def positive(draw, top: int = 6) -> int:
    return draw(st.integers(1, top))


def keras_axis(draw, index: int, rank: int) -> int:
    """Axis `index` (0 = first axis after the batch) as Keras counts it: 1-based, or negative from the end."""
    return index + 1 if flag(draw) else index - rank


# ----- shapes and layouts -----


def is_int(dtype: str) -> bool:
    return dtype in INT_DTYPES


def data_format(draw, layer: dict, shape, need_channels: bool = True):
    """Draw a layout under which the channels are known (if needed); most often the default."""
    choices = []
    if shape[-1] is not None or not need_channels:
        choices += [None, None, "channels_last"]
    if shape[0] is not None or not need_channels:
        choices.append("channels_first")
    fmt = pick(draw, choices)
    if fmt is not None:
        layer["data_format"] = fmt
    return fmt


def split(shape, fmt):
    """(spatial sizes, channels) of `shape` in layout `fmt`."""
    if fmt == "channels_first":
        return list(shape[1:]), shape[0]
    return list(shape[:-1]), shape[-1]


def windows(draw, lengths, padding: str, dilation=None, most: int = 3) -> list[int]:
    """Window sizes per axis that fit what is left of each axis under `padding`."""
    sizes = []
    for index, length in enumerate(lengths):
        d = dilation[index] if dilation else 1
        top = most if padding != "valid" or length is None else min(most, (length - 1) // d + 1)
        sizes.append(draw(st.integers(1, top)))
    return sizes


def strides_and_dilation(draw, rank: int, both: bool = False) -> tuple[list[int], list[int]]:
    """Strides and dilation rates; most layers refuse strides > 1 together with dilation > 1 (the
    separable and depthwise convolutions take both: `both`)."""
    kind = pick(draw, ["plain", "strided", "dilated"] + (["both"] if both else []))
    strides = [pick(draw, [1, 2]) for _ in range(rank)] if kind in ("strided", "both") else [1] * rank
    dilation = [pick(draw, [1, 2]) for _ in range(rank)] if kind in ("dilated", "both") else [1] * rank
    return strides, dilation


def factorize(draw, size: int, parts: int) -> list[int]:
    """`size` as a product of `parts` factors, drawn at random."""
    out = []
    for _ in range(parts - 1):
        factor = pick(draw, divisors(size))
        out.append(factor)
        size //= factor
    return [*out, size]


# ----- one generator per layer type -----


@dataclass
class Generator:
    when: Callable
    draw: Callable


GENERATORS: dict[str, Generator] = {}


def gen(*types: str, when: Callable):
    def register(fn):
        for kind in types:
            GENERATORS[kind] = Generator(when, fn)
        return fn

    return register


def rank_of(kind: str) -> int:
    """The spatial rank in a type name: `conv2d` -> 2."""
    for rank in (1, 2, 3):
        if f"{rank}d" in kind:
            return rank
    raise ValueError(kind)


def anything(kind, shape, dtype) -> bool:
    return not is_int(dtype)


def last_known(kind, shape, dtype) -> bool:
    return len(shape) >= 1 and shape[-1] is not None and not is_int(dtype)


def spatial(kind, shape, dtype) -> bool:
    """(spatial axes..., channels) for the rank in the type's name, in floats."""
    return len(shape) == rank_of(kind) + 1 and not is_int(dtype)


def spatial_any_dtype(kind, shape, dtype) -> bool:
    return len(shape) == rank_of(kind) + 1


def channels_known(kind, shape, dtype) -> bool:
    """As `spatial`, with a channels axis of known size in some layout (kernels are sized by it)."""
    return spatial(kind, shape, dtype) and (shape[-1] is not None or shape[0] is not None)


def always(kind, shape, dtype) -> bool:
    return True


# core


@gen("dense", when=last_known)
def _dense(draw, kind, shape, dtype):
    layer = {"type": "dense", "units": positive(draw, 8)}
    maybe(draw, layer, "activation", st.sampled_from(ACTIVATIONS))
    maybe(draw, layer, "use_bias", st.booleans())
    if draw(st.integers(0, 5)) == 0:
        layer["lora_rank"] = positive(draw, 3)
        maybe(draw, layer, "lora_alpha", st.sampled_from([1.0, 4.0]))
    return layer


@gen("embedding", when=lambda kind, shape, dtype: is_int(dtype) and len(shape) >= 1)
def _embedding(draw, kind, shape, dtype):
    layer = {"type": "embedding", "input_dim": draw(st.integers(2, 30)), "output_dim": positive(draw, 6)}
    maybe(draw, layer, "mask_zero", st.booleans())
    if draw(st.integers(0, 4)) == 0:
        layer["lora_rank"] = positive(draw, 2)
    return layer


_LETTERS = "bcdefghijk"


@gen("einsum_dense", when=last_known)
def _einsum_dense(draw, kind, shape, dtype):
    """A projection of the last axis, written out (`abc,cd->abd`), with `...`, or to two axes (`...c,cde->...de`)."""
    rank = len(shape)
    axes, last = _LETTERS[:rank], _LETTERS[rank]
    form = pick(draw, ["full", "ellipsis", "two"])
    units = [positive(draw, 5) for _ in range(2 if form == "two" else 1)]
    if form == "full":
        out = [None if flag(draw) else d for d in shape[:-1]] + units
        equation = f"a{axes},{axes[-1]}{last}->a{axes[:-1]}{last}"
        layer = {"type": kind, "equation": equation, "output_shape": out}
    elif form == "ellipsis":
        equation = f"...{axes[-1]},{axes[-1]}{last}->...{last}"
        layer = {"type": kind, "equation": equation, "output_shape": units[0] if flag(draw) else units}
    else:
        extra = _LETTERS[rank + 1]
        equation = f"...{axes[-1]},{axes[-1]}{last}{extra}->...{last}{extra}"
        layer = {"type": kind, "equation": equation, "output_shape": units}
    out_letters = equation.split("->")[1].replace("...", "")
    if flag(draw):
        layer["bias_axes"] = out_letters[-1] if flag(draw) or form != "two" else out_letters[-2:]
    maybe(draw, layer, "activation", st.sampled_from(ACTIVATIONS))
    if draw(st.integers(0, 5)) == 0:
        layer["lora_rank"] = positive(draw, 2)
    return layer


@gen("masking", when=anything)
def _masking(draw, kind, shape, dtype):
    layer = {"type": kind}
    maybe(draw, layer, "mask_value", st.sampled_from([0.0, -1.0]))
    return layer


@gen("alpha_dropout", when=anything)
def _alpha_dropout(draw, kind, shape, dtype):
    layer = {"type": kind, "rate": rate(draw)}
    maybe(draw, layer, "seed", st.integers(0, 9))
    return layer


@gen("activity_regularization", when=anything)
def _activity_regularization(draw, kind, shape, dtype):
    layer = {"type": kind}
    maybe(draw, layer, "l1", st.sampled_from([0.0, 0.01]))
    maybe(draw, layer, "l2", st.sampled_from([0.0, 0.01]))
    return layer


@gen("identity", when=always)
def _identity(draw, kind, shape, dtype):
    return {"type": "identity"}


@gen("activation", when=anything)
def _activation(draw, kind, shape, dtype):
    return {"type": "activation", "activation": pick(draw, ACTIVATIONS)}


@gen("re_lu", when=anything)
def _relu(draw, kind, shape, dtype):
    layer = {"type": "re_lu"}
    maybe(draw, layer, "max_value", st.sampled_from([None, 1.0, 6.0]))
    maybe(draw, layer, "negative_slope", st.sampled_from([0.0, 0.1]))
    maybe(draw, layer, "threshold", st.sampled_from([0.0, 0.5]))
    return layer


@gen("leaky_re_lu", when=anything)
def _leaky(draw, kind, shape, dtype):
    layer = {"type": "leaky_re_lu"}
    maybe(draw, layer, "negative_slope", st.sampled_from([0.01, 0.3]))
    return layer


@gen("elu", when=anything)
def _elu(draw, kind, shape, dtype):
    layer = {"type": "elu"}
    maybe(draw, layer, "alpha", st.sampled_from([0.5, 1.0]))
    return layer


@gen("softmax", when=anything)
def _softmax(draw, kind, shape, dtype):
    layer = {"type": "softmax"}
    if flag(draw):
        axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
        keras_axes = [keras_axis(draw, a, len(shape)) for a in axes]
        layer["axis"] = keras_axes[0] if len(keras_axes) == 1 and flag(draw) else keras_axes
    return layer


@gen("p_re_lu", when=anything)
def _prelu(draw, kind, shape, dtype):
    layer = {"type": "p_re_lu"}
    # Each axis not shared has one slope per position: its size must be known.
    shared = {axis for axis, size in enumerate(shape, start=1) if size is None}
    shared |= set(draw(st.lists(st.integers(1, len(shape)), max_size=len(shape), unique=True)))
    if shared:
        axes = sorted(shared)
        layer["shared_axes"] = axes[0] if len(axes) == 1 and flag(draw) else axes
    maybe(draw, layer, "alpha_initializer", st.sampled_from(["zeros", "ones"]))
    return layer


@gen("dropout", when=anything)
def _dropout(draw, kind, shape, dtype):
    layer = {"type": "dropout", "rate": rate(draw)}
    if flag(draw):
        layer["noise_shape"] = [None] + [pick(draw, [None, 1] if d is None else [None, 1, d]) for d in shape]
    maybe(draw, layer, "seed", st.integers(0, 9))
    return layer


@gen("spatial_dropout1d", "spatial_dropout2d", "spatial_dropout3d", when=spatial)
def _spatial_dropout(draw, kind, shape, dtype):
    layer = {"type": kind, "rate": rate(draw)}
    if kind != "spatial_dropout1d":
        data_format(draw, layer, shape, need_channels=False)
    return layer


@gen("gaussian_dropout", when=anything)
def _gaussian_dropout(draw, kind, shape, dtype):
    return {"type": "gaussian_dropout", "rate": rate(draw)}


@gen("gaussian_noise", when=anything)
def _gaussian_noise(draw, kind, shape, dtype):
    return {"type": "gaussian_noise", "stddev": pick(draw, [0.0, 0.1, 1.0])}


# convolution


def _sliding(draw, layer: dict, kind: str, shape, *, causal: bool = False, both: bool = False):
    """Layout, padding, strides, dilation and kernel of a sliding-window layer; returns the channels."""
    rank = rank_of(kind)
    fmt = data_format(draw, layer, shape)
    lengths, channels = split(shape, fmt)
    padding = pick(draw, ["valid", "same", "causal"] if causal else ["valid", "same"])
    put(draw, layer, "padding", padding, "valid")
    strides, dilation = strides_and_dilation(draw, rank, both)
    if strides != [1] * rank:
        layer["strides"] = per_axis(draw, strides)
    if dilation != [1] * rank:
        layer["dilation_rate"] = per_axis(draw, dilation)
    layer["kernel_size"] = per_axis(draw, windows(draw, lengths, padding, dilation))
    return channels


@gen("conv1d", "conv2d", "conv3d", when=channels_known)
def _conv(draw, kind, shape, dtype):
    layer = {"type": kind}
    channels = _sliding(draw, layer, kind, shape, causal=kind == "conv1d")
    groups = pick(draw, divisors(channels)) if flag(draw) else 1
    layer["filters"] = groups * positive(draw, 3)
    put(draw, layer, "groups", groups, 1)
    maybe(draw, layer, "activation", st.sampled_from(ACTIVATIONS))
    maybe(draw, layer, "use_bias", st.booleans())
    return layer


@gen("conv1d_transpose", "conv2d_transpose", "conv3d_transpose", when=channels_known)
def _conv_transpose(draw, kind, shape, dtype):
    rank = rank_of(kind)
    layer = {"type": kind, "filters": positive(draw, 4)}
    fmt = data_format(draw, layer, shape)
    lengths, _ = split(shape, fmt)
    padding = pick(draw, ["valid", "same"])
    put(draw, layer, "padding", padding, "valid")
    strides, dilation = strides_and_dilation(draw, rank)
    kernel = [positive(draw, 3) for _ in range(rank)]
    layer["kernel_size"] = per_axis(draw, kernel)
    if strides != [1] * rank:
        layer["strides"] = per_axis(draw, strides)
    if dilation != [1] * rank:
        layer["dilation_rate"] = per_axis(draw, dilation)
    if flag(draw):
        extra = [draw(st.integers(0, s - 1)) for s in strides]
        sizes = [deconv_output_length(n, k, padding, s, p, d)
                 for n, k, s, p, d in zip(lengths, kernel, strides, extra, dilation)]
        if all(size is None or size > 0 for size in sizes):
            layer["output_padding"] = per_axis(draw, extra)
    maybe(draw, layer, "use_bias", st.booleans())
    return layer


@gen("separable_conv1d", "separable_conv2d", when=channels_known)
def _separable(draw, kind, shape, dtype):
    layer = {"type": kind, "filters": positive(draw, 4)}
    _sliding(draw, layer, kind, shape, both=True)
    maybe(draw, layer, "depth_multiplier", st.integers(1, 2))
    maybe(draw, layer, "use_bias", st.booleans())
    maybe(draw, layer, "activation", st.sampled_from(ACTIVATIONS))
    return layer


@gen("depthwise_conv1d", "depthwise_conv2d", when=channels_known)
def _depthwise(draw, kind, shape, dtype):
    layer = {"type": kind}
    _sliding(draw, layer, kind, shape, both=True)
    maybe(draw, layer, "depth_multiplier", st.integers(1, 3))
    maybe(draw, layer, "use_bias", st.booleans())
    return layer


# pooling


@gen("max_pooling1d", "max_pooling2d", "max_pooling3d", "average_pooling1d", "average_pooling2d",
     "average_pooling3d", when=spatial)
def _pooling(draw, kind, shape, dtype):
    rank = rank_of(kind)
    layer = {"type": kind}
    fmt = data_format(draw, layer, shape, need_channels=False)
    lengths, _ = split(shape, fmt)
    padding = pick(draw, ["valid", "same"])
    put(draw, layer, "padding", padding, "valid")
    pool = windows(draw, lengths, padding)
    if kind.startswith("average") or pool != [2] * rank or flag(draw):
        layer["pool_size"] = per_axis(draw, pool)
    if flag(draw):
        layer["strides"] = per_axis(draw, [positive(draw, 3) for _ in range(rank)])
    return layer


@gen(*(f"global_{op}_pooling{r}d" for op in ("max", "average") for r in (1, 2, 3)), when=spatial)
def _global_pooling(draw, kind, shape, dtype):
    layer = {"type": kind}
    data_format(draw, layer, shape, need_channels=False)
    maybe(draw, layer, "keepdims", st.booleans())
    return layer


# reshaping


@gen("flatten", when=always)
def _flatten(draw, kind, shape, dtype):
    layer = {"type": "flatten"}
    if len(shape) >= 2:
        data_format(draw, layer, shape, need_channels=False)
    return layer


@gen("reshape", when=always)
def _reshape(draw, kind, shape, dtype):
    known = math.prod(d for d in shape if d is not None)
    target = factorize(draw, known, draw(st.integers(1, 3)))
    if None in shape:
        target.insert(draw(st.integers(0, len(target))), -1)  # the unknown part
    elif flag(draw):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return {"type": "reshape", "target_shape": target}


@gen("permute", when=always)
def _permute(draw, kind, shape, dtype):
    return {"type": "permute", "dims": draw(st.permutations(list(range(1, len(shape) + 1))))}


@gen("repeat_vector", when=lambda kind, shape, dtype: len(shape) == 1)
def _repeat_vector(draw, kind, shape, dtype):
    return {"type": "repeat_vector", "n": positive(draw, 4)}


def _amount(draw, rank: int, fits: list[int | None] | None = None):
    """A padding or cropping amount in one of Keras's forms; `fits` bounds before + after per axis."""
    pairs = []
    for index in range(rank):
        room = 4 if fits is None or fits[index] is None else min(4, fits[index])
        before = draw(st.integers(0, room // 2))
        after = draw(st.integers(0, room - before if fits is not None else 2))
        pairs.append((before, after))
    if all(a == b == pairs[0][0] for a, b in pairs) and flag(draw):
        return pairs[0][0]
    if rank == 1:
        return list(pairs[0])
    if all(a == b for a, b in pairs) and flag(draw):
        return [a for a, _ in pairs]
    return [list(p) for p in pairs]


@gen("zero_padding1d", "zero_padding2d", "zero_padding3d", when=spatial_any_dtype)
def _zero_padding(draw, kind, shape, dtype):
    layer = {"type": kind}
    if kind != "zero_padding1d":
        data_format(draw, layer, shape, need_channels=False)
    if flag(draw):
        layer["padding"] = _amount(draw, rank_of(kind))
    return layer


@gen("cropping1d", "cropping2d", "cropping3d", when=spatial_any_dtype)
def _cropping(draw, kind, shape, dtype):
    layer = {"type": kind}
    fmt = data_format(draw, layer, shape, need_channels=False) if kind != "cropping1d" else None
    lengths, _ = split(shape, fmt)
    # Crop less than each axis holds: at most length - 1 in all.
    fits = [None if n is None else n - 1 for n in lengths]
    amount = _amount(draw, rank_of(kind), fits)
    defaults = {"cropping1d": 1, "cropping2d": 0, "cropping3d": 1}
    if amount != defaults[kind] or flag(draw):
        layer["cropping"] = amount
    return layer


@gen("up_sampling1d", "up_sampling2d", "up_sampling3d", when=spatial_any_dtype)
def _up_sampling(draw, kind, shape, dtype):
    rank = rank_of(kind)
    layer = {"type": kind}
    if rank > 1:
        data_format(draw, layer, shape, need_channels=False)
    if flag(draw):
        layer["size"] = positive(draw, 3) if rank == 1 else per_axis(draw, [positive(draw, 3) for _ in range(rank)])
    if kind == "up_sampling2d" and not is_int(dtype):
        maybe(draw, layer, "interpolation", st.sampled_from(["nearest", "bilinear", "bicubic"]))
    return layer


# recurrent


def _sequence(kind, shape, dtype) -> bool:
    return len(shape) == 2 and shape[-1] is not None and not is_int(dtype)


def rnn_layer(draw, kind: str, shape, *, states: bool = True) -> dict:
    layer = {"type": kind, "units": positive(draw, 6)}
    maybe(draw, layer, "return_sequences", st.booleans())
    if states:
        maybe(draw, layer, "return_state", st.booleans())
    maybe(draw, layer, "go_backwards", st.booleans())
    maybe(draw, layer, "use_bias", st.booleans())
    maybe(draw, layer, "activation", st.sampled_from(["tanh", "relu", None]))
    if flag(draw):
        layer["dropout"] = rate(draw)
        layer["recurrent_dropout"] = rate(draw)
    if shape[0] is not None:
        maybe(draw, layer, "unroll", st.booleans())
    if kind == "gru":
        maybe(draw, layer, "reset_after", st.booleans())
    if kind == "lstm":
        maybe(draw, layer, "unit_forget_bias", st.booleans())
    return layer


@gen("simple_rnn", "lstm", "gru", when=_sequence)
def _rnn(draw, kind, shape, dtype):
    return rnn_layer(draw, kind, shape)


def cell(draw) -> dict:
    kind = pick(draw, ["simple_rnn_cell", "lstm_cell", "gru_cell"])
    layer = {"type": kind, "units": positive(draw, 5)}
    maybe(draw, layer, "use_bias", st.booleans())
    maybe(draw, layer, "activation", st.sampled_from(["tanh", "relu", None]))
    maybe(draw, layer, "dropout", st.sampled_from([0.0, 0.1]))
    if kind == "gru_cell":
        maybe(draw, layer, "reset_after", st.booleans())
    return layer


@gen("rnn", when=_sequence)
def _rnn_cells(draw, kind, shape, dtype):
    cells = [cell(draw) for _ in range(draw(st.integers(1, 3)))]
    layer = {"type": kind, "cell": cells[0] if len(cells) == 1 and flag(draw) else cells}
    maybe(draw, layer, "return_sequences", st.booleans())
    if not isinstance(layer["cell"], list) or all(c["type"] != "lstm_cell" for c in cells):
        maybe(draw, layer, "return_state", st.booleans())
    maybe(draw, layer, "go_backwards", st.booleans())
    if shape[0] is not None:
        maybe(draw, layer, "unroll", st.booleans())
    return layer


def _frames(kind, shape, dtype) -> bool:
    """A sequence of frames of known size: (timesteps, spatial axes..., channels)."""
    return len(shape) == rank_of(kind) + 2 and None not in shape[1:] and not is_int(dtype)


def conv_lstm_layer(draw, kind: str, shape, *, states: bool = True) -> dict:
    layer = {"type": kind, "filters": positive(draw, 3)}
    _sliding(draw, layer, kind, shape[1:])
    maybe(draw, layer, "return_sequences", st.booleans())
    if states:
        maybe(draw, layer, "return_state", st.booleans())
    maybe(draw, layer, "use_bias", st.booleans())
    maybe(draw, layer, "go_backwards", st.booleans())
    return layer


@gen("conv_lstm1d", "conv_lstm2d", "conv_lstm3d", when=_frames)
def _conv_lstm(draw, kind, shape, dtype):
    return conv_lstm_layer(draw, kind, shape)


# wrappers


@gen("bidirectional", when=lambda kind, shape, dtype: _sequence(kind, shape, dtype)
     or _frames("conv_lstm1d", shape, dtype))
def _bidirectional(draw, kind, shape, dtype):
    if len(shape) == 2:
        inner = pick(draw, ["simple_rnn", "lstm", "gru"])
        forward = rnn_layer(draw, inner, shape)
    else:
        inner = "conv_lstm1d"
        forward = conv_lstm_layer(draw, inner, shape)
    forward.pop("go_backwards", None)
    layer = {"type": "bidirectional", "layer": forward}
    maybe(draw, layer, "merge_mode", st.sampled_from(["concat", "sum", "mul", "ave", None]))
    if inner != "conv_lstm1d" and draw(st.integers(0, 3)) == 0:
        backward = rnn_layer(draw, pick(draw, ["simple_rnn", "lstm", "gru"]), shape, states=False)
        backward["units"] = forward["units"]
        backward["go_backwards"] = True
        for key in ("return_sequences", "return_state"):
            backward[key] = forward.get(key, False)
        if backward["return_state"] and backward["type"] != forward["type"]:
            backward["type"] = forward["type"]  # the states must match in number
            backward.pop("reset_after", None)
            backward.pop("unit_forget_bias", None)
        layer["backward_layer"] = backward
    freeze_sometimes(draw, forward)
    return layer


def _frame_layer(draw, shape, dtype) -> dict:
    """A layer for `time_distributed` to apply to each frame of `shape`: any single-input type
    (recurrent ones without state outputs, as the wrapper takes one output)."""
    kind = pick(draw, [kind for kind in FRAME_TYPES if GENERATORS[kind].when(kind, shape, dtype)])
    if kind in ("simple_rnn", "lstm", "gru"):
        return rnn_layer(draw, kind, shape, states=False)
    if kind.startswith("conv_lstm"):
        return conv_lstm_layer(draw, kind, shape, states=False)
    return GENERATORS[kind].draw(draw, kind, shape, dtype)


@gen("time_distributed", when=lambda kind, shape, dtype: len(shape) >= 2 and any(
    GENERATORS[k].when(k, shape[1:], dtype) for k in FRAME_TYPES))
def _time_distributed(draw, kind, shape, dtype):
    inner = _frame_layer(draw, shape[1:], dtype)
    freeze_sometimes(draw, inner)
    return {"type": "time_distributed", "layer": inner}


# normalization


def _known_axes(shape) -> list[int]:
    return [i for i, d in enumerate(shape) if d is not None]


def _axes_field(draw, shape, indices: list[int]):
    """Keras axes for `indices` (0 = first axis after the batch): an int, or a list."""
    axes = [keras_axis(draw, i, len(shape)) for i in indices]
    if len(axes) == 1 and flag(draw):
        return axes[0]
    return axes


def _known_subset(draw, shape) -> list[int]:
    return draw(st.lists(st.sampled_from(_known_axes(shape)), min_size=1, max_size=2, unique=True))


def _has_known(kind, shape, dtype) -> bool:
    return bool(_known_axes(shape)) and not is_int(dtype)


@gen("batch_normalization", when=_has_known)
def _batch_norm(draw, kind, shape, dtype):
    layer = {"type": kind}
    index = pick(draw, _known_axes(shape))
    if index != len(shape) - 1 or flag(draw):
        layer["axis"] = keras_axis(draw, index, len(shape))
    maybe(draw, layer, "center", st.booleans())
    maybe(draw, layer, "scale", st.booleans())
    maybe(draw, layer, "momentum", st.sampled_from([0.9, 0.99]))
    if draw(st.integers(0, 4)) == 0:
        layer["renorm"] = True
        maybe(draw, layer, "renorm_clipping", st.just({"rmax": 3.0, "rmin": 0.3, "dmax": 5.0}))
    return layer


@gen("layer_normalization", "rms_normalization", when=_has_known)
def _layer_norm(draw, kind, shape, dtype):
    layer = {"type": kind}
    indices = _known_subset(draw, shape)
    if indices != [len(shape) - 1] or flag(draw):
        layer["axis"] = _axes_field(draw, shape, indices)
    if kind == "layer_normalization":
        maybe(draw, layer, "center", st.booleans())
        maybe(draw, layer, "scale", st.booleans())
    return layer


@gen("group_normalization", when=_has_known)
def _group_norm(draw, kind, shape, dtype):
    index = pick(draw, _known_axes(shape))
    channels = shape[index]
    layer = {"type": kind, "groups": pick(draw, [*divisors(channels), -1])}
    if index != len(shape) - 1 or flag(draw):
        layer["axis"] = keras_axis(draw, index, len(shape))
    maybe(draw, layer, "center", st.booleans())
    return layer


@gen("unit_normalization", when=anything)
def _unit_norm(draw, kind, shape, dtype):
    layer = {"type": kind}
    if flag(draw):
        indices = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=2, unique=True))
        layer["axis"] = _axes_field(draw, shape, indices)
    return layer


# preprocessing


def _image(kind, shape, dtype) -> bool:
    return len(shape) == 3 and not is_int(dtype)


@gen("rescaling", when=anything)
def _rescaling(draw, kind, shape, dtype):
    def amount(values):
        if shape[-1] is not None and flag(draw):
            return [pick(draw, values) for _ in range(pick(draw, [1, shape[-1]]))]
        return pick(draw, values)

    layer = {"type": kind, "scale": amount([1 / 255, 0.5, 2.0])}
    if flag(draw):
        layer["offset"] = amount([0.0, -1.0])
    return layer


@gen("normalization", when=_has_known)
def _normalization(draw, kind, shape, dtype):
    layer = {"type": kind}
    form = pick(draw, ["default", "none", "one", "two"])
    if form == "none":
        layer["axis"] = None
        indices = []
    elif form == "default":
        indices = [len(shape) - 1] if shape[-1] is not None else [pick(draw, _known_axes(shape))]
        if indices != [len(shape) - 1]:
            layer["axis"] = keras_axis(draw, indices[0], len(shape))
    else:
        indices = sorted(_known_subset(draw, shape))
        layer["axis"] = _axes_field(draw, shape, indices)
    if flag(draw):  # statistics given, rather than adapted
        size = shape[indices[-1]] if indices and flag(draw) else None
        layer["mean"] = [0.5] * size if size else 0.5
        layer["variance"] = [2.0] * size if size else 2.0
    maybe(draw, layer, "invert", st.booleans())
    return layer


def _image_size(draw, shape, layer: dict, fmt) -> None:
    """An output size; no larger than the input for `random_crop` (Keras crops a window of it)."""
    (height, width), _ = split(shape, fmt)
    room = 0 if layer["type"] == "random_crop" else 4
    layer["height"] = positive(draw, (height or 8) + room)
    layer["width"] = positive(draw, (width or 8) + room)


@gen("resizing", "center_crop", "random_crop", when=_image)
def _resize(draw, kind, shape, dtype):
    layer = {"type": kind}
    fmt = data_format(draw, layer, shape, need_channels=False)
    _image_size(draw, shape, layer, fmt)
    if kind == "resizing":
        maybe(draw, layer, "interpolation", st.sampled_from(["bilinear", "nearest", "bicubic", "area"]))
        aspect = pick(draw, [None, "crop_to_aspect_ratio", "pad_to_aspect_ratio"])
        if aspect:
            layer[aspect] = True
    if kind == "random_crop":
        maybe(draw, layer, "seed", st.integers(0, 9))
    return layer


@gen("random_flip", "random_rotation", "random_zoom", "random_translation", "random_contrast",
     "random_brightness", when=_image)
def _augment(draw, kind, shape, dtype):
    layer = {"type": kind}
    data_format(draw, layer, shape, need_channels=False)
    factor = st.sampled_from([0.1, 0.5, [-0.2, 0.3]])
    if kind == "random_flip":
        maybe(draw, layer, "mode", st.sampled_from(["horizontal", "vertical", "horizontal_and_vertical"]))
    elif kind == "random_rotation":
        layer["factor"] = draw(factor)
    elif kind == "random_zoom":
        layer["height_factor"] = draw(factor)
        maybe(draw, layer, "width_factor", factor)
    elif kind == "random_translation":
        layer["height_factor"] = draw(factor)
        layer["width_factor"] = draw(factor)
    elif kind == "random_contrast":
        layer["factor"] = draw(st.sampled_from([0.2, [0.1, 0.5]]))
    else:
        layer["factor"] = draw(factor)
        maybe(draw, layer, "value_range", st.sampled_from([[0, 255], [0, 1]]))
    if kind in ("random_rotation", "random_zoom", "random_translation"):
        maybe(draw, layer, "fill_mode", st.sampled_from(["reflect", "wrap", "constant", "nearest"]))
        maybe(draw, layer, "interpolation", st.sampled_from(["nearest", "bilinear"]))
    maybe(draw, layer, "seed", st.integers(0, 9))
    return layer


SCORE_ATTENTION = ("attention", "additive_attention")
@gen("hashing", when=lambda kind, shape, dtype: len(shape) >= 1)
def _hashing(draw, kind, shape, dtype):
    layer = {"type": kind, "num_bins": draw(st.integers(2, 9))}
    maybe(draw, layer, "output_mode", st.sampled_from(["int", "one_hot", "multi_hot", "count"]))
    maybe(draw, layer, "salt", st.sampled_from([1, [2, 3]]))
    return layer


@gen("category_encoding", when=lambda kind, shape, dtype: is_int(dtype) and len(shape) >= 1)
def _category_encoding(draw, kind, shape, dtype):
    layer = {"type": kind, "num_tokens": draw(st.integers(2, 9))}
    maybe(draw, layer, "output_mode", st.sampled_from(["one_hot", "multi_hot", "count"]))
    return layer


@gen("discretization", when=lambda kind, shape, dtype: not is_int(dtype) and len(shape) >= 1)
def _discretization(draw, kind, shape, dtype):
    layer = {"type": kind}
    if flag(draw):
        layer["bin_boundaries"] = sorted(draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0]), min_size=1,
                                                       max_size=3, unique=True)))
    else:
        layer["num_bins"] = draw(st.integers(2, 6))
    modes = ["int", "one_hot"] + (["multi_hot", "count"] if len(shape) == 1 else [])
    maybe(draw, layer, "output_mode", st.sampled_from(modes))
    return layer


# Layers that read strings: only they are drawn on "text" data.
STRING_TYPES = ("string_lookup", "text_vectorization", "hashing")


@gen("string_lookup", when=lambda kind, shape, dtype: dtype == "string" and len(shape) >= 1)
def _string_lookup(draw, kind, shape, dtype):
    layer = {"type": kind}
    maybe(draw, layer, "vocabulary", st.sampled_from([["a"], ["a", "b", "c"]]))
    maybe(draw, layer, "num_oov_indices", st.integers(0 if "vocabulary" in layer else 1, 2))
    mode = draw(st.sampled_from(["int", "one_hot", "multi_hot", "count"]))
    layer["output_mode"] = mode
    if mode != "int" and ("vocabulary" not in layer or flag(draw)):
        layer.update(max_tokens=draw(st.integers(5, 9)), pad_to_max_tokens=True)
    return layer


@gen("integer_lookup", when=lambda kind, shape, dtype: is_int(dtype) and len(shape) >= 1)
def _integer_lookup(draw, kind, shape, dtype):
    layer = {"type": kind}
    maybe(draw, layer, "vocabulary", st.sampled_from([[1], [2, 5, 7]]))
    maybe(draw, layer, "mask_token", st.just(0))
    mode = draw(st.sampled_from(["int", "one_hot", "multi_hot", "count"]))
    layer["output_mode"] = mode
    if mode != "int" and ("vocabulary" not in layer or flag(draw)):
        layer.update(max_tokens=draw(st.integers(5, 9)), pad_to_max_tokens=True)
    return layer


@gen("text_vectorization", when=lambda kind, shape, dtype: dtype == "string" and shape in ((), (1,)))
def _text_vectorization(draw, kind, shape, dtype):
    layer = {"type": kind}
    maybe(draw, layer, "vocabulary", st.sampled_from([["a"], ["a", "b", "c"]]))
    maybe(draw, layer, "ngrams", st.integers(2, 3))
    modes = ["int"] + (["multi_hot", "count"] if shape == () else [])
    layer["output_mode"] = mode = draw(st.sampled_from(modes))
    if mode == "int":
        maybe(draw, layer, "output_sequence_length", st.integers(1, 6))
    elif "vocabulary" not in layer or flag(draw):
        layer.update(max_tokens=draw(st.integers(5, 9)), pad_to_max_tokens=True)
    return layer


MULTI_INPUT = ("add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
               "multi_head_attention", *SCORE_ATTENTION)
FRAME_TYPES = [kind for kind in GENERATORS if kind not in ("bidirectional", "time_distributed", "embedding", "rnn")]
# Layers that keep integer ids integer (netspec's `keeps_input_dtype`): what an int tensor may pass through;
# and the encoders that read ids.
INT_TYPES = [kind for kind, cls in LAYER_TYPES.items() if cls.keeps_input_dtype] + ["embedding", "hashing",
                                                                                   "category_encoding",
                                                                                   "integer_lookup"]


# Every type may be frozen (netspec.build.refreeze makes Keras's sublayers follow); kept as a hook.
NOT_YET_FREEZABLE: set[str] = set()


def freeze_sometimes(draw, layer: dict) -> None:
    """`trainable: false` on about one layer in ten."""
    if layer["type"] not in NOT_YET_FREEZABLE and draw(st.integers(0, 9)) == 0:
        layer["trainable"] = False


# ----- growing a spec -----


@dataclass(frozen=True)
class Tensor:
    layer: int | str  # index of the layer that gives it, or the name of a model input
    index: int
    shape: tuple
    dtype: str


def _family(kind: str) -> str:
    return LAYER_TYPES[kind].__module__.rsplit(".", 1)[-1]


FAMILIES: dict[str, list[str]] = {}
for _kind in LAYER_TYPES:
    FAMILIES.setdefault(_family(_kind), []).append(_kind)


class Builder:
    """A spec under construction: its inputs, layers, and the tensors they give."""

    def __init__(self, draw):
        self.draw = draw
        self.inputs: list[dict] = []
        self.layers: list[dict] = []
        self.outputs_of: list[list[Tensor]] = []
        self.read: set = set()  # layers (indices) and inputs (names) that something reads
        self.extra_outputs: list[Tensor] = []
        self.first_input: str | None = None

    # --- references ---

    def ref(self, tensor: Tensor) -> str:
        if isinstance(tensor.layer, str):
            return tensor.layer
        layer = self.layers[tensor.layer]
        layer.setdefault("name", f"n{tensor.layer}")
        return layer["name"] + (f"[{tensor.index}]" if tensor.index else "")

    def input(self, shape, dtype: str = "float32") -> Tensor:
        name = f"in{len(self.inputs)}"
        spec_input = {"name": name, "shape": list(shape)}
        if dtype != "float32" or flag(self.draw):
            spec_input["dtype"] = dtype
        self.inputs.append(spec_input)
        return Tensor(name, 0, tuple(shape), dtype)

    # --- layers ---

    def add(self, layer: dict, inputs: list[Tensor]) -> list[Tensor]:
        """Append `layer` reading `inputs`; its output tensors, shaped by netspec's rule."""
        model = LAYER_TYPES[layer["type"]].model_validate(layer)
        shapes = model.infer([t.shape for t in inputs]).outputs
        position = len(self.layers)
        default = (len(inputs) == 1 and inputs[0].index == 0
                   and (inputs[0].layer == position - 1 if position else len(self.inputs) == 1))
        if not default or self.draw(st.integers(0, 4)) == 0:
            layer["inputs"] = [self.ref(t) for t in inputs]
        elif position == 0:
            self.first_input = inputs[0].layer  # named in `spec` if more model inputs come
        freeze_sometimes(self.draw, layer)
        self.read.update(t.layer for t in inputs)
        keeps = LAYER_TYPES[layer["type"]].keeps_input_dtype
        dtype = inputs[0].dtype if keeps else getattr(model, "output_dtype", lambda: "float32")()
        outputs = [Tensor(position, i, tuple(s), dtype) for i, s in enumerate(shapes)]
        self.layers.append(layer)
        self.outputs_of.append(outputs)
        return outputs

    def step(self, tensor: Tensor, pool: list[str]) -> Tensor | None:
        """One layer drawn from `pool` that can take `tensor`; None if none can."""
        draw = self.draw
        allowed = INT_TYPES if is_int(tensor.dtype) else STRING_TYPES if tensor.dtype == "string" else pool
        choices = [k for k in pool
                   if k in allowed and (k in MULTI_INPUT or GENERATORS[k].when(k, tensor.shape, tensor.dtype))]
        choices = [k for k in choices if k not in MULTI_INPUT or self.can_merge(k, tensor)]
        if not choices:
            return None
        kind = pick(draw, choices)
        if kind == "multi_head_attention":
            return self.attend(tensor)
        if kind in SCORE_ATTENTION:
            return self.score_attend(kind, tensor)
        if kind in MULTI_INPUT:
            return self.merge(kind, tensor)
        outputs = self.add(GENERATORS[kind].draw(draw, kind, tensor.shape, tensor.dtype), [tensor])
        if len(outputs) > 1:  # states, or the two directions: a model output, or read on as `name[i]`
            role = pick(draw, ["output", "read", "neither"])
            if role == "output":
                self.extra_outputs.append(pick(draw, outputs[1:]))
            elif role == "read":
                return pick(draw, outputs[1:])
        return outputs[0]

    def grow(self, tensor: Tensor, pool: list[str], steps: int) -> Tensor:
        """Up to `steps` layers from `pool`, each reading the last one's output."""
        for _ in range(steps):
            following = self.step(tensor, pool)
            if following is None:
                break
            tensor = following
        return tensor

    # --- several inputs ---

    def can_merge(self, kind: str, tensor: Tensor) -> bool:
        if is_int(tensor.dtype):
            return False
        if kind == "dot":
            return len(tensor.shape) in (1, 2)
        if kind == "multi_head_attention":
            return len(tensor.shape) >= 2 and tensor.shape[-1] is not None
        if kind in SCORE_ATTENTION:
            return len(tensor.shape) == 2 and tensor.shape[-1] is not None
        return True

    def partner(self, tensor: Tensor, broadcast: bool) -> Tensor:
        """Another tensor of `tensor`'s shape (or one that broadcasts to it): itself, an earlier
        tensor of that shape, or a new branch from it."""
        draw = self.draw
        same = [t for outs in self.outputs_of for t in outs if t.shape == tensor.shape and t != tensor
                and not is_int(t.dtype)]
        options = ["itself", "branch"] + (["earlier"] if same else [])
        if broadcast and tensor.shape[-1] is not None:
            options += ["narrow"]
        if broadcast and len(tensor.shape) in (2, 3):
            options += ["pooled"]
        choice = pick(draw, options)
        if choice == "itself":
            return tensor
        if choice == "earlier":
            return pick(draw, same)
        if choice == "narrow":  # (..., 1) broadcasts along the last axis
            return self.add({"type": "dense", "units": 1}, [tensor])[0]
        if choice == "pooled":  # (features,) or (1, 1, channels)
            rank = len(tensor.shape) - 1
            layer = {"type": f"global_average_pooling{rank}d"}
            maybe(draw, layer, "keepdims", st.booleans())
            return self.add(layer, [tensor])[0]
        return self.keep_shape(tensor)

    def keep_shape(self, tensor: Tensor) -> Tensor:
        """`tensor` through one layer that keeps its shape."""
        kind = pick(self.draw, [k for k in SAME_SHAPE if GENERATORS[k].when(k, tensor.shape, tensor.dtype)])
        layer = GENERATORS[kind].draw(self.draw, kind, tensor.shape, tensor.dtype) if kind != "dense" else \
            {"type": "dense", "units": tensor.shape[-1]}
        return self.add(layer, [tensor])[0]

    def merge(self, kind: str, tensor: Tensor) -> Tensor:
        draw = self.draw
        if kind == "dot":
            return self.dot(tensor)
        if kind == "concatenate":
            index = draw(st.integers(0, len(tensor.shape) - 1))
            others = [self.partner(tensor, broadcast=False) for _ in range(draw(st.integers(1, 2)))]
            if index == len(tensor.shape) - 1 and tensor.shape[-1] is not None and flag(draw):
                others.append(self.add({"type": "dense", "units": positive(draw, 4)}, [tensor])[0])
            layer = {"type": kind}
            if index != len(tensor.shape) - 1 or flag(draw):
                layer["axis"] = keras_axis(draw, index, len(tensor.shape))
        else:
            count = 1 if kind == "subtract" else draw(st.integers(1, 2))
            others = [self.partner(tensor, broadcast=True) for _ in range(count)]
            layer = {"type": kind}
        inputs = draw(st.permutations([tensor, *others]))
        return self.add(layer, inputs)[0]

    def dot(self, tensor: Tensor) -> Tensor:
        draw = self.draw
        shape = tensor.shape
        layer = {"type": "dot"}
        if len(shape) == 1:
            other = self.partner(tensor, broadcast=False)
            layer["axes"] = pick(draw, [1, -1, [1, 1]])
            inputs = [tensor, other]
        else:
            form = pick(draw, ["itself", "projected", "permuted"] if shape[-1] is not None else ["itself", "permuted"])
            if form == "itself":
                axis = pick(draw, [1, 2])
                layer["axes"] = pick(draw, [axis, axis - 3, [axis, axis]])
                inputs = [tensor, tensor]
            elif form == "projected":  # (a, b) . (a, c) over a -> (b, c)
                other = self.add({"type": "dense", "units": positive(draw, 4)}, [tensor])[0]
                layer["axes"] = pick(draw, [1, [1, 1], -2])
                inputs = draw(st.permutations([tensor, other]))
            else:  # (a, b) . (b, a): axis 2 of the first with axis 1 of the second
                other = self.add({"type": "permute", "dims": [2, 1]}, [tensor])[0]
                layer["axes"] = [2, 1]
                inputs = [tensor, other]
        maybe(draw, layer, "normalize", st.booleans())
        return self.add(layer, inputs)[0]

    def attend(self, query: Tensor, value: Tensor | None = None, key: Tensor | None = None) -> Tensor:
        """A multi_head_attention of `query` over itself, or over `value` (and `key`)."""
        draw = self.draw
        rank = len(query.shape)
        layer = {"type": "multi_head_attention", "num_heads": positive(draw, 3), "key_dim": positive(draw, 4)}
        if rank >= 3 and flag(draw):
            axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
            layer["attention_axes"] = [a - (rank + 1) if flag(draw) else a for a in axes]
            if len(axes) == 1 and flag(draw):
                layer["attention_axes"] = layer["attention_axes"][0]
        if value is None and flag(draw):
            # Value (and key) from a projection of the query: the same positions, other features.
            value = self.add({"type": "dense", "units": positive(draw, 5)}, [query])[0]
            if flag(draw):
                key = self.add({"type": "dense", "units": positive(draw, 5)}, [value])[0]
        maybe(draw, layer, "value_dim", st.integers(1, 4))
        if flag(draw):
            tail = [positive(draw, 4) for _ in range(draw(st.integers(1, 2)))]
            layer["output_shape"] = tail[0] if len(tail) == 1 and flag(draw) else tail
        maybe(draw, layer, "use_bias", st.booleans())
        maybe(draw, layer, "dropout", st.sampled_from([0.0, 0.1]))
        maybe(draw, layer, "use_gate", st.booleans())
        inputs = [t for t in (query, value, key) if t is not None]
        return self.add(layer, inputs)[0]

    def score_attend(self, kind: str, query: Tensor) -> Tensor:
        """An `attention` or `additive_attention` of `query` over itself, or over a projection of it
        as the value (and the query's features as the key)."""
        draw = self.draw
        layer = {"type": kind}
        maybe(draw, layer, "use_scale", st.booleans())
        maybe(draw, layer, "dropout", st.sampled_from([0.0, 0.1]))
        if kind == "attention":
            maybe(draw, layer, "score_mode", st.sampled_from(["dot", "concat"]))
        form = pick(draw, ["itself", "value", "value_key"])
        if form == "itself":
            return self.add(layer, [query, query])[0]
        value = self.add({"type": "dense", "units": positive(draw, 5)}, [query])[0]
        if form == "value":
            value = self.add({"type": "dense", "units": query.shape[-1]}, [value])[0]
            return self.add(layer, [query, value])[0]
        key = self.add({"type": "dense", "units": query.shape[-1]}, [value])[0]
        return self.add(layer, [query, value, key])[0]

    # --- the spec ---

    def spec(self, name: str = "random") -> dict:
        if len(self.inputs) > 1 and self.first_input is not None:
            self.layers[0]["inputs"] = [self.first_input]
        heads = [out[0] for i, out in enumerate(self.outputs_of) if i not in self.read and out]
        outputs = heads + [t for t in self.extra_outputs if t not in heads]
        spec = {"name": name, "inputs": self.inputs, "layers": self.layers}
        if outputs != [self.outputs_of[-1][0]] or flag(self.draw):
            spec["outputs"] = [self.ref(t) for t in outputs]
        return spec


# Layers that keep any float shape as it is: the branches merged with the tensor they start from.
SAME_SHAPE = ["identity", "activation", "dropout", "gaussian_noise", "re_lu", "leaky_re_lu", "softmax",
              "unit_normalization", "layer_normalization", "batch_normalization", "rescaling", "dense"]


# ----- input shapes -----


def dim(draw, low: int = 1, high: int = 8, unknown: bool = False):
    if unknown and draw(st.integers(0, 4)) == 0:
        return None
    return draw(st.integers(low, high))


def input_shape(draw, data: str) -> tuple:
    """A model input's shape for a kind of data: vectors, sequences, images, volumes, ..."""
    if data == "vector":
        return (dim(draw),)
    if data == "sequence":
        return (dim(draw, 1, 8, unknown=True), dim(draw, 1, 5))
    if data == "tokens":
        return tuple(dim(draw, 1, 6, unknown=i == 0) for i in range(draw(st.integers(1, 3))))
    if data == "image":
        return (dim(draw, 2, 12, unknown=True), dim(draw, 2, 12, unknown=True), dim(draw, 1, 4, unknown=True))
    if data == "volume":
        return (dim(draw, 2, 6), dim(draw, 2, 6, unknown=True), dim(draw, 2, 6), dim(draw, 1, 3))
    if data.startswith("video"):  # frames of 1D signals, images or volumes
        frame = int(data[-1])
        return (dim(draw, 1, 4, unknown=True), *(dim(draw, 2, 6) for _ in range(frame)), dim(draw, 1, 3))
    if data == "text":  # one text, or a few strings, a sample
        return draw(st.sampled_from([(), (1,), (3,), (2, 3)]))
    if data == "tensor":
        rank = draw(st.integers(1, 4))
        return tuple(dim(draw, 1, 5, unknown=i < rank - 1) for i in range(rank))
    raise ValueError(data)


DATA = ["vector", "sequence", "tokens", "image", "volume", "video1", "video2", "video3", "tensor"]
# A shape of each kind of data with every size known, to find the kinds a layer type can read.
TYPICAL = {"vector": (4,), "sequence": (5, 3), "tokens": (5,), "image": (6, 6, 3), "volume": (4, 4, 4, 2),
           "video1": (3, 6, 2), "video2": (3, 5, 5, 2), "video3": (2, 4, 4, 4, 2), "text": (1,)}


def dtype_of(data: str) -> str:
    return {"tokens": "int32", "text": "string"}.get(data, "float32")


def readable_by(kind: str) -> list[str]:
    """The kinds of data a layer type can read as a model's first layer."""
    if kind in ("dot",):
        return ["vector", "sequence"]
    if kind == "multi_head_attention":
        return ["sequence", "image"]
    if kind in SCORE_ATTENTION:
        return ["sequence"]
    if kind in MULTI_INPUT:
        return ["vector", "sequence", "image", "volume"]
    return [data for data, shape in TYPICAL.items() if GENERATORS[kind].when(kind, shape, dtype_of(data))
            and (data != "text" or kind in STRING_TYPES)]


# The pool a family's specs grow from after their first layer: the family's own types, twice as
# likely as the glue between families.
GLUE = ["dense", "flatten", "reshape", "dropout", "repeat_vector", "activation", "embedding"]


def family_pool(family: str) -> list[str]:
    own = FAMILIES[family]
    extra = ["layer_normalization", "add"] if family == "attention" else []
    return own + own + GLUE + extra


@st.composite
def specs_led_by(draw, kind: str) -> dict:
    """A random spec whose first layer is a `kind` layer, grown on from its family and the glue."""
    b = Builder(draw)
    data = pick(draw, readable_by(kind))
    shape = input_shape(draw, data)
    fits = (b.can_merge(kind, Tensor("x", 0, shape, dtype_of(data))) if kind in MULTI_INPUT
            else GENERATORS[kind].when(kind, shape, dtype_of(data)))
    if not fits:
        shape = TYPICAL[data]  # an unknown size it cannot take
    tensor = b.input(shape, dtype_of(data))
    if kind == "multi_head_attention":
        tensor = _attention_inputs(draw, b, tensor)
    elif kind in SCORE_ATTENTION:
        tensor = b.score_attend(kind, tensor)
    elif kind in MULTI_INPUT:
        tensor = _merged_inputs(draw, b, tensor, kind) if kind != "dot" and flag(draw) else b.merge(kind, tensor)
    else:
        tensor = b.grow(tensor, [kind], 1)
        assert b.layers, f"no `{kind}` layer could read {tensor.shape}: fix `readable_by`"
    pool = family_pool(_family(kind))
    b.grow(tensor, pool, draw(st.integers(1, 4)))
    _side_head(draw, b, pool)
    return b.spec(f"random_{kind}")


@st.composite
def mixed_specs(draw) -> dict:
    """A stack drawn from every layer type, from any kind of data."""
    b = Builder(draw)
    data = pick(draw, DATA)
    tensor = b.input(input_shape(draw, data), dtype_of(data))
    pool = list(LAYER_TYPES)
    b.grow(tensor, pool, draw(st.integers(2, 6)))
    if not b.layers:
        b.add({"type": "identity"}, [tensor])
    _side_head(draw, b, pool)
    return b.spec("random_mixed")


def _side_head(draw, b: Builder, pool: list[str]) -> None:
    """Sometimes a second output: a short head grown from an earlier tensor."""
    tensors = [t for outs in b.outputs_of[:-1] for t in outs[:1]]
    if tensors and draw(st.integers(0, 3)) == 0:
        b.grow(pick(draw, tensors), pool, draw(st.integers(1, 2)))


def _merged_inputs(draw, b: Builder, first: Tensor, kind: str) -> Tensor:
    """More model inputs (of the first one's shape, or one that broadcasts to it), each with a short
    branch, merged by a `kind` layer with the first input's branch."""
    shape = first.shape

    def branch(tensor):
        for _ in range(draw(st.integers(0, 2))):
            tensor = b.keep_shape(tensor)
        return tensor

    branches = [branch(first)]
    for _ in range(1 if kind == "subtract" else draw(st.integers(1, 2))):
        other = shape if kind == "concatenate" else tuple(
            1 if d is not None and draw(st.integers(0, 3)) == 0 else d for d in shape)
        branches.append(branch(b.input(other)))
    layer = {"type": kind}
    if kind == "concatenate" and flag(draw):
        layer["axis"] = keras_axis(draw, draw(st.integers(0, len(shape) - 1)), len(shape))
    return b.add(layer, draw(st.permutations(branches)))[0]


def _attention_inputs(draw, b: Builder, query: Tensor) -> Tensor:
    """Attention of the query over itself, or over other model inputs as value (and key)."""
    if not flag(draw):
        return b.attend(query)
    # Other positions on the first axis (an attention axis by default), other features.
    value = b.input((dim(draw, 1, 6, unknown=True), *query.shape[1:-1], dim(draw, 1, 5)))
    if len(query.shape) == 2:
        key = b.input((*value.shape[:-1], dim(draw, 1, 5))) if flag(draw) else None
        return b.attend(query, value, key)
    # Images of other heights: attention over axis 1 only, so the other axes must agree.
    layer = {"type": "multi_head_attention", "num_heads": positive(draw, 2), "key_dim": positive(draw, 3),
             "attention_axes": pick(draw, [1, [1], -3])}
    return b.add(layer, [query, value])[0]
