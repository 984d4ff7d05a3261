"""The standard workloads W1..W9: what each computes, on which data, and how much work it is.

Each definition builds the graphc graph and the numpy twin from the same arrays (seeded, so
every run and every system sees identical data), and states its exact work: flops for
compute-bound workloads, bytes for memory-bound ones (the bytes a perfect kernel must move,
not what any implementation happens to move). Keep the definitions fixed: numbers are only
comparable across commits and projects while they are.

  W1  y = 0.5*z*(1+tanh(0.7978845608*(z+0.044715*z**3))), z = x*a + b; x (4096, 4096) f32,
      a and b (4096,) f32 constants broadcast along rows. Bytes: one read of x, one write of y.
  W2  row softmax of x (4096, 4096) f32, the row max subtracted. Bytes: one read, one write.
  W3  C = A @ B, square f32, n = 256, 1024, 2048. Flops: 2 n^3.
  W4  MLP training step: 784-512-512-10 dense layers with biases, ReLU, mean sparse softmax
      cross-entropy, batch 256, SGD lr 0.01 (forward, backward, update). Flops: the matmuls
      only (forward, weight gradients, and input gradients of layers 2 and 3).
  W5  CNN training step: the deep-MNIST CNN (two 5x5 convolutions with max pools, two dense
      layers), batch 64 of 28x28x1, SGD lr 0.01 (bench/cnn.py defines it and its flops).
  W6  Transformer encoder layer forward: batch 8, 128 positions, d_model 256, 4 heads, FFN
      1024 with ReLU, post-LN, built with tf.keras.layers.MultiHeadAttention
      (bench/transformer.py).
  W7  dispatch: z = x + y of 16 f32, per-call latency.
  W8  ResNet-18 inference, batch 1, 224x224x3 NHWC, BN with random running statistics
      (bench/cnn.py).
  W9  char-LSTM language-model training step: embedding 64, tf.nn.dynamic_rnn over a
      BasicLSTMCell of 256, dense to 96 logits, mean cross-entropy over 64 steps, batch 32,
      Adam lr 0.001 (bench/rnn.py).

`size="small"` shrinks every workload (same computation, tiny arrays) for smoke tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

SIZES = ("full", "small")


@dataclass
class Case:
    """One measurable problem: a graph for graphc, its data, and its work."""
    workload: str  # "W1".."W8", "matmul", "op", "script"
    label: str  # e.g. "W3 matmul n=1024"
    arrays: dict  # every array the systems use (feeds, constants, initial weights) by name
    feeds: list  # names in `arrays` fed to graphc, in the order build() returns placeholders
    build: Callable  # build(tf) -> (fetches, placeholders), called inside a fresh graph
    numpy: Optional[Callable] = None  # numpy(arrays) -> fn() computing with fresh outputs
    numpy_out: Optional[Callable] = None  # numpy_out(arrays, out) -> fn() writing into out
    flops: Optional[float] = None
    bytes: Optional[float] = None
    latency: bool = False  # report microseconds per call
    stateful: bool = False  # a training step: updates weights, no out= variant
    setup: Optional[Callable] = None  # setup(session) once the variables are initialized
    # (a Keras model's weights loaded from `arrays`)
    params: dict = field(default_factory=dict)  # what peer adapters need (n, op name, ...)

    @property
    def feed_values(self) -> list:
        return [self.arrays[name] for name in self.feeds]


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    cases: Optional[Callable[[str], list]] = None  # size -> [Case]; None: not available
    missing: str = ""  # why it is not available

    @property
    def available(self) -> bool:
        return self.cases is not None


def _rng():
    return np.random.default_rng(0)


# --- W1 ---------------------------------------------------------------------------------------
def gelu_tanh_numpy(arrays: dict) -> Callable:
    """The fastest plain numpy formulation: z**3 as z*z*z (numpy's float power is a pow
    call per element, 20x slower), and two temporaries updated in place."""
    x = arrays["x"]

    def run():
        return _gelu_tanh_into(arrays, np.empty_like(x))
    return run


def gelu_tanh_numpy_out(arrays: dict, out: np.ndarray) -> Callable:
    return lambda: _gelu_tanh_into(arrays, out)


def _gelu_tanh_into(arrays: dict, t: np.ndarray) -> np.ndarray:
    """0.5 z (1 + tanh(0.7978845608 (z + 0.044715 z^3))), z = x a + b, computed into t."""
    z = np.multiply(arrays["x"], arrays["a"])
    z += arrays["b"]
    np.multiply(z, z, out=t)
    t *= z
    t *= 0.044715
    t += z
    t *= 0.7978845608
    np.tanh(t, out=t)
    t += 1
    t *= z
    t *= 0.5
    return t


def w1_cases(size: str) -> list:
    n = 4096 if size == "full" else 64
    rng = _rng()
    arrays = {"x": rng.standard_normal((n, n), dtype=np.float32),
              "a": rng.standard_normal(n, dtype=np.float32),
              "b": rng.standard_normal(n, dtype=np.float32)}

    def build(tf):
        x = tf.placeholder(tf.float32, [n, n], name="x")
        z = x * tf.constant(arrays["a"]) + tf.constant(arrays["b"])
        return 0.5 * z * (1 + tf.tanh(0.7978845608 * (z + 0.044715 * z ** 3))), [x]
    return [Case("W1", f"W1 gelu_tanh(x*a+b) {n}x{n}", arrays, ["x"], build,
                 numpy=gelu_tanh_numpy, numpy_out=gelu_tanh_numpy_out, bytes=2.0 * n * n * 4,
                 params={"n": n})]


# --- W2 ---------------------------------------------------------------------------------------
def softmax_rows_numpy(arrays: dict) -> Callable:
    x = arrays["x"]

    def run():  # one fresh array, updated in place
        e = np.subtract(x, x.max(axis=1, keepdims=True))
        np.exp(e, out=e)
        e /= e.sum(axis=1, keepdims=True)
        return e
    return run


def softmax_rows_numpy_out(arrays: dict, out: np.ndarray) -> Callable:
    x = arrays["x"]

    def run():
        np.subtract(x, x.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        np.divide(out, out.sum(axis=1, keepdims=True), out=out)
        return out
    return run


def w2_cases(size: str) -> list:
    n = 4096 if size == "full" else 64
    arrays = {"x": _rng().standard_normal((n, n), dtype=np.float32)}

    def build(tf):
        x = tf.placeholder(tf.float32, [n, n], name="x")
        return tf.nn.softmax(x), [x]
    return [Case("W2", f"W2 softmax rows {n}x{n}", arrays, ["x"], build,
                 numpy=softmax_rows_numpy, numpy_out=softmax_rows_numpy_out,
                 bytes=2.0 * n * n * 4, params={"n": n})]


# --- W3 and ad hoc matmuls --------------------------------------------------------------------
def matmul_case(m: int, n: int, k: int, dtype: str = "float32", workload: str = "matmul",
                label: str = "") -> Case:
    """C (m, n) = A (m, k) @ B (k, n); 2 m n k flops."""
    rng = _rng()
    arrays = {"a": rng.standard_normal((m, k)).astype(dtype),
              "b": rng.standard_normal((k, n)).astype(dtype)}

    def build(tf):
        a = tf.placeholder(tf.as_dtype(dtype), [m, k], name="a")
        b = tf.placeholder(tf.as_dtype(dtype), [k, n], name="b")
        return tf.matmul(a, b), [a, b]

    def numpy(arr):
        return lambda: arr["a"] @ arr["b"]

    def numpy_out(arr, out):
        return lambda: np.matmul(arr["a"], arr["b"], out=out)
    return Case(workload, label or f"matmul {m}x{n}x{k} {dtype}", arrays, ["a", "b"], build,
                numpy=numpy, numpy_out=numpy_out, flops=2.0 * m * n * k,
                params={"m": m, "n": n, "k": k, "dtype": dtype})


def w3_cases(size: str) -> list:
    sizes = (256, 1024, 2048) if size == "full" else (16, 32)
    return [matmul_case(n, n, n, workload="W3", label=f"W3 matmul n={n}") for n in sizes]


# --- W4 ---------------------------------------------------------------------------------------
def mlp_arrays(batch: int, layers: tuple) -> dict:
    """Inputs, labels and Glorot-uniform initial weights (zero biases) of the W4 MLP."""
    rng = _rng()
    arrays = {"x": rng.random((batch, layers[0]), dtype=np.float32),
              "labels": rng.integers(0, layers[-1], batch).astype(np.int64)}
    for i, (fan_in, fan_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        arrays[f"w{i}"] = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
        arrays[f"b{i}"] = np.zeros(fan_out, np.float32)
    return arrays


def mlp_step_numpy(arrays: dict, lr: float = 0.01) -> Callable:
    """One SGD step of the W4 MLP by hand (own copies of the weights, updated in place)."""
    x, labels = arrays["x"], arrays["labels"]
    params = [(arrays[f"w{i}"].copy(), arrays[f"b{i}"].copy()) for i in (1, 2, 3)]
    rows = np.arange(len(labels))

    def run():
        acts = [x]
        for i, (w, b) in enumerate(params):
            h = acts[-1] @ w + b
            acts.append(np.maximum(h, 0) if i < 2 else h)
        logits = acts.pop()
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, labels]).mean()
        g = p
        g[rows, labels] -= 1
        g /= len(labels)  # d loss / d logits
        for i in (2, 1, 0):
            w, b = params[i]
            gw, gb = acts[i].T @ g, g.sum(axis=0)
            if i > 0:
                g = (g @ w.T) * (acts[i] > 0)
            w -= lr * gw
            b -= lr * gb
        return loss
    return run


def mlp_step(tf, x, labels, arrays: dict, lr: float) -> list:
    """[train op, loss] of the W4 MLP on inputs `x`, `labels` (weights from `arrays`)."""
    h = x
    for i in (1, 2, 3):
        h = tf.matmul(h, tf.Variable(arrays[f"w{i}"], name=f"w{i}")) \
            + tf.Variable(arrays[f"b{i}"], name=f"b{i}")
        h = tf.nn.relu(h) if i < 3 else h
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=h))
    return [tf.train.GradientDescentOptimizer(lr).minimize(loss), loss]


def w4_cases(size: str) -> list:
    batch, layers = (256, (784, 512, 512, 10)) if size == "full" else (8, (32, 16, 16, 10))
    lr = 0.01
    arrays = mlp_arrays(batch, layers)

    def build(tf):
        x = tf.placeholder(tf.float32, [batch, layers[0]], name="x")
        labels = tf.placeholder(tf.int64, [batch], name="labels")
        return mlp_step(tf, x, labels, arrays, lr), [x, labels]
    pairs = sum(i * o for i, o in zip(layers[:-1], layers[1:]))
    flops = 2.0 * batch * (2 * pairs + pairs - layers[0] * layers[1])
    name = "-".join(map(str, layers))
    return [Case("W4", f"W4 MLP {name} train step b={batch}", arrays, ["x", "labels"], build,
                 numpy=lambda arr: mlp_step_numpy(arr, lr), flops=flops, stateful=True,
                 params={"batch": batch, "layers": layers, "lr": lr})]


# --- W7 ---------------------------------------------------------------------------------------
def w7_cases(size: str) -> list:
    arrays = {"x": np.ones(16, np.float32), "y": np.ones(16, np.float32)}

    def build(tf):
        x = tf.placeholder(tf.float32, [16], name="x")
        y = tf.placeholder(tf.float32, [16], name="y")
        return x + y, [x, y]
    return [Case("W7", "W7 dispatch x+y (16 f32)", arrays, ["x", "y"], build,
                 numpy=lambda arr: lambda: np.add(arr["x"], arr["y"]),
                 numpy_out=lambda arr, out: lambda: np.add(arr["x"], arr["y"], out=out),
                 latency=True)]


# --- W5, W8 (graphc/bench/cnn.py) -----------------------------------------------------------
def w5_cases(size: str) -> list:
    from graphc.bench import cnn
    lr = 0.01
    arrays = cnn.cnn_arrays(64, 28) if size == "full" else \
        cnn.cnn_arrays(4, 8, channels=(4, 8), hidden=16)
    batch, side = arrays["x"].shape[:2]
    return [Case("W5", f"W5 CNN train step b={batch} {side}x{side}", arrays, ["x", "labels"],
                 lambda tf: cnn.cnn_step_graphc(tf, arrays, lr), flops=cnn.cnn_flops(arrays),
                 stateful=True, params={"lr": lr})]


def w8_cases(size: str) -> list:
    from graphc.bench import cnn
    arrays = cnn.resnet_arrays() if size == "full" else \
        cnn.resnet_arrays(32, widths=(8, 16, 32, 64), classes=10)
    side = arrays["x"].shape[1]
    return [Case("W8", f"W8 ResNet-18 inference b=1 {side}x{side}", arrays, ["x"],
                 lambda tf: cnn.resnet_graphc(tf, arrays), flops=cnn.resnet_flops(arrays))]


def w6_cases(size: str) -> list:
    from graphc.bench import transformer as tr
    arrays = tr.transformer_arrays() if size == "full" else \
        tr.transformer_arrays(batch=2, seq=8, d_model=16, heads=2, d_ff=32)
    batch, seq, d_model = arrays["x"].shape
    built: dict = {}
    return [Case("W6", f"W6 transformer encoder layer b={batch} T={seq} d={d_model}", arrays,
                 ["x"], lambda tf: tr.transformer_graphc(tf, arrays, built),
                 numpy=tr.transformer_numpy, flops=tr.transformer_flops(arrays),
                 setup=lambda sess: tr.load_graphc_weights(sess, arrays, built["block"]))]


def w9_cases(size: str) -> list:
    from graphc.bench import rnn
    lr = 0.001
    arrays = rnn.lstm_arrays() if size == "full" else \
        rnn.lstm_arrays(batch=4, steps=6, vocab=11, embed=5, units=7)
    batch, steps = arrays["ids"].shape
    units = arrays["w_out"].shape[0]
    return [Case("W9", f"W9 char-LSTM train step b={batch} T={steps} h={units}", arrays,
                 ["ids", "labels"], lambda tf: rnn.lstm_step_graphc(tf, arrays, lr),
                 flops=rnn.lstm_flops(arrays), stateful=True, params={"lr": lr})]


WORKLOADS = {w.name: w for w in [
    Workload("W1", "fused elementwise gelu_tanh(x*a+b), x (4096, 4096) f32", w1_cases),
    Workload("W2", "row softmax, (4096, 4096) f32", w2_cases),
    Workload("W3", "square f32 matmul, n = 256, 1024, 2048", w3_cases),
    Workload("W4", "MLP 784-512-512-10 training step, batch 256, SGD", w4_cases),
    Workload("W5", "CNN training step, batch 64 of 28x28x1, SGD", w5_cases),
    Workload("W6", "transformer encoder layer forward, batch 8, seq 128, d_model 256",
             w6_cases),
    Workload("W7", "dispatch latency, x + y of 16 f32", w7_cases),
    Workload("W8", "ResNet-18 inference, 224x224x3, batch 1", w8_cases),
    Workload("W9", "char-LSTM training step, batch 32, 64 steps, LSTM 256, Adam", w9_cases),
]}
