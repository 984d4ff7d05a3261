"""make_callable's fast path on the LLVM target (graphc/runtime/bound.py) and run()'s reuse of
it: the same answers as the general path in every case it takes, and the general path (with
its errors) wherever it does not fit."""

import numpy as np
import pytest

import graphc as tf
from graphc.errors import FailedPreconditionError, InvalidArgumentError
from graphc.runtime.bound import SMALL, BoundPlan


def _runners(sess):
    return [r for r in _all_bound() if r.executor is sess._executor]


def _all_bound():
    import gc
    return [o for o in gc.get_objects() if isinstance(o, BoundPlan)]


def test_repeated_calls_follow_their_inputs_and_results_stay_independent():
    x, y = tf.placeholder(tf.float32, [16]), tf.placeholder(tf.float32, [16])
    rng = np.random.default_rng(0)
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable([x + y, x * y], [x, y])
        results = []
        for _ in range(4):
            a, b = rng.standard_normal(16, dtype=np.float32), rng.standard_normal(16,
                                                                                  dtype=np.float32)
            s, p = f(a, b)
            results.append((s, p, a + b, a * b))
        assert len(_runners(sess)) == 1  # the later calls took the fast path
        for s, p, es, ep in results:  # earlier results were not overwritten by later runs
            np.testing.assert_array_equal(s, es)
            np.testing.assert_array_equal(p, ep)


def test_large_values_are_bound_by_address_and_fresh_per_call():
    n = SMALL // 4 + 8  # above the staging size in float32
    x = tf.placeholder(tf.float32, [n])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(x * 2.0, [x])
        first = f(np.ones(n, np.float32))
        second = f(np.full(n, 3.0, np.float32))
        assert first is not second
        np.testing.assert_array_equal(first, 2.0)
        np.testing.assert_array_equal(second, 6.0)
        strided = np.arange(2 * n, dtype=np.float32)[::2]  # not contiguous: general path
        np.testing.assert_array_equal(f(strided), strided * 2.0)


def test_a_large_result_the_caller_dropped_is_reused_and_one_still_held_is_not():
    import weakref
    n = SMALL // 4 + 8
    x = tf.placeholder(tf.float32, [n])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable([x * 2.0, x + 1.0], [x])
        f(np.ones(n, np.float32))  # compiles; the fast path serves the calls from here on
        first, other = f(np.ones(n, np.float32))
        address = first.ctypes.data
        del first  # dropped: the next call writes its result there
        again, latest = f(np.full(n, 3.0, np.float32))
        assert again.ctypes.data == address
        np.testing.assert_array_equal(again, 6.0)
        np.testing.assert_array_equal(other, 2.0)  # held: the next call wrote elsewhere
        view, weak = again[:4], weakref.ref(latest)
        del again, latest  # only a view of one and a weak reference to the other are left
        assert weak() is not None
        weakly_held = weak().ctypes.data
        third, fourth = f(np.full(n, 5.0, np.float32))
        assert not np.shares_memory(third, view)  # a view keeps its array
        assert fourth.ctypes.data != weakly_held  # so does a weak reference
        np.testing.assert_array_equal(view, 6.0)
        np.testing.assert_array_equal(third, 10.0)
        np.testing.assert_array_equal(fourth, 6.0)
        frozen = third
        frozen.setflags(write=False)
        del third, frozen
        np.testing.assert_array_equal(f(np.ones(n, np.float32))[0], 2.0)  # not a read-only one


def test_small_non_contiguous_and_convertible_feeds():
    x = tf.placeholder(tf.float32, [4, 3])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(x + 1.0, [x])
        base = np.arange(12, dtype=np.float32).reshape(3, 4)
        np.testing.assert_array_equal(f(base.T), base.T + 1.0)
        np.testing.assert_array_equal(f(base.T), base.T + 1.0)  # staged copy of a view
        np.testing.assert_array_equal(f(base.T.tolist()), base.T + 1.0)  # lists convert
        ints = np.arange(12, dtype=np.int32).reshape(4, 3)
        np.testing.assert_array_equal(f(ints), ints + 1.0)  # lossless cast, general path
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3, 4\)"):
            f(base)


def test_new_shapes_get_their_own_plan():
    x = tf.placeholder(tf.float32, [None, 2])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(tf.reduce_sum(x, 0), [x])
        for rows in (1, 5, 1, 5, 3):
            value = np.arange(2 * rows, dtype=np.float32).reshape(rows, 2)
            np.testing.assert_array_equal(f(value), value.sum(0))


def test_out_arrays_on_the_fast_path():
    n = SMALL // 4 + 8
    x = tf.placeholder(tf.float32, [n])
    s = tf.placeholder(tf.float32, [3])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable([x + 1.0, s * 2.0], [x, s])
        big, small = np.empty(n, np.float32), np.empty(3, np.float32)
        for k in range(3):
            xv, sv = np.full(n, float(k), np.float32), np.array([1, 2, k], np.float32)
            got_big, got_small = f(xv, sv, out=[big, small])
            assert got_big is big and got_small is small
            np.testing.assert_array_equal(big, k + 1.0)
            np.testing.assert_array_equal(small, sv * 2.0)
        aliased = np.full(n, 4.0, np.float32)  # out= is the feed itself
        got, _ = f(aliased, small, out=[aliased, None])
        assert got is aliased
        np.testing.assert_array_equal(aliased, 5.0)
        with pytest.raises(ValueError, match="out= for .* has shape"):
            f(xv, sv, out=[np.empty(n + 1, np.float32), None])


def test_scalars_come_back_as_numpy_scalars():
    x = tf.placeholder(tf.float32, [5])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(tf.reduce_sum(x), [x])
        for _ in range(2):
            got = f(np.ones(5, np.float32))
            assert isinstance(got, np.float32) and got == 5.0


def test_training_steps_update_variables_in_place_and_match_the_reference():
    def train(target):
        tf.reset_default_graph()
        x = tf.placeholder(tf.float32, [8, 3])
        w = tf.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2))
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w)))
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        data = np.random.default_rng(1).standard_normal((8, 3), dtype=np.float32)
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            f = sess.make_callable([loss, step], [x])
            losses = [f(data)[0] for _ in range(5)]
            return losses, sess.run(w)
    got_losses, got_w = train("llvm")
    want_losses, want_w = train("reference")
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5)


def test_variable_loaded_between_calls_is_seen():
    x = tf.placeholder(tf.float32, [2])
    v = tf.Variable(np.zeros(2, np.float32))
    with tf.Session(target="llvm") as sess:
        sess.run(v.initializer)
        f = sess.make_callable(x + v, [x])
        one = np.ones(2, np.float32)
        np.testing.assert_array_equal(f(one), [1, 1])
        np.testing.assert_array_equal(f(one), [1, 1])
        v.load(np.array([5, 6], np.float32), sess)
        np.testing.assert_array_equal(f(one), [6, 7])


def test_uninitialized_variable_and_failed_checks_raise_as_on_the_general_path():
    x = tf.placeholder(tf.int32, [2])
    v = tf.Variable(np.zeros(2, np.float32), name="weights")
    table = tf.constant(np.arange(4, dtype=np.float32))
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(tf.gather(table, x) + v, [x])
        with pytest.raises(FailedPreconditionError, match="weights"):
            f(np.array([0, 1], np.int32))
        sess.run(v.initializer)
        np.testing.assert_array_equal(f(np.array([0, 1], np.int32)), [0, 1])
        np.testing.assert_array_equal(f(np.array([2, 3], np.int32)), [2, 3])
        with pytest.raises(InvalidArgumentError, match=r"index 4 is out of range \[0, 4\)"):
            f(np.array([0, 4], np.int32))
        np.testing.assert_array_equal(f(np.array([3, 0], np.int32)), [3, 0])


def test_two_callables_sharing_one_plan_alternate():
    x, y = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.float32, [3])
    z = x - y
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(z, [x, y])
        g = sess.make_callable(z, [y, x])
        a, b = np.array([1, 2, 3], np.float32), np.array([10, 20, 30], np.float32)
        for _ in range(3):
            np.testing.assert_array_equal(f(a, b), a - b)
            np.testing.assert_array_equal(g(a, b), b - a)
            np.testing.assert_array_equal(sess.run(z, {x: b, y: a}), b - a)


def test_run_reuses_a_callable_per_fetch_and_feed_objects():
    x = tf.placeholder(tf.float32, [2], name="x")
    y = x * 3.0
    with tf.Session(target="llvm") as sess:
        for k in range(3):
            value = np.array([k, 1], np.float32)
            np.testing.assert_array_equal(sess.run(y, {x: value}), value * 3)
            np.testing.assert_array_equal(sess.run([y, x], {x: value})[0], value * 3)
            np.testing.assert_array_equal(sess.run("x:0", {"x:0": value}), value)
        assert len(sess._callables) == 3
        assert sess.run({"y": y}, {x: value})["y"][0] == 6.0  # a dict: resolved every time
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(y, {x: value})


def test_wrong_number_of_values_is_a_clear_error_after_fast_calls():
    x = tf.placeholder(tf.float32, [2])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(x + 1.0, [x])
        f(np.ones(2, np.float32))
        f(np.ones(2, np.float32))
        with pytest.raises(TypeError, match="takes 1 feed values"):
            f(np.ones(2, np.float32), np.ones(2, np.float32))


def test_a_loop_that_rebinds_its_result_reuses_two_arrays():
    n = SMALL // 4 + 8
    x = tf.placeholder(tf.float32, [n])
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(x * 2.0, [x])
        addresses = []
        y = None
        for i in range(6):
            y = f(np.full(n, float(i), np.float32))  # the old y is held during the call
            addresses.append(y.ctypes.data)
            np.testing.assert_array_equal(y, 2.0 * i)
        # (the first call compiles, on the general path): then two arrays, in turn
        assert len(set(addresses[2:])) == 2 and addresses[2:4] == addresses[4:6]


def test_large_read_only_and_writable_feeds_are_bound_at_their_own_addresses():
    """A writable array's address is read through a ctypes view of its buffer, a read-only
    one's (which has no writable buffer to view) through numpy: both give its elements."""
    n = SMALL // 4 + 5
    x = tf.placeholder(tf.float32, [n])
    rng = np.random.default_rng(1)
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable(x * 2.0, [x])
        out = np.empty(n, np.float32)
        for writable in (True, False, True):
            v = rng.standard_normal(n, dtype=np.float32)
            v.flags.writeable = writable
            np.testing.assert_array_equal(f(v), v * 2.0)
            assert f(v, out=out) is out
            np.testing.assert_array_equal(out, v * 2.0)
        assert len(_runners(sess)) == 1  # all on the fast path


@pytest.mark.parametrize("with_out", [False, True])
def test_a_large_value_fetched_with_a_reshape_of_it_is_current_in_both(with_out):
    # both fetches read one buffer; the kernels write it into the first fetch's array, so
    # the second is copied from there, not from the arena (fuzz seed 11049: the reshape
    # kept the first call's value after the variable changed)
    n = (SMALL // 4 // 40 + 2) * 40  # above the staging size in float32
    rng = np.random.default_rng(1)
    v = tf.Variable(rng.standard_normal((n // 40, 40)).astype(np.float32))
    y = tf.clip_by_value(tf.abs(v) + 0.5, -1.0, 1.5)
    flat = tf.reshape(y, [-1])
    with tf.Session(target="llvm") as sess:
        sess.run(tf.global_variables_initializer())
        f = sess.make_callable([y, flat])
        for _ in range(3):  # the general path, then the fast one
            new = rng.standard_normal((n // 40, 40)).astype(np.float32)
            v.load(new, sess)
            want = np.clip(np.abs(new) + 0.5, -1.0, 1.5)
            outs = [np.empty_like(want), np.empty(n, np.float32)] if with_out else None
            # (the first call takes the general path, out= arrays included)
            for got in (f(out=outs) if with_out else f(), sess.run([y, flat])):
                np.testing.assert_array_equal(got[0], want)
                np.testing.assert_array_equal(got[1], want.ravel())
