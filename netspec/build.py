"""Keras stage: a resolved graph -> a Keras functional model.

Generic over layer types: each layer's one definition lowers itself to a
`KerasCall`; this module only instantiates calls and wires tensors.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netspec.errors import Diagnostic, SpecError, UsageError
from netspec.graph import Graph
from netspec.layers.base import KerasCall
from netspec.load import Loaded, loaded
from netspec.lowering import lower_node
from netspec.plugins import PluginCall, plugin_class, register_with_keras
from netspec.schema import dump_spec
from netspec.source import diagnostic_at

# Python frames Keras needs per layer on the longest input-to-output path (see
# `recursion_headroom`); 1 is measured, 2 leaves room for nested calls.
FRAMES_PER_LAYER = 2

# A Keras message longer than this is cut in a diagnostic (Keras repeats whole
# tensors and call stacks in some messages).
MAX_MESSAGE = 600


def instantiate(value: Any, keras_module=None) -> Any:
    """Call a KerasCall (recursively through its arguments)."""
    if keras_module is None:
        import keras as keras_module
    if isinstance(value, PluginCall):  # a class of a plugin's module
        cls = plugin_class(value.module, value.name)
        return cls(**{k: instantiate(v, keras_module) for k, v in value.kwargs})
    if isinstance(value, KerasCall):
        module = keras_module
        for part in value.module.split("."):  # "optimizers.schedules"
            module = getattr(module, part)
        cls = getattr(module, value.name)
        return cls(**{k: instantiate(v, keras_module) for k, v in value.kwargs})
    if isinstance(value, list):
        return [instantiate(v, keras_module) for v in value]
    if isinstance(value, dict):
        return {k: instantiate(v, keras_module) for k, v in value.items()}
    return value


def call_layer(layer, convention: str, args: list):
    if convention == "list":
        return layer(args)
    if convention == "args":
        return layer(*args)
    if convention == "attention":  # layer(query, value[, key]); one input attends to itself
        return layer(*args) if len(args) > 1 else layer(args[0], args[0])
    return layer(args[0])


# ----- depth -----
#
# Keras 3 maps a functional model's graph (keras/src/ops/function.py,
# `_build_map_helper`) by recursing from each output back to the inputs, one
# Python frame per layer on the way. A chain of 5,000 layers needs 5,000
# frames and fails against Python's default limit of 1,000 with RecursionError,
# in `keras.Model(...)` written by hand as much as here; loading such a model
# from a .keras file walks the same recursion.
#
# netspec knows the longest path before it calls Keras, so it raises the
# recursion limit by FRAMES_PER_LAYER frames per layer on that path for the
# duration of the build (or the load) and restores it after. Names, layers and
# parameter counts are exactly those of the hand-written model; only the limit
# differs. The recursion is pure Python, which since CPython 3.11 uses no C
# stack, so a high limit cannot overflow the thread's stack.
#
# Why not build in a worker thread with a large stack: Keras keeps its dtype
# policy, distribution and name scopes in thread-local state
# (keras/src/backend/common/global_state.py), and TensorFlow its
# tf.distribute strategy and device scopes; a model built on another thread
# would silently ignore a `mixed_float16` policy or a `strategy.scope()` that
# the caller set. Building in the caller's thread keeps all of that.

_limit_lock = threading.Lock()
_limit_requests: list[int] = []
_limit_base = 0


@contextlib.contextmanager
def recursion_headroom(frames: int) -> Iterator[None]:
    """Raise Python's recursion limit by `frames` inside the block; restore it after.

    The limit is process-wide, so concurrent blocks (threads) share one raise:
    the largest request holds until the last block ends.
    """
    global _limit_base
    with _limit_lock:
        if not _limit_requests:
            _limit_base = sys.getrecursionlimit()
        _limit_requests.append(frames)
        sys.setrecursionlimit(_limit_base + max(_limit_requests))
    try:
        yield
    finally:
        with _limit_lock:
            _limit_requests.remove(frames)
            sys.setrecursionlimit(_limit_base + max(_limit_requests, default=0))


def graph_depth(graph: Graph) -> int:
    """Layers on the longest path from a model input to a layer (iteratively, for any depth)."""
    depth: dict[str, int] = {node.name: 0 for node in graph.inputs}
    for node in graph.nodes:  # spec order is a topological order
        depth[node.name] = 1 + max((depth.get(ref.name, 0) for ref in node.inputs), default=0)
    return max(depth.values(), default=0)


# ----- building -----


def build_model(spec, *, compile: bool | None = None, weights: str | Path | None = None) -> Any:
    """Build a spec (path, text, mapping or Spec) into a `keras.Model`, ready for `fit` when it says how to train.

    The model has the spec's name, inputs, layer names and outputs. With
    `compile` (default: whether the spec has a `training` section) it is
    compiled with the spec's optimizer, loss and metrics, as `netspec train`
    and generated scripts compile it. Anything Keras still refuses becomes a
    `SpecError` at its line in the spec. `weights`: a `.weights.h5` file to
    load, matched by layer name where `netspec import --weights` wrote it
    (netspec.weights.load_weights).
    """
    import keras

    result = loaded(spec)
    with recursion_headroom(FRAMES_PER_LAYER * graph_depth(result.graph)):
        model = _build(keras, result)
    if weights is not None:
        from netspec.weights import load_weights

        load_weights(model, weights)
    written = result.source.data if result.source is not None else dump_spec(result.spec, exclude_unset=True)
    if compile if compile is not None else "training" in written:
        from netspec.runner.compile import compile_model

        compile_model(model, result.spec.training, source=result.source)
    return model


def _build(keras, result: Loaded):
    spec, graph, source = result.spec, result.graph, result.source
    tensors: dict[str, list] = {}
    model_inputs = []
    for i, spec_input in enumerate(spec.inputs):
        try:
            tensor = keras.Input(shape=tuple(spec_input.shape), dtype=spec_input.dtype, name=spec_input.name,
                                 sparse=spec_input.sparse)
        except Exception as exc:  # noqa: BLE001 - whatever Keras raises becomes a located diagnostic
            raise SpecError([_keras_diagnostic(source, ("inputs", i), f"input `{spec_input.name}`", exc)]) from exc
        tensors[spec_input.name] = [tensor]
        model_inputs.append(tensor)
    for node in graph.nodes:
        args = [tensors[ref.name][ref.index] for ref in node.inputs]
        try:
            layer = instantiate(lower_node(node, graph), keras)
            out = call_layer(layer, node.layer.call_convention, args)
        except Exception as exc:  # noqa: BLE001
            what = f"layer `{node.name}` (keras.layers.{node.layer.keras_class})"
            raise SpecError([_keras_diagnostic(source, node.path, what, exc)]) from exc
        tensors[node.name] = list(out) if isinstance(out, list | tuple) else [out]
    outputs = [tensors[ref.name][ref.index] for ref in graph.outputs]
    try:
        model = keras.Model(
            inputs=model_inputs[0] if len(model_inputs) == 1 else model_inputs,
            outputs=outputs[0] if len(outputs) == 1 else outputs,
            name=spec.name,
        )
    except Exception as exc:  # noqa: BLE001
        path = ("outputs",) if spec.outputs is not None else ()
        raise SpecError([_keras_diagnostic(source, path, f"model `{spec.name}`", exc)]) from exc
    return refreeze(model)


def refreeze(model):
    """Make `trainable=False` reach the sublayers of frozen layers.

    Keras 3.15 keeps a constructor's `trainable=False` on the layer itself but
    not on the sublayers it creates later in `build()` (MultiHeadAttention's
    projections, ConvLSTM cells, the layers inside Bidirectional and
    TimeDistributed), nor does a saved model reload them frozen; their weights
    would still train. Setting the flag again after the build propagates it
    (the setter only walks sublayers on a change, hence True then False).
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not layer.trainable:
            layer.trainable = True
            layer.trainable = False
    return model


def _keras_diagnostic(source, path: tuple, what: str, exc: Exception) -> Diagnostic:
    """A Keras exception as a diagnostic at `path` of the spec (its line and column)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3] + "..."
    message = f"Keras could not build {what}: {type(exc).__name__}: {text}"
    hint = "netspec's checks passed but Keras refused the arguments; check them against the Keras documentation"
    return diagnostic_at(source, path, message, hint)


# ----- saving and loading -----


def save_model(model, path: str | Path) -> Path:
    """Save `model` in Keras's native `.keras` format, atomically.

    The file holds only built-in Keras layers, so plain `keras.saving.load_model`
    reads it in safe mode, with no custom objects and without netspec.
    """
    from netspec.atomic import atomic_path

    path = Path(path)
    if path.suffix != ".keras":
        raise UsageError(f"a model is saved in Keras's native format, whose file name ends in `.keras`; "
                         f"received {str(path)!r}. Name the output e.g. `{path.with_suffix('.keras').name}`")
    try:
        with recursion_headroom(FRAMES_PER_LAYER * len(model.layers)), atomic_path(path) as tmp:
            model.save(tmp)
    except OSError as exc:
        raise UsageError(f"cannot write the model to {str(path)!r}: {exc.strerror or exc}") from exc
    return path


def load_model(path: str | Path):
    """A saved model: a `.keras` file, or a run folder's `model.keras`, loaded by `keras.saving.load_model`
    (safe mode) with room for deep models (see `recursion_headroom`)."""
    import keras

    if Path(path).is_dir():
        if not (Path(path) / "model.keras").exists():
            raise UsageError(f"{str(path)!r} holds no model.keras; pass a run folder of `netspec train` or a "
                             ".keras file")
        path = Path(path) / "model.keras"
        _load_run_plugins(path.parent / "spec.yaml")

    register_with_keras()  # the classes of the plugins loaded (--plugin), for a model that uses them
    with recursion_headroom(FRAMES_PER_LAYER * _saved_layer_count(path)):
        return refreeze(keras.saving.load_model(path))


def _load_run_plugins(spec_file: Path) -> None:
    """The plugins a run folder's spec names, loaded so that its model's layer classes are found."""
    import yaml

    from netspec.plugins import PluginError, load_plugin

    try:
        modules = yaml.safe_load(spec_file.read_text(encoding="utf-8")).get("plugins") or []
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return  # no readable spec: Keras reports a class it cannot find
    for module in modules if isinstance(modules, list) else []:
        try:
            load_plugin(module)
        except PluginError as exc:
            raise UsageError(f"{spec_file}: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")) from None


def _saved_layer_count(path: str | Path) -> int:
    """Layers listed in a .keras file's config.json (0 if it cannot be read; Keras then reports the problem)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return len(config.get("config", {}).get("layers", []))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return 0


# ----- precision -----


def set_dtype_policy(name: str) -> None:
    """Keras's global dtype policy for the layers built next (`float32`, `mixed_float16`, `mixed_bfloat16`)."""
    import keras

    keras.config.set_dtype_policy(name)


def precision_report(model) -> dict:
    """What a built model computes in: the policy of its layers, and the dtype of each output.

    Under a mixed policy most layers compute in float16/bfloat16 with float32
    variables, while output layers compute in float32 (lowering.OUTPUT_DTYPE).
    """
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    policies: dict[str, int] = {}
    for layer in layers:
        policies[layer.dtype_policy.name] = policies.get(layer.dtype_policy.name, 0) + 1
    outputs = {name: str(tensor.dtype) for name, tensor in zip(model.output_names, model.outputs)}
    return {
        "layers": {layer.name: {"policy": layer.dtype_policy.name, "compute_dtype": layer.compute_dtype,
                                "variable_dtype": layer.variable_dtype} for layer in layers},
        "policies": policies,
        "outputs": outputs,
    }


def describe_model(model) -> str:
    """Keras's `model.summary()` text, followed by the precision the model computes in.

    Keras's table has no dtype column; the lines after it say which dtype
    policy the layers use and that the outputs are float32.
    """
    lines: list[str] = []
    model.summary(print_fn=lambda text, line_break=False: lines.append(text))
    report = precision_report(model)
    counts = ", ".join(f"{n} layer{'s' if n != 1 else ''} {policy}" for policy, n in report["policies"].items())
    outputs = ", ".join(f"{name} -> {dtype}" for name, dtype in report["outputs"].items())
    lines += [f" Precision: {counts}", f" Outputs: {outputs}"]
    return "\n".join(lines)
