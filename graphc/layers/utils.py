"""Argument handling shared by the layers: TF1's spellings of tuples, paddings and data
formats, the output-size arithmetic of convolutions, activations and initializers given by
name, get_config serialization, and the `training` switch (a Python bool or a bool tensor).

Errors raised while a layer is being configured name the layer and end with the user's
file:line, as graph-building errors do elsewhere in graphc.
"""

from __future__ import annotations

import numbers

import numpy as np

from graphc.errors import user_location
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import init_ops, nn_ops
from graphc.ops import math_ops as m
from graphc.ops.tensor import convert_to_tensor, is_tensor_like


def layer_error(layer: str, message: str, kind=ValueError) -> Exception:
    """An exception of `kind` for a problem with layer `layer`, at the user's line."""
    return kind(f"layer '{layer}': {message} (at {user_location()})")


# --- integer tuples, paddings, data formats ---------------------------------------------
def normalize_tuple(value, n: int, what: str, layer: str, minimum: int = 1) -> tuple:
    """An int, or an iterable of n ints, as an n-tuple of ints >= minimum."""
    if isinstance(value, numbers.Integral):
        values = (int(value),) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            values = None
        if values is None or len(values) != n:
            raise layer_error(layer, f"{what} must be an int or a tuple of {n} ints, got "
                                     f"{value!r}")
    if any(v < minimum for v in values):
        raise layer_error(layer, f"{what} must be >= {minimum}, got {value!r}")
    return values


def normalize_padding(value, layer: str, causal_ok: bool = False) -> str:
    """'valid', 'same' or ('causal' where allowed), from any letter case."""
    padding = value.lower() if isinstance(value, str) else value
    allowed = ("valid", "same", "causal") if causal_ok else ("valid", "same")
    if padding not in allowed:
        raise layer_error(layer, "padding must be one of 'valid', 'same' (or 'causal', only "
                                 f"for Conv1D and SeparableConv1D), got {value!r}")
    return padding


def normalize_data_format(value, layer: str) -> str:
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise layer_error(layer, "data_format must be 'channels_last' or 'channels_first', "
                                 f"got {value!r}")
    return fmt


def conv_output_length(size, kernel: int, padding: str, stride: int, dilation: int = 1):
    """Outputs of a convolution or pooling window along one axis (None if size is)."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        length = size
    else:
        length = size - span + 1
    return (length + stride - 1) // stride


def deconv_output_length(size, kernel: int, padding: str, stride: int, dilation: int = 1):
    """Outputs of a transposed convolution along one axis: the input size of the
    convolution it transposes (TF's choice where several sizes map to `size`)."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return size * stride + max(span - stride, 0)
    return size * stride


def positive_int(value, what: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise layer_error(layer, f"{what} must be a positive integer, got {value!r}")
    return int(value)


# --- activations and initializers by name -------------------------------------------------
_ACTIVATIONS = {
    "linear": None, "relu": nn_ops.relu, "relu6": nn_ops.relu6, "elu": nn_ops.elu,
    "selu": nn_ops.selu, "tanh": nn_ops.tanh, "sigmoid": nn_ops.sigmoid,
    "softmax": nn_ops.softmax, "softplus": nn_ops.softplus, "softsign": nn_ops.softsign,
}

_INITIALIZERS = {
    "zeros": init_ops.Zeros, "ones": init_ops.Ones,
    "glorot_uniform": init_ops.glorot_uniform_initializer,
    "glorot_normal": init_ops.glorot_normal_initializer,
    "he_uniform": init_ops.he_uniform, "he_normal": init_ops.he_normal,
    "lecun_uniform": init_ops.lecun_uniform, "lecun_normal": init_ops.lecun_normal,
    "random_uniform": init_ops.RandomUniform, "random_normal": init_ops.RandomNormal,
    "truncated_normal": init_ops.TruncatedNormal, "orthogonal": init_ops.Orthogonal,
}


def get_activation(value, layer: str):
    """None, a callable, or a Keras name ('relu', 'linear', ...)."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value in _ACTIVATIONS:
        return _ACTIVATIONS[value]
    raise layer_error(layer, f"activation must be a callable or one of "
                             f"{sorted(_ACTIVATIONS)}, got {value!r}")


def get_initializer(value, layer: str):
    """None (the variable scope's, else glorot_uniform), a callable, or a Keras name."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value in _INITIALIZERS:
        return _INITIALIZERS[value]()
    raise layer_error(layer, f"initializer must be a callable or one of "
                             f"{sorted(_INITIALIZERS)}, got {value!r}")


def get_callable(value, what: str, layer: str):
    """A regularizer or constraint: None or a callable."""
    if value is None or callable(value):
        return value
    raise layer_error(layer, f"{what} must be a callable or None, got {value!r}")


def serialize(value):
    """A JSON-friendly description of an argument, for get_config: Keras's
    {'class_name', 'config'} for objects, the name of a function, plain values as is."""
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(serialize(v) for v in value)
    if isinstance(value, dtypes.DType):
        return value.name
    if isinstance(value, np.ndarray):
        return value.tolist()
    name = getattr(value, "__name__", None)
    if name is not None and callable(value) and not isinstance(value, type):
        return name
    config = {k: serialize(v) for k, v in vars(value).items() if not k.startswith("_")}
    return {"class_name": type(value).__name__, "config": config}


# --- training: a Python bool or a bool tensor -----------------------------------------------
def constant_value(pred):
    """True or False when `pred` is known when the graph is built, else None."""
    if isinstance(pred, (bool, np.bool_)):
        return bool(pred)
    if isinstance(pred, numbers.Integral) and pred in (0, 1):
        return bool(pred)
    if not is_tensor_like(pred):
        raise TypeError(f"training must be a Python bool or a bool tensor, got {pred!r} "
                        f"(at {user_location()})")
    t = convert_to_tensor(pred)
    if t.dtype is not dtypes.bool_ or t.node.shape not in ((), None):
        raise TypeError(f"training must be a bool scalar, got {t.dtype} of shape {t.shape} "
                        f"(at {user_location()})")
    value = A.static_value(t)
    return None if value is None else bool(value)


def smart_select(pred, true_fn, false_fn):
    """true_fn() or false_fn() when `pred` is known now; otherwise both, and an elementwise
    select on the run-time value. A select rather than tf.cond: both sides are cheap here,
    and a random draw (dropout) outside a cond is drawn once, so its gradient sees the
    same mask as the forward pass."""
    known = constant_value(pred)
    if known is not None:
        return true_fn() if known else false_fn()
    return m.where(convert_to_tensor(pred), true_fn(), false_fn())
