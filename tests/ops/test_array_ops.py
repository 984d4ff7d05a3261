"""Numeric tests of graphc.ops.array_ops: reshaping, joining and splitting, slicing, padding,
gather, one_hot, shapes as tensors and filled tensors, each against numpy on every target.

Data movement is dtype-agnostic, so every table is crossed with float, int and bool dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
DTYPE_IDS = [np.dtype(d).name for d in DTYPES]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(-50, 50, shape).astype(dtype)


def _check(x, build, reference, target, **static):
    """Feed `x` through a placeholder, apply `build`, compare with `reference(x)`."""
    p = tf.placeholder(x.dtype, x.shape)
    out = build(p)
    outs, refs = (out, reference(x)) if isinstance(out, list) else ([out], [reference(x)])
    assert len(outs) == len(refs)
    for actual, expected in zip(run(outs, {p: x}, target), refs):
        assert_close(actual, np.asarray(expected, x.dtype))


# (id, input shape, graphc builder, numpy reference)
RESHAPING = [
    ("reshape", (2, 3, 4), lambda t: tf.reshape(t, [4, 6]), lambda a: a.reshape(4, 6)),
    ("reshape_-1", (2, 3, 4), lambda t: tf.reshape(t, [-1, 4]), lambda a: a.reshape(-1, 4)),
    ("reshape_flat", (2, 3, 4), lambda t: tf.reshape(t, [-1]), lambda a: a.reshape(-1)),
    ("reshape_scalar", (1, 1), lambda t: tf.reshape(t, []), lambda a: a.reshape(())),
    ("reshape_size0", (0, 3), lambda t: tf.reshape(t, [3, 0, 2]), lambda a: a.reshape(3, 0, 2)),
    ("reshape_size0_-1", (0, 3, 4), lambda t: tf.reshape(t, [0, -1]),
     lambda a: a.reshape(0, 12)),  # TF: -1 ignores the size-0 dims, not numpy's error
    ("reshape_tensor_shape", (6,), lambda t: tf.reshape(t, tf.constant([2, 3])),
     lambda a: a.reshape(2, 3)),
    ("transpose", (2, 3, 4), lambda t: tf.transpose(t), lambda a: a.T),
    ("transpose_perm", (2, 3, 4), lambda t: tf.transpose(t, [1, 2, 0]),
     lambda a: a.transpose(1, 2, 0)),
    ("transpose_negative_perm", (2, 3, 4), lambda t: tf.transpose(t, [-1, 0, -2]),
     lambda a: a.transpose(2, 0, 1)),
    ("expand_dims_0", (2, 3), lambda t: tf.expand_dims(t, 0), lambda a: a[None]),
    ("expand_dims_-1", (2, 3), lambda t: tf.expand_dims(t, -1), lambda a: a[..., None]),
    ("expand_dims_1", (2, 3), lambda t: tf.expand_dims(t, 1), lambda a: a[:, None]),
    ("expand_dims_scalar", (), lambda t: tf.expand_dims(t, 0), lambda a: a.reshape(1)),
    ("squeeze_all", (1, 2, 1, 3), lambda t: tf.squeeze(t), lambda a: a.squeeze()),
    ("squeeze_axis", (1, 2, 1, 3), lambda t: tf.squeeze(t, [2]), lambda a: a.squeeze(2)),
    ("squeeze_negative", (1, 2, 1, 3), lambda t: tf.squeeze(t, [-2, 0]),
     lambda a: a.reshape(2, 3)),
    ("identity", (2, 3), tf.identity, lambda a: a),
    ("stop_gradient", (2, 3), tf.stop_gradient, lambda a: a),
    ("reverse_0", (3, 4), lambda t: tf.reverse(t, [0]), lambda a: a[::-1]),
    ("reverse_-1", (3, 4), lambda t: tf.reverse(t, [-1]), lambda a: a[:, ::-1]),
    ("reverse_both", (3, 4), lambda t: tf.reverse(t, [0, 1]), lambda a: a[::-1, ::-1]),
    ("broadcast_to", (3, 1), lambda t: tf.broadcast_to(t, [2, 3, 4]),
     lambda a: np.broadcast_to(a, (2, 3, 4))),
    ("broadcast_to_scalar", (), lambda t: tf.broadcast_to(t, [2, 3]),
     lambda a: np.broadcast_to(a, (2, 3))),
    ("broadcast_to_size0", (3,), lambda t: tf.broadcast_to(t, [0, 3]),
     lambda a: np.broadcast_to(a, (0, 3))),
    ("tile", (2, 3), lambda t: tf.tile(t, [2, 3]), lambda a: np.tile(a, (2, 3))),
    ("tile_zero", (2, 3), lambda t: tf.tile(t, [0, 1]), lambda a: np.tile(a, (0, 1))),
    ("tile_3d", (2, 1, 3), lambda t: tf.tile(t, [1, 4, 1]), lambda a: np.tile(a, (1, 4, 1))),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,build,ref", [c[1:] for c in RESHAPING],
                         ids=[c[0] for c in RESHAPING])
def test_reshaping(shape, build, ref, dtype, target):
    _check(_data(shape, dtype), build, ref, target)


JOINING = [
    ("concat_0", lambda ts: tf.concat(ts, 0), lambda xs: np.concatenate(xs, 0)),
    ("concat_-1", lambda ts: tf.concat(ts, -1), lambda xs: np.concatenate(xs, -1)),
    ("stack_0", lambda ts: tf.stack(ts), lambda xs: np.stack(xs)),
    ("stack_1", lambda ts: tf.stack(ts, 1), lambda xs: np.stack(xs, 1)),
    ("stack_-1", lambda ts: tf.stack(ts, -1), lambda xs: np.stack(xs, -1)),
]


@pytest.mark.parametrize("shape", [(2, 3), (0, 3), (4,)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("build,ref", [c[1:] for c in JOINING], ids=[c[0] for c in JOINING])
def test_joining(build, ref, dtype, shape, target):
    xs = [_data(shape, dtype, seed) for seed in range(3)]
    ps = [tf.placeholder(x.dtype, x.shape) for x in xs]
    assert_close(run(build(ps), dict(zip(ps, xs)), target), ref(xs))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_pieces_of_different_sizes(axis, target):
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes = [tuple(n if i == axis % 3 else d for i, d in enumerate(s))
              for n, s in zip([1, 0, 3], shapes)]
    xs = [_data(s, np.float32, i) for i, s in enumerate(shapes)]
    ps = [tf.placeholder(tf.float32, s) for s in shapes]
    assert_close(run(tf.concat(ps, axis), dict(zip(ps, xs)), target), np.concatenate(xs, axis))


SPLITTING = [
    ("unstack_0", (3, 2, 4), lambda t: tf.unstack(t), lambda a: list(a)),
    ("unstack_1", (3, 2, 4), lambda t: tf.unstack(t, axis=1), lambda a: list(a.swapaxes(0, 1))),
    ("unstack_-1", (3, 2, 4), lambda t: tf.unstack(t, axis=-1),
     lambda a: [a[..., i] for i in range(4)]),
    ("split_int", (6, 4), lambda t: tf.split(t, 3), lambda a: np.split(a, 3)),
    ("split_int_axis", (6, 4), lambda t: tf.split(t, 2, axis=1), lambda a: np.split(a, 2, 1)),
    ("split_sizes", (6, 4), lambda t: tf.split(t, [1, 2, 3]), lambda a: np.split(a, [1, 3])),
    ("split_sizes_-1", (6, 4), lambda t: tf.split(t, [1, -1, 2], axis=0),
     lambda a: np.split(a, [1, 4])),
    ("split_sizes_-1_last_axis", (2, 7), lambda t: tf.split(t, [-1, 3], axis=-1),
     lambda a: np.split(a, [4], axis=1)),
    ("split_zero_size", (6, 4), lambda t: tf.split(t, [0, 6]), lambda a: np.split(a, [0])),
    ("split_tensor_axis", (2, 6), lambda t: tf.split(t, 3, axis=tf.constant(-1)),
     lambda a: np.split(a, 3, axis=1)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,build,ref", [c[1:] for c in SPLITTING],
                         ids=[c[0] for c in SPLITTING])
def test_splitting(shape, build, ref, dtype, target):
    _check(_data(shape, dtype), build, ref, target)


@pytest.mark.parametrize("sizes", [[1, -1], [-1, 2], [1, -1, 2], [-1]], ids=str)
def test_split_sizes_with_minus_one_on_an_unknown_dim(sizes, target):
    # -1 takes what the other pieces leave, also when the size is only known at run time
    x = _data((7, 2), np.float32)
    p = tf.placeholder(tf.float32, [None, 2])
    rest = 7 - (sum(sizes) + 1)
    cuts = np.cumsum([rest if s == -1 else s for s in sizes])[:-1]
    got = run(tf.split(p, sizes), {p: x}, target)
    expected = np.split(x, cuts)
    assert len(got) == len(expected)
    for actual, want in zip(got, expected):
        assert_close(actual, want)


def test_split_sizes_must_add_up():
    with pytest.raises(ValueError, match=r"sizes \[1, 2\] do not add up to dimension 0 of size"):
        tf.split(tf.placeholder(tf.float32, [6]), [1, 2])


SLICING = [
    ("slice", lambda t: tf.slice(t, [1, 0, 2], [2, 3, 2]), lambda a: a[1:3, 0:3, 2:4]),
    ("slice_-1", lambda t: tf.slice(t, [1, 1, 0], [-1, 2, -1]), lambda a: a[1:, 1:3, :]),
    ("slice_empty", lambda t: tf.slice(t, [0, 0, 0], [0, 3, 5]), lambda a: a[0:0, 0:3]),
    ("strided_slice", lambda t: tf.strided_slice(t, [0, 1, 0], [3, 4, 5], [2, 1, 2]),
     lambda a: a[0:3:2, 1:4, 0:5:2]),
    ("strided_slice_negative", lambda t: tf.strided_slice(t, [-1, 3, 4], [-4, 0, -6],
                                                          [-1, -2, -1]),
     lambda a: a[-1:-4:-1, 3:0:-2, 4:-6:-1]),
    ("strided_slice_default_strides", lambda t: tf.strided_slice(t, [1, 0, 1], [3, 2, 4]),
     lambda a: a[1:3, 0:2, 1:4]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("build,ref", [c[1:] for c in SLICING], ids=[c[0] for c in SLICING])
def test_slicing(build, ref, dtype, target):
    _check(_data((3, 4, 5), dtype), build, ref, target)


PADS = [[[1, 2], [0, 1]], [[0, 0], [2, 2]], [[1, 1], [1, 1]]]


@pytest.mark.parametrize("paddings", PADS, ids=str)
@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC", "reflect"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pad(mode, paddings, dtype, target):
    np_mode = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}
    _check(_data((3, 4), dtype), lambda t: tf.pad(t, paddings, mode),
           lambda a: np.pad(a, paddings, mode=np_mode[mode.upper()]), target)


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int64"])
def test_pad_constant_value(dtype, target):
    _check(_data((2, 3), dtype), lambda t: tf.pad(t, [[1, 0], [2, 1]], constant_values=7),
           lambda a: np.pad(a, [[1, 0], [2, 1]], constant_values=7), target)


def test_reflect_pad_larger_than_the_axis_is_an_error():
    with pytest.raises(ValueError, match="REFLECT padding of 3 is too large for an axis of size 3"):
        tf.pad(tf.placeholder(tf.float32, [3]), [[3, 0]], "REFLECT")


# --- gather and one_hot -----------------------------------------------------------------
GATHER = [((5, 3), [4, 0, 2, 2], 0), ((5, 3), [2, 0], 1), ((5, 3), [[1, 0], [2, 2]], -1),
          ((4, 3, 2), [[3], [0]], 0), ((4, 3, 2), 1, 1), ((4, 3, 2), [], 2)]


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64], ids=["int32", "int64"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape,indices,axis", GATHER, ids=[str(c) for c in GATHER])
def test_gather(shape, indices, axis, dtype, index_dtype, target):
    x, i = _data(shape, dtype), np.array(indices, index_dtype)
    px, pi = tf.placeholder(x.dtype, x.shape), tf.placeholder(i.dtype, i.shape)
    assert_close(run(tf.gather(px, pi, axis=axis), {px: x, pi: i}, target),
                 np.take(x, i, axis=axis))


@pytest.mark.parametrize("bad", [-1, 5])
def test_gather_out_of_range_index_is_an_error(bad, target):
    px, pi = tf.placeholder(tf.float32, [5, 3]), tf.placeholder(tf.int32, [2])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"index {bad} is out of range \[0, 5\) along axis 0"):
        run(tf.gather(px, pi), {px: np.zeros((5, 3), np.float32), pi: [0, bad]}, target)


ONE_HOT = [([0, 2, 1], 3, {}), ([[0, 3], [1, 2]], 4, {}), ([0, 2, 1], 3, {"axis": 0}),
           ([[0, 3], [1, 2]], 4, {"axis": 1}), ([1, 0], 3, {"on_value": 5.0, "off_value": -1.0}),
           ([1, 0], 2, {"dtype": tf.int32}), ([-1, 3, 7, 1], 3, {}), (2, 4, {}),
           ([1, 0], 2, {"on_value": True, "off_value": False, "dtype": tf.bool}),
           ([1, 0], 2, {"dtype": tf.bool})]


def _np_one_hot(indices, depth, axis=-1, on_value=1, off_value=0, dtype=tf.float32):
    i = np.asarray(indices)
    hot = np.expand_dims(i, axis) == np.arange(depth).reshape(
        [-1 if a == axis % (i.ndim + 1) else 1 for a in range(i.ndim + 1)])
    return np.where(hot, on_value, off_value).astype(dtype.as_numpy_dtype)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64], ids=["int32", "int64"])
@pytest.mark.parametrize("indices,depth,kw", ONE_HOT, ids=[str(c) for c in ONE_HOT])
def test_one_hot(indices, depth, kw, index_dtype, target):
    # out-of-range indices (negative or >= depth) give a row of off_value
    i = np.array(indices, index_dtype)
    p = tf.placeholder(i.dtype, i.shape)
    out = run(tf.one_hot(p, depth, **kw), {p: i}, target)
    expected = _np_one_hot(indices, depth, **kw)
    assert out.dtype == expected.dtype
    assert_close(out, expected)


def test_one_hot_takes_the_dtype_of_tensor_values(target):
    p = tf.placeholder(tf.int32, [3])
    out = tf.one_hot(p, 3, on_value=tf.constant(4, tf.int64), off_value=-1)
    assert out.dtype == tf.int64
    assert_close(run(out, {p: [2, 0, 3]}, target),
                 np.array([[-1, -1, 4], [4, -1, -1], [-1, -1, -1]], np.int64))


# --- shapes as tensors, filled tensors ----------------------------------------------------
@pytest.mark.parametrize("static,fed", [((None, 3), (5, 3)), ((None, None), (0, 4)),
                                        (None, (2, 3, 4)), (None, ()), ((2, 3), (2, 3))],
                         ids=str)
def test_shape_size_rank(static, fed, target):
    x = np.zeros(fed, np.float32)
    p = tf.placeholder(tf.float32, static)
    got = run([tf.shape(p), tf.shape(p, out_type=tf.int64), tf.size(p), tf.rank(p)], {p: x},
              target)
    assert_close(got[0], np.array(fed, np.int32).reshape(-1))
    assert_close(got[1], np.array(fed, np.int64).reshape(-1))
    assert_close(got[2], np.int32(x.size))
    assert_close(got[3], np.int32(x.ndim))


@pytest.mark.parametrize("batch", [3, 1, 0])
def test_reshape_with_a_run_time_shape(batch, target):
    x = _data((batch, 3, 4), np.float32)
    p = tf.placeholder(tf.float32, [None, 3, 4])
    flat = tf.reshape(p, [tf.shape(p)[0], -1])
    assert flat.shape.as_list() == [None, None]
    back = tf.reshape(flat, tf.shape(p))  # the known dims of a shape tensor stay static
    assert back.shape.as_list() == [None, 3, 4]
    got = run([flat, back, tf.reshape(p, [-1, 2])], {p: x}, target)
    for actual, expected in zip(got, [x.reshape(batch, 12), x, x.reshape(-1, 2)]):
        assert_close(actual, expected)


@pytest.mark.parametrize("batch", [2, 0])
@pytest.mark.parametrize("dtype", [tf.float32, tf.int64, tf.bool], ids=str)
def test_filled_tensors_of_unknown_shape(dtype, batch, target):
    p = tf.placeholder(tf.float32, [None, 3])
    x = np.ones((batch, 3), np.float32)
    np_dtype = dtype.as_numpy_dtype
    fetches = [tf.zeros_like(p, dtype=dtype), tf.ones_like(p, dtype=dtype),
               tf.zeros(tf.shape(p), dtype), tf.ones(tf.shape(p), dtype),
               tf.fill(tf.shape(p), tf.constant(np.array(1, np_dtype)))]
    expected = [np.zeros, np.ones, np.zeros, np.ones, np.ones]
    for actual, make in zip(run(fetches, {p: x}, target), expected):
        assert actual.dtype == np_dtype
        assert_close(actual, make((batch, 3), np_dtype))


def test_filled_tensors_like_keep_the_dtype(target):
    pi, pu = tf.placeholder(tf.int32, [None, 2]), tf.placeholder(tf.float64)
    feed = {pi: np.arange(6, dtype=np.int32).reshape(3, 2), pu: np.ones((2, 1, 2))}
    got = run([tf.zeros_like(pi), tf.ones_like(pu)], feed, target)
    assert_close(got[0], np.zeros((3, 2), np.int32))
    assert_close(got[1], np.ones((2, 1, 2), np.float64))


@pytest.mark.parametrize("shape,value", [((2, 3), 1.5), ((0, 2), 7), ((), -2), ((4,), True)],
                         ids=str)
def test_fill_zeros_ones(shape, value, target):
    got = run([tf.fill(list(shape), value), tf.zeros(shape), tf.ones(shape, tf.int32),
               tf.zeros(shape, tf.int64)], None, target)
    want_fill = np.full(shape, value, np.asarray(value).dtype if isinstance(value, bool)
                        else np.int32 if isinstance(value, int) else np.float32)
    for actual, expected in zip(got, [want_fill, np.zeros(shape, np.float32),
                                      np.ones(shape, np.int32), np.zeros(shape, np.int64)]):
        assert actual.dtype == expected.dtype
        assert_close(actual, expected)


RANGES = [((5,), {}, np.arange(5, dtype=np.int32)),
          ((2, 10, 3), {}, np.arange(2, 10, 3, dtype=np.int32)),
          ((5, 0, -1), {}, np.arange(5, 0, -1, dtype=np.int32)),
          ((0, 1, 0.25), {}, np.arange(0, 1, 0.25, dtype=np.float32)),
          ((3,), {"dtype": tf.float64}, np.arange(3, dtype=np.float64)),
          ((4, 4), {}, np.arange(4, 4, dtype=np.int32)),
          ((tf.constant(6),), {"dtype": tf.int64}, np.arange(6, dtype=np.int64))]


@pytest.mark.parametrize("args,kw,expected", RANGES, ids=[str(c[0]) for c in RANGES])
def test_range(args, kw, expected, target):
    out = run(tf.range(*args, **kw), None, target)
    assert out.dtype == expected.dtype
    assert_close(out, expected)


@pytest.mark.parametrize("batch", [3, 0])
def test_broadcast_to_a_run_time_shape(batch, target):
    p = tf.placeholder(tf.float32, [None, 4])
    b = _data((4,), np.float32)
    out = tf.broadcast_to(b, tf.shape(p))
    x = np.zeros((batch, 4), np.float32)
    assert_close(run(out, {p: x}, target), np.broadcast_to(b, (batch, 4)))
