"""Search spaces (netspec/space.py): found with their paths and lines, points drawn (conditionally), every point
checked by validate/summary with located errors that name the point, and refused by the verbs that need one."""

from __future__ import annotations

import json

import pytest

import netspec
from netspec import space
from netspec.cli import main
from netspec.errors import SpecError

SEARCH = """\
name: searched
inputs:
  - {name: x, shape: [8, 8, 1]}
vars:
  width: {choice: [8, 16]}
layers:
  - {type: conv2d, filters: "${width}", kernel_size: 3, activation: relu}
  - {type: max_pooling2d, pool_size: {int: [1, 3]}}
  - choice:
      - {type: flatten}
      - {type: global_average_pooling2d}
  - {type: dense, units: {choice: [16, {int: [32, 64], step: 32}]}, activation: softmax}
training:
  optimizer: {type: adam, learning_rate: {float: [1.0e-4, 1.0e-2], log: true}}
"""


def write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_spaces_are_found_with_their_paths_and_lines(tmp_path):
    source, spaces = space.read(write(tmp_path, SEARCH))
    found = {s.name: (s.kind, source.locate(s.path)[0]) for s in space.walk(spaces, {})}
    assert found == {"vars.width": ("choice", 5), "layers[1].pool_size": ("int", 8), "layers[2]": ("choice", 9),
                     "layers[3].units": ("choice", 12), "training.optimizer.learning_rate": ("float", 14)}
    units = next(s for s in spaces if s.name == "layers[3].units")
    assert [n.name for n in units.nested[1]] == ["layers[3].units.choice[1]"]  # sampled only with its option
    assert space.size(spaces) == 2 * 3 * 2 * (1 + 2) * 2


def test_nested_spaces_are_drawn_only_with_their_option(tmp_path):
    _, spaces = space.read(write(tmp_path, SEARCH))
    inner = "layers[3].units.choice[1]"
    points = list(space.grid(spaces))
    assert len(points) == space.size(spaces) == len({tuple(p.items()) for p in points})
    for point in [*points, *space.sample(spaces, 30, seed=1)]:
        assert (inner in point) == (point["layers[3].units"] == 1)
    sampled = space.sample(spaces, 30, seed=1)
    assert {p["layers[2]"] for p in sampled} == {0, 1} and {p["layers[3].units"] for p in sampled} == {0, 1}
    assert sampled[0]["training.optimizer.learning_rate"] == 1e-4 and sampled[1]["layers[1].pool_size"] == 3


def test_a_point_substitutes_to_a_plain_spec(tmp_path):
    source, spaces = space.read(write(tmp_path, SEARCH))
    point = {"vars.width": 1, "layers[1].pool_size": 2, "layers[2]": 1, "layers[3].units": 1,
             "layers[3].units.choice[1]": 64, "training.optimizer.learning_rate": 0.001}
    plain = space.substitute(source, spaces, point)
    assert plain.data["layers"][2] == {"type": "global_average_pooling2d"}
    assert plain.data["layers"][3]["units"] == 64 and plain.data["vars"]["width"] == 16
    assert not space.has_spaces(plain.data)
    assert netspec.load_spec(plain).layers[0].filters == 16
    assert source.data["layers"][3]["units"] == {"choice": [16, {"int": [32, 64], "step": 32}]}  # untouched


def test_validate_checks_every_option_and_locates_the_bad_one(tmp_path, capsys):
    bad = SEARCH.replace("      - {type: global_average_pooling2d}",
                         "      - {type: global_average_pooling2d}\n      - {type: dense, unitz: 4}")
    path = write(tmp_path, bad)
    code, _, err = run(capsys, "validate", path)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{path}:12:23: error: layers[2].unitz: ")  # the option's own line
    assert "layers[2]=choice[2]" in lines[0] and "unknown key `unitz`" in lines[0]


def test_a_failing_combination_is_named(tmp_path, capsys):
    path = write(tmp_path, SEARCH.replace("pool_size: {int: [1, 3]}", "pool_size: {int: [1, 7]}"))
    code, _, err = run(capsys, "validate", path)
    assert code == 1
    first = err.strip().splitlines()[0]
    assert first.startswith(f"{path}:8:38: error: layers[1].pool_size: vars.width=8, layers[1].pool_size=7, ")
    assert "larger than axis 1" in first


@pytest.mark.parametrize(("written", "line", "message"), [
    ("{int: [64, 16]}", "layers[3].units.int", "low bound (64) is above its high bound (16)"),
    ("{int: [16, 64], step: 10}", "layers[3].units.step", "does not divide the range"),
    ("{float: [0, 1], log: true}", "layers[3].units.float", "must lie above 0"),
    ("{choice: []}", "layers[3].units.choice", "non-empty list"),
    ("{int: [1, 4], stp: 2}", "layers[3].units.stp", "has no key `stp`"),
])
def test_declarations_are_checked_at_their_line(tmp_path, written, line, message):
    text = SEARCH.replace("{choice: [16, {int: [32, 64], step: 32}]}", written)
    with pytest.raises(SpecError) as caught:
        space.check(write(tmp_path, text))
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.path, diagnostic.line) == (line, 12) and message in diagnostic.message


def test_summary_reports_the_smallest_and_largest_parameter_counts(tmp_path, capsys):
    path = write(tmp_path, SEARCH)
    code, out, _ = run(capsys, "summary", "--json", path)
    assert code == 0
    summary = json.loads(out)
    assert {"name", "total_params", "trainable_params", "non_trainable_params", "layers"} <= set(summary)
    search = summary["search"]
    assert search["exhaustive"] and search["checked_points"] == search["grid_points"] == 72
    # smallest: 8 filters, global pooling, 16 units; largest: 16 filters, flatten after pool 1, 64 units
    assert search["min_params"] == 80 + 8 * 16 + 16 and search["min_point"]["layers[2]"] == "choice[1]"
    assert search["max_params"] == 160 + (6 * 6 * 16) * 64 + 64
    assert summary["total_params"] == 80 + (6 * 6 * 8) * 16 + 16  # the first point
    code, out, _ = run(capsys, "summary", path)
    assert "Smallest: 224 params" in out and "Largest: 37,088 params" in out


def test_large_spaces_are_sampled_and_every_option_taken(tmp_path):
    text = SEARCH.replace("{choice: [16, {int: [32, 64], step: 32}]}", "{choice: [16, {int: [17, 1000]}]}")
    checked = space.check(write(tmp_path, text))
    assert not checked.exhaustive and checked.checked == space.SAMPLED and checked.size > space.EXHAUSTIVE
    assert checked.largest[1]["layers[3].units.choice[1]"] == 1000


def test_verbs_that_need_one_value_refuse_spaces_and_set_picks_one(tmp_path):
    path = write(tmp_path, SEARCH)
    with pytest.raises(SpecError) as caught:
        netspec.load_spec(path)
    assert [(d.path, d.line) for d in caught.value.diagnostics] == [
        ("vars.width", 5), ("layers[1].pool_size", 8), ("layers[2]", 9), ("layers[3].units", 12),
        ("training.optimizer.learning_rate", 14)]
    assert "netspec tune" in caught.value.diagnostics[0].hint
    picked = ["vars.width=8", "layers[1].pool_size=2", "layers[2]={type: flatten}", "layers[3].units=32",
              "training.optimizer.learning_rate=0.01"]
    assert netspec.load_spec(path, overrides=picked).layers[3].units == 32
    assert not isinstance(space.check(path, picked), space.Checked)  # no space left: loaded as before
    checked = space.check(path, picked[:4])
    assert [s.name for s in checked.spaces] == ["training.optimizer.learning_rate"]


def test_tune_without_optuna_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    code, _, err = run(capsys, "tune", write(tmp_path, SEARCH), "--trials", "2")
    assert code == 2 and "pip install -e '.[tune]'" in err
