"""The command line: a thin shell over the library API.

It parses arguments, calls one library function per verb, prints results,
and maps netspec's errors to exit codes: 0 ok, 1 the user's spec or data is
wrong, 2 bad usage. TensorFlow is imported only inside the verbs that need it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

from netspec.errors import DataNote, NetspecError, SpecError, SpecFileError, UsageError
from netspec.names import PRECISIONS

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


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

    verb("expand", "print the spec with blocks, vars and includes expanded")

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
    p.add_argument("--export", action="append", default=[], choices=["saved_model", "tflite"],
                   help="also write the trained model in this format, checked by running it (repeatable)")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter (CUDA probes, CPU-feature notes) buries netspec's own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # pydantic looks for plugins in the metadata of every installed package when it builds its first validator
    # (importlib.metadata and a scan: a tenth of `netspec validate`); netspec's models use none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    args = _parser().parse_args(argv)
    warnings.showwarning = _show_note
    try:
        if args.verb in KERAS_VERBS:
            _start_keras_quietly()
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


_show_warning = warnings.showwarning


def _show_note(message, category, filename, lineno, file=None, line=None):
    """netspec's notes as one line each (`netspec: note: ...`); other warnings as Python shows them."""
    if issubclass(category, DataNote):
        print(f"netspec: note: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


# The verbs that run Keras, and the start-up lines TensorFlow's C++ side writes straight to file descriptor 2
# before its logging is set up (so TF_CPP_MIN_LOG_LEVEL cannot silence them): CUDA probes on a machine
# without a GPU, CPU-feature notes. Anything else it writes is passed on.
KERAS_VERBS = ("build", "train", "evaluate", "predict")
_START_UP_NOISE = re.compile(
    r"absl::InitializeLog|^[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft"
    r"|cuda_blas|cpu_feature_guard|port)\.cc:\d+\]|^To enable the following instructions|oneDNN custom operations")


def _start_keras_quietly() -> None:
    """Import Keras and probe the devices with TensorFlow's start-up lines filtered out of stderr."""
    from netspec.runner.precision import detect_device

    with _native_stderr_filtered(_START_UP_NOISE):
        detect_device()  # imports Keras and its backend, and runs the CUDA probe (once, here)


@contextlib.contextmanager
def _native_stderr_filtered(noise: re.Pattern):
    """Capture file descriptor 2 (what C++ code writes too) and pass on the lines that `noise` does not match."""
    import tempfile

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


def _validate(args) -> int:
    """Every file is checked and every problem printed; exit 2 if a file cannot be read, else 1 if any is invalid."""
    from netspec.load import load_spec

    results, unreadable = [], False
    for path in args.specs:
        try:
            load_spec(Path(path), overrides=args.overrides)  # always a file, whatever its name
            results.append({"file": path, "valid": True, "diagnostics": []})
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
                print(f"{result['file']}: ok")
    return EXIT_USAGE if unreadable else EXIT_OK if ok else EXIT_INVALID


def _summary(args) -> int:
    from netspec.load import load_spec
    from netspec.summary import format_summary, summarize

    summary = summarize(load_spec(Path(args.spec), overrides=args.overrides))
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
    model = build_model(spec)
    save_model(model, args.output)
    print(f"wrote {args.output} ({model.count_params():,} parameters)")
    print("\n".join(describe_model(model).splitlines()[-2:]))
    return EXIT_OK


def _expand(args) -> int:
    from netspec.load import expand_spec

    print(expand_spec(args.spec, overrides=args.overrides), end="")
    return EXIT_OK


def _train(args) -> int:
    from netspec.runner import train

    if args.spec is None and args.resume is None:
        raise UsageError("train needs SPEC (or --resume RUN_DIR to continue a run)")
    result = train(args.spec, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                   precision=args.precision, execution=args.execution, resume=args.resume,
                   export=args.export, overrides=args.overrides)
    print(f"run folder: {result.run_dir}")
    return EXIT_INVALID if result.export_errors else EXIT_OK  # the trainer printed each failed export's line


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


_VERBS = {
    "validate": _validate, "summary": _summary, "schema": _schema, "generate": _generate, "build": _build,
    "expand": _expand, "train": _train, "evaluate": _evaluate, "predict": _predict, "layers": _layers,
}
