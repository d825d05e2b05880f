"""`netspec tune` (netspec/search.py): trials as run folders, trials.csv, best.yaml that trains, a study resumed
from its SQLite storage up to the total asked, and pruning at the end of an epoch."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("optuna")

SEARCH = """\
name: tiny_search
inputs:
  - {name: image, shape: [8, 8, 1]}
layers:
  - choice:
      - {type: flatten}
      - {type: global_average_pooling2d}
  - {type: dense, units: {int: [8, 16], step: 8}, activation: relu}
  - {type: dense, units: 10, activation: softmax}
training:
  optimizer: {type: adam, learning_rate: {float: [1.0e-3, 1.0e-2], log: true}}
  batch_size: 128
  epochs: 1
  seed: 0
data: builtin:digits
"""


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A study of 2 trials through the CLI, resumed by the API to 3 in all with a pruner that prunes every
    trial after its first epoch (of 2)."""
    import optuna

    from netspec.cli import main
    from netspec.search import tune

    folder = tmp_path_factory.mktemp("search")
    spec = folder / "search.yaml"
    spec.write_text(SEARCH)
    out = folder / "out"
    assert main(["tune", str(spec), "--trials", "2", "--out", str(out)]) == 0
    first = (out / "trials.csv").read_text()

    class PruneAll(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    result = tune(spec, trials=3, out=out, storage=f"sqlite:///{out / 'study.db'}", pruner=PruneAll(),
                  overrides=["training.epochs=2"], verbose=0)
    return out, first, result


@pytest.mark.slow
def test_trials_are_run_folders_listed_in_trials_csv(search):
    out, first, result = search
    assert len(first.strip().splitlines()) == 3  # the header and 2 trials
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"number", "layers[0]", "layers[1].units", "training.optimizer.learning_rate",
                            "val_loss", "state", "seconds"}
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]
    for row in rows:
        run = out / f"trial-{int(row['number']):04d}"
        assert (run / "model.keras").exists() and (run / "run.json").exists()
        assert row["layers[1].units"] in ("8", "16") and float(row["seconds"]) > 0 and float(row["val_loss"]) > 0
    assert result.metric == "val_loss" and result.direction == "minimize"


@pytest.mark.slow
def test_pruning_stops_a_trial_after_the_epoch_it_reports(search):
    import json

    out, _, result = search
    pruned = result.study.trials[2]
    assert pruned.state.name == "PRUNED" and list(pruned.intermediate_values) == [0]
    history = json.loads((out / "trial-0002" / "history.json").read_text())
    assert len(history["val_loss"]) == 1  # of 2 epochs


@pytest.mark.slow
def test_best_yaml_is_a_plain_spec_that_trains(search, tmp_path):
    import netspec
    from netspec.space import has_spaces

    out, _, result = search
    best = result.best
    assert best == out / "best.yaml"
    text = best.read_text()
    trial = result.study.best_trial
    assert f"trial {trial.number}" in text.splitlines()[0]
    spec = netspec.load_spec(best)
    import yaml

    assert not has_spaces(yaml.safe_load(text))
    assert spec.layers[1].units == trial.params["layers[1].units"]
    trained = netspec.train(best, out=tmp_path / "run", verbose=0)
    assert trained.epochs == 1 and (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_a_resumed_study_must_search_the_same_spaces(search):
    from netspec.errors import UsageError
    from netspec.search import tune

    out, _, _ = search
    other = out.parent / "other.yaml"
    other.write_text(SEARCH.replace("[8, 16], step: 8", "[8, 32], step: 8"))
    with pytest.raises(UsageError, match="searched other spaces"):
        tune(other, trials=4, out=out, study_name="tiny_search", verbose=0)
