"""Grouping and ordering: group, no_op, tuple, control_dependencies, name_scope."""

from __future__ import annotations

import builtins
import contextlib

from graphc.framework.graph import get_default_graph
from graphc.ops.tensor import Operation, Tensor, convert_to_tensor, make_operation, make_tensor


def _node_of(value):
    """The node behind a Tensor, Operation or Variable (for dependencies)."""
    if isinstance(value, (Tensor, Operation)):
        return value.node
    if hasattr(value, "_as_graph_tensor"):
        return value.op.node
    raise TypeError(f"can only depend on Tensors, Operations and Variables, got {value!r}")


def _flatten(values):
    for v in values:
        if isinstance(v, (list, builtins.tuple)):
            yield from _flatten(v)
        elif v is not None:
            yield v


def control_dependencies(control_inputs):
    """Ops built inside the block run after `control_inputs` (None clears the block's)."""
    graph = get_default_graph()
    if control_inputs is None:
        return graph.control_dependencies(None)
    return graph.control_dependencies(_nodes_in(graph, control_inputs))


def _nodes_in(graph, values) -> list:
    """The nodes behind `values`, which must all belong to `graph`."""
    nodes = []
    for v in _flatten(values):
        if getattr(v, "graph", graph) is not graph:
            raise ValueError(f"{v!r} must be from the same graph as the ops it controls "
                             "(the default graph)")
        nodes.append(_node_of(v))
    return nodes


def group(*inputs, name=None) -> Operation:
    """An operation that runs all `inputs` (tensors, operations, variables, lists of them)."""
    graph = get_default_graph()
    with graph.control_dependencies(_nodes_in(graph, inputs)):
        return make_operation("no_op", name=name or "group_deps", graph=graph)


def no_op(name=None) -> Operation:
    return make_operation("no_op", name=name or "NoOp")


def tuple(tensors, name=None, control_inputs=None) -> list:  # noqa: A001 - TF1 name
    """The tensors, each available only after all of them (and control_inputs) are computed."""
    tensors = [None if t is None else convert_to_tensor(t) for t in tensors]
    deps = [t for t in tensors if t is not None] + list(_flatten(control_inputs or []))
    with control_dependencies(deps):
        return [None if t is None else make_tensor("identity", (t,), name=name or "tuple")
                for t in tensors]


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """Prefix the names of ops built inside with `name/` (made unique if already used)."""
    with get_default_graph().name_scope(name if name is not None else default_name) as scope:
        yield scope
