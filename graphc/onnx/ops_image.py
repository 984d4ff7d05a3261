"""Image sampling ops: GridSample (4-D at opset 16, N-D from 20), RoiAlign (avg and max) and
ImageDecoder.

GridSample and RoiAlign sample at coordinates known only at run time (the grid, the
regions), so both are gather compositions: each output point's neighbour indices and
weights are computed elementwise along each spatial axis, combined over the axes into
flat indices into the image (its channels last, [N * pixels, C]), gathered as rows in one
gather, and weighted (and summed or maxed). The per-axis rules follow onnx's reference
implementation step by step (which follows PyTorch's grid_sample and Caffe2's RoIAlign).

ImageDecoder's output shape is the image's, so its encoded bytes are needed at import
time (a constant, or a graph input the onnx runner fixes per call); Pillow decodes them
on the host and the image enters the graph as a constant.
"""

from __future__ import annotations

import io

import numpy as np

from graphc.onnx.registry import converter, first_problem, one_of
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant, stack

_PADDING = ("zeros", "border", "reflection")
_OLD_MODES = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}  # opset 16


def _grid_modes(opset: int):
    return tuple(_OLD_MODES) if opset < 20 else tuple(_OLD_MODES.values())


def _grid_check(node):
    return first_problem(one_of("mode", _grid_modes(node.opset), node),
                         one_of("padding_mode", _PADDING, node),
                         one_of("align_corners", (0, 1), node))


# --- one axis of GridSample -----------------------------------------------------------------
def _where(cond, a, b):
    return M.where(cond, a, b)


def _reflect(x, lo: float, hi: float):
    """x reflected by the borders lo, hi until inside (onnx's _gs_reflect)."""
    span = hi - lo
    if span <= 0:
        return M.minimum(M.maximum(x, lo), lo)  # one pixel aligned at its corners: lo
    below, above = M.less(x, lo), M.greater(x, hi)
    dx = _where(below, lo - x, x - hi)
    turns = M.floor(dx / span)
    r = dx - turns * span
    even = M.equal(M.mod(turns, 2.0), 0.0)
    inside_from_lo, inside_from_hi = lo + r, hi - r
    return _where(below, _where(even, inside_from_lo, inside_from_hi),
                  _where(above, _where(even, inside_from_hi, inside_from_lo), x))


def _cubic_weights(t):
    """Keys' cubic kernel (a = -0.75) at the four taps floor(x) - 1 .. floor(x) + 2."""
    a = -0.75

    def near(s):  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _axis_taps(x, size: int, mode: str, padding: str, lo: float, hi: float):
    """(indices, weights): lists of [N, P] float tensors, the taps along one axis of the
    source coordinates x, each index already inside [0, size) (a zero weight where the
    padding is zeros and the tap falls outside)."""
    if padding == "border":
        x = _where(M.logical_or(M.less(x, lo), M.greater(x, hi)),
                   M.minimum(M.maximum(x, 0.0), size - 1.0), x)
    elif padding == "reflection":
        x = _reflect(x, lo, hi)
    if mode == "nearest":
        idx = [cast(cast(x, "int32"), x.dtype)]  # truncated toward zero, as onnx's reference
        weights = [A.ones_like(x)]
    else:
        left = M.floor(x)
        t = x - left
        if mode == "linear":
            idx, weights = [left, left + 1.0], [1.0 - t, t]
        else:
            idx, weights = [left - 1.0, left, left + 1.0, left + 2.0], _cubic_weights(t)
    out_idx, out_w = [], []
    for i, w in zip(idx, weights):
        if padding == "zeros":
            inside = M.logical_and(M.greater_equal(i, 0.0), M.less_equal(i, size - 1.0))
            w = _where(inside, w, A.zeros_like(w))
        elif padding == "reflection" and mode != "nearest":
            i = cast(cast(_reflect(i, lo, hi), "int32"), i.dtype)
        out_idx.append(M.minimum(M.maximum(i, 0.0), size - 1.0))
        out_w.append(w)
    return out_idx, out_w


def _gather_weighted(image, index, weights, reduce: str = "sum"):
    """image [N, C, S...] flattened to rows [N * S, C]; index and weights [N, P, K] (index
    into one image's S pixels): sum (or max) over K of weight * row -> [N, C, P]."""
    dims = image.node.shape
    n, c, pixels = dims[0], dims[1], int(np.prod(dims[2:]))
    rows = A.reshape(A.transpose(image, [0] + list(range(2, len(dims))) + [1]), [-1, c])
    offset = constant((np.arange(n) * pixels).reshape(n, 1, 1).astype(np.int32))
    flat = cast(index, "int32") + offset
    taken = A.gather(rows, flat, axis=0) * A.expand_dims(weights, -1)  # [N, P, K, C]
    out = M.reduce_sum(taken, axis=2) if reduce == "sum" else M.reduce_max(taken, axis=2)
    return A.transpose(out, [0, 2, 1])


@converter("GridSample", check=_grid_check)
def _grid_sample(ctx):
    x, grid = ctx.input(0), ctx.input(1)
    dims, gdims = ctx.static_shape(x, "GridSample"), ctx.static_shape(grid, "GridSample")
    r = len(dims) - 2
    if r < 1 or (ctx.opset < 20 and r != 2) or gdims[-1] != r or gdims[0] != dims[0] or \
            len(gdims) != r + 2:
        ctx.fail(f"node '{ctx.name}' (GridSample-{ctx.opset}): X {dims} and grid {gdims} "
                 f"do not match (X [N, C, d1..dr], grid [N, o1..or, r]"
                 f"{'; opset 16 samples 4-D X only' if ctx.opset < 20 else ''})")
    mode = ctx.attr("mode", "linear")
    mode = _OLD_MODES.get(mode, mode)
    padding, align = ctx.attr("padding_mode", "zeros"), bool(ctx.attr("align_corners", 0))
    work = x if x.dtype.kind == "f" else cast(x, "float64")
    g = A.reshape(cast(grid, work.dtype) if grid.dtype is not work.dtype else grid,
                  [dims[0], -1, r])
    index = weight = None
    stride = int(np.prod(dims[2:]))
    for a, size in enumerate(dims[2:]):
        stride //= size
        u = g[:, :, r - 1 - a]  # the grid lists coordinates innermost axis first
        s = (u + 1.0) * ((size - 1) / 2.0) if align else ((u + 1.0) * size - 1.0) / 2.0
        if mode == "nearest":
            s = M.round(s)  # half to even, as PyTorch
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        idx, w = _axis_taps(s, size, mode, padding, lo, hi)
        idx, w = stack(idx, axis=-1) * float(stride), stack(w, axis=-1)
        if index is None:
            index, weight = idx, w
        else:  # every combination of this axis's taps with the taps so far
            index = A.reshape(A.expand_dims(index, -1) + A.expand_dims(idx, -2),
                              [dims[0], -1, index.node.shape[-1] * idx.node.shape[-1]])
            weight = A.reshape(A.expand_dims(weight, -1) * A.expand_dims(w, -2),
                               index.node.shape)
    out = A.reshape(_gather_weighted(work, index, weight), dims[:2] + gdims[1:-1])
    return [out if out.dtype is x.dtype else cast(out, x.dtype)]


# --- RoiAlign -------------------------------------------------------------------------------
def _roi_check(node):
    return first_problem(one_of("mode", ("avg", "max"), node),
                         one_of("coordinate_transformation_mode",
                                ("half_pixel", "output_half_pixel"), node))


def _roi_axis(start, end, pooled: int, grid: int, size: int, half_pixel: bool):
    """The two bilinear taps along one axis of every sample of every bin: (indices,
    weights) lists of [R, pooled * grid] tensors. A sample outside [-1, size] has zero
    weights; one in (size - 1, size] reads the last pixel (Caffe2's RoIAlign)."""
    extent = end - start
    if not half_pixel:
        extent = M.maximum(extent, 1.0)
    step = extent / float(pooled)
    offsets = (np.arange(pooled)[:, None] + (np.arange(grid)[None, :] + 0.5) / grid)
    pos = A.expand_dims(start, 1) + A.expand_dims(step, 1) * constant(
        offsets.reshape(1, -1).astype(start.dtype.np))
    outside = M.logical_or(M.less(pos, -1.0), M.greater(pos, float(size)))
    pos = M.maximum(pos, 0.0)
    low = M.floor(pos)
    last = M.greater_equal(low, size - 1.0)
    low = _where(last, A.zeros_like(low) + (size - 1.0), low)
    high = _where(last, low, low + 1.0)
    frac = _where(last, A.zeros_like(pos), pos - low)
    zero = A.zeros_like(pos)
    return [low, high], [_where(outside, zero, 1.0 - frac), _where(outside, zero, frac)]


@converter("RoiAlign", check=_roi_check)
def _roi_align(ctx):
    x, rois, batch = ctx.input(0), ctx.input(1), ctx.input(2)
    n, c, height, width = ctx.static_shape(x, "RoiAlign")
    count = ctx.static_shape(rois, "RoiAlign")[0]
    ph, pw = int(ctx.attr("output_height", 1)), int(ctx.attr("output_width", 1))
    ratio, scale = int(ctx.attr("sampling_ratio", 0)), float(ctx.attr("spatial_scale", 1.0))
    half_pixel = ctx.attr("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    if ratio > 0:
        grids = [(ratio, ratio, np.arange(count))]
    else:  # ceil(roi size / output size) samples per bin: the regions decide the graph
        values = np.asarray(ctx.const(1, "regions (with sampling_ratio=0)"), np.float64)
        ext = values[:, 2:4] * scale - values[:, 0:2] * scale
        if not half_pixel:
            ext = np.maximum(ext, 1.0)
        gw = np.maximum(np.ceil(ext[:, 0] / pw), 0).astype(int)  # 0: an empty region
        gh = np.maximum(np.ceil(ext[:, 1] / ph), 0).astype(int)
        keys = sorted(set(zip(gh.tolist(), gw.tolist())))
        grids = [(h, w, np.nonzero((gh == h) & (gw == w))[0]) for h, w in keys]
    work = x if x.dtype.kind == "f" else cast(x, "float32")
    boxes = rois if rois.dtype is work.dtype else cast(rois, work.dtype)
    shift = 0.5 if half_pixel else 0.0
    images = A.gather(work, cast(batch, "int32"), axis=0)  # [R, C, H, W]
    parts, order = [], []
    for gh, gw, which in grids:
        pick = constant(which.astype(np.int32))
        b = A.gather(boxes, pick, axis=0) * scale - shift if len(which) != count else \
            boxes * scale - shift
        img = A.gather(images, pick, axis=0) if len(which) != count else images
        if gh * gw == 0:  # no samples: onnx's reference leaves the bins 0
            parts.append(A.zeros([len(which), c, ph, pw], dtype=work.dtype))
        else:
            parts.append(_roi_pool(ctx, img, b, ph, pw, gh, gw, height, width, half_pixel))
        order.append(which)
    out = parts[0] if len(parts) == 1 else A.gather(
        A.concat(parts, 0), constant(np.argsort(np.concatenate(order)).astype(np.int32)))
    return [out if out.dtype is x.dtype else cast(out, x.dtype)]


def _roi_pool(ctx, images, boxes, ph, pw, gh, gw, height, width, half_pixel):
    """images [R, C, H, W] pooled over boxes [R, 4] (x1, y1, x2, y2, already scaled and
    shifted) on a gh x gw sample grid per bin: [R, C, ph, pw]."""
    rows = images.node.shape[0]
    ys, wy = _roi_axis(boxes[:, 1], boxes[:, 3], ph, gh, height, half_pixel)
    xs, wx = _roi_axis(boxes[:, 0], boxes[:, 2], pw, gw, width, half_pixel)
    # [R, ph*gh, 2] x [R, pw*gw, 2] -> [R, ph, gh, pw, gw, 4] -> [R, ph*pw, gh*gw*4]
    yi, yw = stack(ys, -1), stack(wy, -1)
    xi, xw = stack(xs, -1), stack(wx, -1)
    index = (A.reshape(yi * float(width), [rows, ph, gh, 1, 1, 2, 1]) +
             A.reshape(xi, [rows, 1, 1, pw, gw, 1, 2]))
    weight = A.reshape(yw, [rows, ph, gh, 1, 1, 2, 1]) * A.reshape(xw, [rows, 1, 1, pw, gw,
                                                                            1, 2])
    perm = [0, 1, 3, 2, 4, 5, 6]  # bins (ph, pw) first, then the samples and corners
    index = A.reshape(A.transpose(index, perm), [rows, ph * pw, -1])
    weight = A.reshape(A.transpose(weight, perm), [rows, ph * pw, -1])
    if ctx.attr("mode", "avg") == "avg":
        pooled = _gather_weighted(images, index, weight) / float(gh * gw)
    else:  # max over the samples of the largest of each sample's four weighted corners
        pooled = _gather_weighted(images, index, weight, reduce="max")
    return A.reshape(pooled, [rows, images.node.shape[1], ph, pw])


# --- ImageDecoder ---------------------------------------------------------------------------
@converter("ImageDecoder", check=lambda node: one_of("pixel_format", ("RGB", "BGR",
                                                                       "Grayscale"), node))
def _image_decoder(ctx):
    data = np.asarray(ctx.const(0, "encoded image"))
    return [decode_image(data.astype(np.uint8).tobytes(), ctx.attr("pixel_format", "RGB"))]


def decode_image(data: bytes, pixel_format: str = "RGB") -> np.ndarray:
    """The image file `data` (BMP, JPEG, JPEG 2000, TIFF, PNG, WebP, PNM: what Pillow reads)
    as uint8 [H, W, 3] in RGB or BGR order, or [H, W, 1] grayscale; an empty [0, 0, C]
    array when it cannot be decoded, as ONNX specifies."""
    import PIL.Image
    channels = 1 if pixel_format == "Grayscale" else 3
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            img.load()
            if pixel_format == "Grayscale":
                return np.asarray(img.convert("L"), np.uint8)[:, :, None].copy()
            rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), np.uint8)
    except (OSError, ValueError, SyntaxError):  # Pillow's errors for unreadable data
        return np.zeros((0, 0, channels), np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1] if pixel_format == "BGR" else rgb)
