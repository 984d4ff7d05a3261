"""Reductions that keep the last axis on the GPU: lowering blocks their columns for CPU
caches; the GPU schedule gives each output element a thread that walks its column
(schedule_gpu._column_per_thread). Structure, then numbers on cuda-emulated."""

from __future__ import annotations

import numpy as np
from cuda_support import gpu_kernels

import graphc as tf
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import verify_kernel
from graphc.passes.lower import COLUMN_BLOCK


def _loops(stmts, out):
    for s in stmts:
        if isinstance(s, K.Loop):
            out.append(s)
            _loops(s.body, out)
    return out


def test_each_output_element_gets_a_thread_that_walks_its_column():
    x = tf.placeholder(tf.float32, [64, 2 * COLUMN_BLOCK + 3])
    (kernel,) = gpu_kernels([tf.reduce_sum(x, axis=0)])
    verify_kernel(kernel)
    (launch,) = kernel.body
    loops = _loops([launch], [])
    assert [loop.kind for loop in loops[:2]] == ["gpu_block", "gpu_thread"]
    assert not any(loop.var == "cblk" for loop in loops)  # no blocks of columns left
    rows = [loop for loop in loops if loop.var == "r0"]
    assert len(rows) == 1 and rows[0].stop == K.Const(64)  # each thread walks 64 rows


def test_column_reductions_match_numpy_on_the_emulated_device():
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 1.5, (6, 40)).astype(np.float32)
    b = rng.standard_normal((3, 4, 2, 12)).astype(np.float32)
    x, y = tf.placeholder(tf.float32, a.shape), tf.placeholder(tf.float32, b.shape)
    fetches = [tf.reduce_sum(x, axis=0), tf.reduce_prod(x, axis=0, keepdims=True),
               tf.reduce_max(y, axis=[0, 2]), tf.reduce_min(y * 2.0, axis=1)]
    with tf.Session(target="cuda-emulated") as sess:
        got = sess.run(fetches, {x: a, y: b})
    want = [a.sum(0), a.prod(0, keepdims=True), b.max(axis=(0, 2)), (b * 2).min(axis=1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
