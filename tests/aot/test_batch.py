"""Which graphs keep a symbolic batch (graphc/aot/batch.py): row-separable graphs pass,
anything that mixes rows or depends on the batch size is refused at the node that does."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.aot.batch import FIXED, ROWS, SIZE, NotSeparable, classify


def states(fetch, *feeds):
    return classify([fetch.node], frozenset(f.node for f in feeds))


def refused(fetch, *feeds) -> str:
    with pytest.raises(NotSeparable) as info:
        states(fetch, *feeds)
    return info.value.args[0].op.name


def test_per_row_computations_are_separable():
    x = tf.placeholder(tf.float32, [None, 4, 3])
    w = tf.constant(np.ones((3, 2), np.float32))
    y = tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 3]), w))   # rows of rows: (4 * batch, 2)
    assert refused(y, x) == "reshape"
    flat = tf.reshape(x, [tf.shape(x)[0], 12])
    z = tf.nn.relu(tf.matmul(flat, tf.ones([12, 5]))) - tf.reduce_mean(flat, axis=1,
                                                                       keepdims=True)
    assert states(z, x)[z.node] == ROWS
    t = tf.transpose(x, [0, 2, 1])
    assert states(tf.reduce_max(t, axis=[1, 2]), x)[tf.reduce_max(t, axis=[1, 2]).node] == ROWS


def test_what_does_not_depend_on_the_batch_is_fixed():
    x = tf.placeholder(tf.float32, [None, 3])
    scale = tf.placeholder(tf.float32, [3])
    total = tf.reduce_sum(scale)
    got = classify([total.node, (x * total).node], frozenset([x.node]))
    assert got[total.node] == FIXED and got[(x * total).node] == ROWS


def test_shape_arithmetic_is_fixed_or_size():
    x = tf.placeholder(tf.float32, [None, 3])
    got = states(tf.shape(x)[1], x)
    assert got[tf.shape(x)[1].node] == FIXED
    y = tf.reshape(x, [tf.shape(x)[0], 3])
    assert states(y, x)[tf.shape(x).node] == SIZE and states(y, x)[y.node] == ROWS
    with pytest.raises(NotSeparable, match="batch size"):
        states(tf.shape(x)[0], x)
    assert refused(x / tf.cast(tf.shape(x)[0], tf.float32), x) == "div"


@pytest.mark.parametrize("build, op", [
    (lambda x: tf.reduce_sum(x, axis=0), "reduce_sum"),
    (lambda x: tf.concat([x, x], axis=0), "concat"),
    (lambda x: x[1:], "slice"),
    (lambda x: tf.transpose(x), "transpose"),
    (lambda x: tf.matmul(tf.ones([4, 1]), x[:, :1]), "matmul"),
])
def test_ops_that_mix_rows_are_refused(build, op):
    x = tf.placeholder(tf.float32, [None, 5])
    assert refused(build(x), x) == op


def test_rows_may_meet_rows_and_gather_by_row():
    x = tf.placeholder(tf.float32, [None, 5])
    ids = tf.placeholder(tf.int32, [None])
    emb = tf.gather(tf.ones([10, 5]), ids)
    y = tf.concat([x, emb], axis=1)
    assert classify([y.node], frozenset([x.node, ids.node]))[y.node] == ROWS
