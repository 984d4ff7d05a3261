"""A TF1 training loop fed by tf.data: linear regression for 2 epochs reaches the least
squares solution, with the losses of the same batches fed through feed_dict."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.data import Dataset


def problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5], np.float32) + 0.25
         + 0.01 * rng.standard_normal(100).astype(np.float32)).reshape(100, 1)
    return x, y.astype(np.float32)


def model(x, y):
    w = tf.Variable(tf.zeros([3, 1]))
    b = tf.Variable(tf.zeros([1]))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train = tf.train.GradientDescentOptimizer(0.4).minimize(loss)
    return train, loss, w, b


def dataset(x, y):
    return Dataset.from_tensor_slices((x, y)).shuffle(100, seed=1).batch(16)


def test_linear_regression_two_epochs_matches_feed_dict_and_least_squares():
    x, y = problem()
    with tf.Graph().as_default():
        iterator = dataset(x, y).make_initializable_iterator()
        train, loss, w, b = model(*iterator.get_next())
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            losses = []
            for _ in range(2):
                sess.run(iterator.initializer)
                while True:
                    try:
                        losses.append(sess.run([train, loss])[1])
                    except tf.errors.OutOfRangeError:
                        break
            w_data, b_data = sess.run([w, b])

    batches = list(dataset(x, y).as_numpy_iterator())  # the same seeds: the same batches
    assert len(losses) == 2 * len(batches) == 14
    with tf.Graph().as_default():
        xp, yp = tf.placeholder(tf.float32, [None, 3]), tf.placeholder(tf.float32, [None, 1])
        train, loss, w, b = model(xp, yp)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            fed = [sess.run([train, loss], {xp: bx, yp: by})[1]
                   for _ in range(2) for bx, by in batches]
    np.testing.assert_allclose(losses, fed, rtol=1e-6)

    design = np.hstack([x, np.ones((100, 1), np.float32)])
    solution = np.linalg.lstsq(design, y, rcond=None)[0].ravel()
    np.testing.assert_allclose(np.append(w_data.ravel(), b_data), solution, atol=0.05)
    assert losses[-1] < 1e-2 < losses[0]
