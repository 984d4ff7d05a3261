"""tf.cond, tf.case and tf.while_loop (graphc/ops/control_flow.py) on every target, against
the same computation written as plain Python ifs and loops over numpy; their gradients
against central differences of that numpy function (or the analytic derivative).

Graphs are few and small: a test builds one graph and runs it for several feeds (a
parametrized test rebuilds the same graph, which the code cache compiles once per target).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

Pair = collections.namedtuple("Pair", ["first", "second"])
State = collections.namedtuple("State", ["h", "c"])

# float64 gradients against central differences with eps=1e-6: truncation ~1e-12, rounding
# ~1e-10 relative to the function's size
GRAD_TOL = {"rtol": 1e-6, "atol": 1e-8}


def run_feeds(fetches, feeds, target):
    """`fetches` run once per feed dict, all in one session (one compile)."""
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        return [sess.run(fetches, feed) for feed in feeds]


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function `f` at the array `x`."""
    x = np.array(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


# --- cond ------------------------------------------------------------------------------------
@pytest.mark.parametrize("xs", [[1.0, 2.0, -0.5], [-3.0, 1.0, 0.5], [0.0, 0.0, 0.0]],
                         ids=["positive", "negative", "zero"])
def test_cond_takes_the_branch_the_data_picks(xs, target):
    # the true branch reads x and a value computed outside; the false branch returns the
    # captured placeholder itself
    x, c = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.float32, [])
    outside = tf.exp(x) * c
    y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0 + outside, lambda: x)
    xs = np.array(xs, np.float32)
    expected = xs * 2.0 + np.exp(xs) * np.float32(1.5) if xs.sum() > 0 else xs
    assert_close(run(y, {x: xs, c: 1.5}, target), expected.astype(np.float32))


@pytest.mark.parametrize("taken", [True, False])
def test_cond_with_a_fed_predicate_reads_captures_and_a_variable(taken, target):
    p = tf.placeholder(tf.bool, [])
    a = tf.placeholder(tf.float64, [2, 3])
    w_init = np.arange(6.0).reshape(3, 2) / 4.0
    w = tf.Variable(w_init, dtype=tf.float64)
    column_sums = tf.reduce_sum(a, axis=0)  # built outside: both branches capture it
    y, z = tf.cond(p, lambda: (tf.matmul(a, w) + column_sums[0], column_sums * 2.0),
                   lambda: (tf.matmul(a * 2.0, w) - column_sums[1], -column_sums))
    av = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    sums = av.sum(axis=0)
    if taken:
        expected = (av @ w_init + sums[0], sums * 2.0)
    else:
        expected = ((av * 2.0) @ w_init - sums[1], -sums)
    got = run([y, z, column_sums], {p: taken, a: av}, target)
    for actual, want in zip(got, [*expected, sums]):
        assert_close(actual, want)


@pytest.mark.parametrize("taken", [True, False])
def test_cond_returns_nested_structures(taken, target):
    p = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [2])

    def branch(scale):
        return lambda: (x * scale,
                        Pair(first=tf.reduce_sum(x) * scale,
                             second=tf.cast(x, tf.int32) + int(scale)),
                        {"b": x - scale, "a": [x + scale]})

    out = tf.cond(p, branch(2.0), branch(-3.0))
    assert isinstance(out, tuple) and len(out) == 3
    assert type(out[1]) is Pair
    assert isinstance(out[2], dict) and sorted(out[2]) == ["a", "b"]
    # only the outermost one-element list is unpacked
    assert isinstance(out[2]["a"], list) and len(out[2]["a"]) == 1
    assert out[1].second.dtype == tf.int32
    xs = np.array([1.5, -2.25], np.float32)
    s = np.float32(2.0 if taken else -3.0)
    expected = [xs * s, xs.sum() * s, xs.astype(np.int32) + int(s), xs + s, xs - s]
    got = run(tf.nest.flatten(out), {p: taken, x: xs}, target)  # dict leaves: sorted keys
    for actual, want in zip(got, expected):
        assert_close(actual, want)


@pytest.mark.parametrize("wrap", [list, tuple])
@pytest.mark.parametrize("strict", [False, True])
def test_cond_unpacks_a_single_result_unless_strict(strict, wrap, target):
    p = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [3])
    out = tf.cond(p, lambda: wrap([x + 1.0]), lambda: wrap([x * 3.0]), strict=strict)
    if strict:
        assert isinstance(out, wrap) and len(out) == 1
        out = out[0]
    assert isinstance(out, tf.Tensor)
    # a bare tensor stays a bare tensor, strict or not
    assert isinstance(tf.cond(p, lambda: x, lambda: -x, strict=strict), tf.Tensor)
    xs = np.array([1.0, -2.0, 4.0], np.float32)
    got = run_feeds(out, [{p: True, x: xs}, {p: False, x: xs}], target)
    assert_close(got[0], xs + 1.0)
    assert_close(got[1], xs * 3.0)


@pytest.mark.parametrize("k", [-2, 0, 3])
def test_cond_gives_int_and_bool_results(k, target):
    n = tf.placeholder(tf.int32, [])
    v = tf.placeholder(tf.int32, [4])
    out = tf.cond(n > 0,
                  lambda: (v * n, v > n, tf.reduce_all(v > 0)),
                  lambda: (v - n, tf.logical_not(v > n), tf.constant(False)))
    assert [t.dtype for t in out] == [tf.int32, tf.bool, tf.bool]
    vs = np.array([5, -1, 3, 0], np.int32)
    if k > 0:
        expected = (vs * k, vs > k, np.bool_(np.all(vs > 0)))
    else:
        expected = (vs - k, ~(vs > k), np.bool_(False))
    for actual, want in zip(run(list(out), {n: k, v: vs}, target), expected):
        assert_close(actual, want)


@pytest.mark.parametrize("check", ["gather", "assert"])
@pytest.mark.parametrize("taken,index", [(True, 1), (False, 1), (True, 7), (False, 7)])
def test_cond_does_not_run_the_untaken_branch(check, taken, index, target):
    # the checking branch fails for index 7: a gather out of range, or a failing assert
    p, i = tf.placeholder(tf.bool, []), tf.placeholder(tf.int32, [])
    x = tf.placeholder(tf.float32, [3])

    def checking():
        if check == "gather":
            return tf.gather(x, i)
        with tf.control_dependencies([tf.debugging.assert_less(i, 3, message="index too big")]):
            return tf.identity(x[1] * 5.0)

    y = tf.cond(p, checking, lambda: tf.reduce_sum(x) * tf.cast(i, tf.float32))
    xs = np.array([1.0, 2.0, 4.0], np.float32)
    if taken and index >= 3:
        message = "out of range" if check == "gather" else "index too big"
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            run(y, {p: taken, i: index, x: xs}, target)
        return
    if taken:
        expected = xs[index] if check == "gather" else xs[1] * 5.0
    else:
        expected = xs.sum() * index
    assert_close(run(y, {p: taken, i: index, x: xs}, target), np.float32(expected))


def test_nested_cond(target):
    p, q = tf.placeholder(tf.bool, []), tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [2])

    def outer_true():
        z = tf.exp(x)  # built in the outer branch, captured by the inner cond
        return tf.cond(q, lambda: z + 1.0, lambda: z * x)

    y = tf.cond(p, outer_true, lambda: tf.cond(q, lambda: -x, lambda: x * 10.0) * 2.0)
    xs = np.array([0.5, -1.0], np.float32)
    feeds = [{p: a, q: b, x: xs} for a in (True, False) for b in (True, False)]
    expected = [np.exp(xs) + 1.0, np.exp(xs) * xs, -xs * 2.0, xs * 20.0]
    for actual, want in zip(run_feeds(y, feeds, target), expected):
        assert_close(actual, want.astype(np.float32))


# --- case ------------------------------------------------------------------------------------
def _case_fns(x):
    return [(x > 0, lambda: x * 10.0), (x > -5, lambda: x - 100.0)]


@pytest.mark.parametrize("v,expected", [(3.0, 30.0), (-1.0, -101.0), (-10.0, 7.0)])
def test_case_takes_the_first_true_predicate_else_the_default(v, expected, target):
    # at 3 both predicates hold: the first wins
    x = tf.placeholder(tf.float32, [])
    y = tf.case(_case_fns(x), default=lambda: tf.constant(7.0))
    assert_close(run(y, {x: v}, target), np.float32(expected))


@pytest.mark.parametrize("v,expected", [(3.0, 30.0), (-1.0, -101.0)])
def test_case_without_default_takes_the_last_fn_as_default(v, expected, target):
    x = tf.placeholder(tf.float32, [])
    y = tf.case(_case_fns(x))
    assert_close(run(y, {x: v}, target), np.float32(expected))


def test_case_without_default_fails_when_no_predicate_holds(target):
    # TF1 (control_flow_ops._case_create_default_action): the last fn stands in for the
    # default, guarded by an Assert that its predicate holds, "Input error: None of
    # conditions evaluated as True"
    x = tf.placeholder(tf.float32, [])
    y = tf.case(_case_fns(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="None of conditions"):
        run(y, {x: -10.0}, target)


@pytest.mark.parametrize("v", [3.0, -1.0, -10.0])
def test_exclusive_case(v, target):
    # predicates x > 0 and x > -5 both hold at 3: exclusive=True fails the run
    x = tf.placeholder(tf.float32, [])
    y = tf.case(_case_fns(x), default=lambda: tf.constant(7.0), exclusive=True)
    if v > 0:
        # the failing check names itself and shows how many predicates hold
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"exclusive.*\[2\]"):
            run(y, {x: v}, target)
    else:
        assert_close(run(y, {x: v}, target), np.float32(v - 100.0 if v > -5 else 7.0))


# --- while_loop ------------------------------------------------------------------------------
def test_counter_loop(target):
    i = tf.while_loop(lambda i: i < 10, lambda i: i + 1, [0])
    assert isinstance(i, tf.Tensor) and i.dtype == tf.int32
    same = tf.while_loop(lambda i: i < 5, lambda i: i + 2, [tf.constant(0)],
                         return_same_structure=True)
    assert isinstance(same, list) and len(same) == 1
    got = run([i, same[0]], target=target)
    assert_close(got[0], np.int32(10))
    assert_close(got[1], np.int32(6))


@pytest.mark.parametrize("n", [0, 1, 7])
def test_loop_with_a_fed_trip_count(n, target):
    count, x = tf.placeholder(tf.int32, []), tf.placeholder(tf.float32, [2])
    i, s, p = tf.while_loop(lambda i, s, p: i < count,
                            lambda i, s, p: (i + 1, s + tf.cast(i * i, tf.float32) * x, p * 2),
                            [0, tf.zeros([2]), 1])
    xs = np.array([0.5, -2.0], np.float32)
    ei, es, ep = 0, np.zeros(2, np.float32), 1
    while ei < n:
        ei, es, ep = ei + 1, es + np.float32(ei * ei) * xs, ep * 2
    for actual, want in zip(run([i, s, p], {count: n, x: xs}, target),
                            [np.int32(ei), es, np.int32(ep)]):
        assert_close(actual, want)


@pytest.mark.parametrize("limit", [0.5, 3.0, 100.0], ids=["zero_trips", "two_trips", "many"])
def test_loop_whose_data_decides_the_trip_count(limit, target):
    # doubles x until its largest element reaches the limit: none at all when it already has
    x, lim = tf.placeholder(tf.float64, [3]), tf.placeholder(tf.float64, [])
    y = tf.while_loop(lambda v: tf.reduce_max(v) < lim, lambda v: v * 2.0, [x])
    xs = np.array([0.75, -1.0, 0.25])
    want = xs.copy()
    while want.max() < limit:
        want = want * 2.0
    assert_close(run(y, {x: xs, lim: limit}, target), want)


@pytest.mark.parametrize("n", [0, 3])
def test_loop_vars_of_several_dtypes(n, target):
    count = tf.placeholder(tf.int32, [])
    f32, f64 = tf.placeholder(tf.float32, [2]), tf.placeholder(tf.float64, [])
    flag = tf.placeholder(tf.bool, [2])

    def body(i, a, b, c):
        return i + 1, a * 1.5 - 1.0, b + tf.cast(i, tf.float64) * 0.25, tf.logical_xor(c, a > 0)

    out = tf.while_loop(lambda i, *_: i < count, body, (tf.constant(0), f32, f64, flag))
    assert isinstance(out, tuple) and [t.dtype for t in out] == [
        tf.int32, tf.float32, tf.float64, tf.bool]
    i, a, b, c = 0, np.array([1.0, -0.5], np.float32), 2.5, np.array([True, False])
    inits = (a, b, c)
    while i < n:
        i, a, b, c = i + 1, a * np.float32(1.5) - np.float32(1.0), b + i * 0.25, c ^ (a > 0)
    got = run(list(out), {count: n, f32: inits[0], f64: inits[1], flag: inits[2]}, target)
    for actual, want in zip(got, [np.int32(i), a, np.float64(b), c]):
        assert_close(actual, want)


@pytest.mark.parametrize("stop,limit", [(10, 3), (2, 5), (0, 4), (6, 0)])
def test_fed_maximum_iterations(stop, limit, target):
    s, m = tf.placeholder(tf.int32, []), tf.placeholder(tf.int32, [])
    i, acc = tf.while_loop(lambda i, a: i < s, lambda i, a: (i + 1, a * 3 + i), [0, 1],
                           maximum_iterations=m)
    ei, ea = 0, 1
    for _ in range(min(stop, limit)):
        ei, ea = ei + 1, ea * 3 + ei
    got = run([i, acc], {s: stop, m: limit}, target)
    assert_close(got[0], np.int32(ei))
    assert_close(got[1], np.int32(ea))


def test_constant_maximum_iterations(target):
    x = tf.placeholder(tf.float32, [])
    capped = tf.while_loop(lambda v: v < 1000.0, lambda v: v * 2.0, [x], maximum_iterations=4)
    loose = tf.while_loop(lambda v: v < 10.0, lambda v: v * 2.0, [x], maximum_iterations=50)
    never = tf.while_loop(lambda v: v < 1000.0, lambda v: v * 2.0, [x], maximum_iterations=0)
    assert isinstance(capped, tf.Tensor)

    def doubling(v, below, limit):
        for _ in range(limit):
            if not v < below:
                break
            v *= 2.0
        return np.float32(v)

    for v, got in zip((1.0, 20.0), run_feeds([capped, loose, never], [{x: 1.0}, {x: 20.0}],
                                             target)):
        expected = [doubling(v, 1000.0, 4), doubling(v, 10.0, 50), doubling(v, 1000.0, 0)]
        for actual, want in zip(got, expected):
            assert_close(actual, want)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_swap_of_two_loop_vars(n, target):
    count = tf.placeholder(tf.int32, [])
    a0, b0 = tf.placeholder(tf.float32, [2]), tf.placeholder(tf.float32, [2])
    _, a, b = tf.while_loop(lambda i, a, b: i < count, lambda i, a, b: (i + 1, b, a + 1.0),
                            [0, a0, b0])
    av, bv = np.array([1.0, 2.0], np.float32), np.array([-5.0, 0.5], np.float32)
    ea, eb = av, bv
    for _ in range(n):
        ea, eb = eb, ea + np.float32(1.0)
    got = run([a, b], {count: n, a0: av, b0: bv}, target)
    assert_close(got[0], ea)
    assert_close(got[1], eb)


def test_loop_vars_in_nested_structures(target):
    x, count = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.int32, [])

    def body(step, state, stats):
        h = tf.tanh(state.c) + x
        c = state.c * 0.5 + state.h
        return step + 1, State(h=h, c=c), {"sum": stats["sum"] + tf.reduce_sum(h),
                                           "max": tf.maximum(stats["max"], tf.reduce_max(h))}

    out = tf.while_loop(lambda step, state, stats: step < count, body,
                        (0, State(h=x, c=tf.zeros([3])), {"sum": 0.0, "max": -1e9}))
    assert isinstance(out, tuple) and type(out[1]) is State
    assert isinstance(out[2], dict) and sorted(out[2]) == ["max", "sum"]
    xs = np.array([0.5, -1.0, 2.0], np.float32)
    for n in (0, 3):
        h, c, total, top = xs, np.zeros(3, np.float32), np.float32(0.0), np.float32(-1e9)
        for _ in range(n):
            h, c = np.tanh(c) + xs, c * np.float32(0.5) + h
            total, top = total + h.sum(), max(top, h.max())
        got = run([out[0], out[1].h, out[1].c, out[2]["sum"], out[2]["max"]],
                  {x: xs, count: n}, target)
        for actual, want in zip(got, [np.int32(n), h, c, np.float32(total), np.float32(top)]):
            assert_close(actual, want, rtol=1e-5, atol=1e-5)


def _tanh_recurrence(h0, w, x, steps):
    h = h0
    for _ in range(steps):
        h = np.tanh(h @ w + x)
    return h


def test_recurrence_with_captured_weights_and_matrix_power(target):
    h0, w = tf.placeholder(tf.float64, [1, 3]), tf.placeholder(tf.float64, [3, 3])
    x, count = tf.placeholder(tf.float64, [3]), tf.placeholder(tf.int32, [])
    _, h = tf.while_loop(lambda k, h: k < count, lambda k, h: (k + 1, tf.tanh(h @ w + x)),
                         [0, h0])
    _, power = tf.while_loop(lambda k, p: k < count, lambda k, p: (k + 1, tf.matmul(p, w)),
                             [0, tf.constant(np.eye(3))])
    rng = np.random.default_rng(0)
    hv, wv, xv = rng.normal(size=(1, 3)), rng.normal(size=(3, 3)) * 0.7, rng.normal(size=3)
    feeds = [{h0: hv, w: wv, x: xv, count: n} for n in (0, 1, 5)]
    for n, (got_h, got_p) in zip((0, 1, 5), run_feeds([h, power], feeds, target)):
        assert_close(got_h, _tanh_recurrence(hv, wv, xv, n))
        assert_close(got_p, np.linalg.matrix_power(wv, n))


def test_cond_inside_a_while_body(target):
    # the Collatz sequence: steps until n reaches 1
    start = tf.placeholder(tf.int32, [])
    steps, last = tf.while_loop(
        lambda k, n: n > 1,
        lambda k, n: (k + 1, tf.cond(tf.equal(n % 2, 0), lambda: n // 2, lambda: 3 * n + 1)),
        [0, start])
    for value, got in zip((1, 6, 27), run_feeds([steps, last], [{start: v} for v in (1, 6, 27)],
                                                 target)):
        k, n = 0, value
        while n > 1:
            k, n = k + 1, n // 2 if n % 2 == 0 else 3 * n + 1
        assert_close(got[0], np.int32(k))
        assert_close(got[1], np.int32(n))


def test_while_inside_a_cond_branch(target):
    p, count = tf.placeholder(tf.bool, []), tf.placeholder(tf.int32, [])
    x = tf.placeholder(tf.float32, [2])

    def looping():
        _, total = tf.while_loop(lambda i, t: i < count,
                                 lambda i, t: (i + 1, t + x * tf.cast(i, tf.float32)),
                                 [0, tf.zeros([2])])
        return total

    y = tf.cond(p, looping, lambda: x - 1.0)
    xs = np.array([1.0, -3.0], np.float32)
    feeds = [{p: True, count: 4, x: xs}, {p: True, count: 0, x: xs}, {p: False, count: 4, x: xs}]
    expected = [xs * 6.0, np.zeros(2, np.float32), xs - 1.0]
    for actual, want in zip(run_feeds(y, feeds, target), expected):
        assert_close(actual, want)


def test_while_inside_a_while_body(target):
    # sum over i < n, j < i of (i + 1) * j, the inner loop's bound read from the outer var
    count = tf.placeholder(tf.int32, [])

    def outer(i, total):
        _, inner = tf.while_loop(lambda j, t: j < i, lambda j, t: (j + 1, t + (i + 1) * j),
                                 [0, total])
        return i + 1, inner

    i, total = tf.while_loop(lambda i, t: i < count, outer, [0, 0])
    for n, got in zip((0, 1, 5), run_feeds([i, total], [{count: n} for n in (0, 1, 5)],
                                           target)):
        want = sum((a + 1) * b for a in range(n) for b in range(a))
        assert_close(got[0], np.int32(n))
        assert_close(got[1], np.int32(want))


def test_shape_invariants_with_a_shape_that_stays(target):
    x = tf.placeholder(tf.float32, [None])
    _, y = tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, v * 2.0 + 1.0), [0, x],
                         shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
    xs = np.array([1.0, -2.0, 0.5, 4.0], np.float32)
    assert_close(run(y, {x: xs}, target), ((xs * 2 + 1) * 2 + 1) * 2 + 1)


def test_shape_invariants_let_a_loop_var_grow():
    # (docs/control-flow.md: a shape that really changes runs on the reference target)
    _, y = tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, tf.concat([v, v + 1.0], 0)),
                         [0, tf.ones([1])],
                         shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
    assert y.shape.as_list() == [None]
    assert_close(run(y), np.array([1, 2, 2, 3, 2, 3, 3, 4], np.float32))


def test_loop_var_that_is_also_a_capture(target):
    # x is both the initial value of v and a value the body reads: updating v must leave
    # the x the body reads alone
    x, count = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.int32, [])
    _, v, same = tf.while_loop(lambda i, v, s: i < count,
                               lambda i, v, s: (i + 1, v + x, s), [0, x, x])
    xs = np.array([1.0, -2.0, 0.5], np.float32)
    for n, got in zip((0, 3), run_feeds([v, same, x * 1.0], [{x: xs, count: n} for n in (0, 3)],
                                        target)):
        assert_close(got[0], xs * (n + 1))
        assert_close(got[1], xs)
        assert_close(got[2], xs)


def test_rotation_of_three_loop_vars_and_passthrough(target):
    # the body's results are its own params, permuted: a copy-back in place would clobber;
    # one var is the same capture every time, one a constant
    count, x = tf.placeholder(tf.int32, []), tf.placeholder(tf.float32, [2])
    a0, b0, c0 = (tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0]), tf.constant([5.0, 6.0]))
    _, a, b, c, d, e = tf.while_loop(
        lambda i, *_: i < count,
        lambda i, a, b, c, d, e: (i + 1, b, c, a, x, tf.constant(9.0)),
        [0, a0, b0, c0, tf.zeros([2]), 0.0])
    xs = np.array([7.0, 8.0], np.float32)
    vals = [np.array(v, np.float32) for v in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])]
    for n, got in zip((0, 1, 2, 4), run_feeds([a, b, c, d, e], [{count: n, x: xs}
                                                              for n in (0, 1, 2, 4)], target)):
        rotated = vals[n % 3:] + vals[:n % 3]
        expected = rotated + [xs if n else np.zeros(2, np.float32), np.float32(9.0 if n else 0)]
        for actual, want in zip(got, expected):
            assert_close(actual, want)


def test_bool_loop_var_as_the_condition(target):
    # cond returns a loop var itself
    x = tf.placeholder(tf.int32, [])
    go, v = tf.while_loop(lambda go, v: go, lambda go, v: (v * 2 < 100, v * 2), [x < 100, x])
    for value, got in zip((3, 200), run_feeds([go, v], [{x: 3}, {x: 200}], target)):
        want = value
        while want < 100:
            want *= 2
        assert_close(got[0], np.bool_(False))
        assert_close(got[1], np.int32(want))


def test_loop_and_cond_over_values_of_unknown_size(target):
    # one session, two sizes: the loop's buffers follow the fed shape
    x, count = tf.placeholder(tf.float32, [None]), tf.placeholder(tf.int32, [])
    _, acc = tf.while_loop(lambda i, a: i < count, lambda i, a: (i + 1, a * 0.5 + x),
                           [0, tf.zeros_like(x)])
    flipped = tf.cond(count > 2, lambda: tf.reverse(acc, [0]), lambda: acc * -1.0)
    sizes = [np.arange(1.0, 4.0, dtype=np.float32), np.linspace(-1, 1, 6).astype(np.float32)]
    feeds = [{x: xs, count: n} for xs in sizes for n in (1, 4)]
    for feed, got in zip(feeds, run_feeds([acc, flipped], feeds, target)):
        a = np.zeros_like(feed[x])
        for _ in range(feed[count]):
            a = a * np.float32(0.5) + feed[x]
        assert_close(got[0], a)
        assert_close(got[1], a[::-1] if feed[count] > 2 else -a)


def test_error_inside_a_loop_body_and_the_next_run(target):
    # reads x[i] for i < n: fails at the iteration that indexes past x, and the same session
    # then runs a loop that stays in range
    x, count = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.int32, [])
    _, total = tf.while_loop(lambda i, t: i < count, lambda i, t: (i + 1, t + tf.gather(x, i)),
                             [0, 0.0])
    xs = np.array([1.0, 2.0, 4.0], np.float32)
    with tf.Session(target=target) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="index 3 is out of range"):
            sess.run(total, {x: xs, count: 5})
        assert_close(sess.run(total, {x: xs, count: 3}), np.float32(7.0))
        assert_close(sess.run(total, {x: xs, count: 0}), np.float32(0.0))


@pytest.mark.parametrize("where", ["loop", "branch"])
def test_an_error_inside_a_region_names_the_users_op(where, target):
    # as outside control flow: "'GatherV2' (gather created at <file>:<line>) failed: ..."
    x, i = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.int32, [])
    if where == "loop":
        y = tf.while_loop(lambda k, t: k < i, lambda k, t: (k + 1, t + tf.gather(x, k)),
                          [0, 0.0])[1]
    else:
        y = tf.cond(i > 0, lambda: tf.gather(x, i), lambda: x[0])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"gather created at test_control_flow\.py:\d+\) failed: index "):
        run(y, {x: np.ones(3, np.float32), i: 5}, target)


def test_loops_and_conds_read_variables_as_they_are_now(target):
    # a variable as a loop's initial value and as a capture of a body and of a branch:
    # each run reads the value it has then
    v = tf.Variable(2.0)
    w = tf.Variable([1.0, -1.0])
    _, acc = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * v + w), [0, w * 1.0])
    picked = tf.cond(v > 2.5, lambda: w * 10.0, lambda: w - v)
    scale = tf.while_loop(lambda a: a < 50.0, lambda a: a * 3.0, [v])
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run([acc, picked, scale])
        sess.run([tf.assign(v, 3.0), tf.assign(w, [0.5, 2.0])])
        second = sess.run([acc, picked, scale])
    for (vv, wv), got in zip(((2.0, [1.0, -1.0]), (3.0, [0.5, 2.0])), (first, second)):
        wv = np.array(wv, np.float32)
        a = wv
        for _ in range(3):
            a = a * np.float32(vv) + wv
        s = np.float32(vv)
        while s < 50.0:
            s *= 3
        assert_close(got[0], a)
        assert_close(got[1], wv * 10.0 if vv > 2.5 else wv - np.float32(vv))
        assert_close(got[2], s)


def test_a_loop_feeding_a_second_loop(target):
    count = tf.placeholder(tf.int32, [])
    _, fib, _ = tf.while_loop(lambda i, a, b: i < count, lambda i, a, b: (i + 1, b, a + b),
                              [0, 0, 1])
    _, digits = tf.while_loop(lambda n, k: n > 0, lambda n, k: (n // 10, k + 1), [fib, 0])
    for n, got in zip((0, 10, 40), run_feeds([fib, digits], [{count: n} for n in (0, 10, 40)],
                                             target)):
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        assert_close(got[0], np.int32(a))
        assert_close(got[1], np.int32(len(str(a)) if a else 0))


def test_a_long_trivial_loop_runs_inside_one_call():
    i = tf.while_loop(lambda i: i < 100000, lambda i: i + 1, [0])
    assert int(run(i, target="llvm")) == 100000


@pytest.mark.parametrize("fuse", [False, True])
def test_a_node_both_a_branch_and_the_graph_around_it_compute(fuse, target):
    # equal nodes are one node: the else branch's fill is the one the graph computes before
    # the cond (it reads no param, so it is the same node); after the cond the graph must
    # read its own value of it, which the untaken branch never wrote
    x = tf.placeholder(tf.float32, [3])
    y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: tf.fill([3], 2.0) * x)
    z = tf.fill([3], 2.0) + y
    xs = np.array([0.5, 1.0, 2.0], np.float32)
    config = tf.Options(opt_level=0, fuse=fuse, threads=1) if target == "llvm" else None
    with tf.Session(target=target, config=config) as sess:
        assert_close(sess.run(z, {x: xs}), 2 + xs * 2)
        assert_close(sess.run(z, {x: -xs}), 2 - xs * 2)
