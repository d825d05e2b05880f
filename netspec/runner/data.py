"""Training data: read a source, fit it to the model's inputs and outputs, split it, batch it.

Every source becomes in-memory NumPy arrays keyed by the model's input and
output names (`Arrays`). Whether those arrays fit the model is checked here,
before anything is compiled, so that a wrong shape or dtype is a `DataError`
naming both sides rather than a stack trace from the middle of `fit`.

On the TensorFlow backend the arrays feed a tf.data pipeline (shuffled index
batches gathered from constants, evaluation batches cached, prefetching); on
other backends (JAX, PyTorch) `fit` takes the NumPy arrays themselves.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netspec.errors import DataError
from netspec.layers.base import fmt_shape
from netspec.schema.data import BUILTIN_DATASETS, Data

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TEXT_SUFFIXES = (".txt",)
SPARSE_LOSSES = ("sparse_categorical_crossentropy",)
ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge")
BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy", "bce", "hinge", "squared_hinge")
_NUMERIC_INPUTS = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool")


# ----- what the model takes -----


@dataclass(frozen=True)
class Port:
    """One model input or output: name, shape without the batch (None = any size), dtype, loss."""

    name: str
    shape: tuple
    dtype: str = "float32"
    loss: str | None = None

    def describe(self) -> str:
        return f"{fmt_shape(self.shape)} {self.dtype}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]


def loss_name(loss, output: str) -> str | None:
    """The loss (by name) of one output, from a spec's `training.loss`."""
    if isinstance(loss, dict) and "type" not in loss:
        loss = loss.get(output)
    if isinstance(loss, dict):
        loss = loss.get("type")
    return loss if isinstance(loss, str) else None


def spec_signature(spec) -> Signature:
    """Inputs and outputs of a loaded spec (shapes from netspec's own inference)."""
    from netspec.load import shapes as spec_shapes

    inferred = spec_shapes(spec)
    by_name = inferred.by_name()
    inputs = tuple(Port(i.name, tuple(i.shape), i.dtype) for i in spec.inputs)
    outputs = []
    for ref in spec._graph.outputs:
        if ref.name in by_name:
            shape = tuple(by_name[ref.name].outputs[ref.index])
        else:  # a model input used directly as an output
            shape = tuple(inferred.input_shapes[ref.name])
        outputs.append(Port(ref.name, shape, "float32", loss_name(spec.training.loss, ref.name)))
    return Signature(inputs, tuple(outputs))


def model_signature(model) -> Signature:
    """Inputs and outputs of a Keras model (for `evaluate` and `predict` of a saved model)."""
    inputs = tuple(Port(t.name, tuple(t.shape[1:]), _dtype_name(t.dtype)) for t in model.inputs)
    loss = getattr(model, "loss", None)
    outputs = []
    for name, tensor in zip(model.output_names, model.outputs):
        outputs.append(Port(name, tuple(tensor.shape[1:]), "float32", _keras_loss_name(loss, name)))
    return Signature(inputs, tuple(outputs))


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def _keras_loss_name(loss, output):
    if isinstance(loss, dict):
        loss = loss.get(output)
    if isinstance(loss, list | tuple):
        loss = loss[0] if loss else None
    if isinstance(loss, str) or loss is None:
        return loss
    from netspec.runner.compile import snake_case

    return getattr(loss, "name", None) or snake_case(type(loss).__name__)


# ----- arrays -----


@dataclass
class Arrays:
    """Samples in memory: features by input name, labels by output name (None when unlabelled)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def take(self, index) -> Arrays:
        return Arrays({k: v[index] for k, v in self.x.items()},
                      None if self.y is None else {k: v[index] for k, v in self.y.items()})

    def features(self):
        """What Keras takes as `x`: one array, or a dict for several inputs."""
        return next(iter(self.x.values())) if len(self.x) == 1 else dict(self.x)

    def labels(self):
        if self.y is None:
            return None
        return next(iter(self.y.values())) if len(self.y) == 1 else dict(self.y)


@dataclass
class Raw:
    """A source as read, before it is matched to the model: named or positional arrays."""

    features: dict[str, np.ndarray]  # key in the file -> array
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    test: Raw | None = None  # a test set the source ships with (keras.datasets)
    class_names: list[str] | None = None
    feature_order: list[str] = field(default_factory=list)  # default keys for positional inputs


@dataclass
class Splits:
    train: Arrays
    validation: Arrays | None
    test: Arrays | None
    source: str
    class_names: list[str] | None = None

    def describe(self) -> str:
        parts = [f"{len(self.train):,} train"]
        if self.validation is not None:
            parts.append(f"{len(self.validation):,} validation")
        if self.test is not None:
            parts.append(f"{len(self.test):,} test")
        return " / ".join(parts) + f" samples from {self.source}"


# ----- reading sources -----


def resolve_path(source: str, base_dir: Path | None) -> str:
    """A relative path is taken relative to the spec file first, then to the working directory."""
    if _is_named_source(source) or os.path.isabs(source) or base_dir is None:
        return source
    candidate = Path(base_dir) / source
    return str(candidate) if candidate.exists() or not os.path.exists(source) else source


def _is_named_source(source: str) -> bool:
    return source == "synthetic" or source.startswith(("builtin:", "keras:"))


def read(source: str, options: Data, signature: Signature, *, seed: int = 0) -> Raw:
    """Read one source into arrays (see `Data.source` for what a source may be)."""
    if source.startswith("builtin:"):
        return _read_builtin(source[len("builtin:"):])
    if source == "synthetic":
        return _synthetic(signature, options, seed)
    if source.startswith("keras:"):
        return _read_keras(source[len("keras:"):])
    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {source!r} does not exist. Expected a file (.npz, .npy, .csv), a folder of "
                        f"class subfolders, `synthetic`, or one of: "
                        + ", ".join(f"`builtin:{name}`" for name in BUILTIN_DATASETS))
    kind = options.format if options.format != "auto" else _detect_format(path)
    readers = {"npz": _read_npz, "npy": _read_npy, "csv": _read_csv, "image_folder": _read_image_folder,
               "text_folder": _read_text_folder}
    return readers[kind](path, options, signature)


def _detect_format(path: Path) -> str:
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


def _read_builtin(name: str) -> Raw:
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown built-in data set `builtin:{name}`; expected one of: "
                        + ", ".join(f"`builtin:{n}`" for n in BUILTIN_DATASETS))
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")  # pixel values are 0..16
    features = images[..., None] if name == "digits" else images  # 8x8x1 images, or 8 steps of 8 features
    return Raw({"x": features}, {"y": digits.target.astype("int32")}, class_names=[str(i) for i in range(10)],
               feature_order=["x"])


def _read_keras(name: str) -> Raw:
    import keras

    module = getattr(keras.datasets, name, None)
    if module is None or not hasattr(module, "load_data"):
        known = [n for n in dir(keras.datasets) if not n.startswith("_")]
        raise DataError(f"unknown Keras data set `keras:{name}`; expected one of: {', '.join(known)}")
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # downloads can fail in many ways
        raise DataError(f"could not load `keras:{name}`: {exc}. These data sets are downloaded on first use; "
                        "check the network, or use a local file.") from exc

    def prepare(x):
        # Image data sets ship as uint8; scale them to [0, 1] as the Keras examples do.
        return (x.astype("float32") / 255.0) if x.dtype == np.uint8 else x

    def labels(y):
        return y.reshape(len(y), -1)[:, 0] if y.ndim > 1 and y.shape[-1] == 1 else y

    test = Raw({"x": prepare(x_test)}, {"y": labels(y_test)}, feature_order=["x"])
    return Raw({"x": prepare(x_train)}, {"y": labels(y_train)}, test=test, feature_order=["x"])


def _read_npz(path: Path, options: Data, signature: Signature) -> Raw:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:
        raise DataError(f"cannot read {str(path)!r} as an .npz archive: {exc}") from exc
    return _named(arrays, options, signature, str(path))


def _read_npy(path: Path, options: Data, signature: Signature) -> Raw:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"cannot read {str(path)!r} as an .npy array: {exc}. An .npy file holds one array "
                        "(features only); save features and labels together with numpy.savez(path, x=..., y=...).") from exc
    return Raw({"x": array}, feature_order=["x"])


def _named(arrays: dict, options: Data, signature: Signature, where: str) -> Raw:
    """Pick feature and label keys: `data.x`/`data.y`, else keys named like the inputs/outputs, else `x`/`y`."""
    input_names = [p.name for p in signature.inputs]
    output_names = [p.name for p in signature.outputs]
    keys = list(arrays)
    if options.x is not None:
        feature_keys = [options.x] if isinstance(options.x, str) else list(options.x)
    elif all(name in arrays for name in input_names):
        feature_keys = input_names
    elif "x" in arrays:
        feature_keys = ["x"]
    else:
        raise DataError(f"{where} has keys {keys}, but none holds the features: expected `x` or the input names "
                        f"{input_names}. Set `data.x` to the feature key.")
    if options.y is not None:
        label_keys = [options.y]
    elif all(name in arrays for name in output_names) and not set(output_names) & set(feature_keys):
        label_keys = output_names
    elif "y" in arrays:
        label_keys = ["y"]
    else:
        label_keys = []
    for key in feature_keys + label_keys:
        if key not in arrays:
            raise DataError(f"{where} has no key {key!r}; its keys are {keys}.")
    return Raw({k: arrays[k] for k in feature_keys}, {k: arrays[k] for k in label_keys}, feature_order=feature_keys)


def _read_csv(path: Path, options: Data, signature: Signature) -> Raw:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise DataError(f"{str(path)!r} is empty; expected rows of feature columns and a label column.")
    header = rows[0] if not all(_is_number(cell) for cell in rows[0]) else None
    body = rows[1:] if header else rows
    columns = header or [str(i) for i in range(len(rows[0]))]
    if options.y is not None:
        label = options.y
    elif header and ("label" in header or "y" in header):
        label = "label" if "label" in header else "y"
    else:
        label = columns[-1]
    if label not in columns:
        raise DataError(f"{str(path)!r} has no column {label!r}; its columns are {columns}.")
    if options.x is not None:
        feature_columns = [options.x] if isinstance(options.x, str) else list(options.x)
    else:
        feature_columns = [c for c in columns if c != label]
    missing = [c for c in feature_columns if c not in columns]
    if missing:
        raise DataError(f"{str(path)!r} has no column(s) {missing}; its columns are {columns}.")
    index = {c: i for i, c in enumerate(columns)}
    try:
        table = np.array([[float(row[index[c]]) for c in feature_columns] for row in body], dtype="float32")
        labels = np.array([float(row[index[label]]) for row in body])
    except (ValueError, IndexError) as exc:
        raise DataError(f"{str(path)!r}: every feature and label cell must be a number, and every row as long as the "
                        f"header ({exc}).") from exc
    if np.all(labels == np.round(labels)):
        labels = labels.astype("int64")
    return Raw({"x": table}, {label: labels}, feature_order=["x"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _class_folders(path: Path, suffixes) -> list[tuple[str, list[Path]]]:
    classes = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if files:
            classes.append((sub.name, files))
    if not classes:
        raise DataError(f"{str(path)!r} has no class subfolders holding {', '.join(suffixes)} files.")
    return classes


def _read_image_folder(path: Path, options: Data, signature: Signature) -> Raw:
    from PIL import Image

    port = signature.inputs[0]
    if len(port.shape) != 3:
        raise DataError(f"image folders give images of shape (height, width, channels), but input `{port.name}` "
                        f"expects {port.describe()}. Declare the input as e.g. [64, 64, 3].")
    height, width, channels = port.shape
    if options.image_size:
        height, width = options.image_size
    if height is None or width is None:
        raise DataError(f"input `{port.name}` has shape {fmt_shape(port.shape)}; images need a known size. "
                        "Set `data.image_size: [height, width]` or give the input a fixed shape.")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise DataError(f"input `{port.name}` has {channels} channels; image folders give 1 (grayscale), 3 (RGB) "
                        "or 4 (RGBA).")
    images, labels, names = [], [], []
    for label, (name, files) in enumerate(_class_folders(path, IMAGE_SUFFIXES)):
        names.append(name)
        for file in files:
            try:
                with Image.open(file) as image:
                    image = image.convert(mode).resize((width, height), Image.BILINEAR)
                    array = np.asarray(image, dtype="float32")
            except OSError as exc:
                raise DataError(f"cannot read image {str(file)!r}: {exc}") from exc
            images.append(array.reshape(height, width, channels))
            labels.append(label)
    return Raw({"x": np.stack(images)}, {"y": np.array(labels, dtype="int32")}, class_names=names, feature_order=["x"])


def _read_text_folder(path: Path, options: Data, signature: Signature) -> Raw:
    texts, labels, names = [], [], []
    for label, (name, files) in enumerate(_class_folders(path, TEXT_SUFFIXES)):
        names.append(name)
        for file in files:
            texts.append(file.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    return Raw({"x": np.array(texts, dtype=object)}, {"y": np.array(labels, dtype="int32")}, class_names=names,
               feature_order=["x"])


def _synthetic(signature: Signature, options: Data, seed: int) -> Raw:
    """Random data shaped like the inputs, with labels the outputs and losses can take (smoke tests)."""
    rng = np.random.default_rng(seed)
    n = options.samples
    features = {}
    for port in signature.inputs:
        shape = (n, *(d or 8 for d in port.shape))
        if port.dtype in ("int32", "int64", "uint8"):
            features[port.name] = rng.integers(0, 2, size=shape).astype(port.dtype)
        elif port.dtype == "bool":
            features[port.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif port.dtype == "string":
            features[port.name] = np.array([f"sample {i}" for i in range(n)], dtype=object).reshape(n, *shape[1:])
        else:
            features[port.name] = rng.random(shape, dtype="float32")
    labels = {}
    for port in signature.outputs:
        shape = tuple(d or 8 for d in port.shape)
        if port.loss in SPARSE_LOSSES:
            classes = options.num_classes or shape[-1]
            labels[port.name] = rng.integers(0, classes, size=(n, *shape[:-1])).astype("int32")
        elif port.loss in ONE_HOT_LOSSES:
            labels[port.name] = np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], size=(n, *shape[:-1]))]
        elif port.loss in BINARY_LOSSES:
            labels[port.name] = rng.integers(0, 2, size=(n, *shape)).astype("float32")
        else:
            labels[port.name] = rng.random((n, *shape), dtype="float32")
    return Raw(features, labels, feature_order=list(features))


# ----- fitting arrays to the model -----


def fit(raw: Raw, signature: Signature, where: str, *, labels_required: bool = True) -> Arrays:
    """Match a source's arrays to the model's inputs and outputs; DataError naming both when they do not fit."""
    inputs, outputs = signature.inputs, signature.outputs
    if all(p.name in raw.features for p in inputs):
        feature_keys = [p.name for p in inputs]
    elif len(raw.features) == len(inputs):
        feature_keys = list(raw.feature_order or raw.features)
    else:
        raise DataError(f"{where} gives {len(raw.features)} feature array(s) {list(raw.features)}, but the model has "
                        f"{len(inputs)} input(s) {[p.name for p in inputs]}. Name each array after its input.")
    x = {port.name: _fit_features(raw.features[key], port, where, key) for port, key in zip(inputs, feature_keys)}
    n = {len(a) for a in x.values()}
    y = None
    if raw.labels:
        if all(p.name in raw.labels for p in outputs):
            label_keys = [p.name for p in outputs]
        elif len(raw.labels) == len(outputs):
            label_keys = list(raw.labels)
        else:
            raise DataError(f"{where} gives {len(raw.labels)} label array(s) {list(raw.labels)}, but the model has "
                            f"{len(outputs)} output(s) {[p.name for p in outputs]}. Name each array after its output.")
        y = {port.name: _fit_labels(raw.labels[key], port, where, key) for port, key in zip(outputs, label_keys)}
        n |= {len(a) for a in y.values()}
    elif labels_required:
        raise DataError(f"{where} has no labels; training and evaluation need them. For an .npz file save them under "
                        "`y` (numpy.savez(path, x=..., y=...)); for a CSV name the label column with `data.y`.")
    if len(n) != 1:
        raise DataError(f"{where}: features and labels have different numbers of samples: {sorted(n)}.")
    if n == {0}:
        raise DataError(f"{where} has no samples.")
    return Arrays(x, y)


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


def _fit_features(array: np.ndarray, port: Port, where: str, key: str) -> np.ndarray:
    array = np.asarray(array)
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
        return fitted.astype(object)
    if is_text:
        raise DataError(f"{what} hold text, but input `{port.name}` expects {port.describe()}. Declare "
                        f"`dtype: string` for text inputs, or feed numeric arrays.")
    fitted = _fit_shape(array, port.shape)
    if fitted is None:
        raise DataError(f"{what} have samples of shape {fmt_shape(array.shape[1:])} ({array.dtype}), but input "
                        f"`{port.name}` expects {port.describe()}. Reshape the data, or change the input's `shape`.")
    if port.dtype in ("int32", "int64", "uint8", "bool") and array.dtype.kind == "f":
        if not np.all(np.isfinite(fitted)) or not np.all(fitted == np.round(fitted)):
            raise DataError(f"{what} hold fractional values ({array.dtype}), but input `{port.name}` expects "
                            f"{port.describe()} (e.g. token ids). Declare the input `dtype: float32`, or feed integers.")
    dtype = "float32" if port.dtype in ("float16", "bfloat16") else port.dtype  # Keras casts under its policy
    return fitted.astype(dtype, copy=False)


def _fit_labels(array: np.ndarray, port: Port, where: str, key: str) -> np.ndarray:
    array = np.asarray(array)
    what = f"{where}: labels `{key}`"
    if array.dtype.kind in "OUS":
        raise DataError(f"{what} are text; expected numbers. Map class names to integers 0..N-1.")
    if port.loss in SPARSE_LOSSES:
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
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise DataError(f"{what} hold fractional values; sparse_categorical_crossentropy takes class indices "
                            "0..N-1.")
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if low < 0 or (classes is not None and high >= classes):
            raise DataError(f"{what} range over {low}..{high}, but output `{port.name}` has {classes} units (classes "
                            f"0..{(classes or 1) - 1}). Set the output layer's `units: {high + 1}`, or fix the labels.")
        return array.astype("int32")
    if port.loss in ONE_HOT_LOSSES and array.ndim == 1 and port.shape and (port.shape[-1] or 0) > 1:
        raise DataError(f"{what} are class indices (one number per sample), but the loss of output `{port.name}` is "
                        f"{port.loss}, which takes one-hot labels of shape {fmt_shape(port.shape)}. Use "
                        f"`loss: sparse_categorical_crossentropy`.")
    fitted = _fit_shape(array, port.shape)
    if fitted is None:
        raise DataError(f"{what} have shape {fmt_shape(array.shape[1:])} per sample, but output `{port.name}` "
                        f"gives {fmt_shape(port.shape)}.")
    return fitted.astype("float32")


# ----- splitting -----


def load_splits(spec, options: Data, signature: Signature, *, seed: int, base_dir: Path | None = None) -> Splits:
    """Read `options.source` (and separate validation/test sources) and split into train/validation/test."""
    source = resolve_path(options.source, base_dir)
    raw = read(source, options, signature, seed=seed)
    data = fit(raw, signature, source)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))

    test = None
    if options.test is not None:
        test_source = resolve_path(options.test, base_dir)
        test = fit(read(test_source, options, signature, seed=seed + 2), signature, test_source)
    elif raw.test is not None:
        test = fit(raw.test, signature, f"{source} (test set)")
    elif options.test_split > 0:
        n_test = _part(len(data), options.test_split, "test_split", source)
        test, order = data.take(order[:n_test]), order[n_test:]

    validation = None
    if options.validation is not None:
        validation_source = resolve_path(options.validation, base_dir)
        validation = fit(read(validation_source, options, signature, seed=seed + 1), signature, validation_source)
    else:
        fraction = options.validation_split if options.validation_split is not None else spec.training.validation_split
        if fraction > 0:
            n_validation = _part(len(order), fraction, "validation_split", source)
            validation, order = data.take(order[:n_validation]), order[n_validation:]
    if len(order) == 0:
        raise DataError(f"{source} has {len(data)} samples: none is left for training after the test and validation "
                        "splits. Lower `data.test_split` / `validation_split`, or add data.")
    return Splits(data.take(np.sort(order)), validation, test, source, raw.class_names)


def _part(n: int, fraction: float, what: str, source: str) -> int:
    count = max(1, int(round(n * fraction)))
    if count >= n:
        raise DataError(f"{source} has {n} samples, too few for `{what}: {fraction}`.")
    return count


# ----- feeding Keras -----


def backend() -> str:
    import keras

    return keras.backend.backend()


def fit_arguments(arrays: Arrays, *, batch_size: int, shuffle: bool, seed: int, cache: bool = True,
                  training: bool = True) -> dict:
    """Keyword arguments for `model.fit` / `evaluate` / `predict`: a tf.data pipeline or NumPy arrays."""
    if backend() == "tensorflow":
        dataset = tf_dataset(arrays, batch_size=batch_size, shuffle=shuffle and training, seed=seed,
                             cache=cache and not training)
        # The pipeline shuffles; Keras's own `shuffle` only warns that it cannot shuffle a dataset.
        return {"x": dataset, "shuffle": False} if training else {"x": dataset}
    args = {"x": arrays.features(), "batch_size": batch_size}
    if arrays.y is not None:
        args["y"] = arrays.labels()
    if training:
        args["shuffle"] = shuffle
    return args


def tf_dataset(arrays: Arrays, *, batch_size: int, shuffle: bool, seed: int, cache: bool):
    """Batches gathered from in-memory constants: shuffling moves indices, not samples."""
    import tensorflow as tf

    features = {k: tf.constant(_tf_ready(v)) for k, v in arrays.x.items()}
    labels = None if arrays.y is None else {k: tf.constant(v) for k, v in arrays.y.items()}
    single_x = len(features) == 1
    single_y = labels is not None and len(labels) == 1

    def gather(index):
        x = {k: tf.gather(v, index) for k, v in features.items()}
        x = next(iter(x.values())) if single_x else x
        if labels is None:
            return x
        y = {k: tf.gather(v, index) for k, v in labels.items()}
        return x, next(iter(y.values())) if single_y else y

    dataset = tf.data.Dataset.range(len(arrays))
    if shuffle:
        dataset = dataset.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def _tf_ready(array: np.ndarray) -> np.ndarray:
    return array.astype(str) if array.dtype == object else array
