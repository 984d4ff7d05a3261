"""tf.keras.activations: the functions Keras layers take by name ('relu', 'softmax', ...).

Each is a composition of graphc.ops; `get(name or callable)` resolves what a layer's
`activation=` argument holds (None and 'linear' are the identity).
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ops import math_ops as m
from graphc.ops import nn_ops


def linear(x):
    return x


def relu(x, alpha=0.0, max_value=None, threshold=0):
    """max(x, 0); with alpha, alpha * x below zero; max_value caps the output."""
    if alpha == 0 and max_value is None and threshold == 0:
        return nn_ops.relu(x)
    y = m.where(m.greater(x, threshold), x, alpha * (x - threshold))
    return y if max_value is None else m.minimum(y, max_value)


def softmax(x, axis=-1):
    return nn_ops.softmax(x, axis=axis)


def elu(x, alpha=1.0):
    y = nn_ops.elu(x)
    return y if alpha == 1.0 else m.where(m.greater(x, 0), y, alpha * y)


def selu(x):
    return nn_ops.selu(x)


def softplus(x):
    return nn_ops.softplus(x)


def softsign(x):
    return nn_ops.softsign(x)


def sigmoid(x):
    return nn_ops.sigmoid(x)


def hard_sigmoid(x):
    """clip(0.2 x + 0.5, 0, 1), Keras's piecewise-linear sigmoid."""
    return m.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)


def tanh(x):
    return nn_ops.tanh(x)


def exponential(x):
    return m.exp(x)


def gelu(x, approximate=False):
    return nn_ops.gelu(x, approximate=approximate)


def swish(x):
    return nn_ops.silu(x)


_BY_NAME = {f.__name__: f for f in (linear, relu, softmax, elu, selu, softplus, softsign,
                                    sigmoid, hard_sigmoid, tanh, exponential, gelu, swish)}


def get(identifier):
    """None or 'linear' -> linear; a name -> its function; a callable as is."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown activation function {identifier!r}; expected a callable or "
                     f"one of {sorted(_BY_NAME)} (at {user_location()})")


def serialize(activation) -> str:
    return getattr(activation, "__name__", repr(activation))
