"""The fused graph as explain reports it: which specialized nodes each kernel computes, which
values go through memory from one kernel to another, and why each of those edges was not
fused.

Built from build_plan's trace (the optimized graph, the nodes fuse.inline_elementwise
inlined, the row groups of fuse_rows and the gemm epilogues) and the plan's kernels, in run
order. A kernel computes its unit (one node, a row group's members, or a matmul and the
consumer its GEMM applies) and, inside it, the inlined
producers those read, transitively: exactly the nodes Lowering.load and Lowering.at expand
into expressions. An unfused edge is a value one kernel writes and another reads back
(through views such as reshape, which share the buffer). Its reason is the first of
REASON_RULES that applies: each rule restates one condition of fuse.py or fuse_rows.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

from graphc.ir.node import Node
from graphc.passes.fuse import (
    COSTLY_OPS,
    MAX_COPIED_OPS,
    MAX_COPIES,
    MAX_DEPTH,
    MAX_OPS,
    expression_cost,
    recompute_cost,
)
from graphc.passes.fuse_rows import REDUCTIONS, ROW_VIEWS, RowGroup
from graphc.passes.lower import ELEMENTWISE, VIEW_OPS


@dataclass
class KernelInfo:
    index: int  # position in run order
    kernel: object  # the L2 kernel as lowered (graphc.ir.kernel.Kernel)
    members: tuple  # the unit: one node, or a row group's members
    nodes: tuple  # members and the producers inlined into them, in topological order
    group: Optional[RowGroup] = None


@dataclass
class UnfusedEdge:
    producer: Node  # the specialized node whose value goes through memory
    source: int  # index of the kernel writing it
    consumer: int  # index of the kernel reading it
    reader: Node  # the node of the consumer that reads it
    view: Optional[Node]  # the view (reshape, ...) it is read through, if any
    reason: str


class FusedGraph:
    """Kernels and unfused edges of one plan (see the module docstring)."""

    def __init__(self, trace: dict, kernels: list, name_of=None, fusing: bool = True):
        self.name_of = name_of or (lambda node: node.op.name)  # how reasons name a node
        self.fusing = fusing  # False: the plan was built with Options.fuse=False
        self.order, self.inlined = trace["order"], trace["inlined"]
        self.fetched = set(trace["roots"])
        self.position = {n: i for i, n in enumerate(self.order)}
        self.readers = defaultdict(list)
        for node in self.order:
            for x in node.inputs:
                self.readers[x].append(node)
        self.group_of = {m: g for g in trace["groups"] for m in g.members}
        self.epilogue = {e.matmul: e.consumer for e in trace.get("epilogues", ())}
        units = {g.members[-1]: g for g in trace["groups"]}
        self.kernels = [self._info(i, k, units) for i, k in enumerate(kernels)]
        self.sibling_of = {s: info.index for info in self.kernels
                           for s in info.kernel.notes.get("siblings", ())}
        self.writer = {}  # node -> the kernel storing its value
        for info in self.kernels:
            stored = info.group.stored if info.group else info.members
            self.writer.update((n, info.index) for n in stored if n.dtype is not None)
        self.kernels_of = self._kernels_of()
        self._costs = None  # (expression_cost, weighted), computed when a reason needs them
        self.edges = self._edges()

    def _kernels_of(self) -> dict:
        """node -> the nodes whose kernels compute it, as fuse.inline_elementwise counts
        them (before row groups merge some of those kernels)."""
        out: dict = {}
        for node in reversed(self.order):
            out[node] = {node} if node not in self.inlined or not self.readers[node] else \
                set().union(*(out[r] for r in self.readers[node]))
        return out

    def _info(self, index: int, kernel, units: dict) -> KernelInfo:
        if kernel.notes.get("pack_ahead"):  # a GEMM operand packed before a loop: no node's
            return KernelInfo(index, kernel, (), ())  # value (compiler/pack_ahead.py)
        node = kernel.notes["node"]
        group = units.get(node)
        epilogue = kernel.notes.get("epilogue")  # a matmul's consumer, applied by its GEMM
        members = group.members if group else (node, epilogue) if epilogue else (node,)
        members = tuple(kernel.notes.get("siblings", ())) + tuple(members)  # (siblings.py)
        return KernelInfo(index, kernel, tuple(members), self.contents(members), group)

    def contents(self, members) -> tuple:
        """`members` and the producers inlined into them, transitively, in graph order:
        the nodes one kernel computes."""
        seen, stack = set(), list(members)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(x for x in n.inputs if x in self.inlined)
        return tuple(sorted(seen, key=lambda n: self.position.get(n, -1)))

    def _edges(self) -> list:
        found: dict = {}
        for info in self.kernels:
            for inside in self._parts(info):
                for reader in inside:
                    for x in reader.inputs:
                        source, view = storage(x)
                        k = self.writer.get(source)
                        if source in inside or k is None or \
                                (k == info.index and source not in self.sibling_of):
                            continue
                        found.setdefault((source, info.index), (reader, view))
        return [UnfusedEdge(p, self.writer[p], k, reader, view, self.why(p, reader, view))
                for (p, k), (reader, view) in found.items()]

    def _parts(self, info) -> list:
        """The node sets a kernel computes as fusion made them (each unit with the nodes
        inlined into it): one, or one per unit of a kernel of merged siblings, which
        store their values for each other (compiler/siblings.py)."""
        siblings = tuple(info.kernel.notes.get("siblings", ()))
        units = [(s,) for s in siblings] + [info.members[len(siblings):]]
        return [set(self.contents(u)) for u in units]

    def why(self, producer: Node, reader: Node, view: Optional[Node]) -> str:
        for rule in REASON_RULES:
            reason = rule(self, producer, reader, view)
            if reason:
                return reason
        return "kept in memory by fusion"

    def expression_cost(self, node: Node) -> int:
        """What recomputing `node`'s expression in each reader costs, in ops, as fuse
        counts it (fuse.recompute_cost)."""
        if self._costs is None:
            self._costs = (expression_cost(self.order, self.readers, self.fetched),
                           expression_cost(self.order, self.readers, self.fetched,
                                           COSTLY_OPS))
        return recompute_cost(node, *self._costs, self.readers)


def storage(node: Node) -> tuple:
    """(the node whose buffer holds node's value, the outermost view in between or None):
    views (reshape, identity, ...) share their input's buffer; variable reads are the
    variable's own."""
    view = None
    while node.op.name in VIEW_OPS and node.op.name != "read":
        view = view or node
        node = node.inputs[0]
    return node, view


# --- the reasons, one function per rule of fuse.py / fuse_rows.py --------------------------
def fusion_off(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """Options.fuse=False: every node has a kernel of its own."""
    return None if g.fusing else "fusion is off (Options.fuse=False)"


def fetched(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse: fetched nodes always keep their buffer."""
    return "fetched: its value is returned" if p in g.fetched else None


def row_group_boundary(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse_rows: a member is stored when a node outside its group reads it."""
    group = g.group_of.get(p)
    if group is None:
        return None
    return f"row group {_shape(group.shape)} ends here: {cannot_join(g, group, reader, view)}"


def cannot_join(g: FusedGraph, group: RowGroup, reader: Node, view) -> str:
    """Why `reader` is not a member of `group` (fuse_rows._fits and _grow)."""
    if view is not None:
        return f"read through {view.op.name} (a view), which no row group includes"
    misfit = _misfit(group, reader)
    if misfit:
        return misfit
    breaker = _breaker(g, group)
    if breaker is None or breaker is reader:
        return "the group ended before this reader"
    why = _misfit(group, breaker) or "it belongs to another group"
    return f"the group ended at {g.name_of(breaker)} ({breaker.op.name}): {why}"


def _misfit(group: RowGroup, node: Node) -> Optional[str]:
    """Why `node` does not fit the shapes of `group` (fuse_rows._fits), or None."""
    full, name, shape = tuple(group.shape), node.op.name, tuple(node.shape)
    if name in VIEW_OPS:
        rows = (full[:-1], full[:-1] + (1,))
        if name in ROW_VIEWS and shape in rows and tuple(node.inputs[0].shape) in rows:
            return None
        return f"{name} is a view, and row groups take only views between {_shape(rows[0])} " \
               f"and {_shape(rows[1])}"
    if name in REDUCTIONS:
        axes = tuple(node.attrs["axes"])
        if axes != (len(node.inputs[0].shape) - 1,):
            return f"{name} over axes {axes} is not a last-axis reduction"
        if tuple(node.inputs[0].shape) != full:
            return f"{name} reduces rows of another shape {_shape(node.inputs[0].shape)}"
        return None
    if name not in ELEMENTWISE:
        return f"{name} is not row-wise"
    if shape not in (full, full[:-1] + (1,), full[:-1]):
        return f"different index space: {name} of shape {_shape(shape)}"
    return None


def _breaker(g: FusedGraph, group: RowGroup) -> Optional[Node]:
    """The first node after the group's first member that reads a member and is not one:
    where fuse_rows._grow stopped growing the group."""
    members = set(group.members)
    for node in g.order[g.position.get(group.members[0], len(g.order)):]:
        if node not in members and any(x in members for x in node.inputs):
            return node
    return None


def non_last_axis_reduction(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse_rows: only reductions over the last axis share a kernel with their readers."""
    if p.op.name not in REDUCTIONS:
        return None
    axes, rank = tuple(p.attrs["axes"]), len(p.inputs[0].shape)
    if axes != (rank - 1,) or p.inputs[0].shape[-1] <= 1:
        return f"reduction over a non-last axis (axes {axes} of {_shape(p.inputs[0].shape)})"
    return None


def ungrouped_reduction(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse_rows: a last-axis reduction forms a group only with a reader that fits."""
    if p.op.name not in REDUCTIONS:
        return None
    group = RowGroup(tuple(p.inputs[0].shape), (p,), frozenset())
    if view is None and _misfit(group, reader) is None and reader in g.inlined:
        return (f"last-axis reduction whose reader {g.name_of(reader)} is computed inside "
                "another kernel: no row group to form")
    return f"last-axis reduction: {cannot_join(g, group, reader, view)}"


def gemm_epilogue_taken(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse.gemm_epilogues: a GEMM applies one consumer, its first reading kernel."""
    consumer = g.epilogue.get(p)
    if consumer is None:
        return None
    return (f"its GEMM applies only its first reading kernel, {g.name_of(consumer)} "
            f"({consumer.op.name}), as an epilogue")


def not_elementwise(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse: only elementwise producers are inlined into their readers."""
    return None if p.op.name in ELEMENTWISE else f"not elementwise ({p.op.name})"


def other_index_space(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse._reads_in_place: an elementwise value is inlined only when every reader reads
    it at its own indices; the first reader that does not is named."""
    why = _not_in_place(p, view if view is not None else reader, "")
    if why:
        return why
    for r in g.readers[p]:
        why = _not_in_place(p, r, f" {g.name_of(r)}")
        if why:
            return f"another reader keeps it in memory: {why}"
    return None


def _not_in_place(p: Node, r: Node, label: str) -> Optional[str]:
    name = r.op.name
    if name in VIEW_OPS:
        return f"read through {name}{label}, a view (fusion does not look through views)"
    if name in ELEMENTWISE and tuple(r.shape) != tuple(p.shape):
        return (f"different index space: {name}{label} broadcasts it from {_shape(p.shape)} "
                f"to {_shape(r.shape)}")
    if name == "assign" and (r.inputs[1] is not p or r.shape != p.shape):
        return f"different index space: assign{label} broadcasts it"
    if name == "matmul":
        return f"read by matmul{label}, which takes its operands from memory"
    if name not in ELEMENTWISE and name not in REDUCTIONS and name != "assign":
        return f"different index space: read by {name}{label}"
    return None


def shared_and_costly(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse: a value several kernels read is recomputed in each only when small enough.
    Kernels are counted as fuse counts them: before row groups merge some."""
    n = len(set().union(*(g.kernels_of[r] for r in g.readers[p])))
    cost = g.expression_cost(p)
    if n > MAX_COPIES:
        return f"read by {n} kernels before row fusion (recomputed in at most {MAX_COPIES})"
    if n > 1 and cost > MAX_COPIED_OPS:
        return (f"read by {n} kernels and too large to recompute ({cost} ops, at most "
                f"{MAX_COPIED_OPS})")
    return None


def too_deep(g: FusedGraph, p: Node, reader: Node, view) -> Optional[str]:
    """fuse._limit_expressions: expressions are cut every MAX_DEPTH inlined nodes, and where
    written out they would hold more than MAX_OPS ops."""
    depth: dict = {}

    def deep(n) -> int:
        if n not in depth:
            depth[n] = 1 + max((deep(x) for x in n.inputs if x in g.inlined), default=0)
        return depth[n]
    if deep(p) > MAX_DEPTH:
        return f"expression deeper than {MAX_DEPTH} ops: stored to bound kernel size"
    return (f"expression larger than {MAX_OPS} ops written out (a value read twice is "
            f"written twice): stored to bound kernel size")


REASON_RULES = (fusion_off, fetched, row_group_boundary, non_last_axis_reduction,
                ungrouped_reduction, gemm_epilogue_taken, not_elementwise, other_index_space,
                shared_and_costly, too_deep)


def _shape(shape) -> str:
    return "(" + ",".join(str(d) for d in shape) + ")"
