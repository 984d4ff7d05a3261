"""Second-order differentiation (tf.hessians, tf.hessian_vector_product, gradients of
gradients, checked against closed forms and finite differences) and tf.custom_gradient."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.test import gradcheck

_RNG = np.random.default_rng(5)


def u(*shape, lo=-2.0, hi=2.0):
    return _RNG.uniform(lo, hi, shape)


# --- second order ---------------------------------------------------------------------------
def test_hessian_of_quadratic_form():
    a = np.array([[1.0, 2.0, 0.0], [-1.0, 3.0, 0.5], [4.0, 0.0, 2.0]])
    x = tf.placeholder(tf.float64, [3])
    y = tf.reduce_sum(tf.reshape(x, [1, 3]) @ tf.constant(a) @ tf.reshape(x, [3, 1]))
    (h,) = tf.hessians(y, [x])
    assert h.shape.as_list() == [3, 3]
    assert_close(run(h, {x: u(3)}), a + a.T)


def test_hessian_of_sum_tanh():
    x = tf.placeholder(tf.float64, [2, 2])
    (h,) = tf.hessians(tf.reduce_sum(tf.tanh(x)), x)
    xv = u(2, 2)
    t = np.tanh(xv).reshape(-1)
    expected = np.diag(-2 * t * (1 - t * t)).reshape(2, 2, 2, 2)
    assert h.shape.as_list() == [2, 2, 2, 2]
    assert_close(run(h, {x: xv}), expected)


def test_hessian_of_unconnected_is_none():
    x, z = tf.placeholder(tf.float64, [2]), tf.placeholder(tf.float64, [2])
    hx, hz = tf.hessians(tf.reduce_sum(x * x), [x, z])
    assert hz is None
    assert_close(run(hx, {x: u(2)}), 2 * np.eye(2))


def test_hessian_wrt_variable_and_of_linear_function():
    v = tf.Variable([0.5, -1.0, 2.0], dtype=tf.float64)
    hv, = tf.hessians(tf.reduce_sum(v * v * v), [v])
    assert hv.shape.as_list() == [3, 3]
    assert_close(run(hv), np.diag(6 * np.array([0.5, -1.0, 2.0])))
    x = tf.placeholder(tf.float64, [2])
    (h_lin,) = tf.hessians(tf.reduce_sum(3.0 * x), [x])
    assert_close(run(h_lin, {x: u(2)}), np.zeros((2, 2)))


def test_hessians_need_known_shape():
    x = tf.placeholder(tf.float64, [None])
    with pytest.raises(Exception, match="fully known shape"):
        tf.hessians(tf.reduce_sum(x * x), [x])


def test_hessian_vector_product_matches_full_hessian():
    a = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]])
    x = tf.placeholder(tf.float64, [3])
    v = tf.placeholder(tf.float64, [3])
    y = tf.reduce_sum(tf.reshape(x, [1, 3]) @ tf.constant(a) @ tf.reshape(x, [3, 1])) + \
        tf.reduce_sum(tf.sin(x) * x)
    (hv,) = tf.hessian_vector_product(y, [x], [v])
    (h,) = tf.hessians(y, [x])
    xv, vv = u(3), u(3)
    hv_val, h_val = run([hv, h], {x: xv, v: vv})
    closed = a + a.T + np.diag(2 * np.cos(xv) - xv * np.sin(xv))
    assert_close(h_val, closed)
    assert_close(hv_val, closed @ vv)


def test_grad_of_grad_generic_ops():
    # d/dx sum(g1^2) for g1 = d/dx sum(w * reversed(sin x)): two gradient graphs, the
    # second differentiating the first's slice_grad
    x = tf.placeholder(tf.float64, [3])
    (g1,) = tf.gradients(tf.reduce_sum(tf.sin(x)[::-1] * tf.constant([1.0, 2.0, 3.0],
                                                                      tf.float64)), [x])
    (g2,) = tf.gradients(tf.reduce_sum(g1 * g1), [x])
    xv = u(3)
    w = np.array([3.0, 2.0, 1.0])  # the weights seen after reversing
    assert_close(run(g2, {x: xv}), 2 * (w * np.cos(xv)) * (-w * np.sin(xv)))


@pytest.mark.parametrize("fn,inputs", [
    (lambda x: tf.gather(x, [0, 0, 2]), [u(3, 2)]),
    (lambda x: tf.broadcast_to(x, [2, 3]) * np.arange(6.0).reshape(2, 3), [u(1, 3)]),
    (lambda x: tf.reduce_prod(x, 1), [u(2, 3, lo=0.5, hi=1.5)]),
    (lambda x: tf.pad(x, [[1, 1], [2, 0]], mode="REFLECT"), [u(3, 3)]),
    (lambda x: tf.nn.softmax(x), [u(2, 3)]),
    (lambda x, y: tf.matmul(x, y), [u(2, 2, 3), u(3, 2)]),
], ids=["gather", "broadcast_to", "reduce_prod", "pad_reflect", "softmax", "matmul"])
def test_second_order_gradcheck(fn, inputs):
    # gradcheck the gradient itself (with a fixed cotangent), i.e. second derivatives
    def grad_of(*xs):
        y = fn(*xs)
        w = np.cos(np.arange(np.prod(y.shape.as_list()))).reshape(y.shape.as_list())
        return tf.add_n([tf.reduce_sum(g * g) for g in tf.gradients(y, list(xs), grad_ys=w)])
    gradcheck(grad_of, inputs)


# --- custom_gradient ------------------------------------------------------------------------
def test_custom_gradient_clipped():
    @tf.custom_gradient
    def clip_grad_identity(x):
        def grad(dy):
            return tf.clip_by_value(dy, -0.5, 0.5)
        return tf.identity(x), grad

    x = tf.constant([1.0, 2.0, 3.0])
    y = clip_grad_identity(x)
    (g,) = tf.gradients(tf.reduce_sum(y * tf.constant([0.1, -2.0, 4.0])), [x])
    assert_close(run(y), [1.0, 2.0, 3.0])
    assert_close(run(g), [0.1, -0.5, 0.5], dtype=np.float32)


def test_custom_gradient_log1pexp_is_stable():
    # the tf.custom_gradient documentation example
    @tf.custom_gradient
    def log1pexp(x):
        e = tf.exp(x)
        return tf.log(1 + e), lambda dy: dy * (1 - 1 / (1 + e))

    x = tf.constant([0.0, 100.0], tf.float64)
    (g,) = tf.gradients(log1pexp(x), [x])
    assert_close(run(g), [0.5, 1.0])


def test_custom_gradient_two_inputs_and_none():
    @tf.custom_gradient
    def f(x, y):
        return x * y, lambda dy: (dy * 10.0, None)

    x, y = tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])
    gx, gy = tf.gradients(tf.reduce_sum(f(x, y)), [x, y])
    assert_close(run(gx), [10.0, 10.0])
    assert gy is None
    assert_close(run(f(x, y)), [3.0, 8.0])


def test_custom_gradient_composes_with_chain_rule():
    @tf.custom_gradient
    def double_grad(x):
        return x * 1.0, lambda dy: 2.0 * dy

    x = tf.constant(1.5, tf.float64)
    (g,) = tf.gradients(tf.square(double_grad(tf.sin(x))), [x])
    assert_close(run(g), 2 * np.sin(1.5) * 2.0 * np.cos(1.5))


def test_custom_gradient_wrong_count_is_an_error():
    @tf.custom_gradient
    def f(x, y):
        return x + y, lambda dy: dy

    x, y = tf.constant(1.0), tf.constant(2.0)
    with pytest.raises(ValueError, match="returned 1 gradients for 2 inputs"):
        tf.gradients(f(x, y), [x, y])
