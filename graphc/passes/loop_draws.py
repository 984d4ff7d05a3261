"""hoist_draws: the random draws of a compiled while loop's body, fresh in every iteration.

A compiled plan draws each random node on the host once per run (a host slot), which
inside a loop would repeat one draw in every iteration, where TF (and the reference target,
which runs the body node by node) draws anew each time. Expects a while node whose regions
are specialized (static shapes); the API keeps draws out of loops without a constant
`bound` (maximum_iterations). Guarantees a while node computing the same values in which
each draw of the body is one draw of `bound` rows made outside the loop, of which iteration
k reads row k (a new loop var after the others counts the iterations). The big draw keeps
the user's node as its origin, so it comes from that node's generator. Consumed by
specialize; a draw inside a cond inside the body is refused (not supported yet).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import InvalidArgumentError
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import Region, make_node, topo_sort
from graphc.ir.ops.control import regions
from graphc.ir.regions import new_param, substitute


def hoist_draws(node, origin: dict, describe):
    """The while `node` with its body's random draws made outside (see the docstring)."""
    cond, body = node.attrs["cond"], node.attrs["body"]
    inner = topo_sort(list(body.results), stop=frozenset(body.params))
    _refuse_nested(inner, origin, describe)
    draws = [x for x in inner if x.op.name == "random"]
    if not draws:
        return node
    bound = node.attrs["bound"]
    if bound < 0:
        raise InvalidArgumentError(
            f"{describe(origin.get(draws[0], draws[0]))}: a random op inside a while_loop "
            "needs the loop's maximum_iterations as a constant", draws[0])
    n = len(body.results)
    k = new_param(dtypes.int32, ())
    outside, params, rows = [], [], {}
    for draw in draws:
        # the draw's uid is kept: every copy of this loop (a gradient's saving loop) hoists
        # the same node, drawn once per run
        attrs = dict(draw.attrs, shape=(max(bound, 1),) + tuple(draw.shape))
        many = make_node(draw.op, (), attrs)
        origin[many] = origin.get(draw, draw)
        param = new_param(many.dtype, many.shape)
        outside.append(many)
        params.append(param)
        rows[draw] = make_node(prims.get("gather"), (param, k), {"axis": 0})
    one = _constant(1)
    results = substitute(body.results, rows) + [make_node(prims.get("add"), (k, one))]
    body_params = list(body.params[:n]) + [k] + list(body.params[n:]) + params
    cond_params = list(cond.params[:n]) + [k] + list(cond.params[n:]) + params
    inputs = list(node.inputs[:n]) + [_constant(0)] + list(node.inputs[n:]) + outside
    attrs = dict(node.attrs, cond=Region(cond_params, cond.results),
                 body=Region(body_params, results))
    return make_node(node.op, inputs, attrs, node.deps)


def _constant(value: int):
    return make_node(prims.get("constant"), (), {"value": np.array(value, np.int32)})


def _refuse_nested(nodes, origin, describe) -> None:
    """A draw inside a cond of a loop body would repeat too; not supported yet."""
    for node in nodes:
        if node.op.name != "cond":
            continue
        for region in regions(node):
            inner = topo_sort(list(region.results), stop=frozenset(region.params))
            for x in inner:
                if x.op.name == "random":
                    raise NotImplementedError(
                        f"{describe(origin.get(x, x))}: a random op inside a tf.cond inside "
                        "a while_loop is not supported yet on the compiled targets; draw it "
                        "in the loop body itself or outside the loop")
            _refuse_nested(inner, origin, describe)
