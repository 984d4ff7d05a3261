"""Constant GEMM operands packed when the plan is built (codegen_llvm/prepack.py): the
GEMMs read the packed copy, the constant itself is dropped when nothing else reads it, and
the results are the strided B's."""

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
    return plan, prepack_constants(plan, kernels, blocking_for())


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


def test_variables_are_not_packed():
    """A variable's value changes between runs: its GEMMs pack it as they go."""
    x = tf.placeholder(tf.float32, [8, 16])
    w = tf.Variable(np.ones((16, 4), np.float32))
    y = tf.matmul(x, w)
    _, kernels = _plan([y], {x: np.ones((8, 16), np.float32)})
    assert not any(s.prepacked for k in kernels for s in _gemms(k.body))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(y, {x: np.ones((8, 16), np.float32)})
        sess.run(w.assign(2 * np.ones((16, 4), np.float32)))
        second = sess.run(y, {x: np.ones((8, 16), np.float32)})
    np.testing.assert_array_equal(first, np.full((8, 4), 16, np.float32))
    np.testing.assert_array_equal(second, np.full((8, 4), 32, np.float32))


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
