"""Numeric tests of graphc.ops.math_ops: elementwise math, comparisons, logic, select, cast,
reductions, arg-extrema, matmul and tensordot, each against numpy on every target.

Every case is fed through placeholders so that a compiling target computes it instead of
folding constants. Expected values are computed in float64 and rounded once to the dtype
under test, so they are the correctly rounded answer the tolerance is measured from.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]
NUMERIC = FLOATS + INTS
SHAPES = [(), (5,), (2, 3), (0, 3), (2, 3, 4)]
# Pairs that broadcast: equal, both ways, trailing, scalar with tensor, size-0 rows.
BINARY_SHAPES = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((), (2, 3)),
                 ((2, 3), ()), ((0, 3), (3,)), ((2, 1, 3), (4, 1))]

_np_erf = np.vectorize(math.erf, otypes=[np.float64])


def _feed(*arrays):
    """One placeholder per array (its dtype and shape) and the feed_dict that fills them."""
    phs = [tf.placeholder(a.dtype, a.shape) for a in arrays]
    return phs, dict(zip(phs, arrays))


def _data(rng, shape, dtype, low=-3.0, high=3.0):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        return rng.integers(int(low), int(high) + 1, shape).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


def _in_f64(np_fn, *arrays, dtype=None):
    """np_fn evaluated in float64 (for float inputs) and rounded once to `dtype`."""
    dtype = np.dtype(dtype or arrays[0].dtype)
    args = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice"
        return np.asarray(np_fn(*args)).astype(dtype)


def _tol(dtype):
    return {"rtol": 2e-3, "atol": 2e-3} if np.dtype(dtype) == np.float16 else {}


# --- unary ------------------------------------------------------------------------------
# (name, graphc op, numpy reference, input domain, also float16)
UNARY_FLOAT = [
    ("sqrt", tf.sqrt, np.sqrt, (0.1, 10.0), True),
    ("rsqrt", tf.rsqrt, lambda x: 1 / np.sqrt(x), (0.1, 10.0), False),
    ("exp", tf.exp, np.exp, (-5.0, 5.0), True),
    ("log", tf.log, np.log, (0.1, 10.0), True),
    ("log1p", tf.log1p, np.log1p, (-0.9, 5.0), False),
    ("expm1", tf.expm1, np.expm1, (-1.0, 1.0), False),
    ("sin", tf.sin, np.sin, (-3.0, 3.0), False),
    ("cos", tf.cos, np.cos, (-3.0, 3.0), False),
    ("tanh", tf.tanh, np.tanh, (-4.0, 4.0), True),
    ("sigmoid", tf.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-8.0, 8.0), True),
    ("erf", tf.erf, _np_erf, (-3.0, 3.0), False),
    ("floor", tf.floor, np.floor, (-5.0, 5.0), False),
    ("ceil", tf.ceil, np.ceil, (-5.0, 5.0), False),
]
UNARY_FLOAT_CASES = [pytest.param(fn, ref, dom, dt, id=f"{name}-{np.dtype(dt).name}")
                     for name, fn, ref, dom, half in UNARY_FLOAT
                     for dt in FLOATS + ([np.float16] if half else [])]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("fn,ref,domain,dtype", UNARY_FLOAT_CASES)
def test_unary_float(fn, ref, domain, dtype, shape, target):
    x = _data(np.random.default_rng(0), shape, dtype, *domain)
    (p,), feed = _feed(x)
    assert_close(run(fn(p), feed, target), _in_f64(ref, x), dtype, **_tol(dtype))


@pytest.mark.parametrize("name", [c[0] for c in UNARY_FLOAT])
@pytest.mark.parametrize("dtype", [tf.int32, tf.int64])
def test_unary_float_rejects_integers(name, dtype):
    fn = {c[0]: c[1] for c in UNARY_FLOAT}[name]
    x = tf.placeholder(dtype, [3], name="ints")
    with pytest.raises(TypeError, match=rf"^{name} expects a floating-point tensor, got "
                                        rf"{dtype.name} \('ints:0'\); cast it first with tf.cast"):
        fn(x)


def _round_data(rng, shape, dtype):
    """Values with exact halves (ties round to even) mixed with random ones."""
    if np.dtype(dtype).kind == "i":
        return _data(rng, shape, dtype, -9, 9)
    halves = rng.integers(-4, 4, shape) + 0.5
    return np.where(rng.random(shape) < 0.5, halves, rng.uniform(-4, 4, shape)).astype(dtype)


UNARY_NUMERIC = [
    ("negative", tf.negative, np.negative),
    ("abs", tf.abs, np.abs),
    ("sign", tf.sign, np.sign),
    ("square", tf.square, np.square),
    ("round", tf.round, np.round),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC + [np.float16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,ref", UNARY_NUMERIC, ids=[c[0] for c in UNARY_NUMERIC])
def test_unary_numeric(name, fn, ref, dtype, shape, target):
    rng = np.random.default_rng(1)
    x = _round_data(rng, shape, dtype) if name == "round" else _data(rng, shape, dtype)
    if x.size:
        x.flat[0] = 0  # sign(0) == 0
    (p,), feed = _feed(x)
    assert_close(run(fn(p), feed, target), _in_f64(ref, x), dtype, **_tol(dtype))


def test_round_is_half_to_even(target):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], np.float32)
    (p,), feed = _feed(x)
    assert_close(run(tf.round(p), feed, target), np.array([-2, -2, -0, 0, 2, 2, 4], np.float32))


# --- binary -----------------------------------------------------------------------------
def _nonzero(rng, shape, dtype):
    """Divisors: |b| in [0.5, 3] for floats, [1, 3] for ints, either sign."""
    mag = rng.uniform(0.5, 3, shape) if np.dtype(dtype).kind == "f" else rng.integers(1, 4, shape)
    return (mag * rng.choice([-1, 1], shape)).astype(dtype)


# (name, graphc op, numpy reference, (a data, b data), dtypes)
BINARY = [
    ("add", tf.add, np.add, None, NUMERIC + [np.float16]),
    ("subtract", tf.subtract, np.subtract, None, NUMERIC),
    ("multiply", tf.multiply, np.multiply, None, NUMERIC + [np.float16]),
    ("divide", tf.divide, np.true_divide, (None, _nonzero), NUMERIC),
    ("truediv", tf.truediv, np.true_divide, (None, _nonzero), NUMERIC),
    ("floordiv", tf.floordiv, np.floor_divide, (None, _nonzero), NUMERIC),
    ("mod", tf.mod, np.mod, (None, _nonzero), NUMERIC),
    ("pow_float", tf.pow, np.power,
     (lambda r, s, d: _data(r, s, d, 0.1, 3), lambda r, s, d: _data(r, s, d, -2, 2)), FLOATS),
    ("pow_int", tf.pow, np.power, (None, lambda r, s, d: _data(r, s, d, 0, 3)), INTS),
    ("maximum", tf.maximum, np.maximum, None, NUMERIC),
    ("minimum", tf.minimum, np.minimum, None, NUMERIC),
]
BINARY_CASES = [pytest.param(fn, ref, gens, dt, id=f"{name}-{np.dtype(dt).name}")
                for name, fn, ref, gens, dts in BINARY for dt in dts]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("fn,ref,gens,dtype", BINARY_CASES)
def test_binary(fn, ref, gens, dtype, shapes, target):
    rng = np.random.default_rng(2)
    gen_a, gen_b = gens or (None, None)
    a = (gen_a or _data)(rng, shapes[0], dtype)
    b = (gen_b or _data)(rng, shapes[1], dtype)
    (pa, pb), feed = _feed(a, b)
    empty = np.zeros(0, dtype)
    expected = _in_f64(ref, a, b, dtype=ref(empty, empty).dtype)  # int / int -> float64
    assert_close(run(fn(pa, pb), feed, target), expected, **_tol(dtype))


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_integer_floordiv_and_mod_follow_python(dtype, target):
    # Python semantics: the quotient rounds toward -inf, the remainder takes the divisor's sign;
    # a zero divisor gives 0 (numpy's answer) and must not warn.
    pairs = [(a, b) for a in (-7, -6, -1, 0, 1, 6, 7) for b in (-3, -2, -1, 0, 1, 2, 3)]
    a = np.array([p[0] for p in pairs], dtype)
    b = np.array([p[1] for p in pairs], dtype)
    (pa, pb), feed = _feed(a, b)
    want_div = np.array([x // y if y else 0 for x, y in pairs], dtype)
    want_mod = np.array([x % y if y else 0 for x, y in pairs], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = run([tf.floordiv(pa, pb), tf.mod(pa, pb), pa // pb, pa % pb], feed, target)
    for actual, expected in zip(got, [want_div, want_mod, want_div, want_mod]):
        assert_close(actual, expected)


def test_integer_pow_to_negative_power_is_an_error(target):
    (pa, pb), feed = _feed(np.array([2, 3], np.int32), np.array([1, -1], np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative integer powers"):
        run(tf.pow(pa, pb), feed, target)


# --- comparisons and logic --------------------------------------------------------------
COMPARE = [("equal", tf.equal, np.equal), ("not_equal", tf.not_equal, np.not_equal),
           ("less", tf.less, np.less), ("less_equal", tf.less_equal, np.less_equal),
           ("greater", tf.greater, np.greater),
           ("greater_equal", tf.greater_equal, np.greater_equal)]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC + [np.bool_], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,ref", COMPARE, ids=[c[0] for c in COMPARE])
def test_compare(name, fn, ref, dtype, shapes, target):
    if dtype is np.bool_ and name not in ("equal", "not_equal"):
        pytest.skip("ordering is defined on numbers only")
    rng = np.random.default_rng(3)
    # small integers (also as floats) so that ties occur
    a, b = (_data(rng, s, np.int32, -2, 2).astype(dtype) for s in shapes)
    (pa, pb), feed = _feed(a, b)
    out = run(fn(pa, pb), feed, target)
    assert out.dtype == np.bool_
    assert_close(out, ref(a, b))


def test_ordering_rejects_bools():
    x = tf.placeholder(tf.bool, [2])
    with pytest.raises(TypeError, match="expects numeric"):
        tf.less(x, x)


LOGICAL = [("logical_and", tf.logical_and, np.logical_and),
           ("logical_or", tf.logical_or, np.logical_or),
           ("logical_xor", tf.logical_xor, np.logical_xor)]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("fn,ref", [c[1:] for c in LOGICAL], ids=[c[0] for c in LOGICAL])
def test_logical(fn, ref, shapes, target):
    rng = np.random.default_rng(4)
    a, b = (_data(rng, s, np.bool_) for s in shapes)
    (pa, pb), feed = _feed(a, b)
    assert_close(run(fn(pa, pb), feed, target), ref(a, b))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_logical_not(shape, target):
    x = _data(np.random.default_rng(5), shape, np.bool_)
    (p,), feed = _feed(x)
    assert_close(run(tf.logical_not(p), feed, target), np.logical_not(x))


def test_logical_ops_reject_numbers():
    x = tf.placeholder(tf.float32, [2])
    with pytest.raises(TypeError, match="requested dtype bool"):
        tf.logical_and(x, x)


# --- where, cast, clip --------------------------------------------------------------------
WHERE_SHAPES = [((2, 3), (2, 3), (2, 3)), ((2, 1), (1, 3), ()), ((3,), (2, 3), (2, 1)),
                ((), (4,), (4,)), ((0, 3), (3,), ())]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC + [np.bool_], ids=lambda d: np.dtype(d).name)
def test_where(dtype, shapes, target):
    rng = np.random.default_rng(6)
    cond = _data(rng, shapes[0], np.bool_)
    a, b = _data(rng, shapes[1], dtype), _data(rng, shapes[2], dtype)
    (pc, pa, pb), feed = _feed(cond, a, b)
    assert_close(run(tf.where(pc, pa, pb), feed, target), np.where(cond, a, b))


def test_where_needs_three_arguments():
    with pytest.raises(NotImplementedError, match="3-argument form"):
        tf.where(tf.placeholder(tf.bool, [2]))


CAST_PAIRS = [(np.float32, np.int32), (np.float64, np.int64), (np.int32, np.float32),
              (np.int64, np.float64), (np.float32, np.float64), (np.float64, np.float32),
              (np.float32, np.float16), (np.int64, np.int32), (np.int32, np.int64),
              (np.bool_, np.float32), (np.bool_, np.int32), (np.float32, np.bool_),
              (np.int32, np.bool_), (np.float32, np.float32)]


@pytest.mark.parametrize("shape", [(), (7,), (0, 2), (2, 3)], ids=str)
@pytest.mark.parametrize("src,dst", CAST_PAIRS,
                         ids=[f"{np.dtype(s).name}-{np.dtype(d).name}" for s, d in CAST_PAIRS])
def test_cast(src, dst, shape, target):
    # floats -> ints truncate toward zero; zeros included so that -> bool sees both values
    x = _data(np.random.default_rng(7), shape, src, -3, 3)
    if x.size and np.dtype(src).kind != "b":
        x.flat[0] = 0
    (p,), feed = _feed(x)
    out = run(tf.cast(p, dst), feed, target)
    assert out.dtype == np.dtype(dst)
    assert_close(out, x.astype(dst), dst)


def test_cast_truncates_toward_zero(target):
    (p,), feed = _feed(np.array([-2.7, -0.5, 0.5, 2.7], np.float32))
    assert_close(run(tf.cast(p, tf.int32), feed, target), np.array([-2, 0, 0, 2], np.int32))


@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("bounds", ["scalars", "tensors"])
def test_clip_by_value(dtype, bounds, target):
    rng = np.random.default_rng(8)
    x = _data(rng, (3, 4), dtype, -5, 5)
    lo, hi = np.array(-2, dtype), np.array(3, dtype)
    if bounds == "tensors":
        lo, hi = _data(rng, (4,), dtype, -3, -1), _data(rng, (3, 1), dtype, 1, 3)
    (p, plo, phi), feed = _feed(x, lo, hi)
    assert_close(run(tf.clip_by_value(p, plo, phi), feed, target), np.minimum(np.maximum(x, lo),
                                                                              hi))


# --- reductions -------------------------------------------------------------------------
# axis as the user writes it; keepdims crossed with each
AXES = [None, 0, -1, [0, 2], (-1, 0), [], [0, 1, 2]]
# (name, graphc op, numpy reference, value on an empty axis, input domain)
REDUCE = [
    ("sum", tf.reduce_sum, np.sum, 0, (0.5, 1.5)),
    ("prod", tf.reduce_prod, np.prod, 1, (0.5, 1.5)),
    ("mean", tf.reduce_mean, np.mean, np.nan, (0.5, 1.5)),
    ("max", tf.reduce_max, np.max, "lowest", (-3, 3)),
    ("min", tf.reduce_min, np.min, "highest", (-3, 3)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,ref,empty,domain", REDUCE, ids=[c[0] for c in REDUCE])
def test_reduce(name, fn, ref, empty, domain, dtype, axis, keepdims, target):
    x = _data(np.random.default_rng(9), (2, 3, 4), dtype, *domain)
    if name == "mean" and np.dtype(dtype).kind == "i":
        x = _data(np.random.default_rng(9), (2, 3, 4), dtype, -9, 9)
    (p,), feed = _feed(x)
    np_axis = None if axis is None else tuple(np.atleast_1d(axis).tolist())
    if name == "mean" and np.dtype(dtype).kind == "i":
        # TF1: an integer mean stays integer, the quotient truncated toward zero
        expected = np.trunc(np.mean(x, np_axis, np.float64, keepdims=keepdims)).astype(dtype)
    else:
        expected = _in_f64(lambda v: ref(v, axis=np_axis, keepdims=keepdims), x)
    assert_close(run(fn(p, axis, keepdims=keepdims), feed, target), expected)


def _identity(empty, dtype):
    if empty in ("lowest", "highest"):
        if np.dtype(dtype).kind == "f":
            return -np.inf if empty == "lowest" else np.inf
        info = np.iinfo(dtype)
        return info.min if empty == "lowest" else info.max
    return empty


@pytest.mark.parametrize("shape,axis", [((0, 3), None), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1),
                                        ((2, 0, 3), [0, 1]), ((0,), None)], ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,ref,empty,domain", REDUCE, ids=[c[0] for c in REDUCE])
def test_reduce_over_size_zero_axes_gives_identity(name, fn, ref, empty, domain, dtype, shape,
                                                   axis, target):
    if name == "mean" and np.dtype(dtype).kind == "i":
        pytest.skip("an integer mean of nothing is undefined (0 / 0)")
    x = np.zeros(shape, dtype)
    (p,), feed = _feed(x)
    out_shape = np.sum(x, axis=None if axis is None else tuple(np.atleast_1d(axis))).shape
    expected = np.full(out_shape, _identity(empty, dtype), dtype)
    assert_close(run(fn(p, axis), feed, target), expected)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", [((2, 3, 4), a) for a in AXES]
                         + [((0, 3), 0), ((0, 3), 1), ((), None)], ids=str)
@pytest.mark.parametrize("fn,ref", [(tf.reduce_any, np.any), (tf.reduce_all, np.all)],
                         ids=["any", "all"])
def test_reduce_bool(fn, ref, shape, axis, keepdims, target):
    x = np.random.default_rng(10).random(shape) < 0.3
    (p,), feed = _feed(x)
    np_axis = None if axis is None else tuple(np.atleast_1d(axis).tolist())
    assert_close(run(fn(p, axis, keepdims=keepdims), feed, target),
                 ref(x, axis=np_axis, keepdims=keepdims))


def test_reduce_axis_spellings(target):
    # a constant axis tensor and TF1's reduction_indices / keep_dims mean the same as axis=
    x = _data(np.random.default_rng(17), (2, 3, 4), np.float64)
    (p,), feed = _feed(x)
    fetches = [tf.reduce_sum(p, tf.constant([0, -1])), tf.reduce_max(p, reduction_indices=1),
               tf.reduce_mean(p, 2, keep_dims=True), tf.argmax(p, dimension=1)]
    expected = [x.sum((0, 2)), x.max(1), x.mean(2, keepdims=True), x.argmax(1)]
    for actual, want in zip(run(fetches, feed, target), expected):
        assert_close(actual, want)


@pytest.mark.parametrize("name,fn,ref,empty,domain", REDUCE[:3], ids=[c[0] for c in REDUCE[:3]])
def test_reduce_float16_accumulates_in_float32(name, fn, ref, empty, domain, target):
    # 2048 + 1 == 2048 in float16: a float16 running sum of 4096 ones would stop at 2048
    x = np.ones((2, 4096), np.float16) if name != "prod" else np.full((4, 16), 1.5, np.float16)
    (p,), feed = _feed(x)
    assert_close(run(fn(p, -1), feed, target), _in_f64(lambda v: ref(v, axis=-1), x), rtol=1e-3)


@pytest.mark.parametrize("fn", [tf.reduce_sum, tf.reduce_max, tf.reduce_mean])
def test_reduce_rejects_out_of_range_axis(fn):
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor of rank 2"):
        fn(tf.placeholder(tf.float32, [2, 3]), 2)


@pytest.mark.parametrize("output_type", [tf.int32, tf.int64])
@pytest.mark.parametrize("axis", [None, 0, 1, -1], ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn,ref", [(tf.argmax, np.argmax), (tf.argmin, np.argmin)],
                         ids=["argmax", "argmin"])
def test_arg_extremum(fn, ref, dtype, axis, output_type, target):
    # small ints make ties: the first extremum wins, as in numpy and TF
    x = _data(np.random.default_rng(11), (3, 4, 5), np.int32, -2, 2).astype(dtype)
    (p,), feed = _feed(x)
    out = run(fn(p, axis, output_type=output_type), feed, target)
    assert out.dtype == output_type.as_numpy_dtype
    assert_close(out, ref(x, axis=0 if axis is None else axis).astype(output_type.as_numpy_dtype))


def test_arg_extremum_over_empty_axis_is_an_error():
    with pytest.raises(ValueError, match="empty axis 0"):
        tf.argmax(tf.placeholder(tf.float32, [0, 3]), 0)


# --- matmul and tensordot -----------------------------------------------------------------
# (a shape, b shape, transpose_a, transpose_b)
MATMUL = [
    ((3, 4), (4, 5), False, False),
    ((4, 3), (4, 5), True, False),
    ((3, 4), (5, 4), False, True),
    ((4, 3), (5, 4), True, True),
    ((2, 3, 4), (2, 4, 5), False, False),
    ((2, 3, 4), (4, 5), False, False),
    ((3, 4), (2, 4, 5), False, False),
    ((2, 1, 3, 4), (5, 4, 2), False, False),
    ((2, 1, 4, 3), (5, 2, 4), True, True),
    ((4,), (4, 5), False, False),
    ((3, 4), (4,), False, False),
    ((4,), (4,), False, False),
    ((2, 3, 4), (4,), False, False),
    ((4,), (2, 4, 5), False, False),
    ((0, 3), (3, 4), False, False),
    ((2, 0), (0, 3), False, False),
]


@pytest.mark.parametrize("dtype", NUMERIC + [np.float16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa,sb,ta,tb", MATMUL, ids=[str(c) for c in MATMUL])
def test_matmul(sa, sb, ta, tb, dtype, target):
    rng = np.random.default_rng(12)
    a, b = _data(rng, sa, dtype, -1, 1), _data(rng, sb, dtype, -1, 1)
    (pa, pb), feed = _feed(a, b)
    ea = np.swapaxes(a, -1, -2) if ta else a
    eb = np.swapaxes(b, -1, -2) if tb else b
    tol = {"atol": 1e-5} if np.dtype(dtype) == np.float32 else _tol(dtype)
    assert_close(run(tf.matmul(pa, pb, transpose_a=ta, transpose_b=tb), feed, target),
                 _in_f64(np.matmul, ea, eb), **tol)


def test_matmul_rejects_mismatched_inner_dims():
    with pytest.raises(ValueError, match=r"inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
        tf.matmul(tf.placeholder(tf.float32, [2, 3]), tf.placeholder(tf.float32, [4, 5]))


TENSORDOT = [((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (4,), 0),
             ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]), ((2, 3, 4), (5, 2), [[0], [1]]),
             ((2, 3, 4), (4, 2), ([-1, 0], [0, -1])), ((2, 3), (3, 2), [np.int64(1), 0])]


@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa,sb,axes", TENSORDOT, ids=[str(c) for c in TENSORDOT])
def test_tensordot(sa, sb, axes, dtype, target):
    rng = np.random.default_rng(13)
    a, b = _data(rng, sa, dtype, -1, 1), _data(rng, sb, dtype, -1, 1)
    (pa, pb), feed = _feed(a, b)
    tol = {"atol": 1e-5} if np.dtype(dtype) == np.float32 else {}
    assert_close(run(tf.tensordot(pa, pb, axes), feed, target),
                 _in_f64(lambda x, y: np.tensordot(x, y, axes), a, b), **tol)


def test_tensordot_with_unknown_batch(target):
    a = _data(np.random.default_rng(14), (6, 3, 4), np.float64)
    b = _data(np.random.default_rng(15), (4, 2), np.float64)
    pa = tf.placeholder(tf.float64, [None, 3, 4])
    out = tf.tensordot(pa, b, 1)
    assert out.shape.as_list() == [None, 3, 2]
    assert_close(run(out, {pa: a}, target), np.tensordot(a, b, 1))


@pytest.mark.parametrize("batch", [4, 1, 0])
@pytest.mark.parametrize("axis", [None, 0, 1, [0, 1]], ids=str)
@pytest.mark.parametrize("name,fn,ref,empty,domain", REDUCE, ids=[c[0] for c in REDUCE])
def test_reduce_with_unknown_dims(name, fn, ref, empty, domain, axis, batch, target):
    # the element count of a mean comes from the run-time shape; an unknown rank reduces all
    x = _data(np.random.default_rng(16), (batch, 3), np.float64, *domain)
    known, unknown = tf.placeholder(tf.float64, [None, 3]), tf.placeholder(tf.float64)
    np_axis = None if axis is None else tuple(np.atleast_1d(axis).tolist())
    fetches = [fn(known, axis)] + ([fn(unknown)] if axis is None else [])
    got = run(fetches, {known: x, unknown: x}, target)
    if batch == 0 and name in ("max", "min") and axis != 1:
        expected = np.full(np.sum(x, np_axis).shape, _identity(empty, np.float64))
    else:
        expected = _in_f64(lambda v: ref(v, axis=np_axis), x)
    for actual in got:
        assert_close(actual, expected)
