"""The dtypes of images: tf.saturate_cast and tf.image.convert_image_dtype.

Images are stored as uint8 (or uint16) and computed on as floats in [0, 1];
`convert_image_dtype` moves between the two as TF does.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor


def saturate_cast(value, dtype, name=None):
    """tf.saturate_cast: `value` cast to `dtype`, values outside dtype's range clamped to
    its ends first (so nothing wraps around), nan to 0 for integer results. Floats cast to
    a narrower float clamp to its finite range."""
    x = convert_to_tensor(value)
    to = dtypes.as_dtype(dtype)
    if x.dtype is to:
        return A.identity(x, name=name or "saturate_cast")
    if x.dtype.kind == "i" or (x.dtype.kind == "f" and to.kind == "f"):
        low, high = max(x.dtype.min, to.min), min(x.dtype.max, to.max)
        if low > x.dtype.min or high < x.dtype.max:
            x = M.minimum(M.maximum(x, _scalar(low, x.dtype)), _scalar(high, x.dtype))
    # float -> int casts saturate (nan -> 0) by themselves (docs/dtypes.md)
    return M.cast(x, to, name=name or "saturate_cast")


def _scalar(value, dtype):
    return constant(value, dtype)


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """tf.image.convert_image_dtype: an image of integer dtype holds values in [0, MAX] of
    its dtype, one of float dtype values in [0, 1]; conversion rescales between them as TF
    does: integers to narrower integers by floor division by the ratio of the ranges (uint16
    65535 -> uint8 255), to wider ones by multiplication; integers to floats by 1 / MAX;
    floats to integers by MAX + 0.5, then a cast (which saturates in graphc whether or not
    `saturate` is asked for: out-of-range values never wrap)."""
    x = convert_to_tensor(image)
    to = dtypes.as_dtype(dtype)
    name = name or "convert_image"
    if to.kind == "b" or x.dtype.kind == "b":
        raise TypeError(f"convert_image_dtype: images are integers or floats, got "
                        f"{x.dtype} -> {to}")
    if x.dtype is to:
        return x
    if x.dtype.kind == "i" and to.kind == "i":
        scale_in, scale_out = int(x.dtype.max), int(to.max)
        if scale_in > scale_out:
            scaled = M.floordiv(x, _scalar((scale_in + 1) // (scale_out + 1), x.dtype))
            return saturate_cast(scaled, to, name) if saturate else M.cast(scaled, to,
                                                                           name=name)
        cast = saturate_cast(x, to) if saturate else M.cast(x, to)
        return M.multiply(cast, _scalar((scale_out + 1) // (scale_in + 1), to), name=name)
    if x.dtype.kind == "f" and to.kind == "f":
        return M.cast(x, to, name=name)
    if x.dtype.kind == "i":
        return M.multiply(M.cast(x, to), _scalar(1.0 / float(x.dtype.max), to), name=name)
    scaled = M.multiply(x, _scalar(float(to.max) + 0.5, x.dtype))
    return saturate_cast(scaled, to, name) if saturate else M.cast(scaled, to, name=name)

