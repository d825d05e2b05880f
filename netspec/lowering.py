"""The training half of a spec, lowered once: what `netspec train` instantiates and a script prints.

Layers lower themselves to `KerasCall`s (`Layer.lower`, through `lower_node`,
which gives output layers float32 compute); this module does the same for
everything else a training run is made of: the optimizer and its
schedule, the losses, metrics and callbacks (plain `KerasCall`s), and the
data (`RuntimeCall`s of the functions in netspec/runtime.py). `lower_program`
gathers them into a `Program`. The runner (netspec/runner/trainer.py) calls
what it holds; the code generator (netspec/codegen/script.py) prints it, so
the two cannot drift apart. Only arguments that differ from Keras's defaults
are kept, as a Keras user would write them.

Nothing here imports Keras: a program is lowered on any machine, and what
depends on the machine it runs on (precision and execution `auto`) is decided
when it runs, by netspec.runtime.choose_precision / choose_execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netspec.layers.base import KerasCall
from netspec.schema.training import DEFAULT_LEARNING_RATES, OPTIMIZERS

if TYPE_CHECKING:
    from netspec.graph import Graph, Node

# The file in a run folder that holds a tuned run's settings (`netspec generate --tuned-from RUN` reads it).
TUNING_FILE = "tuning.json"

# Keras class of a loss or metric given as {type: ..., args}, where CamelCase of the name is not it:
# the inverse of Keras's class-name -> snake_case rule (`BinaryIoU` -> `binary_io_u`).
_IRREGULAR = {
    "auc": "AUC", "binary_io_u": "BinaryIoU", "ctc": "CTC", "f1_score": "F1Score", "f_beta_score": "FBetaScore",
    "io_u": "IoU", "kl_divergence": "KLDivergence", "mean_io_u": "MeanIoU", "one_hot_io_u": "OneHotIoU",
    "one_hot_mean_io_u": "OneHotMeanIoU", "r2_score": "R2Score",
}
# Short names that are functions, not classes: they take no arguments, so {type: mse, ...} is just `mse`.
ALIASES = ("acc", "bce", "kld", "mae", "mape", "mse", "msle")

# How each loss takes its labels: class ids, one-hot rows, 0/1 values, or real values (the rest).
SPARSE_LOSSES = ("sparse_categorical_crossentropy",)
ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge")
BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy", "bce", "hinge", "squared_hinge")

# Words of the quantities that improve upwards (Keras's metrics with `_direction = "up"`); a test checks this
# against every metric of the format.
MAX_MONITORS = ("acc", "auc", "precision", "recall", "f1", "f_beta", "io_u", "r2", "true_positives",
                "true_negatives", "correlation", "cosine_similarity", "sensitivity", "specificity")

# Keras class, its constructor defaults, and the fields that name a file or folder
# in the run folder, for each callback type of the format.
CALLBACKS: dict[str, tuple[str, dict, tuple[str, ...]]] = {
    "early_stopping": ("EarlyStopping", {
        "monitor": "val_loss", "min_delta": 0, "patience": 0, "baseline": None,
        "restore_best_weights": False, "start_from_epoch": 0}, ()),
    "reduce_lr_on_plateau": ("ReduceLROnPlateau", {
        "monitor": "val_loss", "factor": 0.1, "patience": 10, "min_delta": 1e-4, "cooldown": 0,
        "min_lr": 0.0}, ()),
    "model_checkpoint": ("ModelCheckpoint", {
        "monitor": "val_loss", "save_best_only": False, "save_weights_only": False}, ("filepath",)),
    "tensorboard": ("TensorBoard", {
        "histogram_freq": 0, "write_graph": True, "update_freq": "epoch", "profile_batch": 0}, ("log_dir",)),
    "csv_logger": ("CSVLogger", {"separator": ",", "append": False}, ("filename",)),
    "backup_and_restore": ("BackupAndRestore", {"save_freq": "epoch", "delete_checkpoint": True}, ("backup_dir",)),
    "terminate_on_nan": ("TerminateOnNaN", {}, ()),
}


# Output layers compute in float32, so that softmax and losses stay stable under
# mixed precision (TensorFlow's mixed-precision guide); under a float32 policy
# this changes nothing.
OUTPUT_DTYPE = "float32"


def lower_node(node: Node, graph: Graph) -> KerasCall:
    """The Keras call for one node of the model; output layers get float32 compute."""
    is_output = any(ref.name == node.name for ref in graph.outputs)
    gives = getattr(node.layer, "output_dtype", None)  # ids (hashing, lookups) stay integers
    if gives is not None and not gives().startswith("float"):
        is_output = False
    return node.layer.lower(node.name, extra={"dtype": OUTPUT_DTYPE} if is_output else None)


# ----- the lowered forms besides KerasCall -----


@dataclass(frozen=True)
class RunPath:
    """A file or folder of the run: relative paths live in the run folder (the script's `--out`)."""

    path: str


@dataclass(frozen=True)
class Ref:
    """A value the running program has, by name: `seed`, `source`, or a table such as `INPUTS`."""

    name: str


@dataclass(frozen=True)
class RuntimeCall:
    """A call of a function of netspec/runtime.py, with positional arguments (plain values or Refs)."""

    function: str
    args: tuple


@dataclass(frozen=True)
class Port:
    """One model input or output: name, shape without the batch (None = any size), dtype, loss."""

    name: str
    shape: tuple
    dtype: str = "float32"
    loss: str | None = None

    def describe(self) -> str:
        from netspec.layers.base import fmt_shape

        return f"{fmt_shape(self.shape)} {self.dtype}"

    @property
    def label_kind(self) -> str:
        """How the output's loss takes labels: `sparse`, `one_hot`, `binary` or `real`."""
        for kind, losses in (("sparse", SPARSE_LOSSES), ("one_hot", ONE_HOT_LOSSES), ("binary", BINARY_LOSSES)):
            if self.loss in losses:
                return kind
        return "real"

    @property
    def labels(self) -> tuple[tuple, str]:
        """(shape, dtype) of the labels this output's loss takes: class ids drop the class axis."""
        if self.label_kind == "sparse":
            return tuple(self.shape[:-1]), "int32"
        return tuple(self.shape), "float32"

    @property
    def features(self) -> tuple[tuple, str]:
        """(shape, dtype) of the features an input takes (float16 inputs are fed float32: Keras casts)."""
        return tuple(self.shape), "float32" if self.dtype in ("float16", "bfloat16") else self.dtype


@dataclass(frozen=True)
class DataPlan:
    """How a run reads and splits its data: one reader per source, and the split fractions."""

    source: str
    kind: str
    reader: RuntimeCall
    test: RuntimeCall | None
    validation: RuntimeCall | None
    test_split: float
    validation_split: float
    shuffle: bool
    read: RuntimeCall | None = None  # folders: what reads one of the files the readers list (runtime.stream)


@dataclass(frozen=True)
class Program:
    """Everything a training run of a spec does, as calls: see the module docstring."""

    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    optimizer: KerasCall
    loss: object
    metrics: object
    callbacks: tuple[KerasCall, ...]
    data: DataPlan | None
    batch_size: int
    epochs: int
    seed: int | None
    precision: str
    jit_compile: bool | str
    steps_per_execution: int | str
    step_flops: float
    class_weight: dict | str | None = None  # model.fit's: {class id: weight}, or "auto" (runtime's balanced)
    devices: int | None = None  # data parallelism over this many devices (runtime.distribute); None: every one
    adapt: tuple[str, ...] = ()  # the layers that learn from the training features before fitting (runtime.adapt)


# ----- small rules -----


def keras_class_name(name: str) -> str:
    """`sparse_categorical_crossentropy` -> `SparseCategoricalCrossentropy`."""
    return _IRREGULAR.get(name) or "".join(part.capitalize() for part in name.split("_"))


def same_value(a, b) -> bool:
    """Equal, and both booleans or neither (True == 1 in Python, not in a Keras argument)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def monitor_mode(monitor: str, mode: str) -> str:
    """`auto` mode: accuracy-like quantities improve upwards, everything else (losses) downwards.

    Resolved here rather than by Keras, whose `auto` stops a run whose metric it cannot place.
    """
    if mode != "auto":
        return mode
    return "max" if any(word in monitor for word in MAX_MONITORS) else "min"


def loss_name(loss, output: str) -> str | None:
    """The loss (by name) of one output, from a spec's `training.loss`."""
    if isinstance(loss, dict) and "type" not in loss:
        loss = loss.get(output)
    if isinstance(loss, dict):
        loss = loss.get("type")
    return loss if isinstance(loss, str) else None


# ----- training -----


def lower_optimizer(optimizer, learning_rate=None) -> KerasCall:
    """The optimizer, its learning rate always written (Keras's default where the spec has none);
    `learning_rate` (a value or KerasCall) replaces the spec's when given."""
    class_name = OPTIMIZERS[optimizer.type][0]
    rate = learning_rate if learning_rate is not None else lower_learning_rate(optimizer.learning_rate)
    if rate is None:
        rate = DEFAULT_LEARNING_RATES.get(optimizer.type, 0.001)
    return KerasCall("optimizers", class_name, (("learning_rate", rate), *optimizer.args.items()))


def lower_learning_rate(rate):
    """A float stays a float; a schedule becomes its `keras.optimizers.schedules` call."""
    if rate is None or isinstance(rate, int | float):
        return rate
    fields = rate.model_dump(exclude={"type"}, exclude_none=True)
    return KerasCall("optimizers.schedules", rate.keras_class, tuple(fields.items()))


def lower_named(module: str, value):
    """A loss or metric: a name stays a string (Keras resolves it); {type, args} becomes a call."""
    if isinstance(value, str):
        return value
    if value["type"] in ALIASES:
        return value["type"]
    args = tuple((k, v) for k, v in value.items() if k != "type")
    return KerasCall(module, keras_class_name(value["type"]), args)


def lower_loss(loss, outputs: list[str]):
    """The loss argument of model.compile: one loss, or one per output (by output name)."""
    if isinstance(loss, dict) and "type" not in loss:
        return {name: lower_named("losses", loss[name]) for name in outputs if name in loss}
    if len(outputs) > 1:  # the same loss for every output
        return {name: lower_named("losses", loss) for name in outputs}
    return lower_named("losses", loss)


def lower_metrics(metrics, outputs: list[str]):
    """The metrics argument of model.compile: a list, or a list per output."""
    if isinstance(metrics, dict):
        return {name: [lower_named("metrics", m) for m in metrics[name]] for name in outputs if name in metrics}
    if len(outputs) > 1:  # the same metrics for every output
        return {name: [lower_named("metrics", m) for m in metrics] for name in outputs}
    return [lower_named("metrics", m) for m in metrics]


def lower_callback(callback) -> KerasCall:
    """One callback: its file fields as RunPaths, `mode` resolved by netspec's rule."""
    class_name, defaults, path_fields = CALLBACKS[callback.type]
    kwargs = []
    for key, value in callback.model_dump(exclude={"type"}).items():
        if key in path_fields:
            kwargs.append((key, RunPath(value)))
        elif key == "mode":
            kwargs.append((key, monitor_mode(callback.monitor, value)))
        elif key not in defaults or not same_value(value, defaults[key]):
            kwargs.append((key, value))
    return KerasCall("callbacks", class_name, tuple(kwargs))


# ----- data -----


def reader(kind: str, path, options, inputs: tuple[Port, ...], outputs: tuple[Port, ...]) -> RuntimeCall:
    """The runtime function that reads one source of `kind`: `path` names a file (as a string or a Ref to one);
    named sources (builtin:, keras:, synthetic) are `options.source` itself."""
    if kind == "digits":
        return RuntimeCall("load_digits", (options.source == "builtin:digits_sequence",))
    if kind == "keras":
        return RuntimeCall("load_keras", (options.source[len("keras:"):],))
    if kind == "synthetic":
        return RuntimeCall("synthetic", (Ref("INPUTS"), Ref("OUTPUTS"), options.samples, options.num_classes,
                                         Ref("seed")))
    if kind == "npz":
        x = [[options.x] if isinstance(options.x, str) else list(options.x)] if options.x else [
            [p.name for p in inputs], ["x"]]
        y = [[options.y]] if options.y else [[p.name for p in outputs], ["y"]]
        return RuntimeCall("load_npz", (path, x, y))
    if kind == "npy":
        return RuntimeCall("load_npy", (path,))
    if kind == "csv":
        columns = [options.x] if isinstance(options.x, str) else options.x
        return RuntimeCall("load_csv", (path, columns, options.y))
    if kind in FOLDER_KINDS:  # listed here, read a batch at a time as training takes them (file_reader)
        return RuntimeCall("list_folder", (path, FOLDER_KINDS[kind]))
    raise ValueError(f"no reader for data of kind {kind!r}")


def file_reader(kind: str, options, inputs: tuple[Port, ...]) -> RuntimeCall | None:
    """The runtime function that reads one file of a folder of `kind` (None for other kinds)."""
    if kind == "image_folder":
        shape = inputs[0].shape
        size = tuple(options.image_size) if options.image_size else tuple(shape[:2])
        return RuntimeCall("image_reader", (size, shape[-1] if len(shape) == 3 else None))
    if kind == "text_folder":
        return RuntimeCall("text_reader", ())
    return None


NAMED_KINDS = ("digits", "keras", "synthetic")
# Folders of class subfolders, and the files of them that count: keras.utils.image_dataset_from_directory's formats.
FOLDER_KINDS = {"image_folder": (".bmp", ".gif", ".jpeg", ".jpg", ".png"), "text_folder": (".txt",)}


def source_kind(source: str, format: str = "auto", base_dir: Path | None = None) -> str:
    """Which reader a source takes: digits, keras, synthetic, npz, npy, csv, image_folder or text_folder."""
    if source == "synthetic":
        return "synthetic"
    if source.startswith("builtin:"):
        return "digits"
    if source.startswith("keras:"):
        return "keras"
    if format != "auto":
        return format
    suffix = Path(source).suffix.lower()
    if suffix in (".npz", ".npy", ".csv"):
        return suffix[1:]
    path = Path(base_dir) / source if base_dir is not None else Path(source)
    try:
        if path.is_dir() and any(path.rglob("*.txt")):
            return "text_folder"
    except OSError:  # not a path this system can have (too long, say): it reads as nothing else either
        pass
    return "image_folder"


def lower_data(spec, options, inputs, outputs, *, source, kind: str, test=None, validation=None) -> DataPlan:
    """The data plan of `options` (the spec's `data`): `source`, `test` and `validation` as the running program
    names them (paths, or Refs). Separate test and validation files are read as a file `source` is (`kind`),
    or by their own suffix beside a named source (builtin:, keras:, synthetic). `spec`: a Spec or Loaded."""
    from netspec.load import loaded

    result = loaded(spec)
    written = {"test": options.test, "validation": options.validation}
    base_dir = result.source.base_dir if result.source is not None else None

    def part(which, given):
        if written[which] is None:
            return None
        own = source_kind(written[which], "auto", base_dir) if kind in NAMED_KINDS else kind
        if own in FOLDER_KINDS and kind not in FOLDER_KINDS:
            from netspec.errors import SpecError
            from netspec.source import diagnostic_at

            raise SpecError([diagnostic_at(result.source, ("data", which), f"`{written[which]}` is a folder, "
                                           f"streamed from disk as training reads it; `{options.source}` is read "
                                           "into memory, and one run feeds the model one way",
                                           f"save the {which} samples as an .npz file, or train on a folder")])
        return reader(own, given if given is not None else written[which], options, inputs, outputs)

    return DataPlan(
        source=options.source, kind=kind, reader=reader(kind, source, options, inputs, outputs),
        test=part("test", test), validation=part("validation", validation), test_split=options.test_split,
        validation_split=(options.validation_split if options.validation_split is not None
                          else result.spec.training.validation_split),
        shuffle=options.shuffle, read=file_reader(kind, options, inputs))


# ----- the whole program -----


def ports(spec) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """The model's inputs and outputs (shapes from netspec's own inference) of a Spec or Loaded."""
    from netspec.load import loaded

    result = loaded(spec)
    spec, inferred = result.spec, result.shapes
    by_name = inferred.by_name()
    inputs = tuple(Port(i.name, tuple(i.shape), i.dtype) for i in spec.inputs)
    outputs = []
    for ref in result.graph.outputs:
        if ref.name in by_name:
            shape = tuple(by_name[ref.name].outputs[ref.index])
        else:  # a model input used directly as an output
            shape = tuple(inferred.input_shapes[ref.name])
        outputs.append(Port(ref.name, shape, "float32", loss_name(spec.training.loss, ref.name)))
    return inputs, tuple(outputs)


def step_flops(spec) -> float:
    """Forward and backward FLOPs of one training batch (about 3x the forward pass), from the shape inference."""
    from netspec.load import loaded

    result = loaded(spec)
    return 3.0 * sum(layer.flops for layer in result.shapes.layers) * result.spec.training.batch_size


def execution_settings(training, tuned: dict | None = None) -> dict:
    """precision, jit_compile, steps_per_execution: a tuned run's, else the spec's explicit ones, else `auto`."""
    settings = {"precision": training.precision, "jit_compile": "auto", "steps_per_execution": "auto"}
    explicit = training.execution
    if not isinstance(explicit, str):  # {jit_compile, steps_per_execution}; `tuned` is measured by each run
        settings["jit_compile"] = explicit.jit_compile
        if explicit.steps_per_execution is not None:
            settings["steps_per_execution"] = explicit.steps_per_execution
    settings.update(tuned or {})
    return settings


def lower_program(spec, *, data_source=None, data_kind: str | None = None, test=None, validation=None,
                  tuned: dict | None = None) -> Program:
    """The program of a loaded spec. `data_source` (a path or Ref) and `data_kind` say how the running program
    names and reads `data.source` (default: as the spec writes it); `tuned` replaces execution settings.
    `spec`: a Spec or Loaded."""
    from netspec.load import loaded

    result = loaded(spec)
    spec = result.spec
    training = spec.training
    inputs, outputs = ports(result)
    names = [p.name for p in outputs]
    data = None
    if spec.data is not None and data_kind != "memory":  # data a caller holds in memory is not read by a reader
        base_dir = result.source.base_dir if result.source is not None else None
        kind = data_kind or source_kind(spec.data.source, spec.data.format, base_dir)
        source = data_source if data_source is not None else spec.data.source
        data = lower_data(result, spec.data, inputs, outputs, source=source, kind=kind, test=test,
                          validation=validation)
    settings = execution_settings(training, tuned)
    if training.class_weight is not None and len(outputs) > 1:  # Keras's fit refuses it for several outputs
        from netspec.errors import SpecError
        from netspec.source import diagnostic_at

        raise SpecError([diagnostic_at(result.source, ("training", "class_weight"),
                                       f"`class_weight` weighs one output's classes; this model has {len(outputs)} "
                                       "outputs", "leave it out, or weigh samples in the data instead")])
    return Program(
        name=spec.name, inputs=inputs, outputs=outputs,
        optimizer=lower_optimizer(training.optimizer),
        loss=lower_loss(training.loss, names), metrics=lower_metrics(training.metrics, names),
        callbacks=tuple(lower_callback(c) for c in training.callbacks),
        data=data, batch_size=training.batch_size, epochs=training.epochs, seed=training.seed,
        precision=settings["precision"], jit_compile=settings["jit_compile"],
        steps_per_execution=settings["steps_per_execution"], step_flops=step_flops(result),
        class_weight=training.class_weight, devices=distribution_devices(training.distribution),
        adapt=adapted_layers(result.graph))


def adapted_layers(graph) -> tuple[str, ...]:
    """The layers to adapt before training, in the model's order: vocabularies, bins and normalization
    statistics that the spec leaves to the data (`adapts()` says so)."""
    return tuple(node.name for node in graph.nodes if getattr(node.layer, "adapts", lambda: False)())


def distribution_devices(distribution) -> int | None:
    """The devices `training.distribution` trains on: None for every one (`auto`), 1 for `none`."""
    if isinstance(distribution, str):
        return 1 if distribution == "none" else None
    return distribution.devices
