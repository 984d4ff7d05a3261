"""Tests of the gradient checker itself (graphc/test.py): TF1's compute_gradient layout and
compute_gradient_error, several xs, the default-session requirement, and that gradcheck
reports a wrong or blocked gradient instead of passing it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf
from graphc.test import GradientCheckError, compute_gradient, compute_gradient_error, gradcheck

_RNG = np.random.default_rng(99)


def u(*shape):
    return _RNG.uniform(-2.0, 2.0, shape)


def test_compute_gradient_list_of_xs():
    a = tf.placeholder(tf.float64, [2])
    b = tf.placeholder(tf.float64, [3])
    y = tf.reshape(a, [2, 1]) * tf.reshape(b, [1, 3])
    av, bv = u(2), u(3)
    with tf.Session():
        (sa, na), (sb, _) = compute_gradient([a, b], [[2], [3]], y, [2, 3],
                                              x_init_value=[av, bv])
        assert compute_gradient_error([a, b], [[2], [3]], y, [2, 3],
                                      x_init_value=[av, bv]) < 1e-6
    assert sa.shape == (2, 6) and sb.shape == (3, 6)
    assert_close(sa, np.kron(np.eye(2), bv.reshape(1, 3)))
    assert_close(sb, np.kron(av.reshape(2, 1), np.eye(3)).T)
    assert_close(na, sa, rtol=1e-6, atol=1e-6)


def test_compute_gradient_needs_a_default_session():
    x = tf.placeholder(tf.float64, [2])
    with pytest.raises(ValueError, match="default session"):
        compute_gradient(x, [2], x * 2.0, [2])


def test_compute_gradient_tf1_layout():
    x = tf.placeholder(tf.float64, [2, 3])
    y = tf.reduce_sum(x * x, axis=1)
    xv = u(2, 3)
    with tf.Session():
        symbolic, numeric = compute_gradient(x, [2, 3], y, [2], x_init_value=xv)
        assert compute_gradient_error(x, [2, 3], y, [2], x_init_value=xv) < 1e-6
    assert symbolic.shape == (6, 2) and numeric.shape == (6, 2)  # (x.size, y.size) as TF1
    expected = np.zeros((6, 2))
    expected[:3, 0], expected[3:, 1] = 2 * xv[0], 2 * xv[1]
    assert_close(symbolic, expected)
    assert_close(numeric, expected, rtol=1e-6, atol=1e-6)


def test_compute_gradient_error_float32():
    # TF1's usual check: float32 with delta 1e-3 agrees to about 1e-4
    x = tf.placeholder(tf.float32, [2, 3])
    y = tf.reduce_sum(tf.tanh(x) * 2.0, 1)
    with tf.Session():
        assert compute_gradient_error(x, [2, 3], y, [2]) < 1e-3


def test_compute_gradient_error_wrt_variable():
    v = tf.Variable(np.array([[1.0, -2.0], [0.5, 3.0]]), dtype=tf.float64)
    y = tf.reduce_sum(v * v * v)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        symbolic, _ = compute_gradient(v, [2, 2], y, [], x_init_value=np.ones((2, 2)))
        assert compute_gradient_error(v, [2, 2], y, []) < 1e-5  # delta^2 f''' / 6 = 1e-6
    assert_close(symbolic, np.full((4, 1), 3.0))


def test_gradcheck_catches_a_wrong_gradient():
    @tf.custom_gradient
    def wrong(x):
        return tf.sin(x), lambda dy: dy * tf.sin(x)  # should be cos

    with pytest.raises(GradientCheckError, match="input 0"):
        gradcheck(wrong, [u(3)])
    report = gradcheck(wrong, [u(3)], raise_exception=False)
    assert report.max_error > 1e-3


def test_gradcheck_sees_a_blocked_path():
    # the harness compares against finite differences, which ignore stop_gradient
    with pytest.raises(GradientCheckError):
        gradcheck(lambda x: tf.stop_gradient(x) * x, [u(3)])
