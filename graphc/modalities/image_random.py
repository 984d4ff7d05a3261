"""tf.image random augmentations: a uniform draw (tf.random_uniform, TF1's seeding: the graph
seed of tf.set_random_seed with the op's `seed`) feeding the deterministic operation.

As TF1, the flips draw one value per image of a 4-D batch (a batch of None images draws
at run time as many as it has); the brightness, contrast, saturation and hue adjustments
draw one value per call, shared by all images of a batch. Each run draws anew; the same
seeds repeat the same draws in a fresh Session.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.modalities.image_color import adjust_brightness, adjust_contrast
from graphc.modalities.image_extra import adjust_hue, adjust_saturation
from graphc.modalities.image_geometry import as_batch
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.random_ops import random_uniform
from graphc.ops.tensor import convert_to_tensor


def _random_flip(image, axis: int, seed, op: str):
    """The image reversed along `axis` (1 rows, 2 columns of a batch) where a uniform draw
    says so: for one image when the draw is < 0.5, for each image of a batch when its draw
    rounds to 1 (> 0.5), as TF1. A select between the image and its reverse."""
    original = convert_to_tensor(image)
    x, single = as_batch(original, op)
    if single:
        flip = M.less(random_uniform([], 0, 1.0, seed=seed), 0.5)
        return M.where(flip, A.reverse(original, [axis - 1]), original, name=op)
    batch = x.shape.as_list()[0]
    draws = random_uniform([batch] if batch is not None else A.shape(x)[:1], 0, 1.0,
                           seed=seed)
    flip = M.greater(A.reshape(draws, [-1, 1, 1, 1]), 0.5)   # round(draw) == 1
    return M.where(flip, A.reverse(x, [axis]), x, name=op)


def random_flip_left_right(image, seed=None):
    """tf.image.random_flip_left_right: flip_left_right with probability 1/2 (per image of
    a batch)."""
    return _random_flip(image, 2, seed, "random_flip_left_right")


def random_flip_up_down(image, seed=None):
    """tf.image.random_flip_up_down: flip_up_down with probability 1/2 (per image of a
    batch)."""
    return _random_flip(image, 1, seed, "random_flip_up_down")


def _check_range(lower, upper):
    if upper <= lower:
        raise ValueError("upper must be > lower.")
    if lower < 0:
        raise ValueError("lower must be non-negative.")


def random_brightness(image, max_delta, seed=None):
    """tf.image.random_brightness: adjust_brightness by a delta uniform in [-max_delta,
    max_delta)."""
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    delta = random_uniform([], -max_delta, max_delta, seed=seed)
    return adjust_brightness(image, delta)


def random_contrast(image, lower, upper, seed=None):
    """tf.image.random_contrast: adjust_contrast by a factor uniform in [lower, upper)."""
    _check_range(lower, upper)
    return adjust_contrast(image, random_uniform([], lower, upper, seed=seed))


def random_saturation(image, lower, upper, seed=None):
    """tf.image.random_saturation: adjust_saturation by a factor uniform in [lower, upper)."""
    _check_range(lower, upper)
    return adjust_saturation(image, random_uniform([], lower, upper, seed=seed))


def random_hue(image, max_delta, seed=None):
    """tf.image.random_hue: adjust_hue by a delta uniform in [-max_delta, max_delta),
    max_delta in [0, 0.5]."""
    if max_delta > 0.5:
        raise ValueError("max_delta must be <= 0.5.")
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    return adjust_hue(image, random_uniform([], -max_delta, max_delta, seed=seed))


def random_crop(value, size, seed=None, name=None):
    """tf.image.random_crop (and tf.random_crop): a `size` slice of `value` at a uniformly
    drawn offset along each axis (0 to dim - size, inclusive; one draw per axis and run).
    Shapes and `size` must be known when the graph is built; each cropped axis is a gather
    at the drawn offset plus 0..size-1, so gradients flow back to the crop's place."""
    x = convert_to_tensor(value)
    shape = x.shape.as_list() if x.shape.ndims is not None else None
    if shape is None or None in shape:
        raise ValueError(f"random_crop: the shape of '{x.name}' must be known when the graph "
                         f"is built, got {x.shape}")
    wanted = A.static_value(convert_to_tensor(size))
    if wanted is None:
        raise ValueError("random_crop: size must be known when the graph is built")
    wanted = [int(s) for s in np.asarray(wanted).reshape(-1)]
    if len(wanted) != len(shape):
        raise ValueError(f"random_crop: size {wanted} must have one entry per dimension of "
                         f"'{x.name}' (shape {shape})")
    bad = [(d, s) for d, s in zip(shape, wanted) if not 0 <= s <= d]
    if bad:
        raise ValueError(f"Need value.shape >= size, got {shape} and {wanted}")
    cut = [axis for axis, (d, s) in enumerate(zip(shape, wanted)) if s < d]
    if not cut:
        return A.identity(x, name=name or "random_crop")
    limits = np.array([shape[a] - wanted[a] + 1 for a in cut], np.float32)
    draws = random_uniform([len(cut)], 0, 1.0, seed=seed)
    offsets = M.cast(M.minimum(M.floor(draws * limits), limits - 1), dtypes.int32)
    out = x
    for i, axis in enumerate(cut):
        rows = offsets[i] + np.arange(wanted[axis], dtype=np.int32)
        out = A.gather(out, rows, axis=axis)
    return A.identity(out, name=name or "random_crop")
