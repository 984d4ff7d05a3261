"""check_placement: a plan's arena placement against its program, path by path.

The memory plan sees the kernels in one line (compiler/arena.py); loops and branches make
the order they run in a tree. This walks the program's paths (each branch both ways, each
loop zero to two times, at most `max_paths` paths) and, along each, tracks which slot last
wrote each byte of the arena: a kernel reading an arena slot some of whose bytes another
slot wrote since is a placement that can give a wrong number. Parts (compiler/views.py) hold
their buffer's bytes by design: a slot reads what the slots it lies in, or that lie in it,
wrote. The fuzzer runs it on every
compiled plan with control flow (tools/fuzz.py), and tests use it directly.
"""

from __future__ import annotations

import itertools

from graphc.compiler.kernels import reserved, written
from graphc.compiler.plan import Branch, Loop
from graphc.ir import kernel as K

_ITEMSIZE = {"f16": 2, "f32": 4, "f64": 8, "i8": 1, "u8": 1, "i16": 2, "u16": 2, "i32": 4,
             "i64": 8, "bool": 1}


def check_placement(plan, max_paths: int = 200) -> list:
    """The problems found: "kernel K (name) reads slot S, whose bytes slot T wrote"."""
    if plan.program is None or all(isinstance(e, int) for e in plan.program):
        return []
    sizes = _sizes(plan)
    problems = []
    for seq in itertools.islice(_paths(plan.program), max_paths):
        problems += _walk(plan, seq, sizes)
        if problems:
            break
    return sorted(set(problems))


def _sizes(plan) -> dict:
    """Bytes of each arena slot, from the kernels' parameters."""
    sizes: dict = {}
    for kernel in plan.kernels:
        for b in kernel.params:
            slot = int(b.name[1:])
            if plan.slots[slot].kind == "arena" and hasattr(b.size, "value"):
                sizes[slot] = max(sizes.get(slot, 0), b.size.value * _ITEMSIZE[b.dtype])
    return sizes


def _relatives(parts: dict) -> dict:
    """slot -> the slots it lies in and the slots that lie in it (parts of parts too)."""
    out: dict = {}
    for child in parts:
        chain, slot = [], child
        while slot in parts:
            slot = parts[slot][0]
            chain.append(slot)
        for i, s in enumerate([child] + chain):
            for t in ([child] + chain)[i + 1:]:
                out.setdefault(s, set()).add(t)
                out.setdefault(t, set()).add(s)
    return out


def _walk(plan, seq, sizes) -> list:
    owner: list = []  # [start, end, frozenset of slots whose value the bytes hold]
    merged = getattr(plan, "merged", {}) or {}
    related = _relatives(getattr(plan, "parts", {}) or {})
    problems = []
    for k in seq:
        kernel = plan.kernels[k]
        # (an unread loop init's reservation: the var's bytes are its own from there)
        outs = {int(b[1:]) for b in written(kernel)} | reserved(kernel)
        for slot in _live_reads(kernel):
            if slot in outs or slot not in sizes:
                continue
            start = plan.slots[slot].offset
            own = {slot} | related.get(slot, set())
            for lo, hi, holders in owner:
                if lo < start + sizes[slot] and start < hi and not own & holders:
                    problems.append(f"kernel {k} ({kernel.name}) reads slot {slot}, whose "
                                    f"bytes slot {min(holders)} wrote")
                    break
        for slot in outs:
            if slot in sizes:
                holders = {slot} | {o for kk, (o, i) in merged.items() if kk == k and i == slot}
                start = plan.slots[slot].offset
                owner = _carve(owner, start, start + sizes[slot], frozenset(holders))
    return problems


def _live_reads(kernel) -> set:
    """The slots a kernel reads for something it writes or checks: loads in a scalar local
    that nothing uses (a row group's member computed in another kernel) do not count."""
    defs, roots = {}, []

    def walk(stmts):
        for st in stmts:
            if isinstance(st, (K.Local, K.Assign)):
                defs.setdefault(st.name, []).extend(K.stmt_exprs(st))
            else:
                roots.extend(K.stmt_exprs(st))
                if isinstance(st, K.Intrinsic):
                    roots.extend(K.Load(b, K.Const(0), "f32") for b in st.buffers
                                 if b)  # (a packed operand's buffer is "": its Pack reads)
            walk(K.substatements(st))
    walk(kernel.body)
    loads, seen = set(), set()
    stack = list(roots)
    while stack:
        e = stack.pop()
        if isinstance(e, K.Load):
            loads.add(int(e.buffer[1:]))
        elif isinstance(e, K.Ref) and e.name not in seen:
            seen.add(e.name)
            stack.extend(defs.get(e.name, ()))
        stack.extend(K.expr_children(e))
    return loads


def _carve(owner: list, start: int, end: int, holders) -> list:
    out = []
    for lo, hi, who in owner:
        if hi <= start or end <= lo:
            out.append((lo, hi, who))
            continue
        if lo < start:
            out.append((lo, start, who))
        if end < hi:
            out.append((end, hi, who))
    out.append((start, end, holders))
    return out


def _paths(program):
    """Every sequence of kernel indices the program can run, loops run 0 to 2 times."""
    def expand(entries):
        if not entries:
            yield []
            return
        head, rest = entries[0], entries[1:]
        for first in _entry(head):
            for tail in expand(rest):
                yield first + tail

    def _entry(e):
        if isinstance(e, Loop):
            for n in (0, 1, 2):
                yield from _loop(e, n)
        elif isinstance(e, Branch):
            yield from expand(list(e.then))
            yield from expand(list(e.other))
        else:
            yield [e]

    def _loop(e, n):
        parts = [list(e.cond) + list(e.body)] * n + [list(e.cond)]
        yield from expand([x for part in parts for x in part])
    return expand(list(program))
