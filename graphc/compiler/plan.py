"""Plan and Slot: what the compile driver hands the targets.

A Plan holds the buffer slots of the pointer table (fed arrays, constants, variables, values
drawn on the host, and the workspace arena, where every kernel's output lives at a planned
offset), the kernels in run order, where each fetch is found, and the assignments the
executor commits after a successful run. The runtime fills in the fields below `arena_bytes`
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
