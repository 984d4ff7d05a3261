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
        return _channels(image, 0)


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
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    _from_pixels(pixels).save(path, format=fmt, **options)


def _from_pixels(pixels: np.ndarray):
    """uint8 [h, w] or [h, w, 1..4] as a Pillow image of the mode its channels name."""
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
    return _pillow().fromarray(np.ascontiguousarray(pixels), mode=_MODES[channels]) \
        if channels > 1 else _pillow().fromarray(np.ascontiguousarray(pixels))


# --- encoded bytes: TF1's tf.image.decode_* / encode_* on the host -----------------------
# graphc has no string tensors: these take and give Python bytes and numpy arrays, run in
# Python (Pillow), and their arrays are what a placeholder is fed.
_MAGIC = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",), "GIF": (b"GIF87a", b"GIF89a"),
          "BMP": (b"BM",), "WEBP": (b"RIFF",)}


def _bytes(contents, op: str) -> bytes:
    if hasattr(contents, "graph") and hasattr(contents, "dtype"):
        raise TypeError(f"{op}: graphc has no string tensors; decode and encode on the host "
                        f"(bytes in, a numpy array out) and feed the array to a placeholder")
    if isinstance(contents, (bytearray, memoryview)):
        contents = bytes(contents)
    if isinstance(contents, np.ndarray) and contents.dtype.kind in "SO" and contents.ndim == 0:
        contents = contents.item()
    if not isinstance(contents, bytes):
        raise TypeError(f"{op}: contents must be the encoded bytes, got "
                        f"{type(contents).__name__}")
    return contents


def _sniff(data: bytes) -> str | None:
    for fmt, heads in _MAGIC.items():
        if any(data.startswith(h) for h in heads) and (fmt != "WEBP" or data[8:12] == b"WEBP"):
            return fmt
    return None


def _decode(data: bytes, op: str, allowed: tuple, channels: int, frames: bool = False):
    if channels not in (0, 1, 2, 3, 4):
        raise ValueError(f"{op}: channels must be 0, 1, 2, 3 or 4, got {channels!r}")
    fmt = _sniff(data)
    if fmt not in allowed:
        raise ValueError(f"{op}: expected {' or '.join(allowed)} data, got "
                         f"{fmt or 'an unknown format'} ({len(data)} bytes)")
    import io
    image_module = _pillow()
    try:
        with image_module.open(io.BytesIO(data), formats=[fmt]) as image:
            count = getattr(image, "n_frames", 1) if frames else 1
            out = []
            for i in range(count):
                image.seek(i)
                out.append(_channels(image, channels))
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{op}: the {fmt} data could not be decoded: {e}") from e
    return np.stack(out) if frames else out[0]


def _channels(image, channels: int) -> np.ndarray:
    """The frame as uint8 [h, w, c]: its own channels (0) or converted to `channels`."""
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        if image.mode.startswith("I;16"):
            return (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)[..., None]
        mode = {"1": "L", "P": "RGBA" if "transparency" in image.info else "RGB",
                "PA": "RGBA"}.get(image.mode, image.mode)
        if mode not in _MODES.values():
            mode = "RGB"
    pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels.copy()


def decode_png(contents, channels: int = 0, dtype=None, name=None) -> np.ndarray:
    """tf.image.decode_png on the host: PNG bytes -> uint8 [height, width, channels] (0: as
    stored; 1, 2, 3, 4: converted)."""
    if dtype not in (None, "uint8", np.uint8) and getattr(dtype, "name", None) != "uint8":
        raise ValueError(f"decode_png: graphc decodes to uint8, got dtype {dtype!r}")
    return _decode(_bytes(contents, "decode_png"), "decode_png", ("PNG",), channels)


def decode_jpeg(contents, channels: int = 0, name=None, **unused) -> np.ndarray:
    """tf.image.decode_jpeg on the host: JPEG bytes -> uint8 [height, width, channels]."""
    return _decode(_bytes(contents, "decode_jpeg"), "decode_jpeg", ("JPEG",), channels)


def decode_bmp(contents, channels: int = 0, name=None) -> np.ndarray:
    """tf.image.decode_bmp on the host: BMP bytes -> uint8 [height, width, channels]."""
    return _decode(_bytes(contents, "decode_bmp"), "decode_bmp", ("BMP",), channels)


def decode_gif(contents, name=None) -> np.ndarray:
    """tf.image.decode_gif on the host: GIF bytes -> uint8 [frames, height, width, 3]."""
    return _decode(_bytes(contents, "decode_gif"), "decode_gif", ("GIF",), 3, frames=True)


def decode_image(contents, channels=None, dtype=None, name=None,
                 expand_animations: bool = True) -> np.ndarray:
    """tf.image.decode_image on the host: PNG, JPEG, BMP, GIF or WebP bytes -> uint8
    [height, width, channels], or [frames, height, width, 3] for a GIF when
    expand_animations (else its first frame)."""
    data = _bytes(contents, "decode_image")
    fmt = _sniff(data)
    if fmt == "GIF" and expand_animations:
        return decode_gif(data)
    return _decode(data, "decode_image", tuple(_MAGIC), channels or 0)


def _encode(image, op: str, fmt: str, **options) -> bytes:
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise TypeError(f"{op}: the image must be uint8, got {pixels.dtype}")
    if pixels.ndim != 3 or pixels.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{op}: expected an image [height, width, 1..4], got shape "
                         f"{list(pixels.shape)}")
    if fmt == "JPEG" and pixels.shape[-1] not in (1, 3):
        raise ValueError(f"{op}: JPEG takes 1 or 3 channels, got {pixels.shape[-1]}")
    import io
    buffer = io.BytesIO()
    _from_pixels(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encode_png(image, compression: int = -1, name=None) -> bytes:
    """tf.image.encode_png on the host: uint8 [height, width, channels] -> PNG bytes
    (compression 0-9, -1 the default level)."""
    if not -1 <= int(compression) <= 9:
        raise ValueError(f"encode_png: compression must be -1 to 9, got {compression}")
    level = 6 if compression == -1 else int(compression)
    return _encode(_host(image, "encode_png"), "encode_png", "PNG", compress_level=level)


def encode_jpeg(image, quality: int = 95, name=None, **unused) -> bytes:
    """tf.image.encode_jpeg on the host: uint8 [height, width, 1 or 3] -> JPEG bytes."""
    if not 0 <= int(quality) <= 100:
        raise ValueError(f"encode_jpeg: quality must be 0 to 100, got {quality}")
    return _encode(_host(image, "encode_jpeg"), "encode_jpeg", "JPEG", quality=int(quality))


def _host(image, op: str):
    if hasattr(image, "graph") and hasattr(image, "dtype"):
        raise TypeError(f"{op}: graphc has no string tensors; run the graph, then encode the "
                        f"numpy array it gives on the host")
    return image
