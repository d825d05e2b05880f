"""Callbacks: the spec's (`training.callbacks`, lowered once in netspec/lowering.py) and the runner's own.

The spec's callbacks are the Keras calls a generated script prints, with
their files in the run folder. What only a tool adds: the history recorded
after every epoch (history.json, history.csv), the resume state (Keras's
BackupAndRestore, always kept, its previous epoch's files kept by links), and
TensorBoard scalars in logs/ when the spec has no tensorboard callback. Keras
classes are imported only when a run starts, so the classes that subclass
Keras's are made by `_classes()`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from netspec import atomic
from netspec.errors import UsageError
from netspec.lowering import RunPath, lower_callback, monitor_mode  # noqa: F401 - monitor_mode: for tests
from netspec.schema import training as schema


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
    from keras.src.utils import file_utils  # is_remote_path: no public equivalent

    class Recorder(keras.callbacks.Callback):
        """After each epoch: the history, and its files (before BackupAndRestore saves the epoch's state)."""

        def __init__(self, run, history: dict | None = None):
            super().__init__()
            self.run = run
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
            for values in self.history.values():  # a resume that fell back to the previous epoch's state (the
                del values[epoch:]  # last one's did not load) runs an epoch the history already holds
            done = self.epochs
            for key, value in (logs or {}).items():
                self.history.setdefault(key, [None] * done).append(float(value))
            for values in self.history.values():  # a key that this epoch lacks
                if len(values) < done + 1:
                    values.append(None)
            self.run.write_history(self.history, durable=False)

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

    class Backup(keras.callbacks.BackupAndRestore):
        """Keras's BackupAndRestore with `double_checkpoint`, the previous epoch's files kept by hard links.

        Keras keeps them by copying the weights file before every save: the whole model and optimizer state
        each epoch (the addition RNN's 2.5 MB: 5 ms of its 19.5 ms backup), more as models grow. Here the
        previous files become links to the current ones, and each new file is written aside and renamed over
        the current one: no copy, and at every moment both files are whole. Restoring is Keras's own,
        falling back to the previous files where the current ones do not load. Where the files cannot be
        linked (a file system without hard links) they are copied, as Keras does. Files being written are
        named as the run folder's temporaries, so a resume removes any a kill left. A remote folder, or a
        Keras without these attributes, is left to Keras.
        """

        def _save_model(self):
            if file_utils.is_remote_path(self.backup_dir) or not all(hasattr(self, a) for a in _BACKUP_ATTRIBUTES):
                return super()._save_model()
            os.makedirs(self.backup_dir, exist_ok=True)
            if self.double_checkpoint:
                _keep(self._weights_path, self._prev_weights_path)
                _keep(self._training_metadata_path, self._prev_training_metadata_path)
            aside = _temporary(self._weights_path, ".weights.h5")  # Keras saves weights only under that suffix
            try:
                self.model.save_weights(aside, overwrite=True)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(aside)
                raise
            os.replace(aside, self._weights_path)
            with atomic.atomic_path(self._training_metadata_path) as written:  # not synced to disk, as Keras's
                written.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    return SimpleNamespace(Recorder=Recorder, ScalarLog=ScalarLog, Backup=Backup)


# What Backup's save reads of Keras's BackupAndRestore.
_BACKUP_ATTRIBUTES = ("double_checkpoint", "_weights_path", "_prev_weights_path", "_training_metadata_path",
                      "_prev_training_metadata_path", "_current_epoch", "_last_batch_seen")


def _temporary(path: str, suffix: str = "") -> str:
    """A name beside `path` for a file being written: hidden and with `.tmp` in it, so that a resumed run's
    `RunFolder.remove_stale_temporaries` removes one a kill left behind."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name.removesuffix(suffix)}.tmp{suffix}")


def _keep(current: str, previous: str) -> None:
    """`previous` becomes the file `current` is now: a hard link, or, where links fail, a copy over `previous`
    as Keras makes (`current` is only ever replaced whole, so it stays whole while it is copied)."""
    if not os.path.exists(current):
        return
    linked = _temporary(previous)
    with contextlib.suppress(FileNotFoundError):
        os.remove(linked)
    try:
        os.link(current, linked)
    except OSError:
        shutil.copy(current, previous)
        return
    os.replace(linked, previous)


def recorder(run, history=None):
    return _classes().Recorder(run, history)


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
    """The spec's callbacks as the script makes them, files in the run folder, and what a resumed run needs:
    a checkpoint that only saves a model better than the best one so far, a CSV log that appends.
    `backup_and_restore` is not among them: `backup` makes the runner's own."""
    import keras

    from netspec.build import instantiate

    made = []
    for callback in callbacks:
        if isinstance(callback, schema.BackupAndRestore):
            continue
        lowered = lower_callback(callback)
        kwargs = {k: str(run.resolve(v.path)) if isinstance(v, RunPath) else v for k, v in lowered.kwargs}
        if isinstance(callback, schema.ModelCheckpoint) and resuming and callback.save_best_only:
            kwargs["initial_value_threshold"] = _best(history, callback.monitor, kwargs["mode"])
        if isinstance(callback, schema.CSVLogger) and resuming:
            kwargs["append"] = True
        if isinstance(callback, schema.TensorBoard) and keras.backend.backend() != "tensorflow":
            made.append(_tensorboard_elsewhere(callback, run))
            continue
        made.append(instantiate(type(lowered)(lowered.module, lowered.name, tuple(kwargs.items()))))
    return [c for c in made if c is not None]


def backup(callbacks, run):
    """Keras's BackupAndRestore for the run's resume state, in the spec's folder (default `backup/`).

    The runner deletes the state itself once every file of the run is written (`delete_checkpoint` is
    honoured then): Keras would delete it when `fit` ends, before the model and metrics are saved.
    """
    cache_saving_skipsets()
    settings = backup_settings(callbacks)
    backup = _classes().Backup(str(run.resolve(settings.backup_dir)), double_checkpoint=True,
                               delete_checkpoint=False)
    # Saving once an epoch, its batch hook only counts batches. Keras cannot know that: a callback with a batch
    # hook makes every training step wait for its logs (digits LSTM: 0.6 s more over 6 epochs), unless it says
    # it is safe to call asynchronously.
    backup.async_safe = True
    return backup


def cache_saving_skipsets() -> None:
    """Cache what Keras's saving skips of each kind of object, which Keras means to cache but does not.

    Keras's `saving_lib.get_attr_skipset` stores a kind's set under `saving_attr_skipset_<kind>` and looks
    it up under `saving_attr_skiplist_<kind>` (Keras 3.15, and 3.16's source). So every save builds
    throwaway Layer, Optimizer and Metric objects to find the set again. Each epoch's backup of the digits
    CNN took 30 ms, 19 ms with the cache (0.34 s less over its 30 epochs). A kind's set depends only on
    Keras's classes, so caching it by kind is what Keras intended; a Keras without that function is left
    as it is.
    """
    from keras.src.saving import saving_lib

    skipset = getattr(saving_lib, "get_attr_skipset", None)
    if skipset is not None and not hasattr(skipset, "cache_info"):  # once a process
        saving_lib.get_attr_skipset = functools.cache(skipset)


def _best(history, monitor: str, mode: str):
    values = [v for v in (history or {}).get(monitor, []) if v is not None]
    return (max if mode == "max" else min)(values) if values else None


def _tensorboard_elsewhere(callback: schema.TensorBoard, run):
    """On JAX and PyTorch: per-epoch scalars only (Keras's TensorBoard callback writes through TensorFlow)."""
    plain = schema.TensorBoard(type="tensorboard", log_dir=callback.log_dir)
    if callback != plain:
        raise UsageError("the `tensorboard` callback's histograms, graph, batch-level and profiling options "
                         "need the TensorFlow backend; on this backend keep only `log_dir` (per-epoch scalars)")
    return scalar_log(run.resolve(callback.log_dir))


def has_tensorboard(callbacks) -> bool:
    return any(isinstance(c, schema.TensorBoard) for c in callbacks)
