"""Building and rewriting regions (graphc.ir.node.Region): fresh params, substitution, and
closing a traced sub-graph over its explicit captures.

A region is closed when it reads nothing but its params (and constants, which it keeps).
Tracing a loop body with params in hand gives a sub-graph that also reads values from
outside (a weight, a placeholder); `close_regions` turns each such value into a param of
the region and an input of the control node (a capture). In a loop, everything that does
not depend on a param is computed outside, once: loop-invariant work is hoisted by
construction. A branch keeps what it built (it runs only when taken).
"""

from __future__ import annotations

from graphc.errors import ShapeError
from graphc.ir import ops as prims
from graphc.ir.node import Node, Region, make_node, topo_sort
from graphc.ir.ops.control import REGION_KEYS


def new_param(dtype, shape) -> Node:
    """A fresh region input of this dtype and shape (None dims: any size)."""
    return make_node(prims.get("param"), (), {"dtype": dtype, "shape": shape})


def substitute(roots, mapping: dict, record: dict = None) -> list:
    """`roots` rebuilt with each node in `mapping` replaced by its image (nodes that reach
    no replaced node stay as they are). Stateful nodes keep their uid; a region is closed, so
    nested control nodes change only through their inputs. `record`, a dict, receives
    {old node: its rebuilt node} for the nodes rebuilt."""
    order = topo_sort(list(roots), stop=frozenset(mapping))
    new = dict(mapping)
    for node in order:
        if node in new:
            continue
        inputs = tuple(new.get(x, x) for x in node.inputs)
        deps = tuple(new.get(d, d) for d in node.deps)
        if inputs == node.inputs and deps == node.deps:
            new[node] = node
        else:
            new[node] = make_node(node.op, inputs, dict(node.attrs), deps)
            if record is not None:
                record[node] = new[node]
    return [new[r] for r in roots]


def without_prints(roots) -> list:
    """`roots` rebuilt without their control dependencies on print nodes, in nested regions
    too: a gradient's copy of a loop body or a branch (and the saving copies of the loops
    inside them) computes the forward values again, but prints nothing: the forward pass
    printed them."""
    new: dict = {}
    for node in topo_sort(list(roots)):
        inputs = tuple(new.get(x, x) for x in node.inputs)
        deps = tuple(new.get(d, d) for d in node.deps if d.op.name != "print")
        attrs = dict(node.attrs)
        for key in REGION_KEYS.get(node.op.name, ()):
            region = attrs[key]
            attrs[key] = Region(region.params, without_prints(region.results))
        if inputs == node.inputs and deps == node.deps and attrs == dict(node.attrs):
            new[node] = node
        else:
            new[node] = make_node(node.op, inputs, attrs, deps)
    return [new[r] for r in roots]


# values a region always reads from outside, wherever they were built: state lives outside
STATE_SOURCES = ("placeholder", "placeholder_with_default", "variable", "read")


def depends_on(roots, sources, inside=frozenset()) -> set:
    """The nodes reachable from `roots` that depend on some node of `sources` (included),
    or are in `inside` (unless they read state), or depend on such a node."""
    sources = frozenset(sources)
    dependent = set()
    for node in topo_sort(list(roots), stop=sources):
        if node in sources or (node in inside and node.op.name not in STATE_SOURCES) \
                or any(x in dependent for x in node.inputs + node.deps):
            dependent.add(node)
    return dependent


def close_regions(params, result_lists, inside=frozenset(), record: dict = None):
    """(regions, captures, after): one Region per list of `result_lists`, all over `params`
    followed by one param per captured outside value; the captured values (the control
    node's inputs after its own operands), in a fixed order; and the outside nodes the
    control node must run after (a region's control dependencies on outside nodes).

    A node stays inside when it depends on a param or is in `inside` (what a branch built:
    a branch's work runs only when it is taken); the rest is computed outside, once.
    `record`, a dict, receives {traced node: the region's node} for the nodes rebuilt (so
    the API can give them the traced nodes' names and locations)."""
    params = list(params)
    captured: dict = {}  # outside node -> its param
    after: list = []
    for results in result_lists:
        dependent = depends_on(results, params, inside)
        for node in topo_sort(list(results), stop=frozenset(params)):
            if node in dependent:
                for x in node.inputs:
                    if x not in dependent:
                        _capture(x, captured)
                after.extend(d for d in node.deps if d not in dependent and d not in after)
        for r in results:
            if r not in dependent:
                _capture(r, captured)
    regions = []
    for results in result_lists:
        stripped: dict = {}
        inner = substitute([_strip_outer_deps(r, params, inside, stripped) for r in results],
                           captured, record)
        if record is not None:
            for old, mid in stripped.items():
                record[old] = record.get(mid, mid)
        regions.append(Region(params + list(captured.values()), inner))
    return regions, list(captured), after


def _capture(node: Node, captured: dict) -> None:
    if node.op.name == "constant":  # stays inside: folded into the region's kernels
        return
    if node not in captured:
        if node.dtype is None:
            raise ShapeError(f"a {node.op.name} operation from outside cannot be a value "
                             "inside a control-flow region")
        captured[node] = new_param(node.dtype, node.shape)


def _strip_outer_deps(root: Node, params, inside, record: dict) -> Node:
    """`root` with the control dependencies on outside nodes removed from every node
    between it and the params."""
    dependent = depends_on([root], params, inside)
    order = [n for n in topo_sort([root], stop=frozenset(params)) if n in dependent]
    new: dict = {}
    for node in order:
        if node in params:
            new[node] = node
            continue
        inputs = tuple(new.get(x, x) for x in node.inputs)
        deps = tuple(new.get(d, d) for d in node.deps if d in dependent)
        new[node] = node if (inputs == node.inputs and deps == node.deps) else make_node(
            node.op, inputs, dict(node.attrs), deps)
        if new[node] is not node:
            record[node] = new[node]
    return new.get(root, root)


def share_saving_loops(roots, fed=frozenset()) -> list:
    """`roots` with the results of a while loop taken from its saving copy where both are
    needed (autodiff/control.py: the copy has attrs["saves"] = the loop's loop_id and the
    same loop vars first), so the forward loop runs once. Nodes in `fed` stay as they are
    (their values are given)."""
    fed = frozenset(fed)
    order = topo_sort(list(roots), stop=fed)
    copies = {n.attrs["saves"]: n for n in order
              if n.op.name == "while" and "saves" in n.attrs}
    if not copies:
        return list(roots)
    mapping = {f: f for f in fed}
    for node in order:
        if node in fed or node.op.name != "item" or node.inputs[0].op.name != "while":
            continue
        loop = node.inputs[0]
        copy = copies.get(loop.attrs["loop_id"])
        n = len(loop.attrs["body"].results)
        if copy is not None and copy.inputs[:n] == loop.inputs[:n]:
            mapping[node] = make_node(node.op, (copy,), dict(node.attrs), node.deps)
    return substitute(roots, mapping) if len(mapping) > len(fed) else list(roots)
