"""ResNet-18's convolutions one at a time, as its inference graph runs them.

    python bench/resnet_layers.py [--threads 1] [--repeat 50] [--layers NAME ...] [--cold]

Each layer is a channels-last convolution of a constant filter (as in a frozen or imported
model, so its GEMM reads the filter prepacked) with a bias and ReLU in its write-back, batch
1, timed alone through `Session.make_callable`; the table gives the median, the GEMM's M x K
x N and the rate. A one-thread run pins the process to one CPU. The layers repeat their
calls back to back, so their filters stay in cache between calls, unlike in the network,
where 46 MB of them stream from memory: the network's time is more than their sum. With
--cold, each call follows a write of 64 MiB elsewhere, so filter, input and output all start
in memory: a bound on the other side (in the network the input is the last layer's output,
still in cache).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as tf

# name, input height and width, in channels, out channels, kernel, stride
LAYERS = (("7x7/2 3-64", 224, 3, 64, 7, 2), ("3x3 64-64", 56, 64, 64, 3, 1),
          ("3x3/2 64-128", 56, 64, 128, 3, 2), ("1x1/2 64-128", 56, 64, 128, 1, 2),
          ("3x3 128-128", 28, 128, 128, 3, 1), ("3x3/2 128-256", 28, 128, 256, 3, 2),
          ("3x3 256-256", 14, 256, 256, 3, 1), ("3x3/2 256-512", 14, 256, 512, 3, 2),
          ("3x3 512-512", 7, 512, 512, 3, 1))


def time_layer(size: int, cin: int, cout: int, k: int, stride: int, threads: int,
               repeat: int, cold: bool = False) -> float:
    """Median seconds of one call of the layer; with cold, each call follows a write of 64 MiB
    elsewhere, so the filter comes from memory as in the network (the write is not timed)."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [1, size, size, cin])
        w = tf.constant((rng.standard_normal((k, k, cin, cout)) * 0.1).astype(np.float32))
        bias = tf.constant(rng.standard_normal(cout).astype(np.float32))
        y = tf.nn.relu(tf.nn.conv2d(x, w, stride, "SAME") + bias)
        value = rng.standard_normal((1, size, size, cin)).astype(np.float32)
        with tf.Session(config=tf.Options(threads=threads)) as sess:
            call = sess.make_callable(y, [x])
            call(value)
            evict = np.zeros(16 << 20, np.float32) if cold else None
            times = []
            for _ in range(repeat):
                if evict is not None:
                    evict += 1.0
                start = time.perf_counter()
                call(value)
                times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--layers", nargs="*", help="only these (names as in the table)")
    parser.add_argument("--cold", action="store_true",
                        help="evict the caches before each call (filters come from memory)")
    args = parser.parse_args()
    if args.threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    print(f"command: python bench/resnet_layers.py --threads {args.threads} "
          f"--repeat {args.repeat}{' --cold' if args.cold else ''}")
    print("| layer | M x K x N | median | rate |")
    print("| --- | --- | --- | --- |")
    total = 0.0
    for name, size, cin, cout, k, stride in LAYERS:
        if args.layers and name not in args.layers:
            continue
        seconds = time_layer(size, cin, cout, k, stride, args.threads, args.repeat,
                             args.cold)
        total += seconds
        out = -(-size // stride)
        m, kk = out * out, k * k * cin
        print(f"| {name} | {m} x {kk} x {cout} | {seconds * 1e3:.2f} ms | "
              f"{2 * m * kk * cout / seconds / 1e9:.0f} GFLOP/s |")
    print(f"sum of the layers above: {total * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
