"""dce: dead-code elimination for interned graphs.

A graph is what its roots reach, so a node nothing fetches is already gone; what can still
be dead is a control dependency that orders nothing observable. Expects any L1 graph.
Guarantees that every control dependency points at a node with an effect (`has_effect`:
state, a random draw, a possible run-time error): a dependency on a pure node is replaced by
the effects that node's own inputs and dependencies run (its effect frontier), so every
assignment, assert, read and draw that ran before a node still runs before it, in the same
order, and a dependency on a pure computation without effects (a constant, arithmetic on
variables' handles) is dropped. Nodes whose deps change are rebuilt (stateful ones keep
their uid). Consumed by fusion and lowering, and by the interning of what comes next:
constants built under `control_dependencies` become equal to every other copy.
"""

from __future__ import annotations

from collections import Counter

from graphc.ir.node import replace_inputs, topo_sort
from graphc.ir.rewrite import Rewritten, has_effect


def dce(roots, origin, options) -> Rewritten:
    """The graph of `roots` with only control dependencies on effects (module docstring)."""
    new: dict = {}
    frontier: dict = {}  # new node -> the effects it runs, nearest first
    out_origin: dict = {}
    for x in topo_sort(roots):
        inputs = tuple(new[c] for c in x.inputs)
        deps = _effects_run_by([new[d] for d in x.deps], frontier)
        if (inputs, deps) == (x.inputs, x.deps) or (not x.inputs and x.op.stateful):
            y = x
        else:
            y = replace_inputs(x, inputs, deps)
        new[x] = y
        src = origin.get(x, x)
        if src is not y or x in origin:
            out_origin.setdefault(y, src)
    pruned = sum(1 for x, y in new.items() if y is not x)
    return Rewritten(tuple(new[r] for r in roots), out_origin,
                     Counter({"prune_deps": pruned} if pruned else {}))


def _effects_run_by(deps, frontier: dict) -> tuple:
    """The effect frontier of `deps`: each dep with an effect, and for each pure one the
    nearest effects reached through its inputs and deps (in a deterministic order)."""
    out: dict = {}
    for d in deps:
        for n in topo_sort([d], stop=frontier):
            if n not in frontier:
                frontier[n] = (n,) if has_effect(n) else tuple(dict.fromkeys(
                    e for c in n.inputs + n.deps for e in frontier[c]))
        out.update(dict.fromkeys(frontier[d]))
    return tuple(out)
