"""Numerical stability of gradients: the cross-entropies and activations at logits of
magnitude 1e4 give finite, correct gradients (float32 and float64), and the gradients at the
kinks of the piecewise activations follow TF1."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

# --- large logits ---------------------------------------------------------------------------
BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 0.5]])


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
    return np.exp(-np.logaddexp(0, -z))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_cross_entropy_gradients_finite_at_large_logits(dtype):
    z = tf.constant(BIG, dtype)
    labels = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    sparse = np.array([1, 2])
    losses = {
        "softmax": tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=z),
        "sparse": tf.nn.sparse_softmax_cross_entropy_with_logits(labels=sparse, logits=z),
        "sigmoid": tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z),
    }
    expected = {
        "softmax": _softmax(BIG) - labels,
        "sparse": _softmax(BIG) - np.eye(3)[sparse],
        "sigmoid": _sigmoid(BIG) - labels,
    }
    for key, loss in losses.items():
        (g,) = tf.gradients(loss, [z])
        value, grad = run([loss, g])
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), key
        assert_close(grad, expected[key].astype(dtype.np), atol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_activation_gradients_finite_at_large_inputs(dtype):
    x = tf.constant(BIG, dtype)
    w = np.array([1.0, -2.0, 0.5])
    cases = {
        "log_softmax": (tf.nn.log_softmax(x) * w, w - _softmax(BIG) * w.sum()),
        "softmax": (tf.nn.softmax(x) * w,
                    _softmax(BIG) * (w - (_softmax(BIG) * w).sum(-1, keepdims=True))),
        "softplus": (tf.nn.softplus(x + 1.0), _sigmoid(BIG + 1.0)),  # kink-free, see below
        "sigmoid": (tf.sigmoid(x), _sigmoid(BIG) * (1 - _sigmoid(BIG))),
        "elu": (tf.nn.elu(x), np.where(BIG > 0, 1.0, np.exp(np.minimum(BIG, 0)))),
    }
    for key, (y, expected) in cases.items():
        (g,) = tf.gradients(y, [x])
        value, grad = run([y, g])
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), key
        assert_close(grad, expected.astype(dtype.np), atol=1e-6)


def test_softplus_gradient_at_zero():
    x = tf.constant([0.0, 1.0, -1.0], tf.float64)
    (g,) = tf.gradients(tf.nn.softplus(x), [x])
    assert_close(run(g), _sigmoid(np.array([0.0, 1.0, -1.0])))


def test_relu_gradient_at_zero_is_zero():
    x = tf.constant([0.0, 1.0, -1.0])
    (g,) = tf.gradients(tf.nn.relu(x), [x])
    assert_close(run(g), [0.0, 1.0, 0.0], dtype=np.float32)


def test_relu6_gradient_at_the_kinks_is_zero():
    x = tf.constant([0.0, 6.0, 3.0])
    (g,) = tf.gradients(tf.nn.relu6(x), [x])
    assert_close(run(g), [0.0, 0.0, 1.0], dtype=np.float32)


def test_sigmoid_cross_entropy_gradient_at_zero_logit():
    # zero logits are common (zero-initialized heads): d/dx = sigmoid(0) - z = 0.5 - z
    x = tf.constant([0.0, 0.0, 0.0], tf.float64)
    z = np.array([0.0, 1.0, 0.3])
    (g,) = tf.gradients(tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x), [x])
    assert_close(run(g), 0.5 - z)
