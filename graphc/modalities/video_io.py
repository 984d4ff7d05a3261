"""Video files on the host: read and write animated GIF, WebP and PNG (APNG), MP4 and WebM,
as uint8 numpy arrays [frames, height, width, channels]. Plain Python around imageio (the
extra graphc[video]), not graph operations; feed what `read` returns to a placeholder.

GIF, WebP and PNG go through imageio's Pillow plugin alone, so no external program runs.
MP4 and WebM need imageio's ffmpeg plugin (imageio-ffmpeg, in the extra), which runs the
ffmpeg program its wheel brings.

Animated GIF, WebP and PNG store a duration per frame, and their encoders merge identical
consecutive frames into one frame shown for their combined time: `read` returns the frames
the file stores, `read_with_fps` the frames at a constant rate (the merged ones repeated)
with that rate, and `info` the durations without decoding the pictures into arrays.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from graphc.modalities.files import format_of, optional

FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".mp4": "MP4", ".webm": "WEBM"}
FFMPEG_FORMATS = ("MP4", "WEBM")   # through ffmpeg (imageio-ffmpeg)
CODECS = {"MP4": "libx264", "WEBM": "libvpx-vp9"}


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
        raise ImportError(f"video file {str(path)!r}: MP4 and WebM need imageio's ffmpeg "
                          f"plugin: "
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
    that is opaque throughout is dropped; a still PNG or WebP is one frame. These are the
    frames the file stores: see read_with_fps for them at a constant rate."""
    fmt = _format(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"video file {str(path)!r} does not exist")
    if fmt in FFMPEG_FORMATS:
        _ffmpeg(path)
        reader = _imageio().v2.get_reader(str(path), format="FFMPEG")
        with reader:   # (its len() is a huge number while the count is unknown: iterate)
            return _stack(list(reader.iter_data()), path)
    try:
        return _stack(_imageio().v3.imiter(str(path), plugin="pillow"), path)
    except OSError as e:
        raise ValueError(f"video file {str(path)!r} could not be read as {fmt}: {e}") from e


def write(path, frames, fps: float) -> None:
    """Write uint8 frames [frames, height, width] or [frames, height, width, channels]
    (1, 3 or 4 channels) at `fps` frames per second, in the format the extension names:
    GIF (a 256-colour palette per frame; frame times in hundredths of a second: see
    frame_ms), WebP (lossless), PNG (APNG, lossless), MP4 (H.264) and WebM (VP9) through
    ffmpeg (3 channels, lossy). GIF, WebP and PNG store identical consecutive frames once, for their
    combined time (read_with_fps gives them back one per frame time)."""
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
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) \
            or not 0 < fps < math.inf:
        raise ValueError(f"video file {str(path)!r}: fps must be a positive number, got "
                         f"{fps!r}")
    if fmt in FFMPEG_FORMATS:
        _ffmpeg(path)
        _imageio().v2.mimwrite(str(path), list(video), format="FFMPEG", fps=float(fps),
                               codec=CODECS[fmt])
        return
    options = {"lossless": True} if fmt == "WEBP" else {}
    _imageio().v3.imwrite(str(path), video, plugin="pillow", extension=Path(path).suffix.lower(),
                          is_batch=True, duration=frame_ms(fmt, fps), loop=0, **options)


def frame_ms(fmt: str, fps: float) -> float:
    """The duration of one frame at `fps` as `fmt` stores it, in milliseconds: GIF counts
    hundredths of a second, so 1000 / fps rounded to a multiple of 10 ms, at least 10 ms
    (Pillow alone would truncate: 15 fps would become 60 ms, not 70 ms)."""
    if fmt == "GIF":
        return 10.0 * max(1, math.floor(100.0 / fps + 0.5))
    return 1000.0 / fps


class VideoInfo(NamedTuple):
    """What `info` reads from a video file's header and frame headers.

    frames: how many frames `read_with_fps` returns (the constant-rate count);
    height, width: of every frame, in pixels;
    fps: frames per second (None where the file gives no frame times, as a still image);
    durations_ms: how long each frame the file stores shows, in milliseconds, one entry per
    frame `read` returns (None where the file gives no frame times)."""
    frames: int
    height: int
    width: int
    fps: Optional[float]
    durations_ms: Optional[tuple]


def _frame_times(path, fmt):
    """(width, height, stored frame count, durations in ms or None) of a GIF, WebP or
    PNG, through Pillow."""
    image = optional("PIL.Image", f"video file {str(path)!r}", "'graphc[video]'", "Pillow")
    try:
        with image.open(str(path)) as im:
            durations = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                if fmt == "WEBP":   # Pillow reads a WebP frame's time when it decodes it
                    im.load()
                durations.append(im.info.get("duration"))
            size = im.size
    except OSError as e:
        raise ValueError(f"video file {str(path)!r} could not be read as {fmt}: {e}") from e
    if not all(isinstance(d, (int, float)) and d > 0 for d in durations):
        return size, len(durations), None
    return size, len(durations), tuple(float(d) for d in durations)


def _repeats(durations):
    """How many constant-rate frames each stored frame is, and that rate in frames per
    second. The frame time is the longest `shortest duration / n` (n = 1 .. 10) of which
    every duration is a whole multiple, each within 1 ms + 0.5 % (WebP stores whole
    milliseconds), the frame time refined as total time / frame count; when none fits,
    n = 1, the rate then approximate."""
    if durations is None:
        return None, None
    fitted = None
    for n in range(1, 11):
        step = min(durations) / n
        counts = [max(1, math.floor(d / step + 0.5)) for d in durations]
        step = sum(durations) / sum(counts)
        if all(abs(d - c * step) <= 1.0 + 0.005 * d for d, c in zip(durations, counts)):
            fitted = counts
            break
        fitted = fitted or counts
    fps = 1000.0 * sum(fitted) / sum(durations)
    return fitted, float(f"{fps:.10g}")   # (30.0, not the sum's 29.999999999999996)


def _mp4_meta(path):
    _ffmpeg(path)
    reader = _imageio().v2.get_reader(str(path), format="FFMPEG")
    with reader:
        meta = reader.get_meta_data()
        width, height = meta["size"]
        return int(reader.count_frames()), int(height), int(width), float(meta["fps"])


def _existing(path) -> str:
    fmt = _format(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"video file {str(path)!r} does not exist")
    return fmt


def info(path) -> VideoInfo:
    """The frame count (at the constant rate), frame size, frame rate and stored frame
    durations of a video file, without decoding its frames into arrays (MP4: ffmpeg counts
    them)."""
    fmt = _existing(path)
    if fmt in FFMPEG_FORMATS:
        frames, height, width, fps = _mp4_meta(path)
        return VideoInfo(frames, height, width, fps, (1000.0 / fps,) * frames)
    (width, height), stored, durations = _frame_times(path, fmt)
    counts, fps = _repeats(durations)
    return VideoInfo(sum(counts) if counts else stored, height, width, fps, durations)


def read_with_fps(path, max_frames: int = 10_000):
    """(frames, fps): the video at a constant frame rate, uint8 [frames, height, width,
    channels] as `read` gives them, and that rate in frames per second (None where the
    file gives no frame times). A stored frame shown for k frame times comes back k times
    (the frame time: the longest one all the durations are whole multiples of, see
    _repeats). This undoes the encoders' merging of identical consecutive frames, so what
    `write(path, frames, fps)` wrote comes back frame for frame (GIF: at the rate its
    hundredths of a second allow, see frame_ms), unless every frame was held a multiple
    of frames (all in identical pairs, say): the file cannot tell that from a slower
    clip, and the slower one, the same animation, comes back. More than `max_frames`
    frames is a ValueError (a long pause would fill memory)."""
    fmt = _existing(path)
    if fmt in FFMPEG_FORMATS:
        return read(path), _mp4_meta(path)[3]
    _, _, durations = _frame_times(path, fmt)
    counts, fps = _repeats(durations)
    if counts is not None and sum(counts) > max_frames:
        raise ValueError(f"video file {str(path)!r}: {sum(counts)} frames at {fps:.6g} fps "
                         f"is more than max_frames={max_frames}; read the stored frames "
                         f"with read() and their durations with info()")
    frames = read(path)
    if counts is None:
        return frames, None
    if len(counts) != len(frames):
        raise ValueError(f"video file {str(path)!r}: {len(frames)} frames decoded but "
                         f"{len(counts)} frame times read")
    return np.repeat(frames, counts, axis=0), fps
