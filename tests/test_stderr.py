"""netspec.stderr: native (C++) lines on file descriptor 2, filtered."""

from __future__ import annotations

import os
import re
import sys

from netspec.stderr import EVERYTHING, native_stderr_filtered


def test_the_filter_drops_the_noise_and_passes_the_rest(capfd):
    with native_stderr_filtered(re.compile(r"^noise")):
        os.write(2, b"noise: a C++ probe\nkept: a real warning\n")  # below Python, as C++ code writes
        print("kept: from Python", file=sys.stderr)
    err = capfd.readouterr().err  # (pytest's sys.stderr is not file descriptor 2, so the order may differ)
    assert sorted(err.splitlines()) == ["kept: a real warning", "kept: from Python"]


def test_everything_drops_every_line(capfd):
    with native_stderr_filtered(EVERYTHING):
        os.write(2, b"a converter's log line\nanother\n")
    assert capfd.readouterr().err == ""
