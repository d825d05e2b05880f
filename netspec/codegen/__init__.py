"""Standalone training scripts: `netspec generate SPEC -o train.py`.

`generate_script(spec)` renders, from the Jinja templates in netspec/templates,
one Python file that needs only the standard library, NumPy and Keras (never
netspec): `build_model()`, `load_data(...)` and a `main()` with a command line.
Importing this package never imports TensorFlow or Keras.
"""

from netspec.codegen.script import generate_script, read_tuning

__all__ = ["generate_script", "read_tuning"]
