"""End to end: a TF1 program trains an LSTM with tf.nn.dynamic_rnn on a generated sequence
task, ragged lengths included, and reaches a stated held-out accuracy.

The task: sequences of 3 to 8 numbers in [0, 1); the label says whether the numbers within
the sequence's length sum to more than half its length. The LSTM has to carry a running sum
and stop at the row's own end (sequence_length: zero outputs and the state carried through
past it, so the final state is the state at each row's last valid step). One run of
train_op is a whole step (the loop forward, the backward loop, Adam) in one native call.
"""

import numpy as np

import graphc as tf

STEPS, UNITS = 8, 16


def _batch(rng, n):
    x = rng.random((n, STEPS, 1)).astype(np.float32)
    lengths = rng.integers(3, STEPS + 1, n).astype(np.int32)
    valid = np.arange(STEPS)[None, :] < lengths[:, None]
    x[~valid, 0] = rng.random(int((~valid).sum()))  # noise past the end must not matter
    label = ((x[..., 0] * valid).sum(1) > lengths / 2).astype(np.int64)
    return x, lengths, label


def test_lstm_learns_a_running_sum_over_ragged_sequences(target):
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float32, [None, STEPS, 1], name="x")
    lengths = tf.placeholder(tf.int32, [None], name="lengths")
    y = tf.placeholder(tf.int64, [None], name="y")
    cell = tf.nn.rnn_cell.LSTMCell(UNITS)
    _, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    logits = _dense(state.h)
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    train_op = tf.train.AdamOptimizer(0.02).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
    names = sorted(v.op.name for v in tf.trainable_variables())
    assert names == ["out/b", "out/w", "rnn/lstm_cell/bias", "rnn/lstm_cell/kernel"]

    rng = np.random.default_rng(0)
    test_x, test_len, test_y = _batch(rng, 500)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(300):
            bx, bl, by = _batch(rng, 64)
            sess.run(train_op, {x: bx, lengths: bl, y: by})
        held_out = sess.run(accuracy, {x: test_x, lengths: test_len, y: test_y})
    assert held_out >= 0.9, held_out  # 0.966 here on llvm (chance: about 0.5)


def _dense(h):
    with tf.variable_scope("out"):
        w = tf.get_variable("w", [UNITS, 2])
        b = tf.get_variable("b", [2], initializer=tf.zeros_initializer())
    return tf.matmul(h, w) + b
