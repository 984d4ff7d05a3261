"""specialize: the subgraph a run needs, rebuilt with every shape concrete.

Expects the fetch nodes, the fed nodes with the shapes of their values, and nothing else: the
graph may hold unknown dims (None) and shape tensors known only at run time. Guarantees that
in the result every node has a fully known shape, every fed node is a fresh placeholder of
the fed shape, `shape` nodes are constants, and run-time shape inputs (reshape, broadcast_to,
random, sum_to, slice_grad, scatter_add) are resolved into their static `shape` attribute.
Consumed by lowering, which needs concrete loop bounds. A shape mismatch that only shows with
the fed shapes (e.g. unknown dims that do not broadcast) is an InvalidArgumentError naming
the node, as the reference target reports it; so is a shape that its `shape` node's dtype
cannot hold (a dim over 2**31-1 with out_type int32).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, InvalidArgumentError, ShapeError, assign_shape_message
from graphc.ir import ops as prims
from graphc.ir.node import Node, Region, make_node, topo_sort
from graphc.ir.ops.array import fill_minus_one
from graphc.ir.ops.control import CONTROL_OPS, REGION_KEYS
from graphc.ir.ops.elementwise import not_as_declared
from graphc.ir.regions import new_param
from graphc.ir.values import node_value
from graphc.passes.loop_draws import hoist_draws

_DYNAMIC_SHAPE = {"reshape": 1, "broadcast_to": 1, "random": 0, "sum_to": 1, "slice_grad": 1,
                  "scatter_add": 2}  # op -> position of its run-time shape input
_DROPS_SHAPE_INPUT = ("reshape", "broadcast_to", "random")


# A fed tensor whose values (not only its shape) a plan may depend on: a small integer
# vector that a run-time shape input reads (tf.reshape(x, shape_placeholder)).
MAX_SHAPE_FEED = 64


def shape_feeds(fetches, fed) -> frozenset:
    """The fed nodes whose values the run-time shape inputs of `fetches` read (through any
    ops but `shape`, which reads only its input's shape): a plan holds their values as
    constants, so it is made anew for other values."""
    fed = frozenset(fed)
    roots = [n.inputs[_DYNAMIC_SHAPE[n.op.name]] for n in topo_sort(fetches, stop=fed)
             if n.op.name in _DYNAMIC_SHAPE and len(n.inputs) > _DYNAMIC_SHAPE[n.op.name]]
    out, seen = set(), set()
    while roots:
        node = roots.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in fed:
            out.add(node)
        elif node.op.name != "shape":
            roots.extend(node.inputs)
    return frozenset(out)


def shape_values(fetches, feeds: dict) -> dict:
    """{fed node: value as a tuple} for the shape_feeds of `fetches` that are small integer
    vectors (others stay run-time values, and specialize reports the shape as unknown)."""
    out = {}
    for node in shape_feeds(fetches, feeds):
        value = np.asarray(feeds[node])
        if value.dtype.kind in "iu" and value.ndim <= 1 and value.size <= MAX_SHAPE_FEED:
            out[node] = tuple(int(v) for v in value.ravel())
    return out


def specialize(fetches, fed_shapes: dict, describe=repr, fed_values=None):
    """(new fetch nodes, {new node: original node}) for `fed_shapes` {node: concrete shape};
    `fed_values` {node: tuple} (see shape_values) become constants of the plan. Regions are
    specialized too, their params given the shapes of the values they stand for."""
    new: dict = {}
    origin: dict = {}
    _specialize_into(fetches, new, origin, fed_shapes, fed_values or {}, describe)
    return [new[f] for f in fetches], origin


def _specialize_into(roots, new: dict, origin: dict, fed_shapes, fed_values, describe):
    """Fill `new` with the specialized form of every node `roots` need (nodes in `new`
    already, a region's params, are taken as they are)."""
    for node in topo_sort(roots, stop=frozenset(fed_shapes) | frozenset(new)):
        if node in new:
            continue
        try:
            if node.op.name in CONTROL_OPS and node not in fed_shapes:
                out = _rebuild_control(node, new, origin, fed_shapes, fed_values, describe)
            else:
                out = _rebuild(node, new, fed_shapes, fed_values)
        except (ShapeError, DTypeError) as e:
            raise InvalidArgumentError(_mismatch(node, new, e, describe), node) from None
        except OverflowError as e:  # a value folded here that its dtype cannot hold, e.g.
            # a shape with a dim over 2**31-1 as int32: the reference target's own words
            raise InvalidArgumentError(f"{describe(node)} failed: {e}", node) from None
        if out.shape is None or None in out.shape:
            raise InvalidArgumentError(f"{describe(node)}: its shape {out.shape} is still "
                                       "unknown with the fed shapes", node)
        new[node] = out
        origin.setdefault(out, node)


def _rebuild_control(node: Node, new: dict, origin: dict, fed_shapes, fed_values, describe):
    """A while or cond node over specialized inputs and regions: each region's params get
    the concrete shapes of the inputs they stand for (a loop var keeps the shape it enters
    with: compiled loops do not change shapes). A captured value that is a constant now
    (a shape read from a fed placeholder) is used inside the region as that constant, so
    the region's shape arithmetic folds too. A while loop's random draws are drawn for all
    its iterations at once (passes/loop_draws.py)."""
    inputs = [new[x] for x in node.inputs]
    operands = inputs if node.op.name == "while" else inputs[1:]
    loop_vars = len(node.attrs["body"].results) if node.op.name == "while" else 0
    attrs = dict(node.attrs)
    shared: dict = {}  # the regions of a node share their params
    for key in REGION_KEYS[node.op.name]:
        region = attrs[key]
        params = [shared.get(p) or shared.setdefault(p, new_param(p.dtype, x.shape))
                  for p, x in zip(region.params, operands)]
        inner = dict(zip(region.params, params))
        for i, (p, x) in enumerate(zip(region.params, operands)):
            if i >= loop_vars and x.op.name == "constant":  # a capture known now (a shape)
                inner[p] = x
        _specialize_into(region.results, inner, origin, fed_shapes, fed_values, describe)
        attrs[key] = Region(params, [inner[r] for r in region.results])
    deps = tuple(new[d] for d in node.deps if d in new)
    out = make_node(node.op, inputs, attrs, deps)
    return hoist_draws(out, origin, describe) if node.op.name == "while" else out


def _mismatch(node: Node, new: dict, error, describe) -> str:
    """The message for a shape that only fails with the fed shapes, worded as the reference
    target words the same failure at run time where it has one."""
    if node.op.name == "ensure_shape":
        actual = new[node.inputs[0]].shape
        return f"{describe(node)} failed: {not_as_declared(actual, node.attrs['shape'])}"
    if node.op.name == "assign":
        var, value = node.inputs[0], new[node.inputs[1]]
        return assign_shape_message(describe(node), describe(var), value.shape, var.shape)
    return f"{describe(node)}: {error.args[0]} (with the fed shapes)"


def _rebuild(node: Node, new: dict, fed_shapes: dict, fed_values: dict) -> Node:
    if node in fed_values:
        value = np.array(fed_values[node], dtype=node.dtype.np).reshape(fed_shapes[node])
        return make_node(prims.get("constant"), (), {"value": value})
    if node in fed_shapes:
        return make_node(prims.get("placeholder"), (),
                         {"dtype": node.dtype, "shape": tuple(fed_shapes[node])})
    name = node.op.name
    inputs = [new[x] for x in node.inputs]
    deps = tuple(new[d] for d in node.deps if d in new)
    attrs = dict(node.attrs)
    if name in ("variable", "placeholder"):
        return node
    if name == "shape":
        return make_node(prims.get("constant"), (),
                         {"value": np.array(inputs[0].shape, dtype=node.dtype.np)}, deps)
    if name == "placeholder_with_default":  # not fed: its default
        return make_node(prims.get("identity"), inputs, {}, deps)
    if name in _DYNAMIC_SHAPE and len(inputs) > _DYNAMIC_SHAPE[name]:
        value = _constant_value(inputs[_DYNAMIC_SHAPE[name]])
        if value is None:
            raise ShapeError("a run-time shape input could not be computed from constants, "
                             "the fed shapes and fed integer vectors (of at most "
                             f"{MAX_SHAPE_FEED} elements); it depends on a variable, a "
                             "random draw or a large or non-integer feed")
        attrs["shape"] = tuple(int(d) for d in value)
        if name in _DROPS_SHAPE_INPUT:
            del inputs[_DYNAMIC_SHAPE[name]]
    if name == "reshape" and -1 in attrs["shape"]:
        attrs["shape"] = fill_minus_one(inputs[0].shape, attrs["shape"])
    if name in ("sum_to", "broadcast_to") and tuple(attrs["shape"]) == inputs[0].shape:
        # with concrete shapes, summing or broadcasting to the same shape does nothing
        return make_node(prims.get("identity"), inputs[:1], {}, deps)
    return make_node(node.op, inputs, attrs, deps)


def _constant_value(node: Node):
    return node_value(node)
