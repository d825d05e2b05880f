"""Exports of a trained model: a TensorFlow SavedModel and a TFLite (LiteRT) flat buffer.

Both go through Keras 3's `model.export`, into a temporary path, and both need
TensorFlow. The export is loaded back and run there (`check_export` compares its
predictions with the Keras model's) before it is moved into place, so an export
that does not run (a TFLite model needing TensorFlow's own ops) is an
`ExportError` and leaves no file. TFLite's builtin ops have no loop over time:
recurrent layers are exported unrolled, which needs a known sequence length
(`tflite_problem` says so before training).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from netspec.errors import ExportError, UsageError

FORMATS = {"saved_model": "saved_model", "tflite": "model.tflite"}


def _require_tensorflow(format: str) -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"exporting as {format} needs TensorFlow, which is not installed; "
                         "pip install tensorflow, or leave out --export") from exc


# Keras's recurrent layers that take `unroll` (a Bidirectional's own config nests them under `layer`).
RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


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


def _unrolled(model):
    """A copy of `model` with every recurrent layer unrolled (same weights), or `model` if it has none."""
    config = model.get_config()
    changed = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") in RECURRENT and isinstance(node.get("config"), dict):
                if not node["config"].get("unroll"):
                    node["config"]["unroll"] = True
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


def export_model(model, format: str, run_dir: Path, sample: np.ndarray | None = None) -> tuple[Path, float | None]:
    """Write `model` in `format` (saved_model | tflite) into the run folder, once it has loaded back and run:
    (its path, the largest difference from the Keras model's predictions on `sample`, if given). A failure is an
    ExportError, and nothing is left behind."""
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; expected one of: {', '.join(FORMATS)}")
    _require_tensorflow(format)
    target = Path(run_dir) / FORMATS[format]
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=run_dir))
    try:
        try:
            if format == "saved_model":
                built = staging / "saved_model"
                model.export(str(built), format="tf_saved_model", verbose=False)
            else:
                problem = tflite_problem(model)
                if problem:
                    raise ExportError(problem)
                built = staging / "model.tflite"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _unrolled(model).export(str(built), format="litert", verbose=False)
            diff = check_export(built, model, sample) if sample is not None else _loads(built)
        except ExportError:
            raise
        except Exception as exc:  # TensorFlow's converter and interpreter raise anything, over many lines
            raise ExportError(_first_line(exc)) from exc
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, diff


def _loads(path: Path) -> None:
    """Load an export (for a model whose predictions check_export does not compare): it must at least load."""
    if Path(path).is_dir():
        load_export(path)
    else:
        _tflite_interpreter(path).allocate_tensors()


def _first_line(exc: Exception) -> str:
    flex = sorted(set(re.findall(r"\(Flex(\w+)\)", str(exc))))  # ops the interpreter lacks
    if flex:
        return (f"the TFLite model needs TensorFlow op(s) {', '.join(flex)}, which TFLite's builtin "
                "ops do not include; leave out --export tflite for this model")
    text = str(exc).strip().split("\n")[0].strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def load_export(path: Path):
    """A callable `f(x) -> np.ndarray` for an exported SavedModel folder or .tflite file."""
    path = Path(path)
    if path.is_dir():
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))

        def run_saved_model(x):
            return np.asarray(loaded.serve(x))

        return run_saved_model
    interpreter = _tflite_interpreter(path)

    def run_tflite(x):
        x = np.asarray(x)
        detail = interpreter.get_input_details()[0]
        if tuple(detail["shape"]) != x.shape:
            interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.astype(detail["dtype"]))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run_tflite


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


def check_export(path: Path, model, x: np.ndarray) -> float:
    """Largest absolute difference between the export's and the Keras model's predictions on `x`."""
    expected = np.asarray(model.predict(x, verbose=0), dtype="float32")
    got = np.asarray(load_export(path)(x), dtype="float32")
    return float(np.max(np.abs(got - expected)))
