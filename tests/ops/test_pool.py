"""Pooling (tf.nn.max_pool, avg_pool, pool; ir/ops/pool.py): values against direct loops
written here, on every target and both layouts; ties broken as TF (the first maximum in the
window's row-major order gets the gradient); SAME averages over the elements inside the
input; gradients of first and second order; errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import ShapeError
from graphc.test import gradcheck

_RNG = np.random.default_rng(7)


def _same(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return (total // 2, total - total // 2)


def direct_pool(x, kind, window, strides, padding):
    """Channels-last pooling by its definition; also each output's first maximum."""
    n, *spatial, c = x.shape
    out_spatial = [(d + b + a - k) // s + 1 for d, k, s, (b, a)
                   in zip(spatial, window, strides, padding)]
    out = np.zeros((n, *out_spatial, c))
    first = {}
    for b in range(n):
        for o in np.ndindex(*out_spatial):
            for ch in range(c):
                inside = []
                for k in np.ndindex(*window):  # row-major order of the window
                    pos = tuple(oi * s + ki - pb for oi, ki, s, (pb, _)
                                in zip(o, k, strides, padding))
                    if all(0 <= p < d for p, d in zip(pos, spatial)):
                        inside.append((x[(b, *pos, ch)], pos))
                values = [v for v, _ in inside]
                if kind == "max":
                    out[(b, *o, ch)] = max(values)
                    first[(b, *o, ch)] = (b, *inside[values.index(max(values))][1], ch)
                else:
                    out[(b, *o, ch)] = sum(values) / len(values)
    return out, first


CASES = [  # (x shape, window, strides, padding)
    ((2, 7, 3), (3,), (2,), "SAME"),
    ((1, 9, 2), (2,), (3,), "VALID"),  # stride > window
    ((2, 5, 6, 3), (3, 2), (2, 2), "SAME"),
    ((1, 6, 6, 2), (2, 2), (2, 2), "VALID"),
    ((1, 1, 4, 2), (1, 3), (1, 1), "SAME"),  # a size-1 axis
    ((1, 3, 4, 5, 2), (2, 2, 3), (1, 2, 2), "SAME"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("layout", ["last", "first"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}/{c[1]}/{c[3]}" for c in CASES])
def test_pool_matches_direct_loops(case, layout, kind, target):
    xs, window, strides, padding = case
    s = len(window)
    xv = _RNG.integers(-4, 5, size=xs).astype(np.float64)  # integers: ties in windows
    pairs = [(0, 0)] * s if padding == "VALID" else \
        [_same(d, k, st) for d, k, st in zip(xs[1:-1], window, strides)]
    want, _ = direct_pool(xv, kind, window, strides, pairs)
    fmt = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[s]
    feed = xv if layout == "last" else np.moveaxis(xv, -1, 1)
    op = tf.nn.max_pool if kind == "max" else tf.nn.avg_pool
    for dtype in (np.float32, np.float64):
        x = tf.placeholder(dtype, feed.shape)
        y = op(x, list(window), list(strides), padding,
               data_format=fmt[0] if layout == "last" else fmt[1])
        got = run(y, {x: feed.astype(dtype)}, target)
        assert_close(got if layout == "last" else np.moveaxis(got, 1, -1), want,
                     rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum(target):
    xv = _RNG.integers(-2, 3, size=(2, 6, 5, 2)).astype(np.float64)  # many ties
    gv = _RNG.uniform(-1, 1, (2, 3, 3, 2))
    x = tf.placeholder(tf.float64, xv.shape)
    y = tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
    (dx,) = tf.gradients(y, [x], grad_ys=[tf.constant(gv)])
    _, first = direct_pool(xv, "max", (3, 3), (2, 2), [_same(6, 3, 2), _same(5, 3, 2)])
    want = np.zeros_like(xv)
    for out_index, src in first.items():
        want[src] += gv[out_index]
    assert_close(run(dx, {x: xv}, target), want)


TILED = [  # windows that do not overlap (stride = window): lowered without a window loop
    ((2, 7, 5, 2), (2, 2), "SAME", "last"),  # padded after: the last windows are partial
    ((2, 7, 5, 2), (2, 2), "VALID", "last"),  # the last row and column in no window
    ((1, 10, 3), (3,), "VALID", "last"),
    ((1, 4, 5, 3, 2), (2, 2, 2), "SAME", "last"),
    ((2, 6, 4, 3), (3, 2), "SAME", "first"),
]


@pytest.mark.parametrize("case", TILED, ids=[f"{c[0]}/{c[2]}/{c[3]}" for c in TILED])
def test_max_pool_gradient_of_windows_that_do_not_overlap(case, target):
    xs, window, padding, layout = case
    s = len(window)
    xv = _RNG.integers(-2, 3, size=xs).astype(np.float64)  # many ties
    pairs = [(0, 0)] * s if padding == "VALID" else \
        [_same(d, k, k) for d, k in zip(xs[1:-1], window)]
    out, first = direct_pool(xv, "max", window, window, pairs)
    gv = _RNG.uniform(-1, 1, out.shape)
    want = np.zeros_like(xv)
    for out_index, src in first.items():
        want[src] += gv[out_index]
    fmt = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[s]
    first_axis = (lambda a: a) if layout == "last" else (lambda a: np.moveaxis(a, -1, 1))
    x = tf.placeholder(tf.float64, first_axis(xv).shape)
    y = tf.nn.max_pool(x, list(window), list(window), padding,
                       data_format=fmt[0] if layout == "last" else fmt[1])
    (dx,) = tf.gradients(y, [x], grad_ys=[tf.constant(first_axis(gv))])
    assert_close(run(dx, {x: first_axis(xv)}, target), first_axis(want))


def test_avg_pool_same_counts_only_the_input():
    x = tf.constant(np.ones((1, 3, 3, 1)))
    y = tf.nn.avg_pool(x, [1, 3, 3, 1], [1, 1, 1, 1], "SAME")
    assert_close(run(y), np.ones((1, 3, 3, 1)))  # zeros of padding would lower the corners
    (dx,) = tf.gradients(y, [x])
    # a corner sits in 4 windows of 4, 6, 6 and 9 elements inside the input
    assert_close(run(dx)[0, 0, 0, 0], 1 / 4 + 2 / 6 + 1 / 9)


GRAD_CASES = [
    ("max2d", lambda x: tf.nn.max_pool(x, [1, 2, 3, 1], [1, 2, 1, 1], "SAME"), (2, 5, 4, 2)),
    ("avg2d_nchw", lambda x: tf.nn.avg_pool(x, [1, 1, 3, 2], [1, 1, 2, 2], "SAME",
                                            data_format="NCHW"), (1, 2, 5, 4)),
    ("max1d", lambda x: tf.nn.max_pool1d(x, 3, 2, "VALID"), (2, 7, 3)),
    ("avg3d", lambda x: tf.nn.avg_pool3d(x, 2, 2, "SAME"), (1, 3, 3, 4, 1)),
    ("pool_max", lambda x: tf.nn.pool(x, [2, 2], "MAX", "SAME", strides=[1, 2]), (1, 4, 5, 2)),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(case, target):
    _, fn, shape = case
    # distinct values: a maximum moves under the finite difference only across ties
    xv = _RNG.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)
    gradcheck(fn, [xv], atol=1e-6, rtol=1e-5, delta=1e-7, target=target)


def test_second_order_through_max_pool():
    def f(x):
        y = tf.nn.max_pool(x, [1, 2, 2, 1], [1, 1, 1, 1], "VALID")
        (dx,) = tf.gradients(tf.reduce_sum(y * y * y), [x])
        return tf.reduce_sum(dx * x)
    xv = _RNG.permutation(2 * 4 * 3 * 2).reshape(2, 4, 3, 2) / 48.0
    gradcheck(f, [xv], atol=1e-6, rtol=1e-5, delta=1e-7)


def test_errors():
    x = tf.placeholder(tf.float32, [1, 4, 4, 2])
    with pytest.raises(ShapeError, match=r"the window 5 is larger than the padded input along "
                                         r"spatial axis 0 \(4 \+ 0 \+ 0\).*test_pool.py"):
        tf.nn.max_pool(x, [1, 5, 1, 1], [1, 1, 1, 1], "VALID")
    with pytest.raises(ValueError, match=r"max_pool: ksize \[2, 2, 2, 2\] must be 1 in the "
                                         r"batch and channel dimensions"):
        tf.nn.max_pool(x, [2, 2, 2, 2], [1, 1, 1, 1], "VALID")
    with pytest.raises(ShapeError, match=r"avg_pool: strides \[1, 1, 0, 1\] must be positive"):
        tf.nn.avg_pool(x, [1, 2, 2, 1], [1, 1, 0, 1], "SAME")
    with pytest.raises(ValueError, match="pool: pooling_type must be 'MAX' or 'AVG'"):
        tf.nn.pool(x, [2, 2], "MIN", "SAME")
    with pytest.raises(TypeError, match="max_pool expects a floating-point input, got int32"):
        tf.nn.max_pool(tf.zeros([1, 2, 2, 1], tf.int32), 2, 2, "VALID")
