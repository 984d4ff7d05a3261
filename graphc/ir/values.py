"""Values known while building: what a node computes when constants and static shapes alone
decide it (the API folds shape arguments with it, specialization reads shape operands)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.ir.node import Node


def node_value(root: Node) -> Optional[np.ndarray]:
    """The value of `root` if it follows from constants and static shapes alone, else None."""
    memo: dict = {}
    stack = [root]
    while stack:  # iterative post-order: deep constant chains must not hit the recursion limit
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        pending = [x for x in node.inputs if x not in memo] if _foldable(node) else []
        if pending:
            stack.extend(pending)
            continue
        memo[node] = _static_one(node, memo)
        stack.pop()
    return memo[root]


def _foldable(node) -> bool:
    """A pure op whose value follows from its inputs' values (sources and state excluded)."""
    return (not node.op.stateful and node.op.reference is not None and node.dtype is not None
            and node.op.kind != "source" and not node.deps)


def _static_one(node, memo):
    if node.op.name == "constant":
        return node.attrs["value"]
    if node.op.name == "shape":
        shape = node.inputs[0].shape
        return None if shape is None or None in shape else np.array(shape, dtype=node.dtype.np)
    if not _foldable(node):
        return None
    args = [memo[x] for x in node.inputs]
    if any(a is None for a in args) or sum(a.size for a in args) > 4096:
        return None
    try:
        with np.errstate(all="ignore"):
            return np.asarray(node.op.reference(*args, **node.attrs)).astype(node.dtype.np)
    except Exception:  # e.g. an index out of range: the run reports it, with its location
        return None
