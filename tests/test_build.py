"""netspec.build: specs -> Keras functional models; saving; depth; mixed precision; `netspec build`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import SPECS
from keras_compare import assert_matches_keras

import netspec
from netspec.build import describe_model, load_model, precision_report, recursion_headroom, save_model
from netspec.cli import main
from netspec.errors import SpecError, UsageError

# Two inputs, branches, a concatenation, two outputs, a frozen layer, a wrapper,
# and Keras objects (initializer with arguments, regularizer, constraint).
GRAPH_SPEC = {
    "name": "two_heads",
    "inputs": [{"name": "image", "shape": [8, 8, 1]}, {"name": "meta", "shape": [3]}],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "inputs": ["image"], "activation": "relu"},
        {"type": "batch_normalization"},
        {"type": "reshape", "target_shape": [6, 24]},
        {"type": "bidirectional", "layer": {"type": "lstm", "units": 5}},
        {"type": "dense", "units": 6, "inputs": ["meta"], "name": "frozen", "trainable": False},
        {"type": "concatenate", "inputs": ["bidirectional", "frozen"]},
        {"type": "dense", "units": 8, "name": "hidden", "activation": "relu",
         "kernel_initializer": {"type": "he_normal", "seed": 3}, "kernel_regularizer": {"type": "l2", "l2": 0.01},
         "kernel_constraint": {"type": "max_norm", "max_value": 2.0}},
        {"type": "dense", "units": 3, "activation": "softmax", "name": "label"},
        {"type": "dense", "units": 1, "inputs": ["hidden"], "name": "score"},
    ],
    "outputs": ["label", "score"],
}

BAD_INITIALIZER = """\
name: bad_initializer
inputs: [{name: x, shape: [4]}]
layers:
  - {type: dense, units: 3}
  - type: dense
    units: 2
    kernel_initializer: {type: variance_scaling, mode: sideways}
"""


def chain(depth: int, units: int = 2) -> dict:
    return {"name": f"chain{depth}", "inputs": [{"name": "x", "shape": [units]}],
            "layers": [{"type": "dense", "units": units} for _ in range(depth)]}


def hand_written_chain(depth: int, units: int = 2):
    """The same chain written directly with Keras (names as Keras gives them after clear_session)."""
    x = inputs = keras.Input((units,), name="x")
    for _ in range(depth):
        x = keras.layers.Dense(units)(x)
    return keras.Model(inputs, x, name=f"chain{depth}")


@pytest.fixture(autouse=True)
def fresh_keras():
    keras.backend.clear_session()
    yield
    keras.mixed_precision.set_global_policy("float32")


# ----- building -----


def test_graph_spec_builds_with_its_names_inputs_and_outputs():
    model = netspec.build_model(GRAPH_SPEC)
    assert model.name == "two_heads"
    assert [t.name for t in model.inputs] == ["image", "meta"]
    assert model.output_names == ["label", "score"]
    assert [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"] == [
        "conv2d", "batch_normalization", "reshape", "bidirectional", "frozen", "concatenate", "hidden", "label",
        "score"]
    frozen = model.get_layer("frozen")
    assert not frozen.trainable and len(frozen.non_trainable_weights) == 2
    hidden = model.get_layer("hidden")
    assert type(hidden.kernel_initializer).__name__ == "HeNormal" and hidden.kernel_initializer.seed == 3
    assert type(hidden.kernel_regularizer).__name__ == "L2" and hidden.kernel_regularizer.l2 == pytest.approx(0.01)
    assert type(hidden.kernel_constraint).__name__ == "MaxNorm" and hidden.kernel_constraint.max_value == 2.0
    label, score = model([np.zeros((2, 8, 8, 1), "float32"), np.zeros((2, 3), "float32")])
    assert label.shape == (2, 3) and score.shape == (2, 1)
    assert_matches_keras(GRAPH_SPEC)


def test_keras_error_becomes_a_diagnostic_at_the_layer_line():
    with pytest.raises(SpecError) as caught:
        netspec.build_model(BAD_INITIALIZER)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.path, diagnostic.line, diagnostic.column) == ("layers[1]", 5, 5)
    assert "Keras could not build layer `dense_1` (keras.layers.Dense)" in diagnostic.message
    assert "sideways" in diagnostic.message  # Keras's own words: what it received
    assert diagnostic.hint


def test_keras_error_is_reported_by_the_cli_with_file_and_line(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_INITIALIZER)
    assert main(["build", str(spec), "-o", str(tmp_path / "m.keras")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:5:5: error: layers[1]: Keras could not build"), err
    assert "Traceback" not in err
    assert not (tmp_path / "m.keras").exists()


# ----- mixed precision -----


@pytest.mark.parametrize(("policy", "low"), [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_outputs_are_float32_and_inner_layers_low(policy, low):
    keras.mixed_precision.set_global_policy(policy)
    model = netspec.build_model(SPECS / "mnist_convnet.yaml")
    conv = model.get_layer("conv2d")
    assert (conv.compute_dtype, conv.variable_dtype) == (low, "float32")
    assert keras.backend.standardize_dtype(conv.output.dtype) == low
    assert model.get_layer("probs").compute_dtype == "float32"
    assert [keras.backend.standardize_dtype(t.dtype) for t in model.outputs] == ["float32"]
    out = model(np.zeros((2, 28, 28, 1), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    report = precision_report(model)
    assert report["policies"] == {policy: 6, "float32": 1}
    assert report["outputs"] == {"probs": "float32"}
    text = describe_model(model)
    assert "Total params: 34,826" in text  # Keras's own summary table comes first
    assert f"Precision: 6 layers {policy}, 1 layer float32" in text
    assert "Outputs: probs -> float32" in text


def test_float32_policy_summary():
    text = describe_model(netspec.build_model(SPECS / "mnist_convnet.yaml"))
    assert "Precision: 7 layers float32" in text


# ----- depth -----


@pytest.mark.slow
def test_deep_chain_builds_past_the_recursion_limit_that_stops_hand_written_keras(tmp_path):
    depth, limit = 300, 200
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        with pytest.raises(RecursionError):
            hand_written_chain(depth)
        keras.backend.clear_session()
        model = netspec.build_model(chain(depth))
        assert sys.getrecursionlimit() == limit  # restored
        path = save_model(model, tmp_path / "deep.keras")
        with pytest.raises(RecursionError):
            keras.saving.load_model(path)
        loaded = load_model(path)
        assert sys.getrecursionlimit() == limit
    finally:
        sys.setrecursionlimit(old)
    # the names and counts a hand-written model gets when Keras has room to recurse
    assert [layer.name for layer in model.layers] == ["x", "dense"] + [f"dense_{i}" for i in range(1, depth)]
    assert model.count_params() == depth * 6
    x = np.ones((3, 2), "float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)


@pytest.mark.slow
def test_5000_layer_spec_compiles_and_runs_a_forward_pass():
    depth = 5000
    text = "name: chain5000\ninputs: [{name: x, shape: [2]}]\nlayers:\n" + "  - {type: dense, units: 2}\n" * depth
    spec = netspec.load_spec(text)
    limit = sys.getrecursionlimit()
    model = netspec.build_model(spec)
    assert sys.getrecursionlimit() == limit
    names = [layer.name for layer in model.layers[1:]]
    assert names[:2] == ["dense", "dense_1"] and names[-1] == "dense_4999" and len(names) == depth
    assert model.count_params() == netspec.summarize(spec)["total_params"] == depth * 6
    out = model(np.ones((4, 2), "float32"))
    assert out.shape == (4, 2) and np.isfinite(np.asarray(out)).all()


def test_recursion_headroom_nests_and_restores_after_errors():
    base = sys.getrecursionlimit()
    with pytest.raises(ValueError), recursion_headroom(100):
        assert sys.getrecursionlimit() == base + 100
        with recursion_headroom(500):
            assert sys.getrecursionlimit() == base + 500
        assert sys.getrecursionlimit() == base + 100
        raise ValueError
    assert sys.getrecursionlimit() == base


# ----- saving -----


def test_save_model_needs_the_keras_suffix(tmp_path):
    model = netspec.build_model(SPECS / "mnist_convnet.yaml")
    with pytest.raises(UsageError, match=r"ends in `\.keras`.*model\.keras"):
        save_model(model, tmp_path / "model.h5")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="cannot write the model"):
        save_model(model, blocker / "model.keras")


def test_save_model_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "model.keras"
    target.write_bytes(b"previous model")
    model = netspec.build_model(SPECS / "mnist_convnet.yaml")

    def half_written(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(type(model), "save", half_written)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, target)
    assert target.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left behind


def test_cli_build_exit_codes(tmp_path, capsys):
    out = tmp_path / "models" / "mnist.keras"
    assert main(["build", str(SPECS / "mnist_convnet.yaml"), "-o", str(out)]) == 0
    assert "34,826 parameters" in capsys.readouterr().out
    assert keras.saving.load_model(out).count_params() == 34_826
    assert [p.name for p in out.parent.iterdir()] == ["mnist.keras"]
    assert main(["build", str(SPECS / "mnist_convnet.yaml"), "-o", str(tmp_path / "mnist.h5")]) == 2
    assert "`.keras`" in capsys.readouterr().err
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: invalid\ninputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: conv2d, filters: 2, kernel_size: 3}\n")
    assert main(["build", str(invalid), "-o", str(tmp_path / "invalid.keras")]) == 1
    assert f"{invalid}:4:" in capsys.readouterr().err
    assert not (tmp_path / "invalid.keras").exists()
    with pytest.raises(SystemExit) as usage:
        main(["build", str(SPECS / "mnist_convnet.yaml")])  # no -o
    assert usage.value.code == 2


LOADER = textwrap.dedent("""\
    import json, sys
    sys.modules["netspec"] = None  # `import netspec` raises ImportError in this process
    try:
        import netspec
        sys.exit("netspec is importable")
    except ImportError:
        pass
    import keras
    import numpy as np
    model = keras.saving.load_model(sys.argv[1])  # safe_mode=True, no custom objects
    with np.load(sys.argv[2]) as data:
        outputs = model.predict([data["image"], data["meta"]], verbose=0)
    np.savez(sys.argv[3], *outputs)
    print(json.dumps({"name": model.name, "params": int(model.count_params()),
                      "layers": [type(layer).__name__ for layer in model.layers]}))
    """)


@pytest.mark.slow
def test_netspec_build_file_loads_with_plain_keras_without_netspec(tmp_path):
    spec = tmp_path / "two_heads.json"
    spec.write_text(json.dumps(GRAPH_SPEC))
    model_file = tmp_path / "two_heads.keras"
    built = subprocess.run([sys.executable, "-m", "netspec", "build", str(spec), "-o", str(model_file)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two_heads.json", "two_heads.keras"]

    rng = np.random.default_rng(0)
    inputs = {"image": rng.random((4, 8, 8, 1), dtype=np.float32), "meta": rng.random((4, 3), dtype=np.float32)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    (tmp_path / "loader.py").write_text(LOADER)
    loaded = subprocess.run(
        [sys.executable, "loader.py", str(model_file), "inputs.npz", "outputs.npz"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert loaded.returncode == 0, loaded.stderr
    facts = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert facts["name"] == "two_heads"
    assert facts["params"] == netspec.summarize(GRAPH_SPEC)["total_params"]
    assert "Bidirectional" in facts["layers"]

    expected = keras.saving.load_model(model_file).predict([inputs["image"], inputs["meta"]], verbose=0)
    with np.load(tmp_path / "outputs.npz") as got:
        for i, want in enumerate(expected):
            np.testing.assert_allclose(got[f"arr_{i}"], want, rtol=1e-6, atol=1e-6)
