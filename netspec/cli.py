"""The command line: a thin shell over the library API.

It parses arguments, calls one library function per verb, prints results,
and maps netspec's errors to exit codes: 0 ok, 1 the user's spec or data is
wrong, 2 bad usage. TensorFlow is imported only inside the verbs that need it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import NoReturn

from netspec.errors import DataNote, DrawNote, NetspecError, SpecError, SpecFileError, UsageError
from netspec.names import PRECISIONS
from netspec.stderr import native_stderr_filtered

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXPORT_FORMATS = ("onnx", "saved_model", "tflite")  # netspec.runner.export.FORMATS, without importing it


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 on usage errors; keep that, with our wording
        self.print_usage(sys.stderr)
        print(f"netspec: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    from netspec import __version__

    parser = _Parser(prog="netspec", description="Declarative network specs for Keras.")
    parser.add_argument("--version", action="version", version=f"netspec {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True

    def verb(name, help_text, *, spec=True, sets=True):
        p = verbs.add_parser(name, help=help_text, description=help_text)
        if spec:
            p.add_argument("spec", metavar="SPEC", help="spec file (.yaml or .json)")
        if sets:
            p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                           help="override a value, e.g. --set training.epochs=5 (repeatable)")
        return p

    p = verbs.add_parser("validate", help="check spec files", description="Check spec files; exit 0 valid, 1 invalid.")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (.yaml or .json)")
    p.add_argument("--json", action="store_true", help="print diagnostics as JSON")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value, e.g. --set training.epochs=5 (repeatable)")

    p = verb("summary", "per-layer output shapes and parameter counts")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    verbs.add_parser("schema", help="print the JSON Schema of the format")

    p = verbs.add_parser("layers", help="list the layer types, or one type's keys",
                         description="List the layer types of the format, or the keys of one (docs/format.md has all).")
    p.add_argument("type", nargs="?", metavar="TYPE", help="a layer type, e.g. conv2d")

    p = verb("generate", "render a standalone training script")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the script to write (.py)")
    p.add_argument("--tuned-from", metavar="RUN_DIR", help="take execution settings from a tuned run")

    p = verb("build", "compile and save the Keras model")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="model path (.keras)")
    p.add_argument("--precision", choices=PRECISIONS[1:],
                   help="dtype policy the saved model computes in (outputs stay float32)")
    p.add_argument("--weights", metavar="FILE",
                   help="load these weights (.weights.h5, e.g. from `netspec import --weights`) into the model")

    verb("expand", "print the spec with blocks, vars and includes expanded")

    p = verb("draw", "draw the layer graph: .svg, .png, .html, .dot (Graphviz) or .mmd (Mermaid)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the picture to write; its suffix picks the format: .svg, .png, .html, .dot or .mmd")
    p.add_argument("--direction", default="TB", metavar="TB|LR", help="top to bottom (default) or left to right")
    p.add_argument("--renderer", default="auto", metavar="auto|graphviz|builtin",
                   help="for .svg, .png and .html: Graphviz's dot where installed (auto), or insist on one")

    p = verb("train", "train the model; writes a run folder", spec=False)
    p.add_argument("spec", metavar="SPEC", nargs="?",
                   help="spec file (.yaml or .json); optional with --resume, where it must be the run's spec")
    p.add_argument("--data", metavar="SOURCE",
                   help="training data, replacing the spec's data.source: a file (.npz, .npy, .csv, a folder), "
                        "builtin:digits, keras:NAME or synthetic; --set data.x=... adds to it")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs to train (replaces training.epochs)")
    p.add_argument("--batch-size", type=int, metavar="N", help="samples a batch (replaces training.batch_size)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="dtype policy; auto: float32 on CPUs, mixed_bfloat16 on GPUs of compute capability 8.0+, "
                        "else mixed_float16")
    p.add_argument("--execution", metavar="MODE", help="auto, tuned, or jit_compile=...,steps_per_execution=...")
    p.add_argument("--out", metavar="DIR", help="the run folder (default runs/<name>/<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last finished epoch")
    p.add_argument("--export", action="append", default=[], choices=EXPORT_FORMATS,
                   help="also write the trained model in this format, checked against Keras's predictions "
                        "(repeatable; onnx needs the `onnx` extra)")
    cluster = "one process of a run of several (JAX backend, keras.distribution)"
    p.add_argument("--num-processes", type=int, metavar="N",
                   help=f"{cluster}: how many (default KERAS_DISTRIBUTION_NUM_PROCESSES, else Slurm's SLURM_NTASKS, "
                        "else 1)")
    p.add_argument("--process-id", type=int, metavar="I",
                   help="this process's number, 0 to N-1; process 0 writes the run folder (default "
                        "KERAS_DISTRIBUTION_PROCESS_ID, else SLURM_PROCID)")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0 (default KERAS_DISTRIBUTION_JOB_ADDRESSES; under Slurm JAX finds it)")
    p.add_argument("--init-weights", metavar="FILE",
                   help="start from these weights (.weights.h5, e.g. from `netspec import --weights`)")

    p = verbs.add_parser("import", help="a spec from a Keras model file, running nothing from it",
                         description="Write a spec of a Keras 3 model (.keras, or its config.json), read as data: "
                                     "nothing in the file is run or loaded by Keras.")
    p.add_argument("model", metavar="MODEL", help="a Keras 3 model file (.keras) or its config.json")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the spec to write (.yaml or .json)")
    p.add_argument("--weights", metavar="FILE",
                   help="also write the model's weights (.weights.h5), for `netspec build --weights` and "
                        "`netspec train --init-weights`")

    model_help = "a run folder (runs/<name>/<timestamp>) or a saved model (.keras)"
    p = verb("evaluate", "metrics of a trained model on data", spec=False, sets=False)
    p.add_argument("spec", metavar="MODEL", help=model_help)
    p.add_argument("--data", metavar="SOURCE",
                   help="data to score: a file (.npz, .npy, .csv, a folder), builtin:digits, keras:NAME or synthetic "
                        "(default for a run folder: its held-out test part)")
    p.add_argument("--split", choices=("all", "test"), default="all",
                   help="all: every sample of --data; test: its held-out test part, split as the run split its "
                        "data (a run folder only)")
    p.add_argument("--out", metavar="DIR", help="where to write metrics.json")

    p = verb("predict", "write predictions of a trained model", spec=False, sets=False)
    p.add_argument("spec", metavar="MODEL", help=model_help)
    p.add_argument("--data", metavar="SOURCE", required=True,
                   help="features to predict on: a file (.npz, .npy, .csv, a folder), builtin:digits, keras:NAME "
                        "or synthetic; labels in it are ignored")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="predictions: .npy (one output) or .npz (several, by output name)")
    p.add_argument("--classes", action="store_true",
                   help="write class ids instead of probabilities (argmax of a softmax, > 0.5 for one sigmoid unit)")

    p = verb("export", "export a model as ONNX, a SavedModel or TFLite, checked against Keras", spec=False)
    p.add_argument("spec", metavar="MODEL_OR_SPEC",
                   help="a run folder, a saved model (.keras), or a spec (built with freshly initialized weights)")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                   help="onnx (needs the `onnx` extra: pip install 'netspec[onnx]'), saved_model (a folder) "
                        "or tflite")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the file (.onnx, .tflite) or folder (SavedModel) to write")

    p = verb("tune", "search the spec's spaces with Optuna (pip install -e '.[tune]'); each trial a run folder")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="trials in the study in all: a study resumed from its storage runs up to N")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage, e.g. sqlite:///study.db (default: DIR/study.db); the same storage resumes "
                        "the study, and processes can share it")
    p.add_argument("--jobs", type=int, default=1, metavar="K",
                   help="trials at once, as K processes sharing the storage (default 1)")
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument("--out", metavar="DIR",
                   help="trial run folders (DIR/trial-0007), trials.csv and best.yaml (default runs/<name>/tune)")
    p.add_argument("--study", metavar="NAME", help="the study's name in the storage (default the spec's name)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of the K-1 helpers of --jobs

    for p in verbs.choices.values():
        p.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MODULE",
                       help="import MODULE first: its registered Keras layer classes become layer types, as a "
                            "spec's `plugins:` does (repeatable)")
    return parser


def run() -> NoReturn:
    """The `netspec` command (its console script and `python -m netspec`): `main` on the process's arguments,
    then exit with its status."""
    sys.exit(main(exiting=True))


def main(argv: list[str] | None = None, *, exiting: bool = False) -> int:
    """Run one verb and return the exit status. `exiting`: the process ends as soon as this returns."""
    # TensorFlow's C++ start-up chatter (CUDA probes, CPU-feature notes) buries netspec's own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # pydantic looks for plugins in the metadata of every installed package when it builds its first validator
    # (importlib.metadata and a scan: a tenth of `netspec validate`); netspec's models use none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _skip_pydantic_plugin_loader()
    args = _parser().parse_args(argv)  # exits on bad usage: before the collector is turned off
    warnings.showwarning = _show_note
    # Loading a spec creates tens of thousands of objects that live until the process ends (pydantic's models
    # and validators, the spec's); each collection of the cyclic garbage collector scans them all again, a
    # twentieth of `netspec validate`. The light verbs run with it off. The Keras verbs import Keras with it
    # off too (its full collections scanned TensorFlow's 420,000 objects three times: 0.6 s of a 3.3 s
    # import), then freeze what exists and turn it back on, for training's sake. A light verb in a process about to
    # end freezes everything too: Python collects at exit even with the collector off, and those scans took 30 ms
    # of a 0.26 s `netspec generate`.
    collecting = gc.isenabled()
    gc.disable()
    cleanup = contextlib.ExitStack()
    try:
        if args.verb == "tune":  # a missing extra is a usage error before Keras starts
            from netspec.search import require_optuna

            require_optuna()
        if args.verb in KERAS_VERBS:
            _check_exports(args)
            _start_keras_quietly()
            from netspec.runner.trainer import frozen_objects

            cleanup.enter_context(frozen_objects())
            if collecting:
                gc.enable()
        _load_plugins(args.plugins)
        return _VERBS[args.verb](args)
    except UsageError as exc:
        print(f"netspec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, SpecFileError) else EXIT_INVALID
    except NetspecError as exc:
        print(f"netspec: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:  # `netspec schema | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt as exc:  # a run says how to resume it
        print(f"netspec: {exc or 'interrupted'}", file=sys.stderr)
        return 130
    finally:
        cleanup.close()
        if exiting and args.verb not in KERAS_VERBS:
            gc.freeze()
        if collecting:
            gc.enable()


def _skip_pydantic_plugin_loader() -> None:
    """Where pydantic's plugins are off, stand in for its plugin loader with one that returns none without
    importing importlib.metadata (and the email package with it): 15 ms, a fifteenth of `netspec validate`.

    pydantic imports the loader when it builds its first validator, even with PYDANTIC_DISABLE_PLUGINS set,
    and its `get_plugins` then returns () without a scan, as this one does. Any other name the loader is
    asked for loads the real module in its place.
    """
    name = "pydantic.plugin._loader"
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ("__all__", "1", "true") or name in sys.modules:
        return
    import types

    stand_in = types.ModuleType(name, "netspec's stand-in for pydantic's plugin loader, plugins being off")
    stand_in.get_plugins = lambda: ()

    def real(attribute):
        import importlib

        if attribute.startswith("__"):  # the import system's own questions (`__path__`): a plain module
            raise AttributeError(attribute)
        del sys.modules[name]
        return getattr(importlib.import_module(name), attribute)

    stand_in.__getattr__ = real
    sys.modules[name] = stand_in


_show_warning = warnings.showwarning


def _show_note(message, category, filename, lineno, file=None, line=None):
    """netspec's notes as one line each (`netspec: note: ...`); other warnings as Python shows them."""
    if issubclass(category, DataNote | DrawNote):
        print(f"netspec: note: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


# The verbs that run Keras, and the start-up lines TensorFlow's C++ side writes straight to file descriptor 2
# before its logging is set up (so TF_CPP_MIN_LOG_LEVEL cannot silence them): CUDA probes on a machine
# without a GPU, CPU-feature notes. Anything else it writes is passed on.
KERAS_VERBS = ("build", "train", "evaluate", "predict", "export", "tune")
_START_UP_NOISE = re.compile(
    r"absl::InitializeLog|^[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft"
    r"|cuda_blas|cpu_feature_guard|port)\.cc:\d+\]|^To enable the following instructions|oneDNN custom operations")


def _load_plugins(modules: list[str]) -> None:
    """`--plugin MODULE`: a module that cannot be imported, or adds no layer type, is a usage error."""
    if modules:
        from netspec.plugins import PluginError, load_plugin

        for module in modules:
            try:
                load_plugin(module)
            except PluginError as exc:
                raise UsageError(f"--plugin {module}: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")) from None


def _check_exports(args) -> None:
    """An export that cannot be written here (an unknown format, a missing extra, a path it cannot take) is a
    usage error before Keras starts, and for `train` before training."""
    formats = [args.format] if args.verb == "export" else getattr(args, "export", [])
    if formats:
        from netspec.runner.export import check_target, require

        for format in formats:
            require(format)
        if args.verb == "export":
            check_target(Path(args.output), args.format)


def _start_keras_quietly() -> None:
    """Import Keras and probe the devices with TensorFlow's start-up lines filtered out of stderr."""
    from netspec.runner.precision import start_backend

    with native_stderr_filtered(_START_UP_NOISE):
        start_backend()


def _validate(args) -> int:
    """Every file is checked and every problem printed; exit 2 if a file cannot be read, else 1 if any is invalid."""
    from netspec.space import Checked, check

    results, unreadable = [], False
    for path in args.specs:
        try:
            checked = check(Path(path), overrides=args.overrides)  # always a file, whatever its name
            results.append({"file": path, "valid": True, "diagnostics": []})
            if isinstance(checked, Checked):  # a spec with search spaces: every point checked, or a sample
                results[-1]["search"] = {"grid_points": checked.size, "checked_points": checked.checked,
                                         "exhaustive": checked.exhaustive}
        except SpecError as exc:
            unreadable = unreadable or isinstance(exc, SpecFileError)
            results.append({"file": path, "valid": False, "diagnostics": [d.with_file(path) for d in exc.diagnostics]})
    ok = all(r["valid"] for r in results)
    if args.json:
        for result in results:
            result["diagnostics"] = [d.to_dict() for d in result["diagnostics"]]
        print(json.dumps({"valid": ok, "files": results}, indent=2))
    else:
        for result in results:
            for diagnostic in result["diagnostics"]:
                print(diagnostic.format(), file=sys.stderr)
            if result["valid"]:
                search = result.get("search")
                print(f"{result['file']}: ok" + (f" ({_space_note(search)})" if search else ""))
    return EXIT_USAGE if unreadable else EXIT_OK if ok else EXIT_INVALID


def _space_note(search: dict) -> str:
    if search["exhaustive"]:
        return f"search space: all {search['checked_points']:,} points checked"
    return f"search space: {search['checked_points']:,} of {search['grid_points']:,} points checked"


def _summary(args) -> int:
    from netspec.space import check
    from netspec.summary import format_summary, summarize

    summary = summarize(check(Path(args.spec), overrides=args.overrides))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return EXIT_OK


def _schema(args) -> int:
    from netspec.jsonschema import json_schema_text

    print(json_schema_text())
    return EXIT_OK


def _layers(args) -> int:
    from netspec.docs import layer_help, layer_list

    print(layer_help(args.type) if args.type else layer_list())
    return EXIT_OK


def _generate(args) -> int:
    from netspec import atomic
    from netspec.codegen import generate_script
    from netspec.load import load_spec

    spec = load_spec(args.spec, overrides=args.overrides)
    # The script reads the spec's data files from its own folder: their paths are written relative to it.
    script_dir = os.path.dirname(os.path.abspath(args.output))
    atomic.write_text(args.output, generate_script(spec, tuned_from=args.tuned_from, script_dir=script_dir))
    print(f"wrote {args.output}")
    return EXIT_OK


def _build(args) -> int:
    from netspec.build import build_model, describe_model, save_model, set_dtype_policy
    from netspec.load import load_spec

    spec = load_spec(args.spec, overrides=args.overrides)
    if args.precision:
        set_dtype_policy(args.precision)
    model = build_model(spec, weights=args.weights)
    save_model(model, args.output)
    print(f"wrote {args.output} ({model.count_params():,} parameters)")
    print("\n".join(describe_model(model).splitlines()[-2:]))
    return EXIT_OK


def _expand(args) -> int:
    from netspec.load import expand_spec

    print(expand_spec(args.spec, overrides=args.overrides), end="")
    return EXIT_OK


def _draw(args) -> int:
    from netspec.drawing import draw

    draw(Path(args.spec), args.output, direction=args.direction, renderer=args.renderer, overrides=args.overrides)
    print(f"wrote {args.output}")
    return EXIT_OK


def _train(args) -> int:
    from netspec.runner import train

    if args.spec is None and args.resume is None:
        raise UsageError("train needs SPEC (or --resume RUN_DIR to continue a run)")
    result = train(args.spec, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                   precision=args.precision, execution=args.execution, resume=args.resume,
                   export=args.export, overrides=args.overrides, num_processes=args.num_processes,
                   process_id=args.process_id, coordinator=args.coordinator,
                   init_weights=args.init_weights)
    print(f"run folder: {result.run_dir}")
    return EXIT_INVALID if result.export_errors else EXIT_OK  # the trainer printed each failed export's line


def _tune(args) -> int:
    from netspec.search import tune

    result = tune(args.spec, trials=args.trials, storage=args.storage, jobs=args.jobs, timeout=args.timeout,
                  out=args.out, overrides=args.overrides, study_name=args.study, worker=args.worker)
    if result.best is None and not args.worker:
        print(f"no trial completed; see {result.out / 'trials.csv'}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _import(args) -> int:
    from netspec.importer import import_file

    result = import_file(args.model, args.output, weights=args.weights)
    print(f"wrote {args.output} ({result.layers} layers, {result.params:,} parameters)"
          + (f" and {args.weights}" if args.weights else ""))
    for note in result.notes:
        print(f"netspec: note: {note}", file=sys.stderr)
    return EXIT_OK


def _evaluate(args) -> int:
    from netspec.runner import evaluate

    metrics = evaluate(args.spec, data=args.data, out=args.out, split=args.split)
    print(json.dumps(metrics))
    return EXIT_OK


def _predict(args) -> int:
    from netspec.runner import predict

    predict(args.spec, data=args.data, output=args.output, classes=args.classes)
    print(f"wrote {args.output}")
    return EXIT_OK


def _export(args) -> int:
    from netspec.runner.export import export

    written = export(args.spec, args.format, args.output, overrides=args.overrides)
    print(f"wrote {written.path} ({written.format}; largest difference from Keras's predictions on "
          f"{written.samples} samples: {written.max_abs_diff:.2g})")
    return EXIT_OK


_VERBS = {
    "validate": _validate, "summary": _summary, "schema": _schema, "generate": _generate, "build": _build,
    "expand": _expand, "draw": _draw, "train": _train, "evaluate": _evaluate, "predict": _predict, "layers": _layers,
    "export": _export,
    "import": _import,
    "tune": _tune,
}
