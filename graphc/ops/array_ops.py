"""Shape and data-movement ops with TF1 names: reshape, transpose, concat, stack, slicing and
`[]` indexing, gather, fill/zeros/ones, range, placeholders.

Shape arguments may be Python lists or tensors; a tensor whose value is known when the graph
is built (a constant, `tf.shape` of a fully known tensor, ...) is used as a static shape,
otherwise the op takes it as a run-time input and keeps what is statically known.
"""

from __future__ import annotations

import builtins
from typing import Optional

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.array import PAD_MODES
from graphc.ir.shapes import normalize_axis
from graphc.ir.values import node_value
from graphc.ops.tensor import (
    Tensor,
    constant,
    convert_to_tensor,
    get_default_graph,
    is_tensor_like,
    make_tensor,
    promote_operands,
    scalar,
    stack,  # noqa: F401 (tf.stack is an array op; it lives with convert_to_tensor)
)


# --- values known while building ------------------------------------------------------------
def static_value(t: Tensor) -> Optional[np.ndarray]:
    """The value of `t` if it follows from constants and static shapes alone, else None."""
    return node_value(t.node if isinstance(t, Tensor) else t)


def _partial_shape(t: Tensor):
    """Per-entry static knowledge of a 1-D shape tensor: ints where known, None elsewhere."""
    full = static_value(t)
    if full is not None:
        return [int(d) for d in full]
    node = t.node
    if node.op.name == "shape" and node.inputs[0].shape is not None:
        return list(node.inputs[0].shape)
    if node.op.name == "concat":
        parts = [_partial_shape(Tensor(x, t.graph, "")) for x in node.inputs]
        if all(p is not None for p in parts):
            return [d for p in parts for d in p]
    if node.op.name == "expand_dims" and node.inputs[0].rank == 0:
        scalar = static_value(Tensor(node.inputs[0], t.graph, ""))
        return [None if scalar is None else int(scalar)]
    if node.shape is not None and node.shape[0] is not None:
        return [None] * node.shape[0]
    return None


def shape_argument(shape, what: str, unknown_length: bool = False):
    """(static dims, run-time shape tensor or None) for a shape given by the user.

    With `unknown_length`, a shape tensor of unknown length (the shape of an unknown-rank
    tensor) gives (None, tensor): the result then has unknown rank too.
    """
    if not is_tensor_like(shape) and not (isinstance(shape, (list, tuple))
                                          and builtins.any(is_tensor_like(d) for d in shape)):
        dims = np.asarray(shape if shape is not None else [], dtype=object).reshape(-1)
        try:
            return tuple(int(d) for d in dims), None
        except (TypeError, ValueError):
            raise ShapeError(f"{what}: a shape must be a list of ints, got {shape!r}") from None
    t = convert_to_tensor(shape)
    if t.dtype not in dtypes.INT_DTYPES or t.node.rank not in (0, 1):
        raise ShapeError(f"{what}: a shape tensor must be 1-D int32/int64, got {t!r}")
    if t.node.rank == 0:
        t = reshape(t, [1])
    partial = _partial_shape(t)
    if partial is not None and None not in partial:
        return tuple(partial), None
    if partial is None:
        if unknown_length:
            return None, t
        raise ShapeError(f"{what}: the length of the shape tensor {t.name} must be known")
    return tuple(partial), t


# --- placeholders ---------------------------------------------------------------------------
def placeholder(dtype, shape=None, name=None) -> Tensor:
    """A value to feed at run time. shape=None accepts any rank; None dims any size."""
    dims = None if shape is None else tuple(None if d is None or (isinstance(d, int) and d < 0)
                                            else int(d) for d in _as_dims(shape))
    return make_tensor("placeholder", (), {"dtype": dtypes.as_dtype(dtype), "shape": dims},
                       name or "Placeholder", get_default_graph())


def _as_dims(shape):
    if hasattr(shape, "dims"):  # TensorShape
        return shape.dims if shape.dims is not None else None
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(shape)


def placeholder_with_default(input, shape, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    dims = None if shape is None else tuple(None if d is None else int(d) for d in shape)
    return make_tensor("placeholder_with_default", (x,), {"shape": dims},
                       name or "PlaceholderWithDefault")


# --- reshaping ------------------------------------------------------------------------------
def reshape(tensor, shape, name=None) -> Tensor:
    if hasattr(type(tensor), "_complex_ops"):  # a ComplexTensor: both parts (complex_tensor.py)
        return tensor._complex_ops.map_parts(reshape, tensor, shape)
    x = convert_to_tensor(tensor)
    dims, dynamic = shape_argument(shape, "reshape", unknown_length=True)
    inputs = (x,) if dynamic is None else (x, dynamic)
    return make_tensor("reshape", inputs, {"shape": dims}, name or "Reshape")


def transpose(a, perm=None, name=None, conjugate=False) -> Tensor:
    if hasattr(type(a), "_complex_ops"):
        out = a._complex_ops.map_parts(transpose, a, perm)
        return a._complex_ops.conj(out) if conjugate else out
    x = convert_to_tensor(a)
    rank = x.node.rank
    if rank is None:
        raise ShapeError(f"transpose needs a tensor of known rank, '{x.name}' has none")
    if perm is None:
        perm = list(builtins.range(rank))[::-1]
    else:
        perm = [normalize_axis(int(p), rank, "perm") for p in _static_ints(perm, "perm")]
    return make_tensor("transpose", (x,), {"perm": tuple(perm)}, name or "transpose")


def _static_ints(value, what):
    if is_tensor_like(value):
        v = static_value(convert_to_tensor(value))
        if v is None:
            raise ShapeError(f"{what} must be known when the graph is built")
        return [int(i) for i in np.asarray(v).reshape(-1)]
    return [int(i) for i in np.asarray(value).reshape(-1)]


def expand_dims(input, axis=None, name=None, dim=None) -> Tensor:  # noqa: A002
    if hasattr(type(input), "_complex_ops"):
        return input._complex_ops.map_parts(expand_dims, input, axis, dim=dim)
    x = convert_to_tensor(input)
    axis = dim if axis is None else axis
    (axis,) = _static_ints(axis, "axis")
    rank = x.node.rank
    if rank is None:
        raise ShapeError(f"expand_dims needs a tensor of known rank, '{x.name}' has none")
    axis = normalize_axis(axis, rank + 1, "expand_dims axis")
    return make_tensor("expand_dims", (x,), {"axis": axis}, name or "ExpandDims")


def squeeze(input, axis=None, name=None, squeeze_dims=None) -> Tensor:  # noqa: A002
    if hasattr(type(input), "_complex_ops"):
        return input._complex_ops.map_parts(squeeze, input, axis, squeeze_dims=squeeze_dims)
    x = convert_to_tensor(input)
    axis = squeeze_dims if axis is None else axis
    shape = x.node.shape
    if shape is None:
        raise ShapeError(f"squeeze needs a tensor of known rank, '{x.name}' has none")
    if axis is None or axis == []:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = tuple(sorted({normalize_axis(a, len(shape), "squeeze axis")
                             for a in _static_ints(axis, "axis")}))
    return make_tensor("squeeze", (x,), {"axes": axes}, name or "Squeeze")


def broadcast_to(input, shape, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    dims, dynamic = shape_argument(shape, "broadcast_to", unknown_length=True)
    inputs = (x,) if dynamic is None else (x, dynamic)
    return make_tensor("broadcast_to", inputs, {"shape": dims}, name or "BroadcastTo")


# --- joining and splitting ------------------------------------------------------------------
def concat(values, axis, name="concat") -> Tensor:
    values = promote_operands(list(values), "concat")
    if not values:
        raise ValueError("concat needs at least one tensor")
    rank = values[0].node.rank
    if rank is None:
        raise ShapeError("concat needs tensors of known rank")
    (axis,) = _static_ints(axis, "axis")
    axis = normalize_axis(axis, rank, "concat axis")
    if len(values) == 1:
        return identity(values[0], name=name)
    return make_tensor("concat", tuple(values), {"axis": axis}, name)


def unstack(value, num=None, axis=0, name="unstack") -> list:
    x = convert_to_tensor(value)
    rank = x.node.rank
    axis = normalize_axis(axis, rank, "unstack axis")
    n = x.node.shape[axis] if num is None else num
    if n is None:
        raise ShapeError(f"unstack: cannot infer num from shape {x.shape}; pass num=")
    return [_take(x, axis, i, f"{name}") for i in builtins.range(n)]


def _take(x, axis, i, name):
    slices = [(None, None, None)] * axis + [(i, i + 1 if i != -1 else None, None)]
    return squeeze(make_tensor("slice", (x,), {"slices": tuple(slices)}), [axis], name=name)


def split(value, num_or_size_splits, axis=0, num=None, name="split") -> list:
    x = convert_to_tensor(value)
    (axis,) = _static_ints(axis, "axis")
    axis = normalize_axis(axis, x.node.rank, "split axis")
    dim = x.node.shape[axis]
    if isinstance(num_or_size_splits, (int, np.integer)):
        n = int(num_or_size_splits)
        if dim is None or n <= 0 or dim % n:
            raise ShapeError(f"split: dimension {axis} of size {dim} must be known and evenly "
                             f"divisible by {n}")
        sizes = [dim // n] * n
    else:
        sizes = _static_ints(num_or_size_splits, "size_splits")
        if sizes.count(-1) == 1 and dim is not None:
            sizes[sizes.index(-1)] = dim - (builtins.sum(sizes) + 1)
        if dim is not None and (builtins.sum(sizes) != dim or builtins.min(sizes) < 0):
            raise ShapeError(f"split: sizes {sizes} do not add up to dimension {axis} of size "
                             f"{dim}")
    # A -1 left in sizes means the dim is unknown: that piece ends where the later pieces
    # begin, so from it on positions count back from the end (0 is the end itself).
    out, start = [], 0
    for k, size in enumerate(sizes):
        stop = -builtins.sum(sizes[k + 1:]) if size == -1 else start + size
        bounds = (0, 0) if size == 0 else (start, None if stop == 0 else stop)
        slices = [(None, None, None)] * axis + [bounds + (None,)]
        out.append(make_tensor("slice", (x,), {"slices": tuple(slices)}, name))
        start = stop
    return out


def slice(input_, begin, size, name=None) -> Tensor:  # noqa: A001
    """tf.slice: `size[i]` elements from `begin[i]` on each axis (-1: to the end)."""
    x = convert_to_tensor(input_)
    begin, size = _static_ints(begin, "begin"), _static_ints(size, "size")
    if len(begin) != x.node.rank or len(size) != x.node.rank:
        raise ShapeError(f"slice: begin {begin} and size {size} need one entry per axis of "
                         f"shape {x.shape}")
    slices = tuple((b, None if s == -1 else b + s, None) for b, s in zip(begin, size))
    return make_tensor("slice", (x,), {"slices": slices}, name or "Slice")


def strided_slice(input_, begin, end, strides=None, name=None, **masks) -> Tensor:
    if builtins.any(masks.values()):
        raise NotImplementedError("strided_slice masks are not supported; use [] indexing")
    x = convert_to_tensor(input_)
    begin, end = _static_ints(begin, "begin"), _static_ints(end, "end")
    strides = [1] * len(begin) if strides is None else _static_ints(strides, "strides")
    slices = tuple(zip(begin, end, strides))
    return make_tensor("slice", (x,), {"slices": slices}, name or "StridedSlice")


def reverse(tensor, axis, name=None) -> Tensor:
    x = convert_to_tensor(tensor)
    axes = {normalize_axis(a, x.node.rank, "reverse axis") for a in _static_ints(axis, "axis")}
    slices = tuple((None, None, -1) if i in axes else (None, None, None)
                   for i in builtins.range(x.node.rank))
    return make_tensor("slice", (x,), {"slices": slices}, name or "ReverseV2")


def tile(input, multiples, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    return make_tensor("tile", (x,), {"multiples": tuple(_static_ints(multiples, "multiples"))},
                       name or "Tile")


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None) -> Tensor:
    x = convert_to_tensor(tensor)
    mode = mode.upper()
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {sorted(PAD_MODES)}, got {mode!r}")
    flat = _static_ints(paddings, "paddings")
    pairs = tuple(zip(flat[0::2], flat[1::2]))
    value = np.asarray(constant_values).astype(x.dtype.np).item()
    return make_tensor("pad", (x,), {"paddings": pairs, "mode": mode, "constant_value": value},
                       name or "Pad")


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    if batch_dims:
        raise NotImplementedError("gather with batch_dims != 0 is not supported yet")
    p = convert_to_tensor(params)
    i = convert_to_tensor(indices)
    (axis,) = [0] if axis is None else _static_ints(axis, "axis")
    axis = normalize_axis(axis, p.node.rank, "gather axis")
    return make_tensor("gather", (p, i), {"axis": axis}, name or "GatherV2")


# --- shapes as tensors ----------------------------------------------------------------------
def shape(input, name=None, out_type=dtypes.int32) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    out_type = dtypes.as_dtype(out_type)
    if x.shape.is_fully_defined():
        return constant(np.array(x.node.shape, dtype=out_type.np), name=name or "Shape")
    return make_tensor("shape", (x,), {"out_type": out_type}, name or "Shape")


def ensure_shape(x, shape, name=None) -> Tensor:
    """x, with its static shape refined to `shape` and checked when the graph runs."""
    x = convert_to_tensor(x)
    dims = None if shape is None else tuple(None if d is None or d == -1 else int(d)
                                            for d in _as_dims(shape))
    return make_tensor("ensure_shape", (x,), {"shape": dims}, name or "EnsureShape")


def identity(input, name=None) -> Tensor:  # noqa: A002
    return make_tensor("identity", (convert_to_tensor(input),), name=name or "Identity")


def stop_gradient(input, name=None) -> Tensor:  # noqa: A002
    return make_tensor("stop_gradient", (convert_to_tensor(input),),
                       name=name or "StopGradient")


# --- filled tensors -------------------------------------------------------------------------
def fill(dims, value, name=None) -> Tensor:
    return broadcast_to(convert_to_tensor(value), dims, name=name or "Fill")


def zeros(shape, dtype=dtypes.float32, name=None) -> Tensor:
    return fill(shape, scalar(0, dtype), name=name or "zeros")


def ones(shape, dtype=dtypes.float32, name=None) -> Tensor:
    return fill(shape, scalar(1, dtype), name=name or "ones")


def _filled_like(tensor, value, dtype, name):
    x = convert_to_tensor(tensor)
    dtype = x.dtype if dtype is None else dtypes.as_dtype(dtype)
    if x.node.rank is None:
        return broadcast_to(scalar(value, dtype), shape(x), name=name)
    return fill(x.node.shape if x.shape.is_fully_defined() else shape(x),
                scalar(value, dtype), name=name)


def zeros_like(tensor, dtype=None, name=None, optimize=True) -> Tensor:
    return _filled_like(tensor, 0, dtype, name or "zeros_like")


def ones_like(tensor, dtype=None, name=None, optimize=True) -> Tensor:
    return _filled_like(tensor, 1, dtype, name or "ones_like")


def range(start, limit=None, delta=1, dtype=None, name="range") -> Tensor:  # noqa: A001
    """Like numpy.arange; the bounds must be known when the graph is built."""
    args = [start, limit, delta]
    values = []
    for a in args:
        if is_tensor_like(a):
            v = static_value(convert_to_tensor(a))
            if v is None:
                raise ShapeError("range: start, limit and delta must be known when the graph "
                                 "is built (graphc shapes are static)")
            a = v.item()
        values.append(a)
    start, limit, delta = values
    if limit is None:
        start, limit = 0, start
    if delta == 0:
        raise ValueError("range: delta must not be zero")
    if dtype is None:
        is_float = builtins.any(isinstance(v, (float, np.floating)) for v in (start, limit, delta))
        dtype = dtypes.float32 if is_float else dtypes.int32
    dtype = dtypes.as_dtype(dtype)
    return constant(np.arange(start, limit, delta).astype(dtype.np), name=name)


# --- bits -----------------------------------------------------------------------------------
_SAME_WIDTH_INT = {1: dtypes.int8, 2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}


def bitcast(input, type, name=None) -> Tensor:  # noqa: A002 - TF1's argument names
    """tf.bitcast: the bytes of `input` read as `type`, little-endian as on every graphc
    target. Types of one width keep the shape. A wider input gains a last axis of
    width(input) / width(type) pieces, lowest bytes first; a narrower one must end in an axis
    of width(type) / width(input), which it loses."""
    x = convert_to_tensor(input)
    to = dtypes.as_dtype(type)
    for what, dt in (("input", x.dtype), ("type", to)):
        if dt is dtypes.bool_:
            raise TypeError(f"bitcast: {what} is bool; bitcast reads and writes the bytes of "
                            "numbers (use tf.cast for bools)")
    src, dst = x.dtype.np.itemsize, to.np.itemsize
    with get_default_graph().name_scope(name or "Bitcast"):
        if src == dst:
            return x if x.dtype is to else make_tensor("bitcast", (x,), {"dtype": to})
        if src > dst:
            return _bits_split(x, to, src // dst)
        return _bits_join(x, to, dst // src)


def _primitive(op: str, *inputs, **attrs) -> Tensor:
    return make_tensor(op, inputs, attrs)


def _bits_split(x: Tensor, to, count: int) -> Tensor:
    """x's elements cut into `count` pieces of to's width, lowest first."""
    wide = _SAME_WIDTH_INT[x.dtype.np.itemsize]
    bits = x if x.dtype is wide else _primitive("bitcast", x, dtype=wide)
    piece = _SAME_WIDTH_INT[to.np.itemsize]
    span = 256 ** to.np.itemsize
    pieces = []
    for k in builtins.range(count):
        # floor division is an arithmetic shift, floor mod keeps the piece's bits unsigned
        shifted = _primitive("floordiv", bits, scalar(span ** k, wide)) if k else bits
        low = _primitive("mod", shifted, scalar(span, wide))
        value = _primitive("cast", low, dtype=piece)  # wraps into the piece's int type
        pieces.append(value if piece is to else _primitive("bitcast", value, dtype=to))
    return stack(pieces, axis=-1)


def _bits_join(x: Tensor, to, count: int) -> Tensor:
    """The last axis of `count` pieces (lowest first) joined into elements of `to`."""
    last = x.shape[-1] if x.shape.rank else None
    if last != count:
        raise ShapeError(f"bitcast from {x.dtype} to {to} needs a last axis of {count} "
                         f"pieces, got shape {x.shape}")
    piece = _SAME_WIDTH_INT[x.dtype.np.itemsize]
    wide = _SAME_WIDTH_INT[to.np.itemsize]
    acc = dtypes.int64 if wide is dtypes.int64 else dtypes.int32
    bits = x if x.dtype is piece else _primitive("bitcast", x, dtype=piece)
    signed = _primitive("cast", bits, dtype=acc)
    unsigned = _primitive("mod", signed, scalar(256 ** x.dtype.np.itemsize, acc))
    total = None
    for k, (low, high) in enumerate(zip(unstack(unsigned, count, axis=-1),
                                        unstack(signed, count, axis=-1))):
        # the top piece keeps its sign, so no product or sum leaves acc's range
        part = high if k == count - 1 else low
        term = _primitive("mul", part, scalar(256 ** (k * x.dtype.np.itemsize), acc)) \
            if k else part
        total = term if total is None else _primitive("add", total, term)
    joined = total if acc is wide else _primitive("cast", total, dtype=wide)
    return joined if wide is to else _primitive("bitcast", joined, dtype=to)
