"""tf.image resizing: nearest neighbour and bilinear, as TF1's ResizeNearestNeighbor and
ResizeBilinear kernels define them; and resample_taps, the resize by tap tables that these
and image_resize_kernels' methods (bicubic, area, TF2's antialiasing kernels) compile to.

The source coordinate of output row y (columns alike) is computed in float32, as TF does,
when the graph is built (sizes are static), with scale = in / out, or (in - 1) / (out - 1)
under align_corners (out > 1):
- bilinear: in = y * scale, or (y + 0.5) * scale - 0.5 under half_pixel_centers; it reads
  rows max(floor(in), 0) and min(ceil(in), in_size - 1) and weighs them by in - floor(in);
- nearest: floor(y * scale), or round(y * scale) (half away from zero) under align_corners,
  or floor((y + 0.5) * scale) under half_pixel_centers; clamped to [0, in_size - 1].

So each output row is a weighted sum of a few source rows (its taps: index[y, t] with
weight[y, t], float32), and a resize sums the taps of both axes. How it reads them decides
its speed (measured in docs/benchmarks.md, "Image resize"). Per axis:
- identity: the axis keeps its size and every output reads its own row;
- select: one tap of weight 1 (TF1's coordinates at integer factors): a strided slice
  when the rows step evenly, else a gather;
- block: in = s * out and every tap of output y lies in rows [s y, s y + s) (a 2x
  reduction with half-pixel centres): a reshape to [out, s], a view; integer images may
  also read the block's rows of weight 0 (nothing to spread: no inf or nan);
- gather: otherwise, the taps' rows gathered.
Then, for the whole resize:
- with a block axis, one reduction sums the taps (the uint8 image cast, weighed and summed
  in that one kernel, never stored as floats);
- with at most 2 taps a side (enlarging, TF1's coordinates, odd ratios), each pair of taps
  is gathered in the image's dtype and one elementwise kernel combines them with TF's own
  lerps (the same float32 operations); a rounding cast back to uint8 joins that kernel;
- wider taps (bicubic, antialiased reductions) take two passes, rows then columns as TF's
  kernels, each one reduction over a block view plus the taps outside the block, gathered
  (or over a gather of all taps).
Gathers go in the order that moves fewer elements (columns before rows when enlarging), and
the image is resized at the rank it has (no view after the last op, so fusion can join the
caller's ops to it). All of it differentiates like any composition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_geometry import as_batch, hwc
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor


class ResizeMethod(enum.IntEnum):
    """tf.image.ResizeMethod (TF1's numbering): resize_images (image_resize_kernels.py) takes
    all four."""
    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


def _scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    if align_corners and out_size > 1:
        return np.float32(in_size - 1) / np.float32(out_size - 1)
    return np.float32(in_size) / np.float32(out_size)


def nearest_indices(in_size, out_size, align_corners, half_pixel_centers) -> np.ndarray:
    """The source row of each output row of TF's ResizeNearestNeighbor."""
    scale = _scale(in_size, out_size, align_corners)
    y = np.arange(out_size, dtype=np.float32)
    src = (y + np.float32(0.5)) * scale if half_pixel_centers else y * scale
    # roundf rounds halves away from zero; sources are >= 0 here
    index = np.floor(src + np.float32(0.5)) if align_corners else np.floor(src)
    return np.clip(index, 0, in_size - 1).astype(np.int32)


def bilinear_weights(in_size, out_size, align_corners, half_pixel_centers):
    """(lower rows, upper rows, lerp weights) of TF's ResizeBilinear."""
    scale = _scale(in_size, out_size, align_corners)
    y = np.arange(out_size, dtype=np.float32)
    src = (y + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel_centers else y * scale
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.int32)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int32)
    return lower, upper, (src - floor).astype(np.float32)


# --- taps -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Taps:
    """The taps of one axis: output i is the sum over t of weight[i, t] * x[index[i, t]]."""
    index: np.ndarray  # [out, k] int32
    weight: np.ndarray  # [out, k] float32
    size: int  # the input's length along the axis

    @property
    def out(self) -> int:
        return len(self.index)


def bilinear_taps(in_size, out_size, align_corners, half_pixel_centers) -> Taps:
    """TF's ResizeBilinear as taps: (lower, upper) weighed (1 - d, d). TF computes
    lower + (upper - lower) * d: the same value up to float rounding."""
    lower, upper, d = bilinear_weights(in_size, out_size, align_corners, half_pixel_centers)
    weight = np.stack([np.float32(1) - d, d], axis=1).astype(np.float32)
    return _trimmed(np.stack([lower, upper], axis=1), weight, in_size)


def _trimmed(index, weight, size: int) -> Taps:
    """The same taps with each row's nonzero weights first (in order) and the columns then
    0 in every row dropped (at least one is kept)."""
    order = np.argsort(weight == 0, axis=1, kind="stable")
    index, weight = np.take_along_axis(index, order, 1), np.take_along_axis(weight, order, 1)
    taps = max(int((weight != 0).sum(axis=1).max()), 1)
    return Taps(index[:, :taps].astype(np.int32), weight[:, :taps].astype(np.float32), size)


# --- how an axis reads its taps -------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Read:
    """`kind` is "identity" (output = input), "select" (index [out]: one tap of weight 1),
    "block" (a reshape to [out, block]; weight [out, block]) or "gather" (index [out, k])."""
    kind: str
    out: int
    index: np.ndarray = None
    weight: np.ndarray = None
    block: int = 0

    @property
    def taps(self) -> int:
        """The length of the tap axis this read inserts (0: none)."""
        if self.kind in ("identity", "select"):
            return 0
        return self.block if self.kind == "block" else self.weight.shape[1]


def _selection(taps: Taps):
    """The source of each output when each reads one tap of weight 1, else None."""
    live = taps.weight != 0
    if not ((live.sum(axis=1) == 1).all() and (taps.weight[live] == 1).all()):
        return None
    return taps.index[live]  # one per row, in row order


def _block_weights(taps: Taps, block: int, inside_only: bool):
    """([out, block] weights of the taps inside each output's block, the mask of live taps
    outside it), or None when in != block * out."""
    if block < 2 or taps.size != block * taps.out:
        return None
    offset = taps.index - block * np.arange(taps.out)[:, None]
    live = taps.weight != 0
    inside = live & (offset >= 0) & (offset < block)
    if inside_only and (live & ~inside).any():
        return None
    weights = np.zeros((taps.out, block), np.float32)
    rows = np.nonzero(inside)
    np.add.at(weights, (rows[0], offset[inside]), taps.weight[inside])
    return weights, live & ~inside


def _read(taps: Taps, dead_ok: bool) -> _Read:
    """How a resize reads this axis's taps (module docstring). A block may hold rows of
    weight 0 only when `dead_ok` (an integer image: no inf or nan to spread): a block of up
    to twice the live taps reads less than a gather of them would copy."""
    pick = _selection(taps)
    if pick is not None:
        if taps.out == taps.size and (pick == np.arange(taps.size)).all():
            return _Read("identity", taps.out)
        return _Read("select", taps.out, index=pick.astype(np.int32))
    block = taps.size // taps.out
    live = int((taps.weight != 0).sum(axis=1).max())
    found = _block_weights(taps, block, inside_only=True) if block <= 2 * live else None
    if found is not None and (dead_ok or (found[0] != 0).all()):
        return _Read("block", taps.out, weight=found[0], block=block)
    return _Read("gather", taps.out, index=taps.index, weight=taps.weight)


def _take(x, axis: int, read: _Read):
    """x with `axis` replaced by the read's output axis and, after it, its tap axis."""
    if read.kind == "identity":
        return x
    if read.kind == "block":
        dims = [-1 if d is None else d for d in x.shape.as_list()]
        return A.reshape(x, dims[:axis] + [read.out, read.block] + dims[axis + 1:])
    if read.kind == "select":
        return _gather(x, axis, read.index)
    return A.gather(x, constant(read.index), axis=axis)


def _float(x, ft):
    return M.cast(x, ft) if x.dtype is not ft else x


def _along(values: np.ndarray, axis: int, rank: int, ft):
    """A constant of `values` ([out] or [out, taps]) laid along `axis` of a rank-`rank`
    value (broadcast over the axes after)."""
    ones = [1] * (rank - axis - values.ndim)
    return constant(values.reshape(list(values.shape) + ones).astype(ft.np))


def _columns_first(shape, rows: _Read, cols: _Read) -> bool:
    """Whether taking the columns before the rows moves fewer elements. A gather of rows
    copies whole rows (memcpy), one of columns moves pixels one by one (about twice the
    cost an element); block views and identities cost nothing."""
    h, w, c = shape
    ky, kx = max(rows.taps, 1), max(cols.taps, 1)

    def cost(read: _Read, elements: int, per: int) -> int:
        return 0 if read.kind in ("identity", "block") else elements * per
    taken = rows.out * ky * cols.out * kx * c
    rows_first = cost(rows, rows.out * ky * w * c, 1) + cost(cols, taken, 2)
    cols_first = cost(cols, h * cols.out * kx * c, 2) + cost(rows, taken, 1)
    return cols_first < rows_first


def _reduce_taps(x, rows: _Read, cols: _Read, ft, name):
    """At least one axis a block view: the taps of both axes taken (views, then a gather of
    the other axis's taps), cast to `ft`, weighed and summed in one reduction."""
    rank = len(x.shape.as_list())
    ra = rank - 3  # the row axis; the column axis follows it, after the rows' tap axis
    if _columns_first(x.shape.as_list()[ra:], rows, cols):
        y = _take(_take(x, ra + 1, cols), ra, rows)
    else:
        y = _take(_take(x, ra, rows), ra + 1 + (rows.taps > 0), cols)
    ca, rank = ra + 1 + (rows.taps > 0), len(y.shape.as_list())
    y, axes = _float(y, ft), []
    if rows.taps:
        y, axes = y * _along(rows.weight, ra, rank, ft), axes + [ra + 1]
    if cols.taps:
        y, axes = y * _along(cols.weight, ca, rank, ft), axes + [ca + 1]
    return M.reduce_sum(y, axis=axes, name=name)


def _picks(read: _Read) -> list:
    """(index, weight) of each tap of an identity, select or gather read (None: all)."""
    if read.kind == "identity":
        return [(None, None)]
    if read.kind == "select":
        return [(read.index, None)]
    return [(np.ascontiguousarray(read.index[:, t]), read.weight[:, t])
            for t in range(read.taps)]


def _steps(index):
    """The slice(start, stop, step) taking `index` (None: all), or None when it does not
    step evenly forward."""
    if index is None:
        return slice(None)
    steps = np.unique(np.diff(index))
    if len(steps) > 1 or (len(steps) == 1 and steps[0] <= 0):
        return None
    return slice(int(index[0]), int(index[-1]) + 1, int(steps[0]) if len(steps) else 1)


def _gather(x, axis: int, index):
    """x at `index` along `axis`: a strided slice when the indices step evenly (no index
    checks, so it vectorizes and runs on every thread), else a gather."""
    if index is None:
        return x
    step = _steps(index)
    if step is not None:
        return x[(slice(None),) * axis + (step,)]
    return A.gather(x, constant(index), axis=axis)


def _lerp(a, b, d, name=None):
    return M.add(a, (b - a) * d, name=name)


def _sum_taps(x, rows: _Read, cols: _Read, ft, lerp: bool, name):
    """Each pair of taps gathered in the image's dtype (a copy the output's size), then one
    elementwise kernel casts, weighs and adds them, which the caller's elementwise ops (a
    rounding cast back to uint8) join. lerp: bilinear taps (1 - d, d) combined as TF does,
    top = tl + (tr - tl) dx, then top + (bottom - top) dy."""
    rank = len(x.shape.as_list())
    ra, ca = rank - 3, rank - 2
    py, px = _picks(rows), _picks(cols)
    if all(_steps(i) is not None for i, _ in py + px):  # each pair one strided slice
        grid = [[x[(slice(None),) * ra + (_steps(i), _steps(j))] for j, _ in px]
                for i, _ in py]
    elif _columns_first(x.shape.as_list()[ra:], rows, cols):
        line = [_gather(x, ca, i) for i, _ in px]
        grid = [[_gather(e, ra, i) for e in line] for i, _ in py]
    else:
        line = [_gather(x, ra, i) for i, _ in py]
        grid = [[_gather(r, ca, i) for i, _ in px] for r in line]
    if len(py) == len(px) == 1:  # a selection
        y = grid[0][0]
        return A.identity(y, name=name) if y.dtype is ft else M.cast(y, ft, name=name)
    grid = [[_float(g, ft) for g in row] for row in grid]
    wy = [None if w is None else _along(w, ra, rank, ft) for _, w in py]
    wx = [None if w is None else _along(w, ca, rank, ft) for _, w in px]
    if lerp:
        if len(py) == 1:
            return _lerp(grid[0][0], grid[0][1], wx[1], name)
        tops = [_lerp(row[0], row[1], wx[1]) if len(px) == 2 else row[0] for row in grid]
        return _lerp(tops[0], tops[1], wy[1], name)
    terms = [(g, u, v) for u, row in zip(wy, grid) for v, g in zip(wx, row)]
    total = None
    for k, (g, u, v) in enumerate(terms):
        g = g if u is None else g * u
        last = name if k == len(terms) - 1 else None
        if total is None:
            total = g if v is None else M.multiply(g, v, name=last)
        else:
            total = M.add(total, g if v is None else g * v, name=last)
    return total


def _pass_reads(taps: Taps, dead_ok: bool) -> list:
    """The reads whose weighed sum is one separable pass over `taps`: a block view and the
    taps outside each block gathered (as many as the block, padded with weight 0), or one
    gather of all taps, or a selection."""
    read = _read(taps, dead_ok)
    if read.kind != "gather":
        return [read]
    block = taps.size // taps.out
    found = _block_weights(taps, block, inside_only=False)
    if found is None or found[1].sum(axis=1).max() > block:
        return [read]
    weights, outside = found
    reads = [_Read("block", taps.out, weight=weights, block=block)]
    if outside.any():
        pad = max(block - outside.shape[1], 0)
        index = np.pad(taps.index, ((0, 0), (0, pad)), mode="edge")
        weight = np.pad(np.where(outside, taps.weight, 0), ((0, 0), (0, pad)))
        first = np.argsort(~np.pad(outside, ((0, 0), (0, pad))), axis=1, kind="stable")
        first = first[:, :block]  # the outside taps first, then padding of weight 0
        reads.append(_Read("gather", taps.out, index=np.take_along_axis(index, first, 1),
                           weight=np.take_along_axis(weight, first, 1)))
    return reads


def _pass(x, axis: int, taps: Taps, ft, dead_ok: bool):
    """One separable pass along `axis`: the weighed sum of its reads, one reduction."""
    reads = _pass_reads(taps, dead_ok)
    if reads[0].taps == 0:
        return _float(_take(x, axis, reads[0]), ft)
    rank = len(x.shape.as_list()) + 1
    terms = [_float(_take(x, axis, r), ft) * _along(r.weight, axis, rank, ft) for r in reads]
    return M.reduce_sum(sum(terms[1:], terms[0]), axis=axis + 1)


def _separable(x, rows: Taps, cols: Taps, ft, name):
    """Wide taps (bicubic, antialiasing) in two passes, rows then columns as TF's kernels:
    k + k taps an output pixel instead of k * k."""
    (h, w, c), dead_ok = x.shape.as_list()[-3:], x.dtype.kind == "i"  # integers: finite
    batch = [-1] if len(x.shape.as_list()) == 4 else []
    y = _pass(A.reshape(x, batch + [h, w * c]), len(batch), rows, ft, dead_ok)
    y = _pass(A.reshape(y, batch + [rows.out, w, c]), len(batch) + 1, cols, ft, dead_ok)
    return A.identity(y, name=name)


def resample_taps(x, rows, cols, ft, name, lerp=False):
    """x (an image [h, w, c] or a batch of them) resized by tap tables: rows and cols are
    (index [out, k] int, weight [out, k] float32) pairs, output row j being the sum over t
    of weight[j, t] * x[index[j, t]] (columns alike), computed in `ft`. Each axis is read as
    the module docstring says; `lerp`: the tables are bilinear's (1 - d, d), combined with
    TF's lerps where that way is taken. Used by image_resize_kernels for its methods."""
    h, w = x.shape.as_list()[-3:-1]
    return _resize(x, _trimmed(*rows, h), _trimmed(*cols, w), ft, name, lerp)


def _resize(x, rows: Taps, cols: Taps, ft, name, lerp=False):
    """x (an image or a batch) resized by the taps of its rows and columns."""
    dead_ok = x.dtype.kind == "i" and ft.kind == "f"
    r, c = _read(rows, dead_ok), _read(cols, dead_ok)
    if "block" not in (r.kind, c.kind) and max(r.taps, 1) * max(c.taps, 1) <= 4:
        return _sum_taps(x, r, c, ft, lerp, name)
    dims = x.shape.as_list()
    if len(dims) == 4 and dims[0] == 1:  # a batch of one: reduce the image itself, so that
        # the reductions' outer loop runs over rows, which threads share out
        y = _resize(A.reshape(x, dims[1:]), rows, cols, ft, None)
        return A.reshape(y, [1] + y.shape.as_list(), name=name)
    if "block" in (r.kind, c.kind):
        return _reduce_taps(x, r, c, ft, name)
    return _separable(x, rows, cols, ft, name)


# --- the operations -------------------------------------------------------------------------
def _size(size) -> tuple:
    values = A.static_value(convert_to_tensor(size)) if not isinstance(size, (list, tuple)) \
        else size
    if values is None:
        raise ValueError("resize: graphc needs `size` known when the graph is built")
    values = [int(v) for v in np.asarray(values).reshape(-1)]
    if len(values) != 2:
        raise ValueError(f"'size' must be a 1-D Tensor of 2 elements: new_height, new_width; "
                         f"got {values}")
    if min(values) <= 0:
        raise ValueError(f"resize: the new size must be positive, got {values}")
    return tuple(values)


def _check_centers(align_corners, half_pixel_centers):
    if align_corners and half_pixel_centers:
        raise ValueError("If half_pixel_centers is True, align_corners must be False.")


def _float_type(x):
    return dtypes.float64 if x.dtype is dtypes.float64 else dtypes.float32


def _image(images, op: str):
    """(the image or batch as given, its static (height, width, channels)), checked as
    TF's _AssertAtLeast3DImage (image_geometry.as_batch). Resizing works on the rank given,
    so that no view follows its last op (fusion joins the caller's ops to it)."""
    batch, single = as_batch(images, op)
    return (convert_to_tensor(images) if single else batch), tuple(hwc(batch))


def resize_nearest_neighbor(images, size, align_corners=False, half_pixel_centers=False,
                            name=None):
    """tf.image.resize_nearest_neighbor: each output pixel copies its source pixel (module
    docstring); keeps the dtype. A selection of rows and one of columns (strided slices or
    gathers), the cheaper first."""
    _check_centers(align_corners, half_pixel_centers)
    x, (h, w, _) = _image(images, "resize_nearest_neighbor")
    out_h, out_w = _size(size)

    def taps(n, out):
        index = nearest_indices(n, out, align_corners, half_pixel_centers)[:, None]
        return Taps(index, np.ones(index.shape, np.float32), n)
    return _resize(x, taps(h, out_h), taps(w, out_w), x.dtype, name or "ResizeNearestNeighbor")


def resize_bilinear(images, size, align_corners=False, half_pixel_centers=False, name=None):
    """tf.image.resize_bilinear: each output pixel interpolates its four source pixels
    (module docstring) in float32 (float64 images stay float64); the result is float32 as
    TF's. A block view and one reduction, or the taps gathered and TF's lerps in one
    elementwise kernel (module docstring)."""
    _check_centers(align_corners, half_pixel_centers)
    x, (h, w, _) = _image(images, "resize_bilinear")
    out_h, out_w = _size(size)
    rows = bilinear_taps(h, out_h, align_corners, half_pixel_centers)
    cols = bilinear_taps(w, out_w, align_corners, half_pixel_centers)
    return _resize(x, rows, cols, _float_type(x), name or "ResizeBilinear", lerp=True)


def _aspect_size(h, w, size):
    """TF's preserve_aspect_ratio: the largest size within `size` with the image's aspect."""
    scale = min(np.float32(size[0]) / np.float32(h), np.float32(size[1]) / np.float32(w))
    return int(np.round(scale * np.float32(h))), int(np.round(scale * np.float32(w)))


# TF2's names of the methods, also taken by graphc's resize_images (image_resize_kernels.py)
_NAMED_METHODS = {"bilinear": ResizeMethod.BILINEAR, "nearest": ResizeMethod.NEAREST_NEIGHBOR,
                  "bicubic": ResizeMethod.BICUBIC, "area": ResizeMethod.AREA}
