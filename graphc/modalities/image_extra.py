"""tf.image color spaces (HSV, YUV), the hue and saturation adjustments made through HSV,
and sampling beyond plain resizing: resize_image_with_pad, extract_patches, crop_and_resize
(boxes known only at run time: their sample coordinates are tensor arithmetic feeding
gathers) and ssim.

HSV as TF defines it, all three in [0, 1]: v = max(r, g, b), s = (v - min) / v (0 where v
is 0), and the hue h = ((g - b) / range) / 6 where red is the largest, ((b - r) / range + 2)
/ 6 where green is, ((r - g) / range + 4) / 6 else (range = v - min; h = 0 where range is 0),
wrapped into [0, 1). Back to RGB: with dh = 6 h, each channel is v * (1 - s + s * k(dh)),
k a clipped tent (TF's differentiable formula, equal to its kernel for h in [0, 1)). Each
conversion is elementwise work over the three channels: one fused pass.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_color import _as_float, _scalar_like, _static_channels
from graphc.modalities.image_dtype import convert_image_dtype
from graphc.modalities.image_geometry import as_batch, hwc, pad_to_bounding_box, unbatch
from graphc.modalities.image_resize import ResizeMethod
from graphc.modalities.image_resize_kernels import resize_images
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops import nn_conv
from graphc.ops.tensor import constant, convert_to_tensor, stack

# TF's matrices: yuv = rgb @ RGB_TO_YUV, rgb = yuv @ YUV_TO_RGB (rows r, g, b / y, u, v)
RGB_TO_YUV = ((0.299, -0.14714119, 0.61497538),
              (0.587, -0.28886916, -0.51496512),
              (0.114, 0.43601035, -0.10001026))
YUV_TO_RGB = ((1.0, 1.0, 1.0),
              (0.0, -0.394642334, 2.03206185),
              (1.13988303, -0.58062185, 0.0))


def _float_rgb(images, op: str):
    """The image as a float tensor of 3 channels (TF's HSV and YUV ops take only floats)."""
    x = convert_to_tensor(images)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: images must be float16, float32 or float64, got {x.dtype} "
                        f"(convert_image_dtype it first)")
    if _static_channels(x, op) != 3:
        raise ValueError(f"{op}: the last dimension of 'images' must be 3, got shape "
                         f"{x.shape}")
    return x


def _channels(x):
    return A.unstack(x, num=3, axis=-1)


def _hsv(x):
    """(h, s, v) of float RGB x (module docstring)."""
    r, g, b = _channels(x)
    zero, one = _scalar_like(0, x), _scalar_like(1, x)
    value = M.maximum(M.maximum(r, g), b)
    spread = value - M.minimum(M.minimum(r, g), b)
    positive = M.greater(spread, zero)
    saturation = M.where(M.greater(value, zero),
                         spread / M.where(M.greater(value, zero), value, one), zero)
    safe = M.where(positive, spread, one)
    hue = M.where(M.equal(r, value), (g - b) / safe,
                  M.where(M.equal(g, value), (b - r) / safe + _scalar_like(2, x),
                          (r - g) / safe + _scalar_like(4, x)))
    hue = M.where(positive, hue / _scalar_like(6, x), zero)
    hue = M.where(M.less(hue, zero), hue + one, hue)
    return hue, saturation, value


def _rgb(hue, saturation, value):
    """RGB (stacked on the last axis) of h, s, v: v * (1 - s + s * k), k the clipped tents
    |dh - 3| - 1 (red), 2 - |dh - 2| (green), 2 - |dh - 4| (blue) of dh = 6 h."""
    x = hue
    dh = hue * _scalar_like(6, x)
    zero, one, two = _scalar_like(0, x), _scalar_like(1, x), _scalar_like(2, x)
    tents = [M.abs(dh - _scalar_like(3, x)) - one, two - M.abs(dh - two),
             two - M.abs(dh - _scalar_like(4, x))]
    base = one - saturation
    return stack([value * (base + saturation * M.clip_by_value(k, zero, one)) for k in tents],
                 axis=-1)


def rgb_to_hsv(images, name=None):
    """tf.image.rgb_to_hsv: float RGB images to HSV, each in [0, 1] (module docstring)."""
    x = _float_rgb(images, "rgb_to_hsv")
    return A.identity(stack(list(_hsv(x)), axis=-1), name=name or "rgb_to_hsv")


def hsv_to_rgb(images, name=None):
    """tf.image.hsv_to_rgb: float HSV images (h in [0, 1)) to RGB."""
    x = _float_rgb(images, "hsv_to_rgb")
    return A.identity(_rgb(*_channels(x)), name=name or "hsv_to_rgb")


def _matrix_product(x, matrix, name):
    m = constant(np.asarray(matrix, x.dtype.np))
    return A.identity(M.tensordot(x, m, [[x.node.rank - 1], [0]]), name=name)


def rgb_to_yuv(images):
    """tf.image.rgb_to_yuv: float RGB images times TF's 3x3 matrix (RGB_TO_YUV)."""
    return _matrix_product(_float_rgb(images, "rgb_to_yuv"), RGB_TO_YUV, "rgb_to_yuv")


def yuv_to_rgb(images):
    """tf.image.yuv_to_rgb: float YUV images times TF's inverse matrix (YUV_TO_RGB)."""
    return _matrix_product(_float_rgb(images, "yuv_to_rgb"), YUV_TO_RGB, "yuv_to_rgb")


def _adjust_hsv(image, op, adjust):
    """Integer images to float32 in [0, 1] (float16/32/64 kept), RGB -> HSV, adjust(h, s,
    v) -> (h, s, v), back to RGB and to the image's dtype, as TF's fused kernels."""
    x = convert_to_tensor(image)
    if _static_channels(x, op) != 3:
        raise ValueError(f"{op}: the last dimension of 'image' must be 3 (RGB), got shape "
                         f"{x.shape}")
    flt, orig = _as_float(x)
    return convert_image_dtype(_rgb(*adjust(*_hsv(flt))), orig)


def adjust_saturation(image, saturation_factor, name=None):
    """tf.image.adjust_saturation: the HSV saturation times `saturation_factor`, clipped to
    [0, 1]."""
    def scale(h, s, v):
        return h, M.clip_by_value(s * _scalar_like(saturation_factor, s), _scalar_like(0, s),
                                  _scalar_like(1, s)), v
    return A.identity(_adjust_hsv(image, "adjust_saturation", scale),
                      name=name or "adjust_saturation")


def adjust_hue(image, delta, name=None):
    """tf.image.adjust_hue: `delta` (in [-1, 1]) added to the HSV hue, wrapped into [0, 1)."""
    if isinstance(delta, (int, float)) and not -1 <= delta <= 1:
        raise ValueError(f"adjust_hue: delta must be in the interval [-1, 1], got {delta}")

    def rotate(h, s, v):
        shifted = h + _scalar_like(delta, h)
        return shifted - M.floor(shifted), s, v
    return A.identity(_adjust_hsv(image, "adjust_hue", rotate), name=name or "adjust_hue")



# --- resizing with padding, patches, crops of boxes, ssim -------------------------------------
def _positive(value: int, what: str):
    if value <= 0:
        raise ValueError(f"{what} must be > 0")


def resize_image_with_pad(image, target_height, target_width, method=ResizeMethod.BILINEAR,
                          align_corners=False):
    """tf.image.resize_image_with_pad (also resize_with_pad, with TF1's resizing): the image
    resized keeping its aspect ratio to fit target_height x target_width, then centred in
    zeros. TF's float32 arithmetic: ratio = max(w / target_w, h / target_h), the resized
    size floor(h / ratio) x floor(w / ratio), int((target - h / ratio) / 2) rows of zeros
    on top (columns alike)."""
    x, single = as_batch(image, "resize_image_with_pad")
    _positive(target_width, "target_width")
    _positive(target_height, "target_height")
    h, w, _ = hwc(x)
    f32 = np.float32
    ratio = max(f32(w) / f32(target_width), f32(h) / f32(target_height))
    sizes = [f32(h) / ratio, f32(w) / ratio]
    top, left = (max(0, int((f32(t) - s) / f32(2))) for t, s in
                 zip((target_height, target_width), sizes))
    resized = resize_images(x, [int(np.floor(s)) for s in sizes], method, align_corners)
    return unbatch(pad_to_bounding_box(resized, top, left, target_height, target_width), single)


resize_with_pad = resize_image_with_pad


def _window(values, what: str) -> tuple:
    values = [int(v) for v in values] if values is not None else []
    if len(values) != 4 or values[0] != 1 or values[3] != 1 or min(values) < 1:
        raise ValueError(f"extract_patches: {what} must be [1, rows, cols, 1] of positive "
                         f"ints, got {values}")
    return values[1], values[2]


def _patch_indices(size: int, k: int, stride: int, rate: int, padding: str):
    """([out, k] rows of the padded image that each patch reads, pad before, pad after): TF's
    VALID (out = ceil((size - span + 1) / stride)) and SAME (out = ceil(size / stride), the
    padding split with the smaller half first), span = k + (k - 1) (rate - 1)."""
    span = k + (k - 1) * (rate - 1)
    if padding == "VALID":
        out, before, after = (size - span) // stride + 1, 0, 0
    else:
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        before, after = total // 2, total - total // 2
    if out <= 0:
        raise ValueError(f"extract_patches: a patch spanning {span} does not fit in {size} "
                         f"with VALID padding")
    rows = np.arange(out)[:, None] * stride + np.arange(k)[None, :] * rate
    return rows.astype(np.int32), before, after


def extract_patches(images, sizes, strides, rates, padding, name=None):
    """tf.image.extract_patches: each sizes[1] x sizes[2] patch (its rows `rates[1]` apart,
    columns alike) of a 4-D batch, every `strides` rows and columns, flattened into the
    last axis in TF's order (patch row, patch column, channel): [batch, out_rows,
    out_cols, rows * cols * channels]. A pad and two gathers."""
    x = convert_to_tensor(images)
    if x.node.rank != 4:
        raise ValueError(f"extract_patches: images must be 4-D [batch, h, w, c], got shape "
                         f"{x.shape}")
    if padding not in ("VALID", "SAME"):
        raise ValueError(f"extract_patches: padding must be 'VALID' or 'SAME', got {padding!r}")
    x, _ = as_batch(x, "extract_patches")
    h, w, c = hwc(x)
    (kh, kw), (sh, sw), (rh, rw) = (_window(v, n) for v, n in
                                    ((sizes, "sizes"), (strides, "strides"), (rates, "rates")))
    rows, top, bottom = _patch_indices(h, kh, sh, rh, padding)
    cols, left, right = _patch_indices(w, kw, sw, rw, padding)
    padded = A.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    y = A.gather(A.gather(padded, constant(rows), axis=1), constant(cols), axis=3)
    y = A.transpose(y, [0, 1, 3, 2, 4, 5])          # [b, out_r, out_c, kh, kw, c]
    return A.reshape(y, [-1, len(rows), len(cols), kh * kw * c],
                     name=name or "ExtractImagePatches")


def extract_image_patches(images, ksizes=None, strides=None, rates=None, padding=None,
                          name=None, sizes=None):
    """tf.image.extract_image_patches: TF1's name of extract_patches (`ksizes` or `sizes`)."""
    return extract_patches(images, ksizes if ksizes is not None else sizes, strides, rates,
                           padding, name)


def _sample_coords(low, high, size: int, crop: int):
    """[boxes, crop] source coordinates of TF's CropAndResize: low * (size - 1) + i * (high -
    low) * (size - 1) / (crop - 1), or the box's centre when crop is 1."""
    if crop > 1:
        scale = (high - low) * _scalar_like((size - 1) / (crop - 1), low)
        steps = constant(np.arange(crop, dtype=low.dtype.np)[None, :])
        return A.expand_dims(low * _scalar_like(size - 1, low), 1) + steps * A.expand_dims(
            scale, 1)
    return A.expand_dims(_scalar_like(0.5 * (size - 1), low) * (low + high), 1)


def _crop_size(crop_size) -> tuple:
    values = crop_size if isinstance(crop_size, (list, tuple)) else \
        A.static_value(convert_to_tensor(crop_size))
    if values is None or len(values) != 2 or min(int(v) for v in values) <= 0:
        raise ValueError(f"crop_and_resize: graphc needs crop_size as 2 positive ints known "
                         f"when the graph is built, got {crop_size!r}")
    return int(values[0]), int(values[1])


def crop_and_resize(image, boxes, box_ind=None, crop_size=None, method="bilinear",
                    extrapolation_value=0, name=None, box_indices=None):
    """tf.image.crop_and_resize: for each box [y1, x1, y2, x2] (normalized, run-time) of
    image[box_indices[k]], a crop_size grid of samples (_sample_coords), bilinear (two
    lerps of four gathered pixels) or nearest (coordinates rounded half up); samples
    outside the image are extrapolation_value. float32 [boxes, crop_h, crop_w, channels]
    (float64 for float64 images); differentiable in the image and the boxes."""
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method must be either 'bilinear' or 'nearest', got {method!r}")
    x = convert_to_tensor(image)
    if x.node.rank != 4:
        raise ValueError(f"crop_and_resize: image must be 4-D, got shape {x.shape}")
    x, _ = as_batch(x, "crop_and_resize")
    h, w, c = hwc(x)
    crop_h, crop_w = _crop_size(crop_size)
    indices = M.cast(box_indices if box_indices is not None else box_ind, "int32")
    ft = dtypes.float64 if x.dtype is dtypes.float64 else dtypes.float32
    y1, x1, y2, x2 = A.unstack(M.cast(boxes, ft), num=4, axis=1)
    in_y, in_x = _sample_coords(y1, y2, h, crop_h), _sample_coords(x1, x2, w, crop_w)
    flat = A.reshape(M.cast(x, ft), [-1, c])
    base = A.reshape(indices * (h * w), [-1, 1, 1])

    def pixels(rows, cols):       # [boxes, crop_h] and [boxes, crop_w] float coordinates
        rows = M.cast(M.clip_by_value(rows, 0.0, float(h - 1)), "int32")
        cols = M.cast(M.clip_by_value(cols, 0.0, float(w - 1)), "int32")
        return A.gather(flat, base + A.expand_dims(rows * w, 2) + A.expand_dims(cols, 1))

    if method == "nearest":
        value = pixels(M.floor(in_y + 0.5), M.floor(in_x + 0.5))
    else:
        top, left = M.floor(in_y), M.floor(in_x)
        dy = A.reshape(in_y - top, [-1, crop_h, 1, 1])
        dx = A.reshape(in_x - left, [-1, 1, crop_w, 1])
        bottom, right = M.ceil(in_y), M.ceil(in_x)
        upper = pixels(top, left) + (pixels(top, right) - pixels(top, left)) * dx
        lower = pixels(bottom, left) + (pixels(bottom, right) - pixels(bottom, left)) * dx
        value = upper + (lower - upper) * dy
    inside_y = M.logical_and(M.greater_equal(in_y, 0.0), M.less_equal(in_y, float(h - 1)))
    inside_x = M.logical_and(M.greater_equal(in_x, 0.0), M.less_equal(in_x, float(w - 1)))
    inside = M.logical_and(A.reshape(inside_y, [-1, crop_h, 1, 1]),
                           A.reshape(inside_x, [-1, 1, crop_w, 1]))
    return M.where(inside, value, _scalar_like(extrapolation_value, value),
                   name=name or "CropAndResize")


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    """TF's _fspecial_gauss: exp(-(i^2 + j^2) / (2 sigma^2)) normalized to sum 1, i and j
    from the window's centre, as a [size, size, 1, 1] filter."""
    coords = np.arange(size, dtype=np.float32) - np.float32(size - 1) / 2
    g = np.square(coords) * np.float32(-0.5 / sigma ** 2)
    g = g[None, :] + g[:, None]
    g = np.exp(g - g.max())
    return (g / g.sum()).astype(np.float32).reshape(size, size, 1, 1)


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """tf.image.ssim: the structural similarity of two images per image, TF's definition:
    luminance (2 m1 m2 + c1) / (m1^2 + m2^2 + c1) times contrast-structure (2 s12 + c2) /
    (s1^2 + s2^2 + c2), the means m and (co)variances s taken under a Gaussian window
    (filter_size, filter_sigma; VALID convolution), c1 = (k1 max_val)^2, c2 = (k2
    max_val)^2, averaged over positions and channels. Computed in float32 after
    convert_image_dtype, as psnr. Four depthwise convolutions."""
    a, b = convert_to_tensor(img1), convert_to_tensor(img2)
    if a.dtype is not b.dtype:
        raise TypeError(f"ssim: img1 and img2 must have the same dtype, got {a.dtype} and "
                        f"{b.dtype}")
    max_val = convert_image_dtype(M.cast(convert_to_tensor(max_val), a.dtype), "float32")
    (a, single), (b, _) = as_batch(a, "ssim"), as_batch(b, "ssim")
    h, w, c = hwc(a)
    if hwc(b) != (h, w, c) or min(h, w) < filter_size:
        raise ValueError(f"ssim: the images must be of one shape, at least filter_size "
                         f"({filter_size}) high and wide; got {a.shape} and {b.shape}")
    a, b = convert_image_dtype(a, "float32"), convert_image_dtype(b, "float32")
    window = constant(np.tile(_gaussian_window(filter_size, filter_sigma), (1, 1, c, 1)))

    def mean(t):
        return nn_conv.depthwise_conv2d(t, window, [1, 1, 1, 1], "VALID")

    c1, c2 = M.square(k1 * max_val), M.square(k2 * max_val)
    mean_a, mean_b = mean(a), mean(b)
    num0 = mean_a * mean_b * 2.0
    den0 = M.square(mean_a) + M.square(mean_b)
    luminance = (num0 + c1) / (den0 + c1)
    cs = (mean(a * b) * 2.0 - num0 + c2) / (mean(M.square(a) + M.square(b)) - den0 + c2)
    value = M.reduce_mean(luminance * cs, axis=[1, 2, 3])
    return A.squeeze(value, [0]) if single else value
