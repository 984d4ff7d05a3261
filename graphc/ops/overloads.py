"""Python operators on Tensors and Variables (`+ - * / // % ** @`, unary `-`, `abs`, `~`,
`& | ^`, ordering comparisons) and numpy-style `[]` indexing.

`==` and `!=` keep Python identity semantics, as TF1 tensors do (use tf.equal), so tensors
stay usable as dict keys and in sets.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ops import array_ops, math_ops
from graphc.ops.tensor import Tensor, convert_to_tensor, is_tensor_like, make_tensor


def _binary(fn):
    return lambda self, other: fn(self, other), lambda self, other: fn(other, self)


_BINARY = {
    "add": math_ops.add, "sub": math_ops.subtract, "mul": math_ops.multiply,
    "truediv": math_ops.truediv, "floordiv": math_ops.floordiv, "mod": math_ops.mod,
    "pow": math_ops.pow, "matmul": math_ops.matmul, "and": math_ops.logical_and,
    "or": math_ops.logical_or, "xor": math_ops.logical_xor,
}


def getitem(tensor, key):
    """numpy basic indexing: ints (negative too), slices with steps, `...`, None (new axis),
    and scalar int tensors. Boolean masks and index arrays are not supported (their result
    shape depends on the data)."""
    x = convert_to_tensor(tensor)
    rank = x.node.rank
    if rank is None:
        raise ShapeError(f"indexing needs a tensor of known rank; '{x.name}' has none")
    key = list(key) if isinstance(key, tuple) else [key]
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > rank:
        raise IndexError(f"too many indices for tensor '{x.name}' of shape {x.shape}: "
                         f"{n_real} indices")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key[i:i + 1] = [slice(None)] * (rank - n_real)
    else:
        key += [slice(None)] * (rank - n_real)

    slices, drop, new_axes, gathers, out_axis = [], [], [], [], 0
    for k in key:
        if k is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        axis = len(slices)
        dim = x.node.shape[axis]
        if isinstance(k, slice):
            slices.append(_slice_bounds(k, x))
            out_axis += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            k = int(k)
            if dim is not None and not -dim <= k < dim:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {dim} "
                                 f"(tensor '{x.name}')")
            slices.append((k, k + 1 if k != -1 else None, None))
            drop.append(axis)
        elif is_tensor_like(k):
            gathers.append((axis, convert_to_tensor(k)))
            slices.append((None, None, None))
            drop.append(axis)
        else:
            raise TypeError(f"unsupported index {k!r} for tensor '{x.name}': use ints, slices, "
                            "..., None or scalar int tensors")
    out = x
    if any(s != (None, None, None) for s in slices):
        while slices and slices[-1] == (None, None, None):
            slices.pop()
        out = make_tensor("slice", (out,), {"slices": tuple(slices)}, "strided_slice")
    for axis, index in reversed(gathers):
        out = _gather_scalar(out, axis, index)
    if drop:
        out = array_ops.squeeze(out, drop)
    for axis in new_axes:
        out = array_ops.expand_dims(out, axis)
    return out


def _slice_bounds(k: slice, x):
    for v in (k.start, k.stop, k.step):
        if v is not None and not isinstance(v, (int, np.integer)):
            raise TypeError(f"slice bounds must be Python ints or None, got {v!r} "
                            f"(indexing '{x.name}')")
    if k.step == 0:
        raise ValueError("slice step cannot be zero")
    return tuple(None if v is None else int(v) for v in (k.start, k.stop, k.step))


def _gather_scalar(x, axis, index):
    """x[..., index:index+1, ...] for a scalar int tensor (negative counts from the end)."""
    if index.dtype not in dtypes.INT_DTYPES or index.node.rank != 0:
        raise TypeError(f"a tensor index must be a scalar int32/int64 tensor, got {index!r}")
    dim = array_ops.gather(array_ops.shape(x, out_type=index.dtype), axis)
    wrapped = math_ops.where(math_ops.less(index, 0), index + dim, index)
    return array_ops.gather(x, array_ops.reshape(wrapped, [1]), axis=axis)


def install(cls) -> None:
    """Attach the operators to `cls` (Tensor, and Variable, which converts itself first)."""
    for name, fn in _BINARY.items():
        forward, reflected = _binary(fn)
        setattr(cls, f"__{name}__", forward)
        setattr(cls, f"__r{name}__", reflected)
    cls.__neg__ = lambda self: math_ops.negative(self)
    cls.__pos__ = lambda self: convert_to_tensor(self)
    cls.__abs__ = lambda self: math_ops.abs(self)
    cls.__invert__ = lambda self: math_ops.logical_not(self)
    cls.__lt__ = lambda self, other: math_ops.less(self, other)
    cls.__le__ = lambda self, other: math_ops.less_equal(self, other)
    cls.__gt__ = lambda self, other: math_ops.greater(self, other)
    cls.__ge__ = lambda self, other: math_ops.greater_equal(self, other)
    cls.__getitem__ = getitem


install(Tensor)
