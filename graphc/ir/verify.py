"""The L1 verifier: checks that a set of nodes is well formed.

Run after every pass in tests and debug mode. Checks, for each node reachable from the
roots: the op is registered, the input count fits the op, dtype and shape are what the
op's rules derive from the inputs and attrs, stateful nodes carry a uid, and constants hold
arrays of their own dtype. (Acyclicity holds by construction: a node exists only after its
inputs.)
"""

from __future__ import annotations

from graphc.errors import VerifyError
from graphc.ir import ops as prims
from graphc.ir.node import Node, topo_sort


def verify(roots) -> None:
    """Raise VerifyError naming the first malformed node reachable from `roots`."""
    for node in topo_sort(roots):
        _verify_node(node)


def _verify_node(node: Node) -> None:
    def fail(msg):
        raise VerifyError(f"{node!r}: {msg}")

    if prims.PRIMITIVES.get(node.op.name) is not node.op:
        fail(f"op {node.op.name!r} is not a registered primitive")
    if len(node.inputs) not in node.op.arity_range:
        fail(f"{len(node.inputs)} inputs, the op takes {node.op.arity}")
    if node.op.stateful and "uid" not in node.attrs:
        fail("stateful node without a uid")
    try:
        dtype = node.op.dtype_rule(node.inputs, node.attrs)
        known = node.op.handles_unknown_rank or all(x.shape is not None for x in node.inputs)
        shape = node.op.shape_rule(node.inputs, node.attrs) if known else None
    except Exception as e:  # a rule rejecting its own node is exactly what we look for
        fail(f"rules reject the node: {e}")
    if dtype is not node.dtype:
        fail(f"dtype {node.dtype} but the rules give {dtype}")
    if shape != node.shape:
        fail(f"shape {node.shape} but the rules give {shape}")
    if node.op.name == "constant" and node.attrs["value"].dtype != node.dtype.np:
        fail("constant value dtype differs from the node dtype")
