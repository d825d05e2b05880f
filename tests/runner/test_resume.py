"""Resume: a run killed with SIGKILL in mid-epoch continues from its last finished epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from runner_support import tiny_spec

from netspec import UsageError
from netspec.runner import train

pytestmark = pytest.mark.slow

EPOCHS = 6
BATCH = 8  # small batches: epochs of a second or so, long enough to kill one in the middle


def finished_epochs(run_dir) -> int:
    try:
        return len(json.loads((run_dir / "history.json").read_text())["loss"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def backed_up_epochs(run_dir) -> int:
    """The epoch the resume state holds (Keras's BackupAndRestore metadata)."""
    try:
        return json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_sigkill_mid_epoch_then_resume(tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=EPOCHS, batch_size=BATCH)))
    run_dir = tmp_path / "run"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "netspec", "train", str(spec), "--out", str(run_dir),
         "--execution", "steps_per_execution=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 240
        while finished_epochs(run_dir) < 2:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never finished two epochs"
            time.sleep(0.05)
        time.sleep(0.3)  # into the next epoch
        # Once that epoch's resume state is saved too: the history is written just before it, and a kill in
        # between (some 20 ms of a 1 s epoch) resumes, rightly, an epoch earlier than this test expects.
        while (killed_after := finished_epochs(run_dir)) != backed_up_epochs(run_dir):
            assert time.monotonic() < deadline, "the resume state never caught up with the history"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert 2 <= killed_after < EPOCHS
    before = json.loads((run_dir / "history.json").read_text())
    assert len(before["loss"]) == killed_after  # the epoch in progress left nothing behind
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert not (run_dir / "model.keras").exists()

    result = train(None, resume=run_dir, verbose=0)

    assert result.epochs == EPOCHS  # as many as an unbroken run
    for key, values in before.items():
        assert result.history[key][:killed_after] == values  # no finished epoch lost or redone
    # The optimizer state came back: its step count covers every epoch, not just the resumed ones.
    steps_per_epoch = -(-1294 // BATCH)
    assert int(result.model.optimizer.iterations) == EPOCHS * steps_per_epoch
    # And so did the weights: the first resumed epoch trains on from where the killed run stopped.
    assert result.history["loss"][killed_after] < result.history["loss"][0] / 2
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed_after_epochs"] == [killed_after]
    assert (run_dir / "model.keras").exists() and json.loads((run_dir / "metrics.json").read_text())["accuracy"] > 0.8
    assert len((run_dir / "history.csv").read_text().splitlines()) == EPOCHS + 1
    assert not list(run_dir.rglob(".*.tmp*")) and not (run_dir / "backup").exists()

    again = train(None, resume=run_dir, verbose=0)  # a finished run: nothing to do
    assert again.history == result.history and again.metrics == result.metrics


def test_resume_refuses_new_settings(tmp_path):
    with pytest.raises(UsageError, match="not a run folder"):
        train(None, resume=tmp_path, verbose=0)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(UsageError, match="leave out data, batch_size"):
        train(None, resume=tmp_path, data="builtin:digits", batch_size=4, verbose=0)


def test_more_epochs_for_a_finished_run(tmp_path):
    keep = tiny_spec(epochs=2, callbacks=[{"type": "backup_and_restore", "delete_checkpoint": False}])
    first = train(keep, out=tmp_path / "kept", verbose=0)
    longer = train(None, resume=tmp_path / "kept", epochs=3, verbose=0)
    assert longer.epochs == 3 and longer.history["loss"][:2] == first.history["loss"]
    assert int(longer.model.optimizer.iterations) == 3 * -(-1294 // 64)
    train(tiny_spec(epochs=1), out=tmp_path / "deleted", verbose=0)
    with pytest.raises(UsageError, match="resume state was deleted"):
        train(None, resume=tmp_path / "deleted", epochs=2, verbose=0)


def test_resume_alone_on_the_command_line_and_a_spec_must_be_the_runs(tmp_path, capsys):
    from netspec.cli import main

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=1)))  # no seed given... the run's is recorded
    data = tiny_spec(epochs=1)
    del data["training"]["seed"]
    spec.write_text(json.dumps(data))
    run_dir = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir)]) == 0  # SPEC is not needed
    assert "finished already" in capsys.readouterr().out
    assert main(["train", str(spec), "--resume", str(run_dir)]) == 0  # the run's own spec, its seed left to chance
    other = tmp_path / "other.json"
    changed = tiny_spec(epochs=1)
    changed["layers"][0]["filters"] = 16
    other.write_text(json.dumps(changed))
    assert main(["train", str(other), "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differ at `layers[0].filters` (16 here, 8 in the run)" in err, err
    assert main(["train", str(spec), "--resume", str(run_dir), "--set", "training.batch_size=32"]) == 2
    assert "differ at `training.batch_size`" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "train needs SPEC (or --resume RUN_DIR" in capsys.readouterr().err


def test_ctrl_c_marks_the_run_interrupted_and_prints_the_resume_command(tmp_path, capsys, monkeypatch):
    import keras

    from netspec.cli import main
    from netspec.runner import callbacks

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec(epochs=3)))
    run_dir = tmp_path / "run"
    monkeypatch.setattr(callbacks, "scalar_log", lambda log_dir: CtrlC())
    assert main(["train", str(spec), "--out", str(run_dir)]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"netspec: interrupted after 1 finished epoch(s); continue with: netspec train " \
                                   f"--resume {run_dir}", err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir)]) == 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_run"] == 3 and info["resumed_after_epochs"] == [1]
