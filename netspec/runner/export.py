"""Exports of a trained model: a TensorFlow SavedModel and a TFLite (LiteRT) flat buffer.

Both go through Keras 3's `model.export`, into a temporary path that is moved
into place, and both need TensorFlow. `load_export` reads either back so that
their predictions can be compared with the Keras model's (`check_export`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from netspec.errors import UsageError

FORMATS = {"saved_model": "saved_model", "tflite": "model.tflite"}


def _require_tensorflow(format: str) -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"exporting as {format} needs TensorFlow, which is not installed; "
                         "pip install tensorflow, or leave out --export") from exc


def export_model(model, format: str, run_dir: Path) -> Path:
    """Write `model` in `format` (saved_model | tflite) into the run folder; returns the path."""
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; expected one of: {', '.join(FORMATS)}")
    _require_tensorflow(format)
    target = Path(run_dir) / FORMATS[format]
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=run_dir))
    try:
        if format == "saved_model":
            built = staging / "saved_model"
            model.export(str(built), format="tf_saved_model", verbose=False)
        else:
            built = staging / "model.tflite"
            model.export(str(built), format="litert", verbose=False)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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
