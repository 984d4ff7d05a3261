"""tf.signal (graphc/modalities/audio.py) against numpy and scipy: framing with and without
padding on any axis, overlap-add, Hann and Hamming windows, the DCT of types 2 and 3 (and
their inverses), TF's mel filterbank and MFCCs, gradients, and the build-time errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf
from graphc.test import gradcheck

fft = pytest.importorskip("scipy.fft")
RNG = np.random.default_rng(44)


def np_frame(x, length, step, pad_end=False, pad_value=0.0):
    """Frames of x's last axis, as TF's tf.signal.frame makes them."""
    n = x.shape[-1]
    if pad_end:
        frames = -(-n // step)
        need = (frames - 1) * step + length
        x = np.concatenate([x, np.full(x.shape[:-1] + (max(0, need - n),), pad_value,
                                       x.dtype)], -1)
    else:
        frames = max(0, 1 + (n - length) // step)
    if not frames:
        return np.zeros(x.shape[:-1] + (0, length), x.dtype)
    return np.stack([x[..., f * step:f * step + length] for f in range(frames)], -2)


def np_overlap_add(frames, step):
    f, length = frames.shape[-2:]
    out = np.zeros(frames.shape[:-2] + ((f - 1) * step + length,), frames.dtype)
    for i in range(f):
        out[..., i * step:i * step + length] += frames[..., i, :]
    return out


def test_frame_and_overlap_add(target):
    x = RNG.standard_normal((2, 11)).astype(np.float32)
    signal = tf.placeholder(tf.float32, [None, 11])
    cases = [(4, 2, False), (4, 3, True), (5, 5, False), (3, 1, True), (12, 4, False)]
    fetches = [tf.signal.frame(signal, n, s, pad_end=p, pad_value=-1.0) for n, s, p in cases]
    frames = RNG.standard_normal((2, 3, 5, 4)).astype(np.float32)
    fetches += [tf.signal.overlap_and_add(tf.constant(frames), 2),
                tf.signal.overlap_and_add(tf.constant(frames[0, 0]), 4),
                tf.signal.frame(tf.constant(x.T), 4, 2, axis=0)]
    got = run(fetches, {signal: x}, target)
    want = [np_frame(x, n, s, p, -1.0) for n, s, p in cases]
    want += [np_overlap_add(frames, 2), np_overlap_add(frames[0, 0], 4),
             np.moveaxis(np_frame(x, 4, 2), 0, -1)]
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, (k, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=f"fetch {k}")
    assert got[4].shape == (2, 0, 12)  # nothing fits: no frames


def test_windows_match_their_formulas(target):
    fetches = [tf.signal.hann_window(8), tf.signal.hann_window(8, periodic=False),
               tf.signal.hamming_window(5), tf.signal.hamming_window(1),
               tf.signal.hann_window(6, dtype=tf.float64)]
    got = run(fetches, None, target)
    n8, n5 = np.arange(8), np.arange(5)
    want = [0.5 - 0.5 * np.cos(2 * np.pi * n8 / 8), 0.5 - 0.5 * np.cos(2 * np.pi * n8 / 7),
            0.54 - 0.46 * np.cos(2 * np.pi * n5 / 5), [1.0],
            0.5 - 0.5 * np.cos(2 * np.pi * np.arange(6) / 6)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    assert got[4].dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be a floating point type"):
        tf.signal.hann_window(4, dtype=tf.int32)


@pytest.mark.parametrize("norm", [None, "ortho"])
def test_dct_and_idct_match_scipy(target, norm):
    x = RNG.standard_normal((3, 2, 9)).astype(np.float64)
    t = tf.constant(x)
    fetches = [tf.signal.dct(t, 2, norm=norm), tf.signal.dct(t, 3, norm=norm),
               tf.signal.idct(tf.signal.dct(t, 2, norm=norm), 2, norm=norm),
               tf.signal.dct(t, 2, n=6, norm=norm), tf.signal.dct(t, 2, n=12, norm=norm)]
    got = run(fetches, None, target)
    padded = np.concatenate([x, np.zeros((3, 2, 3))], -1)
    want = [fft.dct(x, 2, norm=norm), fft.dct(x, 3, norm=norm), x,
            fft.dct(x[..., :6], 2, norm=norm), fft.dct(padded, 2, norm=norm)]
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10, err_msg=f"fetch {k}")


def test_mel_matrix_and_mfccs(target):
    weights = tf.signal.linear_to_mel_weight_matrix(8, 33, 16000, 100.0, 7000.0)
    log_mel = RNG.standard_normal((4, 8)).astype(np.float32)
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(tf.constant(log_mel))
    got_w, got_m = run([weights, mfccs], None, target)

    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)
    edges = np.linspace(mel(100.0), mel(7000.0), 10)
    freqs = mel(np.linspace(0, 8000, 33)[1:])
    want = np.zeros((33, 8))
    for m in range(8):
        lo, mid, hi = edges[m:m + 3]
        rising, falling = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
        want[1:, m] = np.maximum(0, np.minimum(rising, falling))
    np.testing.assert_allclose(got_w, want, rtol=1e-5, atol=1e-6)
    assert got_w.shape == (33, 8) and not got_w[0].any()  # the DC bin weighs nothing
    np.testing.assert_allclose(got_m, fft.dct(log_mel, 2) / np.sqrt(16), rtol=1e-5, atol=1e-5)


def test_gradients_flow_through_framing_and_the_dct():
    gradcheck(lambda x: tf.signal.overlap_and_add(tf.signal.frame(x, 4, 2) *
                                                  tf.signal.hann_window(4, dtype=tf.float64), 2),
              [RNG.standard_normal((2, 10))])
    gradcheck(lambda x: tf.signal.dct(x, 2, norm="ortho"), [RNG.standard_normal((3, 5))])


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="frame_step must be positive, got 0"):
        tf.signal.frame(tf.zeros([8]), 4, 0)
    with pytest.raises(ValueError, match="the length of axis 1 .* must be known"):
        tf.signal.frame(tf.placeholder(tf.float32, [2, None]), 4, 2)
    with pytest.raises(ValueError, match="frame_step 5 must be at most frame_length 4"):
        tf.signal.overlap_and_add(tf.zeros([3, 4]), 5)
    with pytest.raises(NotImplementedError, match="type 1 is not supported"):
        tf.signal.dct(tf.zeros([4]), 1)
    with pytest.raises(ValueError, match="lower_edge_hertz < upper_edge_hertz"):
        tf.signal.linear_to_mel_weight_matrix(8, 33, 8000, 3000.0, 100.0)
    with pytest.raises(AttributeError, match="tf.signal.mdct"):
        tf.signal.mdct
