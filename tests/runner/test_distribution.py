"""Data parallelism (`training.distribution`): devices of one process, and processes of one run (JAX).

Each run is a separate process (`netspec train`, or a small driver): a backend, forced host devices and
jax.distributed are process-wide settings. The weights a run saves are compared with a one-device run's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from netspec import runtime
from netspec.errors import UsageError
from netspec.runner import train
from netspec.runner.trainer import _cluster

ROOT = Path(__file__).resolve().parents[2]
# No dropout or batch norm, no shuffling, and parts that are whole batches: every device count computes the
# same sums, so weights agree to rounding.
SPEC = """\
name: data_parallel_mlp
inputs: [{name: x, shape: [16]}]
layers:
  - {type: dense, units: 32, activation: relu}
  - {type: dense, units: 4, activation: softmax}
data: {source: synthetic, samples: 400, num_classes: 4, test_split: 0.1, validation_split: 0.2, shuffle: false}
training: {epochs: EPOCHS, batch_size: 32, seed: 3, optimizer: {type: sgd, learning_rate: 0.1}}
"""
TIMEOUT = 300


def _spec(tmp_path: Path, epochs: int = 3) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("EPOCHS", str(epochs)), encoding="utf-8")
    return path


def _env(tmp_path: Path, backend: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_DISTRIBUTION_", "SLURM_", "XLA_FLAGS"))}
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env.update({"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch),
                **extra})
    return env


def _netspec(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "netspec", *map(str, args)], env=env, cwd=env["TMPDIR"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _finish(process) -> str:
    out, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, out[-3000:]
    return out


def _weights(run_dir: Path) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes(spec: Path, out: Path, env: dict, *extra) -> list:
    port = _free_port()
    return [_netspec(["train", spec, "--out", out, *extra], {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES":
                                                             f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES":
                                                             "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(i)})
            for i in range(2)]


# ----- where the processes come from -----


def test_cluster_reads_keras_variables_then_slurm_then_defaults_to_one_process():
    keras_vars = {"KERAS_DISTRIBUTION_NUM_PROCESSES": "4", "KERAS_DISTRIBUTION_PROCESS_ID": "2",
                  "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234", "SLURM_NTASKS": "8", "SLURM_PROCID": "5"}
    assert runtime.cluster(keras_vars) == (4, 2, "10.0.0.1:1234")
    assert runtime.cluster({"SLURM_NTASKS": "8", "SLURM_PROCID": "5"}) == (8, 5, None)
    assert runtime.cluster({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) == (1, 0, None)
    assert runtime.cluster({}) == (1, 0, None)


def test_several_processes_on_tensorflow_say_to_use_jax(monkeypatch):
    monkeypatch.setattr("keras.backend.backend", lambda: "tensorflow")
    with pytest.raises(UsageError, match="KERAS_BACKEND=jax"):
        _cluster(2, 0, "127.0.0.1:1234")
    with pytest.raises(UsageError, match="process id 2 is not one of the 2 processes"):
        _cluster(2, 2, None)
    assert _cluster(None, None, None).processes == 1


def test_several_processes_need_one_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    with pytest.raises(UsageError, match="same --out"):
        train(_spec(tmp_path), num_processes=2, process_id=1, coordinator="127.0.0.1:1")


def test_distribution_none_refuses_several_processes(tmp_path, monkeypatch):
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    spec = _spec(tmp_path)
    with pytest.raises(UsageError, match="distribution: none"):
        train(spec, out=tmp_path / "run", num_processes=2, process_id=1, coordinator="127.0.0.1:1",
              overrides=["training.distribution=none"])


# ----- devices of one process -----


@pytest.fixture(scope="module")
def one_device_jax(tmp_path_factory):
    pytest.importorskip("jax")
    tmp_path = tmp_path_factory.mktemp("one_device_jax")
    _finish(_netspec(["train", _spec(tmp_path), "--out", tmp_path / "run"], _env(tmp_path, "jax")))
    return _weights(tmp_path / "run")


@pytest.mark.slow
def test_two_host_devices_on_jax_train_the_weights_of_one(tmp_path, one_device_jax):
    env = _env(tmp_path, "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    odd = _netspec(["train", _spec(tmp_path), "--out", tmp_path / "odd", "--batch-size", 31], env)
    message = odd.communicate(timeout=TIMEOUT)[0]
    assert odd.returncode == 2 and "make it a multiple of 2" in message and not (tmp_path / "odd").exists()
    out = _finish(_netspec(["train", _spec(tmp_path), "--out", tmp_path / "run"], env))
    assert "on 2 devices (data parallel: 16 samples each of every 32-sample batch" in out
    assert json.loads((tmp_path / "run" / "run.json").read_text())["replicas"] == 2
    assert np.abs(_weights(tmp_path / "run") - one_device_jax).max() <= 1e-5


TF_DRIVER = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[3]))
import netspec
netspec.train(sys.argv[1], out=sys.argv[2], verbose=2)
"""


@pytest.mark.slow
def test_two_logical_cpus_on_tensorflow_mirror_the_weights_of_one(tmp_path):
    spec = _spec(tmp_path)
    env = _env(tmp_path, "tensorflow")
    runs = [subprocess.Popen([sys.executable, "-c", TF_DRIVER, str(spec), str(tmp_path / f"run{n}"), str(n)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in (1, 2)]
    outs = [_finish(run) for run in runs]
    assert "data parallel" not in outs[0]
    assert "on 2 devices (data parallel: 16 samples each of every 32-sample batch)" in outs[1]
    info = json.loads((tmp_path / "run2" / "run.json").read_text())
    assert info["replicas"] == 2 and info["execution"]["steps_per_execution"] == 1  # Keras's loop fails mirrored
    assert np.abs(_weights(tmp_path / "run2") - _weights(tmp_path / "run1")).max() <= 1e-5


# ----- processes of one run -----


@pytest.mark.slow
def test_two_processes_train_the_weights_of_one_and_write_one_run_folder(tmp_path, one_device_jax):
    env = _env(tmp_path, "jax")
    outs = [_finish(p) for p in _processes(_spec(tmp_path), tmp_path / "run", env)]
    # A spec without a seed: the processes agree on one as they join (each drawing its own would split the data
    # differently), and the run records it.
    unseeded = tmp_path / "unseeded.yaml"
    unseeded.write_text(_spec(tmp_path).read_text().replace("seed: 3, ", ""), encoding="utf-8")
    [_finish(p) for p in _processes(unseeded, tmp_path / "unseeded", env)]
    assert isinstance(json.loads((tmp_path / "unseeded" / "run.json").read_text())["seed"], int)
    (tmp_path / "unseeded.yaml").unlink()
    shutil.rmtree(tmp_path / "unseeded")
    assert "on 2 devices of 2 processes (data parallel: 16 samples each" in outs[0] and "training data_parallel_mlp" not in outs[1]  # process 0 speaks for the run
    assert np.abs(_weights(tmp_path / "run") - one_device_jax).max() <= 1e-5
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (info["status"], info["processes"], info["replicas"]) == ("finished", 2, 2)
    # One run folder: nothing in the working folder or the temporary folder (the other process's scratch copy).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "spec.yaml", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
def test_a_killed_process_and_a_restart_of_both_resume_the_run(tmp_path):
    pytest.importorskip("jax")
    spec, out, env = _spec(tmp_path, epochs=60), tmp_path / "run", _env(tmp_path, "jax")
    first = _processes(spec, out, env)
    backup = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + TIMEOUT
    while not backup.exists() and time.monotonic() < deadline and first[0].poll() is None:
        time.sleep(0.2)
    assert backup.exists(), first[0].communicate(timeout=10)[0][-3000:]
    first[1].send_signal(signal.SIGKILL)  # one process dies mid-run; the other waits on it, and is stopped too
    first[0].send_signal(signal.SIGKILL)
    for p in first:
        p.communicate(timeout=60)
    killed_after = json.loads(backup.read_text())["epoch"]
    assert 0 < killed_after < 60
    assert json.loads((out / "run.json").read_text())["status"] == "running"

    outs = [_finish(p) for p in _resume(out, env)]
    assert f"resuming {out} after epoch" in outs[0]
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_run"] == 60 and len(info["resumed_after_epochs"]) == 1
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 60


def _resume(out: Path, env: dict) -> list:
    port = _free_port()
    return [_netspec(["train", "--resume", out, "--num-processes", 2, "--process-id", i, "--coordinator",
                      f"127.0.0.1:{port}"], env) for i in range(2)]
