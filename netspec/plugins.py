"""Plugins: the Keras layer classes of a user's own modules, as layer types.

`plugins: [my_package.layers]` in a spec (or `--plugin my_package.layers` on
the command line) imports the module. Each Keras layer class among its names
that is registered, with `keras.saving.register_keras_serializable` or with
`@netspec.layer_type(...)`, becomes a layer type, named as Keras names the
class's layers: `ScaledDense` -> `scaled_dense`.

A type's arguments are the constructor's: a pydantic model is made from its
signature (annotated parameters typed, the rest `Any`, defaults kept), so an
unknown or mistyped key is the same located error as for a built-in type.
Its shapes come from the static rules `layer_type` was given, in pure
Python; without them, from Keras itself (the layer built on a symbolic
input), which is then imported, and `netspec summary` says so.

This module never imports Keras at import time, nor does `layer_type`: a
plugin that defines its classes without importing Keras keeps `validate` and
`summary` free of TensorFlow.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import sys
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, PydanticSchemaGenerationError, TypeAdapter, create_model

from netspec.layers.base import Inference, KerasCall, Layer, ShapeMismatch
from netspec.schema.spec import PLUGIN_MODULE

# A module path as `plugins:` takes it.
MODULE_PATTERN = PLUGIN_MODULE

# How a note in `netspec summary` says that Keras computed some shapes.
KERAS_NOTE = ("shapes or parameter counts of {layers} come from Keras (imported to build the layer on its input "
              "shape), since their plugin gives no static rule")


class PluginError(Exception):
    """A plugin module that cannot be imported or whose layer classes cannot be layer types."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True)
class Rules:
    """What `layer_type` was given: the static shape and parameter rules."""

    shape: typing.Callable | None = None
    params: typing.Callable | None = None


_MARK = "__netspec_layer_type__"


def layer_type(cls=None, *, shape=None, params=None):
    """Make a layer class a netspec layer type, with static shape rules; needs no Keras itself.

    `shape(input_shape, **arguments)` returns the output shape, without the batch dimension (`None` where
    unknown); `input_shape` is a tuple, or a list of tuples for a layer of several inputs; it is given
    those of the layer's arguments its signature names (all of them with `**kwargs`). It returns a list of
    shapes for several outputs and raises ValueError for an input the layer cannot take.
    `params(input_shape, **arguments)`, called the same way, returns the trainable parameter count, or a
    pair (trainable, non-trainable). Without `params`, netspec counts the weights of the layer Keras builds.

    The class may subclass `keras.layers.Layer`, or, so that its module imports no Keras (and `validate`
    and `summary` stay free of TensorFlow), be a plain class written as one (its methods import what they
    use of Keras): constructing it then makes a Keras layer class of it, once (`keras_layer_class`).
    Either way the Keras class is registered with `keras.saving.register_keras_serializable` (package: its
    module) once Keras is imported, so that saved models load.
    """

    def mark(cls):
        setattr(cls, _MARK, Rules(shape, params))
        if not _is_keras_layer(cls):
            cls.__new__ = _new_keras_layer  # calling the plain class makes (and returns) a Keras layer
        if "keras" in sys.modules:
            keras_registered(cls)
        return cls

    return mark if cls is None else mark(cls)


def _is_keras_layer(cls) -> bool:
    keras = sys.modules.get("keras")  # a class that subclasses Keras's Layer was made after Keras was imported
    return keras is not None and issubclass(cls, keras.layers.Layer)


_KERAS_CLASS = "__netspec_keras_class__"


def keras_layer_class(cls):
    """The Keras layer class of a plugin class: itself, or for a plain class, a subclass of it and of
    `keras.layers.Layer` (made once), named and registered like it."""
    if _is_keras_layer(cls):
        return cls
    if _KERAS_CLASS not in vars(cls):
        import keras

        made = type(cls.__name__, (cls, keras.layers.Layer), {"__module__": cls.__module__,
                                                               "__qualname__": cls.__qualname__})
        setattr(cls, _KERAS_CLASS, made)
        keras.saving.register_keras_serializable(package=cls.__module__, name=cls.__name__)(made)
    return vars(cls)[_KERAS_CLASS]


def _new_keras_layer(cls, *args, **kwargs):
    import keras

    made = cls if _is_keras_layer(cls) else keras_layer_class(cls)
    return keras.layers.Layer.__new__(made, *args, **kwargs)


def snake_case(name: str) -> str:
    """Keras's default-name rule (keras.src.utils.naming.to_snake_case): `ScaledDense` -> `scaled_dense`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_registered(cls):
    """The Keras layer class of `cls`, registered with Keras's serializable objects (package: its module)
    unless it is already."""
    import keras

    cls = keras_layer_class(cls)
    if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is not cls:
        keras.saving.register_keras_serializable(package=cls.__module__)(cls)
    return cls


@dataclass(frozen=True)
class PluginCall(KerasCall):
    """A call of a plugin's class: `<module>.<name>(**kwargs)`, `module` being the plugin's module path."""


# ----- the layer model of a plugin class -----


class PluginLayer(Layer):
    """A plugin class's layer type; `plugin_layer_model` makes one subclass per class."""

    plugin_module: ClassVar[str] = ""
    class_module: ClassVar[str] = ""  # the module of the class itself (where Keras saves it from)
    rules: ClassVar[Rules] = Rules()
    max_inputs: ClassVar[int] = 99

    @property
    def call_convention(self) -> str:  # one input: layer(x); several: layer([a, b]), as Keras's merges
        return "list" if self.inputs is not None and len(self.inputs) > 1 else "single"

    @classmethod
    def keras_shapes(cls) -> bool:
        """Whether Keras computes this type's shapes or parameter counts (no static rule for them)."""
        return cls.rules.shape is None or cls.rules.params is None

    def arguments(self) -> dict[str, Any]:
        """Every constructor argument with its value (defaults included)."""
        return {k: getattr(self, k) for k in type(self).model_fields if k not in self.spec_only_fields}

    def lower(self, name: str | None = None, *, extra: dict | None = None) -> KerasCall:
        call = super().lower(name, extra=extra)
        return PluginCall(self.plugin_module, call.name, call.kwargs)

    def infer(self, inputs: list) -> Inference:
        rules = type(self).rules
        arguments = self.arguments()
        given = inputs[0] if len(inputs) == 1 else list(inputs)
        if rules.shape is not None and rules.params is not None:
            outputs = _outputs(self.type, _apply(rules.shape, "shape", self.type, given, arguments))
            trainable, non_trainable = _counts(self.type, _apply(rules.params, "params", self.type, given, arguments))
            return Inference(outputs, trainable, non_trainable)
        outputs, trainable, non_trainable = _keras_infer(self, tuple(inputs))
        if rules.shape is not None:
            outputs = _outputs(self.type, _apply(rules.shape, "shape", self.type, given, arguments))
        return Inference(outputs, trainable, non_trainable)


def _apply(rule, what: str, tag: str, given, arguments: dict):
    """Call a rule with the arguments its signature takes; its failure is the layer's shape error."""
    try:
        parameters = inspect.signature(rule).parameters.values()
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            arguments = {k: v for k, v in arguments.items() if k in {p.name for p in parameters}}
        return rule(given, **arguments)
    except ShapeMismatch:
        raise
    except ValueError as exc:
        raise ShapeMismatch(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a plugin's bug, reported at the layer that ran into it
        raise ShapeMismatch(f"the {what} rule of `{tag}` failed: {type(exc).__name__}: {exc}",
                            "fix the rule given to @netspec.layer_type") from None


def _is_shape(value) -> bool:
    return isinstance(value, tuple | list) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value)


def _outputs(tag: str, value) -> list[tuple]:
    if _is_shape(value):
        return [tuple(value)]
    if isinstance(value, list) and value and all(_is_shape(v) for v in value):
        return [tuple(v) for v in value]
    raise ShapeMismatch(f"the shape rule of `{tag}` returned {value!r}, not a shape",
                        "return a tuple of sizes (None where unknown), without the batch dimension")


def _counts(tag: str, value) -> tuple[int, int]:
    def count(n):
        return isinstance(n, int) and not isinstance(n, bool) and n >= 0

    if count(value):
        return value, 0
    if isinstance(value, tuple | list) and len(value) == 2 and all(count(n) for n in value):
        return value[0], value[1]
    raise ShapeMismatch(f"the params rule of `{tag}` returned {value!r}, not a parameter count",
                        "return an integer, or a pair (trainable, non-trainable)")


_KERAS_RESULTS: dict[tuple, tuple] = {}


def _keras_infer(layer: PluginLayer, inputs: tuple) -> tuple[list[tuple], int, int]:
    """Output shapes and weight counts from Keras: the layer built on symbolic inputs of these shapes."""
    import keras

    key = (type(layer), repr(sorted(layer.arguments().items())), inputs)
    if key not in _KERAS_RESULTS:
        try:
            made = plugin_class(layer.plugin_module, layer.keras_class)(**layer.constructor_kwargs())
            tensors = [keras.KerasTensor((None, *shape)) for shape in inputs]
            out = made(tensors[0]) if len(tensors) == 1 else made(tensors)
        except Exception as exc:  # noqa: BLE001 - whatever the plugin or Keras raises is the layer's error
            text = " ".join(str(exc).split())[:600]
            raise ShapeMismatch(f"Keras could not build `{layer.type}` on this input: {type(exc).__name__}: {text}",
                                "check its arguments, or give @netspec.layer_type a shape rule") from None
        outs = list(out) if isinstance(out, list | tuple) else [out]

        def weights(variables):
            return sum(math.prod(v.shape) for v in variables)

        _KERAS_RESULTS[key] = ([tuple(t.shape[1:]) for t in outs], weights(made.trainable_weights),
                               weights(made.non_trainable_weights))
    return _KERAS_RESULTS[key]


def plugin_class(module: str, name: str):
    """The class a PluginCall calls, registered with Keras so that a saved model loads."""
    return keras_registered(getattr(importlib.import_module(module), name))


def _field_type(annotation):
    """The annotation as pydantic checks it; `Any` where pydantic cannot (a class of the plugin's own)."""
    try:
        TypeAdapter(annotation)
    except (PydanticSchemaGenerationError, TypeError, NameError):
        return Any
    return annotation


def plugin_layer_model(cls, module: str, attr: str) -> type[PluginLayer]:
    """The layer model of one plugin class (found as `module.attr`), from its constructor's signature."""
    tag = snake_case(cls.__name__)
    where = f"`{module}.{attr}`"
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"cannot read the constructor of {where}: {exc}") from None
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve is taken as Any
        hints = {}
    fields: dict[str, Any] = {"type": (Literal[tag], Field(description=f"Layer type `{tag}` ({where}, a plugin)."))}
    takes_kwargs = False
    for parameter in list(signature.parameters.values())[1:]:  # after self
        if parameter.kind is parameter.VAR_KEYWORD:
            takes_kwargs = True
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.POSITIONAL_ONLY) or parameter.name in ("name",
                                                                                                         "trainable"):
            continue  # passed by keyword, or a key every layer has already
        if parameter.name in ("type", "inputs"):
            raise PluginError(f"{where} takes an argument `{parameter.name}`, a key that every layer of a spec has",
                              "rename the argument")
        annotation = _field_type(hints.get(parameter.name, Any))
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, Field(default, description=f"Argument `{parameter.name}` of {where}."))
    if not takes_kwargs:
        raise PluginError(f"the constructor of {where} takes no **kwargs, so it cannot take a layer's `name`",
                          "add **kwargs and pass them to super().__init__(**kwargs)")
    fields.setdefault("dtype", (str | None, Field(None, description="The layer's dtype policy, e.g. `float32`.")))
    model = create_model(f"{cls.__name__}Layer", __base__=PluginLayer, __module__=__name__, **fields)
    model.__doc__ = inspect.getdoc(cls) or f"The layer {where}."
    model.keras_class = attr
    model.plugin_module = module
    model.class_module = cls.__module__  # where Keras's config says the class is (`netspec import` matches it)
    model.rules = getattr(cls, _MARK, None) if _MARK in vars(cls) else Rules()
    return model


# ----- loading -----

# module path -> the layer types it added
_LOADED: dict[str, list[str]] = {}


def layer_classes(module) -> dict[str, type]:
    """The module's names that are layer classes for netspec: marked by `layer_type`, or registered with Keras."""
    found: dict[str, type] = {}
    keras = sys.modules.get("keras")
    registered = set(map(id, keras.saving.get_custom_objects().values())) if keras is not None else set()
    for attr, obj in vars(module).items():
        if not isinstance(obj, type) or attr.startswith("_"):
            continue
        if _MARK in vars(obj):
            found[attr] = obj
        elif id(obj) in registered and issubclass(obj, keras.layers.Layer):
            found[attr] = obj
    return found


def load_plugin(module_path: str) -> list[str]:
    """Import a plugin module and add its layer classes as layer types; their tags. Idempotent."""
    from netspec.layers import LAYER_TYPES, register_layer_type

    if module_path in _LOADED:
        return _LOADED[module_path]
    if not isinstance(module_path, str) or not re.match(MODULE_PATTERN, module_path):
        raise PluginError(f"{module_path!r} is not a module path", "write it as `my_package.layers`")
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:  # noqa: BLE001 - ImportError, or whatever the module raises while it runs
        hint = ("make it importable: install its package, or run from the folder that holds it (or add that "
                "folder to PYTHONPATH)") if isinstance(exc, ModuleNotFoundError) else "fix the module"
        raise PluginError(f"cannot import plugin `{module_path}`: {type(exc).__name__}: {exc}", hint) from None
    classes = layer_classes(module)
    if not classes:
        raise PluginError(f"plugin `{module_path}` defines no layer types",
                          "register its Keras layer classes with @netspec.layer_type(...) or "
                          "@keras.saving.register_keras_serializable()")
    tags = []
    for attr, cls in classes.items():
        model = plugin_layer_model(cls, module_path, attr)
        tag = snake_case(cls.__name__)
        existing = LAYER_TYPES.get(tag)
        if existing is not None:
            owner = (f"plugin `{existing.plugin_module}`" if issubclass(existing, PluginLayer)
                     else "a built-in layer type")
            raise PluginError(f"`{module_path}.{attr}` would be layer type `{tag}`, already {owner}",
                              "rename the class")
        register_layer_type(model)
        tags.append(tag)
    _LOADED[module_path] = tags
    return tags


def register_with_keras() -> None:
    """Register every loaded plugin's classes with Keras, so that `keras.saving.load_model` finds them."""
    from netspec.layers import LAYER_TYPES

    for model in LAYER_TYPES.values():
        if issubclass(model, PluginLayer):
            plugin_class(model.plugin_module, model.keras_class)


def plugin_modules(calls) -> list[str]:
    """The plugin modules the lowered calls use (wrapped layers' included), in first-use order."""
    found: dict[str, None] = {}

    def visit(value):
        if isinstance(value, PluginCall):
            found[value.module] = None
        if isinstance(value, KerasCall):
            for _, arg in value.kwargs:
                visit(arg)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    visit(list(calls))
    return list(found)


def keras_shaped(layers) -> list[str]:
    """Names of the layers (`(name, layer)` pairs, wrapped layers included) whose shapes Keras computes."""
    found = []
    for name, layer in layers:
        while layer is not None:
            if isinstance(layer, PluginLayer) and layer.keras_shapes():
                found.append(name)
                break
            layer = getattr(layer, "layer", None)
    return found
