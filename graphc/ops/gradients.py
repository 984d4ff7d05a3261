"""tf.gradients and friends: the TF1 API over graphc/autodiff.

`gradients(ys, xs)` differentiates with graphc.autodiff (the reverse walk over L1 and the
VJP rules) and names the new nodes in the graph, under the `gradients` name scope.
Semantics follow TF1: the ys are summed, an x that no y depends on gets None, integer
tensors carry no gradient, cotangents of a tensor used several times are summed, and
control dependencies carry none. Differentiating with respect to a Variable means with
respect to every read of it.
"""

from __future__ import annotations

import itertools

from graphc import autodiff
from graphc.autodiff.rules import CUSTOM_GRADIENTS
from graphc.errors import ShapeError
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import Tensor, convert_to_tensor, graph_of, make_tensor, stack

_FN_IDS = itertools.count(1)


def _as_list(values):
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _is_variable(x) -> bool:
    return hasattr(x, "_as_graph_tensor") and hasattr(x, "handle")


def add_n(inputs, name=None) -> Tensor:
    """The sum of a list of tensors of one shape and dtype."""
    inputs = [convert_to_tensor(t) for t in inputs]
    if not inputs:
        raise ValueError("add_n needs at least one tensor")
    total = inputs[0]
    for t in inputs[1:]:
        total = M.add(total, t)
    return A.identity(total, name=name or "AddN") if name else total


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None):
    """d(sum of ys)/d(x) for each x, as tensors (None where ys do not depend on x)."""
    ys = [convert_to_tensor(y) for y in _as_list(ys)]
    xs = _as_list(xs)
    graph = graph_of(ys + [x for x in xs if not _is_variable(x)])
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    stops = {convert_to_tensor(s).node for s in _as_list(stop_gradients or [])}
    targets = [_target_nodes(x) for x in xs]
    with graph.name_scope(name):
        cotangents = [None if gy is None else _cotangent(y, gy).node
                      for y, gy in zip(ys, grad_ys)]
        grads = autodiff.gradients([y.node for y in ys], cotangents, targets, stops,
                                   graph.control_inputs(), graph.describe)
        found = [g for g in grads if g is not None]
        names = dict(zip(found, graph.adopt(found)))
    return [None if g is None else Tensor(g, graph, names[g]) for g in grads]


def _target_nodes(x):
    """The nodes whose cotangents make the gradient of x (all reads, for a Variable)."""
    if _is_variable(x):
        handle = x.handle.node
        return [n for n in x.graph.nodes if n.op.name == "read" and n.inputs[0] is handle]
    return [convert_to_tensor(x).node]


def _cotangent(y: Tensor, gy) -> Tensor:
    gy = convert_to_tensor(gy, dtype=y.dtype)
    if not gy.shape.is_compatible_with(y.shape):
        raise ShapeError(f"grad_ys of shape {gy.shape} does not match y '{y.name}' of shape "
                         f"{y.shape}")
    return gy


# --- higher order -------------------------------------------------------------------------
def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False,
             gate_gradients=False, aggregation_method=None):
    """The Hessian of sum(ys) for each x, shaped x.shape + x.shape (grad of grad, row by row).

    Each x needs a fully known shape: the rows are unrolled, one gradient per element.
    """
    out = []
    for x, g in zip(_as_list(xs), gradients(ys, xs, name=name)):
        shape = convert_to_tensor(x).node.shape if not _is_variable(x) else x.shape.dims
        if g is None:
            out.append(None)
            continue
        if shape is None or None in shape:
            raise ShapeError(f"hessians needs a fully known shape for {x!r}")
        flat = A.reshape(g, [-1])
        n = int(flat.node.shape[0])
        rows = []
        for i in range(n):
            (row,) = gradients(flat[i], x, name=name)
            rows.append(A.reshape(row, [-1]) if row is not None else
                        A.zeros([n], dtype=g.dtype))
        out.append(A.reshape(stack(rows), list(shape) + list(shape)))
    return out


def hessian_vector_product(ys, xs, vs):
    """H v for the Hessian of sum(ys) w.r.t. xs, in one extra gradient (no full Hessian)."""
    xs, vs = _as_list(xs), _as_list(vs)
    if len(xs) != len(vs):
        raise ValueError(f"{len(xs)} xs but {len(vs)} vs")
    grads = gradients(ys, xs)
    products = [M.reduce_sum(g * A.stop_gradient(convert_to_tensor(v)))
                for g, v in zip(grads, vs) if g is not None]
    return gradients(add_n(products), xs)


def custom_gradient(f):
    """Decorator: `f(*xs)` returns `(y, grad_fn)`; grad_fn(dy) gives the gradients for xs.

    The forward value is f's y; reverse-mode differentiation uses grad_fn instead of
    differentiating f's ops.
    """
    def wrapped(*args):
        xs = [convert_to_tensor(a) for a in args]
        y, grad_fn = f(*xs)
        y = convert_to_tensor(y)
        graph = y.graph

        def node_grads(g_node):  # the rule's view: the cotangent node -> gradient nodes
            (name,) = graph.adopt([g_node])
            grads = grad_fn(Tensor(g_node, graph, name))
            grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            return [None if gi is None else convert_to_tensor(gi).node for gi in grads]
        fn_id = next(_FN_IDS)
        CUSTOM_GRADIENTS[fn_id] = node_grads
        return make_tensor("custom_gradient", [y] + xs, {"fn_id": fn_id}, "CustomGradient")
    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return wrapped
