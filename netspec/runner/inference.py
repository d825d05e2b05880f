"""`evaluate` and `predict`: a trained model (a run folder or a .keras file), or a spec, on data."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np

from netspec import atomic
from netspec.errors import DataError, UsageError
from netspec.runner import data as data_module
from netspec.runner.run import RUN_FILE, RunFolder, to_json

MODEL_SUFFIXES = (".keras", ".h5")
DEFAULT_BATCH_SIZE = 128


def _is_run(path: Path) -> bool:
    return path.is_dir() and (path / RUN_FILE).exists()


def _open_model(target):
    """(model, spec or None, run folder or None) for a keras.Model, a run folder, a .keras file or a spec."""
    from netspec.build import load_model

    if hasattr(target, "predict") and hasattr(target, "output_names"):  # a keras.Model already in hand
        return target, None, None
    path = Path(target) if isinstance(target, str | os.PathLike) else None
    if path is not None and _is_run(path):
        from netspec.load import load_spec

        run = RunFolder.open(path)
        if not run.model_file.exists():
            raise UsageError(f"{str(path)!r} has no model.keras yet; finish it with --resume {path}")
        spec = load_spec(run.spec_file)  # first: it loads the plugins whose classes the model holds
        return load_model(run.model_file), spec, run
    if path is not None and path.suffix in MODEL_SUFFIXES:
        if not path.exists():
            raise UsageError(f"no such model file: {str(path)!r}")
        return load_model(path), None, None
    return None, target, None


def _ports(spec, model):
    from netspec.lowering import ports

    return ports(spec) if spec is not None else data_module.model_ports(model)


def _data(data, inputs, outputs, *, labels_required: bool):
    """`data` as a Part: a source read whole, arrays held in memory (see `netspec.train`), or a tf.data.Dataset
    (passed to Keras as it is)."""
    if isinstance(data, str | os.PathLike):
        return data_module.read_whole(os.fspath(data), inputs, outputs, labels_required=labels_required)
    if type(data).__module__.startswith("tensorflow") and hasattr(data, "element_spec"):
        return data_module.Part(data)
    raw = data_module.memory_raw(data, inputs, outputs, "data")
    return data_module.fitted(raw, inputs, outputs, "data", labels_required=labels_required)


def _describe(data) -> str:
    return os.fspath(data) if isinstance(data, str | os.PathLike) else "the data given"


def evaluate(spec_or_model, *, data=None, out: str | os.PathLike | None = None,
             batch_size: int | None = None, split: str = "all", verbose: int | None = None) -> dict:
    """Metrics of a trained model (a keras.Model, a run folder or a .keras file) on `data`: a source, arrays
    held in memory (`(x, y)`, or dicts by input and output name, as `netspec.train` takes them), or a
    tf.data.Dataset of (features, labels) batches.

    `split="all"` scores every sample of `data`; `split="test"` (a run folder only) its held-out test part:
    `data` split as the run split its own (same fractions and seed), or without `data` the run's own test
    part, which is also the default for a run folder without `data`. A spec is refused: its weights would be
    freshly initialised. Writes `metrics.json` into `out` if given; says how many samples it scored unless
    `verbose` is 0.
    """
    if split not in ("all", "test"):
        raise UsageError(f"--split takes `all` or `test`; received {split!r}")
    model, spec, run = _open_model(spec_or_model)
    if model is None:
        name = spec if isinstance(spec, str | os.PathLike) else "a spec"
        raise UsageError(f"evaluate takes a trained model (a run folder or a .keras file), not {name}: a spec's "
                         f"weights are freshly initialised. Train it first (netspec train {name} --data ...), "
                         "then evaluate the run folder it prints")
    if not model.compiled or model.loss is None:
        if spec is None:
            raise UsageError("the model was saved without a loss; evaluate its spec or run folder instead")
        from netspec.runner.compile import compile_model

        compile_model(model, spec.training)
    inputs, outputs = _ports(spec, model)
    batch = batch_size or (spec.training.batch_size if spec is not None else DEFAULT_BATCH_SIZE)
    if split == "test" and run is None:
        raise UsageError("--split test needs the run folder (it holds the seed and fractions the data was split "
                         "with), not a .keras file")
    if data is not None and split == "all":
        arrays = _data(data, inputs, outputs, labels_required=True)
        what = (f"all {len(arrays)} samples of {_describe(data)}" if arrays.y is not None or
                not hasattr(arrays.x, "element_spec") else "the dataset given")
        if run is None:
            what += " (if the model was trained on them, evaluate its run folder with --split test)"
    elif run is not None:
        from netspec.load import load_spec

        seed = run.read_json(RUN_FILE)["seed"]
        if data is not None and not isinstance(data, str | os.PathLike):
            raise UsageError("--split test splits a data source as the run split its own; pass the source")
        if data is not None:  # the same fractions and seed as the run: its test part of this data
            spec = load_spec(run.spec_file, overrides=[f"data.source={data}"])
        splits = data_module.spec_splits(spec, seed=seed)
        arrays = splits.test if splits.test is not None else splits.validation
        if arrays is None:
            raise UsageError(f"the run in {str(run.path)!r} held out no test data; give --data")
        what = (f"the {len(arrays)} held-out {'test' if splits.test is not None else 'validation'} samples of "
                f"{data or spec.data.source}")
    else:
        raise UsageError("evaluate needs --data (or a run folder, whose test split it reuses)")
    metrics = model.evaluate(**data_module.fit_arguments(arrays, batch_size=batch, training=False), verbose=0,
                             return_dict=True)
    metrics = {k: float(v) for k, v in metrics.items()}
    if verbose != 0:
        print(f"scored {what}", file=sys.stderr, flush=True)
    if out is not None:
        atomic.write_text(Path(out) / "metrics.json", to_json(metrics))
    return metrics


def class_ids(probabilities) -> np.ndarray:
    """Class ids of a classifier's outputs: the argmax of several units, > 0.5 for a single (sigmoid) unit."""
    p = np.asarray(probabilities)
    if p.ndim >= 2 and p.shape[-1] > 1:
        return p.argmax(axis=-1).astype("int32")
    return (p[..., 0] > 0.5 if p.ndim >= 2 else p > 0.5).astype("int32")


def predict(model, *, data, output: str | os.PathLike | None = None, batch_size: int | None = None,
            classes: bool = False):
    """A trained model's predictions on `data` (labels, if any, are ignored): an array, or a dict by output name
    for several outputs. `model` is a keras.Model, a run folder or a .keras file; `data` a source, arrays held
    in memory or a tf.data.Dataset. `classes`: class ids (`class_ids`) instead of probabilities. `output`
    also writes them: an .npy array, or an .npz archive keyed by output name for several outputs.
    """
    model, spec, _ = _open_model(model)
    if model is None:
        raise UsageError(f"predict takes a run folder or a .keras model; received {str(model)!r}. "
                         "Train the spec first (netspec train), or build it (netspec build SPEC -o model.keras)")
    inputs, outputs = _ports(spec, model)
    arrays = _data(data, inputs, outputs, labels_required=False)
    batch = batch_size or (spec.training.batch_size if spec is not None else DEFAULT_BATCH_SIZE)
    feed = data_module.fit_arguments(arrays, batch_size=batch, training=False)
    feed.pop("y", None)  # labels, if any, are not predicted on
    predictions = model.predict(**feed, verbose=0)
    if isinstance(predictions, list):
        predictions = dict(zip(model.output_names, predictions))
    if classes:
        predictions = ({k: class_ids(v) for k, v in predictions.items()} if isinstance(predictions, dict)
                       else class_ids(predictions))
    if output is not None:
        _write_predictions(predictions, Path(output))
    return predictions


def _write_predictions(predictions, output: Path) -> None:
    buffer = io.BytesIO()
    if isinstance(predictions, dict):
        if output.suffix != ".npz":
            raise DataError(f"the model has {len(predictions)} outputs; write them to an .npz file "
                            "(-o predictions.npz)")
        np.savez(buffer, **{k: np.asarray(v) for k, v in predictions.items()})
    else:
        np.save(buffer, np.asarray(predictions))
    atomic.write_bytes(output, buffer.getvalue())
