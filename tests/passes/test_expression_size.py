"""Fused expressions stay small. Kernel expressions are trees: a value read twice is written
out twice, so y = sin(y) * y + y repeated n times, fused whole, holds 3**n copies of x (12
levels took minutes to lower, render and compile, 16 never finished). fuse cuts every
expression at MAX_OPS ops written out (materializing the input whose copies carry the most)
and row groups stop growing there."""

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.render import host_vector_bits
from graphc.compiler import build_plan
from graphc.ir import kernel as K
from graphc.passes.fuse import MAX_OPS

RNG = np.random.default_rng(11)


def _chain(x, levels):
    y = x
    for _ in range(levels):
        y = tf.sin(y) * y + y
    return y


def _row_chain(x, levels):
    y = x - tf.reduce_max(x, -1, keepdims=True)
    for _ in range(levels):
        y = y * tf.sigmoid(y) * 0.5 + tf.reduce_mean(y, -1, keepdims=True)
    return tf.reduce_sum(y, -1)


def _ops(e) -> int:
    """Ops in an expression written out (loads count one, their indices none)."""
    if isinstance(e, K.Load):
        return 1
    own = isinstance(e, (K.Unary, K.Binary, K.Select, K.Cast))
    return own + sum(_ops(c) for c in K.expr_children(e))


def _largest_expression(fetch, feeds) -> tuple:
    """(kernels, ops of the largest statement expression) of fetch's plan."""
    shapes = {t.op.node: v.shape for t, v in feeds.items()}
    _, kernels, _ = build_plan([fetch.op.node], shapes, repr, 1, tf.Options(opt_level=3),
                               vector_bits=host_vector_bits(), direct_commits=True)
    largest = 0

    def walk(stmts):
        nonlocal largest
        for st in stmts:
            for e in K.stmt_exprs(st):
                largest = max(largest, _ops(e))
            walk(getattr(st, "body", ()))
            walk(getattr(st, "epilogue", ()))
    for k in kernels:
        walk(k.body)
    return len(kernels), largest


def _run(fetches, feeds, target, options=None):
    with tf.Session(target=target, config=options) as sess:
        return sess.run(fetches, feeds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_long_chain_of_reused_values_compiles_and_matches(dtype):
    x = tf.placeholder(dtype, [3, 5])
    y = _chain(x, 30)
    feeds = {x: RNG.uniform(-0.02, 0.02, (3, 5)).astype(dtype)}  # stays small: no
    # amplification of rounding over 30 levels
    kernels, largest = _largest_expression(y, feeds)
    assert largest <= MAX_OPS
    assert kernels <= 15  # cut where needed, not at every level
    got = _run(y, feeds, "llvm", tf.Options(opt_level=3))
    want = _run(y, feeds, "reference")
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-11)


def test_the_gradient_of_a_chain_of_reused_values():
    x = tf.placeholder(tf.float32, [4, 6])
    loss = tf.reduce_sum(_chain(x, 12) * tf.constant(RNG.standard_normal((4, 6)), tf.float32))
    g = tf.gradients(loss, [x])[0]
    feeds = {x: RNG.uniform(-0.3, 0.3, (4, 6)).astype(np.float32)}
    assert _largest_expression(g, feeds)[1] <= MAX_OPS
    np.testing.assert_allclose(_run(g, feeds, "llvm"), _run(g, feeds, "reference"),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_row_group_stops_growing_at_the_bound(threads):
    x = tf.placeholder(tf.float32, [8, 16])
    y = _row_chain(x, 20)
    feeds = {x: RNG.uniform(-1, 1, (8, 16)).astype(np.float32)}
    assert _largest_expression(y, feeds)[1] <= MAX_OPS
    got = _run(y, feeds, "llvm", tf.Options(threads=threads))
    np.testing.assert_allclose(got, _run(y, feeds, "reference"), rtol=1e-4, atol=1e-5)


def test_small_expressions_are_not_cut():
    # softmax's and GELU's expressions read values twice too: far under the bound, so
    # still one kernel each
    x = tf.placeholder(tf.float32, [4, 8])
    feeds = {x: RNG.standard_normal((4, 8)).astype(np.float32)}
    assert _largest_expression(tf.nn.gelu(x * 2.0 + 1.0), feeds)[0] == 1
    assert _largest_expression(tf.nn.softmax(x * 2.0), feeds)[0] == 1
