"""A gradient step's GEMM adding its product into the variable itself
(graphc/compiler/accumulate.py): where it applies, the same bits as the product computed on
its own and then scaled and subtracted (a plan without fusion); where it does not, the
kernel keeps its product buffer."""

import numpy as np
import pytest

import graphc as tf
from graphc.ir import kernel as K

RNG = np.random.default_rng(11)


def _step(update, lr, dtype, m, k, n, fetch_product=False):
    """(fetches, feed, variable) of one update of a (m, n) variable by x^T @ g."""
    t = tf.float32 if dtype == np.float32 else tf.float64
    x = tf.placeholder(t, [k, m])
    g = tf.placeholder(t, [k, n])
    w = tf.Variable(RNG.standard_normal((m, n)).astype(dtype))
    product = tf.matmul(x, g, transpose_a=True)
    feed = {x: RNG.standard_normal((k, m)).astype(dtype),
            g: RNG.standard_normal((k, n)).astype(dtype)}
    if lr == "fed":
        rate = tf.placeholder(t, [])
        feed[rate] = dtype(0.05)
        value = rate * product
    elif lr == "left":
        value = dtype(0.01) * product
    elif lr == "right":
        value = product * dtype(0.01)
    else:
        value = product
    op = tf.assign_sub(w, value) if update == "sub" else tf.assign_add(w, value)
    return ([op, product] if fetch_product else [op]), feed, w


def _run(fetches, feed, w, threads=1, fuse=True):
    """(the variable after one step, the step's plan)."""
    with tf.Session(config=tf.Options(threads=threads, fuse=fuse)) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(fetches, feed)
        plan = list(sess._executor._plans.values())[-1]
        return sess.run(w), plan


def _accumulating(plan) -> list:
    """The gemms of the plan that accumulate into C (an eleventh argument, alpha)."""
    return [s for k in plan.kernels for s in k.body
            if isinstance(s, K.Intrinsic) and s.name == "gemm" and len(s.args) > 10]


@pytest.mark.parametrize("update,lr", [("sub", "left"), ("sub", "right"), ("add", "left"),
                                       ("sub", None), ("add", None), ("sub", "fed")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_update_accumulates_into_the_variable_with_the_same_bits(update, lr, dtype,
                                                                     threads):
    fetches, feed, w = _step(update, lr, dtype, 67, 40, 130)
    got, plan = _run(fetches, feed, w, threads)
    (gemm,) = _accumulating(plan)
    assert gemm.epilogue == () and plan.slots[int(gemm.buffers[2][1:])].kind == "variable"
    assert sum(s.kind == "arena" for s in plan.slots) == 0  # no product buffer
    alpha = gemm.args[10]
    assert isinstance(alpha, K.Unary) == (update == "sub")
    want, _ = _run(fetches, feed, w, threads, fuse=False)
    np.testing.assert_array_equal(got, want)


def test_the_update_with_the_product_fetched_keeps_its_buffer():
    fetches, feed, w = _step("sub", "left", np.float32, 20, 16, 24, fetch_product=True)
    got, plan = _run(fetches, feed, w)
    assert _accumulating(plan) == []
    want, _ = _run(fetches, feed, w, fuse=False)
    np.testing.assert_array_equal(got, want)


def test_a_product_deeper_than_one_k_block_is_not_accumulated():
    # the LLVM GEMM's float64 K block is 256 deep: 300 would round block by block
    fetches, feed, w = _step("sub", "left", np.float64, 9, 300, 17)
    got, plan = _run(fetches, feed, w)
    assert _accumulating(plan) == []
    want, _ = _run(fetches, feed, w, fuse=False)
    np.testing.assert_array_equal(got, want)


def test_a_variable_that_is_an_operand_is_not_accumulated_into():
    x = tf.placeholder(tf.float32, [8, 8])
    w = tf.Variable(RNG.standard_normal((8, 8)).astype(np.float32))
    op = tf.assign_sub(w, 0.5 * tf.matmul(w, x))
    feed = {x: RNG.standard_normal((8, 8)).astype(np.float32)}
    got, plan = _run([op], feed, w)
    assert _accumulating(plan) == []
    want, _ = _run([op], feed, w, fuse=False)
    np.testing.assert_array_equal(got, want)


def test_a_dense_layer_trained_by_sgd_matches_the_reference():
    x = tf.placeholder(tf.float32, [32, 20])
    y = tf.placeholder(tf.float32, [32, 3])
    w = tf.Variable(RNG.standard_normal((20, 3)).astype(np.float32) * 0.1)
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feed = {x: RNG.standard_normal((32, 20)).astype(np.float32),
            y: RNG.standard_normal((32, 3)).astype(np.float32)}
    values = []
    for target, options in (("", tf.Options()), ("", tf.Options(fuse=False)),
                            ("reference", None)):
        with tf.Session(target=target, config=options) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(5):
                sess.run(train, feed)
            if target == "" and options.fuse:
                plan = list(sess._executor._plans.values())[-1]
                assert len(_accumulating(plan)) == 1
            values.append(sess.run(w))
    np.testing.assert_array_equal(values[0], values[1])
    np.testing.assert_allclose(values[0], values[2], rtol=1e-5, atol=1e-6)
