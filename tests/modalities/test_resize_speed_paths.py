"""The ways graphc/modalities/image_resize.py reads a resize's taps (resample_taps, which
image_resize_kernels' methods use too), each against numpy references of TF's formulas
(ResizeBilinear, ResizeNearestNeighbor, and ScaleAndTranslate with the triangle kernel:
TF2's resize with antialias), for uint8 and float images of awkward sizes, on every target:
- block: a reshape to [out, s] and one reduction (a 2x reduction with half-pixel centres;
  for integer images also blocks holding rows of weight 0, and mixed with a gather);
- gathers of each tap and one elementwise kernel (TF's lerps): enlarging, align_corners,
  odd ratios, an axis kept as it is, 1-pixel images; evenly stepping taps (one tap each at
  integer factors in TF1's coordinates) as strided slices;
- two separable passes (antialias reductions): a block plus the taps outside it gathered,
  or gathers of all taps;
and which of them each case takes (bicubic and area too), the uint8 round trip (the cast
joins the last kernel), and gradients through each way."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf
from graphc.modalities import image_resize_kernels as rk
from graphc.test import gradcheck

RNG = np.random.default_rng(20261208)
F32 = np.float32


def image(dt, shape):
    if dt == np.uint8:
        return RNG.integers(0, 256, size=shape, dtype=np.uint8)
    return RNG.random(shape, dtype=np.float32)


# --- references: TF's kernels, written out ---------------------------------------------------
def _coordinates(n, out, align, half):
    scale = F32(n - 1) / F32(out - 1) if align and out > 1 else F32(n) / F32(out)
    y = np.arange(out, dtype=F32)
    return (y + F32(0.5)) * scale - F32(0.5) if half else y * scale, scale


def np_bilinear(a, out_h, out_w, align=False, half=False):
    """ResizeBilinear of [h, w, c]: lerps across, then down, in float32."""
    a = a.astype(F32)

    def taps(n, out):
        src, _ = _coordinates(n, out, align, half)
        low = np.floor(src)
        return (np.maximum(low, 0).astype(int), np.minimum(np.ceil(src), n - 1).astype(int),
                (src - low).astype(F32))
    y0, y1, dy = taps(a.shape[0], out_h)
    x0, x1, dx = taps(a.shape[1], out_w)
    dx, dy = dx[None, :, None], dy[:, None, None]
    top = a[y0][:, x0] + (a[y0][:, x1] - a[y0][:, x0]) * dx
    bottom = a[y1][:, x0] + (a[y1][:, x1] - a[y1][:, x0]) * dx
    return top + (bottom - top) * dy


def np_nearest(a, out_h, out_w, align=False, half=False):
    def index(n, out):
        _, scale = _coordinates(n, out, align, half)
        y = np.arange(out, dtype=F32)
        src = (y + F32(0.5)) * scale if half else y * scale
        pick = np.floor(src + F32(0.5)) if align else np.floor(src)
        return np.clip(pick, 0, n - 1).astype(int)
    return a[index(a.shape[0], out_h)][:, index(a.shape[1], out_w)]


def np_spans(n, out):
    """ScaleAndTranslate's spans (starts, weights) for the triangle kernel, antialiased."""
    inv = F32(1.0 / float(F32(out) / F32(n)))
    stretch = max(inv, F32(1))
    span = min(2 * int(np.ceil(stretch)) + 1, n)
    starts, weights = np.zeros(out, int), np.zeros((out, span), F32)
    for x in range(out):
        sample = (F32(x) + F32(0.5)) * inv
        first = min(max(int(np.ceil(sample - stretch - F32(0.5))), 0), n - 1)
        last = min(max(int(np.floor(sample + stretch - F32(0.5))), 0), n - 1)
        w = [max(F32(1) - abs((F32(s) + F32(0.5) - sample) / stretch), F32(0))
             for s in range(first, last + 1)]
        total = F32(sum(w))
        weights[x, :len(w)] = [F32(v / total) for v in w]
        starts[x] = first
    return starts, weights


def np_antialias(a, out_h, out_w):
    """ScaleAndTranslate(triangle, antialias=True) of [h, w, c]: rows, then columns."""
    a = a.astype(F32)
    (rs, rw), (cs, cw) = np_spans(a.shape[0], out_h), np_spans(a.shape[1], out_w)
    rows = np.zeros((out_h,) + a.shape[1:], F32)
    for t in range(rw.shape[1]):
        ok = rs + t < a.shape[0]
        rows[ok] += rw[ok, t][:, None, None] * a[rs[ok] + t]
    out = np.zeros((out_h, out_w, a.shape[2]), F32)
    for t in range(cw.shape[1]):
        ok = cs + t < a.shape[1]
        out[:, ok] += cw[ok, t][None, :, None] * rows[:, cs[ok] + t]
    return out


def ops_of(t) -> list:
    """The primitive names of the graph computing t, each node once."""
    seen, stack = {}, [t.node]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node.op.name
            stack.extend(node.inputs)
    return sorted(seen.values())


def check(got, want, uint8_input: bool):
    assert got.dtype == want.dtype and got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 if uint8_input else 1e-6)


# --- which way each resize takes --------------------------------------------------------------
@pytest.mark.parametrize("dt, op, size, way", [
    (np.uint8, "half", (4, 3), "block"),            # 2x with half-pixel centres
    (np.float32, "half", (4, 3), "block"),
    (np.uint8, "half", (2, 3), "block"),            # rows 4x: 2 live taps in 4, integers
    (np.float32, "half", (2, 3), "block+gather"),   # ... floats gather the live rows
    (np.uint8, "half", (4, 5), "block+gather"),     # rows 2x, columns 6 -> 5
    (np.uint8, "tf1", (16, 12), "gathers"),         # enlarging
    (np.uint8, "tf1", (4, 3), "select"),            # TF1 coordinates at 2x: one tap each
    (np.uint8, "tf1", (8, 3), "select"),            # columns only: the rows kept
    (np.uint8, "antialias", (4, 3), "passes"),      # 4 taps a side: two passes
    (np.uint8, "antialias", (16, 9), "gathers"),    # enlarging: 2 taps a side
    (np.uint8, "bicubic", (4, 3), "passes"),
    (np.float32, "area", (4, 3), "block"),          # 2x: the mean of each 2x2 block
])
def test_ways(dt, op, size, way):
    x = tf.placeholder(tf.as_dtype(dt), [8, 6, 3])
    y = {"half": lambda: tf.image.resize_bilinear(x, size, half_pixel_centers=True),
         "tf1": lambda: tf.image.resize(x, size),
         "antialias": lambda: rk.resize_v2(x, size, antialias=True),
         "bicubic": lambda: rk.resize_v2(x, size, "bicubic"),
         "area": lambda: rk.resize_v2(x, size, "area")}[op]()
    ops = ops_of(y)
    counts = ops.count("reduce_sum"), ops.count("gather"), ops.count("slice")
    assert counts == {"block": (1, 0, 0), "block+gather": (1, 1, 0), "gathers": (0, 6, 0),
                      "select": (0, 0, 1),  # one strided slice
                      "passes": (2, 2, 0)}[way], ops


def test_uint8_round_trip_is_one_kernel_after_the_gathers():
    """The cast back to uint8 joins the kernel that combines the taps (no float32 image in
    memory): kernels are the 2 + 4 gathers and one elementwise kernel."""
    a = image(np.uint8, (5, 7, 3))
    x = tf.placeholder(tf.uint8, [5, 7, 3])
    y = tf.saturate_cast(tf.round(tf.image.resize_bilinear(x, [11, 13])), tf.uint8)
    report = tf.tools.analyze(y, {x: a})
    assert len(report.kernels) == 7, report
    with tf.Session() as sess:
        got = sess.run(y, {x: a})
    want = np.round(np_bilinear(a, 11, 13))
    assert got.dtype == np.uint8 and np.abs(got - want).max() <= 1


# --- values of each way -----------------------------------------------------------------------
SIZES = [((8, 6), (4, 3)), ((8, 6), (2, 3)), ((8, 6), (4, 5)), ((5, 7), (11, 3)),
         ((1, 1), (3, 2)), ((3, 4), (1, 1)), ((7, 5), (7, 2)), ((6, 9), (3, 9)),
         ((4, 4), (8, 8)), ((9, 2), (2, 7))]


@pytest.mark.parametrize("dt", [np.uint8, np.float32], ids=lambda d: d.__name__)
def test_bilinear_and_nearest_every_mode(target, dt):
    fetches, want, feeds = [], [], {}
    for (h, w), (oh, ow) in SIZES:
        a = image(dt, (h, w, 2))
        x = tf.placeholder(tf.as_dtype(dt), [h, w, 2])
        feeds[x] = a
        for align, half in ((False, False), (True, False), (False, True)):
            fetches += [tf.image.resize_bilinear(x, [oh, ow], align, half),
                        tf.image.resize_nearest_neighbor(x, [oh, ow], align, half)]
            want += [np_bilinear(a, oh, ow, align, half), np_nearest(a, oh, ow, align, half)]
    for g, w in zip(run(fetches, feeds, target), want):
        check(g, w, dt == np.uint8)


@pytest.mark.parametrize("dt", [np.uint8, np.float32], ids=lambda d: d.__name__)
def test_antialias(target, dt):
    fetches, want, feeds = [], [], {}
    for (h, w), (oh, ow) in SIZES + [((16, 12), (4, 3)), ((13, 11), (5, 4)), ((9, 4), (3, 8))]:
        a = image(dt, (h, w, 3))
        x = tf.placeholder(tf.as_dtype(dt), [h, w, 3])
        feeds[x] = a
        fetches.append(rk.resize_v2(x, [oh, ow], antialias=True))
        want.append(np_antialias(a, oh, ow))
    for g, w in zip(run(fetches, feeds, target), want):
        check(g, w, dt == np.uint8)


def test_batches_of_unknown_size():
    a = image(np.uint8, (3, 8, 6, 2))
    x = tf.placeholder(tf.uint8, [None, 8, 6, 2])
    fetches = [tf.image.resize_bilinear(x, [4, 3], half_pixel_centers=True),
               tf.image.resize(x, [4, 5]), rk.resize_v2(x, [3, 2], antialias=True),
               rk.resize_v2(x, [9, 13], antialias=True)]
    got = run(fetches, {x: a})
    for k, a1 in enumerate(a):
        check(got[0][k], np_bilinear(a1, 4, 3, half=True), True)
        check(got[1][k], np_bilinear(a1, 4, 5), True)
        check(got[2][k], np_antialias(a1, 3, 2), True)
        check(got[3][k], np_antialias(a1, 9, 13), True)


@pytest.mark.parametrize("make, shape", [
    (lambda x: tf.image.resize_bilinear(x, [2, 3], half_pixel_centers=True), (4, 6, 2)),
    (lambda x: tf.image.resize_bilinear(x, [7, 5]), (1, 3, 2, 1)),
    (lambda x: tf.image.resize(x, [2, 3]), (4, 6, 1)),
    (lambda x: rk.resize_v2(x, [3, 2], antialias=True), (2, 8, 6, 1)),
    (lambda x: rk.resize_v2(x, [5, 3], antialias=True), (3, 7, 2)),
], ids=["block", "gathers", "select", "passes", "antialias gathers"])
def test_gradients(make, shape):
    gradcheck(make, [RNG.random(shape)])
