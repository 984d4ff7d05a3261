"""Reductions and ops over one axis: Reduce*, ArgMax/ArgMin, CumSum/CumProd, TopK.

The axes of a reduction are an attribute before opset 13 (ReduceSum) or 18 (the others)
and an optional input after; with none given every axis is reduced, unless
noop_with_empty_axes=1 makes the op an identity. TopK orders larger first (smaller with
largest=0) and equal values by index, as ONNX requires.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import as_ints, converter
from graphc.ops import array_ops as A
from graphc.ops import extra_ops as X
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast


def _axes(ctx, x, input_since: int):
    """Sorted non-negative axes to reduce, or None for 'no reduction at all'."""
    rank = x.node.rank
    if ctx.opset >= input_since:
        axes = as_ints(ctx.const(1, "axes")) if ctx.present(1) else []
    else:
        axes = list(ctx.attr("axes", []) or [])
    if not axes:
        return None if ctx.attr("noop_with_empty_axes", 0) else list(range(rank))
    return sorted({int(a) % rank for a in axes})


def _reduction(fn, input_since: int = 18):
    def convert(ctx):
        x = ctx.input(0)
        axes = _axes(ctx, x, input_since)
        if axes is None:
            return [A.identity(x)]
        return [fn(ctx, x, axes, bool(ctx.attr("keepdims", 1)))]
    return convert


def _logsumexp(ctx, x, axes, keep):
    # max + log(sum(exp(x - max))): no overflow; an empty or all -inf set gives -inf
    top = M.reduce_max(x, axes, keepdims=True)
    shift = M.where(M.is_finite(top), top, A.zeros_like(top))
    total = M.log(M.reduce_sum(M.exp(x - shift), axes, keepdims=True)) + shift
    return total if keep else A.squeeze(total, axes)


_REDUCTIONS = {
    "ReduceSum": (lambda ctx, x, a, k: M.reduce_sum(x, a, keepdims=k), 13),
    "ReduceMean": (lambda ctx, x, a, k: M.reduce_mean(x, a, keepdims=k), 18),
    "ReduceMax": (lambda ctx, x, a, k: (M.reduce_any if x.dtype is dtypes.bool_ else
                                        M.reduce_max)(x, a, keepdims=k), 18),
    "ReduceMin": (lambda ctx, x, a, k: (M.reduce_all if x.dtype is dtypes.bool_ else
                                        M.reduce_min)(x, a, keepdims=k), 18),
    "ReduceProd": (lambda ctx, x, a, k: M.reduce_prod(x, a, keepdims=k), 18),
    "ReduceL1": (lambda ctx, x, a, k: M.reduce_sum(M.abs(x), a, keepdims=k), 18),
    "ReduceL2": (lambda ctx, x, a, k: _l2(x, a, k), 18),
    "ReduceSumSquare": (lambda ctx, x, a, k: M.reduce_sum(M.square(x), a, keepdims=k), 18),
    "ReduceLogSum": (lambda ctx, x, a, k: M.log(M.reduce_sum(x, a, keepdims=k)), 18),
    "ReduceLogSumExp": (_logsumexp, 18),
}


def _l2(x, axes, keep):
    if x.dtype.kind == "f":
        return M.sqrt(M.reduce_sum(M.square(x), axes, keepdims=keep))
    # integers: the root in float64, truncated back, as numpy's astype does
    total = cast(M.reduce_sum(M.square(x), axes, keepdims=keep), dtypes.float64)
    return cast(M.sqrt(total), x.dtype)


for _op, (_fn, _since) in _REDUCTIONS.items():
    converter(_op)(_reduction(_fn, _since))


# --- ArgMax / ArgMin ------------------------------------------------------------------------
def _arg(fn):
    def convert(ctx):
        x = ctx.input(0)
        rank = x.node.rank
        axis = int(ctx.attr("axis", 0)) % rank
        if ctx.attr("select_last_index", 0):
            n = x.node.shape[axis]
            if n is None:
                n = ctx.static_shape(x, "select_last_index")[axis]
            flipped = A.reverse(x, [axis])
            idx = (n - 1) - fn(flipped, axis=axis, output_type=dtypes.int64)
        else:
            idx = fn(x, axis=axis, output_type=dtypes.int64)
        return [A.expand_dims(idx, axis) if ctx.attr("keepdims", 1) else idx]
    return convert


converter("ArgMax")(_arg(M.argmax))
converter("ArgMin")(_arg(M.argmin))


# --- cumulative ops and TopK (graphc/ops/extra_ops.py) ----------------------------------
def _scan(fn):
    def convert(ctx):
        x = ctx.input(0)
        axis = int(np.asarray(ctx.const(1, "axis")).reshape(())) % x.node.rank
        return [fn(x, axis=axis, exclusive=bool(ctx.attr("exclusive", 0)),
                   reverse=bool(ctx.attr("reverse", 0)))]
    return convert


converter("CumSum")(_scan(X.cumsum))
converter("CumProd")(_scan(X.cumprod))


def _axis_last(x, axis):
    """x with `axis` moved last, and the permutation that moves it back."""
    perm = [a for a in range(x.node.rank) if a != axis] + [axis]
    return A.transpose(x, perm), [int(p) for p in np.argsort(perm)]


@converter("TopK")
def _top_k(ctx):
    x = ctx.input(0)
    axis = int(ctx.attr("axis", -1)) % x.node.rank
    k = int(ctx.attr("k")) if ctx.opset < 10 else int(np.asarray(ctx.const(1, "k")).reshape(-1)[0])
    moved, back = _axis_last(x, axis)
    # the k smallest are the k largest of -x, equal values still in index order
    largest = ctx.attr("largest", 1)
    values, indices = X.top_k(moved if largest else M.negative(moved), k)
    values = values if largest else M.negative(values)
    return [A.transpose(values, back), A.transpose(cast(indices, dtypes.int64), back)]
