"""GEMM operands packed ahead (codegen_llvm/prepack.py): constants when the plan is built,
variables the plan does not assign before the runs that find them changed. The GEMMs read
the packed copy, a constant itself is dropped when nothing else reads it, and the results
are the strided B's."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.gemm import prepacked_width
from graphc.codegen_llvm.prepack import blocking_for, prepack_constants
from graphc.compiler import build_plan
from graphc.ir import kernel as K


def _gemms(stmts):
    for s in stmts:
        if isinstance(s, K.Intrinsic) and s.name == "gemm":
            yield s
        elif isinstance(s, K.Loop):
            yield from _gemms(s.body)


def _plan(fetches, feeds):
    graph = tf.get_default_graph()
    fed = {p.node: v.shape for p, v in feeds.items()}
    plan, kernels, _ = build_plan([t.node for t in fetches], fed, graph.describe, 1)
    return plan, prepack_constants(plan, kernels, blocking_for(), packable=lambda var: True)


def _run(fetches, feeds, threads):
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        return sess.run(fetches, feeds)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_constant_weight_matrix_is_packed_once(threads):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((600, 70)).astype(np.float32)
    x = tf.placeholder(tf.float32, [49, 600])
    y = tf.matmul(x, tf.constant(w))
    feeds = {x: rng.standard_normal((49, 600)).astype(np.float32)}
    plan, kernels = _plan([y], feeds)
    (gemm,) = [s for k in kernels for s in _gemms(k.body)]
    assert gemm.prepacked
    width = prepacked_width(70, blocking_for()("f32", 70))
    assert [a.value for a in gemm.args[6:9]] == [0, width, 1]
    packed = plan.slots[int(gemm.buffers[1][1:])]
    assert packed.kind == "constant" and packed.array.size == 600 * width
    assert [s.kind for s in plan.slots].count("unused") == 1  # the weights, no longer read
    (out,) = _run([y], feeds, threads)
    np.testing.assert_allclose(out, feeds[x] @ w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_transposed_constant_and_a_fetched_one(threads):
    """B = c^T packs from its strides; a constant also fetched keeps its own slot."""
    rng = np.random.default_rng(1)
    c = rng.standard_normal((300, 40)).astype(np.float32)
    x = tf.placeholder(tf.float32, [20, 40])
    const = tf.constant(c)
    y = tf.matmul(x, const, transpose_b=True)
    feeds = {x: rng.standard_normal((20, 40)).astype(np.float32)}
    plan, kernels = _plan([y, const], feeds)
    assert all(s.prepacked for k in kernels for s in _gemms(k.body))
    assert plan.slots[plan.fetch_slots[1][0]].kind == "constant"
    out, fetched = _run([y, const], feeds, threads)
    np.testing.assert_allclose(out, feeds[x] @ c.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fetched, c)


@pytest.mark.parametrize("threads", [1, 2])
def test_convolutions_with_constant_filters(threads):
    """A ResNet-like stage: 3x3 convolutions of constant filters (their GEMMs' B), with
    bias and ReLU in the write-back, against the reference target."""
    rng = np.random.default_rng(2)
    x = tf.placeholder(tf.float32, [1, 7, 7, 64])
    h = x
    for out_channels, stride in ((96, 1), (70, 2)):
        w = (rng.standard_normal((3, 3, h.shape[-1], out_channels)) * 0.05).astype(np.float32)
        h = tf.nn.relu(tf.nn.conv2d(h, tf.constant(w), stride, "SAME") + 0.1)
    feeds = {x: rng.standard_normal((1, 7, 7, 64)).astype(np.float32)}
    _, kernels = _plan([h], feeds)
    assert sum(s.prepacked for k in kernels for s in _gemms(k.body)) == 2
    with tf.Session(target="reference") as sess:
        want = sess.run(h, feeds)
    (out,) = _run([h], feeds, threads)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def _packs(monkeypatch) -> list:
    """The variables packed from now on (one entry per fill_packed into a packed slot;
    the constants a plan packs when built get a new array instead)."""
    from graphc.codegen_llvm import prepack
    calls, fill = [], prepack.fill_packed

    def counted(pack, value, out=None):
        if out is not None:
            calls.append(value.shape)
        return fill(pack, value, out)
    monkeypatch.setattr(prepack, "fill_packed", counted)
    return calls


@pytest.mark.parametrize("threads", [1, 2])
def test_a_variable_weight_is_packed_again_only_after_it_changes(threads, monkeypatch,
                                                                  tmp_path):
    """An inference plan packs a variable's weights before its first run and after each
    change (a training step, an assign, a load, a restore, the initializer), from the
    session's run and from a callable's fast path, and gives the product of the value the
    variable holds then: bit for bit the product with that value as a constant."""
    rng = np.random.default_rng(6)
    x = tf.placeholder(tf.float32, [5, 70])
    w = tf.Variable(rng.standard_normal((70, 130)).astype(np.float32))
    y = tf.matmul(x, w)
    step = tf.train.GradientDescentOptimizer(1e-3).minimize(tf.reduce_sum(y * y))
    double = w.assign(2 * w)
    feed = rng.standard_normal((5, 70)).astype(np.float32)
    plan, kernels = _plan([y], {x: feed})
    (gemm,) = [s for k in kernels for s in _gemms(k.body)]
    slot = plan.slots[int(gemm.buffers[1][1:])]
    assert gemm.prepacked and slot.kind == "packed" and slot.node is w.handle.node
    packs = _packs(monkeypatch)
    saver = tf.train.Saver([w])
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        sess.run(tf.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "w"))
        call = sess.make_callable(y, [x])

        def expect(packed_since):
            value = sess.run(w)
            with tf.Graph().as_default():
                xc = tf.placeholder(tf.float32, [5, 70])
                want = _run([tf.matmul(xc, tf.constant(value))], {xc: feed}, threads)[0]
            for got in (sess.run(y, {x: feed}), call(feed), call(feed)):
                np.testing.assert_array_equal(got, want)
            assert len(packs) == packed_since
        expect(1)
        expect(1)  # unchanged: not packed again
        changes = [lambda: sess.run(step, {x: feed}), lambda: sess.run(double),
                   lambda: w.load(rng.standard_normal((70, 130)).astype(np.float32), sess),
                   lambda: saver.restore(sess, path),
                   lambda: sess.run(tf.global_variables_initializer())]
        for i, change in enumerate(changes):
            change()
            expect(2 + i)


def test_a_variable_changed_before_most_runs_is_no_longer_packed_ahead(monkeypatch):
    """Packing ahead costs a pass over the weights whenever they changed: a variable found
    changed in most runs (a model stepped between inferences) stops being packed ahead, the
    plan giving way to one whose GEMM packs as it runs, and every result stays right."""
    from graphc.runtime.llvm import VOLATILE_FILLS
    rng = np.random.default_rng(7)
    x = tf.placeholder(tf.float32, [3, 40])
    w = tf.Variable(rng.standard_normal((40, 90)).astype(np.float32))
    frozen = tf.Variable(rng.standard_normal((90, 20)).astype(np.float32))
    y = tf.matmul(tf.matmul(x, w), frozen)
    bump = w.assign_add(tf.fill([40, 90], 0.25))
    feed = rng.standard_normal((3, 40)).astype(np.float32)
    packs = _packs(monkeypatch)
    with tf.Session(config=tf.Options(threads=1)) as sess:
        sess.run(tf.global_variables_initializer())
        call = sess.make_callable(y, [x])
        for i in range(2 * VOLATILE_FILLS):
            got = call(feed)
            want = (feed.astype(np.float64) @ sess.run(w)) @ sess.run(frozen)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
            sess.run(bump)
        plans = [p for p, _ in sess._executor.compiled_plans() if p.fetch_slots[0] is not None
                 and p.fetch_slots[0][2] == (3, 20)]
    (plan,) = plans  # the replacement: only the unchanging weights are packed ahead
    assert [slot.node for slot, _ in plan.packed] == [frozen.handle.node]
    # w packed before its first VOLATILE_FILLS runs, frozen once
    assert packs.count((40, 90)) == VOLATILE_FILLS and packs.count((90, 20)) == 1


def test_a_plan_that_assigns_a_variable_packs_it_as_it_runs():
    """The training step's own GEMMs read the weights it updates: packed as they run."""
    x = tf.placeholder(tf.float32, [8, 16])
    w = tf.Variable(np.ones((16, 4), np.float32))
    y = tf.matmul(x, w)
    step = w.assign_sub(0.5 * tf.matmul(x, y, transpose_a=True))
    _, kernels = _plan([y, step], {x: np.ones((8, 16), np.float32)})
    assert not any(s.prepacked for k in kernels for s in _gemms(k.body))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first, _ = sess.run([y, step], {x: np.ones((8, 16), np.float32)})
        second = sess.run(y, {x: np.ones((8, 16), np.float32)})
    np.testing.assert_array_equal(first, np.full((8, 4), 16, np.float32))
    # w = 1 - 0.5 * (8 rows of 16): every entry -63, so each product 16 * -63
    np.testing.assert_array_equal(second, np.full((8, 4), -1008, np.float32))


def test_a_variable_array_changes_only_through_the_store():
    """The session's variable arrays are read-only to numpy: an in-place write that would
    leave a packed copy stale fails instead."""
    x = tf.placeholder(tf.float32, [2, 3])
    w = tf.Variable(np.ones((3, 3), np.float32))
    y = tf.matmul(x, w)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(y, {x: np.ones((2, 3), np.float32)})
        with pytest.raises(ValueError, match="read-only"):
            sess._state.variables[w.handle.node][0, 0] = 5.0
        sess.run(w.assign_add(np.ones((3, 3), np.float32)))
        np.testing.assert_array_equal(sess.run(y, {x: np.ones((2, 3), np.float32)}),
                                      np.full((2, 3), 6, np.float32))


def test_constants_the_program_tests_keep_their_slots():
    """Only the packed constants are dropped: a branch on a constant predicate still reads
    its slot (found by the fuzzer: dropping every unread-looking constant crashed)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 3))
    x = tf.placeholder(tf.float64, [4, 6])
    y = tf.cond(tf.constant(True), lambda: tf.matmul(x, tf.constant(w)),
                lambda: tf.zeros([4, 3], tf.float64))
    feeds = {x: rng.standard_normal((4, 6))}
    plan, kernels = _plan([y], feeds)
    assert any(s.prepacked for k in kernels for s in _gemms(k.body))
    (branch,) = [e for e in plan.program if not isinstance(e, int)]
    assert plan.slots[branch.pred].kind == "constant"
    (out,) = _run([y], feeds, 1)
    np.testing.assert_allclose(out, feeds[x] @ w, rtol=1e-12)
