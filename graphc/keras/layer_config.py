"""A Keras layer's config (its constructor's arguments as JSON-ready data) and the layer
rebuilt from one: what get_config / from_config and a saved model's architecture use
(graphc/keras/model_config.py does the same for whole models).

A layer's config is its constructor's arguments: the keys of its get_config(), over the
attributes named like the arguments of its __init__ chain (so a layer whose get_config
says little, like Embedding or Reshape, still comes back whole). Values are plain JSON;
activations are names, initializers and regularizers {"class_name", "config"}, and a layer
argument (a wrapper's) a nested layer config. Rebuilding looks classes and functions up in
`custom_objects` first, then among tf.keras's classes (KERAS_CLASSES: every Keras layer
and model class of graphc registers itself there when defined); nothing is executed but
those constructors, and a class or function that cannot be found is an error naming the
layer and custom_objects.
"""

from __future__ import annotations

import inspect
import re

from graphc.layers.base import Layer
from graphc.layers.utils import serialize

# class name -> class, for graphc's own Keras layers and models (KerasLayer registers them)
KERAS_CLASSES: dict = {}


def register(cls) -> None:
    """Record one of graphc's Keras classes under its name (the first definition wins)."""
    KERAS_CLASSES.setdefault(cls.__name__, cls)


# arguments that describe how a layer was placed, not what it is (Sequential's input is
# "batch_input_shape" on the first layer, added by the model's config)
_PLACEMENT = {"input_shape", "batch_input_shape", "batch_size", "weights", "_scope",
              "_reuse"}
# attributes named like a constructor argument that hold something else
# (and a convolution's rank, which each class fixes; a depthwise convolution's filters and
# kernel_* arguments, which it sets itself from depth_multiplier and depthwise_*)
_NOT_ARGUMENTS = {"Bidirectional": {"backward_layer"},
                  "DepthwiseConv2D": {"filters", "kernel_initializer", "kernel_regularizer",
                                      "kernel_constraint"}}
_NEVER_ARGUMENTS = {"rank"}
_MULTIPLE = re.compile(r"got multiple values for (?:keyword )?argument '(\w+)'")


class UnknownObjectError(ValueError):
    """A class or function named in a model config that neither custom_objects nor
    tf.keras provides."""


# --- layers -------------------------------------------------------------------------------------
def _init_arguments(cls) -> list:
    """The keyword arguments a class's constructor accepts, following **kwargs down the
    classes it forwards them to."""
    names = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            break
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _value(value):
    if isinstance(value, Layer):
        return layer_entry(value)
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return serialize(value)


def argument_config(layer) -> dict:
    """The constructor arguments `layer` keeps as attributes of the same names, serialized:
    the base of KerasLayer.get_config, which each layer's own get_config refines."""
    config = {}
    skip = _PLACEMENT | _NEVER_ARGUMENTS | _NOT_ARGUMENTS.get(type(layer).__name__, set())
    for name in _init_arguments(type(layer)):
        if name not in skip and not name.startswith("_") and hasattr(layer, name):
            config[name] = _value(getattr(layer, name))
    return config


def layer_config(layer) -> dict:
    """The constructor arguments that rebuild `layer` (see the module docstring)."""
    config = {k: _value(v) for k, v in layer.get_config().items()}
    if not hasattr(layer, "_keras_config"):  # a graphc/layers class used in a Keras model
        config = {**argument_config(layer), **config}
    inner = config.get("layer")
    if type(layer).__name__ == "Bidirectional" and isinstance(inner, dict):
        name = inner["config"].get("name", "")  # the forward copy: forward_<the layer>
        inner["config"]["name"] = name[len("forward_"):] if name.startswith("forward_") \
            else name
    return config


def layer_entry(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer_config(layer)}


def _known_classes() -> dict:
    from graphc.keras import constraints, initializers, regularizers
    from graphc.ops import init_ops
    found = {}
    for module in (init_ops, initializers, regularizers, constraints):
        found.update({k: v for k, v in vars(module).items() if isinstance(v, type)})
    found.update(KERAS_CLASSES)
    return found


def _lookup(name: str, custom: dict, what: str, layer: str):
    if name in custom:
        return custom[name]
    found = _known_classes().get(name)
    if found is None:
        raise UnknownObjectError(f"Unknown {what}: '{name}' (layer '{layer}'); if it is "
                                 f"yours, pass it to load_model / from_config as "
                                 f"custom_objects={{'{name}': {name}}}")
    return found


def _revive(key: str, value, custom: dict, layer: str):
    """A config value as the constructor takes it."""
    from graphc.keras import activations
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        cls = _lookup(value["class_name"], custom, "class", layer)
        if isinstance(cls, type) and issubclass(cls, Layer):
            return layer_from_entry(value, custom)
        config = dict(value["config"])
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    if key.endswith("activation") and isinstance(value, str):
        if value in custom:
            return custom[value]
        try:
            return activations.get(value)
        except ValueError:
            raise UnknownObjectError(f"Unknown activation function: '{value}' (layer "
                                     f"'{layer}'); pass it as custom_objects={{'{value}': "
                                     "function}") from None
    if key == "function" and isinstance(value, str):
        if value not in custom:
            kind = "a Python lambda" if value == "<lambda>" else f"the function '{value}'"
            raise UnknownObjectError(
                f"layer '{layer}' wraps {kind}: graphc never stores code in a model file, "
                f"so pass the function when loading: custom_objects={{'{value}': function}}"
                + (" (give the lambda a name with def first)" if value == "<lambda>" else ""))
        return custom[value]
    return value


def layer_from_entry(entry: dict, custom_objects=None):
    """The layer of a {"class_name", "config"} entry (a new object, not yet called)."""
    custom = dict(custom_objects or {})
    config = dict(entry["config"])
    layer = config.get("name", "?")
    cls = _lookup(entry["class_name"], custom, "layer", layer)
    if getattr(cls, "_is_model_class", False):  # Sequential, Model: their layer graph
        return cls.from_config(config, custom)
    config = {k: _revive(k, v, custom, layer) for k, v in config.items()}
    if "from_config" in vars(cls):
        return cls.from_config(config)
    return _construct(cls, config, f"layer '{layer}' ({entry['class_name']})")


def _construct(cls, config: dict, what: str):
    """cls(**config), leaving out an argument that the class itself passes on to its base
    (Conv2D's rank, ZeroPadding1D's data_format): the config lists the arguments of the
    whole constructor chain, and only the call tells which ones a subclass fixes."""
    config = dict(config)
    while True:
        try:
            return cls(**config)
        except TypeError as err:
            match = _MULTIPLE.search(str(err))
            if match is None or match.group(1) not in config:
                raise TypeError(f"{what} cannot be rebuilt from its config: {err}") from None
            del config[match.group(1)]


