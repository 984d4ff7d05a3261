"""The transposes of data movement: sum_to (of broadcasting), slice_grad (of slice) and
scatter_add (of gather). Reverse-mode autodiff emits them; each is the other's VJP, so
gradients of gradients stay inside the table.

Each takes the shape of the tensor it maps back to as a run-time 1-D int input (the shape
may hold dims unknown until run time) and attrs["shape"] as its static form.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import format_shape


def _static_target(inputs, attrs):
    s = inputs[-1]
    if s.dtype not in dtypes.INT_DTYPES or s.rank != 1:
        raise ShapeError(f"the target shape must be a 1-D int tensor, got {s!r}")
    return tuple(attrs["shape"])


def _target(shape_tensor):
    return tuple(int(d) for d in shape_tensor)


# --- sum_to ---------------------------------------------------------------------------------
def _sum_to_shape(inputs, attrs):
    target, g = _static_target(inputs, attrs), inputs[0].shape
    if len(target) > len(g):
        raise ShapeError(f"cannot sum {format_shape(g)} down to the larger rank "
                         f"{format_shape(target)}")
    for t, d in zip(target[::-1], g[::-1]):
        if t not in (1, None) and d is not None and t != d:
            raise ShapeError(f"cannot sum {format_shape(g)} down to {format_shape(target)}")
    return target


def sum_to(g, shape_tensor, *, shape):
    """Sum the axes numpy broadcasting added or stretched, so that g takes `shape`."""
    target = _target(shape_tensor)
    lead = g.ndim - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                      if d == 1 and g.shape[lead + i] != 1)
    acc = np.float32 if g.dtype == np.float16 else g.dtype
    return np.sum(g, axis=axes, dtype=acc).reshape(target).astype(g.dtype)


register(Primitive("sum_to", "reduce", 2, lambda inputs, attrs: inputs[0].dtype,
                   _sum_to_shape, sum_to, doc="transpose of broadcasting"))


# --- slice_grad -----------------------------------------------------------------------------
def _slice_grad_shape(inputs, attrs):
    target = _static_target(inputs, attrs)
    if len(attrs["slices"]) > len(target):
        raise ShapeError(f"{len(attrs['slices'])} slices for a rank-{len(target)} tensor")
    return target


def slice_grad(g, shape_tensor, *, slices, shape):
    """Zeros of `shape` with g written where x[slices] was read."""
    out = np.zeros(_target(shape_tensor), dtype=g.dtype)
    out[tuple(slice(*s) for s in slices)] = g
    return out


register(Primitive("slice_grad", "injective", 2, lambda inputs, attrs: inputs[0].dtype,
                   _slice_grad_shape, slice_grad, doc="transpose of slice"))


# --- scatter_add ----------------------------------------------------------------------------
def _scatter_dtype(inputs, attrs):
    if inputs[1].dtype not in dtypes.INT_DTYPES:
        raise DTypeError(f"indices must be int32 or int64, got {inputs[1].dtype}")
    return inputs[0].dtype


def _scatter_shape(inputs, attrs):
    target, axis = _static_target(inputs, attrs), attrs["axis"]
    if not 0 <= axis < len(target):
        raise ShapeError(f"axis {axis} is out of range for a rank-{len(target)} result")
    return target


def scatter_add(updates, indices, shape_tensor, *, axis, shape):
    """Zeros of `shape`, plus each slice of `updates` added at its index along `axis`
    (repeated indices accumulate)."""
    target = _target(shape_tensor)
    out = np.zeros(target, dtype=updates.dtype)
    moved = np.moveaxis(out, axis, 0)
    upd = updates.reshape(target[:axis] + (indices.size,) + target[axis + 1:])
    np.add.at(moved, indices.reshape(-1), np.moveaxis(upd, axis, 0))
    return out


register(Primitive("scatter_add", "opaque", 3, _scatter_dtype, _scatter_shape, scatter_add,
                   doc="transpose of gather: updates summed into zeros at indices"))


# --- custom_gradient ------------------------------------------------------------------------
def _custom_dtype(inputs, attrs):
    return inputs[0].dtype


register(Primitive("custom_gradient", "elementwise", None, _custom_dtype,
                   lambda inputs, attrs: inputs[0].shape, lambda y, *xs, fn_id: y,
                   handles_unknown_rank=True, min_inputs=1,
                   doc="the value of its first input; its gradient is the user's function "
                       "attrs['fn_id'] of the remaining inputs (tf.custom_gradient)"))
