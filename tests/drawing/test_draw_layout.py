"""The built-in layout: boxes apart, every frame around its members and no one else's, edges from box to box,
in both directions, for chains, branches, several inputs and outputs, and blocks inside blocks."""

from __future__ import annotations

import pytest
from conftest import ROOT, SPECS

from netspec.drawing import picture_of
from netspec.drawing.render import arrange
from netspec.load import load

DRAWN = [SPECS / "toy_resnet.yaml", ROOT / "examples" / "resnet_blocks.yaml", ROOT / "examples" / "digits_stacks.yaml",
         ROOT / "tests" / "golden" / "expand" / "nested_blocks.yaml",
         ROOT / "tests" / "codegen" / "specs" / "two_inputs_two_outputs.yaml",
         ROOT / "tests" / "codegen" / "specs" / "lstm_states.yaml", ROOT / "tests" / "drawing" / "specs" / "inception_blocks.yaml"]


def overlap(a, b, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def contains(outer, inner) -> bool:
    return outer[0] < inner[0] and outer[1] < inner[1] and inner[2] < outer[2] and inner[3] < outer[3]


@pytest.fixture(scope="module", params=[(p, d) for p in DRAWN for d in ("TB", "LR")],
                ids=lambda pd: f"{pd[0].stem}-{pd[1]}")
def drawn(request):
    path, direction = request.param
    picture = picture_of(load(str(path)))
    return picture, arrange(picture, direction), direction


def test_boxes_keep_apart_and_inside_the_picture(drawn):
    picture, placed, _ = drawn
    boxes = list(placed.boxes.values())
    for i, a in enumerate(boxes):
        assert 0 <= a[0] < a[2] <= placed.width and 0 <= a[1] < a[3] <= placed.height
        assert not any(overlap(a, b, gap=4.0) for b in boxes[i + 1:])


def test_frames_hold_their_members_and_no_one_else(drawn):
    picture, placed, _ = drawn
    for cluster in picture.clusters:
        frame = placed.clusters[cluster.id]
        assert 0 <= frame[0] and frame[2] <= placed.width and frame[3] <= placed.height
        for box in picture.boxes:
            if cluster in box.clusters:
                assert contains(frame, placed.boxes[box.id]), (cluster.label, box.name)
            else:
                assert not overlap(frame, placed.boxes[box.id]), (cluster.label, box.name)
        for other in picture.clusters:  # frames nest or keep apart
            if other is cluster or other.parent is cluster or cluster.parent is other:
                continue
            nested = any(c is cluster for c in _ancestors(other)) or any(c is other for c in _ancestors(cluster))
            assert nested or not overlap(frame, placed.clusters[other.id]), (cluster.label, other.label)
        if cluster.parent is not None:
            assert contains(placed.clusters[cluster.parent.id], frame)


def _ancestors(cluster):
    while cluster.parent is not None:
        cluster = cluster.parent
        yield cluster


def test_edges_run_from_source_to_target_downstream(drawn):
    picture, placed, direction = drawn
    assert len(placed.edges) == len(picture.edges)
    axis = 1 if direction == "TB" else 0
    for edge, path in zip(picture.edges, placed.edges):
        source, target = placed.boxes[edge.source.id], placed.boxes[edge.target.id]
        start, end = path.points[0], path.points[-1]
        assert start[axis] == pytest.approx(source[axis + 2]) and source[1 - axis] <= start[1 - axis] <= source[3 - axis]
        assert end[axis] == pytest.approx(target[axis]) and target[1 - axis] <= end[1 - axis] <= target[3 - axis]
        along = [p[axis] for p in path.points]
        assert along == sorted(along) and path.label == edge.label


def test_a_chain_is_drawn_straight():
    picture = picture_of(load(str(SPECS / "mnist_convnet.yaml")))
    placed = arrange(picture, "TB")
    centres = {round((x0 + x1) / 2, 3) for x0, _, x1, _ in placed.boxes.values()}
    assert len(centres) == 1


def test_without_the_linear_program_the_packed_layout_still_keeps_everything_apart(monkeypatch):
    from types import SimpleNamespace

    import scipy.optimize

    monkeypatch.setattr(scipy.optimize, "linprog", lambda *a, **k: SimpleNamespace(status=2))
    picture = picture_of(load(str(ROOT / "tests" / "drawing" / "specs" / "inception_blocks.yaml")))
    placed = arrange(picture, "TB")
    boxes = list(placed.boxes.values())
    assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    for cluster in picture.clusters:
        frame = placed.clusters[cluster.id]
        for box in picture.boxes:
            if cluster in box.clusters:
                assert contains(frame, placed.boxes[box.id])
            else:
                assert not overlap(frame, placed.boxes[box.id])
