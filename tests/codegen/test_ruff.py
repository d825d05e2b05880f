"""Generated scripts pass `ruff check` and `ruff format --check` with ruff's default settings."""

from __future__ import annotations

import pytest
from codegen_support import GOLDEN, MNIST_DATA_KINDS, all_specs, ruff, spec_id

import netspec


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """Every spec's script, and the mnist spec with each kind of data source (each gets its own reader)."""
    folder = tmp_path_factory.mktemp("ruff")
    for path in all_specs():
        (folder / f"{spec_id(path).replace('/', '__')}.py").write_text(netspec.generate_script(path), encoding="utf-8")
    for kind, spec in MNIST_DATA_KINDS.items():
        (folder / f"kind_{kind}.py").write_text(netspec.generate_script(spec), encoding="utf-8")
    return folder


def test_ruff_check_default_rules(scripts):
    done = ruff("check", "--no-cache", str(scripts))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_ruff_format_leaves_them_unchanged(scripts):
    done = ruff("format", "--no-cache", "--check", "--diff", str(scripts))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_golden_files_pass_ruff_too():
    assert ruff("check", "--no-cache", str(GOLDEN)).returncode == 0
    assert ruff("format", "--no-cache", "--check", str(GOLDEN)).returncode == 0
