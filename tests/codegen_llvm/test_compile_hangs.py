"""Graphs that used to hang the compile, run in a child process with a time limit so that a
regression fails instead of hanging the suite.

- seed 308446 of the fuzzer: a gradient through a 1x1 matmul whose GEMM epilogue computes a
  deep expression of one broadcast scalar (log_softmax, silu and sin of a 1x1 value). The
  epilogue, outlined, took its buffers from memory without aliasing facts, so LLVM kept
  every load and everything computed from them inside the loop, and LLVM 20's loop
  vectorizer checked that invariant expression for uniformity in exponential time. Outlined
  functions now take their buffers as noalias arguments, as kernels do.
- an elementwise chain reusing each value three times over 1x1 values: the expression
  written out grew as 3**n (now bounded by fuse.MAX_OPS)."""

import os
import subprocess
import sys
import textwrap

import pytest

EPILOGUE = """
    a = tf.constant(np.array([[-0.9, -0.6, -0.02, 0.56, -0.45]], np.float32))
    x = tf.placeholder(tf.float32, [1, 1])
    s = tf.nn.log_softmax(x)
    product = tf.matmul(a, x, transpose_a=True)
    loss = (tf.reduce_sum(tf.nn.log_softmax(product) * np.arange(5, dtype=np.float32)[:, None])
            + tf.reduce_sum(product * tf.tanh(x)) + tf.reduce_sum(tf.nn.silu(s))
            + tf.reduce_sum(tf.sin(s)))
    fetch = tf.gradients(loss, [x])[0]
    feeds = {x: np.array([[-0.75]], np.float32)}
"""

REUSED_SCALAR = """
    x = tf.placeholder(tf.float32, [1, 1])
    b = tf.placeholder(tf.float32, [1, 1])
    z = b
    for _ in range(6):
        z = tf.nn.log_softmax(tf.sin(z) * z + z)
    fetch = [x * z, tf.gradients(tf.reduce_sum(tf.matmul(x, b) * z), [b])[0]]
    feeds = {x: np.array([[0.5]], np.float32), b: np.array([[0.25]], np.float32)}
"""

CHECK = """
    with tf.Session(target="reference") as sess:
        want = sess.run(fetch, feeds)
    with tf.Session(config=tf.Options(opt_level=3, threads=1)) as sess:
        got = sess.run(fetch, feeds)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    print("ok")
"""


@pytest.mark.parametrize("graph", [EPILOGUE, REUSED_SCALAR], ids=["epilogue", "reused"])
def test_compiles_in_bounded_time(graph, tmp_path):
    source = "import numpy as np\nimport graphc as tf\n" + textwrap.dedent(graph) + \
        textwrap.dedent(CHECK)
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path / "cache")}
    try:
        done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                              timeout=300, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("the compile did not finish in 300 s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
