"""Exports of a model: ONNX, a TensorFlow SavedModel and a TFLite (LiteRT) flat buffer.

All three go through Keras 3's `model.export` (ONNX with tf2onnx, from the optional `onnx` extra), into a
temporary path beside the target. The export is then loaded back and run on one batch (onnxruntime for ONNX,
TensorFlow for a SavedModel, the TFLite interpreter for TFLite), and its predictions must be the Keras model's
to within TOLERANCE before it is moved into place: an export that does not convert, load, run or agree is an
`ExportError` and leaves no file.

What is exported is the model as it predicts (`inference_model`): in float32 whatever precision it was trained
in, without the augmentation layers that are the identity at inference, and for TFLite with recurrent layers
unrolled (TFLite's builtin ops have no loop over time, so the sequence length must be known: `tflite_problem`
says so before training).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netspec.errors import ExportError, UsageError
from netspec.stderr import EVERYTHING, native_stderr_filtered

# Format -> its file (or folder) name in a run folder.
FORMATS = {"onnx": "model.onnx", "saved_model": "saved_model", "tflite": "model.tflite"}

# An export agrees with Keras when no prediction differs by more than this, in float32. Outputs larger than 1
# are allowed the same relative difference (float32 holds about 7 significant digits: at 1e5 one step is 0.008).
TOLERANCE = 1e-4

# Samples in the batch an export is checked on when no data is given, and the length given to an axis of
# unknown length (a sequence of `shape: [null]`).
CHECK_SAMPLES = 4
UNKNOWN_LENGTH = 8

# The `onnx` extra, and the oldest releases of it (and of Keras) that work here. tf2onnx 1.16 and older pin
# protobuf~=3.20, which TensorFlow 2.21 (protobuf>=6.31.1) cannot take; Keras gained format="onnx" in 3.8.
ONNX_PACKAGES = ("onnx", "onnxruntime", "tf2onnx")
ONNX_MINIMUM = {"tf2onnx": (1, 17), "keras": (3, 8)}
ONNX_INSTALL = "pip install 'netspec[onnx]' (in a checkout: pip install -e '.[onnx]')"


def require(format: str) -> None:
    """A UsageError, before any work, if `format` is unknown or what it needs is not installed."""
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; expected one of: {', '.join(FORMATS)}")
    if format == "onnx":
        missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            raise UsageError(f"exporting as onnx needs the optional `onnx` extra ({', '.join(missing)} "
                             f"not installed): {ONNX_INSTALL}")
        for name, minimum in ONNX_MINIMUM.items():
            version = _version(name)
            if version is not None and version < minimum:
                raise UsageError(f"exporting as onnx needs {name} >= {'.'.join(map(str, minimum))} "
                                 f"(installed: {'.'.join(map(str, version))}): {ONNX_INSTALL}")
    elif importlib.util.find_spec("tensorflow") is None:
        raise UsageError(f"exporting as {format} needs TensorFlow, which is not installed; "
                         "pip install tensorflow, or leave out this export")


def _version(package: str) -> tuple[int, ...] | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(part) for part in re.findall(r"\d+", version(package))[:2])
    except PackageNotFoundError:
        return None


# ----- the model as it predicts -----

# Keras's recurrent layers that take `unroll` (a Bidirectional's own config nests them under `layer`).
RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")

# Augmentation layers that are the identity at inference. Keras's SavedModel and ONNX exports call the model
# without `training=False`, and these layers' own default is to augment: exported as they are, they would
# transform every prediction (and ONNX has no random ops, so the export would not even load).
AUGMENTATION = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                "RandomBrightness")

# Dtype policies that compute in 16 bits; an export computes in float32 with the same (float32) weights.
LOW_PRECISION = ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


def _recurrent(layer) -> list:
    """The recurrent layers in `layer` (itself, or those a wrapper holds)."""
    found = [layer] if type(layer).__name__ in RECURRENT else []
    for inner in ("layer", "forward_layer", "backward_layer"):
        if hasattr(layer, inner) and getattr(layer, inner) is not layer:
            found += _recurrent(getattr(layer, inner))
    return found


def tflite_problem(model) -> str | None:
    """Why `model` cannot be exported as TFLite, or None: a recurrent layer over sequences of unknown length
    (TFLite runs recurrent layers unrolled, and unrolling needs the number of timesteps)."""
    for layer in model.layers:
        if _recurrent(layer):
            shape = tuple(layer.input.shape) if not isinstance(layer.input, list) else ()
            if len(shape) >= 2 and shape[1] is None:
                return (f"layer `{layer.name}` is recurrent over sequences of unknown length {shape}, and TFLite's "
                        "builtin ops run a recurrent layer only unrolled; give the model input a fixed length "
                        "(e.g. `shape: [200]`), or leave out --export tflite")
    return None


def inference_model(model, *, unroll: bool = False):
    """`model` as an export holds it: float32 compute (a mixed-precision model keeps float32 weights, so none
    change), augmentation layers replaced by Identity, and with `unroll` every recurrent layer unrolled.
    A copy with the same weights, or `model` itself when nothing changes."""
    config = model.get_config()
    changed = []

    def walk(node):
        if isinstance(node, dict):
            kind, settings = node.get("class_name"), node.get("config")
            if isinstance(settings, dict):
                if kind in AUGMENTATION:
                    node["class_name"] = "Identity"
                    node["config"] = {key: settings[key] for key in ("name", "trainable", "dtype") if key in settings}
                    for inbound in node.get("inbound_nodes", []):  # Identity takes no `training`
                        if isinstance(inbound, dict):
                            inbound.get("kwargs", {}).pop("training", None)
                    changed.append(node)
                elif kind == "DTypePolicy" and settings.get("name") in LOW_PRECISION:
                    settings["name"] = "float32"
                    changed.append(node)
                elif unroll and kind in RECURRENT and not settings.get("unroll"):
                    settings["unroll"] = True
                    changed.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    if not changed:
        return model
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


# ----- one batch, as the model takes it -----


def sample_batch(model, samples: int = CHECK_SAMPLES, seed: int = 0) -> list[np.ndarray]:
    """Random inputs for `model`, one array per input: floats in [0, 1), integers below the smallest
    Embedding's `input_dim` (token ids), strings `sample N`; axes of unknown length UNKNOWN_LENGTH long."""
    rng = np.random.default_rng(seed)
    vocabularies = [layer.input_dim for layer in model._flatten_layers(include_self=False)
                    if type(layer).__name__ == "Embedding"]
    arrays = []
    for tensor in model.inputs:
        shape = (samples, *(d or UNKNOWN_LENGTH for d in tensor.shape[1:]))
        dtype = _dtype_name(tensor.dtype)
        if dtype.startswith(("int", "uint")) or dtype == "bool":
            arrays.append(rng.integers(0, min(vocabularies, default=2), size=shape).astype(dtype))
        elif dtype == "string":
            arrays.append(np.array([f"sample {i}" for i in range(int(np.prod(shape)))], dtype=object).reshape(shape))
        else:
            arrays.append(rng.random(shape, dtype="float32").astype(dtype))
    return arrays


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def _input_names(model) -> list[str]:
    return [tensor.name for tensor in model.inputs]


def _input_list(model, x) -> list[np.ndarray]:
    """Features (an array, a list in input order, or a dict by input name) as one array per model input,
    each in its input's dtype."""
    if isinstance(x, dict):
        x = [x[name] for name in _input_names(model)]
    elif not isinstance(x, list | tuple):
        x = [x]
    dtypes = [_dtype_name(t.dtype) for t in model.inputs]
    return [np.asarray(a, dtype=object if dtype == "string" else dtype) for a, dtype in zip(x, dtypes)]


def _output_list(y, names=None) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[name]) for name in names] if names else [np.asarray(v) for v in y.values()]
    if isinstance(y, list | tuple):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def _predict(model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    x = keras.tree.pack_sequence_as(model.input, arrays) if len(arrays) > 1 else arrays[0]
    return _output_list(model.predict(x, verbose=0, batch_size=len(arrays[0])), model.output_names)


# ----- writing -----


@dataclass(frozen=True)
class Export:
    """A written export: where it is, its format, and how far its predictions were from Keras's."""

    path: Path
    format: str
    max_abs_diff: float
    samples: int  # in the batch it was checked on


def export(model, format: str, output: str | os.PathLike, *, overrides=(), sample=None) -> Export:
    """Export a model (a keras.Model, a run folder, a `.keras` file, or a spec, built with fresh weights) in
    `format` (onnx | saved_model | tflite) to `output`, checked on one batch (`sample`: features as
    `predict` takes them; default: CHECK_SAMPLES random samples). A failure is an ExportError that names the
    format and the cause, and leaves nothing at `output`."""
    require(format)
    check_target(Path(output), format)  # before the model loads
    model, name = _model(model, overrides)
    try:
        return write_export(model, format, output, sample)
    except ExportError as exc:
        raise ExportError(f"exporting `{name}` as {format} failed: {exc}") from exc


def _model(target, overrides):
    """(keras.Model, its name) for `export`'s MODEL_OR_SPEC."""
    from netspec.runner.inference import _open_model

    model, spec, _ = _open_model(target)
    if model is None:
        from netspec.build import build_model
        from netspec.load import load_spec

        model = build_model(load_spec(spec, overrides=overrides), compile=False)
    elif overrides:
        raise UsageError("--set changes a spec; a saved model is exported as it is")
    return model, model.name


def export_model(model, format: str, run_dir: Path, sample=None) -> tuple[Path, float]:
    """Write `model` in `format` into the run folder under its FORMATS name, checked on `sample` (features as
    `predict` takes them; default: random ones): (its path, the largest difference from Keras's predictions)."""
    written = write_export(model, format, Path(run_dir) / FORMATS[format], sample)
    return written.path, written.max_abs_diff


def write_export(model, format: str, path: str | os.PathLike, sample=None) -> Export:
    """Write `model` in `format` at `path` once the export has loaded back and agreed with Keras on one batch;
    any failure is an ExportError (the cause, for a message that names the format) and leaves nothing."""
    require(format)
    target = Path(path)
    check_target(target, format)
    if format == "tflite" and (problem := tflite_problem(model)):
        raise ExportError(problem)
    portable = inference_model(model, unroll=format == "tflite")
    arrays = _input_list(portable, sample) if sample is not None else sample_batch(portable)
    try:
        expected = _predict(portable, arrays)  # before exporting: Keras's ONNX export needs a model that was called
    except Exception as exc:  # noqa: BLE001 - a sample that does not fit the model
        raise UsageError(f"the model cannot predict on the sample to check the export with: {_first_line(exc)}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        built = staging / target.name
        try:
            _WRITERS[format](portable, built)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - reading back what the converter wrote
            raise ExportError(_first_line(exc)) from exc
        with native_stderr_filtered(EVERYTHING):  # TFLite's interpreter announces its CPU delegate there
            got = _runner(built, format, _input_names(portable))(arrays)
        diff = _compare(got, expected, format, portable.output_names)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Export(target, format, diff, len(arrays[0]))


def check_target(target: Path, format: str) -> None:
    """A UsageError if an export cannot be written at `target`: a SavedModel replaces a folder only if it holds a
    SavedModel (so that `-o .` cannot erase a folder), a file never replaces a folder."""
    if target.is_dir() and (format != "saved_model" or not (target / "saved_model.pb").exists()):
        kind = "a folder that holds no SavedModel" if format == "saved_model" else "a folder"
        raise UsageError(f"{str(target)!r} is {kind}; name a new path for the {format} export")
    if target.exists() and not target.is_dir() and format == "saved_model":
        raise UsageError(f"{str(target)!r} is a file; a SavedModel is a folder: name a new path for it")


def _write_saved_model(model, path: Path) -> None:
    with _converter("saved_model"):
        model.export(str(path), format="tf_saved_model", verbose=False)


def _write_tflite(model, path: Path) -> None:
    with _converter("tflite"):
        model.export(str(path), format="litert", verbose=False)


def _write_onnx(model, path: Path) -> None:
    with _converter("onnx", "tf2onnx could not convert the model"):
        model.export(str(path), format="onnx", verbose=False)
    import onnx

    proto = onnx.load(str(path))
    if unconverted := _unconverted_ops(proto):
        where = sorted({_layer_of(node, model) for node in unconverted.values()} - {None})
        hints = [ONNX_OP_HINTS[op] for op in sorted(unconverted) if op in ONNX_OP_HINTS]
        raise ExportError(f"tf2onnx has no ONNX conversion for the TensorFlow op(s) {', '.join(sorted(unconverted))}"
                          + (f" (in layer {', '.join(f'`{w}`' for w in where)})" if where else "")
                          + "".join(f"; {hint}" for hint in hints))
    if _name_outputs(proto, list(model.output_names)):
        onnx.save(proto, str(path))


_WRITERS = {"onnx": _write_onnx, "saved_model": _write_saved_model, "tflite": _write_tflite}

# Where an op tf2onnx leaves unconverted comes from, for the message.
ONNX_OP_HINTS = {
    "Erfc": "Erfc is the exact `gelu` activation's (TensorFlow computes it as 0.5·x·erfc(-x/√2))",
    "ScaleAndTranslate": "ScaleAndTranslate is `resizing` with lanczos interpolation; bilinear, nearest and "
                         "bicubic convert",
}


@contextlib.contextmanager
def _converter(format: str, what: str | None = None):
    """Quiet the converter (tf2onnx logs and prints its steps, TFLite's MLIR converter writes its errors to file
    descriptor 2), and turn what it raises into an ExportError: the converter's message is the cause."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), native_stderr_filtered(EVERYTHING):
            warnings.simplefilter("ignore")
            yield
    except Exception as exc:  # converters raise anything, over many lines
        cause = _first_line(exc)
        raise ExportError(f"{what}: {cause}" if what else cause) from exc
    finally:
        logging.disable(previous)


def _unconverted_ops(proto) -> dict:
    """{op: first node} of the ONNX graph's nodes (subgraphs included) that no ONNX op set defines: TensorFlow
    ops tf2onnx copied over as they were, which no ONNX runtime can load."""
    import onnx.defs

    found: dict = {}

    def visit(graph):
        for node in graph.node:
            if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
                found.setdefault(node.op_type, node)
            for attribute in node.attribute:
                for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    visit(sub)

    visit(proto.graph)
    return found


def _layer_of(node, model) -> str | None:
    """The Keras layer an ONNX node was traced from: its name is the TensorFlow scope `model_1/dense_1/...`."""
    names = {layer.name for layer in model._flatten_layers(include_self=False)}
    for part in node.name.split("/")[1:]:
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in names:
                return candidate
    return None


def _name_outputs(proto, names: list[str]) -> bool:
    """Give the ONNX graph's outputs the Keras model's output names (tf2onnx calls them `Identity:0`, ...),
    unless a name is taken by another tensor, and its inputs' and outputs' batch axis the name `batch` (tf2onnx
    calls each `unk__N`). True if it changed anything."""
    graph = proto.graph
    changed = False
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param and dims[0].dim_param != "batch":
            dims[0].dim_param = "batch"
            changed = True
    old = [output.name for output in graph.output]
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | {
        value.name for value in (*graph.input, *graph.initializer)}
    if len(old) != len(names) or len(set(names)) != len(names) or any(n in taken - set(old) for n in names):
        return changed
    rename = {o: n for o, n in zip(old, names) if o != n}
    for node in graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    for value in (*graph.output, *graph.value_info):
        value.name = rename.get(value.name, value.name)
    return changed or bool(rename)


def _first_line(exc: Exception) -> str:
    flex = sorted(set(re.findall(r"\(Flex(\w+)\)", str(exc))))  # ops the interpreter lacks
    if flex:
        return (f"the TFLite model needs TensorFlow op(s) {', '.join(flex)}, which TFLite's builtin "
                "ops do not include; leave out --export tflite for this model")
    custom = re.search(r"Custom ops: ([\w, ]+)", str(exc))  # ops the converter has no TFLite or Flex kernel for
    if custom:
        return (f"the TFLite converter has no op for TensorFlow's {custom.group(1).strip()}; leave out "
                "--export tflite for this model")
    text = str(exc).strip().split("\n")[0].strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _onnxruntime_message(exc: Exception) -> str:
    """onnxruntime's error without its C++ source locations: `[ONNXRuntimeError] : 1 : FAIL : file.h:579 Func
    'Cubic' mode only supports: ...` -> `'Cubic' mode only supports: ...`."""
    text = re.split(r"\[ONNXRuntimeError\] : \d+ : \w+ : ", str(exc))[-1]
    text = re.sub(r"^(Exception during initialization: )?\S+\.(h|cc|cpp):\d+ \S+ ", "", text.strip())
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# ----- loading back -----


def _runner(path: Path, format: str, input_names: list[str]):
    """`run(arrays) -> outputs` for an export: one array per model input in `input_names` order, one array
    per model output in the model's order. Loading or running it raises ExportError."""
    try:
        run = {"onnx": _onnx_runner, "saved_model": _saved_model_runner, "tflite": _tflite_runner}[format](
            path, input_names)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ExportError(_load_message(format, exc)) from exc

    def checked(arrays):
        try:
            return run(arrays)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"the {format} export loads but does not run: {_load_message(format, exc)}") from exc

    return checked


def _load_message(format: str, exc: Exception) -> str:
    if format == "onnx":
        return f"onnxruntime cannot run the ONNX model: {_onnxruntime_message(exc)}"
    return _first_line(exc)


def _onnx_runner(path: Path, input_names: list[str]):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: what fails is in the exception, which becomes the message
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    order = input_names if sorted(names) == sorted(input_names) else names

    def run(arrays):
        return [np.asarray(y) for y in session.run(None, dict(zip(order, arrays)))]

    return run


def _saved_model_runner(path: Path, input_names: list[str]):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))

    def run(arrays):
        return _output_list(loaded.serve(arrays if len(arrays) > 1 else arrays[0]))

    return run


def _tflite_runner(path: Path, input_names: list[str]):
    interpreter = _tflite_interpreter(path)
    signature = interpreter.get_signature_list()["serving_default"]
    names = list(signature["inputs"])
    order = input_names if sorted(names) == sorted(input_names) else names
    outputs = sorted(signature["outputs"], key=lambda name: [int(d) for d in re.findall(r"\d+", name)] or [0])
    runner = interpreter.get_signature_runner("serving_default")

    def run(arrays):
        results = runner(**dict(zip(order, arrays)))
        return [np.asarray(results[name]) for name in outputs]

    return run


def _tflite_interpreter(path: Path):
    """LiteRT's interpreter where installed, else TensorFlow's own (deprecated, still shipped with 2.21)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def load_export(path: str | os.PathLike, input_names: list[str] | None = None):
    """A callable `f(x)` for an exported SavedModel folder, .tflite file or .onnx file: `x` one array, or a list
    of arrays in the model's input order; it returns one array, or a list for several outputs."""
    path = Path(path)
    format = "saved_model" if path.is_dir() else "onnx" if path.suffix == ".onnx" else "tflite"
    run = None

    def predict(x):
        nonlocal run
        arrays = [np.asarray(a) for a in (x if isinstance(x, list | tuple) else [x])]
        if run is None:
            run = _runner(path, format, input_names or [f"input_{i}" for i in range(len(arrays))])
        outputs = run(arrays)
        return outputs[0] if len(outputs) == 1 else outputs

    return predict


def _compare(got: list, expected: list, format: str, names) -> float:
    """The largest absolute difference between an export's outputs and Keras's; an ExportError if their number
    or shapes differ, or a difference exceeds TOLERANCE (relative for outputs larger than 1)."""
    if len(got) != len(expected):
        raise ExportError(f"the {format} export gives {len(got)} output(s), the Keras model {len(expected)}")
    largest = 0.0
    for name, mine, theirs in zip(names, got, expected):
        mine, theirs = np.asarray(mine, "float32"), np.asarray(theirs, "float32")
        if mine.shape != theirs.shape:
            raise ExportError(f"the {format} export's output `{name}` has shape {mine.shape} where the Keras "
                              f"model's has {theirs.shape}: the converter changed what a layer computes")
        gaps = np.abs(mine - theirs)[~(np.isnan(mine) & np.isnan(theirs))]  # NaN where Keras has NaN agrees
        diff = float(np.max(gaps, initial=0.0)) if not np.isnan(gaps).any() else float("inf")
        scale = np.abs(theirs[np.isfinite(theirs)])
        limit = TOLERANCE * max(1.0, float(np.max(scale, initial=0.0)))
        if diff > limit:
            raise ExportError(f"the {format} export's predictions differ from the Keras model's by up to "
                              f"{diff:.3g} on output `{name}` (at most {limit:.3g} allowed, on a batch of "
                              f"{len(theirs)}): the converter changed what a layer computes")
        largest = max(largest, diff)
    return largest
