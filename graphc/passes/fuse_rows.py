"""fuse_rows (second fusion step): reductions over the last axis merged with their row-wise
producers and consumers into one kernel per group. Softmax, log-softmax, layer norm and
cross-entropy each become one kernel that reads a row from memory once and then works on it
in cache, where one kernel per reduction and per consumer would read it three to five times.

Expects specialized nodes in topological order, the fetched nodes and the set of nodes that
`fuse.inline_elementwise` computes inside their readers. A group has one full shape
S = rows + (C,) with C > 1, and its members are:
  - reductions of a full-shaped value over the last axis (shaped rows + (1,) or rows),
  - full-shaped elementwise nodes, which read full members, row members shaped rows + (1,)
    (a broadcast along the row) and values from outside the group,
  - row-shaped elementwise nodes, which read row members of their own shape and outside values,
  - views between the two row shapes (rows and rows + (1,)) of a row member.
Guarantees: groups are disjoint, and no node between a group's first and last members reads a
member, so each group runs as one kernel in the place of its last member (`units`),
hold at least one reduction and at least two nodes that would otherwise be kernels, and list
their members in topological order. `stored` names the members whose values are needed
outside the group (fetched, or read by another kernel, directly or through a node inlined
there); the others live only in registers. Consumed by the plan builder, which lowers a group
with lower_rows.lower_rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from graphc.ir.node import Node
from graphc.passes.fuse import MAX_OPS, expression_ops
from graphc.passes.lower import ELEMENTWISE, expanded_inputs

ROW_VIEWS = ("reshape", "identity", "stop_gradient", "ensure_shape", "expand_dims",
             "squeeze")  # views, members when they only add or drop the row's size-1 axis
REDUCTIONS = ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min", "reduce_any",
              "reduce_all")


@dataclass(frozen=True)
class RowGroup:
    shape: tuple  # the full shape, rows + (C,)
    members: tuple  # nodes in topological order
    stored: frozenset  # members whose values other kernels read

    @property
    def rows(self) -> tuple:
        return self.shape[:-1]


def row_groups(order, fetches, inlined) -> list:
    readers = defaultdict(list)
    for node in order:
        for x in node.inputs:
            readers[x].append(node)
    position = {n: i for i, n in enumerate(order)}
    taken: set = set()
    groups = []
    for node in order:
        if node in taken or not _last_axis_reduction(node):
            continue
        members = _grow(node, order[position[node]:], taken, inlined)
        if sum(m not in inlined for m in members) < 2:
            continue
        taken.update(members)
        stored = _stored(members, readers, set(fetches), inlined)
        groups.append(RowGroup(tuple(node.inputs[0].shape), tuple(members), stored))
    return groups


def _last_axis_reduction(node: Node) -> bool:
    if node.op.name not in REDUCTIONS:
        return False
    shape = node.inputs[0].shape
    return len(shape) >= 1 and shape[-1] > 1 and tuple(node.attrs["axes"]) == (len(shape) - 1,)


def _grow(seed: Node, rest, taken: set, inlined=frozenset()) -> list:
    """Members from `seed` on, in order: a node joins when it reads a member and fits the
    group's shapes. The group ends at the first node that reads a member but cannot join,
    so no node between the first and last members depends on a member: the whole group can
    run where its last member stands (see `units`). Full-shaped members are written out
    wherever read (lower_rows), so a node joins only while its expression, written out,
    stays within fuse.MAX_OPS ops."""
    full = tuple(seed.inputs[0].shape)
    rows_kept, rows = full[:-1] + (1,), full[:-1]
    group = {seed}
    members = [seed]
    written: dict = {}  # full-shaped member -> ops in its expression written out
    counted: dict = {}  # fuse.expression_ops' memo
    for node in rest[1:]:
        if not any(x in group for x in node.inputs):
            continue
        if node in taken or not _fits(node, group, full, rows_kept, rows):
            break
        ops = 1 + sum(written[x] if x in written else
                      expression_ops(x, inlined, counted) if x in inlined else 1
                      for x in expanded_inputs(node))
        if ops > MAX_OPS:
            break
        if tuple(node.shape) == full and node.op.name not in REDUCTIONS:
            written[node] = ops
        group.add(node)
        members.append(node)
    return members


def _fits(node: Node, group: set, full, rows_kept, rows) -> bool:
    name, shape = node.op.name, tuple(node.shape)
    if name in REDUCTIONS:
        return _last_axis_reduction(node) and tuple(node.inputs[0].shape) == full
    if name in ROW_VIEWS:  # one value per row before and after: the same local
        return shape in (rows_kept, rows) and tuple(node.inputs[0].shape) in (rows_kept, rows)
    if name not in ELEMENTWISE or (name == "pow" and node.dtype.np.kind in "iu"):
        return False  # integer powers check their exponents in a kernel of their own
    if shape == full:
        return all(x not in group or tuple(x.shape) in (full, rows_kept) for x in node.inputs)
    if shape in (rows_kept, rows):
        return all(x not in group or tuple(x.shape) == shape for x in node.inputs)
    return False


def _stored(members, readers, fetched: set, inlined) -> frozenset:
    group = set(members)
    used_outside: dict = {}

    def outside(node) -> bool:  # whether a kernel outside the group needs node's value
        if node not in used_outside:
            used_outside[node] = any(r not in group or (r in inlined and outside(r))
                                     for r in readers[node])
        return used_outside[node]
    return frozenset(m for m in members
                     if m not in inlined and (m in fetched or outside(m)))


def units(order, groups, epilogues=()) -> list:
    """The nodes in `order` with each group in the place of its last member (no node before
    that place reads a member, by construction), its other members left out, and each gemm
    epilogue pair (fuse.gemm_epilogues) in its consumer's place. The pair's matmul keeps its
    own place too, where it only gets its buffer (views of it may come before the pair)."""
    last = {g.members[-1]: g for g in groups}
    members = {m for g in groups for m in g.members}
    at = {e.consumer: e for e in epilogues}
    return [at.get(n) or last.get(n, n) for n in order if n not in members or n in last]
