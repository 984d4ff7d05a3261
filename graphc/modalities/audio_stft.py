"""tf.signal's short-time transforms: stft, inverse_stft and inverse_stft_window_fn, on the
frame transforms of audio_fft.py (whose docstring says how they are computed and measured).
An STFT of a length from 512 on runs the blocked two-step form, the window folded into its
first GEMM; shorter ones the direct GEMM, the window folded into its rows. The inverse
scatter-adds the frames' samples into the overlap-add."""

from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.modalities.audio_fft import (
    _arranged_order,
    _blocked_two_step,
    _complex_input,
    _direct,
    _fft_length,
    _fit_last,
    _from_planar,
    _int32,
    _inverse_direct,
    _inverse_two_step,
    _lead_shape,
    _length,
    _planar_input,
    _real_input,
    _two_step,
    _with_last,
    hann_window,
    irfft,
    rfft,
    scatter_samples,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor


def _enclosing_power_of_two(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _static_window(window_fn, frame_length: int, dtype) -> Optional[np.ndarray]:
    """The window's values (ones without window_fn), or None when they are known only at
    run time."""
    if window_fn is None:
        return np.ones(frame_length)
    window = window_fn(frame_length, dtype=dtype)
    value = A.static_value(convert_to_tensor(window))
    return None if value is None else np.asarray(value, np.float64).reshape(frame_length)


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """tf.signal.stft: frames of frame_length samples frame_step apart (padded at the end
    with pad_end, as tf.signal.frame), times window_fn(frame_length), each the rfft of
    fft_length points (default: the smallest power of two >= frame_length):
    [..., frames, fft_length // 2 + 1] complex values."""
    x = _real_input(signals, "stft")
    length = _length(frame_length, "frame_length")
    step = _length(frame_step, "frame_step")
    n = _enclosing_power_of_two(length) if fft_length is None else \
        _fft_length(fft_length, "stft")
    window = _static_window(window_fn, length, x.dtype)
    used = min(length, n)  # samples of each frame the transform sees
    lead = _lead_shape(x)
    x2 = A.reshape(x, [-1, x.shape[-1]])
    total = x.shape[-1]
    frames = -(-total // step) if pad_end else max(0, 1 + (total - length) // step)
    need = (frames - 1) * step + (length if window is None else used)
    if pad_end and need > total:
        x2 = A.pad(x2, [[0, 0], [0, need - total]])
    lead = _with_last(lead, frames) if isinstance(lead, list) else \
        A.concat([lead, constant(np.array([frames], np.int32))], 0)
    starts = np.arange(frames)[:, None] * step
    if window is None:  # a run-time window: frame, multiply, transform
        framed = A.gather(x2, _int32(starts + np.arange(length)[None, :]), axis=1)
        framed = M.multiply(A.reshape(framed, _with_last(lead, length)),
                            window_fn(length, dtype=x.dtype))
        return rfft(framed, n, name=name or "stft")
    plan = _two_step(n)
    if plan is None or frames == 0:
        index = starts + np.arange(used)[None, :]
        framed = A.reshape(A.gather(x2, _int32(index), axis=1), [-1, used])
        y, pairs = _direct(framed, n, window[:used]), _direct(framed, n, window[:used], True)
        return _from_planar(y, n // 2 + 1, lead, name or "stft", pairs)
    y, pairs = _blocked_two_step(x2, frames, step, window, used, *plan)
    return _from_planar(y, n // 2 + 1, lead, name or "stft", pairs)


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """tf.signal.inverse_stft_window_fn: a window_fn for inverse_stft that undoes
    forward_window_fn's overlap-add gain: the forward window divided by the sum of the
    squared windows overlapping each sample, so stft then inverse_stft gives the signal
    back (where frames cover it)."""
    step = _length(frame_step, "frame_step")

    def inverse_window(frame_length, dtype=dtypes.float32):
        length = _length(frame_length, "frame_length")
        forward = forward_window_fn(length, dtype=dtype)
        overlaps = -(-length // step)
        squared = M.square(forward)
        squared = A.pad(squared, [[0, overlaps * step - length]])
        denominator = M.reduce_sum(A.reshape(squared, [overlaps, step]), 0, keepdims=True)
        denominator = A.reshape(A.tile(denominator, [overlaps, 1]), [overlaps * step])
        return M.truediv(forward, denominator[:length], name=name or "inverse_stft_window")
    return inverse_window


def inverse_stft(stfts, frame_length, frame_step, fft_length=None,
                 window_fn=hann_window, name=None):
    """tf.signal.inverse_stft: irfft of each frame, cropped or zero-padded to frame_length,
    times window_fn(frame_length), overlap-added frame_step apart: [..., (frames - 1) *
    frame_step + frame_length] samples. Pass window_fn=inverse_stft_window_fn(frame_step)
    to undo stft's windowing (the default Hann window alone does not)."""
    x = _complex_input(stfts, "inverse_stft")
    if x.shape.ndims < 2 or x.shape[-2] is None:
        raise ShapeError(f"inverse_stft: the frame count of '{x.name}' (its second-last "
                         f"axis) must be known when the graph is built, got {x.shape}")
    length = _length(frame_length, "frame_length")
    step = _length(frame_step, "frame_step")
    n = _enclosing_power_of_two(length) if fft_length is None else \
        _fft_length(fft_length, "inverse_stft")
    frames, bins = int(x.shape[-2]), x.shape[-1]
    dtype = x.real.dtype
    window = _static_window(window_fn, length, dtype)
    lead = x.shape.as_list()[:-2]
    out_length = (frames - 1) * step + length if frames else 0
    if window is None:  # a run-time window: transform, multiply, overlap-add
        framed = M.multiply(_fit_last(irfft(x, n), length), window_fn(length, dtype=dtype))
        position = np.arange(frames)[:, None] * step + np.arange(length)[None, :]
        return _overlap_add(A.reshape(framed, [-1, length]), position.reshape(-1), frames,
                            out_length, lead,
                            name or "inverse_stft")
    used = min(length, n)
    plan = _two_step(n)
    if plan is None:
        planar = getattr(x, "_planar", None)
        y, valid = planar if planar is not None else \
            (A.stack([A.reshape(p, [-1, bins]) for p in (x.real, x.imag)], axis=1), bins)
        width = y.node.shape[-1]
        samples = _inverse_direct(A.reshape(y, [-1, 2 * width]), width, n, valid, used,
                                  window[:used])
        position = np.arange(frames)[:, None] * step + np.arange(used)[None, :]
    else:
        n1, n2 = plan
        t = _arranged_order(n1, n2)
        inside = t < used
        yw, _ = _planar_input(x, n1, n2)
        weights = np.where(inside, window[np.minimum(t, used - 1)], 0.0)
        samples = _inverse_two_step(yw, n1, n2, weights)
        starts = np.arange(frames)[:, None, None] * step
        position = np.where(inside[None], starts + t[None], -1)
    return _overlap_add(samples, position.reshape(-1), frames, out_length, lead,
                        name or "inverse_stft")


def _overlap_add(samples, position: np.ndarray, frames: int, out_length: int, lead, name):
    """Each sample of samples ([B * frames, ...] in the order of `position`) added into
    its place of [B, out_length]; positions -1 are dropped. One scatter-add."""
    per_signal = frames * int(np.prod(samples.node.shape[1:]))
    out = scatter_samples(A.reshape(samples, [-1, per_signal]), position, out_length)
    shape = [-1 if d is None else d for d in lead] + [out_length]
    return A.reshape(out, shape, name=name)
