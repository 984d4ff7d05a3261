"""tf.image geometry: flips, rotations, transposes, crops and pads of [h, w, c] images or
[batch, h, w, c] batches. Each is one slice, reverse, transpose or pad of the image, so it
fuses into its neighbours and costs at most one pass over the output.

Height, width and channels must be known when the graph is built (the batch may be None);
argument errors are ValueErrors with TF's words, raised while the graph is built.
"""

from __future__ import annotations

from graphc.ops import array_ops as A
from graphc.ops.tensor import convert_to_tensor


def as_batch(image, op: str):
    """(the image as a 4-D batch, whether it was a single 3-D image), checking the shape as
    TF's _AssertAtLeast3DImage does, plus graphc's need for static h, w, c."""
    x = convert_to_tensor(image)
    dims = x.shape.as_list() if x.node.rank is not None else None
    if dims is None or len(dims) not in (3, 4):
        raise ValueError(f"'image' (shape {x.shape}) must have either 3 or 4 dimensions.")
    inner = dims[-3:]
    if any(d is None for d in inner):
        raise ValueError(f"{op}: graphc needs the height, width and channels of 'image' "
                         f"known when the graph is built, got shape {x.shape}")
    if any(d <= 0 for d in inner):
        raise ValueError("inner 3 dims of 'image.shape' must be > 0.")
    if len(dims) == 3:
        return A.expand_dims(x, 0), True
    return x, False


def unbatch(x, single: bool):
    """The inverse of as_batch: a 3-D image again when the input was one."""
    return A.squeeze(x, [0]) if single else x


def hwc(batch) -> tuple:
    """The static (height, width, channels) of a 4-D batch."""
    return tuple(batch.shape.as_list()[1:])


def flip_left_right(image):
    """tf.image.flip_left_right: the columns in reverse order (a reversed slice)."""
    x, single = as_batch(image, "flip_left_right")
    return unbatch(A.reverse(x, [2]), single)


def flip_up_down(image):
    """tf.image.flip_up_down: the rows in reverse order (a reversed slice)."""
    x, single = as_batch(image, "flip_up_down")
    return unbatch(A.reverse(x, [1]), single)


def rot90(image, k=1, name=None):
    """tf.image.rot90: the image turned counter-clockwise by k quarter turns (k a Python
    int, taken mod 4): a reverse and a transpose, one pass over the image."""
    if not isinstance(k, int):
        raise TypeError(f"rot90: graphc takes k as a Python int, got {type(k).__name__}")
    x, single = as_batch(image, "rot90")
    k %= 4
    if k == 1:
        x = A.transpose(A.reverse(x, [2]), [0, 2, 1, 3])
    elif k == 2:
        x = A.reverse(x, [1, 2])
    elif k == 3:
        x = A.reverse(A.transpose(x, [0, 2, 1, 3]), [2])
    return unbatch(A.identity(x, name=name or "rot90"), single)


def transpose(image, name=None):
    """tf.image.transpose (TF1 also tf.image.transpose_image): height and width swapped."""
    x, single = as_batch(image, "transpose")
    return unbatch(A.transpose(x, [0, 2, 1, 3], name=name or "transpose"), single)


transpose_image = transpose


def central_crop(image, central_fraction):
    """tf.image.central_crop: the central `central_fraction` (in (0, 1]) of the height and
    width; TF's rounding: int((h - h * fraction) / 2) rows off the top and as many off the
    bottom. One slice."""
    if central_fraction <= 0.0 or central_fraction > 1.0:
        raise ValueError("central_fraction must be within (0, 1]")
    x, single = as_batch(image, "central_crop")
    if central_fraction == 1.0:
        return convert_to_tensor(image)
    h, w, _ = hwc(x)
    top = int((float(h) - float(h) * central_fraction) / 2)
    left = int((float(w) - float(w) * central_fraction) / 2)
    return unbatch(A.slice(x, [0, top, left, 0], [-1, h - 2 * top, w - 2 * left, -1]), single)


def _check(condition: bool, message: str):
    if not condition:
        raise ValueError(message)


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """tf.image.crop_to_bounding_box: the target_height x target_width window whose top-left
    corner is (offset_height, offset_width). One slice; offsets and sizes are Python ints."""
    x, single = as_batch(image, "crop_to_bounding_box")
    h, w, _ = hwc(x)
    _check(offset_width >= 0, "offset_width must be >= 0.")
    _check(offset_height >= 0, "offset_height must be >= 0.")
    _check(target_width > 0, "target_width must be > 0.")
    _check(target_height > 0, "target_height must be > 0.")
    _check(w >= target_width + offset_width, "width must be >= target + offset.")
    _check(h >= target_height + offset_height, "height must be >= target + offset.")
    cropped = A.slice(x, [0, offset_height, offset_width, 0],
                      [-1, target_height, target_width, -1])
    return unbatch(cropped, single)


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """tf.image.pad_to_bounding_box: the image placed at (offset_height, offset_width) in a
    target_height x target_width image of zeros. One pad."""
    x, single = as_batch(image, "pad_to_bounding_box")
    h, w, _ = hwc(x)
    after_h, after_w = target_height - offset_height - h, target_width - offset_width - w
    _check(offset_height >= 0, "offset_height must be >= 0")
    _check(offset_width >= 0, "offset_width must be >= 0")
    _check(after_w >= 0, "width must be <= target - offset")
    _check(after_h >= 0, "height must be <= target - offset")
    padded = A.pad(x, [[0, 0], [offset_height, after_h], [offset_width, after_w], [0, 0]])
    return unbatch(padded, single)


def resize_with_crop_or_pad(image, target_height, target_width):
    """tf.image.resize_with_crop_or_pad (TF1 also resize_image_with_crop_or_pad): the image
    centrally cropped and/or zero-padded to target_height x target_width (TF's offsets:
    crop (size - target) // 2 from the top/left, pad (target - size) // 2 there)."""
    x, single = as_batch(image, "resize_with_crop_or_pad")
    _check(target_width > 0, "target_width must be > 0.")
    _check(target_height > 0, "target_height must be > 0.")
    h, w, _ = hwc(x)
    crop_top, crop_left = max((h - target_height) // 2, 0), max((w - target_width) // 2, 0)
    pad_top, pad_left = max((target_height - h) // 2, 0), max((target_width - w) // 2, 0)
    x = crop_to_bounding_box(x, crop_top, crop_left, min(target_height, h),
                             min(target_width, w))
    x = pad_to_bounding_box(x, pad_top, pad_left, target_height, target_width)
    return unbatch(x, single)


resize_image_with_crop_or_pad = resize_with_crop_or_pad
