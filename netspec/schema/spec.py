"""The top level of a spec: name, inputs, layers, outputs, training, data."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SerializeAsAny

from netspec.layers import AnyLayerType
from netspec.layers.base import MAX_SIZE, Identifier, SpecModel
from netspec.schema.data import Data
from netspec.schema.training import Training

FORMAT_VERSION = 1
# A plugin's module path (netspec.plugins.MODULE_PATTERN, kept here so the schema imports no plugin machinery).
PLUGIN_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class Input(SpecModel):
    """A model input (keras.Input)."""

    name: Identifier = Field(description="Input name, a Python identifier.")
    shape: list[Annotated[int, Field(gt=0, le=MAX_SIZE)] | None] = Field(
        description="Shape without the batch dimension; null for any length.")
    dtype: Literal["float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool", "string"] = Field(
        "float32", description="Element type; int32 for token ids.")
    sparse: bool = Field(False, description="Whether the input is a sparse tensor.")


def _data(value):
    return {"source": value} if isinstance(value, str) else value


class SpecHead(SpecModel):
    """Every top-level key of a spec but `layers` (validated layer by layer, see `validate_schema`)."""

    netspec: Literal[1] = Field(FORMAT_VERSION, description="Format version.")
    name: Identifier = Field(description="Model name, a Python identifier.")
    description: str = Field("", description="What the model is; free text.")
    plugins: list[Annotated[str, Field(pattern=PLUGIN_MODULE, max_length=200)]] = Field(
        default_factory=lambda: [],  # not `list`: pydantic reads a factory's signature, parsed from text for `list` (2 ms)
        description="Python modules to import, e.g. `my_package.layers`: their Keras layer classes registered with "
        "`@netspec.layer_type` or `keras.saving.register_keras_serializable` become layer types, named in "
        "snake_case (`ScaledDense` -> `scaled_dense`).")
    inputs: list[Input] = Field(min_length=1, description="One or more named model inputs.")
    outputs: list[str] | None = Field(None, min_length=1, description="Names of output layers; default: the last layer.")
    training: Training = Field(default_factory=Training, description="How to train the model.")
    data: Annotated[Data, BeforeValidator(_data)] | None = Field(None, description="Where training data comes from.")


class Spec(SpecHead):
    """A netspec network spec."""

    # Any layer type; the union of them all is built when Spec's validator or JSON Schema is. Serialized by each
    # layer's own model: a plugin's layer type is not in the union (netspec.plugins).
    layers: list[SerializeAsAny[AnyLayerType]] = Field(min_length=1, description="Layers, applied in order.")
