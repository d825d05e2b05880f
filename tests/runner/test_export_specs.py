"""Every spec of specs/ exported as ONNX (and a subset as SavedModel and TFLite), checked against Keras, and the
README's table of which spec exports to which format kept true.

Each spec's model is built with fresh weights, exported by `write_export` (which compares the export's
predictions with Keras's on a batch and refuses more than 1e-4), and the outcome must be the README's: `yes`,
or `no (WORD)` with WORD in the ExportError's message. ONNX covers every spec, SavedModel and TFLite a
representative subset (TFLite's recurrent specs are trained and exported in test_export.py): about 65 s of CPU
on this project's 2-core machine, where all three over all specs cost about 170 s. NETSPEC_EXPORT_ALL=1 runs all
three over all specs, as the README's table was made.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import ROOT, SPECS

import netspec
from netspec.errors import ExportError
from netspec.runner.export import FORMATS, sample_batch, write_export

pytestmark = pytest.mark.slow

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.yaml"))
# Convolutional, residual, recurrent (known and unknown length, bidirectional), an autoencoder; and a refusal.
SUBSETS = {
    "saved_model": ["captcha_ocr", "digits_lstm", "imdb_bilstm", "toy_resnet"],
    "tflite": ["digits_cnn", "imdb_bilstm", "mnist_denoising_autoencoder", "toy_resnet"],
}
EVERYTHING = os.environ.get("NETSPEC_EXPORT_ALL") == "1"


def readme_table() -> dict[str, dict[str, str]]:
    """{spec: {format: cell}} from the README's table under "Exports"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Exports"):]
    header, table = None, {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("| spec"):
            header = cells
        elif header and line.startswith("| `"):
            table[cells[0]] = dict(zip(header[1:], cells[1:]))
        elif header and not line.startswith("|"):
            break
    return table


def test_the_readme_table_lists_every_spec_and_format():
    table = readme_table()
    assert sorted(table) == ALL_SPECS
    assert all(sorted(row) == sorted(FORMATS) for row in table.values())
    assert all(re.fullmatch(r"yes|no \(.+\)", cell) for row in table.values() for cell in row.values())


def _formats(spec: str) -> list[str]:
    return [f for f in FORMATS if f == "onnx" or EVERYTHING or spec in SUBSETS[f]]


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_spec_exports_as_the_readme_says(spec, tmp_path):
    pytest.importorskip("tf2onnx", reason="ONNX export needs the `onnx` extra: pip install -e '.[onnx]'")
    pytest.importorskip("onnxruntime", reason="ONNX export needs the `onnx` extra: pip install -e '.[onnx]'")
    expected = readme_table()[spec]
    model = netspec.build_model(SPECS / f"{spec}.yaml", compile=False)
    sample = sample_batch(model, samples=2)  # one batch; 2 samples keep the 3D CNN's check short
    for format in _formats(spec):
        target = tmp_path / FORMATS[format]
        if expected[format] == "yes":
            written = write_export(model, format, target, sample)
            assert written.max_abs_diff <= 1e-4, (format, written.max_abs_diff)
            assert target.exists()
            print(f"{spec} {format}: max abs diff {written.max_abs_diff:.3g}")
        else:
            reason = expected[format][len("no ("):-1]
            with pytest.raises(ExportError, match=re.escape(reason)):
                write_export(model, format, target, sample)
            assert not target.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(  # no staging folder left behind
            FORMATS[f] for f in _formats(spec)[: _formats(spec).index(format) + 1] if expected[f] == "yes")
