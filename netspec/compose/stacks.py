"""Built-in blocks for the networks people describe as lists: conv, recurrent and dense stacks.

Each stack is one model (its keys, Keras-style defaults, descriptions) and a
`generate` that turns it into plain layers. A generated layer remembers which
key of the stack each of its values came from, so errors point there.

- `conv_stack`: one convolution per entry of `filters`; with `batch_norm`,
  conv -> batch_normalization -> activation; with `pool`, a pooling layer
  after every `pool_every` convolutions; `dropout` after each pooling layer
  (after each convolution when there is no pooling).
- `recurrent_stack`: one `cell` layer per entry of `units`, each wrapped in
  `bidirectional` if asked; every layer but the last returns sequences (the
  next one needs them); the last does so only with `return_sequences: true`.
- `dense_stack`: one `dense` per entry of `units`; `batch_norm` and `dropout`
  go between layers (not after the last); the last layer's activation is
  `output_activation` where given, else `activation`.
"""

from typing import ClassVar, Literal

from pydantic import Field, ValidationError

from netspec.compose import STACK_TYPES
from netspec.compose.located import Located
from netspec.errors import Diagnostic
from netspec.layers.base import ActivationName, Identifier, PositiveInt, Rate, Size, SpecModel
from netspec.names import did_you_mean, suggest_key
from netspec.source import shorten

Generated = tuple[dict, dict]  # (layer, {path in the layer: path in the stack})


class _Stack(SpecModel):
    name: Identifier | None = Field(None, description="Prefix of the generated layers' names; default: the stack's type.")
    inputs: list[str] | None = Field(None, description="What the first generated layer reads; default: the previous layer.")
    trainable: bool = Field(True, description="Whether the generated layers' weights are updated in training.")

    summary: ClassVar[str] = ""

    def generate(self, raw: dict) -> list[Generated]:  # pragma: no cover - every stack overrides
        raise NotImplementedError


class ConvStack(_Stack):
    """Convolutions with the given filter counts, with optional batch norm, pooling and dropout."""

    type: Literal["conv_stack"]
    filters: list[PositiveInt] = Field(min_length=1, description="Filters of each convolution, in order.")
    kernel_size: Size = Field(3, description="Kernel size of every convolution.")
    strides: Size = Field(1, description="Strides of every convolution.")
    padding: Literal["valid", "same"] = Field("valid", description="Padding of every convolution (Keras's default).")
    activation: ActivationName = Field("relu", description="Activation after every convolution; null for none.")
    conv: Literal["conv1d", "conv2d", "conv3d"] = Field("conv2d", description="Convolution type.")
    batch_norm: bool = Field(False, description="Batch normalization between each convolution and its activation.")
    pool: Literal["max", "average"] | None = Field(None, description="Pooling after convolutions: max, average or null.")
    pool_size: Size = Field(2, description="Pool size of every pooling layer.")
    pool_every: PositiveInt = Field(1, description="Pool after every N convolutions.")
    dropout: Rate = Field(0.0, description="Dropout rate after each pooling layer (each convolution without pooling).")

    def generate(self, raw: dict) -> list[Generated]:
        rank = self.conv[-2]
        out: list[Generated] = []
        for i, filters in enumerate(self.filters):
            conv = {"type": self.conv, "filters": filters, "kernel_size": raw.get("kernel_size", 3)}
            where = {("type",): ("conv",), ("filters",): ("filters", i), ("kernel_size",): ("kernel_size",)}
            for key, default in (("strides", 1), ("padding", "valid")):
                if raw.get(key, default) != default:
                    conv[key], where[(key,)] = raw[key], (key,)
            if self.activation and not self.batch_norm:
                conv["activation"], where[("activation",)] = self.activation, ("activation",)
            out.append((conv, where))
            if self.batch_norm:
                out.append(({"type": "batch_normalization"}, {("type",): ("batch_norm",)}))
                if self.activation:
                    out.append(({"type": "activation", "activation": self.activation}, {("activation",): ("activation",)}))
            pooled = self.pool is not None and (i + 1) % self.pool_every == 0
            if pooled:
                # always written: Keras's average pooling layers have no default pool_size
                pool = {"type": f"{self.pool}_pooling{rank}d", "pool_size": raw.get("pool_size", 2)}
                out.append((pool, {("type",): ("pool",), ("pool_size",): ("pool_size",)}))
            if self.dropout and (pooled or self.pool is None):
                out.append(({"type": "dropout", "rate": self.dropout}, {("rate",): ("dropout",)}))
        return out


class RecurrentStack(_Stack):
    """Recurrent layers with the given unit counts, each passing its whole sequence to the next."""

    type: Literal["recurrent_stack"]
    cell: Literal["simple_rnn", "lstm", "gru"] = Field("lstm", description="Recurrent layer type.")
    units: list[PositiveInt] = Field(min_length=1, description="Units of each recurrent layer, in order.")
    bidirectional: bool = Field(False, description="Wrap every layer in `bidirectional`.")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = Field("concat", description="How `bidirectional` merges.")
    return_sequences: bool = Field(False, description="Whether the LAST layer returns sequences (the others always do).")
    dropout: Rate = Field(0.0, description="Input dropout of every layer (the Keras argument).")
    recurrent_dropout: Rate = Field(0.0, description="Recurrent-state dropout of every layer (the Keras argument).")

    def generate(self, raw: dict) -> list[Generated]:
        out: list[Generated] = []
        last = len(self.units) - 1
        for i, units in enumerate(self.units):
            cell = {"type": self.cell, "units": units}
            where = {("type",): ("cell",), ("units",): ("units", i)}
            if i < last or self.return_sequences:
                cell["return_sequences"] = True
                where[("return_sequences",)] = ("return_sequences",) if i == last else ("units", i)
            for key in ("dropout", "recurrent_dropout"):
                if getattr(self, key):
                    cell[key], where[(key,)] = getattr(self, key), (key,)
            if self.bidirectional:
                wrapped = {"type": "bidirectional", "layer": cell}
                where = {("layer", *k): v for k, v in where.items()} | {("type",): ("bidirectional",)}
                if self.merge_mode != "concat":
                    wrapped["merge_mode"], where[("merge_mode",)] = self.merge_mode, ("merge_mode",)
                cell = wrapped
            out.append((cell, where))
        return out


class DenseStack(_Stack):
    """Dense layers with the given unit counts, with optional batch norm and dropout between them."""

    type: Literal["dense_stack"]
    units: list[PositiveInt] = Field(min_length=1, description="Units of each dense layer, in order.")
    activation: ActivationName = Field("relu", description="Activation of every layer; null for none.")
    output_activation: ActivationName = Field(None, description="Activation of the last layer; default: `activation`.")
    batch_norm: bool = Field(False, description="Batch normalization between each layer and its activation (not the last).")
    dropout: Rate = Field(0.0, description="Dropout rate between layers (not after the last).")

    def generate(self, raw: dict) -> list[Generated]:
        out: list[Generated] = []
        last = len(self.units) - 1
        for i, units in enumerate(self.units):
            dense = {"type": "dense", "units": units}
            where = {("units",): ("units", i)}
            key = "output_activation" if i == last and "output_activation" in raw else "activation"
            activation = getattr(self, key)
            if self.batch_norm and i < last:
                out.append((dense, where))
                out.append(({"type": "batch_normalization"}, {("type",): ("batch_norm",)}))
                if activation:
                    out.append(({"type": "activation", "activation": activation}, {("activation",): (key,)}))
            else:
                if activation:
                    dense["activation"], where[("activation",)] = activation, (key,)
                out.append((dense, where))
            if self.dropout and i < last:
                out.append(({"type": "dropout", "rate": self.dropout}, {("rate",): ("dropout",)}))
        return out


STACKS: dict[str, type[_Stack]] = dict(zip(STACK_TYPES, (ConvStack, RecurrentStack, DenseStack), strict=True))


def generate(item: Located, problems: list[Diagnostic]) -> list[Located] | None:
    """A stack's layers, each located at the keys of the stack it came from; None if the stack is invalid."""
    raw = item.value
    cls = STACKS[raw["type"]]
    try:
        stack = cls.model_validate({k: v for k, v in raw.items() if k != "inputs"})
    except ValidationError as exc:
        problems.extend(_diagnostics(exc, item, cls))
        return None
    layers = []
    for layer, where in stack.generate(raw):
        inner = {path: item.where(*source) for path, source in where.items()}
        layers.append(Located(layer, item.origin, inner))
    return layers


def _diagnostics(exc: ValidationError, item: Located, cls) -> list[Diagnostic]:
    kind = item.value["type"]
    found: dict[tuple, Diagnostic] = {}
    for error in exc.errors(include_url=False):
        path = tuple(error["loc"])  # stacks hold no tagged unions, so pydantic's loc is the data path
        value, message, hint, key = error.get("input"), error["msg"], None, False
        message = message.removeprefix("Value error, ")
        if "; did you mean" in message:
            message, hint = message.split("; ", 1)
        if error["type"] == "extra_forbidden":
            message = f"unknown key `{path[-1]}` for a `{kind}`"
            hint = suggest_key(path[-1], cls.model_fields) or f"expected one of: {', '.join(cls.model_fields)}"
            key = True
        elif error["type"] == "missing":
            message = f"missing required key `{path[-1]}` for a `{kind}`"
            hint = f"add `{path[-1]}: [...]`, one entry per layer" if path[-1] in ("filters", "units") else None
            path = path[:-1]
        elif error["type"] == "literal_error":
            expected = error.get("ctx", {}).get("expected", "")
            message = f"received {shorten(value)}; expected {expected}"
            options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            hint = did_you_mean(value, options) if isinstance(value, str) else None
        elif error["type"] == "list_type" and path and path[-1] in ("filters", "units"):
            message = f"`{path[-1]}` must be a list, one entry per layer; received {shorten(value)}"
            hint = f"write `{path[-1]}: [{value}]` for one layer"
        elif "received" not in message.lower():
            message = f"{message}; received {shorten(value)}"
        found.setdefault(path, item.diagnostic(path, message, hint, key=key))
    return list(found.values())
