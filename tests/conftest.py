import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pathlib  # noqa: E402

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def spec_files():
    return sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json"))


@pytest.fixture(autouse=True)
def _own_tuning_cache(tmp_path_factory, monkeypatch):
    """Execution `auto` reads the tuning cache: no test reads the one of the user running the tests."""
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "netspec-cache"))


@pytest.fixture
def native_bf16(request, monkeypatch):
    """The CPU's bfloat16 as tuning sees it: emulated, unless a test parametrizes this fixture (indirect)."""
    from netspec.runner import tuning

    native = getattr(request, "param", False)
    monkeypatch.setattr(tuning, "cpu_bfloat16", lambda: "avx512" if native else "")  # AVX512-BF16, without AMX
    return native


@pytest.fixture
def tuning_cache(tmp_path, monkeypatch):
    """A tuning cache of the test's own."""
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
