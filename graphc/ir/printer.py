"""Text form of L1: one node a line, with dtype and shape.

    %2 = add(%0, %1)  f32[?,3]  name=add  # model.py:14

Small constants print their value; larger ones their dtype and shape only. Control
dependencies print as `after %n`.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.node import Node, topo_sort
from graphc.ir.shapes import format_shape

_HIDDEN_ATTRS = ("uid",)


def format_type(node: Node) -> str:
    if node.dtype is None:
        return "()"
    if node.shape is None:
        return f"{node.dtype.short}[*]"
    return f"{node.dtype.short}[" + ",".join("?" if d is None else str(d)
                                             for d in node.shape) + "]"


def _format_attr(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return np.array2string(value, separator=",", threshold=8).replace("\n", "")
        return f"<{value.size} values>"
    if isinstance(value, tuple):
        return "(" + ",".join(_format_attr(v) for v in value) + ")"
    return str(value)


def format_node(node: Node, ids: dict, graph=None) -> str:
    args = ", ".join(f"%{ids[x]}" for x in node.inputs)
    attrs = " ".join(f"{k}={format_shape(v) if k == 'shape' else _format_attr(v)}"
                     for k, v in node.attrs.items() if k not in _HIDDEN_ATTRS)
    line = f"%{ids[node]} = {node.op.name}({args})"
    if attrs:
        line += " " + attrs
    if node.deps:
        line += " after " + ",".join(f"%{ids[d]}" for d in node.deps)
    line = f"{line:<44} {format_type(node)}"
    info = graph.info(node) if graph is not None else None
    if info is not None:
        line += f"  {info.name}  # {info.location}"
    return line


def format_nodes(roots, graph=None) -> str:
    """The subgraph that `roots` depend on, producers first."""
    order = topo_sort(roots)
    ids = {n: i for i, n in enumerate(order)}
    return "\n".join(format_node(n, ids, graph) for n in order)


def format_graph(graph) -> str:
    """Every node of `graph`, in creation order (inputs always come first)."""
    nodes = graph.nodes
    ids = {n: i for i, n in enumerate(nodes)}
    header = f"graph: {len(nodes)} nodes"
    return "\n".join([header] + [format_node(n, ids, graph) for n in nodes])
