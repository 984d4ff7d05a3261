"""tf.image on every target against numpy references of TF's definitions (geometry,
resizing, color, measures), gradients of the differentiable ones, TF's argument errors, and
the image files of graphc.modalities.image (read / write)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.modalities import image as image_module
from graphc.test import gradcheck

RNG = np.random.default_rng(20261207)
DTYPES = [np.uint8, np.float32]


def random_image(dt, shape=(5, 7, 3)):
    if dt == np.uint8:
        return RNG.integers(0, 256, size=shape, dtype=np.uint8)
    return RNG.random(shape, dtype=np.float32)


def to_float(a):
    """convert_image_dtype to float32."""
    return a.astype(np.float32) * np.float32(1 / 255) if a.dtype == np.uint8 else a


def from_float(x, dt):
    """convert_image_dtype(x, dt, saturate=True) from float32."""
    if dt != np.uint8:
        return x.astype(dt)
    return np.clip(np.trunc(np.nan_to_num(x * np.float32(255.5))), 0, 255).astype(np.uint8)


def check(got, want, dt, atol=None):
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        if dt == np.uint8 and atol is not None:   # float rounding may move a value by one
            assert np.abs(g.astype(int) - w.astype(int)).max() <= atol, f"fetch {k}"
        else:
            assert_close(g, w, rtol=1e-5, atol=1e-5)


# --- geometry -------------------------------------------------------------------------------
def np_crop_or_pad(a, th, tw):
    """resize_with_crop_or_pad of one image, TF's offsets."""
    h, w = a.shape[:2]
    a = a[max((h - th) // 2, 0):][:min(th, h), max((w - tw) // 2, 0):][:, :min(tw, w)]
    out = np.zeros((th, tw, a.shape[2]), a.dtype)
    top, left = max((th - h) // 2, 0), max((tw - w) // 2, 0)
    out[top:top + a.shape[0], left:left + a.shape[1]] = a
    return out


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_geometry(target, dt):
    a, batch = random_image(dt), random_image(dt, (2, 5, 7, 3))
    x = tf.placeholder(tf.as_dtype(dt), [5, 7, 3])
    b = tf.placeholder(tf.as_dtype(dt), [None, 5, 7, 3])
    im = tf.image
    fetches = [im.flip_left_right(x), im.flip_up_down(x), im.transpose(x)]
    fetches += [im.rot90(x, k) for k in (0, 1, 2, 3, -1)]
    fetches += [im.central_crop(x, 0.5), im.central_crop(x, 0.8), im.central_crop(x, 1.0),
                im.crop_to_bounding_box(x, 1, 2, 3, 4), im.pad_to_bounding_box(x, 1, 2, 8, 10),
                im.resize_with_crop_or_pad(x, 3, 10), im.resize_image_with_crop_or_pad(x, 8, 4)]
    fetches += [im.flip_left_right(b), im.flip_up_down(b), im.rot90(b), im.transpose_image(b),
                im.central_crop(b, 0.5), im.resize_with_crop_or_pad(b, 6, 5)]
    got = run(fetches, {x: a, b: batch}, target)
    padded = np.zeros((8, 10, 3), dt)
    padded[1:6, 2:9] = a
    want = [a[:, ::-1], a[::-1], a.transpose(1, 0, 2)]
    want += [np.rot90(a, k, axes=(0, 1)) for k in (0, 1, 2, 3, -1)]
    want += [a[1:4, 1:6], a[0:5, 0:7], a, a[1:4, 2:6], padded, np_crop_or_pad(a, 3, 10),
             np_crop_or_pad(a, 8, 4)]
    want += [batch[:, :, ::-1], batch[:, ::-1], np.rot90(batch, 1, axes=(1, 2)),
             batch.transpose(0, 2, 1, 3), batch[:, 1:4, 1:6],
             np.stack([np_crop_or_pad(i, 6, 5) for i in batch])]
    check(got, [np.ascontiguousarray(w) for w in want], dt)


@pytest.mark.parametrize("call, message", [
    (lambda x: tf.image.central_crop(x, 0.0), "central_fraction must be within (0, 1]"),
    (lambda x: tf.image.central_crop(x, 1.5), "central_fraction must be within (0, 1]"),
    (lambda x: tf.image.crop_to_bounding_box(x, -1, 0, 2, 2), "offset_height must be >= 0."),
    (lambda x: tf.image.crop_to_bounding_box(x, 0, -1, 2, 2), "offset_width must be >= 0."),
    (lambda x: tf.image.crop_to_bounding_box(x, 0, 0, 0, 2), "target_height must be > 0."),
    (lambda x: tf.image.crop_to_bounding_box(x, 0, 0, 2, 0), "target_width must be > 0."),
    (lambda x: tf.image.crop_to_bounding_box(x, 3, 0, 3, 2), "height must be >= target + "),
    (lambda x: tf.image.crop_to_bounding_box(x, 0, 5, 2, 3), "width must be >= target + "),
    (lambda x: tf.image.pad_to_bounding_box(x, -1, 0, 9, 9), "offset_height must be >= 0"),
    (lambda x: tf.image.pad_to_bounding_box(x, 0, 3, 9, 9), "width must be <= target - off"),
    (lambda x: tf.image.pad_to_bounding_box(x, 5, 0, 9, 9), "height must be <= target - of"),
    (lambda x: tf.image.resize_with_crop_or_pad(x, 0, 3), "target_height must be > 0."),
    (lambda x: tf.image.flip_left_right(x[0]), "must have either 3 or 4 dimensions"),
    (lambda x: tf.image.adjust_gamma(x, -1.0), "Gamma should be a non-negative real number."),
    (lambda x: tf.image.grayscale_to_rgb(x), "Last dimension of a grayscale image should be"),
    (lambda x: tf.image.image_gradients(x), "image_gradients expects a 4D tensor"),
    (lambda x: tf.image.resize_bilinear(x, [2, 2], align_corners=True,
                                        half_pixel_centers=True),
     "If half_pixel_centers is True, align_corners must be False."),
])
def test_argument_errors(call, message):
    x = tf.placeholder(tf.float32, [5, 7, 3])
    with pytest.raises(ValueError, match=re.escape(message)):
        call(x)


def test_resize_images_dispatches_bicubic_and_area():
    image = RNG_RESIZE.random((5, 7, 3)).astype(np.float32)
    x = tf.placeholder(tf.float32, [5, 7, 3])
    outs = [tf.image.resize_images(x, [3, 4], method=tf.image.ResizeMethod.BICUBIC),
            tf.image.resize_bicubic(x[None], [3, 4])[0],
            tf.image.resize(x, [3, 4], method=3), tf.image.resize_area(x[None], [3, 4])[0]]
    with tf.Session() as sess:
        a, b, c, d = sess.run(outs, {x: image})
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)
    assert not np.allclose(a, c)


def test_unsupported_methods_and_names():
    x = tf.placeholder(tf.float32, [5, 7, 3])
    with pytest.raises(ValueError, match="Resize method is not implemented: 7"):
        tf.image.resize_images(x, [3, 3], method=7)
    with pytest.raises(ValueError, match="Resize method is not implemented: 'lanczos3'"):
        tf.image.resize(x, [3, 3], method="lanczos3")     # a TF2 method: resize_v2 has it
    with pytest.raises(AttributeError, match="tf.image"):
        tf.image.draw_bounding_boxes  # noqa: B018


RNG_RESIZE = np.random.default_rng(7)


# --- resizing -------------------------------------------------------------------------------
def np_resize(a, out_h, out_w, bilinear, align_corners, half_pixel):
    """TF's ResizeBilinear / ResizeNearestNeighbor of one image, pixel by pixel in float32."""
    def scale(n_in, n_out):
        if align_corners and n_out > 1:
            return np.float32(n_in - 1) / np.float32(n_out - 1)
        return np.float32(n_in) / np.float32(n_out)

    h, w, c = a.shape
    sy, sx = scale(h, out_h), scale(w, out_w)
    out = np.zeros((out_h, out_w, c), np.float32 if bilinear else a.dtype)
    for y in range(out_h):
        for x in range(out_w):
            if bilinear:
                fy = (np.float32(y) + np.float32(.5)) * sy - np.float32(.5) if half_pixel \
                    else np.float32(y) * sy
                fx = (np.float32(x) + np.float32(.5)) * sx - np.float32(.5) if half_pixel \
                    else np.float32(x) * sx
                y0, y1 = max(int(np.floor(fy)), 0), min(int(np.ceil(fy)), h - 1)
                x0, x1 = max(int(np.floor(fx)), 0), min(int(np.ceil(fx)), w - 1)
                ly, lx = fy - np.floor(fy), fx - np.floor(fx)
                f = a.astype(np.float32)
                top = f[y0, x0] + (f[y0, x1] - f[y0, x0]) * lx
                bottom = f[y1, x0] + (f[y1, x1] - f[y1, x0]) * lx
                out[y, x] = top + (bottom - top) * ly
            else:
                fy = (y + np.float32(.5)) * sy if half_pixel else np.float32(y) * sy
                fx = (x + np.float32(.5)) * sx if half_pixel else np.float32(x) * sx
                # roundf rounds halves away from zero (np.round would round them to even)
                pick = (lambda v: np.floor(v + np.float32(.5))) if align_corners else np.floor
                out[y, x] = a[min(max(int(pick(fy)), 0), h - 1), min(max(int(pick(fx)), 0),
                                                                     w - 1)]
    return out


MODES = [(False, False), (True, False), (False, True)]   # (align_corners, half_pixel_centers)


@pytest.mark.parametrize("bilinear, mode, row, size, expected", [
    (True, MODES[0], [0, 10, 20, 30], 3, [0, 40 / 3, 80 / 3]),
    (True, MODES[1], [0, 10, 20, 30], 3, [0, 15, 30]),
    (True, MODES[2], [0, 10, 20, 30], 3, [5 / 3, 15, 85 / 3]),
    (True, MODES[0], [0, 10], 4, [0, 5, 10, 10]),
    (True, MODES[1], [0, 10], 4, [0, 10 / 3, 20 / 3, 10]),
    (True, MODES[2], [0, 10], 4, [0, 2.5, 7.5, 10]),
    (False, MODES[0], [0, 10, 20, 30], 3, [0, 10, 20]),
    (False, MODES[1], [0, 10, 20, 30], 3, [0, 20, 30]),
    (False, MODES[2], [0, 10, 20, 30], 3, [0, 20, 30]),
    (False, MODES[0], [0, 10, 20], 5, [0, 0, 10, 10, 20]),
    (False, MODES[1], [0, 10, 20], 5, [0, 10, 10, 20, 20]),
    (False, MODES[2], [0, 10, 20], 5, [0, 0, 10, 20, 20]),
])
def test_resize_hand_computed(bilinear, mode, row, size, expected):
    image = np.array(row, np.float32).reshape(1, -1, 1)
    op = tf.image.resize_bilinear if bilinear else tf.image.resize_nearest_neighbor
    column = np.array(row, np.float32).reshape(-1, 1, 1)
    got = run([op(image, [1, size], *mode), op(column, [size, 1], *mode)])
    np.testing.assert_allclose(got[0].reshape(-1), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got[1].reshape(-1), expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_resize_against_tf_formula(target, dt):
    a = random_image(dt)
    x = tf.placeholder(tf.as_dtype(dt), [None, 5, 7, 3])
    fetches, want = [], []
    for bilinear in (True, False):
        op = tf.image.resize_bilinear if bilinear else tf.image.resize_nearest_neighbor
        for mode in MODES:
            for size in ((3, 4), (9, 11), (1, 1)):
                fetches.append(op(x, list(size), *mode))
                want.append(np_resize(a, *size, bilinear, *mode)[None])
    fetches += [tf.image.resize_images(x, [3, 4]),
                tf.image.resize_images(x, [9, 11], tf.image.ResizeMethod.NEAREST_NEIGHBOR,
                                       align_corners=True),
                tf.image.resize(x, [10, 10], "bilinear", preserve_aspect_ratio=True),
                tf.image.resize_images(x, [5, 7])]
    want += [np_resize(a, 3, 4, True, False, False)[None],
             np_resize(a, 9, 11, False, True, False)[None],
             np_resize(a, 7, 10, True, False, False)[None], a[None]]
    check(run(fetches, {x: a[None]}, target), want, np.float32)


def test_resize_gradients():
    gradcheck(lambda x: tf.image.resize_bilinear(x, [4, 5]), [RNG.random((1, 3, 3, 2))])
    gradcheck(lambda x: tf.image.resize_bilinear(x, [2, 5], half_pixel_centers=True),
              [RNG.random((3, 4, 1))])
    gradcheck(lambda x: tf.image.adjust_contrast(x, 1.7), [RNG.random((2, 3, 4, 2))])


# --- color and measures ---------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_color(target, dt):
    a, gray = random_image(dt), random_image(dt, (5, 7, 1))
    x = tf.placeholder(tf.as_dtype(dt), [5, 7, 3])
    g = tf.placeholder(tf.as_dtype(dt), [5, 7, 1])
    im = tf.image
    fetches = [im.rgb_to_grayscale(x), im.grayscale_to_rgb(g), im.adjust_brightness(x, 0.2),
               im.adjust_brightness(x, -0.3), im.adjust_contrast(x, 1.8),
               im.adjust_contrast(x, 0.4), im.adjust_gamma(x, 0.5, 1.2), im.adjust_gamma(x, 2),
               im.per_image_standardization(x)]
    got = run(fetches, {x: a, g: gray}, target)
    f = to_float(a)
    w = np.asarray([0.2989, 0.5870, 0.1140], np.float32)
    mean = f.mean(axis=(0, 1), keepdims=True, dtype=np.float32)
    raw = a.astype(np.float32)
    std = max(raw.std(dtype=np.float64), 1 / np.sqrt(a.size))
    want = [from_float((f * w).sum(-1, keepdims=True), dt), np.tile(gray, (1, 1, 3)),
            from_float(f + np.float32(0.2), dt), from_float(f - np.float32(0.3), dt),
            from_float((f - mean) * np.float32(1.8) + mean, dt),
            from_float((f - mean) * np.float32(0.4) + mean, dt),
            from_float(np.float32(1.2) * f ** np.float32(0.5), dt),
            from_float(f ** np.float32(2), dt),
            ((raw - raw.mean()) / std).astype(np.float32)]
    check(got, want, dt, atol=1)


def np_sobel(batch):
    padded = np.pad(batch, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    kernels = np.array([[[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
                        [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]], np.float32)
    n, h, w, c = batch.shape
    out = np.zeros((n, h, w, c, 2), np.float32)
    for i in range(3):
        for j in range(3):
            window = padded[:, i:i + h, j:j + w, :, None]
            out += window * kernels[:, i, j]
    return out


def test_measures(target):
    a = random_image(np.float32, (2, 5, 7, 3))
    u, v = random_image(np.uint8), random_image(np.uint8)
    x = tf.placeholder(tf.float32, [None, 5, 7, 3])
    p, q = tf.placeholder(tf.uint8, [5, 7, 3]), tf.placeholder(tf.uint8, [5, 7, 3])
    dy, dx = tf.image.image_gradients(x)
    fetches = [tf.image.total_variation(x), tf.image.total_variation(x[0]),
               tf.image.total_variation(p), dy, dx, tf.image.sobel_edges(x),
               tf.image.psnr(x, x[::-1] * 0.9, 1.0), tf.image.psnr(p, q, 255)]
    got = run(fetches, {x: a, p: u, q: v}, target)

    def tv(b, axes):
        return np.abs(np.diff(b, axis=-3)).sum(axes) + np.abs(np.diff(b, axis=-2)).sum(axes)

    with np.errstate(over="ignore"):   # uint8 wraps, as in TF
        tv_u8 = (np.abs(u[1:] - u[:-1]).sum(dtype=np.uint8)
                 + np.abs(u[:, 1:] - u[:, :-1]).sum(dtype=np.uint8))
    zero = np.zeros_like(a)
    want_dy, want_dx = zero.copy(), zero.copy()
    want_dy[:, :-1], want_dx[:, :, :-1] = np.diff(a, axis=1), np.diff(a, axis=2)
    mse = ((a - a[::-1] * np.float32(0.9)) ** 2).mean(axis=(1, 2, 3))
    mse_u8 = ((to_float(u) - to_float(v)) ** 2).mean()
    want = [tv(a, (1, 2, 3)), tv(a[0], None), tv_u8, want_dy, want_dx, np_sobel(a),
            (-10 * np.log10(mse)).astype(np.float32),
            np.float32(-10 * np.log10(mse_u8))]
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(g, np.asarray(w, g.dtype), rtol=1e-4, atol=1e-4)


# --- image files ----------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_bmp_round_trip_exactly(tmp_path, channels):
    pixels = random_image(np.uint8, (6, 9, channels))
    image_module.write(tmp_path / "a.png", pixels)
    np.testing.assert_array_equal(image_module.read(tmp_path / "a.png"), pixels)
    if channels in (1, 3):
        image_module.write(str(tmp_path / "a.bmp"), pixels)
        np.testing.assert_array_equal(image_module.read(tmp_path / "a.bmp"), pixels)


def test_lossy_and_palette_formats(tmp_path):
    smooth = np.linspace(0, 255, 16 * 24 * 3).reshape(16, 24, 3).astype(np.uint8)
    for name in ("a.jpg", "a.JPEG", "a.webp"):
        image_module.write(tmp_path / name, smooth)
        back = image_module.read(tmp_path / name)
        assert back.shape == smooth.shape and back.dtype == np.uint8
        assert np.abs(back.astype(int) - smooth).mean() < 4, name
    gray = np.repeat(np.arange(0, 256, 16, dtype=np.uint8)[None], 4, axis=0)
    image_module.write(tmp_path / "a.gif", gray)
    np.testing.assert_array_equal(image_module.read(tmp_path / "a.gif")[..., 0], gray)


def test_file_errors(tmp_path, monkeypatch):
    pixels = random_image(np.uint8, (4, 4, 4))
    with pytest.raises(ValueError, match="unknown extension '.tif'"):
        image_module.write(tmp_path / "a.tif", pixels)
    with pytest.raises(ValueError, match="JPEG has no alpha channel"):
        image_module.write(tmp_path / "a.jpg", pixels)
    with pytest.raises(TypeError, match="must be uint8"):
        image_module.write(tmp_path / "a.png", pixels.astype(np.float32))
    from PIL import Image
    Image.fromarray(pixels[..., :3]).save(tmp_path / "tiff.png", format="TIFF")
    with pytest.raises(Exception, match="cannot identify image file"):
        image_module.read(tmp_path / "tiff.png")   # only the five formats are decoded
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"graphc\[image\]"):
        image_module.read(tmp_path / "a.png")
