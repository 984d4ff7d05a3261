"""Ahead-of-time export of graphs with control flow: a while loop whose trip count is an
input and a cond on the loop's result become plain control flow in the library's entry."""

import numpy as np
import pytest

import graphc as tf
from graphc.aot.export import ExportError


def _graph():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    _, h = tf.while_loop(lambda i, h: i < n, lambda i, h: (i + 1, tf.tanh(h * 0.5 + x)),
                         [0, x])
    y = tf.cond(tf.reduce_sum(h) > 0, lambda: h * 2.0, lambda: -h)
    return x, n, y


def test_a_loop_and_a_cond_export_and_run_as_in_the_session(tmp_path):
    x, n, y = _graph()
    data = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with tf.Session() as sess:
        model = tf.load(tf.export({"y": y}, {"x": x, "n": n}, tmp_path, name="loop",
                                  session=sess, batch_size=4).shared)
        for steps, sign in ((0, 1.0), (3, 1.0), (5, -1.0)):
            want = sess.run(y, {x: sign * data, n: steps})
            got = model(sign * data, np.int32(steps))
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_symbolic_batch_through_a_loop_is_refused_clearly(tmp_path):
    x, n, y = _graph()
    with tf.Session() as sess:
        with pytest.raises(ExportError, match="while is not known to keep the rows of the "
                                              "batch independent. Export with a fixed "
                                              "batch_size="):
            tf.export({"y": y}, {"x": x, "n": n}, tmp_path, name="loop", session=sess)


def test_a_loop_multiplying_by_an_invariant_matrix_exports(tmp_path):
    """The loop's product by a matrix computed before it reads it packed once (a k_pack
    kernel before the loop, compiler/pack_ahead.py), in the library as in the session."""
    x = tf.placeholder(tf.float32, [4, 24], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    m = tf.matmul(x, x, transpose_a=True) * 0.05  # computed before the loop
    _, h = tf.while_loop(lambda i, h: i < n, lambda i, h: (i + 1, tf.tanh(tf.matmul(h, m))),
                         [0, x])
    data = np.random.default_rng(1).normal(size=(4, 24)).astype(np.float32)
    with tf.Session() as sess:
        model = tf.load(tf.export({"h": h}, {"x": x, "n": n}, tmp_path, name="packed",
                                  session=sess, batch_size=4).shared)
        for steps in (0, 1, 4):
            want = sess.run(h, {x: data, n: steps})
            np.testing.assert_allclose(model(data, np.int32(steps)), want, rtol=1e-6,
                                       atol=1e-6)
