"""tf.image color adjustments and image measures.

The color operations work as TF's: integer images are converted to float32 in [0, 1]
(convert_image_dtype), adjusted, and converted back (saturating), so a uint8 image stays a
uint8 image; float16 and float32 images are adjusted in their own dtype. graphc also keeps
float64 images in float64 (TF computes them in float32). Each operation is a handful of
elementwise ops and at most one reduction over the image, fused into one or two passes.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_dtype import convert_image_dtype
from graphc.modalities.image_geometry import as_batch, hwc, unbatch
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops import nn_conv
from graphc.ops.misc_ops import squared_difference
from graphc.ops.tensor import constant, convert_to_tensor

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # TF's weights of red, green and blue


def _as_float(image, keep_half: bool = True):
    """(the image as floats, its dtype): float32/float64 (and float16 where TF keeps it) as
    they are, any other dtype converted to float32 in [0, 1]."""
    x = convert_to_tensor(image)
    kept = (dtypes.float32, dtypes.float64) + ((dtypes.float16,) if keep_half else ())
    return (x if x.dtype in kept else convert_image_dtype(x, dtypes.float32)), x.dtype


def _scalar_like(value, x):
    return M.cast(convert_to_tensor(value), x.dtype)


def _static_channels(x, op: str):
    if x.node.rank is None or x.node.rank < 1 or x.shape.as_list()[-1] is None:
        raise ValueError(f"{op}: graphc needs the channels of 'images' known when the graph "
                         f"is built, got shape {x.shape}")
    return x.shape.as_list()[-1]


def rgb_to_grayscale(images, name=None):
    """tf.image.rgb_to_grayscale: 0.2989 R + 0.5870 G + 0.1140 B over the last axis (kept,
    of size 1), computed in float32 and converted back to the image's dtype as TF does."""
    x = convert_to_tensor(images)
    if _static_channels(x, "rgb_to_grayscale") != 3:
        raise ValueError(f"rgb_to_grayscale: the last dimension of 'images' must be 3 (RGB), "
                         f"got shape {x.shape}")
    flt, orig = _as_float(x, keep_half=False)
    weights = constant(np.asarray(GRAY_WEIGHTS, flt.dtype.np))
    gray = M.reduce_sum(flt * weights, axis=-1, keepdims=True)
    return convert_image_dtype(gray, orig, name=name or "rgb_to_grayscale")


def grayscale_to_rgb(images, name=None):
    """tf.image.grayscale_to_rgb: the one channel repeated three times (a tile)."""
    x = convert_to_tensor(images)
    if _static_channels(x, "grayscale_to_rgb") != 1:
        raise ValueError("Last dimension of a grayscale image should be size 1.")
    return A.tile(x, [1] * (x.node.rank - 1) + [3], name=name or "grayscale_to_rgb")


def adjust_brightness(image, delta):
    """tf.image.adjust_brightness: image + delta in float (integer images in [0, 1]), then
    back to the image's dtype, saturating."""
    flt, orig = _as_float(image)
    return convert_image_dtype(flt + _scalar_like(delta, flt), orig, saturate=True)


def adjust_contrast(images, contrast_factor):
    """tf.image.adjust_contrast: (x - mean) * contrast_factor + mean, the mean taken per
    image and channel over height and width, in float; back to the image's dtype,
    saturating. A reduction and an elementwise pass."""
    x, single = as_batch(images, "adjust_contrast")
    flt, orig = _as_float(x)
    mean = M.reduce_mean(flt, axis=[1, 2], keepdims=True)
    adjusted = (flt - mean) * _scalar_like(contrast_factor, flt) + mean
    return unbatch(convert_image_dtype(adjusted, orig, saturate=True), single)


def adjust_gamma(image, gamma=1, gain=1):
    """tf.image.adjust_gamma: gain * image ** gamma in float (integer images in [0, 1]),
    back to the image's dtype, saturating. gamma must be >= 0."""
    if isinstance(gamma, (int, float)) and gamma < 0:
        raise ValueError("Gamma should be a non-negative real number.")
    flt, orig = _as_float(image)
    adjusted = _scalar_like(gain, flt) * M.pow(flt, _scalar_like(gamma, flt))
    return convert_image_dtype(adjusted, orig, saturate=True)


def per_image_standardization(image):
    """tf.image.per_image_standardization: (x - mean) / max(stddev, 1 / sqrt(N)) per image,
    N = height * width * channels; integer images are cast to float32 (not rescaled), as
    TF. Two reductions and an elementwise pass."""
    x, single = as_batch(image, "per_image_standardization")
    flt = x if x.dtype in (dtypes.float32, dtypes.float64) else M.cast(x, dtypes.float32)
    h, w, c = hwc(x)
    mean = M.reduce_mean(flt, axis=[1, 2, 3], keepdims=True)
    centered = flt - mean
    stddev = M.sqrt(M.reduce_mean(M.square(centered), axis=[1, 2, 3], keepdims=True))
    min_stddev = constant(np.asarray(1.0 / np.sqrt(h * w * c), flt.dtype.np))
    return unbatch(centered / M.maximum(stddev, min_stddev), single)


# --- measures -------------------------------------------------------------------------------
def _diffs(x):
    """Differences of neighbouring rows and of neighbouring columns of a batch."""
    h, w, c = hwc(x)
    dy = A.slice(x, [0, 1, 0, 0], [-1, h - 1, w, c]) - A.slice(x, [0, 0, 0, 0],
                                                               [-1, h - 1, w, c])
    dx = A.slice(x, [0, 0, 1, 0], [-1, h, w - 1, c]) - A.slice(x, [0, 0, 0, 0],
                                                               [-1, h, w - 1, c])
    return dy, dx


def total_variation(images, name=None):
    """tf.image.total_variation: the sum of absolute differences of neighbouring pixels,
    vertically and horizontally: a scalar for one image, one value per image of a batch.
    Computed in the image's dtype, as TF (integer images wrap: cast to float first)."""
    x, single = as_batch(images, "total_variation")
    dy, dx = _diffs(x)
    total = M.add(M.reduce_sum(M.abs(dy), axis=[1, 2, 3]),
                  M.reduce_sum(M.abs(dx), axis=[1, 2, 3]), name=name or "total_variation")
    return A.squeeze(total, [0]) if single else total


def image_gradients(image):
    """tf.image.image_gradients: (dy, dx) of a [batch, h, w, d] batch, the forward
    differences x[i + 1] - x[i] along height and width, 0 in the last row (dy) and column
    (dx), each of the image's shape."""
    x = convert_to_tensor(image)
    if x.node.rank != 4:
        raise ValueError(f"image_gradients expects a 4D tensor [batch_size, h, w, d], not "
                         f"{x.shape}.")
    x, _ = as_batch(x, "image_gradients")
    dy, dx = _diffs(x)
    dy = A.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]])
    dx = A.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]])
    return dy, dx


SOBEL = np.array([[[-1, -2, -1], [0, 0, 0], [1, 2, 1]],      # d/dy
                  [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]])     # d/dx


def sobel_edges(image):
    """tf.image.sobel_edges: [batch, h, w, d, 2], the 3x3 Sobel responses (dy, dx) of each
    channel, the image padded by reflection as TF does: a depthwise convolution, 18 flops
    per output element pair."""
    x = convert_to_tensor(image)
    if x.node.rank != 4:
        raise ValueError(f"sobel_edges expects a 4D tensor [batch_size, h, w, d], not "
                         f"{x.shape}.")
    x, _ = as_batch(x, "sobel_edges")
    h, w, c = hwc(x)
    # filter [3, 3, c, 2]: output channel 2 * ch + k is kernel k on channel ch
    kernels = np.tile(np.transpose(SOBEL, (1, 2, 0))[:, :, None, :], (1, 1, c, 1))
    padded = A.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    out = nn_conv.depthwise_conv2d(padded, constant(kernels.astype(x.dtype.np)),
                                   [1, 1, 1, 1], "VALID")
    return A.reshape(out, [-1, h, w, c, 2])


def psnr(a, b, max_val, name=None):
    """tf.image.psnr: 20 log10(max_val) - 10 log10(mse) per image (mse over height, width
    and channels), in float32 after convert_image_dtype of a, b and max_val (cast to a's
    dtype first), as TF."""
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if a.dtype is not b.dtype:
        raise TypeError(f"psnr: a and b must have the same dtype, got {a.dtype} and {b.dtype}")
    max_val = convert_image_dtype(M.cast(convert_to_tensor(max_val), a.dtype), dtypes.float32)
    a, b = convert_image_dtype(a, dtypes.float32), convert_image_dtype(b, dtypes.float32)
    mse = M.reduce_mean(squared_difference(a, b), axis=[-3, -2, -1])
    ln10 = np.float32(np.log(10.0))
    return M.subtract(20.0 * M.log(max_val) / ln10, np.float32(10 / np.log(10)) * M.log(mse),
                      name=name or "psnr")
