"""graphc/modalities/video.py: resample, interpolate, loop and map_frames against numpy
references, compiled (the default target) and on the reference target; the frame rates
that video_io.info and read_with_fps read back from files; the errors."""

from __future__ import annotations

import importlib.util
import math
from fractions import Fraction

import numpy as np
import pytest

import graphc as tf
from graphc.modalities import video

RNG = np.random.default_rng(11)
TARGETS = ["llvm", "reference"]


def run(fetches, feed_dict=None, target="llvm"):
    with tf.Session(target=target) as sess:
        return sess.run(fetches, feed_dict)


def clip(frames, height=3, width=4, channels=3, dtype=np.uint8):
    if dtype == np.uint8:
        return RNG.integers(0, 256, (frames, height, width, channels), dtype=np.uint8)
    return RNG.standard_normal((frames, height, width, channels)).astype(dtype)


def reference_positions(frames, fps_in, fps_out):
    """Output count round-half-up(T * fps_out / fps_in) (at least 1); frame j at input
    position j * fps_in / fps_out, computed with exact fractions."""
    fi, fo = Fraction(str(fps_in)), Fraction(str(fps_out))
    count = max(1, math.floor(frames * fo / fi + Fraction(1, 2)))
    positions = [j * fi / fo for j in range(count)]
    return [(math.floor(s), s - math.floor(s)) for s in positions]


def reference_resample(x, fps_in, fps_out, method):
    out = []
    for i, w in reference_positions(len(x), fps_in, fps_out):
        i = min(i, len(x) - 1)
        j = min(i + 1, len(x) - 1)
        if method == "nearest":
            out.append(x[i].astype(np.float64))
        else:
            out.append((1 - float(w)) * x[i].astype(np.float64) + float(w) * x[j])
    out = np.stack(out)
    if x.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), out
    return out.astype(x.dtype), out


def assert_rounded(actual, exact):
    """uint8 results equal numpy's rint of the float64 blend, except within 1e-3 of a
    rounding tie, where float32 arithmetic may fall on either side (then off by <= 1)."""
    expected = np.clip(np.rint(exact), 0, 255)
    near_tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-3
    assert actual.dtype == np.uint8 and actual.shape == exact.shape
    np.testing.assert_array_equal(actual[~near_tie], expected[~near_tie])
    assert np.abs(actual[near_tie].astype(int) - expected[near_tie]).max(initial=0) <= 1


# --- resample ---------------------------------------------------------------------------------
CASES = [(7, 10, 25), (7, 25, 10), (5, 30, 15), (9, 30, 24), (6, 24, 30), (5, 10, 10),
         (1, 10, 30), (1, 30, 10), (4, 29.97, 25), (3, 12.5, 7.5)]


@pytest.mark.parametrize("frames,fps_in,fps_out", CASES)
@pytest.mark.parametrize("method", ["nearest", "linear"])
def test_resample_uint8_matches_numpy(frames, fps_in, fps_out, method):
    x = clip(frames)
    expected, exact = reference_resample(x, fps_in, fps_out, method)
    y = video.resample(x, fps_in, fps_out, method)
    assert y.dtype == tf.uint8 and y.shape.as_list() == list(expected.shape)
    assert len(expected) == video.frame_count(frames, fps_in, fps_out)
    assert_rounded(run(y), exact)


def test_frame_count_rule():
    assert video.frame_count(5, 10, 25) == 13        # 12.5 rounds half up
    assert video.frame_count(7, 10, 25) == 18        # 17.5
    assert video.frame_count(5, 30, 15) == 3         # 2.5, an odd count halved
    assert video.frame_count(1, 30, 10) == 1         # never fewer than one frame
    assert video.frame_count(3, 10, 30) == 9
    assert video.frame_count(1001, 30000 / 1001, 30) == 1002     # NTSC to 30 fps


def test_linear_rounds_half_to_even():
    # 10 -> 20 fps puts every other frame halfway: (a + b) / 2 ends in .5 when a + b is odd
    x = np.array([[0], [1], [2], [5], [255]], np.uint8).reshape(5, 1, 1, 1)
    y = run(video.resample(x, 10, 20, "linear")).ravel()
    np.testing.assert_array_equal(y, [0, 0, 1, 2, 2, 4, 5, 130, 255, 255])
    expected, _ = reference_resample(x, 10, 20, "linear")
    np.testing.assert_array_equal(y, expected.ravel())


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_float_stays_float(target, dtype):
    x = clip(7, dtype=dtype)
    for method in ("nearest", "linear"):
        expected, exact = reference_resample(x, 10, 24, method)
        y = video.resample(tf.constant(x), 10, 24, method)
        assert y.dtype.np == dtype
        out = run(y, target=target)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, exact, rtol=1e-6 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


def test_resample_along_an_axis_with_a_fed_batch():
    x = clip(5, dtype=np.float32)[None].repeat(2, 0)
    x[1] *= -1
    p = tf.placeholder(tf.float32, [None, 5, 3, 4, 3])
    y = video.resample(p, 10, 15, "linear", axis=1)
    assert y.shape.as_list() == [None, 8, 3, 4, 3]
    out = run(y, {p: x})
    for b in range(2):
        np.testing.assert_allclose(out[b], reference_resample(x[b], 10, 15, "linear")[1],
                                   rtol=1e-6, atol=1e-6)


def test_integer_ratio_downsampling_is_a_gather():
    x = clip(9)
    nearest = video.resample(x, 30, 10, "nearest")
    linear = video.resample(x, 30, 10, "linear")    # every weight 0: no blend built
    assert nearest.op.type == linear.op.type == "gather"
    np.testing.assert_array_equal(run(linear), x[[0, 3, 6]])


def test_resample_gradient_is_the_blend_transposed():
    x = clip(4, 1, 1, 1, np.float64)
    p = tf.constant(x)
    y = video.resample(p, 4, 10, "linear")
    weights = RNG.standard_normal(y.shape.as_list())
    (grad,) = tf.gradients(tf.reduce_sum(y * weights), [p])
    matrix = np.zeros((10, 4))              # output frame j = sum_i matrix[j, i] x[i]
    for j, (i, w) in enumerate(reference_positions(4, 4, 10)):
        matrix[j, min(i, 3)] += 1 - float(w)
        matrix[j, min(i + 1, 3)] += float(w)
    np.testing.assert_allclose(run(grad, target="reference").ravel(),
                               matrix.T @ weights.ravel(), atol=1e-12)


# --- interpolate and loop ---------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("frames", [1, 2, 5, 8])
def test_interpolate_uint8(target, frames):
    a, b = clip(2)
    y = video.interpolate(a, b, frames)
    assert y.dtype == tf.uint8 and y.shape.as_list() == [frames, 3, 4, 3]
    out = run(y, target=target)
    t = np.arange(frames) / max(frames - 1, 1)
    exact = (1 - t[:, None, None, None]) * a.astype(np.float64) + t[:, None, None, None] * b
    assert_rounded(out, exact)
    np.testing.assert_array_equal(out[0], a)
    if frames > 1:
        np.testing.assert_array_equal(out[-1], b)


def test_interpolate_float():
    a, b = RNG.standard_normal((2, 5, 6)).astype(np.float32)
    out = run(video.interpolate(a, b, 4))
    t = np.array([0, 1, 2, 3], np.float32)[:, None, None] / 3
    np.testing.assert_allclose(out, (1 - t) * a + t * b, rtol=1e-6, atol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("frames", [1, 3, 7, 12])
def test_loop(frames):
    x = clip(3)
    np.testing.assert_array_equal(run(video.loop(x, frames)), x[np.arange(frames) % 3])


# --- map_frames --------------------------------------------------------------------------------
def test_map_frames_matches_per_frame_numpy():
    x = clip(5, 6, 8, 3, np.float32)
    y = video.map_frames(lambda f: tf.image.adjust_brightness(
        tf.image.flip_left_right(tf.image.crop_to_bounding_box(f, 1, 2, 4, 5)), 0.25), x)
    assert y.shape.as_list() == [5, 4, 5, 3]
    np.testing.assert_allclose(run(y), x[:, 1:5, 2:7][:, :, ::-1] + np.float32(0.25),
                               rtol=1e-6)


def test_map_frames_resize_equals_resizing_each_frame():
    x = clip(3, 6, 8, 3)
    batched = run(video.map_frames(lambda f: tf.image.resize(f, [4, 5]), x))
    singles = run([tf.image.resize(tf.constant(frame), [4, 5]) for frame in x])
    np.testing.assert_allclose(batched, np.stack(singles), rtol=1e-6)


def test_map_frames_batch_of_clips_and_tuples():
    x = clip(6, 4, 5, 3, np.float32).reshape(2, 3, 4, 5, 3)
    p = tf.placeholder(tf.float32, [None, None, 4, 5, 3])
    gray = video.map_frames(tf.image.rgb_to_grayscale, p)
    assert gray.shape.as_list() == [None, None, 4, 5, 1]
    weights = np.array([0.2989, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(run(gray, {p: x}), (x * weights).sum(-1, keepdims=True),
                               rtol=1e-5)
    dy, dx = video.map_frames(tf.image.image_gradients, tf.constant(x))
    assert dy.shape.as_list() == [2, 3, 4, 5, 3]
    expected_dy = np.concatenate([np.diff(x, axis=2), np.zeros((2, 3, 1, 5, 3))], axis=2)
    np.testing.assert_allclose(run(dy), expected_dy, rtol=1e-6, atol=1e-6)
    tv = video.map_frames(tf.image.total_variation, tf.constant(x))   # one value per frame
    assert tv.shape.as_list() == [2, 3]


# --- errors ------------------------------------------------------------------------------------
def test_graph_errors():
    x = clip(4)
    with pytest.raises(ValueError, match="resample: fps_in must be a positive number, got 0"):
        video.resample(x, 0, 10)
    with pytest.raises(ValueError, match="fps_out must be a positive number, got -5"):
        video.resample(x, 10, -5)
    with pytest.raises(ValueError, match="fps_out must be a positive number, got nan"):
        video.resample(x, 10, float("nan"))
    with pytest.raises(ValueError, match="fps_in must be a positive number, got True"):
        video.resample(x, True, 10)
    with pytest.raises(ValueError, match=r"method must be one of \('nearest', 'linear'\), "
                                         r"got 'cubic'"):
        video.resample(x, 10, 20, "cubic")
    with pytest.raises(ValueError, match=r"resample: the video 'empty.*' has no frames"):
        video.resample(tf.zeros([0, 2, 2, 3], tf.uint8, name="empty"), 10, 20)
    with pytest.raises(ValueError, match=r"frame count \(axis 0\) of 'clip.*' must be known"):
        video.resample(tf.placeholder(tf.float32, [None, 2, 2, 3], name="clip"), 10, 20)
    with pytest.raises(TypeError, match="must be an integer or floating-point video, got bool"):
        video.resample(tf.zeros([2, 2], tf.bool), 10, 20)
    with pytest.raises(ValueError, match="interpolate: frames must be an int >= 1, got 0"):
        video.interpolate(x[0], x[1], 0)
    with pytest.raises(ValueError, match=r"same known rank and shape, got \(3, 4, 3\) and "
                                         r"\(3, 4, 2\)"):
        video.interpolate(x[0], x[1, ..., :2], 3)
    with pytest.raises(TypeError, match="interpolate: .* is uint8 but .* is float32"):
        video.interpolate(x[0], x[1].astype(np.float32), 3)
    with pytest.raises(ValueError, match="loop: the video .* has no frames"):
        video.loop(np.zeros((0, 2, 2, 3), np.uint8), 4)
    with pytest.raises(ValueError, match=r"map_frames: .* must be a video \[frames, height"):
        video.map_frames(tf.image.flip_left_right, x[0])
    with pytest.raises(ValueError, match=r"the function returned .* of shape \(3, 4, 3\), but "
                                         r"the video .* has 4 frames"):
        video.map_frames(lambda f: tf.reduce_max(f, 0), x)


# --- files: frame rates -----------------------------------------------------------------------
pytest.importorskip("imageio")
from graphc.modalities import video_io  # noqa: E402


def held_clip():
    """Six frames, the first four identical (the encoders store them as one)."""
    x = np.zeros((6, 8, 10, 3), np.uint8)
    x[..., 1] = 90
    x[4, 2:5, 3:6] = (250, 10, 10)
    x[5, 4:7, 1:4] = (10, 10, 250)
    return x


@pytest.mark.parametrize("ext,fps,stored_ms,fps_back", [
    ("png", 30, 100 / 3, 30.0), ("webp", 10, 100, 10.0), ("gif", 10, 100, 10.0),
    ("gif", 15, 70, 100 / 7), ("gif", 30, 30, 100 / 3), ("gif", 200, 10, 100.0)])
def test_read_with_fps_restores_merged_frames(tmp_path, ext, fps, stored_ms, fps_back):
    x = held_clip()
    path = tmp_path / f"c.{ext}"
    video.write(path, x, fps)
    assert len(video.read(path)) == 3                   # what the file stores
    frames, rate = video.read_with_fps(path)
    np.testing.assert_array_equal(frames, x)           # few colours: exact even in GIF
    assert rate == pytest.approx(fps_back, rel=1e-9)
    meta = video.info(path)
    assert (meta.frames, meta.height, meta.width) == (6, 8, 10)
    assert meta.fps == rate
    assert meta.durations_ms == pytest.approx((4 * stored_ms, stored_ms, stored_ms), abs=1)


def save_animation(path, frames, durations):
    from PIL import Image
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


def test_frame_time_is_the_common_step(tmp_path):
    x = held_clip()[3:]                                 # three different frames
    save_animation(tmp_path / "v.gif", x, [200, 300, 100])    # a frame time of 100 ms fits all
    frames, rate = video.read_with_fps(tmp_path / "v.gif")
    np.testing.assert_array_equal(frames, x[[0, 0, 1, 1, 1, 2]])
    assert rate == 10.0
    save_animation(tmp_path / "w.png", x, [100, 104, 96])     # no step >= 96 / 10 fits: one frame
    frames, rate = video.read_with_fps(tmp_path / "w.png")      # each, the rate approximate
    assert len(frames) == 3 and rate == 10.0            # 3 frames in 300 ms
    assert video.info(tmp_path / "w.png").durations_ms == (100, 104, 96)
    # frames all held in pairs: the same animation as half as many frames at half the rate
    video.write(tmp_path / "pairs.png", x[[0, 0, 1, 1, 2, 2]], 10)
    frames, rate = video.read_with_fps(tmp_path / "pairs.png")
    np.testing.assert_array_equal(frames, x)
    assert rate == 5.0


def test_gif_frame_times_round_to_hundredths():
    assert [video.frame_ms("GIF", f) for f in (10, 15, 24, 30, 7.5, 200)] == \
        [100, 70, 40, 30, 130, 10]
    assert video.frame_ms("PNG", 24) == 1000 / 24


def test_still_image_has_no_frame_rate(tmp_path):
    from PIL import Image
    Image.fromarray(held_clip()[4]).save(tmp_path / "still.png")
    frames, rate = video.read_with_fps(tmp_path / "still.png")
    assert frames.shape == (1, 8, 10, 3) and rate is None
    assert video.info(tmp_path / "still.png") == (1, 8, 10, None, None)


def test_file_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"none\.webp' does not exist"):
        video.info(tmp_path / "none.webp")
    with pytest.raises(FileNotFoundError, match=r"none\.gif' does not exist"):
        video.read_with_fps(tmp_path / "none.gif")
    with pytest.raises(ValueError, match=r"v\.png'.*fps must be a positive number, got nan"):
        video.write(tmp_path / "v.png", held_clip(), float("nan"))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"junk\.png' could not be read as PNG"):
        video.info(tmp_path / "junk.png")
    video.write(tmp_path / "long.gif", held_clip(), 100)
    with pytest.raises(ValueError, match=r"long\.gif': 6 frames at 100 fps is more than "
                                         r"max_frames=5"):
        video.read_with_fps(tmp_path / "long.gif", max_frames=5)
    # a file whose decoder yields no frames
    class NoFrames:
        class v3:   # noqa: N801 - stands in for the module imageio.v3
            imiter = staticmethod(lambda *args, **kwargs: iter(()))

    monkeypatch.setattr(video_io, "_imageio", lambda: NoFrames)
    with pytest.raises(ValueError, match=r"long\.gif' has no frames"):
        video.read(tmp_path / "long.gif")


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None,
                    reason="imageio-ffmpeg is not installed")
@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_ffmpeg_formats_frame_rate(tmp_path, suffix):
    x = np.zeros((7, 32, 48, 3), np.uint8)
    for i in range(7):
        x[i, :, 6 * i:6 * i + 6] = 200
    path = tmp_path / f"c{suffix}"
    video.write(path, x, 12)
    frames, rate = video.read_with_fps(path)
    assert frames.shape == x.shape and rate == 12
    assert np.abs(frames.astype(int) - x).mean() < 4            # lossy H.264 / VP9
    assert video.info(path)[:4] == (7, 32, 48, 12.0)
