"""`import netspec`, validate, summary, schema, generate, expand, draw and import never import TensorFlow or
Keras, nor the `onnx` or `tune` (Optuna) extras; neither do `export --help` and `tune --help`, nor validate and
summary of a spec with search spaces, or of one whose plugin declares its types with static rules.

Each check runs in a fresh interpreter, since this test process may already
hold TensorFlow from other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

SPEC = ROOT / "specs" / "mnist_convnet.yaml"

PROBE = r"""
import contextlib, importlib.util, io, json, sys, tempfile, os
heavy = ("tensorflow", "keras", "onnx", "onnxruntime", "tf2onnx", "optuna")
def loaded():
    return sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy})
report = {}
import netspec
report["import netspec"] = loaded()
from netspec.cli import main
spec = sys.argv[1]
for verb in (["validate", spec], ["validate", "--json", spec], ["summary", spec], ["summary", "--json", spec],
             ["schema"], ["layers"], ["layers", "lstm"]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(verb) == 0, verb
    report[" ".join(v for v in verb if v != spec)] = loaded()
search = os.path.join("examples", "search", "digits_search.yaml")  # a spec with search spaces: checked whole
for verb in (["validate", search], ["summary", "--json", search]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(verb) == 0, verb
    report[verb[0] + " (search spaces)"] = loaded()
sys.path.insert(0, os.path.join("tests", "plugins"))  # a plugin declared with @netspec.layer_type, static rules
plugin = os.path.join("tests", "plugins", "static_plugin.yaml")
for verb in (["validate", plugin], ["summary", "--json", plugin]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(verb) == 0, verb
    report[verb[0] + " (plugin)"] = loaded()
netspec.load_spec(spec); netspec.summarize(spec); netspec.json_schema()
report["library API"] = loaded()
if importlib.util.find_spec("netspec.compose"):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["expand", spec]) == 0
    report["expand"] = loaded()
if importlib.util.find_spec("netspec.codegen"):
    out = os.path.join(tempfile.mkdtemp(), "train.py")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["generate", spec, "-o", out]) == 0
    report["generate"] = loaded()
if importlib.util.find_spec("netspec.drawing"):
    folder = tempfile.mkdtemp()
    for suffix in ("svg", "png", "html", "dot", "mmd"):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["draw", spec, "-o", os.path.join(folder, "net." + suffix), "--renderer", "builtin"]) == 0
        report["draw ." + suffix] = loaded()
    netspec.draw(spec, os.path.join(folder, "api.svg"))
    report["draw API"] = loaded()
    # drawing uses matplotlib's Agg canvas on a bare Figure: pyplot, which picks (and may start) a GUI backend, never
    report["draw uses no pyplot"] = [m for m in sys.modules if m == "matplotlib.pyplot"]
for verb in (["export", "--help"], ["train", "--help"], ["tune", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(verb)
        except SystemExit as exit:
            assert exit.code == 0, verb
    report[" ".join(verb)] = loaded()
if len(sys.argv) > 2:  # a .keras model file to import
    folder = tempfile.mkdtemp()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["import", sys.argv[2], "-o", os.path.join(folder, "s.yaml"), "--weights",
                     os.path.join(folder, "s.weights.h5")]) == 0
    netspec.import_model(sys.argv[2])
    report["import"] = loaded()
print(json.dumps(report))
"""


def probe(*models) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, str(SPEC), *map(str, models)], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_light_verbs_never_import_tensorflow_or_keras(tmp_path):
    import netspec
    from netspec.build import save_model

    model = save_model(netspec.build_model(SPEC, compile=False), tmp_path / "model.keras")
    report = probe(model)
    assert {"import netspec", "validate", "validate --json", "summary", "summary --json", "schema", "layers",
            "layers lstm", "library API", "draw .svg", "draw .png", "draw .html", "draw .dot", "draw .mmd",
            "draw API", "draw uses no pyplot",
            "export --help", "train --help", "tune --help", "validate (search spaces)", "summary (search spaces)",
            "validate (plugin)", "summary (plugin)", "import"} <= set(report)
    assert report == {step: [] for step in report}
