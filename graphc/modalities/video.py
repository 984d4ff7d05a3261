"""Video as a modality: a clip is a tensor [frames, height, width, channels] (a batch of
clips [batch, frames, height, width, channels]), the frames an image batch for tf.image
(docs/video.md).

Files: `read`, `read_with_fps`, `info` and `write` (graphc/modalities/video_io.py) move
clips between files and uint8 numpy arrays on the host. Graph operations:
- `map_frames(fn, video)`: an image function applied to every frame as one batched graph;
- `resample(video, fps_in, fps_out, method)`: a new frame rate, a gather of frames (and a
  blend of neighbours for "linear") at indices and weights fixed when the graph is built;
- `interpolate(a, b, frames)`: a cross-fade from image a to image b;
- `loop(video, frames)`: the clip repeated to `frames` frames.

Integer clips (uint8) are blended in float32 and come back in their own dtype, rounded
half to even (as tf.round) and saturated; float clips stay float.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.modalities.image_dtype import saturate_cast
from graphc.modalities.video_io import VideoInfo, frame_ms, info, read, read_with_fps, write
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor

__all__ = ["VideoInfo", "frame_ms", "info", "read", "read_with_fps", "write", "map_frames",
           "resample", "frame_count", "source_frames", "interpolate", "loop", "METHODS"]

METHODS = ("nearest", "linear")


def _fps(value, what: str, op: str) -> Fraction:
    """A frame rate as an exact fraction (29.97 is 2997/100, 30000/1001 stays itself)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 < value < math.inf:
        raise ValueError(f"{op}: {what} must be a positive number, got {value!r}")
    return Fraction(value).limit_denominator(1_000_000)


def _count(value, what: str, op: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {what} must be an int >= 1, got {value!r}")
    return int(value)


def _frames(x, axis: int, op: str) -> tuple:
    """(the time axis, normalized; the static frame count > 0) of tensor x."""
    if x.node.rank is None:
        raise ValueError(f"{op}: the rank of '{x.name}' must be known when the graph is built")
    axis = normalize_axis(axis, x.node.rank, f"{op} axis")
    frames = x.shape.as_list()[axis]
    if frames is None:
        raise ValueError(f"{op}: the frame count (axis {axis}) of '{x.name}' must be known "
                         f"when the graph is built, got shape {x.shape}")
    if frames == 0:
        raise ValueError(f"{op}: the video '{x.name}' has no frames (shape {x.shape})")
    return axis, frames


def frame_count(frames: int, fps_in, fps_out) -> int:
    """How many frames `resample` makes: frames * fps_out / fps_in rounded to the nearest
    int, halves up (5 frames from 10 to 25 fps: 12.5 -> 13), and at least 1. Exact for
    rational rates (the rates as fractions with denominators up to 10^6)."""
    frames = _count(frames, "frames", "frame_count")
    fi, fo = _fps(fps_in, "fps_in", "frame_count"), _fps(fps_out, "fps_out", "frame_count")
    return _frame_count(frames, fi, fo)


def _frame_count(frames: int, fi: Fraction, fo: Fraction) -> int:
    return max(1, math.floor(frames * fo / fi + Fraction(1, 2)))


def source_frames(frames: int, fps_in, fps_out):
    """(lower, upper, weight) of each output frame j of `resample`: it shows at time
    j / fps_out, which is input position s = j * fps_in / fps_out (exactly, as fractions);
    lower = floor(s), upper = lower + 1 (both held at the last frame), weight = s - lower,
    the part of `upper` in a linear blend. "nearest" shows `lower`: the input frame on
    screen at that time."""
    frames = _count(frames, "frames", "source_frames")
    fi, fo = _fps(fps_in, "fps_in", "source_frames"), _fps(fps_out, "fps_out", "source_frames")
    return _source_frames(frames, fi, fo)


def _source_frames(frames: int, fi: Fraction, fo: Fraction):
    positions = [j * fi / fo for j in range(_frame_count(frames, fi, fo))]
    lower = np.array([min(math.floor(s), frames - 1) for s in positions], np.int32)
    upper = np.minimum(lower + 1, frames - 1).astype(np.int32)
    weight = np.array([float(s - math.floor(s)) if math.floor(s) < frames - 1 else 0.0
                       for s in positions])
    return lower, upper, weight


def _blend(a, b, weight: np.ndarray, axis: int, dtype, name: str):
    """a * (1 - weight) + b * weight, `weight` (float64, one per index of `axis`) broadcast
    along `axis`; in float32 for integer and half-precision dtypes, then back to `dtype`
    (integers rounded half to even and saturated)."""
    compute = dtype if dtype in (dtypes.float32, dtypes.float64) else dtypes.float32
    shape = [1] * a.node.rank
    shape[axis] = len(weight)
    keep = constant((1.0 - weight).reshape(shape), compute)
    take = constant(weight.reshape(shape), compute)
    mixed = M.add(M.multiply(M.cast(a, compute), keep), M.multiply(M.cast(b, compute), take))
    if dtype.kind == "f":
        return M.cast(mixed, dtype, name=name) if compute is not dtype else \
            A.identity(mixed, name=name)
    return saturate_cast(M.round(mixed), dtype, name=name)


def _check_dtype(x, op: str):
    if x.dtype.kind not in ("f", "i"):
        raise TypeError(f"{op}: '{x.name}' must be an integer or floating-point video, got "
                        f"{x.dtype}")


def resample(video, fps_in, fps_out, method: str = "nearest", axis: int = 0, name=None):
    """The video at a new frame rate: frame_count(T, fps_in, fps_out) frames along `axis`
    (the time axis, of static length T), frame j taken at input position
    s = j * fps_in / fps_out (see source_frames). method="nearest": the frame on screen
    at that time, frame floor(s) (a gather: frames repeat when the rate goes up and are
    dropped when it goes down); "linear": the blend (1 - w) x[floor(s)] + w x[floor(s) + 1],
    w = s - floor(s), the last frame held. uint8 in, uint8 out (rounded half to even,
    saturated); float in, float out. Differentiable for floats."""
    x = convert_to_tensor(video)
    axis, frames = _frames(x, axis, "resample")
    _check_dtype(x, "resample")
    fi, fo = _fps(fps_in, "fps_in", "resample"), _fps(fps_out, "fps_out", "resample")
    if method not in METHODS:
        raise ValueError(f"resample: method must be one of {METHODS}, got {method!r}")
    lower, upper, weight = _source_frames(frames, fi, fo)
    name = name or "resample_video"
    if method == "nearest" or not weight.any():
        return A.gather(x, constant(lower), axis=axis, name=name)
    before = A.gather(x, constant(lower), axis=axis)
    after = A.gather(x, constant(upper), axis=axis)
    return _blend(before, after, weight, axis, x.dtype, name)


def interpolate(a, b, frames: int, name=None):
    """A cross-fade from image `a` to image `b` (same shape and dtype, e.g. [h, w, c]) in
    `frames` frames, [frames, *shape]: frame k is (1 - t) a + t b with t = k / (frames - 1),
    so the first frame is a and the last b (one frame: a alone). uint8 in, uint8 out
    (rounded half to even); float in, float out."""
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    frames = _count(frames, "frames", "interpolate")
    if a.dtype is not b.dtype:
        raise TypeError(f"interpolate: '{a.name}' is {a.dtype} but '{b.name}' is {b.dtype}")
    _check_dtype(a, "interpolate")
    if a.node.rank is None or not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"interpolate: '{a.name}' and '{b.name}' must have the same known "
                         f"rank and shape, got {a.shape} and {b.shape}")
    t = np.arange(frames, dtype=np.float64) / max(frames - 1, 1)
    return _blend(A.expand_dims(a, 0), A.expand_dims(b, 0), t, 0, a.dtype,
                  name or "interpolate")


def loop(video, frames: int, axis: int = 0, name=None):
    """The video played over and over to `frames` frames: frame j is frame j mod T (a
    gather; fewer frames than T cut the clip)."""
    x = convert_to_tensor(video)
    axis, length = _frames(x, axis, "loop")
    frames = _count(frames, "frames", "loop")
    indices = constant(np.arange(frames, dtype=np.int32) % length)
    return A.gather(x, indices, axis=axis, name=name or "loop")


def map_frames(fn, video):
    """fn applied to every frame of `video` as ONE batched graph: `fn` receives all the
    frames as an image batch [frames, height, width, channels] (a batch of clips
    [batch, frames, h, w, c] is folded to [batch * frames, h, w, c] and the results
    unfolded) and must return a tensor (or a tuple or list of tensors) whose first axis is
    still one entry per frame. The tf.image operations take such batches (docs/video.md
    lists them); the random ones draw per call or per frame, as for any image batch."""
    x = convert_to_tensor(video)
    dims = x.shape.as_list() if x.node.rank is not None else None
    if dims is None or len(dims) not in (4, 5):
        raise ValueError(f"map_frames: '{x.name}' must be a video [frames, height, width, "
                         f"channels] or a batch of them [batch, frames, h, w, c], got shape "
                         f"{x.shape}")
    if len(dims) == 4:
        return _each(fn(x), lambda y: _check_frames(y, dims[0], x))
    if any(d is None for d in dims[2:]):
        raise ValueError(f"map_frames: the height, width and channels of '{x.name}' must be "
                         f"known when the graph is built, got shape {x.shape}")
    batch, frames = dims[:2]
    folded = A.reshape(x, [-1] + dims[2:])
    flat = None if batch is None or frames is None else batch * frames
    return _each(fn(folded), lambda y: _unfold(_check_frames(y, flat, x), x, batch, frames))


def _each(out, f):
    if isinstance(out, (tuple, list)):
        return type(out)(f(o) for o in out)
    return f(out)


def _check_frames(y, frames, video):
    y = convert_to_tensor(y)
    first = y.shape.as_list()[0] if y.node.rank else None
    if y.node.rank == 0 or (None not in (first, frames) and first != frames):
        raise ValueError(f"map_frames: the function returned '{y.name}' of shape {y.shape}, "
                         f"but the video '{video.name}' has {frames} frames: the first axis "
                         f"of a result must stay one entry per frame")
    return y


def _unfold(y, video, batch, frames):
    """y [batch * frames, ...] as [batch, frames, ...]."""
    rest = y.shape.as_list()[1:]
    if batch is not None and frames is not None and None not in rest:
        return A.reshape(y, [batch, frames] + rest)
    shape = A.concat([A.shape(video)[:2], A.shape(y)[1:]], 0)
    return A.ensure_shape(A.reshape(y, shape), [batch, frames] + rest)
