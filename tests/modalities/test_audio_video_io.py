"""Audio and video files (graphc/modalities/audio_io.py, video_io.py) round-tripped through
tmp_path, and tf.signal.resample (graphc/modalities/audio_resample.py) against
scipy.signal.resample_poly and on a pure tone; the errors they raise."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import run

import graphc as tf

soundfile = pytest.importorskip("soundfile")
pytest.importorskip("imageio")
from graphc.modalities import audio_io, video_io  # noqa: E402

RNG = np.random.default_rng(7)


def tone(freq, rate, seconds, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


# --- audio files ------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["wav", "flac"])
@pytest.mark.parametrize("channels", [1, 2])
def test_lossless_int16_round_trip(tmp_path, ext, channels):
    samples = (RNG.standard_normal((500, channels)) * 4000).astype(np.int16)
    path = tmp_path / f"a.{ext}"
    audio_io.write(path, samples, 16000)
    back, rate = audio_io.read(path)
    assert rate == 16000 and back.dtype == np.int16
    np.testing.assert_array_equal(back, samples)
    as_float, _ = audio_io.read(path, dtype="float32")
    assert as_float.dtype == np.float32
    np.testing.assert_array_equal(as_float, samples / np.float32(32768))


def test_mono_vector_is_one_channel(tmp_path):
    samples = (tone(440, 8000, 0.1) * 32767).astype(np.int16)
    audio_io.write(tmp_path / "m.wav", samples, 8000)
    back, _ = audio_io.read(tmp_path / "m.wav")
    assert back.shape == (len(samples), 1)
    np.testing.assert_array_equal(back[:, 0], samples)


def test_float_wav_is_exact(tmp_path):
    samples = RNG.uniform(-1, 1, (300, 2)).astype(np.float32)
    audio_io.write(tmp_path / "f.wav", samples, 22050)
    back, rate = audio_io.read(tmp_path / "f.wav", dtype="float32")
    assert rate == 22050
    np.testing.assert_array_equal(back, samples)


def test_ogg_vorbis_is_close(tmp_path):
    samples = (tone(440, 16000, 0.5)[:, None] * 32767).astype(np.int16)
    audio_io.write(tmp_path / "t.ogg", samples, 16000)
    back, rate = audio_io.read(tmp_path / "t.ogg")
    assert rate == 16000 and back.shape == samples.shape and back.dtype == np.int16
    error = back.astype(np.float64) - samples
    snr = 10 * np.log10(np.sum(samples.astype(np.float64) ** 2) / np.sum(error ** 2))
    assert snr > 20, snr


def test_audio_errors(tmp_path):
    samples = np.zeros((10, 1), np.int16)
    with pytest.raises(ValueError, match=r"'.*a\.mp3'.*unknown extension '\.mp3'"):
        audio_io.write(tmp_path / "a.mp3", samples, 8000)
    with pytest.raises(FileNotFoundError, match=r"missing\.wav' does not exist"):
        audio_io.read(tmp_path / "missing.wav")
    audio_io.write(tmp_path / "a.wav", samples, 8000)
    with pytest.raises(ValueError, match=r"a\.wav'.*dtype must be one of.*'int32'"):
        audio_io.read(tmp_path / "a.wav", dtype="int32")
    with pytest.raises(ValueError, match=r"b\.wav'.*\[frames, channels\].*\(2, 3, 4\)"):
        audio_io.write(tmp_path / "b.wav", np.zeros((2, 3, 4), np.int16), 8000)
    with pytest.raises(TypeError, match=r"b\.wav'.*int16, float32 or float64, got int32"):
        audio_io.write(tmp_path / "b.wav", np.zeros(4, np.int32), 8000)
    with pytest.raises(ValueError, match=r"b\.wav'.*sample_rate must be a positive int"):
        audio_io.write(tmp_path / "b.wav", samples, 0)
    (tmp_path / "a.wav").rename(tmp_path / "c.flac")
    with pytest.raises(ValueError, match=r"c\.flac' holds WAV, not the FLAC"):
        audio_io.read(tmp_path / "c.flac")
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match=r"junk\.wav' could not be read as WAV"):
        audio_io.read(tmp_path / "junk.wav")


# --- resampling -------------------------------------------------------------------------------
@pytest.mark.parametrize("rate_in,rate_out", [(8000, 16000), (16000, 8000), (44100, 16000),
                                              (16000, 22050), (3, 2), (7, 7)])
def test_resample_matches_scipy(rate_in, rate_out):
    signal = pytest.importorskip("scipy.signal")
    x = RNG.standard_normal((2, 401)).astype(np.float32)
    p = tf.placeholder(tf.float32, [None, 401])
    y = tf.signal.resample(p, rate_in, rate_out)
    g = np.gcd(rate_in, rate_out)
    expected = signal.resample_poly(x.astype(np.float64), rate_out // g, rate_in // g, axis=-1)
    assert y.shape.as_list() == [None, expected.shape[-1]]
    # documented tolerance: float32 rounding of the filter and the sums, 1e-5 absolute
    np.testing.assert_allclose(run(y, {p: x}), expected, atol=1e-5)


def test_resample_any_axis_float64():
    signal = pytest.importorskip("scipy.signal")
    x = RNG.standard_normal((50, 3, 2))
    y = tf.signal.resample(tf.constant(x), 2, 3, axis=0)
    assert y.shape.as_list() == [75, 3, 2]
    np.testing.assert_allclose(run(y), signal.resample_poly(x, 3, 2, axis=0), atol=1e-12)


@pytest.mark.parametrize("rate_in,rate_out", [(16000, 8000), (8000, 44100)])
def test_resample_keeps_a_tones_frequency(rate_in, rate_out):
    x = tone(440, rate_in, 0.5).astype(np.float32)
    y = run(tf.signal.resample(tf.constant(x), rate_in, rate_out))
    assert len(y) == len(x) * rate_out // rate_in
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * rate_out / len(y)
    assert abs(peak_hz - 440) <= rate_out / len(y), peak_hz   # within one bin
    # amplitude kept away from the ends (the filter's zero padding fades the edges)
    middle = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(np.max(np.abs(middle)) - 0.5) < 0.01


def test_resample_removes_what_the_new_rate_cannot_hold():
    x = tone(3000, 16000, 0.25).astype(np.float32)     # above 8 kHz audio's 2 kHz Nyquist
    y = run(tf.signal.resample(tf.constant(x), 16000, 4000))
    assert np.max(np.abs(y[10:-10])) < 0.01


def test_resample_gradient_is_the_adjoint():
    x = RNG.standard_normal(40)
    weights = RNG.standard_normal(60)
    p = tf.constant(x)
    y = tf.signal.resample(p, 2, 3)
    (grad,) = tf.gradients(tf.reduce_sum(y * weights), [p])
    # resampling is linear: the gradient is the transpose of its matrix applied to weights
    basis = np.eye(40)
    matrix = run(tf.signal.resample(tf.constant(basis), 2, 3, axis=1))   # [40 inputs, 60]
    np.testing.assert_allclose(run(grad), matrix @ weights, atol=1e-12)


def test_resample_errors():
    with pytest.raises(ValueError, match="rate_out must be a positive int, got 1.5"):
        tf.signal.resample(tf.zeros([10]), 2, 1.5)
    with pytest.raises(ValueError, match="must be floating point, got int16"):
        tf.signal.resample(tf.zeros([10], tf.int16), 2, 1)
    with pytest.raises(ValueError, match="length of axis 1 .* must be known"):
        tf.signal.resample(tf.placeholder(tf.float32, [2, None]), 2, 1)


# --- video files ------------------------------------------------------------------------------
def moving_square(frames=5, height=24, width=32):
    video = np.zeros((frames, height, width, 3), np.uint8)
    video[..., 2] = 40
    for i in range(frames):
        video[i, 4:12, 3 * i:3 * i + 8] = (250, 200, 10)
    return video


def test_gif_round_trip(tmp_path):
    video = moving_square()
    video_io.write(tmp_path / "v.gif", video, fps=10)
    back = video_io.read(tmp_path / "v.gif")
    assert back.shape == video.shape and back.dtype == np.uint8
    # a palette per frame: few colours come back exactly, many would come back close
    assert np.abs(back.astype(int) - video).max() <= 8


@pytest.mark.parametrize("ext", ["webp", "png"])
def test_lossless_animations_round_trip(tmp_path, ext):
    video = moving_square()
    video_io.write(tmp_path / f"v.{ext}", video, fps=25)
    np.testing.assert_array_equal(video_io.read(tmp_path / f"v.{ext}"), video)


def test_gray_frames(tmp_path):
    video = moving_square()[..., :1]
    video_io.write(tmp_path / "g.png", video, fps=5)
    np.testing.assert_array_equal(video_io.read(tmp_path / "g.png"), video)
    video_io.write(tmp_path / "g.gif", video[..., 0], fps=5)
    back = video_io.read(tmp_path / "g.gif")            # GIF palettes come back as RGB
    assert back.shape == video.shape[:-1] + (3,)
    assert np.abs(back.astype(int) - video).max() <= 8


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is not None,
                    reason="imageio-ffmpeg is installed")
def test_mp4_without_ffmpeg_says_what_to_install(tmp_path):
    with pytest.raises(ImportError, match=r"v\.mp4'.*pip install imageio-ffmpeg"):
        video_io.write(tmp_path / "v.mp4", moving_square(), fps=10)


def test_video_errors(tmp_path):
    video = moving_square()
    with pytest.raises(ValueError, match=r"v\.avi'.*unknown extension '\.avi'"):
        video_io.write(tmp_path / "v.avi", video, fps=10)
    with pytest.raises(FileNotFoundError, match=r"none\.gif' does not exist"):
        video_io.read(tmp_path / "none.gif")
    with pytest.raises(TypeError, match=r"v\.gif'.*must be uint8, got float32"):
        video_io.write(tmp_path / "v.gif", video.astype(np.float32), fps=10)
    with pytest.raises(ValueError, match=r"v\.gif'.*expected frames.*\(24, 32\)"):
        video_io.write(tmp_path / "v.gif", video[0, ..., 0], fps=10)
    with pytest.raises(ValueError, match=r"v\.gif'.*expected frames.*\(5, 24, 32, 2\)"):
        video_io.write(tmp_path / "v.gif", video[..., :2], fps=10)
    with pytest.raises(ValueError, match=r"v\.gif'.*fps must be a positive number"):
        video_io.write(tmp_path / "v.gif", video, fps=0)
    (tmp_path / "junk.gif").write_bytes(b"not a gif")
    with pytest.raises(ValueError, match=r"junk\.gif' could not be read as GIF"):
        video_io.read(tmp_path / "junk.gif")


def test_transparency_is_kept(tmp_path):
    video = np.concatenate([moving_square(), np.full((5, 24, 32, 1), 255, np.uint8)], -1)
    video[:, :2, :, 3] = 0
    video_io.write(tmp_path / "a.png", video, fps=5)
    np.testing.assert_array_equal(video_io.read(tmp_path / "a.png"), video)
    video_io.write(tmp_path / "o.png", np.concatenate([moving_square(), video[..., 3:] | 255],
                                                      -1), fps=5)
    assert video_io.read(tmp_path / "o.png").shape[-1] == 3     # opaque alpha dropped
