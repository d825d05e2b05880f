"""DOT and Mermaid text: labels escaped so that no name or label can break the syntax or inject statements."""

from __future__ import annotations

import pydot

from netspec.drawing.picture import Box, Cluster, Edge, Picture
from netspec.drawing.text import dot_string, dot_text, mermaid_string, mermaid_text

ODD = 'say "hi" \\N <b>&amp;</b> #1; end\n--> x'


def odd_picture() -> Picture:
    # names come from identifiers in a real spec; a Picture built by hand can hold anything, and still draws
    cluster = Cluster(0, ODD, None, 0)
    a = Box(0, ODD, "input", "input", ["(None, 4)"], None)
    b = Box(1, "b", "dense", "core", ["(None, 2)", "(None, 3)"], 10, clusters=(cluster,), output=True)
    c = Box(2, "c", "dense", "core", ["(None, 1)"], 3)
    return Picture(ODD, 13, [a, b, c], [Edge(a, b), Edge(b, c, "[1]")], [cluster])


def test_dot_strings_round_trip_through_pydot():
    (graph,) = pydot.graph_from_dot_data(dot_text(odd_picture()))
    nodes = {n.get_name(): n for n in graph.get_nodes()}
    assert nodes["n0"].get("label") == dot_string(f"{ODD}\ninput\n(None, 4)")
    (cluster,) = graph.get_subgraphs()
    assert cluster.get_name() == "cluster_0"
    assert [n.get_name() for n in cluster.get_nodes() if n.get_name() != "graph"] == ["n1"]
    (attributes,) = [n for n in cluster.get_nodes() if n.get_name() == "graph"]
    assert attributes.get("label") == dot_string(ODD)
    assert len(graph.get_edges()) == 2  # the `-->` and `end` in the text made no edge or statement


def test_dot_string_escapes_quotes_backslashes_and_newlines():
    assert dot_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_mermaid_labels_hold_no_syntax():
    text = mermaid_text(odd_picture())
    assert mermaid_string(ODD) == '"say #quot;hi#quot; \\N #lt;b#gt;#amp;amp;#lt;/b#gt; #35;1; end<br/>--#gt; x"'
    body = [line for line in text.splitlines() if not line.startswith(("---", "title:"))]
    # every quote that opens a label closes it on the same line, and no line but the real ones ends a subgraph
    assert all(line.count('"') % 2 == 0 for line in body)
    assert [line.strip() for line in body if line.strip() == "end"] == ["end"]
    assert '  n1 -->|"[1]"| n2' in text and "  class n1 output" in text
