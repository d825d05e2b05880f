"""Callbacks: the spec's (`training.callbacks`) and the runner's own.

The runner's own callbacks keep the run folder current after every epoch
(history, resume state, TensorBoard scalars) and print one line per epoch
when the output is not a terminal. Paths a spec gives are relative to the run
folder. Keras classes are imported only when a run starts, so the classes
that subclass `keras.callbacks.Callback` are made by `_classes()`.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from netspec.errors import UsageError
from netspec.schema import training as schema

# Words of the quantities that improve upwards (Keras's metrics with `_direction = "up"`); a test checks this
# against every metric of the format.
MAX_MONITORS = ("acc", "auc", "precision", "recall", "f1", "f_beta", "io_u", "r2", "true_positives",
                "true_negatives", "correlation", "cosine_similarity", "sensitivity", "specificity")


def monitor_mode(monitor: str, mode: str) -> str:
    """`auto` mode: accuracy-like quantities improve upwards, everything else (losses) downwards."""
    if mode != "auto":
        return mode
    return "max" if any(word in monitor for word in MAX_MONITORS) else "min"


def monitored(callbacks) -> list[tuple[int, str]]:
    """(index, monitor) of the spec's callbacks that watch a logged quantity."""
    return [(i, c.monitor) for i, c in enumerate(callbacks) if isinstance(getattr(c, "monitor", None), str)]


def check_monitors(callbacks, logged: list[str], *, validation: bool, source=None) -> None:
    """Every `monitor` names a quantity the run logs: `logged` (the loss and metrics, as `evaluate` names them)
    or, with validation data, the same with `val_`. Keras would only warn at every epoch end and never act,
    or stop after the first epoch because it cannot tell the quantity's direction."""
    from netspec.errors import SpecError
    from netspec.names import did_you_mean
    from netspec.source import diagnostic_at

    known = list(logged) + [f"val_{k}" for k in logged] * validation
    problems = []
    for i, monitor in monitored(callbacks):
        if monitor in known:
            continue
        if monitor.startswith("val_") and not validation and monitor[4:] in logged:
            message = f"`{monitor}` is logged only with validation data, and this run has none"
            hint = f"set `data.validation_split` (e.g. 0.1), or monitor `{monitor[4:]}`"
        else:
            message = f"the run does not log `{monitor}`; it logs {', '.join(f'`{k}`' for k in known)}"
            hint = did_you_mean(monitor, known) or "monitor one of those"
        path = ("training", "callbacks", i, "monitor")
        problems.append(diagnostic_at(source, path, message, hint))
    if problems:
        raise SpecError(problems)


@functools.cache
def _classes() -> SimpleNamespace:
    import keras

    class Recorder(keras.callbacks.Callback):
        """After each epoch: the history, then the resume state, then the history files."""

        def __init__(self, run, state_path: Path | None, history: dict | None = None):
            super().__init__()
            self.run = run
            self.state_path = state_path
            self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
            self.epoch_seconds: list[float] = []
            self._started = 0.0

        @property
        def epochs(self) -> int:
            return len(next(iter(self.history.values()), []))

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_seconds.append(time.perf_counter() - self._started)
            done = self.epochs
            for key, value in (logs or {}).items():
                self.history.setdefault(key, [None] * done).append(float(value))
            for values in self.history.values():  # a key that this epoch lacks
                if len(values) < done + 1:
                    values.append(None)
            if self.state_path is not None:
                self.run.save_state(self.state_path, epoch=epoch + 1, history=self.history, model=self.model)
            self.run.write_history(self.history, durable=False)

    class EpochLine(keras.callbacks.Callback):
        """`epoch 3/15 - 0.41s - loss: 0.1862 - accuracy: 0.9468 - val_loss: ...`, one line per epoch."""

        def __init__(self, epochs: int, stream=None):
            super().__init__()
            self.total = epochs
            self.stream = stream
            self._started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._started
            values = " - ".join(f"{k}: {float(v):.4g}" for k, v in (logs or {}).items())
            print(f"epoch {epoch + 1}/{self.total} - {seconds:.2f}s - {values}", file=self.stream or sys.stdout,
                  flush=True)

    class BestCheckpoint(keras.callbacks.Callback):
        """Keras's ModelCheckpoint (best only by default), with the file written atomically."""

        def __init__(self, path: Path, monitor: str, mode: str, save_best_only: bool, save_weights_only: bool,
                     history: dict | None = None):
            super().__init__()
            self.path, self.monitor = path, monitor
            self.mode = monitor_mode(monitor, mode)
            self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
            previous = [v for v in (history or {}).get(monitor, []) if v is not None]
            self.best = (max if self.mode == "max" else min)(previous) if previous else None

        def _better(self, value: float) -> bool:
            if self.best is None:
                return True
            return value > self.best if self.mode == "max" else value < self.best

        def on_epoch_end(self, epoch, logs=None):
            from netspec import atomic

            value = (logs or {}).get(self.monitor)
            if self.save_best_only:
                if value is None:
                    return  # Keras warns and skips too
                if not self._better(float(value)):
                    return
                self.best = float(value)
            with atomic.atomic_path(self.path) as tmp:
                if self.save_weights_only:
                    # Keras insists on the `.weights.h5` suffix; write beside and move.
                    weights = tmp.with_name(tmp.name + ".weights.h5")
                    self.model.save_weights(weights)
                    weights.replace(tmp)
                else:
                    self.model.save(tmp)

    class ScalarLog(keras.callbacks.Callback):
        """Per-epoch scalars as TensorBoard event files (logs/train, logs/validation), as Keras names them.

        Written with the tensorboard package's own writer, so no TensorFlow is needed.
        """

        def __init__(self, log_dir: Path):
            super().__init__()
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writers = {part: EventFileWriter(str(log_dir / part)) for part in ("train", "validation")}

        def on_epoch_end(self, epoch, logs=None):
            from tensorboard.compat.proto import event_pb2, summary_pb2

            for key, value in (logs or {}).items():
                part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=f"epoch_{name}",
                                                                               simple_value=float(value))])
                self._writers[part].add_event(event_pb2.Event(wall_time=time.time(), step=epoch, summary=summary))
            for writer in self._writers.values():
                writer.flush()

        def on_train_end(self, logs=None):
            for writer in self._writers.values():
                writer.close()

    return SimpleNamespace(Recorder=Recorder, EpochLine=EpochLine, BestCheckpoint=BestCheckpoint,
                           ScalarLog=ScalarLog)


def recorder(run, state_path, history=None):
    return _classes().Recorder(run, state_path, history)


def epoch_line(epochs: int, stream=None):
    return _classes().EpochLine(epochs, stream)


def scalar_log(log_dir: Path):
    """TensorBoard scalars, or None (with a note) where the tensorboard package is not installed."""
    try:
        return _classes().ScalarLog(log_dir)
    except ImportError:
        print("note: the tensorboard package is not installed; no TensorBoard logs are written", file=sys.stderr)
        return None


def backup_settings(callbacks) -> schema.BackupAndRestore:
    """The spec's `backup_and_restore` entry, or its defaults: the runner always keeps a resume state."""
    for callback in callbacks:
        if isinstance(callback, schema.BackupAndRestore):
            return callback
    return schema.BackupAndRestore(type="backup_and_restore")


def spec_callbacks(callbacks, run, *, history: dict | None = None, resuming: bool = False) -> list:
    """Keras callbacks for the spec's `training.callbacks` (paths relative to the run folder).

    `backup_and_restore` is not among them: it configures the runner's own resume state.
    """
    import keras

    made = []
    for callback in callbacks:
        args = callback.model_dump(exclude={"type"})
        if "mode" in args:  # netspec's `auto` rule: Keras's stops a run whose metric it cannot place
            args["mode"] = monitor_mode(args["monitor"], args["mode"])
        if isinstance(callback, schema.EarlyStopping):
            made.append(keras.callbacks.EarlyStopping(**args))
        elif isinstance(callback, schema.ReduceLROnPlateau):
            made.append(keras.callbacks.ReduceLROnPlateau(**args))
        elif isinstance(callback, schema.TerminateOnNaN):
            made.append(keras.callbacks.TerminateOnNaN())
        elif isinstance(callback, schema.ModelCheckpoint):
            path = run.resolve(callback.filepath)
            made.append(_classes().BestCheckpoint(path, callback.monitor, callback.mode, callback.save_best_only,
                                                  callback.save_weights_only, history))
        elif isinstance(callback, schema.CSVLogger):
            made.append(keras.callbacks.CSVLogger(str(run.resolve(callback.filename)), separator=callback.separator,
                                                  append=callback.append or resuming))
        elif isinstance(callback, schema.TensorBoard):
            made.append(_tensorboard(callback, run))
    return [c for c in made if c is not None]


def _tensorboard(callback: schema.TensorBoard, run):
    import keras

    log_dir = run.resolve(callback.log_dir)
    if keras.backend.backend() != "tensorflow":
        plain = schema.TensorBoard(type="tensorboard", log_dir=callback.log_dir)
        if callback != plain:
            raise UsageError("the `tensorboard` callback's histograms, graph, batch-level and profiling options "
                             "need the TensorFlow backend; on this backend keep only `log_dir` (per-epoch scalars)")
        return scalar_log(log_dir)
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=callback.histogram_freq,
                                       write_graph=callback.write_graph, update_freq=callback.update_freq,
                                       profile_batch=callback.profile_batch)


def has_tensorboard(callbacks) -> bool:
    return any(isinstance(c, schema.TensorBoard) for c in callbacks)
