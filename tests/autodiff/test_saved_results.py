"""The backward pass of a while loop reads the results of the body's sigmoids, tanhs and
exps from stacks the forward loop fills, instead of computing them again
(graphc/autodiff/control.py SAVED_RESULTS); a value the backward pass then reads only
through them (an LSTM's gate product) is not saved. Gradients: numpy's, in float64, and the
same bits as computing the results again."""

import numpy as np
import pytest

import graphc as tf
import graphc.autodiff.control as control
from graphc.ir.node import topo_sort

STEPS, BATCH, INPUTS, UNITS = 5, 3, 4, 6


def _data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((STEPS, BATCH, INPUTS)).astype(np.float32)
    w = (rng.standard_normal((INPUTS + UNITS, 4 * UNITS)) / 3).astype(np.float32)
    b = (rng.standard_normal(4 * UNITS) / 3).astype(np.float32)
    return x, w, b


def _lstm(x_value, w_value, b_value):
    """An LSTM over the rows of x as a tf.while_loop; (loss, [w, b, x] grads)."""
    x, w, b = tf.Variable(x_value), tf.Variable(w_value), tf.Variable(b_value)

    def body(k, h, c):
        gates = tf.matmul(tf.concat([tf.gather(x, k), h], 1), w) + b
        i, g, f, o = tf.split(gates, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return k + 1, tf.sigmoid(o) * tf.tanh(c), c
    zeros = tf.zeros([BATCH, UNITS])
    _, h, c = tf.while_loop(lambda k, h, c: k < STEPS, body, [0, zeros, zeros],
                            maximum_iterations=STEPS)
    loss = tf.reduce_sum(h * h) + tf.reduce_sum(tf.exp(-c * c))
    return loss, (w, b, x), tf.gradients(loss, [w, b, x])


def _numpy(x, w, b):
    """(dw, db, dx) of the same loss in float64."""
    x, w, b = (v.astype(np.float64) for v in (x, w, b))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c, saved = np.zeros((BATCH, UNITS)), np.zeros((BATCH, UNITS)), []
    for k in range(STEPS):
        z = np.concatenate([x[k], h], 1)
        i, g, f, o = np.split(z @ w + b, 4, axis=1)
        i, g, f, o = sig(i), np.tanh(g), sig(f), sig(o)
        saved.append((z, c, i, g, f, o))
        c = f * c + i * g
        h = o * np.tanh(c)
    dh, dc = 2 * h, -2 * c * np.exp(-c * c)
    dw, db, dx = np.zeros_like(w), np.zeros_like(b), np.zeros_like(x)
    for k in reversed(range(STEPS)):
        z, c_prev, i, g, f, o = saved[k]
        c = f * c_prev + i * g
        t = np.tanh(c)
        dc = dc + dh * o * (1 - t * t)
        d = np.concatenate([dc * g * i * (1 - i), dc * i * (1 - g * g),
                            dc * c_prev * f * (1 - f), dh * t * o * (1 - o)], 1)
        dw += z.T @ d
        db += d.sum(0)
        dz = d @ w.T
        dx[k] = dz[:, :INPUTS]
        dh, dc = dz[:, INPUTS:], dc * f
    return dw, db, dx


def _saving_loop_values(grads) -> list:
    """Op names of the values the forward copy of the loop puts in its stacks."""
    loops = [n for n in topo_sort([g.node for g in grads])
             if n.op.name == "while" and "saves" in n.attrs]
    assert len(loops) == 1
    body = loops[0].attrs["body"]
    return sorted(n.inputs[2].op.name for n in topo_sort(list(body.results))
                  if n.op.name == "put_row")


@pytest.mark.parametrize("target", ["llvm", "reference"])
def test_an_lstm_loop_saves_its_activations_and_not_its_gate_product(target):
    x, w, b = _data(3)
    with tf.Graph().as_default():
        _, variables, grads = _lstm(x, w, b)
        # the loop vars k, h and c, and the five activations (not the gate product)
        assert _saving_loop_values(grads) == ["param", "param", "param", "sigmoid",
                                              "sigmoid", "sigmoid", "tanh", "tanh"]
        with tf.Session(target=target) as sess:
            sess.run([v.initializer for v in variables])
            got = sess.run(grads)
    for value, expected in zip(got, _numpy(x, w, b)):
        np.testing.assert_allclose(value, expected, rtol=2e-4, atol=2e-5)


def test_the_saved_results_give_the_same_bits_as_computing_them_again(monkeypatch):
    x, w, b = _data(4)
    results = []
    for saved in (control.SAVED_RESULTS, ()):
        monkeypatch.setattr(control, "SAVED_RESULTS", saved)
        with tf.Graph().as_default():
            _, variables, grads = _lstm(x, w, b)
            names = _saving_loop_values(grads)
            with tf.Session(config=tf.Options(threads=1)) as sess:
                sess.run([v.initializer for v in variables])
                results.append(sess.run(grads))
    assert "matmul" in names and "sigmoid" not in names  # computed again from the product
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)
