"""fold_constants: nodes whose inputs are all constants become constants, computed by the
op's own numpy reference (the one definition of what an op computes, so a folded value is
exactly what the reference target would compute at run time).

Expects any L1 graph; canonical form (canonicalize) lets more fold, since broadcasts of
constants then sit beside their consumers. Guarantees that every node the rules reach which
is pure (not `is_state`), has a numpy reference, has only constant inputs and a result of
at most MAX_FOLD_BYTES, or no larger than its constant inputs together (a weight transposed
or scaled: the folded array replaces one of the same size), is a constant; a splat result
(one value repeated) is kept as broadcast_to of a scalar constant, which consumers absorb.
Never folds placeholders, variables, reads, assignments, random draws or asserts, nor a
node whose reference raises (its error belongs to the run). `shape` of a static shape is a
constant too. Runs with the canonicalization rules, so its output stays canonical.
Consumed by simplify (rules that look for constant operands) and by lowering (constants
become read-only buffers).
"""

from __future__ import annotations

import numpy as np

from graphc.ir.node import Node
from graphc.ir.rewrite import (
    P,
    Rewritten,
    Rule,
    RuleTable,
    constant,
    constant_value,
    is_state,
    make,
    rewrite,
    splat_of,
)
from graphc.passes.canonicalize import CANONICAL_RULES

MAX_FOLD_BYTES = 64 * 1024  # larger results (a broadcast, say) stay computed at run time


def _foldable(n: Node) -> bool:
    if not (n.inputs and not is_state(n) and n.op.reference is not None
            and n.dtype is not None and n.shape is not None and None not in n.shape
            and all(x.op.name == "constant" for x in n.inputs)):
        return False
    size = int(np.prod(n.shape)) * n.dtype.np.itemsize
    return size <= max(MAX_FOLD_BYTES, sum(constant_value(x).nbytes for x in n.inputs))


def _fold(n: Node):
    args = [constant_value(x) for x in n.inputs]
    try:
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) are values
            value = np.asarray(n.op.reference(*args, **n.attrs))
    except Exception:  # noqa: BLE001 - the run reports it, naming the user's op
        return None
    if value.shape != n.shape:
        return None
    value = value.astype(n.dtype.np, copy=False)
    if value.flags.owndata and value.flags.writeable and value.flags.c_contiguous:
        value.setflags(write=False)  # the reference's fresh result: the node keeps it, uncopied
    return splat_or_array(value, n)


def splat_or_array(value: np.ndarray, n: Node) -> Node:
    """A constant of `value`; one repeated value as broadcast_to of a scalar constant."""
    one = splat_of(value) if value.ndim > 0 and value.size > 1 else None
    if one is not None:
        return make("broadcast_to", constant(one, n.dtype), shape=value.shape)
    return constant(value, n.dtype)


def _static_shape(n: Node):
    # the shape of a static shape is known now, whatever the input's value
    shape = n.inputs[0].shape
    if shape is None or None in shape:
        return None
    return constant(np.array(shape, dtype=n.dtype.np), n.dtype)


FOLD_RULES = RuleTable([
    Rule("static_shape", P("shape", name="n"), _static_shape),
    Rule("fold", P(None, name="n", where=_foldable), _fold),
])


def fold_constants(roots, origin, options) -> Rewritten:
    """The graph of `roots` with its constant subexpressions folded (module docstring)."""
    return rewrite(roots, FOLD_RULES + CANONICAL_RULES, origin)
