"""Codegen stage: a resolved spec -> one standalone Python training script.

The model is printed from the same lowered form the Keras builder calls
(`netspec.build.lower_node` -> KerasCall), so script and builder cannot drift
apart. Every piece of Python here comes from `pycode`: spec values only as
literals or checked identifiers. The Jinja templates (package files in
netspec/templates) hold the fixed parts of the script; their environment
refuses to print anything that is not such generated code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from netspec.build import lower_node
from netspec.codegen import lowering
from netspec.codegen.pycode import (
    INDENT,
    Atom,
    Call,
    Namer,
    NotALiteral,
    Pair,
    Seq,
    call,
    is_identifier,
    keyword_arg,
    literal,
    name,
    statement,
    string_literal,
)
from netspec.errors import Diagnostic, SpecError, UsageError
from netspec.layers.base import KerasCall
from netspec.load import load_spec, shapes
from netspec.schema.data import Data

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TUNING_FILE = "tuning.json"
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

# Module-level names of the script besides the templates' own: variables in build_model() never shadow them.
IMPORTED_NAMES = {"keras", "np", "numpy", "tf", "tensorflow", "importlib"}
# Longest variable name: keeps `name = keras.layers.Class(` within a line, so ruff's layout stays simple.
MAX_VARIABLE = 40
STDLIB = ("argparse", "json", "os", "random", "subprocess", "sys")
# What each data kind reads, in the script's docstring.
KIND_WORDS = {
    "npz": ".npz arrays", "npy": "an .npy array", "csv": "a CSV table", "image_folder": "a folder of images",
    "text_folder": "a folder of texts", "digits": "scikit-learn's digits", "keras": "a keras.datasets data set",
    "synthetic": "synthetic",
}
LOADER_IMPORTS = {"csv": ("csv",), "digits": ("gzip", "importlib.util")}


class Code(str):
    """Python source written by this module; the only kind of value the templates print."""


def generate_script(spec, *, tuned_from: str | os.PathLike | None = None) -> str:
    """The standalone training script of `spec` (a path, YAML/JSON text, mapping or Spec).

    `tuned_from` is a run folder of `netspec train` whose tuning result
    (`tuning.json`) sets the script's precision, `jit_compile` and
    `steps_per_execution`. The same spec gives the same script byte for byte.
    """
    model = load_spec(spec)
    tuned = read_tuning(tuned_from) if tuned_from is not None else None
    context = _context(model, tuned, tuned_from)
    return _environment().get_template("train.py.j2").render(**context)


# ----- the template environment -----


def _finalize(value):
    import jinja2

    if isinstance(value, jinja2.Undefined):
        str(value)  # a missing variable: StrictUndefined raises UndefinedError here
    if isinstance(value, Code) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"a template printed {type(value).__name__} {value!r}; only generated Code may reach a script")


_ENV = None


def _environment():
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
        )
    return _ENV


def _lines(lines: list[str]) -> Code:
    return Code("\n".join(lines))


def _assign(target: str, expr, indent: int = 0) -> list[str]:
    return statement(expr, indent, f"{target} = ")


# ----- the context -----


def _context(spec, tuned: dict | None, tuned_from) -> dict:
    from netspec import __version__

    training = spec.training
    info = shapes(spec)
    kind = data_kind(spec)
    imports = sorted(set(STDLIB) | set(LOADER_IMPORTS.get(kind, ())))
    execution = _execution(training, tuned)
    spec_file, spec_hash = spec_identity(spec)
    return {
        "name": Code(_identifier(spec.name, "name")),
        "version": Code(__version__ if re.fullmatch(r"[\w.+-]+", __version__, re.ASCII) else "?"),
        "spec_file": Code(string_literal(spec_file) if spec_file else "(none: given as text or a mapping)"),
        "spec_hash": Code(spec_hash),
        "description": Code(string_literal(spec.description)) if spec.description else Code(""),
        "tuned_from": Code(string_literal(os.fspath(tuned_from))) if tuned is not None else Code(""),
        "script_name": Code("train.py"),
        "data_kind": Code(KIND_WORDS[kind]),
        "imports": [Code(module) for module in imports if all(is_identifier(p) for p in module.split("."))],
        "inputs_table": _lines(_assign("INPUTS", _inputs_table(spec))),
        "outputs_table": _lines(_assign("OUTPUTS", _outputs_table(spec, info))),
        "data_constants": _lines(_data_constants(spec, kind)),
        "jit_compile": Code(literal(execution["jit_compile"]).text),
        "steps_per_execution": Code(literal(execution["steps_per_execution"]).text),
        "loader_template": f"loader_{kind}.py.j2",
        "build_model_body": _lines(build_model_lines(spec, info)),
        "optimizer_body": _lines(_optimizer_lines(training)),
        "callbacks_body": _lines(_callback_lines(training)),
        "compile_body": _lines(_compile_lines(spec)),
        "arguments": _lines(_argument_lines(spec, execution)),
    }


def spec_identity(spec) -> tuple[str | None, str]:
    """The spec's file (as given) and a sha256: of the file's bytes, or of the data's canonical JSON."""
    source = spec.source
    file = getattr(source, "file", None)
    if file and file != "<string>":
        try:
            return file, hashlib.sha256(Path(file).read_bytes()).hexdigest()
        except OSError:
            pass
    data = source.data if source is not None else spec.model_dump(mode="json", exclude_unset=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return None, hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def script_names() -> set[str]:
    """Every module-level name the templates define or import (functions, constants, modules)."""
    names = set(IMPORTED_NAMES) | set(STDLIB)
    pattern = re.compile(r"^(?:def |class )?([A-Za-z_]\w*)(?:\(| =)|^import ([\w.]+)", re.MULTILINE)
    for template in TEMPLATES.glob("*.j2"):
        for match in pattern.finditer(template.read_text(encoding="utf-8")):
            names.add((match.group(1) or match.group(2)).split(".")[0])
    return names


def _identifier(value: str, what: str) -> str:
    if not is_identifier(value):
        raise SpecError([Diagnostic(f"`{what}` must be a Python identifier; received {value!r}", what)])
    return value


# ----- build_model() -----


def build_model_lines(spec, info) -> list[str]:
    """The body of build_model(): one statement a model input and a layer, then the Model."""
    graph = spec._graph
    namer = Namer(script_names(), max_length=MAX_VARIABLE)
    variable: dict[str, str] = {}
    lines: list[str] = []
    for spec_input in spec.inputs:
        variable[spec_input.name] = namer.name(spec_input.name)
        kwargs = {"shape": literal(tuple(spec_input.shape))}
        if spec_input.dtype != "float32":
            kwargs["dtype"] = literal(spec_input.dtype)
        if spec_input.sparse:
            kwargs["sparse"] = literal(True)
        kwargs["name"] = literal(spec_input.name)
        lines += _assign(variable[spec_input.name], call("keras.Input", **kwargs), 1)
    outputs_of = {layer.node.name: len(layer.outputs) for layer in info.layers}

    def tensor(ref) -> Atom:
        var = variable[ref.name]
        return Atom(f"{var}[{ref.index}]" if outputs_of.get(ref.name, 1) > 1 or ref.index else var)

    for node in graph.nodes:
        layer = keras_expr(lower_node(node, graph), f"layers[{node.index}]")
        args = _call_args(node.layer.call_convention, [tensor(ref) for ref in node.inputs])
        variable[node.name] = namer.name(node.name)
        lines += _assign(variable[node.name], Call(layer, args), 1)
    inputs = [Atom(variable[i.name]) for i in spec.inputs]
    outputs = [tensor(ref) for ref in graph.outputs]
    model = call(
        "keras.Model",
        inputs=inputs[0] if len(inputs) == 1 else Seq("[", "]", tuple(inputs)),
        outputs=outputs[0] if len(outputs) == 1 else Seq("[", "]", tuple(outputs)),
        name=literal(spec.name),
    )
    return lines + statement(model, 1, "return ")


def _call_args(convention: str, tensors: list) -> Seq:
    """How a layer is called on its inputs, as `netspec.build.call_layer` calls it."""
    if convention == "list":
        return Seq("(", ")", (Seq("[", "]", tuple(tensors)),))
    if convention == "attention" and len(tensors) == 1:  # one input attends to itself
        return Seq("(", ")", (tensors[0], tensors[0]))
    if convention in ("args", "attention"):
        return Seq("(", ")", tuple(tensors))
    return Seq("(", ")", tensors[:1])


def keras_expr(value, where: str = ""):
    """A lowered value as Python: KerasCalls as `keras.<module>.<Class>(...)`, the rest as literals."""
    if isinstance(value, Atom | Call | Seq):  # code this module wrote, e.g. os.path.join(out, ...)
        return value
    if isinstance(value, KerasCall):
        func = name(f"keras.{value.module}.{value.name}")
        return Call(func, Seq("(", ")", tuple(keyword_arg(k, keras_expr(v, where)) for k, v in value.kwargs)))
    if isinstance(value, list):
        return Seq("[", "]", tuple(keras_expr(v, where) for v in value))
    if isinstance(value, dict):
        return Seq("{", "}", tuple(Pair(literal(k), keras_expr(v, where)) for k, v in value.items()))
    try:
        return literal(value)
    except NotALiteral as exc:
        raise SpecError([Diagnostic(
            f"cannot write this value into a Python script: {exc}", where,
            hint="use a number, string, boolean, null, or a list of them")]) from None


# ----- training -----


def _optimizer_lines(training) -> list[str]:
    optimizer = training.optimizer
    default = keras_expr(lowering.lower_optimizer(optimizer), "training.optimizer")
    # The same call with the rate from the argument: `learning_rate=learning_rate` first.
    others = tuple(item for item in default.args.items if getattr(item, "name", None) != "learning_rate")
    with_rate = Call(default.func, Seq("(", ")", (keyword_arg("learning_rate", Atom("learning_rate")), *others)))
    if optimizer.learning_rate is None:
        first = statement(default, 2, "return ")
    else:
        rate = keras_expr(lowering.lower_learning_rate(optimizer.learning_rate), "training.optimizer.learning_rate")
        first = _assign("learning_rate", rate, 2)
    return [INDENT + "if learning_rate is None:", *first, *statement(with_rate, 1, "return ")]


def _callback_lines(training) -> list[str]:
    def in_run_folder(path: str):
        return call("os.path.join", Atom("out"), literal(path))

    calls = [
        keras_expr(lowering.lower_callback(callback, in_run_folder), f"training.callbacks[{i}]")
        for i, callback in enumerate(training.callbacks)
    ]
    return statement(Seq("[", "]", tuple(calls)), 1, "return ")


def _compile_lines(spec) -> list[str]:
    training = spec.training
    outputs = [ref.name for ref in spec._graph.outputs]
    compile_call = Call(
        name("model.compile"),
        Seq("(", ")", (
            keyword_arg("optimizer", call("make_optimizer", Atom("learning_rate"))),
            keyword_arg("loss", keras_expr(lowering.lower_loss(training.loss, outputs), "training.loss")),
            keyword_arg("metrics", keras_expr(lowering.lower_metrics(training.metrics, outputs), "training.metrics")),
            keyword_arg("jit_compile", Atom("jit_compile")),
            keyword_arg("steps_per_execution", Atom("steps_per_execution")),
        )),
    )
    return statement(compile_call, 1)


def _validation_split(spec) -> float:
    data = spec.data
    if data is not None and data.validation_split is not None:
        return data.validation_split
    return spec.training.validation_split


def _execution(training, tuned: dict | None) -> dict:
    """jit_compile, steps_per_execution, precision: a tuned run's, else the spec's explicit ones, else auto."""
    settings = {"jit_compile": "auto", "steps_per_execution": "auto", "precision": training.precision}
    # `training.execution`: auto, tuned (measured by each run: a script without --tuned-from keeps auto), or
    # explicit {jit_compile, steps_per_execution}.
    explicit = getattr(training, "execution", None)
    for key in ("jit_compile", "steps_per_execution"):
        value = explicit.get(key) if isinstance(explicit, dict) else getattr(explicit, key, None)
        if value is not None:
            settings[key] = value
    if tuned:
        settings.update(tuned)
    return settings


# ----- data -----


def data_kind(spec) -> str:
    """Which loader the script gets: npz, npy, csv, image_folder, text_folder, digits, keras or synthetic."""
    data = spec.data
    if data is None:
        return "npz"  # a spec without data trains on synthetic data, or on an .npz given with --data
    source = data.source
    if source == "synthetic":
        return "synthetic"
    if source.startswith("builtin:"):
        if source in ("builtin:digits", "builtin:digits_sequence"):
            return "digits"
        raise _data_error(spec, f"unknown built-in data set {source!r}",
                          "use `builtin:digits` or `builtin:digits_sequence`")
    if source.startswith("keras:"):
        if not is_identifier(source[len("keras:"):]):
            raise _data_error(spec, f"{source!r} is not a keras.datasets name", "write it as `keras:mnist`")
        return "keras"
    if data.format != "auto":
        return data.format
    suffix = Path(source).suffix.lower()
    if suffix in (".npz", ".npy", ".csv"):
        return suffix[1:]
    path = spec.source.base_dir / source if spec.source and spec.source.base_dir else Path(source)
    if path.is_dir() and any(p.suffix == ".txt" for p in path.rglob("*.txt")):
        return "text_folder"
    return "image_folder"


def _data_error(spec, message: str, hint: str) -> SpecError:
    if spec.source is not None:
        return SpecError([spec.source.diagnostic(("data", "source"), message, hint)])
    return SpecError([Diagnostic(message, "data.source", hint=hint)])


def _inputs_table(spec):
    """INPUTS: (name, shape, dtype) of each model input."""
    rows = tuple(
        Seq("(", ")", (literal(i.name), literal(tuple(i.shape)), literal(i.dtype)), tuple_=True) for i in spec.inputs)
    return Seq("[", "]", rows)


def _outputs_table(spec, info):
    """OUTPUTS: (name, shape, loss name) of each model output, as the runner's data module sees them."""
    by_name = info.by_name()
    rows = []
    for ref in spec._graph.outputs:
        if ref.name in by_name:
            shape = tuple(by_name[ref.name].outputs[ref.index])
        else:  # a model input used directly as an output
            shape = tuple(info.input_shapes[ref.name])
        loss = lowering.loss_name(spec.training.loss, ref.name)
        rows.append(Seq("(", ")", (literal(ref.name), literal(shape), literal(loss)), tuple_=True))
    return Seq("[", "]", tuple(rows))


def _data_constants(spec, kind: str) -> list[str]:
    data = spec.data or Data(source="synthetic")  # without `data:`, --data names the data
    lines = [
        *_assign("SOURCE", literal(data.source)),
        *_assign("VALIDATION_SOURCE", literal(data.validation)),
        *_assign("TEST_SOURCE", literal(getattr(data, "test", None))),
        *_assign("TEST_SPLIT", literal(data.test_split)),
        *_assign("VALIDATION_SPLIT", literal(_validation_split(spec))),
        *_assign("SHUFFLE", literal(data.shuffle)),
        *_assign("CACHE", literal(data.cache)),
        *_assign("SAMPLES", literal(data.samples)),
        *_assign("NUM_CLASSES", literal(data.num_classes)),
    ]
    if kind == "npz":
        keys = None if data.x is None else [data.x] if isinstance(data.x, str) else list(data.x)
        lines += _assign("X_KEYS", literal(keys))
        lines += _assign("Y_KEY", literal(data.y))
    elif kind == "csv":
        columns = [data.x] if isinstance(data.x, str) else data.x
        lines += _assign("X_COLUMNS", literal(columns))
        lines += _assign("Y_COLUMN", literal(data.y))
    elif kind == "image_folder":
        lines += _assign("IMAGE_SIZE", literal(tuple(data.image_size) if data.image_size else None))
    return lines


def _argument_lines(spec, execution: dict) -> list[str]:
    training, data = spec.training, spec.data
    name_literal = spec.name
    precision = execution["precision"] if execution["precision"] in PRECISIONS else training.precision
    arguments = [
        ("--epochs", {"type": Atom("int"), "default": literal(training.epochs),
                      "help": literal("passes over the training data (default: %(default)s)")}),
        ("--batch-size", {"type": Atom("int"), "default": literal(training.batch_size),
                          "help": literal("samples per gradient step (default: %(default)s)")}),
        ("--learning-rate", {"type": Atom("float"),
                             "help": literal("a constant rate instead of the spec's rate or schedule")}),
        ("--precision", {"choices": literal(list(PRECISIONS)), "default": literal(precision),
                         "help": literal("dtype policy; auto picks by device (default: %(default)s)")}),
        ("--data", {"default": literal(data.source if data else "synthetic"),
                    "help": literal("data of the spec's kind, or synthetic (default: %(default)s)")}),
        ("--out", {"default": literal(f"runs/{name_literal}"),
                   "help": literal("folder for the model, metrics, callbacks (default: %(default)s)")}),
        ("--seed", {"type": Atom("int"), "default": literal(training.seed),
                    "help": literal("seed of weights, shuffling, splits (default: the spec's, or random)")}),
    ]
    lines = []
    for flag, kwargs in arguments:
        lines += statement(call("parser.add_argument", literal(flag), **kwargs), 1)
    return lines


# ----- --tuned-from -----


def read_tuning(run_dir) -> dict:
    """The settings a tuned run chose (`RUN_DIR/tuning.json`): jit_compile, steps_per_execution, precision."""
    folder = Path(run_dir)
    path = folder / TUNING_FILE
    hint = "pass the run folder of `netspec train SPEC --execution tuned`, which writes it"
    if not folder.is_dir():
        raise UsageError(f"--tuned-from: {os.fspath(run_dir)!r} is not a folder; {hint}")
    if not path.is_file():
        raise UsageError(f"--tuned-from: {os.fspath(run_dir)!r} holds no tuning result (expected {path}); {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--tuned-from: cannot read {path} as JSON: {exc}") from None
    if isinstance(data, dict) and "jit_compile" not in data:
        data = next((data[k] for k in ("choice", "chosen", "best") if isinstance(data.get(k), dict)), data)
    if not isinstance(data, dict):
        raise UsageError(f"--tuned-from: {path} must hold a JSON object; received {type(data).__name__}")
    settings = {}
    jit, steps, precision = data.get("jit_compile"), data.get("steps_per_execution"), data.get("precision")
    if jit not in (True, False, "auto"):
        raise UsageError(f"--tuned-from: {path}: `jit_compile` must be true, false or \"auto\"; received {jit!r}")
    settings["jit_compile"] = jit
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UsageError(f"--tuned-from: {path}: `steps_per_execution` must be a positive integer; received {steps!r}")
    settings["steps_per_execution"] = steps
    if precision is not None:
        if precision not in PRECISIONS:
            raise UsageError(f"--tuned-from: {path}: `precision` must be one of {', '.join(PRECISIONS)}; "
                             f"received {precision!r}")
        settings["precision"] = precision
    return settings
