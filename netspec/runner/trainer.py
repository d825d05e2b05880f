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
from netspec.runner.precision import Device, detect_device, dtype_policy, resolve_policy
from netspec.runner.run import RunFolder


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
    export = list(export)
    if resume is not None:
        run, spec_data, settings = _reopen(resume, epochs=epochs, conflicting={
            "data": data, "batch_size": batch_size, "precision": precision, "seed": seed, "overrides": list(overrides),
            "out": out})
    else:
        loaded = load_spec(spec, overrides=overrides)
        spec_data = _resolved_data(loaded, data=data, epochs=epochs, batch_size=batch_size, precision=precision,
                                   seed=seed)
        run = None
        settings = {"execution": execution}
    spec = load_spec(spec_data)
    if spec.data is None:
        raise DataError(f"no training data for `{spec.name}`: give --data (e.g. --data builtin:digits, --data "
                        "synthetic, --data train.npz) or a `data:` section in the spec")
    if run is None:
        run = RunFolder.create(spec.name, out, runs_root)
        run.write_spec(spec_data)
    return _run(spec, run, settings, export=export, verbose=verbose, resuming=resume is not None)


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


def _reopen(resume, *, epochs, conflicting: dict):
    import yaml

    run = RunFolder.open(resume)
    given = [k for k, v in conflicting.items() if v not in (None, [], ())]
    if given:
        raise UsageError(f"--resume continues a run with its own settings; leave out {', '.join(given)} "
                         "(only --epochs and --export may be given)")
    info = run.read_json("run.json")
    spec_data = yaml.safe_load(run.spec_file.read_text(encoding="utf-8"))
    run.remove_stale_temporaries()
    if epochs is not None and epochs != spec_data["training"].get("epochs"):
        spec_data["training"]["epochs"] = epochs
        run.write_spec(spec_data)
    return run, spec_data, info


def _run(spec, run: RunFolder, settings: dict, *, export: list[str], verbose, resuming: bool) -> TrainResult:
    import keras

    from netspec.build import build_model
    from netspec.runner.compile import compile_model

    training = spec.training
    seed = training.seed
    device = detect_device()
    policy = settings.get("precision") or resolve_policy(training.precision, device)
    backend = keras.backend.backend()
    say = _printer(verbose)
    backup = cb.backup_settings(training.callbacks)
    state_path = run.state_file(backup.backup_dir)

    if resuming and settings.get("status") == "finished":
        say(f"{run.path} finished already ({settings.get('epochs_run')} epochs); nothing to resume")
        return _finished_result(run, settings)

    with dtype_policy(policy):
        keras.utils.set_random_seed(seed)
        signature = data_module.spec_signature(spec)
        splits = data_module.load_splits(spec, spec.data, signature, seed=seed)
        model = build_model(spec)
        steps_per_epoch = math.ceil(len(splits.train) / training.batch_size)
        if resuming and settings.get("execution"):
            chosen = settings["execution"]
            execution = Execution(chosen["jit_compile"], chosen["steps_per_execution"], chosen["mode"])
        else:
            requested = settings.get("execution") or getattr(training, "execution", None)
            execution = choose_execution(requested, spec, device=device, backend=backend,
                                         steps_per_epoch=steps_per_epoch)
        compile_model(model, training, jit_compile=execution.jit_compile,
                      steps_per_execution=execution.steps_per_execution)

        initial_epoch, history = 0, {}
        if resuming and state_path.exists():
            initial_epoch, history = run.load_state(state_path, model)
        info = {
            "name": spec.name, "status": "running", "backend": backend, "device": device.describe(),
            "precision": policy, "execution": execution.to_dict(), "seed": seed, "data": splits.describe(),
            "samples": {"train": len(splits.train), "validation": _size(splits.validation), "test": _size(splits.test)},
            "class_names": splits.class_names, "epochs": training.epochs, "batch_size": training.batch_size,
            "started": settings.get("started") or _now(),
        }
        run.write_json("run.json", info)
        say(f"training {spec.name}: {splits.describe()}; {policy} on {device.describe()}; {execution.describe()}")
        if initial_epoch:
            say(f"resuming {run.path} after epoch {initial_epoch}")

        callbacks = cb.spec_callbacks(training.callbacks, run, history=history, resuming=resuming)
        if not cb.has_tensorboard(training.callbacks):
            callbacks.append(cb.scalar_log(run / "logs"))
        recorder = cb.recorder(run, state_path, history)
        callbacks.append(recorder)
        interactive = verbose != 0 and sys.stdout.isatty()
        if verbose != 0 and not interactive:
            callbacks.append(cb.epoch_line(training.epochs))
        callbacks = [c for c in callbacks if c is not None]

        fit_args = data_module.fit_arguments(splits.train, batch_size=training.batch_size, shuffle=spec.data.shuffle,
                                             seed=seed + initial_epoch)
        if splits.validation is not None:
            validation = data_module.fit_arguments(splits.validation, batch_size=training.batch_size, shuffle=False,
                                                   seed=seed, cache=spec.data.cache, training=False)
            fit_args["validation_data"] = validation["x"] if "y" not in validation else (validation["x"],
                                                                                         validation["y"])
        started = time.perf_counter()
        if initial_epoch < training.epochs:
            model.fit(**fit_args, epochs=training.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                      verbose=1 if interactive else 0)
        fit_seconds = time.perf_counter() - started
        epochs_run = recorder.epochs - initial_epoch
        history = recorder.history

        metrics = {}
        if splits.test is not None:
            test = data_module.fit_arguments(splits.test, batch_size=training.batch_size, shuffle=False, seed=seed,
                                             cache=False, training=False)
            metrics = model.evaluate(**test, verbose=0, return_dict=True)
            metrics = {k: float(v) for k, v in metrics.items()}
            say("test: " + " - ".join(f"{k}: {v:.4g}" for k, v in metrics.items()))

    _save_model(model, run.model_file)
    run.write_history(history)
    run.write_json("metrics.json", metrics)
    run.write_plots(history)
    exports = {}
    for format in export:
        from netspec.runner.export import check_export, export as write_export

        exports[format] = write_export(model, format, run.path)
        if splits.test is not None and len(signature.inputs) == 1 and len(signature.outputs) == 1:
            sample = splits.test.take(slice(0, 64)).features()
            info.setdefault("export_max_abs_diff", {})[format] = check_export(exports[format], model, sample)
        say(f"exported {format}: {exports[format]}")
    samples_per_second = len(splits.train) * epochs_run / fit_seconds if epochs_run and fit_seconds else 0.0
    info.update({
        "status": "finished", "finished": _now(), "epochs_run": recorder.epochs, "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": [round(s, 4) for s in recorder.epoch_seconds],
        "samples_per_second": round(samples_per_second, 1), "metrics": metrics,
        "exports": {k: str(v) for k, v in exports.items()},
    })
    run.write_json("run.json", info)
    if backup.delete_checkpoint and state_path.exists():
        state_path.unlink()
        if not any(state_path.parent.iterdir()):
            state_path.parent.rmdir()
    return TrainResult(run.path, metrics, history, model, policy, execution, device, exports, fit_seconds,
                       samples_per_second)


def _save_model(model, path: Path) -> None:
    from netspec import atomic

    with atomic.atomic_path(path) as tmp:
        model.save(tmp)


def _finished_result(run: RunFolder, info: dict) -> TrainResult:
    import keras

    model = keras.saving.load_model(run.model_file)
    execution = Execution(**info["execution"]) if info.get("execution") else None
    return TrainResult(run.path, run.read_json("metrics.json"), run.read_json("history.json"), model,
                       info.get("precision", "float32"), execution, None,
                       {k: Path(v) for k, v in info.get("exports", {}).items()}, info.get("fit_seconds", 0.0),
                       info.get("samples_per_second", 0.0))


def _size(arrays) -> int:
    return 0 if arrays is None else len(arrays)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _printer(verbose):
    def say(message: str) -> None:
        if verbose != 0:
            print(message, flush=True)

    return say
