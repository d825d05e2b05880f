"""A picture as text: Graphviz DOT (what `dot` lays out) and Mermaid (what GitHub renders in Markdown).

Nodes are named by number (`n0`, `n1`, ...; clusters `cluster_0` and `c0`), never by the layer's name, so a
name can never break the syntax; every label is escaped for its format.
"""

from __future__ import annotations

import json

from netspec.drawing.picture import BORDER, FAMILY_COLOURS, OUTPUT_BORDER, Picture, nested


def title(picture: Picture) -> str:
    return f"{picture.name} · {picture.total_params:,} params"


# ----- DOT -----


def dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes (DOT's own escapes, `\\l`, `\\N`) and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_text(picture: Picture, direction: str = "TB") -> str:
    out = [
        "// drawn by `netspec draw`",
        f"digraph {dot_string(picture.name)} {{",
        f"  graph [rankdir={direction}, label={dot_string(title(picture))}, labelloc=t, fontname=\"Helvetica\", "
        "fontsize=12, nodesep=0.3, ranksep=0.35];",
        f'  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="{BORDER}"];',
        '  edge [color="#444444", arrowsize=0.7, fontname="Helvetica", fontsize=9];',
    ]
    depth = 1
    for kind, item in nested(picture):
        pad = "  " * depth
        if kind == "open":
            out.append(f"{pad}subgraph cluster_{item.id} {{")
            out.append(f'{pad}  graph [label={dot_string(item.label)}, labeljust=l, style="rounded,dashed", '
                       'color="#888888", fontsize=10];')
            depth += 1
        elif kind == "close":
            depth -= 1
            out.append(f"{pad[:-2]}}}")
        else:
            style = f', color="{OUTPUT_BORDER}", penwidth=2' if item.output else ""
            out.append(f'{pad}n{item.id} [label={dot_string(chr(10).join(item.lines))}, fillcolor="{item.fill}"{style}];')
    for edge in picture.edges:
        label = f" [label={dot_string(edge.label)}]" if edge.label else ""
        out.append(f"  n{edge.source.id} -> n{edge.target.id}{label};")
    out.append("}")
    return "\n".join(out) + "\n"


# ----- Mermaid -----

_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}


def mermaid_string(text: str) -> str:
    """A Mermaid quoted label: its syntax characters as entity codes, lines joined by `<br/>`."""
    escaped = "".join(_MERMAID_ENTITIES.get(c, c) for c in text)
    return '"' + escaped.replace("\n", "<br/>") + '"'


def mermaid_text(picture: Picture, direction: str = "TB") -> str:
    # the front matter is YAML, where a JSON string is a string
    out = ["---", f"title: {json.dumps(title(picture), ensure_ascii=False)}", "---", f"flowchart {direction}",
           "  %% drawn by `netspec draw`"]
    depth = 1
    for kind, item in nested(picture):
        pad = "  " * depth
        if kind == "open":
            out.append(f"{pad}subgraph c{item.id}[{mermaid_string(item.label)}]")
            depth += 1
        elif kind == "close":
            depth -= 1
            out.append(f"{pad[:-2]}end")
        else:
            out.append(f"{pad}n{item.id}[{mermaid_string(chr(10).join(item.lines))}]:::f_{item.family}")
    for edge in picture.edges:
        label = f"|{mermaid_string(edge.label)}|" if edge.label else ""
        out.append(f"  n{edge.source.id} -->{label} n{edge.target.id}")
    for family in sorted({box.family for box in picture.boxes}):
        out.append(f"  classDef f_{family} fill:{FAMILY_COLOURS.get(family, '#ffffff')},stroke:{BORDER},color:#000")
    outputs = [f"n{box.id}" for box in picture.boxes if box.output]
    if outputs:
        out.append(f"  classDef output stroke:{OUTPUT_BORDER},stroke-width:3px")
        out.append(f"  class {','.join(outputs)} output")
    return "\n".join(out) + "\n"
