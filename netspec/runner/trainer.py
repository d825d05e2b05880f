"""`train`: a spec -> a trained model in a run folder.

load the spec -> apply the run's settings -> read and check the data -> set the
precision policy -> build and compile -> fit (resuming from the last finished
epoch where asked) -> evaluate on the held-out test split -> save.
"""

from __future__ import annotations

import copy
import math
import os
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec.errors import DataError, UsageError
from netspec.load import load_spec
from netspec.runner import callbacks as cb
from netspec.runner import data as data_module
from netspec.runner.execution import Execution, choose_execution
from netspec.runner.export import check_export, export_model
from netspec.runner.precision import Device, detect_device, dtype_policy, resolve_policy
from netspec.runner.run import RUN_FILE, RunFolder


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    history: dict
    model: Any = None
    precision: str = "float32"
    execution: Execution | None = None
    device: Device | None = None
    exports: dict[str, Path] = field(default_factory=dict)
    fit_seconds: float = 0.0
    samples_per_second: float = 0.0

    @property
    def epochs(self) -> int:
        return len(next(iter(self.history.values()), []))


def train(
    spec,
    *,
    data: str | None = None,
    out: str | os.PathLike | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    execution=None,
    resume: str | os.PathLike | None = None,
    export: Iterable[str] = (),
    overrides: Iterable[str] = (),
    seed: int | None = None,
    verbose: int | None = None,
    runs_root: str | os.PathLike = "runs",
) -> TrainResult:
    """Train a spec (path, text, mapping or Spec) and write a run folder; see `netspec train --help`.

    `data` replaces the spec's `data.source`; `epochs`, `batch_size`, `precision`, `seed` replace the
    spec's `training` values. `resume` continues the run in that folder from its last finished epoch.
    `verbose`: None shows Keras's progress bar on a terminal and one line per epoch otherwise; 0 is silent.
    """
    if resume is not None:
        given = {"spec overrides": list(overrides), "data": data, "batch_size": batch_size, "precision": precision,
                 "seed": seed, "out": out, "execution": execution}
        return _resume(resume, epochs=epochs, export=list(export), verbose=verbose,
                       conflicting=[k for k, v in given.items() if v not in (None, [])])
    loaded = load_spec(spec, overrides=overrides)
    spec_data = _resolved_data(loaded, data=data, epochs=epochs, batch_size=batch_size, precision=precision,
                               seed=seed)
    session = Session(out=out, runs_root=runs_root, execution=execution, source=loaded.source)
    return _run(load_spec(spec_data), spec_data, session, export=list(export), verbose=verbose)


@dataclass
class Session:
    """Where a run goes and what it continues: a new run (`out`), or a reopened one (`run`, `previous`)."""

    out: str | os.PathLike | None = None
    runs_root: str | os.PathLike = "runs"
    execution: Any = None
    run: RunFolder | None = None
    previous: dict | None = None  # run.json of the run being resumed
    source: Any = None  # where the spec was written, for located errors


def _resolved_data(loaded, *, data, epochs, batch_size, precision, seed) -> dict:
    """The spec as data (composition already expanded), with the run's settings written in."""
    source = loaded.source
    resolved = copy.deepcopy(source.data) if source is not None else loaded.model_dump(mode="json", exclude_unset=True)
    training = resolved.setdefault("training", {})
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("precision", precision), ("seed", seed)):
        if value is not None:
            training[key] = value
    if training.get("seed") is None:
        training["seed"] = random.SystemRandom().randrange(2**31)  # recorded, so a resumed run splits alike
    if data is not None:
        kept = ("validation_split", "test_split", "shuffle", "cache", "samples", "num_classes", "image_size")
        old = resolved.get("data")
        old = {"source": old} if isinstance(old, str) else (old or {})
        resolved["data"] = {"source": data, **{k: old[k] for k in kept if k in old}}
    elif isinstance(resolved.get("data"), str):
        resolved["data"] = {"source": resolved["data"]}
    base_dir = getattr(source, "base_dir", None)
    for key in ("source", "validation", "test"):
        value = (resolved.get("data") or {}).get(key)
        if isinstance(value, str):
            # Paths in the spec are relative to the spec file, and --data to the working directory;
            # the resolved spec holds absolute paths so that it works from anywhere.
            path = data_module.resolve_path(value, base_dir if data is None else None)
            if not path.startswith(("builtin:", "keras:")) and path != "synthetic":
                path = str(Path(path).resolve())
            resolved["data"][key] = path
    return resolved


def _resume(resume, *, epochs, export, verbose, conflicting) -> TrainResult:
    import yaml

    if conflicting:
        raise UsageError(f"--resume continues a run with its own settings; leave out {', '.join(conflicting)} "
                         "(only --epochs and --export may be given)")
    run = RunFolder.open(resume)
    previous = run.read_json(RUN_FILE)
    spec_data = yaml.safe_load(run.spec_file.read_text(encoding="utf-8"))
    run.remove_stale_temporaries()
    if epochs is not None and epochs != spec_data["training"].get("epochs"):
        if previous.get("status") == "finished":
            backup = cb.backup_settings(load_spec(spec_data).training.callbacks)
            if not run.state_file(backup.backup_dir).exists():
                raise UsageError(f"the run in {str(run.path)!r} finished and its resume state was deleted, so it "
                                 "cannot go on for more epochs; train anew, or keep the state next time with "
                                 "`callbacks: [{type: backup_and_restore, delete_checkpoint: false}]`")
            previous["status"] = "running"  # more epochs for a finished run
        spec_data["training"]["epochs"] = epochs
        run.write_spec(spec_data)
    if previous.get("status") == "finished":
        _say(verbose, f"{run.path} finished already ({previous.get('epochs_run')} epochs); nothing to resume")
        return _finished_result(run, previous, export, verbose)
    spec = load_spec(run.spec_file)  # from the file, so that errors point into it
    return _run(spec, spec_data, Session(run=run, previous=previous), export=export, verbose=verbose)


def _run(spec, spec_data: dict, session: Session, *, export: list[str], verbose) -> TrainResult:
    import keras

    from netspec.build import build_model
    from netspec.runner.compile import compile_model

    if spec.data is None:
        raise DataError(f"no training data for `{spec.name}`: give --data (e.g. --data builtin:digits, --data "
                        "synthetic, --data train.npz) or a `data:` section in the spec")
    training = spec.training
    seed = training.seed
    previous = session.previous
    device = detect_device()
    policy = previous["precision"] if previous else resolve_policy(training.precision, device)
    backend = keras.backend.backend()
    backup = cb.backup_settings(training.callbacks)

    with dtype_policy(policy):
        keras.utils.set_random_seed(seed)
        signature = data_module.spec_signature(spec)
        # Data, model and compilation errors all come before the run folder exists.
        splits = data_module.load_splits(spec, spec.data, signature, seed=seed)
        model = build_model(spec)
        tuning = None
        if previous:
            execution = Execution(**previous["execution"])
        else:
            requested = session.execution if session.execution is not None else getattr(training, "execution", None)
            execution = choose_execution(requested, spec, device=device, backend=backend,
                                         steps_per_epoch=math.ceil(len(splits.train) / training.batch_size),
                                         epochs=training.epochs)
            if execution.mode == "tuned":  # measure the candidates; train with the fastest
                from netspec.runner.tuning import tune

                tuning = tune(spec, model, splits, base=execution, policy=policy, device=device, backend=backend,
                              seed=seed, source=session.source or spec.source)
                execution, model = tuning.execution, tuning.model
                if tuning.precision != policy:
                    policy = tuning.precision
                    keras.config.set_dtype_policy(policy)  # dtype_policy() restores the caller's on leaving
                _say(verbose, tuning.line())
        compile_model(model, training, source=session.source or spec.source, jit_compile=execution.jit_compile,
                      steps_per_execution=execution.steps_per_execution)
        if cb.monitored(training.callbacks):  # a misspelt `monitor` is an error now, not a warning every epoch
            cb.check_monitors(training.callbacks, _logged(model, splits.train, training.batch_size),
                              validation=splits.validation is not None, source=session.source or spec.source)

        run = session.run
        if run is None:
            run = RunFolder.create(spec.name, session.out, session.runs_root)
            run.write_spec(spec_data)
        if tuning is not None:
            from netspec.runner.tuning import TUNING_FILE

            run.write_json(TUNING_FILE, tuning.record)
        state_path = run.state_file(backup.backup_dir)
        initial_epoch, history = 0, {}
        if previous and state_path.exists():
            initial_epoch, history = run.load_state(state_path, model)

        info = {
            "name": spec.name, "status": "running", "backend": backend, "device": device.describe(),
            "precision": policy, "execution": execution.to_dict(), "seed": seed, "data": splits.describe(),
            "samples": {"train": len(splits.train), "validation": _size(splits.validation), "test": _size(splits.test)},
            "class_names": splits.class_names, "epochs": training.epochs, "batch_size": training.batch_size,
            "started": previous["started"] if previous else _now(),
            "resumed_after_epochs": (previous.get("resumed_after_epochs", []) + [initial_epoch]) if previous else [],
        }
        run.write_json(RUN_FILE, info)
        _say(verbose, f"training {spec.name}: {splits.describe()}; {policy} on {device.describe()}; "
                      f"{execution.describe()}")
        if previous:
            _say(verbose, f"resuming {run.path} after epoch {initial_epoch}")

        interactive = verbose != 0 and sys.stdout.isatty()
        callbacks = cb.spec_callbacks(training.callbacks, run, history=history, resuming=bool(previous))
        if not cb.has_tensorboard(training.callbacks):
            callbacks.append(cb.scalar_log(run / "logs"))
        recorder = cb.recorder(run, state_path, history)  # after the spec's: it records what they add to the logs
        callbacks.append(recorder)
        if verbose != 0 and not interactive:
            callbacks.append(cb.epoch_line(training.epochs))

        fit_args = data_module.fit_arguments(splits.train, batch_size=training.batch_size, shuffle=spec.data.shuffle,
                                             seed=seed + initial_epoch)
        if splits.validation is not None:
            validation = data_module.fit_arguments(splits.validation, batch_size=training.batch_size, shuffle=False,
                                                   seed=seed, cache=spec.data.cache, training=False)
            fit_args["validation_data"] = (validation["x"], validation["y"]) if "y" in validation else validation["x"]
        started = time.perf_counter()
        if initial_epoch < training.epochs:
            model.fit(**fit_args, epochs=training.epochs, initial_epoch=initial_epoch,
                      callbacks=[c for c in callbacks if c is not None], verbose=1 if interactive else 0)
        fit_seconds = time.perf_counter() - started

        metrics = {}
        if splits.test is not None:
            test = data_module.fit_arguments(splits.test, batch_size=training.batch_size, shuffle=False, seed=seed,
                                             cache=False, training=False)
            metrics = {k: float(v) for k, v in model.evaluate(**test, verbose=0, return_dict=True).items()}
            _say(verbose, "test: " + " - ".join(f"{k}: {v:.4g}" for k, v in metrics.items()))

    # The model and every file first; run.json says "finished" only once they are all in place, and the
    # resume state goes last, so that a kill at any point here leaves a run that --resume completes.
    history = recorder.history
    _save_model(model, run.model_file)
    run.write_history(history)
    run.write_json("metrics.json", metrics)
    run.write_plots(history)
    exports = _exports(model, export, run, splits, signature, info, verbose)
    epochs_run = recorder.epochs - initial_epoch
    samples_per_second = len(splits.train) * epochs_run / fit_seconds if epochs_run and fit_seconds else 0.0
    info.update({
        "status": "finished", "finished": _now(), "epochs_run": recorder.epochs, "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": [round(s, 4) for s in recorder.epoch_seconds],
        "samples_per_second": round(samples_per_second, 1), "metrics": metrics,
        "exports": {k: str(v) for k, v in exports.items()},
    })
    run.write_json(RUN_FILE, info)
    if backup.delete_checkpoint:
        run.delete_state(state_path)
    return TrainResult(run.path, metrics, history, model, policy, execution, device, exports, fit_seconds,
                       samples_per_second)


def _exports(model, formats, run, splits, signature, info, verbose) -> dict[str, Path]:
    """Write each export, and record how far its predictions are from the Keras model's on test samples."""
    exports = {}
    for format in formats:
        exports[format] = export_model(model, format, run.path)
        if splits.test is not None and len(signature.inputs) == 1 and len(signature.outputs) == 1:
            sample = splits.test.take(slice(0, 64)).features()
            info.setdefault("export_max_abs_diff", {})[format] = check_export(exports[format], model, sample)
        _say(verbose, f"exported {format}: {exports[format]}")
    return exports


def _save_model(model, path: Path) -> None:
    from netspec import atomic

    with atomic.atomic_path(path) as tmp:
        model.save(tmp)


def _finished_result(run: RunFolder, info: dict, export: list[str], verbose) -> TrainResult:
    """The result of a finished run, from its files; exports asked for now are written now."""
    import keras

    model = keras.saving.load_model(run.model_file)
    exports = {k: Path(v) for k, v in info.get("exports", {}).items()}
    for format in export:
        exports[format] = export_model(model, format, run.path)
        _say(verbose, f"exported {format}: {exports[format]}")
    if export:
        info["exports"] = {k: str(v) for k, v in exports.items()}
        run.write_json(RUN_FILE, info)
    execution = Execution(**info["execution"]) if info.get("execution") else None
    return TrainResult(run.path, run.read_json("metrics.json"), run.read_json("history.json"), model,
                       info.get("precision", "float32"), execution, None, exports, info.get("fit_seconds", 0.0),
                       info.get("samples_per_second", 0.0))


def _size(arrays) -> int:
    return 0 if arrays is None else len(arrays)


def _logged(model, train, batch_size: int) -> list[str]:
    """The names under which fit logs the loss and metrics: those of `evaluate` on one batch."""
    one_batch = data_module.fit_arguments(train.take(slice(0, batch_size)), batch_size=batch_size, shuffle=False,
                                          seed=0, cache=False, training=False)
    return list(model.evaluate(**one_batch, verbose=0, return_dict=True))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _say(verbose, message: str) -> None:
    if verbose != 0:
        print(message, flush=True)
