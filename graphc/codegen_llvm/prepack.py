"""Constant GEMM operands packed once, when a plan is built, instead of on every call.

The LLVM GEMM copies each block of B into its packed panels as it runs (gemm/__init__.py).
When B is a constant of the plan (a convolution's filter, a dense layer's weights in an
inference graph), that copy gives the same panels on every call: prepack_constants packs
it once, with numpy, into a constant slot of its own (gemm.prepack_b's layout, for the
blocking the renderer will choose), and the GEMM reads those panels where they are
(Intrinsic.prepacked). The product is the same bit for bit: the same numbers reach the
micro-kernel in the same order. What it saves is the copy of B, which a GEMM of few rows
(a 7 x 7 feature map, a batch of one) pays for every call, and each thread's own copy when
threads split the rows.

A constant slot that no kernel, fetch or commit reads any longer becomes "unused", so a
plan keeps one copy of such weights, not two.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

import numpy as np

from graphc.codegen_llvm.gemm import prepack_b, prepacked_width
from graphc.compiler.plan import Branch, Loop, Slot
from graphc.ir import kernel as K

_DTYPES = {"f32": np.float32, "f64": np.float64}


def blocking_for(cpu: str = "native"):
    """blocking_for(dtype, n): the GemmBlocking render_gemm uses on `cpu` for n columns."""
    from graphc.codegen_llvm.gemm import vector_width
    from graphc.codegen_llvm.intrinsics import gemm_blocking
    return lambda t, n: gemm_blocking(t, vector_width(t, cpu), n)


def prepack_constants(plan, kernels: list, blocking_for) -> list:
    """`kernels` (a plan's, scheduled) with every GEMM whose B is a strided view of a
    constant slot reading a prepacked copy, added to plan.slots; plan.kernels likewise.
    blocking_for(dtype, n) is the GemmBlocking the renderer uses for a GEMM of n columns."""
    packed: dict = {}  # (slot, offset, strides, shape, blocking) -> slot of the packed copy
    out = [_rewrite(k, plan, packed, blocking_for) for k in kernels]
    plan.kernels = [_rewrite(k, plan, packed, blocking_for) for k in plan.kernels]
    if packed:
        _drop_unread(plan, out, {key[0] for key in packed})
    return out


def _rewrite(kernel: K.Kernel, plan, packed: dict, blocking_for) -> K.Kernel:
    added: dict = {}  # buffer name -> (dtype, elements)

    def visit(stmts):
        result = []
        for s in stmts:
            if isinstance(s, K.Loop):
                s = replace(s, body=tuple(visit(s.body)))
            elif isinstance(s, K.Intrinsic) and s.name == "gemm" and not s.prepacked:
                s = _prepacked(s, kernel, plan, packed, blocking_for, added)
            result.append(s)
        return tuple(result)

    body = visit(kernel.body)
    if not added:
        return kernel
    read = set()
    _buffer_names(body, read)
    names = {b.name for b in kernel.buffers}
    params = [b for b in kernel.params if b.name in read]
    params += [K.Buffer(name, t, K.Const(size))
               for name, (t, size) in added.items() if name not in names]
    scratch = [b for b in kernel.buffers if b.scratch]
    return replace(kernel, buffers=tuple(params + scratch), body=body)


def _prepacked(s: K.Intrinsic, kernel: K.Kernel, plan, packed: dict, blocking_for,
               added: dict) -> K.Intrinsic:
    """The gemm reading its B prepacked, or `s` itself where B is not a constant's view."""
    name_b = s.buffers[1]
    if not name_b or (s.packs and s.packs[1] is not None):
        return s
    values = [x.value if isinstance(x, K.Const) else None for x in s.args]
    m, n, k, _, _, _, off_b, rsb, csb, _ = values
    index = int(name_b[1:])
    slot = plan.slots[index]
    t = kernel.buffer(s.buffers[2]).dtype
    if slot.kind != "constant" or None in (n, k, off_b, rsb, csb) or t not in _DTYPES \
            or kernel.buffer(name_b).dtype != t or n <= 0 or k <= 0:
        return s
    flat = np.ascontiguousarray(slot.array).reshape(-1)
    corners = [off_b + i * (k - 1) * rsb + j * (n - 1) * csb for i in (0, 1) for j in (0, 1)]
    if flat.dtype != _DTYPES[t] or min(corners) < 0 or max(corners) >= flat.size:
        return s
    blocking = blocking_for(t, n)
    key = (index, off_b, rsb, csb, k, n, blocking)
    if key not in packed:
        size = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[off_b:], (k, n), (rsb * size, csb * size),
                                               writeable=False)
        array = prepack_b(view, blocking)
        packed[key] = len(plan.slots)
        plan.slots.append(Slot("constant", array=array))
    new = f"s{packed[key]}"
    added[new] = (t, k * prepacked_width(n, blocking))
    args = list(s.args)
    args[6], args[7], args[8] = K.Const(0), K.Const(prepacked_width(n, blocking)), K.Const(1)
    buffers = (s.buffers[0], new, *s.buffers[2:])
    return replace(s, buffers=buffers, args=tuple(args), prepacked=True)


def _buffer_names(x, out: set) -> None:
    """The names of the buffers statements or expressions `x` load, store or pass."""
    if isinstance(x, (K.Load, K.Store)):
        out.add(x.buffer)
    elif isinstance(x, K.Intrinsic):
        out.update(name for name in x.buffers if name)
    if is_dataclass(x):
        for f in fields(x):
            _buffer_names(getattr(x, f.name), out)
    elif isinstance(x, (tuple, list)):
        for item in x:
            _buffer_names(item, out)


def _drop_unread(plan, kernels: list, sources: set) -> None:
    """The constant slots of `sources` (those GEMMs read prepacked now) that nothing else
    reads, no kernel, fetch, commit or branch or loop of the program, become "unused"."""
    read = set()
    for k in list(kernels) + list(plan.kernels):
        read.update(int(b.name[1:]) for b in k.params)
    read.update(f[0] for f in plan.fetch_slots if f is not None)
    read.update(c[1] for c in plan.commits)
    read.update(_predicates(plan.program or ()))
    for i in sources - read:
        plan.slots[i] = Slot("unused")


def _predicates(program) -> set:
    """The slots the program's branches and loops test."""
    found = set()
    for entry in program:
        if isinstance(entry, Loop):
            found.add(entry.pred)
            found |= _predicates(entry.cond) | _predicates(entry.body)
        elif isinstance(entry, Branch):
            found.add(entry.pred)
            found |= _predicates(entry.then) | _predicates(entry.other)
    return found
