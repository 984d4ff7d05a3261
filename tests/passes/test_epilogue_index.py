"""A GEMM's epilogue is given one block of C at a time, so an elementwise consumer that reads
the product at another index (through a slice it reads in place: a reverse, a shifted
range) is not made the epilogue (passes/fuse.py gemm_epilogues): it read rows of C not yet
computed, or already overwritten (fuzz seed 48589: 144 of 300 values wrong)."""

import numpy as np
import pytest

import graphc as tf

FORMS = {
    "reversed": (lambda c: tf.tanh(tf.reverse(c, [0])), lambda c: np.tanh(c[::-1])),
    "also_reversed": (lambda c: tf.tanh(c) + tf.reverse(c, [0]),
                      lambda c: np.tanh(c) + c[::-1]),
    "shifted": (lambda c: tf.sigmoid(c[1:, :] - c[:-1, :]),
                lambda c: 1 / (1 + np.exp(-(c[1:] - c[:-1])))),
    "direct": (lambda c: tf.tanh(c + 1.0), lambda c: np.tanh(c + 1.0)),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("n,k,threads,dtype", [(300, 1, 1, np.float64), (17, 1, 1, np.float32),
                                               (64, 40, 2, np.float32)])
def test_a_consumer_reading_the_product_elsewhere_gets_numpys_values(form, n, k, threads,
                                                                      dtype):
    rng = np.random.default_rng(n + k)
    a_value = rng.standard_normal((n, k)).astype(dtype)
    b_value = rng.standard_normal((k, 24)).astype(dtype)
    a, b = tf.placeholder(dtype, (n, k)), tf.placeholder(dtype, (k, 24))
    graph_fn, numpy_fn = FORMS[form]
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        got = sess.run(graph_fn(tf.matmul(a, b)), {a: a_value, b: b_value})
    expected = numpy_fn(a_value.astype(np.float64) @ b_value)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
