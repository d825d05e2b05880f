"""The `training:` section lowered to KerasCalls: optimizer, schedule, loss, metrics, callbacks.

Layers lower themselves (`Layer.lower`); these are the same kind of plain
calls for what `model.compile` and `model.fit` take, so that a script prints
exactly what a Keras user would write: only arguments that differ from
Keras's defaults.
"""

from __future__ import annotations

from netspec.layers.base import KerasCall
from netspec.schema.training import OPTIMIZERS

# Keras class of a loss or metric given as {type: ..., args}, where CamelCase of the name is not it:
# the inverse of Keras's class-name -> snake_case rule (`BinaryIoU` -> `binary_io_u`).
_IRREGULAR = {
    "auc": "AUC", "binary_io_u": "BinaryIoU", "ctc": "CTC", "f1_score": "F1Score", "f_beta_score": "FBetaScore",
    "io_u": "IoU", "kl_divergence": "KLDivergence", "mean_io_u": "MeanIoU", "one_hot_io_u": "OneHotIoU",
    "one_hot_mean_io_u": "OneHotMeanIoU", "r2_score": "R2Score",
}
# Short names that are functions, not classes: they take no arguments, so {type: mse, ...} is just `mse`
# (as the runner's compile does).
ALIASES = ("acc", "bce", "kld", "mae", "mape", "mse", "msle")

# Keras class, its constructor defaults, and the fields that name a file or folder
# in the run folder, for each callback type of the format.
CALLBACKS: dict[str, tuple[str, dict, tuple[str, ...]]] = {
    "early_stopping": ("EarlyStopping", {
        "monitor": "val_loss", "min_delta": 0, "patience": 0, "mode": "auto", "baseline": None,
        "restore_best_weights": False, "start_from_epoch": 0}, ()),
    "reduce_lr_on_plateau": ("ReduceLROnPlateau", {
        "monitor": "val_loss", "factor": 0.1, "patience": 10, "mode": "auto", "min_delta": 1e-4, "cooldown": 0,
        "min_lr": 0.0}, ()),
    "model_checkpoint": ("ModelCheckpoint", {
        "monitor": "val_loss", "save_best_only": False, "save_weights_only": False, "mode": "auto"}, ("filepath",)),
    "tensorboard": ("TensorBoard", {
        "histogram_freq": 0, "write_graph": True, "update_freq": "epoch", "profile_batch": 0}, ("log_dir",)),
    "csv_logger": ("CSVLogger", {"separator": ",", "append": False}, ("filename",)),
    "backup_and_restore": ("BackupAndRestore", {"save_freq": "epoch", "delete_checkpoint": True}, ("backup_dir",)),
    "terminate_on_nan": ("TerminateOnNaN", {}, ()),
}

def keras_class_name(name: str) -> str:
    """`sparse_categorical_crossentropy` -> `SparseCategoricalCrossentropy`."""
    return _IRREGULAR.get(name) or "".join(part.capitalize() for part in name.split("_"))


def same_value(a, b) -> bool:
    """Equal, and both booleans or neither (True == 1 in Python, not in a Keras argument)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def lower_optimizer(optimizer, learning_rate=None) -> KerasCall:
    """The optimizer; `learning_rate` (a value or KerasCall) replaces the spec's when given."""
    class_name = OPTIMIZERS[optimizer.type][0]
    kwargs = []
    rate = learning_rate if learning_rate is not None else lower_learning_rate(optimizer.learning_rate)
    if rate is not None:
        kwargs.append(("learning_rate", rate))
    kwargs += list(optimizer.args.items())
    return KerasCall("optimizers", class_name, tuple(kwargs))


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


def lower_callback(callback, path) -> KerasCall:
    """One callback; `path(value)` gives what a file field becomes (a path in the run folder)."""
    class_name, defaults, path_fields = CALLBACKS[callback.type]
    kwargs = []
    for key, value in callback.model_dump(exclude={"type"}).items():
        if key in path_fields:
            kwargs.append((key, path(value)))
        elif key not in defaults or not same_value(value, defaults[key]):
            kwargs.append((key, value))
    return KerasCall("callbacks", class_name, tuple(kwargs))


def loss_name(loss, output: str) -> str | None:
    """The loss (by name) of one output, as the runner's data module reads it."""
    if isinstance(loss, dict) and "type" not in loss:
        loss = loss.get(output)
    if isinstance(loss, dict):
        loss = loss.get("type")
    return loss if isinstance(loss, str) else None
