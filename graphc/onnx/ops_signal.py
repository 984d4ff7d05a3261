"""Signal ops: DFT (opset 17, and 20 with the axis an input), STFT and MelWeightMatrix.

ONNX carries a complex value as a trailing axis of 2 (real, imaginary); a real signal has a
trailing axis of 1. At the op boundary the parts are split off that axis, the signal axis
moved last, and tf.signal's transforms run on graphc's ComplexTensor (two real tensors:
graphc/modalities/audio_fft.py, matmuls with constant DFT matrices); the result's parts are
moved back and stacked into the trailing axis again. float16 signals are transformed in
float32 and the result rounded back.

Lengths (dft_length, frame_step, frame_length) and the axis decide shapes, so they are
needed when the model is imported (fed as graph inputs, they are fixed per call by the
onnx runner). A window may be computed at run time.
"""

from __future__ import annotations

import numpy as np

from graphc.framework.complex_tensor import ComplexTensor
from graphc.ir import dtypes
from graphc.modalities.audio_fft import _fit_last, fft, ifft, irfft, rfft
from graphc.onnx.registry import (
    as_ints,
    converter,
    first_problem,
    graphc_dtype,
    numpy_dtype,
    one_of,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant, stack


# --- the complex layout at the boundary -----------------------------------------------------
def _split(ctx, x, what: str):
    """(real, imaginary or None) of x [..., 1 or 2], in float32/64, and x's own dtype."""
    channels = x.node.shape[-1] if x.node.rank else None
    if channels not in (1, 2):
        ctx.fail(f"node '{ctx.name}' ({ctx.node.op_type}): the last axis of its {what} holds "
                 f"(real, imaginary) and must be 1 or 2, got shape {x.shape}")
    if x.dtype.kind != "f":
        ctx.fail(f"node '{ctx.name}' ({ctx.node.op_type}): its {what} must be float, got "
                 f"{x.dtype}")
    work = x if x.dtype in (dtypes.float32, dtypes.float64) else cast(x, "float32")
    real = work[..., 0]
    return real, (work[..., 1] if channels == 2 else None), x.dtype


def _join(real, imag, dtype):
    """[..., 2] pairs (or [..., 1] when imag is None) in the op's dtype."""
    out = A.expand_dims(real, -1) if imag is None else stack([real, imag], axis=-1)
    return out if out.dtype is dtype else cast(out, dtype)


def _transform(real, imag, n: int, inverse: bool, onesided: bool):
    """The DFT of n points over the last axis of real + i imag (imag None: a real signal),
    cropped or zero-padded to n first; (real, imaginary or None) of the result: n values,
    n // 2 + 1 for a onesided forward transform, a real signal of n for a onesided inverse
    (IRFFT: the first n // 2 + 1 bins are used; the imaginary parts of bin 0 and n / 2
    are ignored, as numpy's irfft does)."""
    if inverse and onesided:
        bins = n // 2 + 1
        spectrum = ComplexTensor(_fit_last(real, bins), _fit_last(
            A.zeros_like(real) if imag is None else imag, bins))
        return irfft(spectrum, n), None
    if not inverse and onesided and imag is None:
        out = rfft(real, n)
        return out.real, out.imag
    signal = ComplexTensor(_fit_last(real, n),
                           _fit_last(A.zeros_like(real) if imag is None else imag, n))
    out = (ifft if inverse else fft)(signal)
    if onesided:  # a complex signal's spectrum cut to its first half, as onnx's reference
        return out.real[..., :n // 2 + 1], out.imag[..., :n // 2 + 1]
    return out.real, out.imag


def _binary(name: str, node):
    return one_of(name, (0, 1), node)


# --- DFT ------------------------------------------------------------------------------------
def _dft_check(node):
    return first_problem(_binary("inverse", node), _binary("onesided", node))


@converter("DFT", check=_dft_check)
def _dft(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    if ctx.opset >= 20:  # the axis became an input, counted with the complex axis
        axis = ctx.ints(2, "axis")[0] if ctx.present(2) else -2
    else:
        axis = int(ctx.attr("axis", 1))
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        ctx.fail(f"node '{ctx.name}' (DFT): axis {axis} is out of range for an input of rank "
                 f"{rank} (accepted: [-{rank}, -2] and [0, {rank - 2}]; the last axis holds "
                 "(real, imaginary))")
    axis %= rank
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    size = x.node.shape[axis]
    if size is None:
        ctx.static_shape(x, "DFT's signal axis")
    if ctx.present(1):
        n = ctx.ints(1, "dft_length")[0]
        if n <= 0:
            ctx.fail(f"node '{ctx.name}' (DFT): dft_length must be positive, got {n}")
    else:
        n = 2 * (size - 1) if inverse and onesided else size
        if n <= 0:
            ctx.fail(f"node '{ctx.name}' (DFT): an IRFFT of {size} bin needs dft_length")
    real, imag, dtype = _split(ctx, x, "input")
    perm = [a for a in range(rank - 1) if a != axis] + [axis]
    back = list(np.argsort(perm))
    moved = [None if p is None else A.transpose(p, perm) for p in (real, imag)]
    out_re, out_im = _transform(*moved, n, inverse, onesided)
    out_re = A.transpose(out_re, back)
    out_im = None if out_im is None else A.transpose(out_im, back)
    return [_join(out_re, out_im, dtype)]


# --- STFT -----------------------------------------------------------------------------------
@converter("STFT", check=lambda node: _binary("onesided", node))
def _stft(ctx):
    x = ctx.input(0)
    if x.node.rank != 3:
        ctx.fail(f"node '{ctx.name}' (STFT): the signal must be [batch, length, 1 or 2], got "
                 f"shape {x.shape}")
    total = ctx.static_shape(x, "STFT")[1]
    step = ctx.ints(1, "frame_step")[0]
    window = ctx.input(2)
    if window is not None and (window.node.rank != 1 or window.node.shape[0] is None):
        ctx.fail(f"node '{ctx.name}' (STFT): the window must be 1-D of a length known at "
                 f"import, got shape {window.shape}")
    if ctx.present(3):
        length = ctx.ints(3, "frame_length")[0]
        if window is not None and window.node.shape[0] != length:
            ctx.fail(f"node '{ctx.name}' (STFT): the window has {window.node.shape[0]} "
                     f"values, frame_length is {length}")
    else:
        length = total if window is None else window.node.shape[0]
    if step <= 0 or not 0 < length <= total:
        ctx.fail(f"node '{ctx.name}' (STFT): needs frame_step > 0 and 0 < frame_length <= "
                 f"the signal's length {total}, got frame_step {step}, frame_length {length}")
    frames = (total - length) // step + 1
    real, imag, dtype = _split(ctx, x, "signal")
    index = constant((np.arange(frames)[:, None] * step + np.arange(length)).astype(np.int32))
    parts = [None if p is None else A.gather(p, index, axis=1) for p in (real, imag)]
    if window is not None:
        w = window if window.dtype is real.dtype else cast(window, real.dtype)
        parts = [None if p is None else M.multiply(p, w) for p in parts]
    out_re, out_im = _transform(*parts, length, False, bool(ctx.attr("onesided", 1)))
    return [_join(out_re, out_im, dtype)]


# --- MelWeightMatrix ------------------------------------------------------------------------
def _mel_check(node):
    out = node.attr("output_datatype", 1)
    if graphc_dtype(out) is None or graphc_dtype(out).kind not in "fi":
        return (f"attribute output_datatype={out} is not supported (graphc supports float16, "
                "float32, float64 and the integer types)")
    return None


def mel_weight_matrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
                      upper_edge_hertz) -> np.ndarray:
    """ONNX's MelWeightMatrix [dft_length // 2 + 1, num_mel_bins] (float64): triangles of
    peak 1 between num_mel_bins + 2 points spaced evenly in mel = 2595 log10(1 + f / 700)
    over [lower, upper] hertz (the step is (high - low) / (num_mel_bins + 2), as onnx's
    reference computes it), each point rounded down to a DFT bin
    floor((dft_length + 1) f / sample_rate). The arithmetic follows onnx's reference in
    the inputs' own dtypes, so the bins it rounds to are the same."""
    bins = dft_length // 2 + 1
    points = np.arange(0, num_mel_bins + 2)
    low = 2595 * np.log1p(lower_edge_hertz / 700) / np.log(10)
    high = 2595 * np.log1p(upper_edge_hertz / 700) / np.log(10)
    mels = points * ((high - low) / points.shape[0]) + low
    hertz = 700 * np.expm1(mels / 2595 * np.log(10))
    edges = (((dft_length + 1) * hertz) // sample_rate).astype(np.int64)
    out = np.zeros((int(bins), int(num_mel_bins)))
    for i in range(int(num_mel_bins)):
        left, centre, right = (int(e) for e in edges[i:i + 3])
        if centre == left:
            out[centre, i] = 1
        else:
            j = np.arange(left, centre + 1)
            out[j, i] = (j - left) / float(centre - left)
        if right > centre:
            j = np.arange(centre, right)
            out[j, i] = (right - j) / float(right - centre)
    return out


@converter("MelWeightMatrix", check=_mel_check)
def _mel(ctx):
    names = ("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz",
             "upper_edge_hertz")
    values = [np.asarray(ctx.const(i, what)) for i, what in enumerate(names)]
    if values[0] <= 0 or values[1] <= 0 or values[2] <= 0:
        ctx.fail(f"node '{ctx.name}' (MelWeightMatrix): num_mel_bins, dft_length and "
                 f"sample_rate must be positive, got {as_ints(values[:3])}")
    try:
        out = mel_weight_matrix(*(v[()] for v in values))
    except IndexError:
        ctx.fail(f"node '{ctx.name}' (MelWeightMatrix): upper_edge_hertz {values[4]} maps past "
                 f"the last of the {int(values[1]) // 2 + 1} DFT bins (sample_rate "
                 f"{values[2]})")
    return [out.astype(numpy_dtype(ctx.attr("output_datatype", 1)))]
