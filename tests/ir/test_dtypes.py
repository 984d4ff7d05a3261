"""Element types: as_dtype conversions, the promotion tables and lossless-cast rules."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.ir import dtypes
from graphc.ir.dtypes import as_dtype, can_cast_losslessly, promote, promote_weak

F16, F32, F64 = dtypes.float16, dtypes.float32, dtypes.float64
I32, I64, BOOL = dtypes.int32, dtypes.int64, dtypes.bool_


# --- as_dtype -------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("float16", F16), ("float32", F32), ("float64", F64), ("int32", I32), ("int64", I64),
    ("bool", BOOL), ("half", F16), ("float", F32), ("double", F64),
    (np.float16, F16), (np.float32, F32), (np.float64, F64), (np.int32, I32), (np.int64, I64),
    (np.bool_, BOOL), (np.dtype("float32"), F32), (np.dtype("int64"), I64), ("f4", F32),
    (float, F32), (int, I32), (bool, BOOL),  # Python types take TF1's defaults
    (F64, F64), ("uint8", dtypes.uint8), (np.int8, dtypes.int8), (np.int16, dtypes.int16),
    ("uint16", dtypes.uint16),
])
def test_as_dtype_accepts(value, expected):
    assert as_dtype(value) is expected


@pytest.mark.parametrize("value", ["uint32", np.uint32, np.uint64, "bfloat16",
                                   np.complex64, complex, "string", str, object, "float8", 3])
def test_as_dtype_rejects_unsupported(value):
    with pytest.raises(TypeError, match="unsupported dtype .*graphc supports float16, float32"):
        as_dtype(value)


def test_as_dtype_rejects_none():
    with pytest.raises(TypeError):
        as_dtype(None)


def test_dtypes_are_singletons_with_tf1_attributes():
    assert tf.float32 is dtypes.float32 and tf.bool is dtypes.bool_
    assert repr(F32) == "tf.float32" and str(F32) == "float32"
    assert F32.as_numpy_dtype is np.float32 and F32.base_dtype is F32
    assert (F32.size, F64.size, I32.size, BOOL.size) == (4, 8, 4, 1)
    assert F16.is_floating and I64.is_integer and BOOL.is_bool and not F32.is_integer
    assert I32.min == -2**31 and I32.max == 2**31 - 1
    assert F16.max == np.finfo(np.float16).max
    assert [d.short for d in dtypes.ALL_DTYPES] == ["f16", "f32", "f64", "i8", "u8", "i16",
                                                    "u16", "i32", "i64", "bool"]
    assert tf.uint8.is_unsigned and tf.uint8.is_integer and not tf.int8.is_unsigned
    assert (tf.uint8.min, tf.uint8.max, tf.int16.min, tf.uint16.max) == (0, 255, -2**15, 65535)
    assert tf.uint8 not in dtypes.INT_DTYPES  # not an index dtype (TF1's Tindices)


# --- promotion ------------------------------------------------------------------------------
# numpy's table for two typed operands (rows and columns in this order).
ORDER = (F16, F32, F64, I32, I64, BOOL)
PROMOTE = {
    F16: (F16, F32, F64, F64, F64, F16),
    F32: (F32, F32, F64, F64, F64, F32),
    F64: (F64, F64, F64, F64, F64, F64),
    I32: (F64, F64, F64, I32, I64, I32),
    I64: (F64, F64, F64, I64, I64, I64),
    BOOL: (F16, F32, F64, I32, I64, BOOL),
}


@pytest.mark.parametrize("a", ORDER, ids=str)
def test_promote_table(a):
    for b, expected in zip(ORDER, PROMOTE[a]):
        assert promote(a, b) is expected, (a, b)
        assert promote(b, a) is expected, (b, a)  # symmetric
        assert expected is as_dtype(np.result_type(a.np, b.np))


# A weak scalar of kind b/i/f meeting a typed operand.
PROMOTE_WEAK = {
    F16: (F16, F16, F16),
    F32: (F32, F32, F32),
    F64: (F64, F64, F64),
    I32: (I32, I32, F32),  # int32 tensor * 2.0 -> graphc's default float
    I64: (I64, I64, F32),
    BOOL: (BOOL, I32, F32),
}


@pytest.mark.parametrize("strong", ORDER, ids=str)
def test_promote_weak_table(strong):
    for kind, expected in zip("bif", PROMOTE_WEAK[strong]):
        assert promote_weak(strong, kind) is expected, (strong, kind)


def test_api_uses_weak_scalars():
    x16 = tf.placeholder(tf.float16, [2])
    i32 = tf.placeholder(tf.int32, [2])
    assert (x16 * 2.0).dtype is F16
    assert (i32 + 1).dtype is I32
    assert (i32 * 2.5).dtype is F32
    assert (x16 + np.float64(1.0)).dtype is F16  # numpy scalars are weak too
    assert (x16 + np.ones(2)).dtype is F64  # arrays are typed


# --- lossless casts (the rule for feeds and constants) --------------------------------------
@pytest.mark.parametrize("value, to, expected", [
    (np.array([1.5], np.float32), F32, True),  # same dtype
    (np.array([1, 2], np.int32), I64, True),  # numpy-safe
    (np.array([1, 2], np.int32), F64, True),
    (np.array([True]), I32, True),
    (np.array([True]), F16, True),
    (np.array([7], np.uint8), I32, True),
    (np.array([2**31 - 1, -2**31], np.int64), I32, True),  # narrowing, in range
    (np.array([2**31], np.int64), I32, False),
    (np.array([-2**31 - 1], np.int64), I32, False),
    (np.array([2**63], np.uint64), I64, False),
    (np.array([0.1, -3e38], np.float64), F32, True),  # rounding is fine, overflow is not
    (np.array([1e39], np.float64), F32, False),
    (np.array([70000.0], np.float32), F16, False),
    (np.array([np.inf, -np.inf, np.nan], np.float64), F32, True),  # non-finite stays so
    (np.array([np.inf, 1e300], np.float64), F32, False),
    (np.array([1.0], np.float64), I32, False),  # float -> int never
    (np.array([1.0], np.float32), I64, False),
    (np.array([1], np.int32), BOOL, False),  # -> bool only from bool
    (np.array([1.0]), BOOL, False),
    (np.array([2**40], np.int64), F32, True),  # huge ints round, as numpy and TF accept
    (np.zeros(0, np.int64), I32, True),
    (np.zeros(0, np.float64), F16, True),
    (np.array(["a"]), F32, False),
    (np.array([1 + 2j]), F64, False),
])
def test_can_cast_losslessly(value, to, expected):
    assert can_cast_losslessly(value, to) is expected


def test_int_to_float16_overflow_is_refused():
    assert can_cast_losslessly(np.array([100000], np.int64), F16) is False
