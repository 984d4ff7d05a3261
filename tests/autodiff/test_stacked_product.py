"""A weight's gradient summed over a loop's iterations as A_k^T G_k is one product of the
stacks of A and G after the loop, when the loop always runs its bound's number of times
(graphc/autodiff/control.py): the same gradient as summing in the loop (to rounding) and
as finite differences; loops that may stop early keep the sum."""

import numpy as np
import pytest

import graphc as tf
import graphc.autodiff.control as control

RNG = np.random.default_rng(29)


def _rnn(steps, limit, w_value, x_value, counter_limit=None):
    """h <- tanh(h @ W + x_k) over `steps` rows of x (while k < steps, at most `limit`
    iterations); (sum of the last h squared, W, the gradient with respect to W)."""
    w = tf.Variable(w_value)
    x = tf.constant(x_value)
    rows = x_value.shape[1]

    def body(k, h):
        return k + 1, tf.tanh(tf.matmul(h, w) + tf.gather(x, k))
    bound = steps if counter_limit is None else counter_limit
    _, h = tf.while_loop(lambda k, h: k < bound, body,
                         [0, tf.zeros([rows, w_value.shape[1]], tf.float32)],
                         maximum_iterations=limit)
    loss = tf.reduce_sum(h * h)
    return loss, w, tf.gradients(loss, w)[0]


def _values(steps=6, rows=3, n=5):
    w = (RNG.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    x = RNG.standard_normal((steps, rows, n)).astype(np.float32)
    return w, x


def _numpy_grad(w, x):
    hs = [np.zeros((x.shape[1], w.shape[1]), np.float64)]
    for k in range(x.shape[0]):
        hs.append(np.tanh(hs[-1] @ w + x[k]))
    g, dw = 2 * hs[-1], np.zeros_like(w, np.float64)
    for k in reversed(range(x.shape[0])):
        d = g * (1 - hs[k + 1] ** 2)
        dw += hs[k].T @ d
        g = d @ w.T
    return dw


@pytest.mark.parametrize("threads", [1, 2])
def test_a_loop_that_runs_to_its_bound_stacks_the_product(threads):
    w_value, x_value = _values()
    loss, w, grad = _rnn(6, 6, w_value, x_value)
    assert grad.node.op.name == "matmul"  # after the loop, over the stacks
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        sess.run(w.initializer)
        got = sess.run(grad)
    np.testing.assert_allclose(got, _numpy_grad(w_value.astype(np.float64), x_value),
                               rtol=2e-5, atol=2e-6)


def test_the_stacked_product_agrees_with_the_sum_in_the_loop(monkeypatch):
    w_value, x_value = _values(steps=9, rows=4, n=7)
    got = {}
    for name, limit in (("stacked", control.STACKED_PRODUCT_BYTES), ("summed", 0)):
        monkeypatch.setattr(control, "STACKED_PRODUCT_BYTES", limit)
        with tf.Graph().as_default():
            loss, w, grad = _rnn(9, 9, w_value, x_value)
            assert (grad.node.op.name == "matmul") == (name == "stacked")
            with tf.Session() as sess:
                sess.run(w.initializer)
                got[name] = sess.run(grad)
    np.testing.assert_allclose(got["stacked"], got["summed"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps, limit", [(4, 6), (None, 6)])
def test_a_loop_that_may_stop_early_keeps_the_sum(steps, limit):
    """k < 4 with at most 6 iterations stops at 4; k < a fed count may stop anywhere: the
    stacks would hold rows of zeros, a product larger than the work (not stacked)."""
    w_value, x_value = _values(steps=6)
    count = tf.placeholder(tf.int32, []) if steps is None else None
    loss, w, grad = _rnn(6, limit, w_value, x_value,
                         counter_limit=count if steps is None else steps)
    assert grad.node.op.name != "matmul"
    with tf.Session() as sess:
        sess.run(w.initializer)
        got = sess.run(grad, {count: 4} if count is not None else None)
    np.testing.assert_allclose(got, _numpy_grad(w_value.astype(np.float64), x_value[:4]),
                               rtol=2e-5, atol=2e-6)


def test_dynamic_rnn_kernel_gradient_is_one_product_after_the_loop():
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float32, [2, 7, 3])
    cell = tf.nn.rnn_cell.BasicRNNCell(4)
    out, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    loss = tf.reduce_sum(out * out)
    kernel = next(v for v in tf.trainable_variables() if "kernel" in v.name)
    grad = tf.gradients(loss, kernel)[0]
    assert grad.node.op.name == "matmul"
    value = RNG.standard_normal((2, 7, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, w = sess.run([grad, kernel], {x: value})
        # central differences of the loss along a random direction
        direction = RNG.standard_normal(w.shape).astype(np.float32)
        eps = 1e-3

        def loss_at(wv):
            kernel.load(wv, sess)
            return float(sess.run(loss, {x: value}))
        numeric = (loss_at(w + eps * direction) - loss_at(w - eps * direction)) / (2 * eps)
    assert float(np.sum(got * direction)) == pytest.approx(numeric, rel=1e-3)
