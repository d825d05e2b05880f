"""The run folder: everything one training run leaves behind, written atomically.

```
runs/<name>/<timestamp>/
  spec.yaml        the resolved spec (composition expanded, command-line settings applied)
  model.svg        a picture of the layer graph (netspec draw), blocks and stacks framed
  run.json         settings, device, precision, execution, timings, status
  model.keras      the trained model
  history.json     per-epoch metrics, as Keras's History.history
  history.csv      the same, one row per epoch
  metrics.json     test metrics under Keras's names ({"loss": ..., "accuracy": ...})
  logs/            TensorBoard event files (train/, validation/)
  plots/*.png      loss and each metric per epoch
  backup/          resume state of the last finished epoch: Keras's BackupAndRestore (removed when the run ends)
```
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from netspec import atomic
from netspec.errors import UsageError

RUN_FILE = "run.json"


def _clean(value):
    """JSON-safe: NumPy scalars to Python numbers, NaN and infinities to null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value) -> str:
    return json.dumps(_clean(value), indent=2) + "\n"


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ----- creating and opening -----

    @classmethod
    def create(cls, name: str, out: str | Path | None = None, root: str | Path = "runs") -> RunFolder:
        """`out`, or a new `runs/<name>/<timestamp>/`; refuses a folder that already holds a run."""
        if out is not None:
            path = Path(out)
            if (path / RUN_FILE).exists():
                raise UsageError(f"{str(path)!r} already holds a run; continue it with --resume {path}, "
                                 "or choose another --out")
            path.mkdir(parents=True, exist_ok=True)
            return cls(path)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(root) / name
        for n in range(1000):
            path = base / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                continue
        raise UsageError(f"cannot create a run folder under {str(base)!r}")

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        folder = cls(path)
        if not (folder.path / RUN_FILE).exists():
            raise UsageError(f"{str(path)!r} is not a run folder (it has no {RUN_FILE}); pass the folder "
                             "`netspec train` printed, e.g. runs/<name>/<timestamp>")
        return folder

    @classmethod
    def scratch(cls, of: str | Path) -> RunFolder:
        """A temporary copy of the run folder `of` (what it holds so far: its resume state), for a process of a
        multi-process run other than process 0, which alone writes `of`; the caller deletes it."""
        path = Path(tempfile.mkdtemp(prefix="netspec-process-"))
        if Path(of).is_dir():
            shutil.copytree(of, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs", "plots", ".*.tmp*"))
        return cls(path)

    # ----- paths -----

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.yaml"

    @property
    def model_file(self) -> Path:
        return self.path / "model.keras"

    def resolve(self, relative: str) -> Path:
        """A path from the spec (a callback's file): relative paths live in the run folder."""
        path = Path(relative)
        return path if path.is_absolute() else self.path / path

    # ----- reading and writing -----

    def read_json(self, name: str) -> dict:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_json(self, name: str, value, *, durable: bool = True) -> None:
        _write_text(self.path / name, to_json(value), durable)

    def write_spec(self, data: dict) -> None:
        text = "# The resolved spec of this run: composition expanded, command-line settings applied.\n"
        text += yaml.safe_dump(_clean(data), sort_keys=False, default_flow_style=None, width=120)
        atomic.write_text(self.spec_file, text)

    def write_history(self, history: dict[str, list], *, durable: bool = True) -> None:
        self.write_json("history.json", history, durable=durable)
        keys = list(history)
        epochs = len(next(iter(history.values()), []))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for i in range(epochs):
            writer.writerow([i, *(_csv_value(history[k][i]) for k in keys)])
        _write_text(self.path / "history.csv", buffer.getvalue(), durable)

    def write_plots(self, history: dict[str, list]) -> list[Path]:
        """One PNG per metric (training and validation curves), with matplotlib's Agg canvas."""
        written = []
        for key in history:
            if key.startswith("val_"):
                continue
            figure = plot(history, key)
            path = self.path / "plots" / f"{key}.png"
            with atomic.atomic_path(path) as tmp:
                figure.savefig(tmp, format="png")
            written.append(path)
        return written

    def remove_stale_temporaries(self) -> None:
        """Temporary files a killed run left behind (atomic writes that never finished)."""
        for tmp in self.path.rglob(".*.tmp*"):
            if tmp.is_file():
                tmp.unlink()


def plot(history: dict[str, list], key: str):
    """The figure of one metric: training and validation curves over whole epochs (matplotlib's Agg canvas)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.subplots()
    epochs = range(1, len(history[key]) + 1)
    axes.plot(epochs, _floats(history[key]), marker="o", label="training")
    if f"val_{key}" in history:
        axes.plot(epochs, _floats(history[f"val_{key}"]), marker="o", label="validation")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no ticks at 1.5
    axes.set_xlabel("epoch")
    axes.set_ylabel(key)
    axes.set_title(key)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def _write_text(path: Path, text: str, durable: bool) -> None:
    if durable:
        atomic.write_text(path, text)
    else:  # atomic, without the fsync: per-epoch views that the next epoch rewrites anyway
        with atomic.atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")


def _csv_value(value):
    return "" if value is None else value


def _floats(values) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]
