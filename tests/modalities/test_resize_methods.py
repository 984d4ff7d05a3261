"""The kernel resizes of graphc.modalities.image_resize_kernels (TF1's ResizeBicubic and
ResizeArea, TF2's tf.image.resize with every method and antialias) on every target against
numpy references written here from TF's kernels, pixel by pixel; values printed by
TensorFlow 2.21; Pillow's antialiased BICUBIC and LANCZOS downscaling; gradients against
finite differences; and the argument errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import run

import graphc as tf
from graphc.modalities import image_resize_kernels as rk
from graphc.test import gradcheck

RNG = np.random.default_rng(20261214)
F32 = np.float32
MODES = [(False, False), (True, False), (False, True)]  # (align_corners, half_pixel_centers)
# (in_h, in_w) -> output sizes: up and down, odd, non-square, 1-pixel inputs and outputs
CASES = [((5, 7), [(3, 4), (9, 11), (1, 1), (1, 5), (7, 2)]),
         ((1, 1), [(3, 2)]),
         ((1, 6), [(4, 3)]),
         ((6, 4), [(6, 4), (2, 9)])]


def random_image(dt, shape):
    if dt == np.uint8:
        return RNG.integers(0, 256, size=shape, dtype=np.uint8)
    return (RNG.random(shape, dtype=F32) * 4 - 1).astype(F32)


def tf_scale(n_in, n_out, align_corners):
    """TF's CalculateResizeScale (TF 2.x): in / out, or (in - 1) / (out - 1) when aligning
    corners of sizes above 1."""
    if align_corners and n_in > 1 and n_out > 1:
        return F32(n_in - 1) / F32(n_out - 1)
    return F32(n_in) / F32(n_out)


def bound(i, n):
    return min(max(i, 0), n - 1)


# --- ResizeBicubic --------------------------------------------------------------------------
def cubic_table(a):
    """resize_bicubic_op.cc's InitCoeffsTable: 1025 pairs, in double, stored as float."""
    table = []
    for i in range(1025):
        x = i / 1024
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        x += 1
        table.append((F32(near), F32(((a * x - 5 * a) * x + 8 * a) * x - 4 * a)))
    return table


TABLES = {False: cubic_table(-0.75), True: cubic_table(-0.5)}


def bicubic_weights(out_loc, scale, limit, half_pixel):
    """GetWeightsAndIndices: ([index] * 4, [weight] * 4) of one output row."""
    loc = (F32(out_loc) + F32(0.5)) * scale - F32(0.5) if half_pixel else F32(out_loc) * scale
    start = math.floor(loc)
    offset = int(np.rint(F32(loc - F32(start)) * F32(1024)))
    table = TABLES[half_pixel]
    weights = [table[offset][1], table[offset][0], table[1024 - offset][0],
               table[1024 - offset][1]]
    indices = [bound(start + k, limit) for k in (-1, 0, 1, 2)]
    if half_pixel:
        weights = [w if i == start + k else F32(0)
                   for w, i, k in zip(weights, indices, (-1, 0, 1, 2))]
        total = F32(0)
        for w in weights:
            total = F32(total + w)
        if abs(total) >= 1000 * np.finfo(F32).tiny:
            weights = [F32(w * (F32(1) / total)) for w in weights]
    return indices, weights


def np_bicubic(a, out_h, out_w, align_corners, half_pixel):
    h, w, _ = a.shape
    f = a.astype(F32)
    sy, sx = tf_scale(h, out_h, align_corners), tf_scale(w, out_w, align_corners)
    out = np.zeros((out_h, out_w, a.shape[2]), F32)
    for y in range(out_h):
        yi, yw = bicubic_weights(y, sy, h, half_pixel)
        for x in range(out_w):
            xi, xw = bicubic_weights(x, sx, w, half_pixel)
            # the kernel interpolates the 4 rows at each of the 4 columns, then those
            columns = [sum(wy * f[i, j] for wy, i in zip(yw, yi)) for j in xi]
            out[y, x] = sum(wx * c for wx, c in zip(xw, columns))
    return out


# --- ResizeArea -----------------------------------------------------------------------------
def area_scale(i, lo, hi, scale):
    if i < lo:
        return scale if i + 1 > hi else F32(F32(i + 1) - lo)
    return F32(hi - F32(i)) if i + 1 > hi else F32(1)


def np_area(a, out_h, out_w, align_corners):
    """resize_area_op.cc: rows y_start..y_end weighted by area_scale; columns start (its
    scale), the full ones between, end - 1 (its scale); times 1 / (hs * ws)."""
    h, w, _ = a.shape
    f = a.astype(F32)
    hs, ws = tf_scale(h, out_h, align_corners), tf_scale(w, out_w, align_corners)
    scale = F32(1.0 / float(F32(hs * ws)))
    out = np.zeros((out_h, out_w, a.shape[2]), F32)
    for y in range(out_h):
        lo, hi = F32(y) * hs, F32(y + 1) * hs
        rows = [(bound(i, h), area_scale(i, lo, hi, hs))
                for i in range(math.floor(lo), math.ceil(hi))]
        for x in range(out_w):
            xl, xh = F32(x) * ws, F32(x + 1) * ws
            start, end = math.floor(xl), math.ceil(xh)
            cols = [(bound(start, w), area_scale(start, xl, xh, ws))]
            if start + 1 != end:
                cols += [(bound(j, w), F32(1)) for j in range(start + 1, end - 1)]
                cols.append((bound(end - 1, w), area_scale(end - 1, xl, xh, ws)))
            total = sum(sum(f[i, j] * sx for j, sx in cols) * sy for i, sy in rows)
            out[y, x] = total * scale
    return out


# --- ScaleAndTranslate ----------------------------------------------------------------------
def lanczos(r):
    def k(x):
        pi = F32(3.14159265359)
        if x > r:
            return F32(0)
        if x <= 1e-3:
            return F32(1)
        return F32(r) * np.sin(pi * x) * np.sin(pi * x / F32(r)) / (pi * pi * x * x)
    return k, r


def gaussian(x):
    return F32(0) if x >= 1.5 else F32(math.exp(-float(x) * float(x) / (2.0 * 0.5 * 0.5)))


def keys(x):
    if x >= 2:
        return F32(0)
    if x >= 1:
        return ((F32(-0.5) * x + F32(2.5)) * x - F32(4)) * x + F32(2)
    return (F32(1.5) * x - F32(2.5)) * x * x + F32(1)


def mitchell(x):
    if x >= 2:
        return F32(0)
    if x >= 1:
        return ((F32(-7 / 18) * x + F32(2)) * x - F32(10 / 3)) * x + F32(16 / 9)
    return (F32(7 / 6) * x - F32(2)) * x * x + F32(8 / 9)


KERNELS = {"lanczos3": lanczos(3), "lanczos5": lanczos(5), "gaussian": (gaussian, 1.5),
           "mitchellcubic": (mitchell, 2), "keyscubic": (keys, 2),
           "triangle": (lambda x: F32(1) - x if x < 1 else F32(0), 1)}


def spans(kernel, n_in, n_out, antialias):
    """ComputeSpansCore with scale out / in and no translation: [(start, [weights])]."""
    k, radius = KERNELS[kernel]
    inv_scale = F32(1.0 / float(F32(n_out) / F32(n_in)))
    kernel_scale = max(inv_scale, F32(1)) if antialias else F32(1)
    result = []
    for x in range(n_out):
        sample = (F32(x) + F32(0.5)) * inv_scale
        start = math.ceil(sample - F32(radius) * kernel_scale - F32(0.5))
        end = math.floor(sample + F32(radius) * kernel_scale - F32(0.5))
        start, end = bound(start, n_in), bound(end, n_in) + 1
        weights = [F32(k(abs((F32(s) + F32(0.5) - sample) * (F32(1) / kernel_scale))))
                   for s in range(start, end)]
        total = F32(0)
        for w in weights:
            total = F32(total + w)
        result.append((start, [F32(w * (F32(1) / total)) for w in weights]))
    return result


def np_scale_and_translate(a, out_h, out_w, kernel, antialias):
    """GatherRows into a float intermediate, then GatherColumns."""
    h, w, _ = a.shape
    f = a.astype(F32)
    rows = np.zeros((out_h, w, a.shape[2]), F32)
    for y, (start, weights) in enumerate(spans(kernel, h, out_h, antialias)):
        for t, wt in enumerate(weights):
            rows[y] += wt * f[start + t]
    out = np.zeros((out_h, out_w, a.shape[2]), F32)
    for x, (start, weights) in enumerate(spans(kernel, w, out_w, antialias)):
        for t, wt in enumerate(weights):
            out[:, x] += wt * rows[:, start + t]
    return out


V2_KERNEL = {"bicubic": "keyscubic", "bilinear": "triangle"}


def np_resize_v2(a, size, method, antialias):
    """resize_images_v2's dispatch; None where it is ResizeBilinear / ResizeNearestNeighbor
    with half-pixel centers (checked against graphc's own, tested in test_image_ops)."""
    if method in ("bilinear", "bicubic") and not antialias:
        return np_bicubic(a, *size, False, True) if method == "bicubic" else None
    if method == "nearest":
        return None
    if method == "area":
        return np_area(a, *size, False)
    return np_scale_and_translate(a, *size, V2_KERNEL.get(method, method), antialias)


# --- tests ----------------------------------------------------------------------------------
def close(got, want, dt):
    assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape,
                                                                 want.shape)
    atol = 2e-4 if dt == np.uint8 else 2e-6   # a few float32 ulps of the pixel range
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=atol)


@pytest.mark.parametrize("dt", [np.uint8, np.float32], ids=lambda d: d.__name__)
def test_tf1_ops_against_tf_kernels(target, dt):
    """Single images (bicubic) and batches (area, each image checked) of every case."""
    fetches, want, feed = [], [], {}
    for (h, w), sizes in CASES:
        a = random_image(dt, (h, w, 2))
        batch = tf.placeholder(tf.as_dtype(dt), [None, h, w, 2])
        feed[batch] = np.stack([a, a[::-1]])
        for size in sizes:
            for mode in MODES:
                fetches.append(rk.resize_bicubic(tf.constant(a), list(size), *mode))
                want.append(np_bicubic(a, *size, *mode))
            for ac in (False, True):
                fetches.append(rk.resize_area(batch, size, align_corners=ac))
                want.append(np.stack([np_area(a, *size, ac), np_area(a[::-1], *size, ac)]))
    for g, wt in zip(run(fetches, feed, target), want):
        close(g, wt, dt)


@pytest.mark.parametrize("dt", [np.uint8, np.float32], ids=lambda d: d.__name__)
def test_resize_v2_against_tf_kernels(target, dt):
    a = random_image(dt, (5, 7, 3))
    x = tf.placeholder(tf.as_dtype(dt), [5, 7, 3])
    b = tf.placeholder(tf.as_dtype(dt), [None, 5, 7, 3])
    fetches, want = [], []
    for size in [(2, 3), (9, 11), (1, 1), (5, 7), (3, 14)]:
        for method in rk.V2_METHODS:
            for antialias in (False, True):
                reference = np_resize_v2(a, size, method, antialias)
                if reference is None:   # bilinear / nearest: graphc's half-pixel kernels
                    op = (tf.image.resize_nearest_neighbor if method == "nearest"
                          else tf.image.resize_bilinear)
                    reference = op(x, list(size), half_pixel_centers=True)
                fetches.append(rk.resize_v2(x, size, method, antialias=antialias))
                want.append(reference)
    fetches.append(rk.resize_v2(b, [3, 4], "lanczos3", antialias=True))
    fetches.append(rk.resize_v2(b, tf.constant([12, 10]), "mitchellcubic"))
    got = run(fetches + [w for w in want if not isinstance(w, np.ndarray)],
              {x: a, b: np.stack([a, a[:, ::-1]])}, target)
    computed = iter(got[len(fetches):])
    batches = got[len(fetches) - 2:len(fetches)]
    for g, wt in zip(got, want):
        wt = wt if isinstance(wt, np.ndarray) else next(computed)
        if wt.dtype == np.float32:
            close(g, wt, dt)
        else:   # nearest keeps the dtype
            assert g.dtype == dt and (g == wt).all()
    for k, flip in enumerate((False, True)):
        image = a[:, ::-1] if flip else a
        close(batches[0][k], np_scale_and_translate(image, 3, 4, "lanczos3", True), dt)
        close(batches[1][k], np_scale_and_translate(image, 12, 10, "mitchellcubic", False), dt)


def test_resize_v2_keeps_or_converts_dtypes():
    a = RNG.integers(0, 256, (4, 6, 1), dtype=np.uint8)
    got = run([rk.resize_v2(a, [4, 6], "bilinear"), rk.resize_v2(a, [4, 6], "nearest"),
               rk.resize_v2(a, [4, 6], "lanczos3"), rk.resize_v2(a.astype(np.float64),
                                                                 [2, 3], "area"),
               rk.resize_v2(a, [20, 20], "area", preserve_aspect_ratio=True),
               rk.resize_v2(a, [3, 5], tf.image.ResizeMethod.BICUBIC),
               rk.resize_v2(a, [3, 5], "bicubic")])
    # TF2 resizes an image already of the size too (no shortcut): float32 all the same
    assert got[0].dtype == np.float32 and (got[0] == a).all()
    assert got[1].dtype == np.uint8 and (got[1] == a).all()
    assert got[2].dtype == np.float32 and np.allclose(got[2], a, atol=1e-4)
    assert got[3].dtype == np.float64   # graphc keeps float64 in float64 (TF: float32)
    assert got[4].shape == (13, 20, 1)  # (4, 6) times min(20 / 4, 20 / 6), rounded
    assert (got[5] == got[6]).all()     # a (TF1-numbered) ResizeMethod names the method


# tf.compat.v1.image.resize_bicubic / resize_area and tf.image.resize of the row
# [0, 10, 40, 20, 50, 30] to width n, as TensorFlow 2.21 prints them (5 decimals)
ROW = [0, 10, 40, 20, 50, 30]
TF_VALUES = [
    ("bicubic", 4, dict(), [0.0, 27.8125, 20.0, 42.8125]),
    ("bicubic", 4, dict(align_corners=True), [0.0, 33.3431, 28.32113, 30.0]),
    ("bicubic", 4, dict(half_pixel_centers=True), [1.24088, 35.54688, 25.15625, 34.45256]),
    ("bicubic", 9, dict(), [0.0, 3.52205, 21.65446, 40.0, 24.62014, 28.32113, 50.0, 37.95347,
                            27.77778]),
    ("bicubic", 9, dict(align_corners=True), [0.0, 3.10059, 18.55469, 38.40332, 30.0,
                                              21.9043, 44.60938, 46.08887, 30.0]),
    ("bicubic", 9, dict(half_pixel_centers=True), [-0.65889, 2.94118, 14.43174, 37.65484,
                                                   30.0, 22.6936, 47.3064, 41.17647,
                                                   28.68222]),
    ("area", 4, dict(), [3.33333, 30.0, 30.0, 36.66667]),
    ("area", 4, dict(align_corners=True), [4.0, 30.0, 38.0, 30.0]),
    ("area", 9, dict(), [0.0, 5.0, 10.0, 40.0, 30.0, 20.0, 50.00003, 39.99998, 29.99999]),
    ("area", 9, dict(align_corners=True), [0.0, 4.0, 10.0, 34.0, 36.0, 20.0, 38.0, 50.0,
                                           30.0]),
    ("v2", 4, dict(method="bicubic", antialias=True), [2.1521, 28.20827, 32.94028, 38.1877]),
    ("v2", 4, dict(method="lanczos3"), [0.1249, 37.53802, 24.51706, 35.59661]),
    ("v2", 4, dict(method="lanczos3", antialias=True), [1.56682, 27.42574, 34.16569,
                                                        38.56953]),
    ("v2", 4, dict(method="lanczos5"), [-1.04971, 39.72746, 24.47786, 36.81023]),
    ("v2", 4, dict(method="lanczos5", antialias=True), [2.26081, 26.86756, 34.55989,
                                                        38.4155]),
    ("v2", 4, dict(method="gaussian", antialias=True), [5.37285, 26.17878, 32.76538,
                                                        37.0901]),
    ("v2", 4, dict(method="mitchellcubic", antialias=True), [3.63413, 26.97492, 33.15304,
                                                             37.8585]),
    ("v2", 4, dict(method="bilinear", antialias=True), [3.75, 27.77778, 32.22222, 37.5]),
    ("v2", 4, dict(method="area", antialias=True), [3.33333, 30.0, 30.0, 36.66667]),
    ("v2", 9, dict(method="gaussian"), [0.64969, 5.0, 15.41084, 33.02549, 30.0, 26.97451,
                                        43.02549, 40.0, 31.29938]),
    ("v2", 9, dict(method="mitchellcubic"), [-0.07725, 3.82551, 15.24434, 35.17233, 30.0,
                                             25.05144, 44.94856, 40.67114, 29.84549]),
    ("v2", 9, dict(method="bicubic", antialias=True), [-0.65789, 2.94118, 14.4213, 37.66204,
                                                       30.0, 22.68519, 47.31482, 41.17647,
                                                       28.68421]),
]


def test_values_printed_by_tensorflow():
    row = np.array(ROW, F32).reshape(1, 6, 1)
    ops = {"bicubic": rk.resize_bicubic, "area": rk.resize_area, "v2": rk.resize_v2}
    got = run([ops[op](row, [1, n], **kw) for op, n, kw, _ in TF_VALUES]
              + [ops[op](row.reshape(6, 1, 1), [n, 1], **kw) for op, n, kw, _ in TF_VALUES])
    for k, (op, n, kw, values) in enumerate(TF_VALUES):
        for g in (got[k], got[k + len(TF_VALUES)]):
            np.testing.assert_allclose(g.reshape(-1), values, atol=1e-4, err_msg=f"{op} {kw}")


@pytest.mark.parametrize("method, pillow", [("bicubic", "BICUBIC"), ("lanczos3", "LANCZOS")])
def test_antialiased_downscaling_matches_pillow(method, pillow):
    """Pillow's resampling centres the same kernels (Keys a = -0.5, Lanczos 3) on
    (j + 0.5) * in / out, stretched by in / out when downscaling and normalized per pixel:
    on a float image ("F" mode) it agrees with TF's ScaleAndTranslate to about 3e-7 of the
    pixel range (Pillow sums in double); asserted within 1e-6 of it."""
    image_module = pytest.importorskip("PIL.Image")
    a = (RNG.random((40, 50), dtype=F32) * 255).astype(F32)
    sizes = [(13, 17), (20, 25), (7, 50), (40, 9), (1, 3)]
    got = run([rk.resize_v2(a[:, :, None], size, method, antialias=True) for size in sizes])
    for g, (h, w) in zip(got, sizes):
        filt = getattr(image_module.Resampling, pillow)
        want = np.asarray(image_module.fromarray(a, mode="F").resize((w, h), filt))
        np.testing.assert_allclose(g[:, :, 0], want, rtol=0, atol=255e-6)


def test_gradients_match_finite_differences():
    x = RNG.random((2, 5, 4, 2))
    gradcheck(lambda t: rk.resize_bicubic(t, [3, 7], half_pixel_centers=True), [x])
    gradcheck(lambda t: rk.resize_bicubic(t, [8, 3], align_corners=True), [x])
    gradcheck(lambda t: rk.resize_area(t, [3, 3]), [x])
    gradcheck(lambda t: rk.resize_v2(t, [2, 3], "lanczos3", antialias=True), [x[0]])
    gradcheck(lambda t: rk.resize_v2(t, [7, 9], "mitchellcubic"), [x])


def test_gradient_is_the_transposed_weights():
    """d sum(w * resize(x)) / dx = the resize's matrix transposed times w, for tf.gradients
    on the llvm target too: checked on the one-hot basis of a small image."""
    n_in, n_out = 6, 4
    x = tf.placeholder(tf.float32, [1, n_in, 1])
    weights = RNG.random((1, n_out, 1)).astype(F32)
    loss = tf.reduce_sum(rk.resize_v2(x, [1, n_out], "lanczos3", antialias=True) * weights)
    grad, = tf.gradients(loss, [x])
    matrix = np.zeros((n_out, n_in), F32)
    for j, (start, ws) in enumerate(spans("lanczos3", n_in, n_out, True)):
        matrix[j, start:start + len(ws)] = ws
    with tf.Session(target="llvm") as sess:
        g = sess.run(grad, {x: np.zeros((1, n_in, 1), F32)})
    np.testing.assert_allclose(g.reshape(-1), matrix.T @ weights.reshape(-1), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: rk.resize_v2(x, [3, 3], "cubic"), ValueError,
     "Resize method is not implemented: 'cubic'"),
    (lambda x: rk.resize_v2(x, [3, 3], "LANCZOS3"), ValueError,
     "Resize method is not implemented: 'LANCZOS3'"),
    (lambda x: rk.resize_v2(x, [3, 3], 7), ValueError, "Resize method is not implemented: 7"),
    (lambda x: rk.resize_v2(x, tf.placeholder(tf.int32, [2])), ValueError,
     "graphc needs `size` known when the graph is built"),
    (lambda x: rk.resize_bicubic(x, [0, 3]), ValueError, "the new size must be positive"),
    (lambda x: rk.resize_area(x, [3, -1]), ValueError, "the new size must be positive"),
    (lambda x: rk.resize_v2(x, [3, 3, 3]), ValueError, "must be a 1-D Tensor of 2 elements"),
    (lambda x: rk.resize_bicubic(x, [2, 2], align_corners=True, half_pixel_centers=True),
     ValueError, "If half_pixel_centers is True, align_corners must be False."),
    (lambda x: rk.resize_area(x[0], [2, 2]), ValueError, "must have either 3 or 4 dimensions"),
    (lambda x: rk.scale_and_translate(x, [2, 2], "box"), ValueError,
     "Unrecognized kernel type: 'box'"),
])
def test_argument_errors(call, error, message):
    x = tf.placeholder(tf.float32, [5, 7, 3])
    with pytest.raises(error, match=re.escape(message)):
        call(x)
