"""A layered (Sugiyama-style) layout of a picture, in pure Python: what draws SVG and PNG where Graphviz is absent.

Steps, as Graphviz's `dot` takes them, simplified:
1. ranks: each layer one rank below the lowest layer it reads (longest path); a model input sits just above
   the first layer that reads it;
2. long edges are cut into one segment a rank by dummy points, which belong to the block or stack the edge
   runs inside of (a shortcut of a residual block is drawn inside the block's frame);
3. order within each rank: barycentre sweeps down and up, keeping the members of a cluster next to each other
   and sibling clusters in one left-to-right order on every rank, and the order with the fewest crossings;
4. positions across the ranks: the shortest total edge run (long edges weighted to run straight) such that
   boxes keep apart and every cluster's frame holds its members and no one else, as a linear program (HiGHS,
   through SciPy, which scikit-learn brings); without it, the tightest packing that keeps them apart.

Coordinates are points (1/72 inch), y growing downwards. The layout works on two axes, `rank` (down the
ranks: y for TB, x for LR) and `order` (along a rank), and turns them into x and y at the end.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass, field

from netspec.drawing.picture import Box, Cluster, Picture

# Spacing, in points.
MARGIN = 14.0
BOX_GAP = 18.0  # between boxes on a rank
DUMMY_GAP = 9.0  # between an edge's dummy point and its neighbours
RANK_GAP = 26.0  # between ranks
CLUSTER_PAD = 9.0  # between a cluster's frame and what it holds
CLUSTER_GAP = 12.0  # between a frame and what lies outside it
PORT_STEP = 14.0  # between the points where two edges leave or enter a box
PORT_STEP_LABELLED = 24.0
SWEEPS = 12
EDGE_WEIGHTS = {(False, False): 1.0, (False, True): 2.0, (True, False): 2.0, (True, True): 8.0}  # by (dummy, dummy)


@dataclass
class EdgePath:
    """An edge's route: points from the source's side to the target's, and the axis it leaves and enters along."""

    label: str
    points: list[tuple[float, float]]
    vertical: bool  # TB: the route leaves and enters boxes vertically


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)  # id -> x0, y0, x1, y1
    clusters: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    edges: list[EdgePath] = field(default_factory=list)
    title_at: tuple[float, float] = (MARGIN, MARGIN)


@dataclass(eq=False)
class _Vertex:
    index: int
    rank: int
    size: float  # along the order axis
    depth: float  # along the rank axis
    path: tuple[Cluster, ...]  # clusters it lies in, outermost first
    box: Box | None = None  # None for a dummy point, or a filler that holds a cluster's place on a rank
    up: list[_Vertex] = field(default_factory=list)  # neighbours on the rank above (one entry per segment)
    down: list[_Vertex] = field(default_factory=list)
    order: float = 0.0
    x: float = 0.0  # along the order axis: the centre

    @property
    def dummy(self) -> bool:
        return self.box is None


def layout(picture: Picture, sizes: dict[int, tuple[float, float]], label_sizes: dict[int, tuple[float, float]],
           title_size: tuple[float, float], direction: str = "TB") -> Layout:
    """Place every box of `picture` (its `sizes`: id -> width, height), its clusters (labels of `label_sizes`)
    and its edges; `direction` TB puts the ranks top to bottom, LR left to right."""
    across = direction == "TB"  # the order axis is x
    vertices, chains = _vertices(picture, sizes, across)
    ranks = _ranks(vertices)
    _order(ranks)
    label_w = {c.id: label_sizes[c.id][0] for c in picture.clusters}
    label_h = max((h for _, h in label_sizes.values()), default=0.0)
    frames = _place(ranks, vertices, label_w if across else {}, label_h if not across else 0.0)
    rank_at, rank_frames = _rank_positions(ranks, picture.clusters, label_h if across else 0.0,
                                           {} if across else label_w)
    return _finish(vertices, chains, frames, rank_at, rank_frames, title_size, across)


# ----- 1 and 2: ranks and dummy points -----


def _vertices(picture: Picture, sizes, across: bool):
    boxes = picture.boxes
    rank = [0] * len(boxes)
    reads: dict[int, list[int]] = defaultdict(list)
    for edge in picture.edges:
        reads[edge.target.id].append(edge.source.id)
    for box in boxes:  # boxes are in a topological order
        rank[box.id] = max((rank[s] + 1 for s in reads[box.id]), default=0)
    readers: dict[int, list[int]] = defaultdict(list)
    for edge in picture.edges:
        readers[edge.source.id].append(edge.target.id)
    for box in boxes:
        if not reads[box.id] and readers[box.id]:
            rank[box.id] = min(rank[t] for t in readers[box.id]) - 1

    vertices: list[_Vertex] = []
    for box in boxes:
        w, h = sizes[box.id]
        vertices.append(_Vertex(box.id, rank[box.id], w if across else h, h if across else w, box.clusters, box))
    spans: dict[int, tuple[int, int]] = {}
    for v in vertices:
        for c in v.path:
            low, high = spans.get(c.id, (v.rank, v.rank))
            spans[c.id] = (min(low, v.rank), max(high, v.rank))

    def inside(path, r):
        """The longest part of `path` whose clusters all span rank r."""
        n = 0
        while n < len(path) and spans[path[n].id][0] <= r <= spans[path[n].id][1]:
            n += 1
        return path[:n]

    chains = []
    for edge in picture.edges:
        source, target = vertices[edge.source.id], vertices[edge.target.id]
        chain = [source]
        for r in range(source.rank + 1, target.rank):
            path = max(inside(target.path, r), inside(source.path, r), key=len)
            dummy = _Vertex(len(vertices), r, 0.0, 0.0, path)
            vertices.append(dummy)
            chain.append(dummy)
        chain.append(target)
        slots = (len(source.down), len(target.up))  # which of the source's and the target's segments this edge is
        for a, b in zip(chain, chain[1:]):
            a.down.append(b)
            b.up.append(a)
        chains.append((edge, chain, slots))

    # A cluster holds a place on every rank it spans, so that nothing else is drawn inside its frame.
    held = {(c.id, v.rank) for v in vertices for c in v.path}
    for cluster in sorted(_clusters_of(vertices), key=lambda c: -c.depth):
        low, high = spans[cluster.id]
        for r in range(low, high + 1):
            if (cluster.id, r) not in held:
                path = _path_of(cluster)
                vertices.append(_Vertex(len(vertices), r, 0.0, 0.0, path))  # a filler
                held.update((c.id, r) for c in path)
    return vertices, chains


def _clusters_of(vertices) -> list[Cluster]:
    found = {}
    for v in vertices:
        for c in v.path:
            found[c.id] = c
    return list(found.values())


def _path_of(cluster: Cluster) -> tuple[Cluster, ...]:
    path = []
    while cluster is not None:
        path.append(cluster)
        cluster = cluster.parent
    return tuple(reversed(path))


def _ranks(vertices) -> list[list[_Vertex]]:
    ranks: list[list[_Vertex]] = [[] for _ in range(max(v.rank for v in vertices) + 1)]
    for v in vertices:
        ranks[v.rank].append(v)
    # start from the spec's order: a box by its position, a dummy point or filler after the box it follows
    for row in ranks:
        for v in row:
            v.order = v.index if not v.dummy else (v.up[0].order + 0.5 if v.up else len(vertices))
        row.sort(key=lambda v: v.order)
    return ranks


# ----- 3: order within ranks -----


def _order(ranks: list[list[_Vertex]]) -> None:
    _renumber(ranks)
    _arrange_all(ranks, lambda v: v.order)
    best, best_crossings = [list(row) for row in ranks], _crossings(ranks)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        order = range(len(ranks)) if down else range(len(ranks) - 1, -1, -1)
        keys = _cluster_keys(ranks)
        key = _barycentre_up if down else _barycentre_down
        for r in order:
            ranks[r][:] = _arrange(ranks[r], key, keys, 0)
            for i, v in enumerate(ranks[r]):
                v.order = i
        crossings = _crossings(ranks)
        if crossings < best_crossings:
            best, best_crossings = [list(row) for row in ranks], crossings
        if best_crossings == 0:
            break
    for r, row in enumerate(best):
        ranks[r][:] = row
    _renumber(ranks)


def _barycentre_up(v: _Vertex) -> float:
    return sum(n.order for n in v.up) / len(v.up) if v.up else v.order


def _barycentre_down(v: _Vertex) -> float:
    return sum(n.order for n in v.down) / len(v.down) if v.down else v.order


def _renumber(ranks) -> None:
    for row in ranks:
        for i, v in enumerate(row):
            v.order = i


def _arrange_all(ranks, key) -> None:
    keys = _cluster_keys(ranks)
    for row in ranks:
        row[:] = _arrange(row, key, keys, 0)
    _renumber(ranks)


def _cluster_keys(ranks) -> dict[int, float]:
    """One left-to-right place for each cluster, the same on every rank: its members' mean relative position."""
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in ranks:
        for v in row:
            for c in v.path:
                entry = sums[c.id]
                entry[0] += v.order / max(len(row), 1)
                entry[1] += 1
    return {cid: total / count for cid, (total, count) in sums.items()}


def _arrange(vertices: list[_Vertex], key, cluster_keys: dict[int, float], depth: int) -> list[_Vertex]:
    """`vertices` sorted by `key`, every cluster's members together, sibling clusters in `cluster_keys` order."""
    items: list = []
    members: dict[int, list[_Vertex]] = {}
    for v in vertices:
        if len(v.path) > depth:
            cluster = v.path[depth]
            if cluster.id not in members:
                members[cluster.id] = []
                items.append(cluster)
            members[cluster.id].append(v)
        else:
            items.append(v)
    if len(items) > 1:
        keys = {}
        for item in items:
            if isinstance(item, _Vertex):
                keys[id(item)] = key(item)
            else:
                inner = members[item.id]
                keys[id(item)] = sum(key(v) for v in inner) / len(inner)
        items.sort(key=lambda item: keys[id(item)])
        slots = [i for i, item in enumerate(items) if not isinstance(item, _Vertex)]
        ordered = sorted((items[i] for i in slots), key=lambda c: cluster_keys[c.id])
        for i, cluster in zip(slots, ordered):
            items[i] = cluster
    out: list[_Vertex] = []
    for item in items:
        if isinstance(item, _Vertex):
            out.append(item)
        else:
            out.extend(_arrange(members[item.id], key, cluster_keys, depth + 1))
    return out


def _crossings(ranks) -> int:
    total = 0
    for row in ranks[:-1]:
        pairs = sorted((v.order, n.order) for v in row for n in v.down)
        seen: list[float] = []
        for _, target in pairs:
            total += len(seen) - bisect_right(seen, target)
            insort(seen, target)
    return total


# ----- 4: positions along the ranks -----


def _tokens(row: list[_Vertex]):
    """A rank as a sequence of boxes and cluster frame sides: ("v", vertex), ("L", cluster), ("R", cluster)."""
    out = []
    open_: list[Cluster] = []
    for v in row:
        common = 0
        while common < len(open_) and common < len(v.path) and open_[common] is v.path[common]:
            common += 1
        for cluster in reversed(open_[common:]):
            out.append(("R", cluster))
        for cluster in v.path[common:]:
            out.append(("L", cluster))
        open_ = list(v.path)
        out.append(("v", v))
    for cluster in reversed(open_):
        out.append(("R", cluster))
    return out


def _place(ranks, vertices, label_w: dict[int, float], label_h: float) -> dict[int, tuple[float, float]]:
    """Positions along the order axis (each vertex's `x`), and each cluster's frame (left, right) on that axis."""
    present = {c.id: c for c in _clusters_of(vertices)}
    columns = {("v", v.index): i for i, v in enumerate(vertices)}
    for cid in present:
        columns[("L", cid)] = len(columns)
        columns[("R", cid)] = len(columns)
    # difference constraints: (a, b, gap) means  position b - position a >= gap
    constraints: list[tuple[int, int, float]] = []

    def col(token):
        kind, item = token
        return columns[(kind, item.index if kind == "v" else item.id)]

    def half(token):
        return token[1].size / 2 if token[0] == "v" else 0.0

    for row in ranks:
        tokens = _tokens(row)
        for a, b in zip(tokens, tokens[1:]):
            gap = _gap(a, b, label_h)
            constraints.append((col(a), col(b), half(a) + half(b) + gap))
    for cid, width in label_w.items():
        if cid in present:
            constraints.append((columns[("L", cid)], columns[("R", cid)], width + 2 * CLUSTER_PAD))
    segments = [(v.index, n.index, _weight(v, n)) for v in vertices for n in v.down]
    position = _solve(len(columns), constraints, segments, [columns[("L", c)] for c in present],
                      [columns[("R", c)] for c in present])
    for v in vertices:
        v.x = position[columns[("v", v.index)]]
    return {cid: (position[columns[("L", cid)]], position[columns[("R", cid)]]) for cid in present}


def _weight(a: _Vertex, b: _Vertex) -> float:
    """How hard a segment pulls its ends into line: long edges most (they run straight), then a block's own
    chain of layers (which runs straight down its frame)."""
    weight = EDGE_WEIGHTS[(a.dummy, b.dummy)]
    return weight * 1.5 if not (a.dummy or b.dummy) and a.path and a.path == b.path else weight


def _gap(a, b, label_h: float) -> float:
    kinds = a[0] + b[0]
    if kinds == "vv":
        return DUMMY_GAP if (a[1].dummy or b[1].dummy) else BOX_GAP
    if kinds in ("Lv", "LL"):
        return CLUSTER_PAD + label_h  # in LR the frame's label sits on this side
    if kinds in ("vR", "RR"):
        return CLUSTER_PAD
    return CLUSTER_GAP  # "vL", "Rv", "RL": between a frame and what is outside it


def _solve(n: int, constraints, segments, lefts, rights) -> list[float]:
    """Minimise the weighted run of the segments (and, slightly, the frames' widths) under the constraints."""
    packed = _packed(n, constraints)
    try:
        import numpy as np
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError:  # pragma: no cover - scikit-learn brings SciPy
        return packed
    m = len(segments)
    rows, cols, values, bounds_ub = [], [], [], []
    row = 0
    for a, b, gap in constraints:  # x_a - x_b <= -gap
        rows += [row, row]
        cols += [a, b]
        values += [1.0, -1.0]
        bounds_ub.append(-gap)
        row += 1
    for k, (a, b, _) in enumerate(segments):  # |x_a - x_b| <= t_k, as two rows
        for sign in (1.0, -1.0):
            rows += [row, row, row]
            cols += [a, b, n + k]
            values += [sign, -sign, -1.0]
            bounds_ub.append(0.0)
            row += 1
    cost = np.zeros(n + m)
    for k, (_, _, weight) in enumerate(segments):
        cost[n + k] = weight
    for left, right in zip(lefts, rights):  # frames no wider than they must be
        cost[left] -= 0.01
        cost[right] += 0.01
    matrix = coo_matrix((values, (rows, cols)), shape=(row, n + m)).tocsr()
    result = linprog(cost, A_ub=matrix, b_ub=np.array(bounds_ub), bounds=[(0, None)] * (n + m), method="highs")
    if result.status != 0:
        return packed
    return [float(x) for x in result.x[:n]]


def _packed(n: int, constraints) -> list[float]:
    """The tightest positions that meet the constraints: longest paths over them (they form no cycle)."""
    after: dict[int, list[tuple[int, float]]] = defaultdict(list)
    count = [0] * n
    for a, b, gap in constraints:
        after[a].append((b, gap))
        count[b] += 1
    position = [0.0] * n
    ready = [i for i in range(n) if count[i] == 0]
    while ready:
        a = ready.pop()
        for b, gap in after[a]:
            position[b] = max(position[b], position[a] + gap)
            count[b] -= 1
            if count[b] == 0:
                ready.append(b)
    return position


# ----- the rank axis, and the result -----


def _rank_positions(ranks, clusters, label_h: float, label_w: dict[int, float]):
    """Where each rank's band starts and ends, and how far each cluster's frame reaches before and after its ranks.

    Frames that begin (or end) on the same rank are nested: each level needs its own padding, and in TB its
    label's height, between the ranks. In LR a frame is made long enough for its label (`label_w`)."""
    spans: dict[int, list[int]] = {}
    for row in ranks:
        for v in row:
            for c in v.path:
                spans.setdefault(c.id, [v.rank, v.rank])
                spans[c.id][0] = min(spans[c.id][0], v.rank)
                spans[c.id][1] = max(spans[c.id][1], v.rank)
    by_depth = sorted((c for c in clusters if c.id in spans), key=lambda c: -c.depth)
    opens: dict[int, int] = {}  # nested frames that begin with this cluster, itself included
    closes: dict[int, int] = {}
    for c in by_depth:
        opens.setdefault(c.id, 1)
        closes.setdefault(c.id, 1)
        parent = c.parent
        if parent is not None and parent.id in spans:
            if spans[parent.id][0] == spans[c.id][0]:
                opens[parent.id] = max(opens.get(parent.id, 1), opens[c.id] + 1)
            if spans[parent.id][1] == spans[c.id][1]:
                closes[parent.id] = max(closes.get(parent.id, 1), closes[c.id] + 1)
    before = [0.0] * len(ranks)  # room above rank r for the frames that begin there
    after = [0.0] * len(ranks)
    for cid, (low, high) in spans.items():
        before[low] = max(before[low], opens[cid] * (CLUSTER_PAD + label_h))
        after[high] = max(after[high], closes[cid] * CLUSTER_PAD)
    depth = [max((v.depth for v in row), default=0.0) for row in ranks]

    def starts():
        out, at = [], 0.0
        for r in range(len(ranks)):
            if r:
                at += RANK_GAP + after[r - 1] + before[r]
            out.append(at)
            at += depth[r]
        return out

    def frame(cid, start):
        low, high = spans[cid]
        return start[low] - opens[cid] * (CLUSTER_PAD + label_h), start[high] + depth[high] + closes[cid] * CLUSTER_PAD

    start = starts()
    for cid in sorted(label_w.keys() & spans.keys(), key=lambda c: spans[c][1]):  # room after a frame moves only later ranks
        top, bottom = frame(cid, start)
        short = label_w[cid] + 2 * CLUSTER_PAD - (bottom - top)
        if short > 0:
            after[spans[cid][1]] += short
            closes[cid] += short / CLUSTER_PAD
            start = starts()
    frames = {cid: frame(cid, start) for cid in spans}
    return [(s, s + d) for s, d in zip(start, depth)], frames


def _finish(vertices, chains, frames, rank_at, rank_frames, title_size, across: bool) -> Layout:
    # the extent on both axes, to shift everything inside the margins, under the title
    order_low = min([v.x - v.size / 2 for v in vertices] + [left for left, _ in frames.values()])
    order_high = max([v.x + v.size / 2 for v in vertices] + [right for _, right in frames.values()])
    rank_low = min([s for s, _ in rank_at] + [top for top, _ in rank_frames.values()])
    rank_high = max([e for _, e in rank_at] + [bottom for _, bottom in rank_frames.values()])
    title_w, title_h = title_size
    shift_x, shift_y = MARGIN, MARGIN + title_h + 8.0

    def point(order: float, rank: float) -> tuple[float, float]:
        if across:
            return order - order_low + shift_x, rank - rank_low + shift_y
        return rank - rank_low + shift_x, order - order_low + shift_y

    result = Layout(0.0, 0.0)
    for v in vertices:
        if v.box is None:
            continue
        centre = (rank_at[v.rank][0] + rank_at[v.rank][1]) / 2
        x0, y0 = point(v.x - v.size / 2, centre - v.depth / 2)
        x1, y1 = point(v.x + v.size / 2, centre + v.depth / 2)
        result.boxes[v.box.id] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    for cid, (left, right) in frames.items():
        top, bottom = rank_frames[cid]
        x0, y0 = point(left, top)
        x1, y1 = point(right, bottom)
        result.clusters[cid] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    labelled = {chain[0].index for edge, chain, _ in chains if edge.label}
    ports_out = _ports(vertices, "down", labelled)
    ports_in = _ports(vertices, "up", set())
    for edge, chain, (out_slot, in_slot) in chains:
        source, target = chain[0], chain[-1]
        centre = (rank_at[source.rank][0] + rank_at[source.rank][1]) / 2
        points = [point(source.x + ports_out[(source.index, out_slot)], centre + source.depth / 2)]
        for d in chain[1:-1]:
            top, bottom = rank_at[d.rank]
            points += [point(d.x, top), point(d.x, bottom)]
        centre = (rank_at[target.rank][0] + rank_at[target.rank][1]) / 2
        points.append(point(target.x + ports_in[(target.index, in_slot)], centre - target.depth / 2))
        result.edges.append(EdgePath(edge.label, points, across))

    width = (order_high - order_low if across else rank_high - rank_low) + 2 * MARGIN
    height = (rank_high - rank_low if across else order_high - order_low) + 2 * MARGIN + title_h + 8.0
    result.width = max(width, title_w + 2 * MARGIN)
    result.height = height
    return result


def _ports(vertices, side: str, labelled: set[int]) -> dict[tuple[int, int], float]:
    """Where each segment leaves (or enters) a box along its side, by (vertex, segment slot): spread out in the
    order of the segments' other ends, wider apart where the segments carry labels (`[1]`)."""
    ports: dict[tuple[int, int], float] = {}
    for v in vertices:
        if v.box is None:
            continue
        ends = getattr(v, side)
        ordered = sorted(range(len(ends)), key=lambda i: (ends[i].x, i))
        step = PORT_STEP_LABELLED if v.index in labelled else PORT_STEP
        spread = min(v.size * 0.8, step * (len(ends) - 1))
        for place, slot in enumerate(ordered):
            ports[(v.index, slot)] = 0.0 if len(ends) == 1 else -spread / 2 + spread * place / (len(ends) - 1)
    return ports
