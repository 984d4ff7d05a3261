"""Per-step time of tf.keras fit on the W4 MLP (784-512-512-10, batch 256, SGD 0.01) against
the raw Session.run of the same training step (same graph, same fetches and feeds).

    .venv/bin/python bench/keras_fit.py [--steps 40] [--repeats 5]

fit pays for its batching (numpy slices; a gather per batch with shuffle=True), the
callbacks and the per-epoch averages; the raw loop feeds contiguous slices.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as tf
from graphc import keras
from graphc.bench.workloads import mlp_arrays

LAYERS = (784, 512, 512, 10)
BATCH = 256


def build(arrays):
    L = keras.layers
    model = keras.Sequential([L.Dense(512, activation="relu", input_shape=(784,)),
                              L.Dense(512, activation="relu"), L.Dense(10)])
    model.compile(keras.optimizers.SGD(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.set_weights([arrays[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")])
    return model


def time_fit(model, x, y, steps, shuffle) -> float:
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=shuffle, verbose=0)
    return (time.perf_counter() - start) / steps


def time_raw(model, x, y, steps) -> float:
    fetches, feeds = model._train_step
    sess = keras.backend.get_session()
    start = time.perf_counter()
    for s in range(0, steps * BATCH, BATCH):
        values = [x[s:s + BATCH], y[s:s + BATCH]] + [np.array(True)] * (len(feeds) - 2)
        sess.run(fetches, dict(zip(feeds, values)))
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    arrays = mlp_arrays(BATCH * args.steps, LAYERS)
    x, y = arrays["x"], arrays["labels"].astype(np.float32)
    tf.reset_default_graph()
    model = build(arrays)
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # compile the step
    time_raw(model, x, y, 2)
    results = {"fit (shuffle=False)": [], "fit (shuffle=True)": [], "raw Session.run": []}
    for _ in range(args.repeats):  # interleaved, best of each
        results["raw Session.run"].append(time_raw(model, x, y, args.steps))
        results["fit (shuffle=False)"].append(time_fit(model, x, y, args.steps, False))
        results["fit (shuffle=True)"].append(time_fit(model, x, y, args.steps, True))
    raw = min(results["raw Session.run"])
    print(f"W4 MLP {'-'.join(map(str, LAYERS))}, batch {BATCH}, SGD 0.01, "
          f"{args.steps} steps per run, best of {args.repeats}")
    for name, times in results.items():
        best = min(times)
        print(f"  {name:22s} {best * 1e3:8.3f} ms/step   {best / raw - 1:+6.1%} vs raw")


if __name__ == "__main__":
    main()
