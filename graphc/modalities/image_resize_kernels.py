"""tf.image resizing by weighted taps: TF1's ResizeBicubic and ResizeArea, and TF2's
tf.image.resize (`resize_v2`) with its lanczos, gaussian and mitchellcubic kernels and
antialiasing (TF's ScaleAndTranslate), as TF's kernels define them.

Every method here is separable: along each axis, output row j is
    out[j] = sum_t weight[j, t] * x[index[j, t]]
with an int32 index table and a float32 weight table of shape [out, taps], computed in
numpy from TF's float32 formulas when the graph is built (sizes are static). A resize is
then image_resize.resample_taps of the two tables: per axis, the [out, taps] rows read as
a block view, slices or a gather, and weighted sums over the taps: about 2 * taps flops
per output element and axis, differentiable like any gather (its gradient is a
scatter-add of the weighted output gradient).

- bicubic (ResizeBicubic): the Keys cubic on rows floor(src) - 1 .. floor(src) + 2, src
  the legacy (y * scale) or half-pixel ((y + 0.5) * scale - 0.5) coordinate; its weights
  are read from TF's 1025-entry table at rint(1024 * (src - floor(src))); a = -0.75 and
  clamped rows (legacy), or a = -0.5 with the rows outside the image dropped and the rest
  renormalized (half_pixel_centers).
- area (ResizeArea): output row y covers input [y * scale, (y + 1) * scale); each row in
  it weighs the length it overlaps, and the sum is divided by scale.
- kernels (ScaleAndTranslate): output j samples s = (j + 0.5) * in / out; it reads rows
  ceil(s - r - 0.5) .. floor(s + r - 0.5) within the image, r the kernel's radius (times
  in / out when antialiasing a downscale, the kernel stretched alike), weighted by
  kernel(i + 0.5 - s) and normalized to sum 1.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_geometry import as_batch, hwc, unbatch
from graphc.modalities.image_resize import (
    _NAMED_METHODS,
    ResizeMethod,
    _aspect_size,
    _check_centers,
    _image,
    _size,
    resample_taps,
    resize_bilinear,
    resize_nearest_neighbor,
)

F32 = np.float32
_TABLE_SIZE = 1024  # ResizeBicubic's table resolution: weights of 1025 fractions k / 1024
_TINY_SUM = F32(1000) * np.finfo(F32).tiny  # a weight sum below this is not normalized


# --- tables ---------------------------------------------------------------------------------
def _scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    """TF's CalculateResizeScale (as of TF 2.x): (in - 1) / (out - 1) under align_corners
    when both sizes exceed 1, else in / out; in float32. (A 1-pixel input with align_corners
    thus scales by in / out, not 0: ResizeArea would divide by 0.)"""
    if align_corners and in_size > 1 and out_size > 1:
        return F32(in_size - 1) / F32(out_size - 1)
    return F32(in_size) / F32(out_size)


def _cubic_table(a: float):
    """TF's bicubic coefficient table, computed in double and stored as float: near[k] is
    the cubic at distance k / 1024 (in [0, 1]), far[k] at 1 + k / 1024 (in [1, 2])."""
    x = np.arange(_TABLE_SIZE + 1, dtype=np.float64) / _TABLE_SIZE
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    x1 = x + 1
    far = ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a
    return near.astype(F32), far.astype(F32)


def _normalize(weight: np.ndarray, tiny_rows: float) -> np.ndarray:
    """Rows divided by their float32 sum, as TF's kernels do (w * (1 / sum)); a row whose
    sum is about 0 is multiplied by `tiny_rows` instead (TF's bicubic keeps it as it is,
    ScaleAndTranslate leaves it empty)."""
    total = np.zeros(len(weight), F32)
    for t in range(weight.shape[1]):  # summed left to right in float32, as the kernels do
        total += weight[:, t]
    ok = np.abs(total) >= _TINY_SUM
    inverse = np.where(ok, F32(1) / np.where(ok, total, F32(1)), F32(tiny_rows))
    return (weight * inverse[:, None]).astype(F32)


def bicubic_taps(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool):
    """(index [out, 4] int32, weight [out, 4] float32) of TF's ResizeBicubic along one axis."""
    scale = _scale(in_size, out_size, align_corners)
    y = np.arange(out_size, dtype=F32)
    src = (y + F32(0.5)) * scale - F32(0.5) if half_pixel_centers else y * scale
    start = np.floor(src)
    offset = np.rint((src - start) * F32(_TABLE_SIZE)).astype(np.int64)  # lrintf: to even
    near, far = _cubic_table(-0.5 if half_pixel_centers else -0.75)
    weight = np.stack([far[offset], near[offset], near[_TABLE_SIZE - offset],
                       far[_TABLE_SIZE - offset]], axis=1)
    rows = start.astype(np.int64)[:, None] + np.arange(-1, 3)
    index = np.clip(rows, 0, in_size - 1)
    if half_pixel_centers:  # Keys' kernel: rows outside the image are dropped, not repeated
        weight = _normalize(np.where(index == rows, weight, F32(0)), 1)
    return index.astype(np.int32), weight


def area_taps(in_size: int, out_size: int, align_corners: bool):
    """(index, weight) of TF's ResizeArea along one axis: output row y averages input
    [y * scale, (y + 1) * scale), each row i weighted by its overlap (TF's case analysis,
    in float32), the rows clamped into the image; the weights include the 1 / scale."""
    scale = _scale(in_size, out_size, align_corners)
    y = np.arange(out_size, dtype=F32)
    lo, hi = y * scale, (y + F32(1)) * scale
    start, end = np.floor(lo).astype(np.int64), np.ceil(hi).astype(np.int64)
    rows = start[:, None] + np.arange(max(int((end - start).max()), 1))
    i, lo, hi = rows.astype(F32), lo[:, None], hi[:, None]
    overlap = np.where(i < lo, np.where(i + 1 > hi, scale, i + 1 - lo),
                       np.where(i + 1 > hi, hi - i, F32(1)))
    weight = np.where(rows < end[:, None], overlap, F32(0)) * (F32(1) / scale)
    return np.clip(rows, 0, in_size - 1).astype(np.int32), weight.astype(F32)


def _lanczos(radius: float):
    pi = F32(3.14159265359)

    def kernel(x):
        safe = np.where(x <= F32(1e-3), F32(1), x)
        value = F32(radius) * np.sin(pi * safe) * np.sin(pi * safe / F32(radius)) \
            / (pi * pi * safe * safe)
        return np.where(x > F32(radius), F32(0), np.where(x <= F32(1e-3), F32(1), value))
    return kernel


def _gaussian(x):
    # sigma = 1.5 / 3 = 0.5; TF evaluates exp in double
    value = np.exp((-x * x).astype(np.float64) / (2.0 * 0.5 * 0.5)).astype(F32)
    return np.where(x >= F32(1.5), F32(0), value)


def _keys_cubic(x):
    far = ((F32(-0.5) * x + F32(2.5)) * x - F32(4)) * x + F32(2)
    near = (F32(1.5) * x - F32(2.5)) * x * x + F32(1)
    return np.where(x >= F32(2), F32(0), np.where(x >= F32(1), far, near))


def _mitchell_cubic(x):
    far = ((F32(-7 / 18) * x + F32(2)) * x - F32(10 / 3)) * x + F32(16 / 9)
    near = (F32(7 / 6) * x - F32(2)) * x * x + F32(8 / 9)
    return np.where(x >= F32(2), F32(0), np.where(x >= F32(1), far, near))


def _triangle(x):
    return np.where(x < F32(1), F32(1) - x, F32(0))


# ScaleAndTranslate's kernels: (function of |distance| in float32, radius)
KERNELS = {"lanczos3": (_lanczos(3), 3), "lanczos5": (_lanczos(5), 5),
           "gaussian": (_gaussian, 1.5), "keyscubic": (_keys_cubic, 2),
           "mitchellcubic": (_mitchell_cubic, 2), "triangle": (_triangle, 1)}


def kernel_taps(kernel: str, in_size: int, out_size: int, antialias: bool):
    """(index, weight) of TF's ScaleAndTranslate along one axis, scale out / in and no
    translation: the spans of ComputeSpansCore, in float32."""
    function, radius = KERNELS[kernel]
    inv_scale = F32(1.0 / np.float64(F32(out_size) / F32(in_size)))
    kernel_scale = max(inv_scale, F32(1)) if antialias else F32(1)
    reach = F32(radius) * kernel_scale
    span = min(2 * int(np.ceil(reach)) + 1, in_size)
    sample = (np.arange(out_size, dtype=F32) + F32(0.5)) * inv_scale
    start = np.clip(np.ceil(sample - reach - F32(0.5)), 0, in_size - 1).astype(np.int64)
    end = np.clip(np.floor(sample + reach - F32(0.5)), 0, in_size - 1).astype(np.int64) + 1
    rows = start[:, None] + np.arange(span)
    position = rows.astype(F32) + F32(0.5) - sample[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = function(np.abs(position * (F32(1) / kernel_scale))).astype(F32)
    weight = _normalize(np.where(rows < end[:, None], weight, F32(0)), 0)
    return np.minimum(rows, in_size - 1).astype(np.int32), weight


# --- graphs ---------------------------------------------------------------------------------
def _float_type(x):
    """The computing (and result) dtype: float64 images stay float64, the rest is float32."""
    return dtypes.float64 if x.dtype is dtypes.float64 else dtypes.float32


def _separable(x, taps_of, name: str):
    """x resized by the per-axis tables taps_of(axis_in, axis_out) -> (index, weight), read
    as image_resize.resample_taps reads taps (block views, slices or gathers)."""
    (h, w, _), ft = hwc(x), _float_type(x)
    return resample_taps(x, taps_of(h, 0), taps_of(w, 1), ft, name)


def resize_bicubic(images, size, align_corners=False, half_pixel_centers=False, name=None):
    """tf.image.resize_bicubic (TF1's ResizeBicubic): Keys' cubic convolution, a = -0.75 on
    clamped rows and columns (legacy), or a = -0.5 with those outside the image dropped and
    the weights renormalized (half_pixel_centers); module docstring. Float32 result (float64
    images stay float64); 4 taps per axis."""
    _check_centers(align_corners, half_pixel_centers)
    x, single = as_batch(images, "resize_bicubic")
    out = _size(size)
    y = _separable(x, lambda n, a: bicubic_taps(n, out[a], align_corners, half_pixel_centers),
                   name or "ResizeBicubic")
    return unbatch(y, single)


def resize_area(images, size, align_corners=False, name=None):
    """tf.image.resize_area (TF1's ResizeArea): each output pixel averages the input area it
    covers, partly covered pixels weighted by their overlap (module docstring). Float32
    result (float64 images stay float64); about in / out + 1 taps per axis."""
    x, single = as_batch(images, "resize_area")
    out = _size(size)
    y = _separable(x, lambda n, a: area_taps(n, out[a], align_corners), name or "ResizeArea")
    return unbatch(y, single)


def scale_and_translate(images, size, kernel, antialias=True, name=None):
    """TF's ScaleAndTranslate with scale size / image size and no translation: `kernel` one
    of KERNELS' names, stretched by in / out when antialias and downscaling."""
    if kernel not in KERNELS:
        raise ValueError(f"Unrecognized kernel type: {kernel!r}; expected one of "
                         f"{sorted(KERNELS)}")
    x, single = as_batch(images, "scale_and_translate")
    out = _size(size)
    y = _separable(x, lambda n, a: kernel_taps(kernel, n, out[a], antialias),
                   name or "ScaleAndTranslate")
    return unbatch(y, single)


# TF2's tf.image.ResizeMethod values; graphc's (TF1) ResizeMethod members name the first four
V2_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
              "mitchellcubic")
_V1_NAMES = {ResizeMethod.BILINEAR: "bilinear", ResizeMethod.NEAREST_NEIGHBOR: "nearest",
             ResizeMethod.BICUBIC: "bicubic", ResizeMethod.AREA: "area"}


def _v2_method(method) -> str:
    if isinstance(method, ResizeMethod):
        return _V1_NAMES[method]
    if isinstance(method, str) and method in V2_METHODS:
        return method
    raise ValueError(f"Resize method is not implemented: {method!r}; expected one of "
                     f"{', '.join(V2_METHODS)} (or a tf.image.ResizeMethod)")


def resize_v2(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False,
              name=None):
    """TF2's tf.image.resize (resize_images_v2): half-pixel centers always.

    bilinear and bicubic are ResizeBilinear / ResizeBicubic with half_pixel_centers, or
    under antialias ScaleAndTranslate's triangle / Keys cubic kernel; nearest is
    ResizeNearestNeighbor with half_pixel_centers (antialias ignored); area is ResizeArea
    (antialias ignored); lanczos3, lanczos5, gaussian and mitchellcubic are always
    ScaleAndTranslate. As TF2, the result is float32 (float64 images stay float64 in graphc)
    except for nearest, which keeps the dtype, and an image is resized even when it already
    has the size."""
    method = _v2_method(method)
    x, single = as_batch(images, "resize")
    new = _size(size)
    if preserve_aspect_ratio:
        h, w, _ = hwc(x)
        new = _aspect_size(h, w, new)
    new = list(new)
    if method == "nearest":
        y = resize_nearest_neighbor(x, new, half_pixel_centers=True, name=name)
    elif method == "area":
        y = resize_area(x, new, name=name)
    elif method == "bilinear" and not antialias:
        y = resize_bilinear(x, new, half_pixel_centers=True, name=name)
    elif method == "bicubic" and not antialias:
        y = resize_bicubic(x, new, half_pixel_centers=True, name=name)
    else:
        kernel = {"bilinear": "triangle", "bicubic": "keyscubic"}.get(method, method)
        y = scale_and_translate(x, new, kernel, antialias=antialias, name=name)
    return unbatch(y, single)


# --- TF1's dispatcher --------------------------------------------------------------------
def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False,
                  preserve_aspect_ratio=False, name=None):
    """tf.image.resize_images (TF1; also tf.image.resize in tf.compat.v1): resize_bilinear,
    resize_nearest_neighbor, resize_bicubic or resize_area by `method`, without half-pixel
    centers as in TF1 (so BICUBIC is TF1's legacy cubic, a = -0.75). As TF1,
    an image already of the asked size is returned as it is (its dtype too)."""
    x, (h, w, _) = _image(images, "resize_images")
    new = _size(size)
    if preserve_aspect_ratio:
        new = _aspect_size(h, w, new)
    method = _NAMED_METHODS.get(method, method)
    resizers = {ResizeMethod.BILINEAR: resize_bilinear,
                ResizeMethod.NEAREST_NEIGHBOR: resize_nearest_neighbor,
                ResizeMethod.BICUBIC: resize_bicubic, ResizeMethod.AREA: resize_area}
    if method not in resizers:
        raise ValueError(f"Resize method is not implemented: {method!r}")  # TF1's message
    if new == (h, w):
        return x
    return resizers[method](x, list(new), align_corners=align_corners, name=name)


resize = resize_images
