"""A spec's `training:` -> Keras optimizer, learning-rate schedule, losses and metrics; `model.compile`."""

from __future__ import annotations

import re
from typing import Any

from netspec.errors import SpecError
from netspec.schema.training import OPTIMIZERS, Optimizer, Schedule, Training
from netspec.source import diagnostic_at


def snake_case(name: str) -> str:
    """Keras's class-name -> snake_case rule (`BinaryIoU` -> `binary_io_u`)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def make_schedule(schedule: Schedule):
    import keras

    args = {k: v for k, v in schedule.model_dump(exclude={"type"}).items() if v is not None}
    return getattr(keras.optimizers.schedules, schedule.keras_class)(**args)


def make_optimizer(optimizer: Optimizer):
    import keras

    kwargs: dict[str, Any] = dict(optimizer.args)
    if isinstance(optimizer.learning_rate, Schedule):
        kwargs["learning_rate"] = make_schedule(optimizer.learning_rate)
    elif optimizer.learning_rate is not None:
        kwargs["learning_rate"] = optimizer.learning_rate
    return getattr(keras.optimizers, OPTIMIZERS[optimizer.type][0])(**kwargs)


def _classes(module) -> dict[str, type]:
    return {snake_case(name): cls for name, cls in vars(module).items() if isinstance(cls, type)}


def _keras_object(value, module):
    """A name stays a name (Keras resolves it); `{type, ...args}` becomes an instance of the class."""
    if not isinstance(value, dict):
        return value
    args = {k: v for k, v in value.items() if k != "type"}
    cls = _classes(module).get(value["type"])
    if cls is None:  # an alias such as `mse` or `acc`: Keras resolves the name itself (it takes no arguments)
        return value["type"]
    return cls(**args)


def make_loss(loss, output_names: list[str]):
    import keras

    if isinstance(loss, dict) and "type" not in loss:
        return {name: _keras_object(loss[name], keras.losses) for name in output_names if name in loss}
    made = _keras_object(loss, keras.losses)
    if len(output_names) > 1:  # one loss for every output
        return {name: _keras_object(loss, keras.losses) for name in output_names}
    return made


def make_metrics(metrics, output_names: list[str]):
    import keras

    def listed(items):
        return [_keras_object(m, keras.metrics) for m in items]

    if isinstance(metrics, dict):
        return {name: listed(metrics[name]) for name in output_names if name in metrics}
    if len(output_names) > 1:  # the same metrics for every output
        return {name: listed(metrics) for name in output_names}
    return listed(metrics)


def compile_model(model, training: Training, *, source=None, jit_compile="auto", steps_per_execution: int = 1) -> None:
    """Compile with the spec's optimizer, loss and metrics; Keras wraps the optimizer for loss scaling
    under mixed_float16 (`auto_scale_loss`). Arguments Keras refuses are a SpecError at their place."""
    names = list(model.output_names)
    model.compile(
        optimizer=_made("optimizer", lambda: make_optimizer(training.optimizer), source),
        loss=_made("loss", lambda: make_loss(training.loss, names), source),
        metrics=_made("metrics", lambda: make_metrics(training.metrics, names), source),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        auto_scale_loss=True,
    )


def _made(key: str, make, source):
    try:
        return make()
    except (TypeError, ValueError) as exc:
        path = ("training", key)
        message = f"Keras cannot make this {key}: {exc}"
        hint = "check the argument names against the Keras documentation of the class"
        raise SpecError([diagnostic_at(source, path, message, hint)]) from exc
