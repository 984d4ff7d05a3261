"""Numpy references for the Keras convolution, pooling and normalization tests, and a
finite-difference gradient check over a layer's input and weights."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.keras import backend as K


def tf_same_pads(sizes, kernel, strides, dilations=None):
    """TF's SAME padding (before, after) per axis: ceil(n / stride) outputs, the odd row
    at the end."""
    dilations = dilations or (1,) * len(kernel)
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        span = d * (k - 1) + 1
        total = max((-(-n // s) - 1) * s + span - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def conv(x, w, strides, padding="valid", dilations=None):
    """Channels-last cross-correlation: x (N, *S, C), w (*K, C, O) -> (N, *S', O), as a sum
    over kernel offsets of strided input views times the kernel tap."""
    rank = x.ndim - 2
    kernel, dilations = w.shape[:rank], dilations or (1,) * rank
    pads = tf_same_pads(x.shape[1:-1], kernel, strides, dilations) if padding == "same" \
        else [(0, 0)] * rank
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    outs = [(n - d * (k - 1) - 1) // s + 1
            for n, k, s, d in zip(xp.shape[1:-1], kernel, strides, dilations)]
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for tap in np.ndindex(*kernel):
        view = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                     for t, d, o, s in zip(tap, dilations, outs, strides))
        y += xp[(slice(None), *view)] @ w[tap]
    return y


def conv_transpose(x, w, out_sizes, strides, padding="valid"):
    """The adjoint of `conv` for an output of `out_sizes`: x (N, *S, C), w (*K, F, C) ->
    (N, *out_sizes, F). Every input position scatters its kernel-weighted copy."""
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    pads = tf_same_pads(out_sizes, kernel, strides) if padding == "same" else [(0, 0)] * rank
    full = [max(n + b + a, (i - 1) * s + k) for n, (b, a), i, s, k
            in zip(out_sizes, pads, x.shape[1:-1], strides, kernel)]
    y = np.zeros((x.shape[0], *full, w.shape[-2]))
    for tap in np.ndindex(*kernel):
        view = tuple(slice(t, t + (i - 1) * s + 1, s)
                     for t, i, s in zip(tap, x.shape[1:-1], strides))
        y[(slice(None), *view)] += x @ w[tap].T
    return y[(slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, out_sizes)))]


def depthwise(x, w, strides, padding="valid", dilations=None):
    """w (*K, C, M): output channel c * M + m is input channel c through w[..., c, m]."""
    return np.concatenate([conv(x[..., c:c + 1], w[..., c:c + 1, :], strides, padding,
                                dilations) for c in range(w.shape[-2])], axis=-1)


def pool(x, kind, size, strides, padding="valid"):
    """Channels-last max / average pooling; SAME averages count only elements inside."""
    rank = x.ndim - 2
    pads = tf_same_pads(x.shape[1:-1], size, strides) if padding == "same" \
        else [(0, 0)] * rank
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-np.inf if kind == "max" else 0)
    inside = np.pad(np.ones(x.shape), [(0, 0), *pads, (0, 0)])
    outs = [(n - k) // s + 1 for n, k, s in zip(xp.shape[1:-1], size, strides)]
    views = [(slice(None), *(slice(t, t + (o - 1) * s + 1, s)
                             for t, o, s in zip(tap, outs, strides)))
             for tap in np.ndindex(*size)]
    if kind == "max":
        return np.max([xp[v] for v in views], axis=0)
    return np.sum([xp[v] for v in views], axis=0) / np.sum([inside[v] for v in views], axis=0)


def group_norm(x, gamma, beta, groups, axis=-1, epsilon=1e-3):
    """Per sample and group of consecutive channels on `axis`: (x - mean) / sqrt(var + eps)
    over the group's channels and every other non-batch axis; then gamma, beta per
    channel."""
    moved = np.moveaxis(x, axis, -1)
    channels = moved.shape[-1]
    grouped = moved.reshape(*moved.shape[:-1], groups, channels // groups)
    axes = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
    mean = grouped.mean(axis=axes, keepdims=True)
    var = grouped.var(axis=axes, keepdims=True)
    normed = ((grouped - mean) / np.sqrt(var + epsilon)).reshape(moved.shape)
    return np.moveaxis(normed * gamma + beta, -1, axis)


def check_gradients(layer, x_value, target="reference", seed=0, delta=1e-6):
    """tf.gradients of sum(layer(x) * r), with respect to x and each weight of the
    (float64) layer, against central differences; the weights set to random values."""
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float64, x_value.shape)
    y = layer(x)
    r = rng.uniform(-1, 1, y.shape.as_list())
    loss = tf.reduce_sum(y * r)
    weights = layer.weights
    grads = tf.gradients(loss, [x] + weights)
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        values = [rng.uniform(-1, 1, w.shape.as_list()) for w in weights]
        for w, value in zip(weights, values):
            w.load(value, sess)
        symbolic = sess.run(grads, {x: x_value})
        numeric = [_central_difference(lambda v: sess.run(loss, {x: v}), x_value, delta)]
        for w, value in zip(weights, values):
            def f(v, w=w):
                w.load(v, sess)
                return sess.run(loss, {x: x_value})
            numeric.append(_central_difference(f, value, delta))
            w.load(value, sess)
    for name, s, n in zip(["input"] + [w.name for w in weights], symbolic, numeric):
        np.testing.assert_allclose(s, n, atol=1e-6, rtol=1e-5, err_msg=name)


def _central_difference(f, value, delta):
    grad = np.zeros_like(value)
    for i in np.ndindex(*value.shape):
        plus, minus = value.copy(), value.copy()
        plus[i] += delta
        minus[i] -= delta
        grad[i] = (f(plus) - f(minus)) / (2 * delta)
    return grad
