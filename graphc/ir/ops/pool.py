"""Pooling: window reductions over the spatial axes, and the max-pool gradient pair.

`pool(x)` reduces each window of an input with one batch axis, s spatial axes and channels
(channels last or first, as conv). attrs:
    kind            "max" (padding never wins) or "avg" (the mean over the window's
                    elements inside the input: padding is not counted, as TF's SAME)
    window, strides one positive int per spatial axis
    padding         one (before, after) pair per spatial axis (the API resolves SAME/VALID)
    channels_last   as conv
Output spatial size: (n + before + after - window) // stride + 1, at least 1.

`max_pool_grad(x, g)` sends each output's cotangent g to the element its window's maximum
came from: the first maximum in the window's row-major order, as TF's CPU kernels do;
overlapping windows add up. `max_pool_pick(x, c)` is its transpose in g: per window, c at
that same element. Each is the other's VJP in its second input; both are piecewise constant
in x. The VJP of max pooling is max_pool_grad; average pooling differentiates through a
depthwise transposed convolution (graphc/autodiff/rules.py).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir.ops.conv import join_layout, output_size, split_layout
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import format_shape

POOL_ATTRS = ("window", "strides", "padding", "channels_last")


def _float_input(inputs, attrs):
    dtype = inputs[0].dtype
    if dtype.kind != "f":
        raise DTypeError(f"expects a float input, got {dtype}")
    for other in inputs[1:]:
        if other.dtype is not dtype:
            raise DTypeError(f"operands have different dtypes {dtype} and {other.dtype}")
    return dtype


def _pool_shape(inputs, attrs):
    x = inputs[0].shape
    if not 3 <= len(x) <= 5:
        raise ShapeError(f"expects an input of rank 3 to 5, got {format_shape(x)}")
    s = len(x) - 2
    window, strides, padding = attrs["window"], attrs["strides"], attrs["padding"]
    if len(window) != s or len(strides) != s or len(padding) != s:
        raise ShapeError(f"window {tuple(window)}, strides {tuple(strides)} and padding "
                         f"{tuple(padding)} need one entry per spatial axis ({s})")
    if any(k < 1 for k in window) or any(st < 1 for st in strides):
        raise ShapeError(f"window {tuple(window)} and strides {tuple(strides)} must be "
                         "positive")
    if any(len(p) != 2 or p[0] < 0 or p[1] < 0 or max(p) >= k
           for p, k in zip(padding, window)):
        raise ShapeError(f"padding {tuple(padding)} must be (before, after) pairs, each "
                         f"smaller than the window {tuple(window)}")
    if attrs.get("kind", "max") not in ("max", "avg"):
        raise ShapeError(f"kind must be 'max' or 'avg', got {attrs['kind']!r}")
    batch, spatial, channels = split_layout(x, attrs["channels_last"])
    out = []
    for axis, (n, k, st, (b, a)) in enumerate(zip(spatial, window, strides, padding)):
        size = output_size(n, k, st, 1, b, a)
        if size is not None and size < 1:
            raise ShapeError(f"the window {k} is larger than the padded input along spatial "
                             f"axis {axis} ({n} + {b} + {a})")
        out.append(size)
    return join_layout(batch, tuple(out), channels, attrs["channels_last"])


def _last(x, channels_last):
    return x if channels_last else np.moveaxis(x, 1, -1)


def _first(x, channels_last):
    return x if channels_last else np.moveaxis(x, -1, 1)


def _windows(x, window, strides, padding, fill):
    """(padded x, output spatial sizes, [(offset, slices of the padded x it reads)])."""
    xp = np.pad(x, [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)], constant_values=fill)
    out = [output_size(n, k, st, 1, b, a) for n, k, st, (b, a)
           in zip(x.shape[1:-1], window, strides, padding)]
    reads = [(offset, (slice(None),) + tuple(slice(o, o + st * (n - 1) + 1, st)
                                             for o, st, n in zip(offset, strides, out)))
             for offset in np.ndindex(*window)]
    return xp, out, reads


def pool(x, *, kind, window, strides, padding, channels_last):
    xl = _last(x, channels_last)
    if kind == "max":
        xp, _, reads = _windows(xl, window, strides, padding, -np.inf)
        out = np.maximum.reduce([xp[sl] for _, sl in reads])
    else:
        acc = np.float32 if x.dtype == np.float16 else x.dtype
        xp, _, reads = _windows(xl.astype(acc), window, strides, padding, 0)
        ones, _, _ = _windows(np.ones_like(xl, acc), window, strides, padding, 0)
        out = sum(xp[sl] for _, sl in reads) / sum(ones[sl] for _, sl in reads)
    return _first(out.astype(x.dtype), channels_last)


register(Primitive("pool", "opaque", 1, _float_input, _pool_shape, pool,
                   doc="max or average over windows of the spatial axes"))


def _argmax(xl, window, strides, padding):
    """(padded x, reads, index of each window's first maximum in row-major order or -1)."""
    xp, out, reads = _windows(xl, window, strides, padding, -np.inf)
    best = np.full(xp[reads[0][1]].shape, -np.inf, xl.dtype)
    arg = np.full(best.shape, -1)
    for k, (_, sl) in enumerate(reads):
        take = xp[sl] > best
        best = np.where(take, xp[sl], best)
        arg = np.where(take, k, arg)
    return xp, reads, arg


def _pair_shape(inputs, attrs):
    """(x's shape, the second input's, the shape pooling x gives)."""
    pooled = _pool_shape(inputs[:1], {**attrs, "kind": "max"})
    return inputs[0].shape, inputs[1].shape, pooled


def _agree(a, b) -> bool:
    return len(a) == len(b) and all(p is None or q is None or p == q for p, q in zip(a, b))


def _grad_shape(inputs, attrs):
    x, g, pooled = _pair_shape(inputs, attrs)
    if not _agree(g, pooled):
        raise ShapeError(f"the cotangent {format_shape(g)} is not the shape "
                         f"{format_shape(pooled)} of the pooled input {format_shape(x)}")
    return x


def max_pool_grad(x, g, *, window, strides, padding, channels_last):
    xl, gl = _last(x, channels_last), _last(g, channels_last)
    xp, reads, arg = _argmax(xl, window, strides, padding)
    acc = np.float32 if g.dtype == np.float16 else g.dtype
    dx = np.zeros(xp.shape, acc)
    for k, (_, sl) in enumerate(reads):
        dx[sl] += np.where(arg == k, gl, 0)
    inner = tuple(slice(b, b + n) for n, (b, _) in zip(xl.shape[1:-1], padding))
    return _first(dx[(slice(None),) + inner + (slice(None),)].astype(g.dtype), channels_last)


register(Primitive("max_pool_grad", "opaque", 2, _float_input, _grad_shape, max_pool_grad,
                   doc="each window's cotangent sent to its first maximum (TF's MaxPoolGrad)"))


def _pick_shape(inputs, attrs):
    x, c, pooled = _pair_shape(inputs, attrs)
    if not _agree(c, x):
        raise ShapeError(f"the picked tensor {format_shape(c)} must have the input's shape "
                         f"{format_shape(x)}")
    return pooled


def max_pool_pick(x, c, *, window, strides, padding, channels_last):
    xl, cl = _last(x, channels_last), _last(c, channels_last)
    _, reads, arg = _argmax(xl, window, strides, padding)
    cp = np.pad(cl, [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)])
    out = np.zeros(arg.shape, c.dtype)
    for k, (_, sl) in enumerate(reads):
        out = np.where(arg == k, cp[sl], out)
    return _first(out, channels_last)


register(Primitive("max_pool_pick", "opaque", 2, _float_input, _pick_shape, max_pool_pick,
                   doc="per window, the second input at the first maximum of the first"))
