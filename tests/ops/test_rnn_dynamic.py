"""tf.nn.dynamic_rnn, tf.nn.bidirectional_dynamic_rnn and tf.reverse_sequence on every
target: the loop against the unrolled static_rnn (itself tested against numpy in
test_rnn_cell.py) over the same variables, gradients included, ragged lengths included."""

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

B, T, D, H = 3, 5, 4, 6
LENGTHS = np.array([5, 2, 0], np.int32)


def _inputs():
    return np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float64)


@pytest.mark.parametrize("time_major", [False, True])
def test_dynamic_rnn_equals_static_rnn_with_ragged_lengths(time_major, target):
    tf.set_random_seed(2)
    x = tf.placeholder(tf.float64, [None, T, D])
    lengths = tf.placeholder(tf.int32, [None])
    cell = tf.nn.rnn_cell.LSTMCell(H, use_peepholes=True)
    inputs = tf.transpose(x, [1, 0, 2]) if time_major else x
    out, state = tf.nn.dynamic_rnn(cell, inputs, sequence_length=lengths, dtype=tf.float64,
                                   time_major=time_major)
    if time_major:
        out = tf.transpose(out, [1, 0, 2])
    with tf.variable_scope("rnn", reuse=True):
        steps, static_state = tf.nn.static_rnn(cell, tf.unstack(x, axis=1),
                                               sequence_length=lengths, dtype=tf.float64)
    static_out = tf.stack(steps, 1)
    variables = tf.trainable_variables()
    assert sorted(v.op.name for v in variables) == [
        "rnn/lstm_cell/bias", "rnn/lstm_cell/kernel", "rnn/lstm_cell/w_f_diag",
        "rnn/lstm_cell/w_i_diag", "rnn/lstm_cell/w_o_diag"]
    loss = tf.reduce_sum(out ** 2) + tf.reduce_sum(state.c * state.h)
    static_loss = tf.reduce_sum(static_out ** 2) + tf.reduce_sum(static_state.c * static_state.h)
    grads = tf.gradients(loss, variables + [x])
    static_grads = tf.gradients(static_loss, variables + [x])
    got, want = run([[out, state.c, state.h] + grads, [static_out, static_state.c,
                                                       static_state.h] + static_grads],
                    {x: _inputs(), lengths: LENGTHS}, target)
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-9, atol=1e-12)
    assert np.all(got[0][1, 2:] == 0) and np.all(got[0][2] == 0)  # past each row's end


def test_bidirectional_dynamic_rnn_equals_the_static_one(target):
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float64, [B, T, D])
    lengths = tf.placeholder(tf.int32, [B])
    fw, bw = tf.nn.rnn_cell.GRUCell(H), tf.nn.rnn_cell.BasicRNNCell(H)
    (out_fw, out_bw), (state_fw, state_bw) = tf.nn.bidirectional_dynamic_rnn(
        fw, bw, x, sequence_length=lengths, dtype=tf.float64)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        steps, static_fw, static_bw = tf.nn.static_bidirectional_rnn(
            fw, bw, tf.unstack(x, axis=1), sequence_length=lengths, dtype=tf.float64)
    dynamic = tf.concat([out_fw, out_bw], 2)
    grads = tf.gradients(tf.reduce_sum(dynamic ** 2), x)
    static_grads = tf.gradients(tf.reduce_sum(tf.stack(steps, 1) ** 2), x)
    got, want = run([[dynamic, state_fw, state_bw] + grads,
                     [tf.stack(steps, 1), static_fw, static_bw] + static_grads],
                    {x: _inputs(), lengths: LENGTHS}, target)
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-9, atol=1e-12)


def test_reverse_sequence(target):
    x = tf.placeholder(tf.float64, [B, T, 2])
    lengths = tf.placeholder(tf.int64, [B])
    batch_major = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
    time_major = tf.reverse_sequence(tf.transpose(x, [1, 0, 2]), lengths, seq_axis=0,
                                     batch_axis=1)
    data = _inputs()[..., :2]
    got = run([batch_major, time_major], {x: data, lengths: LENGTHS}, target)
    want = data.copy()
    for b, n in enumerate(LENGTHS):
        want[b, :n] = data[b, :n][::-1]
    assert_close(got[0], want)
    assert_close(got[1], want.transpose(1, 0, 2))


def test_errors():
    cell = tf.nn.rnn_cell.BasicLSTMCell(H)
    x = tf.placeholder(tf.float32, [B, T, D])
    with pytest.raises(ValueError, match="If there is no initial_state, you must give a "
                                         "dtype"):
        tf.nn.dynamic_rnn(cell, x)
    with pytest.raises(ValueError, match=r"inputs must have rank at least 2"):
        tf.nn.dynamic_rnn(cell, tf.placeholder(tf.float32, [B]), dtype=tf.float32)
    with pytest.raises(ValueError, match=r"\[batch, time, depth\] with a known depth"):
        tf.nn.dynamic_rnn(cell, tf.placeholder(tf.float32, [B, T]), dtype=tf.float32)
    with pytest.raises(TypeError, match="is not an RNNCell"):
        tf.nn.dynamic_rnn(object(), x, dtype=tf.float32)
    with pytest.raises(NotImplementedError, match="needs the loop's maximum_iterations as a "
                                                  "constant"):
        tf.while_loop(lambda i: i < 3, lambda i: i + tf.cast(tf.random_uniform([]) > 2.0,
                                                             tf.int32), [0])


def test_dropout_inside_dynamic_rnn_draws_each_step_and_its_gradient_uses_those_draws(
        target):
    # A fresh mask at every step (TF's semantics); the forward copy that saves the steps
    # for the gradient uses the same draws as the values fetched beside the gradient, on
    # every target (and, seeded, the same draws on every target)
    tf.set_random_seed(7)
    x = tf.placeholder(tf.float64, [B, T, D])
    cell = tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.BasicRNNCell(H, activation=tf.identity),
                                         input_keep_prob=0.5, seed=11)
    out, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64)
    kernel = tf.trainable_variables()[0]
    grad = tf.gradients(tf.reduce_sum(out), kernel)[0]
    ref = run([out, grad, kernel], {x: np.ones((B, T, D))}, "reference")
    got = run([out, grad, kernel], {x: np.ones((B, T, D))}, target)
    for g, w in zip(got, ref):
        assert_close(g, w, rtol=1e-9, atol=1e-12)
    # h_t = (x_t * mask_t / keep) @ W_x + h_{t-1} @ W_h (the bias starts at zero): the
    # input's part differs from step to step, as the masks do
    out_v, kernel_v = got[0], got[2]
    parts = [out_v[:, t] - (out_v[:, t - 1] @ kernel_v[D:] if t else 0) for t in range(T)]
    assert not np.allclose(parts[1], parts[2]) and not np.allclose(parts[0], parts[3])
