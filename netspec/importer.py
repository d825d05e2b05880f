"""`netspec import`: a Keras 3 model file -> a spec, read as data.

A `.keras` file is a zip archive holding `config.json` (the model's
architecture), `model.weights.h5` and `metadata.json`. This module reads
`config.json` with `zipfile` and `json` and nothing else: it never calls
`keras.saving.load_model`, never imports Keras, never deserializes a
function. A layer that runs code (`Lambda`), a custom class, or an argument
or connection the format has no equivalent for is an error naming the layer;
nothing that changes the model is dropped.

Each Keras layer maps to the netspec type whose `keras_class` it is, and each
config key to the field of that type with the same name (netspec's fields are
Keras's arguments, with Keras's defaults): the inverse mapping is read off
the layer definitions (netspec/layers/*), not kept in a second table. What
this module adds is what Keras's configs say differently from a spec:

* values Keras writes resolved (`data_format: channels_last` for the default
  None, `activation: linear` for None, a pooling's `strides` equal to its
  `pool_size`, an attention layer's `value_dim` and `attention_axes`, a
  Bidirectional's `backward_layer` copy): `_RESOLVED_ANY`, `_RESOLVED_BY_CLASS`
  and `_drop_resolved`;
* initializers, regularizers and constraints as `{class_name, config}`
  mappings, written back as a name (`he_normal`) or `{type: ..., args}` with
  the arguments that differ from Keras's defaults (`OBJECT_DEFAULTS`);
* tuples written per axis (`kernel_size: [3, 3]`), written back as one int
  where the field takes one;
* config keys that only Keras has, accepted at the one value netspec's build
  gives them (`KERAS_ONLY_ARGUMENTS`), and the config's bookkeeping (names,
  dtype policies, build configs);
* arithmetic on tensors (`x + y`, `x * 0.5`), which Keras records as
  operations, not layers: written as the merge or `rescaling` layer that
  computes the same (`_Importer.operation`).

Nested models (a Sequential or functional model called as a layer) are
flattened into the spec, their layers keeping their names (a name already
taken gets the nested model's name in front). Keras keys weights by position
and class, not by name (see netspec/weights.py): `import_weights` writes the
weights where the imported spec's model keeps each layer, and records which
layer each belongs to.
"""

from __future__ import annotations

import json
import re
import shutil
import typing
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from netspec.errors import Diagnostic, ModelImportError, UsageError
from netspec.layers import LAYER_TYPES
from netspec.layers.base import CONSTRAINTS, INITIALIZERS, REGULARIZERS, Layer, _padding_check, _size_check
from netspec.layers.conv import _output_padding_check
from netspec.names import CODE_LAYERS, KERAS_ONLY_LAYERS, auto_names
from netspec.weights import keras_layout, snake_case

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"

# Larger members are refused before they are read: a config is a few MB even for big models.
MAX_CONFIG_BYTES = 256 * 2**20

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})

# The netspec type of each Keras layer class: read off the layer definitions.
TYPE_OF_CLASS = {cls.keras_class: tag for tag, cls in LAYER_TYPES.items()}

_OBJECT_TABLES = {"initializers": INITIALIZERS, "regularizers": REGULARIZERS, "constraints": CONSTRAINTS}

# Keras's own arguments of its initializers, regularizers and constraints, as `get_config()` writes them for
# an object made without arguments (tests/test_importer.py checks them against Keras).
OBJECT_DEFAULTS = {
    "Constant": {"value": 0.0}, "Identity": {"gain": 1.0}, "Ones": {}, "Zeros": {},
    **{name: {"seed": None, "input_axes": None, "output_axes": None} for name in (
        "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform")},
    "Orthogonal": {"seed": None, "gain": 1.0},
    "RandomNormal": {"seed": None, "mean": 0.0, "stddev": 0.05},
    "RandomUniform": {"seed": None, "minval": -0.05, "maxval": 0.05},
    "TruncatedNormal": {"seed": None, "mean": 0.0, "stddev": 0.05},
    "VarianceScaling": {"seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
                        "input_axes": None, "output_axes": None},
    "L1": {"l1": 0.009999999776482582}, "L2": {"l2": 0.01}, "L1L2": {"l1": 0.0, "l2": 0.0},
    "OrthogonalRegularizer": {"factor": 0.009999999776482582, "mode": "rows"},
    "MaxNorm": {"max_value": 2, "axis": 0}, "MinMaxNorm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
    "NonNeg": {}, "UnitNorm": {"axis": 0},
}

# Classes that Keras 3 cannot make from their bare name (`keras.initializers.get("constant")` fails): written
# with their arguments.
_NAMED_WITH_ARGUMENTS = frozenset({"Constant"})

# Config keys of Keras layers that netspec's types have no field for: accepted where `accepts(value, where,
# config)` (`where`: "model", "bidirectional" or "wrapper", what holds the layer), refused otherwise.
KERAS_ONLY_ARGUMENTS = {
    "quantization_config": lambda value, where, config: value is None,
    "rms_scaling": lambda value, where, config: value is False,  # LayerNormalization's; netspec has rms_normalization
    "unroll": lambda value, where, config: value is False,  # ConvLSTM*D take it, and refuse True
    "activity_regularizer": lambda value, where, config: value is None,  # Embedding's
    # An RNN's: Keras's Bidirectional sets it to `return_sequences` on the layers it wraps, and it is False
    # elsewhere; it has no effect without `return_sequences`.
    "zero_output_for_mask": lambda value, where, config: not config.get("return_sequences") or value is (
        where == "bidirectional"),
    # The lookups' and text_vectorization's: what netspec's types always give, or a count Keras derives.
    "invert": lambda value, where, config: value is False,
    "vocabulary_dtype": lambda value, where, config: value == "int64",
    "vocabulary_size": lambda value, where, config: True,
    "oov_method": lambda value, where, config: value == "floormod",
    "salt": lambda value, where, config: value is None,
    "encoding": lambda value, where, config: value == "utf-8",
}

# Keys of a layer's config that are bookkeeping, not arguments of the model's architecture.
_BOOKKEEPING = ("name", "trainable", "dtype")

# Call keywords that a layer's node may record with these values, which are what a call without them gives.
# (`training` is recorded as the default of the layer's `call`: False, or True for these types.)
_TRAINING_BY_DEFAULT = frozenset({
    "random_flip", "random_rotation", "random_zoom", "random_translation", "random_contrast", "random_brightness",
    "random_crop", "center_crop", "resizing"})
_NEUTRAL_CALL_ARGUMENTS = {
    "mask": (None,), "initial_state": (None,), "constants": (None,),
    "query_mask": (None,), "value_mask": (None,), "key_mask": (None,), "attention_mask": (None,),
    "return_attention_scores": (False,), "use_causal_mask": (False,),
}

# Where a problem is said to be when the config was given as data, not a file.
_CONFIG_ORIGIN = "<model config>"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool", "string")
_MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


# ----- reading the file -----


def read_config(path: str | Path) -> tuple[dict, dict]:
    """(the model's config, the file's metadata) from a `.keras` file or a `config.json`, read as JSON data."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a folder; pass a `.keras` model file or its `config.json`")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                config = _json(archive, CONFIG_FILE, path)
                metadata = _json(archive, METADATA_FILE, path, required=False) or {}
        except (OSError, zipfile.BadZipFile) as exc:
            raise UsageError(f"cannot read {str(path)!r} as a .keras archive: {exc}") from exc
    else:
        if path.suffix == ".keras":
            raise UsageError(f"{str(path)!r} is not a zip archive, as a Keras 3 `.keras` file is; files saved by "
                             "Keras 2 (HDF5 `.h5`, or SavedModel folders) are not read: load and re-save them with "
                             "Keras 3 as `.keras`")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise UsageError(f"{str(path)!r} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; a model config is not")
        config = _parse(path.read_bytes(), str(path))
        metadata = {}
    if not isinstance(config, dict):
        raise UsageError(f"{str(path)!r} holds no Keras model config (a JSON object)")
    return config, metadata if isinstance(metadata, dict) else {}


def _json(archive: zipfile.ZipFile, member: str, path: Path, required: bool = True):
    try:
        info = archive.getinfo(member)
    except KeyError:
        if not required:
            return None
        raise UsageError(f"{str(path)!r} has no {member}; it is not a Keras 3 `.keras` model file") from None
    if info.file_size > MAX_CONFIG_BYTES:
        raise UsageError(f"{member} in {str(path)!r} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; refused")
    with archive.open(info) as file:
        return _parse(file.read(MAX_CONFIG_BYTES + 1), f"{path}:{member}")


def _parse(data: bytes, where: str):
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{where} is not valid JSON: {exc}") from exc


# ----- the result -----


@dataclass
class Imported:
    """A model read as a spec: the spec (plain data, keys in the order they are written), notes about what
    was changed in the writing (renames, flattened models), and where each layer's weights are in the
    model's file (`weights_from`) and in the imported spec's model (`weights_to`)."""

    spec: dict
    notes: list[str] = field(default_factory=list)
    weights_from: dict[str, str] = field(default_factory=dict)
    weights_to: dict[str, str] = field(default_factory=dict)


def import_model(model: str | Path | dict) -> dict:
    """The spec (plain data) of a Keras model: a `.keras` file, its `config.json`, or the config as a mapping
    (`keras.saving.serialize_keras_object(model)`, or `model.get_config()`). Nothing in it is run.

    Raises ModelImportError naming each layer or argument that has no netspec equivalent.
    """
    return read_model(model).spec


def read_model(model: str | Path | dict, *, origin: str | None = None) -> Imported:
    """`import_model`, with the notes and weight paths (see `Imported`). The spec is checked as `netspec validate`
    checks a spec (schema, graph, shapes) before it is returned."""
    metadata: dict = {}
    if isinstance(model, dict):
        config = model
    else:
        config, metadata = read_config(model)
        origin = origin or str(model)
    imported = _Importer(origin).run(config, metadata)
    _check(imported, origin)
    return imported


def _check(imported: Imported, origin: str | None) -> None:
    """A spec that does not validate is a model netspec cannot express (or a bug here): said as such."""
    from netspec.errors import SpecError
    from netspec.load import load

    try:
        load(imported.spec)
    except SpecError as exc:
        layers = imported.spec["layers"]
        problems = []
        for d in exc.diagnostics:
            match = re.match(r"layers\[(\d+)\]", d.path)
            where = d.path
            if match and int(match.group(1)) < len(layers):
                layer = layers[int(match.group(1))]
                where = layer.get("name") or f"{d.path} ({layer['type']})"
            problems.append(Diagnostic(f"netspec cannot take this model as written: {d.message}", where,
                                       file=origin or _CONFIG_ORIGIN, hint=d.hint))
        raise ModelImportError(problems) from exc


@dataclass
class ImportResult:
    """What `import_file` wrote: the spec's layer count and parameters, and notes about the writing."""

    layers: int
    params: int
    notes: list[str]


def import_file(model: str | Path, output: str | Path, *, weights: str | Path | None = None) -> ImportResult:
    """`netspec import MODEL -o OUTPUT [--weights FILE]`: the spec of a Keras model file, and its weights."""
    from netspec.summary import summarize

    output = Path(output)
    if output.suffix not in (".yaml", ".yml", ".json"):
        raise UsageError(f"the spec is written as YAML (.yaml) or JSON (.json); received {str(output)!r}")
    imported = read_model(model)
    if weights is not None:
        import_weights(model, imported, weights)
    write_spec(imported, output, origin=Path(model).name)
    summary = summarize(imported.spec)
    return ImportResult(len(imported.spec["layers"]), summary["total_params"], imported.notes)


# ----- walking the model -----


@dataclass
class _Pending:
    """A layer of the spec being written: its data (without `name` and `inputs`), name and input refs."""

    data: dict
    name: str
    inputs: list[str]
    keras_class: str


class _Importer:
    def __init__(self, origin: str | None):
        self.origin = origin
        self.problems: list[Diagnostic] = []
        self.notes: list[str] = []
        self.inputs: list[dict] = []
        self.layers: list[_Pending] = []
        self.taken: set[str] = set()
        self.order: list[tuple[str, str]] = []  # (spec name, Keras class) in the imported model's predicted order
        self.weights_from: dict[str, str] = {}
        self.policies: dict[str, str] = {}  # spec layer name -> dtype policy
        self.precision: str | None = None  # one mixed policy of the model's layers
        self.operations: list[tuple[str, str]] = []  # (spec name, type) of operations written as layers
        self.plugins: set[str] = set()  # the plugin modules (`plugins:`) whose layer types the spec uses

    # --- problems ---

    def problem(self, where: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(message, where, file=self.origin or _CONFIG_ORIGIN, hint=hint))

    # --- entry ---

    def run(self, config: dict, metadata: dict) -> Imported:
        class_name = config.get("class_name")
        body = config.get("config") if "config" in config and isinstance(config.get("config"), dict) else None
        if body is None and "layers" in config:  # a bare `model.get_config()`
            body = config
            class_name = "Functional" if "input_layers" in config else "Sequential"
        if class_name not in MODEL_CLASSES or not isinstance(body, dict) or not isinstance(body.get("layers"), list):
            found = f"a `{class_name}`" if isinstance(class_name, str) else "no model"
            raise UsageError(f"{self.origin or 'the config'} holds {found} config; netspec imports Keras 3 "
                             "Sequential and functional models (`keras.Model(inputs, outputs)`). A subclassed "
                             "model's architecture is Python code, which no config holds")
        model_name = self.identifier(str(body.get("name") or "model"), "model")
        if config.get("compile_config"):
            self.notes.append("the model was compiled; its optimizer, loss and metrics are not imported: write them "
                              "in the spec's `training:` section")
        outputs = self.model(class_name, body, bound=None, prefix="layers", trainable=True, scope="", top=True)
        self.check_policies()
        if self.problems:
            raise ModelImportError(self.problems)
        spec = self.spec(model_name, outputs, metadata)
        weights_to = keras_layout(self.order)
        return Imported(spec, self.notes, self.weights_from,
                        {name: path for name, path in weights_to.items() if name in self.weights_from})

    def model(self, class_name: str, body: dict, *, bound, prefix: str, trainable: bool, scope: str,
              top: bool = False) -> list[str]:
        """Walk a Sequential or functional model's layers; returns the refs of its outputs."""
        trainable = trainable and body.get("trainable", True) is not False
        if class_name == "Sequential":
            return self.sequential(body, bound=bound, prefix=prefix, trainable=trainable, scope=scope, top=top)
        return self.functional(body, bound=bound, prefix=prefix, trainable=trainable, scope=scope, top=top)

    def sequential(self, body: dict, *, bound, prefix, trainable, scope, top) -> list[str]:
        entries = [e for e in body["layers"] if isinstance(e, dict)]
        # Sequential.layers leaves out its InputLayer: so does the weights file.
        paths = keras_layout(((_keras_name(e), e.get("class_name", "")) for e in entries
                              if e.get("class_name") != "InputLayer"), prefix)
        current = bound[0] if bound else None
        for entry in entries:
            name = _keras_name(entry)
            if entry.get("class_name") == "InputLayer":
                if top:
                    current = self.model_input(entry.get("config") or {}, name, scope)
                    self.order.append((current, "InputLayer"))
                continue
            if current is None:
                current = self.sequential_input(body, entries, scope)
                if current is None:
                    return []
            if entry.get("class_name") in MODEL_CLASSES:
                outputs = self.nested(entry, [current], prefix=f"{paths[name]}/layers", trainable=trainable,
                                      scope=scope)
                if len(outputs) != 1:
                    if outputs:
                        self.problem(scope + name, f"the nested model `{name}` in a Sequential model has "
                                     f"{len(outputs)} outputs; a Sequential model passes on one")
                    outputs = [_FAILED]
                current = outputs[0]
                continue
            current = self.layer(entry, [current], path=paths[name], trainable=trainable, scope=scope)
            if current is None:
                current = _FAILED
        if current is None:
            self.problem(scope or "model", "the Sequential model has no layers")
            return []
        return [current]

    def sequential_input(self, body: dict, entries: list, scope: str) -> str | None:
        """A Sequential model without an InputLayer: its `build_input_shape`, if it was built."""
        shape = body.get("build_input_shape")
        if not isinstance(shape, list) or not shape:
            self.problem(scope or "model", "the Sequential model has no input shape: it was never built",
                         "give it an input first (`keras.Input(shape)` as its first layer, or `model.build(...)`), "
                         "then save it again")
            return None
        dtype = next((e.get("config", {}).get("dtype") for e in entries if isinstance(e.get("config"), dict)), None)
        config = {"batch_shape": shape, "dtype": dtype if isinstance(dtype, str) else "float32"}
        name = self.model_input(config, "input_layer", scope)
        self.order.insert(0, (name, "InputLayer"))
        return name

    def functional(self, body: dict, *, bound, prefix, trainable, scope, top) -> list[str]:
        entries = [e for e in body["layers"] if isinstance(e, dict)]
        # model.layers, which the weights file follows, leaves out operations (`x + y` on tensors)
        paths = keras_layout(((_keras_name(e), e.get("class_name", "")) for e in entries if not _is_operation(e)),
                             prefix)
        produced: dict[str, list[str] | str] = {}  # Keras layer name -> spec ref base, or a nested model's refs
        input_names = [t[0] for t in _triples(body.get("input_layers"))]
        if bound is not None:
            if len(bound) != len(input_names):
                self.problem(scope.rstrip("/") or "model", f"the nested model takes {len(input_names)} input(s) "
                             f"but is called with {len(bound)}")
                return []
            produced.update({name: [ref] for name, ref in zip(input_names, bound)})
        for entry in entries:
            name = _keras_name(entry)
            class_name = entry.get("class_name")
            if class_name == "InputLayer":
                if bound is None:
                    produced[name] = self.model_input(entry.get("config") or {}, name, scope)
                    self.order.append((produced[name], "InputLayer"))
                continue
            if _is_operation(entry) and class_name in _OPERATION_MERGES:
                produced[name] = self.operation(entry, produced, scope) or _FAILED
                continue
            nodes = entry.get("inbound_nodes") or []
            model = class_name in MODEL_CLASSES
            # A layer's own problems first: what it is and its arguments; then how it is called.
            data = None if model else self.layer_data(entry, scope + name, shapes=_node_shapes(entry))
            refs = None
            if len(nodes) > 1:
                self.problem(scope + name, f"layer `{name}` is called {len(nodes)} times, sharing its weights; "
                             "a spec's layers are each called once",
                             "write one layer per call (the weights then differ), or keep this model in Keras")
            elif not nodes:
                self.problem(scope + name, f"layer `{name}` is not connected to the model's inputs")
            elif model or data is not None:
                refs = self.node_inputs(nodes[0], produced, entry, scope)
            if refs is None:
                produced[name] = _FAILED
            elif model:
                outputs = self.nested(entry, refs, prefix=f"{paths[name]}/layers", trainable=trainable, scope=scope)
                produced[name] = outputs or _FAILED
            else:
                produced[name] = self.add_layer(entry, data, refs, path=paths[name], trainable=trainable,
                                                scope=scope)
        if bound is None:  # the spec's inputs in the model's order (the config lists them by depth)
            spec_names = [produced.get(name) for name in input_names]
            self.inputs.sort(key=lambda i: spec_names.index(i["name"]) if i["name"] in spec_names else len(spec_names))
        outputs = []
        for name, node, index in _triples(body.get("output_layers")):
            ref = _resolve(produced, name, node, index)
            if ref is None:
                if not self.problems:
                    self.problem(scope + str(name), f"the model's output `{name}` is not a layer of the model")
                return []
            outputs.append(ref)
        return outputs

    def operation(self, entry: dict, produced: dict, scope: str) -> str | None:
        """`x + y`, `x * 0.5`, `keras.ops.maximum(x, y)` on the model's tensors: the merge layer of two tensors of
        the same rank, or a `rescaling` (x * scale + offset) for a float tensor and a number; the same arithmetic,
        as a layer. Its spec name, or None after a problem."""
        name = _keras_name(entry)
        where = scope + name
        class_name = entry.get("class_name")
        label = f"layer `{name}` ({class_name})"
        nodes = entry.get("inbound_nodes") or []
        node = nodes[0] if len(nodes) == 1 and isinstance(nodes[0], dict) else {}
        args, kwargs = list(node.get("args") or []), node.get("kwargs") or {}
        tensors = [a for a in args if _is_tensor(a)]
        numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
        shapes = [t["config"].get("shape") or [] for t in tensors]
        dtypes = [t["config"].get("dtype") for t in tensors]
        data: dict[str, Any] | None = None
        if len(args) == 2 and not kwargs and len(tensors) == 2 and len(shapes[0]) == len(shapes[1]):
            data = {"type": _OPERATION_MERGES[class_name]}
        elif (len(args) == 2 and not kwargs and len(tensors) == 1 and len(numbers) == 1 and class_name in (
                "Add", "Subtract", "Multiply") and dtypes[0] in ("float16", "bfloat16", "float32", "float64")):
            number, tensor_first = float(numbers[0]), _is_tensor(args[0])
            scale, offset = {"Add": (1.0, number), "Multiply": (number, 0.0),
                             "Subtract": (1.0, -number) if tensor_first else (-1.0, number)}[class_name]
            data = {"type": "rescaling", "scale": scale, **({"offset": offset} if offset else {})}
        if data is None:
            self.problem(where, f"{label} is the operation keras.ops.{snake_case(class_name)} applied to "
                         f"{', '.join(_node_tensors(a)[0] if _is_tensor(a) else _show(a) for a in args)}; netspec "
                         "writes such an operation as a layer only "
                         "for two tensors of the same rank (a merge) or a float tensor and a number (`rescaling`)",
                         "write it as a layer, or keep this model in Keras")
            return None
        refs = []
        for tensor in tensors:
            ref = _resolve(produced, *(tensor["config"].get("keras_history") or [None, 0, 0])[:3])
            if ref is None:
                self.problem(where, f"{label} reads a tensor that is not an earlier layer's")
                return None
            refs.append(ref)
        spec_name = self.identifier(name, "layer", scope)
        keras_class = LAYER_TYPES[data["type"]].keras_class
        self.layers.append(_Pending(data, spec_name, refs, keras_class))
        self.order.append((spec_name, keras_class))
        self.operations.append((spec_name, data["type"]))
        return spec_name

    def nested(self, entry: dict, refs: list[str], *, prefix: str, trainable: bool, scope: str) -> list[str]:
        name = _keras_name(entry)
        body = entry.get("config")
        if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
            self.problem(scope + name, f"the nested model `{name}` has no layers in its config")
            return []
        self.notes.append(f"nested model `{name}` ({entry.get('class_name')}) flattened into the spec")
        return self.model(entry.get("class_name"), body, bound=refs, prefix=prefix, trainable=trainable,
                          scope=f"{scope}{name}/")

    # --- inputs ---

    def model_input(self, config: dict, keras_name: str, scope: str) -> str:
        where = scope + keras_name
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if not isinstance(shape, list) or not shape:
            self.problem(where, f"input `{keras_name}` has no shape")
            shape = [None]
        if shape[0] is not None:
            self.problem(where, f"input `{keras_name}` has a fixed batch size ({shape[0]}); a spec's inputs take "
                         "any batch size", "save the model with `keras.Input(shape)`, which leaves the batch open")
        dtype = config.get("dtype", "float32")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name", "float32")
        if dtype not in _INPUT_DTYPES:
            self.problem(where, f"input `{keras_name}` has dtype {dtype!r}; a spec's inputs take "
                         f"{', '.join(_INPUT_DTYPES)}")
        for key in ("ragged", "optional"):
            if config.get(key):
                self.problem(where, f"input `{keras_name}` is {key}; a spec's inputs are not")
        name = self.identifier(keras_name, "input")
        spec_input: dict[str, Any] = {"name": name, "shape": list(shape[1:])}
        if dtype != "float32":
            spec_input["dtype"] = dtype
        if config.get("sparse"):
            spec_input["sparse"] = True
        self.inputs.append(spec_input)
        return name

    # --- a node's inputs ---

    def node_inputs(self, node, produced: dict, entry: dict, scope: str) -> list[str] | None:
        """The refs a layer reads, in netspec's order for its call convention; None after a problem."""
        name = _keras_name(entry)
        where = scope + name
        if not isinstance(node, dict):
            self.problem(where, f"layer `{name}` has an inbound node in Keras 2's format; save the model with "
                         "Keras 3")
            return None
        args = list(node.get("args") or [])
        kwargs = dict(node.get("kwargs") or {})
        tag = TYPE_OF_CLASS.get(entry.get("class_name"))
        convention = LAYER_TYPES[tag].call_convention if tag else "single"
        if entry.get("class_name") in MODEL_CLASSES:
            convention = "model"
        tensors: list = []
        if convention == "list" and len(args) == 1 and isinstance(args[0], list):
            tensors = list(args[0])
        elif convention == "model" and len(args) == 1 and isinstance(args[0], list | dict) and not _is_tensor(args[0]):
            tensors = list(args[0].values()) if isinstance(args[0], dict) else list(args[0])
        else:
            tensors = args
        if convention == "attention":
            for key in ("query", "value", "key"):
                if _is_tensor(kwargs.get(key)):
                    tensors.append(kwargs.pop(key))
        refs = []
        for tensor in tensors:
            if not _is_tensor(tensor):
                self.problem(where, f"layer `{name}` is called with {_show(tensor)} besides its input tensors; "
                             "netspec calls a layer with tensors only")
                return None
            history = tensor["config"].get("keras_history") or [None, 0, 0]
            ref = _resolve(produced, *history[:3])
            if ref is None:
                self.problem(where, f"layer `{name}` reads `{history[0]}`, which is not an earlier layer of the "
                             "model")
                return None
            refs.append(ref)
        neutral_training = (None, tag in _TRAINING_BY_DEFAULT)
        for key, value in kwargs.items():
            if key in ("query", "value", "key") and value is None:
                continue
            neutral = neutral_training if key == "training" else _NEUTRAL_CALL_ARGUMENTS.get(key, ())
            if not any(_same(value, n) for n in neutral):
                if key == "training":
                    what = (f"`training={_show(value)}`, which fixes it in {'training' if value else 'inference'} "
                            "mode (e.g. Monte Carlo dropout)")
                elif _node_tensors(value):
                    what = f"the model's tensor(s) {', '.join(_node_tensors(value))} as `{key}`"
                else:
                    what = f"`{key}={_show(value)}`"
                self.problem(where, f"layer `{name}` is called with {what}; a spec cannot say that",
                             "netspec calls each layer with its input tensors only")
                return None
        if convention == "attention" and len(refs) == 2 and refs[0] == refs[1]:
            refs = refs[:1]  # self-attention: netspec calls layer(x, x) for one input
        return refs

    # --- one layer ---

    def layer(self, entry: dict, refs: list[str], *, path: str, trainable: bool, scope: str) -> str | None:
        """A layer of a Sequential model (it reads `refs`): its spec name, or None after a problem."""
        data = self.layer_data(entry, scope + _keras_name(entry), shapes=_node_shapes(entry))
        if data is None:
            return None
        return self.add_layer(entry, data, refs, path=path, trainable=trainable, scope=scope)

    def add_layer(self, entry: dict, data: dict, refs: list[str], *, path: str, trainable: bool, scope: str) -> str:
        """Add a layer's spec data (from `layer_data`) to the spec; its spec name."""
        keras_name = _keras_name(entry)
        config = entry.get("config") or {}
        if not (trainable and config.get("trainable", True) is not False):
            data["trainable"] = False
        name = self.identifier(keras_name, "layer", scope)
        self.layers.append(_Pending(data, name, refs, entry.get("class_name")))
        self.order.append((name, entry.get("class_name")))
        self.weights_from[name] = path
        policy = _policy(config.get("dtype"))
        gives_ids = hasattr(LAYER_TYPES.get(data.get("type")), "output_dtype")  # Keras sets their int policy itself
        if policy is not None and not (gives_ids and policy.startswith(("int", "uint"))):
            self.policies[name] = policy
        return name

    def layer_data(self, entry: dict, where: str, *, where_kind: str = "model", shapes=()) -> dict | None:
        """A Keras layer's serialized form -> the spec's mapping for it (without name and inputs); None after
        a problem."""
        if not isinstance(entry, dict):
            self.problem(where, f"expected a serialized Keras layer; received {_show(entry)}")
            return None
        class_name = str(entry.get("class_name"))
        label = f"layer `{_keras_name(entry) or where}` ({class_name})"
        module = str(entry.get("module") or "keras.layers")
        registered = entry.get("registered_name")
        custom = registered not in (None, class_name) and ">" in str(registered)
        layers_module = module == "keras.layers" or module.startswith(("keras.layers.", "keras.src.layers."))
        tag = TYPE_OF_CLASS.get(class_name) if layers_module and not custom else None
        plugin = _plugin_type(module, class_name)
        if plugin is not None:  # a class of a plugin loaded by --plugin: its layer type
            tag = plugin
            self.plugins.add(LAYER_TYPES[tag].plugin_module)
        snake = snake_case(class_name)
        if tag is not None:
            pass
        elif class_name in MODEL_CLASSES and not custom:
            self.problem(where, f"{label} is a model inside a wrapper; netspec wraps single layers")
        elif custom or not (module == "keras" or module.startswith("keras.")):  # not keras_hub, keras_cv, ...
            self.problem(where, f"{label} is a custom layer class (registered as {registered or module!r}); a "
                         "spec holds Keras's built-in layers only",
                         "rewrite it with built-in layers, or keep this model in Keras")
        elif module.startswith(("keras.src.ops", "keras.ops")):
            self.problem(where, f"{label} is the operation keras.ops.{snake} applied to the model's tensors "
                         "(an operator or keras.ops call on a tensor, such as `x + 3.0`); a spec holds layers only",
                         "write it as a layer (`rescaling` computes x * scale + offset; merges such as `add` "
                         "and `multiply` join tensors), or keep this model in Keras")
        elif not layers_module:
            self.problem(where, f"{label} is {module}.{class_name}, a Keras class outside keras.layers; netspec "
                         "has no equivalent", "rewrite it with built-in layers, or keep this model in Keras")
        elif snake in CODE_LAYERS:
            self.problem(where, f"{label} runs arbitrary Python code, which a spec never holds (and which "
                         "netspec import never loads)",
                         "write the computation with built-in layers, or keep this model in Keras")
        elif snake in KERAS_ONLY_LAYERS:
            self.problem(where, f"{label}: netspec has no `{snake}` layer type yet",
                         "`netspec layers` lists the types it has")
        else:
            self.problem(where, f"{label}: netspec has no equivalent of keras.layers.{class_name}",
                         "`netspec layers` lists the types it has")
        if tag is None:
            return None
        cls = LAYER_TYPES[tag]
        config = entry.get("config")
        if not isinstance(config, dict):
            self.problem(where, f"{label} has no config")
            return None
        data: dict[str, Any] = {"type": tag}
        ok = True
        for key, value in config.items():
            if key in _BOOKKEEPING:
                continue
            if key in cls.model_fields and key not in Layer.model_fields:
                converted = self.value(cls, key, value, where, label)
                if converted is _INVALID:
                    ok = False
                else:
                    data[key] = converted
            elif key in KERAS_ONLY_ARGUMENTS and KERAS_ONLY_ARGUMENTS[key](value, where_kind, config):
                continue
            else:
                self.problem(where, f"{label}: argument `{key}` (={_show(value)}) has no netspec equivalent",
                             "netspec's `" + tag + "` takes: " + ", ".join(
                                 k for k in cls.model_fields if k not in Layer.model_fields))
                ok = False
        if not ok:
            return None
        _drop_resolved(data, cls, shapes)
        for key in list(data):
            if key != "type" and _is_default(cls, key, data[key]):
                del data[key]
        try:
            cls.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = ".".join(str(part) for part in error["loc"] if part != tag)
                self.problem(where, f"{label}: `{loc}`: {error['msg']}" if loc else f"{label}: {error['msg']}")
            return None
        return data

    def value(self, cls: type[Layer], key: str, value, where: str, label: str):
        """A config value -> the spec's way of writing it."""
        if key in cls.object_fields:
            return self.keras_object(cls.object_fields[key], value, where, f"{label}: `{key}`")
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            kind = "bidirectional" if cls.keras_class == "Bidirectional" else "wrapper"
            nested = self.layer_data(value, f"{where}/{key}", where_kind=kind)
            if nested is None:
                return _INVALID
            nested_name = _keras_name(value)
            if nested_name:
                nested["name"] = nested_name
                if kind == "bidirectional":  # Keras names them itself: forward_<name>, backward_<name>
                    nested["name"] = re.sub(r"^(forward|backward)_", "", nested_name)
                nested = {"type": nested["type"], "name": nested.pop("name"), **nested}
            if (value.get("config") or {}).get("trainable") is False:
                nested["trainable"] = False
            return nested
        if key == "cell" and isinstance(value, dict):
            return self.cells(value, where, label)
        if isinstance(value, dict) and ("class_name" in value or "module" in value):
            self.problem(where, f"{label}: argument `{key}` is a serialized object ({_show(value)}); netspec "
                         "takes plain values there")
            return _INVALID
        value = _lists(value)
        form = _field_form(cls, key)
        if form == "size" and isinstance(value, list) and value and len(set(map(repr, value))) == 1:
            return value[0]
        if form == "pad":
            return _pad_amount(value)
        return value

    def cells(self, value: dict, where: str, label: str):
        """An RNN's serialized cell -> a cell of the spec; StackedRNNCells -> a list of them."""
        if value.get("class_name") == "StackedRNNCells":
            found = [self.cell(v, where, label) for v in (value.get("config") or {}).get("cells") or []]
            return _INVALID if any(c is _INVALID for c in found) else found
        return self.cell(value, where, label)

    def cell(self, value, where: str, label: str):
        from netspec.layers.base import KerasModule
        from netspec.layers.recurrent import CELL_TYPES

        name = snake_case(str(value.get("class_name", ""))) if isinstance(value, dict) else ""
        if name not in CELL_TYPES or value.get("module") not in (None, "keras.layers"):
            self.problem(where, f"{label}: the cell {_show(value)} is not one of netspec's cells: "
                         f"{', '.join(CELL_TYPES)}")
            return _INVALID
        cls = CELL_TYPES[name]
        data = {"type": name}
        for key, arg in (value.get("config") or {}).items():
            if key in _BOOKKEEPING:
                continue
            if key not in cls.model_fields:
                self.problem(where, f"{label}: argument `{key}` (={_show(arg)}) of the cell {name} has no netspec "
                             "equivalent")
                return _INVALID
            info = cls.model_fields[key]
            module = next((m.name for m in info.metadata if isinstance(m, KerasModule)), None)
            if module:
                arg = self.keras_object(module, arg, where, f"{label}: `cell.{key}`")
                if arg is _INVALID:
                    return _INVALID
                if _object_key(module, arg) == _object_key(module, info.default):
                    continue
            elif not info.is_required() and _same(arg, info.default):
                continue
            data[key] = arg
        return data

    def keras_object(self, module: str, value, where: str, label: str):
        """A serialized initializer, regularizer or constraint -> a name, or {type: name, args that differ}."""
        if value is None:
            return None
        table = _OBJECT_TABLES[module]
        if isinstance(value, str):
            if value in table:
                return value
            self.problem(where, f"{label}: {value!r} is not one of netspec's {module}: {', '.join(table)}")
            return _INVALID
        if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
            self.problem(where, f"{label}: expected a serialized Keras object; received {_show(value)}")
            return _INVALID
        class_name = value["class_name"]
        name = snake_case(class_name)
        registered = value.get("registered_name")
        if name not in table or table[name] != class_name or (registered and ">" in str(registered)):
            self.problem(where, f"{label}: {class_name} (registered as {registered!r}) is not one of netspec's "
                         f"{module}: {', '.join(sorted(set(table.values())))}")
            return _INVALID
        args = {}
        defaults = OBJECT_DEFAULTS.get(class_name, {})
        for arg, arg_value in (value.get("config") or {}).items():
            if arg in defaults and _same(arg_value, defaults[arg]) and class_name not in _NAMED_WITH_ARGUMENTS:
                continue
            if not isinstance(arg_value, int | float | str | bool | type(None)):
                self.problem(where, f"{label}: argument `{arg}` of {class_name} is {_show(arg_value)}; netspec "
                             "takes numbers, strings and booleans there")
                return _INVALID
            args[arg] = arg_value
        return {"type": name, **args} if args else name

    # --- names ---

    def identifier(self, keras_name: str, kind: str, scope: str = "") -> str:
        """A unique spec name for a Keras name: kept where it is an identifier and free."""
        name = re.sub(r"[^A-Za-z0-9_]", "_", keras_name) or kind
        if not _IDENTIFIER.match(name):
            name = f"{kind}_{name}"
        why = "a spec's names are identifiers" if name != keras_name else None
        if kind != "model" and name in self.taken:
            if scope:
                name = f"{self.identifier_part(scope)}_{name}"
            base, n = name, 0
            while name in self.taken:
                n += 1
                name = f"{base}_{n}"
            why = "the name was taken"
        if why:
            self.notes.append(f"{kind} `{scope}{keras_name}` named `{name}` ({why})")
        if kind != "model":
            self.taken.add(name)
        return name

    @staticmethod
    def identifier_part(scope: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]", "_", scope.strip("/"))

    # --- dtype policies ---

    def check_policies(self) -> None:
        """float32 layers are a spec's own; one mixed policy becomes `training.precision`; others are refused."""
        others = {name: p for name, p in self.policies.items() if p != "float32"}
        mixed = {p for p in others.values() if p in _MIXED_POLICIES}
        for name, policy in others.items():
            if policy not in _MIXED_POLICIES or len(mixed) > 1:
                self.problem(name, f"layer `{name}` computes under dtype policy {policy!r}; a spec's layers "
                             "compute in float32, or under one mixed policy (`training.precision`)")
        self.precision = mixed.pop() if len(mixed) == 1 and not self.problems else None

    # --- the spec ---

    def spec(self, name: str, outputs: list[str], metadata: dict) -> dict:
        origin = Path(self.origin).name if self.origin else "a Keras model config"
        version = metadata.get("keras_version")
        layers = [p for p in self.layers]
        data = {
            "netspec": 1,
            "name": name,
            "description": f"Imported from {origin}" + (f" (Keras {version})" if version else ""),
            **({"plugins": sorted(self.plugins)} if self.plugins else {}),
            "inputs": self.inputs,
            "layers": _written_layers(layers, self.inputs),
        }
        if not layers or outputs != [layers[-1].name]:
            data["outputs"] = outputs
        if self.operations:
            shown = ", ".join(f"`{name}` ({kind})" for name, kind in self.operations[:6])
            more = f" and {len(self.operations) - 6} more" if len(self.operations) > 6 else ""
            self.notes.append(f"{len(self.operations)} operation(s) on tensors (`x + y`, `x * 0.5`, ...) written "
                              f"as the layers that compute the same: {shown}{more}")
        if self.precision is not None:
            data["training"] = {"precision": self.precision}
            self.notes.append(f"the model's layers compute under {self.precision}: written as training.precision")
        return data


def _plugin_type(module: str, class_name: str) -> str | None:
    """The layer type that a loaded plugin (netspec/plugins.py) made of the class `module.class_name`, or None."""
    for tag, cls in LAYER_TYPES.items():
        if getattr(cls, "plugin_module", None) and cls.keras_class == class_name and module in (
                cls.plugin_module, cls.class_module):
            return tag
    return None


_INVALID = object()  # a value that could not be converted (its problem is reported)
# The ref of a layer that could not be imported (its problem is reported): the layers after it are still
# read, so that every problem of a model is reported at once.
_FAILED = "<failed>"


def _written_layers(layers: list[_Pending], inputs: list[dict]) -> list[dict]:
    """The spec's layers: `inputs` left out where a layer reads the previous one (or the only model input),
    `name` left out where netspec's automatic name is the same."""
    input_names = [i["name"] for i in inputs]
    explicit: set[int] = set()
    while True:  # a name written out can change the automatic names after it; settle them
        drafts = [SimpleNamespace(type=p.data["type"], name=p.name if i in explicit else None)
                  for i, p in enumerate(layers)]
        automatic = auto_names(drafts, {p.name for i, p in enumerate(layers) if i in explicit} | set(input_names))
        wrong = next((i for i, (p, auto) in enumerate(zip(layers, automatic)) if auto != p.name), None)
        if wrong is None:
            break
        explicit.add(wrong)  # the first only: it shifts the automatic names after it
    written = []
    for i, pending in enumerate(layers):
        previous = [layers[i - 1].name] if i else input_names if len(input_names) == 1 else None
        item = {"type": pending.data["type"]}
        if i in explicit:
            item["name"] = pending.name
        if pending.inputs != previous:
            item["inputs"] = pending.inputs
        item.update((k, v) for k, v in pending.data.items() if k not in ("type", "trainable"))
        if "trainable" in pending.data:
            item["trainable"] = pending.data["trainable"]
        written.append(item)
    return written


# ----- values -----


def _is_operation(entry: dict) -> bool:
    """A keras.ops operation applied to the model's tensors (`x + y`), recorded among the layers."""
    return str(entry.get("module") or "").startswith(("keras.src.ops", "keras.ops"))


# Operations on two tensors that a merge layer computes alike (netspec type of each).
_OPERATION_MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Maximum": "maximum",
                     "Minimum": "minimum"}


def _keras_name(entry: dict) -> str:
    name = entry.get("name") or (entry.get("config") or {}).get("name")
    return str(name) if name is not None else ""


def _triples(value) -> list[tuple]:
    """A functional config's `input_layers` / `output_layers`: one [name, node, index], a list or a dict of them."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or not value:
        return []
    if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [tuple(value)]
    return [tuple(v) for v in value if isinstance(v, list) and len(v) == 3]


def _resolve(produced: dict, name, node, index) -> str | None:
    """The spec ref of output `index` of Keras layer `name` (node 0: each layer is called once)."""
    made = produced.get(name)
    if made == _FAILED or made == [_FAILED]:
        return _FAILED
    if made is None or node not in (0, None) or not isinstance(index, int):
        return None
    if isinstance(made, list):  # a model input, or a nested model's outputs
        return made[index] if 0 <= index < len(made) else None
    return made if index == 0 else f"{made}[{index}]"


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__" and isinstance(
        value.get("config"), dict)


def _node_tensors(value) -> list[str]:
    """The layers whose tensors `value` (a call argument) holds, as `name` or `name[i]`."""
    if _is_tensor(value):
        name, _, index = (value["config"].get("keras_history") or ["?", 0, 0])[:3]
        return [f"`{name}`" if index == 0 else f"`{name}[{index}]`"]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _node_tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _node_tensors(item)]
    return []


def _node_shapes(entry: dict) -> list:
    """Shapes (with the batch axis) of the tensors a layer's node reads, as Keras recorded them."""
    nodes = entry.get("inbound_nodes") or []
    found = []

    def walk(value):
        if _is_tensor(value):
            found.append(value["config"].get("shape"))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    if nodes and isinstance(nodes[0], dict):
        walk(nodes[0].get("args"))
        walk(nodes[0].get("kwargs"))  # tensors passed by keyword (`query=`, `value=`) come after
    return found


def _policy(dtype) -> str | None:
    """The name of a layer's dtype policy (`DTypePolicy` mapping or plain name)."""
    if isinstance(dtype, dict):
        if dtype.get("class_name") not in (None, "DTypePolicy", "FloatDTypePolicy"):
            return str(dtype.get("class_name"))
        return (dtype.get("config") or {}).get("name")
    return dtype if isinstance(dtype, str) else None


def _show(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, list | tuple) else value


def _same(a, b) -> bool:
    """Equal, booleans only to booleans (True == 1 in Python, not in a Keras argument)."""
    if isinstance(a, list) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _field_form(cls: type[Layer], key: str) -> str | None:
    """`size` for a field taking an int or one per axis, `pad` for padding/cropping amounts (from its type,
    `Size`, `OutputPadding` or `PadAmount`, alone or in a union such as `Size | None`)."""
    info = cls.model_fields[key]
    metadata = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            metadata += typing.get_args(arg)[1:]
    for meta in metadata:
        func = getattr(meta, "func", None)
        if func in (_size_check, _output_padding_check):
            return "size"
        if func is _padding_check:
            return "pad"
    return None


def _pad_amount(value):
    """Per-axis (before, after) pairs -> the shortest form netspec reads the same: an int, or an int per axis."""
    if not isinstance(value, list) or not value:
        return value
    if all(isinstance(v, int) for v in value):  # 1D: [before, after]
        return value[0] if len(value) == 2 and value[0] == value[1] else value
    if all(isinstance(v, list) and len(v) == 2 for v in value):
        if all(a == b for a, b in value):
            sizes = [a for a, _ in value]
            return sizes[0] if len(set(sizes)) == 1 else sizes
    return value


def _object_key(module: str, value):
    """An initializer (etc.) as (Keras class, arguments that differ from its defaults), for comparisons."""
    if value is None:
        return None
    table = _OBJECT_TABLES[module]
    if isinstance(value, str):
        return (table.get(value, value), ())
    class_name = table.get(value.get("type"), value.get("type"))
    defaults = OBJECT_DEFAULTS.get(class_name, {})
    args = tuple(sorted((k, v) for k, v in value.items() if k != "type" and not (
        k in defaults and _same(v, defaults[k]))))
    return (class_name, args)


def _is_default(cls: type[Layer], key: str, value) -> bool:
    info = cls.model_fields[key]
    if info.is_required():
        return False
    default = info.default
    if key in cls.object_fields:
        module = cls.object_fields[key]
        return _object_key(module, value) == _object_key(module, default)
    if isinstance(default, tuple):
        default = list(default)
    return _same(value, default)


def _axes_all_but_batch_and_features(shapes) -> list[int] | None:
    if not shapes or not isinstance(shapes[0], list):
        return None
    return list(range(1, len(shapes[0]) - 1))


# Values Keras writes into a config where the constructor was given None (or nothing): key -> a function of
# the layer's data and the shapes it reads, giving the value Keras writes for the default.
_RESOLVED_ANY = {
    "data_format": lambda data, shapes: "channels_last",
    "activation": lambda data, shapes: "linear",
}
_RESOLVED_BY_CLASS = {
    **{cls: {"strides": lambda data, shapes: data.get("pool_size", 2)} for cls in (
        f"{kind}Pooling{rank}D" for kind in ("Max", "Average") for rank in (1, 2, 3))},
    "BatchNormalization": {"renorm_clipping": lambda data, shapes: {}},
    "MultiHeadAttention": {
        "value_dim": lambda data, shapes: data.get("key_dim"),
        "attention_axes": lambda data, shapes: _axes_all_but_batch_and_features(shapes),
    },
}


def _drop_resolved(data: dict, cls: type[Layer], shapes) -> None:
    """Where the config holds what Keras made of a default, write the default (left out after)."""
    rules = {**_RESOLVED_ANY, **_RESOLVED_BY_CLASS.get(cls.keras_class, {})}
    for key, resolved in rules.items():
        if key not in data or cls.model_fields[key].is_required() or cls.model_fields[key].default is not None:
            continue
        expected = resolved(data, shapes)
        if _same(_lists(data[key]), _lists(expected)) or (
                isinstance(expected, int) and isinstance(data[key], list) and all(v == expected for v in data[key])):
            data[key] = None
    if cls.keras_class == "Normalization" and isinstance(data.get("axis"), list):
        axes = data["axis"]  # Keras keeps `axis` as a tuple: -1 is (-1,), None is ()
        data["axis"] = None if not axes else axes[0] if len(axes) == 1 else axes
    if cls.keras_class == "Bidirectional" and "backward_layer" in data:
        forward, backward = data.get("layer"), data["backward_layer"]
        if isinstance(forward, dict) and isinstance(backward, dict) and _mirrors(forward, backward):
            del data["backward_layer"]


def _mirrors(forward: dict, backward: dict) -> bool:
    """Whether `backward` is the copy Keras makes of `forward` for a Bidirectional (`go_backwards` flipped)."""
    a = {k: v for k, v in forward.items() if k not in ("name", "go_backwards")}
    b = {k: v for k, v in backward.items() if k not in ("name", "go_backwards")}
    return a == b and bool(forward.get("go_backwards")) != bool(backward.get("go_backwards", False)) and (
        forward.get("name") == backward.get("name"))


# ----- writing -----


def dump_spec(imported: Imported, origin: str | None = None) -> str:
    """The spec as YAML text: one flow mapping per layer, with a header saying where it came from."""
    from netspec.compose.emit import dump

    lines = [f"Imported by `netspec import` from {origin}." if origin else "Imported by `netspec import`.",
             "Read from the model's config as data; nothing in the model file was run."]
    lines += [f"Note: {note}." for note in imported.notes]
    return dump(imported.spec, header=lines)


def write_spec(imported: Imported, output: str | Path, origin: str | None = None) -> Path:
    from netspec import atomic

    output = Path(output)
    if output.suffix not in (".yaml", ".yml", ".json"):
        raise UsageError(f"the spec is written as YAML (.yaml) or JSON (.json); received {str(output)!r}")
    if output.suffix == ".json":
        atomic.write_text(output, json.dumps(imported.spec, indent=2) + "\n")
    else:
        atomic.write_text(output, dump_spec(imported, origin))
    return output


def import_weights(model_file: str | Path, imported: Imported, output: str | Path) -> Path:
    """Write the weights of a `.keras` file to `output` (a `.weights.h5`) where the imported spec's model keeps
    each layer, recording which layer each belongs to (netspec.weights.load_weights reads that)."""
    import tempfile

    from netspec import atomic
    from netspec.weights import check_suffix, rekey

    output = check_suffix(output, "--weights")
    model_file = Path(model_file)
    if not zipfile.is_zipfile(model_file):
        raise UsageError(f"{str(model_file)!r} holds no weights: a config.json has only the architecture; "
                         "import the .keras file to take its weights too")
    with zipfile.ZipFile(model_file) as archive:
        names = archive.namelist()
        if WEIGHTS_FILE not in names:
            sharded = [n for n in names if n.endswith(".weights.json")]
            raise UsageError(f"{str(model_file)!r} has no {WEIGHTS_FILE}"
                             + ("; its weights are sharded, which netspec import does not read" if sharded else ""))
        with tempfile.TemporaryDirectory() as folder:
            original = Path(folder) / WEIGHTS_FILE
            with archive.open(WEIGHTS_FILE) as member, open(original, "wb") as copy:
                shutil.copyfileobj(member, copy)  # the weights are data: copied out, never loaded as a model
            moves = {imported.weights_from[name]: imported.weights_to[name] for name in imported.weights_from}
            with atomic.atomic_path(output) as tmp:
                rekey(original, tmp, moves, imported.weights_to)
    return output
