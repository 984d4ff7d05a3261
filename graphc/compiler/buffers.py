"""assign_buffers: a slot of the pointer table for every value a kernel reads or writes.

Expects the fusion units in run order (driver.partition). Guarantees, walking them in that
order: fed values, constants and host-drawn random values get slots of their own; a
computed value gets an arena slot (its offset is placed later, compiler/arena.py); views
(reshape, identity, reads of a variable) take their source's slot; a variable's first read
gets the variable's slot, and after an assignment the variable's value is the assignment's
slot (staged: the executor commits it after the run). A plan with host calls (prints,
collectives) has one "callback" slot (runtime/host_calls.py), which their kernels read. An
assignment that adds to or subtracts from its variable reads the value before it under the
key ("before", assign).
Inlined nodes, variables and no_op get no slot.
"""

from __future__ import annotations

import contextlib

import numpy as np

from graphc.compiler.plan import Slot
from graphc.ir import kernel as K
from graphc.ir.node import Node
from graphc.ir.ops.control import CONTROL_OPS, results_of
from graphc.passes.fuse import GemmEpilogue
from graphc.passes.fuse_rows import RowGroup
from graphc.passes.lower import CALLBACK, HOST_CALL_OPS, VIEW_OPS, size_of

# nodes that are a buffer's value without a kernel computing them (a param's slot is set
# by its control node; an item is one of its control node's result slots)
SOURCES = ("placeholder", "constant", "variable", "no_op", "random", "param", "item")


def needs_kernel(node: Node, inlined) -> bool:
    """Whether a lone node unit gets a kernel (or, for a control node, a sub-program): not
    a source, not a view, not inlined."""
    return not (node in inlined or node.op.name in SOURCES or node.op.name in VIEW_OPS)


class Buffers:
    """The slot table: slots, and the slot of each node (or ("before", assign))."""

    def __init__(self, origin: dict):
        self.origin = origin
        self.slots: list = []
        self.slot_of: dict = {}  # specialized node or ("before", assign) -> slot index
        self.latest: dict = {}  # variable node -> slot holding its current (staged) value
        self.needs_value: list = []  # original variables read before any assignment
        self.nbytes: dict = {}  # arena slot -> bytes
        # random node -> its host slot: one draw per run wherever the node appears (a
        # branch and its gradient's copy of the branch read the same draw); not scoped
        self.draws: dict = {}

    def name(self, key) -> str:
        """The buffer name of a node's slot, as kernels call their parameters."""
        return f"s{self.slot_of[key]}"

    def slots_of(self, kernel: K.Kernel) -> list:
        """The table index of each of a kernel's parameters."""
        return [int(b.name[1:]) for b in kernel.params]

    def fetch_slots(self, fetches) -> list:
        """Per fetch: (slot, numpy dtype, shape), or None for an operation."""
        out = []
        for f in fetches:
            if f.dtype is None:
                out.append(None)
            elif f.op.name == "variable":
                out.append((self.latest.get(f, None), f.dtype.np, f.shape))
            else:
                out.append((self.slot_of[f], f.dtype.np, f.shape))
        return out

    def commits(self) -> list:
        """(original variable, slot of its final staged value, shape) per assigned variable."""
        return [(self.origin.get(var, var), slot, var.shape)
                for var, slot in self.latest.items() if self.slots[slot].kind == "arena"]

    def _new(self, slot: Slot) -> int:
        self.slots.append(slot)
        return len(self.slots) - 1

    def _arena(self, node: Node) -> None:
        self.slot_of[node] = self.temporary(node)

    @contextlib.contextmanager
    def scope(self):
        """A region's slots: inside the block, the region may give its own slots to nodes
        the graph around it also computes (equal nodes are one node); after it, those nodes
        have their outer slots again, which the region's branch or loop may not have
        written."""
        saved = dict(self.slot_of)
        try:
            yield
        finally:
            self.slot_of.update(saved)

    def temporary(self, node: Node, dtype=None, shape=None) -> int:
        """A fresh arena slot for a value of `node`'s dtype and shape (or of those given:
        a control node's results)."""
        index = self._new(Slot("arena", node))
        dtype, shape = dtype or node.dtype, node.shape if shape is None else shape
        self.nbytes[index] = size_of(shape) * dtype.np.itemsize
        return index

    def _current(self, var: Node) -> int:
        """The slot of the variable's value now, the variable's own array if not assigned."""
        if var not in self.latest:
            original = self.origin.get(var, var)
            self.latest[var] = self._new(Slot("variable", original))
            if original not in self.needs_value:
                self.needs_value.append(original)
        return self.latest[var]

    def _computed(self, node: Node) -> None:
        """A node a kernel computes: its arena slot, and an assignment's variable state; a
        control node's results: an arena slot each, under ("result", node, index)."""
        if node.op.name in CONTROL_OPS:
            for i, (dtype, shape) in enumerate(results_of(node)):
                self.slot_of[("result", node, i)] = self.temporary(node, dtype, shape)
            return
        if node.dtype is not None:
            self._arena(node)
        if node.op.name in HOST_CALL_OPS and CALLBACK not in self.slot_of:  # one per plan
            self.slot_of[CALLBACK] = self._new(Slot("callback", self.origin.get(node, node)))
        if node.op.name == "assign":
            var = node.inputs[0]
            if node.attrs["mode"] != "set":
                self.slot_of[("before", node)] = self._current(var)
            self.latest[var] = self.slot_of[node]

    def _source(self, node: Node) -> None:
        name, original = node.op.name, self.origin.get(node, node)
        if name == "placeholder":
            self.slot_of[node] = self._new(Slot("feed", original))
        elif name == "constant":
            self.slot_of[node] = self._new(Slot("constant", array=np.ascontiguousarray(
                node.attrs["value"])))
        elif name == "random":
            if node not in self.draws:
                self.draws[node] = self._new(Slot("host", original, draw=node))
            self.slot_of[node] = self.draws[node]
        elif name == "read":
            self.slot_of[node] = self._current(node.inputs[0])
        elif name == "item":
            self.slot_of[node] = self.slot_of[("result", node.inputs[0], node.attrs["index"])]
        elif name in VIEW_OPS:
            self.slot_of[node] = self.slot_of[node.inputs[0]]


def assign_buffers(units, inlined, origin: dict, buffers: Buffers = None) -> Buffers:
    """The slot table of `units` (driver.partition) in run order; with `buffers`, added to
    that table (a region's units, whose params' slots are set already)."""
    buffers = buffers or Buffers(origin)
    moved = {u.matmul for u in units if isinstance(u, GemmEpilogue)}
    for unit in units:
        if isinstance(unit, RowGroup):
            for member in unit.members:
                if member in unit.stored:
                    buffers._arena(member)
        elif isinstance(unit, GemmEpilogue):
            buffers._computed(unit.consumer)
        elif unit in moved:  # its kernel comes later, with its consumer's
            buffers._arena(unit)
        elif unit in inlined:
            continue
        elif needs_kernel(unit, inlined):
            buffers._computed(unit)
        else:
            buffers._source(unit)
    return buffers
