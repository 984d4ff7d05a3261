"""Helpers shared by the tf.layers tests: numpy references and a gradient check that
covers a layer's variables as well as its input."""

from __future__ import annotations

import numpy as np

import graphc as tf


def same_pads(sizes, kernel, strides, dilations):
    """TF's SAME padding (before, after) per axis: ceil(n / stride) outputs."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        span = d * (k - 1) + 1
        out = -(-n // s)
        total = max((out - 1) * s + span - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def np_conv(x, w, strides, dilations, padding):
    """Channels-last N-d convolution: x (N, *S, C), w (*K, C, O)."""
    s = x.ndim - 2
    kernel = w.shape[:s]
    pads = (same_pads(x.shape[1:-1], kernel, strides, dilations) if padding == "same"
            else [(0, 0)] * s)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    outs = [(n - sp) // st + 1 for n, sp, st in zip(xp.shape[1:-1], spans, strides)]
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for k in np.ndindex(*kernel):
        window = tuple(slice(ki * d, ki * d + (o - 1) * st + 1, st)
                       for ki, d, o, st in zip(k, dilations, outs, strides))
        y += xp[(slice(None), *window)] @ w[k]
    return y


def np_conv_transpose(x, w, out_sizes, strides, dilations, padding):
    """The adjoint of np_conv: x (N, *S, C) with w (*K, F, C) -> (N, *out_sizes, F)."""
    s = x.ndim - 2
    kernel = w.shape[:s]
    pads = (same_pads(out_sizes, kernel, strides, dilations) if padding == "same"
            else [(0, 0)] * s)
    full = [n + b + a for n, (b, a) in zip(out_sizes, pads)]
    full = [max(f, (i - 1) * st + d * (k - 1) + 1) for f, i, st, d, k
            in zip(full, x.shape[1:-1], strides, dilations, kernel)]
    y = np.zeros((x.shape[0], *full, w.shape[-2]))
    for k in np.ndindex(*kernel):
        window = tuple(slice(ki * d, ki * d + (i - 1) * st + 1, st)
                       for ki, d, i, st in zip(k, dilations, x.shape[1:-1], strides))
        y[(slice(None), *window)] += x @ w[k].T
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pads, out_sizes))
    return y[(slice(None), *crop)]


def np_pool(x, kind, size, strides, padding):
    """Channels-last max/avg pooling; SAME averages count only elements inside."""
    s = x.ndim - 2
    pads = (same_pads(x.shape[1:-1], size, strides, (1,) * s) if padding == "same"
            else [(0, 0)] * s)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    ones = np.pad(np.ones(x.shape), [(0, 0), *pads, (0, 0)])
    outs = [(n - k) // st + 1 for n, k, st in zip(xp.shape[1:-1], size, strides)]
    stack, counts = [], 0
    for k in np.ndindex(*size):
        window = (slice(None), *(slice(ki, ki + (o - 1) * st + 1, st)
                                 for ki, o, st in zip(k, outs, strides)))
        stack.append(xp[window])
        counts = counts + ones[window]
    if kind == "max":
        return np.max(stack, axis=0)
    return np.sum(stack, axis=0) / counts


def check_gradients(build, x_value, target, seed=0, delta=1e-6, tol=1e-6):
    """Compare tf.gradients of sum(build(x) * r) with respect to x and to every trainable
    variable against central differences, in float64 (variables perturbed with load)."""
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float64, x_value.shape)
    y = build(x)
    r = rng.uniform(-1, 1, [d if d is not None else x_value.shape[0] for d in y.shape.dims])
    loss = tf.reduce_sum(y * r)
    variables = tf.trainable_variables()
    grads = tf.gradients(loss, [x] + variables)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        values = [rng.uniform(-1, 1, v.shape.as_list()) for v in variables]
        for v, value in zip(variables, values):
            v.load(value, sess)
        symbolic = sess.run(grads, {x: x_value})

        def f():
            return sess.run(loss, {x: x_cur})
        x_cur = x_value.copy()
        numeric = [np.zeros_like(x_value)]
        for i in np.ndindex(*x_value.shape):
            x_cur[i] += delta
            plus = f()
            x_cur[i] -= 2 * delta
            minus = f()
            x_cur[i] += delta
            numeric[0][i] = (plus - minus) / (2 * delta)
        for v, value in zip(variables, values):
            g = np.zeros_like(value)
            for i in np.ndindex(*value.shape):
                for sign in (1, -1):
                    changed = value.copy()
                    changed[i] += sign * delta
                    v.load(changed, sess)
                    g[i] += sign * f() / (2 * delta)
            v.load(value, sess)
            numeric.append(g)
    for v, s, n in zip(["input"] + [v.name for v in variables], symbolic, numeric):
        np.testing.assert_allclose(s, n, atol=tol, rtol=1e-5, err_msg=v)
