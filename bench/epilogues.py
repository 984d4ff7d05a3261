"""GEMM epilogues and column reductions: each graph timed with and without the change.

    python bench/epilogues.py [--threads 1 2] [--reps 15]

For each thread count it builds every case twice in one process, once as graphc compiles it
and once with GEMM epilogues turned off (fuse.gemm_epilogues finding none), and times the
two interleaved, call by call, reporting medians. Cases:
  - dense_spill: relu(x @ w + b) @ w2, x (4096, 64), w (64, 4096), w2 (4096, 16): the
    product (64 MiB) does not fit in cache;
  - W4: the MLP training step of `graphc bench W4`;
  - column sum: reduce_sum over axis 0 of (256, 512) and (4096, 1024) f32, against numpy
    (the lowering has no switch; the numbers before the change are in docs/benchmarks.md).
One-thread runs are pinned to one CPU. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as tf
import graphc.compiler.driver as plan_builder
from graphc.bench.workloads import w4_cases

WITH_EPILOGUES = plan_builder.gemm_epilogues


def _without_epilogues(*_args):
    return []


def _dense_spill(threads):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4096, 64)).astype(np.float32)
    w = rng.standard_normal((64, 4096)).astype(np.float32)
    b = rng.standard_normal(4096).astype(np.float32)
    w2 = rng.standard_normal((4096, 16)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, xv.shape)
        y = tf.matmul(tf.nn.relu(tf.matmul(x, tf.constant(w)) + tf.constant(b)),
                      tf.constant(w2))
        return y, [x], [xv]
    return build


def _w4(threads):
    case = w4_cases("full")[0]

    def build():
        (train, loss), (x, labels) = case.build(tf)
        return [train, loss], [x, labels], [case.arrays["x"], case.arrays["labels"]]
    return build


def _callable(build, threads, epilogues: bool):
    plan_builder.gemm_epilogues = WITH_EPILOGUES if epilogues else _without_epilogues
    try:
        graph = tf.Graph()
        with graph.as_default():
            fetches, feeds, values = build()
            sess = tf.Session(graph=graph, config=tf.Options(threads=threads))
            sess.run(tf.global_variables_initializer())
            fn = sess.make_callable(fetches, feeds)
            fn(*values)  # compile
    finally:
        plan_builder.gemm_epilogues = WITH_EPILOGUES
    return lambda: fn(*values)


def _interleaved(calls: dict, reps: int) -> dict:
    times = {name: [] for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def _column_sums(threads, reps):
    rows = []
    for shape in ((256, 512), (4096, 1024)):
        value = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, shape)
            sess = tf.Session(graph=graph, config=tf.Options(threads=threads))
            fn = sess.make_callable(tf.reduce_sum(x, axis=0), [x])
            np.testing.assert_allclose(fn(value), value.sum(axis=0), rtol=1e-3, atol=1e-3)
        medians = _interleaved({"graphc": lambda: fn(value),
                                "numpy": lambda: value.sum(axis=0)}, reps)
        rows.append((f"column sum {shape}", medians["graphc"], medians["numpy"]))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    print("| case | threads | with epilogues | without | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for threads in args.threads:
        os.sched_setaffinity(0, cpus[-1:] if threads == 1 else cpus)
        for name, case in (("dense_spill", _dense_spill), ("W4 step", _w4)):
            build = case(threads)
            calls = {"with": _callable(build, threads, True),
                     "without": _callable(build, threads, False)}
            m = _interleaved(calls, args.reps)
            print(f"| {name} | {threads} | {m['with'] * 1e3:.2f} ms | "
                  f"{m['without'] * 1e3:.2f} ms | {m['without'] / m['with']:.2f}x |")
        for name, ours, numpy in _column_sums(threads, args.reps * 3):
            print(f"| {name} (numpy in 'without') | {threads} | {ours * 1e6:.1f} us | "
                  f"{numpy * 1e6:.1f} us | {numpy / ours:.2f}x |")
    os.sched_setaffinity(0, cpus)


if __name__ == "__main__":
    main()
