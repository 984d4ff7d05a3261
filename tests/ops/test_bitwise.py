"""tf.bitwise on reference, LLVM and cuda-emulated against numpy: and, or, xor, invert and
shifts of every integer dtype over its whole range, arithmetic right shifts of signed
values, logical ones of unsigned, shift amounts outside [0, bits) (numpy's answer), Python
ints as operands, broadcasting; floats refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf

INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64]
TARGETS = ["reference", "llvm", "cuda-emulated"]
RNG = np.random.default_rng(6)


def full_range(dt, shape):
    info = np.iinfo(dt)
    values = RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    values.flat[:4] = [info.min, info.max, 0, -1 if info.min else 1]
    return values


def np_shift(x, y, left):
    """numpy's shifts, with an amount outside [0, bits) shifting every bit out."""
    bits = 8 * x.dtype.itemsize
    inside = (y >= 0) & (y < bits)
    amount = np.where(inside, y, 0).astype(x.dtype)
    with np.errstate(over="ignore"):
        done = (x << amount) if left else (x >> amount)
    out = 0 if left else np.where(x < 0, -1, 0)
    return np.where(inside, done, out).astype(x.dtype)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dt", INTS, ids=lambda d: d.__name__)
def test_bitwise_ops_match_numpy_over_the_whole_range(target, dt):
    a, b = full_range(dt, (4, 16)), full_range(dt, (16,))
    bits = 8 * np.dtype(dt).itemsize
    low = -3 if np.iinfo(dt).min else 0
    amounts = RNG.integers(low, bits + 3, size=(4, 16)).astype(dt)
    amounts.flat[:3] = [0, bits - 1, bits]
    x = tf.placeholder(tf.as_dtype(dt), [4, 16])
    y = tf.placeholder(tf.as_dtype(dt), [16])
    s = tf.placeholder(tf.as_dtype(dt), [4, 16])
    fetches = [tf.bitwise.bitwise_and(x, y), tf.bitwise.bitwise_or(x, y),
               tf.bitwise.bitwise_xor(x, y), tf.bitwise.invert(x),
               tf.bitwise.left_shift(x, s), tf.bitwise.right_shift(x, s),
               tf.bitwise.bitwise_xor(tf.bitwise.left_shift(x, 3), x) + y]
    got = run(fetches, {x: a, y: b, s: amounts}, target)
    with np.errstate(over="ignore"):
        want = [a & b, a | b, a ^ b, ~a, np_shift(a, amounts, True),
                np_shift(a, amounts, False),
                (np_shift(a, np.full_like(a, 3), True) ^ a) + b]
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, k
        np.testing.assert_array_equal(g, w, err_msg=f"fetch {k}")


def test_python_ints_take_the_tensor_dtype_and_floats_are_refused():
    x = tf.constant(np.array([5, -6], np.int16))
    got = run([tf.bitwise.bitwise_and(x, 3), tf.bitwise.right_shift(x, 1)])
    np.testing.assert_array_equal(got[0], np.array([1, 2], np.int16))
    np.testing.assert_array_equal(got[1], np.array([2, -3], np.int16))
    with pytest.raises(TypeError, match="bitwise_or takes integer tensors, got float32"):
        tf.bitwise.bitwise_or(tf.constant([1.0]), tf.constant([2.0]))
    with pytest.raises(TypeError, match="invert takes integer tensors, got bool"):
        tf.bitwise.invert(tf.constant([True]))


def test_no_gradient_flows_through_bit_operations():
    x = tf.placeholder(tf.float32, [3])
    bits = tf.bitwise.bitwise_and(tf.bitcast(x, tf.int32), -(2 ** 16))
    y = tf.bitcast(bits, tf.float32)  # x with its mantissa's low bits cleared
    assert tf.gradients(tf.reduce_sum(y), x) == [None]
    value = np.float32([1.2345678, -3.3, 1e-3])
    cleared = (value.view(np.int32) & np.int32(-(2 ** 16))).view(np.float32)
    np.testing.assert_array_equal(run(y, {x: value}, "llvm"), cleared)
