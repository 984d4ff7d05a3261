"""The LLVM CPU target against numpy (and torch / jax when installed), side by side.

    env -u OPENBLAS_CORETYPE python bench/llvm_cpu.py [--threads 1 2] [--repeat 20]

Workloads (the definitions of the project's standard benchmarks):
  W1  y = 0.5*z*(1+tanh(0.7978845608*(z+0.044715*z**3))), z = x*a + b, x (4096, 4096) f32
  W2  row softmax of a (4096, 4096) f32 matrix (the row max subtracted)
  W3  matmul, square f32, n = 1024 and 2048
  W4  MLP training step 784-512-512-10, ReLU, mean softmax cross-entropy, batch 256, SGD
  W7  dispatch: z = x + y, 16 f32 elements, per-call latency through make_callable
Medians over --repeat runs after warm-up, peers interleaved in the same process; compile
time is reported separately. Numbers are measurements on a shared machine: rerun to check.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _median_ms(fn, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def w1(tf, threads):
    n = 4096
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((n, n), dtype=np.float32)
    av, bv = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    x = tf.placeholder(tf.float32, [n, n])
    a, b = tf.constant(av), tf.constant(bv)
    z = x * a + b
    y = 0.5 * z * (1 + tf.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))
    sess = tf.Session(target="llvm", config=tf.Options(threads=threads))
    t = time.perf_counter()
    f = sess.make_callable(y, [x])
    f(xv)
    compile_s = time.perf_counter() - t

    def numpy_w1():
        zz = xv * av + bv
        return 0.5 * zz * (1 + np.tanh(0.7978845608 * (zz + 0.044715 * zz ** 3)))
    out = np.empty((n, n), np.float32)  # reused: no fresh pages to fault in each run
    return {"graphc": lambda: f(xv), "graphc out=": lambda: f(xv, out=out),
            "numpy": numpy_w1}, compile_s


def w2(tf, threads):
    n = 4096
    xv = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    x = tf.placeholder(tf.float32, [n, n])
    sess = tf.Session(target="llvm", config=tf.Options(threads=threads))
    t = time.perf_counter()
    f = sess.make_callable(tf.nn.softmax(x), [x])
    f(xv)
    compile_s = time.perf_counter() - t
    out = np.empty((n, n), np.float32)

    def numpy_w2():
        e = np.exp(xv - xv.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return {"graphc out=": lambda: f(xv, out=out), "numpy": numpy_w2}, compile_s


def w3(tf, threads, n):
    rng = np.random.default_rng(0)
    av = rng.standard_normal((n, n), dtype=np.float32)
    bv = rng.standard_normal((n, n), dtype=np.float32)
    a, b = tf.placeholder(tf.float32, [n, n]), tf.placeholder(tf.float32, [n, n])
    sess = tf.Session(target="llvm", config=tf.Options(threads=threads))
    t = time.perf_counter()
    f = sess.make_callable(tf.matmul(a, b), [a, b])
    f(av, bv)
    compile_s = time.perf_counter() - t
    out = np.empty((n, n), np.float32)
    return {"graphc": lambda: f(av, bv), "graphc out=": lambda: f(av, bv, out=out),
            "numpy": lambda: av @ bv, "numpy out=": lambda: np.matmul(av, bv, out=out)}, \
        compile_s


def w4(tf, threads):
    rng = np.random.default_rng(0)
    xv = rng.random((256, 784), dtype=np.float32)
    yv = rng.integers(0, 10, 256)
    x, y = tf.placeholder(tf.float32, [None, 784]), tf.placeholder(tf.int64, [None])
    h = x
    for i, units in enumerate([512, 512]):
        with tf.variable_scope(f"w4_l{i}"):
            w = tf.get_variable("w", [h.shape[1], units])
            b = tf.get_variable("b", [units], initializer=tf.zeros_initializer())
        h = tf.nn.relu(tf.matmul(h, w) + b)
    with tf.variable_scope("w4_out"):
        logits = tf.matmul(h, tf.get_variable("w", [512, 10]))
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    sess = tf.Session(target="llvm", config=tf.Options(threads=threads))
    sess.run(tf.global_variables_initializer())
    t = time.perf_counter()
    f = sess.make_callable(train, [x, y])
    f(xv, yv)
    compile_s = time.perf_counter() - t
    return {"graphc": lambda: f(xv, yv)}, compile_s


def w7(tf, threads):
    xv, yv = np.ones(16, np.float32), np.ones(16, np.float32)
    x, y = tf.placeholder(tf.float32, [16]), tf.placeholder(tf.float32, [16])
    sess = tf.Session(target="llvm", config=tf.Options(threads=threads))
    f = sess.make_callable(x + y, [x, y])
    f(xv, yv)
    return {"graphc": lambda: f(xv, yv), "numpy": lambda: np.add(xv, yv)}, 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", nargs="+", metavar="W", help="workloads to run (W1 W2 ...)")
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_CORETYPE"):
        print("note: OPENBLAS_CORETYPE is set, which slows numpy's matmul; unset it to compare")
    import graphc as tf
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"{'workload':<22}{'threads':>8}{'system':>13}{'median ms':>12}{'compile s':>11}")
    for threads in args.threads:
        cases = [("W1 gelu(x*a+b)", lambda: w1(tf, threads)),
                 ("W2 softmax rows", lambda: w2(tf, threads)),
                 ("W3 matmul 1024", lambda: w3(tf, threads, 1024)),
                 ("W3 matmul 2048", lambda: w3(tf, threads, 2048)),
                 ("W4 MLP train step", lambda: w4(tf, threads)),
                 ("W7 dispatch (16 f32)", lambda: w7(tf, threads))]
        for name, build in cases:
            if args.only and name.split()[0] not in args.only:
                continue
            tf.reset_default_graph()
            systems, compile_s = build()
            for system, fn in systems.items():
                ms = _median_ms(fn, args.repeat if "dispatch" not in name else 2000)
                shown = f"{ms * 1e3:.2f} us" if "dispatch" in name else f"{ms:.2f}"
                extra = f"{compile_s:.2f}" if system == "graphc" and compile_s else ""
                print(f"{name:<22}{threads:>8}{system:>13}{shown:>12}{extra:>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
