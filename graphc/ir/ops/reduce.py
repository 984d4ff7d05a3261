"""Reductions: sum, prod, max, min, any, all over a set of axes; argmax and argmin.

attrs["axes"] is a sorted tuple of distinct non-negative axes (the API normalizes negative
and None axes); attrs["keepdims"] keeps reduced axes as size 1. Sums and products keep the
input dtype (int32 stays int32, as in TF); float16 accumulates in float32. Reducing an empty
axis gives the identity: 0, 1, the dtype's lowest (max) or highest (min) value.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register


def _check_axes(inputs, attrs):
    rank = len(inputs[0].shape)
    axes = attrs["axes"]
    if list(axes) != sorted(set(axes)) or any(not 0 <= a < rank for a in axes):
        raise ShapeError(f"axes {axes} are not sorted distinct axes of a rank-{rank} tensor")
    return axes


def _reduce_shape(inputs, attrs):
    axes = _check_axes(inputs, attrs)
    shape = inputs[0].shape
    if attrs["keepdims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _dtype_rule(kinds: str, what: str):
    def rule(inputs, attrs):
        dt = inputs[0].dtype
        if dt.kind not in kinds:
            raise DTypeError(f"expects {what} input, got {dt}")
        return dt
    return rule


def _accumulating(np_fn):
    def run(x, axes, keepdims):
        acc = np.float32 if x.dtype == np.float16 else x.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            return np_fn(x, axis=axes, dtype=acc, keepdims=keepdims).astype(x.dtype)
    return run


def _extremum(np_fn, lowest: bool):
    def run(x, axes, keepdims):
        info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
        if x.dtype.kind == "f":
            initial = -np.inf if lowest else np.inf
        else:
            initial = info.min if lowest else info.max
        return np_fn(x, axis=axes, keepdims=keepdims, initial=initial)
    return run


def _def_reduce(name, fn, kinds, what, doc):
    register(Primitive(name, "reduce", 1, _dtype_rule(kinds, what), _reduce_shape, fn, doc=doc))


_def_reduce("reduce_sum", _accumulating(np.sum), "if", "a numeric", "sum over axes")
_def_reduce("reduce_prod", _accumulating(np.prod), "if", "a numeric", "product over axes")
_def_reduce("reduce_max", _extremum(np.max, lowest=True), "if", "a numeric",
            "maximum over axes; -inf (or the lowest int) over an empty axis")
_def_reduce("reduce_min", _extremum(np.min, lowest=False), "if", "a numeric",
            "minimum over axes; +inf (or the highest int) over an empty axis")
_def_reduce("reduce_any", lambda x, axes, keepdims: np.any(x, axis=axes, keepdims=keepdims),
            "b", "a bool", "logical or over axes")
_def_reduce("reduce_all", lambda x, axes, keepdims: np.all(x, axis=axes, keepdims=keepdims),
            "b", "a bool", "logical and over axes")


def _arg_shape(inputs, attrs):
    shape = inputs[0].shape
    axis = attrs["axis"]
    if not 0 <= axis < len(shape):
        raise ShapeError(f"axis {axis} is out of range for a rank-{len(shape)} tensor")
    if shape[axis] == 0:
        raise ShapeError(f"cannot take the index of an extremum over empty axis {axis}")
    return shape[:axis] + shape[axis + 1:]


def _arg_dtype(inputs, attrs):
    if inputs[0].dtype.kind not in "if":
        raise DTypeError(f"expects a numeric input, got {inputs[0].dtype}")
    out = attrs["output_type"]
    if out not in dtypes.INT_DTYPES:
        raise DTypeError(f"output_type must be int32 or int64, got {out}")
    return out


def _arg(np_fn):
    def run(x, axis, output_type):
        if x.shape[axis] == 0:
            raise ValueError(f"cannot take the index of an extremum over empty axis {axis}")
        return np_fn(x, axis=axis).astype(output_type.np)
    return run


register(Primitive("argmax", "reduce", 1, _arg_dtype, _arg_shape, _arg(np.argmax),
                   doc="index of the first maximum along attrs['axis']"))
register(Primitive("argmin", "reduce", 1, _arg_dtype, _arg_shape, _arg(np.argmin),
                   doc="index of the first minimum along attrs['axis']"))
