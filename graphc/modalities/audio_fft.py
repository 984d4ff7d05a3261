"""tf.signal's Fourier transforms: rfft, irfft, fft, ifft (and the 2-D ones), and the frame
transforms the short-time ones (stft, inverse_stft: audio_stft.py) run, on complex values
carried as pairs of real tensors (graphc/framework/complex_tensor.py).

Each transform is matmuls with constant matrices over the last axis (graphc's GEMM is its
fastest kernel), in one of two forms, chosen by measurement:

- direct: one GEMM with the [n, 2 (n // 2 + 1)] cosine/sine matrix (an STFT's window folded
  into its rows), for any length n: 2 n^2 flops per frame, compute-bound;
- two-step (Cooley-Tukey, n = n1 * n2, t = j + n2 i, k = k1 + n1 k2): an n1-point DFT over
  i, a twiddle factor e^{-2 pi i j k1 / n}, then an n2-point DFT over j computing only the
  n2 // 2 + 1 rows of k2 a real input needs: about 4 n (n1 + n2) flops per frame, bound by
  memory traffic instead, so every pass over memory counts. The STFT (and an rfft of rows
  known when the graph is built, taken as the frames of one signal) runs it on blocks of
  _BLOCK frames (_blocked_two_step): one gather puts frame f's sample t at [f // _BLOCK,
  j, f % _BLOCK, i], so for each j all the frames of a block meet the same matrix, and the
  window, the n1-point DFT and the twiddle factors of that j are one constant [n1, n1]
  matrix per (j, part): a batched GEMM, with no window or twiddle pass of its own. The
  second GEMM takes a block's [(j, part), (frame, k1)] at once; one transposing kernel
  then writes the result as (real, imaginary) pairs. An rfft whose batch is known at run
  time only transposes its rows into two-step order and multiplies the twiddle factors in
  a kernel of their own (_forward_two_step). The inverse runs the transposed steps (the
  window its last GEMM's epilogue) and scatters the samples back to their places in the
  overlap-add.

The two-step form is used from n = 512 (_TWO_STEP_MIN) on, for lengths with a factor split
(_two_step). An STFT of 60 s of 16 kHz audio (hop n / 4, one thread, interleaved medians on
the 2-core machine of docs/benchmarks.md, the complex64 result fetched): n = 256 direct
21 ms (16 x 16: 21 ms); n = 512 direct 31 ms, 32 x 16 17 ms; n = 1024 32 x 32 20 ms
(16 x 64: 27 ms, 64 x 16: 21 ms); n = 2048 64 x 32 23 ms. Blocks of 32 frames measured
about 1 ms faster than 64 or 128 at n = 1024. Folding the window and the twiddle factors
into the blocked GEMM and fetching pairs took the n = 1024 STFT from 29.8 to 20.8 ms on one
thread and from 24.5 to 20.2 ms on two (bench/stft.py, which compares the result with scipy
and numpy; the table is in docs/audio.md).

Results are "planar" for the inverse transforms: a [frames, 2, width] tensor of real parts
then imaginary parts (width >= the bins: the two-step form computes (n2 // 2 + 1) * n1 of
them), the `_planar` of the returned ComplexTensor. Session.run fetches instead a
[..., bins, 2] tensor of (real, imaginary) pairs, whose float array numpy views as the
complex one without a copy (the direct GEMM writes it with its columns in pair order;
otherwise one transposing kernel writes it), and the ComplexTensor's parts are slices of
it. Only what is used is computed: the planar form's transpose runs only for an inverse.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.complex_tensor import ComplexTensor, is_complex
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant, convert_to_tensor, make_tensor

_TWO_STEP_MIN = 512  # lengths from which the two-step form is used (see the docstring)
_BLOCK = 32  # frames per block of the two-step STFT (_blocked_two_step)


# --- helpers shared with audio.py: static lengths, windows, scatter -------------------
def _length(value, what: str) -> int:
    """A static positive int (an int, or a tensor whose value is known now)."""
    if hasattr(value, "dtype") and not isinstance(value, (int, np.integer)):
        known = A.static_value(convert_to_tensor(value))
        if known is None:
            raise ValueError(f"{what} must be known when the graph is built, got {value!r:.80}")
        value = known
    n = int(np.asarray(value).reshape(()))
    if n <= 0:
        raise ValueError(f"{what} must be positive, got {n}")
    return n


def _float_dtype(dtype, what: str):
    d = dtypes.as_dtype(dtype)
    if d.kind != "f":
        raise ValueError(f"{what}: dtype must be a floating point type, got {d}")
    return d


def _cosine_window(length, periodic, dtype, a: float, b: float, name: str):
    n = _length(length, "window_length")
    d = _float_dtype(dtype, name)
    if n == 1:
        return constant(np.ones(1, d.np), name=name)
    denominator = n if periodic else n - 1
    values = a - b * np.cos(2.0 * np.pi * np.arange(n) / denominator)
    return constant(values.astype(d.np), name=name)


def hann_window(window_length, periodic=True, dtype=dtypes.float32, name=None):
    """tf.signal.hann_window: 0.5 - 0.5 cos(2 pi n / N), N the length (periodic) or the
    length - 1; a constant."""
    return _cosine_window(window_length, periodic, dtype, 0.5, 0.5, name or "hann_window")


def hamming_window(window_length, periodic=True, dtype=dtypes.float32, name=None):
    """tf.signal.hamming_window: 0.54 - 0.46 cos(2 pi n / N); a constant."""
    return _cosine_window(window_length, periodic, dtype, 0.54, 0.46, name or "hamming_window")


def scatter_samples(samples, position: np.ndarray, out_length: int):
    """[B, out_length] zeros with each column j of samples [B, S] added at position[j]
    (positions < 0 are dropped): one scatter-add along the samples' axis."""
    drop = bool((position < 0).any())
    size = out_length + 1 if drop else out_length  # dropped samples land past the end
    at = np.where(position < 0, out_length, position).astype(np.int32)
    batch = samples.node.shape[0]
    dims = constant(np.array([batch, size], np.int64)) if batch is not None else \
        A.stack([M.cast(A.shape(samples)[0], dtypes.int64), constant(np.int64(size))])
    out = make_tensor("scatter_add", (samples, constant(at), dims),
                      {"axis": 1, "shape": (batch, size)}, "OverlapAdd")
    return out[:, :out_length] if drop else out


# --- plans and constant matrices ----------------------------------------------------------
def _two_step(n: int) -> Optional[tuple]:
    """(n1, n2) with n1 * n2 = n, n1 the smallest divisor >= sqrt(n) with n2 >= 8; or None
    where the direct GEMM is used (short or awkward lengths). The larger factor goes to the
    first step, whose GEMM is the long one: 512 = 32 x 16 measured 35 ms against 53 ms for
    16 x 32 (and 44 ms direct), 2048 = 64 x 32 35 ms against 43 ms for 32 x 64."""
    if n < _TWO_STEP_MIN:
        return None
    n1 = next((d for d in range(int(np.ceil(np.sqrt(n))), n // 8 + 1) if n % d == 0), None)
    return None if n1 is None else (n1, n // n1)


def _planar_width(n: int) -> int:
    """How many frequencies the forward transform of length n computes (its planar width)."""
    plan = _two_step(n)
    return n // 2 + 1 if plan is None else (plan[1] // 2 + 1) * plan[0]


def _const(values, dtype):
    return constant(np.asarray(values, np.float64).astype(dtype.np))


def _angles(rows, cols, n: int) -> np.ndarray:
    """2 pi r c / n for integer r, c, reduced mod n first (exact) for accurate angles."""
    return 2.0 * np.pi * (np.outer(rows, cols) % n) / n


def _stage2(n2: int) -> np.ndarray:
    """[2 K2, 2 n2] (K2 = n2 // 2 + 1): the n2-point DFT of complex columns (real parts
    stacked over imaginary parts), rows k2 < K2 only."""
    a = _angles(np.arange(n2 // 2 + 1), np.arange(n2), n2)
    c, s = np.cos(a), np.sin(a)
    return np.block([[c, s], [-s, c]])  # (zr + i zi)(c - i s)


def _weights(width: int, n: int, valid: int) -> np.ndarray:
    """Per frequency k < width, its share of the inverse of a real signal's transform: 1/n
    for k = 0 and k = n/2, 2/n for the bins between (their mirror images count too), 0 past
    n // 2 or past the `valid` bins given."""
    k = np.arange(width)
    w = np.where((k == 0) | (2 * k == n), 1.0, 2.0) / n
    return np.where((k <= n // 2) & (k < valid), w, 0.0)


# --- forward: real frames -> planar [M, 2, width] or pairs [M, bins, 2] ----------------
def _direct(x2, n: int, window=None, pairs: bool = False):
    """x2 [M, m] (m <= n: the rest is zero padding) times the [m, 2 bins] matrix: planar
    [M, 2, bins], or with `pairs` the columns ordered (bin, part) for [M, bins, 2]."""
    m, bins = x2.node.shape[-1], n // 2 + 1
    a = _angles(np.arange(m), np.arange(bins), n)
    parts = (np.cos(a), -np.sin(a))
    matrix = np.stack(parts, -1).reshape(m, 2 * bins) if pairs else np.concatenate(parts, 1)
    if window is not None:
        matrix = matrix * np.asarray(window, np.float64)[:, None]
    y = M.matmul(x2, _const(matrix, x2.dtype))
    return A.reshape(y, [-1, bins, 2] if pairs else [-1, 2, bins])


def _stage1(n1: int) -> np.ndarray:
    """[n1, 2 n1]: the n1-point DFT of real rows, columns (k1, real/imaginary) interleaved."""
    a = _angles(np.arange(n1), np.arange(n1), n1)
    return np.stack([np.cos(a), -np.sin(a)], -1).reshape(n1, 2 * n1)


def _rotations(n1: int, n2: int, sign: float) -> np.ndarray:
    """[2, n2, n1, 2]: [out part, j, k1, in part] of multiplying by e^{sign i theta},
    theta = 2 pi j k1 / n (the twiddle factors between the two steps)."""
    theta = _angles(np.arange(n2), np.arange(n1), n1 * n2)
    c, s = np.cos(theta), sign * np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)])


def _forward_two_step(arranged, n1: int, n2: int):
    """arranged [M, n2, n1], arranged[., j, i] = x[j + n2 i]: X[k1 + n1 k2] for k2 < K2.
    The twiddle is a sum over the (real, imaginary) pairs the first GEMM writes side by
    side, so it is one kernel reading that GEMM's result once."""
    d = arranged.dtype
    z = M.matmul(A.reshape(arranged, [-1, n1]), _const(_stage1(n1), d))
    z = A.reshape(z, [-1, 1, n2, n1, 2])
    twiddled = M.reduce_sum(M.multiply(z, _const(_rotations(n1, n2, -1.0), d)), -1)
    y = M.matmul(_const(_stage2(n2), d), A.reshape(twiddled, [-1, 2 * n2, n1]))
    return A.reshape(y, [-1, 2, (n2 // 2 + 1) * n1])


def _arranged_order(n1: int, n2: int) -> np.ndarray:
    """[n2, n1]: the sample index t = j + n2 i held at [j, i] in the two-step order."""
    return np.arange(n2)[:, None] + n2 * np.arange(n1)[None, :]


# --- inverse: planar (weighted) -> real frames -----------------------------------------------
def _inverse_direct(y2, width: int, n: int, valid: int, m: int, window=None):
    """y2 [M, 2 width] (planar, flattened) -> [M, m] samples t < m of the real signal."""
    w = _weights(width, n, valid)
    a = _angles(np.arange(width), np.arange(m), n)
    matrix = np.concatenate([np.cos(a) * w[:, None], -np.sin(a) * w[:, None]], 0)
    if window is not None:
        matrix = matrix * np.asarray(window, np.float64)[None, :]
    return M.matmul(y2, _const(matrix, y2.dtype))


def _inverse_two_step(yw, n1: int, n2: int, window_arranged=None):
    """yw [M, 2 K2, n1] (planar, already times _weights) -> [M, n2, n1] samples in the
    two-step order: the forward steps transposed, in reverse."""
    d = yw.dtype
    p = M.matmul(_const(_stage2(n2).T, d), yw)  # [M, 2 n2, n1]
    p = A.reshape(p, [-1, 2, n2, n1, 1])
    rotation = np.transpose(_rotations(n1, n2, 1.0), [3, 1, 2, 0])  # [in, j, k1, out]
    z = M.reduce_sum(M.multiply(p, _const(rotation, d)), 1)  # [M, n2, n1, 2]
    if window_arranged is None:
        x = M.matmul(A.reshape(z, [-1, 2 * n1]), _const(_stage1(n1).T, d))
        return A.reshape(x, [-1, n2, n1])
    # per frame, so that the window multiply is the GEMM's epilogue (same shape)
    x = M.matmul(A.reshape(z, [-1, n2, 2 * n1]), _const(_stage1(n1).T, d))
    return M.multiply(x, _const(window_arranged, d))


def _planar_input(x: ComplexTensor, n1: int, n2: int):
    """x as a weighted planar [M, 2 K2, n1] tensor for _inverse_two_step: its own planar
    form (the weights multiply then joins the forward GEMM that wrote it), else its parts
    cropped or zero-padded to K2 n1 and stacked."""
    k2, n = n2 // 2 + 1, n1 * n2
    width = k2 * n1
    bins = x.shape[-1]
    planar = getattr(x, "_planar", None)
    if planar is not None:
        y, valid = planar
        have = y.node.shape[-1]
        y = y[:, :, :width] if have > width else \
            A.pad(y, [[0, 0], [0, 0], [0, width - have]]) if have < width else y
    else:
        parts = []
        for p in (x.real, x.imag):
            p = A.reshape(p, [-1, bins])
            p = p[:, :width] if bins > width else \
                A.pad(p, [[0, 0], [0, width - bins]]) if bins < width else p
            parts.append(p)
        y, valid = A.stack(parts, axis=1), bins
    weights = _weights(width, n, valid).reshape(k2, n1)
    both = _const(np.concatenate([weights, weights]), y.dtype)  # real rows, imaginary rows
    return M.multiply(A.reshape(y, [-1, 2 * k2, n1]), both), valid


# --- results ------------------------------------------------------------------------------
def _lead_shape(x):
    """The leading dims of x (all but the last) for reshape: a list if at most one is
    unknown, else a run-time shape."""
    lead = x.shape.as_list()[:-1]
    if sum(d is None for d in lead) <= 1:
        return [-1 if d is None else d for d in lead]
    return A.shape(x)[:-1]


def _with_last(lead, size: int):
    return lead + [size] if isinstance(lead, list) else \
        A.concat([lead, constant(np.array([size], np.int32))], 0)


def _interleave(planar, bins: int):
    """planar [M, 2, width] (width >= bins) as [M, bins, 2]: (real, imaginary) side by side,
    the layout of a numpy complex array."""
    return A.transpose(planar[:, :, :bins] if planar.node.shape[-1] > bins else planar,
                       [0, 2, 1])


def _from_planar(y, bins: int, lead, name: str, pairs=None) -> ComplexTensor:
    """The ComplexTensor [lead..., bins] of planar y [M, 2, width], kept as its `_planar`
    form for the inverse transforms. It is fetched as `pairs` ([M, bins, 2], by default y
    interleaved by one transposing kernel), whose float array is viewed as the complex one
    without a copy; its parts are slices of the pairs. Only what is used is computed."""
    pairs = _interleave(y, bins) if pairs is None else pairs
    pairs = A.reshape(pairs, _with_last(_with_last(lead, bins), 2), name=f"{name}_pairs")
    re = pairs[..., 0]
    im = pairs[..., 1]
    out = ComplexTensor(A.identity(re, name=f"{name}_real"),
                        A.identity(im, name=f"{name}_imag"), name=name,
                        _fetch=([pairs], _view_complex))
    out._planar = (y, bins)
    return out


def _view_complex(value: np.ndarray) -> np.ndarray:
    """The complex array whose parts `value` [..., 2] holds side by side: a view, no copy."""
    kind = np.complex64 if value.dtype == np.float32 else np.complex128
    return np.ascontiguousarray(value).view(kind)[..., 0]


# --- argument checks ----------------------------------------------------------------------
def _real_input(value, op: str):
    x = convert_to_tensor(value)
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise DTypeError(f"{op}: the input must be a float32 or float64 tensor, got "
                         f"'{x.name}' of dtype {x.dtype}")
    _last(x.shape, x.name, op)
    return x


def _complex_input(value, op: str) -> ComplexTensor:
    if not is_complex(value):
        raise DTypeError(f"{op}: the input must be a complex value (a ComplexTensor: "
                         f"tf.complex(real, imag), or what rfft/fft/stft return), got "
                         f"{value!r:.80}")
    _last(value.shape, value.name, op)
    return value


def _last(shape, name, op: str) -> int:
    if shape.ndims is None or shape.ndims == 0 or shape[-1] is None:
        raise ShapeError(f"{op}: the last axis of '{name}' must be known when the graph is "
                         f"built, got shape {shape}")
    return int(shape[-1])


def _fft_length(fft_length, op: str) -> int:
    """A static length from an int, a 1-element list or a constant tensor (TF's [n])."""
    if hasattr(fft_length, "dtype"):
        value = A.static_value(convert_to_tensor(fft_length))
        if value is None:
            raise ValueError(f"{op}: fft_length must be known when the graph is built, got "
                             f"{fft_length!r:.80}")
        fft_length = value
    values = np.asarray(fft_length).reshape(-1)
    if values.size != 1 or values.dtype.kind not in "iu" or int(values[0]) <= 0:
        raise ValueError(f"{op}: fft_length must be one positive integer, got {fft_length!r}")
    return int(values[0])


def _fit_last(x, n: int):
    """x's last axis cropped or zero-padded to n."""
    size = x.shape[-1]
    if size > n:
        return x[..., :n]
    if size < n:
        return A.pad(x, [[0, 0]] * (x.shape.ndims - 1) + [[0, n - size]])
    return x


# --- the transforms -----------------------------------------------------------------------
def rfft(input_tensor, fft_length=None, name=None):
    """tf.signal.rfft: the DFT of a real signal over its last axis, zero-padded or cropped
    to fft_length (default: its length): [..., fft_length // 2 + 1] complex values."""
    x = _real_input(input_tensor, "rfft")
    size = x.shape[-1]
    n = size if fft_length is None else _fft_length(fft_length, "rfft")
    lead = _lead_shape(x)
    plan = _two_step(n)
    rows = int(np.prod(lead)) if isinstance(lead, list) and -1 not in lead else None
    if plan is None:
        x2 = A.reshape(x[..., :n] if size > n else x, [-1, min(size, n)])
        y, pairs = _direct(x2, n), _direct(x2, n, pairs=True)
    elif rows:  # rows as frames of one signal, `size` samples apart
        used = min(size, n)
        y, pairs = _blocked_two_step(A.reshape(x, [1, rows * size]), rows, size,
                                     np.ones(used), used, *plan)
    else:  # a batch known at run time only
        n1, n2 = plan
        x3 = A.reshape(_fit_last(x, n), [-1, n1, n2])
        y, pairs = _forward_two_step(A.transpose(x3, [0, 2, 1]), n1, n2), None
    return _from_planar(y, n // 2 + 1, lead, name or "rfft", pairs)


def irfft(input_tensor, fft_length=None, name=None):
    """tf.signal.irfft: the real signal of length fft_length (default 2 (bins - 1)) whose
    rfft is the input's first fft_length // 2 + 1 bins (zero-padded): the imaginary parts of
    the 0 and n/2 bins are ignored, as TF does."""
    x = _complex_input(input_tensor, "irfft")
    bins = x.shape[-1]
    n = 2 * (bins - 1) if fft_length is None else _fft_length(fft_length, "irfft")
    if n <= 0:
        raise ValueError(f"irfft: a signal of {bins} bin needs fft_length, got none")
    lead = _lead_shape(x)
    plan = _two_step(n)
    if plan is None:
        planar = getattr(x, "_planar", None)
        if planar is not None:
            y, valid = planar
            width = y.node.shape[-1]
            out = _inverse_direct(A.reshape(y, [-1, 2 * width]), width, n, valid, n)
        else:
            two = A.stack([A.reshape(p, [-1, bins]) for p in (x.real, x.imag)], axis=1)
            out = _inverse_direct(A.reshape(two, [-1, 2 * bins]), bins, n, bins, n)
    else:
        n1, n2 = plan
        yw, _ = _planar_input(x, n1, n2)
        arranged = _inverse_two_step(yw, n1, n2)
        out = A.reshape(A.transpose(arranged, [0, 2, 1]), [-1, n])
    return A.reshape(out, _with_last(lead, n), name=name or "irfft")


def _complex_dft(x: ComplexTensor, inverse: bool, name: str) -> ComplexTensor:
    """fft / ifft over the last axis: y = [xr xi] @ [[C, -S], [S, C]] (C - iS for fft,
    (C + iS) / n for ifft), as two GEMMs whose sum is one planar [M, 2, n] result."""
    n = x.shape[-1]
    lead = _lead_shape(x)
    a = _angles(np.arange(n), np.arange(n), n)
    c, s = np.cos(a), np.sin(a) * (-1.0 if inverse else 1.0)
    scale = 1.0 / n if inverse else 1.0
    from_re, from_im = np.concatenate([c, -s], 1) * scale, np.concatenate([s, c], 1) * scale
    re, im = (A.reshape(p, [-1, n]) for p in (x.real, x.imag))

    def product(order):  # the columns (part, k) taken in `order`
        return M.add(M.matmul(re, _const(from_re[:, order], re.dtype)),
                     M.matmul(im, _const(from_im[:, order], re.dtype)))
    planar = A.reshape(product(np.arange(2 * n)), [-1, 2, n])
    pairs = A.reshape(product(np.arange(2 * n).reshape(2, n).T.reshape(-1)), [-1, n, 2])
    return _from_planar(planar, n, lead, name, pairs)


def fft(input, name=None):  # noqa: A002 - TF's name
    """tf.signal.fft: the DFT of a complex signal over its last axis."""
    return _complex_dft(_complex_input(input, "fft"), False, name or "fft")


def ifft(input, name=None):  # noqa: A002
    """tf.signal.ifft: the inverse DFT (with the 1 / n) over the last axis."""
    return _complex_dft(_complex_input(input, "ifft"), True, name or "ifft")


def _swap_last_two(x: ComplexTensor) -> ComplexTensor:
    if x.shape.ndims is None or x.shape.ndims < 2:
        raise ShapeError(f"a 2-D transform needs rank >= 2, got shape {x.shape}")
    perm = list(range(x.shape.ndims - 2)) + [x.shape.ndims - 1, x.shape.ndims - 2]
    return A.transpose(x, perm)


def fft2d(input, name=None):  # noqa: A002
    """tf.signal.fft2d: the DFT over the last two axes."""
    x = _complex_input(input, "fft2d")
    return _swap_last_two(fft(_swap_last_two(fft(x))))


def ifft2d(input, name=None):  # noqa: A002
    """tf.signal.ifft2d: the inverse DFT over the last two axes."""
    x = _complex_input(input, "ifft2d")
    return _swap_last_two(ifft(_swap_last_two(ifft(x))))


def _lengths_2d(fft_length, x, op: str):
    if fft_length is None:
        return [_last(x.shape[:-1], x.name, op), x.shape[-1]]
    values = np.asarray(fft_length).reshape(-1) if not hasattr(fft_length, "dtype") else \
        A.static_value(convert_to_tensor(fft_length))
    if values is None or np.size(values) != 2:
        raise ValueError(f"{op}: fft_length must be two static lengths, got {fft_length!r}")
    return [int(v) for v in np.asarray(values).reshape(-1)]


def rfft2d(input_tensor, fft_length=None, name=None):
    """tf.signal.rfft2d: rfft over the last axis, then fft over the one before (each
    cropped or zero-padded to fft_length = [rows, columns])."""
    x = _real_input(input_tensor, "rfft2d")
    rows, cols = _lengths_2d(fft_length, x, "rfft2d")
    inner = _swap_last_two(rfft(x, cols))
    inner = ComplexTensor(_fit_last(inner.real, rows), _fit_last(inner.imag, rows))
    return _swap_last_two(fft(inner))


def irfft2d(input_tensor, fft_length=None, name=None):
    """tf.signal.irfft2d: ifft over the second-last axis, then irfft over the last."""
    x = _complex_input(input_tensor, "irfft2d")
    rows, cols = _lengths_2d(fft_length, x, "irfft2d") if fft_length is not None else \
        [x.shape[-2], 2 * (x.shape[-1] - 1)]
    inner = _swap_last_two(x)
    inner = ComplexTensor(_fit_last(inner.real, rows), _fit_last(inner.imag, rows))
    return irfft(_swap_last_two(ifft(inner)), cols, name=name)


# --- the blocked two-step form (the STFT's, audio_stft.py) ------------------------------
def _blocked_two_step(x2, frames: int, step: int, window: np.ndarray, used: int, n1: int,
                      n2: int):
    """The two-step transform of the frames of x2 [B, samples] (frame f: `used` samples
    from f step on, times window[:used], zero-padded to n = n1 n2), `block` frames at a
    time: (planar [B frames, 2, K2 n1], pairs [B frames, bins, 2]), K2 = n2 // 2 + 1.
    Sample t = j + n2 i of frame f is gathered to [f // block, j, f % block, i], so that for
    each j a block's frames meet one constant [n1, n1] matrix per part (_stage1_folded:
    window, n1-point DFT and twiddle factors; one batched GEMM), and the second GEMM takes
    a block's [(j, part), (frame, k1)] at once. The last block repeats the last frame to its
    end; those frames are cropped away."""
    k2, bins = n2 // 2 + 1, n1 * n2 // 2 + 1
    d = x2.dtype
    block = min(_BLOCK, frames)
    blocks = -(-frames // block)
    t = _arranged_order(n1, n2)  # [n2, n1]
    inside = t < used
    frame = np.minimum(np.arange(blocks * block), frames - 1).reshape(blocks, 1, block, 1)
    index = frame * step + np.where(inside, t, 0)[None, :, None, :]
    x = A.gather(x2, _int32(index), axis=1)  # [B, blocks, n2, block, n1]
    weights = np.where(inside, window[np.minimum(t, used - 1)], 0.0)
    z = M.matmul(A.reshape(x, [-1, n2, 1, block, n1]), _const(_stage1_folded(
        weights, n1, n2), d))  # [B blocks, n2, 2, block, n1]
    by_j = _stage2(n2).reshape(2 * k2, 2, n2).transpose(0, 2, 1).reshape(2 * k2, 2 * n2)
    y = M.matmul(_const(by_j, d), A.reshape(z, [-1, 2 * n2, block * n1]))
    y = A.reshape(y, [-1, blocks, 2, k2, block, n1])  # [B, blocks, part, k2, frame, k1]
    planar = A.reshape(A.transpose(y, [0, 1, 4, 2, 3, 5]), [-1, blocks * block, 2, k2 * n1])
    pairs = A.reshape(A.transpose(y, [0, 1, 4, 3, 5, 2]), [-1, blocks * block, k2 * n1, 2])
    planar = planar[:, :frames] if blocks * block > frames else planar
    pairs = A.reshape(pairs[:, :frames, :bins], [-1, bins, 2])  # one crop, one kernel
    return A.reshape(planar, [-1, 2, k2 * n1]), pairs


def _stage1_folded(weights: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """[n2, 2, n1, n1]: for each j, the [i, k1] matrices (real part, imaginary part) of
    weights[j, i] x[j + n2 i] -> the twiddled first step, sum_i weights[j, i] x[j + n2 i]
    e^{-2 pi i (j + n2 i) k1 / n}: window, n1-point DFT and twiddle factor in one."""
    t = _arranged_order(n1, n2)
    a = 2.0 * np.pi * ((t[:, :, None] * np.arange(n1)) % (n1 * n2)) / (n1 * n2)
    w = weights[:, :, None]
    return np.stack([np.cos(a) * w, -np.sin(a) * w], 1)


def _int32(index: np.ndarray):
    return constant(np.asarray(index).astype(np.int32))
