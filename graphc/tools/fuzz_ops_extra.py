"""The fuzzer's family for the compositions of graphc/ops/extra_ops.py: cumsum and cumprod
(exclusive, reverse, any axis), gather_nd (batch_dims too), scatter_nd and
tensor_scatter_nd_add (repeated indices included), top_k (values, and indices as an exact
int output; k past 8 too, for its while-loop form) and in_top_k. Indices are drawn in
range; top_k and in_top_k read only exact values (as comparisons do, fuzz_gen), so a
rounding difference cannot reorder a row."""

from __future__ import annotations

import numpy as np

from graphc.tools.fuzz_ops import INTS, _bounded, _float, weight
from graphc.tools.fuzz_program import Ref, Step

MAX_PRODUCT_AXIS = 8  # cumprod over longer axes could overflow: bounded as reduce_prod


def _numeric(v) -> bool:
    return v.dtype != "bool"


@weight(3)
def extra(g):
    kind = str(g.rng.choice(["cumsum", "cumprod", "gather_nd", "scatter_nd",
                             "tensor_scatter_nd_add", "top_k", "in_top_k"]))
    if kind in ("cumsum", "cumprod"):
        return _scan(g, kind)
    if kind == "gather_nd":
        return _gather_nd(g)
    if kind in ("scatter_nd", "tensor_scatter_nd_add"):
        return _scatter_nd(g, kind)
    if kind == "top_k":
        return _top_k(g)
    return _in_top_k(g)


def _scan(g, kind):
    a = g.pick(lambda v: _numeric(v) and len(v.shape) >= 1)
    if a is None:
        return None
    axis = int(g.rng.integers(len(a.shape)))
    n = a.shape[axis]
    if kind == "cumprod":
        if n > MAX_PRODUCT_AXIS:
            return None
        if _float(a):
            a = _bounded(g, a, 2.0)
        bound = a.bound ** n + 1
    else:
        bound = a.bound * n
    if a.dtype in INTS and bound > 1e9:  # int32 would wrap (the same on every target)
        return None
    if g.rng.random() < 0.3:
        axis -= len(a.shape)
    return g.step(Step(kind, (Ref(a.index), axis),
                       (("exclusive", bool(g.rng.random() < 0.5)),
                        ("reverse", bool(g.rng.random() < 0.5)))),
                  a.exact and a.dtype in INTS, bound)


def _indices(g, dims: tuple, lead: tuple):
    """An int array of shape lead + (len(dims),), each component in range of its dim;
    given as a constant step or a literal."""
    idx = np.stack([g.rng.integers(0, d, size=lead) for d in dims], -1).astype(
        str(g.rng.choice(INTS)))
    if g.rng.random() < 0.5:
        return idx, Ref(g.step(Step("constant", (idx,)), True, max(dims)).index)
    return idx, idx


def _gather_nd(g):
    a = g.pick(lambda v: len(v.shape) >= 1)
    if a is None:
        return None
    rank = len(a.shape)
    batch = int(g.rng.random() < 0.3 and rank >= 2)
    q = int(g.rng.integers(1, rank - batch + 1))
    lead = g.shape(int(g.rng.integers(0, 3)))
    if batch:
        lead = a.shape[:1] + lead
        idx = np.stack([g.rng.integers(0, d, size=lead) for d in a.shape[1:1 + q]], -1)
        idx = idx.astype("int32")
        ref = idx
    else:
        idx, ref = _indices(g, a.shape[:q], lead)
    return g.step(Step("gather_nd", (Ref(a.index), ref), (("batch_dims", batch),)),
                  a.exact, a.bound)


def _scatter_nd(g, kind):
    """Updates from the pool (their leading axes index, the rest are slices) into a target
    of 1 or 2 new leading axes; indices repeat often at these sizes, and repeats sum."""
    a = g.pick(lambda v: _numeric(v) and len(v.shape) >= 1)
    if a is None:
        return None
    split = int(g.rng.integers(1, len(a.shape) + 1))
    lead, rest = a.shape[:split], a.shape[split:]
    head = tuple(int(d) for d in g.rng.choice(g.dims, size=int(g.rng.integers(1, 3))))
    idx, ref = _indices(g, head, lead)
    linear = np.ravel_multi_index(tuple(np.moveaxis(idx, -1, 0)), head).reshape(-1)
    repeats = int(np.bincount(linear).max()) if linear.size else 1
    exact = a.exact and (a.dtype in INTS or repeats == 1)
    shape = list(head + rest)
    if kind == "scatter_nd":
        return g.step(Step("scatter_nd", (ref, Ref(a.index), shape)), exact,
                      a.bound * repeats)
    base = g.pick(lambda v: v.dtype == a.dtype and v.shape == tuple(shape))
    base = base or g.constant(a.dtype, tuple(shape))
    return g.step(Step("tensor_scatter_nd_add", (Ref(base.index), ref, Ref(a.index))),
                  exact and base.exact, base.bound + a.bound * repeats)


def _top_k(g):
    """top_k of an exact value; a third of the time of a new feed with rows of 9 to 20, with
    k past UNROLLED_K (8), so that the while-loop form is drawn too."""
    if g.rng.random() < 0.3:
        n = int(g.rng.integers(9, 21))
        a = g.feed(str(g.rng.choice([g.float, "int32"])), g.shape(int(g.rng.integers(0, 2)))
                   + (n,))
        k = int(g.rng.integers(9, n + 1))
    else:
        a = g.pick(lambda v: v.exact and _numeric(v) and len(v.shape) >= 1
                   and v.shape[-1] >= 1)
        if a is None:
            return None
        k = int(g.rng.integers(1, min(a.shape[-1], 8) + 1))
    args = ((Ref(a.index),), (("k", k),))
    values = g.step(Step("nn.top_k", *args, pick=0), True, a.bound)
    g.step(Step("nn.top_k", *args, pick=1), True, a.shape[-1])
    return values


def _in_top_k(g):
    a = g.pick(lambda v: v.exact and _float(v) and len(v.shape) == 2 and v.shape[1] >= 1)
    if a is None:
        return None
    batch, n = a.shape
    targets = g.rng.integers(-1 if g.rng.random() < 0.2 else 0, n + 1 if g.rng.random() < 0.2
                             else n, size=batch).astype(str(g.rng.choice(INTS)))
    k = int(g.rng.integers(1, n + 1))
    return g.step(Step("nn.in_top_k", (Ref(a.index), targets, k)), True, 1)
