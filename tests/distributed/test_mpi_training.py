"""graphc.distributed across processes: scripts run under `mpirun -n 2` and `-n 3`, each
rank saving what it computed (.npz); compared here with one process computing the same.
Skipped when mpirun or mpi4py is missing (pip install 'graphc[distributed]')."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_jobs import mpirun as run_ranks
from mpi_jobs import needs_mpi, ranks

import graphc as tf

pytestmark = needs_mpi
TIMEOUT = 90  # seconds an mpirun may take before the test fails (a hang fails, not waits)


def mpirun(tmp_path, script: str, n: int, *args):
    return run_ranks(tmp_path, script, n, *args, timeout=TIMEOUT)


MLP = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    out, target, bucket_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rank, size = hvd.rank(), hvd.size()
    data = np.random.default_rng(7)
    X = data.standard_normal((12, 5)).astype(np.float32)
    Y = data.standard_normal((12, 2)).astype(np.float32)
    init = np.random.default_rng(100 + rank)  # each rank starts elsewhere: broadcast fixes it
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.placeholder(tf.float32, [None, 2])
    w1 = tf.Variable(init.standard_normal((5, 8)).astype(np.float32))
    b1 = tf.Variable(init.standard_normal(8).astype(np.float32))
    w2 = tf.Variable(init.standard_normal((8, 2)).astype(np.float32))
    loss = tf.reduce_mean(tf.square(tf.matmul(tf.tanh(tf.matmul(x, w1) + b1), w2) - y))
    opt = hvd.DistributedOptimizer(tf.train.MomentumOptimizer(0.1, 0.9),
                                   bucket_bytes=bucket_bytes)
    train = opt.minimize(loss)
    sync = hvd.broadcast_global_variables(0)
    share = slice(rank * 12 // size, (rank + 1) * 12 // size)
    with tf.Session(target) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(sync)
        start = sess.run([w1, b1, w2])
        for _ in range(4):
            sess.run(train, {x: X[share], y: Y[share]})
        end = sess.run([w1, b1, w2])
    np.savez(f"{out}/rank{rank}.npz", w1_0=start[0], b1_0=start[1], w2_0=start[2],
             w1=end[0], b1=end[1], w2=end[2], buckets=len(opt.buckets))
"""


def train_in_one_process(start):
    """The same 4 momentum steps on the whole batch, from the broadcast weights."""
    data = np.random.default_rng(7)
    X = data.standard_normal((12, 5)).astype(np.float32)
    Y = data.standard_normal((12, 2)).astype(np.float32)
    w1, b1, w2 = (tf.Variable(v) for v in start)
    loss = tf.reduce_mean(tf.square(tf.matmul(tf.tanh(tf.matmul(X, w1) + b1), w2) - Y))
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(4):
            sess.run(train)
        return sess.run([w1, b1, w2])


@pytest.mark.parametrize("n, target, bucket_bytes, buckets", [
    (2, "llvm", 100, 2),  # w2 (64 bytes) and b1 (32) fused in one bucket, w1 (160) alone
    (3, "llvm", 1 << 20, 1),  # uneven: 3 ranks, one fused bucket
    (2, "reference", 1 << 20, 1),
])
def test_data_parallel_training_matches_one_process(tmp_path, n, target, bucket_bytes, buckets):
    done = mpirun(tmp_path, MLP, n, target, bucket_bytes)
    assert done.returncode == 0, done.stderr
    results = ranks(tmp_path, n)
    first = np.random.default_rng(100)  # rank 0's initial weights, broadcast to all
    start = [first.standard_normal(s).astype(np.float32) for s in ((5, 8), (8,), (8, 2))]
    for r in results:
        for name, value in zip(("w1_0", "b1_0", "w2_0"), start):
            np.testing.assert_array_equal(r[name], value)
        assert int(r["buckets"]) == buckets
    for r in results[1:]:  # every rank applies the same averaged gradients
        for name in ("w1", "b1", "w2"):
            np.testing.assert_array_equal(r[name], results[0][name])
    expected = train_in_one_process(start)
    for name, value in zip(("w1", "b1", "w2"), expected):
        np.testing.assert_allclose(results[0][name], value, rtol=2e-6, atol=2e-7)


COLLECTIVES = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    out, rank, size = sys.argv[1], hvd.rank(), hvd.size()
    x = tf.placeholder(tf.float32, [2, 3])
    k = tf.placeholder(tf.int64, [3])
    mine = (np.arange(6, dtype=np.float32).reshape(2, 3) + 10 * rank)
    c = tf.constant(np.float32(rank + 1) * np.ones(3, np.float32))
    summed = hvd.allreduce(x, op=hvd.Sum)
    grad = tf.gradients(tf.reduce_sum(summed[0] * c), [x])[0]
    fetches = [hvd.allreduce(x), summed, hvd.allreduce(k, op=hvd.Sum), hvd.allgather(x),
               hvd.broadcast(x, 1), hvd.broadcast(k, size - 1), grad]
    with tf.Session("llvm") as sess:
        got = sess.run(fetches, {x: mine, k: np.array([rank, -rank, 2 ** 40], np.int64)})
    np.savez(f"{out}/rank{rank}.npz", *got, local=[hvd.local_rank(), hvd.local_size()])
    hvd.join()
"""


def test_allreduce_allgather_broadcast_and_gradient_values(tmp_path):
    n = 3
    done = mpirun(tmp_path, COLLECTIVES, n)
    assert done.returncode == 0, done.stderr
    xs = [np.arange(6, dtype=np.float32).reshape(2, 3) + 10 * r for r in range(n)]
    ks = [np.array([r, -r, 2 ** 40], np.int64) for r in range(n)]
    c_sum = sum(r + 1 for r in range(n))
    for r, got in enumerate(ranks(tmp_path, n)):
        np.testing.assert_allclose(got["arr_0"], sum(xs) / n, rtol=1e-6)
        np.testing.assert_array_equal(got["arr_1"], sum(xs))
        np.testing.assert_array_equal(got["arr_2"], sum(ks))
        np.testing.assert_array_equal(got["arr_3"], np.concatenate(xs))
        np.testing.assert_array_equal(got["arr_4"], xs[1])
        np.testing.assert_array_equal(got["arr_5"], ks[n - 1])
        # d/dx_r of sum_r' sum(allreduce(x)[0] * c_r') = sum_r' c_r' in row 0, 0 in row 1
        np.testing.assert_array_equal(got["arr_6"], [[c_sum] * 3, [0] * 3])
        assert got["local"].tolist() == [r, n]


FAILING = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    x = tf.placeholder(tf.float32, [4])
    total = hvd.allreduce(x)
    if hvd.rank() == 1:
        raise RuntimeError("rank 1 gives up")
    with tf.Session("llvm") as sess:
        sess.run(total, {x: np.ones(4, np.float32)})  # waits for rank 1, which never comes
"""


def test_a_rank_that_raises_ends_the_job_with_an_error(tmp_path):
    start = time.perf_counter()
    done = mpirun(tmp_path, FAILING, 2)
    assert done.returncode != 0
    assert "RuntimeError: rank 1 gives up" in done.stderr
    assert time.perf_counter() - start < TIMEOUT


def test_graphc_run_distributed_starts_the_processes(tmp_path):
    script = tmp_path / "hello.py"
    script.write_text(textwrap.dedent("""
        import sys
        import graphc.distributed as hvd
        hvd.init()
        with open(f"{sys.argv[1]}/hello{hvd.rank()}.txt", "w") as f:
            f.write(f"{hvd.rank()} of {hvd.size()}")
    """))
    graphc = Path(sys.executable).parent / "graphc"
    command = [str(graphc)] if graphc.exists() else [sys.executable, "-m", "graphc"]
    done = subprocess.run(command + ["run-distributed", "-n", "3", str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert [(tmp_path / f"hello{r}.txt").read_text() for r in range(3)] == \
        ["0 of 3", "1 of 3", "2 of 3"]


STORED = """
    import os
    import sys
    os.environ["GRAPHC_CACHE_DIR"] = sys.argv[2]
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd
    from graphc.runtime.llvm import LLVMExecutor

    LLVMExecutor.store_after = 0.0  # store every plan, however fast it built
    hvd.init()
    out, run, rank = sys.argv[1], sys.argv[3], hvd.rank()
    data = np.random.default_rng(7 + rank)
    X = data.standard_normal((6, 5)).astype(np.float32)
    Y = data.standard_normal((6, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.placeholder(tf.float32, [None, 2])
    w = tf.Variable(np.random.default_rng(100 + rank).standard_normal((5, 2)).astype(np.float32))
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
    train = hvd.DistributedOptimizer(tf.train.GradientDescentOptimizer(0.1)).minimize(loss)
    metric = hvd.allreduce(loss)  # a collective built directly (shape checked each run)
    with tf.Session("llvm") as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(hvd.broadcast_global_variables(0))
        losses = [sess.run([train, metric], {x: X, y: Y})[1] for _ in range(3)]
        stored = [p.stored for p, _ in sess._executor.compiled_plans()]
        final = sess.run(w)
    np.savez(f"{out}/{run}{rank}.npz", w=final, losses=losses, stored=stored)
"""


def test_a_data_parallel_step_runs_stored_in_a_second_job(tmp_path):
    # the step calls MPI through host calls (its bucket's allreduce, the metric's, the
    # broadcasts): a second job finds the plans stored and computes the same bits
    cache = tmp_path / "cache"
    for run in ("first", "second"):
        done = mpirun(tmp_path, STORED, 2, cache, run)
        assert done.returncode == 0, done.stderr[-3000:]
    first, second = ranks(tmp_path, 2, "first"), ranks(tmp_path, 2, "second")
    # (in the first job a rank may already load a plan the other rank stored a moment ago)
    assert not (first[0]["stored"].all() and first[1]["stored"].all())
    for r in range(2):
        assert second[r]["stored"].all() and len(second[r]["stored"]) >= 3
        np.testing.assert_array_equal(first[r]["w"], second[r]["w"])
        np.testing.assert_array_equal(first[r]["losses"], second[r]["losses"])
    np.testing.assert_array_equal(second[0]["w"], second[1]["w"])  # the ranks agree
