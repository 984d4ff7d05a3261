"""dtype promotion of binary ops (graphc.ir.dtypes, graphc.ops.math_ops.promote_operands).

Typed operands (tensors, numpy arrays) promote by numpy's table; Python and numpy scalars are
weak: they take the tensor's dtype when their kind (bool < int < float) fits, and otherwise
graphc's default of their kind (float32, int32). A weak int that does not fit is an error.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

F16, F32, F64, I32, I64, B = (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)
VALUES = {F16: [1.5, -2.0], F32: [1.5, -2.25], F64: [0.1, -3.5], I32: [3, -7], I64: [5, -2],
          B: [True, False]}


def _placeholder(dtype):
    x = np.array(VALUES[dtype], dtype)
    p = tf.placeholder(x.dtype, x.shape)
    return p, x


# (left dtype, right operand: a dtype for a tensor or a weak scalar, op, result dtype)
CASES = [
    # weak scalars of a kind the tensor holds keep the tensor's dtype
    (F32, 2.0, operator.mul, F32),
    (F16, 2.0, operator.mul, F16),
    (F64, 2.0, operator.add, F64),
    (I32, 1, operator.add, I32),
    (I64, 1, operator.sub, I64),
    (F32, 3, operator.mul, F32),
    (F32, np.float64(2.0), operator.mul, F32),
    (I32, np.int64(4), operator.add, I32),
    (F32, np.array(2.0), operator.mul, F32),
    (I32, True, operator.add, I32),
    # weak scalars of a higher kind take that kind's default dtype
    (I32, 2.5, operator.mul, F32),
    (I64, 0.5, operator.add, F32),
    (B, 1, operator.add, I32),
    (B, 1.5, operator.mul, F32),
    # typed operands follow numpy's table
    (F32, F64, operator.add, F64),
    (I32, I64, operator.add, I64),
    (I32, F32, operator.add, F64),
    (I64, F16, operator.mul, F64),
    (F16, F32, operator.sub, F32),
    (B, I32, operator.add, I32),
    # true division of integers is float64, as in numpy
    (I32, I32, operator.truediv, F64),
    (I64, I64, operator.truediv, F64),
    (I32, 2, operator.truediv, F64),
    (F32, 2, operator.truediv, F32),
    (I32, I32, operator.floordiv, I32),
]


def _ids(case):
    left, right, op, _ = case
    r = np.dtype(right).name if isinstance(right, type) else f"{type(right).__name__}({right})"
    return f"{np.dtype(left).name}-{op.__name__}-{r}"


@pytest.mark.parametrize("left,right,op,result", CASES, ids=[_ids(c) for c in CASES])
def test_promotion(left, right, op, result, target):
    pa, a = _placeholder(left)
    feed = {pa: a}
    if isinstance(right, type):
        pb, b = _placeholder(right)
        feed[pb] = b
    else:
        pb = b = right
    out = op(pa, pb)
    assert out.dtype == tf.as_dtype(result)
    for flipped in (False, True):
        if flipped and op is operator.truediv:
            break
        t = op(pb, pa) if flipped else out
        assert t.dtype == tf.as_dtype(result)
        value = run(t, feed, target)
        # numpy in float64, rounded once to the result dtype
        a64, b64 = a.astype(np.float64), np.asarray(b, np.float64)
        expected = (op(b64, a64) if flipped else op(a64, b64)).astype(result)
        assert value.dtype == np.dtype(result)
        assert_close(value, expected, result)


FUNCTIONS = [("add", tf.add, np.add), ("subtract", tf.subtract, np.subtract),
             ("multiply", tf.multiply, np.multiply), ("maximum", tf.maximum, np.maximum),
             ("equal", tf.equal, np.equal), ("less", tf.less, np.less),
             ("where", lambda x, y: tf.where(x > 1, x, y), lambda x, y: np.where(x > 1, x, y))]


@pytest.mark.parametrize("fn,ref", [c[1:] for c in FUNCTIONS], ids=[c[0] for c in FUNCTIONS])
def test_int_tensor_with_a_weak_float_computes_in_float32(fn, ref, target):
    # numpy would pick float64 for the weak float; graphc picks its default float, float32
    x = np.array([1, 2, 3], np.int32)
    p = tf.placeholder(tf.int32, [3])
    expected = ref(x.astype(np.float32), np.float32(2.5))
    got = run(fn(p, 2.5), {p: x}, target)
    assert got.dtype == expected.dtype
    assert_close(got, expected)


@pytest.mark.parametrize("value", [2**31, -2**31 - 1, 2**40])
@pytest.mark.parametrize("op", [operator.add, operator.mul, tf.maximum, tf.equal],
                         ids=["add", "mul", "maximum", "equal"])
def test_python_int_overflowing_int32_is_an_error(op, value):
    p = tf.placeholder(tf.int32, [2])
    with pytest.raises(TypeError, match=rf"Python value {value} does not fit in int32"):
        op(p, value)
    with pytest.raises(TypeError, match=rf"Python value {value} does not fit in int32"):
        op(value, p)


def test_python_int_at_the_int32_limits_fits(target):
    p = tf.placeholder(tf.int32, [2])
    got = run([p + (2**31 - 1), -p + -2**31], {p: np.array([0, -1], np.int32)}, target)
    assert got[0].dtype == np.int32
    assert_close(got[0], np.array([2**31 - 1, 2**31 - 2], np.int32))
    assert_close(got[1], np.array([-2**31, -2**31 + 1], np.int32))


def test_python_int_fits_int64(target):
    p = tf.placeholder(tf.int64, [1])
    got = run(p + 2**40, {p: np.array([1], np.int64)}, target)
    assert got.dtype == np.int64
    assert_close(got, np.array([2**40 + 1], np.int64))


def test_scalars_alone_take_default_dtypes(target):
    assert tf.add(1, 2).dtype == tf.int32
    assert tf.add(1, 2.0).dtype == tf.float32
    assert tf.multiply(True, 2).dtype == tf.int32
    assert_close(run(tf.add(1, 2.5), None, target), np.float32(3.5))


def test_typed_numpy_arrays_are_strong(target):
    # an ndarray is typed: float32 tensor + float64 array is float64, as in numpy
    p = tf.placeholder(tf.float32, [3])
    x = np.array([1.5, 2.5, -1.0], np.float32)
    arr = np.array([0.1, 0.2, 0.3], np.float64)
    for out in (p + arr, arr + p, tf.add(p, arr)):
        assert out.dtype == tf.float64
        assert_close(run(out, {p: x}, target), x.astype(np.float64) + arr)
    out = p + np.array([1, 2, 3], np.int64)
    assert out.dtype == tf.float64
