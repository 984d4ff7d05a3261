"""Image files on the host: read and write PNG, JPEG, BMP, GIF and WebP as uint8 numpy
arrays [height, width, channels]. Plain Python around Pillow (the extra graphc[image]), not
graph operations; feed what `read` returns to a placeholder.

Only those five formats are opened, whatever the file holds, so no other decoder (and no
external program) ever runs on a file.
"""

from __future__ import annotations

import numpy as np

from graphc.modalities.files import format_of, optional

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
           ".webp": "WEBP"}
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}   # channels -> Pillow mode


def _pillow():
    return optional("PIL.Image", "reading and writing image files", "'graphc[image]'",
                    "Pillow")


def _format(path) -> str:
    return format_of(path, FORMATS, "image")


def read(path) -> np.ndarray:
    """The pixels of an image file as uint8 [height, width, channels]: 1 channel for
    grayscale, 2 for grayscale with alpha, 3 for RGB, 4 for RGBA (palette images become RGB,
    or RGBA when they have transparency; 16-bit grayscale keeps its high byte). The first
    frame of an animation."""
    image_module = _pillow()
    with image_module.open(path, formats=sorted(set(FORMATS.values()))) as image:
        image.seek(0)
        mode = image.mode
        if mode.startswith("I;16"):
            return (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)[..., None]
        if mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif mode == "1":
            image = image.convert("L")
        elif mode == "PA":
            image = image.convert("RGBA")
        elif mode not in _MODES.values():
            image = image.convert("RGB")
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels.copy()


def write(path, array, quality: int = 95) -> None:
    """Write uint8 pixels [height, width] or [height, width, channels] (1 to 4 channels)
    to `path`, in the format its extension names. JPEG (lossy, at `quality`) takes 1 or 3
    channels; WebP is written lossy at `quality` too; PNG, BMP and GIF are lossless up to
    GIF's 256-colour palette."""
    fmt = _format(path)
    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise TypeError(f"write: image pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1] if pixels.ndim == 3 else 0
    if channels not in _MODES:
        raise ValueError(f"write: expected pixels [height, width] or [height, width, c] with "
                         f"c in 1..4, got shape {np.shape(array)}")
    if fmt == "JPEG" and channels in (2, 4):
        raise ValueError(f"write: JPEG has no alpha channel; got {channels} channels")
    image = _pillow().fromarray(np.ascontiguousarray(pixels), mode=_MODES[channels]) \
        if channels > 1 else _pillow().fromarray(np.ascontiguousarray(pixels))
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image.save(path, format=fmt, **options)
