"""Reductions that keep the last axis (Lowering._reduce_columns): the output row accumulates
contiguous rows of the input, in blocks of columns that threads share out."""

import numpy as np
import pytest
from conftest import llvm_plan

import graphc as tf
from graphc.passes.lower import COLUMN_BLOCK

RNG = np.random.default_rng(11)

CASES = [  # shape, axes, keepdims
    ((3, 20), (0,), False),
    ((7, 2 * COLUMN_BLOCK + 37), (0,), False),  # two full column blocks and a remainder
    ((2, 5, 3, 9), (0, 2), True),  # reduced axes around a kept one
    ((4, 6, 16), (1,), False),
    ((33, 64), (0,), True),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,axes,keepdims", CASES)
@pytest.mark.parametrize("op", ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"])
def test_float_reductions_match_the_reference(op, shape, axes, keepdims, threads):
    x = tf.placeholder(tf.float32, shape)
    value = RNG.uniform(0.5, 1.5, shape).astype(np.float32)
    if op in ("reduce_max", "reduce_min"):
        value.flat[::17] = np.nan  # the first NaN wins, as in numpy
    y = getattr(tf, op)(x, axis=list(axes), keepdims=keepdims)
    llvm_plan(y, {x: value}, threads=threads, rtol=2e-5)


@pytest.mark.parametrize("op", ["reduce_any", "reduce_all"])
def test_boolean_reductions_match_the_reference(op):
    x = tf.placeholder(tf.bool, (9, 40))
    value = RNG.random((9, 40)) < 0.3
    value[:, 3] = True
    value[:, 5] = False
    llvm_plan(getattr(tf, op)(x, axis=0), {x: value})


def test_integer_sum_and_an_inlined_producer():
    x = tf.placeholder(tf.int32, (50, 12))
    value = RNG.integers(-100, 100, (50, 12)).astype(np.int32)
    names, _ = llvm_plan(tf.reduce_sum(tf.abs(x) * 3, axis=0), {x: value})
    assert names == ["k_reduce_sum"]


def test_the_kernel_is_column_blocks_on_threads_with_vector_rows():
    x = tf.placeholder(tf.float32, (64, 3 * COLUMN_BLOCK))
    value = RNG.standard_normal((64, 3 * COLUMN_BLOCK)).astype(np.float32)
    with tf.Session(target="llvm", config=tf.Options(threads=2)) as sess:
        np.testing.assert_allclose(sess.run(tf.reduce_sum(x, axis=0), {x: value}),
                                   value.sum(axis=0), rtol=1e-4, atol=1e-4)
        executor = sess._executor
        plan = next(iter(executor._plans.values()))
    from graphc.passes.schedule import Caps, schedule
    (top,) = schedule(plan.kernels[0], Caps(threads=2, vector_bits=512)).body
    assert (top.var, top.kind, top.stop.value) == ("cblk", "parallel", 3)
    init, rows = top.body
    assert init.kind == "vector" and rows.kind == "serial" and rows.body[0].kind == "vector"
