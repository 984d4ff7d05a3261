"""Outlined functions (a parallel loop's chunks, a GEMM's epilogue) see what the kernel has
in scope: its buffers, loop variables and scalar locals. A row group over one row of 117,000
elements (seed 607299 of the fuzzer) computes the row's norm into a local, then splits the
loop that divides by it over two threads: the chunks read the local through ctx (before,
rendering raised KeyError: 'v3')."""

import numpy as np
import pytest

import graphc as tf


@pytest.mark.parametrize("make", [lambda x: tf.nn.l2_normalize(x, axis=-1),
                                  lambda x: tf.nn.softmax(x),
                                  lambda x: x - tf.reduce_mean(x)],
                         ids=["l2_normalize", "softmax", "centered"])
def test_a_parallel_loop_reads_the_rows_locals(make):
    x = tf.placeholder(tf.float32, [117000])
    y = make(x)
    xv = np.random.default_rng(3).standard_normal(117000).astype(np.float32)
    with tf.Session(config=tf.Options(threads=2, opt_level=3)) as sess:
        got = sess.run(y, {x: xv})
    with tf.Session(target="reference") as sess:
        want = sess.run(y, {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
