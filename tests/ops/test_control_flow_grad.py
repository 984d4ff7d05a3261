"""Gradients through tf.cond and tf.while_loop (graphc/autodiff/control.py) on every target,
against central differences of the same computation written in numpy (or the analytic
derivative), and the errors the control-flow API raises while a graph is built. The
forward values are tested in test_control_flow.py."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from conftest import assert_close, run
from test_control_flow import _tanh_recurrence, numeric_gradient

import graphc as tf

Pair = collections.namedtuple("Pair", ["first", "second"])
State = collections.namedtuple("State", ["h", "c"])

# float64 gradients against central differences with eps=1e-6: truncation ~1e-12, rounding
# ~1e-10 relative to the function's size
GRAD_TOL = {"rtol": 1e-6, "atol": 1e-8}


# --- gradients -------------------------------------------------------------------------------
def _cond_function(taken, xv, wv, cv):
    """The numpy counterpart of the cond in test_gradient_through_cond."""
    if taken:
        return np.sum(np.sin(xv) * wv + cv * xv)
    return np.sum(xv ** 3 * cv - wv * xv)


@pytest.mark.parametrize("taken", [True, False])
def test_gradient_through_cond(taken, target):
    p = tf.placeholder(tf.bool, [])
    x, c = tf.placeholder(tf.float64, [3]), tf.placeholder(tf.float64, [])
    wv = np.array([0.5, -1.5, 2.0])
    w = tf.Variable(wv, dtype=tf.float64)
    y = tf.reduce_sum(tf.cond(p, lambda: tf.sin(x) * w + c * x, lambda: x ** 3 * c - w * x))
    grads = tf.gradients(y, [x, w, c])
    xv, cv = np.array([0.3, -1.2, 2.0]), 0.7
    got = run([y] + grads, {p: taken, x: xv, c: cv}, target)
    assert_close(got[0], _cond_function(taken, xv, wv, cv))
    expected = [numeric_gradient(lambda v: _cond_function(taken, v, wv, cv), xv),
                numeric_gradient(lambda v: _cond_function(taken, xv, v, cv), wv),
                numeric_gradient(lambda v: _cond_function(taken, xv, wv, v), cv)]
    for actual, want in zip(got[1:], expected):
        assert_close(actual, want, **GRAD_TOL)


@pytest.mark.parametrize("xv", [0.8, -0.6])
def test_second_derivative_through_cond(xv, target):
    # y = x^3 where x > 0, else sin(2x): y'' = 6x, or -4 sin(2x)
    x = tf.placeholder(tf.float64, [])
    y = tf.cond(x > 0, lambda: x ** 3, lambda: tf.sin(2.0 * x))
    dy = tf.gradients(y, x)[0]
    d2y = tf.gradients(dy, x)[0]
    got = run([y, dy, d2y], {x: xv}, target)
    if xv > 0:
        expected = [xv ** 3, 3 * xv ** 2, 6 * xv]
    else:
        expected = [np.sin(2 * xv), 2 * np.cos(2 * xv), -4 * np.sin(2 * xv)]
    for actual, want in zip(got, expected):
        assert_close(actual, np.float64(want))


@pytest.mark.parametrize("n", [0, 2, 4], ids=["zero_trips", "stops_early", "full"])
def test_gradient_through_a_tanh_recurrence(n, target):
    # maximum_iterations=4 bounds the saved iterations; the cond stops after n of them
    h0, w = tf.placeholder(tf.float64, [1, 3]), tf.placeholder(tf.float64, [3, 3])
    x, count = tf.placeholder(tf.float64, [3]), tf.placeholder(tf.int32, [])
    _, h = tf.while_loop(lambda k, h: k < count, lambda k, h: (k + 1, tf.tanh(h @ w + x)),
                         [0, h0], maximum_iterations=4)
    y = tf.reduce_sum(h * h)
    grads = tf.gradients(y, [h0, w, x])
    rng = np.random.default_rng(1)
    hv, wv, xv = rng.normal(size=(1, 3)), rng.normal(size=(3, 3)) * 0.6, rng.normal(size=3)

    def loss(hv, wv, xv):
        return np.sum(_tanh_recurrence(hv, wv, xv, n) ** 2)

    # forward value, the loop's own result and the gradients in one run
    got = run([y, h] + grads, {h0: hv, w: wv, x: xv, count: n}, target)
    assert_close(got[0], loss(hv, wv, xv))
    assert_close(got[1], _tanh_recurrence(hv, wv, xv, n))
    expected = [numeric_gradient(lambda v: loss(v, wv, xv), hv),
                numeric_gradient(lambda v: loss(hv, v, xv), wv),
                numeric_gradient(lambda v: loss(hv, wv, v), xv)]
    if n == 0:
        expected = [2 * hv, np.zeros((3, 3)), np.zeros(3)]  # the loop is the identity
    for actual, want in zip(got[2:], expected):
        assert_close(actual, want, **GRAD_TOL)


def test_gradient_and_forward_of_one_loop_in_one_run_and_apart(target):
    # the compiler shares the forward loop with the gradient's saving loop: the forward
    # result is right whether fetched with the gradient, before it or after it
    x = tf.placeholder(tf.float64, [2])
    k, y = tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, tf.sin(v) * 1.5 + v * v),
                         [0, x], maximum_iterations=5)
    dx = tf.gradients(tf.reduce_sum(y), x)[0]
    dx_cubed = tf.gradients(tf.reduce_sum(y ** 3), x)[0]  # a second saving copy of the loop
    xv = np.array([0.4, -0.7])

    def f(v):
        for _ in range(3):
            v = np.sin(v) * 1.5 + v * v
        return v

    with tf.Session(target=target) as sess:
        alone = sess.run(y, {x: xv})
        together = sess.run([k, y, dx], {x: xv})
        grad_alone = sess.run(dx, {x: xv})
        both = sess.run([dx_cubed, y, dx], {x: xv})
    for value in (alone, together[1], both[1]):
        assert_close(value, f(xv))
    assert_close(together[0], np.int32(3))
    want = numeric_gradient(lambda v: np.sum(f(v)), xv)
    for value in (together[2], grad_alone, both[2]):
        assert_close(value, want, **GRAD_TOL)
    assert_close(both[0], numeric_gradient(lambda v: np.sum(f(v) ** 3), xv), **GRAD_TOL)


def test_gradient_through_a_cond_inside_a_loop(target):
    # v -> v^2 / 2 where v > 1 else 3 sin(v), elementwise through a cond on the sum
    x = tf.placeholder(tf.float64, [2])
    y = tf.while_loop(lambda v: tf.reduce_max(tf.abs(v)) < 50.0,
                      lambda v: tf.cond(tf.reduce_sum(v) > 1.0, lambda: v * v * 0.5 + v,
                                        lambda: 3.0 * tf.sin(v) + 1.0),
                      [x], maximum_iterations=6)
    dx = tf.gradients(tf.reduce_sum(y), x)[0]

    def f(v):
        for _ in range(6):
            if np.max(np.abs(v)) >= 50.0:
                break
            v = v * v * 0.5 + v if v.sum() > 1.0 else 3.0 * np.sin(v) + 1.0
        return v

    xv = np.array([0.3, -0.4])
    got = run([y, dx], {x: xv}, target)
    assert_close(got[0], f(xv))
    assert_close(got[1], numeric_gradient(lambda v: np.sum(f(v)), xv), **GRAD_TOL)


def test_gradient_through_a_while_inside_a_while(target):
    # outer: 3 times, inner: v = v * w + sin(v) twice; w captured by both loops
    x, w = tf.placeholder(tf.float64, [2]), tf.placeholder(tf.float64, [])

    def outer(i, v):
        _, inner = tf.while_loop(lambda j, u: j < 2, lambda j, u: (j + 1, u * w + tf.sin(u)),
                                 [0, v], maximum_iterations=2)
        return i + 1, inner * 0.5

    _, y = tf.while_loop(lambda i, v: i < 3, outer, [0, x], maximum_iterations=3)
    loss = tf.reduce_sum(y * y)
    grads = tf.gradients(loss, [x, w])

    def f(xv, wv):
        v = xv
        for _ in range(3):
            for _ in range(2):
                v = v * wv + np.sin(v)
            v = v * 0.5
        return np.sum(v * v)

    xv, wv = np.array([0.3, -0.8]), 0.9
    got = run([loss] + grads, {x: xv, w: wv}, target)
    assert_close(got[0], f(xv, wv))
    assert_close(got[1], numeric_gradient(lambda v: f(v, wv), xv), **GRAD_TOL)
    assert_close(got[2], numeric_gradient(lambda v: f(xv, v), wv), **GRAD_TOL)


@pytest.mark.parametrize("taken", [True, False])
def test_gradient_through_nested_conds_and_a_branch_without_x(taken, target):
    # the false branch does not read x: its gradient is zero there, not missing
    p = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float64, [2])
    y = tf.cond(p, lambda: tf.cond(tf.reduce_sum(x) > 0, lambda: tf.exp(x) * x,
                                   lambda: x * x * x),
                lambda: tf.constant([1.0, 2.0], tf.float64))
    dx = tf.gradients(tf.reduce_sum(y * y), x)[0]

    def f(v):
        if not taken:
            return np.sum(np.array([1.0, 2.0]) ** 2)
        inner = np.exp(v) * v if v.sum() > 0 else v ** 3
        return np.sum(inner * inner)

    for xv in (np.array([0.5, -0.2]), np.array([-0.5, 0.1])):
        got = run([y, dx], {p: taken, x: xv}, target)
        assert_close(got[1], numeric_gradient(f, xv), **GRAD_TOL)


@pytest.mark.parametrize("taken", [True, False])
def test_gradient_through_a_while_inside_a_cond(taken, target):
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float64, [2])
    w = tf.Variable(np.array([0.9, -0.4]), dtype=tf.float64)

    def looping():
        return tf.while_loop(lambda v: tf.reduce_sum(v * v) < 4.0,
                             lambda v: v * w + tf.sin(v) + 0.1, [x], maximum_iterations=5)

    y = tf.reduce_sum(tf.cond(p, looping, lambda: x * w * 3.0))
    grads = tf.gradients(y, [x, w])

    def f(xv, wv):
        if not taken:
            return np.sum(xv * wv * 3.0)
        v = xv
        for _ in range(5):
            if np.sum(v * v) >= 4.0:
                break
            v = v * wv + np.sin(v) + 0.1
        return np.sum(v)

    xv, wv = np.array([0.3, 0.6]), np.array([0.9, -0.4])
    got = run([y] + grads, {p: taken, x: xv}, target)
    assert_close(got[0], f(xv, wv))
    assert_close(got[1], numeric_gradient(lambda v: f(v, wv), xv), **GRAD_TOL)
    assert_close(got[2], numeric_gradient(lambda v: f(xv, v), wv), **GRAD_TOL)


def test_gradient_through_a_loop_with_an_int_and_an_unused_float_var(target):
    # the loss reads the final a, the init x again, and the int counter; b never reaches it
    x = tf.placeholder(tf.float64, [2])
    w = tf.Variable(1.3, dtype=tf.float64)
    k, a, b = tf.while_loop(lambda k, a, b: k < 3,
                            lambda k, a, b: (k + 1, a * w + b, b * 0.5 + tf.reduce_sum(a)),
                            [0, x, tf.zeros([2], tf.float64)], maximum_iterations=3)
    loss = tf.reduce_sum(a * x) * tf.cast(k, tf.float64)
    grads = tf.gradients(loss, [x, w])

    def f(xv, wv):
        a, b = xv, np.zeros(2)
        for _ in range(3):
            a, b = a * wv + b, b * 0.5 + a.sum()
        return np.sum(a * xv) * 3.0

    xv = np.array([0.7, -0.2])
    got = run([loss, b] + grads, {x: xv}, target)
    assert_close(got[0], f(xv, 1.3))
    assert_close(got[2], numeric_gradient(lambda v: f(v, 1.3), xv), **GRAD_TOL)
    assert_close(got[3], numeric_gradient(lambda v: f(xv, v), np.float64(1.3)), **GRAD_TOL)


def test_gradient_through_loop_vars_in_nested_structures(target):
    # an LSTM-like state: a namedtuple and a dict carried through the loop
    x = tf.placeholder(tf.float64, [2])
    w = tf.Variable(np.array([[0.5, -0.3], [0.2, 0.4]]), dtype=tf.float64)

    def body(i, state, stats):
        c = state.c * 0.8 + tf.tanh(tf.reshape(tf.matmul(tf.reshape(state.h, [1, 2]), w), [2]))
        h = tf.tanh(c) + x
        return i + 1, State(h=h, c=c), {"sum": stats["sum"] + h}

    _, state, stats = tf.while_loop(
        lambda i, *_: i < 3, body,
        (0, State(h=x, c=tf.zeros([2], tf.float64)), {"sum": tf.zeros([2], tf.float64)}),
        maximum_iterations=3)
    loss = tf.reduce_sum(state.h * stats["sum"]) + tf.reduce_sum(state.c)
    grads = tf.gradients(loss, [x, w])

    def f(xv, wv):
        h, c, total = xv, np.zeros(2), np.zeros(2)
        for _ in range(3):
            c = c * 0.8 + np.tanh(h @ wv)
            h = np.tanh(c) + xv
            total = total + h
        return np.sum(h * total) + np.sum(c)

    xv, wv = np.array([0.3, -0.6]), np.array([[0.5, -0.3], [0.2, 0.4]])
    got = run([loss] + grads, {x: xv}, target)
    assert_close(got[0], f(xv, wv))
    assert_close(got[1], numeric_gradient(lambda v: f(v, wv), xv), **GRAD_TOL)
    assert_close(got[2], numeric_gradient(lambda v: f(xv, v), wv), **GRAD_TOL)


def test_gradient_of_a_loop_without_maximum_iterations_is_refused():
    x = tf.placeholder(tf.float64, [2])
    y = tf.while_loop(lambda v: tf.reduce_sum(v) < 10.0, lambda v: v * 2.0, [x])
    with pytest.raises(LookupError, match="maximum_iterations"):
        tf.gradients(tf.reduce_sum(y), x)
    # a fed bound is not enough: the saved iterations need a buffer of known size
    m = tf.placeholder(tf.int32, [])
    z = tf.while_loop(lambda v: tf.reduce_sum(v) < 10.0, lambda v: v * 2.0, [x],
                      maximum_iterations=m)
    with pytest.raises(LookupError, match="constant maximum_iterations"):
        tf.gradients(tf.reduce_sum(z), x)


# --- errors ----------------------------------------------------------------------------------
def test_cond_branches_of_different_structures():
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [2])
    with pytest.raises(ValueError, match="same number, type and overall structure"):
        tf.cond(p, lambda: (x, x), lambda: x)
    with pytest.raises(ValueError, match="same number, type and overall structure"):
        tf.cond(p, lambda: {"a": x}, lambda: {"b": x})
    with pytest.raises(ValueError, match="must have a return value"):
        tf.cond(p, lambda: None, lambda: x)


def test_cond_branches_of_different_dtypes():
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [2])
    with pytest.raises(TypeError, match="must have the same type: value 1 is float32 and int32"):
        tf.cond(p, lambda: (x, x), lambda: (x, tf.cast(x, tf.int32)))


@pytest.mark.parametrize("pred", [
    lambda: tf.constant([True, False]), lambda: tf.constant(1), lambda: tf.constant(1.0),
], ids=["vector", "int", "float"])
def test_cond_predicate_must_be_a_bool_scalar(pred):
    with pytest.raises(TypeError, match="pred must be a bool scalar"):
        tf.cond(pred(), lambda: tf.constant(1.0), lambda: tf.constant(2.0))


def test_non_callable_functions():
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [])
    with pytest.raises(TypeError, match="true_fn and false_fn must be callable"):
        tf.cond(p, lambda: x, 2.0)
    with pytest.raises(TypeError, match="true_fn and false_fn must be callable"):
        tf.cond(p, None, lambda: x)
    with pytest.raises(TypeError, match="cond and body must be callable"):
        tf.while_loop(lambda v: v < 1.0, x, [x])
    with pytest.raises(TypeError, match="cond and body must be callable"):
        tf.while_loop(True, lambda v: v, [x])
    with pytest.raises(TypeError, match="pred_fn_pairs must hold"):
        tf.case([(p, x)], default=lambda: x)


def test_a_tensor_passed_for_a_branch_fn():
    # a tensor where a function belongs (TF1: "true_fn must be callable")
    p, x = tf.placeholder(tf.bool, []), tf.placeholder(tf.float32, [])
    with pytest.raises(TypeError, match="must be callable"):
        tf.cond(p, x, lambda: x)


def test_loop_body_changing_a_shape_needs_shape_invariants():
    v = tf.zeros([2])
    with pytest.raises(ValueError, match="shape_invariants"):
        tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, tf.concat([v, v], 0)), [0, v])


def test_loop_body_changing_a_dtype():
    with pytest.raises(TypeError, match="enters the loop as float32, but the body returns int32"):
        tf.while_loop(lambda v: v < 3.0, lambda v: tf.cast(v, tf.int32), [tf.constant(0.0)])


def test_loop_body_changing_the_structure():
    with pytest.raises(ValueError, match="body must return the structure of loop_vars"):
        tf.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1,), [0, 1])


@pytest.mark.parametrize("cond", [
    lambda v: v, lambda v: tf.reshape(v < 1.0, [1]),
], ids=["float", "bool_vector"])
def test_loop_cond_must_give_a_bool_scalar(cond):
    with pytest.raises(TypeError, match="cond must return a bool scalar"):
        tf.while_loop(cond, lambda v: v + 1.0, [tf.constant(0.0)])


def test_a_draw_in_a_branch_is_one_draw_for_the_values_and_the_gradient(target):
    """The gradient's copy of a branch reads the forward's dropout mask (compiled targets
    once gave each copy a draw of its own)."""
    x = tf.placeholder(tf.float32, [3, 4])
    taken = tf.placeholder_with_default(True, [])
    y = tf.cond(taken, lambda: tf.nn.dropout(x, rate=0.5, seed=1), lambda: tf.identity(x))
    g = tf.gradients(tf.reduce_sum(y * y), x)[0]
    data = np.ones((3, 4), np.float32)
    with tf.Session(target=target) as sess:
        yv, gv = sess.run([y, g], {x: data})
    assert 0 < np.count_nonzero(yv) < 12
    np.testing.assert_array_equal(gv, 2 * yv * (yv != 0) * 2)  # d(y^2)/dx = 2y * scale


def test_copies_of_a_loop_with_draws_share_them(target):
    """Two gradients of one loop (two saving copies of it) and its values read the same
    draws: each gradient matches the other and central differences."""
    x = tf.placeholder(tf.float64, [4])
    _, h = tf.while_loop(lambda i, h: i < 3,
                         lambda i, h: (i + 1, tf.nn.dropout(tf.tanh(h * x + x), rate=0.5,
                                                            seed=11)),
                         [0, x], maximum_iterations=4)
    loss = tf.reduce_sum(h)
    g1 = tf.gradients(loss, x)[0]
    g2 = tf.gradients(loss * 2.0, x)[0]
    data = np.array([0.3, -0.2, 0.5, 0.1])
    with tf.Session(target=target) as sess:
        a, b = sess.run([g1, g2], {x: data})
    np.testing.assert_allclose(b, 2 * a, rtol=1e-12)

    def f(v):  # a fresh session draws the same masks as the first run above
        with tf.Session(target=target) as sess:
            return float(sess.run(loss, {x: v}))
    fd = [(f(data + 1e-6 * e) - f(data - 1e-6 * e)) / 2e-6 for e in np.eye(4)]
    np.testing.assert_allclose(a, fd, rtol=1e-5, atol=1e-7)


def test_a_draw_nested_in_a_loop_body_is_not_differentiated():
    x = tf.placeholder(tf.float64, [4])

    def body(i, h):
        _, h2 = tf.while_loop(lambda j, g: j < 2,
                              lambda j, g: (j + 1, tf.nn.dropout(g * x, rate=0.5, seed=3)),
                              [0, h], maximum_iterations=2)
        return i + 1, h2
    _, h = tf.while_loop(lambda i, h: i < 2, body, [0, x], maximum_iterations=2)
    with pytest.raises(LookupError, match=r"the random op '.*random_uniform' .* is inside a "
                       "loop or branch within its body, and the backward pass would draw it "
                       "again"):
        tf.gradients(tf.reduce_sum(h), x)
