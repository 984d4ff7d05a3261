"""tf.image: images as tensors ([height, width, channels], or a batch of them), and image
files on the host (docs/image.md).

Images are stored as uint8 (or uint16) and computed on as floats in [0, 1];
`convert_image_dtype` moves between the two as TF does. The image operations are
compositions of graphc's primitives (slices, gathers, pads, elementwise math, reductions,
a depthwise convolution), so they fuse and differentiate like any graph. Names of TF's
tf.image that graphc lacks raise an AttributeError saying so (graphc/unsupported.py).
`read` and `write` are plain Python functions for image files (not TF names).
"""

from __future__ import annotations

from graphc import unsupported as _unsupported
from graphc.modalities.image_color import (  # noqa: F401
    adjust_brightness,
    adjust_contrast,
    adjust_gamma,
    grayscale_to_rgb,
    image_gradients,
    per_image_standardization,
    psnr,
    rgb_to_grayscale,
    sobel_edges,
    total_variation,
)
from graphc.modalities.image_dtype import convert_image_dtype, saturate_cast  # noqa: F401
from graphc.modalities.image_extra import (  # noqa: F401
    adjust_hue,
    adjust_saturation,
    crop_and_resize,
    extract_image_patches,
    extract_patches,
    hsv_to_rgb,
    resize_image_with_pad,
    resize_with_pad,
    rgb_to_hsv,
    rgb_to_yuv,
    ssim,
    yuv_to_rgb,
)
from graphc.modalities.image_geometry import (  # noqa: F401
    central_crop,
    crop_to_bounding_box,
    flip_left_right,
    flip_up_down,
    pad_to_bounding_box,
    resize_image_with_crop_or_pad,
    resize_with_crop_or_pad,
    rot90,
    transpose,
    transpose_image,
)
from graphc.modalities.image_io import (  # noqa: F401  (host side: bytes and numpy arrays)
    decode_bmp,
    decode_gif,
    decode_image,
    decode_jpeg,
    decode_png,
    encode_jpeg,
    encode_png,
    read,
    write,
)
from graphc.modalities.image_random import (  # noqa: F401
    random_brightness,
    random_contrast,
    random_crop,
    random_flip_left_right,
    random_flip_up_down,
    random_hue,
    random_saturation,
)
from graphc.modalities.image_resize import (  # noqa: F401
    ResizeMethod,
    resize_bilinear,
    resize_nearest_neighbor,
)
from graphc.modalities.image_resize_kernels import (  # noqa: F401
    resize,
    resize_area,
    resize_bicubic,
    resize_images,
    resize_v2,
)

__getattr__ = _unsupported.module_getattr(__name__, "tf.image")
