"""A picture as one self-contained HTML page: the SVG inline, no scripts or styles from elsewhere (works offline)."""

from __future__ import annotations

import html
import re

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="netspec draw">
<title>{title}</title>
<style>
  body {{ margin: 0; font-family: "DejaVu Sans", Verdana, sans-serif; background: #ffffff; color: #222222; }}
  header {{ position: sticky; top: 0; padding: 6px 12px; background: #f4f6fa; border-bottom: 1px solid #d0d5e0;
            font-size: 14px; display: flex; gap: 12px; align-items: center; }}
  main {{ padding: 12px; overflow: auto; }}
  main.fit svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<header><strong>{title}</strong>
<button type="button" onclick="this.textContent = document.querySelector('main').classList.toggle('fit')
  ? 'Actual size' : 'Fit to window'">Actual size</button></header>
<main class="fit">
{svg}
</main>
</body>
</html>
"""

_PROLOGUE = re.compile(r"^.*?(?=<svg[\s>])", re.DOTALL)  # the XML declaration, DOCTYPE and comments before <svg>


def html_page(svg: str, title: str) -> str:
    return _PAGE.format(title=html.escape(title), svg=_PROLOGUE.sub("", svg, count=1).strip())
