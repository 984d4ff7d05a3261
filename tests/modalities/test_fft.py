"""tf.signal's Fourier transforms (graphc/modalities/audio_fft.py, audio_griffin_lim.py) and
ComplexTensor (graphc/framework/complex_tensor.py) against numpy and scipy: rfft/irfft/fft/
ifft and the 2-D ones for odd, non-power-of-two, padded and cropped lengths, batch dims,
float32 and float64, on both the direct and the two-step form; stft, inverse_stft and the
round trip; complex arithmetic and fetching; gradients; griffin_lim; the build-time
errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf
from graphc.errors import DTypeError, ShapeError

signal = pytest.importorskip("scipy.signal")
RNG = np.random.default_rng(7)
TOL = {np.float32: dict(rtol=0, atol=2e-5), np.float64: dict(rtol=0, atol=1e-11)}


def close(got, want, dtype, scale=None):
    """got == want to the dtype's tolerance, relative to the largest |want|."""
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    kind = np.complex64 if dtype == np.float32 else np.complex128
    if want.dtype.kind == "c":
        assert got.dtype == kind, got.dtype
    scale = scale or max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got / scale, want / scale, **TOL[dtype])


def hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def np_frames(x, length, step, pad_end=False):
    n = x.shape[-1]
    frames = -(-n // step) if pad_end else 1 + (n - length) // step
    need = (frames - 1) * step + length
    if need > n:
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (need - n,))], -1)
    return np.stack([x[..., f * step:f * step + length] for f in range(frames)], -2)


def np_stft(x, length, step, n, window=hann, pad_end=False):
    frames = np_frames(x, length, step, pad_end)
    if window is not None:
        frames = frames * window(length)
    return np.fft.rfft(frames, n)


def np_inverse_stft(s, length, step, n, window):
    """TF's definition: irfft, cropped or zero-padded to length, windowed, overlap-added."""
    frames = np.fft.irfft(s, n)[..., :length]
    if frames.shape[-1] < length:
        pad = np.zeros(frames.shape[:-1] + (length - frames.shape[-1],))
        frames = np.concatenate([frames, pad], -1)
    frames = frames * window
    count = frames.shape[-2]
    out = np.zeros(frames.shape[:-2] + ((count - 1) * step + length,))
    for f in range(count):
        out[..., f * step:f * step + length] += frames[..., f, :]
    return out


def np_inverse_window(length, step, forward=hann):
    w = forward(length)
    overlaps = -(-length // step)
    denominator = np.pad(w * w, (0, overlaps * step - length)).reshape(overlaps, step).sum(0)
    return w / np.tile(denominator, overlaps)[:length]


# --- the plain transforms -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rfft_and_irfft_match_numpy(target, dtype):
    # lengths on the direct GEMM (7, 12) and on the two-step form (600 = 20 x 30, 1024)
    cases = [((2, 3, 7), None), ((4, 12), 16), ((4, 12), 9), ((2, 600), None),
             ((3, 1024), None), ((2, 1000), 1024)]
    xs = [RNG.standard_normal(shape).astype(dtype) for shape, _ in cases]
    dynamic = tf.placeholder(dtype, [None, 1024])
    fetches = []
    for x, (_, n) in zip(xs, cases):
        spectrum = tf.signal.rfft(tf.constant(x), None if n is None else [n])
        fetches += [spectrum, tf.signal.irfft(spectrum, None if n is None else [n])]
    fetches.append(tf.signal.irfft(tf.signal.rfft(dynamic)))
    got = run(fetches, {dynamic: xs[4]}, target)
    for k, (x, (_, n)) in enumerate(zip(xs, cases)):
        want = np.fft.rfft(x.astype(np.float64), n)
        close(got[2 * k], want, dtype)
        close(got[2 * k + 1], np.fft.irfft(want, n), dtype)
        assert got[2 * k + 1].dtype == dtype
    close(got[-1], xs[4], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_complex_transforms_match_numpy(target, dtype):
    z = (RNG.standard_normal((3, 9)) + 1j * RNG.standard_normal((3, 9))).astype(
        np.complex64 if dtype == np.float32 else np.complex128)
    image = RNG.standard_normal((2, 6, 10)).astype(dtype)
    c = tf.complex(tf.constant(z.real), tf.constant(z.imag))
    squares = tf.complex(tf.constant(image), tf.constant(image[::-1]))
    half = tf.signal.rfft2d(tf.constant(image))
    fetches = [tf.signal.fft(c), tf.signal.ifft(c), tf.signal.irfft(c),
               tf.signal.irfft(c, [12]), tf.signal.irfft(c, [7]),
               tf.signal.fft2d(squares), tf.signal.ifft2d(squares), half,
               tf.signal.irfft2d(half), tf.signal.rfft2d(tf.constant(image), [4, 12])]
    got = run(fetches, None, target)
    w = np.asarray(z, np.complex128)
    sq = image + 1j * image[::-1]
    want = [np.fft.fft(w), np.fft.ifft(w), np.fft.irfft(w), np.fft.irfft(w, 12),
            np.fft.irfft(w, 7), np.fft.fft2(sq), np.fft.ifft2(sq), np.fft.rfft2(image),
            image, np.fft.rfft2(image, (4, 12))]
    for g, v in zip(got, want):
        close(g, v, dtype)


# --- complex values -------------------------------------------------------------------------
def test_complex_arithmetic_and_fetching():
    a = np.array([1.0 + 2.0j, -0.5 + 0.25j, 3.0 - 1.0j], np.complex64)
    b = np.array([0.5 - 1.0j, 2.0 + 0.0j, -1.0 + 4.0j], np.complex64)
    r = np.array([2.0, -3.0, 0.5], np.float32)
    re = tf.placeholder(tf.float32, [3])
    x = tf.complex(re, tf.constant(a.imag))
    y = tf.complex(tf.constant(b.real), tf.constant(b.imag))
    t = tf.constant(r)
    assert x.dtype == "complex64" and x.dtype.name == "complex64" and x.shape == [3]
    assert str(x.dtype) == "complex64" and x.graph is tf.get_default_graph()
    fetches = {
        "ops": [x + y, x - y, x * y, x / y, -x, x * t, t * x, t - x, t / x, x + 1.5,
                x * (2 - 1j), 2j / x, np.float32(2.0) * x, tf.add(x, y), tf.multiply(t, x),
                tf.divide(x, t), tf.square(x), tf.math.conj(x)],
        "real": (tf.math.real(x), tf.math.imag(x), tf.abs(x), tf.math.abs(x),
                 tf.math.angle(x), tf.real(t), tf.imag(t), tf.angle(-t), abs(x)),
        "shape": [tf.reshape(x, [3, 1]), tf.expand_dims(x, 0), tf.squeeze(tf.reshape(x, [1, 3])),
                  tf.transpose(tf.reshape(x, [1, 3])), x[1:], x[0],
                  tf.transpose(tf.reshape(x, [3, 1]), conjugate=True)],
    }
    with tf.Session() as sess:
        got = sess.run(fetches, {re: a.real})
        call = sess.make_callable([x, (tf.abs(x),)], [re])
        called = call(a.real)
        assert x.eval({re: a.real}, session=sess).tolist() == a.tolist()
    want = [a + b, a - b, a * b, a / b, -a, a * r, r * a, r - a, r / a, a + 1.5, a * (2 - 1j),
            2j / a, 2 * a, a + b, r * a, a / r, a * a, np.conj(a)]
    for g, w in zip(got["ops"], want):
        assert g.dtype == np.complex64
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    real_want = (a.real, a.imag, np.abs(a), np.abs(a), np.angle(a), r, np.zeros(3),
                 np.angle(-r), np.abs(a))
    assert isinstance(got["real"], tuple)
    for g, w in zip(got["real"], real_want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    shaped = [a.reshape(3, 1), a[None], a, a.reshape(3, 1), a[1:], a[0], np.conj(a)[None]]
    for g, w in zip(got["shape"], shaped):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w)
    assert isinstance(got["shape"][5], np.complex64)
    assert called[0].tolist() == a.tolist() and isinstance(called[1], tuple)
    np.testing.assert_allclose(called[1][0], np.abs(a), rtol=1e-6)


def test_complex128_and_what_a_complex_tensor_refuses():
    x = tf.complex(tf.constant([1.0, 2.0], tf.float64), tf.constant([0.5, -1.0], tf.float64))
    assert x.dtype == tf.ComplexTensor(x.real, x.imag).dtype == "complex128"
    value = run(x * x)
    assert value.dtype == np.complex128
    np.testing.assert_allclose(value, np.array([1 + 0.5j, 2 - 1j]) ** 2)
    np.testing.assert_allclose(run(tf.complex(tf.ones([2, 1]), tf.zeros([3]))), np.ones((2, 3)))
    with pytest.raises(TypeError, match="has no single real value here: take tf.math.real"):
        tf.reduce_sum(x)
    with pytest.raises(TypeError, match="exp is not defined for complex values"):
        tf.exp(x)
    with pytest.raises(TypeError, match="maximum is not defined for complex values"):
        tf.maximum(x, 1.0)
    with pytest.raises(DTypeError, match="must be float32 or float64 tensors"):
        tf.complex(tf.constant([1, 2]), tf.constant([3, 4]))
    with pytest.raises(DTypeError, match="must have one dtype, got float32 and float64"):
        tf.complex(tf.constant([1.0]), tf.constant([1.0], tf.float64))
    with pytest.raises(ShapeError, match="do not broadcast"):
        tf.complex(tf.ones([2]), tf.ones([3]))
    with pytest.raises(DTypeError, match="combines with float tensors only"):
        x + tf.constant([1, 2])
    with pytest.raises(TypeError, match="Using a ComplexTensor as a Python bool"):
        bool(x)
    re = tf.placeholder(tf.float64, [2])
    fed = tf.complex(re, re)
    with tf.Session() as sess, pytest.raises(TypeError, match="a ComplexTensor is not fed"):
        sess.run(fed.real, {fed: np.ones(2)})


# --- gradients ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [12, 1024])
def test_gradients_of_spectral_losses(target, n):
    """d/dx sum |rfft(x)|^2 = 2 (C C^T + S S^T) x, on the direct and two-step forms; a
    magnitude loss checked by central differences."""
    x = RNG.standard_normal((2, n))
    xt = tf.constant(x)
    spectrum = tf.signal.rfft(xt)
    power = tf.reduce_sum(tf.square(spectrum.real) + tf.square(spectrum.imag))
    weights = tf.constant(RNG.standard_normal(n // 2 + 1))
    magnitude = tf.reduce_sum(tf.abs(spectrum) * weights)
    grads = run(tf.gradients(power, [xt]) + tf.gradients(magnitude, [xt]), None, target)
    a = 2 * np.pi * np.outer(np.arange(n), np.arange(n // 2 + 1)) / n
    c, s = np.cos(a), np.sin(a)
    np.testing.assert_allclose(grads[0], 2 * x @ (c @ c.T + s @ s.T), rtol=1e-9, atol=1e-9)

    def loss(v):
        return (np.abs(np.fft.rfft(v)) * run(weights)).sum()
    eps, probe = 1e-6, [(0, 1), (1, n - 1), (1, n // 3)]
    for i, j in probe:
        e = np.zeros_like(x)
        e[i, j] = eps
        numeric = (loss(x + e) - loss(x - e)) / (2 * eps)
        assert abs(grads[1][i, j] - numeric) < 1e-5 * max(1.0, abs(numeric))


# --- short-time transforms ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stft_matches_numpy_and_scipy(target, dtype):
    x = RNG.standard_normal((2, 3000)).astype(dtype)
    cases = [dict(frame_length=256, frame_step=64),                     # direct
             dict(frame_length=1024, frame_step=256, pad_end=True),     # two-step
             dict(frame_length=400, frame_step=160, fft_length=512),    # padded frames
             dict(frame_length=700, frame_step=100, fft_length=512),    # cropped frames
             dict(frame_length=255, frame_step=100, window_fn=None),
             dict(frame_length=600, frame_step=150, fft_length=600,
                  window_fn=tf.signal.hamming_window)]
    signal_in = tf.placeholder(dtype, [None, 3000])
    got = run([tf.signal.stft(signal_in, **case) for case in cases], {signal_in: x}, target)
    windows = {None: None, tf.signal.hamming_window:
               lambda n: 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / n)}
    for g, case in zip(got, cases):
        length, step = case["frame_length"], case["frame_step"]
        n = case.get("fft_length", 1 << (length - 1).bit_length())
        window = windows[case["window_fn"]] if "window_fn" in case else hann
        frames = np_frames(x.astype(np.float64), length, step, case.get("pad_end", False))
        if window is not None:
            frames = frames * window(length)
        close(g, np.fft.rfft(frames, n), dtype)
    # scipy's stft of the same frames, scaled by 1 / sum(window)
    _, _, reference = signal.stft(x[0].astype(np.float64), nperseg=256, noverlap=192,
                                  boundary=None, padded=False)
    close(got[0][0], reference.T * 128, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inverse_stft_matches_tf_definition_and_round_trips(target, dtype):
    x = RNG.standard_normal((2, 4000)).astype(dtype)
    cases = [(256, 64, None), (1024, 256, None), (400, 160, 512), (700, 100, 512),
             (1000, 250, 1024)]
    signal_in = tf.constant(x)
    fetches, windows = [], []
    for length, step, n in cases:
        spectrum = tf.signal.stft(signal_in, length, step, n)
        fetches += [spectrum, tf.signal.inverse_stft(spectrum, length, step, n),
                    tf.signal.inverse_stft(spectrum, length, step, n,
                                           window_fn=tf.signal.inverse_stft_window_fn(step))]
        windows.append(tf.signal.inverse_stft_window_fn(step)(length, dtype=dtype))
    # an inverse of parts (not of a transform's own result), batch dims [2, 1]
    parts = tf.signal.stft(signal_in, 1024, 256)
    rebuilt = tf.complex(tf.reshape(parts.real, [2, 1, -1, 513]),
                         tf.reshape(parts.imag, [2, 1, -1, 513]))
    fetches.append(tf.signal.inverse_stft(rebuilt, 1024, 256))
    got = run(fetches + windows, None, target)
    for k, (length, step, n) in enumerate(cases):
        n = n or 1 << (length - 1).bit_length()
        spectrum, plain, inverse = got[3 * k:3 * k + 3]
        close(plain, np_inverse_stft(spectrum, length, step, n, hann(length)), dtype)
        window = np_inverse_window(length, step)
        close(inverse, np_inverse_stft(spectrum, length, step, n, window), dtype)
        close(got[len(fetches) + k], window, dtype)
        if n >= length:  # every frame whole: the signal comes back where frames overlap
            middle = slice(length, inverse.shape[-1] - length)
            close(inverse[:, middle], x[:, middle], dtype)
    close(got[len(fetches) - 1][:, 0], got[4], dtype)


def test_stft_in_blocks_odd_factorizations_and_batch_dims(target):
    """The two-step STFT in blocks of _BLOCK frames: fewer frames than a block, whole
    blocks, a partial last block; an odd split (675 = 27 x 25) and an even one; batch dims
    [2, 1]; an rfft of rows known at build time (rows as frames). The fetched complex
    array is a view of the float pairs the graph wrote (no copy)."""
    from graphc.modalities import audio_fft
    block = audio_fft._BLOCK
    assert audio_fft._two_step(675) == (27, 25) and audio_fft._two_step(512) == (32, 16)
    frames = [5, 2 * block + 1, 2 * block]  # fewer than a block, one past 2 blocks, 2 blocks
    cases = [(n, length, 64, (count - 1) * 64 + length)  # (fft_length, length, step, samples)
             for count, (n, length) in zip(frames, [(675, 640), (675, 675), (512, 448)])]
    x = RNG.standard_normal((2, 1, max(case[-1] for case in cases)))
    rows = RNG.standard_normal((block + 3, 600))
    for dtype in (np.float32, np.float64):
        fetches = [tf.signal.stft(tf.constant(x[..., :size].astype(dtype)), length, step, n)
                   for n, length, step, size in cases]
        fetches.append(tf.signal.rfft(tf.constant(rows.astype(dtype)), [675]))
        got = run(fetches, None, target)
        for g, (n, length, step, size) in zip(got, cases):
            want = np_stft(x[..., :size], length, step, n)
            close(g, want, dtype)
        close(got[-1], np.fft.rfft(rows, 675), dtype)
        assert [g.shape for g in got] == [(2, 1, 5, 338), (2, 1, 2 * block + 1, 338),
                                          (2, 1, 2 * block, 257), (block + 3, 338)]
        assert got[1].base is not None and got[1].base.dtype == dtype  # a view of pairs


def test_stft_gradient_is_the_transposed_transform(target):
    """d/dx sum(A re + B im) of stft(x) = the overlap-add of w[t] (A cos - B sin)(t) per
    frame, on the direct form (256) and the blocked two-step form (1024, padded frames)."""
    x = RNG.standard_normal((2, 3000))
    xt = tf.constant(x)
    cases = [(256, 256, 100), (700, 1024, 128)]
    grads, weights = [], []
    for length, n, step in cases:
        spectrum = tf.signal.stft(xt, length, step, n)
        a, b = (RNG.standard_normal(spectrum.shape.as_list()) for _ in range(2))
        loss = tf.reduce_sum(spectrum.real * a) + tf.reduce_sum(spectrum.imag * b)
        grads += tf.gradients(loss, [xt])
        weights.append((a, b))
    got = run(grads, None, target)
    for g, (length, n, step), (a, b) in zip(got, cases, weights):
        angle = 2 * np.pi * np.outer(np.arange(n // 2 + 1), np.arange(length)) / n
        per_frame = (a @ np.cos(angle) - b @ np.sin(angle)) * hann(length)
        want = np.zeros_like(x)
        for f in range(per_frame.shape[1]):
            want[:, f * step:f * step + length] += per_frame[:, f]
        np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-9)


def test_griffin_lim_converges(target):
    rate = 8000
    t = np.arange(rate // 2) / rate
    chirp = np.sin(2 * np.pi * (300 + 1200 * t) * t) + 0.5 * np.sin(2 * np.pi * 2200 * t)
    mags = tf.abs(tf.signal.stft(tf.constant(chirp, tf.float32), 256, 64))

    def convergence(iterations, momentum):
        y = tf.signal.griffin_lim(mags, 256, 64, iterations=iterations, seed=5,
                                  momentum=momentum)
        rebuilt = tf.abs(tf.signal.stft(y, 256, 64))
        error = tf.sqrt(tf.reduce_sum(tf.square(rebuilt - mags)))
        return y, error / tf.sqrt(tf.reduce_sum(tf.square(mags)))
    plain = [convergence(k, 0.0)[1] for k in (0, 4, 16, 40)]
    fast_signal, fast = convergence(40, 0.99)
    again, _ = convergence(40, 0.99)
    got = run(plain + [fast, fast_signal, again], None, target)
    assert all(a > b for a, b in zip(got[:4], got[1:4])), got[:4]  # plain GL never worsens
    assert got[0] > 0.5 and got[3] < 0.2 and got[4] < 0.12, got[:5]
    assert got[5].shape == ((len(chirp) - 256) // 64 * 64 + 256,) and got[5].dtype == np.float32
    np.testing.assert_array_equal(got[5], got[6])  # one seed, one result


# --- errors ---------------------------------------------------------------------------------
def test_errors_name_what_is_wrong():
    with pytest.raises(ShapeError, match="rfft: the last axis of .* must be known"):
        tf.signal.rfft(tf.placeholder(tf.float32, [2, None]))
    with pytest.raises(ShapeError, match="stft: the last axis of .* must be known"):
        tf.signal.stft(tf.placeholder(tf.float32, [None]), 256, 64)
    with pytest.raises(DTypeError, match="rfft: the input must be a float32 or float64 tensor, "
                                         "got .* of dtype int32"):
        tf.signal.rfft(tf.constant([1, 2, 3]))
    with pytest.raises(DTypeError, match="stft: the input must be a float32 or float64"):
        tf.signal.stft(tf.zeros([100], tf.int16), 16, 8)
    with pytest.raises(DTypeError, match="irfft: the input must be a complex value"):
        tf.signal.irfft(tf.zeros([9]))
    with pytest.raises(ValueError, match="rfft: fft_length must be known when the graph"):
        tf.signal.rfft(tf.zeros([8]), tf.placeholder(tf.int32, [1]))
    with pytest.raises(ValueError, match="fft_length must be one positive integer, got"):
        tf.signal.rfft(tf.zeros([8]), [4, 4])
    with pytest.raises(ValueError, match="frame_step must be positive, got 0"):
        tf.signal.stft(tf.zeros([100]), 16, 0)
    with pytest.raises(ShapeError, match="griffin_lim: magnitudes have 9 bins, but fft_length "
                                         "32 gives 17"):
        tf.signal.griffin_lim(tf.zeros([4, 9]), 32, 8)
    with pytest.raises(ShapeError, match="frame count of .* must be known"):
        spectrum = tf.complex(tf.placeholder(tf.float32, [None, 9]), tf.zeros([1, 9]))
        tf.signal.inverse_stft(tf.complex(tf.placeholder(tf.float32, [2, None, 9]),
                                          tf.placeholder(tf.float32, [2, None, 9])), 16, 8)
    assert spectrum.shape.as_list() == [None, 9]
