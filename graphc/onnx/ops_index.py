"""Indexing ONNX ops: Gather, GatherElements, GatherND, Scatter*, Compress, ReverseSequence.

ONNX indices may be negative (counting from the end of their axis); they are wrapped
before graphc's gather, which checks the range at run time. Element-wise gathers and
scatters work on the flattened data at linear indices, which needs the data's shape at
import time. Scatter reductions: "none" (the last of repeated indices wins, as the
reference applies updates in order) and "add" go through graphc's n-d scatters; "mul",
"max" and "min" combine a one-hot match of every update with every slot.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import converter, one_of
from graphc.ops import array_ops as A
from graphc.ops import extra_ops as X
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant


def _wrap(indices, size):
    """indices with negatives counted from the end of an axis of `size` (int or tensor)."""
    indices = cast(indices, dtypes.int64) if indices.dtype is not dtypes.int64 else indices
    return M.where(M.less(indices, 0), indices + size, indices)


def _static(ctx, x, what):
    return ctx.static_shape(x, what)


@converter("Gather")
def _gather(ctx):
    x, idx = ctx.input(0), ctx.input(1)
    axis = int(ctx.attr("axis", 0)) % x.node.rank
    n = x.node.shape[axis]
    size = n if n is not None else A.shape(x, out_type=dtypes.int64)[axis]
    return [A.gather(x, _wrap(idx, size), axis=axis)]


def _coordinates(shape, axis, along):
    """Linear indices into an array of `shape` for every position of an index tensor of
    the same rank whose values `along` replace the coordinate on `axis`."""
    idx_shape = along.node.shape
    strides = np.cumprod([1] + list(shape[::-1]))[:-1][::-1]
    linear = along * np.int64(strides[axis])
    for d, size in enumerate(idx_shape):
        if d == axis:
            continue
        coord = np.arange(size, dtype=np.int64).reshape(
            [-1 if k == d else 1 for k in range(len(idx_shape))]) * np.int64(strides[d])
        linear = linear + constant(coord)
    return linear


@converter("GatherElements")
def _gather_elements(ctx):
    x, idx = ctx.input(0), ctx.input(1)
    shape = _static(ctx, x, "GatherElements")
    axis = int(ctx.attr("axis", 0)) % x.node.rank
    ctx.static_shape(idx, "GatherElements (its indices)")
    linear = _coordinates(shape, axis, _wrap(idx, shape[axis]))
    return [A.gather(A.reshape(x, [-1]), linear, axis=0)]


@converter("GatherND")
def _gather_nd(ctx):
    x, idx = ctx.input(0), ctx.input(1)
    b = int(ctx.attr("batch_dims", 0))
    q = ctx.static_shape(idx, "GatherND (its indices)")[-1]
    dims = ctx.static_shape(x, "GatherND")[b:b + q]
    idx = _wrap(idx, constant(np.array(dims, np.int64)))
    return [X.gather_nd(x, idx, batch_dims=b)]


# --- scatters -------------------------------------------------------------------------------
_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _scatter(ctx, data, linear, rows, reduction):
    """data (flattened to [slots, *rest]) with each of rows [m, *rest] combined into the
    slot at linear[m]."""
    shape = list(data.node.shape)
    n_rest = rows.node.rank - 1
    rest = shape[len(shape) - n_rest:] if n_rest else []
    slots = int(np.prod(shape[:len(shape) - n_rest]))
    flat = A.reshape(data, [slots] + rest)
    at = A.expand_dims(linear, -1)
    if reduction == "none":
        out = X.tensor_scatter_nd_update(flat, at, rows)
    elif reduction == "add":
        out = X.tensor_scatter_nd_add(flat, at, rows)
    else:
        out = _scatter_combine(flat, linear, rows, slots, reduction)
    return A.reshape(out, shape)


def _scatter_combine(flat, linear, rows, slots, reduction):
    """mul/max/min: each slot combined with every update aimed at it (a [m, slots] match)."""
    hit = M.equal(A.expand_dims(linear, 1), constant(np.arange(slots, dtype=np.int64)))
    for _ in range(rows.node.rank - 1):
        hit = A.expand_dims(hit, -1)
    spread = A.expand_dims(rows, 1)  # [m, 1, *rest] against hit [m, slots, 1...]
    dtype = flat.dtype
    if reduction == "mul":
        return flat * M.reduce_prod(M.where(hit, spread, A.ones_like(spread)), [0])
    if dtype.kind == "f":
        fill = -np.inf if reduction == "max" else np.inf
    else:
        fill = dtype.min if reduction == "max" else dtype.max
    neutral = constant(np.asarray(fill, dtype.np))
    if reduction == "max":
        best = M.reduce_max(M.where(hit, spread, neutral), [0])
        return M.maximum(flat, best)
    best = M.reduce_min(M.where(hit, spread, neutral), [0])
    return M.minimum(flat, best)


def _scatter_elements(ctx):
    data, idx, updates = ctx.input(0), ctx.input(1), ctx.input(2)
    shape = _static(ctx, data, ctx.node.op_type)
    axis = int(ctx.attr("axis", 0)) % data.node.rank
    ctx.static_shape(idx, f"{ctx.node.op_type} (its indices)")
    linear = A.reshape(_coordinates(shape, axis, _wrap(idx, shape[axis])), [-1])
    reduction = ctx.attr("reduction", "none") if ctx.node.op_type != "Scatter" else "none"
    return [_scatter(ctx, data, linear, A.reshape(updates, [-1]), reduction)]


converter("ScatterElements", check=lambda n: one_of("reduction", _REDUCTIONS, n))(
    _scatter_elements)
converter("Scatter")(_scatter_elements)


@converter("ScatterND", check=lambda n: one_of("reduction", _REDUCTIONS, n))
def _scatter_nd(ctx):
    data, idx, updates = ctx.input(0), ctx.input(1), ctx.input(2)
    shape = _static(ctx, data, "ScatterND")
    q = ctx.static_shape(idx, "ScatterND (its indices)")[-1]
    head = shape[:q]
    idx = _wrap(idx, constant(np.array(head, np.int64)))
    strides = np.cumprod([1] + head[::-1])[:-1][::-1].astype(np.int64)
    linear = A.reshape(M.reduce_sum(idx * constant(strides), [-1]), [-1])
    rows = A.reshape(updates, [-1] + shape[q:])
    return [_scatter(ctx, data, linear, rows, ctx.attr("reduction", "none"))]


# --- selections -----------------------------------------------------------------------------
@converter("Compress")
def _compress(ctx):
    x = ctx.input(0)
    keep = np.flatnonzero(np.asarray(ctx.const(1, "condition")).astype(bool))
    if not ctx.has_attr("axis"):
        x, axis = A.reshape(x, [-1]), 0
    else:
        axis = int(ctx.attr("axis")) % x.node.rank
    size = x.node.shape[axis]
    if size is not None:
        keep = keep[keep < size]
    return [A.gather(x, constant(keep.astype(np.int64)), axis=axis)]


@converter("ReverseSequence")
def _reverse_sequence(ctx):
    x, lengths = ctx.input(0), cast(ctx.input(1), dtypes.int64)
    shape = _static(ctx, x, "ReverseSequence")
    batch_axis, time_axis = int(ctx.attr("batch_axis", 1)), int(ctx.attr("time_axis", 0))
    rank = len(shape)
    t = constant(np.arange(shape[time_axis], dtype=np.int64).reshape(
        [-1 if a == time_axis else 1 for a in range(rank)]))
    n = A.reshape(lengths, [-1 if a == batch_axis else 1 for a in range(rank)])
    source = M.where(M.less(t, n), n - 1 - t, t)  # reversed within each sequence's length
    source = A.broadcast_to(source, shape)
    linear = _coordinates(shape, time_axis, source)
    return [A.gather(A.reshape(x, [-1]), linear, axis=0)]


@converter("TensorScatter", check=lambda n: one_of("mode", ("linear", "circular"), n))
def _tensor_scatter(ctx):
    """A cache with `update` written along `axis` from each batch entry's write index
    (wrapping around in circular mode). Each cache row along the axis takes the update
    row aimed at it, found by a one-hot match (a product with a 0/1 matrix)."""
    cache, update = ctx.input(0), ctx.input(1)
    shape = ctx.static_shape(cache, "TensorScatter")
    rank = len(shape)
    axis = int(ctx.attr("axis", -2)) % rank
    steps = ctx.static_shape(update, "TensorScatter (its update)")[axis]
    length, batch = shape[axis], shape[0]
    middle = int(np.prod(shape[1:axis])) if axis > 1 else 1
    tail = int(np.prod(shape[axis + 1:]))
    start = cast(ctx.input(2), dtypes.int64) if ctx.present(2) else \
        constant(np.zeros(batch, np.int64))
    at = A.reshape(start, [-1, 1]) + constant(np.arange(steps, dtype=np.int64))  # (B, S)
    if ctx.attr("mode", "linear") == "circular":
        at = M.mod(at, np.int64(length))
    hit = M.equal(A.expand_dims(at, -1), constant(np.arange(length, dtype=np.int64)))
    routing = A.reshape(cast(A.transpose(hit, [0, 2, 1]), update.dtype), [batch, 1, length,
                                                                         steps])
    rows = A.reshape(update, [batch, middle, steps, tail])
    written = M.matmul(routing, rows)  # (B, middle, L, tail)
    touched = A.reshape(M.reduce_any(hit, [1]), [batch, 1, length, 1])
    flat = A.reshape(cache, [batch, middle, length, tail])
    return [A.reshape(M.where(touched, written, flat), shape)]
