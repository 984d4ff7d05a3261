"""The narrow element types ONNX stores and graphc carries in a wider one: bfloat16, the
float8 formats, float4 (e2m1) and float8e8m0 ride in float32, whose values include all of
theirs; 4- and 2-bit integers ride in int32 (registry.NARROW).

A narrow float value is a float32 that the format can hold. Cast into a format rounds to
the nearest value of the format, ties to even (`round_to`), and every other op whose output
is of a narrow float type rounds its float32 result the same way, so arithmetic in bfloat16
gives what computing in float32 and rounding each result once gives. The rounding is exact
for float16, float32 and float64 inputs (it works on float64's bits through tf.bitcast:
dividing by the format's quantum, a power of two, and rounding to an integer); an int64
beyond 2^53 is rounded to float64 first.

Out-of-range values follow ONNX's Cast tables: with `saturate` (the default; float8 and
float4 only) they become the format's largest finite value (infinities too), without it an
infinity where the format has one (bfloat16, e5m2), else nan (float4, which has neither,
saturates either way). The "fnuz" formats have no negative zero; float4 has no nan, and a
nan becomes -0 there (what onnx's reference gives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, scalar


@dataclass(frozen=True)
class Format:
    name: str  # ml_dtypes' name of the type
    mantissa: int  # stored fraction bits
    emin: int  # exponent of the smallest normal value
    largest: float  # largest finite value
    inf: bool  # has infinities (else an overflow without saturation is nan)
    nan: bool
    negative_zero: bool
    saturable: bool = True  # Cast's saturate applies (float8 and float4; bfloat16 overflows)


# ONNX TensorProto element type -> its format
FLOATS = {
    16: Format("bfloat16", 7, -126, (2 - 2 ** -7) * 2.0 ** 127, True, True, True, False),
    17: Format("float8_e4m3fn", 3, -6, 448.0, False, True, True),
    18: Format("float8_e4m3fnuz", 3, -7, 240.0, False, True, False),
    19: Format("float8_e5m2", 2, -14, 57344.0, True, True, True),
    20: Format("float8_e5m2fnuz", 2, -15, 57344.0, False, True, False),
    23: Format("float4_e2m1fn", 1, 0, 6.0, False, False, True),
}
E8M0 = 24  # float8e8m0: powers of two 2^-127 .. 2^127 and nan, no sign, no zero
E8M0_ROUND_MODES = ("up", "down", "nearest")
NARROW_FLOATS = tuple(FLOATS) + (E8M0,)
CARRIER = dtypes.float32
_MANT, _BIAS = 52, 1023  # float64's


def numpy_type(elem: int):
    """The ml_dtypes scalar type of a narrow float element type."""
    import ml_dtypes
    name = FLOATS[elem].name if elem in FLOATS else "float8_e8m0fnu"
    return np.dtype(getattr(ml_dtypes, name))


def _wide(x):
    """x as float64 and its bits as int64."""
    wide = cast(x, dtypes.float64)
    return wide, A.bitcast(wide, dtypes.int64)


def _power_of_two(k):
    """2.0**k for an int64 tensor k of normal float64 exponents, exactly."""
    return A.bitcast((k + _BIAS) * scalar(2 ** _MANT, dtypes.int64), dtypes.float64)


def round_to(x, elem: int, saturate: bool = True, round_mode: str = "up"):
    """x (any float or int tensor) rounded into the narrow float format `elem`, as float32."""
    if elem == E8M0:
        return _round_e8m0(x, saturate, round_mode)
    f = FLOATS[elem]
    saturate = saturate and f.saturable
    wide, bits = _wide(x)
    magnitude = M.abs(wide)
    exponent = M.floordiv(A.bitcast(magnitude, dtypes.int64), scalar(2 ** _MANT, dtypes.int64))
    exponent = M.maximum(exponent - _BIAS, scalar(f.emin, dtypes.int64))  # subnormals share
    quantum = _power_of_two(exponent - f.mantissa)  # emin's quantum
    r = M.round(magnitude / quantum) * quantum  # exact: a power-of-two scaling, rint
    big = M.greater(r, scalar(f.largest, dtypes.float64))
    # float4 has neither infinity nor nan: it saturates either way
    overflow = np.inf if f.inf and not saturate else \
        np.nan if f.nan and not saturate else f.largest
    r = M.where(big, A.fill(A.shape(r), scalar(overflow, dtypes.float64)), r)
    negative = M.less(bits, 0)  # the sign bit: -0.0 and negative nans too
    if not f.negative_zero:
        negative = M.logical_and(negative, M.not_equal(r, 0.0))
    out = M.where(negative, -r, r)
    if not f.nan:
        out = M.where(M.is_nan(wide), A.fill(A.shape(out), scalar(-0.0, dtypes.float64)), out)
    return cast(out, CARRIER)


def _round_e8m0(x, saturate: bool, round_mode: str):
    """float8e8m0: the power of two 2^k at or above x ("up"), at or below ("down"), or the
    nearer one ("nearest", ties to an even stored exponent), k within [-127, 127]."""
    if round_mode not in E8M0_ROUND_MODES:
        raise ValueError(f"round_mode must be one of {E8M0_ROUND_MODES}, got {round_mode!r}")
    wide, bits = _wide(x)
    i64 = dtypes.int64
    exponent = M.floordiv(bits, scalar(2 ** _MANT, i64)) - _BIAS
    fraction = M.mod(bits, scalar(2 ** _MANT, i64))
    if round_mode == "up":
        k = exponent + cast(M.not_equal(fraction, 0), i64)
    elif round_mode == "down":
        k = exponent
    else:
        half = scalar(2 ** (_MANT - 1), i64)
        odd = M.equal(M.mod(exponent + 127, scalar(2, i64)), 1)
        up = M.logical_or(M.greater(fraction, half),
                          M.logical_and(M.equal(fraction, half), odd))
        k = exponent + cast(up, i64)
    value = _power_of_two(M.minimum(M.maximum(k, scalar(-127, i64)), scalar(127, i64)))
    nan = A.fill(A.shape(value), scalar(np.nan, dtypes.float64))
    if saturate:  # zero and tiny values to 2^-127, infinities and huge ones to 2^127
        is_nan = M.is_nan(wide)
        out = M.where(is_nan, nan, value)
        out = M.where(M.logical_and(M.logical_not(is_nan), M.logical_not(M.greater(wide, 0.0))),
                      A.fill(A.shape(value), scalar(2.0 ** -127, dtypes.float64)), out)
    else:
        finite = M.logical_and(M.is_finite(wide), M.greater(wide, 0.0))
        in_range = M.logical_and(finite, M.logical_and(M.greater_equal(k, -127),
                                                       M.less_equal(k, 127)))
        out = M.where(in_range, value, nan)
    return cast(out, CARRIER)


def narrow_int_from_float(x, bits: int, signed: bool):
    """A float cast to a 4- or 2-bit integer (in its int32 carrier): truncated toward zero,
    and 0 where that is outside the type's range (ONNX leaves it undefined; onnx's reference
    gives 0)."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    t = cast(x, dtypes.int32)
    inside = M.logical_and(M.greater_equal(t, low), M.less_equal(t, high))
    return M.where(inside, t, A.zeros_like(t))
