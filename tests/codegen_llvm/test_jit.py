"""The JIT in a large process: in-process code reaches every symbol at any distance."""

import subprocess
import sys
import textwrap

import pytest

# The process first reserves 2.5 GiB (an untouched np.empty: address space, no pages), so the
# JIT's code lands more than 2 GiB away from libc and from the GEMM library loaded before;
# with 32-bit displacements LLVM aborted the process (SIGABRT) while relocating.
PROGRAM = textwrap.dedent("""
    import numpy as np, graphc as tf
    hold = np.empty(int(2.5 * 2**30), np.uint8)
    x = tf.placeholder(tf.float32, [None, 8])
    y = tf.nn.softmax(tf.matmul(x, tf.ones([8, 4])) + tf.exp(tf.zeros([4])))
    z = tf.reduce_sum(tf.matmul(x, tf.ones([8, 300])), axis=1)
    with tf.Session(config=tf.Options(threads=2)) as s:
        a, b = s.run([y, z], {x: np.ones((3, 8), np.float32)})
    np.testing.assert_allclose(a, np.full((3, 4), 0.25), rtol=1e-6)
    np.testing.assert_allclose(b, np.full(3, 2400.0), rtol=1e-6)
    print("ok")
""")


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_plans_load_in_a_process_holding_over_2_gib(tmp_path_factory, cache):
    directory = tmp_path_factory.getbasetemp() / "big-process-cache"
    env = {"GRAPHC_CACHE_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    if cache == "cold":
        subprocess.run(["rm", "-rf", str(directory)], check=True)
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
