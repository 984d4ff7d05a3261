"""tf.signal: framing, windows, overlap-add, the DCT and mel filterbanks for audio.

Every op is a composition of graphc's primitives over real tensors: framing is one gather
at a constant index matrix, overlap-add one scatter-add, the DCT a matmul with a constant
cosine matrix (the transform sizes audio uses, tens to a few hundred points, are small
enough that the GEMM is fast), windows and mel filterbanks constants computed when the
graph is built. Lengths, frame sizes and steps must be known when the graph is built.
The Fourier transforms (fft, rfft, stft, inverse_stft, ...) are in audio_fft.py, on complex
values carried as pairs of real tensors (graphc/framework/complex_tensor.py), and
griffin_lim in audio_griffin_lim.py; this module exports them. Names of TF's tf.signal
that graphc lacks raise an AttributeError saying so (graphc/unsupported.py).
"""

from __future__ import annotations

import numpy as np

from graphc import unsupported as _unsupported
from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.modalities.audio_fft import (  # noqa: F401 (tf.signal's)
    _float_dtype,
    _length,
    fft,
    fft2d,
    hamming_window,
    hann_window,
    ifft,
    ifft2d,
    irfft,
    irfft2d,
    rfft,
    rfft2d,
    scatter_samples,
)
from graphc.modalities.audio_griffin_lim import griffin_lim  # noqa: F401 (not a TF name)
from graphc.modalities.audio_resample import resample  # noqa: F401 (not a TF name)
from graphc.modalities.audio_stft import (  # noqa: F401 (tf.signal's)
    inverse_stft,
    inverse_stft_window_fn,
    stft,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor


# --- framing ----------------------------------------------------------------------------------
def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """tf.signal.frame: the signal cut along `axis` into frames of frame_length samples,
    frame_step apart, giving shape [..., frames, frame_length, ...]. Without pad_end the
    frames that fit (1 + (n - frame_length) // frame_step, at least 0); with it, ceil(n /
    frame_step) frames, the end padded with pad_value. One gather at a constant index
    matrix."""
    x = convert_to_tensor(signal)
    length, step = _length(frame_length, "frame_length"), _length(frame_step, "frame_step")
    if x.node.rank is None or x.node.rank == 0:
        raise ValueError(f"frame: the signal '{x.name}' must have known rank >= 1, got "
                         f"shape {x.shape}")
    axis = normalize_axis(int(axis), x.node.rank, "frame axis")
    n = x.node.shape[axis]
    if n is None:
        raise ValueError(f"frame: the length of axis {axis} of '{x.name}' must be known "
                         f"when the graph is built, got shape {x.shape}")
    if pad_end:
        frames = -(-n // step)
        extra = max(0, (frames - 1) * step + length - n)
        if extra:
            pads = [[0, 0]] * x.node.rank
            pads[axis] = [0, extra]
            x = A.pad(x, pads, constant_values=pad_value)
    else:
        frames = max(0, 1 + (n - length) // step)
    index = np.arange(frames)[:, None] * step + np.arange(length)[None, :]
    return A.gather(x, constant(index.astype(np.int32)), axis=axis, name=name or "frame")


def overlap_and_add(signal, frame_step, name=None):
    """tf.signal.overlap_and_add: frames [..., frames, frame_length] added back into one
    signal [..., (frames - 1) * frame_step + frame_length], overlapping samples summed. One
    scatter-add of every sample to its position."""
    x = convert_to_tensor(signal)
    step = _length(frame_step, "frame_step")
    shape = x.node.shape
    if shape is None or len(shape) < 2 or shape[-1] is None or shape[-2] is None:
        raise ValueError(f"overlap_and_add: the signal '{x.name}' must have rank >= 2 and "
                         f"known frame count and frame length, got shape {x.shape}")
    frames, length = shape[-2], shape[-1]
    if step > length:
        raise ValueError(f"overlap_and_add: frame_step {step} must be at most frame_length "
                         f"{length}")
    out_length = (frames - 1) * step + length if frames else 0
    position = (np.arange(frames)[:, None] * step + np.arange(length)[None, :]).reshape(-1)
    summed = scatter_samples(A.reshape(x, [-1, frames * length]), position, out_length)
    batch = [-1 if d is None else d for d in shape[:-2]]
    return A.reshape(summed, batch + [out_length], name=name or "overlap_and_add")


# --- the discrete cosine transform ------------------------------------------------------------
def dct_matrix(n: int, dct_type: int, norm, np_dtype) -> np.ndarray:
    """The [n, n] matrix M with y = x @ M for TF's DCT of type 2 or 3 (norm None or
    'ortho'), computed in float64."""
    k = np.arange(n)
    cos = np.cos(np.pi * np.outer(2 * k + 1, k) / (2.0 * n))  # [sample, frequency]
    if dct_type == 2:
        m = 2.0 * cos
        if norm == "ortho":
            m = m * np.where(k == 0, np.sqrt(1.0 / (4 * n)), np.sqrt(1.0 / (2 * n)))[None, :]
    else:  # type 3, the inverse of type 2 (up to 2n without norm)
        scale = np.where(k == 0, 1.0, 2.0)
        if norm == "ortho":
            scale = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
        m = (cos * scale[None, :]).T  # [frequency, sample]
    return m.astype(np_dtype)


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002 - TF's names
    """tf.signal.dct of type 2 or 3 along the last axis, norm None or "ortho", as TF
    defines them (type 2 unnormalized: y[k] = 2 sum x[i] cos(pi k (2i + 1) / 2N)); `n`
    truncates or zero-pads the last axis first. A matmul with a constant matrix."""
    x = convert_to_tensor(input)
    if x.dtype.kind != "f":
        raise ValueError(f"dct: the input must be floating point, got '{x.name}' of dtype "
                         f"{x.dtype}")
    if type not in (2, 3):
        raise NotImplementedError(f"dct: type {type} is not supported (graphc has types 2 "
                                  "and 3)")
    if norm not in (None, "ortho"):
        raise ValueError(f"dct: norm must be None or 'ortho', got {norm!r}")
    if axis not in (-1, None) and (x.node.rank is None or axis != x.node.rank - 1):
        raise NotImplementedError("dct: only the last axis is supported, as in TF")
    size = x.node.shape[-1] if x.node.shape else None
    if size is None:
        raise ValueError(f"dct: the last axis of '{x.name}' must be known, got {x.shape}")
    if n is not None:
        n = _length(n, "dct n")
        if n < size:
            x = x[..., :n]
        elif n > size:
            x = A.pad(x, [[0, 0]] * (x.node.rank - 1) + [[0, n - size]])
        size = n
    m = constant(dct_matrix(size, type, norm, x.dtype.np))
    flat = A.reshape(x, [-1, size])
    out = M.matmul(flat, m)
    lead = [-1 if d is None else d for d in x.node.shape[:-1]]
    return A.reshape(out, lead + [size], name=name or "dct")


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """tf.signal.idct: the inverse of dct of `type` (a DCT of the other type; without
    norm, scaled by 1 / 2N as TF's)."""
    other = 3 if type == 2 else 2
    if type not in (2, 3):
        raise NotImplementedError(f"idct: type {type} is not supported (graphc has 2 and 3)")
    out = dct(input, other, n, axis, norm, name=None)
    if norm == "ortho":
        return A.identity(out, name=name or "idct")
    size = out.node.shape[-1]
    return M.multiply(out, constant(np.asarray(0.5 / size, out.dtype.np)), name=name or "idct")


# --- mel scale ----------------------------------------------------------------------------------
def _hertz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype=dtypes.float32, name=None):
    """tf.signal.linear_to_mel_weight_matrix: the [num_spectrogram_bins, num_mel_bins]
    matrix of triangular filters on the HTK mel scale (mel = 1127 ln(1 + f / 700)), as TF
    builds it (bin 0, DC, weighs nothing); a constant computed in float64."""
    bins, mels = _length(num_spectrogram_bins, "num_spectrogram_bins"), \
        _length(num_mel_bins, "num_mel_bins")
    rate = float(sample_rate)
    low, high = float(lower_edge_hertz), float(upper_edge_hertz)
    if rate <= 0 or low < 0 or low >= high or high > rate / 2:
        raise ValueError(f"linear_to_mel_weight_matrix: need sample_rate > 0 and 0 <= "
                         f"lower_edge_hertz < upper_edge_hertz <= sample_rate / 2, got "
                         f"{rate}, {low}, {high}")
    d = _float_dtype(dtype, "linear_to_mel_weight_matrix")
    frequencies = np.linspace(0.0, rate / 2, bins)[1:]
    spectrum = _hertz_to_mel(frequencies)[:, None]
    edges = np.linspace(_hertz_to_mel(low), _hertz_to_mel(high), mels + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (spectrum - lower) / (center - lower)
    falling = (upper - spectrum) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights = np.concatenate([np.zeros((1, mels)), weights])
    return constant(weights.astype(d.np), name=name or "linear_to_mel_weight_matrix")


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """tf.signal.mfccs_from_log_mel_spectrograms: TF's unnormalized DCT-II of the log-mel
    spectrograms along the last axis, scaled by 1 / sqrt(2 num_mel_bins)."""
    x = convert_to_tensor(log_mel_spectrograms)
    size = x.node.shape[-1] if x.node.shape else None
    if size is None:
        raise ValueError(f"mfccs_from_log_mel_spectrograms: the last axis of '{x.name}' "
                         f"(the mel bins) must be known, got shape {x.shape}")
    out = dct(x, type=2)
    return M.multiply(out, constant(np.asarray(1.0 / np.sqrt(2.0 * size), x.dtype.np)),
                      name=name or "mfccs")


__getattr__ = _unsupported.module_getattr(__name__, "tf.signal")
