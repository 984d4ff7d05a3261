"""Scans, n-d indexing and ranking with TF1's names: cumsum, cumprod, gather_nd, scatter_nd,
tensor_scatter_nd_update/add/sub, top_k and in_top_k.

Each is a composition of graphc's primitives (DESIGN.md: higher ops are compositions), so
it differentiates through the primitives' own VJPs and compiles like anything else; each
function's docstring states what it costs. An index out of range fails the run with
InvalidArgumentError, as tf.gather does in graphc (TF's CPU kernels fail the same way).
"""

from __future__ import annotations

import collections

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.check_ops import check
from graphc.ops.control_flow import while_loop
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.tensor import convert_to_tensor, is_tensor_like, make_tensor


def _static_int(value, what: str) -> int:
    """A Python int from an int or a tensor whose value is known when the graph is built."""
    if is_tensor_like(value):
        known = A.static_value(convert_to_tensor(value))
        if known is None or np.size(known) != 1:
            raise ShapeError(f"{what} must be a single int known when the graph is built "
                             f"(a constant), got the tensor {convert_to_tensor(value).name}")
        value = np.asarray(known).reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return int(value)


def _numeric(x, what: str):
    if x.dtype.kind not in "if":
        raise DTypeError(f"{what} expects a numeric (float or int) tensor, got {x.dtype} "
                         f"('{x.name}')")


# --- cumsum and cumprod ---------------------------------------------------------------------
def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running sums along `axis` (TF1's tf.cumsum); `exclusive` leaves each element out of
    its own sum, `reverse` sums from the end. See _scan for the cost."""
    return _scan("cumsum", M.add, 0, x, axis, exclusive, reverse, name or "Cumsum")


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running products along `axis` (TF1's tf.cumprod), as cumsum. The gradient is the
    composition's own, with no division by x, so it is exact where x has zeros."""
    return _scan("cumprod", M.multiply, 1, x, axis, exclusive, reverse, name or "Cumprod")


def _scan(tf_name, combine, identity, x, axis, exclusive, reverse, name):
    """The log-step (Hillis-Steele) scan: ceil(log2 n) steps, step j adding (multiplying)
    the tensor and a copy of it shifted by 2**j along the axis (a slice padded with the
    identity). A run costs 3 ceil(log2 n) kernels over the tensor (slice, pad and the
    combining op) and n log2 n operations per scanned line, against n for a serial loop;
    in exchange every step is data-parallel and vectorized. The axis size must be known
    when the graph is built; other dims may be unknown."""
    x = convert_to_tensor(x)
    _numeric(x, tf_name)
    rank = x.node.rank
    if not rank:
        raise ShapeError(f"{tf_name} needs a tensor of known rank >= 1, got '{x.name}' of "
                         f"shape {x.shape}")
    axis = normalize_axis(_static_int(axis, f"{tf_name}: axis"), rank, f"{tf_name} axis")
    n = x.node.shape[axis]
    if n is None:
        raise ShapeError(f"{tf_name}: the size of axis {axis} of '{x.name}' (shape {x.shape}) "
                         "must be known when the graph is built")
    fill = np.asarray(identity).astype(x.dtype.np).item()
    if exclusive:
        x = _shift(x, 1, axis, n, reverse, fill)
    step = 1
    while step < n:
        x = combine(x, _shift(x, step, axis, n, reverse, fill))
        step *= 2
    return A.identity(x, name=name)


def _shift(x, s: int, axis: int, n: int, reverse: bool, fill):
    """x moved s places along `axis` (towards the end, or the start when `reverse`), the
    s places it leaves filled with `fill`."""
    keep = (s, n, None) if reverse else (0, n - s, None)
    part = make_tensor("slice", (x,), {"slices": ((None, None, None),) * axis + (keep,)},
                       "Shift")
    pads = tuple(((0, s) if reverse else (s, 0)) if i == axis else (0, 0)
                 for i in range(x.node.rank))
    return make_tensor("pad", (part,), {"paddings": pads, "mode": "CONSTANT",
                                        "constant_value": fill}, "ShiftPad")


# --- gather_nd, scatter_nd and the tensor_scatter family ----------------------------------
def gather_nd(params, indices, name=None, batch_dims=0):
    """Slices of params at n-d indices (TF1's tf.gather_nd): indices[..., q] picks
    params[i0, ..., iq-1], giving shape indices.shape[:-1] + params.shape[q:]. With
    batch_dims=b the first b axes of params and indices are batch axes (their sizes known
    when the graph is built). Built as one tf.gather of params flattened over the indexed
    axes, at the linearized index; a run-time check fails the run (InvalidArgumentError)
    when any index component is out of range, before a wrong component could alias a valid
    row. Cost: one gather plus an elementwise pass over the indices; the gradient is the
    gather's, a scatter-add into params' shape."""
    params, indices = convert_to_tensor(params), convert_to_tensor(indices)
    b = _static_int(batch_dims, "gather_nd: batch_dims")
    q, head = _check_nd("gather_nd", params.node.shape, indices, b, "params")
    if params.node.rank is None:
        raise ShapeError(f"gather_nd: params '{params.name}' must have known rank")
    rest = list(params.node.shape[b + q:])
    linear = _linear_index("gather_nd", indices, head, b, "params", params.node.shape)
    if sum(d is None for d in rest) > 1:  # the indexed axes as one, the rest as they are
        flat_shape = A.concat([[int(np.prod(head))], A.shape(params)[b + q:]], 0)
    else:
        flat_shape = [int(np.prod(head))] + [-1 if d is None else d for d in rest]
    out = A.gather(A.reshape(params, flat_shape), linear, axis=0)
    return A.identity(out, name=name or "GatherNd")


def _check_nd(op: str, shape, indices, b: int, what: str):
    """(q, the static shape of the axes the indices address, batch axes included) after
    checking indices against a target of `shape`, for op with batch_dims b."""
    if indices.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"{op}: indices must be int32 or int64, got {indices.dtype} "
                         f"('{indices.name}')")
    ishape = indices.node.shape
    if ishape is None or len(ishape) < 1 or ishape[-1] is None:
        raise ShapeError(f"{op}: indices must have known rank >= 1 and a known last "
                         f"dimension, got '{indices.name}' of shape {indices.shape}")
    if shape is None:
        return ishape[-1], None
    q, rank = ishape[-1], len(shape)
    if b < 0 or b >= len(ishape) or b > rank:
        raise ValueError(f"{op}: batch_dims {b} must be in [0, {min(len(ishape) - 1, rank)}] "
                         f"for indices of shape {list(ishape)} and {what} of rank {rank}")
    if q + b > rank:
        raise ShapeError(f"{op}: index depth {q} (the last dimension of indices, shape "
                         f"{list(ishape)}) is more than the {rank - b} axes of {what} "
                         f"shape {list(shape)}" + (f" past its {b} batch axes" if b else ""))
    for k in range(b):
        if shape[k] is None or ishape[k] is None or shape[k] != ishape[k]:
            raise ShapeError(f"{op}: batch axis {k} must have one known size in {what} "
                             f"{list(shape)} and indices {list(ishape)}")
    head = tuple(shape[:b + q])
    if None in head:
        raise ShapeError(f"{op}: the {what} axes the indices address must have sizes known "
                         f"when the graph is built, got shape {list(shape)}")
    return q, head


def _linear_index(op: str, indices, head: tuple, b: int, what: str, shape):
    """The row-major position in `head` (batch axes first) of each index of `indices`,
    computed once its components are checked to be in range: every use of it (the gather
    or scatter and their gradients) depends on the check. `what` of `shape` is what the
    indices index, for the error."""
    size = int(np.prod(head))
    dtype = dtypes.int64 if indices.dtype == dtypes.int64 or size >= 2 ** 31 else dtypes.int32
    idx = M.cast(indices, dtype)
    bounds = A.constant(np.array(head[b:], dtype.np))
    past = f"past the {b} batch ax{'is' if b == 1 else 'es'}, " if b else ""
    ok = check(M.logical_and(M.greater_equal(idx, 0), M.less(idx, bounds)), [indices],
               f"{op}: an index is out of range for {what} of shape {list(shape)}: {past}"
               f"indices must lie in {' x '.join(f'[0, {d})' for d in head[b:])}",
               name="indices_in_range")
    strides = [int(np.prod(head[k + 1:])) for k in range(len(head))]
    with control_dependencies([ok]):
        linear = M.reduce_sum(idx * A.constant(np.array(strides[b:], dtype.np)), -1)
        for k in range(b):  # batch axis k: its position, broadcast over the other axes
            shape = [1] * (indices.node.rank - 1)
            shape[k] = head[k]
            pos = np.arange(head[k], dtype=dtype.np).reshape(shape) * strides[k]
            linear = linear + A.constant(pos)
        return A.identity(linear, name="linear_index")


def scatter_nd(indices, updates, shape, name=None):
    """Zeros of `shape` with updates[i] added at the n-d index indices[i] (TF1's
    tf.scatter_nd): repeated indices sum. `shape` must be known when the graph is built.
    One scatter-add over the flattened leading axes at the linearized, range-checked index;
    the gradient with respect to updates is a gather."""
    indices, updates = convert_to_tensor(indices), convert_to_tensor(updates)
    target, _ = A.shape_argument(shape, "scatter_nd: shape")
    if None in target:
        raise ShapeError(f"scatter_nd: shape must be known when the graph is built, got "
                         f"{shape!r}")
    linear, rows, q, head = _scatter_operands("scatter_nd", indices, updates, target)
    out = _scatter_rows(rows, linear, head, target[q:])
    return A.reshape(out, list(target), name=name or "ScatterNd")


def _scatter_operands(op: str, indices, updates, target: tuple):
    """(the checked linear index of each update, the updates as rows, q, head) for
    scattering `updates` at `indices` into a tensor of shape `target`."""
    _numeric(updates, op)
    what = "tensor" if op.startswith("tensor_") else "the output"
    q, head = _check_nd(op, target, indices, 0, what)
    want = tuple(indices.node.shape[:-1]) + target[q:]
    got = updates.node.shape
    if got is None or len(got) != len(want) or any(
            a is not None and c is not None and a != c for a, c in zip(got, want)):
        raise ShapeError(f"{op}: updates must have shape indices.shape[:-1] + shape[{q}:] = "
                         f"{list(want)}, got '{updates.name}' of shape {updates.shape}")
    linear = A.reshape(_linear_index(op, indices, head, 0, what, target), [-1])
    return linear, A.reshape(updates, [-1] + list(target[q:])), q, head


def _scatter_rows(rows, linear, head: tuple, rest: tuple):
    """Zeros of [prod(head)] + rest with each row added at its linear index."""
    flat_shape = (int(np.prod(head)),) + tuple(rest)
    return make_tensor("scatter_add", (rows, linear, A.constant(np.array(flat_shape,
                                                                          np.int64))),
                       {"axis": 0, "shape": flat_shape}, "ScatterAdd")


def _target_of(op: str, tensor, updates):
    """tensor's static shape, after checking that updates have its dtype."""
    if tensor.dtype is not updates.dtype:
        raise DTypeError(f"{op}: updates ('{updates.name}', {updates.dtype}) must have the "
                         f"dtype of tensor ('{tensor.name}', {tensor.dtype})")
    shape = tensor.node.shape
    if shape is None or None in shape:
        raise ShapeError(f"{op}: the shape of tensor '{tensor.name}' must be known when the "
                         f"graph is built, got {tensor.shape}")
    return tuple(shape)


def _tensor_scatter(op: str, combine, tensor, indices, updates, name: str):
    tensor, indices, updates = (convert_to_tensor(t) for t in (tensor, indices, updates))
    target = _target_of(op, tensor, updates)
    linear, rows, q, head = _scatter_operands(op, indices, updates, target)
    out = A.reshape(_scatter_rows(rows, linear, head, target[q:]), list(target))
    return combine(tensor, out, name=name)


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """tensor plus updates added at n-d indices (repeated indices sum): tensor +
    scatter_nd(indices, updates, tensor.shape); tensor's shape must be known."""
    return _tensor_scatter("tensor_scatter_nd_add", M.add, tensor, indices, updates,
                           name or "TensorScatterAdd")


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """tensor minus updates at n-d indices (repeated indices sum)."""
    return _tensor_scatter("tensor_scatter_nd_sub", M.subtract, tensor, indices, updates,
                           name or "TensorScatterSub")


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """tensor with the slices at n-d indices replaced by updates; of repeated indices the
    last update wins (as TF's CPU kernel, which applies them in order). Each update is
    compared with every later one to find the winners, so the cost grows with the square of
    the number of updates N (N**2 comparisons, N known when the graph is built), then a
    scatter-add of the winners, one of ones to find the written slots, and a select. The
    gradient reaches tensor where nothing was written and each winning update; a losing
    duplicate gets zero (TF passes it the slot's gradient too)."""
    op = "tensor_scatter_nd_update"
    tensor, indices, updates = (convert_to_tensor(t) for t in (tensor, indices, updates))
    target = _target_of(op, tensor, updates)
    linear, rows, q, head = _scatter_operands(op, indices, updates, target)
    n = linear.node.shape[0]
    if n is None:
        raise ShapeError(f"{op}: the number of updates (indices of shape "
                         f"{indices.shape}) must be known when the graph is built")
    later = A.constant(np.triu(np.ones((n, n), bool), 1))  # [i, j]: j comes after i
    beaten = M.reduce_any(M.logical_and(M.equal(A.expand_dims(linear, 1),
                                                A.expand_dims(linear, 0)), later), 1)
    keep = _expand_to(M.logical_not(beaten), rows)
    written = _scatter_rows(M.where(keep, rows, A.zeros_like(rows)), linear, head,
                            target[q:])
    count = _scatter_rows(M.cast(A.ones_like(linear), dtypes.int32), linear, head, ())
    hit = A.reshape(M.greater(count, 0), list(head) + [1] * (len(target) - q))
    out = A.reshape(written, list(target))
    return M.where(hit, out, tensor, name=name or "TensorScatterUpdate")


def _expand_to(mask, like):
    """mask with trailing size-1 axes to broadcast against `like`."""
    for _ in range(like.node.rank - mask.node.rank):
        mask = A.expand_dims(mask, -1)
    return mask


# --- top_k and in_top_k ---------------------------------------------------------------------
TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])
UNROLLED_K = 8  # top_k passes written out; for more, a while loop (compile time)...
PASSES_PER_ITERATION = 8  # ...of this many passes per iteration


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002 - TF1 names
    """The k largest entries of each row of the last axis and their indices (TF1's
    tf.nn.top_k), largest first; equal values come in index order (TF's rule), and nan
    ranks as -inf. `sorted=False` is accepted and gives the sorted order. k must be known
    when the graph is built, at most the last dimension (also known then).

    Cost: k passes over each row, each a maximum and a minimum index (two reductions,
    fused into one kernel that reads the row once): O(k n) per row of n, against
    O(n log k) for a heap. Up to UNROLLED_K passes are written out (one kernel); more
    run in a while_loop doing PASSES_PER_ITERATION of them per iteration, so compile time
    does not grow with k (an iteration of one pass would cost twice as much per pass: the
    loop body keeps a pass's mask in memory between its two reductions, where a row group
    outside loops computes it in registers). The values are one gather at the
    chosen positions, so their gradient is a scatter to those positions (one-hot selects
    where the leading dims are unknown when the graph is built).
    """
    x = convert_to_tensor(input)
    _numeric(x, "top_k")
    k = _static_int(k, "top_k: k")
    shape = x.node.shape
    if not shape or shape[-1] is None:
        raise ShapeError(f"top_k needs an input of known rank >= 1 with a known last "
                         f"dimension, got '{x.name}' of shape {x.shape}")
    n = shape[-1]
    if not 0 <= k <= n:
        raise ValueError(f"top_k: k ({k}) must be in [0, {n}], the size of the last "
                         f"dimension of '{x.name}' (shape {x.shape})")
    with get_default_graph().name_scope(name or "TopKV2"):
        rows = A.reshape(x, [-1, n])
        if k == 0:
            indices = M.cast(A.slice(A.zeros_like(rows), [0, 0], [-1, 0]), dtypes.int32)
        else:
            key = M.where(M.is_nan(rows), A.constant(np.array(-np.inf, x.dtype.np)),
                          rows) if x.dtype.kind == "f" else rows
            indices = _top_indices(key, k, n)
        values = _pick(rows, indices, n)
        out = [A.reshape(t, _leading(x) + [k]) for t in (values, indices)]
    return TopKV2(A.identity(out[0], name="values"), A.identity(out[1], name="indices"))


def _leading(x) -> list:
    """x's leading dims as a reshape target (-1 for at most one unknown dim)."""
    dims = list(x.node.shape[:-1])
    if sum(d is None for d in dims) <= 1:
        return [-1 if d is None else d for d in dims]
    return [A.shape(x)[i] for i in range(len(dims))]


def _top_indices(key, k: int, n: int):
    """[rows, k] int32: the positions of the k largest keys of each row, in (key
    descending, position ascending) order. Pass t takes the largest key among the entries
    that come after the last one taken in that order, and the first position holding it;
    only the last (key, position) pair is carried, so a pass's work does not grow with t."""
    iota = A.constant(np.arange(n, dtype=np.int32))
    lowest = A.constant(np.array(-np.inf if key.dtype.kind == "f"
                                 else np.iinfo(key.dtype.np).min, key.dtype.np))
    end = A.constant(np.int32(n))

    def first_pass():
        top = M.reduce_max(key, -1, keepdims=True)
        return top, M.reduce_min(M.where(M.equal(key, top), iota, end), -1, keepdims=True)

    def next_pass(top, at):
        after = M.logical_or(M.less(key, top),
                             M.logical_and(M.equal(key, top), M.greater(iota, at)))
        top = M.reduce_max(M.where(after, key, lowest), -1, keepdims=True)
        hit = M.logical_and(after, M.equal(key, top))
        return top, M.reduce_min(M.where(hit, iota, end), -1, keepdims=True)

    top, at = first_pass()
    if k <= UNROLLED_K:
        picks = [at]
        for _ in range(k - 1):
            top, at = next_pass(top, at)
            picks.append(at)
        return A.concat(picks, 1)
    # a loop of `steps` iterations, each making PASSES_PER_ITERATION passes (the last
    # iteration's surplus passes pick past the end of a row and are dropped): picks[t] is
    # row t of a [steps * PASSES_PER_ITERATION + 1, rows] buffer, written in place
    steps = -(-(k - 1) // PASSES_PER_ITERATION)
    picks = A.tile(A.reshape(at, [1, -1]), [steps * PASSES_PER_ITERATION + 1, 1])

    def body(t, top, at, picks):
        for j in range(PASSES_PER_ITERATION):
            top, at = next_pass(top, at)
            picks = make_tensor("put_row", (picks, t + j, A.reshape(at, [-1])), name="Pick")
        return t + PASSES_PER_ITERATION, top, at, picks
    *_, picks = while_loop(lambda t, *_: M.less(t, k), body,
                           (A.constant(np.int32(1)), top, at, picks),
                           maximum_iterations=steps)
    picks = picks[:k]
    return A.transpose(picks)


def _pick(rows, indices, n: int):
    """rows[r, indices[r, j]]: one gather of the flattened rows when their number is known,
    else a one-hot select and sum per pick."""
    count = rows.node.shape[0]
    if count is not None:
        base = A.constant((np.arange(count, dtype=np.int32) * n)[:, None])
        return A.gather(A.reshape(rows, [-1]), indices + base)
    iota = A.constant(np.arange(n, dtype=np.int32))
    chosen = M.equal(A.expand_dims(indices, -1), iota)  # [rows, k, n]
    return M.reduce_sum(M.where(chosen, A.expand_dims(rows, 1), A.zeros_like(
        A.expand_dims(rows, 1))), -1)


def in_top_k(predictions, targets, k, name=None):
    """Whether each target class is among the k largest predictions of its row (TF1's
    tf.nn.in_top_k), as TF's kernel decides: true when fewer than k predictions are
    strictly larger than the target's (so ties at the k-th value count as in); false when
    the target is outside [0, classes) or any prediction of the row is not finite. k may be
    a tensor. Cost: two fused reductions over each row."""
    p, t = convert_to_tensor(predictions), convert_to_tensor(targets)
    if p.dtype.kind != "f":
        raise DTypeError(f"in_top_k: predictions must be floating-point, got {p.dtype} "
                         f"('{p.name}')")
    if t.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"in_top_k: targets must be int32 or int64, got {t.dtype} "
                         f"('{t.name}')")
    if p.node.rank != 2 or t.node.rank != 1 or p.node.shape[1] is None:
        raise ShapeError(f"in_top_k: predictions must be [batch, classes] with known classes "
                         f"and targets [batch], got shapes {p.shape} and {t.shape}")
    if p.node.shape[0] is not None and t.node.shape[0] is not None and \
            p.node.shape[0] != t.node.shape[0]:
        raise ShapeError(f"in_top_k: predictions {p.shape} and targets {t.shape} must have "
                         "the same batch size")
    n = p.node.shape[1]
    k = convert_to_tensor(k)
    if k.dtype not in dtypes.INT_DTYPES or k.node.rank != 0:
        raise TypeError(f"in_top_k: k must be a scalar int, got {k.dtype} of shape {k.shape}")
    iota = A.constant(np.arange(n, dtype=t.dtype.np))
    target = A.expand_dims(t, -1)
    own = M.reduce_sum(M.where(M.equal(iota, target), p, A.zeros_like(p)), -1,
                       keepdims=True)
    larger = M.reduce_sum(M.cast(M.greater(p, own), k.dtype), -1)
    finite = M.reduce_all(M.is_finite(p), -1)
    in_range = M.logical_and(M.greater_equal(t, 0), M.less(t, n))
    ok = M.logical_and(in_range, finite)
    return M.logical_and(ok, M.less(larger, k), name=name or "InTopKV2")
