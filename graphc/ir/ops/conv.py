"""Convolution: one N-d primitive and its two adjoints.

`conv(x, w)` convolves (cross-correlates, as every deep learning framework does) an input of
one batch axis, s spatial axes and C channels with a filter shaped (*kernel, C / groups, O):
TensorFlow's layout. attrs:
    strides, dilations   one positive int per spatial axis
    padding              one (before, after) pair of non-negative ints per spatial axis
                         (the API resolves SAME and VALID into pairs, as TF does)
    groups               feature groups: input channels [g*C/G, (g+1)*C/G) feed output
                         channels [g*O/G, (g+1)*O/G); depthwise convolution is groups = C
    channels_last        (N, *spatial, C) as TF1's default NHWC; False: (N, C, *spatial)
Output spatial size along an axis: (n + before + after - dilation * (k - 1) - 1) // stride + 1.

`conv_input_grad(g, w, shape)` is the transpose of conv with respect to its input (the
gradient of x; conv2d_transpose); `shape` is x's shape as a 1-D int tensor, attrs["shape"]
its static form (only the batch dim may be unknown). `conv_filter_grad(x, g)` is the
transpose with respect to the filter; attrs["shape"] is the filter's (static) shape. Each of
the three is the others' VJP, so gradients of gradients stay inside the table.

float16 accumulates in float32 and rounds once, as matmul does.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import format_shape

CONV_ATTRS = ("strides", "dilations", "padding", "groups", "channels_last")


# --- shared rules ---------------------------------------------------------------------------
def _float_dtype(inputs, attrs):
    a, b = inputs[0], inputs[1]
    if a.dtype is not b.dtype:
        raise DTypeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
    if a.dtype.kind != "f":
        raise DTypeError(f"expects float operands, got {a.dtype}")
    return a.dtype


def _check_attrs(attrs, spatial: int) -> None:
    strides, dilations, padding = attrs["strides"], attrs["dilations"], attrs["padding"]
    if len(strides) != spatial or len(dilations) != spatial or len(padding) != spatial:
        raise ShapeError(f"strides {tuple(strides)}, dilations {tuple(dilations)} and padding "
                         f"{tuple(padding)} need one entry per spatial axis ({spatial})")
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise ShapeError(f"strides {tuple(strides)} and dilations {tuple(dilations)} must be "
                         "positive")
    if any(len(p) != 2 or p[0] < 0 or p[1] < 0 for p in padding):
        raise ShapeError(f"padding {tuple(padding)} must be (before, after) pairs of "
                         "non-negative ints")
    if attrs["groups"] < 1:
        raise ShapeError(f"groups must be positive, got {attrs['groups']}")


def split_layout(shape, channels_last: bool):
    """(batch, spatial dims, channels) of an activation's shape."""
    if channels_last:
        return shape[0], tuple(shape[1:-1]), shape[-1]
    return shape[0], tuple(shape[2:]), shape[1]


def join_layout(batch, spatial, channels, channels_last: bool) -> tuple:
    if channels_last:
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


# An implicit GEMM packs the patches of an input with fewer channels than this a kernel row
# at a time (3 channels, 7 wide: 21 elements) rather than a channel vector at a time, and
# simplify pads such an input explicitly first, so that the rows it packs need no mask.
FEW_CHANNELS = 16


def as_gemm(node) -> bool:
    """Whether a conv, conv_input_grad or conv_filter_grad node is one implicit GEMM (see
    passes/lower.py): a float32/64 channels-last convolution of one feature group, whose
    activations are (pixels, channels) matrices. The others lower to direct loops."""
    a = node.attrs
    return node.dtype.name in ("float32", "float64") and a["channels_last"] \
        and a["groups"] == 1


def output_size(n, k, stride, dilation, before, after):
    """The output length along one spatial axis (None if n is unknown)."""
    if n is None:
        return None
    return (n + before + after - dilation * (k - 1) - 1) // stride + 1


def _output_spatial(x_spatial, kernel, attrs, what: str) -> tuple:
    out = []
    for axis, (n, k, s, d, (b, a)) in enumerate(zip(x_spatial, kernel, attrs["strides"],
                                                     attrs["dilations"], attrs["padding"])):
        size = output_size(n, k, s, d, b, a)
        if size is not None and size < 1:
            raise ShapeError(f"{what}: the window (size {k}, dilation {d}) is larger than the "
                             f"padded input along spatial axis {axis} ({n} + {b} + {a})")
        out.append(size)
    return tuple(out)


def _check_filter(x_channels, w_shape, groups, x_shape, what: str):
    """(kernel dims, output channels) of a filter for an input of x_channels channels."""
    *kernel, per_group, out_channels = w_shape
    if x_channels is not None and x_channels % groups:
        raise ShapeError(f"{what}: {x_channels} input channels are not divisible into "
                         f"{groups} groups")
    if x_channels is not None and per_group != x_channels // groups:
        raise ShapeError(f"{what}: the filter {format_shape(w_shape)} takes {per_group} "
                         f"input channels per group, the input {format_shape(x_shape)} has "
                         f"{x_channels} in {groups} group(s)")
    if out_channels % groups:
        raise ShapeError(f"{what}: the filter's {out_channels} output channels are not "
                         f"divisible into {groups} groups")
    if any(k < 1 for k in kernel):
        raise ShapeError(f"{what}: the filter {format_shape(w_shape)} has an empty window")
    return tuple(kernel), out_channels


def _check_cotangent(g, x, w, attrs, what: str) -> None:
    """That g has the shape of conv(x, w) (x's and w's shapes), for the transposes."""
    _check_attrs(attrs, len(x) - 2)
    layout = attrs["channels_last"]
    _, spatial, channels = split_layout(x, layout)
    kernel, out_channels = _check_filter(channels, w, attrs["groups"], x, what)
    expect = join_layout(x[0], _output_spatial(spatial, kernel, attrs, what), out_channels,
                         layout)
    if any(a is not None and b is not None and a != b for a, b in zip(g, expect)):
        raise ShapeError(f"{what}: the cotangent {format_shape(g)} is not the shape "
                         f"{format_shape(expect)} of a convolution of {format_shape(x)}")


# --- conv -----------------------------------------------------------------------------------
def _conv_shape(inputs, attrs):
    x, w = inputs[0].shape, inputs[1].shape
    if len(x) < 3 or len(x) > 5 or len(w) != len(x):
        raise ShapeError(f"expects an input of rank 3 to 5 and a filter of the same rank, got "
                         f"{format_shape(x)} and {format_shape(w)}")
    if any(d is None for d in w):
        raise ShapeError(f"the filter's shape must be known, got {format_shape(w)}")
    _check_attrs(attrs, len(x) - 2)
    batch, spatial, channels = split_layout(x, attrs["channels_last"])
    kernel, out_channels = _check_filter(channels, w, attrs["groups"], x, "conv")
    out = _output_spatial(spatial, kernel, attrs, "conv")
    return join_layout(batch, out, out_channels, attrs["channels_last"])


def _last(x, channels_last):
    return x if channels_last else np.moveaxis(x, 1, -1)


def _windows(kernel, strides, dilations, out_spatial):
    """Per kernel offset: (offset, the slices of the padded input it reads)."""
    for offset in np.ndindex(*kernel):
        yield offset, tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                            for o, d, s, n in zip(offset, dilations, strides, out_spatial))


def _acc(dtype):
    return np.float32 if dtype == np.float16 else dtype


def conv(x, w, *, strides, dilations, padding, groups, channels_last):
    xl = _last(x, channels_last)
    s = xl.ndim - 2
    xp = np.pad(xl, [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)]).astype(_acc(x.dtype))
    kernel, (per_group, out_channels) = w.shape[:s], w.shape[s:]
    out_spatial = [output_size(n, k, st, d, b, a) for n, k, st, d, (b, a)
                   in zip(xl.shape[1:-1], kernel, strides, dilations, padding)]
    n = xl.shape[0]
    og = out_channels // groups
    out = np.zeros((n, *out_spatial, groups, og), _acc(x.dtype))
    for offset, window in _windows(kernel, strides, dilations, out_spatial):
        patch = xp[(slice(None),) + window].reshape(n, *out_spatial, groups, per_group)
        wk = w[offset].astype(out.dtype).reshape(per_group, groups, og)
        out += np.einsum("...gc,cgo->...go", patch, wk)
    out = out.reshape(n, *out_spatial, out_channels).astype(x.dtype)
    return out if channels_last else np.moveaxis(out, -1, 1)


register(Primitive("conv", "opaque", 2, _float_dtype, _conv_shape, conv,
                   doc="N-d convolution: strides, dilations, per-side padding, feature "
                       "groups, channels last or first"))


# --- conv_input_grad ------------------------------------------------------------------------
def _input_grad_shape(inputs, attrs):
    g, w, shape = inputs[0].shape, inputs[1].shape, inputs[2]
    if shape.dtype not in dtypes.INT_DTYPES or shape.rank != 1:
        raise ShapeError(f"the input's shape must be a 1-D int tensor, got {shape!r}")
    target = tuple(attrs["shape"])
    if len(g) != len(target) or len(w) != len(target) or not 3 <= len(target) <= 5:
        raise ShapeError(f"cotangent {format_shape(g)}, filter {format_shape(w)} and input "
                         f"shape {format_shape(target)} must have one rank, 3 to 5")
    if any(d is None for d in target[1:]) or any(d is None for d in w):
        raise ShapeError(f"the input's shape {format_shape(target)} and the filter's "
                         f"{format_shape(w)} must be known except for the batch")
    _check_cotangent(g, target, w, attrs, "conv_input_grad")
    return (g[0] if target[0] is None else target[0],) + target[1:]


def conv_input_grad(g, w, shape_tensor, *, strides, dilations, padding, groups,
                    channels_last, shape):
    target = tuple(int(d) for d in shape_tensor)
    gl = _last(g, channels_last)
    s = gl.ndim - 2
    n, out_spatial = gl.shape[0], gl.shape[1:-1]
    _, spatial, channels = split_layout(target, channels_last)
    kernel, (per_group, out_channels) = w.shape[:s], w.shape[s:]
    og = out_channels // groups
    acc = _acc(g.dtype)
    padded = [d + b + a for d, (b, a) in zip(spatial, padding)]
    dx = np.zeros((n, *padded, groups, per_group), acc)
    gr = gl.astype(acc).reshape(n, *out_spatial, groups, og)
    for offset, window in _windows(kernel, strides, dilations, out_spatial):
        wk = w[offset].astype(acc).reshape(per_group, groups, og)
        dx[(slice(None),) + window] += np.einsum("...go,cgo->...gc", gr, wk)
    inner = tuple(slice(b, b + d) for d, (b, _) in zip(spatial, padding))
    dx = dx[(slice(None),) + inner].reshape(n, *spatial, channels).astype(g.dtype)
    return dx if channels_last else np.moveaxis(dx, -1, 1)


register(Primitive("conv_input_grad", "opaque", 3, _float_dtype, _input_grad_shape,
                   conv_input_grad,
                   doc="transpose of conv with respect to its input (conv2d_transpose)"))


# --- conv_filter_grad -----------------------------------------------------------------------
def _filter_grad_shape(inputs, attrs):
    x, g = inputs[0].shape, inputs[1].shape
    target = tuple(attrs["shape"])
    if len(x) != len(g) or len(target) != len(x) or not 3 <= len(x) <= 5:
        raise ShapeError(f"input {format_shape(x)}, cotangent {format_shape(g)} and filter "
                         f"shape {format_shape(target)} must have one rank, 3 to 5")
    if any(d is None for d in target):
        raise ShapeError(f"the filter's shape must be known, got {format_shape(target)}")
    _check_cotangent(g, x, target, attrs, "conv_filter_grad")
    return target


def conv_filter_grad(x, g, *, strides, dilations, padding, groups, channels_last, shape):
    xl, gl = _last(x, channels_last), _last(g, channels_last)
    s = xl.ndim - 2
    acc = _acc(x.dtype)
    xp = np.pad(xl, [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)]).astype(acc)
    n, out_spatial = gl.shape[0], gl.shape[1:-1]
    kernel, (per_group, out_channels) = tuple(shape[:s]), tuple(shape[s:])
    og = out_channels // groups
    gr = gl.astype(acc).reshape(n, *out_spatial, groups, og)
    dw = np.zeros((*kernel, per_group, groups, og), acc)
    lead = "nijk"[:1 + s]  # the batch and spatial axes, summed
    for offset, window in _windows(kernel, strides, dilations, out_spatial):
        patch = xp[(slice(None),) + window].reshape(n, *out_spatial, groups, per_group)
        dw[offset] = np.einsum(f"{lead}gc,{lead}go->cgo", patch, gr)
    return dw.reshape(shape).astype(x.dtype)


register(Primitive("conv_filter_grad", "opaque", 2, _float_dtype, _filter_grad_shape,
                   conv_filter_grad,
                   doc="transpose of conv with respect to its filter"))
