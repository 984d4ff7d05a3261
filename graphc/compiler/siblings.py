"""merge_siblings: neighbouring elementwise kernels over the same loops become one kernel.

Fusion (passes/fuse.py) puts a node into the kernels that read it; it never joins two
kernels that merely run side by side. A gradient is full of those: an LSTM cell's backward
step computes three sigmoids, two tanhs and five products of one 32 x 256 shape, each a
kernel of its own, each a function LLVM compiles and a call the plan makes 64 times; an
Adam update writes m, then v, then the weight, reading m and v back.

Two kernels next to each other in a program list (the second runs right after the first)
are merged when each is one perfect loop nest, the same loops (variables, bounds, kinds),
whose innermost body only stores (no checks, locals, library calls, scratch buffers), and
running the second's stores right after the first's in each iteration computes the same:
the two write different buffers, the second writes nothing the first reads, and where the
second reads what the first writes, it reads the element the first just stored (the same
index). At most MAX_STORES stores end up in one kernel. Copies, views, loop inits and pack
kernels are left alone. The merged kernel's notes keep the earlier kernels' nodes
(`siblings`), for explain.

Expects the kernels in run order, before accumulate_products, pack_ahead, make_views and
place_in_arena, which see the merged kernels.
"""

from __future__ import annotations

from dataclasses import replace

from graphc.compiler.kernels import written
from graphc.compiler.plan import program_kernels, program_lists, without_kernels
from graphc.ir import kernel as K
from graphc.passes.gpu_loops import loads

MAX_STORES = 8
_LEFT_ALONE = ("copy", "view", "loop_init", "pack_ahead", "epilogue")
_VIEWS = ("concat", "slice")  # (compiler/views.py may make them parts of a buffer)
_TILED = ("transpose",)  # (passes/schedule.py tiles its loops for its strided reads)


def merge_siblings(kernels: list, program, live_until: dict):
    """(kernels, program, live_until) with sibling kernels merged as above."""
    if program_kernels(program) != list(range(len(kernels))):
        return kernels, program, live_until
    kernels = list(kernels)
    removed: set = set()
    for entries in program_lists(program):
        run = None  # the kernel index that the next sibling may join
        for entry in entries:
            if not isinstance(entry, int):
                run = None
                continue
            merged = None if run is None else _merged(kernels[run], kernels[entry])
            if merged is None:
                run = entry if _nest(kernels[entry]) is not None else None
                continue
            kernels[entry] = merged  # (at the later place: what it reads is computed)
            removed.add(run)
            run = entry
    if not removed:
        return kernels, program, live_until
    return without_kernels(kernels, program, live_until, removed, later=True)


def _nest(kernel: K.Kernel):
    """(loops outermost first, the innermost body's stores) of a kernel that is one perfect
    loop nest storing only, or None."""
    node = kernel.notes.get("node")
    if kernel.messages or any(b.scratch for b in kernel.buffers) or node is None or \
            node.op.name in _VIEWS + _TILED or any(kernel.notes.get(k) for k in _LEFT_ALONE) or \
            not kernel.name.startswith("k_"):
        return None
    loops, body = [], kernel.body
    while len(body) == 1 and isinstance(body[0], K.Loop):
        loops.append(body[0])
        body = body[0].body
    if not loops or not body or not all(isinstance(s, K.Store) for s in body):
        return None
    return loops, body


def _merged(first: K.Kernel, second: K.Kernel):
    """`first` and then `second` as one kernel, or None when they may not be merged."""
    a, b = _nest(first), _nest(second)
    if a is None or b is None or len(a[1]) + len(b[1]) > MAX_STORES or \
            first.sizes != second.sizes:
        return None
    (loops_a, stores_a), (loops_b, stores_b) = a, b
    if [_header(x) for x in loops_a] != [_header(x) for x in loops_b]:
        return None
    writes_a, writes_b = written(first), written(second)
    if writes_a & writes_b or writes_b & _loaded(stores_a).keys():
        return None
    stored_at = {s.buffer: s.index for s in stores_a}
    if len(stored_at) != len(stores_a):
        return None
    for name, indices in _loaded(stores_b).items():
        if name in writes_a and indices != {stored_at[name]}:
            return None
    buffers = {x.name: x for x in first.buffers}
    for x in second.buffers:
        if buffers.setdefault(x.name, x) != x:
            return None
    body = tuple(stores_a) + tuple(stores_b)
    for loop in reversed(loops_a):
        body = (replace(loop, body=body),)
    notes = dict(second.notes)
    notes["siblings"] = first.notes.get("siblings", ()) + (first.notes.get("node"),)
    notes.pop("input_slots", None)
    return replace(second, name=_name(first, second), buffers=tuple(buffers.values()),
                   body=body, notes=notes)


def _header(loop: K.Loop) -> tuple:
    return loop.var, loop.start, loop.stop, loop.kind, loop.width


def _loaded(stores) -> dict:
    """buffer -> the set of indices the stores' values load it at."""
    out: dict = {}
    for s in stores:
        for load in loads(s.index) + loads(s.value):
            out.setdefault(load.buffer, set()).add(load.index)
    return out


def _name(first: K.Kernel, second: K.Kernel) -> str:
    """k_sigmoid + k_tanh -> k_sigmoid_tanh (each op named once)."""
    parts = first.name[2:].split("_") + second.name[2:].split("_")
    return "k_" + "_".join(dict.fromkeys(parts))
