"""netspec: declarative network specs -> shapes, Keras models, training scripts, trained models.

`import netspec` is cheap: TensorFlow and Keras are imported only by the
functions that need them (build_model, train, ...).
"""

from __future__ import annotations

from netspec.errors import DataError, Diagnostic, NetspecError, ShapeError, SpecError, UsageError

__version__ = "0.1.0"

__all__ = [
    "DataError", "Diagnostic", "NetspecError", "ShapeError", "SpecError", "UsageError",
    "build_model", "generate_script", "json_schema", "load_model", "load_spec", "summarize", "train",
    "evaluate", "predict", "expand", "draw", "export", "import_model", "tune", "layer_type",
]

# Imported on first use, so that `import netspec.<stage>` loads that stage and
# what it depends on, nothing more (the schema never pulls in composition).
_LAZY = {
    "load_spec": ("netspec.load", "load_spec"),
    "summarize": ("netspec.summary", "summarize"),
    "build_model": ("netspec.build", "build_model"),
    "load_model": ("netspec.build", "load_model"),
    "generate_script": ("netspec.codegen", "generate_script"),
    "train": ("netspec.runner", "train"),
    "evaluate": ("netspec.runner", "evaluate"),
    "predict": ("netspec.runner", "predict"),
    "export": ("netspec.runner.export", "export"),
    "expand": ("netspec.load", "expand_spec"),
    "draw": ("netspec.drawing", "draw"),
    "json_schema": ("netspec.jsonschema", "json_schema"),
    "import_model": ("netspec.importer", "import_model"),
    "tune": ("netspec.search", "tune"),
    "layer_type": ("netspec.plugins", "layer_type"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'netspec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
