"""Which graphs may keep a symbolic batch dimension in an artifact.

An artifact with a symbolic leading dimension runs plans compiled for fixed row blocks over
consecutive slices of the batch (see graphc/aot/export.py). That is exact only when every
row of every batched output depends on the same row of the batched inputs and nothing else:
the graph must be *row-separable*. `classify` proves it with one rule per primitive, or
names the first node that breaks it.

Each node gets one of three states:

    FIXED  does not depend on a batched input (the same value for every block)
    ROWS   axis 0 is the batch axis, and row i depends only on row i of the batched inputs
    SIZE   depends on the batch size but not on row values (tf.shape of a ROWS tensor); only
           allowed as the run-time shape argument of reshape / broadcast_to, which then see
           the block's size, as the rows they reshape are the block's rows

What is computed from SIZE and FIXED values only is shape arithmetic: it is evaluated at
several batch sizes (PROBES) and is FIXED if its value is the same at all of them (the count
tf.reduce_mean divides by, tf.shape(x)[1]), SIZE otherwise. A rule gets a node with a ROWS
input (or an effect) and its inputs' states and returns the node's state, or None when it
cannot vouch for it (reductions over the batch axis, concatenation along it, gradient ops,
...). Rules are conservative: refusing is always correct, the user then exports with a fixed
batch size. (The exporter also checks, for every block size, that each ROWS node's
specialized shape starts with the block size.)
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir.node import Node, topo_sort

FIXED, ROWS, SIZE = "fixed", "rows", "size"


def _aligned(x: Node, out: Node) -> bool:
    """x (ROWS) has its batch axis where the output has its own."""
    return x.shape is not None and len(x.shape) == len(out.shape) and x.shape[0] is None


def _broadcasts(x: Node, out: Node) -> bool:
    """x (FIXED) broadcasts along the batch axis of `out`: lower rank or size 1 there."""
    return x.shape is not None and (len(x.shape) < len(out.shape) or x.shape[0] == 1)


def _batched_out(node: Node) -> bool:
    return node.shape is not None and len(node.shape) > 0 and node.shape[0] is None


def _elementwise(node, states):
    if SIZE in states or not _batched_out(node):
        return None
    for x, s in zip(node.inputs, states):
        if not (_aligned(x, node) if s == ROWS else _broadcasts(x, node)):
            return None
    return ROWS


def _reduce(node, states):
    if node.op.name == "sum_to":
        return None
    axes = (node.attrs["axis"],) if "axis" in node.attrs else node.attrs["axes"]
    return ROWS if 0 not in axes and states == [ROWS] else None


def _matmul(node, states):
    (a, b), (sa, sb) = node.inputs, states
    if not _batched_out(node):
        return None
    if len(node.shape) == 2:  # (rows, k) @ (k, n): b's axis 0 is the contraction axis
        return ROWS if (sa, sb) == (ROWS, FIXED) else None
    ok = [_aligned(x, node) if s == ROWS else _broadcasts(x, node)
          for x, s in zip((a, b), states)]
    return ROWS if all(ok) else None


def _reshape(node, states):
    x = node.inputs[0]
    if states[0] != ROWS or not _batched_out(node) or None in x.shape[1:] \
            or None in node.shape[1:]:
        return None
    return ROWS if math.prod(x.shape[1:]) == math.prod(node.shape[1:]) else None


def _broadcast_to(node, states):
    x = node.inputs[0]
    if not _batched_out(node) or None in node.shape[1:]:
        return None
    if states[0] == ROWS:
        return ROWS if _aligned(x, node) else None
    return ROWS if states[0] == FIXED and _broadcasts(x, node) else None  # SIZE shape input


def _keeps_axis0(test):
    """A one-input rule: ROWS when test(attrs) says axis 0 passes through untouched."""
    def rule(node, states):
        return ROWS if states == [ROWS] and _batched_out(node) and test(node.attrs) else None
    return rule


def _full_slice(attrs) -> bool:
    if not attrs["slices"]:
        return True
    start, stop, step = attrs["slices"][0]
    return start in (None, 0) and stop is None and step in (None, 1)


def _concat(node, states):
    return ROWS if node.attrs["axis"] != 0 and set(states) == {ROWS} else None


def _gather(node, states):
    axis = node.attrs["axis"]
    if states == [FIXED, ROWS] and axis == 0 and _batched_out(node):
        return ROWS  # an embedding lookup: rows of indices pick rows of params
    if states == [ROWS, FIXED] and axis != 0 and _batched_out(node):
        return ROWS
    return None


def _conv(node, states):
    """A convolution's output row i reads input row i only (axis 0 is the batch in both
    layouts), with a fixed filter."""
    return ROWS if states == [ROWS, FIXED] and _batched_out(node) else None


def _shape(node, states):
    return SIZE


def _assert(node, states):
    return FIXED if SIZE not in states else None  # every block is checked


_RULES = {
    "matmul": _matmul,
    "reshape": _reshape,
    "broadcast_to": _broadcast_to,
    "transpose": _keeps_axis0(lambda a: a["perm"][0] == 0),
    "expand_dims": _keeps_axis0(lambda a: a["axis"] != 0),
    "squeeze": _keeps_axis0(lambda a: 0 not in a["axes"]),
    "slice": _keeps_axis0(_full_slice),
    "pad": _keeps_axis0(lambda a: tuple(a["paddings"][0]) == (0, 0)),
    "tile": _keeps_axis0(lambda a: a["multiples"][0] == 1),
    "concat": _concat,
    "gather": _gather,
    "conv": _conv,
    "pool": _keeps_axis0(lambda a: True),  # windows never span the batch axis
    "shape": _shape,
    "assert": _assert,
    "print": _assert,  # (refused later, with its reason: aot/export.py)
}
_BY_KIND = {"elementwise": _elementwise, "reduce": _reduce}


PROBES = (1, 2, 3, 4, 5, 16, 64, 1000003)  # batch sizes shape arithmetic is evaluated at


class _Probe:
    """Values of small shape computations (tf.shape of a ROWS tensor and what is computed
    from it and from constants) at each batch size of PROBES, through the ops' numpy
    references; None where a value cannot be computed (it depends on a placeholder, a
    variable, or is not small)."""

    def __init__(self):
        self.memo: dict = {}

    def constant(self, node: Node) -> bool:
        """The node's value is the same at every probed batch size (so the same in every
        block: e.g. the count that tf.reduce_mean divides by, size(x) / size(sum))."""
        values = self.values(node)
        return values is not None and all(np.array_equal(values[0], v) for v in values[1:])

    def values(self, node: Node):
        if node not in self.memo:
            self.memo[node] = self._compute(node)
        return self.memo[node]

    def _compute(self, node: Node):
        if node.op.name == "constant":
            return [np.asarray(node.attrs["value"])] * len(PROBES)
        if node.op.name == "shape":
            shape = node.inputs[0].shape
            if shape is None or None in shape[1:]:
                return None
            return [np.array([b if d is None else d for d in shape], node.dtype.np)
                    for b in PROBES]
        if node.op.stateful or node.op.reference is None or node.shape is None \
                or None in node.shape or math.prod(node.shape) > 64:
            return None
        ins = [self.values(x) for x in node.inputs]
        if any(v is None for v in ins):
            return None
        try:
            with np.errstate(all="ignore"):
                return [np.asarray(node.op.reference(*args, **node.attrs)) for args in zip(*ins)]
        except Exception:  # a value it cannot compute: treat as batch-dependent
            return None


class NotSeparable(Exception):
    """The graph cannot keep a symbolic batch; args[0] is the node, args[1] the reason."""


def classify(fetches, batched: frozenset) -> dict:
    """{node: state} for every node the fetches need, `batched` (fed placeholders whose
    axis 0 is the batch) being ROWS. Raises NotSeparable(node, reason) at the first node no
    rule vouches for, and for a fetch whose value depends on the batch size only."""
    states: dict = {}
    probe = _Probe()
    for node in topo_sort(fetches, stop=batched):
        if node in batched:
            states[node] = ROWS
            continue
        ins = [states[x] for x in node.inputs]
        if all(s == FIXED for s in ins):
            states[node] = FIXED
            continue
        if ROWS not in ins and node.dtype is not None:  # arithmetic on shape vectors
            states[node] = FIXED if probe.constant(node) else SIZE
            continue
        rule = _RULES.get(node.op.name) or _BY_KIND.get(node.op.kind)
        state = rule(node, ins) if rule is not None else None
        if state is None:
            raise NotSeparable(node, _reason(node))
        states[node] = state
    for f in fetches:
        if states[f] == SIZE:
            raise NotSeparable(f, "its value is the batch size, which differs per block")
    return states


def _reason(node: Node) -> str:
    name = node.op.name
    if node.op.kind == "reduce" or name in ("concat", "slice", "pad", "tile"):
        return f"{name} mixes or moves rows along the batch axis"
    if name in ("random", "assign", "scatter_add", "slice_grad", "sum_to"):
        return f"{name} is not supported with a symbolic batch"
    return f"{name} is not known to keep the rows of the batch independent"
