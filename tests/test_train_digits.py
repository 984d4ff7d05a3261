"""End to end: an MLP trained with Session.run(train_op) on the vendored UCI digits.

One run of train_op is a whole step (forward, backward, Adam update) in a single graph; the
held-out accuracy must reach 95% within 300 steps of batch 64, on every target.
"""

import numpy as np

import graphc as tf
from graphc.datasets import load_digits


def _split():
    images, labels = load_digits()
    x = images.reshape(-1, 64) / 16.0
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1437], order[1437:]  # 80% / 20%
    return x, labels, train, test


def _dense(inputs, units, scope):
    with tf.variable_scope(scope):
        w = tf.get_variable("w", [inputs.shape[-1], units])
        b = tf.get_variable("b", [units], initializer=tf.zeros_initializer())
    return tf.matmul(inputs, w) + b


def test_mlp_reaches_95_percent_held_out_accuracy(target):
    x_all, labels, train, test = _split()
    tf.set_random_seed(1)
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    logits = _dense(tf.nn.relu(_dense(x, 64, "hidden")), 10, "out")
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))

    rng = np.random.default_rng(0)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {x: x_all[train], y: labels[train]})
        for _ in range(300):
            batch = rng.choice(train, 64)
            sess.run(train_op, {x: x_all[batch], y: labels[batch]})
        last = sess.run(loss, {x: x_all[train], y: labels[train]})
        held_out = sess.run(accuracy, {x: x_all[test], y: labels[test]})
        assert sess.run(step) == 300
    assert last < first / 10
    assert held_out >= 0.95, f"held-out accuracy {held_out:.3f}"


def _conv(inputs, filters, scope):
    with tf.variable_scope(scope):
        w = tf.get_variable("w", [3, 3, inputs.shape[-1], filters])
        b = tf.get_variable("b", [filters], initializer=tf.zeros_initializer())
    return tf.nn.relu(tf.nn.conv2d(inputs, w, strides=[1, 1, 1, 1], padding="SAME") + b)


def test_cnn_reaches_95_percent_held_out_accuracy(target):
    """conv2d, max_pool, dropout (a keep_prob fed while training) and Adam, as a TF1 CNN."""
    x_all, labels, train, test = _split()
    tf.set_random_seed(2)
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    keep_prob = tf.placeholder_with_default(1.0, [], name="keep_prob")
    images = tf.reshape(x, [-1, 8, 8, 1])
    h = tf.nn.max_pool(_conv(images, 16, "conv1"), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    h = tf.nn.max_pool(_conv(h, 32, "conv2"), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    flat = tf.nn.dropout(tf.reshape(h, [-1, 2 * 2 * 32]), keep_prob=keep_prob, seed=3)
    logits = _dense(flat, 10, "out")
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))

    rng = np.random.default_rng(1)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss, {x: x_all[train], y: labels[train]})
        for _ in range(300):
            batch = rng.choice(train, 64)
            sess.run(train_op, {x: x_all[batch], y: labels[batch], keep_prob: 0.8})
        last = sess.run(loss, {x: x_all[train], y: labels[train]})
        held_out = sess.run(accuracy, {x: x_all[test], y: labels[test]})
    assert last < first / 10
    assert held_out >= 0.95, f"held-out accuracy {held_out:.3f}"
