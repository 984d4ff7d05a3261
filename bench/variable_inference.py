"""Inference over weights held in variables: packed ahead once, or packed by every call.

    python bench/variable_inference.py [--threads 1] [--repeat 200] [--torch]

A four-layer ReLU MLP (1024 -> 1024 four times, float32) at batch 1, 8 and 64, its weights
in `tf.Variable`s as a TF1 program restored from a checkpoint has them, timed through
`Session.make_callable` (medians; a one-thread run pins the process to one CPU):

- `variables`: the inference plan alone, run after run (its GEMMs read the weights packed
  ahead, codegen_llvm/prepack.py);
- `constants`: the same weights as constants of the graph (packed when the plan is built);
- `changed each time`: each inference follows a run that assigns every weight (a model
  stepped between inferences), the inference alone timed: after three such runs the
  variables are no longer packed ahead, and the GEMMs pack them as they go;
- with --torch, torch's `x @ w` chain with ReLUs on the same weights (eager, no grad).

Run it against an older checkout with PYTHONPATH pointing there to see what packing ahead
changed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as tf

WIDTH, LAYERS = 1024, 4


def _median(call, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_graphc(batch: int, weights: list, threads: int, repeat: int, how: str) -> float:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [batch, WIDTH])
        held = [tf.constant(w) if how == "constants" else tf.Variable(w) for w in weights]
        h = x
        for w in held:
            h = tf.nn.relu(tf.matmul(h, w))
        step = None
        if how == "changed each time":
            step = tf.group(*[w.assign_add(tf.fill([WIDTH, WIDTH], 1e-7)) for w in held])
        value = np.random.default_rng(1).standard_normal((batch, WIDTH)).astype(np.float32)
        with tf.Session(config=tf.Options(threads=threads)) as sess:
            sess.run(tf.global_variables_initializer())
            call = sess.make_callable(h, [x])
            update = sess.make_callable(step) if step is not None else None
            for _ in range(5):  # compiled, packed, and past the switch for changing weights
                if update is not None:
                    update()
                call(value)
            return _median(lambda: call(value), repeat, update)


def time_torch(batch: int, weights: list, threads: int, repeat: int) -> float:
    import torch
    torch.set_num_threads(threads)
    ws = [torch.from_numpy(w) for w in weights]
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((batch, WIDTH))
                         .astype(np.float32))

    def call():
        with torch.no_grad():
            h = x
            for w in ws:
                h = torch.relu(h @ w)
            return h
    call()
    return _median(call, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--torch", action="store_true", help="also time torch eager")
    args = parser.parse_args()
    if args.threads == 1:
        from graphc.bench.harness import Placement
        Placement().pin(1)
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((WIDTH, WIDTH)) / 32).astype(np.float32)
               for _ in range(LAYERS)]
    kinds = ["variables", "constants", "changed each time"]
    print(f"{LAYERS} layers of {WIDTH} x {WIDTH}, {args.threads} thread(s), medians of "
          f"{args.repeat}")
    print("| batch | " + " | ".join(kinds) + (" | torch eager |" if args.torch else " |"))
    print("| --- " * (len(kinds) + 1 + args.torch) + "|")
    for batch in (1, 8, 64):
        row = [time_graphc(batch, weights, args.threads, args.repeat, how) for how in kinds]
        if args.torch:
            row.append(time_torch(batch, weights, args.threads, args.repeat))
        print(f"| {batch} | " + " | ".join(f"{t * 1e6:.0f} us" for t in row) + " |")


if __name__ == "__main__":
    main()
