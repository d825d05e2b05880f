"""`netspec tune`: search a spec's spaces (netspec/space.py) with Optuna; every trial is a run folder.

Not netspec/runner/tuning.py, which picks execution settings (XLA, steps per execution) for one run.

Each trial samples a point (a choice's nested spaces only when that option is picked), substitutes it into the
spec, and trains it through the runner into `DIR/trial-0007/`. Its objective is `training.tune.metric` (default
val_loss) at the last epoch, minimized or maximized as `training.tune.direction` says (default: maximized for
accuracy-like metrics, as callbacks' `mode: auto` decides). At the end of each epoch the trial reports the
metric, and Optuna's pruner may stop it early (state PRUNED).

The study lives in an Optuna storage, `DIR/study.db` (SQLite) unless `storage` names another: a second `tune`
with the same storage resumes the study, and `trials` is the study's total, so `--trials 6` after a run of 4
runs 2 more. `jobs` K runs K processes at once (this one and K-1 workers on the same storage): TensorFlow
models in threads of one process would share one graph state and one device, processes do not.
`DIR/trials.csv` lists every trial, `DIR/best.yaml` is the best trial's spec (the resolved spec of its run:
no spaces, trains as it is).

Optuna is an optional extra (`pip install -e '.[tune]'`), imported only here, only when called.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netspec import atomic
from netspec.errors import DataError, SpecError, UsageError
from netspec.space import Checked, Point, Space, check, describe, substitute

TRIALS_FILE = "trials.csv"
BEST_FILE = "best.yaml"
STUDY_FILE = "study.db"
_FINISHED = ("COMPLETE", "PRUNED", "FAIL")


@dataclass
class TuneResult:
    out: Path  # DIR: the trial folders, trials.csv, best.yaml
    study: Any  # the optuna.Study
    metric: str
    direction: str  # minimize | maximize
    best: Path | None  # DIR/best.yaml, None while no trial completed

    @property
    def trials(self) -> list:
        return self.study.get_trials(deepcopy=False)


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError("netspec tune searches with Optuna, an optional extra: pip install -e '.[tune]' "
                         "(or pip install 'optuna>=3.6')") from None
    return optuna


def tune(
    spec: str | os.PathLike,
    *,
    trials: int,
    storage: str | None = None,
    jobs: int = 1,
    timeout: float | None = None,
    out: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
    study_name: str | None = None,
    sampler=None,
    pruner=None,
    verbose: int | None = None,
    worker: bool = False,
) -> TuneResult:
    """Search the spaces of `spec` until the study holds `trials` trials (or `timeout` seconds have passed).

    `storage`: an Optuna storage URL (default sqlite in `out`); `jobs`: processes at once (`spec` a file then);
    `out`: the folder of the trials (default runs/<name>/tune); `overrides`: `--set` flags, applied to every
    trial; `sampler`, `pruner`: Optuna's (default TPE, and the median pruner after 2 trials); `verbose`: 0 prints
    nothing, else a table row per finished trial. `worker`: one of the K-1 helper processes of `jobs`.
    """
    optuna = require_optuna()
    if trials < 1 or jobs < 1:
        raise UsageError(f"--trials and --jobs take a positive count; received {trials} and {jobs}")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout takes a positive number of seconds; received {timeout}")
    overrides = list(overrides)
    checked = check(spec, overrides)  # the whole space, before any training
    if not isinstance(checked, Checked):
        raise UsageError(f"{spec} has no search spaces to tune: write {{choice: [...]}}, {{int: [lo, hi]}} or "
                         "{float: [lo, hi]} in place of a value (README, section Search)")
    plain = checked.loaded.spec
    settings = plain.training.tune
    metric = settings.metric if settings else "val_loss"
    direction = settings.direction if settings and settings.direction else _direction(metric)
    out = Path(out) if out is not None else Path("runs") / plain.name / "tune"
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / STUDY_FILE).resolve()}"

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the table below says what a trial did
    study = optuna.create_study(
        storage=_storage(optuna, url), study_name=study_name or plain.name, direction=direction,
        load_if_exists=True, sampler=sampler,
        pruner=pruner if pruner is not None else optuna.pruners.MedianPruner(n_startup_trials=2))
    seed = _agree(study, checked, metric, direction, url, plain.training.seed)

    helpers = [] if worker or jobs == 1 else _start_workers(spec, jobs - 1, trials, url, out, overrides,
                                                          study.study_name, timeout)
    table = _Table(checked.spaces, metric, quiet=verbose == 0 or worker)
    started = time.monotonic()
    objective = _objective(optuna, checked, overrides, out, metric, seed)
    try:
        while len(study.get_trials(deepcopy=False)) < trials:  # every trial counts, running ones included
            if timeout is not None and time.monotonic() - started >= timeout:
                break
            study.optimize(objective, n_trials=1, catch=(SpecError, DataError))
            table.show(study)
            write_trials(study, checked.spaces, metric, out / TRIALS_FILE)
    finally:
        for helper in helpers:
            helper.wait()
    table.show(study)
    write_trials(study, checked.spaces, metric, out / TRIALS_FILE)
    best = None if worker else write_best(study, checked, metric, out)
    if best is not None and verbose != 0:
        trial = study.best_trial
        print(f"best: trial {trial.number}, {metric} {trial.value:.6g}; wrote {best}", flush=True)
    return TuneResult(out, study, metric, direction, best)


def _direction(metric: str) -> str:
    from netspec.lowering import monitor_mode

    return "maximize" if monitor_mode(metric, "auto") == "max" else "minimize"


def _storage(optuna, url: str):
    """An RDB storage with heartbeats, so that a trial of a killed process is marked failed rather than left
    running for ever; SQLite waits for a lock rather than failing, as processes sharing one file need."""
    import warnings

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's words, and have been for years
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=30, grace_period=120)
    except Exception as exc:  # a malformed URL, a driver that is not installed, a folder that does not exist
        raise UsageError(f"cannot open the storage {url!r}: {exc}") from None


def _agree(study, checked: Checked, metric: str, direction: str, url: str, seed: int | None) -> int:
    """The study's seed for every trial's training; a study resumed from its storage must search the same
    spaces for the same objective."""
    attrs = study.user_attrs
    declared = json.dumps([s.declaration() for s in checked.spaces], sort_keys=True)
    if "netspec_spaces" not in attrs:
        study.set_user_attr("netspec_spaces", declared)
        study.set_user_attr("netspec_metric", metric)
        study.set_user_attr("netspec_seed", seed if seed is not None else random.SystemRandom().randrange(2**31))
        return study.user_attrs["netspec_seed"] if seed is None else seed
    if attrs["netspec_spaces"] != declared or attrs.get("netspec_metric") != metric \
            or study.direction.name.lower() != direction:
        raise UsageError(f"study `{study.study_name}` in {url} searched other spaces or another objective "
                         f"({attrs.get('netspec_metric')}, {study.direction.name.lower()}); give this search "
                         "another --out, --storage or --study")
    return seed if seed is not None else attrs["netspec_seed"]


def _start_workers(spec, count: int, trials: int, url: str, out: Path, overrides: list[str], study: str,
                   timeout: float | None) -> list[subprocess.Popen]:
    if not isinstance(spec, str | os.PathLike):
        raise UsageError("jobs > 1 runs helper processes that read the spec from its file: give a path")
    command = [sys.executable, "-m", "netspec", "tune", os.fspath(spec), "--trials", str(trials), "--storage", url,
               "--out", str(out), "--study", study, "--worker"]
    command += [f"--set={flag}" for flag in overrides]
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    return [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(count)]


def _objective(optuna, checked: Checked, overrides: list[str], out: Path, metric: str, seed: int):
    import keras

    from netspec.load import load
    from netspec.runner import train

    def objective(trial) -> float:
        keras.utils.clear_session()  # each trial's model from scratch, without the last one's graphs and names
        point = suggest(trial, checked.spaces)
        loaded = load(substitute(checked.source, checked.spaces, point), overrides=overrides)
        pruning = pruning_callback(trial, metric)
        result = train(loaded, out=out / f"trial-{trial.number:04d}", seed=seed, verbose=0, callbacks=[pruning])
        if metric not in result.history:
            raise UsageError(f"the runs log no `{metric}` (they log {', '.join(result.history)}): set "
                             "`training.tune.metric` to one of those")
        if pruning.pruned_after is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_after}")
        return float(result.history[metric][-1])

    return objective


def suggest(trial, spaces: list[Space]) -> Point:
    """A point asked of an Optuna trial: a choice's nested spaces only when that option is picked."""
    point: Point = {}

    def ask(spaces: list[Space]) -> None:
        for space in spaces:
            if space.kind == "choice":
                if space.scalar_options():  # Optuna records the values themselves
                    value = trial.suggest_categorical(space.name, space.options)
                    index = next(i for i, o in enumerate(space.options) if o == value and type(o) is type(value))
                else:  # mappings and lists: Optuna takes scalars only, so it records the option's index
                    index = trial.suggest_categorical(space.name, list(range(len(space.options))))
                point[space.name] = index
                ask(space.nested[index])
            elif space.kind == "int":
                point[space.name] = trial.suggest_int(space.name, int(space.low), int(space.high),
                                                      step=int(space.step or 1), log=space.log)
            else:
                point[space.name] = trial.suggest_float(space.name, float(space.low), float(space.high),
                                                        step=space.step, log=space.log)

    ask(spaces)
    return point


def point_of(params: dict, spaces: list[Space]) -> Point:
    """The point an Optuna trial's params stand for (choices by option index)."""
    point: Point = {}
    for space in _every(spaces):
        if space.name in params:
            value = params[space.name]
            if space.kind == "choice" and space.scalar_options():
                value = next(i for i, o in enumerate(space.options) if o == value and type(o) is type(value))
            point[space.name] = value
    return point


def _every(spaces: list[Space]):
    for space in spaces:
        yield space
        for nested in space.nested:
            yield from _every(nested)


def pruning_callback(trial, metric: str):
    """A Keras callback that reports `metric` to the trial after each epoch and stops the fit when Optuna's
    pruner says so. Not optuna's KerasPruningCallback: that lives in another package (optuna-integration), and
    raises TrialPruned inside `fit`, which would leave the trial's run folder unfinished; stopping the fit lets
    the runner finish the folder (model, history, run.json), and the objective reports the trial pruned after."""
    import keras

    class Pruning(keras.callbacks.Callback):
        pruned_after: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(metric)
            if value is None:
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                self.pruned_after = epoch + 1
                self.model.stop_training = True

    return Pruning()


# ----- what a search writes -----


def _seconds(trial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _cells(trial, spaces: list[Space]) -> dict[str, str]:
    point = point_of(trial.params, spaces)
    by_name = {s.name: s for s in _every(spaces)}
    return {name: by_name[name].show(value) for name, value in point.items()}


def write_trials(study, spaces: list[Space], metric: str, path: Path) -> None:
    """trials.csv: number, each space by its spec path (empty where a choice left it out), the metric, the
    state (COMPLETE, PRUNED, FAIL, RUNNING) and the seconds it took."""
    names = [s.name for s in _every(spaces)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", *names, metric, "state", "seconds"])
    for trial in study.get_trials(deepcopy=False):
        cells = _cells(trial, spaces)
        value = trial.value if trial.value is not None else \
            (trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
        seconds = _seconds(trial)
        writer.writerow([trial.number, *(cells.get(n, "") for n in names), "" if value is None else f"{value:.6g}",
                         trial.state.name, "" if seconds is None else f"{seconds:.1f}"])
    atomic.write_text(path, buffer.getvalue())


def write_best(study, checked: Checked, metric: str, out: Path) -> Path | None:
    """best.yaml: the spec of the best completed trial's run (resolved: no spaces, data paths absolute, its
    seed), which trains as it is; None while no trial has completed."""
    import yaml

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return None
    best = study.best_trial
    point = point_of(best.params, checked.spaces)
    run_spec = out / f"trial-{best.number:04d}" / "spec.yaml"
    if run_spec.exists():
        lines = run_spec.read_text(encoding="utf-8").splitlines(keepends=True)
        body = "".join(line for line in lines if not line.startswith("#"))
    else:  # a trial another process ran into another folder: the point, written into the spec
        from netspec.load import expand_spec

        body = expand_spec(substitute(checked.source, checked.spaces, point))
        body = "".join(line for line in body.splitlines(keepends=True) if not line.startswith("#"))
        yaml.safe_load(body)
    header = (f"# The best point of the search in {out} (study `{study.study_name}`): trial {best.number}, "
              f"{metric} {best.value:.6g}\n# {describe(checked.spaces, point)}\n")
    path = out / BEST_FILE
    atomic.write_text(path, header + body)
    return path


class _Table:
    """One row a finished trial, printed as they finish (those of other processes too, as they are seen)."""

    def __init__(self, spaces: list[Space], metric: str, quiet: bool):
        self.spaces, self.metric, self.quiet = spaces, metric, quiet
        self.shown: set[int] = set()

    def show(self, study) -> None:
        if self.quiet:
            return
        for trial in study.get_trials(deepcopy=False):
            if trial.number in self.shown or trial.state.name not in _FINISHED:
                continue
            if not self.shown:
                print(f"{'trial':>5}  {'state':<8}  {self.metric:>12}  {'seconds':>7}  point", flush=True)
            self.shown.add(trial.number)
            value = trial.value if trial.value is not None else \
                (trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
            seconds = _seconds(trial)
            point = point_of(trial.params, self.spaces)
            print(f"{trial.number:>5}  {trial.state.name:<8}  {'' if value is None else f'{value:.6g}':>12}  "
                  f"{'' if seconds is None else f'{seconds:.1f}':>7}  {describe(self.spaces, point)}", flush=True)


__all__ = ["TuneResult", "point_of", "pruning_callback", "suggest", "tune", "write_best", "write_trials"]
