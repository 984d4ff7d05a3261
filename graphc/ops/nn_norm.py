"""Dropout and the normalizations of tf.nn, as compositions of primitives (their gradients
come from the primitives'): dropout, batch_normalization, fused_batch_norm and
local_response_normalization (lrn)."""

from __future__ import annotations

import numbers

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.nn_conv import channels_last_of
from graphc.ops.random_ops import random_uniform
from graphc.ops.tensor import convert_to_tensor


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """tf.nn.dropout: each element (or each slice along noise_shape's 1 dims) kept with
    probability keep_prob = 1 - rate and scaled by 1 / keep_prob, else zero. A fresh draw
    each run; `seed` makes the sequence of draws repeatable, as TF's op seed."""
    x = convert_to_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout expects a floating-point tensor, got {x.dtype} ('{x.name}')")
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: give exactly one of keep_prob and rate")
    keep = 1 - rate if rate is not None else keep_prob
    if isinstance(keep, numbers.Real):
        if not 0 < keep <= 1:
            raise ValueError(f"dropout: keep_prob must be in (0, 1] (rate in [0, 1)), got "
                             f"keep_prob {keep}")
        if keep == 1:
            return A.identity(x, name=name or "dropout")
    keep = m.cast(convert_to_tensor(keep), x.dtype) if not isinstance(keep, numbers.Real) \
        else keep
    shape = A.shape(x) if noise_shape is None else noise_shape
    noise = random_uniform(shape, dtype=x.dtype, seed=seed, name="dropout/random_uniform")
    kept = m.floor(noise + keep)  # 1 with probability keep, else 0
    return m.multiply(m.truediv(x, keep), kept, name=name or "dropout")


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """tf.nn.batch_normalization: (x - mean) / sqrt(variance + epsilon) * scale + offset,
    broadcasting; offset and scale may be None."""
    x, mean, variance = (convert_to_tensor(v) for v in (x, mean, variance))
    inv = m.rsqrt(variance + variance_epsilon)
    if scale is not None:
        inv = inv * scale
    shift = -mean * inv if offset is None else offset - mean * inv
    return m.add(x * m.cast(inv, x.dtype), m.cast(shift, x.dtype),
                 name=name or "batchnorm")


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None,
                     exponential_avg_factor=1.0):
    """tf.nn.fused_batch_norm over a rank-4 input: (y, batch mean, batch variance).

    Training: normalizes with the batch's mean and variance over N, H and W, and returns the
    variance with Bessel's correction (n / (n - 1)), as TF does for the running average.
    Inference: normalizes with the given mean and variance and returns them."""
    x = convert_to_tensor(x)
    if x.node.rank != 4:
        raise ShapeError(f"fused_batch_norm expects a rank-4 input, got shape {x.shape}")
    last = channels_last_of(data_format, 2, "fused_batch_norm")
    axes = [0, 1, 2] if last else [0, 2, 3]
    compute = dtypes.float32 if x.dtype is dtypes.float16 else x.dtype
    xc = m.cast(x, compute)
    scale, offset = m.cast(scale, compute), m.cast(offset, compute)

    def per_channel(v):
        return v if last else A.reshape(v, [-1, 1, 1])
    if is_training:
        batch_mean = m.reduce_mean(xc, axes)
        centered = xc - per_channel(batch_mean)
        batch_var = m.reduce_mean(m.square(centered), axes)
        dims = [x.node.shape[a] for a in axes]
        if None not in dims:
            n = float(dims[0] * dims[1] * dims[2])
            bessel = n / max(n - 1.0, 1.0)
        else:
            n = m.cast(m.reduce_prod(A.gather(A.shape(x), axes)), compute)
            bessel = n / m.maximum(n - 1.0, 1.0)
        corrected = batch_var * bessel
        y = centered * per_channel(m.rsqrt(batch_var + epsilon) * scale) + \
            per_channel(offset)
        return m.cast(y, x.dtype, name=name), batch_mean, corrected
    if mean is None or variance is None:
        raise ValueError("fused_batch_norm: inference (is_training=False) needs mean and "
                         "variance")
    mean, variance = m.cast(mean, compute), m.cast(variance, compute)
    inv = m.rsqrt(variance + epsilon) * scale
    y = xc * per_channel(inv) + per_channel(offset - mean * inv)
    return m.cast(y, x.dtype, name=name), mean, variance


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0,  # noqa: A002
                                 beta=0.5, name=None):
    """tf.nn.lrn: input / (bias + alpha * sum of squares over the channels within
    depth_radius) ** beta, along the last axis of a rank-4 input."""
    x = convert_to_tensor(input)
    if x.node.rank != 4:
        raise ShapeError(f"lrn expects a rank-4 input, got shape {x.shape}")
    r = int(depth_radius)
    if r < 0:
        raise ValueError(f"lrn: depth_radius must be non-negative, got {depth_radius}")
    channels = x.node.shape[-1]
    if channels is None:
        raise ShapeError("lrn needs the number of channels when the graph is built")
    squares = A.pad(m.square(x), [[0, 0], [0, 0], [0, 0], [r, r]])
    total = A.slice(squares, [0, 0, 0, 0], [-1, -1, -1, channels])
    for k in range(1, 2 * r + 1):
        total = total + A.slice(squares, [0, 0, 0, k], [-1, -1, -1, channels])
    return m.truediv(x, m.pow(bias + alpha * total, beta), name=name or "LRN")


lrn = local_response_normalization
