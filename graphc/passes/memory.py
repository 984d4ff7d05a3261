"""plan_memory: arena offsets for a plan's buffers from their lifetimes, reusing memory.

Expects the kernels in run order, each as the arena buffers it writes and reads, the byte size
of every buffer, the buffers that must outlive the run (fetched values, staged variable values:
read after the last kernel) and, per kernel, the buffers it may overwrite in place (an
elementwise kernel may write its output over an input of the same size that is read for the
last time there; a gemm's epilogue may write its output over the C the gemm wrote).
Guarantees offsets, aligned to ALIGN, such that two buffers whose lifetimes overlap never
overlap in memory, except an in-place output and the input it replaces. A
buffer lives from the kernel that writes it first to the last kernel that reads it; written
and never read, it lives through its own kernel. Placement is first fit over the free
regions, in run order. Parts (a buffer computed into its place in another, a view of a
range of another: compiler/views.py) are placed with the buffer they lie in, which lives
from the first write of any of them to the last use of any; a part is never written over
an input in place, nor does an output take a part's place. Consumed by the LLVM plan
builder (arena offsets) and by `explain` (the summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 64


@dataclass
class MemoryPlan:
    offsets: dict  # buffer -> byte offset in the arena
    arena_bytes: int  # the peak: the arena's size
    naive_bytes: int  # the arena's size with one region per buffer
    reused: int = 0  # buffers placed in memory freed by earlier ones
    in_place: dict = field(default_factory=dict)  # kernel index -> (output, input replaced)
    parts: int = 0  # buffers placed as parts of others (compiler/views.py)

    def summary(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "naive_bytes": self.naive_bytes,
                "reused": self.reused, "in_place": len(self.in_place), "parts": self.parts}


def _aligned(nbytes: int) -> int:
    return -(-max(nbytes, 1) // ALIGN) * ALIGN


def plan_memory(kernels, sizes: dict, live_out, in_place_ok=None,
                live_until=None, parts=None) -> MemoryPlan:
    """kernels: [(writes, reads)] in run order; sizes: buffer -> bytes; live_out: buffers
    read after the run; in_place_ok: kernel index -> [(output, input)] candidate pairs;
    live_until: buffer -> a kernel index it lives to at least (a loop's last kernel);
    parts: buffer -> (the buffer it lies in, byte offset there)."""
    parts = parts or {}
    if parts:
        return _with_parts(kernels, sizes, live_out, in_place_ok or {}, live_until or {},
                           parts)
    last_use = {}
    for k, (writes, reads) in enumerate(kernels):
        for b in (*writes, *reads):
            last_use[b] = k
    for b, k in (live_until or {}).items():
        last_use[b] = max(last_use.get(b, k), k)
    for b in live_out:
        last_use[b] = len(kernels)
    plan = MemoryPlan({}, 0, sum(_aligned(sizes[b]) for b in sizes))
    free: list = []  # (offset, size) regions, sorted by offset
    for k, (writes, reads) in enumerate(kernels):
        pairs = (in_place_ok or {}).get(k, ())
        for _, inp in pairs:  # written by the kernel before it is replaced (a gemm's C)
            if inp in writes and inp not in plan.offsets:
                plan.offsets[inp] = _take(free, _aligned(sizes[inp]), plan)
        taken = _in_place(k, pairs, last_use, sizes, plan)
        for b in writes:
            if b not in plan.offsets and b not in taken:
                plan.offsets[b] = _take(free, _aligned(sizes[b]), plan)
        for b in set(writes) | set(reads):
            if last_use.get(b) == k and b in plan.offsets and b not in taken.values():
                _give_back(free, plan.offsets[b], _aligned(sizes[b]))
    for b in sizes:  # never written by a kernel: a region of its own past the rest
        if b not in plan.offsets:
            plan.offsets[b] = plan.arena_bytes
            plan.arena_bytes += _aligned(sizes[b])
    return plan


def root_of(b, parts: dict) -> tuple:
    """(the buffer that holds part b, not itself a part; b's byte offset in it)."""
    offset = 0
    while b in parts:
        b, at = parts[b]
        offset += at
    return b, offset


def _with_parts(kernels, sizes, live_out, in_place_ok, live_until, parts) -> MemoryPlan:
    """plan_memory of the buffers that hold the parts, then each part at its place."""
    roots = {b: root_of(b, parts) for b in sizes}

    def up(buffers):
        return list(dict.fromkeys(roots[b][0] if b in roots else b for b in buffers))
    pairs = {k: [(o, i) for o, i in ps if o not in parts and i not in parts]
             for k, ps in in_place_ok.items()}
    inner = plan_memory([(up(w), up(r)) for w, r in kernels],
                        {b: n for b, n in sizes.items() if b not in parts},
                        set(up(live_out)), pairs,
                        {roots[b][0]: k for b, k in sorted(live_until.items(), key=lambda x: x[1])
                         if b in roots})
    for b in parts:
        top, offset = roots[b]
        inner.offsets[b] = inner.offsets[top] + offset
    inner.naive_bytes = sum(_aligned(sizes[b]) for b in sizes if b not in parts)
    inner.parts = len(parts)
    return inner


def _in_place(k, candidates, last_use, sizes, plan) -> dict:
    """{output: input} for the outputs of kernel k placed over a dying input."""
    taken: dict = {}
    for out, inp in candidates:
        if out in plan.offsets or inp not in plan.offsets or last_use.get(inp) != k \
                or inp in taken.values() or sizes[out] != sizes[inp]:
            continue
        plan.offsets[out] = plan.offsets[inp]
        plan.in_place[k] = (out, inp)
        taken[out] = inp
    return taken


def _take(free: list, size: int, plan: MemoryPlan) -> int:
    for i, (offset, length) in enumerate(free):
        if length >= size:
            if length == size:
                free.pop(i)
            else:
                free[i] = (offset + size, length - size)
            plan.reused += 1
            return offset
    if free and free[-1][0] + free[-1][1] == plan.arena_bytes:  # grow the last free region
        offset = free.pop()[0]
    else:
        offset = plan.arena_bytes
    plan.arena_bytes = offset + size
    return offset


def _give_back(free: list, offset: int, size: int) -> None:
    """Return a region, merging it with free neighbours."""
    free.append((offset, size))
    free.sort()
    merged = [free[0]]
    for o, s in free[1:]:
        if merged[-1][0] + merged[-1][1] == o:
            merged[-1] = (merged[-1][0], merged[-1][1] + s)
        else:
            merged.append((o, s))
    free[:] = merged
