"""What native (C++) code writes to standard error, filtered: TensorFlow's and converters' start-up lines."""

from __future__ import annotations

import contextlib
import os
import re
import sys

# Matches every line: for blocks whose native output carries nothing the exception would not.
EVERYTHING = re.compile("")


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern):
    """Capture file descriptor 2 (what C++ code writes too) and pass on the lines that `noise` does not match."""
    import tempfile  # here: the CLI imports this module on every start, and tempfile is not free

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not noise.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
