"""Numeric tests of graphc.nn (graphc.ops.nn_ops): activations, softmax, normalization helpers,
bias_add and moments, against float64 numpy on every target.

Besides accuracy on ordinary inputs, the stable forms are checked where naive formulas
overflow: inputs of magnitude 1e4 must give finite results wherever the exact answer is
finite.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

FLOATS = [np.float32, np.float64]
SHAPES = [(), (5,), (2, 3), (0, 3), (2, 3, 4)]
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))  # 1 / (1 + e^-x) without overflow


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis, keepdims=True)


def _log_softmax(x, axis=-1):
    shifted = x - x.max(axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# (name, graphc op, float64 numpy reference, also float16)
ACTIVATIONS = [
    ("relu", tf.nn.relu, lambda x: np.maximum(x, 0), True),
    ("relu6", tf.nn.relu6, lambda x: np.clip(x, 0, 6), False),
    ("leaky_relu", tf.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), False),
    ("leaky_relu_0.01", lambda x: tf.nn.leaky_relu(x, alpha=0.01),
     lambda x: np.where(x > 0, x, 0.01 * x), False),
    ("elu", tf.nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), False),
    ("selu", tf.nn.selu,
     lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))), False),
    ("softplus", tf.nn.softplus, lambda x: np.logaddexp(0, x), True),
    ("softsign", tf.nn.softsign, lambda x: x / (1 + np.abs(x)), False),
    ("gelu", tf.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), True),
    ("gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), _gelu_tanh, False),
    ("silu", tf.nn.silu, lambda x: x * _sigmoid(x), False),
    ("swish_beta", lambda x: tf.nn.swish(x, beta=1.5), lambda x: x * _sigmoid(1.5 * x), False),
    ("sigmoid", tf.nn.sigmoid, _sigmoid, True),
    ("tanh", tf.nn.tanh, np.tanh, False),
]
ACTIVATION_CASES = [pytest.param(fn, ref, dt, id=f"{name}-{np.dtype(dt).name}")
                    for name, fn, ref, half in ACTIVATIONS
                    for dt in FLOATS + ([np.float16] if half else [])]


def _feed(x):
    p = tf.placeholder(x.dtype, x.shape)
    return p, {p: x}


def _tol(dtype):
    return {"rtol": 2e-3, "atol": 2e-3} if np.dtype(dtype) == np.float16 else {}


def _expected(ref, x, *args):
    with np.errstate(all="ignore"):
        return np.asarray(ref(x.astype(np.float64), *args)).astype(x.dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("fn,ref,dtype", ACTIVATION_CASES)
def test_activation(fn, ref, dtype, shape, target):
    x = np.random.default_rng(0).uniform(-7, 7, shape).astype(dtype)
    p, feed = _feed(x)
    assert_close(run(fn(p), feed, target), _expected(ref, x), dtype, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.int32, np.int64], ids=["int32", "int64"])
@pytest.mark.parametrize("fn,ref,out", [
    (tf.nn.relu, lambda x: np.maximum(x, 0), None),
    (tf.nn.relu6, lambda x: np.clip(x, 0, 6), None),
    (tf.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), np.float32),  # as TF
], ids=["relu", "relu6", "leaky_relu"])
def test_relu_of_integers(fn, ref, out, dtype, target):
    x = np.arange(-8, 9, dtype=dtype).reshape(1, -1)
    p, feed = _feed(x)
    got = run(fn(p), feed, target)
    assert got.dtype == np.dtype(out or dtype)
    assert_close(got, ref(x).astype(out or dtype))


LARGE = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4])
# (name, graphc op on a 1-D input, float64 numpy reference)
STABLE = [(name, fn, ref) for name, fn, ref, _ in ACTIVATIONS] + [
    ("softmax", tf.nn.softmax, _softmax), ("log_softmax", tf.nn.log_softmax, _log_softmax),
    ("sigmoid_math", tf.sigmoid, _sigmoid), ("l2_normalize", tf.nn.l2_normalize,
                                             lambda x: x / np.sqrt(np.sum(x * x)))]


@pytest.mark.parametrize("dtype", FLOATS, ids=["float32", "float64"])
@pytest.mark.parametrize("name,fn,ref", STABLE, ids=[c[0] for c in STABLE])
def test_large_inputs_stay_finite(name, fn, ref, dtype, target):
    x = LARGE.astype(dtype)
    p, feed = _feed(x)
    expected = _expected(ref, x)
    assert np.all(np.isfinite(expected))
    out = run(fn(p), feed, target)
    assert np.all(np.isfinite(out)), f"{name} gave {out} for {x}"
    assert_close(out, expected, dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=["float32", "float64"])
@pytest.mark.parametrize("fn,ref", [(tf.nn.softmax, _softmax), (tf.nn.log_softmax, _log_softmax)],
                         ids=["softmax", "log_softmax"])
def test_softmax_rows_of_huge_logits(fn, ref, dtype, target):
    # every row overflows e^x naively; the max shift makes each one exact
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4 + 2, -1e4 + 2], [5e3, 5e3, 5e3]], dtype)
    p, feed = _feed(x)
    out = run(fn(p), feed, target)
    assert np.all(np.isfinite(out))
    assert_close(out, _expected(ref, x), dtype)


@pytest.mark.parametrize("axis", [None, -1, 0, 1], ids=str)
@pytest.mark.parametrize("shape", [(5,), (2, 3), (0, 3), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [np.float16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn,ref", [(tf.nn.softmax, _softmax), (tf.nn.log_softmax, _log_softmax)],
                         ids=["softmax", "log_softmax"])
def test_softmax(fn, ref, dtype, shape, axis, target):
    if axis is not None and axis >= len(shape):
        pytest.skip("axis beyond the rank")
    x = np.random.default_rng(1).normal(0, 3, shape).astype(dtype)
    p, feed = _feed(x)
    assert_close(run(fn(p, axis), feed, target),
                 _expected(ref, x, -1 if axis is None else axis), dtype, **_tol(dtype))


def _l2_normalize(x, axis, epsilon=1e-12):
    axis = None if axis is None else tuple(np.atleast_1d(axis).tolist())
    return x / np.sqrt(np.maximum(np.sum(x * x, axis, keepdims=True), epsilon))


@pytest.mark.parametrize("axis", [None, 0, -1, [0, 1]], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["float32", "float64"])
def test_l2_normalize(dtype, axis, target):
    x = np.random.default_rng(2).normal(0, 2, (3, 4)).astype(dtype)
    x[1] = 0  # a zero row divides by sqrt(epsilon) instead of 0
    p, feed = _feed(x)
    assert_close(run(tf.nn.l2_normalize(p, axis), feed, target), _expected(_l2_normalize, x, axis))


@pytest.mark.parametrize("shape,data_format", [((2, 3), None), ((2, 4, 4, 3), "NHWC"),
                                               ((2, 3, 4, 4), "NCHW"), ((0, 3), None),
                                               ((2, 3, 5), "NCW")], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [np.int32], ids=lambda d: np.dtype(d).name)
def test_bias_add(shape, data_format, dtype, target):
    rng = np.random.default_rng(3)
    x = rng.integers(-5, 5, shape).astype(dtype)
    channel_axis = 1 if data_format and data_format.startswith("NC") else -1
    b = rng.integers(-5, 5, shape[channel_axis]).astype(dtype)
    p, feed = _feed(x)
    expected = x + b.reshape([-1] + [1] * (x.ndim - 2)) if channel_axis == 1 else x + b
    assert_close(run(tf.nn.bias_add(p, b, data_format), feed, target), expected)


def test_bias_add_rejects_a_mismatched_bias():
    with pytest.raises(ValueError, match="bias of size 4 does not match the 3 channels"):
        tf.nn.bias_add(tf.placeholder(tf.float32, [2, 3]), np.zeros(4, np.float32))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [[0], [-1], [0, 1], [0, 1, 2]], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["float32", "float64"])
def test_moments(dtype, axes, keepdims, target):
    x = np.random.default_rng(4).normal(1, 2, (4, 3, 5)).astype(dtype)
    p, feed = _feed(x)
    mean, variance = run(tf.nn.moments(p, axes, keepdims=keepdims), feed, target)
    ax = tuple(axes)
    assert_close(mean, _expected(lambda v: v.mean(ax, keepdims=keepdims), x))
    assert_close(variance, _expected(lambda v: v.var(ax, keepdims=keepdims), x))


def test_moments_with_unknown_batch(target):
    x = np.random.default_rng(5).normal(0, 1, (6, 3))
    p = tf.placeholder(tf.float64, [None, 3])
    mean, variance = run(tf.nn.moments(p, [0]), {p: x}, target)
    assert_close(mean, x.mean(0))
    assert_close(variance, x.var(0))


FLOAT_ONLY = {"elu": tf.nn.elu, "selu": tf.nn.selu, "softplus": tf.nn.softplus,
              "softsign": tf.nn.softsign, "gelu": tf.nn.gelu, "silu": tf.nn.silu,
              "softmax": tf.nn.softmax, "log_softmax": tf.nn.log_softmax,
              "l2_normalize": tf.nn.l2_normalize, "sigmoid": tf.nn.sigmoid, "tanh": tf.nn.tanh,
              "moments": lambda x: tf.nn.moments(x, [0])}


@pytest.mark.parametrize("name", sorted(FLOAT_ONLY))
def test_float_activations_reject_integers(name):
    x = tf.placeholder(tf.int32, [2, 3], name="ints")
    with pytest.raises(TypeError, match=r"expects a floating-point tensor, got int32 "
                                        r"\('ints:0'\)"):
        FLOAT_ONLY[name](x)
