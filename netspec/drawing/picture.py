"""What a picture of a spec shows: one box per input and layer, one edge per connection, one cluster per block copy
or stack. Every output format (DOT, Mermaid, the built-in SVG/PNG) is drawn from this one description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netspec.load import Loaded

# Fill colours by layer family (the module of netspec.layers a type is defined in), pale enough for black text.
FAMILY_COLOURS = {
    "input": "#d9f2d9",
    "conv": "#dbe8fb",
    "pooling": "#e6e0f8",
    "core": "#fdf0d5",
    "reshaping": "#eeeeee",
    "recurrent": "#fbe0e6",
    "wrappers": "#fbe0e6",
    "merge": "#fff7b3",
    "normalization": "#e0f4f4",
    "preprocessing": "#f3e3d3",
    "attention": "#f8dcf2",
}
OUTPUT_BORDER = "#b03a2e"
BORDER = "#555555"


@dataclass(eq=False)
class Cluster:
    """One copy of a block use, or one stack: the layers it expanded to are drawn inside a labelled frame."""

    id: int
    label: str
    parent: Cluster | None
    depth: int  # 0 for an outermost cluster


@dataclass(eq=False)
class Box:
    id: int
    name: str
    type: str  # the spec's type (`conv2d`, `bidirectional(lstm)`), or `input`
    family: str
    shapes: list[str]  # formatted output shapes, batch dimension included
    params: int | None  # None for a model input
    dtype: str | None = None  # a model input's, when it is not float32
    output: bool = False  # a model output
    clusters: tuple[Cluster, ...] = ()  # outermost first

    @property
    def fill(self) -> str:
        return FAMILY_COLOURS.get(self.family, "#ffffff")

    @property
    def detail(self) -> str:
        """The line under the name: type and parameter count."""
        if self.params is None:
            return "input" + (f" · {self.dtype}" if self.dtype else "")
        return f"{self.type} · {self.params:,} params"

    @property
    def shape_lines(self) -> list[str]:
        if len(self.shapes) == 1:
            return list(self.shapes)
        return [f"[{i}] {shape}" for i, shape in enumerate(self.shapes)]

    @property
    def lines(self) -> list[str]:
        return [self.name, self.detail, *self.shape_lines]


@dataclass(eq=False)
class Edge:
    source: Box
    target: Box
    label: str = ""  # `[i]` where the source has several outputs


@dataclass
class Picture:
    name: str
    total_params: int = 0
    boxes: list[Box] = field(default_factory=list)  # inputs, then layers in spec order (a topological order)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)  # each after its parent


def picture_of(loaded: Loaded, groups: dict[int, tuple] | None = None) -> Picture:
    """The picture of a loaded spec. `groups` (layer index -> the block copies and stacks it came from, outermost
    first) defaults to what composition recorded in `loaded.source`."""
    if groups is None:
        groups = getattr(loaded.source, "groups", None) or {}
    shapes = loaded.shapes  # raises the located ShapeError of a spec whose shapes do not fit
    graph = shapes.graph
    picture = Picture(loaded.spec.name, shapes.total)
    boxes: dict[str, Box] = {}
    for spec_input in graph.model_inputs:
        box = Box(len(picture.boxes), spec_input.name, "input", "input", [shape_text(spec_input.shape)],
                  None, dtype=None if spec_input.dtype == "float32" else spec_input.dtype)
        picture.boxes.append(box)
        boxes[box.name] = box
    clusters: dict[int, Cluster] = {}  # id(Group) -> its cluster
    for info in shapes.layers:
        node = info.node
        layer = node.layer
        inner = getattr(layer, "layer", None)  # a wrapper's layer
        kind = f"{layer.type}({inner.type})" if inner is not None else layer.type
        family = type(inner if inner is not None else layer).__module__.rsplit(".", 1)[-1]
        box = Box(len(picture.boxes), node.name, kind, family, [shape_text(s) for s in info.outputs],
                  info.params, clusters=_clusters(groups.get(node.index, ()), clusters, picture))
        picture.boxes.append(box)
        boxes[box.name] = box
        for ref in node.inputs:
            source = boxes[ref.name]
            picture.edges.append(Edge(source, box, f"[{ref.index}]" if len(source.shapes) > 1 else ""))
    for ref in graph.outputs:
        boxes[ref.name].output = True
    return picture


def nested(picture: Picture):
    """Walk the clusters as a tree: yields ("box", box), ("open", cluster) and ("close", cluster), each box inside
    the cluster it belongs to, boxes and clusters in the order of their first box."""
    children: dict[Cluster | None, list] = {}
    placed: set[int] = set()
    for box in picture.boxes:
        parent = None
        for cluster in box.clusters:
            if cluster.id not in placed:
                placed.add(cluster.id)
                children.setdefault(parent, []).append(cluster)
            parent = cluster
        children.setdefault(parent, []).append(box)

    def walk(parent):
        for item in children.get(parent, []):
            if isinstance(item, Box):
                yield "box", item
            else:
                yield "open", item
                yield from walk(item)
                yield "close", item

    yield from walk(None)


def shape_text(shape) -> str:
    """`(None, 28, 28, 1)`: a shape as `netspec summary` prints it, the batch dimension first."""
    return "(" + ", ".join("None" if d is None else str(d) for d in (None, *shape)) + ")"


def _clusters(path: tuple, known: dict[int, Cluster], picture: Picture) -> tuple[Cluster, ...]:
    out: list[Cluster] = []
    names: list[str] = []
    for group in path:
        names.append(group.instance)
        cluster = known.get(id(group))
        if cluster is None:
            cluster = Cluster(len(picture.clusters), _label(group, "_".join(names)), out[-1] if out else None, len(out))
            known[id(group)] = cluster
            picture.clusters.append(cluster)
        out.append(cluster)
    return tuple(out)


def _label(group, instance: str) -> str:
    """`stage1_0: block residual (copy 1 of 2)`, `features: conv_stack`, `conv_stack`."""
    if group.kind == "stack":
        return group.name if instance == group.name else f"{instance}: {group.name}"
    copies = f" (copy {group.copy} of {group.copies})" if group.copies > 1 else ""
    return f"{instance}: block {group.name}{copies}"
