"""Feeding the model: a spec's data plan read, fitted and split into the parts `model.fit` takes.

Reading is netspec/runner/sources.py, fitting netspec/runner/fitting.py; the
split is netspec.runtime.split, the one a generated script runs, so that a
run and its script train, validate and test on the same samples. Parts in
memory are held as `model.fit` takes them (an array, or a dict by input or
output name) and fed to Keras as NumPy arrays: on TensorFlow Keras's own
adapter batches them through tf.data, and every backend shuffles them alike.
Data larger than memory is streamed: a folder's part holds its files' paths
and a memory-mapped array's part the numbers of its rows, and each becomes a
tf.data.Dataset that reads a batch at a time (runtime.stream, stream_rows) in
`fit_arguments`, the one place where a part becomes what Keras reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from netspec.errors import DataError
from netspec.lowering import DataPlan, Port, loss_name
from netspec.runner import fitting, sources


@dataclass
class Part:
    """Samples as model.fit takes them: features and labels (an array, or a dict by name), or a caller's dataset.

    A streamed part is read a batch at a time: a folder's holds file paths and class ids (`read` reads one file),
    a memory-mapped file's holds its arrays and `rows`, the numbers of the rows that are this part's. `tables`
    are a streamed part's INPUTS and LABELS, as a script names them: how its batches are shaped.
    """

    x: Any
    y: Any = None
    read: Any = None
    rows: np.ndarray | None = None
    tables: tuple | None = None

    @property
    def is_dataset(self) -> bool:
        return is_dataset(self.x)

    @property
    def streamed(self) -> bool:
        return self.read is not None or self.rows is not None

    def __len__(self) -> int:
        if self.is_dataset:
            raise TypeError("a dataset's sample count is not known before it is read")
        if self.rows is not None:
            return len(self.rows)
        first = self.x if isinstance(self.x, np.ndarray) else next(iter(self.x.values()))
        return len(first)

    def take(self, index) -> Part:
        """The samples at `index` (still on disk, for a streamed part)."""
        if self.rows is not None:
            return replace(self, rows=self.rows[index])

        def pick(value):
            if value is None:
                return None
            return value[index] if isinstance(value, np.ndarray) else {k: v[index] for k, v in value.items()}

        return replace(self, x=pick(self.x), y=pick(self.y))

    def in_memory(self) -> Part:
        """The samples read into arrays, as a batch of them would be (for a few samples of a streamed part)."""
        if not self.streamed:
            return self
        batch = next(fit_arguments(self, batch_size=max(1, len(self)), training=False)["x"].as_numpy_iterator())
        return Part(*batch) if isinstance(batch, tuple) else Part(batch)


@dataclass
class Splits:
    train: Part
    validation: Part | None
    test: Part | None
    source: str
    class_names: list[str] | None = None

    def describe(self) -> str:
        if self.train.is_dataset:
            return self.source
        parts = [f"{len(self.train):,} train"]
        if self.validation is not None:
            parts.append(f"{len(self.validation):,} validation")
        if self.test is not None:
            parts.append(f"{len(self.test):,} test")
        return " / ".join(parts) + f" samples from {self.source}"


def load_splits(plan: DataPlan, inputs: tuple[Port, ...], outputs: tuple[Port, ...], *, seed: int) -> Splits:
    """Read, check and split the plan's sources as a generated script does (runtime.split), with DataErrors."""
    refs = {"seed": seed, "INPUTS": {p.name: p.features for p in inputs},
            "OUTPUTS": {p.name: (p.shape, p.label_kind) for p in outputs}}
    raw = sources.read(plan.reader, refs, inputs, outputs, plan.read)
    data = fitted(raw, inputs, outputs, plan.source)
    parts = {}
    if raw.test is not None:
        parts["test"] = fitted(raw.test, inputs, outputs, f"{plan.source} (test set)")
    for name in ("test", "validation"):
        call = getattr(plan, name)
        if call is not None:
            where = str(call.args[0])
            parts[name] = fitted(sources.read(call, refs, inputs, outputs, plan.read), inputs, outputs, where)
    test_split, validation_split = _shares(len(data), plan.test_split, plan.validation_split, parts, plan.source)
    train, validation, test = split(data, seed, test_split, validation_split, parts)
    return Splits(train, validation, test, plan.source, raw.class_names)


def spec_splits(spec, *, seed: int) -> Splits:
    """The parts a run of a loaded spec trains, validates and tests on (its data as the spec names it)."""
    from netspec.lowering import lower_program

    program = lower_program(spec, data_kind=sources.kind_of(spec.data.source, spec.data.format))
    return load_splits(program.data, program.inputs, program.outputs, seed=seed)


def fitted(raw: sources.Raw, inputs, outputs, where: str, *, labels_required: bool = True) -> Part:
    """A source as read, checked and fitted to the model (fitting.fit): a Part, streamed where `raw` is a folder's
    files or a memory-mapped file."""
    x, y = fitting.fit(raw, inputs, outputs, where, labels_required=labels_required)
    tables = ({p.name: p.features for p in inputs}, {p.name: p.labels for p in outputs})
    if raw.read is not None:
        return Part(x, y, read=raw.read, tables=tables)
    if any(fitting.memory_mapped(a) for a in (*_arrays(x), *_arrays(y))):
        return Part(x, y, rows=np.arange(len(Part(x, y))), tables=tables)
    return Part(x, y)


def split(data: Part, seed: int, test_split: float, validation_split: float, given: dict) -> tuple:
    """(train, validation, test) Parts: runtime.split, as a script splits its data, of the samples' numbers, so that
    a streamed part stays on disk; `given` parts (by name) are taken as they are."""
    from netspec import runtime

    parts = runtime.split(np.arange(len(data)), seed, test_split, validation_split, **given)
    return tuple(data.take(p) if isinstance(p, np.ndarray) else p for p in parts)


def _arrays(value) -> list:
    return [] if value is None else list(value.values()) if isinstance(value, dict) else [value]


def _shares(n: int, test_split: float, validation_split: float, given: dict, source: str) -> tuple[float, float]:
    """The shares runtime.split holds out of `n` samples (none for a part `given` separately), checked to leave
    samples for training."""
    test_split = 0.0 if "test" in given else test_split
    validation_split = 0.0 if "validation" in given else validation_split
    held = _count(n, test_split, "test_split", source)
    held += _count(n - held, validation_split, "validation_split", source)
    if held >= n:
        raise DataError(f"{source} has {n} samples: none is left for training after the test and validation "
                        "splits. Lower `data.test_split` / `validation_split`, or add data.")
    return test_split, validation_split


def _count(n: int, fraction: float, what: str, source: str) -> int:
    """How many samples runtime.split holds out; a DataError where that leaves none behind."""
    if fraction <= 0:
        return 0
    count = max(1, round(n * fraction))
    if count >= n:
        raise DataError(f"{source} has {n} samples, too few for `{what}: {fraction}`.")
    return count


def read_whole(source: str, inputs, outputs, *, labels_required: bool) -> Part:
    """One source read whole, for `evaluate` and `predict` (no splits)."""
    from netspec.lowering import file_reader, reader
    from netspec.schema.data import Data

    options = Data(source=source)
    kind = sources.kind_of(source)
    call = reader(kind, source, options, inputs, outputs)
    refs = {"seed": 0, "INPUTS": {p.name: p.features for p in inputs},
            "OUTPUTS": {p.name: (p.shape, p.label_kind) for p in outputs}}
    raw = sources.read(call, refs, inputs, outputs, file_reader(kind, options, inputs))
    if raw.test is not None:  # a keras: data set: its test part is what one evaluates on
        raw = raw.test
    return fitted(raw, inputs, outputs, source, labels_required=labels_required)


# ----- data held in memory (the library API) -----

MEMORY = "memory:arrays"  # what a run folder's spec records as the source of in-memory data


def memory_splits(data, inputs, outputs, *, seed: int, test_split: float, validation_split: float,
                  validation=None, test=None) -> Splits:
    """NumPy data a caller holds, checked, conformed and split as file data is (runtime.split): the test and
    validation shares are held out only where `test` and `validation` are not given. Memory-mapped arrays
    (numpy.load(path, mmap_mode="r")) stay on disk, read a batch at a time."""
    if is_dataset(data):  # batches as the caller made them: checked, never split
        for name, value in (("data", data), ("validation_data", validation), ("test_data", test)):
            if value is not None and not is_dataset(value):
                raise DataError(f"{name} must be a tf.data.Dataset too when `data` is one")
            if value is not None:
                check_dataset(value, inputs, outputs, name)
        return Splits(Part(data), None if validation is None else Part(validation),
                      None if test is None else Part(test), "a tf.data.Dataset")
    train = fitted(memory_raw(data, inputs, outputs, "data"), inputs, outputs, "data")
    parts = {name: fitted(memory_raw(value, inputs, outputs, f"{name}_data"), inputs, outputs, f"{name}_data")
             for name, value in (("validation", validation), ("test", test)) if value is not None}
    test_split, validation_split = _shares(len(train), test_split, validation_split, parts, "data")
    return Splits(*split(train, seed, test_split, validation_split, parts), "in-memory arrays")


def is_dataset(value) -> bool:
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "element_spec")


def check_dataset(dataset, inputs, outputs, where: str) -> None:
    """A dataset's elements are batches of (features, labels) that fit the model's inputs and outputs."""
    from netspec.layers.base import fmt_shape

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise DataError(f"{where} yields {spec}; training takes batches of (features, labels)")
    for part, ports, what in ((spec[0], inputs, "input"), (spec[1], outputs, "output")):
        specs = part if isinstance(part, dict) else dict(zip([p.name for p in ports], part if isinstance(
            part, list | tuple) else [part]))
        for port in ports:
            if port.name not in specs:
                raise DataError(f"{where} has no features or labels for {what} `{port.name}`; name each after its "
                                f"{what}")
            shape = tuple(specs[port.name].shape[1:])
            expected = port.features[0] if what == "input" else port.labels[0]
            if len(shape) != len(expected) or any(e is not None and s is not None and s != e
                                                  for s, e in zip(shape, expected)):
                raise DataError(f"{where} has batches of shape {fmt_shape(shape)} for {what} `{port.name}`, which "
                                f"takes {fmt_shape(expected)}; batch the dataset (`.batch(n)`) and match the shapes")


def memory_raw(value, inputs, outputs, where: str) -> sources.Raw:
    """`(x, y)`, `x` alone, or a dict keyed by input and output names, as a Raw in the model's port order.

    `x` and `y` are arrays (one input or output), lists of arrays in port order, or dicts by port name.
    """
    names = {p.name for p in inputs} | {p.name for p in outputs}
    if isinstance(value, dict) and set(value) <= names:
        x = {p.name: value[p.name] for p in inputs if p.name in value}
        y = {p.name: value[p.name] for p in outputs if p.name in value} or None
    elif isinstance(value, tuple) and len(value) == 2:
        x, y = value
    else:
        x, y = value, None
    features, keys = _in_port_order(x, inputs, "input", where)
    labels, label_keys = _in_port_order(y, outputs, "output", where) if y is not None else ([], [])
    return sources.Raw(features, labels, keys, label_keys)


def _in_port_order(value, ports, what: str, where: str) -> tuple[list, list[str]]:
    wanted = [p.name for p in ports]
    if isinstance(value, dict):
        missing = [name for name in wanted if name not in value]
        unknown = [name for name in value if name not in wanted]
        if missing or unknown:
            raise DataError(f"{where} has arrays for {sorted(value)}, but the model's {what}s are {wanted}; "
                            f"name each array after its {what}.")
        return [value[name] for name in wanted], wanted
    arrays = list(value) if isinstance(value, list | tuple) else [value]
    if len(arrays) != len(ports):
        raise DataError(f"{where} gives {len(arrays)} {what} array(s), but the model has {len(ports)} {what}(s) "
                        f"{wanted}; pass a dict keyed by {what} name.")
    return [np.asarray(a) if not hasattr(a, "shape") else a for a in arrays], wanted


def fit_arguments(part: Part, *, batch_size: int, shuffle: bool = False, seed: int | None = None,
                  training: bool = True, whole: bool = False) -> dict:
    """Keyword arguments for `model.fit` / `evaluate` / `predict` of a part: the one place where a part becomes what
    Keras reads. A streamed part becomes a tf.data.Dataset of `batch_size` batches that reads them from disk as
    training takes them (shuffled anew each epoch with `seed` where `shuffle`, as a script's runtime.stream does);
    arrays in memory go as they are, with the batch size (and shuffling: Keras's); a caller's dataset as it is.
    `whole`: every batch of `batch_size` samples, the last partial one left out (JAX's replicas share each batch
    evenly; arrays become runtime.batches, as in a script)."""
    from netspec import runtime

    # A dataset shuffles itself, or not: Keras would warn that it ignores fit's shuffle=True (its default).
    dataset = {"shuffle": False} if training else {}
    if whole:
        if part.streamed or part.is_dataset:
            args = fit_arguments(part, batch_size=batch_size, shuffle=shuffle, seed=seed, training=training)
            return {**args, "x": args["x"].rebatch(batch_size, drop_remainder=True)}
        data = runtime.batches((part.x, part.y), batch_size, shuffle and training, seed)
        return {"x": data, **dataset}
    if part.streamed:
        order = seed if shuffle and training else None
        if part.read is not None:
            return {"x": runtime.stream((part.x, part.y), part.read, *part.tables, batch_size, order), **dataset}
        return {"x": runtime.stream_rows((part.x, part.y), part.rows, *part.tables, batch_size, order), **dataset}
    if part.is_dataset:
        return {"x": part.x, **dataset}
    args = {"x": part.x, "batch_size": batch_size}
    if part.y is not None:
        args["y"] = part.y
    if training:
        args["shuffle"] = shuffle
    return args


def validation_data(part: Part | None, *, batch_size: int, whole: bool = False):
    """`model.fit`'s `validation_data` of a part: a dataset, or (features, labels)."""
    if part is None:
        return None
    args = fit_arguments(part, batch_size=batch_size, training=False, whole=whole)
    return (args["x"], args["y"]) if "y" in args else args["x"]


def model_ports(model) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """Inputs and outputs of a Keras model (for `evaluate` and `predict` of a saved model)."""
    inputs = tuple(Port(t.name, tuple(t.shape[1:]), _dtype_name(t.dtype)) for t in model.inputs)
    loss = getattr(model, "loss", None)
    outputs = tuple(Port(name, tuple(tensor.shape[1:]), "float32", _keras_loss_name(loss, name))
                    for name, tensor in zip(model.output_names, model.outputs))
    return inputs, outputs


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", None) or str(dtype)


def _keras_loss_name(loss, output):
    if isinstance(loss, dict):
        loss = loss.get(output)
    if isinstance(loss, list | tuple):
        loss = loss[0] if loss else None
    if isinstance(loss, str) or loss is None:
        return loss_name(loss, output)
    from netspec.runner.compile import snake_case

    return getattr(loss, "name", None) or snake_case(type(loss).__name__)
