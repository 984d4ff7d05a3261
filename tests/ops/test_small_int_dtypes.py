"""int8, uint8, int16 and uint16 on every target against numpy's semantics: arithmetic that
wraps at the dtype's width (also inside fused expressions), unsigned comparisons, division
and extremes, integer division by zero giving 0, casts that wrap between ints and saturate
from floats (nan to 0), reductions, matmuls and data movement; tf.saturate_cast and
tf.image.convert_image_dtype against TF's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf
from graphc.errors import DTypeError

SMALL = [np.int8, np.uint8, np.int16, np.uint16]
RNG = np.random.default_rng(20261206)


def full_range(dt, shape):
    info = np.iinfo(dt)
    values = RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    values.flat[:4] = [info.min, info.max, 0, 1][:values.size]
    return values


def np_floordiv(a, b):
    """numpy's // with a zero divisor giving 0 (graphc's rule, numpy's value too)."""
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(b == 0, 0, a // np.where(b == 0, 1, b)).astype(a.dtype)


def np_mod(a, b):
    with np.errstate(divide="ignore"):
        return np.where(b == 0, 0, a % np.where(b == 0, 1, b)).astype(a.dtype)


def np_saturate(x, dt):
    info = np.iinfo(dt)
    t = np.trunc(np.nan_to_num(x, nan=0.0, posinf=info.max, neginf=info.min))
    return np.clip(t, info.min, info.max).astype(dt)


@pytest.mark.parametrize("dt", SMALL, ids=lambda d: d.__name__)
def test_elementwise_wraps_and_respects_signedness(target, dt):
    a, b = full_range(dt, (3, 8)), full_range(dt, (3, 8))
    b.flat[5] = 0  # a zero divisor
    x, y = tf.placeholder(tf.as_dtype(dt), [3, 8]), tf.placeholder(tf.as_dtype(dt), [3, 8])
    fetches = [x + y, x - y, x * y, x // y, x % y, tf.maximum(x, y), tf.minimum(x, y),
               x < y, x >= y, tf.equal(x, y), -x, tf.abs(x), tf.sign(x),
               (x + y) // tf.maximum(y, tf.ones_like(y)), (x * y) > y,
               tf.where(x > y, x - y, y - x)]
    got = run(fetches, {x: a, y: b}, target)
    with np.errstate(over="ignore"):
        one = np.ones_like(b)
        want = [a + b, a - b, a * b, np_floordiv(a, b), np_mod(a, b), np.maximum(a, b),
                np.minimum(a, b), a < b, a >= b, a == b, -a, np.abs(a), np.sign(a),
                np_floordiv(a + b, np.maximum(b, one)), (a * b) > b,
                np.where(a > b, a - b, b - a)]
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w, err_msg=f"fetch {k}")


@pytest.mark.parametrize("dt", SMALL, ids=lambda d: d.__name__)
def test_casts_wrap_between_ints_and_saturate_from_floats(target, dt):
    a = full_range(dt, (16,))
    wide = np.array([-70000, -129, -1, 0, 127, 128, 255, 256, 65535, 70000], np.int32)
    floats = np.array([np.nan, np.inf, -np.inf, -1e6, -300.7, -1.5, -0.5, 0.5, 1.5, 127.9,
                       255.5, 300.2, 65535.9, 1e6], np.float32)
    x = tf.placeholder(tf.as_dtype(dt), [16])
    w, f = tf.placeholder(tf.int32, [10]), tf.placeholder(tf.float32, [14])
    to = tf.as_dtype(dt)
    fetches = [tf.cast(x, tf.float32), tf.cast(x, tf.int32), tf.cast(x, tf.int64),
               tf.cast(w, to), tf.cast(f, to)] + [tf.cast(x, other) for other in
                                                 (tf.int8, tf.uint8, tf.int16, tf.uint16)]
    got = run(fetches, {x: a, w: wide, f: floats}, target)
    want = [a.astype(np.float32), a.astype(np.int32), a.astype(np.int64), wide.astype(dt),
            np_saturate(floats, dt)] + [a.astype(o) for o in SMALL]
    for k, (g, w_) in enumerate(zip(got, want)):
        assert g.dtype == w_.dtype, k
        np.testing.assert_array_equal(g, w_, err_msg=f"fetch {k}")


@pytest.mark.parametrize("dt", SMALL, ids=lambda d: d.__name__)
def test_reductions_matmul_and_movement(target, dt):
    a, b = full_range(dt, (4, 6)), full_range(dt, (6, 5))
    x, y = tf.placeholder(tf.as_dtype(dt), [4, 6]), tf.placeholder(tf.as_dtype(dt), [6, 5])
    fetches = [tf.reduce_sum(x, 1), tf.reduce_sum(x, 0), tf.reduce_max(x, 1), tf.reduce_min(x),
               tf.reduce_prod(x, 0), tf.argmax(x, 1), tf.argmin(x, 0), tf.matmul(x, y),
               tf.gather(x, [3, 0, 3]), tf.concat([x, x], 1), tf.transpose(x),
               tf.pad(x, [[1, 0], [0, 2]], constant_values=7), tf.cumsum(x, 1),
               tf.one_hot([1, 3], 4, dtype=tf.as_dtype(dt)),
               tf.math.unsorted_segment_sum(x, [0, 1, 0, 1], 2)]
    got = run(fetches, {x: a, y: b}, target)
    with np.errstate(over="ignore"):
        seg = np.stack([a[0] + a[2], a[1] + a[3]])
        want = [a.sum(1, dtype=dt), a.sum(0, dtype=dt), a.max(1), a.min(), a.prod(0, dtype=dt),
                a.argmax(1), a.argmin(0), np.matmul(a, b, dtype=dt), a[[3, 0, 3]],
                np.concatenate([a, a], 1), a.T, np.pad(a, [[1, 0], [0, 2]], constant_values=7),
                np.cumsum(a, 1, dtype=dt), np.eye(4, dtype=dt)[[1, 3]], seg]
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w.astype(g.dtype) if k in (5, 6) else w,
                                      err_msg=f"fetch {k}")
        assert k in (5, 6) or g.dtype == dt, k


def test_constants_keep_their_dtype_and_weak_scalars_adopt_it():
    image = np.array([[10, 250]], np.uint8)
    x = tf.constant(image)
    assert x.dtype is tf.uint8
    y = x + 10  # a weak Python int: stays uint8 and wraps
    z = x * 0.5  # a weak float of a higher kind: float32
    assert y.dtype is tf.uint8 and z.dtype is tf.float32
    with tf.Session() as sess:
        got_y, got_z = sess.run([y, z])
    assert got_y.tolist() == [[20, 4]] and got_z.tolist() == [[5.0, 125.0]]
    with pytest.raises(DTypeError):
        tf.constant(300, tf.uint8)  # would lose data
    assert (tf.constant([1], tf.int8) + tf.constant([1], tf.uint8)).dtype is tf.int16


def test_saturate_cast_and_convert_image_dtype(target):
    u8 = tf.constant(np.array([0, 1, 128, 255], np.uint8))
    floats = tf.constant([-0.5, 0.0, 0.5, 1.0, 1.5])
    ints = tf.constant([-5, 100, 300, 70000])
    fetches = [tf.image.convert_image_dtype(u8, tf.float32),
               tf.image.convert_image_dtype(floats, tf.uint8, saturate=True),
               tf.image.convert_image_dtype(u8, tf.uint16),
               tf.image.convert_image_dtype(tf.constant(np.array([0, 300, 65535], np.uint16)),
                                            tf.uint8),
               tf.image.convert_image_dtype(u8, tf.int8),
               tf.saturate_cast(ints, tf.uint8), tf.saturate_cast(ints, tf.int8),
               tf.saturate_cast(tf.constant([1e10, -1e10, 3.0]), tf.int16),
               tf.saturate_cast(tf.constant(np.array([1e300, 2.5], np.float64)), tf.float32)]
    got = run(fetches, None, target)
    want = [np.array([0, 1, 128, 255]) / 255.0, [0, 0, 127, 255, 255],
            [0, 257 - 1, 128 * 256, 255 * 256], [0, 1, 255], [0, 0, 64, 127],
            [0, 100, 255, 255], [-5, 100, 127, 127], [32767, -32768, 3],
            [np.finfo(np.float32).max, 2.5]]
    dtypes_ = [np.float32, np.uint8, np.uint16, np.uint8, np.int8, np.uint8, np.int8, np.int16,
               np.float32]
    for k, (g, w, d) in enumerate(zip(got, want, dtypes_)):
        assert g.dtype == d, k
        np.testing.assert_allclose(g, np.asarray(w, d), rtol=1e-6, err_msg=f"fetch {k}")
    with pytest.raises(TypeError, match="images are integers or floats"):
        tf.image.convert_image_dtype(u8, tf.bool)


def test_onnx_export_writes_narrow_integers_that_onnxruntime_runs_alike():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from graphc import onnx as gonnx
    x = tf.placeholder(tf.uint8, [2, 3], name="x")
    y = tf.cast(x, tf.float32) / 255.0 + tf.cast(x + 10, tf.float32)
    z = tf.reduce_max(x * 2, 1)
    model = gonnx.export([y, z], x, None)
    assert model.graph.input[0].type.tensor_type.elem_type == 2  # UINT8
    image = np.array([[0, 250, 3], [4, 5, 255]], np.uint8)
    theirs = ort.InferenceSession(model.SerializeToString()).run(None, {"x": image})
    with tf.Session() as sess:
        ours = sess.run([y, z], {x: image})
    np.testing.assert_allclose(theirs[0], ours[0], rtol=1e-6)
    np.testing.assert_array_equal(theirs[1], ours[1])
    assert ours[1].tolist() == [244, 254]  # wrapped: 250 * 2 = 500 - 256


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="needs a C compiler (cc)")
def test_an_exported_library_takes_and_returns_narrow_integers(tmp_path):
    image = tf.placeholder(tf.uint8, [None, 4], name="image")
    scaled = tf.image.convert_image_dtype(image, tf.float32) * 2.0
    brightest = tf.reduce_max(image + 100, 1)
    with tf.Session() as sess:
        tf.export({"y": scaled, "z": brightest}, {"image": image}, str(tmp_path), name="u8",
                  session=sess)
        pixels = np.array([[0, 10, 200, 255], [1, 2, 3, 156]], np.uint8)
        want = sess.run([scaled, brightest], {image: pixels})
    model = tf.load(str(tmp_path))
    got = model(pixels)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1].dtype == np.uint8 and got[1].tolist() == [110, 103] == want[1].tolist()
    assert "GRAPHC_UINT8 = 8" in (tmp_path / "u8.h").read_text()
