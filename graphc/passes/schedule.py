"""L2 schedules, steered by a target's capability record.

parallelize: marks a kernel's top-level loops "parallel" when they carry enough work for the
target's threads and their iterations are independent: no Check (a failure must stop the
kernel in order), no Intrinsic, and no buffer both loaded and stored in the loop (a
scatter-add's read-modify-write). Expects loops starting at 0, as lowering makes them.
Vectorization of innermost loops is left to the backend (LLVM's loop vectorizer widens
counted loops with remainders); unrolling likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from graphc.ir import kernel as K


@dataclass(frozen=True)
class Caps:
    """What a target offers the schedules."""
    threads: int = 1
    min_parallel_work: int = 1 << 15  # loop-nest iterations below which threads cost more


def parallelize(kernel: K.Kernel, caps: Caps) -> K.Kernel:
    if caps.threads <= 1:
        return kernel
    body = tuple(replace(s, kind="parallel") if _worth_it(s, caps) else s for s in kernel.body)
    return replace(kernel, body=body) if body != kernel.body else kernel


def _worth_it(s, caps: Caps) -> bool:
    if not isinstance(s, K.Loop) or s.kind != "serial" or s.start != K.Const(0):
        return False
    if not isinstance(s.stop, K.Const) or s.stop.value < 2 or _work(s) < caps.min_parallel_work:
        return False
    loads, stores = set(), set()
    if not _independent(s.body, loads, stores):
        return False
    return not loads & stores


def _work(s) -> int:
    """Iterations of the loop nest (constant trip counts; unknown ones count as 1)."""
    inner = max((_work(c) for c in s.body if isinstance(c, K.Loop)), default=1)
    trips = s.stop.value - s.start.value if isinstance(s.stop, K.Const) and \
        isinstance(s.start, K.Const) else 1
    return trips * inner


def _independent(stmts, loads: set, stores: set) -> bool:
    for s in stmts:
        if isinstance(s, (K.Check, K.Intrinsic, K.Barrier)):
            return False
        if isinstance(s, K.Store):
            stores.add(s.buffer)
        if isinstance(s, K.Loop) and not _independent(s.body, loads, stores):
            return False
        for e in K.stmt_exprs(s):
            _collect_loads(e, loads)
    return True


def _collect_loads(e, loads: set) -> None:
    if isinstance(e, K.Load):
        loads.add(e.buffer)
    for c in K.expr_children(e):
        _collect_loads(c, loads)
