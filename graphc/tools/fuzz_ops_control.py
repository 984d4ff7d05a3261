"""The fuzzer's control-flow family: conds, bounded while loops (with conds or loops inside
their bodies, or inside a branch) and scans, built by graphc.tools.fuzz_control so each is
one Step. Values and gradients go through them like any other family's."""

from __future__ import annotations

from graphc.tools import fuzz_control as F
from graphc.tools.fuzz_ops import _float, weight
from graphc.tools.fuzz_program import Ref, Step

_OPS = sorted(F.OPS)


def _fits_into(w: tuple, x: tuple) -> bool:
    """w broadcasts into x's shape without growing it."""
    if len(w) > len(x):
        return False
    return all(a == b or a == 1 for a, b in zip(w[::-1], x[::-1]))


@weight(1.5)
def control(g):
    x = g.pick(lambda v: _float(v) and 0 < len(v.shape) <= 3 and v.bound <= 8)
    if x is None:
        return None
    w = g.pick(lambda v: v.dtype == x.dtype and v.bound <= 8 and _fits_into(v.shape, x.shape))
    if w is None:
        w = g.constant(x.dtype, x.shape[-1:])
    op = str(g.rng.choice(_OPS))
    kind = str(g.rng.choice(["branch", "loop", "loop", "scan"]))
    bound = max(x.bound, w.bound) * 2 + 2
    if kind == "branch":
        p = g.pick(lambda v: v.exact and v.dtype in ("float32", "float64", "int32", "int64"))
        if p is None:
            return None
        other = str(g.rng.choice(_OPS))
        return g.step(Step("tools.fuzz_control.branch", (Ref(p.index), Ref(x.index),
                                                         Ref(w.index), op, other)), False,
                      bound)
    if kind == "scan":
        if len(x.shape) < 2 or not _fits_into(w.shape, x.shape[1:]):
            return None
        return g.step(Step("tools.fuzz_control.scan", (Ref(x.index), Ref(w.index), op),
                           (("reverse", bool(g.rng.random() < 0.3)),)), False,
                      bound * x.shape[0])
    limit = int(g.rng.integers(0, 5))
    steps = g.feed("int32", ()) if g.rng.random() < 0.3 else None
    count = Ref(steps.index) if steps is not None else int(g.rng.integers(0, limit + 2))
    inner = str(g.rng.choice(["", "", "cond", "loop", "shift", "rows"]))
    if op in F.DRAWS and inner in ("cond", "loop"):
        # a draw in a cond or loop inside a loop body: refused by the compiled targets, and
        # not differentiable yet (the backward pass would draw it again)
        inner = ""
    nested = bool(g.rng.random() < 0.2)
    return g.step(Step("tools.fuzz_control.loop", (Ref(x.index), Ref(w.index), count, op,
                                                   limit),
                       (("inner", inner), ("nested", nested))), False, bound * (limit + 1))
