"""Tests of tf.losses (graphc/losses.py) and the tf.nn cross-entropies and l2_loss
(graphc/ops/nn_losses.py) against numpy: every loss with scalar, per-example and partly zero
weights under every Reduction, label smoothing, the LOSSES collection, and stability at
|logits| = 1e4 (finite and exact, checked against log-sum-exp forms computed in numpy).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

R = tf.losses.Reduction
_RNG = np.random.default_rng(7)

LABELS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
SOFT_LABELS = np.array([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
PREDS = _RNG.uniform(0.05, 0.95, (4, 3))
LOGITS = _RNG.uniform(-3, 3, (4, 3))
SPARSE = np.array([1, 0, 2, 2])
BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 2.0, -1e4 + 1.0], [3.0, -1e4, 1e4],
                [1e4, 1e4, -1e4]])

# weights for element losses of shape (4, 3) and for per-example losses of shape (4,)
ELEMENT_WEIGHTS = {"scalar": 2.5, "zero_scalar": 0.0, "per_example": np.array([[1.0], [0.0],
                                                                                [2.0], [0.5]]),
                   "full": np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.5, 1.0, 1.0],
                                     [3.0, 0.0, 1.0]]), "all_zero": np.zeros((4, 1))}
EXAMPLE_WEIGHTS = {"scalar": 0.5, "zero_scalar": 0.0, "per_example": np.array([1.0, 0.0, 2.0,
                                                                               3.0]),
                   "all_zero": np.zeros(4)}


# --- numpy oracles --------------------------------------------------------------------------
def np_reduce(losses, weights, reduction):
    """TF1's compute_weighted_loss in numpy (0 where a denominator is 0)."""
    weights = np.asarray(weights, np.float64)
    weighted = losses * weights
    if reduction == R.NONE:
        return weighted
    total = weighted.sum()
    if reduction == R.SUM:
        return total
    if reduction == R.MEAN:
        den = np.sum(weights * np.ones_like(losses))
    elif reduction == R.SUM_OVER_BATCH_SIZE:
        den = losses.size
    else:
        den = np.count_nonzero(np.broadcast_to(weights, losses.shape))
    return total / den if den > 0 else 0.0 * total


def np_log_softmax(z, axis=-1):
    z = np.asarray(z, np.float64)
    shifted = z - z.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def np_sigmoid_xent(labels, logits):
    # -z log s(x) - (1 - z) log(1 - s(x)), with -log s(x) = log(1 + e^-x)
    return labels * np.logaddexp(0, -logits) + (1 - labels) * np.logaddexp(0, logits)


def np_huber(labels, preds, delta):
    err = np.abs(preds - labels)
    return np.where(err <= delta, 0.5 * err ** 2, 0.5 * delta ** 2 + delta * (err - delta))


# --- element-wise losses --------------------------------------------------------------------
ELEMENT_LOSSES = {
    "mean_squared_error": (lambda y, p, **kw: tf.losses.mean_squared_error(y, p, **kw),
                           lambda y, p: (p - y) ** 2, LABELS, PREDS),
    "absolute_difference": (lambda y, p, **kw: tf.losses.absolute_difference(y, p, **kw),
                            lambda y, p: np.abs(p - y), LABELS, PREDS),
    "huber_loss": (lambda y, p, **kw: tf.losses.huber_loss(y, p, delta=0.5, **kw),
                   lambda y, p: np_huber(y, p, 0.5), LABELS, PREDS * 3 - 1),
    "huber_loss_default_delta": (lambda y, p, **kw: tf.losses.huber_loss(y, p, **kw),
                                 lambda y, p: np_huber(y, p, 1.0), LABELS, PREDS * 4 - 2),
    "log_loss": (lambda y, p, **kw: tf.losses.log_loss(y, p, **kw),
                 lambda y, p: -y * np.log(p + 1e-7) - (1 - y) * np.log(1 - p + 1e-7),
                 LABELS, PREDS),
    "log_loss_at_0_and_1": (lambda y, p, **kw: tf.losses.log_loss(y, p, **kw),
                            lambda y, p: -y * np.log(p + 1e-7) - (1 - y) * np.log(1 - p + 1e-7),
                            LABELS, LABELS[::-1]),
    "sigmoid_cross_entropy": (lambda y, x, **kw: tf.losses.sigmoid_cross_entropy(y, x, **kw),
                              np_sigmoid_xent, LABELS, LOGITS),
}


@pytest.mark.parametrize("reduction", R.all())
@pytest.mark.parametrize("weights", list(ELEMENT_WEIGHTS), ids=str)
@pytest.mark.parametrize("name", list(ELEMENT_LOSSES))
def test_element_losses(name, weights, reduction):
    tf_loss, np_loss, labels, preds = ELEMENT_LOSSES[name]
    w = ELEMENT_WEIGHTS[weights]
    got = run(tf_loss(tf.constant(labels, tf.float64), tf.constant(preds, tf.float64),
                      weights=w, reduction=reduction))
    assert_close(got, np_reduce(np_loss(labels, preds), w, reduction), rtol=1e-12)


def test_default_reduction_is_sum_by_nonzero_weights():
    w = ELEMENT_WEIGHTS["full"]
    got = run(tf.losses.mean_squared_error(LABELS, tf.constant(PREDS), weights=w))
    expected = np.sum((PREDS - LABELS) ** 2 * w) / np.count_nonzero(w)
    assert_close(got, expected, rtol=1e-12)
    assert R.SUM_OVER_NONZERO_WEIGHTS == R.SUM_BY_NONZERO_WEIGHTS


def test_float32_losses():
    preds = tf.constant(PREDS.astype(np.float32))
    got = run([tf.losses.mean_squared_error(LABELS, preds),
               tf.losses.log_loss(LABELS, preds, weights=ELEMENT_WEIGHTS["per_example"])])
    assert got[0].dtype == np.float32 and got[1].dtype == np.float32
    p32 = PREDS.astype(np.float32).astype(np.float64)
    assert_close(got[0], np.float32(np.mean((p32 - LABELS) ** 2)))
    log = -LABELS * np.log(p32 + 1e-7) - (1 - LABELS) * np.log(1 - p32 + 1e-7)
    assert_close(got[1], np.float32(np_reduce(log, ELEMENT_WEIGHTS["per_example"],
                                              R.SUM_BY_NONZERO_WEIGHTS)), rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_sigmoid_cross_entropy_label_smoothing(smoothing):
    got = run(tf.losses.sigmoid_cross_entropy(LABELS, tf.constant(LOGITS),
                                              label_smoothing=smoothing, reduction=R.NONE))
    smoothed = LABELS * (1 - smoothing) + 0.5 * smoothing
    assert_close(got, np_sigmoid_xent(smoothed, LOGITS))


# --- per-example (softmax) losses -----------------------------------------------------------
@pytest.mark.parametrize("reduction", R.all())
@pytest.mark.parametrize("weights", list(EXAMPLE_WEIGHTS), ids=str)
def test_softmax_cross_entropy(weights, reduction):
    w = EXAMPLE_WEIGHTS[weights]
    got = run(tf.losses.softmax_cross_entropy(LABELS[:, :3] / LABELS.sum(1, keepdims=True),
                                              tf.constant(LOGITS), weights=w,
                                              reduction=reduction))
    losses = -np.sum(LABELS / LABELS.sum(1, keepdims=True) * np_log_softmax(LOGITS), -1)
    assert_close(got, np_reduce(losses, w, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", R.all())
@pytest.mark.parametrize("weights", list(EXAMPLE_WEIGHTS), ids=str)
def test_sparse_softmax_cross_entropy(weights, reduction):
    w = EXAMPLE_WEIGHTS[weights]
    got = run(tf.losses.sparse_softmax_cross_entropy(SPARSE, tf.constant(LOGITS), weights=w,
                                                     reduction=reduction))
    losses = -np_log_softmax(LOGITS)[np.arange(4), SPARSE]
    assert_close(got, np_reduce(losses, w, reduction), rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_softmax_cross_entropy_label_smoothing(smoothing):
    onehot = np.eye(3)[SPARSE]
    got = run(tf.losses.softmax_cross_entropy(onehot, tf.constant(LOGITS),
                                              label_smoothing=smoothing, reduction=R.NONE))
    smoothed = onehot * (1 - smoothing) + smoothing / 3
    assert_close(got, -np.sum(smoothed * np_log_softmax(LOGITS), -1))


def test_softmax_cross_entropy_int_onehot_labels():
    onehot = tf.constant(np.eye(3, dtype=np.int32)[SPARSE])
    got = run(tf.losses.softmax_cross_entropy(onehot, tf.constant(LOGITS), reduction=R.SUM))
    assert_close(got, -np_log_softmax(LOGITS)[np.arange(4), SPARSE].sum())


# --- tf.nn cross-entropies and l2_loss ------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nn_softmax_cross_entropy_with_logits(dtype):
    got = run(tf.nn.softmax_cross_entropy_with_logits(labels=SOFT_LABELS.astype(dtype),
                                                      logits=tf.constant(LOGITS.astype(dtype))))
    assert got.shape == (4,) and got.dtype == dtype
    expected = -np.sum(SOFT_LABELS * np_log_softmax(LOGITS.astype(dtype)), -1)
    assert_close(got, expected.astype(dtype))


def test_nn_softmax_cross_entropy_axis_and_v2_alias():
    z = tf.constant(LOGITS.T)
    got = run([tf.nn.softmax_cross_entropy_with_logits(labels=SOFT_LABELS.T, logits=z, axis=0),
               tf.nn.softmax_cross_entropy_with_logits_v2(labels=SOFT_LABELS.T, logits=z,
                                                          dim=0)])
    expected = -np.sum(SOFT_LABELS * np_log_softmax(LOGITS), -1)
    assert_close(got[0], expected)
    assert_close(got[1], expected)


def test_nn_softmax_cross_entropy_rank3():
    logits = _RNG.uniform(-2, 2, (2, 2, 3))
    labels = np.eye(3)[[[0, 2], [1, 1]]]
    got = run(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=tf.constant(logits)))
    assert_close(got, -np.sum(labels * np_log_softmax(logits), -1))


@pytest.mark.parametrize("label_dtype", [tf.int32, tf.int64])
def test_nn_sparse_softmax_cross_entropy(label_dtype):
    got = run(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(SPARSE, label_dtype), logits=tf.constant(LOGITS)))
    assert_close(got, -np_log_softmax(LOGITS)[np.arange(4), SPARSE])


def test_nn_sparse_softmax_cross_entropy_rank3():
    logits = _RNG.uniform(-2, 2, (2, 2, 3))
    labels = np.array([[0, 2], [1, 1]])
    got = run(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                             logits=tf.constant(logits)))
    picked = np.take_along_axis(np_log_softmax(logits), labels[..., None], -1)[..., 0]
    assert_close(got, -picked)


def test_nn_sparse_softmax_cross_entropy_errors():
    z = tf.constant(LOGITS)
    with pytest.raises(TypeError, match="int32 or int64"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([1.0, 0, 2, 2]),
                                                       logits=z)
    with pytest.raises(Exception, match="without its last axis"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=np.eye(3, dtype=np.int32)[SPARSE],
                                                       logits=z)


def test_nn_cross_entropy_shape_mismatch():
    z = tf.constant(LOGITS)
    with pytest.raises(Exception, match="must match"):
        tf.nn.softmax_cross_entropy_with_logits(labels=np.ones((4, 2)), logits=z)
    with pytest.raises(Exception, match="must match"):
        tf.nn.sigmoid_cross_entropy_with_logits(labels=np.ones((3, 3)), logits=z)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nn_sigmoid_cross_entropy_with_logits(dtype):
    logits = np.concatenate([LOGITS, [[0.0, 0.0, 0.0]]]).astype(dtype)
    labels = np.concatenate([SOFT_LABELS, [[0.0, 0.5, 1.0]]]).astype(dtype)
    got = run(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.constant(logits)))
    assert got.dtype == dtype
    assert_close(got, np_sigmoid_xent(labels.astype(np.float64), logits.astype(np.float64))
                 .astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l2_loss(dtype):
    t = LOGITS.astype(dtype)
    got = run(tf.nn.l2_loss(tf.constant(t)))
    assert got.shape == () and got.dtype == dtype
    assert_close(got, (np.sum(t.astype(np.float64) ** 2) / 2).astype(dtype))


# --- stability at |logits| = 1e4 ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropies_at_large_logits(dtype):
    z = tf.constant(BIG.astype(dtype))
    onehot = np.eye(3)[SPARSE]
    got = run({
        "softmax": tf.nn.softmax_cross_entropy_with_logits(labels=SOFT_LABELS, logits=z),
        "sparse": tf.nn.sparse_softmax_cross_entropy_with_logits(labels=SPARSE, logits=z),
        "sigmoid": tf.nn.sigmoid_cross_entropy_with_logits(labels=SOFT_LABELS, logits=z),
        "losses_softmax": tf.losses.softmax_cross_entropy(onehot, z, label_smoothing=0.1,
                                                          reduction=R.NONE),
        "losses_sigmoid": tf.losses.sigmoid_cross_entropy(LABELS, z, label_smoothing=0.1,
                                                          reduction=R.NONE),
        "losses_sparse": tf.losses.sparse_softmax_cross_entropy(SPARSE, z, reduction=R.SUM),
    })
    smoothed = onehot * 0.9 + 0.1 / 3
    expected = {
        "softmax": -np.sum(SOFT_LABELS * np_log_softmax(BIG), -1),
        "sparse": -np_log_softmax(BIG)[np.arange(4), SPARSE],
        "sigmoid": np_sigmoid_xent(SOFT_LABELS, BIG),
        "losses_softmax": -np.sum(smoothed * np_log_softmax(BIG), -1),
        "losses_sigmoid": np_sigmoid_xent(LABELS * 0.9 + 0.05, BIG),
        "losses_sparse": -np_log_softmax(BIG)[np.arange(4), SPARSE].sum(),
    }
    for key, value in got.items():
        assert np.all(np.isfinite(value)), key
        assert_close(value, np.asarray(expected[key]).astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_loss_gradients_at_large_logits(dtype):
    z = tf.constant(BIG, dtype)
    onehot = np.eye(3)[SPARSE]
    losses = [tf.losses.softmax_cross_entropy(onehot, z, reduction=R.SUM),
              tf.losses.sparse_softmax_cross_entropy(SPARSE, z, reduction=R.SUM),
              tf.losses.sigmoid_cross_entropy(LABELS, z, reduction=R.SUM)]
    grads = run([tf.gradients(loss, [z])[0] for loss in losses])
    e = np.exp(np_log_softmax(BIG))
    sig = np.exp(-np.logaddexp(0, -BIG))
    for got, expected in zip(grads, [e - onehot, e - onehot, sig - LABELS]):
        assert np.all(np.isfinite(got))
        assert_close(got, expected.astype(dtype.np), atol=1e-6)


def test_log_loss_at_certain_predictions_is_finite():
    got = run(tf.losses.log_loss(LABELS, tf.constant(LABELS), reduction=R.NONE))
    assert np.all(np.isfinite(got)) and np.max(got) < 1e-6


# --- collections and errors -----------------------------------------------------------------
def test_losses_collection_and_total_loss():
    a = tf.losses.mean_squared_error(LABELS, tf.constant(PREDS))
    b = tf.losses.absolute_difference(LABELS, tf.constant(PREDS), reduction=R.SUM)
    tf.losses.huber_loss(LABELS, tf.constant(PREDS), loss_collection=None)
    assert tf.losses.get_losses() == [a, b]
    extra = tf.constant(0.25, tf.float64)
    tf.losses.add_loss(extra)
    tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, tf.constant(1.0, tf.float64))
    total = tf.losses.get_total_loss()
    without = tf.losses.get_total_loss(add_regularization_losses=False)
    va, vb, vt, vw = run([a, b, total, without])
    assert_close(vt, va + vb + 0.25 + 1.0)
    assert_close(vw, va + vb + 0.25)


def test_get_total_loss_without_losses():
    with pytest.raises(ValueError, match="No losses"):
        tf.losses.get_total_loss()


def test_invalid_reduction():
    with pytest.raises(ValueError, match="invalid reduction"):
        tf.losses.mean_squared_error(LABELS, tf.constant(PREDS), reduction="mean")


def test_incompatible_labels_and_predictions():
    with pytest.raises(ValueError, match="incompatible"):
        tf.losses.mean_squared_error(np.ones((4, 2)), tf.constant(PREDS))


def test_compute_weighted_loss_unknown_batch():
    x = tf.placeholder(tf.float64, [None, 3])
    w = tf.placeholder(tf.float64, [None, 1])
    loss = tf.losses.compute_weighted_loss(x, w)
    mean = tf.losses.compute_weighted_loss(x, w, reduction=R.MEAN)
    wv = ELEMENT_WEIGHTS["per_example"]
    got = run([loss, mean], {x: PREDS, w: wv})
    assert_close(got[0], np_reduce(PREDS, wv, R.SUM_BY_NONZERO_WEIGHTS))
    assert_close(got[1], np_reduce(PREDS, wv, R.MEAN))


def test_zero_weights_give_zero_gradient_not_nan():
    p = tf.constant(PREDS)
    for reduction in (R.MEAN, R.SUM_BY_NONZERO_WEIGHTS):
        loss = tf.losses.mean_squared_error(LABELS, p, weights=0.0, reduction=reduction)
        value, grad = run([loss, tf.gradients(loss, [p])[0]])
        assert value == 0.0
        assert_close(grad, np.zeros_like(PREDS))
