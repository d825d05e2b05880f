"""The layer registry (netspec/layers/__init__.py): every type, each found in its family, families imported on use.

The import checks run in a fresh interpreter, since this test process has long
imported every family.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest
from conftest import ROOT

from netspec.layers import LAYER_TYPES, AnyLayer, _Registry


def _run(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _families_loaded(before: str) -> str:
    return (f"import json, sys\n{before}\n"
            "print(json.dumps(sorted(m.rsplit('.', 1)[1] for m in sys.modules\n"
            "                        if m.startswith('netspec.layers.') and m != 'netspec.layers.base')))\n")


def test_the_source_text_places_every_type_in_the_family_that_defines_it():
    # The hint read from the family files must agree with the classes: a type it missed would load every family.
    # (The text may name more tags than the registry holds: an rnn's cells are tagged models, not layer types.)
    where = _Registry()._where()
    defined = {tag: cls.__module__.rsplit(".", 1)[1] for tag, cls in LAYER_TYPES.items()}
    assert {tag: where.get(tag) for tag in defined} == defined, \
        "write each layer type's tag as `type: Literal[\"tag\"]` on one line (netspec/layers/__init__.py reads it)"


def test_the_registry_holds_every_type_in_tag_order():
    assert list(LAYER_TYPES) == sorted(LAYER_TYPES) and len(LAYER_TYPES) == len(dict(LAYER_TYPES.items()))
    assert all(typing.get_args(cls.model_fields["type"].annotation) == (tag,) for tag, cls in LAYER_TYPES.items())
    union = typing.get_args(typing.get_args(AnyLayer)[0])
    assert set(union) == set(LAYER_TYPES.values())


def test_looking_up_a_type_imports_its_family_only():
    loaded = _run(_families_loaded("from netspec.layers import LAYER_TYPES\nLAYER_TYPES['lstm'], LAYER_TYPES['dense']"))
    assert loaded == ["core", "recurrent"]


def test_a_spec_imports_the_families_of_its_types_only():
    loaded = _run(_families_loaded("import netspec\nnetspec.load_spec('specs/mnist_convnet.yaml')"))
    assert loaded == ["conv", "core", "pooling", "reshaping"]


def test_threads_looking_up_their_first_types_at_once_all_find_them():
    code = (
        "import json, threading\n"
        "from netspec.layers import LAYER_TYPES\n"
        "tags = ['dense', 'conv2d', 'lstm', 'add', 'flatten', 'bidirectional', 'lstn'] * 4\n"
        "found = {}\n"
        "def look(i, tag):\n"
        "    found[i] = getattr(LAYER_TYPES.get(tag), '__name__', None)\n"
        "threads = [threading.Thread(target=look, args=item) for item in enumerate(tags)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(json.dumps(sorted(set(found.values()), key=str)))\n")
    assert _run(code) == ["Add", "Bidirectional", "Conv2D", "Dense", "Flatten", "LSTM", None]


def test_an_unknown_type_is_looked_for_in_every_family():
    registry = _Registry()
    with pytest.raises(KeyError):
        registry["lstn"]
    assert registry._complete and set(registry) == set(LAYER_TYPES)
    assert registry.get("conv_2d") is None and "dense" in registry


def test_the_modules_that_define_models_do_not_postpone_annotations():
    # pydantic evaluates string annotations again for every subclass: a fifth of importing a family (SpecModel).
    import importlib

    from netspec.layers import _families

    names = [f"netspec.layers.{f}" for f in ("base", *_families())]
    names += ["netspec.schema.spec", "netspec.schema.training", "netspec.schema.data", "netspec.compose.stacks"]
    postponed = [name for name in names if hasattr(importlib.import_module(name), "annotations")]
    assert postponed == [], "remove `from __future__ import annotations` from these (netspec.layers.base.SpecModel)"
