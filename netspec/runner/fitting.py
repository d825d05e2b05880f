"""Fitting data to the model: check that a source's arrays fit its inputs and outputs, then conform them.

The conversion itself (reshape to each input's shape, cast to its dtype, one
array or a dict by name) is netspec.runtime.conform, which generated scripts
run too; what is here decides, before anything is compiled, whether the data
fits at all, and says why not in a `DataError` naming both sides.
"""

from __future__ import annotations

import math
import mmap
import warnings

import numpy as np

from netspec.errors import DataError, DataNote
from netspec.layers.base import fmt_shape
from netspec.lowering import Port
from netspec.runner.sources import Raw

CHUNK = 4096  # rows a value check reads at a time


def fit(raw: Raw, inputs: tuple[Port, ...], outputs: tuple[Port, ...], where: str, *,
        labels_required: bool = True):
    """(features, labels) of `raw` as model.fit takes them; labels None where the source has none."""
    from netspec import runtime

    if len(raw.features) != len(inputs):
        raise DataError(f"{where} gives {len(raw.features)} feature array(s) {raw.keys}, but the model has "
                        f"{len(inputs)} input(s) {[p.name for p in inputs]}. Name each array after its input.")
    # A folder's files are read as training takes them: its first file stands for them here.
    checked = [_first_sample(raw, where)] if raw.read is not None else raw.features
    for array, port, key in zip(checked, inputs, raw.keys or ["x"] * len(inputs)):
        _check_features(np.asarray(array), port, where, key)
    n = {len(a) for a in raw.features}
    if raw.labels:
        if len(raw.labels) != len(outputs):
            raise DataError(f"{where} gives {len(raw.labels)} label array(s) {raw.label_keys}, but the model has "
                            f"{len(outputs)} output(s) {[p.name for p in outputs]}. Name each array after its "
                            "output.")
        for array, port, key in zip(raw.labels, outputs, raw.label_keys or ["y"] * len(outputs)):
            _check_labels(np.asarray(array), port, where, key)
        n |= {len(a) for a in raw.labels}
    elif labels_required:
        raise DataError(f"{where} has no labels; training and evaluation need them. For an .npz file save them under "
                        "`y` (numpy.savez(path, x=..., y=...)); for a CSV name the label column with `data.y`.")
    if len(n) != 1:
        raise DataError(f"{where}: features and labels have different numbers of samples: {sorted(n)}.")
    if n == {0}:
        raise DataError(f"{where} has no samples.")
    if raw.read is not None:  # paths and class ids: runtime.stream reads and conforms them a batch at a time
        return raw.features[0], raw.labels[0] if raw.labels else None
    for array, port, key in zip(raw.features, inputs, raw.keys or ["x"] * len(inputs)):
        if None not in port.shape and tuple(np.shape(array)[1:]) != tuple(port.shape):
            warnings.warn(f"{where}: features `{key}` have samples of shape {fmt_shape(np.shape(array)[1:])}; "
                          f"reshaped to input `{port.name}`'s {fmt_shape(port.shape)}", DataNote, stacklevel=2)
    tables = ({p.name: p.features for p in inputs}, {p.name: p.labels for p in outputs})
    for arrays, table in zip((raw.features, raw.labels), tables):
        for array, name in zip(arrays, list(table)):
            if memory_mapped(array):  # conformed in its own dtype, which copies nothing: cast batch by batch
                table[name] = (table[name][0], array.dtype.name)
    x, y = runtime.conform((raw.features, raw.labels), *tables)
    return x, (y if raw.labels else None)


def memory_mapped(array) -> bool:
    """Whether `array` is (a view of) a memory-mapped file: read as training takes its rows, never whole."""
    while array is not None:
        if isinstance(array, np.memmap | mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


def _first_sample(raw: Raw, where: str) -> np.ndarray:
    """The first file of a folder, read as training reads it: one sample, checked for the others."""
    try:
        return np.asarray(raw.read(raw.features[0][0]))[None]
    except Exception as exc:  # noqa: BLE001 - a file TensorFlow cannot decode: say which and why
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise DataError(f"cannot read {str(raw.features[0][0])!r} of {where}: {type(exc).__name__}: "
                        f"{first_line}") from exc


def _all_chunks(array: np.ndarray, test) -> bool:
    """`test` holds for every chunk of rows: a memory-mapped file is never read whole into memory."""
    return all(test(array[i:i + CHUNK]) for i in range(0, len(array), CHUNK))


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _matches(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _fit_shape(array: np.ndarray, expected: tuple) -> np.ndarray | None:
    """The array reshaped to `expected` per sample, when only size-1 axes or flattening differ; else None."""
    shape = array.shape[1:]
    if _matches(shape, expected):
        return array
    if any(d is None for d in expected) or math.prod(shape) != math.prod(expected):
        return None
    squeezed = tuple(d for d in shape if d != 1)
    if len(shape) <= 1 or squeezed == tuple(d for d in expected if d != 1):
        return array.reshape(len(array), *expected)
    return None


def _check_features(array: np.ndarray, port: Port, where: str, key: str) -> None:
    what = f"{where}: features `{key}`"
    if array.ndim == 0:
        raise DataError(f"{what} is a single value; expected one sample per row.")
    is_text = array.dtype.kind in "OUS"
    if port.dtype == "string":
        if not is_text:
            raise DataError(f"{what} hold numbers ({array.dtype}), but input `{port.name}` expects strings. "
                            f"Declare the input's dtype to match the data.")
        fitted = _fit_shape(array, port.shape) if port.shape else array
        if fitted is None and array.ndim == 1 and port.shape in ((), (1,)):
            fitted = array.reshape(len(array), *port.shape)
        if fitted is None:
            raise DataError(f"{what} have samples of shape {fmt_shape(array.shape[1:])}, but input `{port.name}` "
                            f"expects {port.describe()}.")
        return
    if is_text:
        raise DataError(f"{what} hold text, but input `{port.name}` expects {port.describe()}. Declare "
                        f"`dtype: string` for text inputs, or feed numeric arrays.")
    fitted = _fit_shape(array, port.shape)
    if fitted is None:
        raise DataError(f"{what} have samples of shape {fmt_shape(array.shape[1:])} ({array.dtype}), but input "
                        f"`{port.name}` expects {port.describe()}. Reshape the data, or change the input's `shape`.")
    if port.dtype in ("int32", "int64", "uint8", "bool") and array.dtype.kind == "f":
        if not _all_chunks(fitted, _whole):
            raise DataError(f"{what} hold fractional values ({array.dtype}), but input `{port.name}` expects "
                            f"{port.describe()} (e.g. token ids). Declare the input `dtype: float32`, or feed integers.")


def _check_labels(array: np.ndarray, port: Port, where: str, key: str) -> None:
    what = f"{where}: labels `{key}`"
    if array.dtype.kind in "OUS":
        raise DataError(f"{what} are text; expected numbers. Map class names to integers 0..N-1.")
    if port.label_kind == "sparse":
        classes = port.shape[-1] if port.shape else None
        expected = port.shape[:-1]
        if array.ndim - 1 == len(expected) + 1 and array.shape[-1] == 1:
            array = array.reshape(array.shape[:-1])
        if array.ndim - 1 == len(expected) + 1 and array.shape[-1] == classes:
            raise DataError(f"{what} look one-hot (shape {fmt_shape(array.shape[1:])}), but the loss of output "
                            f"`{port.name}` is sparse_categorical_crossentropy, which takes class indices. Use "
                            f"`loss: categorical_crossentropy`, or pass class indices.")
        if not _matches(array.shape[1:], expected):
            raise DataError(f"{what} have shape {fmt_shape(array.shape[1:])} per sample, but output `{port.name}` "
                            f"{fmt_shape(port.shape)} with sparse_categorical_crossentropy takes class indices of shape "
                            f"{fmt_shape(expected)}.")
        if array.dtype.kind == "f" and not _all_chunks(array, _whole):
            raise DataError(f"{what} hold fractional values; sparse_categorical_crossentropy takes class indices "
                            "0..N-1.")
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if low < 0 or (classes is not None and high >= classes):
            raise DataError(f"{what} range over {low}..{high}, but output `{port.name}` has {classes} units (classes "
                            f"0..{(classes or 1) - 1}). Set the output layer's `units: {high + 1}`, or fix the labels.")
        return
    if port.label_kind == "one_hot" and array.ndim == 1 and port.shape and (port.shape[-1] or 0) > 1:
        raise DataError(f"{what} are class indices (one number per sample), but the loss of output `{port.name}` is "
                        f"{port.loss}, which takes one-hot labels of shape {fmt_shape(port.shape)}. Use "
                        f"`loss: sparse_categorical_crossentropy`.")
    fitted = _fit_shape(array, port.shape)
    if fitted is None:
        raise DataError(f"{what} have shape {fmt_shape(array.shape[1:])} per sample, but output `{port.name}` "
                        f"gives {fmt_shape(port.shape)}.")


