"""The expanded spec as YAML text: top-level keys in the order of the format, one layer a line."""

from __future__ import annotations

import yaml

from netspec.compose.variables import escape

ORDER = ("netspec", "name", "description", "plugins", "inputs", "layers", "outputs", "training", "data")


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # indent lists under their key, as the specs do


# Strings that could be re-read as something else (`${x}`, `$$`) are written escaped.
_Dumper.add_representer(str, lambda dumper, text: yaml.SafeDumper.represent_str(dumper, escape(text)))


def ordered(data: dict) -> dict:
    keys = [k for k in ORDER if k in data] + [k for k in data if k not in ORDER]
    return {k: data[k] for k in keys}


def dump(data: dict, origin: str | None = None, *, header: list[str] | None = None) -> str:
    """`data` as spec YAML; `header`: comment lines to open it with (default: that `netspec expand` wrote it)."""
    if header is None:
        header = [f"Expanded by `netspec expand` from {origin}." if origin else "Expanded by `netspec expand`."]
    lines = [f"# {line}" for line in header]
    for key, value in ordered(data).items():
        if key == "layers" and isinstance(value, list):
            lines.append("layers:")
            lines.extend(f"  - {_flow(layer)}" for layer in value)
        elif isinstance(value, dict | list) and value:
            lines.append(yaml.dump({key: value}, Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                                   allow_unicode=True, width=100).rstrip())
        else:
            lines.append(f"{_flow(key)}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=True, allow_unicode=True,
                     width=float("inf"))
    return text.removesuffix("\n...\n").rstrip("\n")
