"""tf.einsum as transposes, reshapes, matmuls and reduce_sums.

An equation names each axis of each operand with a letter ("bij,bjk->bik"); `...` stands for
leading axes, aligned from the right across operands as in numpy. The plan:

1. an index repeated within one operand ("ii->i", "ii->") is a diagonal: multiply by an
   identity mask and sum one of the two axes (the size must be known when the graph is
   built);
2. an index in one operand only and not in the output is summed at once;
3. operands are folded left to right: a pair becomes one matmul of (batch, free_a,
   contracted) by (batch, contracted, free_b), keeping the indices that the output or a
   later operand still needs;
4. the result is transposed into the output's order.

Not expressible this way, and refused with the equation named: an index repeated in the
output, an output index in no operand, `...` in the operands but not in an explicit output,
and `...` axes of sizes 1 and n broadcasting against each other.
"""

from __future__ import annotations

import re

from graphc.errors import ShapeError
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import promote_operands

_TERM = re.compile(r"^[A-Za-z]*(\.\.\.)?[A-Za-z]*$")
_ELLIPSIS = [chr(0x3B1 + i) for i in range(24)]  # Greek letters: never a user's index


def einsum(equation, *inputs, **kwargs):
    """Sum of products of the operands over the indices the output omits (numpy's einsum
    for these equations)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"einsum: unexpected arguments {sorted(kwargs)} (expected only name)")
    operands = promote_operands(list(inputs), "einsum") if inputs else []
    terms, output = _parse(equation, operands)
    _check_sizes(equation, terms, operands)
    pairs = [_diagonals(equation, x, t) for x, t in zip(operands, terms)]
    result, labels = pairs[0]
    for i in range(1, len(pairs)):
        rest = set(output).union(*(t for _, t in pairs[i + 1:]))  # needed after this step
        result, labels = _sum_private(result, labels, rest | set(pairs[i][1]))
        other, other_labels = _sum_private(*pairs[i], rest | set(labels))
        result, labels = _contract(result, labels, other, other_labels, rest)
    result, labels = _sum_private(result, labels, set(output))
    perm = [labels.index(c) for c in output]
    if perm != list(range(len(perm))):
        return A.transpose(result, perm, name=name or "Einsum")
    return A.identity(result, name=name or "Einsum")


def _error(equation, problem) -> ShapeError:
    return ShapeError(f"einsum {equation!r}: {problem}")


def _parse(equation: str, operands):
    """(labels of each operand, output labels), `...` expanded to _ELLIPSIS letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands) or not operands:
        raise _error(equation, f"expected {len(terms)} operand(s) for its {len(terms)} "
                     f"input term(s), found {len(operands)}")
    if not all(_TERM.match(t) for t in terms + [rhs]):
        raise _error(equation, "expected terms of letters with at most one '...' each")
    expanded, widest = [], 0
    for term, x in zip(terms, operands):
        if x.node.rank is None:
            raise _error(equation, f"expected operands of known rank, found {x.name} of "
                         "unknown rank")
        n = x.node.rank - (len(term) - 3 if "..." in term else len(term))
        if n < 0 or ("..." not in term and n != 0):
            raise _error(equation, f"term {term!r} names {len(term)} axes, found an operand "
                         f"of rank {x.node.rank} ({x.name})")
        expanded.append(term.replace("...", "".join(_ELLIPSIS[len(_ELLIPSIS) - n:])))
        widest = max(widest, n)
    dots = "".join(_ELLIPSIS[len(_ELLIPSIS) - widest:])
    if not arrow:  # implicit output: `...`, then the indices used once, alphabetically
        once = sorted(c for c in set(lhs) if lhs.count(c) == 1 and c.isalpha())
        return expanded, dots + "".join(once)
    if widest and "..." not in rhs:
        raise _error(equation, "expected '...' in the output, since the operands have '...' "
                     "axes")
    output = rhs.replace("...", dots)
    repeated = sorted({c for c in rhs if rhs.count(c) > 1 and c.isalpha()})
    if repeated:
        raise _error(equation, f"expected each output index once, found {repeated} repeated")
    missing = sorted(c for c in output if not any(c in t for t in expanded))
    if missing:
        raise _error(equation, f"output indices {missing} appear in no operand")
    return expanded, output


def _check_sizes(equation, terms, operands) -> None:
    """Every index has one size across operands (a `...` axis of size 1 does not broadcast)."""
    seen = {}
    for k, (term, x) in enumerate(zip(terms, operands)):
        for c, d in zip(term, x.node.shape):
            if d is None:
                continue
            if c in seen and seen[c][0] != d:
                what = "a '...' axis" if c in _ELLIPSIS else f"index {c!r}"
                raise _error(equation, f"{what} has size {seen[c][0]} in operand {seen[c][1]} "
                             f"and {d} in operand {k} (expected equal sizes; graphc's einsum "
                             "does not broadcast)")
            seen.setdefault(c, (d, k))


def _diagonals(equation, x, labels: str):
    """x with each index repeated within it reduced to its diagonal."""
    while True:
        repeated = [c for c in labels if labels.count(c) > 1]
        if not repeated:
            return x, labels
        i = labels.index(repeated[0])
        j = labels.index(repeated[0], i + 1)
        n = x.node.shape[i]
        if n is None:
            raise _error(equation, f"the repeated index {repeated[0]!r} needs a size known "
                         f"when the graph is built, found an unknown size in {x.name}")
        ids = A.range(n)
        eye = M.cast(M.equal(A.expand_dims(ids, 1), A.expand_dims(ids, 0)), x.dtype)
        mask = A.reshape(eye, [n if a in (i, j) else 1 for a in range(x.node.rank)])
        x = M.reduce_sum(x * mask, axis=j)
        labels = labels[:j] + labels[j + 1:]


def _sum_private(x, labels: str, keep: set):
    """x summed over its indices not in `keep`."""
    axes = [a for a, c in enumerate(labels) if c not in keep]
    if not axes:
        return x, labels
    return M.reduce_sum(x, axis=axes), "".join(c for c in labels if c in keep)


def _contract(a, la: str, b, lb: str, keep: set):
    """a and b multiplied over their shared indices, summing those not in `keep`: one
    matmul of [batch, free_a, contracted] by [batch, contracted, free_b]."""
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    free_a = [c for c in la if c not in lb]
    free_b = [c for c in lb if c not in la]
    lead = [batch] if batch else []  # a plain matrix product without batch indices
    out = M.matmul(_grouped(a, la, lead + [free_a, summed]),
                   _grouped(b, lb, lead + [summed, free_b]))
    dims = [_dim(a, la, c) for c in batch + free_a] + [_dim(b, lb, c) for c in free_b]
    return A.reshape(out, dims), "".join(batch + free_a + free_b)


def _grouped(x, labels: str, groups):
    """x transposed to the order of `groups` and reshaped to one axis per group."""
    sizes = [_product([_dim(x, labels, c) for c in g]) for g in groups]
    order = [labels.index(c) for g in groups for c in g]
    if order != list(range(len(order))):
        x = A.transpose(x, order)
    return A.reshape(x, sizes)


def _dim(x, labels: str, c):
    """The size of index c of x: an int, or a scalar tensor when known only at run time."""
    d = x.node.shape[labels.index(c)]
    return d if d is not None else A.shape(x)[labels.index(c)]


def _product(dims):
    total = 1
    for d in dims:
        total = total * d
    return total
