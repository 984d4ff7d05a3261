"""Activations and normalizations of tf.nn, composed from primitives in numerically stable
forms (no overflow for large |x|, and no inf in a branch that `where` discards, since its
gradient would turn into nan)."""

from __future__ import annotations

import math

from graphc.errors import ShapeError
from graphc.ir.shapes import normalize_axis
from graphc.ops import math_ops as m
from graphc.ops.array_ops import reshape
from graphc.ops.tensor import convert_to_tensor

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float(x, what):
    x = convert_to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{what} expects a floating-point tensor, got {x.dtype} ('{x.name}')")
    return x


def relu(features, name=None):
    # maximum(0, x), not maximum(x, 0): a tie goes to the first operand, so the gradient at
    # x = 0 is 0, as in TF
    x = convert_to_tensor(features)
    return m.maximum(0, x, name=name or "Relu")


def relu6(features, name=None):
    x = convert_to_tensor(features)  # constants first: zero gradient at the kinks 0 and 6
    return m.minimum(6, m.maximum(0, x), name=name or "Relu6")


def leaky_relu(features, alpha=0.2, name=None):
    x = convert_to_tensor(features)
    if x.dtype.kind != "f":  # as TF: ints become float32 (not float64 by promotion with alpha)
        x = m.cast(x, "float32")
    return m.where(m.greater(x, 0), x, x * alpha, name=name or "LeakyRelu")


def elu(features, name=None):
    # expm1 only sees x <= 0, so the discarded branch cannot overflow
    x = _float(features, "elu")
    return m.where(m.greater(x, 0), x, m.expm1(m.minimum(x, 0)), name=name or "Elu")


def selu(features, name=None):
    x = _float(features, "selu")
    negative = SELU_ALPHA * m.expm1(m.minimum(x, 0))
    return m.multiply(SELU_SCALE, m.where(m.greater(x, 0), x, negative), name=name or "Selu")


def softplus(features, name=None):
    # log(1 + e^x) = x + log1p(e^-x) for x >= 0, log1p(e^x) below: exact for large |x|.
    # Each branch sees only its own half of x (no overflow in the discarded one, so no
    # nan gradient), and the gradient at 0 is sigmoid(0) = 0.5.
    x = _float(features, "softplus")
    pos = m.where(x >= 0, x, 0)
    neg = m.minimum(x, 0)
    return m.where(x >= 0, pos + m.log1p(m.exp(-pos)), m.log1p(m.exp(neg)),
                   name=name or "Softplus")


def softsign(features, name=None):
    x = _float(features, "softsign")
    return m.truediv(x, 1 + m.abs(x), name=name or "Softsign")


def sigmoid(x, name=None):
    return m.sigmoid(x, name=name or "Sigmoid")


def tanh(x, name=None):
    return m.tanh(x, name=name or "Tanh")


def gelu(features, approximate=False, name=None):
    """x * Phi(x); approximate=True uses the tanh form of Hendrycks & Gimpel."""
    x = _float(features, "gelu")
    if approximate:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
        return m.multiply(0.5 * x, 1 + m.tanh(inner), name=name or "Gelu")
    return m.multiply(0.5 * x, 1 + m.erf(x * (1 / math.sqrt(2))), name=name or "Gelu")


def silu(features, beta=1.0, name=None):
    x = _float(features, "silu")
    return m.multiply(x, m.sigmoid(x * beta if beta != 1.0 else x), name=name or "Silu")


swish = silu


def _last_axis(x, axis, what):
    if x.node.rank is None:
        raise ShapeError(f"{what} needs a tensor of known rank; '{x.name}' has none")
    return normalize_axis(-1 if axis is None else axis, x.node.rank, f"{what} axis")


def softmax(logits, axis=None, name=None, dim=None):
    # e^(x - max) never overflows; the max cancels in the ratio. As TF1's kernel does, e is
    # scaled by one reciprocal of the sum per row, not divided element by element (a vector
    # division costs several multiplications: W2's row softmax took 10% longer)
    x = _float(logits, "softmax")
    axis = _last_axis(x, dim if axis is None else axis, "softmax")
    e = m.exp(x - m.reduce_max(x, axis, keepdims=True))
    return m.multiply(e, m.reciprocal(m.reduce_sum(e, axis, keepdims=True)),
                      name=name or "Softmax")


def log_softmax(logits, axis=None, name=None, dim=None):
    # x - max - log(sum(e^(x - max))): finite for any finite logits
    x = _float(logits, "log_softmax")
    axis = _last_axis(x, dim if axis is None else axis, "log_softmax")
    shifted = x - m.reduce_max(x, axis, keepdims=True)
    return m.subtract(shifted, m.log(m.reduce_sum(m.exp(shifted), axis, keepdims=True)),
                      name=name or "LogSoftmax")


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x^2), epsilon)) along `axis` (all axes when None)."""
    x = _float(x, "l2_normalize")
    axis = dim if axis is None else axis
    square_sum = m.reduce_sum(m.square(x), axis, keepdims=True)
    return m.multiply(x, m.rsqrt(m.maximum(square_sum, epsilon)), name=name or "l2_normalize")


def bias_add(value, bias, data_format=None, name=None):
    """value + bias along the channel axis: last (NHWC, default) or 1 (NCHW)."""
    x, b = convert_to_tensor(value), convert_to_tensor(bias)
    if b.node.rank != 1:
        raise ShapeError(f"bias_add: bias must be 1-D, got shape {b.shape}")
    if x.node.rank is None or x.node.rank < 2:
        raise ShapeError(f"bias_add: value must have rank >= 2, got shape {x.shape}")
    if data_format is not None and data_format.startswith("NC"):
        b = reshape(b, [-1] + [1] * (x.node.rank - 2))
        axis = 1
    else:
        axis = x.node.rank - 1
    channels, size = x.node.shape[axis], b.node.shape[0]
    if channels is not None and size is not None and channels != size:
        raise ShapeError(f"bias_add: bias of size {size} does not match the {channels} "
                         f"channels of value with shape {x.shape}")
    return m.add(x, b, name=name or "BiasAdd")


def moments(x, axes, shift=None, keepdims=False, name=None, keep_dims=None):
    """(mean, variance) over `axes`, variance as the mean squared deviation."""
    x = _float(x, "moments")
    keep = keepdims or bool(keep_dims)
    mean = m.reduce_mean(x, axes, keepdims=True)
    variance = m.reduce_mean(m.square(x - mean), axes, keepdims=keep)
    if not keep:
        mean = m.reduce_mean(x, axes)
    return mean, variance
