"""`training:`: optimizer, learning-rate schedule, loss, metrics, callbacks, precision."""

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Discriminator, Field, PlainValidator, Tag, WithJsonSchema, model_validator

from netspec.layers.base import PositiveInt, SpecModel
from netspec.names import PRECISIONS, did_you_mean, suggest_key

_COMMON_OPT_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                    "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps")
# Keras class and constructor arguments (besides learning_rate) of each optimizer.
OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("SGD", ("momentum", "nesterov")),
    "adam": ("Adam", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "adamw": ("AdamW", ("beta_1", "beta_2", "epsilon", "amsgrad")),
    "rmsprop": ("RMSprop", ("rho", "momentum", "epsilon", "centered")),
    "adagrad": ("Adagrad", ("initial_accumulator_value", "epsilon")),
    "adadelta": ("Adadelta", ("rho", "epsilon")),
    "adamax": ("Adamax", ("beta_1", "beta_2", "epsilon")),
    "nadam": ("Nadam", ("beta_1", "beta_2", "epsilon")),
    "ftrl": ("Ftrl", ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                      "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")),
    "lion": ("Lion", ("beta_1", "beta_2")),
}
# Keras's default learning rate of each optimizer (a test checks them against Keras): written into a
# script's `--learning-rate` default, and given explicitly by the runner, so both compile the same config.
DEFAULT_LEARNING_RATES = {name: 0.01 if name == "sgd" else 0.001 for name in OPTIMIZERS}

LOSSES = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "circle", "cosine_similarity", "ctc", "dice",
    "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy",
    "squared_hinge", "tversky", "bce", "kld", "mae", "mape", "mse", "msle",
)

METRICS = (
    "acc", "accuracy", "auc", "binary_accuracy", "binary_crossentropy", "binary_io_u", "categorical_accuracy",
    "categorical_crossentropy", "categorical_hinge", "concordance_correlation", "cosine_similarity",
    "f1_score", "f_beta_score", "false_negatives", "false_positives", "hinge", "io_u", "kl_divergence",
    "log_cosh_error", "mae", "mape", "mean_absolute_error", "mean_absolute_percentage_error", "mean_io_u",
    "mean_squared_error", "mean_squared_logarithmic_error", "mse", "msle", "one_hot_io_u",
    "one_hot_mean_io_u", "pearson_correlation", "poisson", "precision", "r2_score", "recall",
    "root_mean_squared_error", "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge", "top_k_categorical_accuracy", "true_negatives",
    "true_positives",
)

Scalar = int | float | str | bool | None


class Schedule(SpecModel):
    """A Keras learning-rate schedule (keras.optimizers.schedules)."""

    type: Literal["exponential_decay", "cosine_decay", "piecewise_constant_decay", "inverse_time_decay"] = Field(
        description="Schedule kind.")
    initial_learning_rate: float | None = Field(None, gt=0, description="Starting rate (all but piecewise).")
    decay_steps: PositiveInt | None = Field(None, description="Steps over which the rate decays.")
    decay_rate: float | None = Field(None, gt=0, description="Decay factor (exponential, inverse time).")
    staircase: bool | None = Field(None, description="Decay in discrete steps.")
    alpha: float | None = Field(None, ge=0, description="Minimum rate as a fraction (cosine).")
    warmup_target: float | None = Field(None, description="Rate reached after warm-up (cosine).")
    warmup_steps: int | None = Field(None, ge=0, description="Warm-up steps (cosine).")
    boundaries: list[int] | None = Field(None, description="Step boundaries (piecewise constant).")
    values: list[float] | None = Field(None, description="Rates between boundaries (piecewise constant).")

    @model_validator(mode="after")
    def _check(self):
        needed = {
            "exponential_decay": ("initial_learning_rate", "decay_steps", "decay_rate"),
            "inverse_time_decay": ("initial_learning_rate", "decay_steps", "decay_rate"),
            "cosine_decay": ("initial_learning_rate", "decay_steps"),
            "piecewise_constant_decay": ("boundaries", "values"),
        }[self.type]
        missing = [k for k in needed if getattr(self, k) is None]
        if missing:
            raise ValueError(f"`{self.type}` needs {', '.join(f'`{k}`' for k in missing)}")
        if self.type == "piecewise_constant_decay" and len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"`values` needs one more entry than `boundaries`; received {len(self.values)} values and "
                f"{len(self.boundaries)} boundaries")
        return self

    @property
    def keras_class(self) -> str:
        return "".join(part.capitalize() for part in self.type.split("_"))


class Optimizer(SpecModel):
    """An optimizer: `type` plus its Keras constructor arguments."""

    model_config = {"extra": "allow"}

    type: Literal[tuple(OPTIMIZERS)] = Field(description="Optimizer name, as in `keras.optimizers`.")  # type: ignore[valid-type]
    learning_rate: float | Schedule | None = Field(None, description="A rate (> 0) or a schedule; default Keras's.")

    @model_validator(mode="after")
    def _check_args(self):
        allowed = set(OPTIMIZERS[self.type][1]) | set(_COMMON_OPT_ARGS)
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                names = ["learning_rate", *sorted(allowed)]
                hint = suggest_key(key, names)
                raise ValueError(f"unknown argument `{key}` for optimizer `{self.type}`" + (f"; {hint}" if hint else
                                 f"; expected one of: {', '.join(names)}"))
            if not isinstance(value, int | float | bool):
                raise ValueError(f"optimizer argument `{key}` must be a number or boolean; received {value!r}")
        if isinstance(self.learning_rate, float) and self.learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be positive; received {self.learning_rate}")
        return self

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# What TensorFlow accepts as a name scope, which Keras opens under a loss's or metric's `name`; the name is also
# the key of its value in the logs (and so what a callback's `monitor` names).
_SCOPE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/]*")


def _named(kind: str, names: tuple[str, ...]):
    """A Keras object by name, or as {type, ...args}."""

    def check(value):
        if isinstance(value, str):
            if value not in names:
                hint = did_you_mean(value, names)
                raise ValueError(f"unknown {kind} {value!r}" + (f"; {hint}" if hint else ""))
            return value
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            check(value["type"])
            name = value.get("name")
            if name is not None and not (isinstance(name, str) and _SCOPE_NAME.fullmatch(name)):
                raise ValueError(f"{kind} `name` must start with a letter, digit or `.` and hold only letters, digits, "
                                 f"`_`, `.`, `-` and `/` (TensorFlow names a scope after it); received {name!r}")
            for key, arg in value.items():
                if not isinstance(arg, Scalar | list):
                    raise ValueError(f"{kind} argument `{key}` must be a plain value; received {arg!r}")
            return dict(value)
        raise ValueError(f"expected a {kind} name or a mapping with `type`; received {value!r}")

    schema = {"anyOf": [{"enum": list(names)},
                        {"type": "object", "required": ["type"],
                         "properties": {"type": {"enum": list(names), "description": f"The Keras {kind}'s name."},
                                        "name": {"type": "string", "pattern": f"^{_SCOPE_NAME.pattern}$",
                                                 "description": f"The {kind}'s name in the logs."}}}]}
    return check, schema


_check_loss, _LOSS_SCHEMA = _named("loss", LOSSES)
_check_metric, _METRIC_SCHEMA = _named("metric", METRICS)


# One loss or metric, checked on its own so that an error names its place
# (`training.metrics[1]`, `training.loss.probs`).
Loss = Annotated[Any, PlainValidator(_check_loss), WithJsonSchema(_LOSS_SCHEMA)]
Metric = Annotated[Any, PlainValidator(_check_metric), WithJsonSchema(_METRIC_SCHEMA)]


def _per_output_if_mapping_without_type(value) -> str:
    return "per_output" if isinstance(value, dict) and "type" not in value else "one"


# A loss, or a mapping from output name to loss (a mapping without `type`).
LossSpec = Annotated[
    Union[Annotated[Loss, Tag("one")], Annotated[dict[str, Loss], Tag("per_output")]],  # noqa: UP007
    Discriminator(_per_output_if_mapping_without_type),
    WithJsonSchema({"anyOf": [_LOSS_SCHEMA, {"type": "object", "additionalProperties": _LOSS_SCHEMA}]}),
]
# A list of metrics, or a mapping from output name to such a list.
MetricsSpec = Annotated[
    Union[Annotated[list[Metric], Tag("list")], Annotated[dict[str, list[Metric]], Tag("per_output")]],  # noqa: UP007
    Discriminator(lambda value: "per_output" if isinstance(value, dict) else "list"),
    WithJsonSchema({"anyOf": [{"type": "array", "items": _METRIC_SCHEMA},
                              {"type": "object", "additionalProperties": {"type": "array", "items": _METRIC_SCHEMA}}]}),
]


def _optimizer(value):
    if isinstance(value, str):
        value = {"type": value}
    return value


class EarlyStopping(SpecModel):
    """Stop when a monitored quantity stops improving."""

    type: Literal["early_stopping"]
    monitor: str = Field("val_loss", description="Quantity to monitor, e.g. `val_loss` or `val_accuracy`.")
    min_delta: float = Field(0.0, description="Smallest change of the monitored quantity that counts as an improvement.")
    patience: int = Field(0, ge=0, description="Epochs without improvement after which training stops.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="Whether improvement means the quantity goes down (`min`) or up (`max`); `auto` infers it from the name.")
    baseline: float | None = Field(None, description="Stop if the quantity does not improve on this value.")
    restore_best_weights: bool = Field(False, description="Restore the weights of the best epoch when training stops.")
    start_from_epoch: int = Field(0, ge=0, description="Epochs to wait before monitoring starts (warm-up).")


class ReduceLROnPlateau(SpecModel):
    """Reduce the learning rate when a metric has stopped improving."""

    type: Literal["reduce_lr_on_plateau"]
    monitor: str = Field("val_loss", description="Quantity to monitor, e.g. `val_loss`.")
    factor: float = Field(0.1, gt=0, lt=1, description="Factor the learning rate is multiplied by: new_lr = lr * factor.")
    patience: int = Field(10, ge=0, description="Epochs without improvement after which the rate is reduced.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="Whether improvement means the quantity goes down (`min`) or up (`max`); `auto` infers it from the name.")
    min_delta: float = Field(1e-4, description="Smallest change of the monitored quantity that counts as an improvement.")
    cooldown: int = Field(0, ge=0, description="Epochs to wait after a reduction before resuming normal operation.")
    min_lr: float = Field(0.0, ge=0, description="Lower bound on the learning rate.")


class ModelCheckpoint(SpecModel):
    """Save the model during training; by default the best one, as `best.keras` in the run folder."""

    type: Literal["model_checkpoint"]
    filepath: str = Field("best.keras", description="Where to save, relative to the run folder (`.keras`, or `.weights.h5` for weights only).")
    monitor: str = Field("val_loss", description="Quantity that decides which model is best.")
    save_best_only: bool = Field(True, description="Save only when the monitored quantity improves.")
    save_weights_only: bool = Field(False, description="Save only the weights, not the whole model.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="Whether better means lower (`min`) or higher (`max`); `auto` infers it from the name.")


class TensorBoard(SpecModel):
    """TensorBoard logs, under `logs/` in the run folder by default."""

    type: Literal["tensorboard"]
    log_dir: str = Field("logs", description="Folder of the logs, relative to the run folder.")
    histogram_freq: int = Field(0, ge=0, description="Epochs between weight histograms; 0 writes none.")
    write_graph: bool = Field(True, description="Write the model graph.")
    update_freq: Literal["epoch", "batch"] | PositiveInt = Field(
        "epoch", description="Write metrics every `epoch`, every `batch`, or every N batches.")
    profile_batch: int = Field(0, description="Batch to profile; 0 turns profiling off.")


class CSVLogger(SpecModel):
    """Stream epoch results to a CSV file (default `training_log.csv` in the run folder)."""

    type: Literal["csv_logger"]
    filename: str = Field("training_log.csv", description="CSV file, relative to the run folder.")
    separator: str = Field(",", description="Column separator.")
    append: bool = Field(False, description="Append to an existing file instead of overwriting it.")


class BackupAndRestore(SpecModel):
    """Back up training state each epoch so an interrupted run can resume (`netspec train --resume RUN_DIR`).

    The runner always keeps this state; listing the callback changes where and whether it is kept."""

    type: Literal["backup_and_restore"]
    backup_dir: str = Field("backup", description="Folder of the resume state, relative to the run folder.")
    save_freq: Literal["epoch"] = Field(
        "epoch", description="Back up after every epoch; a resumed run restarts the epoch it was stopped in.")
    delete_checkpoint: bool = Field(True, description="Delete the resume state when the run finishes.")


class TerminateOnNaN(SpecModel):
    """Stop training when the loss becomes NaN."""

    type: Literal["terminate_on_nan"]


Callback = Annotated[
    Union[EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, TensorBoard, CSVLogger, BackupAndRestore, TerminateOnNaN],  # noqa: UP007
    Field(discriminator="type"),
]


def _callback(value):
    return {"type": value} if isinstance(value, str) else value


class ExecutionSettings(SpecModel):
    """Explicit execution settings for `model.compile`."""

    jit_compile: bool | Literal["auto"] = Field("auto", description="XLA compilation: true, false or auto.")
    steps_per_execution: PositiveInt | None = Field(
        None, description="Training steps per call of the compiled function; default: the runner's auto value.")


class DataParallel(SpecModel):
    """Data parallelism: every device trains a copy of the model on its share of each batch."""

    type: Literal["data_parallel"] = Field(description="Every device trains a copy of the model on its share.")
    devices: PositiveInt | None = Field(
        None, description="Devices to train on; default every device (with several processes: of every process).")


def _distribution(value):
    return {"type": value} if value == "data_parallel" else value


class TuneSettings(SpecModel):
    """What `netspec tune` optimizes: a quantity of the runs' history, and which way."""

    metric: str = Field("val_loss", description="A key of the run's history (history.json): `val_loss`, "
                        "`val_accuracy`, `loss`, ...; default the first validation metric, val_loss.")
    direction: Literal["minimize", "maximize"] | None = Field(
        None, description="Default: maximize accuracy-like metrics (accuracy, auc, precision, recall, ...), "
        "minimize the rest (losses, errors).")


class Training(SpecModel):
    """How to train the model."""

    optimizer: Annotated[Optimizer, BeforeValidator(_optimizer)] = Field(
        default_factory=lambda: Optimizer(type="adam"), description="`adam`, or {type, learning_rate, ...args}.")
    loss: LossSpec = Field(
        "sparse_categorical_crossentropy",
        description="A Keras loss name or {type, ...args}; or a mapping from output name to loss.")
    metrics: MetricsSpec = Field(
        default_factory=lambda: ["accuracy"], description="Metrics to report; or a mapping per output.")
    batch_size: PositiveInt = Field(32, description="Samples per gradient step.")
    epochs: PositiveInt = Field(10, description="Passes over the training data.")
    validation_split: float = Field(0.1, ge=0, lt=1, description="Fraction of training data held out for validation.")
    precision: Literal[PRECISIONS] = Field(  # type: ignore[valid-type]
        "auto", description="`auto`: bfloat16 on GPUs >= 8.0, float16 on older GPUs, float32 on CPU.")
    seed: int | None = Field(None, description="Seed for weights, shuffling and dropout.")
    execution: Literal["auto", "tuned"] | ExecutionSettings = Field(
        "auto", description="`auto` (the fixed rule, or this model's tuned choice cached on this machine; measured "
        "when the run is long enough to repay it), `tuned` (measure the candidates, best first, while their expected "
        "saving repays them, and train with the fastest), or {jit_compile, steps_per_execution}.")
    distribution: Literal["auto", "none"] | Annotated[DataParallel, BeforeValidator(_distribution)] = Field(
        "auto", description="`auto`: data parallelism over every local accelerator (one: plain training), and over "
        "every process of a multi-process run (JAX); `none`: one device; or {type: data_parallel, devices: N}. "
        "`batch_size` is the global batch, shared by the replicas.")
    # `lambda: []`, not `list`: pydantic reads a builtin factory's signature from its text (tokenize's big regex).
    callbacks: list[Annotated[Callback, BeforeValidator(_callback)]] = Field(default_factory=lambda: [], description="Keras callbacks, by name or {type, ...}.")
    class_weight: Literal["auto"] | dict[Annotated[int, Field(ge=0)], Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Weight of each class in the loss (Keras's `fit` argument), {class id: weight}; `auto` "
        "weighs classes by how rare they are in the training data (n_samples / (n_classes * count)). One output.")
    tune: TuneSettings | None = Field(
        None, description="`netspec tune`'s objective: {metric: val_loss, direction: minimize}; training ignores it.")
