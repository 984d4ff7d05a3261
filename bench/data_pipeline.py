"""The W4 MLP training step fed by tf.data against the same step fed the same batches.

    .venv/bin/python bench/data_pipeline.py [--steps 60] [--rows 10240] [--size full]

Three sessions run the W4 step (graphc/bench/workloads.py: 784-512-512-10 MLP, SGD, batch
256) on the same data:
  dataset        x, labels from Dataset.from_tensor_slices((x, y)).shuffle(10000)
                 .batch(256, drop_remainder=True).repeat().prefetch(1) (drop_remainder
                 gives the static batch dimension W4's placeholders have, so the three
                 sessions compile the same plan)
  feed_dict      sess.run([train, loss], feed_dict={x: bx, labels: by})
  make_callable  the same through sess.make_callable([train, loss], [x, labels])
and two rows that say where the dataset's extra time goes:
  dataset, no prefetch   the pipeline without prefetch(1) (batches made on the main thread)
  feed_dict, hosted run  feed_dict in a graph that also has a host-fed placeholder, so each
                         run takes Session's host path (graphc/runtime/host.py run_hosted)
                         as a dataset's runs do, instead of make_callable's bound plan
with the batches the dataset produces (collected beforehand, same seeds). Each figure is
the median of --steps steps after warm-up, in ms (the variants take turns step by
step); the ratio is against feed_dict.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def _host_fed_placeholder(tf) -> None:
    """A placeholder the session would fill itself (unused by the step): the graph then has
    host work, and its runs take the path a dataset's runs take."""
    from graphc.runtime.host import HostFeed, register_host_feed

    class Unused(HostFeed):
        tensors = (tf.placeholder(tf.float32, [], name="unused"),)
    register_host_feed(tf.get_default_graph(), Unused())


def _make_step(tf, kind: str, dataset, batches: list, arrays: dict, batch: int, layers,
               lr: float):
    """A function running one training step of the variant `kind`, in a session of its
    own (see the module docstring)."""
    from graphc.bench.workloads import mlp_step
    graph = tf.Graph()
    with graph.as_default():
        if kind.startswith("dataset"):
            iterator = dataset(kind == "dataset").make_one_shot_iterator()
            step = mlp_step(tf, *iterator.get_next(), arrays, lr)
        else:
            xp = tf.placeholder(tf.float32, [batch, layers[0]], name="x")
            lp = tf.placeholder(tf.int64, [batch], name="labels")
            step = mlp_step(tf, xp, lp, arrays, lr)
            if kind.endswith("hosted run"):
                _host_fed_placeholder(tf)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph)
    sess.run(init)
    if kind.startswith("dataset"):
        return lambda: sess.run(step)
    feed = iter(batches * 2)
    if kind == "make_callable":
        call = sess.make_callable(step, [xp, lp])
        return lambda: call(*next(feed))
    return lambda: sess.run(step, dict(zip((xp, lp), next(feed))))


def timed(steps: dict, warmup: int, count: int) -> dict:
    """Median ms per step of each variant. The variants take turns, one step each, so a
    machine that gets busier or quieter meanwhile affects them alike."""
    times: dict = {kind: [] for kind in steps}
    for n in range(warmup + count):
        for kind, step in steps.items():
            start = time.perf_counter()
            step()
            if n >= warmup:
                times[kind].append(time.perf_counter() - start)
    return {kind: statistics.median(t) * 1e3 for kind, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10240)
    parser.add_argument("--size", choices=["full", "small"], default="full")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import graphc as tf
    from graphc.bench.workloads import mlp_arrays, w4_cases
    from graphc.data import Dataset

    params = w4_cases(args.size)[0].params
    batch, layers, lr = params["batch"], params["layers"], params["lr"]
    arrays = mlp_arrays(batch, layers)
    rng = np.random.default_rng(1)
    x = rng.random((args.rows, layers[0]), dtype=np.float32)
    y = rng.integers(0, layers[-1], args.rows).astype(np.int64)

    def dataset(prefetch=True):
        ds = (Dataset.from_tensor_slices((x, y)).shuffle(10000, seed=1)
              .batch(batch, drop_remainder=True).repeat())
        return ds.prefetch(1) if prefetch else ds
    total = args.warmup + args.steps
    batches = [b for _, b in zip(range(total), dataset().as_numpy_iterator())]
    steps = {kind: _make_step(tf, kind, dataset, batches, arrays, batch, layers, lr)
             for kind in ("dataset", "feed_dict", "make_callable", "dataset, no prefetch",
                          "feed_dict, hosted run")}
    results = timed(steps, args.warmup, args.steps)
    print("command: " + " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"W4 MLP {'-'.join(map(str, layers))} train step, batch {batch}, {args.rows} rows, "
          f"median of {args.steps} steps (ms); ratio to feed_dict")
    base = results["feed_dict"]
    for kind, ms in results.items():
        print(f"  {kind:<22} {ms:8.3f} ms   {ms / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
