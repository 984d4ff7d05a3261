"""Shapes fed as values: tf.reshape(x, shape_placeholder) and friends on every target. A
compiled target makes one plan per value of such a feed (specialize.shape_values)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.errors import InvalidArgumentError
from graphc.passes.specialize import shape_feeds

TARGETS = ["reference", "llvm", "cuda-emulated"]
XV = np.arange(12, dtype=np.float32).reshape(2, 6)


@pytest.mark.parametrize("target", TARGETS)
def test_reshape_broadcast_and_fill_to_fed_shapes(target):
    x = tf.placeholder(tf.float32, [None, 6])
    s = tf.placeholder(tf.int32, [2])
    y = tf.reshape(x, s) * 2.0
    z = tf.reduce_sum(tf.broadcast_to(tf.ones([4]), s + 0), axis=0)
    w = tf.fill(s, 1.5)
    with tf.Session(target=target) as sess:
        a, c, f = sess.run([y, z, w], {x: XV, s: [3, 4]})
        b = sess.run(y, {x: XV, s: [4, -1]})
    np.testing.assert_array_equal(a, 2 * XV.reshape(3, 4))
    np.testing.assert_array_equal(b, 2 * XV.reshape(4, 3))
    np.testing.assert_array_equal(c, np.full(4, 3.0))
    np.testing.assert_array_equal(f, np.full((3, 4), 1.5, np.float32))


@pytest.mark.parametrize("target", TARGETS[1:])
def test_make_callable_compiles_a_plan_per_fed_shape_value(target):
    x = tf.placeholder(tf.float32, [2, 6])
    s = tf.placeholder(tf.int64, [3])
    y = tf.reshape(x, s)
    with tf.Session(target=target) as sess:
        f = sess.make_callable(y, [x, s])
        for shape in ([3, 2, 2], [1, 12, 1], [3, 2, 2]):
            got = f(XV, np.array(shape, np.int64))
            np.testing.assert_array_equal(got, XV.reshape(shape))
        assert len(sess._executor._plans) == 2


def test_a_wrong_fed_shape_is_the_reshape_error_on_every_target():
    x = tf.placeholder(tf.float32, [2, 6])
    s = tf.placeholder(tf.int32, [2])
    y = tf.reshape(x, s, name="y")
    for target in ("reference", "llvm"):
        with tf.Session(target=target) as sess:
            with pytest.raises(InvalidArgumentError, match="'y'"):
                sess.run(y, {x: XV, s: [5, 5]})


def test_a_shape_from_a_variable_is_a_clear_error_on_llvm():
    x = tf.placeholder(tf.float32, [2, 6])
    v = tf.Variable([3, 4])
    y = tf.reshape(x, v, name="y")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(InvalidArgumentError, match="could not be computed from constants, "
                           "the fed shapes and fed integer vectors"):
            sess.run(y, {x: XV})


def test_only_feeds_read_as_values_are_shape_feeds():
    x = tf.placeholder(tf.float32, [None, 6])
    s = tf.placeholder(tf.int32, [2])
    by_shape = tf.reshape(x, tf.shape(x)[::-1])  # reads x's shape only
    by_value = tf.reshape(x, s + tf.constant([0, 0]))
    assert shape_feeds([by_shape.node], [x.node, s.node]) == frozenset()
    assert shape_feeds([by_value.node], [x.node, s.node]) == {s.node}
