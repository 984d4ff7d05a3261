"""The rest of TF1's everyday surface: device scopes, run options, a few compositions
(squared_difference, reduce_logsumexp, xw_plus_b, embedding_lookup and
embedding_lookup_sparse, einsum) and the tf.math / tf.random namespaces. Everything
numeric is built from existing ops.
"""

from __future__ import annotations

import contextlib
import types

from graphc import unsupported
from graphc.errors import DTypeError, ShapeError
from graphc.framework import complex_tensor
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import extra_ops, matrix_ops, nn_ops, random_ops, sampling_ops, sparse_ops
from graphc.ops import math_ops as M
from graphc.ops.check_ops import check
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.einsum import einsum
from graphc.ops.gradients import add_n
from graphc.ops.tensor import convert_to_tensor
from graphc.runtime.run_metadata import RunMetadata, RunOptions  # noqa: F401 (tf's names)


# --- placement: accepted, no effect (run options: graphc/runtime/run_metadata.py) ----
@contextlib.contextmanager
def device(device_name_or_function):
    """Accepted so TF1 programs run; no effect: graphc places no op on a device, the
    Session's target runs every op."""
    yield


@contextlib.contextmanager
def container(container_name):
    """Accepted; no effect (graphc's variables live in their Session, not in containers)."""
    yield


# --- compositions -----------------------------------------------------------------------------
def squared_difference(x, y, name=None):
    """(x - y) ** 2, broadcasting."""
    return M.square(M.subtract(x, y), name=name or "SquaredDifference")


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None,
                     reduction_indices=None, keep_dims=None):
    """log(sum(exp(x))) over `axis`, as TF computes it: m + log(sum(exp(x - m))) with m the
    maximum (0 where it is not finite, so all -inf gives -inf). m is a constant to the
    gradient: d/dx = softmax(x) whatever the shift."""
    x = convert_to_tensor(input_tensor)
    if x.dtype.kind != "f":
        raise DTypeError(f"reduce_logsumexp expects a floating-point tensor, found {x.dtype} "
                         f"('{x.name}'); cast it first with tf.cast")
    axis = reduction_indices if axis is None else axis
    keep = bool(keepdims if keepdims is not None else keep_dims)
    if x.node.rank is None and axis is None:
        x = A.reshape(x, [-1])
    raw = M.reduce_max(x, axis, keepdims=True)
    shift = A.stop_gradient(M.where(M.is_finite(raw), raw, A.zeros_like(raw)))
    total = M.log(M.reduce_sum(M.exp(x - shift), axis, keepdims=keep))
    if not keep:  # the same reduction over size-1 axes drops them
        shift = M.reduce_sum(shift, axis)
    return M.add(total, shift, name=name or "ReduceLogSumExp")


def xw_plus_b(x, weights, biases, name=None):
    """matmul(x, weights) + biases, for a 2-D x."""
    x = convert_to_tensor(x)
    if x.node.rank != 2:
        raise ShapeError(f"xw_plus_b expects a 2-D x, found shape {x.shape} ('{x.name}')")
    return nn_ops.bias_add(M.matmul(x, weights), biases, name=name or "xw_plus_b")


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """Rows `ids` of params: one tensor, or a list of shards of one table split along axis
    0 by TF's strategy ("mod": id lives in shard id % n at row id // n; "div": contiguous
    blocks, the first shards one row longer). Each shard is gathered at every id (ids of
    other shards read row 0) and the right one selected, so the cost grows with
    len(ids) * shards, not with the table. With max_norm, each looked-up embedding whose L2
    norm exceeds it is scaled down to it."""
    shards = list(params) if isinstance(params, (list, tuple)) else [params]
    if not shards:
        raise ValueError("embedding_lookup: expected params as a tensor or a non-empty list of "
                         "shards, found an empty list")
    shards = [convert_to_tensor(p) for p in shards]
    ids = convert_to_tensor(ids)
    if len(shards) == 1:
        out = A.gather(shards[0], ids)
    else:
        shard, row = _assign(shards, ids, partition_strategy)
        out = None
        for p, table in enumerate(shards):
            mine = M.equal(shard, p)
            rows = A.gather(table, M.where(mine, row, A.zeros_like(row)))
            out = rows if out is None else M.where(_expand(mine, rows), rows, out)
    if max_norm is not None:
        from graphc.train.clip import clip_by_norm  # (graphc.train is imported on use only)
        axes = list(range(ids.node.rank, out.node.rank))
        out = clip_by_norm(out, max_norm, axes=axes) if axes else out
    return A.identity(out, name=name or "embedding_lookup")


def embedding_lookup_sparse(params, sp_ids, sp_weights, partition_strategy="mod", name=None,
                            combiner=None, max_norm=None):
    """Per row r of sp_ids (its entries' first index), the rows of params at the ids of row
    r, weighted by sp_weights' values (1 when None) and combined: "sum", "mean" (sum / the
    sum of the weights; TF1's default) or "sqrtn" (sum / sqrt(the sum of the squared
    weights)). params and partition_strategy as embedding_lookup. The result has
    dense_shape[0] rows, rows without ids being 0; TF1's has max(row) + 1 (a count known
    only from the data), and NaN for an empty row between others with weights and "mean" or
    "sqrtn"; the other rows agree. One gather, then unsorted segment sums (scatter-adds)
    by row."""
    op = "embedding_lookup_sparse"
    combiner = "mean" if combiner is None else combiner
    if combiner not in ("mean", "sqrtn", "sum"):
        raise ValueError(f"{op}: combiner must be one of 'mean', 'sqrtn' or 'sum', got "
                         f"{combiner!r}")
    sp = _sparse_ids(sp_ids, "sp_ids")
    emb = embedding_lookup(params, sp.values, partition_strategy, max_norm=max_norm)
    if emb.dtype is dtypes.float16:  # TF1 combines half embeddings in float32
        emb = M.cast(emb, dtypes.float32)
    rows = sp.indices[:, 0]
    rows_ok = check(M.greater_equal(rows, 0), [], f"{op}: indices[i, 0] of sp_ids "
                    f"('{sp.indices.name}') is negative; i is the first failing index",
                    name="rows_not_negative")
    with control_dependencies([rows_ok]):
        rows = A.identity(rows)
    count = sp.shape[0] if sp.shape.ndims and sp.shape[0] is not None else sp.dense_shape[0]
    weights = A.ones_like(sp.values, dtype=emb.dtype) if sp_weights is None else \
        _weights_of(sp_weights, sp, emb.dtype)
    total = sparse_ops.unsorted_segment_sum(emb * _expand(weights, emb), rows, count)
    if combiner == "sum":
        return A.identity(total, name=name or op)
    denom = sparse_ops.unsorted_segment_sum(
        weights if combiner == "mean" else M.square(weights), rows, count)
    denom = M.sqrt(denom) if combiner == "sqrtn" else denom
    hit = M.greater(sparse_ops.unsorted_segment_sum(A.ones_like(rows, dtype=dtypes.int32),
                                                    rows, count), 0)
    denom = M.where(hit, denom, A.ones_like(denom))  # an empty row: 0 / 1
    return M.truediv(total, _expand(denom, total), name=name or op)


def _sparse_ids(value, what: str):
    return sparse_ops._sparse(value, f"embedding_lookup_sparse: {what}")


def _weights_of(sp_weights, sp, dtype):
    """sp_weights' values in `dtype`, after checking that they pair with sp's ids."""
    w = _sparse_ids(sp_weights, "sp_weights (or None)")
    for a, b, what in ((w.values, sp.values, "values"), (w.indices, sp.indices, "indices")):
        if not a.shape.is_compatible_with(b.shape):
            raise ShapeError(f"embedding_lookup_sparse: sp_weights' {what} '{a.name}' "
                             f"{a.shape} do not pair with sp_ids' {what} '{b.name}' {b.shape}")
    return M.cast(w.values, dtype) if w.dtype is not dtype else w.values


def _expand(mask, like):
    """mask (the shape of ids) with trailing size-1 axes to broadcast over embeddings."""
    for _ in range(like.node.rank - mask.node.rank):
        mask = A.expand_dims(mask, -1)
    return mask


def _assign(shards, ids, strategy):
    """(shard, row within the shard) of each id under TF's partition strategy."""
    n = len(shards)
    dims = shards[0].node.shape[1:]
    for p, s in enumerate(shards):
        if s.node.shape[1:] != dims or s.dtype != shards[0].dtype:
            raise ShapeError(f"embedding_lookup: expected shards of one dtype and one row "
                             f"shape, found shard 0 {shards[0].dtype} {shards[0].shape} and "
                             f"shard {p} {s.dtype} {s.shape}")
    if strategy == "mod":
        return M.mod(ids, n), M.floordiv(ids, n)
    if strategy != "div":
        raise ValueError(f"embedding_lookup: expected partition_strategy 'mod' or 'div', "
                         f"found {strategy!r}")
    sizes = [s.node.shape[0] for s in shards]
    if None in sizes:
        raise ShapeError(f"embedding_lookup: the 'div' strategy needs every shard's row count "
                         f"when the graph is built, found {sizes}")
    # the first `extras` shards hold per + 1 rows (max(per, 1): no division by zero in
    # the branch that a table of fewer rows than shards never selects)
    per, extras = divmod(sum(sizes), n)
    shard = M.maximum(M.floordiv(ids, per + 1), M.floordiv(ids - extras, max(per, 1)))
    first = M.less(shard, extras)
    row = M.where(first, M.mod(ids, per + 1), M.mod(ids - extras, max(per, 1)))
    return shard, row


# --- tf.math and tf.random --------------------------------------------------------------------
def _namespace(name: str, prefix: str, doc: str, members: dict) -> types.ModuleType:
    """A module object holding exactly `members`; any other name raises graphc's
    UnsupportedAPIError naming docs/api-coverage.md."""
    module = types.ModuleType(name, doc)
    module.__dict__.update(members)

    def __getattr__(attr):
        raise unsupported.missing_attribute(module, prefix, attr)

    module.__getattr__ = __getattr__
    return module


_MATH_NAMES = (
    "abs", "add", "argmax", "argmin", "atan2", "ceil", "cos", "count_nonzero", "divide",
    "equal", "erf", "exp", "expm1", "floor", "floordiv", "greater", "greater_equal",
    "is_finite", "is_inf", "is_nan", "less", "less_equal", "log", "log1p", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "negative", "not_equal", "pow", "reciprocal", "reduce_all", "reduce_any", "reduce_max",
    "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "round", "rsqrt", "sigmoid",
    "sign", "sin", "sqrt", "square", "subtract", "tanh", "truediv",
)
math = _namespace("graphc.math", "tf.math", "tf.math: TF's math names over graphc's ops.", {
    **{n: getattr(M, n) for n in _MATH_NAMES},
    "floormod": M.mod, "realdiv": M.truediv, "add_n": add_n,
    "squared_difference": squared_difference, "reduce_logsumexp": reduce_logsumexp,
    "l2_normalize": nn_ops.l2_normalize, "log_softmax": nn_ops.log_softmax,
    "softplus": nn_ops.softplus, "softsign": nn_ops.softsign,
    "cumsum": extra_ops.cumsum, "cumprod": extra_ops.cumprod, "top_k": extra_ops.top_k,
    "in_top_k": extra_ops.in_top_k,
    "reduce_variance": matrix_ops.reduce_variance, "reduce_std": matrix_ops.reduce_std,
    # complex values as pairs of real tensors (graphc/framework/complex_tensor.py)
    **{n: getattr(complex_tensor, n) for n in ("real", "imag", "conj", "angle")},
    **{n: getattr(sparse_ops, n) for n in ("unsorted_segment_sum", "unsorted_segment_mean",
                                           "unsorted_segment_sqrt_n")},
})

random = _namespace("graphc.random", "tf.random", "tf.random: TF's random-number names.", {
    "normal": random_ops.random_normal, "uniform": random_ops.random_uniform,
    "truncated_normal": random_ops.truncated_normal, "set_random_seed": random_ops.set_random_seed,
    "set_seed": random_ops.set_random_seed, "get_seed": random_ops.get_seed,
    **{n: getattr(sampling_ops, n) for n in sampling_ops.SAMPLERS},
})

__all__ = ["device", "container", "RunOptions", "RunMetadata", "squared_difference",
           "reduce_logsumexp", "xw_plus_b", "embedding_lookup", "embedding_lookup_sparse",
           "einsum", "math", "random"]
