"""The allreduce inside a compiled step against mpi4py's own, on the same 2.68 MB buffer (the
MLP step's gradient bucket): a step computing sum(allreduce(x * 1)) against the same step
without the allreduce, and mpi4py's Allreduce out of place and in place. Each timed call
follows a barrier; medians of 50, three rounds. Run it under mpirun:

    .venv/bin/mpirun --allow-run-as-root --oversubscribe -n 2 \\
        .venv/bin/python bench/allreduce_step.py
"""

import time

import numpy as np
from mpi4py import MPI

import graphc as tf
import graphc.distributed as hvd

hvd.init()
n = 2_680_000 // 4
x = tf.placeholder(tf.float32, [n])
y = hvd.allreduce(x * 1.0, op=hvd.Sum)
z = tf.reduce_sum(y)
sess = tf.Session()
a = np.ones(n, np.float32)
f = sess.make_callable(z, [x])
for _ in range(5):
    f(a)
comm = MPI.COMM_WORLD
buf = np.ones(n, np.float32)
out = np.empty_like(buf)


def timeit(fn, reps=50):
    ts = []
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return np.median(ts) * 1e3



g = sess.make_callable(tf.reduce_sum(x*1.0), [x])
for _ in range(3):
    g(a)
r = []
for _ in range(3):
    r.append((timeit(lambda: f(a)), timeit(lambda: g(a)), timeit(lambda: comm.Allreduce(buf, out)),
              timeit(lambda: comm.Allreduce(MPI.IN_PLACE, buf))))
if hvd.rank() == 0:
    for t in r:
        print("step with allreduce %.3f ms, step without %.3f ms, mpi4py Allreduce %.3f ms, "
              "in place %.3f ms" % t)
