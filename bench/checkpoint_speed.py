"""Checkpoint speed: save and restore of a model of --mb megabytes (float32 variables of
4 MB each), medians of --repeat runs, in GB/s; the machine's limits printed first.

    python bench/checkpoint_speed.py [--mb 100] [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    import graphc as tf
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dir", default=None, help="where to write (default: a temporary dir)")
    args = p.parse_args()
    subprocess.run([sys.executable, "-m", "graphc", "bench", "machine"], check=False)
    n = args.mb // 4
    rng = np.random.default_rng(0)
    for i in range(n):
        tf.Variable(rng.standard_normal(1 << 20).astype(np.float32), name=f"layer_{i}/w")
    saver = tf.train.Saver(max_to_keep=1)
    directory = args.dir or tempfile.mkdtemp()
    saves, restores = [], []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(args.repeat):
            start = time.perf_counter()
            prefix = saver.save(sess, os.path.join(directory, "m"), write_meta_graph=False)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            saver.restore(sess, prefix)
            restores.append(time.perf_counter() - start)
    gb = n * 4 * 2**20 / 1e9
    print(f"checkpoint of {n * 4} MB ({n} variables), median of {args.repeat}: "
          f"save {gb / statistics.median(saves):.2f} GB/s "
          f"({statistics.median(saves) * 1e3:.0f} ms), "
          f"restore {gb / statistics.median(restores):.2f} GB/s "
          f"({statistics.median(restores) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
