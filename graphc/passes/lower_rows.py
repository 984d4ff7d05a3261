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
from graphc.passes.fuse_rows import REDUCTIONS, RowGroup
from graphc.passes.lower import Lowering, dt, reduction_parts


def lower_rows(lw: Lowering, group: RowGroup) -> K.Kernel:
    full, rows = group.shape, group.rows
    row_idx = [K.Var(f"i{d}") for d in range(len(rows))]
    full_idx = row_idx + [K.Var("j")]
    body: list = []
    try:
        for k, node in enumerate(group.members):
            if node.op.name in REDUCTIONS:
                body += _reduction(lw, node, f"v{k}", full_idx, full[-1])
            elif tuple(node.shape) == full:
                lw.expressions.add(node)
                if node in group.stored:
                    value = lw.elementwise(node, full_idx, full)
                    store = K.Store(lw.name(node), K.linear(full_idx, K.row_major_strides(full)),
                                    value)
                    body.append(K.Loop("j", K.Const(0), K.Const(full[-1]), (store,)))
                continue
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


def _reduction(lw: Lowering, node, name: str, full_idx, length: int) -> list:
    """The statements accumulating `node` over the row into local `name`; afterwards
    lw.row_values[node] is the row's result."""
    combine, init, acc = reduction_parts(node)
    value = lw.at(node.inputs[0], full_idx)
    if acc != dt(node):
        value = K.Cast(value, acc)
    stmts = [K.Local(name, acc, init(acc)),
             K.Loop("j", K.Const(0), K.Const(length),
                    (K.Assign(name, combine(K.Ref(name, acc), value)),))]
    if acc == dt(node):
        lw.row_values[node] = K.Ref(name, acc)
    else:  # an f16 sum accumulated in f32: rounded once, as the reference does
        stmts.append(K.Local(f"{name}r", dt(node), K.Cast(K.Ref(name, acc), dt(node))))
        lw.row_values[node] = K.Ref(f"{name}r", dt(node))
    return stmts
