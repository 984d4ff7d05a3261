"""lower_rows: a row group (fuse_rows.RowGroup) -> one L2 kernel.

    for each row r:                      (parallel over rows once scheduled)
        v0 = init; for j: v0 = v0 (+) f0(r, j)      a reduction member
        v1 = g(v0, ...)                             a row-shaped elementwise member
        for j: out[r, j] = h(r, j, v0, v1)          a stored full-shaped member
        ...

Members are visited in topological order. Reductions and row-shaped members become scalar
locals of the row, stored to their buffers only when other kernels read them; full-shaped
members are expressions computed inside every loop that reads them, and stored only when
other kernels read them. Every inner loop runs over the same row, which the first one brought
into cache.
"""

from __future__ import annotations

from graphc.ir import kernel as K
from graphc.passes.fuse_rows import REDUCTIONS, ROW_VIEWS, RowGroup
from graphc.passes.lower import Lowering, dt, reduction_parts


def lower_rows(lw: Lowering, group: RowGroup) -> K.Kernel:
    full, rows = group.shape, group.rows
    row_idx = [K.Var(f"i{d}") for d in range(len(rows))]
    full_idx = row_idx + [K.Var("j")]
    at = K.linear(full_idx, K.row_major_strides(full))
    hosts = _hosts(group)
    body: list = []
    try:
        for k, node in enumerate(group.members):
            if node.op.name in REDUCTIONS:
                shared = [(e, f) for e, (r, f) in hosts.items() if r is node]
                body += _reduction(lw, node, f"v{k}", full_idx, full[-1], shared)
                for e, f in shared:  # read back where the reduction left them
                    lw.row_values[e] = K.Load(lw.name(f), at, dt(e))
            elif tuple(node.shape) == full:
                lw.expressions.add(node)
                if node in group.stored:
                    store = K.Store(lw.name(node), at, lw.elementwise(node, full_idx, full))
                    body.append(K.Loop("j", K.Const(0), K.Const(full[-1]), (store,)))
                    for e in [e for e, (_, f) in hosts.items() if f is node]:
                        del lw.row_values[e]  # overwritten by node's values now
                continue
            elif node.op.name in ROW_VIEWS:  # the row's value under another shape
                lw.row_values[node] = lw.row_values[node.inputs[0]]
            else:  # row-shaped elementwise: one value per row
                idx = row_idx + [K.Const(0)] if len(node.shape) == len(full) else row_idx
                body.append(K.Local(f"v{k}", dt(node), lw.elementwise(node, idx, node.shape)))
                lw.row_values[node] = K.Ref(f"v{k}", dt(node))
            if node in group.stored:
                body.append(K.Store(lw.name(node),
                                    K.linear(row_idx, K.row_major_strides(rows)),
                                    lw.row_values[node]))
        stmts = K.nest([v.name for v in row_idx], rows, body)
        last = group.members[-1]
        return lw.kernel(last, stmts, name=f"k_rows_{last.op.name}")
    finally:
        lw.row_values, lw.expressions = {}, set()


def _hosts(group: RowGroup) -> dict:
    """{e: (r, f)}: a full-shaped member e that a reduction r sums (or maxes...) and a later
    stored member f of e's dtype reads: r's loop writes e into f's buffer, where f's loop
    reads it back before overwriting it, so e is computed once (softmax's exp(x - max))."""
    hosts: dict = {}
    position = {m: i for i, m in enumerate(group.members)}
    for r in group.members:
        e = r.inputs[0] if r.op.name in REDUCTIONS else None
        if e not in position or e in group.stored or e in hosts:
            continue
        for f in group.members[position[r] + 1:]:
            if f in group.stored and e in f.inputs and tuple(f.shape) == group.shape \
                    and dt(f) == dt(e) and f not in {h for _, h in hosts.values()}:
                hosts[e] = (r, f)
                break
    return hosts


def _reduction(lw: Lowering, node, name: str, full_idx, length: int, shared=()) -> list:
    """The statements accumulating `node` over the row into local `name`; afterwards
    lw.row_values[node] is the row's result. Each (e, f) in `shared`: the loop also stores
    e's values into f's buffer, computing e once."""
    combine, init, acc = reduction_parts(node)
    inner = []
    for m, (e, f) in enumerate(shared):
        local = f"{name}e{m}"
        inner += [K.Local(local, dt(e), lw.elementwise(e, full_idx, e.shape)),
                  K.Store(lw.name(f), K.linear(full_idx, K.row_major_strides(e.shape)),
                          K.Ref(local, dt(e)))]
        lw.row_values[e] = K.Ref(local, dt(e))
    value = lw.at(node.inputs[0], full_idx)
    if acc != dt(node):
        value = K.Cast(value, acc)
    stmts = [K.Local(name, acc, init(acc)),
             K.Loop("j", K.Const(0), K.Const(length),
                    (*inner, K.Assign(name, combine(K.Ref(name, acc), value))))]
    if acc == dt(node):
        lw.row_values[node] = K.Ref(name, acc)
    else:  # an f16 sum accumulated in f32: rounded once, as the reference does
        stmts.append(K.Local(f"{name}r", dt(node), K.Cast(K.Ref(name, acc), dt(node))))
        lw.row_values[node] = K.Ref(f"{name}r", dt(node))
    return stmts
