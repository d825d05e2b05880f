"""`netspec draw`: every format for every spec (names, shapes, edges, block frames), the choice between Graphviz
and the built-in renderer, usage errors, and the API."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pydot
import pytest
from conftest import ROOT, SPECS
from PIL import Image

import netspec
from netspec import SpecError, UsageError
from netspec.cli import main
from netspec.drawing import picture_bytes, picture_of
from netspec.drawing.text import dot_text, mermaid_text
from netspec.errors import DrawNote, NetspecError
from netspec.load import load

CODEGEN = ROOT / "tests" / "codegen" / "specs"
EXAMPLES = ROOT / "examples"
NESTED = ROOT / "tests" / "golden" / "expand" / "nested_blocks.yaml"
INCEPTION = Path(__file__).parent / "specs" / "inception_blocks.yaml"
DRAWN = sorted(SPECS.glob("*.yaml")) + [CODEGEN / f"{n}.yaml" for n in (
    "two_inputs_two_outputs", "lstm_states", "residual_branches", "attention_wrappers")] + [
    EXAMPLES / "resnet_blocks.yaml", EXAMPLES / "digits_stacks.yaml", NESTED, INCEPTION]


def svg_text(svg: bytes) -> str:
    """Every piece of text an SVG shows, one a line (parsing it as XML on the way)."""
    root = ET.fromstring(svg)
    return "\n".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("}text"))


def expected_lines(path: Path) -> list[str]:
    """What every picture must show: each input's and layer's name and output shape(s)."""
    summary = netspec.summarize(str(path))
    lines = [i["name"] for i in summary["inputs"]]
    lines += ["(" + ", ".join("None" if d is None else str(d) for d in i["shape"]) + ")" for i in summary["inputs"]]
    for layer in summary["layers"]:
        lines.append(layer["name"])
        shapes = layer["output_shape"] if isinstance(layer["output_shape"][0], list) else [layer["output_shape"]]
        lines += ["(" + ", ".join("None" if d is None else str(d) for d in s) + ")" for s in shapes]
    return lines


@pytest.fixture(scope="module")
def pictures():
    return {path: picture_of(load(str(path))) for path in DRAWN}


@pytest.mark.parametrize("path", DRAWN, ids=lambda p: p.stem)
def test_svg_shows_every_layer_name_and_shape(pictures, path):
    shown = svg_text(picture_bytes(pictures[path], "svg", renderer="builtin"))
    for line in expected_lines(path):
        assert line in shown, line


@pytest.mark.parametrize("path", DRAWN, ids=lambda p: p.stem)
def test_png_opens(pictures, path, tmp_path):
    (tmp_path / "net.png").write_bytes(picture_bytes(pictures[path], "png", renderer="builtin"))
    with Image.open(tmp_path / "net.png") as image:
        image.verify()
    with Image.open(tmp_path / "net.png") as image:
        assert image.format == "PNG" and min(image.size) > 100


@pytest.mark.parametrize("path", DRAWN, ids=lambda p: p.stem)
def test_dot_parses_with_pydot_and_holds_every_node_edge_and_cluster(pictures, path):
    picture = pictures[path]
    (graph,) = pydot.graph_from_dot_data(dot_text(picture))
    nodes, edges, clusters = [], [], []

    def walk(g):
        nodes.extend(n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph"))
        edges.extend(g.get_edges())
        for sub in g.get_subgraphs():
            clusters.append(sub)
            walk(sub)

    walk(graph)
    assert len(nodes) == len(picture.boxes) and len(edges) == len(picture.edges) == len(expected_edges(path))
    assert len(clusters) == len(picture.clusters)
    labels = "\n".join(n.get("label").strip('"').replace("\\n", "\n") for n in nodes)
    for line in expected_lines(path):
        assert line in labels.splitlines() or f"] {line}" in labels, line


def expected_edges(path: Path) -> list[tuple[str, str]]:
    summary = netspec.summarize(str(path))
    return [(ref, layer["name"]) for layer in summary["layers"] for ref in layer["inputs"]]


@pytest.mark.parametrize("path", DRAWN, ids=lambda p: p.stem)
def test_mermaid_declares_every_node_once_and_every_edge(pictures, path):
    text = mermaid_text(pictures[path])
    picture = pictures[path]
    declared = re.findall(r"^\s+(n\d+)\[", text, re.M)
    assert sorted(declared) == sorted(f"n{b.id}" for b in picture.boxes)
    assert len(re.findall(r"^\s+n\d+ -->", text, re.M)) == len(expected_edges(path))
    assert len(re.findall(r"^\s+subgraph ", text, re.M)) == len(re.findall(r"^\s+end$", text, re.M)) == len(
        picture.clusters)


def test_output_references_are_labelled_edges(pictures):
    picture = pictures[CODEGEN / "lstm_states.yaml"]
    labelled = sorted((e.source.name, e.target.name, e.label) for e in picture.edges if e.label)
    assert labelled == [("encoder", "kind", "[1]"), ("encoder", "summary", "[0]"), ("encoder", "summary", "[2]")]
    assert 'n1 -> n2 [label="[1]"];' in dot_text(picture)
    assert 'n1 -->|"[1]"| n2' in mermaid_text(picture)
    assert "[1]" in svg_text(picture_bytes(picture, "svg", renderer="builtin")).splitlines()
    assert [b.name for b in picture.boxes if b.output] == ["kind", "level"]


def test_several_inputs_and_outputs(pictures):
    picture = pictures[CODEGEN / "two_inputs_two_outputs.yaml"]
    assert [(b.name, b.detail) for b in picture.boxes[:2]] == [("tokens", "input · int32"), ("features", "input")]
    assert sorted(e.source.name for e in picture.edges if e.target.name == "both") == ["hidden", "pooled"]
    assert [b.name for b in picture.boxes if b.output] == ["topic", "relevant"]


def test_blocks_and_stacks_are_labelled_clusters(pictures):
    blocks = pictures[EXAMPLES / "resnet_blocks.yaml"]
    assert [c.label for c in blocks.clusters] == [
        "stage1_0: block residual (copy 1 of 2)", "stage1_1: block residual (copy 2 of 2)",
        "stage2_down_0: block downsample", "stage2_0: block residual"]
    for box in blocks.boxes:  # a block copy's layers are named `<copy>_<name in the block>`
        copies = [c.label.split(":")[0] for c in box.clusters]
        assert len(copies) == box.name.startswith("stage") and all(box.name.startswith(f"{c}_") for c in copies)
    dot = dot_text(blocks)
    assert 'subgraph cluster_0 {\n    graph [label="stage1_0: block residual (copy 1 of 2)"' in dot
    stacks = pictures[EXAMPLES / "digits_stacks.yaml"]
    assert [c.label for c in stacks.clusters] == ["features: conv_stack", "classifier: dense_stack"]


def test_blocks_inside_blocks_are_nested_clusters(pictures):
    picture = pictures[NESTED]
    box = next(b for b in picture.boxes if b.name == "dec2_0_double_conv_0_last")
    assert [c.label for c in box.clusters] == ["dec2_0: block up", "dec2_0_double_conv_0: block double_conv"]
    assert box.clusters[1].parent is box.clusters[0]
    assert re.search(r"subgraph c\d+\[\"dec2_0: block up\"\]\n(.*\n)*?\s+subgraph c\d+\[\"dec2_0_double_conv_0",
                     mermaid_text(picture))


def test_expand_prints_what_it_printed_before(capsys):
    # composition records where layers came from beside the expanded spec, not in it
    for golden in sorted((ROOT / "tests" / "golden" / "expand").glob("*.expanded.yaml")):
        source = golden.with_name(golden.name.replace(".expanded", ""))
        assert netspec.expand(str(source)) == golden.read_text(), golden.name


# ----- Graphviz or the built-in renderer -----


def fake_dot(tmp_path: Path, monkeypatch, status: int = 0) -> Path:
    """A `dot` on PATH that records its arguments and the text piped to it, and answers with a tiny SVG."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "dot"
    script.write_text(f"""#!/bin/sh
echo "$@" > "{tmp_path}/args"
cat > "{tmp_path}/stdin"
echo '<svg xmlns="http://www.w3.org/2000/svg"><text>drawn by the fake dot</text></svg>'
echo 'Error: something went wrong' >&2
exit {status}
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return script


def test_graphviz_dot_draws_the_same_dot_text_where_installed(tmp_path, monkeypatch, pictures):
    script = fake_dot(tmp_path, monkeypatch)
    assert netspec.drawing.graphviz() == str(script)
    out = netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.svg", direction="LR")
    assert "drawn by the fake dot" in out.read_text()
    assert (tmp_path / "args").read_text().split() == ["-Tsvg"]
    assert (tmp_path / "stdin").read_text() == dot_text(pictures[CODEGEN / "lstm_states.yaml"], "LR")
    netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.png")
    assert (tmp_path / "args").read_text().split() == ["-Tpng"]
    page = netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.html").read_text()
    assert "drawn by the fake dot" in page
    # asked for, the built-in renderer draws even where dot is installed
    netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "own.svg", renderer="builtin")
    assert "drawn by the fake dot" not in (tmp_path / "own.svg").read_text()


def test_without_dot_the_builtin_renderer_draws(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)
    assert netspec.drawing.graphviz() is None
    svg = netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.svg").read_bytes()
    assert b"Matplotlib" in svg and "encoder" in svg_text(svg)
    with pytest.raises(UsageError, match="Graphviz's `dot` program, which is not on PATH"):
        netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.png", renderer="graphviz")


def test_a_failing_dot_falls_back_with_a_note_or_fails_when_insisted_on(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, status=3)
    with pytest.warns(DrawNote, match="something went wrong"):
        svg = netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "net.svg").read_bytes()
    assert b"Matplotlib" in svg
    with pytest.raises(NetspecError, match="`dot` .* failed: Error: something went wrong"):
        netspec.draw(str(CODEGEN / "lstm_states.yaml"), tmp_path / "other.svg", renderer="graphviz")
    assert not (tmp_path / "other.svg").exists()


# ----- files, the command line, errors -----


def test_html_is_one_offline_page_holding_the_svg(tmp_path):
    page = netspec.draw(str(EXAMPLES / "resnet_blocks.yaml"), tmp_path / "net.html", renderer="builtin").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<?xml" not in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert "stage1_0: block residual (copy 1 of 2)" in svg_text(svg.encode())
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from elsewhere


def test_cli_draw_writes_each_format(tmp_path, capsys):
    spec = str(CODEGEN / "residual_branches.yaml")
    for suffix in ("svg", "dot", "mmd"):
        out = tmp_path / f"net.{suffix}"
        assert main(["draw", spec, "-o", str(out), "--direction", "lr", "--renderer", "builtin"]) == 0
        assert capsys.readouterr().out == f"wrote {out}\n"
    assert "rankdir=LR" in (tmp_path / "net.dot").read_text()
    assert "flowchart LR" in (tmp_path / "net.mmd").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_cli_usage_errors_and_invalid_specs(tmp_path, capsys):
    spec = str(CODEGEN / "residual_branches.yaml")
    assert main(["draw", spec, "-o", str(tmp_path / "net.jpg")]) == 2
    assert "the file name must end in .svg, .png, .dot, .mmd or .html; received `.jpg`" in capsys.readouterr().err
    assert main(["draw", spec, "-o", str(tmp_path / "net.svg"), "--direction", "up"]) == 2
    assert "direction must be TB (top to bottom) or LR (left to right); received 'up'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: dense, units: 0}\n")
    assert main(["draw", str(bad), "-o", str(tmp_path / "net.svg")]) == 1
    assert capsys.readouterr().err == f"{bad}:4:26: error: layers[0].units: expected a positive integer; received 0\n"
    assert not (tmp_path / "net.svg").exists()
    (tmp_path / "file").write_text("")
    assert main(["draw", spec, "-o", str(tmp_path / "file" / "net.dot")]) == 2
    assert f"netspec: error: cannot write `{tmp_path / 'file' / 'net.dot'}`: " in capsys.readouterr().err


def test_api_draws_specs_overrides_and_loaded_specs(tmp_path):
    assert callable(netspec.draw) and "draw" in dir(netspec)
    spec = netspec.load_spec(str(EXAMPLES / "resnet_blocks.yaml"))
    out = netspec.draw(spec, tmp_path / "net.dot")
    assert out == tmp_path / "net.dot" and "stage1_1: block residual" in out.read_text()
    text = netspec.draw(str(EXAMPLES / "resnet_blocks.yaml"), tmp_path / "x.mmd", overrides=["layers[3].repeat=3"])
    assert "stage1_2: block residual (copy 3 of 3)" in text.read_text()
    with pytest.raises(SpecError):
        netspec.draw({"name": "x", "inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": "dense"}]},
                     tmp_path / "x.svg")
    with pytest.raises(UsageError, match="renderer must be one of auto, graphviz, builtin"):
        netspec.draw(spec, tmp_path / "x.svg", renderer="dot")
    with pytest.raises(UsageError, match="received no suffix"):
        netspec.draw(spec, tmp_path / "picture")


def test_a_large_spec_renders(tmp_path):
    spec = netspec.load_spec(str(EXAMPLES / "resnet_blocks.yaml"), overrides=["layers[3].repeat=20"])
    svg = netspec.draw(spec, tmp_path / "big.svg", renderer="builtin").read_bytes()
    shown = svg_text(svg)
    assert all(f"stage1_{i}_add" in shown for i in range(20))
