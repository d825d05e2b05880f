"""The built-in renderer: a picture laid out by netspec.drawing.layout, drawn with matplotlib into SVG or PNG.

matplotlib is driven through a bare Figure and the Agg canvas (no pyplot), so it never picks or starts a
GUI backend. SVG keeps its text as text (`svg.fonttype: none`), so layer names can be searched and copied.
"""

from __future__ import annotations

import io

from netspec.drawing.layout import Layout, layout
from netspec.drawing.picture import BORDER, OUTPUT_BORDER, Picture
from netspec.drawing.text import title

FONT = "DejaVu Sans"  # ships with matplotlib: the sizes measured here are the sizes drawn
NAME_SIZE = 10.0
DETAIL_SIZE = 8.5
LABEL_SIZE = 9.0
TITLE_SIZE = 12.0
EDGE_LABEL_SIZE = 8.0
LINE = 1.3  # line height, in font sizes
PAD_X, PAD_Y = 8.0, 5.0  # inside a box
ARROW = 6.0
EDGE_COLOUR = "#444444"
FRAME_FILLS = ("#f4f6fa", "#e9edf5", "#dfe5f0")  # by nesting depth
MAX_PIXELS_SIDE = 32_000  # Agg's limit is 2^16; stay well below it
MAX_PIXELS = 120_000_000
DPI = 144.0


_ADVANCES: dict[tuple[str, bool], float] = {}  # (glyph, bold) -> advance at 1 point


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of `text` in FONT at `size`: the sum of its glyphs' advances (cached per glyph)."""
    width = 0.0
    for char in text:
        advance = _ADVANCES.get((char, bold))
        if advance is None:
            advance = _ADVANCES[(char, bold)] = _advance(char, bold)
        width += advance
    return width * size


def _advance(char: str, bold: bool) -> float:
    from matplotlib import ft2font
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties(family=FONT, weight="bold" if bold else "normal")))
    font.set_size(100.0, 72)
    no_hinting = ft2font.LoadFlags.NO_HINTING if hasattr(ft2font, "LoadFlags") else ft2font.LOAD_NO_HINTING
    return font.load_char(ord(char), flags=no_hinting).linearHoriAdvance / 65536 / 100.0


def _box_size(lines: list[str]) -> tuple[float, float]:
    width = max(text_width(lines[0], NAME_SIZE, bold=True), *(text_width(s, DETAIL_SIZE) for s in lines[1:]))
    height = NAME_SIZE * LINE + (len(lines) - 1) * DETAIL_SIZE * LINE
    return width + 2 * PAD_X, height + 2 * PAD_Y


def arrange(picture: Picture, direction: str) -> Layout:
    sizes = {box.id: _box_size(box.lines) for box in picture.boxes}
    labels = {c.id: (text_width(c.label, LABEL_SIZE, bold=True), LABEL_SIZE * LINE) for c in picture.clusters}
    heading = (text_width(title(picture), TITLE_SIZE, bold=True), TITLE_SIZE * LINE)
    return layout(picture, sizes, labels, heading, direction)


def render(picture: Picture, direction: str, fmt: str) -> bytes:
    """The picture as `svg` or `png` bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    placed = arrange(picture, direction)
    rc = {"svg.fonttype": "none", "svg.hashsalt": "netspec", "font.family": FONT, "path.simplify": False}
    with matplotlib.rc_context(rc):
        figure = Figure(figsize=(placed.width / 72, placed.height / 72), dpi=72)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(0, placed.width)
        axes.set_ylim(placed.height, 0)  # y grows downwards, as the layout's does
        axes.set_axis_off()
        _draw(axes, picture, placed)
        buffer = io.BytesIO()
        if fmt == "svg":
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        else:
            figure.savefig(buffer, format="png", dpi=_dpi(placed), metadata={"Software": None})
    return buffer.getvalue()


def _dpi(placed: Layout) -> float:
    """Sharp (2x) where it fits; a very large picture gets fewer pixels a point rather than none."""
    side = max(placed.width, placed.height)
    dpi = min(DPI, MAX_PIXELS_SIDE * 72 / side)
    area = placed.width * placed.height / 72 / 72
    return min(dpi, (MAX_PIXELS / area) ** 0.5)


def _draw(axes, picture: Picture, placed: Layout) -> None:
    """Frames, edges and boxes as one collection each (one artist for many shapes: large pictures draw fast),
    and the text."""
    from matplotlib.collections import PatchCollection, PolyCollection
    from matplotlib.patches import FancyBboxPatch, PathPatch
    from matplotlib.path import Path

    text = {"parse_math": False, "fontfamily": FONT}  # a `$` in a name is a `$`, not mathtext
    axes.text(*placed.title_at, title(picture), fontsize=TITLE_SIZE, fontweight="bold", va="top", ha="left", **text)

    frames, fills = [], []
    for cluster in picture.clusters:  # parents before children: inner frames are drawn over outer ones
        x0, y0, x1, y1 = placed.clusters[cluster.id]
        fill = FRAME_FILLS[min(cluster.depth, len(FRAME_FILLS) - 1)]
        frames.append(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=6"))
        fills.append(fill)
        # over the edges that enter the frame, on a patch of the frame's colour, so that it stays readable
        axes.text(x0 + 7, y0 + 4, cluster.label, fontsize=LABEL_SIZE, fontweight="bold", color="#3d4a66",
                  va="top", ha="left", zorder=3.5, bbox={"boxstyle": "square,pad=0.1", "linewidth": 0, "alpha": 0.85,
                                                         "facecolor": fill}, **text)
    if frames:
        axes.add_collection(PatchCollection(frames, facecolors=fills, edgecolors="#8a93a6", linewidths=1.0,
                                            linestyles=[(0, (4, 2))], zorder=1), autolim=False)

    curves, heads = [], []
    for edge in placed.edges:
        curves.append(PathPatch(Path(*_curve(edge.points, edge.vertical))))
        (x, y) = edge.points[-1]
        heads.append([(x, y), (x - ARROW / 2, y - ARROW), (x + ARROW / 2, y - ARROW)] if edge.vertical
                     else [(x, y), (x - ARROW, y - ARROW / 2), (x - ARROW, y + ARROW / 2)])
        if edge.label:
            x, y = edge.points[0]
            axes.text(x + 3, y + 2, edge.label, fontsize=EDGE_LABEL_SIZE, color="#7a2e22", va="top", ha="left",
                      zorder=6, **text)
    axes.add_collection(PatchCollection(curves, facecolors="none", edgecolors=EDGE_COLOUR, linewidths=1.0, zorder=3),
                        autolim=False)
    axes.add_collection(PolyCollection(heads, facecolors=EDGE_COLOUR, edgecolors="none", zorder=3), autolim=False)

    shapes = []
    for box in picture.boxes:
        x0, y0, x1, y1 = placed.boxes[box.id]
        shapes.append(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=4"))
        centre = (x0 + x1) / 2
        axes.text(centre, y0 + PAD_Y + NAME_SIZE * LINE / 2, box.name, fontsize=NAME_SIZE, fontweight="bold",
                  va="center_baseline", ha="center", zorder=5, **text)
        # the type and shape lines as one text: half as many artists to lay out
        axes.text(centre, y0 + PAD_Y + NAME_SIZE * LINE + DETAIL_SIZE * (LINE - 1) / 2, "\n".join(box.lines[1:]),
                  fontsize=DETAIL_SIZE, linespacing=LINE, color="#222222", va="top", ha="center",
                  multialignment="center", zorder=5, **text)
    axes.add_collection(PatchCollection(
        shapes, facecolors=[b.fill for b in picture.boxes], zorder=4,
        edgecolors=[OUTPUT_BORDER if b.output else BORDER for b in picture.boxes],
        linewidths=[2.0 if b.output else 0.8 for b in picture.boxes]), autolim=False)


def _curve(points: list[tuple[float, float]], vertical: bool):
    """A smooth route through `points`: cubic pieces that leave and arrive along the rank axis, the last piece
    stopping where the arrowhead begins."""
    from matplotlib.path import Path

    points = list(points)
    x, y = points[-1]
    points[-1] = (x, y - ARROW) if vertical else (x - ARROW, y)
    vertices = [points[0]]
    codes = [Path.MOVETO]
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        if vertical:
            mid = (by - ay) / 2
            vertices += [(ax, ay + mid), (bx, by - mid), (bx, by)]
        else:
            mid = (bx - ax) / 2
            vertices += [(ax + mid, ay), (bx - mid, by), (bx, by)]
        codes += [Path.CURVE4] * 3
    return vertices, codes
