"""Codegen stage: a resolved spec -> one standalone Python training script.

The script prints the spec's `Program` (netspec/lowering.py), the same lowered
calls that `netspec train` instantiates: the model from `lower_node` ->
KerasCall, the optimizer, losses, metrics and callbacks as KerasCalls, and
the data as calls of the functions in netspec/runtime.py, whose source is
copied into the script. So the script and the runner cannot drift apart.
Every piece of Python here comes from `pycode`: spec values only as literals
or checked identifiers. The Jinja template (netspec/templates/train.py.j2)
holds the fixed parts; its environment refuses to print anything that is not
such generated code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
from pathlib import Path

from netspec import atomic, lowering
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
from netspec.errors import SpecError, UsageError
from netspec.layers.base import KerasCall
from netspec.load import Loaded, loaded
from netspec.lowering import TUNING_FILE, Ref, RunPath, RuntimeCall, lower_node
from netspec.plugins import PluginCall, plugin_modules
from netspec.schema import dump_spec
from netspec.schema.data import Data
from netspec.schema.training import PRECISIONS
from netspec.source import diagnostic_at

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RUNTIME = Path(__file__).resolve().parent.parent / "runtime.py"

# Module-level names of the script besides its functions and constants: variables in build_model() never
# shadow them.
IMPORTED_NAMES = {"argparse", "json", "os", "sys", "tempfile", "keras", "np", "numpy", "tf", "tensorflow"}
# Longest variable name: keeps `name = keras.layers.Class(` within a line, so ruff's layout stays simple.
MAX_VARIABLE = 40
# What each data kind reads, in the script's docstring.
KIND_WORDS = {
    "npz": ".npz arrays", "npy": "an .npy array", "csv": "a CSV table", "image_folder": "a folder of images",
    "text_folder": "a folder of texts", "digits": "scikit-learn's digits", "keras": "a keras.datasets data set",
    "synthetic": "synthetic data",
}
# Kinds of data that are files: the script takes `--data PATH`, and its default is beside the script.
FILE_KINDS = ("npz", "npy", "csv", "image_folder", "text_folder")
# The runtime functions every script runs (the data's readers, and how their parts are fed, come first).
RUNTIME_FUNCTIONS = ("split", "gpu_capability", "choose_settings", "cluster", "distribute", "batches")


class Code(str):
    """Python source written by this module; the only kind of value the templates print."""


def generate_script(spec, *, tuned_from: str | os.PathLike | None = None,
                    script_dir: str | os.PathLike | None = None) -> str:
    """The standalone training script of `spec` (a path, YAML/JSON text, mapping or Spec).

    `tuned_from` is a run folder of `netspec train` whose tuning result
    (`tuning.json`) sets the script's precision, `jit_compile` and
    `steps_per_execution`. `script_dir` is the folder the script will be
    written to: the spec's data paths are written relative to it (default:
    relative to the spec's folder), and the script reads them from its own
    folder. The same spec gives the same script byte for byte.
    """
    result = loaded(spec)
    tuned = read_tuning(tuned_from) if tuned_from is not None else None
    context = _context(result, tuned, tuned_from, script_dir)
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
            bytecode_cache=_bytecode_cache(),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
        )
    return _ENV


def _bytecode_cache():
    """Jinja's cache of compiled templates (keyed by the template's source, so an edited template compiles
    anew), in netspec's cache folder: compiling the script template costs more than the rest of `generate`.
    None where that folder cannot be written: every run compiles then."""
    import jinja2

    folder = atomic.cache_dir("templates")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder)) if os.access(folder, os.W_OK) else None


def _lines(lines: list[str]) -> Code:
    return Code("\n".join(lines))


def _assign(target: str, expr, indent: int = 0) -> list[str]:
    return statement(expr, indent, f"{target} = ")


# ----- the context -----


def _context(result: Loaded, tuned: dict | None, tuned_from, script_dir) -> dict:
    from netspec import __version__

    spec, source, info = result.spec, result.source, result.shapes
    options = spec.data or Data(source="data.npz")  # without `data:`, --data names an .npz file
    kind = data_kind(spec, source)
    sources = {"source": Ref("source"), "test": Ref("TEST_DATA"), "validation": Ref("VALIDATION_DATA")}
    program = lowering.lower_program(result, data_source=sources["source"], data_kind=kind, test=sources["test"],
                                     validation=sources["validation"], tuned=tuned)
    inputs, outputs = program.inputs, program.outputs
    plan = program.data or lowering.lower_data(result, options, inputs, outputs, source=sources["source"], kind=kind)
    spec_file, spec_hash = spec_identity(spec, source)
    readers = [c.function for c in (plan.reader, plan.test, plan.validation) if c is not None]
    streamed = plan.read is not None  # a folder: listed by load_data, read a batch at a time (runtime.stream)
    runtime_functions = [*readers, plan.read.function, "stream"] if streamed else readers
    if program.class_weight == "auto":
        runtime_functions.append("balanced_class_weight")
    if program.adapt:
        runtime_functions.append("adapt")
    if not streamed:  # arrays, conformed as they are read
        runtime_functions.append("conform")
    return {
        "name": Code(_identifier(spec.name, "name")),
        "version": Code(__version__ if re.fullmatch(r"[\w.+-]+", __version__, re.ASCII) else "?"),
        "spec_file": Code(string_literal(spec_file) if spec_file else "a spec given as text or a mapping"),
        "spec_hash": Code(spec_hash),
        "description": Code(string_literal(spec.description)) if spec.description else Code(""),
        "tuned_from": Code(string_literal(os.fspath(tuned_from))) if tuned is not None else Code(""),
        "data_words": Code(KIND_WORDS[kind]),
        "plugin_imports": _lines(_plugin_imports(result.graph)),
        "constants": _lines(_constants(spec, source, program, plan, options, kind, script_dir)),
        "build_model_body": _lines(build_model_lines(spec, info)),
        "load_data_body": _lines(_load_data_lines(plan)),
        "parts": Code("(file paths, class ids)" if streamed else "(features, labels)"),
        "runtime_functions": Code("\n\n\n".join(runtime_source(f) for f in (*dict.fromkeys(runtime_functions),
                                                                            *RUNTIME_FUNCTIONS))),
        "read": _lines(_assign("read", keras_expr(plan.read, "data"), 1) if streamed else []),
        "shuffle_seed": Code(", seed" if plan.shuffle else ""),
        "arguments": _lines(_argument_lines(spec, program, kind)),
        "data_argument": Code("args.data, seed" if kind in FILE_KINDS else "seed"),
        "load_data_parameters": Code("source, seed" if kind in FILE_KINDS else "seed"),
        "compile_body": _lines(_compile_lines(program)),
        "fit_extra": Code("".join("\n" + line for line in _fit_extra_lines(program, plan))),
        "shuffle": Code(repr(bool(plan.shuffle))),
        "class_weight_auto": program.class_weight == "auto",
        "adapt": _lines(_adapt_lines(program, streamed)),
    }


def _adapt_lines(program, streamed: bool) -> list[str]:
    """Adapting the layers that learn from the training features (runtime.adapt), before fitting: a folder's
    are read a batch at a time, as training reads them."""
    if not program.adapt:
        return []
    lines = ["    # Layers that learn from the training features: vocabularies, bins, statistics."]
    features = Atom("train[0]")
    if streamed:
        lines += _assign("features", call("stream", Atom("train"), Atom("read"), Atom("INPUTS"), Atom("LABELS"),
                                          Atom("args.batch_size")), 1)
        features = Atom("features.map(lambda x, y: x)")
    return lines + statement(call("adapt", Atom("model"), features, literal(list(program.adapt))), 1)


@functools.cache
def _runtime_functions() -> dict[str, str]:
    """The source of each function of netspec/runtime.py, read as text: generating never imports Keras."""
    text = RUNTIME.read_text(encoding="utf-8")
    lines = text.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno])
            for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}


def runtime_source(function: str) -> str:
    return _runtime_functions()[function]


def spec_identity(spec, source) -> tuple[str | None, str]:
    """The spec's file (as given) and a sha256: of the file's bytes, or of the data's canonical JSON
    (`source`: where the spec was written, or None for a Spec built in Python)."""
    file = getattr(source, "file", None)
    if file and file != "<string>":
        try:
            return file, hashlib.sha256(Path(file).read_bytes()).hexdigest()
        except OSError:
            pass
    data = source.data if source is not None else dump_spec(spec, mode="json", exclude_unset=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return None, hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@functools.cache
def script_names() -> frozenset[str]:
    """Every module-level name of a script: its imports, functions (the template's and runtime's), constants."""
    names = set(IMPORTED_NAMES) | set(_runtime_functions()) | set(CONSTANTS)
    pattern = re.compile(r"^(?:def |class )?([A-Za-z_]\w*)(?:\(| =)|^import ([\w.]+)", re.MULTILINE)
    for template in TEMPLATES.glob("*.j2"):
        for match in pattern.finditer(template.read_text(encoding="utf-8")):
            names.add((match.group(1) or match.group(2)).split(".")[0])
    return frozenset(names)


def _identifier(value: str, what: str) -> str:
    if not is_identifier(value):
        raise SpecError([diagnostic_at(None, (what,), f"`{what}` must be a Python identifier; received {value!r}")])
    return value


# ----- build_model() -----


def build_model_lines(spec, info) -> list[str]:
    """The body of build_model(): one statement a model input and a layer, then the Model."""
    graph = info.graph
    namer = Namer(script_names() | {m.split(".")[0] for m in used_plugins(graph)}, max_length=MAX_VARIABLE)
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


def used_plugins(graph) -> list[str]:
    """The plugin modules whose classes the model's layers are (the script imports them)."""
    return plugin_modules(lower_node(node, graph) for node in graph.nodes)


def _plugin_imports(graph) -> list[str]:
    """`import my_package.layers` for each plugin module the model uses; a module whose top-level name is
    one the script has already (`json`, `keras`, `split`) is refused: the import would shadow it."""
    lines = []
    taken = script_names()
    for module in sorted(used_plugins(graph)):  # as isort orders them
        if module.split(".")[0] in taken:
            raise SpecError([diagnostic_at(None, ("plugins",), f"plugin `{module}` cannot be imported by a "
                                           f"generated script: `{module.split('.')[0]}` is a name the script uses",
                                           "put the plugin in a package of another name")])
        lines.append(f"import {name(module).text}")
    return lines


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
    if isinstance(value, Atom | Call | Seq):  # code this module wrote
        return value
    if isinstance(value, Ref):  # a name of the script
        return Atom(value.name)
    if isinstance(value, RunPath):  # a file of the run: in the folder --out
        return call("os.path.join", Atom("args.out"), literal(value.path))
    if isinstance(value, RuntimeCall):
        return Call(name(value.function), Seq("(", ")", tuple(keras_expr(v, where) for v in value.args)))
    if isinstance(value, PluginCall):  # a class of a plugin's module, which the script imports
        func = name(f"{value.module}.{value.name}")
        return Call(func, Seq("(", ")", tuple(keyword_arg(k, keras_expr(v, where)) for k, v in value.kwargs)))
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
        raise SpecError([diagnostic_at(None, (where,), f"cannot write this value into a Python script: {exc}",
                                       "use a number, string, boolean, null, or a list of them")]) from None


# ----- training and data -----

# Module-level constants a script may define (see `_constants`).
CONSTANTS = ("INPUTS", "LABELS", "OUTPUTS", "DATA", "TEST_DATA", "VALIDATION_DATA", "JIT_COMPILE",
             "STEPS_PER_EXECUTION", "STEP_FLOPS", "DEVICES")


def _constants(spec, source, program, plan, options, kind: str, script_dir) -> list[str]:
    lines = ["# Each model input's features and output's labels: {name: (shape, dtype)}."]
    lines += _assign("INPUTS", literal({p.name: p.features for p in program.inputs}))
    lines += _assign("LABELS", literal({p.name: p.labels for p in program.outputs}))
    if kind == "synthetic":
        lines += ["# The outputs, and the kind of labels their losses take (for synthetic data)."]
        lines += _assign("OUTPUTS", literal({p.name: (p.shape, p.label_kind) for p in program.outputs}))
    if spec.data is not None and kind in FILE_KINDS:
        lines += _assign("DATA", _data_path(source, spec.data.source, kind, script_dir))
    for constant, given in (("TEST_DATA", options.test), ("VALIDATION_DATA", options.validation)):
        if given is not None:
            lines += _assign(constant, _data_path(source, given, kind, script_dir))
    lines += ["# XLA, and training steps per call: \"auto\" decides on the machine that runs this."]
    lines += _assign("JIT_COMPILE", literal(program.jit_compile))
    lines += _assign("STEPS_PER_EXECUTION", literal(program.steps_per_execution))
    lines += _assign("STEP_FLOPS", Atom(_scientific(program.step_flops)))
    lines[-1] += "  # of one training step"
    lines += _assign("DEVICES", literal(program.devices))
    lines[-1] += "  # for data parallelism; None: every one"
    return lines


def _scientific(value: float) -> str:
    """A float to three digits as ruff writes it: 1.77e8."""
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    return f"{mantissa.rstrip('0').rstrip('.') or '0'}e{int(exponent)}"


def _data_path(source, given: str, kind: str, script_dir):
    """A data source as the script names it: a file path relative to the script's own folder
    (`source`: where the spec was written, whose folder the spec's paths are relative to)."""
    if kind not in FILE_KINDS or os.path.isabs(given):
        return literal(given)
    relative = given  # as the spec writes it: relative to the spec's folder, where the script is by default
    if script_dir is not None:
        base = source.base_dir if source is not None and source.base_dir else Path.cwd()
        relative = Path(os.path.relpath(Path(base) / given, script_dir)).as_posix()
    here = call("os.path.dirname", call("os.path.abspath", Atom("__file__")))
    return call("os.path.join", here, literal(relative))


def _load_data_lines(plan) -> list[str]:
    def read(reader):
        if plan.read is not None:  # a folder's files, listed: `stream` reads them as training takes them
            return keras_expr(reader, "data")
        return call("conform", keras_expr(reader, "data"), Atom("INPUTS"), Atom("LABELS"))

    if plan.kind == "keras":  # the data set ships its own test part
        lines = _assign("train, test", keras_expr(plan.reader, "data"), 1)
        lines += [INDENT + "data, test = conform(train, INPUTS, LABELS), conform(test, INPUTS, LABELS)"]
        parts = {"test": Atom("test")}
    else:
        lines, parts = [], {}
    for part in ("test", "validation"):
        reader = getattr(plan, part)
        if reader is not None:
            lines += _assign(part, read(reader), 1)
            parts[part] = Atom(part)
    if plan.kind != "keras":
        lines += _assign("data", read(plan.reader), 1)
    shares = {"test_split": literal(plan.test_split), "validation_split": literal(plan.validation_split)}
    return lines + statement(call("split", Atom("data"), Atom("seed"), **shares, **parts), 1, "return ")


def _argument_lines(spec, program, kind: str) -> list[str]:
    training = spec.training
    rate = program.optimizer.kwargs_dict["learning_rate"]
    arguments = [
        ("--epochs", {"type": Atom("int"), "default": literal(training.epochs), "help": literal("passes")}),
        ("--batch-size", {"type": Atom("int"), "default": literal(training.batch_size),
                          "help": literal("samples a step")}),
        ("--learning-rate", {"type": Atom("float"), "default": literal(rate if isinstance(rate, float) else None),
                             "help": literal("rate" if isinstance(rate, float) else "rate, not the schedule")}),
        ("--precision", {"default": literal(program.precision), "help": literal("dtype policy, or auto")}),
    ]
    if kind in FILE_KINDS:
        given = {"required": literal(True)} if spec.data is None else {"default": Atom("DATA")}
        arguments.append(("--data", {**given, "help": literal(KIND_WORDS[kind])}))
    arguments += [
        ("--out", {"default": literal(f"runs/{spec.name}"), "help": literal("output folder")}),
        ("--seed", {"type": Atom("int"), "default": literal(training.seed), "help": literal("None: random")}),
    ]
    lines = []
    for flag, kwargs in arguments:
        lines += statement(call("parser.add_argument", literal(flag), **kwargs), 1)
    return lines


def _fit_extra_lines(program, plan) -> list[str]:
    """model.fit's arguments beyond the template's: shuffle where it is off (a folder's part: no seed for
    `stream`), the class weights."""
    lines = [] if plan.shuffle or plan.read is not None else [INDENT * 2 + "shuffle=False,"]
    if program.class_weight == "auto":
        lines.append(INDENT * 2 + "class_weight=class_weight,")
    elif program.class_weight is not None:
        lines += statement(literal(program.class_weight), 2, "class_weight=", ",")
    return lines


def _compile_lines(program) -> list[str]:
    optimizer = program.optimizer
    rate = optimizer.kwargs_dict["learning_rate"]
    lines = []
    if isinstance(rate, KerasCall):  # a schedule, unless --learning-rate gives a constant rate
        lines = statement(keras_expr(rate, "training.optimizer.learning_rate"), 2,
                          "learning_rate = args.learning_rate or ")
        rate_expr = Atom("learning_rate")
    else:
        rate_expr = Atom("args.learning_rate")
    made = keras_expr(KerasCall(optimizer.module, optimizer.name,
                                (("learning_rate", rate_expr), *optimizer.kwargs[1:])), "training.optimizer")
    compile_call = call(
        "model.compile", optimizer=made,
        loss=keras_expr(program.loss, "training.loss"), metrics=keras_expr(program.metrics, "training.metrics"),
        jit_compile=Atom("jit_compile"), steps_per_execution=Atom("steps"))
    callbacks = Seq("[", "]", tuple(keras_expr(c, f"training.callbacks[{i}]")
                                    for i, c in enumerate(program.callbacks)))
    return lines + statement(compile_call, 2) + _assign("callbacks", callbacks, 1)


def data_kind(spec, source) -> str:
    """Which reader the script gets: npz, npy, csv, image_folder, text_folder, digits, keras or synthetic.
    `source`: where the spec was written (None for a Spec built in Python), for its paths and errors."""
    data = spec.data
    if data is None:
        return "npz"  # a spec without data trains on an .npz file given with --data
    given = data.source
    if given.startswith("builtin:") and given not in ("builtin:digits", "builtin:digits_sequence"):
        raise _data_error(source, f"unknown built-in data set {given!r}",
                          "use `builtin:digits` or `builtin:digits_sequence`")
    if given.startswith("keras:") and not is_identifier(given[len("keras:"):]):
        raise _data_error(source, f"{given!r} is not a keras.datasets name", "write it as `keras:mnist`")
    base_dir = source.base_dir if source is not None else None
    return lowering.source_kind(given, data.format, base_dir)


def _data_error(source, message: str, hint: str) -> SpecError:
    return SpecError([diagnostic_at(source, ("data", "source"), message, hint)])




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
