"""`model.compile` with a spec's optimizer, losses and metrics: the lowered calls (netspec/lowering.py),
instantiated as a generated script prints them."""

from __future__ import annotations

import re

from netspec.errors import SpecError
from netspec.lowering import lower_loss, lower_metrics, lower_optimizer
from netspec.schema.training import Training
from netspec.source import diagnostic_at


def snake_case(name: str) -> str:
    """Keras's class-name -> snake_case rule (`BinaryIoU` -> `binary_io_u`)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def compile_model(model, training: Training, *, source=None, jit_compile="auto", steps_per_execution: int = 1) -> None:
    """Compile with the spec's optimizer, loss and metrics (Keras wraps the optimizer for loss scaling under
    mixed_float16). Arguments Keras refuses are a SpecError at their place in the spec."""
    from netspec.build import instantiate

    names = list(model.output_names)
    model.compile(
        optimizer=_made("optimizer", lambda: instantiate(lower_optimizer(training.optimizer)), source),
        loss=_made("loss", lambda: instantiate(lower_loss(training.loss, names)), source),
        metrics=_made("metrics", lambda: instantiate(lower_metrics(training.metrics, names)), source),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )


def _made(key: str, make, source):
    try:
        return make()
    except (TypeError, ValueError, AttributeError) as exc:
        path = ("training", key)
        message = f"Keras cannot make this {key}: {exc}"
        hint = "check the argument names against the Keras documentation of the class"
        raise SpecError([diagnostic_at(source, path, message, hint)]) from exc
