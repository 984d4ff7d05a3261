"""The ops of tf.sparse and the unsorted segment reductions.

A SparseTensor (graphc/framework/sparse_tensor.py) is three ordinary tensors, so each op here
is a composition of primitives: an entry's row-major position in the dense shape (its
"linear index", computed from dense_shape as tensors, so the shape may be a run-time value),
then a gather at it or a scatter-add to it. They lower, fuse and differentiate as those
primitives do; the gradient with respect to `values` is a gather, with respect to a dense
operand a scatter-add.

Every index is checked against dense_shape when the graph runs before it is used, so an
index out of bounds fails the run with InvalidArgumentError (in TF's words) instead of
reading or writing another entry. An op whose result has the dense shape reads dense_shape
as a run-time shape input: the plan is compiled once per distinct value
(graphc/passes/specialize.shape_feeds). The number of entries of a result cannot depend on
the data (graphc's shapes are static), so ops that would need it (sparse + sparse,
reorder, retain, from_dense of a run-time tensor) raise NotImplementedError.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.sparse_tensor import SparseTensor, SparseTensorValue, is_sparse
from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.check_ops import check
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.tensor import convert_to_tensor, is_tensor_like, make_tensor

INT64 = dtypes.int64


# --- the shape arithmetic shared by every op ------------------------------------------------
def _sparse(value, op: str) -> SparseTensor:
    """value as a SparseTensor (a SparseTensorValue becomes constants)."""
    if isinstance(value, SparseTensorValue):
        return SparseTensor.from_value(value)
    if not isinstance(value, SparseTensor):
        raise TypeError(f"{op}: expected a SparseTensor, got {type(value).__name__} "
                        f"{getattr(value, 'name', value)!r:.80}")
    return value


def _rank(sp: SparseTensor, op: str) -> int:
    """The static rank of sp (from its indices or its dense_shape), or a ShapeError."""
    for dim in (sp.indices.node.shape, sp.dense_shape.node.shape):
        if dim is not None and dim[-1] is not None:
            return int(dim[-1])
    raise ShapeError(f"{op}: the rank of the SparseTensor (indices '{sp.indices.name}' of "
                     f"shape {sp.indices.shape}) must be known when the graph is built; give "
                     "sparse_placeholder a shape such as [None, None]")


def _static(d):
    """d (an int or an int scalar tensor) as an int when known now, else None."""
    if isinstance(d, (int, np.integer)):
        return int(d)
    value = A.static_value(d)
    return None if value is None else int(value)


def _ints(value, what: str) -> list:
    """value (ints, or a tensor whose value is known when the graph is built) as ints."""
    if is_tensor_like(value):
        t = convert_to_tensor(value)
        value = A.static_value(t)
        if value is None:
            raise ShapeError(f"{what} must be known when the graph is built, got the tensor "
                             f"'{t.name}'")
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _dims(sp: SparseTensor, op: str) -> list:
    """sp's dense shape, one entry per axis: an int where known now, else the int64 scalar
    dense_shape[k] read when the graph runs."""
    rank = _rank(sp, op)
    static = sp.shape.dims if sp.shape.ndims == rank else [None] * rank
    return [int(d) if d is not None else sp.dense_shape[k] for k, d in enumerate(static)]


def _int64(d):
    return A.constant(np.int64(d)) if isinstance(d, (int, np.integer)) else M.cast(d, INT64)


def _shape_tensor(dims: list):
    """A 1-D int64 tensor of `dims` (a constant when every dim is an int)."""
    if all(isinstance(d, (int, np.integer)) for d in dims):
        return A.constant(np.array(dims, np.int64).reshape(-1))
    return A.stack([_int64(d) for d in dims])


def _shape_argument(shape):
    """A shape given by the user (ints, a tensor, or a list mixing ints and scalar tensors)
    as a 1-D int64 tensor."""
    if is_tensor_like(shape):
        return M.cast(convert_to_tensor(shape), INT64)
    if isinstance(shape, (list, tuple)) and any(is_tensor_like(d) for d in shape):
        return A.stack([M.cast(convert_to_tensor(d), INT64) if is_tensor_like(d)
                        else _int64(int(d)) for d in shape])
    return A.constant(np.asarray(shape, np.int64).reshape(-1))


def _product(dims: list):
    """The product of dims: an int when all are ints, else an int64 scalar tensor."""
    out = 1
    for d in dims:
        both = isinstance(out, int) and isinstance(d, (int, np.integer))
        out = out * int(d) if both else M.multiply(_int64(out), _int64(d))
    return out


def _strides(dims: list) -> list:
    """Row-major strides of dims (each an int or an int64 scalar tensor)."""
    return [_product(dims[k + 1:]) for k in range(len(dims))]


def _bounds_check(sp: SparseTensor, dims: list, op: str, columns=None):
    """The check failing the run unless 0 <= indices[i, k] < dims[k] for every entry (of
    the `columns` given, default all), in the words of TF's SparseTensor checks."""
    if columns is not None:
        dims = [dims[c] for c in columns]
    idx = sp.indices if columns is None else A.stack([sp.indices[:, c] for c in columns], 1)
    bounds = _shape_tensor(dims)
    ok = M.logical_and(M.greater_equal(idx, 0), M.less(idx, bounds))
    return check(ok, [bounds], f"{op}: indices[i] is out of bounds: need 0 <= index < "
                 f"dense_shape, in the SparseTensor with indices '{sp.indices.name}'; "
                 "(i, axis) is the first failing index, and the data is dense_shape",
                 summarize=len(dims), name="indices_in_bounds")


def _linear(sp: SparseTensor, dims: list, op: str, validate: bool = False):
    """Each entry's row-major position in dims (int64 [N]), computed once its index is
    checked to be in bounds; with `validate`, also once the entries are checked to be in
    strictly increasing row-major order (TF's validate_indices). The bounds are checked
    first, then the order, then repeats: of two entries failing in different ways, the
    one reported may not be the first (TF reports the first entry failing any check)."""
    ok = _bounds_check(sp, dims, op)
    strides = _shape_tensor(_strides(dims))
    with control_dependencies([ok]):
        linear = M.reduce_sum(M.multiply(sp.indices, strides), 1)
    if not validate:
        return linear
    cur, prev = linear[1:], linear[:-1]
    head = A.constant(np.array([True]))
    where = f"in the SparseTensor with indices '{sp.indices.name}'; i is the first failing index"
    with control_dependencies([ok]):
        ordered = check(A.concat([head, M.greater_equal(cur, prev)], 0), [],
                        f"{op}: indices[i] is out of order (many sparse ops require sorted "
                        f"indices), {where}", name="indices_ordered")
    with control_dependencies([ordered]):
        unique = check(A.concat([head, M.not_equal(cur, prev)], 0), [],
                       f"{op}: indices[i] is repeated, {where}", name="indices_unique")
    with control_dependencies([unique]):
        return A.identity(linear, name="linear_index")


def _scatter(updates, linear, size, rest=()):
    """Zeros of [size] + rest with updates[i] added at row linear[i] (repeats sum); size
    and rest are ints or int64 scalar tensors (run-time shape inputs)."""
    dims = [size] + list(rest)
    static = tuple(_static(d) for d in dims)
    return make_tensor("scatter_add", (updates, linear, _shape_tensor(dims)),
                       {"axis": 0, "shape": static}, "ScatterAdd")


def _rows_of(x):
    """x's dims after the first, as ints where known, else run-time scalars."""
    shape = x.node.shape
    if shape is None:
        raise ShapeError(f"the rank of '{x.name}' must be known, got shape {x.shape}")
    return [d if d is not None else A.shape(x, out_type=INT64)[k + 1]
            for k, d in enumerate(shape[1:])]


def _expand_like(x, like):
    """x with trailing size-1 axes to broadcast against `like`."""
    for _ in range(like.node.rank - x.node.rank):
        x = A.expand_dims(x, -1)
    return x


# --- to_dense ---------------------------------------------------------------------------------
def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """tf.sparse.to_dense: the dense tensor of sp_input's dense shape, its entries at their
    indices and default_value (0 when None) elsewhere. With validate_indices the indices
    must be in strictly increasing row-major order (TF's rule; checked when the graph
    runs); without it, repeated indices sum (in TF the last one wins). Indices out of bounds
    fail the run either way. Cost: a scatter-add of the values into zeros (and one of ones
    to find the entries, for a nonzero default); the gradient w.r.t. values is a gather."""
    op = "sparse.to_dense"
    sp = _sparse(sp_input, op)
    dims = _dims(sp, op)
    linear = _linear(sp, dims, op, validate_indices)
    flat = _fill(sp.values, linear, _product(dims), default_value, op)
    return A.reshape(flat, _shape_tensor(dims), name=name or "SparseToDense")


def sparse_tensor_to_dense(sp_input, default_value=0, validate_indices=True, name=None):
    """TF1's tf.sparse_tensor_to_dense: tf.sparse.to_dense with TF1's default of 0."""
    return to_dense(sp_input, default_value, validate_indices, name)


def _fill(values, linear, size, default_value, op: str):
    """[size]: values added at `linear`, default_value where no entry is."""
    if values.dtype is dtypes.bool_:
        flat = M.greater(_scatter(M.cast(values, dtypes.int32), linear, size), 0)
    else:
        flat = _scatter(values, linear, size)
    if default_value is None:
        return flat
    default = convert_to_tensor(default_value, dtype=values.dtype)
    if default.node.rank != 0:
        raise ShapeError(f"{op}: default_value must be a scalar, got '{default.name}' of "
                         f"shape {default.shape}")
    known = A.static_value(default)
    if known is not None and not np.any(known):
        return flat
    hit = M.greater(_scatter(A.ones_like(linear, dtype=dtypes.int32), linear, size), 0)
    return M.where(hit, flat, default)


def sparse_to_dense(sparse_indices, output_shape, sparse_values, default_value=0,
                    validate_indices=True, name=None):
    """TF1's tf.sparse_to_dense: indices as a scalar, a vector (one index of rank 1 each)
    or a matrix; sparse_values one per index or a scalar for all of them."""
    indices = convert_to_tensor(sparse_indices)
    if indices.node.rank is None or indices.node.rank > 2:
        raise ShapeError(f"sparse_to_dense: sparse_indices must be 0-D, 1-D or 2-D, got "
                         f"'{indices.name}' of shape {indices.shape}")
    if indices.node.rank < 2:
        indices = A.reshape(indices, [-1, 1] if indices.node.rank else [1, 1])
    values = convert_to_tensor(sparse_values)
    if values.node.rank == 0:
        values = A.broadcast_to(values, A.shape(indices, out_type=INT64)[:1])
    sp = SparseTensor(indices, values, _shape_argument(output_shape))
    return to_dense(sp, default_value, validate_indices, name or "SparseToDense")


# --- products, sums and sums with dense tensors ---------------------------------------------
def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """tf.sparse.sparse_dense_matmul: the product of a rank-2 SparseTensor (transposed with
    adjoint_a) and a matrix b (transposed with adjoint_b), as a dense matrix. Each entry
    (i, j, v) adds v * b[j, :] to row i: a gather of b's rows at the column indices, a
    product with the values and a scatter-add into the result's rows, whose number is
    dense_shape[0] (dense_shape[1] with adjoint_a), read when the graph runs. Cost O(N n)
    for N entries and n columns of b; differentiable w.r.t. the values and b."""
    op = "sparse.sparse_dense_matmul"
    sp = _sparse(sp_a, op)
    b = convert_to_tensor(b)
    if _rank(sp, op) != 2 or b.node.rank != 2:
        raise ShapeError(f"{op}: expected a rank-2 SparseTensor and a rank-2 b, got dense "
                         f"shape {sp.shape} and '{b.name}' of shape {b.shape}")
    if adjoint_b:
        b = A.transpose(b)
    dims = _dims(sp, op)
    rows, cols = (1, 0) if adjoint_a else (0, 1)
    deps = [_bounds_check(sp, dims, op), _inner_check(dims[cols], b, op, sp)]
    with control_dependencies([d for d in deps if d is not None]):
        row, col = sp.indices[:, rows], sp.indices[:, cols]
    terms = M.multiply(A.expand_dims(sp.values, 1), A.gather(b, col))
    return A.identity(_scatter(terms, row, dims[rows], _rows_of(b)),
                      name=name or "SparseTensorDenseMatMul")


def _inner_check(k, b, op: str, sp):
    """None when the inner dimensions are known equal now, a ShapeError when known to
    differ, else the check that they are equal when the graph runs."""
    kb = b.node.shape[0]
    if _static(k) is not None and kb is not None:
        if _static(k) != kb:
            raise ShapeError(f"{op}: cannot multiply A and B because the inner dimensions "
                             f"do not match: {_static(k)} (dense shape {sp.shape}) vs. {kb} "
                             f"('{b.name}' of shape {b.shape}); did you forget an adjoint?")
        return None
    kb = A.shape(b, out_type=INT64)[0]
    return check(M.equal(_int64(k), kb), [_int64(k), kb],
                 f"{op}: cannot multiply A and B because the inner dimensions do not match "
                 f"(data: A's, then B's '{b.name}'); did you forget an adjoint?",
                 name="inner_dims_match")


def reduce_sum(sp_input, axis=None, keepdims=None, reduction_axes=None, keep_dims=None,
               name=None):
    """tf.sparse.reduce_sum (TF1's tf.sparse_reduce_sum): the sum over `axis` (all axes when
    None; TF1's reduction_axes and keep_dims too) as a dense tensor, the entries at
    missing positions counting as 0. Repeated indices sum. A scatter-add of the values to
    their position among the kept axes; over all axes a plain sum of the values."""
    op = "sparse.reduce_sum"
    sp = _sparse(sp_input, op)
    axis = reduction_axes if axis is None else axis
    keep = bool(keepdims if keepdims is not None else keep_dims)
    rank = _rank(sp, op)
    axes = range(rank) if axis is None else _ints(axis, f"{op}: axis")
    axes = sorted({normalize_axis(int(a), rank, f"{op} axis") for a in axes})
    dims = _dims(sp, op)
    kept = [k for k in range(rank) if k not in axes]
    out_dims = [1 if k in axes else d for k, d in enumerate(dims)] if keep else \
        [dims[k] for k in kept]
    name = name or "SparseReduceSum"
    if not kept:
        total = M.reduce_sum(sp.values)
        return A.reshape(total, out_dims, name=name) if keep else A.identity(total, name=name)
    with control_dependencies([_bounds_check(sp, dims, op)]):
        idx = A.stack([sp.indices[:, k] for k in kept], 1)
    kept_dims = [dims[k] for k in kept]
    linear = M.reduce_sum(M.multiply(idx, _shape_tensor(_strides(kept_dims))), 1)
    flat = _scatter(sp.values, linear, _product(kept_dims))
    return A.reshape(flat, _shape_tensor(out_dims), name=name)


def add(a, b, threshold=0, thresh=None, name=None):
    """tf.sparse.add (TF1's tf.sparse_add) of a SparseTensor and a dense tensor of its dense
    shape: the dense sum (TF's semantics), the entries scatter-added into the dense
    operand (repeated indices sum). Two SparseTensors: NotImplementedError, since the
    number of entries of their sum depends on the data."""
    if is_sparse(a) and is_sparse(b):
        raise NotImplementedError(
            "sparse.add of two SparseTensors: the number of entries of the sum (the union of "
            "their indices) depends on the data, which graphc's static shapes cannot hold; "
            "add dense tensors instead: tf.sparse.add(tf.sparse.to_dense(a), b)")
    if not (is_sparse(a) or is_sparse(b)):
        raise TypeError("sparse.add: at least one input should be a SparseTensor; for two "
                        "dense tensors use tf.add")
    sp, dense = (a, b) if is_sparse(a) else (b, a)
    op = "sparse.add"
    sp, dense = _sparse(sp, op), convert_to_tensor(dense)
    dims = _dense_dims(sp, dense, op)
    with control_dependencies([_shapes_agree(sp, dense, dims, op)]):
        linear = _linear(sp, dims, op)
    flat = _scatter(sp.values, linear, _product(dims))
    return M.add(dense, A.reshape(flat, _shape_tensor(dims)), name=name or "SparseTensorDenseAdd")


def _dense_dims(sp, dense, op: str) -> list:
    """dense's dims (ints where known, else run-time scalars), checked now against sp's
    where both are known."""
    rank = _rank(sp, op)
    if dense.node.rank != rank:
        raise ShapeError(f"{op}: the dense operand '{dense.name}' (shape {dense.shape}) must "
                         f"have the rank of the SparseTensor's dense shape {sp.shape}")
    mine = sp.shape.dims if sp.shape.ndims == rank else [None] * rank
    out = []
    for k, (d, s) in enumerate(zip(dense.node.shape, mine)):
        if d is not None and s is not None and d != s:
            raise ShapeError(f"{op}: the SparseTensor's dense shape {sp.shape} and the dense "
                             f"operand '{dense.name}' of shape {dense.shape} differ")
        out.append(d if d is not None else A.shape(dense, out_type=INT64)[k])
    return out


def _shapes_agree(sp, dense, dims, op: str):
    """The check that sp's dense_shape equals dense's shape when the graph runs."""
    shape = _shape_tensor(dims)
    return check(M.reduce_all(M.equal(sp.dense_shape, shape)), [sp.dense_shape, shape],
                 f"{op}: the SparseTensor's dense_shape and the shape of the dense operand "
                 f"'{dense.name}' differ (data: both)", summarize=len(dims),
                 name="shapes_agree")


def dense_cwise(sp, other, kind: str, name=None):
    """TF's sparse_dense_cwise_mul / _div (SparseTensor * dense, SparseTensor / dense): a
    SparseTensor of sp's indices whose values are sp's values times (or divided by, "div"
    being true division) the dense operand at those indices. The dense operand broadcasts
    to sp's dense shape (a scalar too), never the other way; it is read by one gather at
    each entry's position in it (size-1 axes read at 0), so it is never broadcast in
    memory."""
    op = f"SparseTensor {'*' if kind == 'mul' else '/'}"
    sp = _sparse(sp, op)
    if is_sparse(other):
        raise TypeError(f"{op} SparseTensor: the product or quotient of two SparseTensors is "
                        "not supported (as in TF); make one operand dense with "
                        "tf.sparse.to_dense")
    dense = convert_to_tensor(other)
    combine = {"mul": M.multiply, "div": M.truediv}[kind]
    if dense.node.rank == 0:
        values = combine(sp.values, dense)
    else:
        values = combine(sp.values, A.gather(A.reshape(dense, [-1]),
                                             _broadcast_index(sp, dense, op)))
    return SparseTensor(sp.indices, A.identity(values, name=name or f"SparseDenseCwise"
                                               f"{kind.capitalize()}"), sp.dense_shape)


def _broadcast_index(sp, dense, op: str):
    """Each entry's position in `dense` broadcast to sp's dense shape, after the checks
    that the indices are in bounds and that dense broadcasts there."""
    rank, dims = _rank(sp, op), _dims(sp, op)
    lead = rank - dense.node.rank
    if lead < 0:
        raise ShapeError(f"{op}: the dense operand '{dense.name}' (shape {dense.shape}) has a "
                         f"higher rank than the SparseTensor's dense shape {sp.shape}; only "
                         "the dense side broadcasts")
    ddims = [d if d is not None else A.shape(dense, out_type=INT64)[k]
             for k, d in enumerate(dense.node.shape)]
    fits = [M.logical_or(M.equal(_int64(d), 1), M.equal(_int64(d), _int64(s)))
            for d, s in zip(ddims, dims[lead:])]
    fit = check(A.stack(fits), [_shape_tensor(ddims), _shape_tensor(dims)],
                f"{op}: the dense operand '{dense.name}' does not broadcast to the "
                "SparseTensor's dense shape (data: its shape, the dense shape)",
                summarize=rank, name="dense_broadcasts")
    strides = [M.multiply(_int64(s), M.cast(M.not_equal(_int64(d), 1), INT64))
               for s, d in zip(_strides(ddims), ddims)]
    with control_dependencies([_bounds_check(sp, dims, op), fit]):
        return M.reduce_sum(M.multiply(sp.indices[:, lead:], A.stack(strides)), 1)


# --- reshaping and new SparseTensors ----------------------------------------------------------
def to_indicator(sp_input, vocab_size, name=None):
    """tf.sparse.to_indicator: a bool tensor of shape dense_shape[:-1] + [vocab_size], True
    at [indices[i, :-1], values[i]] for every entry (the values are ids in
    [0, vocab_size), checked when the graph runs). A scatter-add of ones, then > 0."""
    op = "sparse.to_indicator"
    sp = _sparse(sp_input, op)
    if sp.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"{op}: the values must be int32 or int64 ids, got {sp.dtype} "
                         f"('{sp.values.name}')")
    vocab = convert_to_tensor(vocab_size) if is_tensor_like(vocab_size) else int(vocab_size)
    vocab = vocab if _static(vocab) is None else _static(vocab)
    dims = _dims(sp, op)[:-1] + [vocab]
    ids = A.concat([sp.indices[:, :-1], A.expand_dims(M.cast(sp.values, INT64), 1)], 1)
    merged = SparseTensor(ids, A.ones_like(sp.values, dtype=dtypes.int32), sp.dense_shape)
    linear = _linear(merged, dims, op)
    count = _scatter(merged.values, linear, _product(dims))
    return A.reshape(M.greater(count, 0), _shape_tensor(dims), name=name or "SparseToIndicator")


def reshape(sp_input, shape, name=None):
    """tf.sparse.reshape: the same entries, in the same (row-major) order, in a dense shape
    of the same size; one dim of `shape` may be -1 (inferred). Each entry's linear index
    in the old shape is split by the new shape's strides. The sizes must agree (checked
    when the graph runs where not known now)."""
    op = "sparse.reshape"
    sp = _sparse(sp_input, op)
    dims = _dims(sp, op)
    new = _shape_argument(shape)
    if new.node.rank != 1 or new.node.shape[0] is None:
        raise ShapeError(f"{op}: shape must be a 1-D int tensor of known length, got {shape!r}")
    total = _int64(_product(dims))
    new, checks = _infer_minus_one(new, total, op)
    new_dims = [new[k] for k in range(new.node.shape[0])]
    new_dims = [_static(d) if _static(d) is not None else d for d in new_dims]
    same = check(M.equal(total, _int64(_product(new_dims))), [sp.dense_shape, new],
                 f"{op}: the input's dense shape and the requested shape hold different "
                 "numbers of elements (data: the dense shape, the requested shape)",
                 summarize=max(len(dims), len(new_dims)), name="sizes_agree")
    with control_dependencies([same] + checks):
        linear = _linear(sp, dims, op)
    columns = []
    for d, s in zip(new_dims, _strides(new_dims)):  # max(., 1): no division by zero
        q = M.floordiv(linear, M.maximum(_int64(s), 1))  # for a shape of size 0
        columns.append(M.mod(q, M.maximum(_int64(d), 1)))
    indices = A.stack(columns, 1) if columns else A.reshape(linear[:0], [-1, 0])
    return SparseTensor(A.identity(indices, name=name or "SparseReshape"), sp.values,
                        _shape_tensor(new_dims))


def _infer_minus_one(new, total, op: str):
    """(`new` with its -1 replaced by total / the product of the others, the checks that
    there is at most one -1, for the entries to depend on). A shape feeds the plan as a
    run-time shape input, so it carries no control dependency itself."""
    known, size = A.static_value(new), _static(total)
    if known is not None:
        if int(np.sum(known == -1)) > 1:
            raise ShapeError(f"{op}: only one dimension of shape may be -1, got "
                             f"{known.tolist()}")
        if -1 not in known:
            return new, []
        if size is not None:
            rest = int(np.prod(known[known != -1]))
            known = np.where(known == -1, size // max(rest, 1), known)
            return A.constant(known.astype(np.int64)), []
    minus = M.equal(new, -1)
    once = check(M.less_equal(M.reduce_sum(M.cast(minus, INT64)), 1), [new],
                 f"{op}: only one dimension of shape may be -1", name="one_minus_one")
    rest = M.reduce_prod(M.where(minus, A.ones_like(new), new))
    inferred = M.floordiv(total, M.maximum(rest, 1))
    return M.where(minus, A.broadcast_to(inferred, A.shape(new)), new), [once]


def expand_dims(sp_input, axis=None, name=None):
    """tf.sparse.expand_dims: a size-1 axis inserted at `axis` (negative counts from the
    end of the result), each index getting a 0 there."""
    op = "sparse.expand_dims"
    sp = _sparse(sp_input, op)
    rank = _rank(sp, op)
    axis = normalize_axis(int(_ints(0 if axis is None else axis, f"{op}: axis")[0]),
                          rank + 1, f"{op} axis")
    zeros = A.zeros_like(sp.indices[:, :1])
    indices = A.concat([sp.indices[:, :axis], zeros, sp.indices[:, axis:]], 1)
    one = A.constant(np.ones(1, np.int64))
    shape = A.concat([sp.dense_shape[:axis], one, sp.dense_shape[axis:]], 0)
    return SparseTensor(A.identity(indices, name=name or "ExpandDims"), sp.values, shape)


def from_dense(tensor, name=None):
    """tf.sparse.from_dense: the nonzero entries of `tensor`, which must be known when the
    graph is built (a constant): the number of entries is the SparseTensor's first
    dimension, and graphc's shapes are fixed before the graph runs."""
    x = convert_to_tensor(tensor)
    value = A.static_value(x)
    if value is None:
        raise NotImplementedError(
            f"sparse.from_dense: the number of entries (the nonzeros of '{x.name}', shape "
            f"{x.shape}) is known only when the graph runs, and graphc's shapes are fixed "
            "when it is built; from_dense takes tensors known then (constants). Keep the "
            "tensor dense, or build the SparseTensor from indices and values")
    value = np.asarray(value)
    indices = np.argwhere(value != 0).astype(np.int64).reshape(-1, value.ndim)
    return SparseTensor(indices, A.constant(value[tuple(indices.T)], dtype=x.dtype,
                                            name=name or "values"),
                        np.array(value.shape, np.int64))


def concat(axis, sp_inputs, name=None, expand_nonconcat_dim=False, concat_dim=None,
           expand_nonconcat_dims=None):
    """tf.sparse.concat along the first axis (the only one whose result keeps the entries in
    row-major order without a sort): the inputs' entries in turn, each input's row
    indices offset by the rows before it. The other dims must agree (checked when the
    graph runs), or with expand_nonconcat_dim the result takes their maximum."""
    op = "sparse.concat"
    axis = concat_dim if concat_dim is not None else axis
    expand = bool(expand_nonconcat_dims if expand_nonconcat_dims is not None
                  else expand_nonconcat_dim)
    inputs = [_sparse(s, op) for s in sp_inputs]
    if not inputs:
        raise ValueError(f"{op}: expected at least one SparseTensor")
    rank = _rank(inputs[0], op)
    for i, s in enumerate(inputs[1:], 1):
        if _rank(s, op) != rank:
            raise ShapeError(f"{op}: input {i} has rank {_rank(s, op)}, input 0 rank {rank}")
    axis = normalize_axis(int(_ints(axis, f"{op}: axis")[0]), rank, f"{op} axis")
    if axis != 0:
        raise NotImplementedError(
            f"{op} along axis {axis}: the entries of the result must be in row-major order, "
            "which along any axis but the first needs a sort of the entries; graphc "
            "concatenates along axis 0 only (or use tf.concat of tf.sparse.to_dense)")
    shapes = [M.cast(s.dense_shape, INT64) for s in inputs]
    rest = [s[1:] for s in shapes]
    if expand:
        other = rest[0]
        for r in rest[1:]:
            other = M.maximum(other, r)
        deps = []
    else:
        other = rest[0]
        deps = [check(M.reduce_all(M.equal(r, other)), [other, r],
                      f"{op}: input {i} differs from input 0 in the dims after the first "
                      "(data: input 0's, input i's)", summarize=rank, name="dims_agree")
                for i, r in enumerate(rest[1:], 1)]
    indices, offset = [], A.constant(np.int64(0))
    for s, shape in zip(inputs, shapes):
        shift = A.concat([A.reshape(offset, [1]), A.zeros_like(shape[1:])], 0)
        indices.append(M.add(s.indices, shift))
        offset = M.add(offset, shape[0])
    with control_dependencies(deps):
        joined = A.identity(A.concat(indices, 0), name=name or "SparseConcat")
    values = A.concat([s.values for s in inputs], 0)
    return SparseTensor(joined, values, A.concat([A.reshape(offset, [1]), other], 0))


# --- segment reductions -----------------------------------------------------------------------
def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """tf.math.unsorted_segment_sum: output[s] = the sum of data[j...] over the j... with
    segment_ids[j...] == s, for s in [0, num_segments) (an int or a tensor, read when the
    graph runs). As TF's: empty segments are 0, negative ids are dropped, and an id of
    num_segments or more fails the run (InvalidArgumentError). One scatter-add; the
    gradient w.r.t. data is a gather."""
    return _segment("unsorted_segment_sum", data, segment_ids, num_segments, name)


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """tf.math.unsorted_segment_mean: the segment sums divided by the number of entries
    in each segment (empty segments are 0). Float data only."""
    return _segment("unsorted_segment_mean", data, segment_ids, num_segments, name)


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """tf.math.unsorted_segment_sqrt_n: the segment sums divided by the square root of the
    number of entries in each segment (empty segments are 0). Float data only."""
    return _segment("unsorted_segment_sqrt_n", data, segment_ids, num_segments, name)


def _segment(op: str, data, segment_ids, num_segments, name):
    data, ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
    if ids.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"{op}: segment_ids must be int32 or int64, got '{ids.name}' of "
                         f"dtype {ids.dtype}")
    if op != "unsorted_segment_sum" and data.dtype.kind != "f":
        raise DTypeError(f"{op} expects float data, got '{data.name}' of dtype {data.dtype}")
    dshape, ishape = data.node.shape, ids.node.shape
    if dshape is None or ishape is None or len(ishape) > len(dshape) or any(
            a is not None and b is not None and a != b for a, b in zip(ishape, dshape)):
        raise ShapeError(f"{op}: the shape of segment_ids '{ids.name}' {ids.shape} must be a "
                         f"prefix of the shape of data '{data.name}' {data.shape}")
    num = _segment_count(num_segments, op)
    rest = [d if d is not None else A.shape(data, out_type=INT64)[k]
            for k, d in enumerate(dshape[len(ishape):], len(ishape))]
    flat_ids = M.cast(A.reshape(ids, [-1]), INT64)
    in_range = check(M.less(flat_ids, _int64(num)), [_int64(num)],
                     f"{op}: segment_ids[j] is out of range [0, num_segments) in "
                     f"'{ids.name}'; j is the first failing index (of the ids in row-major "
                     "order), and the data is num_segments", name="segment_ids_in_range")
    keep = M.greater_equal(flat_ids, 0)  # TF drops the entries of negative ids
    with control_dependencies([in_range]):
        at = M.where(keep, flat_ids, A.zeros_like(flat_ids))
    rows = A.reshape(data, _shape_tensor([-1] + rest) if rest else [-1])
    rows = M.where(_expand_like(keep, rows), rows, A.zeros_like(rows))
    total = _scatter(rows, at, num, rest)
    if op == "unsorted_segment_sum":
        return A.identity(total, name=name or "UnsortedSegmentSum")
    count = _scatter(M.cast(keep, data.dtype), at, num)
    count = _expand_like(M.maximum(count, A.constant(np.ones((), data.dtype.np))), total)
    if op == "unsorted_segment_sqrt_n":
        count = M.sqrt(count)
    return M.truediv(total, count, name=name or op.title().replace("_", ""))


def _segment_count(num_segments, op: str):
    """num_segments as an int, or an int64 scalar tensor read when the graph runs."""
    if not is_tensor_like(num_segments):
        return int(num_segments)
    t = convert_to_tensor(num_segments)
    if t.dtype not in dtypes.INT_DTYPES or t.node.rank not in (0, None):
        raise ShapeError(f"{op}: num_segments must be an int scalar, got '{t.name}' of shape "
                         f"{t.shape} and dtype {t.dtype}")
    known = _static(A.reshape(t, []))
    return known if known is not None else M.cast(A.reshape(t, []), INT64)


def _install(cls) -> None:
    """Attach `SparseTensor * dense` and `SparseTensor / dense` (TF's sparse_dense_cwise_mul
    and _div) once the ops exist, as graphc.ops.overloads attaches Tensor's operators."""
    cls.__mul__ = lambda self, other: dense_cwise(self, other, "mul")
    cls.__truediv__ = cls.__div__ = lambda self, other: dense_cwise(self, other, "div")


_install(SparseTensor)
