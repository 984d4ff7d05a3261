"""The fuzzer's family for the sparse ops of graphc/ops/sparse_ops.py: to_dense (as TF1's
tf.sparse_to_dense, a default value too), sparse_dense_matmul (every adjoint) and
unsorted_segment_sum (negative ids dropped, segments hit several times). Indices are
constants drawn in range, distinct and in row-major order; the values are pool values
flattened, so values and gradients flow through the scatter-adds and gathers.

sparse_matmul builds its SparseTensor and product in one call, so a program using it is
still one Step per value (a SparseTensor is not a tensor the pool could hold).
"""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.tools.fuzz_ops import INTS, _float, weight
from graphc.tools.fuzz_program import Ref, Step


def sparse_matmul(indices, values, dense_shape, b, adjoint_a=False, adjoint_b=False):
    """tf.sparse.sparse_dense_matmul(SparseTensor(indices, values, dense_shape), b)."""
    sp = tf.SparseTensor(indices, values, dense_shape)
    return tf.sparse.sparse_dense_matmul(sp, b, adjoint_a=adjoint_a, adjoint_b=adjoint_b)


@weight(2)
def sparse(g):
    kind = str(g.rng.choice(["to_dense", "matmul", "segment_sum"]))
    if kind == "to_dense":
        return _to_dense(g)
    if kind == "matmul":
        return _matmul(g)
    return _segment_sum(g)


def _flat(g, a):
    """a as a 1-D value (a itself when it is one)."""
    if len(a.shape) == 1:
        return a
    return g.step(Step("reshape", (Ref(a.index), [-1])), a.exact, a.bound)


def _positions(g, shape: tuple, n: int) -> np.ndarray:
    """[n, rank] int64: n distinct indices of `shape` in row-major order."""
    linear = np.sort(g.rng.choice(int(np.prod(shape)), size=n, replace=False))
    return np.stack(np.unravel_index(linear, shape), 1).astype(np.int64).reshape(n, len(shape))


def _to_dense(g):
    a = g.pick(lambda v: v.dtype != "bool" and 0 < int(np.prod(v.shape)) <= 40)
    if a is None:
        return None
    n = int(np.prod(a.shape))
    shape = next((s for s in (g.shape(int(g.rng.integers(1, 4))) for _ in range(6))
                  if int(np.prod(s)) >= n), (n + int(g.rng.integers(0, 3)),))
    values = _flat(g, a)
    default = int(g.rng.integers(-3, 4)) if g.rng.random() < 0.4 else 0
    return g.step(Step("sparse_to_dense", (_positions(g, shape, n), list(shape),
                                           Ref(values.index)), (("default_value", default),)),
                  a.exact, max(a.bound, abs(default)))


def _matmul(g):
    a = g.pick(lambda v: _float(v) and 0 < int(np.prod(v.shape)) <= 30)
    if a is None:
        return None
    n = int(np.prod(a.shape))
    m, k = (int(g.rng.choice(g.dims)) for _ in range(2))
    while m * k < n:
        m, k = m + 1, k + 1
    adjoint_a, adjoint_b = (bool(g.rng.random() < 0.3) for _ in range(2))
    cols = int(g.rng.choice(g.dims))
    want = (cols, k) if adjoint_b else (k, cols)
    b = g.pick(lambda v: v.dtype == a.dtype and v.shape == want, prefer_recent=False)
    if b is None:
        b = g.feed(a.dtype, want) if g.rng.random() < 0.5 else g.constant(a.dtype, want)
    shape = [k, m] if adjoint_a else [m, k]
    values = _flat(g, a)
    return g.step(Step("tools.fuzz_ops_sparse.sparse_matmul",
                       (_positions(g, tuple(shape), n), Ref(values.index), shape,
                        Ref(b.index)), (("adjoint_a", adjoint_a), ("adjoint_b", adjoint_b))),
                  False, a.bound * b.bound * k)


def _segment_sum(g):
    a = g.pick(lambda v: v.dtype != "bool" and len(v.shape) >= 1)
    if a is None:
        return None
    lead = a.shape[:int(g.rng.integers(1, len(a.shape) + 1))]
    num = int(g.rng.choice(g.dims))
    ids = g.rng.integers(-1, num, size=lead).astype(str(g.rng.choice(INTS)))
    hits = int(np.bincount(ids[ids >= 0].ravel(), minlength=1).max()) if ids.size else 0
    exact = a.exact and (a.dtype in INTS or hits <= 1)
    if a.dtype in INTS and a.bound * max(hits, 1) > 1e9:
        return None
    return g.step(Step("unsorted_segment_sum", (Ref(a.index), ids, num)), exact,
                  a.bound * max(hits, 1))
