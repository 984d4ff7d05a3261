"""The LLVM target's runtime: threads, the compiled-code cache, memory over many runs."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm import jit


def _elementwise_graph():
    x = tf.placeholder(tf.float32, [300, 257], name="x")
    a = tf.placeholder(tf.float32, [257], name="a")
    z = x * a + 1.0
    y = 0.5 * z * (1 + tf.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))
    return x, a, [y, tf.nn.softmax(z), tf.reduce_sum(tf.exp(-z * z), 1), tf.matmul(x, x,
                                                                               transpose_b=True)]


def test_threaded_results_equal_single_threaded_ones():
    x, a, fetches = _elementwise_graph()
    rng = np.random.default_rng(0)
    feed = {x: rng.standard_normal((300, 257), dtype=np.float32),
            a: rng.standard_normal(257, dtype=np.float32)}
    results = {}
    for threads in (1, 2, 3):
        with tf.Session(target="llvm", config=tf.Options(threads=threads)) as sess:
            results[threads] = sess.run(fetches, feed)
            ir_text = next(iter(sess._executor._plans.values())).ir_text
            assert ("graphc_parallel_for" in ir_text) == (threads > 1)
    for threads in (2, 3):
        for single, threaded in zip(results[1][:3], results[threads][:3]):
            np.testing.assert_array_equal(threaded, single)  # elementwise: bit for bit
        np.testing.assert_allclose(results[threads][3], results[1][3], rtol=1e-5, atol=1e-3)
    with tf.Session(target="reference") as sess:
        expected = sess.run(fetches, feed)
    for got, want in zip(results[2], expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-4)


def test_a_second_session_loads_the_compiled_code_from_the_cache(monkeypatch):
    x, a, fetches = _elementwise_graph()
    feed = {x: np.ones((300, 257), np.float32), a: np.ones(257, np.float32)}
    with tf.Session(target="llvm") as sess:
        first = sess.run(fetches, feed)

    def no_llvm(*args, **kwargs):
        raise AssertionError("the second session ran the LLVM optimizer")
    monkeypatch.setattr(jit, "optimize", no_llvm)
    with tf.Session(target="llvm") as sess:
        second = sess.run(fetches, feed)
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)


SCRIPT = textwrap.dedent("""
    import numpy as np, graphc as tf
    x = tf.placeholder(tf.float32, [64, 33])
    y = tf.reduce_sum(tf.sigmoid(x) * 3.0, 1)
    with tf.Session(target="llvm") as sess:
        out = sess.run(y, {x: np.ones((64, 33), np.float32)})
    assert np.allclose(out, 33 * 3 / (1 + np.exp(-1.0))), out
    print("ok")
""")


def test_two_processes_compile_the_same_graph_at_once(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    # every plan is stored, however fast it built, so the count below does not hang on timing
    script = SCRIPT.replace("import numpy as np, graphc as tf\n",
                            "import numpy as np, graphc as tf\n"
                            "from graphc.runtime.llvm import LLVMExecutor\n"
                            "LLVMExecutor.store_after = 0.0\n")
    assert script != SCRIPT
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    cache = tmp_path / "cache"
    entries = [f for d in cache.iterdir() if d.is_dir() and d.name != "plans"
               for f in d.iterdir()]
    # the library's parts that load with a first plan (its thread pool and float32's GEMM),
    # the plan's object code and the session's stored plan (its manifest), each once by key
    assert len(entries) == 4
    assert len(list((cache / "plans").iterdir())) == 1  # the stored plan's constants


def test_a_truncated_cache_entry_is_rebuilt(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    run = [sys.executable, "-c", SCRIPT]
    assert subprocess.run(run, env=env, capture_output=True, text=True).stdout.strip() == "ok"
    for d in (tmp_path / "cache").iterdir():
        for f in d.iterdir():
            f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    result = subprocess.run(run, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_many_runs_leave_memory_flat():
    x, y = tf.placeholder(tf.float32, [16]), tf.placeholder(tf.float32, [16])
    v = tf.Variable(np.zeros(16, np.float32))
    step = v.assign_add(x + y)
    xv, yv = np.ones(16, np.float32), np.ones(16, np.float32)
    with tf.Session(target="llvm") as sess:
        sess.run(tf.global_variables_initializer())
        f = sess.make_callable(step, [x, y])
        for _ in range(2000):
            f(xv, yv)
        before = _rss_bytes()
        for _ in range(100_000):
            f(xv, yv)
        grown = _rss_bytes() - before
        assert sess.run(v)[0] == 2 * 102_000.0  # every run added x + y = 2
    assert grown < 4 * 2**20, f"resident memory grew by {grown} bytes over 100,000 runs"


def test_out_arrays_receive_results_directly_and_may_alias_feeds():
    x = tf.placeholder(tf.float32, [64, 48], name="x")
    y = tf.transpose(x) * 2.0
    z = tf.exp(x) + 1.0
    with tf.Session(target="llvm") as sess:
        f = sess.make_callable([y, z], [x])
        value = np.random.default_rng(0).standard_normal((64, 48), dtype=np.float32)
        expect_y, expect_z = value.T * 2.0, np.exp(value) + 1.0
        y_out, z_out = np.empty((48, 64), np.float32), np.empty((64, 48), np.float32)
        for _ in range(2):  # the second run reuses the plan and its arena
            got_y, got_z = f(value, out=[y_out, z_out])
            assert got_y is y_out and got_z is z_out
            np.testing.assert_allclose(y_out, expect_y, rtol=1e-6)
            np.testing.assert_allclose(z_out, expect_z, rtol=1e-6)
        aliased = value.copy()
        (_, got) = f(aliased, out=[None, aliased])  # writes into its own feed: a copy path
        np.testing.assert_allclose(got, expect_z, rtol=1e-6)
        np.testing.assert_allclose(f(value)[1], expect_z, rtol=1e-6)  # arena bound again
