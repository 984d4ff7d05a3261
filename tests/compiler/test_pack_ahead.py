"""A GEMM in a loop whose B the loop never writes reads B packed once before the loop
(graphc/compiler/pack_ahead.py): the same bits as packing it on every iteration, for B a
value computed before the loop, a feed or a variable the plan updates, transposed or not,
of widths that are not whole panels and depths of several K blocks; and no packed copy
where the loop writes B."""

import numpy as np
import pytest

import graphc as tf
import graphc.compiler.driver as driver

RNG = np.random.default_rng(21)
PACK_AHEAD = driver.pack_ahead


def _loop(b, dtype, transpose_b=False):
    """h <- tanh((h @ B)[:, :K]) * 0.5 (N >= K), a fed number of times; (the final h, the
    trip count's placeholder, h's first value's)."""
    t = tf.as_dtype(dtype)
    n = tf.placeholder(tf.int32, [])
    k = b.shape[1] if transpose_b else b.shape[0]
    h0 = tf.placeholder(t, [5, k])

    def body(i, h):
        return i + 1, tf.tanh(tf.matmul(h, b, transpose_b=transpose_b)[:, :k]) * 0.5
    _, h = tf.while_loop(lambda i, h: i < n, body, [tf.constant(0), h0])
    return h, n, h0


def _run(fetch, feed, threads, packs: bool, monkeypatch, init=None):
    """(fetched values, kernel names) of a run with pack_ahead on or off."""
    monkeypatch.setattr(driver, "pack_ahead", PACK_AHEAD if packs else
                        lambda kernels, s, nb, program, live_until, c, b:
                        (kernels, program, live_until))
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        if init is not None:
            sess.run(init)
        got = sess.run(fetch, feed)
        plan = next(p for p in sess._executor._plans.values()
                    if any(k.name.startswith("k_matmul") for k in p.kernels))
        return got, [k.name for k in plan.kernels]


@pytest.fixture(autouse=True)
def _not_stored(monkeypatch):
    from graphc.runtime.llvm import LLVMExecutor
    monkeypatch.setattr(LLVMExecutor, "stores_plans", False)


@pytest.mark.parametrize("dtype, k, n, transpose_b", [
    (np.float32, 37, 37, False), (np.float32, 40, 70, True), (np.float64, 29, 29, False),
    (np.float32, 600, 600, False)])
@pytest.mark.parametrize("source", ["computed", "feed", "variable"])
def test_an_invariant_operand_is_packed_once_with_the_same_bits(dtype, k, n, transpose_b,
                                                                 source, monkeypatch):
    shape = (n, k) if transpose_b else (k, n)
    value = (RNG.standard_normal(shape) / np.sqrt(k)).astype(dtype)
    init, fed = None, tf.placeholder(tf.as_dtype(dtype), shape)
    if source == "feed":
        b = fed
    elif source == "computed":
        b = fed * 2.0  # a kernel's output
    else:
        b = tf.Variable(value)
        init = tf.global_variables_initializer()
    h, steps, h0 = _loop(b, dtype, transpose_b)
    fetch = [h]
    if source == "variable":  # updated by the plan after the loop
        fetch.append(tf.assign_add(b, tf.ones_like(b) * 0.125))
    feed = {steps: 4, h0: RNG.standard_normal((5, k)).astype(dtype)}
    if source != "variable":
        feed[fed] = value
    for threads in (1, 2):
        want, names = _run(fetch, feed, threads, False, monkeypatch, init)
        assert "k_pack" not in names
        got, names = _run(fetch, feed, threads, True, monkeypatch, init)
        assert names.count("k_pack") == 1, names
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    with tf.Session(target="reference") as sess:
        if init is not None:
            sess.run(init)
        ref = sess.run(h, feed)
    np.testing.assert_allclose(got[0], ref, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_loop_that_runs_no_iteration_gives_its_input(monkeypatch):
    fed = tf.placeholder(tf.float32, [33, 33])
    h, steps, h0 = _loop(fed * 3.0, np.float32)
    start = RNG.standard_normal((5, 33)).astype(np.float32)
    feed = {steps: 0, h0: start, fed: RNG.standard_normal((33, 33))}
    got, names = _run(h, feed, 1, True, monkeypatch)
    assert "k_pack" in names
    np.testing.assert_array_equal(got, start)


def test_an_operand_the_loop_writes_is_not_packed_ahead(monkeypatch):
    """B a loop var (the loop computes a new one each iteration): packed as it runs."""
    t = tf.float32
    n = tf.placeholder(tf.int32, [])
    a0 = tf.placeholder(t, [24, 24])

    def body(i, a, w):
        return i + 1, tf.tanh(tf.matmul(a, w)), w * 0.5
    _, a, w = tf.while_loop(lambda i, a, w: i < n, body,
                            [tf.constant(0), a0, tf.constant(np.eye(24, dtype=np.float32) * 2)])
    feed = {n: 3, a0: RNG.standard_normal((24, 24)).astype(np.float32)}
    got, names = _run(a, feed, 1, True, monkeypatch)
    assert "k_pack" not in names
    want = feed[a0]
    weight = np.eye(24, dtype=np.float32) * 2
    for _ in range(3):
        want, weight = np.tanh(want @ weight), weight * 0.5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_explain_lists_the_packed_operand():
    from graphc.tools.explain import analyze
    b = tf.placeholder(tf.float32, [40, 40], name="weights")
    h, steps, h0 = _loop(b, np.float32)
    text = str(analyze(h, {steps: 2, h0: np.zeros((5, 40), np.float32),
                           b: np.zeros((40, 40), np.float32)}))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if " k_pack " in line)
    assert lines[at].split()[2:] == ["f32[40,40]", "reads", "weights", "(feed)"], lines[at]
    assert "packed once before it" in lines[at + 1]


def test_a_loop_of_no_kernels_beside_a_packed_one(monkeypatch):
    """A loop whose predicate is a loop var and whose body gives its vars back has no
    kernels at all; the renumbering around the packed loop after it steps over it."""
    stop = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [5, 33])
    _, same = tf.while_loop(lambda c, v: c, lambda c, v: (c, v), [stop, x])
    fed = tf.placeholder(tf.float32, [33, 33])
    h, steps, h0 = _loop(fed * 0.5, np.float32)
    value = (RNG.standard_normal((33, 33)) / 6).astype(np.float32)
    start = RNG.standard_normal((5, 33)).astype(np.float32)
    feed = {stop: False, x: start, steps: 3, h0: start, fed: value}
    (got_same, got), names = _run([same, h], feed, 1, True, monkeypatch)
    assert "k_pack" in names
    np.testing.assert_array_equal(got_same, start)
    want = start
    for _ in range(3):
        want = np.tanh(want @ (value * 0.5)) * 0.5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
