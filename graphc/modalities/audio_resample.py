"""Sample-rate conversion as a graph composition: polyphase windowed-sinc resampling.

Resampling from rate_in to rate_out (static ints, reduced by their gcd to up / down) is,
conceptually, upsampling by `up` (zeros between samples), a low-pass FIR filter h, and
keeping every `down`-th sample:

    y[m] = sum_k x[k] h[m down + D - k up]        (h indexed 0 .. 2 D, zero outside)

The filter is the one scipy.signal.resample_poly uses by default: a sinc with its cutoff
at the lower of the two Nyquist frequencies (1 / max(up, down) of the upsampled Nyquist),
ZERO_CROSSINGS zero crossings on each side (D = ZERO_CROSSINGS * max(up, down) taps at the
upsampled rate), a Kaiser window with beta KAISER_BETA, scaled to gain `up` at DC.

The outputs come in blocks of `up`: block q (outputs q up .. q up + up - 1) reads the
same L input samples starting at q down + k_lo. So the op is a gather of overlapping
input frames (step `down`, length L) at a constant index matrix and one matmul with a
constant [L, up] polyphase matrix; the samples outside the signal are zeros (a pad).
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor

ZERO_CROSSINGS = 10
KAISER_BETA = 5.0


def _rate(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"resample: {what} must be a positive int, got {value!r}")
    return int(value)


def lowpass_filter(up: int, down: int) -> np.ndarray:
    """The FIR filter h (float64, 2 D + 1 taps at the upsampled rate): Kaiser-windowed
    sinc, cutoff 1 / max(up, down) of the upsampled Nyquist, DC gain `up`."""
    step = max(up, down)
    half = ZERO_CROSSINGS * step
    cutoff = 1.0 / step
    taps = np.arange(-half, half + 1, dtype=np.float64)
    h = cutoff * np.sinc(cutoff * taps) * np.kaiser(2 * half + 1, KAISER_BETA)
    return h * (up / h.sum())


def polyphase_matrix(up: int, down: int):
    """(k_lo, W): output q up + p is sum_j x[q down + k_lo + j] W[j, p], W of shape
    [L, up]."""
    h = lowpass_filter(up, down)
    half = (len(h) - 1) // 2
    # input k contributes to output m when 0 <= m down + half - k up <= 2 half
    k_lo = -(half // up)
    k_hi = ((up - 1) * down + half) // up
    j = np.arange(k_hi - k_lo + 1)[:, None]
    tap = np.arange(up)[None, :] * down + half - (k_lo + j) * up
    inside = (tap >= 0) & (tap < len(h))
    return k_lo, np.where(inside, h[np.clip(tap, 0, len(h) - 1)], 0.0)


def output_length(n: int, rate_in: int, rate_out: int) -> int:
    """ceil(n rate_out / rate_in), as scipy.signal.resample_poly gives."""
    return -(-n * rate_out // rate_in)


def resample(signal, rate_in, rate_out, axis=-1, name=None):
    """The float signal resampled along `axis` from rate_in to rate_out samples per second
    (static positive ints): ceil(n rate_out / rate_in) samples, matching
    scipy.signal.resample_poly(x, up, down, axis) (its default Kaiser filter; the samples
    beyond the ends are zeros). Differentiable; the length of `axis` must be static."""
    x = convert_to_tensor(signal)
    rate_in, rate_out = _rate(rate_in, "rate_in"), _rate(rate_out, "rate_out")
    if x.dtype.kind != "f":
        raise ValueError(f"resample: the signal '{x.name}' must be floating point, got "
                         f"{x.dtype}; cast integer samples first (int16: / 32768)")
    rank = x.node.rank
    if rank is None or rank == 0:
        raise ValueError(f"resample: the signal '{x.name}' must have known rank >= 1, got "
                         f"shape {x.shape}")
    axis = normalize_axis(int(axis), rank, "resample axis")
    n = x.node.shape[axis]
    if n is None:
        raise ValueError(f"resample: the length of axis {axis} of '{x.name}' must be known "
                         f"when the graph is built, got shape {x.shape}")
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    if up == down:
        return A.identity(x, name=name or "resample")
    perm = [d for d in range(rank) if d != axis] + [axis]
    moved = A.transpose(x, perm) if axis != rank - 1 else x
    lead = [x.node.shape[d] for d in perm[:-1]]
    out = _resample_rows(A.reshape(moved, [-1, n]), n, up, down, dtypes.as_dtype(x.dtype))
    out_shape = [d if d is not None else A.gather(A.shape(moved), i)
                 for i, d in enumerate(lead)] + [out.node.shape[-1]]
    out = A.reshape(out, out_shape)
    if axis != rank - 1:
        out = A.transpose(out, list(np.argsort(perm)))
    return A.identity(out, name=name or "resample")


def _resample_rows(rows, n: int, up: int, down: int, dtype):
    """[batch, n] -> [batch, ceil(n up / down)]: pad, gather frames, one matmul."""
    k_lo, weights = polyphase_matrix(up, down)
    length = weights.shape[0]
    n_out = output_length(n, down, up)
    blocks = -(-n_out // up)
    # padded index of input k is k - k_lo; block q reads padded q down .. q down + L - 1
    right = max(0, (blocks - 1) * down + length - (n - k_lo))
    padded = A.pad(rows, [[0, 0], [-k_lo, right]])
    index = np.arange(blocks)[:, None] * down + np.arange(length)[None, :]
    frames = A.gather(padded, constant(index.astype(np.int32)), axis=1)
    out = M.matmul(frames, constant(weights.astype(dtype.np)))      # [batch, blocks, up]
    out = A.reshape(out, [-1, blocks * up])
    return A.slice(out, [0, 0], [-1, n_out]) if blocks * up != n_out else out
