"""Iterators in Sessions: one-shot, initializable with a fed placeholder, reinitializable,
several get_next calls, the end of sequence, the uninitialized error, independent sessions."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
import graphc.data  # noqa: F401 (tf.data, until graphc/__init__.py imports it)
from graphc.data import Dataset, Iterator, make_initializable_iterator, make_one_shot_iterator


def drain(sess, fetch, feed_dict=None) -> list:
    out = []
    while True:
        try:
            out.append(sess.run(fetch, feed_dict))
        except tf.errors.OutOfRangeError:
            return out


def test_one_shot_iterator_ends_with_out_of_range():
    x, y = make_one_shot_iterator(Dataset.from_tensor_slices(
        (np.arange(6, dtype=np.float32), np.arange(6))).batch(4)).get_next()
    assert x.shape.as_list() == [None] and x.dtype is tf.float32 and y.dtype is tf.int64
    total = tf.reduce_sum(x)
    with tf.Session() as sess:
        assert [float(v) for v in drain(sess, total)] == [6.0, 9.0]
        with pytest.raises(tf.errors.OutOfRangeError, match="End of sequence"):
            sess.run(total)


def test_one_shot_iterator_refuses_placeholders():
    p = tf.placeholder(tf.float32, [None])
    with pytest.raises(ValueError, match="one-shot iterator cannot capture"):
        Dataset.from_tensor_slices(p).make_one_shot_iterator()


def test_one_shot_iterator_runs_constant_tensors():
    it = Dataset.from_tensor_slices(tf.constant([1.0, 2.0]) * 3.0).make_one_shot_iterator()
    with tf.Session() as sess:
        assert drain(sess, it.get_next()) == [3.0, 6.0]


def test_initializable_iterator_with_fed_placeholder_and_batch_size():
    data = tf.placeholder(tf.float32, [None, 2])
    size = tf.placeholder(tf.int64, [])
    it = make_initializable_iterator(Dataset.from_tensor_slices(data).batch(size))
    nxt = it.get_next()
    assert nxt.shape.as_list() == [None, 2]
    v = tf.Variable(0.0)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError,
                           match="GetNext\\(\\) failed because the iterator has not been "
                                 "initialized"):
            sess.run(nxt)
        sess.run([it.initializer, v.initializer],  # in a list with another fetch, as TF1
                 feed_dict={data: np.arange(10.0).reshape(5, 2), size: 2})
        assert [b.shape for b in drain(sess, nxt)] == [(2, 2), (2, 2), (1, 2)]
        sess.run(it.initializer, {data: np.ones((3, 2)), size: 3})  # re-initialize
        assert [b.tolist() for b in drain(sess, nxt)] == [[[1, 1]] * 3]


def test_reinitializable_iterator_from_structure():
    train = Dataset.range(5).map(lambda x: tf.cast(x, tf.float32))
    test = Dataset.from_tensor_slices(np.array([10.0, 20.0], np.float32))
    it = Iterator.from_structure(train.output_types, train.output_shapes)
    nxt = it.get_next()
    train_init, test_init = it.make_initializer(train), it.make_initializer(test)
    with pytest.raises(TypeError, match="do not fit"):
        it.make_initializer(Dataset.range(3))
    with tf.Session() as sess:
        sess.run(train_init)
        assert drain(sess, nxt) == [0, 1, 2, 3, 4]
        sess.run(test_init)
        assert drain(sess, nxt) == [10, 20]


def test_two_get_next_calls_pull_their_own_elements():
    it = Dataset.range(6).make_one_shot_iterator()
    a, b = it.get_next(), it.get_next()
    with tf.Session() as sess:
        assert [sess.run(a), sess.run(b), sess.run(a)] == [0, 1, 2]
        assert sess.run([a, b]) in ([3, 4], [4, 3])  # one element each, in one run
        both = sess.run(a + 0)
        assert both == 5


def test_one_run_pulls_once_per_get_next():
    x = Dataset.range(10).make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        assert sess.run([x, x * 2, x + 1]) == [0, 0, 1]
        assert sess.run(x) == 1


def test_sessions_iterate_independently():
    it = Dataset.range(4).make_initializable_iterator()
    nxt = it.get_next()
    s1, s2 = tf.Session(), tf.Session()
    s1.run(it.initializer)
    s2.run(it.initializer)
    assert [s1.run(nxt), s1.run(nxt), s2.run(nxt)] == [0, 1, 0]
    s1.close()
    s2.close()


def test_structured_elements_and_properties():
    ds = Dataset.from_tensor_slices({"a": np.zeros((3, 2), np.float32), "b": np.arange(3)})
    it = ds.make_one_shot_iterator()
    assert it.output_types == {"a": tf.float32, "b": tf.int64}
    assert it.output_shapes == {"a": tf.TensorShape([2]), "b": tf.TensorShape([])}
    nxt = it.get_next()
    with tf.Session() as sess:
        got = sess.run(nxt)
    assert set(got) == {"a", "b"} and got["a"].shape == (2,) and got["b"] == 0


def test_feeding_get_next_explicitly_skips_the_iterator():
    it = Dataset.range(3).make_one_shot_iterator()
    x = it.get_next()
    with tf.Session() as sess:
        assert sess.run(x * 10, {x: 7}) == 70
        assert sess.run(x) == 0


def test_string_elements_must_be_parsed_before_get_next():
    ds = Dataset.from_tensors(b"abc")
    assert repr(ds.output_types) == "tf.string"
    with pytest.raises(TypeError, match="no string dtype"):
        ds.make_one_shot_iterator().get_next()
