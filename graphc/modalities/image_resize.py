"""tf.image resizing: nearest neighbour and bilinear, as TF1's ResizeNearestNeighbor and
ResizeBilinear kernels define them.

The source coordinate of output row y (columns alike) is computed in float32, as TF does,
when the graph is built (sizes are static), with scale = in / out, or (in - 1) / (out - 1)
under align_corners (out > 1):
- bilinear: in = y * scale, or (y + 0.5) * scale - 0.5 under half_pixel_centers; it reads
  rows max(floor(in), 0) and min(ceil(in), in_size - 1) and weighs them by in - floor(in);
- nearest: floor(y * scale), or round(y * scale) (half away from zero) under align_corners,
  or floor((y + 0.5) * scale) under half_pixel_centers; clamped to [0, in_size - 1].
A resize is then a gather of rows and a gather of columns (nearest), or two of each and two
lerps (bilinear): one fused pass over the output, differentiable like any gather.
"""

from __future__ import annotations

import enum

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_geometry import as_batch, hwc, unbatch
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor


class ResizeMethod(enum.IntEnum):
    """tf.image.ResizeMethod (TF1's numbering); graphc has BILINEAR and NEAREST_NEIGHBOR."""
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


def resize_nearest_neighbor(images, size, align_corners=False, half_pixel_centers=False,
                            name=None):
    """tf.image.resize_nearest_neighbor: each output pixel copies its source pixel (module
    docstring); keeps the dtype. Two gathers: one read and one write per output element."""
    _check_centers(align_corners, half_pixel_centers)
    x, single = as_batch(images, "resize_nearest_neighbor")
    (h, w, _), (out_h, out_w) = hwc(x), _size(size)
    rows = nearest_indices(h, out_h, align_corners, half_pixel_centers)
    cols = nearest_indices(w, out_w, align_corners, half_pixel_centers)
    y = A.gather(A.gather(x, constant(rows), axis=1), constant(cols), axis=2)
    return unbatch(A.identity(y, name=name or "ResizeNearestNeighbor"), single)


def resize_bilinear(images, size, align_corners=False, half_pixel_centers=False, name=None):
    """tf.image.resize_bilinear: each output pixel interpolates its four source pixels
    (module docstring), top = tl + (tr - tl) * dx, then top + (bottom - top) * dy, in
    float32 (float64 images stay float64); the result is float32 as TF's. About 4 reads and
    6 flops per output element, one fused pass."""
    _check_centers(align_corners, half_pixel_centers)
    x, single = as_batch(images, "resize_bilinear")
    (h, w, _), (out_h, out_w) = hwc(x), _size(size)
    ft = dtypes.float64 if x.dtype is dtypes.float64 else dtypes.float32
    x = M.cast(x, ft) if x.dtype is not ft else x
    top_i, bottom_i, dy = bilinear_weights(h, out_h, align_corners, half_pixel_centers)
    left_i, right_i, dx = bilinear_weights(w, out_w, align_corners, half_pixel_centers)
    dy = constant(dy.reshape(1, out_h, 1, 1).astype(ft.np))
    dx = constant(dx.reshape(1, 1, out_w, 1).astype(ft.np))
    top, bottom = A.gather(x, constant(top_i), axis=1), A.gather(x, constant(bottom_i), axis=1)

    def lerp_columns(rows):
        left = A.gather(rows, constant(left_i), axis=2)
        right = A.gather(rows, constant(right_i), axis=2)
        return left + (right - left) * dx

    top, bottom = lerp_columns(top), lerp_columns(bottom)
    y = M.add(top, (bottom - top) * dy, name=name or "ResizeBilinear")
    return unbatch(y, single)


def _aspect_size(h, w, size):
    """TF's preserve_aspect_ratio: the largest size within `size` with the image's aspect."""
    scale = min(np.float32(size[0]) / np.float32(h), np.float32(size[1]) / np.float32(w))
    return int(np.round(scale * np.float32(h))), int(np.round(scale * np.float32(w)))


# TF2's names of the methods, also taken by graphc's resize_images
_NAMED_METHODS = {"bilinear": ResizeMethod.BILINEAR, "nearest": ResizeMethod.NEAREST_NEIGHBOR,
                  "bicubic": ResizeMethod.BICUBIC, "area": ResizeMethod.AREA}


def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False,
                  preserve_aspect_ratio=False, name=None):
    """tf.image.resize_images (TF1; also tf.image.resize in tf.compat.v1): resize_bilinear
    or resize_nearest_neighbor by `method`, without half-pixel centers as in TF1. As TF1,
    an image already of the asked size is returned as it is (its dtype too)."""
    x, single = as_batch(images, "resize_images")
    h, w, _ = hwc(x)
    new = _size(size)
    if preserve_aspect_ratio:
        new = _aspect_size(h, w, new)
    method = _NAMED_METHODS.get(method, method)
    if method not in (ResizeMethod.BILINEAR, ResizeMethod.NEAREST_NEIGHBOR):
        known = {m.value: m.name for m in ResizeMethod}
        label = f"ResizeMethod.{known[method]}" if method in known else repr(method)
        raise NotImplementedError(f"resize_images: method {label} is not supported by graphc "
                                  f"(BILINEAR and NEAREST_NEIGHBOR are)")
    if new == (h, w):
        return convert_to_tensor(images)
    resize = resize_bilinear if method == ResizeMethod.BILINEAR else resize_nearest_neighbor
    return unbatch(resize(x, list(new), align_corners=align_corners, name=name), single)


resize = resize_images
