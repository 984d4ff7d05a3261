"""Plan and Slot: what the compile driver hands the targets.

A Plan holds the buffer slots of the pointer table (fed arrays, constants, variables, values
drawn on the host, and the workspace arena, where every kernel's output lives at a planned
offset), the kernels (in run order, and the program that runs them: kernel indices, loops and
branches over slots holding a bool), where each fetch is found, and the assignments the
executor commits after a successful run. The runtime fills in the fields below `program`
when it binds and compiles the plan; the driver never reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from graphc.ir.node import Node


@dataclass
class Slot:
    """One entry of the pointer table."""
    kind: str  # "feed", "constant", "variable", "packed", "host", "arena", "callback", "unused"
    node: Node = None  # the original node behind it (feeds, variables, random, packed)
    array: np.ndarray = None  # constants, and the memory of packed slots
    offset: int = 0  # arena byte offset
    draw: Node = None  # host slots: the specialized random node drawn before each run
    # packed slots (a variable's GEMM operand kept packed between runs, codegen_llvm/
    # prepack.py): (element offset, row stride, column stride, K, N, GemmBlocking) of B
    pack: tuple = None


@dataclass(frozen=True)
class Loop:
    """Run `cond` (program entries), then, while the bool in slot `pred` holds, `body`
    and `cond` again. Every loop var's value stays in its own slot across iterations."""
    cond: tuple
    pred: int
    body: tuple


@dataclass(frozen=True)
class Branch:
    """Run `then` where the bool in slot `pred` holds, else `other`."""
    pred: int
    then: tuple
    other: tuple


def program_kernels(program) -> list:
    """The kernel indices of a program in the order they appear (every kernel once)."""
    out = []
    for entry in program:
        if isinstance(entry, Loop):
            out += program_kernels(entry.cond) + program_kernels(entry.body)
        elif isinstance(entry, Branch):
            out += program_kernels(entry.then) + program_kernels(entry.other)
        else:
            out.append(entry)
    return out


def program_lists(program):
    """Every entry list of a program: the top level, then each loop's and branch's."""
    yield program
    for entry in program:
        if isinstance(entry, Loop):
            yield from program_lists(entry.cond)
            yield from program_lists(entry.body)
        elif isinstance(entry, Branch):
            yield from program_lists(entry.then)
            yield from program_lists(entry.other)


def without_kernels(kernels: list, program, live_until: dict, removed: set, later: bool):
    """(kernels, program, live_until) with the kernels in `removed` gone and the others
    renumbered; a slot kept alive to a removed kernel lives to the nearest kept one after
    it (`later`: its work moved there) or before it."""
    moved, kept = {}, []
    for i, kernel in enumerate(kernels):
        if i not in removed:
            moved[i] = len(kept)
            kept.append(kernel)
    nearest, last = {}, (len(kept) - 1 if later else -1)
    for i in (reversed(range(len(kernels))) if later else range(len(kernels))):
        last = moved.get(i, last)
        nearest[i] = last
    live_until = {slot: nearest[k] for slot, k in live_until.items() if nearest[k] >= 0}
    return kept, _renumbered(program, moved), live_until


def _renumbered(entries, moved: dict) -> tuple:
    out = []
    for entry in entries:
        if isinstance(entry, Loop):
            out.append(Loop(_renumbered(entry.cond, moved), entry.pred,
                            _renumbered(entry.body, moved)))
        elif isinstance(entry, Branch):
            out.append(Branch(entry.pred, _renumbered(entry.then, moved),
                              _renumbered(entry.other, moved)))
        elif entry in moved:
            out.append(moved[entry])
    return tuple(out)


@dataclass
class Plan:
    slots: list
    kernels: list
    fetch_slots: list  # per fetch: (slot index, dtype, shape) or None for operations
    commits: list  # (original variable node, slot index of its final staged value, shape)
    needs_value: list  # original variable nodes read before any assignment
    arena_bytes: int
    program: tuple = None  # kernel indices, Loops and Branches; None: every kernel in order
    entry: Callable = None
    module: object = None
    ir_text: str = ""
    table: object = None
    arena: np.ndarray = None
    bound_per_run: list = field(default_factory=list)  # (index, slot) set before each call
    bound_by: object = None  # the BoundPlan whose staging buffers the table points at
    # (slot, [packed array, variable version it holds, uses, fills]) of its "packed" slots
    # (LLVM; a record is shared by the session's plans that pack a variable the same way)
    packed: list = field(default_factory=list)
    superseded: bool = False  # no longer the executor's plan for its key (a better one is)
    key: object = None  # its key among the executor's plans
    memory: dict = field(default_factory=dict)  # the memory plan's summary (passes/memory.py)
    direct: frozenset = frozenset()  # commits' slots whose kernel writes the variable itself
    merged: dict = field(default_factory=dict)  # kernel index -> (output, input) in place
    parts: dict = field(default_factory=dict)  # slot -> (slot it lies in, byte offset)
    callbacks: object = None  # runtime/host_calls.Callbacks of a plan with prints (LLVM)
    # a stored plan's host calls, {uid: (node, buffers' (dtype, shape))} (plan_store)
    host_calls: dict = None
    cycles: Callable = None  # the plan module's graphc_cycles, for traced runs (LLVM)
    code_keys: tuple = ()  # the code-cache keys of its object code, first module first (LLVM)
    exports: list = field(default_factory=list)  # the kernel names each later module exports
    # loaded from the disk cache (runtime/plan_store.load_session): its kernels hold only
    # their names, messages and origins (LLVM)
    stored: bool = False
