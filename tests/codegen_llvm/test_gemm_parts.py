"""How the threads share a GEMM's C (codegen_llvm/intrinsics.py gemm_parts): by rows, or by
columns when C is wider than tall, K is deep and that leaves the busiest thread no more
micro-tiles; every split gives numpy's product."""

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.gemm import GemmBlocking
from graphc.codegen_llvm.intrinsics import gemm_parts

BLOCKING = GemmBlocking(mr=6, nr=64, kc=512, mc=3072, nc=512, ku=2, fuse_b=True,
                        mc_narrow=240)


def test_a_wide_c_with_an_even_number_of_column_panels_is_split_by_columns():
    assert gemm_parts(32, 1024, 320, 2, BLOCKING) == [(0, 32, 0, 512), (0, 32, 512, 512)]


def test_an_odd_number_of_column_panels_is_split_by_rows_when_that_is_more_even():
    # 5 panels of 64 columns: 3 and 2 to a thread; 6 panels of 6 rows: 3 and 3
    assert gemm_parts(32, 320, 1024, 2, BLOCKING) == [(0, 18, 0, 320), (18, 14, 0, 320)]


def test_a_shallow_or_tall_c_is_split_by_rows():
    assert gemm_parts(32, 1024, 128, 2, BLOCKING) == [(0, 18, 0, 1024), (18, 14, 0, 1024)]
    assert gemm_parts(512, 256, 1024, 2, BLOCKING) == [(0, 258, 0, 256), (258, 254, 0, 256)]


@pytest.mark.parametrize("m,k,n", [(32, 1024, 320), (32, 320, 1024), (7, 300, 200)])
def test_each_split_gives_numpys_product(m, k, n):
    rng = np.random.default_rng(m + n)
    a_value = rng.standard_normal((m, k)).astype(np.float32)
    b_value = rng.standard_normal((k, n)).astype(np.float32)
    a, b = tf.placeholder(tf.float32, (m, k)), tf.placeholder(tf.float32, (k, n))
    with tf.Session(config=tf.Options(threads=2)) as sess:
        got = sess.run(tf.nn.relu(tf.matmul(a, b) + 1.0), {a: a_value, b: b_value})
    expected = np.maximum(a_value.astype(np.float64) @ b_value + 1.0, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
