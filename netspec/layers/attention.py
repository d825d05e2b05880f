"""Attention layers: multi_head_attention, and the dot-product and additive (Bahdanau) attention of
`attention` and `additive_attention`.

Inputs, in `inputs` order: `[query]` (self-attention: the query is also the
value and the key), `[query, value]` (the value is also the key), or
`[query, value, key]`, as Keras's `layer(query, value, key)`. `attention` and
`additive_attention` take `[query, value]` or `[query, value, key]` (Keras
calls them on that list; self-attention names one input twice).
"""

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from netspec.layers.base import (
    Axis,
    Inference,
    Layer,
    PositiveInt,
    Rate,
    ShapeMismatch,
    fmt_shape,
    weight_args,
)

_ROLES = ("query", "value", "key")


def keras_backend() -> str:
    """The backend Keras will run on, read as Keras reads it, without importing Keras."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _count(dims) -> int:
    """Product of sizes, unknown ones counted as 1 (for cost estimates)."""
    total = 1
    for d in dims:
        total *= d or 1
    return total


class _AttentionArgs(Layer):
    num_heads: PositiveInt = Field(description="Number of attention heads.")
    key_dim: PositiveInt = Field(description="Size of each head for query and key.")
    value_dim: PositiveInt | None = Field(None, description="Size of each head for value; default: `key_dim`.")
    dropout: Rate = Field(0.0, description="Dropout rate on the attention scores, in [0, 1).")
    use_bias: bool = Field(True, description="Whether the projections use bias vectors.")
    output_shape: PositiveInt | list[PositiveInt] | None = Field(
        None, description="Shape of the output's last axes (batch and query positions excluded); "
        "default: the query's last dimension.")
    attention_axes: Axis | list[Axis] | None = Field(
        None, description="Axes over which attention is applied (0 is the batch); default: every axis of the "
        "query but the batch and the features.")
    sliding_window: PositiveInt | None = Field(
        None, description="If set, each position attends only to positions fewer than this many steps away.")
    flash_attention: bool | None = Field(
        None, description="Whether to use flash attention (null: Keras's global setting); needs `dropout: 0` and "
        "the JAX or PyTorch backend.")


_AttentionWeightArgs = weight_args(
    kernel=("the projection kernels", "glorot_uniform"), bias=("the projection biases", "zeros"))


class MultiHeadAttention(_AttentionWeightArgs, _AttentionArgs):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), with query, key, value and
    output projections."""

    # Keras's order: `num_heads` ... `flash_attention` (_AttentionArgs), the weight arguments, then these.
    type: Literal["multi_head_attention"]
    use_gate: bool = Field(False, description="Whether to gate the attention output with a sigmoid projection "
                           "of the query (adds a projection of the query's size).")
    seed: Annotated[int, Strict()] | None = Field(None, description="Random seed of the dropout.")

    keras_class = "MultiHeadAttention"
    call_convention = "attention"
    min_inputs = 1
    max_inputs = 3

    @model_validator(mode="after")
    def _check_flash(self):
        # Keras raises both only when the model first runs, not when it is built.
        if self.flash_attention and keras_backend() == "tensorflow":
            raise ValueError("`flash_attention` is not supported by Keras's TensorFlow backend (netspec's default); "
                             "remove it, or run under the JAX or PyTorch backend (KERAS_BACKEND)")
        if self.flash_attention and self.dropout > 0:
            raise ValueError(f"`dropout` (={self.dropout}) is not supported with flash attention "
                             "(flash_attention=true); set `dropout: 0`, or `flash_attention: false`")
        return self

    def lower_value(self, key, value):
        if key in ("output_shape", "attention_axes") and isinstance(value, list):
            return tuple(value)
        return super().lower_value(key, value)

    def infer(self, inputs):
        query = inputs[0]
        value = inputs[1] if len(inputs) > 1 else query
        key = inputs[2] if len(inputs) > 2 else value
        shapes = dict(zip(_ROLES, (query, value, key)))
        if len(query) < 2:
            raise ShapeMismatch(
                f"`multi_head_attention` expects a query of rank 3 or more (batch, positions, features); "
                f"received shape {fmt_shape(query)}",
                "add a `reshape` to (positions, features), or a `repeat_vector`")
        for role, shape in shapes.items():
            if len(shape) != len(query):
                raise ShapeMismatch(
                    f"the {role} has shape {fmt_shape(shape)} but the query {fmt_shape(query)}; "
                    f"`multi_head_attention` needs the same rank for query, value and key",
                    "reshape the inputs to (positions, features) alike")
            if shape[-1] is None:
                raise ShapeMismatch(
                    f"the {role} needs a known last dimension (features) to size the {role} projection; "
                    f"received shape {fmt_shape(shape)}", "give the input a fixed size on its last axis")
        if value[:-1] != key[:-1]:
            raise ShapeMismatch(
                f"value and key must agree on every axis but the last; received value {fmt_shape(value)} "
                f"and key {fmt_shape(key)}", "give the value and key inputs the same positions")
        rank = len(query) + 1  # with the batch axis, as Keras counts attention_axes
        axes = self._attention_axes(rank, query)
        for axis in range(1, rank - 1):
            q, v = query[axis - 1], value[axis - 1]
            if axis not in axes and q is not None and v is not None and q != v:
                raise ShapeMismatch(
                    f"query {fmt_shape(query)} and value {fmt_shape(value)} differ on axis {axis}, which is not an "
                    f"attention axis (attention_axes={list(axes)})",
                    "make the inputs agree on that axis, or add it to `attention_axes`", field="attention_axes")

        heads, key_dim = self.num_heads, self.key_dim
        value_dim = self.value_dim or key_dim
        out_tail = tuple(self.output_shape if isinstance(self.output_shape, list) else
                         [self.output_shape] if self.output_shape else [query[-1]])
        out_size = _count(out_tail)
        projections = {  # name: (input features, projected size per position)
            "query": (query[-1], heads * key_dim),
            "key": (key[-1], heads * key_dim),
            "value": (value[-1], heads * value_dim),
            "attention_output": (heads * value_dim, out_size),
        }
        if self.use_gate:
            projections["gate"] = (query[-1], heads * value_dim)
        params = sum(a * b + (b if self.use_bias else 0) for a, b in projections.values())

        positions = {"query": _count(query[:-1]), "key": _count(key[:-1]), "value": _count(value[:-1]),
                     "attention_output": _count(query[:-1]), "gate": _count(query[:-1])}
        flops = sum(2 * positions[name] * a * b for name, (a, b) in projections.items())
        batch_like = _count(query[a - 1] for a in range(1, rank - 1) if a not in axes)
        targets = _count(query[a - 1] for a in axes)
        sources = _count(key[a - 1] for a in axes)
        flops += 2 * heads * batch_like * targets * sources * (key_dim + value_dim)  # scores, weighted sum
        return Inference([(*query[:-1], *out_tail)], params, flops=flops)

    def _attention_axes(self, rank: int, query) -> list[int]:
        """`attention_axes` as non-negative axes (batch = 0), each an axis between batch and features."""
        if self.attention_axes is None:
            return list(range(1, rank - 1))
        given = self.attention_axes if isinstance(self.attention_axes, list) else [self.attention_axes]
        axes = []
        for axis in given:
            index = axis + rank if axis < 0 else axis
            if not 1 <= index <= rank - 2 or index in axes:
                raise ShapeMismatch(
                    f"`attention_axes` {self.attention_axes} must name distinct axes between the batch and the "
                    f"features: for a query of shape {fmt_shape(query)}, axes 1 to {rank - 2} "
                    f"(or {-(rank - 1)} to -2)",
                    "leave `attention_axes` unset to attend over every position axis", field="attention_axes")
            axes.append(index)
        return axes


class _ScoreAttention(Layer):
    """Keras's `Attention` family: scores of query against key, a softmax over the key positions,
    and the weighted sum of the values: (Tq, dim) and (Tv, dim_v) -> (Tq, dim_v)."""

    call_convention = "list"
    min_inputs = 2
    max_inputs = 3

    def infer(self, inputs):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        for role, shape in zip(_ROLES, (query, value, key)):
            if len(shape) < 2:
                raise ShapeMismatch(
                    f"`{self.type}` expects each input of rank 3 (batch, positions, features); the {role} has shape "
                    f"{fmt_shape(shape)}", "add a `reshape` to (positions, features), or a `repeat_vector`")
        if None not in (query[-1], key[-1]) and query[-1] != key[-1]:
            raise ShapeMismatch(
                f"`{self.type}` compares query and key feature by feature: their last axes must agree; received "
                f"query {fmt_shape(query)} and key {fmt_shape(key)}",
                "project one of them with a `dense` layer of the other's size")
        if None not in (value[-2], key[-2]) and value[-2] != key[-2]:
            raise ShapeMismatch(
                f"value and key must have the same positions; received value {fmt_shape(value)} and key "
                f"{fmt_shape(key)}", "give the value and key inputs the same positions")
        scores = _count(query[:-1]) * _count(key[-2:-1])
        flops = 2 * scores * (_count(query[-1:]) + _count(value[-1:]))
        return Inference([(*query[:-1], value[-1])], self.weight_count(query), flops=flops)

    def weight_count(self, query) -> int:
        return 0


class Attention(_ScoreAttention):
    """Dot-product attention (Luong style): scores `query @ key^T`, optionally scaled by a learned scalar."""

    type: Literal["attention"]
    use_scale: bool = Field(False, description="Whether to learn a scalar that scales the scores.")
    score_mode: Literal["dot", "concat"] = Field(
        "dot", description="`dot`: scores are dot products; `concat`: `tanh(query + key)` summed over features.")
    dropout: Rate = Field(0.0, description="Fraction of the attention scores to drop, in [0, 1).")
    seed: Annotated[int, Strict()] | None = Field(None, description="Random seed of the dropout.")

    keras_class = "Attention"

    def weight_count(self, query) -> int:
        return int(self.use_scale) + int(self.score_mode == "concat")


class AdditiveAttention(_ScoreAttention):
    """Additive attention (Bahdanau style): scores `sum(scale * tanh(query + key))`."""

    type: Literal["additive_attention"]
    use_scale: bool = Field(True, description="Whether to learn one scale per feature of the scores.")
    dropout: Rate = Field(0.0, description="Fraction of the attention scores to drop, in [0, 1).")
    seed: Annotated[int, Strict()] | None = Field(None, description="Random seed of the dropout.")

    keras_class = "AdditiveAttention"

    def weight_count(self, query) -> int:
        if not self.use_scale:
            return 0
        if query[-1] is None:
            raise ShapeMismatch(
                f"`additive_attention` with `use_scale` learns one scale per query feature: it needs a known last "
                f"axis; received query {fmt_shape(query)}", "give the input a fixed size on its last axis, or set "
                "`use_scale: false`", field="use_scale")
        return query[-1]
