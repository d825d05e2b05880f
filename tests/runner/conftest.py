"""Fixtures of the runner's tests that use them by name (the tuning tests mark their modules with them)."""

from __future__ import annotations

import pytest

from netspec.runner import tuning


@pytest.fixture
def native_bf16(request, monkeypatch):
    """The CPU's bfloat16 as tuning sees it: emulated, unless a test parametrizes this fixture (indirect)."""
    native = getattr(request, "param", False)
    monkeypatch.setattr(tuning, "native_bfloat16", lambda: native)
    return native


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
