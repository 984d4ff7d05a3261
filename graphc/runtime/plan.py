"""Plans: what a run of the LLVM target (and the targets and exports built on its plans) does.

build_plan turns fetches and fed shapes into a Plan: specialization, the graph passes,
fusion (inlined elementwise producers, row groups, GEMM epilogues), one L2 kernel per unit,
arena offsets from buffer lifetimes, and the kernels scheduled for the thread count. A Plan
holds the buffer slots of the pointer table: fed arrays, constants, variables, values drawn
on the host (random), and the workspace arena, where every kernel's output lives at a
planned offset. Values that are views of another buffer (reshape, identity, reads) take that
buffer's slot. Assignments write staging buffers in the arena, committed to the variables
by the executor only when the whole run succeeded; with `direct_commits`, an assignment after
which the run cannot fail, and whose old value nothing needs any more, writes the variable's
own array instead (no copy after the run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from graphc.ir import kernel as K
from graphc.ir.node import Node, topo_sort
from graphc.options import default_options
from graphc.passes.fuse import GemmEpilogue, gemm_epilogues, inline_elementwise
from graphc.passes.fuse_rows import RowGroup, row_groups, units
from graphc.passes.lower import VIEW_OPS, Lowering, size_of
from graphc.passes.lower_rows import lower_rows
from graphc.passes.memory import MemoryPlan, plan_memory
from graphc.passes.pipeline import optimize_graph
from graphc.passes.schedule import Caps, schedule
from graphc.passes.specialize import specialize


@dataclass
class Slot:
    """One entry of the pointer table."""
    kind: str  # "feed", "constant", "variable", "host", "arena", "unused"
    node: Node = None  # the original node behind it (feeds, variables, random)
    array: np.ndarray = None  # constants
    offset: int = 0  # arena byte offset
    draw: Node = None  # host slots: the specialized random node drawn before each run


@dataclass
class Plan:
    slots: list
    kernels: list
    fetch_slots: list  # per fetch: (slot index, dtype, shape) or None for operations
    commits: list  # (original variable node, slot index of its final staged value, shape)
    needs_value: list  # original variable nodes read before any assignment
    arena_bytes: int
    entry: Callable = None
    module: object = None
    ir_text: str = ""
    table: object = None
    arena: np.ndarray = None
    bound_per_run: list = field(default_factory=list)  # (index, slot) set before each call
    bound_by: object = None  # the BoundPlan whose staging buffers the table points at
    memory: dict = field(default_factory=dict)  # the memory plan's summary (passes/memory.py)
    direct: frozenset = frozenset()  # commits' slots whose kernel writes the variable itself


def build_plan(fetches, fed_shapes: dict, describe, threads: int, options=None,
               vector_bits: int = 0, trace: dict = None, direct_commits: bool = False,
               fed_values: dict = None):
    """(plan, kernels, slots_of) for `fetches` with feeds of `fed_shapes`: the Plan (slots,
    kernels as lowered, fetch slots, commits), the kernels scheduled for `threads`, ready to
    render, and slots_of(kernel) -> the table index of each of its parameters. Shared by the
    JIT (compile) and ahead-of-time export (graphc.aot). `trace`, a dict, receives the
    optimized graph and the fusion decisions (graphc.explain reads them); options.fuse=False
    gives every node a kernel of its own. With `direct_commits` (the JIT, whose executor binds
    each variable's own array for the run), an assignment that is safe to apply in place
    writes the variable directly instead of a staging buffer (_PlanBuilder.direct_commits).
    `fed_values` {fed node: value}: feeds read as shapes, constants of this plan
    (specialize.shape_values)."""
    options = options or default_options()
    spec_fetches, origin = specialize(fetches, fed_shapes, describe, fed_values)
    spec_fetches, origin = optimize_graph(spec_fetches, origin, options)
    order = topo_sort(spec_fetches)
    fuse = getattr(options, "fuse", True)
    inlined = inline_elementwise(order, spec_fetches) if fuse else frozenset()
    groups = row_groups(order, spec_fetches, inlined) if fuse else []
    epilogues = gemm_epilogues(order, inlined, groups) if fuse else []
    if trace is not None:
        trace.update(roots=spec_fetches, origin=origin, order=order, inlined=inlined,
                     groups=groups, epilogues=epilogues)
    builder = _PlanBuilder(origin, inlined, direct_commits)
    moved = {e.matmul for e in epilogues}  # computed later, in their consumer's kernel
    for unit in units(order, groups, epilogues):
        if isinstance(unit, RowGroup):
            builder.add_rows(unit)
        elif isinstance(unit, GemmEpilogue):
            builder.add_gemm_epilogue(unit)
        elif unit in moved:
            builder.reserve(unit)
        else:
            builder.add(unit)
    plan = builder.finish(spec_fetches)
    caps = Caps(threads=threads, vector_bits=vector_bits)
    return plan, [schedule(k, caps) for k in plan.kernels], builder.slots_of


def _written(kernel: K.Kernel) -> set:
    """Names of the buffers a kernel writes: stores, and a library routine's output."""
    out: set = set()

    def walk(stmts):
        for st in stmts:
            if isinstance(st, K.Store):
                out.add(st.buffer)
            elif isinstance(st, K.Intrinsic):
                out.add(st.buffers[2] if st.name == "gemm" else st.buffers[-1])
            walk(K.substatements(st))
    walk(kernel.body)
    return out


def _in_place_pairs(kernel: K.Kernel) -> list:
    """(output slot, input slot) pairs where the kernel may write its output over the input
    (_same_element_pairs of its body). A gemm may write its epilogue's output over C."""
    gemm = _lone_gemm(kernel.body)
    if gemm is None:
        return _same_element_pairs(kernel.body)
    c = int(gemm.buffers[2][1:])
    return [(out, inp) for out, inp in _same_element_pairs(gemm.epilogue) if inp == c]


def _same_element_pairs(stmts) -> list:
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


def _lone_gemm(stmts):
    """The gemm Intrinsic a kernel body consists of (inside its batch loops), or None."""
    if len(stmts) != 1:
        return None
    (s,) = stmts
    if isinstance(s, K.Intrinsic):
        return s if s.name == "gemm" else None
    return _lone_gemm(s.body) if isinstance(s, K.Loop) else None


def _merge_buffers(kernel: K.Kernel, gone: str, kept: str) -> K.Kernel:
    """The kernel reading `gone` from `kept` (the two now share memory): one parameter."""
    merged = K.rename_buffers(kernel, {gone: kept})
    seen, buffers = set(), []
    for b in merged.buffers:
        if b.name not in seen:
            seen.add(b.name)
            buffers.append(b)
    return replace(merged, buffers=tuple(buffers))


class _PlanBuilder:
    """Walks the specialized nodes in order, giving each a slot and, if needed, a kernel."""

    def __init__(self, origin: dict, inlined: frozenset, direct_commits: bool = False):
        self.origin = origin
        self.allow_direct = direct_commits
        self.inlined = inlined
        self.slots: list = []
        self.slot_of: dict = {}  # specialized node -> slot index
        self.latest: dict = {}  # variable node -> slot holding its current (staged) value
        self.needs_value: list = []
        self.kernels: list = []
        self._bytes: dict = {}  # arena slot -> bytes
        self.lowering = Lowering(self._buffer_name, inlined)

    def _buffer_name(self, node) -> str:
        if isinstance(node, tuple):  # ("current", var): the variable's value right now
            var = node[1]
            if var not in self.latest:
                self._read_variable(var)
            return f"s{self.latest[var]}"
        return f"s{self.slot_of[node]}"

    def _new_slot(self, slot: Slot) -> int:
        self.slots.append(slot)
        return len(self.slots) - 1

    def _arena_slot(self, node) -> int:
        """A workspace buffer for node's value; its offset is planned in finish()."""
        index = self._new_slot(Slot("arena", node))
        self._bytes[index] = size_of(node.shape) * node.dtype.np.itemsize
        return index

    def _read_variable(self, var):
        original = self.origin.get(var, var)
        slot = self._new_slot(Slot("variable", original))
        self.latest[var] = slot
        if original not in self.needs_value:
            self.needs_value.append(original)

    def add(self, node: Node) -> None:
        name = node.op.name
        original = self.origin.get(node, node)
        if node in self.inlined:
            return  # computed inside the kernel of its consumer
        if name == "placeholder":
            self.slot_of[node] = self._new_slot(Slot("feed", original))
        elif name == "constant":
            self.slot_of[node] = self._new_slot(Slot("constant", array=np.ascontiguousarray(
                node.attrs["value"])))
        elif name == "variable" or name == "no_op":
            return
        elif name == "random":
            self.slot_of[node] = self._new_slot(Slot("host", original, draw=node))
        elif name == "read":
            var = node.inputs[0]
            if var not in self.latest:
                self._read_variable(var)
            self.slot_of[node] = self.latest[var]
        elif name in VIEW_OPS:
            self.slot_of[node] = self.slot_of[node.inputs[0]]
        else:
            if node.dtype is not None:
                self.slot_of[node] = self._arena_slot(node)
            kernel = self.lowering.lower(node)
            if all(x in self.slot_of for x in node.inputs):
                kernel.notes["input_slots"] = [self.slot_of[x] for x in node.inputs]
            self._append(kernel, node)

    def _append(self, kernel: K.Kernel, node: Node) -> None:
        """Take the kernel just lowered for `node` (its last node, for a group); after an
        assignment, the variable's value is in the assignment's slot."""
        self.lowering.messages = []
        kernel.notes["origin"] = self.origin.get(node, node)
        self.kernels.append(kernel)
        if node.op.name == "assign":
            self.latest[node.inputs[0]] = self.slot_of[node]

    def reserve(self, node: Node) -> None:
        """A buffer for a node whose kernel comes later (a matmul with an epilogue)."""
        self.slot_of[node] = self._arena_slot(node)

    def add_gemm_epilogue(self, pair: GemmEpilogue) -> None:
        """One kernel for a matmul and the elementwise consumer its GEMM applies."""
        matmul, consumer = pair.matmul, pair.consumer  # the matmul has its slot already
        self.slot_of[consumer] = self._arena_slot(consumer)
        self._append(self.lowering.gemm_epilogue(matmul, consumer), consumer)

    def add_rows(self, group: RowGroup) -> None:
        """One kernel for a row group; its members that other kernels read get buffers."""
        for member in group.members:
            if member in group.stored:
                self.slot_of[member] = self._arena_slot(member)
        self._append(lower_rows(self.lowering, group), group.members[-1])

    def slots_of(self, kernel: K.Kernel) -> list:
        return [int(b.name[1:]) for b in kernel.params]

    def finish(self, fetches) -> Plan:
        fetch_slots = []
        for f in fetches:
            if f.dtype is None:
                fetch_slots.append(None)
            elif f.op.name == "variable":
                fetch_slots.append((self.latest.get(f, None), f.dtype.np, f.shape))
            else:
                fetch_slots.append((self.slot_of[f], f.dtype.np, f.shape))
        commits = []
        for var, slot in self.latest.items():
            if self.slots[slot].kind == "arena":
                commits.append((self.origin.get(var, var), slot, var.shape))
        fetched = {f[0] for f in fetch_slots if f is not None}
        direct = self.direct_commits(commits, fetched) if self.allow_direct else {}
        for k, (staged, own) in direct.items():  # the kernel writes the variable's array,
            for j in range(k, len(self.kernels)):  # and later kernels read the new value there
                self.kernels[j] = _merge_buffers(self.kernels[j], f"s{staged}", f"s{own}")
            self.slots[staged] = Slot("unused")
        redirect = {staged: own for staged, own in direct.values()}
        memory = self._plan_memory(fetched | {c[1] for c in commits}, fetched)
        fetch_slots = [f if f is None or f[0] not in redirect else (redirect[f[0]], *f[1:])
                       for f in fetch_slots]
        plan = Plan(self.slots, self.kernels, fetch_slots, commits, self.needs_value,
                    memory.arena_bytes, direct=frozenset(redirect))
        plan.memory = memory.summary()
        return plan

    def direct_commits(self, commits, fetched: set) -> dict:
        """{kernel index: (staged slot, variable slot)} for the assignments whose kernel can
        write the variable's own array, so that no copy commits them after the run. Safe
        when the run can no longer fail once that kernel starts (no Check in it or after
        it), the kernel reads the old value only at the element it writes (an elementwise
        update, or a GEMM epilogue whose GEMM does not read the variable), nothing after it
        reads the old value, and the old value is not fetched."""
        own = {s.node: i for i, s in enumerate(self.slots) if s.kind == "variable"}
        writers: dict = {}
        for k, kernel in enumerate(self.kernels):
            for name in _written(kernel):
                writers.setdefault(int(name[1:]), []).append(k)
        checks = [k for k, kernel in enumerate(self.kernels) if K.has_check(kernel.body)]
        out = {}
        for var, staged, _ in commits:
            slot, (k, *more) = own.get(var), writers.get(staged, [None])
            if slot is None or more or k is None or slot in fetched or \
                    any(c >= k for c in checks):
                continue
            kernel = self.kernels[k]
            gemm = _lone_gemm(kernel.body)
            if gemm is not None and (not gemm.epilogue or f"s{slot}" in gemm.buffers):
                continue
            body = gemm.epilogue if gemm is not None else kernel.body
            if (staged, slot) not in _same_element_pairs(body):
                continue
            if any(f"s{slot}" in (b.name for b in later.params)
                   for later in self.kernels[k + 1:]):
                continue
            out[k] = (staged, slot)
        return out

    def _dtype(self, slot: int):
        return self.slots[slot].node.dtype

    def _plan_memory(self, live_out: set, fetched: set) -> MemoryPlan:
        """Arena offsets by liveness (graphc/passes/memory.py); elementwise kernels writing
        over an input that dies there read and write one buffer from then on. Not when the
        output is fetched: a run may point a fetched slot at the caller's out= array."""
        arena = {i for i, s in enumerate(self.slots) if s.kind == "arena"}
        io, candidates = [], {}
        for k, kernel in enumerate(self.kernels):
            written = {int(b[1:]) for b in _written(kernel)} & arena
            read = {int(b.name[1:]) for b in kernel.params} & arena - written
            io.append((sorted(written), sorted(read)))
            # the output's element i overwrites the input's element i only when both have
            # the same dtype: a wider one (float32 over bools) would clobber elements not
            # read yet, and the merged buffer has one element type (the CUDA renderer reads
            # an int32 input as the float32 buffer it became)
            candidates[k] = [(o, i) for o, i in _in_place_pairs(kernel)
                             if i in arena and o in arena and o not in fetched
                             and self._dtype(o) == self._dtype(i)]
        memory = plan_memory(io, {i: self._bytes[i] for i in arena}, live_out, candidates)
        for i in arena:
            self.slots[i].offset = memory.offsets[i]
        for k, (out, inp) in memory.in_place.items():
            self.kernels[k] = _merge_buffers(self.kernels[k], f"s{inp}", f"s{out}")
        return memory
