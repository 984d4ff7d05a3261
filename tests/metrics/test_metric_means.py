"""tf.metrics' streaming means against scikit-learn and numpy, over several batches."""

from __future__ import annotations

import numpy as np
import pytest
from metric_streams import split, stream
from sklearn import metrics as skm

import graphc as tf
from graphc import metrics
from graphc.errors import ShapeError

N = 30
RNG = np.random.RandomState(7)
LABELS = RNG.randint(0, 3, N).astype(np.int64)
GUESSES = np.where(RNG.rand(N) < 0.6, LABELS, RNG.randint(0, 3, N)).astype(np.int64)
WEIGHTS = RNG.rand(N).astype(np.float32) * (RNG.rand(N) < 0.8)  # some zero weights
Y = RNG.randn(N, 2).astype(np.float32)
Y_HAT = (Y + 0.5 * RNG.randn(N, 2)).astype(np.float32)


def test_state_is_local_and_named_by_scope():
    metrics.accuracy(tf.constant([1, 2]), tf.constant([1, 3]))
    metrics.accuracy(tf.constant([1, 2]), tf.constant([1, 3]), name="acc")
    names = [v.name for v in tf.local_variables()]
    assert names == ["accuracy/total:0", "accuracy/count:0", "acc/total:0", "acc/count:0"]
    assert tf.get_collection("metric_variables") == tf.local_variables()
    assert tf.global_variables() == [] and tf.trainable_variables() == []


def test_collections_and_reset(target):
    x = tf.placeholder(tf.float32, [None])
    value, update_op = metrics.mean(x, metrics_collections=["vals"], updates_collections="ups")
    assert tf.get_collection("vals") == [value] and tf.get_collection("ups") == [update_op]
    with tf.Session(target=target) as sess:
        sess.run(tf.local_variables_initializer())
        assert sess.run(value) == 0.0  # nothing counted yet: 0, not nan
        assert sess.run(update_op, {x: [1.0, 2.0]}) == 1.5
        assert sess.run(update_op, {x: [6.0]}) == 3.0
        sess.run(tf.local_variables_initializer())
        assert sess.run(update_op, {x: [4.0]}) == 4.0


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy(target, weighted):
    w = WEIGHTS if weighted else None
    arrays = (LABELS, GUESSES, WEIGHTS) if weighted else (LABELS, GUESSES)
    got, updates = stream(lambda *t: metrics.accuracy(*t), split(arrays), target)
    np.testing.assert_allclose(got, skm.accuracy_score(LABELS, GUESSES, sample_weight=w),
                               rtol=1e-6)
    assert updates[-1] == got


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("metric, reference", [
    (metrics.mean_squared_error, skm.mean_squared_error),
    (metrics.mean_absolute_error, skm.mean_absolute_error),
    (metrics.root_mean_squared_error, lambda *a, **k: np.sqrt(skm.mean_squared_error(*a, **k))),
])
def test_errors(target, weighted, metric, reference):
    # weights per row [N] meet values [N, 2] as TF1: expanded to [N, 1], then broadcast
    arrays = (Y, Y_HAT, WEIGHTS) if weighted else (Y, Y_HAT)
    got, _ = stream(lambda *t: metric(*t), split(arrays), target)
    w = np.repeat(WEIGHTS, 2) if weighted else None
    want = reference(Y.ravel(), Y_HAT.ravel(), sample_weight=w)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_mean_and_mean_tensor(target, weighted):
    arrays = (Y, WEIGHTS[:, None]) if weighted else (Y,)
    w = np.broadcast_to(WEIGHTS[:, None], Y.shape) if weighted else np.ones_like(Y)
    got, _ = stream(lambda *t: metrics.mean(*t), split(arrays), target)
    np.testing.assert_allclose(got, np.sum(Y * w) / np.sum(w), rtol=1e-5)
    tf.reset_default_graph()
    batches = split(arrays, (5, 5, 5, 5, 5))  # mean_tensor's state has the batch's shape
    got, _ = stream(lambda *t: metrics.mean_tensor(*t), batches, target, any_length=False)
    stacked = lambda a: a.reshape(6, 5, *a.shape[1:])  # noqa: E731
    want = np.sum(stacked(Y * w), 0) / np.sum(stacked(w), 0)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_mean_relative_error_percentage_below_cosine(target):
    normalizer = np.where(RNG.rand(N, 2) < 0.2, 0, Y).astype(np.float32)
    arrays = split((Y, Y_HAT, normalizer, WEIGHTS))
    got, _ = stream(lambda y, p, n, w: metrics.mean_relative_error(y, p, n, w), arrays, target)
    safe = np.where(normalizer == 0, 1, normalizer)
    relative = np.where(normalizer == 0, 0, np.abs(Y - Y_HAT) / safe)
    w2 = np.broadcast_to(WEIGHTS[:, None], Y.shape)
    np.testing.assert_allclose(got, np.sum(relative * w2) / np.sum(w2), rtol=1e-5)

    tf.reset_default_graph()
    got, _ = stream(lambda y, p, n, w: metrics.percentage_below(p, 0.25, w), arrays, target)
    np.testing.assert_allclose(got, np.sum((Y_HAT < 0.25) * w2) / np.sum(w2), rtol=1e-5)

    tf.reset_default_graph()
    unit = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    unit_hat = Y_HAT / np.linalg.norm(Y_HAT, axis=1, keepdims=True)
    got, _ = stream(lambda y, p, w: metrics.mean_cosine_distance(y, p, 1, w[:, None]),
                    split((unit, unit_hat, WEIGHTS)), target)
    cosine = np.sum(unit * unit_hat, 1)
    np.testing.assert_allclose(got, 1 - np.sum(cosine * WEIGHTS) / np.sum(WEIGHTS), rtol=1e-5)


def test_labels_and_predictions_of_different_shapes():
    with pytest.raises(ShapeError) as e:
        metrics.accuracy(tf.zeros([3], tf.int32), tf.zeros([4], tf.int32))
    text = str(e.value)
    assert "tf.metrics.accuracy" in text and "(3,)" in text and "(4,)" in text
    assert "test_metric_means.py" in text  # the user's line
    with pytest.raises(ShapeError, match=r"labels of shape \(2, 3\).* of shape \(3, 2\)"):
        metrics.mean_squared_error(tf.zeros([2, 3]), tf.zeros([3, 2]))


def test_trailing_dimension_of_one_is_squeezed(target):
    got, _ = stream(lambda y, p: metrics.accuracy(y, p),
                    [(LABELS[:, None], GUESSES)], target)
    np.testing.assert_allclose(got, skm.accuracy_score(LABELS, GUESSES), rtol=1e-6)


def test_weights_that_do_not_broadcast():
    with pytest.raises(ShapeError, match=r"weights of shape \(3,\).*values of shape \(4,\)"):
        metrics.mean(tf.zeros([4]), tf.ones([3]))
