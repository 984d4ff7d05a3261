"""Resize (opset 10+) and Upsample (7-9): nearest, linear and cubic interpolation.

Interpolation is separable, so each resized axis is done on its own. For an output
position y the source coordinate x comes from the coordinate transformation mode; the
output is a weighted sum of n neighbours of x (n = 2 for nearest and linear, 4 for cubic,
more with antialias), neighbours beyond the edge reading the edge element. Indices and
weights depend only on the sizes, so they are computed here with numpy and the graph is
one gather per neighbour plus a weighted sum (a single gather for nearest). Before opset
11 (Upsample, Resize-10) the transformation is asymmetric and nearest rounds down.
"""

from __future__ import annotations

import numpy as np

from graphc.onnx.registry import as_ints, converter, first_problem, one_of
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant

_MODES = ("nearest", "linear", "cubic")
_TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _check(node):
    return first_problem(
        one_of("mode", _MODES if node.op_type == "Resize" else ("nearest", "linear"), node),
        one_of("coordinate_transformation_mode", _TRANSFORMS, node),
        one_of("nearest_mode", _NEAREST, node),
        one_of("keep_aspect_ratio_policy", ("stretch", "not_larger", "not_smaller"), node))


# --- the weights along one axis -------------------------------------------------------------
def _source(y, n_in, n_out, scale, transform, roi):
    """Each output position's coordinate in the input, and where it falls outside (only
    tf_crop_and_resize extrapolates)."""
    width = scale * n_in  # the output size before rounding
    outside = None
    if transform == "align_corners":
        x = np.zeros_like(y) if width == 1 else y * (n_in - 1) / (width - 1)
    elif transform == "asymmetric":
        x = y / scale
    elif transform == "tf_crop_and_resize":
        lo, hi = roi
        x = np.full_like(y, (hi - lo) * (n_in - 1) / 2) if width == 1 else \
            y * (hi - lo) * (n_in - 1) / (width - 1)
        x = x + lo * (n_in - 1)
        outside = (x < 0) | (x > n_in - 1)
    elif transform == "pytorch_half_pixel":
        x = np.full_like(y, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif transform == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:  # half_pixel_symmetric: the centre of the input maps to the centre of the output
        offset = n_in / 2 * (1 - n_out / width)
        x = offset + (y + 0.5) / scale - 0.5
    return x, outside


def _nearest(mode):
    def weights(r, scale):
        pick = {"round_prefer_floor": r > 0.5, "round_prefer_ceil": r >= 0.5,
                "floor": False, "ceil": True}[mode] or r == 1
        return np.array([0.0, 1.0]) if pick else np.array([1.0, 0.0])
    return weights


def _linear(antialias):
    def weights(r, scale):
        if not antialias or scale >= 1:
            return np.array([1 - r, r])
        start = int(np.floor(-1 / scale) + 1)  # a tent stretched by 1 / scale
        taps = np.clip(1 - np.abs((np.arange(start, 2 - start) - r) * scale), 0, 1)
        return taps / taps.sum()
    return weights


def _cubic(a, antialias):
    def kernel(t):
        t = np.abs(t)
        return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                        np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))

    def weights(r, scale):
        if not antialias or scale >= 1:
            return kernel(np.array([r + 1, r, 1 - r, 2 - r]))
        start = int(np.floor(-2 / scale) + 1)
        taps = kernel((np.arange(start, 2 - start) - r) * scale)
        return taps / taps.sum()
    return weights


def _axis_plan(n_in, n_out, scale, weights, transform, roi, exclude_outside):
    """(indices [n_out, n], weights [n_out, n], outside mask or None) for one axis."""
    y = np.arange(n_out, dtype=np.float64)
    x, outside = _source(y, n_in, n_out, scale, transform, roi)
    left = np.ceil(x) - 1  # the neighbour on the left; at an integer x, x - 1 with ratio 1
    ratio = x - left
    w = np.stack([weights(float(r), scale) for r in ratio]) if n_out else np.zeros((0, 2))
    n = w.shape[1]
    idx = left[:, None].astype(np.int64) - n // 2 + 1 + np.arange(n)[None, :]
    if exclude_outside:
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, n_in - 1), w, outside


def _resize_axis(x, axis, plan, nearest, extrapolation):
    idx, w, outside = plan
    if nearest:  # exactly one weight is 1: a gather, exact for any values
        out = A.gather(x, constant(idx[np.arange(len(idx)), np.argmax(w, axis=1)]), axis=axis)
    else:
        out = None
        shape = [1] * x.node.rank
        shape[axis] = -1
        for k in range(idx.shape[1]):
            term = A.gather(x, constant(idx[:, k]), axis=axis) * constant(
                w[:, k].astype(x.dtype.np).reshape(shape))
            out = term if out is None else out + term
    if outside is not None and outside.any():
        shape = [1] * x.node.rank
        shape[axis] = -1
        out = M.where(constant(outside.reshape(shape)),
                      constant(np.asarray(extrapolation, x.dtype.np)), out)
    return out


# --- the ops --------------------------------------------------------------------------------
def _resize(ctx, x, scales, sizes, roi, axes):
    rank = x.node.rank
    dims = ctx.static_shape(x, ctx.node.op_type)
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    scale = {a: 1.0 for a in range(rank)}
    out = {a: dims[a] for a in range(rank)}
    if sizes is not None:
        for a, size in zip(axes, as_ints(sizes)):
            scale[a], out[a] = size / dims[a], size
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            s = (min if policy == "not_larger" else max)(scale[a] for a in axes)
            for a in axes:
                scale[a], out[a] = s, int(s * dims[a] + 0.5)
    else:
        for a, s in zip(axes, np.asarray(scales, np.float64).reshape(-1)):
            scale[a], out[a] = float(s), int(float(s) * dims[a])
    mode = ctx.attr("mode", "nearest")
    legacy = ctx.node.op_type == "Upsample" or ctx.opset < 11
    transform = "asymmetric" if legacy else ctx.attr("coordinate_transformation_mode",
                                                     "half_pixel")
    if mode == "nearest":
        weights = _nearest("floor" if legacy else ctx.attr("nearest_mode",
                                                           "round_prefer_floor"))
    elif mode == "linear":
        weights = _linear(bool(ctx.attr("antialias", 0)))
    else:
        weights = _cubic(ctx.attr("cubic_coeff_a", -0.75), bool(ctx.attr("antialias", 0)))
    roi_full = _roi(roi, rank, axes)
    y = x if x.dtype.kind == "f" else cast(x, "float64")
    for a in axes:
        lo_hi = roi_full[a], roi_full[a + rank]
        if scale[a] == 1.0 and out[a] == dims[a] and (transform != "tf_crop_and_resize" or
                                                      lo_hi == (0.0, 1.0)):
            continue
        plan = _axis_plan(dims[a], out[a], scale[a], weights, transform, lo_hi,
                          bool(ctx.attr("exclude_outside", 0)))
        y = _resize_axis(y, a, plan, mode == "nearest", ctx.attr("extrapolation_value", 0.0))
    return y if y.dtype is x.dtype else cast(M.round(y), x.dtype)


def _roi(roi, rank, axes):
    full = [0.0] * rank + [1.0] * rank
    if roi is None or np.asarray(roi).size == 0:
        return full
    values = np.asarray(roi, np.float64).reshape(-1)
    if len(values) == 2 * rank:
        return list(values)
    for i, a in enumerate(axes):
        full[a], full[a + rank] = values[i], values[len(axes) + i]
    return full


@converter("Resize", check=_check)
def _resize_op(ctx):
    x = ctx.input(0)
    if ctx.opset < 11:
        return [_resize(ctx, x, ctx.const(1, "scales"), None, None, None)]
    roi = ctx.const(1, "roi") if ctx.present(1) else None
    scales = ctx.const(2, "scales") if ctx.present(2) else None
    sizes = ctx.const(3, "sizes") if ctx.present(3) else None
    if scales is not None and np.asarray(scales).size == 0:
        scales = None
    if scales is None and sizes is None:
        ctx.fail("Resize needs scales or sizes")
    return [_resize(ctx, x, scales, sizes, roi, ctx.attr("axes"))]


@converter("Upsample", check=_check)
def _upsample(ctx):
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.const(1, "scales")
    return [_resize(ctx, ctx.input(0), scales, None, None, None)]
