"""Data-parallel scaling of a training step, the W4 MLP (784-512-512-10, SGD 0.01, 256
samples per rank) or the W5 CNN (graphc bench's, SGD 0.01, 64 images of 28 x 28 per rank):
1 process of 1 thread against N ranks of 1 thread under mpirun, each rank with the same
per-rank batch (weak scaling), so N ranks train N times the samples per step. Rounds alternate the
two launches; each reports its steps' median, and the table gives medians over rounds.

Also: the time the step spends in its allreduce (the host call, timed around the world
communicator's Allreduce) against mpi4py's own Allreduce on a buffer of the same size
(the gradient bucket), alone, in the same processes: back to back, and after each process
has walked 64 MiB of other memory (the caches as a step's kernels leave them).

    .venv/bin/python bench/distributed.py [--workload W4|W5] [--ranks 2] [--batch B]
                                           [--steps 30] [--rounds 3] [--mpirun PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LAYERS = (784, 512, 512, 10)


BATCH = {"W4": 256, "W5": 64}  # samples per rank and step, unless --batch says


def build(tf, hvd, workload: str, batch: int):
    """(train op, feeds, DistributedOptimizer) of one rank's step."""
    wrapped = []

    def wrap(optimizer):
        wrapped.append(hvd.DistributedOptimizer(optimizer))
        return wrapped[0]
    if workload == "W5":
        from graphc.bench import cnn
        arrays = cnn.cnn_arrays(batch, 28)
        (train, _), (x, labels) = cnn.cnn_step_graphc(tf, arrays, 0.01, wrap)
        return train, {x: arrays["x"], labels: arrays["labels"]}, wrapped[0]
    from graphc.bench.workloads import mlp_arrays
    arrays = mlp_arrays(batch, LAYERS)
    x = tf.placeholder(tf.float32, [batch, LAYERS[0]])
    labels = tf.placeholder(tf.int64, [batch])
    h = x
    for i in (1, 2, 3):
        h = tf.matmul(h, tf.Variable(arrays[f"w{i}"])) + tf.Variable(arrays[f"b{i}"])
        h = tf.nn.relu(h) if i < 3 else h
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=h))
    train = wrap(tf.train.GradientDescentOptimizer(0.01)).minimize(loss)
    return train, {x: arrays["x"], labels: arrays["labels"]}, wrapped[0]


def worker(workload: str, batch: int, steps: int, out: str, barrier: bool = False) -> None:
    """One process of a run: steps on this rank's batch; rank 0 writes the timings.
    `barrier`: the ranks meet before each in-step allreduce, which is timed from there."""
    import graphc as tf
    import graphc.distributed as hvd
    from graphc.ir.ops.collective import COMMUNICATORS

    hvd.init()
    train, feeds, opt = build(tf, hvd, workload, batch)
    spent = []
    if hvd.size() > 1:  # time the in-step allreduce around the world communicator
        world = COMMUNICATORS["world"]
        reduce = world.allreduce

        def timed(src, dst, op):
            start = time.perf_counter()
            if barrier:  # the reduction alone, not the wait for the slower rank
                world.comm.Barrier()
                start = time.perf_counter()
            reduce(src, dst, op)
            spent.append(time.perf_counter() - start)
        world.allreduce = timed
    with tf.Session(config=tf.Options(threads=1)) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train, feeds)
        hvd.barrier()
        spent.clear()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            sess.run(train, feeds)
            times.append(time.perf_counter() - start)
    result = {"step_s": statistics.median(times), "size": hvd.size(), "batch": batch,
              "buckets": [[v.name for v in b] for b in opt.buckets]}
    if hvd.size() > 1:
        result["in_step_allreduce_s"] = statistics.median(spent)
        result["mpi4py_allreduce_s"] = mpi4py_allreduce(opt.buckets, steps)
        result["mpi4py_cold_allreduce_s"] = mpi4py_allreduce(opt.buckets, steps, cold=True)
        result["bucket_bytes"] = [int(sum(np.prod(v.shape.as_list()) for v in b)) * 4
                                  for b in opt.buckets]
    if hvd.rank() == 0:
        Path(out).write_text(json.dumps(result))


def mpi4py_allreduce(buckets, steps: int, cold: bool = False) -> float:
    """Median time of mpi4py's in-place Allreduce of float32 buffers of the buckets' sizes;
    `cold`: after each process has walked 64 MiB of other memory, as a training step's
    kernels leave the caches before its allreduce."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    sizes = [int(sum(np.prod(v.shape.as_list()) for v in b)) for b in buckets]
    buffers = [np.ones(n, np.float32) for n in sizes]
    other = np.zeros(64 << 20, np.uint8)
    times = []
    for _ in range(steps + 3):
        if cold:
            other[::64] += 1  # (every line of it read and written)
        comm.Barrier()
        start = time.perf_counter()
        for buf in buffers:
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    return statistics.median(times[3:])


def launch(ranks: int, args, out: Path, barrier: bool = False) -> dict:
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--workload", args.workload,
          "--batch", str(args.batch), "--steps", str(args.steps), "--out", str(out)] + [
        "--barrier"] * barrier
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI"))}
    command = me if ranks == 1 else [args.mpirun, "--allow-run-as-root", "--oversubscribe",
                                     "--bind-to", "none", "-n", str(ranks), *me]
    subprocess.run(command, check=True, timeout=600, env=env)
    return json.loads(out.read_text())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=tuple(BATCH), default="W4")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--batch", type=int, help="samples per rank and step (W4 256, W5 64)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--mpirun", default=str(Path(sys.executable).parent / "mpirun"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--barrier", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.batch = args.batch or BATCH[args.workload]
    if args.worker:
        worker(args.workload, args.batch, args.steps, args.out, args.barrier)
        return
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        ones, manys, synced = [], [], []
        for r in range(args.rounds):
            ones.append(launch(1, args, Path(tmp) / f"one{r}.json"))
            manys.append(launch(args.ranks, args, Path(tmp) / f"many{r}.json"))
            synced.append(launch(args.ranks, args, Path(tmp) / f"sync{r}.json", True))
    one = statistics.median(x["step_s"] for x in ones)
    many = statistics.median(x["step_s"] for x in manys)
    in_step = statistics.median(x["in_step_allreduce_s"] for x in manys)
    reduce = statistics.median(x["in_step_allreduce_s"] for x in synced)
    alone = statistics.median(x["mpi4py_allreduce_s"] for x in manys + synced)
    cold = statistics.median(x["mpi4py_cold_allreduce_s"] for x in manys + synced)
    rate_one, rate_many = args.batch / one, args.ranks * args.batch / many
    what = f"W4 MLP {'-'.join(map(str, LAYERS))}" if args.workload == "W4" else "W5 CNN"
    print(f"{what}, {args.batch} samples per rank and step, "
          f"1 thread per process, medians of {args.rounds} interleaved rounds of "
          f"{args.steps} steps")
    print(f"  1 process : {one * 1e3:8.2f} ms/step {rate_one:9.0f} samples/s")
    print(f"  {args.ranks} ranks   : {many * 1e3:8.2f} ms/step {rate_many:9.0f} samples/s  "
          f"({rate_many / rate_one:.2f}x)")
    print(f"  buckets {manys[0]['bucket_bytes']} bytes: in the step, the allreduce takes "
          f"{in_step * 1e3:.3f} ms with the wait for the slower rank, {reduce * 1e3:.3f} ms "
          f"after a barrier; mpi4py's Allreduce alone {alone * 1e3:.3f} ms: the step reaches "
          f"{alone / reduce:.0%} of its bandwidth; mpi4py's after walking 64 MiB of other "
          f"memory {cold * 1e3:.3f} ms: {cold / reduce:.0%} of that")


if __name__ == "__main__":
    main()
