"""Data-movement primitives (reshape, transpose, slice, concat, pad, tile, broadcast), gather,
matmul and shape.

Every axis-like attribute is already normalized by the public API (non-negative, in range);
the rules re-check so a malformed node is caught at construction, not at run time.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import broadcast_shapes, format_shape, num_elements


def _first_dtype(inputs, attrs):
    return inputs[0].dtype


def _shape_tensor_check(inputs):
    """The optional second input of reshape/broadcast_to: a 1-D int shape known at run time."""
    if len(inputs) == 2:
        s = inputs[1]
        if s.dtype not in dtypes.INT_DTYPES or (s.shape is not None and len(s.shape) != 1):
            raise ShapeError(f"a shape tensor must be a 1-D int32/int64 tensor, got "
                             f"{s.dtype}{format_shape(s.shape)}")


# --- reshape ------------------------------------------------------------------------------
def _reshape_shape(inputs, attrs):
    _shape_tensor_check(inputs)
    target = attrs["shape"]
    if len(inputs) == 2:  # dynamic: attrs hold what is known statically (None or -1 unknown)
        return None if target is None else tuple(None if d is None or d < 0 else d
                                                  for d in target)
    if sum(d == -1 for d in target) > 1 or any(d < -1 for d in target):
        raise ShapeError(f"invalid target shape {target}: dims must be >= 0 with at most one -1")
    size = num_elements(inputs[0].shape)
    if size is None:
        return tuple(None if d == -1 else d for d in target)
    out = fill_minus_one(inputs[0].shape, target)
    if num_elements(out) != size:
        raise ShapeError(f"cannot reshape a tensor of shape {format_shape(inputs[0].shape)} "
                         f"({size} elements) into shape {target}")
    return out


def fill_minus_one(dims, target):
    """`target` with its -1 resolved for an input of shape `dims`, as TF does: the input's
    element count over the product of the other dims, size-0 dims left out of both when the
    target has one, so that (0, 3, 4) -> (0, -1) gives (0, 12), a flattened empty batch."""
    if -1 not in target:
        return tuple(target)
    skip_zeros = 0 in target
    count = int(np.prod([d for d in dims if not (skip_zeros and d == 0)]))
    rest = int(np.prod([d for d in target if d not in (-1, 0)]))
    return tuple(count // rest if d == -1 else d for d in target)


def _reshape(x, shape_tensor=None, *, shape):
    target = shape if shape_tensor is None else tuple(int(d) for d in shape_tensor)
    return np.reshape(x, fill_minus_one(x.shape, target))


register(Primitive("reshape", "injective", None, _first_dtype, _reshape_shape, _reshape,
                   handles_unknown_rank=True, min_inputs=1, max_inputs=2,
                   doc="reshape to attrs['shape'] (or to a run-time shape tensor input)"))


# --- transpose, expand_dims, squeeze --------------------------------------------------------
def _transpose_shape(inputs, attrs):
    shape, perm = inputs[0].shape, attrs["perm"]
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"perm {perm} is not a permutation of the {len(shape)} axes of a tensor "
                         f"of shape {format_shape(shape)}")
    return tuple(shape[p] for p in perm)


register(Primitive("transpose", "injective", 1, _first_dtype, _transpose_shape,
                   lambda x, perm: np.transpose(x, perm), doc="permute axes by attrs['perm']"))


def _expand_dims_shape(inputs, attrs):
    shape, axis = inputs[0].shape, attrs["axis"]
    if not 0 <= axis <= len(shape):
        raise ShapeError(f"axis {axis} is out of range for expanding a rank-{len(shape)} tensor")
    return shape[:axis] + (1,) + shape[axis:]


register(Primitive("expand_dims", "injective", 1, _first_dtype, _expand_dims_shape,
                   lambda x, axis: np.expand_dims(x, axis), doc="insert a size-1 axis"))


def _squeeze_shape(inputs, attrs):
    shape, axes = inputs[0].shape, attrs["axes"]
    for a in axes:
        if not 0 <= a < len(shape):
            raise ShapeError(f"axis {a} is out of range for a rank-{len(shape)} tensor")
        if shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {a} of size {shape[a]} (shape "
                             f"{format_shape(shape)}): only size-1 axes can be removed")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


register(Primitive("squeeze", "injective", 1, _first_dtype, _squeeze_shape,
                   lambda x, axes: np.squeeze(x, axis=axes), doc="remove size-1 axes"))


# --- broadcast_to ---------------------------------------------------------------------------
def _broadcast_to_shape(inputs, attrs):
    _shape_tensor_check(inputs)
    target, shape = attrs["shape"], inputs[0].shape
    if target is None:  # a run-time shape tensor of unknown length: the rank is unknown too
        return None
    if len(shape) > len(target):
        raise ShapeError(f"cannot broadcast shape {format_shape(shape)} to "
                         f"{format_shape(target)}: the target has lower rank")
    if broadcast_shapes(shape, target) != tuple(target):
        if not all(s in (1, None) or t is None or s == t
                   for s, t in zip(shape[::-1], target[::-1])):
            raise ShapeError(f"cannot broadcast shape {format_shape(shape)} to "
                             f"{format_shape(target)}")
    return tuple(target)


def _broadcast_to(x, shape_tensor=None, *, shape):
    target = shape if shape_tensor is None else tuple(int(d) for d in shape_tensor)
    return np.broadcast_to(x, target)


register(Primitive("broadcast_to", "injective", None, _first_dtype, _broadcast_to_shape,
                   _broadcast_to, min_inputs=1, max_inputs=2,
                   doc="numpy broadcast to attrs['shape'] (or a run-time shape tensor input, "
                       "whose length may be unknown: attrs['shape'] is then None)"))


# --- slice (strided) ------------------------------------------------------------------------
def _slice_shape(inputs, attrs):
    shape, slices = inputs[0].shape, attrs["slices"]
    if len(slices) > len(shape):
        raise ShapeError(f"{len(slices)} slices for a rank-{len(shape)} tensor")
    out = []
    for d, (start, stop, step) in zip(shape, slices):
        if step == 0:
            raise ShapeError("slice step cannot be zero")
        if d is None:
            out.append(None)
        else:
            out.append(len(range(*slice(start, stop, step).indices(d))))
    return tuple(out) + tuple(shape[len(slices):])


def _slice(x, slices):
    return x[tuple(slice(*s) for s in slices)]


register(Primitive("slice", "injective", 1, _first_dtype, _slice_shape, _slice,
                   doc="x[start:stop:step, ...] per leading axis, Python slice semantics"))


# --- concat, pad, tile ----------------------------------------------------------------------
def contiguous_slice_offset(node):
    """The byte offset of a slice's elements in its input's buffer, if they are one
    contiguous range of it."""
    shape = node.inputs[0].shape
    full = list(node.attrs["slices"]) + [(None, None, None)] * (
        len(shape) - len(node.attrs["slices"]))
    ranges = [slice(*s).indices(d) for s, d in zip(full, shape)]
    cut = [j for j, ((start, stop, step), d) in enumerate(zip(ranges, shape))
           if (start, stop, step) != (0, d, 1)]
    if not cut:
        return 0
    a = cut[0]
    start, stop, step = ranges[a]
    if cut != [a] or step != 1 or stop <= start or any(d != 1 for d in shape[:a]):
        return None
    return start * math.prod(shape[a + 1:]) * node.dtype.np.itemsize


def _concat_dtype(inputs, attrs):
    for x in inputs[1:]:
        if x.dtype is not inputs[0].dtype:
            raise DTypeError(f"inputs have different dtypes {inputs[0].dtype} and {x.dtype}")
    return inputs[0].dtype


def _concat_shape(inputs, attrs):
    axis, first = attrs["axis"], inputs[0].shape
    if not 0 <= axis < len(first):
        raise ShapeError(f"axis {axis} is out of range for rank-{len(first)} tensors")
    out = list(first)
    for x in inputs[1:]:
        if len(x.shape) != len(first):
            raise ShapeError(f"all inputs must have the same rank, got shapes "
                             f"{format_shape(first)} and {format_shape(x.shape)}")
        for i, (a, b) in enumerate(zip(out, x.shape)):
            if i == axis:
                out[i] = None if a is None or b is None else a + b
            elif a is not None and b is not None and a != b:
                raise ShapeError(f"dimension {i} differs: shapes {format_shape(first)} and "
                                 f"{format_shape(x.shape)} (only axis {axis} may differ)")
            elif a is None:
                out[i] = b
    return tuple(out)


register(Primitive("concat", "injective", None, _concat_dtype, _concat_shape,
                   lambda *xs, axis: np.concatenate(xs, axis=axis), min_inputs=1,
                   doc="join along attrs['axis']"))

PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}


def _pad_shape(inputs, attrs):
    shape, paddings, mode = inputs[0].shape, attrs["paddings"], attrs["mode"]
    if len(paddings) != len(shape) or any(b < 0 or a < 0 for b, a in paddings):
        raise ShapeError(f"paddings {paddings} must be one non-negative (before, after) pair per "
                         f"axis of shape {format_shape(shape)}")
    limit = {"CONSTANT": None, "REFLECT": 1, "SYMMETRIC": 0}[mode]
    for d, (b, a) in zip(shape, paddings):
        if limit is not None and d is not None and max(b, a) > d - limit:
            raise ShapeError(f"{mode} padding of {max(b, a)} is too large for an axis of size {d}")
    return tuple(None if d is None else d + b + a for d, (b, a) in zip(shape, paddings))


def _pad(x, paddings, mode, constant_value):
    if mode == "CONSTANT":
        return np.pad(x, paddings, mode="constant", constant_values=constant_value)
    return np.pad(x, paddings, mode=PAD_MODES[mode])


register(Primitive("pad", "injective", 1, _first_dtype, _pad_shape, _pad,
                   doc="pad each axis; mode CONSTANT, REFLECT or SYMMETRIC"))


def _tile_shape(inputs, attrs):
    shape, multiples = inputs[0].shape, attrs["multiples"]
    if len(multiples) != len(shape) or any(m < 0 for m in multiples):
        raise ShapeError(f"multiples {multiples} must be one non-negative int per axis of shape "
                         f"{format_shape(shape)}")
    return tuple(None if d is None else d * m for d, m in zip(shape, multiples))


register(Primitive("tile", "injective", 1, _first_dtype, _tile_shape,
                   lambda x, multiples: np.tile(x, multiples), doc="repeat the whole tensor"))


# --- gather ---------------------------------------------------------------------------------
def _gather_dtype(inputs, attrs):
    if inputs[1].dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"indices must be int32 or int64, got {inputs[1].dtype}")
    return inputs[0].dtype


def _gather_shape(inputs, attrs):
    params, indices, axis = inputs[0].shape, inputs[1].shape, attrs["axis"]
    if not 0 <= axis < len(params):
        raise ShapeError(f"axis {axis} is out of range for params of rank {len(params)}")
    return params[:axis] + indices + params[axis + 1:]


def _gather(params, indices, axis):
    n = params.shape[axis]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)].flat[0]
        raise ValueError(f"index {bad} is out of range [0, {n}) along axis {axis}")
    return np.take(params, indices, axis=axis)


register(Primitive("gather", "opaque", 2, _gather_dtype, _gather_shape, _gather,
                   doc="params indexed by integer indices along attrs['axis']"))


# --- put_row: one row of a buffer replaced (TensorArray writes, a loop's saved values) -----
def _put_dtype(inputs, attrs):
    buffer, index, value = inputs
    if index.dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"the index must be int32 or int64, got {index.dtype}")
    if value.dtype is not buffer.dtype:
        raise DTypeError(f"a {value.dtype} row cannot go into a {buffer.dtype} buffer")
    return buffer.dtype


def _put_shape(inputs, attrs):
    buffer, index, value = inputs
    if index.shape != ():
        raise ShapeError(f"the index must be a scalar, got shape {format_shape(index.shape)}")
    if not buffer.shape or tuple(buffer.shape[1:]) != tuple(value.shape):
        raise ShapeError(f"a row of shape {format_shape(value.shape)} does not fit a buffer "
                         f"of shape {format_shape(buffer.shape)}")
    return buffer.shape


def _put_row(buffer, index, value):
    n, i = buffer.shape[0], int(index)
    if not 0 <= i < n:
        raise ValueError(f"index {i} is out of range [0, {n}) along axis 0")
    out = np.array(buffer, copy=True)
    out[i] = value
    return out


register(Primitive("put_row", "opaque", 3, _put_dtype, _put_shape, _put_row,
                   doc="its first input with row inputs[1] (a scalar index) replaced by "
                       "inputs[2]"))


# --- matmul ---------------------------------------------------------------------------------
def _matmul_dtype(inputs, attrs):
    a, b = inputs
    if a.dtype is not b.dtype:
        raise DTypeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
    if a.dtype.kind not in "if":
        raise DTypeError(f"expects numeric operands, got {a.dtype}")
    return a.dtype


def _matmul_shape(inputs, attrs):
    a, b = inputs[0].shape, inputs[1].shape
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"operands must have rank >= 2, got shapes {format_shape(a)} and "
                         f"{format_shape(b)}")
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise ShapeError(f"inner dimensions differ: {format_shape(a)} @ {format_shape(b)} "
                         f"({a[-1]} != {b[-2]})")
    try:
        batch = broadcast_shapes(a[:-2], b[:-2])
    except ShapeError:
        raise ShapeError(f"batch dimensions of {format_shape(a)} and {format_shape(b)} do not "
                         "broadcast") from None
    return batch + (a[-2], b[-1])


def _matmul(a, b):
    if a.dtype == np.float16:  # accumulate in float32, round once
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
    return np.matmul(a, b)


register(Primitive("matmul", "opaque", 2, _matmul_dtype, _matmul_shape, _matmul,
                   doc="batched matrix product over the last two axes; batch axes broadcast"))


# --- shape ----------------------------------------------------------------------------------
def _shape_dtype(inputs, attrs):
    if attrs["out_type"] not in dtypes.INT_DTYPES:
        raise DTypeError(f"out_type must be int32 or int64, got {attrs['out_type']}")
    return attrs["out_type"]


register(Primitive("shape", "opaque", 1, _shape_dtype,
                   lambda inputs, attrs: (inputs[0].rank,),
                   lambda x, out_type: np.array(x.shape, dtype=out_type.np),
                   handles_unknown_rank=True, doc="the run-time shape of the input, 1-D"))
