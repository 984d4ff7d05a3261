"""Session and make_callable misuse that used to give wrong numbers or pass silently: out=
arrays sharing memory, misspelled keywords, one tensor fed under two keys, and tf.shape of a
value whose dims do not fit the shape's dtype. Each runs on every target."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.errors import InvalidArgumentError
from graphc.runtime.bound import SMALL


def two_products():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = np.arange(9, dtype=np.float32).reshape(3, 3)
    y1 = tf.multiply(x, 2.0, name="y1")
    y2 = tf.matmul(y1, tf.constant(w), name="y2")
    return x, y1, y2, w


# --- out= arrays that share memory ----------------------------------------------------------
def test_one_out_array_for_two_fetches_raises_before_the_run(target):
    x, y1, y2, w = two_products()
    count = tf.Variable(0.0, name="count")
    step = count.assign_add(1.0)
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(target=target) as sess:
        sess.run(count.initializer)
        f = sess.make_callable([y1, y2, step], [x])
        for _ in range(2):  # the first call compiles, the second takes the fast path
            got1, got2, _ = f(value)
            np.testing.assert_allclose(got1, value * 2, rtol=1e-6)
            np.testing.assert_allclose(got2, (value * 2) @ w, rtol=1e-6)
        a = np.zeros((2, 3), np.float32)
        for _ in range(2):
            with pytest.raises(ValueError, match=r"out\[0\] and out\[1\] share memory; each "
                                                 r"fetched value needs an array of its own "
                                                 r"\(out\[0\] is for 'y1' .*, out\[1\] for "
                                                 r"'y2' "):
                f(value, out=[a, a, None])
        assert not a.any()  # raised before the run: nothing written
        assert sess.run(count) == 2.0  # and no variable updated


def test_overlapping_views_as_out_raise_and_disjoint_ones_work(target):
    x, y1, y2, w = two_products()
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    buffer = np.zeros((4, 3), np.float32)
    with tf.Session(target=target) as sess:
        f = sess.make_callable([y1, y2], [x])
        with pytest.raises(ValueError, match=r"out\[0\] and out\[1\] share memory"):
            f(value, out=[buffer[:2], buffer[1:3]])
        for _ in range(2):
            got1, got2 = f(value, out=[buffer[:2], buffer[2:]])
            np.testing.assert_allclose(buffer[:2], value * 2, rtol=1e-6)
            np.testing.assert_allclose(buffer[2:], (value * 2) @ w, rtol=1e-6)
            np.testing.assert_array_equal(got1, buffer[:2])
            np.testing.assert_array_equal(got2, buffer[2:])


def test_the_same_out_array_for_a_repeated_fetch_raises(target):
    x, y1, _, _ = two_products()
    with tf.Session(target=target) as sess:
        f = sess.make_callable([y1, y1], [x])
        a = np.zeros((1, 3), np.float32)
        with pytest.raises(ValueError, match=r"out\[0\] and out\[1\] share memory"):
            f(np.ones((1, 3), np.float32), out=[a, a])


@pytest.mark.parametrize("n", [6, SMALL // 4 + 8], ids=["small", "large"])
@pytest.mark.parametrize("order", ["out-first", "feed-first"])
def test_an_out_array_over_its_own_feed_gets_the_right_values(target, n, order):
    """The out= array is the feed itself, and the feed is also fetched as is: the fetched feed
    must be the value before the run, the out= array the computed value."""
    x = tf.placeholder(tf.float32, [None], name="x")
    doubled, same = x * 2.0 + 1.0, tf.identity(x)
    fetches = [doubled, same] if order == "out-first" else [same, doubled]
    with tf.Session(target=target) as sess:
        f = sess.make_callable(fetches, [x])
        for _ in range(3):  # compile, fast path, fast path again
            base = np.linspace(-1, 1, n, dtype=np.float32)
            value = base.copy()
            out = [value, None] if order == "out-first" else [None, value]
            got = f(value, out=out)
            got_doubled, got_same = got if order == "out-first" else got[::-1]
            assert got_doubled is value
            np.testing.assert_allclose(value, base * 2 + 1, rtol=1e-6)
            np.testing.assert_array_equal(got_same, base)
            np.testing.assert_allclose(f(base)[fetches.index(doubled)], base * 2 + 1,
                                       rtol=1e-6)  # later runs are unaffected


# --- keywords -------------------------------------------------------------------------------
def test_an_unknown_keyword_of_a_callable_raises(target):
    x, y1, _, _ = two_products()
    value = np.ones((2, 3), np.float32)
    with tf.Session(target=target) as sess:
        f = sess.make_callable(y1, [x])
        a = np.zeros((2, 3), np.float32)
        for _ in range(2):  # before and after the fast path exists
            with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'outt'; it "
                                                r"accepts out=, options= and run_metadata="):
                f(value, outt=a)
            np.testing.assert_array_equal(f(value, options=None, run_metadata=None), value * 2)
        assert not a.any()
        with pytest.raises(TypeError, match=r"'outt', 'feed'"):
            f(value, outt=a, feed=value)


# --- one tensor fed twice -------------------------------------------------------------------
def test_one_tensor_fed_under_two_keys_raises(target):
    x, y1, _, _ = two_products()
    a, b = np.ones((1, 3), np.float32), np.full((1, 3), 2.0, np.float32)
    message = (r"'x' \(placeholder created at .*test_session_hardening\.py:\d+\) is fed twice, "
               r"under the keys <tf\.Tensor 'x:0'.*> and 'x:0'; feed each tensor once per run")
    with tf.Session(target=target) as sess:
        for _ in range(2):  # run() keeps a callable per fetch and feed objects
            with pytest.raises(ValueError, match=message):
                sess.run(y1, {x: a, "x:0": b})
        with pytest.raises(ValueError, match=message):
            sess.run({"y": y1}, {x: a, "x:0": b})  # a dict of fetches: the general path
        with pytest.raises(ValueError, match=message):
            sess.make_callable(y1, [x, "x:0"])
        with pytest.raises(ValueError, match=r"'x' .* is fed twice"):
            sess.make_callable(y1, [x, x])
        np.testing.assert_array_equal(sess.run(y1, {x: a}), a * 2)


def test_a_variable_fed_under_two_keys_raises(target):
    v = tf.Variable([1.0, 2.0], name="v")
    y = v * 3.0
    with tf.Session(target=target) as sess:
        sess.run(v.initializer)
        with pytest.raises(ValueError, match=r"is fed twice, under the keys .* and 'v:0'"):
            sess.run(y, {v: [0.0, 0.0], "v:0": [5.0, 5.0]})
        np.testing.assert_array_equal(sess.run(y, {v: [5.0, 5.0]}), [15.0, 15.0])


# --- tf.shape over int32 --------------------------------------------------------------------
def test_shape_of_a_dim_over_int32_names_the_op(target):
    p = tf.placeholder(tf.bool, [None, None], name="p")
    shape32 = tf.shape(p)
    shape64 = tf.shape(p, out_type=tf.int64)
    huge = np.broadcast_to(np.False_, (2**31, 2))  # 4 GiB of bools, none in memory
    with tf.Session(target=target) as sess:
        with pytest.raises(InvalidArgumentError,
                           match=r"'Shape' \(shape created at .*test_session_hardening\.py:"
                                 r"\d+\) failed: .*2147483648.*int32"):
            sess.run(shape32, {p: huge})
        np.testing.assert_array_equal(sess.run(shape64, {p: huge}), [2**31, 2])
        fits = np.broadcast_to(np.False_, (2**31 - 1, 2))
        got = sess.run(shape32, {p: fits})
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, [2**31 - 1, 2])
