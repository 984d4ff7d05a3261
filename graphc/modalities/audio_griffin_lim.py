"""tf.signal.griffin_lim (graphc's own, not a TF name): a signal whose STFT magnitudes are
given, its phases found by Griffin and Lim's iteration.

Starting from random phases (seeded), each iteration makes a signal of the current
spectrum (inverse_stft with inverse_stft_window_fn, the least-squares inverse), takes its
STFT and keeps that STFT's phases with the given magnitudes. With `momentum` (the "fast"
variant of Perraudin, Balazs and Sondergaard, 2013, as librosa's griffinlim), each new
spectrum moves on past the last by momentum / (1 + momentum) of the change. The whole
loop is one tf.while_loop in the graph: the body (an inverse STFT, an STFT and the
projection) is compiled once whatever the iteration count, so one Session.run does all
the iterations. Inside, spectra stay in the transforms' planar form (audio_fft.py), and the
inverse transform's per-bin weights are folded into the magnitudes once, before the loop.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.modalities import audio_fft as F
from graphc.modalities import audio_stft as S
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops import random_ops
from graphc.ops.control_flow import while_loop
from graphc.ops.tensor import constant, convert_to_tensor

_TINY = 1e-16  # |S| floor of the projection S / |S| (librosa's tiny for float32 is ~1e-38)


def griffin_lim(magnitudes, frame_length, frame_step, fft_length=None, iterations=32,
                window_fn=F.hann_window, seed=None, momentum=0.99, name=None):
    """The real signal [..., (frames - 1) * frame_step + frame_length] whose
    stft(frame_length, frame_step, fft_length, window_fn) has about the magnitudes
    [..., frames, fft_length // 2 + 1] (float32 or float64), after `iterations` rounds of
    Griffin-Lim phase reconstruction from random phases drawn with `seed` (momentum 0 is
    the plain algorithm, whose spectral error never increases; the default 0.99 converges
    faster, as librosa's)."""
    mag = convert_to_tensor(magnitudes)
    if mag.dtype not in (dtypes.float32, dtypes.float64):
        raise DTypeError(f"griffin_lim: magnitudes must be float32 or float64, got '{mag.name}' "
                         f"of dtype {mag.dtype}")
    shape = mag.shape
    if shape.ndims is None or shape.ndims < 2 or shape[-1] is None or shape[-2] is None:
        raise ShapeError(f"griffin_lim: magnitudes '{mag.name}' must be [..., frames, bins] "
                         f"with frames and bins known when the graph is built, got {shape}")
    length = F._length(frame_length, "frame_length")
    step = F._length(frame_step, "frame_step")
    n = S._enclosing_power_of_two(length) if fft_length is None else \
        F._fft_length(fft_length, "griffin_lim")
    frames, bins = int(shape[-2]), int(shape[-1])
    if bins != n // 2 + 1:
        raise ShapeError(f"griffin_lim: magnitudes have {bins} bins, but fft_length {n} "
                         f"gives {n // 2 + 1}")
    iterations = int(iterations)
    if iterations < 0:
        raise ValueError(f"griffin_lim: iterations must be >= 0, got {iterations}")
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"griffin_lim: momentum must be in [0, 1), got {momentum}")
    inverse_window = S.inverse_stft_window_fn(step, window_fn)
    lead = shape.as_list()[:-2]
    spectra = A.reshape(mag, [-1, bins])  # one row per frame

    def signal_of(planar):
        spectrum = F._from_planar(planar, bins, [-1, frames], "griffin_lim_spectrum")
        return S.inverse_stft(spectrum, length, step, n, window_fn=inverse_window)

    def rebuilt_of(planar):  # the planar STFT of the signal of `planar`
        return S.stft(signal_of(planar), length, step, n, window_fn=window_fn)._planar[0]

    width = F._planar_width(n)
    magnitude = A.expand_dims(F._fit_last(spectra, width), 1)  # [rows, 1, width]
    phase = random_ops.random_uniform(A.shape(magnitude), maxval=2.0 * np.pi,
                                      dtype=mag.dtype, seed=seed)
    start = M.multiply(A.concat([M.cos(phase), M.sin(phase)], 1), magnitude)
    keep = float(momentum) / (1.0 + float(momentum))
    tiny = constant(_TINY, mag.dtype)

    def body(i, planar, previous):
        rebuilt = rebuilt_of(planar)
        moved = rebuilt - keep * previous if keep else rebuilt
        size = M.sqrt(M.reduce_sum(M.square(moved), 1, keepdims=True))
        return i + 1, moved * (magnitude / M.maximum(size, tiny)), rebuilt

    loop = while_loop(lambda i, *_: i < iterations, body,
                      [constant(0), start, A.zeros_like(start)],
                      maximum_iterations=max(iterations, 1), name="griffin_lim")
    out_length = (frames - 1) * step + length
    return A.reshape(signal_of(loop[1]), [-1 if d is None else d for d in lead] +
                     [out_length], name=name or "griffin_lim")
