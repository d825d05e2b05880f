"""Reading data sources: the readers of netspec/runtime.py, with the checks only a tool makes.

A generated script calls the same runtime readers directly. Here each call is
checked first (the file exists and is readable, its keys or columns are
there, a folder holds class subfolders), so that a mistake is a `DataError`
that says what was expected rather than a traceback from NumPy or Keras.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import DataError
from netspec.lowering import Ref, RuntimeCall
from netspec.schema.data import BUILTIN_DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TEXT_SUFFIXES = (".txt",)


@dataclass
class Raw:
    """A source as read, before it is fitted to the model: arrays in the model's input and output order."""

    features: list
    labels: list
    keys: list[str] = field(default_factory=list)  # where the features came from, for messages
    label_keys: list[str] = field(default_factory=list)
    test: Raw | None = None  # the test part a `keras:` data set ships with
    class_names: list[str] | None = None
    read: Any = None  # a folder's: features are file paths, each read by this as training takes it


def resolve_path(source: str, base_dir: Path | None) -> str:
    """A relative path is taken relative to the spec file first, then to the working directory."""
    if is_named(source) or os.path.isabs(source) or base_dir is None:
        return source
    candidate = Path(base_dir) / source
    return str(candidate) if candidate.exists() or not os.path.exists(source) else source


def is_named(source: str) -> bool:
    return source == "synthetic" or source.startswith(("builtin:", "keras:", "memory:"))


def kind_of(source: str, format: str = "auto") -> str:
    """How to read `source` (see lowering.source_kind), checked against what is on disk."""
    if source.startswith("builtin:") and source[len("builtin:"):] not in BUILTIN_DATASETS:
        raise DataError(f"unknown built-in data set `{source}`; expected one of: "
                        + ", ".join(f"`builtin:{name}`" for name in BUILTIN_DATASETS))
    if source.startswith("memory:"):
        raise DataError("this run trained on data held in memory, which netspec cannot read again; train anew "
                        "from Python with netspec.train(spec, data=(x, y))")
    if is_named(source):
        from netspec.lowering import source_kind

        return source_kind(source)
    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {source!r} does not exist. Expected a file (.npz, .npy, .csv), a folder of "
                        "class subfolders, `synthetic`, or one of: "
                        + ", ".join(f"`builtin:{name}`" for name in BUILTIN_DATASETS))
    if format != "auto":
        return format
    if path.is_dir():
        suffixes = {p.suffix.lower() for sub in path.iterdir() if sub.is_dir() for p in sub.iterdir() if p.is_file()}
        if suffixes & set(IMAGE_SUFFIXES):
            return "image_folder"
        if suffixes & set(TEXT_SUFFIXES):
            return "text_folder"
        raise DataError(f"data folder {str(path)!r} has no class subfolders of images ({', '.join(IMAGE_SUFFIXES)}) "
                        "or of .txt files. Expected one subfolder per class, e.g. cats/1.png, dogs/2.png.")
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy", ".csv"):
        return suffix[1:]
    raise DataError(f"cannot tell how to read {str(path)!r} (suffix {suffix or 'none'!r}). "
                    "Expected .npz, .npy, .csv or a folder; or set `data.format`.")


def read(call: RuntimeCall, refs: dict, inputs, outputs, file_reader: RuntimeCall | None = None) -> Raw:
    """Run one runtime reader (`refs` gives the values of its Ref arguments), checked first. A folder's reader
    lists its files; `file_reader` makes the function that reads one (runtime.stream calls it)."""
    from netspec import runtime

    args = [refs[a.name] if isinstance(a, Ref) else a for a in call.args]
    checked = [(call.function, args)] + ([(file_reader.function, file_reader.args)] if file_reader else [])
    for function, values in checked:
        if function in _CHECKS:
            _CHECKS[function](*values, inputs=inputs, outputs=outputs)
    where = str(args[0]) if args and isinstance(args[0], str) else call.function
    try:
        result = getattr(runtime, call.function)(*args)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file NumPy, PIL or Keras cannot read: say which and why
        raise DataError(f"cannot read {where!r}: {type(exc).__name__}: {exc}") from exc
    if call.function == "load_keras":
        (x, y), (x_test, y_test) = result
        return Raw(x, y, ["x"], ["y"], test=Raw(x_test, y_test, ["x"], ["y"]))
    if call.function == "list_folder":
        if file_reader is None:
            raise ValueError("a folder's files are listed to be read; pass the file_reader that reads them")
        (paths, ids), names = result, sorted(p.name for p in Path(args[0]).iterdir() if p.is_dir())
        return Raw([paths], [ids], ["x"], ["y"], class_names=names,
                   read=getattr(runtime, file_reader.function)(*file_reader.args))
    x, y = result
    raw = Raw(list(x), list(y), [f"x{i}" if len(x) > 1 else "x" for i in range(len(x))], ["y"] if y else [])
    if call.function == "load_npz":
        raw.keys, raw.label_keys = _npz_keys(args[0], args[1]), _npz_keys(args[0], args[2])
    if call.function == "load_digits":
        raw.class_names = [str(i) for i in range(10)]
    return raw


# ----- checks before reading -----


def _npz_files(path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return list(archive.files)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {str(path)!r} as an .npz archive: {exc}") from exc


def _npz_keys(path, choices) -> list[str]:
    files = _npz_files(path)
    return next((keys for keys in choices if set(keys) <= set(files)), [])


def _check_npz(path, x_keys, y_keys, *, inputs, outputs) -> None:
    files = _npz_files(path)
    found = next((keys for keys in x_keys if set(keys) <= set(files)), None)
    if found is None:
        if len(x_keys) == 1:  # the spec's `data.x`
            missing = [k for k in x_keys[0] if k not in files]
            raise DataError(f"{str(path)!r} has no key {missing[0]!r}; its keys are {files}.")
        raise DataError(f"{str(path)!r} has keys {files}, but none holds the features: expected `x` or the input "
                        f"names {[p.name for p in inputs]}. Set `data.x` to the feature key.")
    if len(y_keys) == 1 and not set(y_keys[0]) <= set(files):  # the spec's `data.y`
        raise DataError(f"{str(path)!r} has no key {y_keys[0][0]!r}; its keys are {files}.")


def _check_npy(path, *, inputs, outputs) -> None:
    try:
        np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {str(path)!r} as an .npy array: {exc}. An .npy file holds one array "
                        "(features only); save features and labels together with numpy.savez(path, x=..., y=...)."
                        ) from exc


def _check_csv(path, x_columns, y_column, *, inputs, outputs) -> None:
    with open(path, encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), None)
        body = [line for line in f if line.strip()]
    if first is None:
        raise DataError(f"{str(path)!r} is empty; expected rows of feature columns and a label column.")
    cells = [cell.strip() for cell in first.split(",")]
    header = None if all(_is_number(c) for c in cells) else cells
    columns = header or [str(i) for i in range(len(cells))]
    label = y_column or next((c for c in ("label", "y") if c in columns), columns[-1])
    if label not in columns:
        raise DataError(f"{str(path)!r} has no column {label!r}; its columns are {columns}.")
    missing = [c for c in (x_columns or []) if c not in columns]
    if missing:
        raise DataError(f"{str(path)!r} has no column(s) {missing}; its columns are {columns}.")
    for number, line in enumerate(body if header else [first, *body], start=2 if header else 1):
        row = [cell.strip() for cell in line.split(",")]
        if len(row) != len(columns) or not all(_is_number(c) for c in row):
            raise DataError(f"{str(path)!r} line {number}: every feature and label cell must be a number, and every "
                            f"row as long as the header ({len(columns)} cells); received {line.strip()!r}.")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _class_folders(path, suffixes) -> None:
    folders = [p for p in Path(path).iterdir() if p.is_dir()]
    if not any(f.suffix.lower() in suffixes for sub in folders for f in sub.iterdir() if f.is_file()):
        raise DataError(f"{str(path)!r} has no class subfolders holding {', '.join(suffixes)} files.")


def _check_folder(path, suffixes, *, inputs, outputs) -> None:
    if not Path(path).is_dir():
        raise DataError(f"{str(path)!r} is not a folder; expected one subfolder per class, e.g. cats/1.png.")
    _class_folders(path, suffixes)


def _check_image_reader(image_size, channels, *, inputs, outputs) -> None:
    from netspec.layers.base import fmt_shape

    port = inputs[0]
    if len(port.shape) != 3:
        raise DataError(f"image folders give images of shape (height, width, channels), but input `{port.name}` "
                        f"expects {port.describe()}. Declare the input as e.g. [64, 64, 3].")
    if None in image_size:
        raise DataError(f"input `{port.name}` has shape {fmt_shape(port.shape)}; images need a known size. "
                        "Set `data.image_size: [height, width]` or give the input a fixed shape.")
    if channels not in (1, 3, 4):
        raise DataError(f"input `{port.name}` has {channels} channels; image folders give 1 (grayscale), 3 (RGB) "
                        "or 4 (RGBA).")


_CHECKS = {"load_npz": _check_npz, "load_npy": _check_npy, "load_csv": _check_csv, "list_folder": _check_folder,
           "image_reader": _check_image_reader}
