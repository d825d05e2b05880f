"""`train`: a spec -> a trained model in a run folder.

The same program as the script `netspec generate` prints: the spec lowered
once (netspec/lowering.py) to calls, the machine's choices made by the
functions the script carries (netspec/runtime.py), in the script's order:
seed -> read, check and split the data -> choose precision and execution ->
build -> compile -> fit -> evaluate on the held-out test part -> save.
What only a tool does is around it: the run folder, resume (Keras's
BackupAndRestore), execution tuning, the run's own lines, plots and exports.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import math
import os
import random
import shlex
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec.build import load_model, save_model
from netspec.errors import DataError, DrawNote, ExportError, UsageError
from netspec.load import Loaded, load, load_spec
from netspec.runner import callbacks as cb
from netspec.runner import data as data_module
from netspec.runner import sources
from netspec.runner.execution import Execution, choose_execution
from netspec.runner.export import export_model, require, tflite_problem
from netspec.runner.precision import Device, capability, detect_device, dtype_policy
from netspec.runner.run import RUN_FILE, RunFolder
from netspec.runner.tuning import TUNING_FILE
from netspec.schema import dump_spec
from netspec.schema.spec import Spec
from netspec.source import read_source


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
    export_errors: dict[str, str] = field(default_factory=dict)  # format -> why it failed (no file written)

    @property
    def epochs(self) -> int:
        return len(next(iter(self.history.values()), []))


def train(
    spec,
    *,
    data=None,
    validation_data=None,
    test_data=None,
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
    num_processes: int | None = None,
    process_id: int | None = None,
    coordinator: str | None = None,
    init_weights: str | os.PathLike | None = None,
    callbacks: Iterable = (),
) -> TrainResult:
    """Train a spec (path, text, mapping or Spec) and write a run folder; see `netspec train --help`.

    `data` replaces the spec's `data.source`: a source (a path, `builtin:digits`, `synthetic`, ...), or data held
    in memory: `(x, y)` of NumPy arrays (or lists of arrays in input/output order, or dicts by input and output
    name), or a dict keyed by the model's input and output names. In-memory data is checked against the model
    as file data is, and split by the spec's `test_split` and `validation_split` unless `validation_data` and
    `test_data` (of the same kinds) are given. A tf.data.Dataset of (features, labels) batches is checked
    against the model and trained on as it is (its batches, its order; never split). `epochs`, `batch_size`, `precision`, `seed` replace the spec's
    `training` values. `resume` continues the run in that folder from its last finished epoch.
    `verbose`: None shows Keras's progress bar on a terminal and one line per epoch otherwise; 0 is silent.
    With `resume`, `spec` may be None; a spec given must be the run's (its resolved form, `overrides` applied).
    `num_processes`, `process_id`, `coordinator` (host:port of process 0): one process of a multi-process run
    (JAX); default the KERAS_DISTRIBUTION_* variables, else Slurm's, else one process.
    `init_weights`: a `.weights.h5` file the model starts from (e.g. written by `netspec import --weights`).
    `callbacks`: Keras callbacks of the caller's, run after the run's own at each epoch (`netspec tune`'s pruning).
    """
    cluster = _cluster(num_processes, process_id, coordinator)
    if resume is None:  # a new run: what leads to `fit` stays short (see _run)
        loaded, spec_data, session = _new(
            spec, data=data, validation_data=validation_data, test_data=test_data, out=out, epochs=epochs,
            batch_size=batch_size, precision=precision, execution=execution, overrides=overrides, seed=seed,
            runs_root=runs_root, cluster=cluster, init_weights=init_weights, callbacks=callbacks)
        return _run(loaded, spec_data, session, export=list(export), verbose=verbose)
    given = {"data": data, "batch_size": batch_size, "precision": precision, "seed": seed, "out": out,
             "execution": execution, "init_weights": init_weights,
             "spec overrides": list(overrides) if spec is None else []}
    return _resume(resume, spec=spec, overrides=overrides, epochs=epochs, export=list(export), verbose=verbose,
                   cluster=cluster, conflicting=[k for k, v in given.items() if v not in (None, [])])


def _new(spec, *, data, validation_data, test_data, out, epochs, batch_size, precision, execution, overrides, seed,
         runs_root, cluster: Cluster, init_weights, callbacks) -> tuple[Loaded, dict, Session]:
    """A new run's spec (overrides and arguments applied) and session."""
    if cluster.processes > 1 and out is None:
        raise UsageError(f"the {cluster.processes} processes of a run write one run folder: give each the same "
                         "--out DIR (or --resume DIR)")
    if spec is None:
        raise UsageError("train needs a spec (or --resume RUN_DIR to continue a run)")
    in_memory = data is not None and not isinstance(data, str | os.PathLike)
    if not in_memory and (validation_data is not None or test_data is not None):
        raise UsageError("validation_data and test_data go with data held in memory; a file source takes "
                         "`data.validation` and `data.test` in the spec")
    if data is not None and not in_memory:
        data = os.fspath(data)
    overrides = list(overrides)
    data_set = data is not None and not in_memory and not isinstance(spec, Spec | Loaded)
    if data_set:
        # --data sets `data.source` as the first --set does, so that `--set data.x=...` adds to it, and an
        # error in what the command line gave points at the command line.
        overrides.insert(0, _data_override(spec, data))
    given = load(spec, overrides=overrides)
    spec_data = _resolved_data(given, data=data_module.MEMORY if in_memory else data, epochs=epochs,
                               batch_size=batch_size, precision=precision, seed=seed, data_set=data_set,
                               draw_seed=cluster.processes == 1)
    arrays = {"data": data, "validation": validation_data, "test": test_data} if in_memory else None
    session = Session(out=out, runs_root=runs_root, execution=execution, source=given.source, arrays=arrays,
                      cluster=cluster, init_weights=init_weights, callbacks=list(callbacks))
    return load(spec_data), spec_data, session


@dataclass
class Session:
    """Where a run goes and what it continues: a new run (`out`), or a reopened one (`run`, `previous`)."""

    out: str | os.PathLike | None = None
    runs_root: str | os.PathLike = "runs"
    execution: Any = None
    run: RunFolder | None = None
    previous: dict | None = None  # run.json of the run being resumed
    source: Any = None  # where the spec was written, for located errors
    arrays: dict | None = None  # data held in memory: {"data", "validation", "test"} as the caller passed them
    cluster: Cluster = field(default_factory=lambda: Cluster(1, 0, None))
    init_weights: str | os.PathLike | None = None  # a .weights.h5 the model starts from
    callbacks: list = field(default_factory=list)  # the caller's Keras callbacks, after the run's own


@dataclass(frozen=True)
class Cluster:
    """This process's place in a run of several (JAX, through keras.distribution): process 0 writes the run."""

    processes: int
    process_id: int
    coordinator: str | None  # host:port of process 0; None where JAX finds it (Slurm)


def _cluster(num_processes, process_id, coordinator) -> Cluster:
    """The arguments, else the KERAS_DISTRIBUTION_* variables, else Slurm's (runtime.cluster reads them)."""
    from netspec import runtime

    found = runtime.cluster(os.environ)
    processes = num_processes if num_processes is not None else found[0]
    process_id = process_id if process_id is not None else found[1] if num_processes is None else 0
    cluster = Cluster(processes, process_id, coordinator if coordinator is not None else found[2])
    if processes < 1 or not 0 <= process_id < processes:
        raise UsageError(f"process id {process_id} is not one of the {processes} processes (0 to {processes - 1})")
    if processes > 1:
        import keras

        if keras.backend.backend() != "jax":
            raise UsageError(f"training on {processes} processes goes through Keras's distribution API, which "
                             f"runs on the JAX backend, not {keras.backend.backend()} (TensorFlow's multi-worker "
                             "strategy does not work with Keras 3's fit): set KERAS_BACKEND=jax, with pip install "
                             "-e '.[jax]'")
    return cluster


# What a spec's `data` keeps when --data replaces its source: how to split and feed, not how to read the old file.
KEPT_BY_DATA = ("validation_split", "test_split", "shuffle", "cache", "samples", "num_classes", "image_size")


def _data_override(spec, data: str) -> str:
    """`--set data={...}` for `--data SOURCE`: the new source with the spec's splitting settings."""
    old = read_source(spec).data.get("data") if not isinstance(spec, Mapping) else spec.get("data")
    old = old if isinstance(old, dict) else {}
    return "data=" + json.dumps({"source": data, **{k: old[k] for k in KEPT_BY_DATA if k in old}})


def _resolved_data(given: Loaded, *, data, epochs, batch_size, precision, seed, data_set: bool = False,
                   draw_seed: bool = True) -> dict:
    """The spec as data (composition already expanded), with the run's settings written in. `data_set`: --data
    is in the spec already (as an override); else `data` replaces the spec's source here. `draw_seed`: a seed the
    spec leaves to chance is drawn here (not for the processes of a run, which agree on one as they join)."""
    source = given.source
    resolved = (copy.deepcopy(source.data) if source is not None
                else dump_spec(given.spec, mode="json", exclude_unset=True))
    training = resolved.setdefault("training", {})
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("precision", precision), ("seed", seed)):
        if value is not None:
            training[key] = value
    if training.get("seed") is None and draw_seed:
        training["seed"] = random.SystemRandom().randrange(2**31)  # recorded, so a resumed run splits alike
    if data is not None and not data_set:
        old = resolved.get("data")
        old = {"source": old} if isinstance(old, str) else (old or {})
        resolved["data"] = {"source": data, **{k: old[k] for k in KEPT_BY_DATA if k in old}}
    elif isinstance(resolved.get("data"), str):
        resolved["data"] = {"source": resolved["data"]}
    base_dir = getattr(source, "base_dir", None)
    for key in ("source", "validation", "test"):
        value = (resolved.get("data") or {}).get(key)
        if isinstance(value, str):
            # Paths in the spec are relative to the spec file, and --data to the working directory;
            # the resolved spec holds absolute paths so that it works from anywhere.
            path = sources.resolve_path(value, base_dir if data is None else None)
            if not sources.is_named(path):
                path = str(Path(path).resolve())
            resolved["data"][key] = path
    return resolved


def first_difference(a, b, path: str = "") -> str | None:
    """The first path (`layers[2].units`) where two spec data differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}" if path else str(key)
            found = first_difference(a[key], b[key], f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None if len(a) == len(b) else f"{path}[{min(len(a), len(b))}]"
    return None if a == b and isinstance(a, bool) == isinstance(b, bool) else path or "(root)"


def _check_same_spec(spec, overrides, run_data: dict, run: RunFolder, epochs) -> None:
    """A spec given with --resume must be the run's: the same once resolved as the run resolved it (its seed,
    where the spec leaves it to chance; its epochs, where --epochs changes them)."""
    given = load(spec, overrides=overrides)
    training = run_data.get("training") or {}
    resolved = _resolved_data(given, data=None, batch_size=None, precision=None,
                              epochs=training.get("epochs") if epochs is not None else None,
                              seed=None if given.spec.training.seed is not None else training.get("seed"))
    path = first_difference(resolved, run_data)
    if path is not None:
        def at(data):
            for part in path.replace("[", ".[").split("."):
                if not part:
                    continue
                try:
                    data = data[int(part[1:-1])] if part.startswith("[") else data[part]
                except (KeyError, IndexError, TypeError):
                    return "(absent)"
            return json.dumps(data)

        name = spec if isinstance(spec, str | os.PathLike) else "the spec"
        raise UsageError(f"{name} is not the spec of the run in {str(run.path)!r}: they differ at `{path}` "
                         f"({at(resolved)} here, {at(run_data)} in the run); leave out the spec to continue the "
                         "run, or train the new spec without --resume")


def _resume(resume, *, spec, overrides, epochs, export, verbose, cluster, conflicting) -> TrainResult:
    import yaml

    if conflicting:
        raise UsageError(f"--resume continues a run with its own settings; leave out {', '.join(conflicting)} "
                         "(only --epochs and --export may be given)")
    run = RunFolder.open(resume)
    previous = run.read_json(RUN_FILE)
    spec_data = yaml.safe_load(run.spec_file.read_text(encoding="utf-8"))
    if spec is not None:
        _check_same_spec(spec, overrides, spec_data, run, epochs)
    writer = cluster.process_id == 0
    if writer:
        run.remove_stale_temporaries()
    if epochs is not None and epochs != spec_data["training"].get("epochs"):
        if previous.get("status") == "finished":
            backup = cb.backup_settings(load_spec(spec_data).training.callbacks)
            if not (run.resolve(backup.backup_dir) / BACKUP_WEIGHTS).exists():
                raise UsageError(f"the run in {str(run.path)!r} finished and its resume state was deleted, so it "
                                 "cannot go on for more epochs; train anew, or keep the state next time with "
                                 "`callbacks: [{type: backup_and_restore, delete_checkpoint: false}]`")
            previous["status"] = "running"  # more epochs for a finished run
        spec_data["training"]["epochs"] = epochs
        if writer:
            run.write_spec(spec_data)
    if previous.get("status") == "finished":
        _say(verbose, f"{run.path} finished already ({previous.get('epochs_run')} epochs); nothing to resume")
        return _finished_result(run, previous, export if writer else [], verbose)
    loaded = load(run.spec_file)  # from the file, so that errors point into it
    return _run(loaded, spec_data, Session(run=run, previous=previous, cluster=cluster), export=export,
                verbose=verbose)


# What Keras's BackupAndRestore keeps in its folder: the weights (with the optimizer's) and the epoch.
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"


def _run(loaded: Loaded, spec_data: dict, session: Session, *, export: list[str], verbose) -> TrainResult:
    """The script's order, a stage a function: data and settings -> model (tuned, compiled) -> run folder -> fit
    -> test -> save."""
    # TensorFlow keeps the Python stack of every op it traces, and finding a frame's line costs time in proportion
    # to how far into its function the frame stands. So `fit` is called from short functions: called 150 lines
    # into one long function, the addition RNN's first epoch took 0.1 s longer. (The tuning trials' fits still
    # stand deeper, some 20-40 ms a tuned run.)
    loaded, scope, replicas = _joined(loaded, spec_data, session)
    verbose = 0 if session.cluster.process_id > 0 else verbose  # process 0 speaks for the run
    try:
        with frozen_objects():
            plan = _plan(loaded, session, replicas)
            with dtype_policy(plan.previous["precision"] if plan.previous else plan.policy), scope:
                model, execution, tuning = _model(plan, session, export=export, verbose=verbose)
                fitting = _fitting(plan, model, execution, tuning, spec_data, session, verbose=verbose)
                fit_seconds = _fit(plan, model, fitting, verbose=verbose)
                metrics = _tested(plan, model, verbose=verbose)
            return _finished(plan, model, fitting, fit_seconds, metrics, session, export=export, verbose=verbose)
    finally:
        import keras

        if keras.backend.backend() == "jax" and replicas > 1:
            keras.distribution.set_distribution(None)  # the next run in this process starts on one device


def _joined(loaded: Loaded, spec_data: dict, session: Session):
    """The devices the run trains on, of every process: (loaded, the scope to build in, replicas). JAX joins the
    processes into one run before anything runs on a device; they draw one seed as they join."""
    from netspec import runtime

    if loaded.spec.data is None:
        raise DataError(f"no training data for `{loaded.spec.name}`: give --data (e.g. --data builtin:digits, --data "
                        "synthetic, --data train.npz) or a `data:` section in the spec")
    cluster = session.cluster
    scope, replicas = runtime.distribute(_devices(loaded.spec.training.distribution, cluster), cluster.processes,
                                         cluster.process_id, cluster.coordinator)
    if loaded.spec.training.seed is None:
        from keras.src.utils import rng_utils  # keras.distribution.initialize sums theirs; no public getter

        spec_data["training"]["seed"] = int(rng_utils.get_random_seed()) % 2**31
        loaded = load(spec_data)
    return loaded, scope, replicas


@contextlib.contextmanager
def frozen_objects():
    """The objects that exist now (Keras's and TensorFlow's, some 420,000) frozen while a run goes on, so that the
    garbage collector's full collections do not scan them again (0.1-0.2 s each). Unless the process froze objects
    of its own: then it is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _devices(distribution, cluster: Cluster) -> int | None:
    """The devices `training.distribution` asks for (lowering's rule): None for every one."""
    from netspec.lowering import distribution_devices

    if distribution == "none" and cluster.processes > 1:
        raise UsageError(f"`training.distribution: none` trains on one device, but {cluster.processes} processes "
                         "were started; leave it `auto`, or start one process")
    return distribution_devices(distribution)


@dataclass
class _Plan:
    """What a run reads and chooses before it builds anything: the data, split, and the precision and execution
    settings the machine suggests."""

    loaded: Loaded
    source: Any  # where the spec was written, for located errors
    previous: dict | None  # run.json of the run being resumed
    cluster: Cluster
    device: Device
    backend: str
    replicas: int
    shared: bool  # JAX's replicas take whole batches, which Keras shares out
    program: Any  # lowering.Program
    splits: Any  # data.Splits
    described: str
    sizes: dict
    class_weight: Any
    dataset: bool  # the training part is a tf.data.Dataset: its own batches, of a count it may not know
    steps_per_epoch: int
    policy: str
    jit_compile: Any
    steps_per_execution: Any

    @property
    def spec(self) -> Spec:
        return self.loaded.spec

    @property
    def training(self):
        return self.loaded.spec.training


def _plan(loaded: Loaded, session: Session, replicas: int) -> _Plan:
    """Seed, then read, check and split the data, and choose the settings; all errors come before the run folder
    exists."""
    import keras

    from netspec import lowering, runtime

    spec = loaded.spec
    training = spec.training
    seed = training.seed
    previous = session.previous
    device = detect_device()
    backend = keras.backend.backend()
    in_memory = session.arrays is not None
    kind = "memory" if in_memory else sources.kind_of(spec.data.source, spec.data.format)
    program = lowering.lower_program(loaded, data_kind=kind)

    keras.utils.set_random_seed(seed)
    if in_memory:
        validation_split = spec.data.validation_split
        splits = data_module.memory_splits(
            session.arrays["data"], program.inputs, program.outputs, seed=seed, test_split=spec.data.test_split,
            validation_split=training.validation_split if validation_split is None else validation_split,
            validation=session.arrays["validation"], test=session.arrays["test"])
    else:
        splits = data_module.load_splits(program.data, program.inputs, program.outputs, seed=seed)
    if training.batch_size % replicas:
        raise UsageError(f"batch_size {training.batch_size} is the global batch, which the {replicas} replicas "
                         f"share evenly: make it a multiple of {replicas}")
    described, sizes = splits.describe(), {k: _size(getattr(splits, k)) for k in ("train", "validation", "test")}
    class_weight = program.class_weight
    if class_weight == "auto" and not splits.train.is_dataset:  # as the script computes it: netspec.runtime
        labels = splits.train.y if splits.train.rows is None else splits.train.y[splits.train.rows]
        class_weight = runtime.balanced_class_weight(labels)
    dataset = splits.train.is_dataset
    steps_per_epoch = (max(1, int(splits.train.x.cardinality())) if dataset
                       else math.ceil(len(splits.train) / training.batch_size))
    mirrored = replicas > 1 and backend == "tensorflow"
    policy, jit_compile, steps = runtime.choose_settings(
        program.precision, program.jit_compile, program.steps_per_execution, capability(device), steps_per_epoch,
        training.epochs, program.step_flops, mirrored)
    if mirrored and program.steps_per_execution not in ("auto", 1):
        raise UsageError("Keras's multi-step loop fails under TensorFlow's MirroredStrategy: leave "
                         "`steps_per_execution` auto (1 there), or train on one device")
    if policy == "mixed_float16" and capability(device) is None and not previous:
        auto = runtime.choose_settings("auto", "auto", "auto", None, steps_per_epoch, training.epochs,
                                       program.step_flops, False)[0]
        print(f"note: mixed_float16 on a CPU is slower than float32 (CPUs compute float16 by converting it); "
              f"precision auto would pick {auto} here", file=sys.stderr, flush=True)
    return _Plan(loaded=loaded, source=session.source or loaded.source, previous=previous, cluster=session.cluster,
                 device=device, backend=backend, replicas=replicas, shared=replicas > 1 and backend == "jax",
                 program=program, splits=splits, described=described, sizes=sizes, class_weight=class_weight,
                 dataset=dataset, steps_per_epoch=steps_per_epoch, policy=policy, jit_compile=jit_compile,
                 steps_per_execution=steps)


def _model(plan: _Plan, session: Session, *, export: list[str], verbose):
    """The model, built under the run's dtype policy, with its execution settings (the trials' choice where it
    is tuned), adapted and compiled: (model, execution, tuning or None)."""
    import keras

    from netspec import runtime
    from netspec.build import build_model
    from netspec.runner.compile import compile_model

    spec, training, previous = plan.spec, plan.training, plan.previous
    model = build_model(plan.loaded, compile=False, weights=session.init_weights)
    for format in export:  # an unknown format or a missing extra: refused now, not after training
        require(format)
    if "tflite" in export and (problem := tflite_problem(model)):
        raise UsageError(f"cannot export `{spec.name}` as tflite: {problem}")
    tuning = None
    if previous:
        execution = Execution(**previous["execution"])
    else:
        requested = session.execution if session.execution is not None else training.execution
        execution = choose_execution(requested, Execution(plan.jit_compile, plan.steps_per_execution, "auto"),
                                     plan.steps_per_epoch, training.epochs)
        if execution.mode == "tuned" and (plan.dataset or plan.replicas > 1):
            if requested == "tuned":
                raise UsageError("execution tuning times steps of one device on NumPy data; with several "
                                 "replicas or a tf.data.Dataset choose `auto` or explicit settings")
            execution = Execution(execution.jit_compile, execution.steps_per_execution, "auto")
        # tuned: the cache or trials; auto: the cache, if it holds one (a dataset: the auto settings)
        if execution.mode in ("tuned", "auto") and not plan.dataset and plan.replicas == 1:
            from netspec.runner.tuning import tune

            tuning = tune(spec, model, plan.splits, base=execution, policy=keras.config.dtype_policy().name,
                          device=plan.device, backend=plan.backend, source=plan.source,
                          trials=execution.mode == "tuned")
        if tuning is not None:
            execution, model = tuning.execution, tuning.model
            if tuning.precision != keras.config.dtype_policy().name:
                keras.config.set_dtype_policy(tuning.precision)  # dtype_policy() restores the caller's on leaving
            _say(verbose, tuning.line())
    if plan.program.adapt:  # as the script does: the training features, read as fitting reads them
        runtime.adapt(model, _features(plan.splits.train, training.batch_size), plan.program.adapt)
    if tuning is None or not tuning.compiled or plan.program.adapt:  # adapting changes what the trial traced
        compile_model(model, training, source=plan.source, jit_compile=execution.jit_compile,
                      steps_per_execution=execution.steps_per_execution)
    if cb.monitored(training.callbacks):  # a misspelt `monitor` is an error now, not a warning every epoch
        cb.check_monitors(training.callbacks, _logged(model, plan.splits.train, training.batch_size, plan.shared),
                          validation=plan.splits.validation is not None, source=plan.source)
    return model, execution, tuning


@dataclass
class _Fitting:
    """The run folder a fit writes, and the callbacks that write it."""

    run: RunFolder
    info: dict  # run.json
    policy: str
    execution: Execution
    callbacks: list
    recorder: Any  # callbacks.Recorder: the history
    initial_epoch: int
    backup_dir: Path


def _fitting(plan: _Plan, model, execution: Execution, tuning, spec_data: dict, session: Session,
             *, verbose) -> _Fitting:
    """The run folder (a new one, or the one resumed) with run.json saying "running", and the fit's callbacks."""
    import keras

    training, previous, cluster = plan.training, plan.previous, plan.cluster
    policy = keras.config.dtype_policy().name
    run = session.run
    if cluster.process_id > 0:  # files go to a scratch copy: saving is collective, so every process saves
        run = RunFolder.scratch(run.path if run is not None else Path(session.out))
    elif run is None:
        run = RunFolder.create(plan.spec.name, session.out, session.runs_root)
        run.write_spec(spec_data)
        _draw(plan.loaded, plan.source, run)
    if tuning is not None:
        run.write_json(TUNING_FILE, tuning.record)
    backup_dir = run.resolve(cb.backup_settings(training.callbacks).backup_dir)
    initial_epoch, history = 0, {}
    if previous and (backup_dir / BACKUP_METADATA).exists():
        initial_epoch = json.loads((backup_dir / BACKUP_METADATA).read_text(encoding="utf-8"))["epoch"]
        recorded = run.read_json("history.json") if (run / "history.json").exists() else {}
        history = {k: v[:initial_epoch] for k, v in recorded.items()}

    info = {
        "name": plan.spec.name, "status": "running", "backend": plan.backend, "device": plan.device.describe(),
        "precision": policy, "execution": execution.to_dict(), "seed": training.seed, "data": plan.described,
        "samples": plan.sizes, "replicas": plan.replicas, "processes": cluster.processes,
        "class_names": plan.splits.class_names, "epochs": training.epochs, "batch_size": training.batch_size,
        "started": previous["started"] if previous else _now(),
        "resumed_after_epochs": (previous.get("resumed_after_epochs", []) + [initial_epoch]) if previous else [],
    }
    if session.init_weights is not None:
        info["init_weights"] = str(Path(session.init_weights).resolve())
    run.write_json(RUN_FILE, info)
    where = (plan.device.describe() if plan.replicas == 1
             else _replicas(plan.replicas, cluster, training.batch_size, plan.shared))
    _say(verbose, f"training {plan.spec.name}: {plan.described}; {policy} on {where}; {execution.describe()}; "
                  f"seed {training.seed}")
    if previous:
        _say(verbose, f"resuming {run.path} after epoch {initial_epoch}")

    callbacks = cb.spec_callbacks(training.callbacks, run, history=history, resuming=bool(previous))
    if not cb.has_tensorboard(training.callbacks):
        callbacks.append(cb.scalar_log(run / "logs"))
    # After the spec's callbacks, the history (with what they add to the logs), then the epoch's resume state:
    # a kill between the two leaves a history one epoch ahead, which a resume cuts back.
    recorder = cb.recorder(run, history)
    callbacks += [recorder, cb.backup(training.callbacks, run), *session.callbacks]
    if plan.class_weight == "auto" and initial_epoch < training.epochs:
        raise UsageError("`class_weight: auto` counts the training labels, which a tf.data.Dataset does not hold "
                         "in memory; give the weights as {class: weight}")
    return _Fitting(run, info, policy, execution, [c for c in callbacks if c is not None], recorder, initial_epoch,
                    backup_dir)


def _inputs(plan: _Plan) -> dict:
    """model.fit's arguments but callbacks and verbose. A dataset brings its own batches and order; the rest get
    the spec's batch size and shuffling."""
    training = plan.training
    feed = data_module.fit_arguments(plan.splits.train, batch_size=training.batch_size, shuffle=plan.spec.data.shuffle,
                                     seed=training.seed, whole=plan.shared)
    validation = data_module.validation_data(plan.splits.validation, batch_size=training.batch_size,
                                             whole=plan.shared)
    return {**feed, "epochs": training.epochs, "class_weight": plan.class_weight, "validation_data": validation}


def _fit(plan: _Plan, model, fitting: _Fitting, *, verbose) -> float:
    """`model.fit` from the first epoch not yet run: its seconds, reading the inputs included (a user waits for
    them too)."""
    started = time.perf_counter()
    try:
        if fitting.initial_epoch < plan.training.epochs:
            inputs = _inputs(plan)
            with warnings.catch_warnings():
                if plan.shared:  # Keras's multi-step loop warns at the end of each epoch of a batched dataset
                    warnings.filterwarnings("ignore", "Your input ran out of data")
                model.fit(**inputs, callbacks=fitting.callbacks,
                          verbose=0 if verbose == 0 else 1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:  # Ctrl-C: the run keeps its last finished epoch, and says how to go on
        epochs = fitting.recorder.epochs
        fitting.info.update({"status": "interrupted", "interrupted": _now(), "epochs_run": epochs})
        fitting.run.write_json(RUN_FILE, fitting.info)
        raise KeyboardInterrupt(f"interrupted after {epochs} finished epoch(s); continue with: "
                                f"netspec train --resume {shlex.quote(str(fitting.run.path))}") from None
    return time.perf_counter() - started


def _tested(plan: _Plan, model, *, verbose) -> dict:
    """The metrics on the held-out test part (none without one)."""
    if plan.splits.test is None:
        return {}
    feed = data_module.fit_arguments(plan.splits.test, batch_size=plan.training.batch_size, training=False,
                                     whole=plan.shared)
    metrics = {k: float(v) for k, v in model.evaluate(**feed, verbose=0, return_dict=True).items()}
    _say(verbose, "test: " + " - ".join(f"{k}: {v:.4g}" for k, v in metrics.items()))
    return metrics


def _finished(plan: _Plan, model, fitting: _Fitting, fit_seconds: float, metrics: dict, session: Session, *,
              export: list[str], verbose) -> TrainResult:
    """The model and every file first; run.json says "finished" only once they are all in place, and the resume
    state goes last, so that a kill at any point here leaves a run that --resume completes."""
    run, info, recorder = fitting.run, fitting.info, fitting.recorder
    policy, execution = fitting.policy, fitting.execution
    history = recorder.history
    save_model(model, run.model_file)
    run.write_history(history)
    run.write_json("metrics.json", metrics)
    if plan.cluster.process_id > 0:
        shutil.rmtree(run.path, ignore_errors=True)
        return TrainResult(Path(session.run.path if session.run else session.out), metrics, history, model,
                           policy, execution, plan.device)
    run.write_plots(history)
    exports = _exports(model, export, run, plan.splits, info, verbose)
    epochs_run = recorder.epochs - fitting.initial_epoch
    trained = plan.sizes["train"] or 0
    samples_per_second = trained * epochs_run / fit_seconds if epochs_run and fit_seconds else 0.0
    info.update({
        "status": "finished", "finished": _now(), "epochs_run": recorder.epochs, "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": [round(s, 4) for s in recorder.epoch_seconds],
        "samples_per_second": round(samples_per_second, 1), "metrics": metrics,
        "exports": {k: str(v) for k, v in exports.items()},
    })
    run.write_json(RUN_FILE, info)
    if cb.backup_settings(plan.training.callbacks).delete_checkpoint:
        shutil.rmtree(fitting.backup_dir, ignore_errors=True)
    return TrainResult(run.path, metrics, history, model, policy, execution, plan.device, exports, fit_seconds,
                       samples_per_second, info.get("export_errors", {}))


def _draw(loaded: Loaded, source, run: RunFolder) -> None:
    """model.svg: a picture of the network beside its spec (with the blocks and stacks of the spec as written,
    which `source` remembers). Only a view of the run: if it cannot be drawn, the run goes on without it."""
    try:
        from netspec.drawing import picture_of, save

        save(picture_of(loaded, getattr(source, "groups", None)), run / "model.svg")
    except Exception as exc:  # whatever went wrong, training does not stop for a picture
        warnings.warn(f"{run / 'model.svg'} was not written: {exc}", DrawNote, stacklevel=2)


def _features(part, batch_size: int):
    """A training part's features for runtime.adapt: arrays, or a dataset of them (a streamed part's batches, in
    order; a caller's dataset without its labels)."""
    if part.streamed or part.is_dataset:
        dataset = data_module.fit_arguments(part, batch_size=batch_size, training=False)["x"]
        return dataset.map(lambda x, *labels: x)
    return part.x


def _replicas(replicas: int, cluster: Cluster, batch_size: int, shared: bool) -> str:
    processes = f" of {cluster.processes} processes" if cluster.processes > 1 else ""
    left_out = ", the last partial batch of each part left out" if shared else ""
    return (f"{replicas} devices{processes} (data parallel: {batch_size // replicas} samples each of every "
            f"{batch_size}-sample batch{left_out})")


def _exports(model, formats, run, splits, info, verbose) -> dict[str, Path]:
    """Write each export, and record how far its predictions are from the Keras model's on test samples (random
    ones without a test part). An export that fails leaves no file; its error goes into `info["export_errors"]`
    and is printed as a line."""
    exports = {}
    sample = None
    if splits is not None and splits.test is not None and not splits.test.is_dataset:
        sample = splits.test.take(slice(0, 64)).in_memory().x
    for format in formats:
        try:
            exports[format], diff = export_model(model, format, run.path, sample)
        except ExportError as exc:
            info.setdefault("export_errors", {})[format] = str(exc)
            print(f"netspec: error: exporting as {format} failed: {exc}", file=sys.stderr, flush=True)
            continue
        info.setdefault("export_max_abs_diff", {})[format] = diff
        _say(verbose, f"exported {format}: {exports[format]}")
    return exports


def _finished_result(run: RunFolder, info: dict, export: list[str], verbose) -> TrainResult:
    """The result of a finished run, from its files; exports asked for now are written now."""

    model = load_model(run.model_file)
    exports = {k: Path(v) for k, v in info.get("exports", {}).items()}
    if export:
        exports.update(_exports(model, export, run, None, info, verbose))
        info["exports"] = {k: str(v) for k, v in exports.items()}
        run.write_json(RUN_FILE, info)
    execution = Execution(**info["execution"]) if info.get("execution") else None
    return TrainResult(run.path, run.read_json("metrics.json"), run.read_json("history.json"), model,
                       info.get("precision", "float32"), execution, None, exports, info.get("fit_seconds", 0.0),
                       info.get("samples_per_second", 0.0), info.get("export_errors", {}))


def _size(arrays) -> int | None:
    """Samples in a part: 0 for none, None for a dataset (counted only as it is read)."""
    if arrays is not None and arrays.is_dataset:
        return None
    return 0 if arrays is None else len(arrays)


def _logged(model, train, batch_size: int, whole: bool = False) -> list[str]:
    """The names under which fit logs the loss and metrics: those of `evaluate` on one batch."""
    if train.is_dataset:
        return list(model.evaluate(train.x.take(1), verbose=0, return_dict=True))
    one_batch = data_module.fit_arguments(train.take(slice(0, batch_size)), batch_size=batch_size, training=False,
                                          whole=whole)
    return list(model.evaluate(**one_batch, verbose=0, return_dict=True))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _say(verbose, message: str) -> None:
    if verbose != 0:
        print(message, flush=True)
