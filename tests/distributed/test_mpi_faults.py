"""What ends a 2-process job with an error instead of a hang: ranks that built different
models (caught before the first gradient reduction, with the variable named), a rank that
exits without finishing, a rank killed by a signal. Each job must end within its timeout."""

from __future__ import annotations

import time

import pytest
from mpi_jobs import mpirun, needs_mpi

pytestmark = needs_mpi
LIMIT = 30  # seconds: a job that has not ended by then has hung

MISMATCH = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    rank, kind = hvd.rank(), sys.argv[2]
    width = 3 + rank if kind == "shape" else 3
    x = tf.placeholder(tf.float32, [None, 10])
    with tf.variable_scope("dense"):
        w = tf.get_variable("kernel", initializer=np.ones((10, width), np.float32))
        b = tf.get_variable("bias", initializer=np.zeros(3, np.float32))
        extra = [tf.get_variable("scale", initializer=np.ones(3, np.float32))] \\
            if kind == "count" and rank == 1 else []
    out = tf.matmul(x, w)[:, :3] + b
    for v in extra:
        out = out * v
    loss = tf.reduce_mean(tf.square(out))
    # small buckets: one per variable, so that an extra variable is an extra bucket
    opt = hvd.DistributedOptimizer(tf.train.GradientDescentOptimizer(0.1), bucket_bytes=8)
    train = opt.minimize(loss)
    with tf.Session("llvm") as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {x: np.ones((2, 10), np.float32)})
    print("trained")
"""


@pytest.mark.parametrize("kind, message", [
    ("shape", "rank 1's bucket 1 has shape [10, 4] for dense/kernel, rank 0's [10, 3]"),
    ("count", "rank 1's bucket 0 reduces the gradient of dense/scale where rank 0's reduces "
              "dense/bias"),
])
def test_ranks_that_built_different_models_fail_at_the_first_step(tmp_path, kind, message):
    start = time.perf_counter()
    done = mpirun(tmp_path, MISMATCH, 2, kind, timeout=LIMIT)
    assert done.returncode != 0
    assert "FailedPreconditionError: graphc.distributed: the processes built different " \
           "training steps: " + message in done.stderr
    assert "trained" not in done.stdout
    assert time.perf_counter() - start < LIMIT


COLLECTIVES = """
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    r = hvd.rank()
    x = tf.placeholder(tf.float32, [None])
    v = tf.Variable(np.zeros((2, 3 + r), np.float32), name="w")
    # rank 1 knows the shape of z when it builds the graph, rank 0 only when it runs
    z = tf.placeholder(tf.float32, [None] if r == 0 else [2])
    ops = {"allreduce": hvd.allreduce(x, op=hvd.Sum), "allgather": hvd.allgather(x),
           "broadcast": hvd.broadcast(x, 0), "variables": hvd.broadcast_global_variables(0),
           "static": hvd.allreduce(z, name="z_sum")}
    with tf.Session("llvm") as sess:
        sess.run(v.initializer)
        for kind in ("allreduce", "allgather", "broadcast", "variables", "static"):
            try:
                sess.run(ops[kind], {x: np.ones(2 + r, np.float32), z: np.ones(2, np.float32)})
                print(r, kind, "ran")
            except tf.errors.FailedPreconditionError as e:
                print(r, kind, e)
        # the same shapes everywhere: the collectives run (nothing was left half done)
        print(r, "sum", sess.run(ops["allreduce"], {x: np.full(4, 1.0 + r, np.float32)}))
"""


def test_collectives_given_different_shapes_fail_on_every_rank_and_the_job_goes_on(tmp_path):
    done = mpirun(tmp_path, COLLECTIVES, 2, timeout=LIMIT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = sorted(done.stdout.strip().splitlines())
    what = {"allreduce": "allreduce of 'Placeholder:0'",
            "allgather": "allgather of 'Placeholder:0'",
            "broadcast": "broadcast of 'Placeholder:0'"}
    for r in (0, 1):
        for kind, name in what.items():
            hint = ("; to gather tensors whose first axis differs between processes, pad "
                    "them to the longest and gather their lengths too"
                    if kind == "allgather" else "")
            assert f"{r} {kind} graphc.distributed: the processes gave the {name} different " \
                   f"tensors: float32 [3] on rank 1, float32 [2] on rank 0. Every process " \
                   f"must give it the same dtype and shape{hint}" in lines
        assert f"{r} variables graphc.distributed: the processes gave the broadcast of " \
               f"'variable w' different tensors: float32 [2, 4] on rank 1, float32 [2, 3] " \
               f"on rank 0. Every process must give it the same dtype and shape" in lines
        assert f"{r} static graphc.distributed: the processes gave the allreduce of 'z_sum' " \
               f"different tensors: a static shape on rank 1, a shape known only when run " \
               f"on rank 0. Every process must give it the same dtype and shape" in lines
        assert f"{r} sum [3. 3. 3. 3.]" in lines


DYING = """
    import os
    import signal
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    x = tf.placeholder(tf.float32, [4])
    total = hvd.allreduce(x)
    if hvd.rank() == 1:
        if sys.argv[2] == "exit":
            os._exit(3)  # no exception, no MPI_Abort: the process is just gone
        os.kill(os.getpid(), signal.SIGKILL)
    with tf.Session("llvm") as sess:
        sess.run(total, {x: np.ones(4, np.float32)})  # waits for rank 1, which never comes
    print("reduced")
"""


@pytest.mark.parametrize("how", ["exit", "signal"])
def test_a_rank_that_dies_ends_the_job(tmp_path, how):
    start = time.perf_counter()
    done = mpirun(tmp_path, DYING, 2, how, timeout=LIMIT)
    assert done.returncode != 0
    assert "reduced" not in done.stdout
    assert time.perf_counter() - start < LIMIT
