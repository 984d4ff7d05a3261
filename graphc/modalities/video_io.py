"""Video files on the host: read and write animated GIF, WebP and PNG (APNG), and MP4, as
uint8 numpy arrays [frames, height, width, channels]. Plain Python around imageio (the
extra graphc[video]), not graph operations; feed what `read` returns to a placeholder.

GIF, WebP and PNG go through imageio's Pillow plugin alone, so no external program runs.
MP4 needs imageio's ffmpeg plugin (pip install imageio-ffmpeg), which runs the ffmpeg
program it brings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphc.modalities.files import format_of

FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".mp4": "MP4"}


def _imageio():
    try:
        import imageio.v2
        import imageio.v3
    except ImportError as e:
        raise ImportError("reading and writing video files needs imageio: "
                          "pip install 'graphc[video]'") from e
    return imageio


def _ffmpeg(path):
    try:
        import imageio_ffmpeg  # noqa: F401 - only its presence matters
    except ImportError as e:
        raise ImportError(f"video file {str(path)!r}: MP4 needs imageio's ffmpeg plugin: "
                          f"pip install imageio-ffmpeg") from e


def _format(path) -> str:
    return format_of(path, FORMATS, "video")


def _stack(frames, path) -> np.ndarray:
    """Frames of possibly different channel counts (a GIF's frames may be RGB or RGBA) as
    one uint8 array [frames, h, w, c]: when they differ, all RGBA. An alpha channel opaque
    in every frame is dropped (decoders give opaque animations alpha)."""
    frames = [np.asarray(f, np.uint8) for f in frames]
    frames = [f[..., None] if f.ndim == 2 else f for f in frames]
    if not frames:
        raise ValueError(f"video file {str(path)!r} has no frames")
    channels = {f.shape[-1] for f in frames}
    if len(channels) > 1:
        frames = [_to_rgba(f) for f in frames]
    video = np.stack(frames)
    if video.shape[-1] in (2, 4) and (video[..., -1] == 255).all():
        return video[..., :-1].copy()
    return video


def _to_rgba(frame: np.ndarray) -> np.ndarray:
    c = frame.shape[-1]
    color = np.repeat(frame[..., :1], 3, -1) if c in (1, 2) else frame[..., :3]
    alpha = frame[..., -1:] if c in (2, 4) else np.full(frame.shape[:-1] + (1,), 255, np.uint8)
    return np.concatenate([color, alpha], -1)


def read(path) -> np.ndarray:
    """The frames of a video file as uint8 [frames, height, width, channels]: palette
    frames (GIF) become RGB, or RGBA when some frame has transparency; an alpha channel
    that is opaque throughout is dropped; a still PNG or WebP is one frame."""
    fmt = _format(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"video file {str(path)!r} does not exist")
    if fmt == "MP4":
        _ffmpeg(path)
        reader = _imageio().v2.get_reader(str(path), format="FFMPEG")
        with reader:
            return _stack(list(reader), path)
    try:
        return _stack(_imageio().v3.imiter(str(path), plugin="pillow"), path)
    except OSError as e:
        raise ValueError(f"video file {str(path)!r} could not be read as {fmt}: {e}") from e


def write(path, frames, fps: float) -> None:
    """Write uint8 frames [frames, height, width] or [frames, height, width, channels]
    (1, 3 or 4 channels) at `fps` frames per second, in the format the extension names:
    GIF (a 256-colour palette per frame; frame times in hundredths of a second), WebP
    (lossless), PNG (APNG, lossless), MP4 (H.264 through ffmpeg; 3 channels)."""
    fmt = _format(path)
    video = np.asarray(frames)
    if video.dtype != np.uint8:
        raise TypeError(f"video file {str(path)!r}: frames must be uint8, got {video.dtype}")
    if video.ndim == 4 and video.shape[-1] == 1:
        video = video[..., 0]
    if not (video.ndim == 3 or (video.ndim == 4 and video.shape[-1] in (3, 4))) \
            or video.shape[0] == 0:
        raise ValueError(f"video file {str(path)!r}: expected frames [n, h, w] or [n, h, w, "
                         f"c] with n >= 1 and c in (1, 3, 4), got shape {np.shape(frames)}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) or fps <= 0:
        raise ValueError(f"video file {str(path)!r}: fps must be a positive number, got "
                         f"{fps!r}")
    if fmt == "MP4":
        _ffmpeg(path)
        _imageio().v2.mimwrite(str(path), list(video), format="FFMPEG", fps=float(fps))
        return
    options = {"lossless": True} if fmt == "WEBP" else {}
    _imageio().v3.imwrite(str(path), video, plugin="pillow", extension=Path(path).suffix.lower(),
                          is_batch=True, duration=1000.0 / fps, loop=0, **options)
