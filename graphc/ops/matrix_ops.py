"""Matrix and sequence helpers with TF1's names, each a composition of existing ops: eye,
linspace, sequence_mask, norm, matrix_transpose, matrix_band_part, diag and diag_part,
matrix_diag and matrix_diag_part, trace, roll, reduce_variance and reduce_std.

Sizes that shape a result (eye's rows, linspace's num, sequence_mask's maxlen, roll's
shifts, the matrix axes of the diagonal ops) must be known when the graph is built, as
graphc's shapes are static: a Python int or a tensor whose value is known then (a constant)
is taken, a tensor computed at run time raises ShapeError (a ValueError) saying so.
Diagonals are placed and picked with constant masks and `where`, never by multiplying with
an identity matrix, so an inf or nan stays where it is instead of spreading.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor, is_tensor_like, promote_operands


# --- sizes known when the graph is built ----------------------------------------------------
def _known_ints(value, op: str, what: str) -> np.ndarray:
    """`value` (ints, or a tensor known when the graph is built) as an int64 array."""
    if is_tensor_like(value):
        t = convert_to_tensor(value)
        known = A.static_value(t)
        if known is None:
            raise ShapeError(f"{op}: {what} must be known when the graph is built (graphc's "
                             f"shapes are static), but '{t.name}' is computed when the graph "
                             "runs; pass a Python int or a constant")
        value = known
    array = np.asarray(value)
    # ([] is a float64 array to numpy: an empty list passes as an empty list of ints)
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise TypeError(f"{op}: {what} must be integers, got {value!r}")
    return array.astype(np.int64)


def _known_int(value, op: str, what: str) -> int:
    array = _known_ints(value, op, what)
    if array.ndim != 0:
        raise ShapeError(f"{op}: {what} must be a scalar, got shape {array.shape}")
    return int(array)


def _known_list(value, op: str, what: str) -> list:
    array = _known_ints(value, op, what)
    if array.ndim > 1:
        raise ShapeError(f"{op}: {what} must be a scalar or a list, got shape {array.shape}")
    return [int(v) for v in array.reshape(-1)]


def _matrix_dims(x, op: str):
    """(rows, columns) of the last two axes of x, which must be known."""
    shape = x.node.shape
    if shape is None or len(shape) < 2:
        raise ShapeError(f"{op}: expected a matrix or a batch of matrices (rank >= 2), got "
                         f"'{x.name}' of shape {x.shape}")
    if shape[-2] is None or shape[-1] is None:
        raise ShapeError(f"{op}: the last two axes of '{x.name}' {x.shape} must have sizes "
                         "known when the graph is built (graphc's shapes are static)")
    return shape[-2], shape[-1]


def _known_shape(x, op: str):
    if x.node.shape is None or None in x.node.shape:
        raise ShapeError(f"{op}: the shape of '{x.name}' must be known when the graph is built "
                         f"(graphc's shapes are static), got {x.shape}")
    return list(x.node.shape)


# --- filled tensors -------------------------------------------------------------------------
def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32, name=None):
    """Identity matrices of shape batch_shape + [num_rows, num_columns] (square when
    num_columns is None): a constant."""
    rows = _known_int(num_rows, "eye", "num_rows")
    cols = rows if num_columns is None else _known_int(num_columns, "eye", "num_columns")
    batch = [] if batch_shape is None else _known_list(batch_shape, "eye", "batch_shape")
    if min([rows, cols] + batch) < 0:
        raise ValueError(f"eye: sizes must not be negative, got num_rows={rows}, "
                         f"num_columns={cols}, batch_shape={batch}")
    dtype = dtypes.as_dtype(dtype)
    value = np.broadcast_to(np.eye(rows, cols, dtype=dtype.np), (*batch, rows, cols))
    return constant(np.ascontiguousarray(value), name=name or "eye")


def linspace(start, stop, num, name=None):
    """num values from start to stop, both included: start + i * (stop - start) / (num - 1),
    as TF1's LinSpace kernel computes them; num == 1 gives [start]. start and stop are float
    scalars (tensors too, differentiable); num must be known when the graph is built."""
    n = _known_int(num, "linspace", "num")
    if n < 1:
        raise ValueError(f"linspace: num must be positive, got {n}")
    for what, value in (("start", start), ("stop", stop)):
        t = convert_to_tensor(value) if is_tensor_like(value) else None
        if t is not None and t.dtype.kind != "f":
            raise DTypeError(f"linspace: {what} must be float32 or float64, got {t.dtype} "
                             f"('{t.name}'); cast it first with tf.cast")
    # Python ints count as floats: TF1 would refuse them, but their meaning is plain
    first, last = promote_operands([_float_if_int(start), _float_if_int(stop)], "linspace")
    for what, t in (("start", first), ("stop", last)):
        if t.node.rank != 0:
            raise ShapeError(f"linspace: {what} must be a scalar, got '{t.name}' of shape "
                             f"{t.shape}")
    if n == 1:
        return A.reshape(first, [1], name=name or "LinSpace")
    step = (last - first) / (n - 1)
    return M.add(first, A.range(n, dtype=first.dtype) * step, name=name or "LinSpace")


def _float_if_int(value):
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool_, name=None):
    """mask[..., j] = j < lengths[...], of shape lengths.shape + [maxlen]. Without maxlen,
    the largest length, which graphc then needs when the graph is built."""
    lengths = convert_to_tensor(lengths)
    if lengths.dtype.kind != "i":
        raise DTypeError(f"sequence_mask: lengths must be integers, got {lengths.dtype} "
                         f"('{lengths.name}')")
    if maxlen is None:
        known = A.static_value(lengths)
        if known is None:
            raise ShapeError(f"sequence_mask: pass maxlen; without it the mask is as long as "
                             f"the largest of the lengths, and '{lengths.name}' is computed "
                             "when the graph runs, while graphc's shapes are static")
        maxlen = int(known.max()) if known.size else 0
    else:
        maxlen = _known_int(maxlen, "sequence_mask", "maxlen")
    positions = A.range(max(maxlen, 0), dtype=lengths.dtype)  # range(negative) is empty
    ends, name = A.expand_dims(lengths, -1), name or "SequenceMask"
    dtype = dtypes.as_dtype(dtype)
    if dtype is dtypes.bool_:
        return M.less(positions, ends, name=name)
    return M.cast(M.less(positions, ends), dtype, name=name)


# --- norms and moments ----------------------------------------------------------------------
_VECTOR_ORDS = "'euclidean', 2, 1, np.inf or any other positive number"
_MATRIX_ORDS = "'euclidean', 'fro', 1 or np.inf"


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None,  # noqa: A002
         keep_dims=None):
    """The vector norm over `axis` (an int, or None for the whole tensor), or the matrix
    norm over a pair of axes. Vectors: 'euclidean' (= 2), 1, np.inf, or any p > 0 as
    sum(|x| ** p) ** (1 / p). Matrices: 'euclidean' and 'fro' the Frobenius norm, 1 the
    largest column sum and np.inf the largest row sum of |x|; not 2 (the largest singular
    value needs an SVD, which graphc does not have)."""
    x = convert_to_tensor(tensor)
    keep = bool(keepdims if keepdims is not None else keep_dims)
    axes = _norm_axes(x, axis)  # None: every axis
    matrix = axes is not None and len(axes) == 2
    order = _norm_order(ord, matrix)  # 'euclidean', 1, np.inf or a float p
    if order not in (1, np.inf) and x.dtype.kind != "f":
        raise DTypeError(f"norm: ord={ord!r} needs a floating-point tensor, got {x.dtype} "
                         f"('{x.name}'); cast it first with tf.cast")
    name = name or "norm"
    if order == "euclidean":
        return M.sqrt(M.reduce_sum(M.square(x), axes, keepdims=keep), name=name)
    magnitude = M.abs(x)
    if matrix:
        # 1 sums over the rows and takes the largest column; inf the other way round
        summed, maxed = axes if order == 1 else axes[::-1]
        out = M.reduce_max(M.reduce_sum(magnitude, summed, keepdims=True), maxed,
                           keepdims=True)
        return A.identity(out, name=name) if keep else A.squeeze(out, list(axes), name=name)
    if order == 1:
        return M.reduce_sum(magnitude, axes, keepdims=keep, name=name)
    if order == np.inf:
        return M.reduce_max(magnitude, axes, keepdims=keep, name=name)
    total = M.reduce_sum(M.pow(magnitude, order), axes, keepdims=keep)
    return M.pow(total, 1.0 / order, name=name)


def _norm_axes(x, axis):
    """None (every axis), or one or two distinct non-negative axes."""
    if axis is None:
        return None
    pair = isinstance(axis, (list, tuple)) and len(axis) == 2
    parts = list(axis) if pair else [axis]
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in parts):
        raise ValueError(f"norm: axis must be None, an int or a pair of distinct ints, got "
                         f"{axis!r}")
    if x.node.rank is None:
        raise ShapeError(f"norm: an axis needs a tensor of known rank; '{x.name}' has none")
    axes = tuple(normalize_axis(int(a), x.node.rank, "norm axis") for a in parts)
    if pair and axes[0] == axes[1]:
        raise ValueError(f"norm: axis must be None, an int or a pair of distinct ints, got "
                         f"{axis!r} (the same axis twice)")
    return axes


def _norm_order(ord, matrix: bool):  # noqa: A002
    """'euclidean', 1, np.inf or a float p > 0 (vectors only), after checking `ord`."""
    if ord in ("euclidean", "fro") and (matrix or ord == "euclidean"):
        return "euclidean"
    number = None if isinstance(ord, (str, bool)) else ord
    if matrix and number in (1, np.inf):
        return number
    if matrix:
        why = " (the matrix 2-norm needs an SVD, which graphc does not have)" \
            if number == 2 else ""
        raise ValueError(f"norm: ord={ord!r} is not a supported matrix norm{why}; "
                         f"supported over a pair of axes: {_MATRIX_ORDS}")
    if isinstance(number, (int, float, np.integer, np.floating)) and number > 0:
        if number == 2:
            return "euclidean"
        return number if number in (1, np.inf) else float(number)
    hint = " ('fro' is a matrix norm: pass a pair of axes)" if ord == "fro" else ""
    raise ValueError(f"norm: ord={ord!r} is not a supported vector norm{hint}; supported: "
                     f"{_VECTOR_ORDS}")


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """The population variance over `axis`, as TF: mean((x - mean(x)) ** 2). Integer
    tensors stay integers, each mean truncated (TF1 alike)."""
    x = convert_to_tensor(input_tensor)
    mean = M.reduce_mean(x, axis, keepdims=True)
    return M.reduce_mean(M.square(x - mean), axis, keepdims=keepdims,
                         name=name or "reduce_variance")


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """sqrt(reduce_variance(...)), for floating-point tensors."""
    x = convert_to_tensor(input_tensor)
    if x.dtype.kind != "f":
        raise DTypeError(f"reduce_std expects a floating-point tensor, got {x.dtype} "
                         f"('{x.name}'); cast it first with tf.cast")
    return M.sqrt(reduce_variance(x, axis, keepdims), name=name or "reduce_std")


# --- matrices: the last two axes ------------------------------------------------------------
def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    """a with its last two axes swapped (conjugated too with conjugate=True)."""
    x = a if hasattr(type(a), "_complex_ops") else convert_to_tensor(a)
    rank = x.shape.ndims
    if rank is None or rank < 2:
        raise ShapeError(f"matrix_transpose: expected a matrix or a batch of matrices (rank "
                         f">= 2), got shape {x.shape}")
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return A.transpose(x, perm, name=name, conjugate=conjugate)


def matrix_band_part(input, num_lower, num_upper, name=None):  # noqa: A002
    """input[..., m, n] where (num_lower < 0 or m - n <= num_lower) and (num_upper < 0 or
    n - m <= num_upper), 0 elsewhere: a negative bound keeps that whole triangle. The
    bounds may be tensors computed when the graph runs."""
    x = convert_to_tensor(input)
    rows, cols = _matrix_dims(x, "matrix_band_part")
    below = np.subtract.outer(np.arange(rows), np.arange(cols))  # m - n: rows below the diagonal
    lower, upper = _within(below, num_lower), _within(-below, num_upper)
    if isinstance(lower, np.ndarray) and isinstance(upper, np.ndarray):
        keep = constant(lower & upper)
    else:
        keep = M.logical_and(lower, upper)
    return M.where(keep, x, A.zeros_like(x), name=name or "MatrixBandPart")


def _within(distance: np.ndarray, limit):
    """distance <= limit, everywhere when limit < 0: an array, or a tensor for a limit
    known only when the graph runs."""
    if is_tensor_like(limit) and A.static_value(convert_to_tensor(limit)) is None:
        limit = convert_to_tensor(limit)
        return M.logical_or(M.less(limit, 0), M.less_equal(distance, limit))
    limit = _known_int(limit, "matrix_band_part", "num_lower and num_upper")
    return np.full(distance.shape, True) if limit < 0 else distance <= limit


def matrix_diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0):
    """Matrices holding the last axis of `diagonal` on their k-th diagonal (k > 0 above the
    main one) and padding_value elsewhere: shape [..., num_rows, num_cols], square and as
    small as fits when neither size is given, the other as small as fits when one is."""
    x = convert_to_tensor(diagonal)
    if x.node.rank is None or x.node.rank < 1 or x.node.shape[-1] is None:
        raise ShapeError(f"matrix_diag: expected a diagonal (rank >= 1) whose last axis has "
                         f"a size known when the graph is built, got '{x.name}' {x.shape}")
    length, k = x.node.shape[-1], _offset(k, "matrix_diag")
    rows, cols = _diag_matrix_size(length, k, num_rows, num_cols)
    # entry i of the diagonal sits in column i + max(k, 0); laid along every row of that
    # column, the mask keeps the row m where n - m == k
    left = max(k, 0)
    paddings = [[0, 0]] * (x.node.rank - 1) + [[left, cols - length - left]]
    spread = A.expand_dims(A.pad(x, paddings), -2)
    keep = constant(np.subtract.outer(-np.arange(rows), -np.arange(cols)) == k)
    padding = convert_to_tensor(padding_value, x.dtype)
    return M.where(keep, spread, padding, name=name)


def _offset(k, op: str) -> int:
    """The one diagonal `k` names (a pair (k0, k1) names a band, which only k0 == k1 fits)."""
    ks = _known_list(k, op, "k")
    if len(ks) == 2 and ks[0] == ks[1]:
        ks = ks[:1]
    if len(ks) != 1:
        raise NotImplementedError(f"{op}: k={k!r} names a band of diagonals; graphc supports "
                                  "one diagonal, a single int k")
    return ks[0]


def _diag_matrix_size(length: int, k: int, num_rows, num_cols):
    """(rows, cols) of matrix_diag's result, as TF's MatrixDiagV2 infers and checks them."""
    least_rows, least_cols = length + max(-k, 0), length + max(k, 0)
    rows = _known_int(num_rows, "matrix_diag", "num_rows")
    cols = _known_int(num_cols, "matrix_diag", "num_cols")
    if rows == -1 and cols == -1:
        rows = cols = max(least_rows, least_cols)
    rows = least_rows if rows == -1 else rows
    cols = least_cols if cols == -1 else cols
    if rows < least_rows or cols < least_cols or (rows != least_rows and cols != least_cols):
        raise ValueError(f"matrix_diag: a diagonal of {length} entries at k={k} needs "
                         f"num_rows == {least_rows} or num_cols == {least_cols} (and at least "
                         f"those), got num_rows={rows}, num_cols={cols}")
    return rows, cols


def matrix_diag_part(input, name="diag_part", k=0, padding_value=0):  # noqa: A002
    """The k-th diagonal (k > 0 above the main one) of the last two axes:
    out[..., i] = input[..., i - min(k, 0), i + max(k, 0)]; matrices need not be square.
    padding_value pads only bands of diagonals, which graphc does not support."""
    x = convert_to_tensor(input)
    rows, cols = _matrix_dims(x, "matrix_diag_part")
    k = _offset(k, "matrix_diag_part")
    if k and not -rows < k < cols:
        raise ValueError(f"matrix_diag_part: k={k} is outside the diagonals of a {rows}x{cols} "
                         f"matrix (-{rows} < k < {cols})")
    length = max(min(rows + min(k, 0), cols - max(k, 0)), 0)
    top, left = max(-k, 0), max(k, 0)
    square = x[..., top:top + length, left:left + length]
    on_diagonal = M.where(constant(np.eye(length, dtype=bool)), square, A.zeros_like(square))
    # each row holds one diagonal entry and zeros, so its sum (or any, for bools) is it
    collapse = M.reduce_any if x.dtype is dtypes.bool_ else M.reduce_sum
    return collapse(on_diagonal, -1, name=name)


def trace(x, name=None):
    """The sum of the main diagonal of the last two axes (non-square matrices too)."""
    return M.reduce_sum(matrix_diag_part(x), -1, name=name or "Trace")


def diag(diagonal, name=None):
    """TF1's tf.diag: for a diagonal of shape D (any rank >= 1), the tensor of shape D + D
    holding diagonal[i] at [i, i] and 0 elsewhere. D must be known."""
    x = convert_to_tensor(diagonal)
    dims = _known_shape(x, "diag")
    if not dims:
        raise ShapeError(f"diag: expected a diagonal of rank >= 1, got the scalar '{x.name}'")
    n = int(np.prod(dims))
    return A.reshape(matrix_diag(A.reshape(x, [n])), dims + dims, name=name or "Diag")


def diag_part(input, name=None):  # noqa: A002
    """TF1's tf.diag_part, diag's inverse: for a tensor of shape D + D, the entries at
    [i, i], of shape D."""
    x = convert_to_tensor(input)
    dims = _known_shape(x, "diag_part")
    half = len(dims) // 2
    if not dims or len(dims) % 2 or dims[:half] != dims[half:]:
        raise ShapeError(f"diag_part: expected a shape D + D (even rank >= 2, its two halves "
                         f"equal), got '{x.name}' {x.shape}")
    n = int(np.prod(dims[:half]))
    return A.reshape(matrix_diag_part(A.reshape(x, [n, n])), dims[:half],
                     name=name or "DiagPart")


# --- rolling --------------------------------------------------------------------------------
def roll(input, shift, axis, name=None):  # noqa: A002
    """Elements shifted along `axis` by `shift`, those pushed off one end coming back at
    the other (numpy.roll). shift and axis are ints or lists of ints of one length, known
    when the graph is built; shifts of a repeated axis add up. Two slices and a concat per
    rolled axis."""
    x = convert_to_tensor(input)
    shifts, axes = _known_list(shift, "roll", "shift"), _known_list(axis, "roll", "axis")
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift and axis must have the same length, got shift={shift!r} "
                         f"and axis={axis!r}")
    if x.node.rank is None:
        raise ShapeError(f"roll needs a tensor of known rank; '{x.name}' has none")
    total = {}
    for s, a in zip(shifts, axes):
        a = normalize_axis(a, x.node.rank, "roll axis")
        total[a] = total.get(a, 0) + s
    moves = []
    for a, s in sorted(total.items()):
        size = x.node.shape[a]
        if size is None:
            raise ShapeError(f"roll: axis {a} of '{x.name}' {x.shape} must have a size known "
                             "when the graph is built (graphc's shapes are static)")
        if size and s % size:
            moves.append((a, size - s % size))  # the new first element's old index
    out = x
    for i, (a, start) in enumerate(moves):
        lead = (slice(None),) * a
        last = i == len(moves) - 1
        out = A.concat([out[lead + (slice(start, None),)], out[lead + (slice(None, start),)]],
                       a, name=(name or "Roll") if last else "concat")
    return out if moves else A.identity(x, name=name or "Roll")
