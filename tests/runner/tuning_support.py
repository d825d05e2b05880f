"""What the tuning tests share besides their fixtures (tests/runner/conftest.py)."""

NATIVE_BF16, CPU_IDS = [False, True], ["emulated-bf16", "native-bf16"]
