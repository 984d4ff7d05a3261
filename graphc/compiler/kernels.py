"""What the compiler's analyses read off lowered kernels: the buffers a kernel writes, the
outputs it may write over an input, and renaming two buffers into one."""

from __future__ import annotations

from dataclasses import replace

from graphc.ir import kernel as K


def param_names(kernel: K.Kernel) -> set:
    """Names of the buffers a kernel takes (reads or writes), its scratch left out."""
    return {b.name for b in kernel.params}


def reserved(kernel: K.Kernel) -> set:
    """The slot an unread loop init reserves (compiler/loop_inits.py), as a set: the slot
    is the loop var's from there, as if the kernel wrote it (arena, placement)."""
    slot = kernel.notes.get("reserves")
    return set() if slot is None else {slot}


def written(kernel: K.Kernel) -> set:
    """Names of the buffers a kernel writes: stores, and a library routine's output."""
    return written_by(kernel.body)


def written_by(stmts) -> set:
    """Names of the buffers `stmts` write (see written): a gemm's epilogue's, for one."""
    out: set = set()

    def walk(stmts):
        for st in stmts:
            if isinstance(st, K.Store):
                out.add(st.buffer)
            elif isinstance(st, K.Intrinsic):
                out.add(st.buffers[2] if st.name == "gemm" else st.buffers[-1])
            walk(K.substatements(st))
    walk(stmts)
    return out


def in_place_pairs(kernel: K.Kernel) -> list:
    """(output slot, input slot) pairs where the kernel may write its output over the input
    (same_element_pairs of its body). A gemm may write its epilogue's output over C, an
    allreduce or broadcast its output over its input (MPI reduces in place)."""
    call = K.host_call(kernel)
    if call is not None:
        node = kernel.notes.get("node")
        if node is None or node.op.name not in ("allreduce", "broadcast"):
            return []
        return [(int(call.buffers[2][1:]), int(call.buffers[1][1:]))]
    gemm = lone_gemm(kernel.body)
    if gemm is None:
        return same_element_pairs(kernel.body)
    c = int(gemm.buffers[2][1:])
    return [(out, inp) for out, inp in same_element_pairs(gemm.epilogue) if inp == c]


def same_element_pairs(stmts) -> list:
    """(output slot, input slot) pairs of statements that hold one store, no Check or library
    call, and load the input only at the stored index."""
    stores, loads, other = [], {}, []

    def expr(e):
        if isinstance(e, K.Load):
            loads.setdefault(e.buffer, set()).add(e.index)
        for c in K.expr_children(e):
            expr(c)

    def walk(stmts):
        for st in stmts:
            if isinstance(st, K.Store):
                stores.append(st)
            elif isinstance(st, (K.Check, K.Intrinsic, K.Barrier)):
                other.append(st)
            if isinstance(st, K.Loop):
                walk(st.body)
            for e in K.stmt_exprs(st):
                expr(e)
    walk(stmts)
    if len(stores) != 1 or other:
        return []
    (store,) = stores
    return [(int(store.buffer[1:]), int(b[1:])) for b, idx in loads.items()
            if b != store.buffer and idx == {store.index}]


def lone_gemm(stmts):
    """The gemm Intrinsic a kernel body consists of (inside its batch loops), or None."""
    if len(stmts) != 1:
        return None
    (s,) = stmts
    if isinstance(s, K.Intrinsic):
        return s if s.name == "gemm" else None
    return lone_gemm(s.body) if isinstance(s, K.Loop) else None


def merge_buffers(kernel: K.Kernel, gone: str, kept: str) -> K.Kernel:
    """The kernel reading `gone` from `kept` (the two now share memory): one parameter."""
    merged = K.rename_buffers(kernel, {gone: kept})
    seen, buffers = set(), []
    for b in merged.buffers:
        if b.name not in seen:
            seen.add(b.name)
            buffers.append(b)
    return replace(merged, buffers=tuple(buffers))
