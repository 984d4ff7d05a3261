"""Options(fast_math=True) on the LLVM target computes float32 tanh with vecmath's rational
tanh_fast (within 6 ulp) instead of the 1.2-ulp tanh; without it, nothing changes."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf


def _run(fast_math: bool, values: np.ndarray, dtype=tf.float32):
    x = tf.placeholder(dtype, [values.size])
    gelu = 0.5 * x * (1.0 + tf.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
    with tf.Session(config=tf.Options(fast_math=fast_math, threads=1)) as sess:
        got = sess.run([tf.tanh(x), gelu], {x: values})
        plan = list(sess._executor._plans.values())[-1]
    return got, plan


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in ulps of float32 at want (want exact in float64)."""
    _, exp2 = np.frexp(want)
    ulp = np.ldexp(1.0, np.maximum(exp2 - 1, -126) - 23)
    return np.abs(got.astype(np.float64) - want) / ulp


@pytest.mark.parametrize("fast_math", [False, True])
def test_float32_tanh_and_gelu(fast_math):
    values = np.concatenate([np.linspace(-12, 12, 200001), np.geomspace(1e-30, 1e-3, 2001),
                             -np.geomspace(1e-30, 1e-3, 2001)]).astype(np.float32)
    (tanh, gelu), plan = _run(fast_math, values)
    want = np.tanh(values.astype(np.float64))
    assert ("graphc.tanh_fast.f32" in plan.ir_text) == fast_math
    assert ("graphc.tanh.f32" in plan.ir_text) != fast_math
    assert _ulps(tanh, want).max() <= (6 if fast_math else 1.5)
    # the gelu is fused either way (with the tanh beside it, one kernel: the two run as
    # one, compiler/siblings.py), and as close as its tanh allows: 1 + tanh(u) cancels
    # for negative x, leaving tanh's absolute error (6 ulp of 1) times x / 2
    assert [k.name for k in plan.kernels] == ["k_tanh_mul"]
    x = values.astype(np.float64)
    want_gelu = 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(gelu, want_gelu, rtol=2e-6, atol=12 * 6 * 2 ** -24)


def test_special_values_under_fast_math():
    values = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 9.0, -9.0, 1e30, 1e-45],
                      np.float32)
    (tanh, _), _ = _run(True, values)
    np.testing.assert_array_equal(tanh[:2], [1.0, -1.0])
    assert np.isnan(tanh[2])
    assert tanh[3] == 0 and not np.signbit(tanh[3]) and tanh[4] == 0 and np.signbit(tanh[4])
    np.testing.assert_array_equal(tanh[5:8], [1.0, -1.0, 1.0])
    assert tanh[8] == np.float32(1e-45)


def test_float64_keeps_the_accurate_tanh():
    values = np.linspace(-10, 10, 20001)
    (tanh, _), plan = _run(True, values, tf.float64)
    assert "graphc.tanh_fast.f32" not in plan.ir_text
    np.testing.assert_allclose(tanh, np.tanh(values), rtol=4e-16, atol=0)
