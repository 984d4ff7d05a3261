"""A loop var's initial value computed only for the loop is computed in the loop var's slot
(graphc/compiler/loop_inits.py): no copy kernel, the same numbers as numpy; the copy stays
where the initial value is read again after the loop or fetched, and a fill read by several
loop vars is repeated for each."""

import numpy as np
import pytest

import graphc as tf
from graphc.compiler.placement import check_placement

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def _not_stored(monkeypatch):
    from graphc.runtime.llvm import LLVMExecutor
    monkeypatch.setattr(LLVMExecutor, "stores_plans", False)


def _run(fetches, feeds, threads=1):
    """(values, names of the kernels of the plan with the loop)."""
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        got = sess.run(fetches, feeds)
        plan = next(iter(sess._executor._plans.values()))
        return got, [k.name for k in plan.kernels]


def _accumulate(x0, steps):
    """acc <- acc * 0.5 + x, i <- i + 1, `steps` times."""
    x = tf.placeholder(tf.float32, [4, 6])

    def body(i, acc):
        return i + 1, acc * 0.5 + x
    _, acc = tf.while_loop(lambda i, acc: i < steps, body, [tf.constant(0), x0(x)])
    return x, acc


def _numpy_accumulate(start, x, steps):
    acc = start.astype(np.float32)
    for _ in range(steps):
        acc = acc * np.float32(0.5) + x
    return acc


@pytest.mark.parametrize("threads", [1, 2])
def test_an_initial_value_read_only_by_the_loop_is_computed_in_its_slot(threads):
    x, acc = _accumulate(lambda x: tf.exp(x) * 3.0, 5)
    value = RNG.standard_normal((4, 6)).astype(np.float32)
    got, names = _run(acc, {x: value}, threads)
    np.testing.assert_allclose(got, _numpy_accumulate(np.exp(value) * 3, value, 5),
                               rtol=1e-5)
    assert names.count("copy") == 1, names  # the counter's, from a constant


def test_an_initial_value_also_fetched_keeps_its_copy():
    x = tf.placeholder(tf.float32, [4, 6])
    x0 = tf.exp(x) * 3.0
    _, acc = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * 0.5 + x),
                           [tf.constant(0), x0])
    value = RNG.standard_normal((4, 6)).astype(np.float32)
    (first, last), names = _run([x0, acc], {x: value})
    np.testing.assert_allclose(first, np.exp(value) * 3, rtol=1e-6)
    np.testing.assert_allclose(last, _numpy_accumulate(np.exp(value) * 3, value, 3),
                               rtol=1e-5)
    assert names.count("copy") == 2, names


def test_an_initial_value_read_after_the_loop_keeps_its_copy():
    x = tf.placeholder(tf.float32, [4, 6])
    x0 = tf.matmul(x, x, transpose_b=True) * 0.25  # stored: a GEMM's output
    _, acc = tf.while_loop(lambda i, a: i < 4, lambda i, a: (i + 1, a * a * 0.5),
                           [tf.constant(0), x0])
    out = acc - x0  # x0 read again after the loop changed its copy
    value = RNG.standard_normal((4, 6)).astype(np.float32)
    got, names = _run(out, {x: value})
    start = value @ value.T * np.float32(0.25)
    acc = start
    for _ in range(4):
        acc = acc * acc * np.float32(0.5)
    np.testing.assert_allclose(got, acc - start, rtol=1e-4, atol=1e-5)
    assert names.count("copy") == 2, names


@pytest.mark.parametrize("threads", [1, 2])
def test_a_fill_shared_by_loop_vars_is_repeated_for_each(threads):
    x = tf.placeholder(tf.float32, [3, 5])
    zeros = tf.zeros([3, 5])  # one node for both vars

    def body(i, a, b):
        return i + 1, a + x, b - x * 2.0
    _, a, b = tf.while_loop(lambda i, a, b: i < 3, body, [tf.constant(0), zeros, zeros])
    value = RNG.standard_normal((3, 5)).astype(np.float32)
    (got_a, got_b), names = _run([a, b], {x: value}, threads)
    np.testing.assert_allclose(got_a, value * 3, rtol=1e-6)
    np.testing.assert_allclose(got_b, -value * 6, rtol=1e-6)
    assert names.count("copy") == 1, names


def test_a_fed_initial_value_is_copied():
    x = tf.placeholder(tf.float32, [2, 3])
    _, acc = tf.while_loop(lambda i, a: i < 2, lambda i, a: (i + 1, a * 3.0),
                           [tf.constant(0), x])
    value = RNG.standard_normal((2, 3)).astype(np.float32)
    got, names = _run(acc, {x: value})
    np.testing.assert_allclose(got, value * 9, rtol=1e-6)
    assert names.count("copy") == 2, names  # the feed is not written by the loop


def _rnn_gradient(steps_value: int, limit: int):
    """h <- tanh(h @ W + x_k) while k < steps (fed), at most `limit` times; (the gradient of
    sum(h * h) with respect to W and x, the feed of steps, the initial values)."""
    x_value = RNG.standard_normal((limit, 3, 5)).astype(np.float32)
    w_value = (RNG.standard_normal((5, 5)) / 2).astype(np.float32)
    x, w = tf.Variable(x_value), tf.Variable(w_value)
    steps = tf.placeholder(tf.int32, [])

    def body(k, h):
        return k + 1, tf.tanh(tf.matmul(h, w) + tf.gather(x, k))
    _, h = tf.while_loop(lambda k, h: k < steps, body, [0, tf.ones([3, 5])],
                         maximum_iterations=limit)
    return tf.gradients(tf.reduce_sum(h * h), [w, x]), steps, (w, x), (w_value, x_value)


def _numpy_rnn_gradient(w, x, steps):
    hs = [np.ones((3, 5))]
    for k in range(steps):
        hs.append(np.tanh(hs[-1] @ w + x[k]))
    g, dw, dx = 2 * hs[-1], np.zeros_like(w), np.zeros_like(x)
    for k in reversed(range(steps)):
        d = g * (1 - hs[k + 1] ** 2)
        dw += hs[k].T @ d
        dx[k] = d
        g = d @ w.T
    return dw, dx


@pytest.mark.parametrize("threads", [1, 2])
def test_the_stacks_a_loop_saves_for_its_gradient_are_not_filled(threads):
    """The saving loop's stacks start with whatever their slots hold (attrs["unread_inits"]):
    a run of fewer iterations after a run of all of them leaves the earlier run's rows past
    its trip count, which the backward loop never reads."""
    limit = 6
    grads, steps, variables, (w_value, x_value) = _rnn_gradient(limit, limit)
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        sess.run([v.initializer for v in variables])
        for n in (limit, 2, limit, 0, 4):
            got = sess.run(grads, {steps: n})
            for value, expected in zip(got, _numpy_rnn_gradient(
                    w_value.astype(np.float64), x_value.astype(np.float64), n)):
                np.testing.assert_allclose(value, expected, rtol=2e-5, atol=2e-6)
        plan = max(sess._executor._plans.values(), key=lambda p: len(p.kernels))
    reserved = [k for k in plan.kernels if k.notes.get("reserves") is not None]
    assert reserved and all(k.body == () for k in reserved)
    # no buffer takes a reserved stack's place while it lives (on every path, the loops
    # run 0 to 2 times each, the reservation counting as the stack's write)
    assert check_placement(plan) == []
    # the stacks' zeros are not computed: of the fills of a stack's size (h's and tanh's
    # rows, and the counter's), only the gradient of x's zeros remain (it accumulates rows)
    sizes = [b.size.value for k in plan.kernels if k.name == "k_broadcast_to"
             for b in k.params]
    assert (sizes.count(limit * 3 * 5), sizes.count(limit)) == (1, 0), sizes
