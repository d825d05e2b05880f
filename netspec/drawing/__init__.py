"""`netspec draw`: a picture of a spec's layer graph, without TensorFlow.

picture.py says what is drawn (a box per input and layer with its type, name, output shape and parameter
count, an edge per connection, a frame per block copy or stack); text.py writes it as Graphviz DOT or Mermaid;
SVG, PNG and HTML come from Graphviz's `dot` over that same DOT text where `dot` is installed, else from the
built-in layered layout (layout.py) drawn with matplotlib (render.py); html.py wraps the SVG in a page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable
from pathlib import Path

from netspec import atomic
from netspec.drawing.picture import Picture, picture_of
from netspec.errors import DrawNote, NetspecError, UsageError

__all__ = ["DIRECTIONS", "FORMATS", "RENDERERS", "Picture", "draw", "graphviz", "picture_of", "picture_bytes", "save"]

FORMATS = ("svg", "png", "dot", "mmd", "html")
DIRECTIONS = ("TB", "LR")
RENDERERS = ("auto", "graphviz", "builtin")  # builtin: netspec's own layout, drawn with matplotlib
GRAPHVIZ_TIMEOUT_S = 120


def draw(spec, path: str | os.PathLike, *, direction: str = "TB", renderer: str = "auto",
         overrides: Iterable[str] = ()) -> Path:
    """Write a picture of `spec` (a path, text, mapping, Spec or Loaded) to `path`, in the format its suffix
    names: `.svg`, `.png`, `.html` (a page that shows the SVG), `.dot` (Graphviz) or `.mmd` (Mermaid).

    `direction`: TB (top to bottom) or LR (left to right). `renderer` (SVG, PNG, HTML): `auto` uses Graphviz's
    `dot` where it is installed and netspec's own layout drawn with matplotlib where it is not; `graphviz` or
    `builtin` insist on one. Raises UsageError for an unknown suffix, direction or renderer, and SpecError
    (with every located problem) for an invalid spec. Returns the path written.
    """
    format_of(path)  # a wrong suffix is refused before the spec is read
    direction = _direction(direction)
    _check_renderer(renderer)
    from netspec.load import load

    picture = picture_of(load(spec, overrides=overrides))
    return save(picture, path, direction=direction, renderer=renderer)


def save(picture: Picture, path: str | os.PathLike, *, direction: str = "TB", renderer: str = "auto") -> Path:
    """Write `picture` to `path` (atomically), in the format its suffix names."""
    data = picture_bytes(picture, format_of(path), direction=_direction(direction), renderer=renderer)
    try:
        atomic.write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write `{os.fspath(path)}`: {exc.strerror or exc}") from None
    return Path(path)


def picture_bytes(picture: Picture, fmt: str, *, direction: str = "TB", renderer: str = "auto") -> bytes:
    """`picture` as the bytes of a file of format `fmt` (one of FORMATS)."""
    from netspec.drawing.text import dot_text, mermaid_text, title

    _check_renderer(renderer)
    if fmt == "dot":
        return dot_text(picture, direction).encode()
    if fmt == "mmd":
        return mermaid_text(picture, direction).encode()
    image = "png" if fmt == "png" else "svg"
    data = None
    dot = graphviz() if renderer != "builtin" else None
    if renderer == "graphviz" and dot is None:
        raise UsageError("renderer `graphviz` needs Graphviz's `dot` program, which is not on PATH; install "
                         "Graphviz, or use renderer `auto` or `builtin` (netspec's own layout)")
    if dot is not None:
        data = _run_graphviz(dot, dot_text(picture, direction), image, insist=renderer == "graphviz")
    if data is None:
        from netspec.drawing.render import render

        data = render(picture, direction, image)
    if fmt == "html":
        from netspec.drawing.html import html_page

        return html_page(data.decode("utf-8"), title(picture)).encode()
    return data


def graphviz() -> str | None:
    """The path of Graphviz's `dot`, or None where it is not installed."""
    return shutil.which("dot")


def _run_graphviz(dot: str, text: str, image: str, *, insist: bool) -> bytes | None:
    """`dot -Tsvg` (or `-Tpng`) over the DOT text; on failure, an error if Graphviz was asked for by name,
    else a note and None (the built-in renderer draws instead)."""
    try:
        result = subprocess.run([dot, f"-T{image}"], input=text.encode(), capture_output=True,
                                timeout=GRAPHVIZ_TIMEOUT_S, check=False)
        problem = None if result.returncode == 0 and result.stdout else (
            result.stderr.decode("utf-8", "replace").strip() or f"exit status {result.returncode}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem is None:
        return result.stdout
    if insist:
        raise NetspecError(f"Graphviz's `dot` ({dot}) failed: {problem}")
    warnings.warn(f"Graphviz's `dot` ({dot}) failed, so netspec's own layout drew the picture: {problem}",
                  DrawNote, stacklevel=3)
    return None


def format_of(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(f"cannot draw into `{os.fspath(path)}`: the file name must end in "
                         f"{', '.join('.' + f for f in FORMATS[:-1])} or .{FORMATS[-1]}; received "
                         f"{'`.' + suffix + '`' if suffix else 'no suffix'}")
    return suffix


def _direction(direction: str) -> str:
    value = direction.upper() if isinstance(direction, str) else direction
    if value not in DIRECTIONS:
        raise UsageError(f"direction must be TB (top to bottom) or LR (left to right); received {direction!r}")
    return value


def _check_renderer(renderer: str) -> None:
    if renderer not in RENDERERS:
        raise UsageError(f"renderer must be one of {', '.join(RENDERERS)}; received {renderer!r}")
