"""tf.image color spaces, hue and saturation, the random augmentations, and (in the second
half) resize_with_pad, patches, crop_and_resize and ssim: on every target against numpy
references of TF's definitions, with gradients and TF's argument errors."""

from __future__ import annotations

import colorsys
import re

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.test import gradcheck

RNG = np.random.default_rng(20261206)


def to_float(a):
    return a.astype(np.float32) / np.float32(255) if a.dtype == np.uint8 else a


def from_float(x, dt):
    """convert_image_dtype from float32 (uint8: x * 255.5, truncated, saturating)."""
    if dt != np.uint8:
        return x.astype(dt)
    return np.clip(np.trunc(x * np.float32(255.5)), 0, 255).astype(np.uint8)


def np_rgb_to_hsv(a):
    return np.array([colorsys.rgb_to_hsv(*p) for p in a.reshape(-1, 3)]).reshape(a.shape)


def np_hsv_to_rgb(a):
    return np.array([colorsys.hsv_to_rgb(*p) for p in a.reshape(-1, 3)]).reshape(a.shape)


def np_adjust_hsv(a, hue=0.0, saturation=1.0):
    hsv = np_rgb_to_hsv(to_float(a).astype(np.float64))
    hsv[..., 0] = np.mod(hsv[..., 0] + hue, 1.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 1)
    return from_float(np_hsv_to_rgb(hsv).astype(np.float32), a.dtype)


def image(dt, shape=(4, 5, 3)):
    if dt == np.uint8:
        return RNG.integers(0, 256, size=shape, dtype=np.uint8)
    return RNG.random(shape).astype(dt)


def close_uint8(got, want, tol=1):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= tol


# --- color spaces ---------------------------------------------------------------------------
def test_color_spaces(target):
    a = image(np.float32, (2, 4, 5, 3))
    a[0, 0, 0] = [0.5, 0.5, 0.5]                  # gray: hue and saturation 0
    a[0, 0, 1] = [0.0, 0.0, 0.0]                  # black
    a[0, 0, 2] = [0.9, 0.2, 0.9]                  # red and blue tie for the maximum
    x = tf.placeholder(tf.float32, [None, 4, 5, 3])
    hsv = np_rgb_to_hsv(a).astype(np.float32)
    h = tf.placeholder(tf.float32, [None, 4, 5, 3])
    fetches = [tf.image.rgb_to_hsv(x), tf.image.hsv_to_rgb(h), tf.image.rgb_to_yuv(x),
               tf.image.yuv_to_rgb(tf.image.rgb_to_yuv(x))]
    got = run(fetches, {x: a, h: hsv}, target)
    rgb_to_yuv = np.array([[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512],
                           [0.114, 0.43601035, -0.10001026]], np.float32)
    for g, w in zip(got, [hsv, a, a @ rgb_to_yuv, a]):
        assert g.dtype == np.float32 and g.shape == a.shape
        assert_close(g, w, rtol=1e-5, atol=2e-6)
    assert 0 <= got[0][..., 0].min() and got[0][..., 0].max() < 1


@pytest.mark.parametrize("dt", [np.uint8, np.float32], ids=lambda d: d.__name__)
def test_hue_and_saturation(target, dt):
    a = image(dt)
    x = tf.placeholder(tf.as_dtype(dt), [4, 5, 3])
    cases = [(0.0, 1.0), (0.25, 1.0), (-0.7, 1.0), (1.0, 1.0), (0.0, 0.3), (0.0, 2.5)]
    fetches = [tf.image.adjust_hue(x, hue) if s == 1.0 else tf.image.adjust_saturation(x, s)
               for hue, s in cases]
    got = run(fetches, {x: a}, target)
    for g, (hue, s) in zip(got, cases):
        want = np_adjust_hsv(a, hue, s)
        if dt == np.uint8:
            close_uint8(g, want)
        else:
            assert g.dtype == np.float32
            assert_close(g, want, rtol=1e-5, atol=2e-6)


def test_color_gradients():
    gradcheck(lambda x: tf.image.rgb_to_hsv(x), [0.1 + 0.8 * RNG.random((2, 3, 3))])
    gradcheck(lambda x: tf.image.adjust_saturation(x, 0.6), [RNG.random((2, 3, 3))])
    gradcheck(lambda x: tf.image.rgb_to_yuv(x), [RNG.random((2, 2, 3))])


def test_adjust_gradients():
    """The adjust_* ops' gradients (TF defines them: compositions of differentiable ops)."""
    x = 0.1 + 0.8 * RNG.random((2, 3, 3))
    gradcheck(lambda v: tf.image.adjust_brightness(v, 0.2), [x])
    gradcheck(lambda v: tf.image.adjust_contrast(v, 1.7), [x])
    gradcheck(lambda v: tf.image.adjust_hue(v, 0.15), [x])
    gradcheck(lambda v: tf.image.adjust_gamma(v, 0.8, 1.3), [x])
    gradcheck(lambda v: tf.image.per_image_standardization(v), [x])


@pytest.mark.parametrize("call, error, message", [
    (lambda x: tf.image.rgb_to_hsv(tf.cast(x, tf.uint8)), TypeError,
     "rgb_to_hsv: images must be float16, float32 or float64, got uint8"),
    (lambda x: tf.image.rgb_to_yuv(x[..., :2]), ValueError,
     "rgb_to_yuv: the last dimension of 'images' must be 3"),
    (lambda x: tf.image.adjust_hue(x, 1.5), ValueError,
     "delta must be in the interval [-1, 1]"),
    (lambda x: tf.image.random_hue(x, 0.6), ValueError, "max_delta must be <= 0.5."),
    (lambda x: tf.image.random_hue(x, -0.1), ValueError, "max_delta must be non-negative."),
    (lambda x: tf.image.random_brightness(x, -1), ValueError, "max_delta must be non-negative."),
    (lambda x: tf.image.random_contrast(x, 0.5, 0.5), ValueError, "upper must be > lower."),
    (lambda x: tf.image.random_saturation(x, -0.5, 1), ValueError,
     "lower must be non-negative."),
])
def test_argument_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(tf.placeholder(tf.float32, [4, 5, 3]))


# --- random augmentations -------------------------------------------------------------------
def runs(fetches, feed, target, times):
    """`times` runs of `fetches` in one Session."""
    with tf.Session(target=target) as sess:
        return [sess.run(fetches, feed) for _ in range(times)]


def test_random_flips(target):
    a, batch = image(np.float32), image(np.float32, (6, 4, 5, 3))
    x = tf.placeholder(tf.float32, [4, 5, 3])
    b = tf.placeholder(tf.float32, [None, 4, 5, 3])
    fetches = [tf.image.random_flip_left_right(x, seed=1), tf.image.random_flip_up_down(x),
               tf.image.random_flip_left_right(b, seed=2), tf.image.random_flip_up_down(b)]
    outcomes = [set(), set(), set(), set()]
    for got in runs(fetches, {x: a, b: batch}, target, 12):
        for k, (g, flipped) in enumerate(zip(got[:2], [a[:, ::-1], a[::-1]])):
            assert (g == a).all() or (g == flipped).all()
            outcomes[k].add(bool((g == flipped).all()))
        for k, (g, flipped) in enumerate(zip(got[2:], [batch[:, :, ::-1], batch[:, ::-1]])):
            same = [(g[i] == batch[i]).all() for i in range(6)]
            flips = [(g[i] == flipped[i]).all() for i in range(6)]
            assert all(s or f for s, f in zip(same, flips))
            outcomes[2 + k].update(flips)           # images of a batch flip independently
    assert all(o == {False, True} for o in outcomes)


def test_random_adjustments_replay_their_draw(target):
    """With the same graph and op seeds, the op's draw is tf.random_uniform's, and the
    result is the deterministic adjustment by that draw."""
    a = image(np.uint8)
    x = tf.placeholder(tf.uint8, [4, 5, 3])
    tf.set_random_seed(5)
    ops = [(tf.image.random_brightness(x, 0.2, seed=1), (-0.2, 0.2), tf.image.adjust_brightness),
           (tf.image.random_contrast(x, 0.3, 1.8, seed=2), (0.3, 1.8), tf.image.adjust_contrast),
           (tf.image.random_saturation(x, 0.2, 2.0, seed=3), (0.2, 2.0),
            tf.image.adjust_saturation),
           (tf.image.random_hue(x, 0.4, seed=4), (-0.4, 0.4), tf.image.adjust_hue)]
    draws = [tf.random_uniform([], low, high, seed=k + 1) for k, (_, (low, high), _) in
             enumerate(ops)]
    factor = tf.placeholder(tf.float32, [])
    adjusted = [adjust(x, factor) for _, _, adjust in ops]
    first = runs([op for op, _, _ in ops] + draws, {x: a}, target, 3)
    again = runs([op for op, _, _ in ops] + draws, {x: a}, target, 3)
    with tf.Session(target=target) as sess:
        for got, replay in zip(first, again):
            for k, (op, (low, high), _) in enumerate(ops):
                assert (got[k] == replay[k]).all() and got[k].dtype == np.uint8
                draw = got[4 + k]
                assert low <= draw < high
                assert (got[k] == sess.run(adjusted[k], {x: a, factor: draw})).all()
    assert len({float(run[4]) for run in first}) == 3    # each run draws anew


# --- resize_with_pad, patches, crop_and_resize, ssim ----------------------------------------
def test_resize_with_pad(target):
    a = image(np.uint8, (4, 8, 3))
    x = tf.placeholder(tf.uint8, [4, 8, 3])
    tall = np.zeros((8, 8, 3), np.uint8)
    tall[2:6] = a                                  # ratio 1: the image itself, 2 rows on top
    fetches = [tf.image.resize_with_pad(x, 8, 8), tf.image.resize_image_with_pad(x, 6, 4),
               tf.image.resize_images(x, [2, 4]),
               tf.image.resize_image_with_pad(x, 5, 4, tf.image.ResizeMethod.NEAREST_NEIGHBOR)]
    got = run(fetches, {x: a}, target)
    assert got[0].dtype == np.uint8 and (got[0] == tall).all()
    small = np.zeros((6, 4, 3), np.float32)        # ratio 2: 2 x 4, int((6 - 2) / 2) on top
    small[2:4] = got[2]
    assert_close(got[1], small)
    nearest = np.zeros((5, 4, 3), np.uint8)        # int((5 - 2) / 2) = 1 row on top
    nearest[1:3] = a[::2, ::2]
    assert (got[3] == nearest).all()


def np_patches(a, size, stride, rate, padding):
    """TF's ExtractImagePatches, one output element at a time (zeros outside the image)."""
    n, h, w, c = a.shape

    def geometry(length, k, s, r):
        span = k + (k - 1) * (r - 1)
        out = (length - span) // s + 1 if padding == "VALID" else -(-length // s)
        return out, 0 if padding == "VALID" else max((out - 1) * s + span - length, 0) // 2

    (oh, top), (ow, left) = geometry(h, size[0], stride[0], rate[0]), geometry(
        w, size[1], stride[1], rate[1])
    out = np.zeros((n, oh, ow, size[0] * size[1] * c), a.dtype)
    for i in range(oh):
        for j in range(ow):
            for ki in range(size[0]):
                for kj in range(size[1]):
                    y, x = i * stride[0] - top + ki * rate[0], j * stride[1] - left + kj * rate[1]
                    if 0 <= y < h and 0 <= x < w:
                        k = (ki * size[1] + kj) * c
                        out[:, i, j, k:k + c] = a[:, y, x]
    return out


PATCHES = [((2, 2), (2, 2), (1, 1), "VALID"), ((3, 2), (1, 2), (1, 1), "SAME"),
           ((2, 3), (2, 1), (2, 1), "SAME"), ((3, 3), (3, 2), (1, 2), "VALID"),
           ((1, 1), (1, 1), (1, 1), "VALID")]


def test_extract_patches(target):
    a = image(np.uint8, (2, 6, 7, 2))
    x = tf.placeholder(tf.uint8, [None, 6, 7, 2])
    fetches = [tf.image.extract_patches(x, [1, *k, 1], [1, *s, 1], [1, *r, 1], p) for k, s, r, p in
               PATCHES]
    fetches.append(tf.image.extract_image_patches(x, ksizes=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                                  rates=[1, 1, 1, 1], padding="VALID"))
    got = run(fetches, {x: a}, target)
    for g, (k, s, r, p) in zip(got, PATCHES + PATCHES[:1]):
        want = np_patches(a, k, s, r, p)
        assert g.dtype == np.uint8 and g.shape == want.shape and (g == want).all(), (k, s, r, p)
    corner = run(tf.image.extract_patches(np.arange(16.0).reshape(1, 4, 4, 1), [1, 2, 2, 1],
                                          [1, 2, 2, 1], [1, 1, 1, 1], "VALID"), None, target)
    assert corner[0, 1, 0].tolist() == [8, 9, 12, 13]   # row-major within a patch


def np_crop_and_resize(a, boxes, indices, crop, method, extrapolation):
    """TF's CropAndResize kernel, one sample at a time."""
    _, h, w, c = a.shape
    out = np.full((len(boxes), crop[0], crop[1], c), extrapolation, np.float64)

    def coord(low, high, size, n, i):
        if n > 1:
            return low * (size - 1) + i * (high - low) * (size - 1) / (n - 1)
        return 0.5 * (low + high) * (size - 1)

    for k, ((y1, x1, y2, x2), b) in enumerate(zip(boxes, indices)):
        for i in range(crop[0]):
            y = coord(y1, y2, h, crop[0], i)
            for j in range(crop[1]):
                x = coord(x1, x2, w, crop[1], j)
                if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                    continue
                if method == "nearest":
                    out[k, i, j] = a[b, int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]
                    continue
                t, l_, bt, r = int(np.floor(y)), int(np.floor(x)), int(np.ceil(y)), int(np.ceil(x))
                dy, dx = y - t, x - l_
                top = a[b, t, l_] + (a[b, t, r] - a[b, t, l_]) * dx
                bottom = a[b, bt, l_] + (a[b, bt, r] - a[b, bt, l_]) * dx
                out[k, i, j] = top + (bottom - top) * dy
    return out


BOXES = np.array([[0, 0, 1, 1], [0.2, 0.12, 0.7, 0.93], [0.8, 0.6, 0.1, 0.2],
                  [-0.3, 0.4, 0.5, 1.34], [0.5, 0.5, 0.5, 0.5]], np.float32)


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_crop_and_resize(target, method):
    a = image(np.uint8, (2, 5, 6, 3))
    x = tf.placeholder(tf.uint8, [None, 5, 6, 3])
    boxes = tf.placeholder(tf.float32, [None, 4])
    indices = tf.placeholder(tf.int32, [None])
    fetches = [tf.image.crop_and_resize(x, boxes, indices, [3, 4], method, 7.5),
               tf.image.crop_and_resize(x, boxes, box_ind=indices, crop_size=[1, 1],
                                        method=method)]
    feed = {x: a, boxes: BOXES, indices: [0, 1, 1, 0, 1]}
    got = run(fetches, feed, target)
    for g, crop, extra in zip(got, [(3, 4), (1, 1)], [7.5, 0]):
        want = np_crop_and_resize(a.astype(np.float64), BOXES.astype(np.float64),
                                  feed[indices], crop, method, extra)
        assert g.dtype == np.float32
        assert_close(g, want.astype(np.float32), rtol=1e-5, atol=1e-3)
    assert (got[0][3, 0] == 7.5).all()             # above the image: extrapolated


def test_sampling_gradients():
    boxes = np.array([[0.1, 0.2, 0.8, 0.7], [0.3, 0.05, 0.6, 0.9]])   # inside: no jumps
    pixels = RNG.random((2, 4, 5, 2))
    gradcheck(lambda im: tf.image.crop_and_resize(im, boxes, [1, 0], [3, 2]), [pixels])
    gradcheck(lambda b: tf.image.crop_and_resize(pixels, b, [1, 0], [3, 2]), [boxes])
    gradcheck(lambda im: tf.image.extract_patches(im, [1, 2, 3, 1], [1, 1, 2, 1],
                                                  [1, 1, 1, 1], "SAME"),
              [RNG.random((1, 3, 4, 2))])


def np_ssim(a, b, max_val, size, sigma, k1=0.01, k2=0.03):
    """TF's ssim in float64: Gaussian-weighted means over each VALID window position."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    *lead, h, w, c = a.shape
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    out = np.zeros((*lead, h - size + 1, w - size + 1, c))
    for i in range(h - size + 1):
        for j in range(w - size + 1):
            def mean(t):
                return np.einsum("...ijc,ij->...c", t[..., i:i + size, j:j + size, :], g)
            ma, mb = mean(a), mean(b)
            luminance = (2 * ma * mb + c1) / (ma ** 2 + mb ** 2 + c1)
            cs = (2 * (mean(a * b) - ma * mb) + c2) / (mean(a * a + b * b) - ma ** 2 - mb ** 2
                                                        + c2)
            out[..., i, j, :] = luminance * cs
    return out.mean(axis=(-3, -2, -1))


def test_ssim(target):
    a = image(np.uint8, (2, 9, 8, 3))
    b = np.clip(a.astype(int) + RNG.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    x, y = tf.placeholder(tf.uint8, [None, 9, 8, 3]), tf.placeholder(tf.uint8, [None, 9, 8, 3])
    with pytest.raises(ValueError, match=r"at least filter_size \(11\) high and wide"):
        tf.image.ssim(x, y, 255)                   # 9 x 8 < the default 11 x 11 window
    fetches = [tf.image.ssim(x, y, 255, filter_size=7),
               tf.image.ssim(x, y, 255, filter_size=5, filter_sigma=1.0, k1=0.02),
               tf.image.ssim(x[0], x[0], 255, filter_size=3)]
    got = run(fetches, {x: a, y: b}, target)
    fa, fb = a / 255.0, b / 255.0
    assert_close(got[0], np_ssim(fa, fb, 1.0, 7, 1.5).astype(np.float32), rtol=1e-4, atol=1e-5)
    assert_close(got[1], np_ssim(fa, fb, 1.0, 5, 1.0, k1=0.02).astype(np.float32), rtol=1e-4,
                 atol=1e-5)
    assert got[0].shape == (2,) and got[2].shape == () and abs(got[2] - 1) < 1e-5


@pytest.mark.parametrize("call, message", [
    (lambda x: tf.image.extract_patches(x, [1, 2, 2, 1], [2, 2, 2, 1], [1, 1, 1, 1], "VALID"),
     "extract_patches: strides must be [1, rows, cols, 1]"),
    (lambda x: tf.image.extract_patches(x, [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1], "FULL"),
     "padding must be 'VALID' or 'SAME'"),
    (lambda x: tf.image.extract_patches(x, [1, 5, 2, 1], [1, 1, 1, 1], [1, 2, 1, 1], "VALID"),
     "a patch spanning 9 does not fit in 4"),
    (lambda x: tf.image.crop_and_resize(x, [[0, 0, 1, 1]], [0], [2, 2], "bicubic"),
     "method must be either 'bilinear' or 'nearest'"),
    (lambda x: tf.image.crop_and_resize(x, [[0, 0, 1, 1]], [0], [0, 2]),
     "crop_and_resize: graphc needs crop_size as 2 positive ints"),
    (lambda x: tf.image.resize_with_pad(x, 0, 3), "target_height must be > 0"),
])
def test_sampling_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(tf.placeholder(tf.float32, [1, 4, 5, 3]))
