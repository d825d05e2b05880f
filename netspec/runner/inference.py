"""`evaluate` and `predict`: a trained model (a run folder or a .keras file), or a spec, on data."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
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
    """(model, spec or None, run folder or None) for a run folder, a .keras file or a spec."""
    from netspec.build import load_model

    path = Path(target) if isinstance(target, str | os.PathLike) else None
    if path is not None and _is_run(path):
        from netspec.load import load_spec

        run = RunFolder.open(path)
        if not run.model_file.exists():
            raise UsageError(f"{str(path)!r} has no model.keras yet; finish it with --resume {path}")
        return load_model(run.model_file), load_spec(run.spec_file), run
    if path is not None and path.suffix in MODEL_SUFFIXES:
        if not path.exists():
            raise UsageError(f"no such model file: {str(path)!r}")
        return load_model(path), None, None
    return None, target, None


def _spec_model(spec, overrides):
    """An untrained model compiled from a spec (for evaluating a spec as it stands)."""
    from netspec.build import build_model
    from netspec.load import load_spec
    from netspec.runner.compile import compile_model

    spec = load_spec(spec, overrides=overrides)
    model = build_model(spec)
    compile_model(model, spec.training)
    return model, spec


def _ports(spec, model):
    from netspec.lowering import ports

    return ports(spec) if spec is not None else data_module.model_ports(model)


def evaluate(spec_or_model, *, data: str | None = None, out: str | os.PathLike | None = None,
             overrides: Iterable[str] = (), batch_size: int | None = None) -> dict:
    """Metrics of a run folder's model, a .keras model, or a spec's (untrained) model, on `data`.

    `data` is read whole (no splits). Without it, a run folder is evaluated on its own held-out test
    split (the same samples as at the end of training). Writes `metrics.json` into `out` if given.
    """
    model, spec, run = _open_model(spec_or_model)
    if model is None:
        model, spec = _spec_model(spec, overrides)
    if not model.compiled or model.loss is None:
        if spec is None:
            raise UsageError("the model was saved without a loss; evaluate its spec or run folder instead")
        from netspec.runner.compile import compile_model

        compile_model(model, spec.training)
    inputs, outputs = _ports(spec, model)
    batch = batch_size or (spec.training.batch_size if spec is not None else DEFAULT_BATCH_SIZE)
    if data is not None:
        arrays = data_module.read_whole(data, inputs, outputs, labels_required=True)
    elif run is not None:
        splits = data_module.spec_splits(spec, seed=run.read_json(RUN_FILE)["seed"])
        arrays = splits.test if splits.test is not None else splits.validation
        if arrays is None:
            raise UsageError(f"the run in {str(run.path)!r} held out no test data; give --data")
    else:
        raise UsageError("evaluate needs --data (or a run folder, whose test split it reuses)")
    metrics = model.evaluate(arrays.x, arrays.y, batch_size=batch, verbose=0, return_dict=True)
    metrics = {k: float(v) for k, v in metrics.items()}
    if out is not None:
        atomic.write_text(Path(out) / "metrics.json", to_json(metrics))
    return metrics


def predict(model_path, *, data: str, output: str | os.PathLike, batch_size: int | None = None) -> Path:
    """Write a model's predictions on `data` (labels, if any, are ignored) to `output`.

    One output: an .npy array. Several outputs: an .npz archive keyed by output name.
    """
    model, spec, _ = _open_model(model_path)
    if model is None:
        raise UsageError(f"predict takes a run folder or a .keras model; received {str(model_path)!r}. "
                         "Train the spec first (netspec train), or build it (netspec build SPEC -o model.keras)")
    inputs, outputs = _ports(spec, model)
    arrays = data_module.read_whole(data, inputs, outputs, labels_required=False)
    batch = batch_size or (spec.training.batch_size if spec is not None else DEFAULT_BATCH_SIZE)
    predictions = model.predict(arrays.x, batch_size=batch, verbose=0)
    output = Path(output)
    buffer = io.BytesIO()
    if isinstance(predictions, dict | list):
        named = predictions if isinstance(predictions, dict) else dict(zip(model.output_names, predictions))
        if output.suffix != ".npz":
            raise DataError(f"the model has {len(named)} outputs; write them to an .npz file (-o predictions.npz)")
        np.savez(buffer, **{k: np.asarray(v) for k, v in named.items()})
    else:
        np.save(buffer, np.asarray(predictions))
    atomic.write_bytes(output, buffer.getvalue())
    return output
