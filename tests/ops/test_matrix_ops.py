"""graphc.ops.matrix_ops: eye, linspace, sequence_mask, norm, matrix_transpose,
matrix_band_part, diag and diag_part, matrix_diag and matrix_diag_part, trace, roll,
reduce_variance and reduce_std against numpy on every target (odd sizes, batches,
non-square matrices, negative shifts, int dtypes); gradients against numpy formulas and
central differences; each graph-build error and its message."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import DTypeError, ShapeError
from graphc.test import gradcheck
from graphc.unsupported import UnsupportedAPIError

RNG = np.random.default_rng(20261215)


def _feed(*arrays):
    phs = [tf.placeholder(a.dtype, a.shape) for a in arrays]
    return phs, dict(zip(phs, arrays))


def _check(pairs, feed, target):
    """Run every graphc tensor of (tensor, numpy value) pairs once and compare."""
    got = run([t for t, _ in pairs], feed, target)
    for value, (_, want) in zip(got, pairs):
        want = np.asarray(want)
        assert value.dtype == want.dtype, (value.dtype, want.dtype)
        assert_close(value, want)


# --- eye, linspace, sequence_mask -----------------------------------------------------------
def test_eye_linspace_and_sequence_mask_match_numpy(target):
    lengths = np.array([[3, 0, 5], [1, 2, 7]], np.int32)
    (pl,), feed = _feed(lengths)
    start, stop = tf.placeholder(tf.float64, []), tf.placeholder(tf.float64, [])
    feed.update({start: -1.5, stop: 2.25})
    pairs = [
        (tf.eye(3), np.eye(3, dtype=np.float32)),
        (tf.eye(2, 5, dtype=tf.int32), np.eye(2, 5, dtype=np.int32)),
        (tf.eye(tf.constant(4), 3, batch_shape=[2, 1], dtype=tf.float64),
         np.broadcast_to(np.eye(4, 3), (2, 1, 4, 3))),
        (tf.eye(0, 2), np.zeros((0, 2), np.float32)),
        (tf.linspace(0.0, 1.0, 7), np.linspace(0, 1, 7, dtype=np.float32)),
        (tf.lin_space(3.0, -2.0, tf.constant(4)), np.linspace(3, -2, 4, dtype=np.float32)),
        (tf.linspace(start, stop, 9), np.linspace(-1.5, 2.25, 9)),
        (tf.linspace(2, 5.5, 1), np.array([2.0], np.float32)),
        (tf.sequence_mask(pl, 6), np.arange(6) < lengths[..., None]),
        (tf.sequence_mask([2, 0, 4]), np.arange(4) < np.array([2, 0, 4])[:, None]),
        (tf.sequence_mask(pl, tf.constant(3), dtype=tf.float32),
         (np.arange(3) < lengths[..., None]).astype(np.float32)),
        (tf.sequence_mask(pl, -2), np.zeros((2, 3, 0), bool)),
    ]
    _check(pairs, feed, target)


def test_linspace_gradients_reach_start_and_stop():
    # out[i] = start + i (stop - start) / (n - 1): d/dstart = 1 - i/(n-1), d/dstop = i/(n-1)
    gradcheck(lambda a, b: tf.linspace(a, b, 5) * np.arange(1.0, 6.0),
              [np.array(0.5), np.array(-2.0)])
    start, stop = tf.placeholder(tf.float64, []), tf.placeholder(tf.float64, [])
    grads = tf.gradients(tf.reduce_sum(tf.linspace(start, stop, 5)), [start, stop])
    assert_close(run(grads, {start: 1.0, stop: 3.0}, "llvm"), [2.5, 2.5])


def test_eye_linspace_and_sequence_mask_errors():
    fed = tf.placeholder(tf.int32, [])
    with pytest.raises(ShapeError, match=r"eye: num_rows must be known when the graph is "
                       r"built \(graphc's shapes are static\), but 'Placeholder:0' is computed"):
        tf.eye(fed)
    with pytest.raises(ValueError, match=r"eye: sizes must not be negative, got num_rows=2, "
                       r"num_columns=-1"):
        tf.eye(2, -1)
    with pytest.raises(TypeError, match=r"eye: num_rows must be integers, got 2\.5"):
        tf.eye(2.5)
    with pytest.raises(ShapeError, match=r"linspace: num must be known when the graph is built"):
        tf.linspace(0.0, 1.0, fed)
    with pytest.raises(ValueError, match=r"linspace: num must be positive, got 0"):
        tf.linspace(0.0, 1.0, 0)
    with pytest.raises(DTypeError, match=r"linspace: start must be float32 or float64, got "
                       r"int32"):
        tf.linspace(tf.constant(1), 2, 3)
    with pytest.raises(ShapeError, match=r"linspace: stop must be a scalar, got 'Const.*:0' "
                       r"of shape \(2,\)"):
        tf.linspace(0.0, [1.0, 2.0], 3)
    lengths = tf.placeholder(tf.int32, [4])
    with pytest.raises(ShapeError, match=r"sequence_mask: pass maxlen; without it the mask is "
                       r"as long as the largest of the lengths, and 'Placeholder_1:0' is "
                       r"computed when the graph runs"):
        tf.sequence_mask(lengths)
    with pytest.raises(ShapeError, match=r"sequence_mask: maxlen must be known"):
        tf.sequence_mask(lengths, fed)
    with pytest.raises(DTypeError, match=r"sequence_mask: lengths must be integers, got "
                       r"float32"):
        tf.sequence_mask([1.0, 2.0], 3)


# --- norm, reduce_variance, reduce_std ------------------------------------------------------
def _np_norm(x, ord, axis=None, keepdims=False):  # noqa: A002
    if axis is None:
        return _np_norm(x.reshape(-1), ord, 0).reshape((1,) * x.ndim if keepdims else ())
    if ord not in ("euclidean", 1, 2, np.inf) and not isinstance(axis, tuple):
        out = (np.abs(x) ** ord).sum(axis, keepdims=keepdims) ** (1 / ord)
        return out.astype(x.dtype)
    ord = "fro" if ord == "euclidean" and isinstance(axis, tuple) else ord  # noqa: A001
    ord = None if ord == "euclidean" else ord  # noqa: A001
    return np.linalg.norm(x, ord, axis, keepdims).astype(x.dtype)


NORMS = [  # (ord, axis, keepdims)
    ("euclidean", None, False), (2, -1, False), (1, 0, True), (np.inf, 1, False),
    (3, 2, False), (0.5, -1, True), ("fro", (1, 2), False), ("euclidean", (-1, 0), True),
    (1, (1, 2), False), (np.inf, (2, 1), True), (1, None, True), (np.inf, None, False),
]


def test_norm_variance_and_std_match_numpy(target):
    x = RNG.normal(size=(2, 3, 5)).astype(np.float32)
    ints = RNG.integers(-9, 9, (3, 5)).astype(np.int32)
    (px, pi), feed = _feed(x, ints)
    pairs = [(tf.norm(px, o, a, k), _np_norm(x, o, a, k)) for o, a, k in NORMS]
    pairs += [
        (tf.norm(px, axis=1, keep_dims=True), _np_norm(x, 2, 1, True)),
        (tf.norm(pi, 1, axis=-1), np.abs(ints).sum(-1, dtype=np.int32)),
        (tf.norm(pi, np.inf, axis=(0, 1)), np.linalg.norm(ints, np.inf).astype(np.int32)),
        (tf.math.reduce_variance(px), np.var(x)),
        (tf.math.reduce_variance(px, axis=[0, 2], keepdims=True), np.var(x, (0, 2),
                                                                         keepdims=True)),
        (tf.math.reduce_std(px, -1), np.std(x, -1)),
        (tf.math.reduce_std(px, (0, 1), keepdims=True), np.std(x, (0, 1), keepdims=True)),
    ]
    _check(pairs, feed, target)


def test_integer_variance_truncates_each_mean_as_tf1():
    # mean([1, 2, 4]) = 7 // 3 = 2, deviations [-1, 0, 2], squares' mean 5 // 3 = 1
    assert run(tf.math.reduce_variance(tf.constant([1, 2, 4]))) == 1


def test_norm_and_std_gradients():
    x = RNG.normal(size=(3, 4))
    p = tf.placeholder(tf.float64, x.shape)
    grads = [tf.gradients(tf.norm(p), p)[0], tf.gradients(tf.math.reduce_std(p), p)[0],
             tf.gradients(tf.reduce_sum(tf.norm(p, 1, axis=1)), p)[0]]
    g_norm, g_std, g_l1 = run(grads, {p: x}, "llvm")
    assert_close(g_norm, x / np.linalg.norm(x))  # d|x|/dx = x / |x|
    assert_close(g_std, (x - x.mean()) / (x.size * x.std()))  # d std = (x - mean) / (N std)
    assert_close(g_l1, np.sign(x))
    gradcheck(lambda t: tf.norm(t, 3, axis=0), [x])
    gradcheck(lambda t: tf.norm(t, "fro", axis=(0, 1), keepdims=True), [x])
    gradcheck(lambda t: tf.math.reduce_variance(t, axis=1), [x], target="llvm")


def test_norm_and_std_errors():
    x = tf.placeholder(tf.float32, [3, 4])
    with pytest.raises(ValueError, match=r"norm: ord='nuc' is not a supported vector norm; "
                       r"supported: 'euclidean', 2, 1, np\.inf or any other positive number"):
        tf.norm(x, "nuc")
    with pytest.raises(ValueError, match=r"norm: ord=-1 is not a supported vector norm"):
        tf.norm(x, -1, axis=1)
    with pytest.raises(ValueError, match=r"norm: ord='fro' is not a supported vector norm "
                       r"\('fro' is a matrix norm: pass a pair of axes\)"):
        tf.norm(x, "fro")
    with pytest.raises(ValueError, match=r"norm: ord=2 is not a supported matrix norm \(the "
                       r"matrix 2-norm needs an SVD, which graphc does not have\); supported "
                       r"over a pair of axes: 'euclidean', 'fro', 1 or np\.inf"):
        tf.norm(x, 2, axis=(0, 1))
    with pytest.raises(ValueError, match=r"norm: axis must be None, an int or a pair of "
                       r"distinct ints, got \(1, -1\) \(the same axis twice\)"):
        tf.norm(x, axis=(1, -1))
    with pytest.raises(ValueError, match=r"norm: axis must be None, an int or a pair of "
                       r"distinct ints, got \[0, 1, 1\]"):
        tf.norm(x, axis=[0, 1, 1])
    with pytest.raises(DTypeError, match=r"norm: ord='euclidean' needs a floating-point "
                       r"tensor, got int32"):
        tf.norm(tf.constant([3, 4]))
    with pytest.raises(DTypeError, match=r"reduce_std expects a floating-point tensor, got "
                       r"int32"):
        tf.math.reduce_std(tf.constant([3, 4]))


# --- matrices -------------------------------------------------------------------------------
def _np_band(x, lower, upper):
    m, n = np.indices(x.shape[-2:])
    keep = ((lower < 0) | (m - n <= lower)) & ((upper < 0) | (n - m <= upper))
    return np.where(keep, x, 0).astype(x.dtype)


def _np_matrix_diag(d, k=0, rows=None, cols=None):
    n = d.shape[-1]
    rows = rows or n + abs(k)  # square when neither size is given
    cols = cols or n + abs(k)
    out = np.zeros(d.shape[:-1] + (rows, cols), d.dtype)
    for i in range(n):
        out[..., i + max(-k, 0), i + max(k, 0)] = d[..., i]
    return out


def test_matrix_ops_match_numpy(target):
    x = RNG.normal(size=(2, 3, 5)).astype(np.float32)
    ints = RNG.integers(-9, 9, (4, 3)).astype(np.int32)
    d = RNG.normal(size=(2, 3)).astype(np.float64)
    (px, pi, pd), feed = _feed(x, ints, d)
    open_batch = tf.placeholder(tf.float32, [None, 3, 5])
    feed[open_batch] = x
    pairs = [
        (tf.matrix_transpose(px), np.swapaxes(x, -1, -2)),
        (tf.matrix_transpose(pi, name="t"), ints.T),
        (tf.matrix_band_part(px, 1, 2), _np_band(x, 1, 2)),
        (tf.matrix_band_part(open_batch, -1, 0), np.tril(x)),
        (tf.matrix_band_part(px, 0, -1), np.triu(x)),
        (tf.matrix_band_part(pi, -1, -1), ints),
        (tf.matrix_band_part(pi, 0, 0), _np_band(ints, 0, 0)),
        (tf.matrix_band_part(px, tf.placeholder_with_default(2, []), tf.constant(-1)),
         _np_band(x, 2, -1)),
        (tf.matrix_diag(pd), _np_matrix_diag(d)),
        (tf.matrix_diag(pi), _np_matrix_diag(ints)),
        (tf.matrix_diag(pd, k=2), _np_matrix_diag(d, 2)),
        (tf.matrix_diag(pd, k=-1, num_cols=5), _np_matrix_diag(d, -1, 4, 5)),
        (tf.matrix_diag(pd, k=(1, 1), num_rows=4, padding_value=7.5),
         np.where(_np_matrix_diag(np.ones_like(d), 1, 4, 4) == 1,
                  _np_matrix_diag(d, 1, 4, 4), 7.5)),
        (tf.matrix_diag_part(px), np.diagonal(x, 0, -2, -1)),
        (tf.matrix_diag_part(open_batch, k=2), np.diagonal(x, 2, -2, -1)),
        (tf.matrix_diag_part(px, k=-2), np.diagonal(x, -2, -2, -1)),
        (tf.matrix_diag_part(pi, k=[1, 1]), np.diagonal(ints, 1)),
        (tf.matrix_diag_part(tf.constant([[True, False], [True, True]])), [True, True]),
        (tf.trace(px), np.trace(x, 0, -2, -1)),
        (tf.trace(pi), np.int32(np.trace(ints))),
        (tf.diag(pd), np.diag(d.ravel()).reshape(2, 3, 2, 3)),
        (tf.diag([4, -1, 2]), np.diag([4, -1, 2]).astype(np.int32)),
        (tf.diag_part(tf.diag(pd)), d),
        (tf.diag_part(pi[:3]), np.diag(ints[:3])),
    ]
    _check(pairs, feed, target)


def test_diagonals_leave_inf_and_nan_in_place(target):
    values = np.array([np.inf, np.nan, -2.0], np.float32)
    got = run([tf.diag(values), tf.matrix_diag_part(tf.diag(values))], None, target)
    want = np.diag(values)
    want[np.isnan(want) & ~np.eye(3, dtype=bool)] = 0
    assert_close(got[0], want)
    assert_close(got[1], values)


def test_matrix_gradients():
    x = RNG.normal(size=(2, 3, 4))
    g = RNG.normal(size=(2, 3, 4))
    p, up = tf.placeholder(tf.float64, x.shape), tf.placeholder(tf.float64, x.shape)
    sq = tf.placeholder(tf.float64, (3, 3))
    grads = [tf.gradients(tf.matrix_band_part(p, 1, 0), p, up)[0],
             tf.gradients(tf.reduce_sum(tf.trace(p)), p)[0],
             tf.gradients(tf.reduce_sum(tf.diag_part(sq) * [1.0, 2.0, 3.0]), sq)[0]]
    band, tr, part = run(grads, {p: x, up: g, sq: x[0, :, :3]}, "llvm")
    assert_close(band, _np_band(g, 1, 0))  # the band passes its gradient, the rest gets 0
    assert_close(tr, np.broadcast_to(np.eye(3, 4), x.shape))
    assert_close(part, np.diag([1.0, 2.0, 3.0]))
    gradcheck(lambda t: tf.matrix_diag(t, k=1) * np.arange(16.0).reshape(4, 4), [x[0, 0, :3]])
    gradcheck(lambda t: tf.matrix_diag_part(t, k=-1), [x])
    gradcheck(lambda t: tf.diag(t), [x[0, :2, :2]], target="llvm")
    gradcheck(lambda t: tf.matrix_transpose(t)[..., 1:], [x])


def test_matrix_errors():
    v = tf.placeholder(tf.float32, [3])
    with pytest.raises(ShapeError, match=r"matrix_transpose: expected a matrix or a batch of "
                       r"matrices \(rank >= 2\), got shape \(3,\)"):
        tf.matrix_transpose(v)
    with pytest.raises(ShapeError, match=r"matrix_band_part: expected a matrix or a batch of "
                       r"matrices \(rank >= 2\), got 'Placeholder:0' of shape \(3,\)"):
        tf.matrix_band_part(v, 0, 0)
    with pytest.raises(ShapeError, match=r"matrix_diag_part: the last two axes of "
                       r"'Placeholder_1:0' \(3, \?\) must have sizes known"):
        tf.matrix_diag_part(tf.placeholder(tf.float32, [3, None]))
    with pytest.raises(ValueError, match=r"matrix_diag: a diagonal of 3 entries at k=1 needs "
                       r"num_rows == 3 or num_cols == 4 \(and at least those\), got "
                       r"num_rows=5, num_cols=5"):
        tf.matrix_diag(v, k=1, num_rows=5, num_cols=5)
    with pytest.raises(NotImplementedError, match=r"matrix_diag: k=\(-1, 1\) names a band "
                       r"of diagonals; graphc supports one diagonal"):
        tf.matrix_diag(v, k=(-1, 1))
    with pytest.raises(ValueError, match=r"matrix_diag_part: k=3 is outside the diagonals of "
                       r"a 2x3 matrix \(-2 < k < 3\)"):
        tf.matrix_diag_part(tf.zeros([2, 3]), k=3)
    with pytest.raises(ShapeError, match=r"diag: expected a diagonal of rank >= 1, got the "
                       r"scalar"):
        tf.diag(1.0)
    with pytest.raises(ShapeError, match=r"diag: the shape of 'Placeholder_2:0' must be known "
                       r"when the graph is built"):
        tf.diag(tf.placeholder(tf.float32, [None]))
    with pytest.raises(ShapeError, match=r"diag_part: expected a shape D \+ D \(even rank >= "
                       r"2, its two halves equal\), got 'zeros.*:0' \(2, 3\)"):
        tf.diag_part(tf.zeros([2, 3]))
    with pytest.raises(ShapeError, match=r"diag_part: expected a shape D \+ D"):
        tf.diag_part(v)


# --- roll -----------------------------------------------------------------------------------
ROLLS = [  # (shape, shift, axis)
    ((7,), 3, 0), ((7,), -9, 0), ((3, 5), [1, -2], [0, 1]), ((2, 3, 5), [4, -1, 2], [2, 0, 2]),
    ((3, 5), 5, 1), ((3, 5), [2, -2], [1, -1]), ((2, 0, 3), 1, 1),
]


def test_roll_matches_numpy(target):
    pairs, feed = [], {}
    for shape, shift, axis in ROLLS:
        x = RNG.normal(size=shape).astype(np.float32)
        (p,), fed = _feed(x)
        feed.update(fed)
        pairs.append((tf.roll(p, shift, axis), np.roll(x, shift, axis)))
    ints = np.arange(12, dtype=np.int64).reshape(3, 4)
    pairs.append((tf.roll(ints, tf.constant([-1, 5]), [1, 0]), np.roll(ints, (-1, 5), (1, 0))))
    open_rows = tf.placeholder(tf.float32, [None, 5])
    feed[open_rows] = RNG.normal(size=(3, 5)).astype(np.float32)
    pairs.append((tf.roll(open_rows, -2, 1), np.roll(feed[open_rows], -2, 1)))
    _check(pairs, feed, target)


def test_roll_gradient_rolls_back():
    x, g = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5))
    p, up = tf.placeholder(tf.float64, x.shape), tf.placeholder(tf.float64, x.shape)
    grad = tf.gradients(tf.roll(p, [2, -1], [1, 0]), p, up)[0]
    assert_close(run(grad, {p: x, up: g}, "llvm"), np.roll(g, (-2, 1), (1, 0)))
    gradcheck(lambda t: tf.roll(t, [-3, 1], [1, 1]), [x])


def test_roll_errors():
    x = tf.placeholder(tf.float32, [None, 4])
    with pytest.raises(ShapeError, match=r"roll: shift must be known when the graph is built"):
        tf.roll(x, tf.placeholder(tf.int32, []), 1)
    with pytest.raises(ValueError, match=r"roll: shift and axis must have the same length, got "
                       r"shift=\[1, 2\] and axis=0"):
        tf.roll(x, [1, 2], 0)
    with pytest.raises(ShapeError, match=r"roll: axis 0 of 'Placeholder:0' \(\?, 4\) must have "
                       r"a size known when the graph is built"):
        tf.roll(x, 1, 0)
    with pytest.raises(ShapeError, match=r"roll axis 2 is out of range for a tensor of rank 2"):
        tf.roll(x, 1, 2)


# --- names ----------------------------------------------------------------------------------
def test_names_and_namespaces():
    assert tf.lin_space is tf.linspace
    assert tf.math.reduce_variance is not None and tf.math.reduce_std is not None
    for name in ("eye", "linspace", "sequence_mask", "norm", "matrix_transpose", "roll",
                 "matrix_band_part", "diag", "diag_part", "matrix_diag", "matrix_diag_part",
                 "trace"):
        assert hasattr(tf, name), name
    with pytest.raises(UnsupportedAPIError, match=r"tf\.linalg is a TensorFlow 1 API"):
        tf.linalg  # noqa: B018
    assert tf.trace(tf.zeros([2, 2]), name="my_trace").name.startswith("my_trace")
    assert tf.matrix_transpose(tf.zeros([2, 3])).name.startswith("matrix_transpose")
