"""The compile driver: fetches -> Plan, as named steps read top to bottom.

    fetches, fed shapes (and values fed as shapes)
      1. specialize       passes/specialize.py  every shape known, shape arithmetic folded
      2. optimize         passes/pipeline.py    the graph passes the options select
      3. partition        passes/fuse*.py       fusion units: nodes, row groups, GEMM epilogues
      4. assign_buffers   compiler/buffers.py   a slot per value; views share their source's
      5. lower            passes/lower*.py      one kernel per unit, parameters named by slot
      6. write_directly   compiler/commits.py   safe assignments write the variable's array
      7. place_in_arena   compiler/arena.py     arena offsets; outputs over dying inputs
      8. schedule         passes/schedule.py    loops split, run in parallel, vectorized
    Plan (slots, kernels, fetches, commits) and the kernels scheduled, ready to render

Every target and tool compiles through build_plan: the JIT (runtime/llvm.py), the CUDA
target (runtime/cuda.py; it schedules the plan's kernels for the GPU itself), ahead-of-time
export (aot/export.py), `graphc explain` and `graphc check`.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.compiler.accumulate import accumulate_products
from graphc.compiler.arena import place_in_arena
from graphc.compiler.buffers import Buffers, assign_buffers, needs_kernel
from graphc.compiler.commits import write_directly
from graphc.compiler.control import ControlLowering
from graphc.compiler.loop_inits import init_in_place
from graphc.compiler.pack_ahead import pack_ahead
from graphc.compiler.plan import Plan
from graphc.compiler.siblings import merge_siblings
from graphc.compiler.views import make_views
from graphc.ir.node import Region, make_node, topo_sort
from graphc.ir.ops.control import CONTROL_OPS, REGION_KEYS
from graphc.ir.regions import share_saving_loops
from graphc.options import default_options
from graphc.passes.fuse import GemmEpilogue, gemm_epilogues, inline_elementwise
from graphc.passes.fuse_rows import RowGroup, row_groups, units
from graphc.passes.lower import Lowering
from graphc.passes.lower_rows import lower_rows
from graphc.passes.pipeline import run_pipeline
from graphc.passes.schedule import Caps, schedule
from graphc.passes.specialize import specialize


@dataclass
class Partition:
    """The optimized graph cut into fusion units (step 3)."""
    order: list  # the nodes in topological order
    inlined: frozenset  # elementwise nodes computed inside their readers' kernels
    groups: list  # row groups (fuse_rows.RowGroup)
    epilogues: list  # matmuls with the elementwise consumer their GEMM applies
    units: list  # in run order: nodes, RowGroups, GemmEpilogues (fuse_rows.units)


def build_plan(fetches, fed_shapes: dict, describe, threads: int, options=None,
               vector_bits: int = 0, trace: dict = None, direct_commits: bool = False,
               fed_values: dict = None, views: bool = False, accumulates=None,
               packs_ahead=None):
    """(plan, kernels, slots_of) for `fetches` fed arrays of `fed_shapes`: the Plan, its
    kernels scheduled for `threads` and `vector_bits`, and slots_of(kernel) -> the table
    index of each of a kernel's parameters.

    describe(node) names a node in errors. `trace`, a dict, receives the optimized graph
    (roots, origin, order), the pass records and the fusion decisions (inlined, groups,
    epilogues); explain reads them. With `direct_commits` (executors that bind each
    variable's own array), safe assignments write the variable directly. `fed_values`
    {fed node: value}: feeds read as shapes, constants of this plan
    (specialize.shape_values). With `views` (the LLVM plans), concatenations and slices that
    need no copy are parts of one buffer (compiler/views.py). With `accumulates(dtype, k)`
    (the LLVM plans: whether the backend's gemm rounds a product of depth k whole before
    adding it), a gradient step's gemm adds its product into the variable itself
    (compiler/accumulate.py). With `packs_ahead(dtype, n)` (the LLVM plans: the GEMM
    blocking for n columns), a GEMM in a loop reads a B the loop never writes packed once
    before the loop (compiler/pack_ahead.py). options.fuse=False gives every node a kernel
    of its own."""
    options = options or default_options()
    roots, origin = specialize(fetches, fed_shapes, describe, fed_values)
    roots = share_saving_loops(roots)
    roots, origin = optimize_regions(roots, origin, options)
    optimized = run_pipeline(roots, origin, options)
    # (the passes map the outer graph's nodes; regions' nodes keep the entries made above)
    roots, origin = list(optimized.roots), {**origin, **optimized.origin}
    parts = partition(roots, options)
    if trace is not None:
        trace.update(roots=roots, origin=origin, order=list(parts.order),
                     inlined=set(parts.inlined), groups=list(parts.groups),
                     epilogues=list(parts.epilogues), records=optimized.records)
    buffers = assign_buffers(parts.units, parts.inlined, origin)
    kernels, program, live_until = lower(parts, buffers, origin, options, trace)
    slots = buffers.slots
    fetch_slots, commits = buffers.fetch_slots(roots), buffers.commits()
    fetched = {f[0] for f in fetch_slots if f is not None}
    redirect: dict = {}
    if direct_commits:
        kernels, redirect = write_directly(kernels, slots, commits, fetched)
    live_out = fetched | {c[1] for c in commits}
    keep = live_out | set(live_until) | set(redirect) | set(redirect.values())
    kernels, program, live_until = init_in_place(kernels, slots, program, live_until, keep)
    if options.fuse:
        kernels, program, live_until = merge_siblings(kernels, program, live_until)
    if accumulates is not None:
        kernels = accumulate_products(kernels, slots, keep, accumulates)
    kernels, program, live_until = pack_ahead(kernels, slots, buffers.nbytes, program,
                                              live_until, commits, packs_ahead)
    keep |= set(live_until)
    parts = {}
    if views:
        kernels, parts = make_views(kernels, slots, buffers.nbytes, program, keep)
    kernels, memory = place_in_arena(kernels, slots, buffers.nbytes, live_out, fetched,
                                     live_until, parts)
    fetch_slots = [f if f is None or f[0] not in redirect else (redirect[f[0]], *f[1:])
                   for f in fetch_slots]
    plan = Plan(slots, kernels, fetch_slots, commits, buffers.needs_value,
                memory.arena_bytes, program, direct=frozenset(redirect),
                memory=memory.summary(), merged=dict(memory.in_place), parts=parts)
    caps = Caps(threads=threads, vector_bits=vector_bits, tile=16 if vector_bits else 0)
    return plan, [schedule(k, caps) for k in kernels], buffers.slots_of


def partition(roots, options) -> Partition:
    """Step 3: which elementwise nodes are inlined into their readers, the row groups and
    the GEMM epilogues, and the units in run order. Without fusion every node is a unit."""
    order = topo_sort(roots)
    if not getattr(options, "fuse", True):
        return Partition(order, frozenset(), [], [], units(order, []))
    inlined = inline_elementwise(order, roots)
    groups = row_groups(order, roots, inlined)
    epilogues = gemm_epilogues(order, inlined, groups)
    return Partition(order, inlined, groups, epilogues, units(order, groups, epilogues))


def optimize_regions(roots, origin: dict, options):
    """The graph passes run inside every region (innermost first); (roots, origin) with
    each control node rebuilt over its optimized regions, and everything after it over
    the rebuilt nodes."""
    new: dict = {}
    for node in topo_sort(roots):
        inputs = tuple(new.get(x, x) for x in node.inputs)
        deps = tuple(new.get(d, d) for d in node.deps)
        attrs = dict(node.attrs)
        for key in REGION_KEYS.get(node.op.name, ()):
            region = attrs[key]
            inner = share_saving_loops(region.results)
            inner, origin = optimize_regions(inner, origin, options)
            done = run_pipeline(inner, origin, options)
            for out, old in done.origin.items():  # (outside nodes keep their own origin)
                origin.setdefault(out, old)
            attrs[key] = Region(region.params, done.roots)
        if inputs == node.inputs and deps == node.deps and attrs == dict(node.attrs):
            new[node] = node
            continue
        new[node] = make_node(node.op, inputs, attrs, deps)
        origin.setdefault(new[node], origin.get(node, node))
    return [new[r] for r in roots], origin


def lower(parts: Partition, buffers: Buffers, origin: dict, options, trace: dict = None):
    """Step 5: (kernels, program, live_until): one kernel per unit that computes something,
    in run order, its parameters named by their slots; the program running them (control
    nodes become Loops and Branches over their regions' kernels, compiler/control.py); the
    slots a loop keeps alive to its last kernel. Each kernel's notes hold its node ("node",
    the unit's last node), the user's node it came from ("origin") and, for a lone node, its
    inputs' slots. A `trace` (see build_plan) also receives each region's fusion decisions,
    its nodes after the outer graph's."""
    kernels: list = []

    def block(roots, preset: dict) -> list:
        """A region's graph lowered into the same table and kernel list."""
        buffers.slot_of.update(preset)
        inner = partition(list(roots), options)
        if trace is not None:
            trace["order"] += inner.order
            trace["inlined"] |= inner.inlined
            trace["groups"] += inner.groups
            trace["epilogues"] += inner.epilogues
        inner.units = rows_last(inner.units, inner.inlined)
        assign_buffers(inner.units, inner.inlined, origin, buffers)
        return lower_units(inner, buffers, origin, kernels, control)

    control = ControlLowering(buffers, kernels, block, origin)
    program = lower_units(parts, buffers, origin, kernels, control)
    return kernels, tuple(program), control.live_until


def rows_last(units: list, inlined) -> list:
    """The units with each put_row of a region's param (a loop var's buffer) moved as late
    as its readers allow: after the other readers of the param, so the loop can write the
    row in place (compiler/control.py)."""
    def reads(unit) -> set:
        nodes = unit.members if isinstance(unit, RowGroup) else (
            (unit.matmul, unit.consumer) if isinstance(unit, GemmEpilogue) else (unit,))
        out, stack = set(), [x for n in nodes for x in n.inputs]
        while stack:
            x = stack.pop()
            if x not in out:
                out.add(x)
                stack.extend(x.inputs if x in inlined else ())
        return out
    units = list(units)
    for u in [u for u in units if getattr(u, "op", None) is not None
              and u.op.name == "put_row" and u.inputs[0].op.name == "param"]:
        units.remove(u)
        later = [i for i, v in enumerate(units) if u in reads(v)]
        units.insert(later[0] if later else len(units), u)
    return units


def lower_units(parts: Partition, buffers: Buffers, origin: dict, kernels: list,
                control: ControlLowering) -> list:
    """The units of `parts` lowered, kernels appended to `kernels`; their program entries."""
    lowering = Lowering(buffers.name, parts.inlined)
    moved = {e.matmul for e in parts.epilogues}  # computed in their consumer's kernel
    program = []
    for unit in parts.units:
        if isinstance(unit, RowGroup):
            kernel, last = lower_rows(lowering, unit), unit.members[-1]
        elif isinstance(unit, GemmEpilogue):
            kernel, last = lowering.gemm_epilogue(unit.matmul, unit.consumer), unit.consumer
        elif unit in moved or not needs_kernel(unit, parts.inlined):
            continue
        elif unit.op.name in CONTROL_OPS:
            program += control.lower(unit)
            continue
        else:
            kernel, last = lowering.lower(unit), unit
            if all(x in buffers.slot_of for x in unit.inputs):
                kernel.notes["input_slots"] = [buffers.slot_of[x] for x in unit.inputs]
        lowering.messages = []
        kernel.notes["origin"] = origin.get(last, last)
        program.append(len(kernels))
        kernels.append(kernel)
    return program
