"""Float max/min reductions render as maxnum/minnum plus a NaN flag (render._extremum_update):
a NaN anywhere in what is reduced gives NaN, as numpy's max/min do, whatever the position,
the axes, the thread count or the fusion around the reduction."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf


def _data(dtype) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 70)).astype(dtype)
    x[0, 0] = np.nan  # first element of a row
    x[1, 35] = np.nan  # the middle, inside a vector
    x[2, 69] = np.nan  # the last, in the remainder of the vector loop
    x[3, :] = np.nan  # all of a row
    x[4, 10] = np.inf
    x[4, 11] = -np.inf
    return x  # row 5 has no NaN


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_nan_propagates_through_max_and_min_reductions(dtype, threads):
    a = _data(dtype)
    x = tf.placeholder(tf.as_dtype(dtype), a.shape)
    fetches = [tf.reduce_max(x, 1), tf.reduce_min(x, 1), tf.reduce_max(x, 0),
               tf.reduce_min(x, 0), tf.reduce_max(x), tf.reduce_min(x[4:]),
               tf.reduce_max(x * 2.0 + 1.0, 1), tf.nn.softmax(x)[:, :3],
               x - tf.reduce_max(x, 1, keepdims=True)]
    with np.errstate(invalid="ignore"):
        e = np.exp(a - a.max(1, keepdims=True))
        expected = [a.max(1), a.min(1), a.max(0), a.min(0), a.max(), a[4:].min(),
                    (a * 2 + 1).max(1), (e / e.sum(1, keepdims=True))[:, :3],
                    a - a.max(1, keepdims=True)]
    config = tf.ConfigProto(intra_op_parallelism_threads=threads)
    with tf.Session(config=config) as sess:
        got = sess.run(fetches, {x: a})
    for g, w in zip(got, expected):
        np.testing.assert_allclose(g, w, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))


def test_a_long_row_without_nan_keeps_its_extremes():
    a = np.random.default_rng(3).standard_normal((4, 4096)).astype(np.float32)
    a[1, 4000] = 50.0
    a[2, 5] = -50.0
    x = tf.placeholder(tf.float32, a.shape)
    with tf.Session() as sess:
        top, bottom = sess.run([tf.reduce_max(x, 1), tf.reduce_min(x, 1)], {x: a})
    np.testing.assert_array_equal(top, a.max(1))
    np.testing.assert_array_equal(bottom, a.min(1))
