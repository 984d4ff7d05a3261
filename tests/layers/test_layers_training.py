"""A small TF1-style CNN built from tf.layers trains: conv2d -> batch norm -> max pooling
-> flatten -> dropout -> dense, with the UPDATE_OPS pattern and a `training` placeholder;
its loss falls on every target."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc import layers


def test_small_cnn_loss_falls(target):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 16).astype(np.int32)
    tf.set_random_seed(1)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int32, [None])
    training = tf.placeholder_with_default(False, [])
    h = layers.conv2d(x, 4, 3, padding="same", activation=tf.nn.relu)
    h = layers.batch_normalization(h, training=training)
    h = layers.max_pooling2d(h, 2, 2)
    h = layers.flatten(h)
    h = layers.dropout(h, rate=0.1, training=training)
    logits = layers.dense(h, 3)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer(0.02).minimize(loss)
    assert [v.name for v in tf.trainable_variables()] == [
        "conv2d/kernel:0", "conv2d/bias:0", "batch_normalization/gamma:0",
        "batch_normalization/beta:0", "dense/kernel:0", "dense/bias:0"]
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        feed = {x: images, y: labels}
        before = sess.run(loss, feed)
        for step in range(40):
            batch = slice(8 * (step % 2), 8 * (step % 2) + 8)
            sess.run(train_op, {x: images[batch], y: labels[batch], training: True})
        after = sess.run(loss, feed)
        moving_mean = sess.run(tf.global_variables()[4])
    assert after < 0.6 * before, (before, after)
    assert np.all(moving_mean != 0)
