"""write_directly: assignments that write their variable's own array instead of a staging
buffer, so that no copy commits them after the run.

Expects the lowered kernels in run order, the slot table, the commits (buffers.commits) and
the fetched slots. Safe for an assignment when the run can no longer fail once its kernel
starts (no Check in it or after it), the kernel reads the old value only at the element it
writes (an elementwise update, or a GEMM epilogue whose GEMM does not read the variable),
nothing after it reads the old value, and the old value is not fetched. Only for executors
that bind each variable's own array for the run (the JIT).
"""

from __future__ import annotations

from graphc.compiler.kernels import lone_gemm, merge_buffers, same_element_pairs, written
from graphc.compiler.plan import Slot
from graphc.ir import kernel as K


def direct_commits(kernels: list, slots: list, commits: list, fetched: set) -> dict:
    """{kernel index: (staged slot, variable slot)} for the assignments safe to apply in
    place (see the module's docstring)."""
    own = {s.node: i for i, s in enumerate(slots) if s.kind == "variable"}
    writers: dict = {}
    for k, kernel in enumerate(kernels):
        for name in written(kernel):
            writers.setdefault(int(name[1:]), []).append(k)
    checks = [k for k, kernel in enumerate(kernels) if K.has_check(kernel.body)]
    out = {}
    for var, staged, _ in commits:
        slot, (k, *more) = own.get(var), writers.get(staged, [None])
        if slot is None or more or k is None or slot in fetched or \
                any(c >= k for c in checks):
            continue
        kernel = kernels[k]
        gemm = lone_gemm(kernel.body)
        if gemm is not None and (not gemm.epilogue or f"s{slot}" in gemm.buffers):
            continue
        body = gemm.epilogue if gemm is not None else kernel.body
        if (staged, slot) not in same_element_pairs(body):
            continue
        if any(f"s{slot}" in (b.name for b in later.params) for later in kernels[k + 1:]):
            continue
        out[k] = (staged, slot)
    return out


def write_directly(kernels: list, slots: list, commits: list, fetched: set):
    """(kernels, {staged slot: variable slot}): each safe assignment's kernel, and the
    kernels after it, read and write the variable's slot instead of the staged one, which
    becomes unused."""
    kernels = list(kernels)
    direct = direct_commits(kernels, slots, commits, fetched)
    for k, (staged, own) in direct.items():
        for j in range(k, len(kernels)):
            kernels[j] = merge_buffers(kernels[j], f"s{staged}", f"s{own}")
        slots[staged] = Slot("unused")
    return kernels, {staged: own for staged, own in direct.values()}
