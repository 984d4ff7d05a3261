"""Reverse-mode differentiation as a graph-to-graph transformation over L1 nodes.

`gradients(ys, cotangents, targets)` walks the graph from ys back to the targets and, for
each node on a path between them, applies its VJP rule (rules.py); the result is more L1
nodes. Semantics follow TF1: the ys are summed (each weighted by its cotangent), a target
no y depends on gets None, integer values carry no gradient, cotangents of a value used
several times are summed, control dependencies carry none, and `stops` are treated as
constants. The TF1 API (graphc/ops/gradients.py) names the new nodes in the user's graph.
"""

from __future__ import annotations

from graphc.autodiff import build as B
from graphc.autodiff.build import Builder
from graphc.autodiff.control import control_vjp
from graphc.autodiff.rules import NOT_DIFFERENTIABLE, VJPS, Primal
from graphc.errors import DTypeError
from graphc.ir.node import topo_sort
from graphc.ir.ops.control import CONTROL_OPS, results_of


def gradients(ys, cotangents, targets, stops=frozenset(), deps=(), describe=repr) -> list:
    """Per group of target nodes, the node of d(sum of ys)/d(targets) summed over the group
    (a Variable's reads form one group), or None where no gradient flows.

    ys: nodes; cotangents: per y, the node of its cotangent or None (ones); stops: nodes
    differentiated as constants; deps: the control dependencies every new node runs after;
    describe(node) names a node in errors."""
    builder = Builder(deps)
    order = topo_sort(list(ys))
    live = _depends_on_targets(order, {n for group in targets for n in group}, stops)
    parts: dict = {}
    for y, gy in zip(ys, cotangents):
        if y in live:
            y = builder.wrap(y)
            parts.setdefault(y.node, []).append(B.ones_like(y) if gy is None
                                                else builder.wrap(gy))
    results: dict = {}  # control node -> {result index: [cotangents]}
    for node in reversed(order):
        if node.op.name in CONTROL_OPS and node in results and node not in stops:
            per = results.pop(node)
            gs = [_sum(per[i]) if i in per else None for i in range(len(results_of(node)))]
            grads = control_vjp(node, gs, builder, describe, gradients)
        elif not parts.get(node) or node in stops:
            continue
        elif node.op.name == "item":  # a control node's result: gathered for its VJP
            per = results.setdefault(node.inputs[0], {})
            per.setdefault(node.attrs["index"], []).append(_summed(parts, node))
            continue
        else:
            grads = _apply_rule(node, _summed(parts, node), builder, describe)
        for inp, gi in zip(node.inputs, grads):
            if gi is not None and inp in live:
                parts.setdefault(inp, []).append(gi)
    out = []
    for group in targets:
        found = [_summed(parts, n) for n in group if parts.get(n)]
        out.append(_sum(found).node if found else None)
    return out


def _depends_on_targets(order, targets, stops) -> set:
    """Float nodes through which some target reaches a y (without crossing stops).

    A stop is a constant to differentiate through, yet it still gets its own gradient when
    it is a target (TF1: gradients(a + b, [a, b], stop_gradients=[a, b]) is [1, 1])."""
    live = set()
    for node in order:
        if node.op.name in CONTROL_OPS:  # a tuple: live when some input is
            if node not in stops and any(x in live for x in node.inputs):
                live.add(node)
            continue
        if node.dtype is None or node.dtype.kind != "f":
            continue
        if node in targets or (node not in stops and node.op.name not in NOT_DIFFERENTIABLE
                               and any(x in live for x in node.inputs)):
            live.add(node)
    return live


def _sum(values):
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _summed(parts: dict, node):
    if len(parts[node]) > 1:
        pieces = _pieces(parts[node], node.shape)
        parts[node] = [B.concat(pieces[1], pieces[0]) if pieces else _sum(parts[node])]
    return parts[node][0]


def _pieces(values, shape):
    """(axis, cotangents in order) when `values` are the slice_grads of slices that cut a
    value of `shape` into pieces along one axis (the cotangents of tf.split's outputs, an
    LSTM's gates): their sum is the pieces concatenated, with no zeros written and added."""
    if shape is None or None in shape or any(v.node.op.name != "slice_grad" for v in values):
        return None
    spans = {}
    for v in values:
        cuts = [(a, s) for a, s in enumerate(v.node.attrs["slices"])
                if _span(s, shape[a]) != (0, shape[a])]
        if tuple(v.node.attrs["shape"]) != tuple(shape) or len(cuts) != 1 \
                or (cuts[0][1][2] or 1) != 1:
            return None
        axis, s = cuts[0]
        spans.setdefault(axis, []).append((_span(s, shape[axis]), v.node.inputs[0]))
    if len(spans) != 1:
        return None
    (axis, found), = spans.items()
    found.sort(key=lambda item: item[0])
    ends = [0] + [end for (_, end), _ in found]
    if [start for (start, _), _ in found] != ends[:-1] or ends[-1] != shape[axis]:
        return None
    return axis, [values[0].builder.wrap(g) for _, g in found]


def _span(s, n: int):
    """(start, stop) of a (start, stop, step) slice of a dim of n, for step 1."""
    start, stop, _ = s
    return (0 if start is None else start + n * (start < 0),
            n if stop is None else min(stop + n * (stop < 0), n))


def _apply_rule(node, g, builder: Builder, describe):
    rule = VJPS.get(node.op.name)
    if rule is None:
        if node.op.name in NOT_DIFFERENTIABLE:
            return [None] * len(node.inputs)
        raise LookupError(f"No gradient defined for {describe(node)}")
    grads = rule(Primal(node, builder), g)
    for inp, gi in zip(node.inputs, grads):
        if gi is not None and gi.dtype is not inp.dtype and inp.dtype.kind == "f":
            raise DTypeError(f"gradient of {node.op.name} for an input of dtype {inp.dtype} "
                             f"came out as {gi.dtype}")
    return grads
