"""Regularizers of get_variable / variable_scope, set_shape and ensure_shape."""

import numpy as np
import pytest

import graphc as tf


def test_get_variable_regularizer_adds_its_penalty():
    with tf.variable_scope("layer", regularizer=lambda w: 0.5 * tf.reduce_sum(w * w)):
        tf.get_variable("w", [2, 3], initializer=tf.ones_initializer())
        tf.get_variable("b", [3], initializer=tf.ones_initializer(),
                        regularizer=lambda v: None)  # a declining regularizer: no penalty
    tf.get_variable("v", [2], initializer=tf.constant_initializer(3.0),
                    regularizer=lambda v: tf.reduce_sum(v))
    penalties = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert [p.name for p in penalties] == ["layer/w/Regularizer/mul_1:0",
                                           "v/Regularizer/Sum:0"]
    total = tf.losses.get_regularization_loss()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(total) == pytest.approx(0.5 * 6 + 6.0)


def test_regularization_loss_is_zero_without_regularizers():
    with tf.Session() as sess:
        assert sess.run(tf.losses.get_regularization_loss()) == 0.0


def test_set_shape_refines_and_feeds_the_original():
    x = tf.placeholder(tf.float32, name="x")
    x.set_shape([None, 3])
    assert x.shape.as_list() == [None, 3]
    y = tf.reduce_sum(x, 1)
    assert y.shape.as_list() == [None]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: np.ones((2, 3))}), [3.0, 3.0])
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(2, 4\) for 'x' "
                                             r"\(placeholder created at test_variables.py:"):
            sess.run(y, {x: np.ones((2, 4))})


def test_set_shape_rejects_an_incompatible_shape():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with pytest.raises(ValueError, match=r"Shapes \(\?, 3\) and \(\?, 4\) are incompatible"):
        x.set_shape([None, 4])


def test_ensure_shape_checks_at_run_time():
    p = tf.placeholder(tf.float32, [None, None])
    z = tf.ensure_shape(p, [None, 4])
    assert z.shape.as_list() == [None, 4]
    (g,) = tf.gradients(tf.reduce_sum(z * z), [p])
    with tf.Session() as sess:
        value = np.arange(8, dtype=np.float32).reshape(2, 4)
        np.testing.assert_array_equal(sess.run(g, {p: value}), 2 * value)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"shape \(2, 3\) is not compatible with the declared shape "
                                 r"\(\?, 4\)"):
            sess.run(z, {p: np.ones((2, 3))})
