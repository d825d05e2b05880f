"""Recurrent layers: simple_rnn, lstm, gru, the convolutional LSTMs in 1D/2D/3D, and `rnn` over a cell
or a stack of cells (simple_rnn_cell, gru_cell, lstm_cell).

Keras's shape rules (keras/src/layers/rnn/): an RNN reads (batch, timesteps,
features) and gives (batch, units), or (batch, timesteps, units) with
`return_sequences`; `return_state` adds one output per state (h, and c for
the LSTMs). Weights: a kernel (features x gates*units), a recurrent kernel
(units x gates*units) and a bias (gates*units; twice that for a GRU with
`reset_after`, Keras 3's default).
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from netspec.layers.base import (
    ActivationName,
    DataFormat,
    Inference,
    KerasCall,
    KerasModule,
    Layer,
    PositiveInt,
    Rate,
    ShapeMismatch,
    Size,
    SpecModel,
    as_tuple,
    conv_output_length,
    fmt_shape,
    join_channels,
    lower_object,
    product,
    weight_args,
)


def sequence_input(shape, layer: str) -> tuple:
    """(timesteps, features) of an RNN's input, or a mismatch with the usual fix."""
    if len(shape) == 2:
        return shape
    message = (f"`{layer}` expects a sequence of rank 3 (batch, timesteps, features); "
               f"received shape {fmt_shape(shape)}")
    if len(shape) <= 1:
        raise ShapeMismatch(message, "the input has no time axis: set `return_sequences: true` on {input}, so that "
                            "it passes on the whole sequence", producer_key="return_sequences",
                            otherwise="the input has no time axis: add a `reshape` or a `repeat_vector` after "
                            "{input} that gives it one")
    elif len(shape) == 3:
        rows, cols, channels = shape
        hint = (f"the input looks like an image: add a `reshape` with target_shape [{_dim(rows)}, "
                f"{_dim(product((cols, channels)))}] to read its rows as timesteps, or wrap the layers "
                "before it in `time_distributed` so that each timestep is one image")
    elif len(shape) == 4:
        hint = (f"the input looks like a sequence of images: wrap a `flatten` (or a small CNN) in "
                f"`time_distributed` before this layer, or add a `reshape` with target_shape "
                f"[{_dim(shape[0])}, {_dim(product(shape[1:]))}]")
    else:
        hint = "add a `reshape` that gives the input the shape (timesteps, features)"
    raise ShapeMismatch(message, hint)


def _dim(value) -> str:
    return "-1" if value is None else str(value)


class _Units(Layer):
    units: PositiveInt = Field(description="Dimensionality of the output space (and of the state).")


class _ConvArgs(Layer):
    filters: PositiveInt = Field(description="Number of output filters.")
    kernel_size: Size = Field(description="Size of the convolution window (int or one per spatial dim).")
    strides: Size = Field(1, description="Stride of the convolution (int or one per spatial dim).")
    padding: Literal["valid", "same"] = Field("valid", description="`valid` (no padding) or `same`.")
    data_format: DataFormat = Field(None, description="`channels_last` (default) or `channels_first`.")
    dilation_rate: Size = Field(1, description="Dilation rate (int or one per spatial dim).")


class _RecurrentActivation(Layer):
    activation: ActivationName = Field("tanh", description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")


_RecurrentWeightArgs = weight_args(
    kernel=("the input kernel", "glorot_uniform"),
    recurrent=("the recurrent kernel", "orthogonal"),
    bias=("the bias", "zeros"),
)


class _RecurrentBase(_RecurrentWeightArgs, _RecurrentActivation):
    """Arguments every Keras recurrent layer takes: `activation`, `use_bias`, the weight arguments,
    then these. Subclasses list it before the base holding their leading arguments (`units`;
    `filters`, `kernel_size`, ...), so that those come first, as in Keras."""

    dropout: Rate = Field(0.0, description="Fraction of the inputs to drop, in [0, 1).")
    recurrent_dropout: Rate = Field(0.0, description="Fraction of the recurrent state to drop, in [0, 1).")
    seed: int | None = Field(None, description="Random seed for dropout.")
    return_sequences: bool = Field(False, description="Return the whole output sequence, not only the last output.")
    return_state: bool = Field(False, description="Also return the final state(s), as extra outputs after the output.")
    go_backwards: bool = Field(False, description="Process the input sequence backwards.")
    stateful: bool = Field(False, description="Not supported: stateful RNNs need a fixed batch size.")

    # Number of state tensors (h; h and c for the LSTMs).
    states: ClassVar[int] = 1

    @field_validator("stateful")
    @classmethod
    def _no_stateful(cls, value):
        if value:
            raise ValueError(
                "`stateful: true` is not supported: a stateful RNN needs a fixed batch size, and spec inputs "
                "have none; received stateful=true. Remove `stateful` (carry the state yourself with "
                "`return_state` if you need it)"
            )
        return value


class _RNN(_RecurrentBase, _Units):
    unroll: bool = Field(False, description="Unroll the loop (faster for short sequences; needs a known length).")

    # Gates: weight blocks of size `units` in each kernel.
    gates: ClassVar[int] = 1

    def bias_size(self) -> int:
        return self.gates * self.units

    def infer(self, inputs):
        steps, features = sequence_input(inputs[0], self.type)
        if features is None:
            raise ShapeMismatch(
                f"`{self.type}` needs a known number of features (the last axis); received shape {fmt_shape(inputs[0])}",
                "give the input a fixed size on its last axis",
            )
        if self.unroll and steps is None:
            raise ShapeMismatch(
                f"`unroll: true` needs a known number of timesteps; received shape {fmt_shape(inputs[0])}",
                "give the input a fixed length, or remove `unroll`",
                field="unroll",
            )
        width = self.gates * self.units
        weights = features * width + self.units * width
        params = weights + (self.bias_size() if self.use_bias else 0)
        output = (steps, self.units) if self.return_sequences else (self.units,)
        outputs = [output] + ([(self.units,)] * self.states if self.return_state else [])
        return Inference(outputs, params, flops=2 * weights * (steps or 1))


class SimpleRNN(_RNN):
    """Fully-connected RNN whose output is fed back as the next input."""

    type: Literal["simple_rnn"]
    keras_class = "SimpleRNN"


class LSTM(_RNN):
    """Long Short-Term Memory layer (Hochreiter 1997)."""

    type: Literal["lstm"]
    recurrent_activation: ActivationName = Field("sigmoid", description="Activation of the gates.")
    unit_forget_bias: bool = Field(True, description="Add 1 to the forget gate's bias at initialization.")
    use_cudnn: Literal["auto"] | bool = Field("auto", description="Use the cuDNN kernel: `auto`, true or false.")

    keras_class = "LSTM"
    gates = 4
    states = 2


class GRU(_RNN):
    """Gated Recurrent Unit (Cho et al. 2014)."""

    type: Literal["gru"]
    recurrent_activation: ActivationName = Field("sigmoid", description="Activation of the gates.")
    reset_after: bool = Field(
        True,
        description="Apply the reset gate after the matrix multiplication (Keras 3's default, cuDNN-compatible; "
        "two bias vectors). Set false for the original GRU of Keras 2.",
    )
    use_cudnn: Literal["auto"] | bool = Field("auto", description="Use the cuDNN kernel: `auto`, true or false.")

    keras_class = "GRU"
    gates = 3

    def bias_size(self) -> int:
        return self.gates * self.units * (2 if self.reset_after else 1)


class _ConvLSTM(_RecurrentBase, _ConvArgs):
    recurrent_activation: ActivationName = Field("sigmoid", description="Activation of the gates.")
    unit_forget_bias: bool = Field(True, description="Add 1 to the forget gate's bias at initialization.")

    rank: ClassVar[int] = 2
    states = 2

    @model_validator(mode="after")
    def _check_tuples(self):
        for key in ("kernel_size", "strides", "dilation_rate"):
            value = getattr(self, key)
            if isinstance(value, tuple) and len(value) != self.rank:
                raise ValueError(
                    f"`{key}` of `{self.type}` needs {self.rank} value(s), one per spatial dimension; received {list(value)}"
                )
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        if max(strides) > 1 and max(dilation) > 1:
            raise ValueError(f"`strides` > 1 cannot be combined with `dilation_rate` > 1; "
                             f"received strides={self.strides}, dilation_rate={self.dilation_rate}")
        return self

    def infer(self, inputs):
        (shape,) = inputs
        if len(shape) != self.rank + 2:
            if len(shape) == self.rank + 1:
                hint = (f"`{self.type}` reads a sequence of {self.rank}D frames; add a `reshape` that gives the "
                        f"input a time axis, or use `conv{self.rank}d` for a single frame")
            else:
                hint = f"add a `reshape` to rank {self.rank + 3} (batch, timesteps, {self.rank} spatial dims, channels)"
            raise ShapeMismatch(
                f"`{self.type}` expects input of rank {self.rank + 3} (batch, timesteps, {self.rank} spatial dims, "
                f"channels); received shape {fmt_shape(shape)}",
                hint,
            )
        steps, frame = shape[0], shape[1:]
        if self.data_format == "channels_first":
            channels, spatial = frame[0], frame[1:]
        else:
            spatial, channels = frame[:-1], frame[-1]
        if channels is None or None in spatial:
            raise ShapeMismatch(
                f"`{self.type}` needs known spatial and channel sizes (only the timesteps may be null); "
                f"received shape {fmt_shape(shape)}",
                "give the input fixed sizes on every axis but the time axis",
            )
        kernel = as_tuple(self.kernel_size, self.rank, "kernel_size")
        strides = as_tuple(self.strides, self.rank, "strides")
        dilation = as_tuple(self.dilation_rate, self.rank, "dilation_rate")
        out = []
        for axis, (length, k, s, d) in enumerate(zip(spatial, kernel, strides, dilation)):
            size = conv_output_length(length, k, self.padding, s, d)
            if size <= 0:
                raise ShapeMismatch(
                    f"the kernel ({k}, dilation {d}) is larger than spatial axis {axis} of each frame "
                    f"(size {length}); received shape {fmt_shape(shape)}",
                    "use `padding: same`, a smaller `kernel_size`, or fewer downsampling layers before this one",
                    field="kernel_size",
                )
            out.append(size)
        window = product(kernel)
        input_weights = window * channels * 4 * self.filters
        recurrent_weights = window * self.filters * 4 * self.filters
        params = input_weights + recurrent_weights + (4 * self.filters if self.use_bias else 0)
        state = join_channels(out, self.filters, self.data_format)
        output = (steps, *state) if self.return_sequences else state
        outputs = [output] + ([state] * self.states if self.return_state else [])
        # Per step: the input convolution, and the recurrent one ("same" padding) on the state.
        flops = 2 * (input_weights + recurrent_weights) * product(out) * (steps or 1)
        return Inference(outputs, params, flops=flops)


class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over a sequence of 1D frames (timesteps, steps, channels)."""

    type: Literal["conv_lstm1d"]
    keras_class = "ConvLSTM1D"
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over a sequence of images (timesteps, rows, cols, channels)."""

    type: Literal["conv_lstm2d"]
    keras_class = "ConvLSTM2D"
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over a sequence of volumes (timesteps, depth, rows, cols, channels)."""

    type: Literal["conv_lstm3d"]
    keras_class = "ConvLSTM3D"
    rank = 3


# ----- rnn over cells -----
#
# A cell is one time step of a recurrent layer; `rnn` runs it (or a stack of them, each reading the one
# before) over the sequence. Cells are not layers of the graph (they never read a tensor by themselves),
# so their models are SpecModels, which the registry does not list.


class _CellArgs(SpecModel):
    units: PositiveInt = Field(description="Dimensionality of the output space (and of the state).")
    activation: ActivationName = Field("tanh", description="Activation function; null is linear.")
    use_bias: bool = Field(True, description="Whether the cell uses a bias vector.")


_CellWeightArgs = weight_args(
    kernel=("the input kernel", "glorot_uniform"),
    recurrent=("the recurrent kernel", "orthogonal"),
    bias=("the bias", "zeros"),
)


class _Cell(_CellWeightArgs, _CellArgs):
    dropout: Rate = Field(0.0, description="Fraction of the inputs to drop, in [0, 1).")
    recurrent_dropout: Rate = Field(0.0, description="Fraction of the recurrent state to drop, in [0, 1).")
    seed: int | None = Field(None, description="Random seed for dropout.")

    keras_class: ClassVar[str] = ""
    gates: ClassVar[int] = 1
    states: ClassVar[int] = 1

    def bias_size(self) -> int:
        return self.gates * self.units

    def params(self, features: int) -> int:
        width = self.gates * self.units
        return features * width + self.units * width + (self.bias_size() if self.use_bias else 0)

    def lower(self) -> KerasCall:
        """The Keras cell, with the arguments that differ from Keras's defaults."""
        kwargs = []
        for key, info in type(self).model_fields.items():
            value = getattr(self, key)
            if key == "type" or (type(value) is type(info.default) and value == info.default):
                continue
            module = next((m.name for m in info.metadata if isinstance(m, KerasModule)), None)
            kwargs.append((key, lower_object(module, value) if module else value))
        return KerasCall("layers", self.keras_class, tuple(kwargs))


class SimpleRNNCell(_Cell):
    """The cell of `simple_rnn`: `activation(x @ kernel + h @ recurrent_kernel + bias)`."""

    type: Literal["simple_rnn_cell"]
    keras_class = "SimpleRNNCell"


class LSTMCell(_Cell):
    """The cell of `lstm`: four gates; its state is (h, c)."""

    type: Literal["lstm_cell"]
    recurrent_activation: ActivationName = Field("sigmoid", description="Activation of the gates.")
    unit_forget_bias: bool = Field(True, description="Add 1 to the forget gate's bias at initialization.")
    keras_class = "LSTMCell"
    gates = 4
    states = 2


class GRUCell(_Cell):
    """The cell of `gru`: three gates."""

    type: Literal["gru_cell"]
    recurrent_activation: ActivationName = Field("sigmoid", description="Activation of the gates.")
    reset_after: bool = Field(True, description="Apply the reset gate after the matrix multiplication (two "
                              "bias vectors, Keras 3's default).")
    keras_class = "GRUCell"
    gates = 3

    def bias_size(self) -> int:
        return self.gates * self.units * (2 if self.reset_after else 1)


CELL_TYPES = {"simple_rnn_cell": SimpleRNNCell, "lstm_cell": LSTMCell, "gru_cell": GRUCell}
AnyCell = Annotated[SimpleRNNCell | LSTMCell | GRUCell, Field(discriminator="type")]


class RNN(Layer):
    """A recurrent layer over a cell, or over a list of cells stacked (each reads the outputs of the one
    before; the output is the last cell's): `{type: rnn, cell: [{type: lstm_cell, units: 32},
    {type: gru_cell, units: 16}]}`. With `return_state`, the states of every cell follow the output."""

    type: Literal["rnn"]
    cell: AnyCell | Annotated[list[AnyCell], Field(min_length=1)] = Field(
        description="A cell (`simple_rnn_cell`, `lstm_cell`, `gru_cell`), or a list of them, stacked.")
    return_sequences: bool = Field(False, description="Return the whole output sequence, not only the last output.")
    return_state: bool = Field(False, description="Also return the final state(s), as extra outputs after the output.")
    go_backwards: bool = Field(False, description="Process the input sequence backwards.")
    stateful: bool = Field(False, description="Not supported: stateful RNNs need a fixed batch size.")
    unroll: bool = Field(False, description="Unroll the loop (faster for short sequences; needs a known length).")
    zero_output_for_mask: bool = Field(
        False, description="With `return_sequences`, whether masked steps output zeros rather than the last output.")

    keras_class = "RNN"

    _no_stateful = field_validator("stateful")(_RecurrentBase._no_stateful.__func__)

    @model_validator(mode="after")
    def _check_stacked_states(self):
        # Keras returns a stacked LSTM cell's state as a nested [h, c] list, which no layer can read.
        if self.return_state and isinstance(self.cell, list) and any(c.states > 1 for c in self.cell):
            raise ValueError("`return_state` with a list of cells that holds an `lstm_cell` is not supported: "
                             "Keras returns that cell's (h, c) state as a nested list, which no layer reads; "
                             "give a single `lstm_cell` (not a list), or stack `lstm` layers with `return_state`")
        return self

    def cells(self) -> list:
        return self.cell if isinstance(self.cell, list) else [self.cell]

    def lower_value(self, key, value):
        if key == "cell":
            return [c.lower() for c in value] if isinstance(value, list) else value.lower()
        return super().lower_value(key, value)

    def infer(self, inputs):
        steps, features = sequence_input(inputs[0], self.type)
        if features is None:
            raise ShapeMismatch(
                f"`rnn` needs a known number of features (the last axis); received shape {fmt_shape(inputs[0])}",
                "give the input a fixed size on its last axis")
        if self.unroll and steps is None:
            raise ShapeMismatch(f"`unroll: true` needs a known number of timesteps; received shape "
                                f"{fmt_shape(inputs[0])}", "give the input a fixed length, or remove `unroll`",
                                field="unroll")
        params, flops, width = 0, 0, features
        states = []
        for cell in self.cells():
            params += cell.params(width)
            flops += 2 * (width + cell.units) * cell.gates * cell.units * (steps or 1)
            states += [(cell.units,)] * cell.states
            width = cell.units
        output = (steps, width) if self.return_sequences else (width,)
        return Inference([output] + (states if self.return_state else []), params, flops=flops)


RECURRENT_TYPES = ("simple_rnn", "lstm", "gru", "conv_lstm1d", "conv_lstm2d", "conv_lstm3d")
