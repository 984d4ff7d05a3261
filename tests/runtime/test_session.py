"""tf.Session: fetch resolution and structures, feeds, pruning, variable state, random
streams, default sessions, result ownership and target / options selection."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import graphc as tf
from graphc import options as graphc_options
from graphc.errors import UnimplementedError

Pair = collections.namedtuple("Pair", ["first", "second"])


@pytest.fixture
def restore_default_options():
    """Undo set_default_target / set_default_options after the test."""
    saved = graphc_options.default_options()
    yield
    tf.set_default_options(saved)


# --- what can be fetched --------------------------------------------------------------------------
def test_fetch_kinds(target):
    x = tf.constant([1.0, 2.0], name="x")
    y = tf.multiply(x, 3.0, name="y")
    v = tf.Variable([5, 6], name="v")
    init = tf.global_variables_initializer()
    with tf.Session(target=target) as sess:
        assert sess.run(init) is None
        np.testing.assert_array_equal(sess.run(y), [3.0, 6.0])
        assert sess.run(y.op) is None
        np.testing.assert_array_equal(sess.run(v), [5, 6])
        np.testing.assert_array_equal(sess.run("y:0"), [3.0, 6.0])
        np.testing.assert_array_equal(sess.run("v:0"), [5, 6])
        assert sess.run("y") is None  # an operation name runs it and gives None
        assert sess.run("init") is None
        assert sess.run(tf.no_op()) is None


def test_nested_structures_are_preserved():
    a, b = tf.constant(1), tf.constant(2.5)
    op = tf.no_op()
    ordered = collections.OrderedDict([("z", a), ("a", b)])
    with tf.Session() as sess:
        assert sess.run([]) == []
        assert sess.run(()) == ()
        out = sess.run([a, (b, [a, op]), {"k": Pair(a, (b,))}, ordered])
    assert isinstance(out, list) and len(out) == 4
    assert out[0] == 1
    assert isinstance(out[1], tuple) and isinstance(out[1][1], list)
    assert out[1] == (2.5, [1, None])
    assert isinstance(out[2]["k"], Pair) and out[2]["k"] == Pair(1, (2.5,))
    assert isinstance(out[3], collections.OrderedDict) and list(out[3].items()) == [("z", 1),
                                                                                  ("a", 2.5)]


def test_defaultdict_fetch_keeps_its_type():
    fetches = collections.defaultdict(list, {"x": tf.constant(3)})
    with tf.Session() as sess:
        out = sess.run(fetches)
    assert isinstance(out, collections.defaultdict) and out.default_factory is list
    assert out["x"] == 3


def test_same_tensor_fetched_twice():
    x = tf.placeholder(tf.float32, [2])
    y = x + 1.0
    with tf.Session() as sess:
        first, second, again, op = sess.run([y, y, {"y": y}, y.op], {x: [1.0, 2.0]})
    np.testing.assert_array_equal(first, [2.0, 3.0])
    np.testing.assert_array_equal(second, [2.0, 3.0])
    np.testing.assert_array_equal(again["y"], [2.0, 3.0])
    assert op is None


def test_scalar_fetch_is_a_numpy_scalar():
    s = tf.reduce_sum(tf.constant([1.0, 2.0]))
    i = tf.constant(7, dtype=tf.int64)
    with tf.Session() as sess:
        value, count = sess.run([s, i])
    assert isinstance(value, np.float32) and value == 3.0
    assert isinstance(count, np.int64) and count == 7


# --- pruning --------------------------------------------------------------------------------------
def test_unfed_placeholder_not_needed_by_the_fetch_is_fine():
    unused = tf.placeholder(tf.float32, [3], name="unused")
    c = tf.constant(4.0) * 2.0
    _ = unused + 1.0
    with tf.Session() as sess:
        assert sess.run(c) == 8.0


def test_side_effect_not_needed_by_the_fetch_does_not_run():
    v = tf.Variable(1.0)
    _increment = v.assign_add(1.0)
    doubled = v * 2.0
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(doubled) == 2.0
        assert sess.run(doubled) == 2.0
        assert sess.run(v) == 1.0


# --- variables ------------------------------------------------------------------------------------
def test_variables_persist_across_runs(target):
    v = tf.Variable(10, name="v")
    step = v.assign_sub(3)
    with tf.Session(target=target) as sess:
        sess.run(v.initializer)
        assert [sess.run(step) for _ in range(3)] == [7, 4, 1]
        assert sess.run(v) == 1
        sess.run(v.initializer)  # re-initializing resets
        assert sess.run(v) == 10


def test_two_sessions_on_one_graph_are_independent():
    v = tf.Variable(0.0)
    inc = v.assign_add(1.0)
    one, two = tf.Session(), tf.Session()
    try:
        one.run(v.initializer)
        two.run(v.initializer)
        for _ in range(3):
            one.run(inc)
        two.run(inc)
        assert one.run(v) == 3.0
        assert two.run(v) == 1.0
    finally:
        one.close()
        two.close()
    with tf.Session() as three:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized"):
            three.run(v)


def test_variable_load_and_eval():
    v = tf.Variable(tf.zeros([2]))
    with tf.Session() as sess:
        v.load([3.0, 4.0], sess)
        np.testing.assert_array_equal(v.eval(), [3.0, 4.0])
        np.testing.assert_array_equal(sess.run(v * 2.0), [6.0, 8.0])


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_variable_load_of_a_non_contiguous_array_keeps_its_values(layout):
    """A transposed (Fortran-ordered) or strided array loads its values, not its memory:
    compiled kernels read the variable's buffer row-major."""
    base = np.arange(24, dtype=np.float32).reshape(6, 4)
    value = base[:3, :4].T.copy(order="F") if layout == "transposed" else base[::2, 1:4]
    v = tf.Variable(tf.zeros(value.shape))
    with tf.Session() as sess:
        v.load(value, sess)
        np.testing.assert_array_equal(sess.run(v), value)
        np.testing.assert_array_equal(sess.run(tf.matmul(v, tf.ones([3, 1]))),
                                      value @ np.ones((3, 1), np.float32))


def test_session_with_explicit_graph():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(5) + 1
    other = tf.constant(1)  # in the default graph
    with tf.Session(graph=g) as sess:
        assert sess.graph is g
        assert sess.run(c) == 6
        with pytest.raises(ValueError, match="not an element of this graph"):
            sess.run(other)


# --- feeds ----------------------------------------------------------------------------------------
def test_feeding_an_intermediate_tensor_overrides_it():
    x = tf.placeholder(tf.float32, [], name="x")
    y = x * 2.0
    z = y + 1.0
    with tf.Session() as sess:
        assert sess.run(z, {x: 3.0}) == 7.0
        assert sess.run(z, {y: 10.0}) == 11.0  # x is not needed, so need not be fed
        assert sess.run(z, {x: 3.0, y: 0.5}) == 1.5
        assert sess.run(z, {x: 1.0}) == 3.0  # no cached plan leaks the earlier override


def test_feeding_a_variable_overrides_its_value_for_one_run():
    v = tf.Variable(2.0)
    y = v * 10.0
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(y, {v: 5.0}) == 50.0
        assert sess.run(y) == 20.0


def test_feed_keys_by_name_and_lossless_conversion():
    x = tf.placeholder(tf.float32, [None], name="x")
    n = tf.placeholder(tf.int64, [], name="n")
    y = x * tf.cast(n, tf.float32)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {"x:0": [1, 2], "n:0": np.int32(3)}),
                                      [3.0, 6.0])
        out = sess.run(y, {x: np.array([0.5], np.float64), n: True})
    assert out.dtype == np.float32 and out.tolist() == [0.5]


def test_placeholder_with_default():
    default = tf.constant([1.0, 2.0])
    p = tf.placeholder_with_default(default, shape=[None], name="p")
    y = p * 2.0
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y), [2.0, 4.0])
        np.testing.assert_array_equal(sess.run(y, {p: [5.0, 6.0, 7.0]}), [10.0, 12.0, 14.0])
        np.testing.assert_array_equal(sess.run(y), [2.0, 4.0])
        with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
            sess.run(y, {p: np.ones((2, 2))})


# --- random streams -------------------------------------------------------------------------------
def test_random_op_seed_replays_in_a_new_session():
    r = tf.random_uniform([4], seed=3)
    with tf.Session() as sess:
        first = [sess.run(r) for _ in range(3)]
    with tf.Session() as sess:
        again = [sess.run(r) for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # Each run draws new values.
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])


def test_graph_level_seed_replays_across_graphs():
    def build_and_draw(seed):
        tf.reset_default_graph()
        tf.set_random_seed(seed)
        a = tf.random_normal([3])
        b = tf.random_normal([3])
        with tf.Session() as sess:
            return sess.run([a, b]) + [sess.run(a)]

    one, two, other = build_and_draw(1), build_and_draw(1), build_and_draw(2)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(one[0], one[1])  # two ops under one graph seed differ
    assert not np.array_equal(one[0], one[2])  # the second run of `a` differs from the first
    assert not np.array_equal(one[0], other[0])


def test_unseeded_random_op_differs_between_sessions():
    r = tf.random_uniform([8])
    with tf.Session() as sess:
        first = sess.run(r)
    with tf.Session() as sess:
        second = sess.run(r)
    assert not np.array_equal(first, second)


def test_random_op_value_is_shared_within_one_run():
    r = tf.random_uniform([5], seed=1)
    diff = r - r
    with tf.Session() as sess:
        value, d = sess.run([r, diff])
    np.testing.assert_array_equal(d, np.zeros(5, np.float32))
    assert value.shape == (5,)


# --- default sessions -----------------------------------------------------------------------------
def test_eval_and_run_with_the_default_session():
    v = tf.Variable(1)
    inc = v.assign_add(1).op
    t = v * 3
    with tf.Session() as sess:
        assert tf.get_default_session() is sess
        v.initializer.run()
        assert inc.run() is None
        assert t.eval() == 6
        assert v.eval() == 2
    assert tf.get_default_session() is None
    with pytest.raises(ValueError, match="No default session"):
        t.eval()


def test_as_default_and_explicit_session_argument():
    c = tf.constant(2) * 21
    sess = tf.Session()
    with sess.as_default():
        assert tf.get_default_session() is sess
        assert c.eval() == 42
    assert tf.get_default_session() is None
    assert c.eval(session=sess) == 42
    sess.close()


def test_interactive_session():
    x = tf.placeholder(tf.int32, [])
    y = x + 1
    sess = tf.InteractiveSession()
    try:
        assert tf.get_default_session() is sess
        assert y.eval({x: 4}) == 5
    finally:
        sess.close()
    assert tf.get_default_session() is None


def test_closed_session_refuses_to_run():
    c = tf.constant(1)
    v = tf.Variable(1.0)
    with tf.Session() as sess:
        pass
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(c)
    with pytest.raises(RuntimeError, match="closed Session"):
        v.load(2.0, sess)
    other = tf.Session()
    other.close()
    other.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed Session"):
        other.run(c)


# --- ownership of results -------------------------------------------------------------------------
def test_fetched_values_are_writable_copies():
    v = tf.Variable([1.0, 2.0, 3.0])
    c = tf.constant([4, 5])
    ident = tf.identity(v)
    flat = tf.reshape(v, [3, 1])
    with tf.Session() as sess:
        sess.run(v.initializer)
        for fetched in sess.run([v, ident, flat, c]):
            assert fetched.flags.writeable
            fetched[...] = 0
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(sess.run(c), [4, 5])
        assigned = sess.run(v.assign([7.0, 8.0, 9.0]))
        assigned[0] = -1.0
        np.testing.assert_array_equal(sess.run(v), [7.0, 8.0, 9.0])


def test_fed_arrays_are_not_aliased():
    x = tf.placeholder(tf.float32, [2])
    v = tf.Variable(tf.zeros([2]))
    store = v.assign(x)
    with tf.Session() as sess:
        sess.run(v.initializer)
        data = np.array([1.0, 2.0], np.float32)
        echoed, _ = sess.run([x, store], {x: data})
        data[:] = 100.0  # the variable holds its own copy
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
        echoed[:] = -5.0  # the echoed feed is not the caller's array
        np.testing.assert_array_equal(data, [100.0, 100.0])


# --- targets and options --------------------------------------------------------------------------
def test_explicit_reference_target(monkeypatch):
    monkeypatch.setenv("GRAPHC_TARGET", "no_such_target")
    with tf.Session(target="reference") as sess:
        assert sess.run(tf.constant(3)) == 3


def test_unknown_target_error():
    with pytest.raises(UnimplementedError, match=r"unknown or unavailable target 'tpu'; "
                                                 r"available targets: .*reference"):
        tf.Session(target="tpu")


def test_environment_variable_selects_the_target(monkeypatch):
    monkeypatch.setenv("GRAPHC_TARGET", "from_env")
    with pytest.raises(UnimplementedError, match="'from_env'"):
        tf.Session()
    monkeypatch.setenv("GRAPHC_TARGET", "reference")
    with tf.Session() as sess:
        assert sess.run(tf.constant(1)) == 1


def test_set_default_target(monkeypatch, restore_default_options):
    monkeypatch.setenv("GRAPHC_TARGET", "from_env")
    tf.set_default_target("reference")  # wins over the environment
    with tf.Session() as sess:
        assert sess.run(tf.constant(2)) == 2
    tf.set_default_target("from_default")
    with pytest.raises(UnimplementedError, match="'from_default'"):
        tf.Session()
    with tf.Session(target="reference") as sess:  # the argument wins over the default
        assert sess.run(tf.constant(2)) == 2
    tf.set_default_target(None)  # back to the environment
    with pytest.raises(UnimplementedError, match="'from_env'"):
        tf.Session()


def test_options_target_in_config(monkeypatch):
    monkeypatch.delenv("GRAPHC_TARGET", raising=False)
    with pytest.raises(UnimplementedError, match="'from_options'"):
        tf.Session(config=tf.Options(target="from_options"))
    with tf.Session(config=tf.Options(target="reference", threads=1)) as sess:
        assert sess.run(tf.constant(5)) == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 0}, "threads must be a positive int or None, got 0"),
    ({"threads": 2.5}, "threads must be a positive int or None, got 2.5"),
    ({"opt_level": 4}, r"opt_level must be 0\.\.3, got 4"),
])
def test_options_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tf.Options(**kwargs)


def test_options_type_errors(restore_default_options):
    with pytest.raises(TypeError, match="expected graphc.Options, got dict"):
        tf.set_default_options({"threads": 2})
    with pytest.raises(TypeError, match="config must be graphc.Options or tf.ConfigProto, "
                                        "got str"):
        tf.Session(config="fast")


def test_config_proto_is_accepted():
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False,
                            intra_op_parallelism_threads=2)
    config.gpu_options.allow_growth = True
    with tf.Session(config=config) as sess:
        assert sess.options.threads == 2
        assert sess.run(tf.constant(1.5)) == 1.5
    gpu = tf.GPUOptions(allow_growth=True, per_process_gpu_memory_fraction=0.5)
    config = tf.ConfigProto(gpu_options=gpu)
    assert config.gpu_options.allow_growth is True
    with tf.Session(config=config) as sess:
        assert sess.options.threads is None
        assert sess.run(tf.constant(2)) == 2


def test_make_callable_runs_like_run(target):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    v = tf.Variable([1.0, 2.0])
    y = {"sum": tf.reduce_sum(x * v, 1), "pair": (x + 1, v)}
    step = v.assign_add([1.0, 1.0])
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        f = sess.make_callable(y, [x])
        out = f(np.array([[1.0, 1.0], [2.0, 0.0]], np.float32))
        np.testing.assert_allclose(out["sum"], [3.0, 2.0])
        np.testing.assert_allclose(out["pair"][0], [[2.0, 2.0], [3.0, 1.0]])
        bump = sess.make_callable(step)
        bump()
        np.testing.assert_allclose(f(np.ones((1, 2), np.float32))["pair"][1], [2.0, 3.0])
        with pytest.raises(TypeError, match=r"this callable takes 1 feed values \(one per "
                                            r"feed_list entry\), got 0"):
            f()
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\) for 'x'"):
            f(np.ones(3, np.float32))


def test_make_callable_writes_into_preallocated_outputs(target):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y, s = tf.exp(x), tf.reduce_sum(x)
    with tf.Session(target=target) as sess:
        f = sess.make_callable([y, s], [x])
        buffer = np.empty((2, 3), np.float32)
        value = np.arange(6, dtype=np.float32).reshape(2, 3)
        got_y, got_s = f(value, out=[buffer, None])
        assert got_y is buffer
        np.testing.assert_allclose(buffer, np.exp(value), rtol=1e-6)
        assert got_s == 15.0
        with pytest.raises(ValueError, match=r"out= for 'Exp' \(exp created at "
                                             r"test_session.py:\d+\) has shape \(3, 2\), the "
                                             r"fetch has shape \(\?, 3\)"):
            f(value, out=[np.empty((3, 2), np.float32), None])
        with pytest.raises(ValueError, match=r"must be a writeable C-contiguous float32 array, "
                                             r"got float64"):
            f(value, out=[np.empty((2, 3)), None])
        with pytest.raises(ValueError, match=r"out= needs one entry per fetch \(2\), got 1"):
            f(value, out=buffer)


def test_an_out_array_of_the_wrong_run_shape_fails_before_any_update(target):
    x = tf.placeholder(tf.float32, [None], name="x")
    v = tf.Variable(0.0)
    bump = v.assign_add(1.0)
    with tf.control_dependencies([bump]):
        y = tf.identity(x)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        f = sess.make_callable(y, [x])
        with pytest.raises(ValueError, match=r"out= has shape \(3,\), this run's fetch has "
                                             r"shape \(2,\)"):
            f(np.ones(2, np.float32), out=np.empty(3, np.float32))
        assert sess.run(v) == 0.0
