"""tf.confusion_matrix, tf.metrics.mean_iou and mean_per_class_accuracy against scikit-learn
and numpy, streamed over several batches."""

from __future__ import annotations

import numpy as np
import pytest
from metric_streams import split, stream
from sklearn import metrics as skm

import graphc as tf
from graphc import metrics
from graphc.errors import ShapeError
from graphc.metrics.confusion import confusion_matrix

C = 4
N = 36
RNG = np.random.RandomState(5)
LABELS = RNG.randint(0, C - 1, N).astype(np.int64)  # class 3 is never a label...
GUESSES = np.where(RNG.rand(N) < 0.5, LABELS, RNG.randint(0, C - 1, N)).astype(np.int32)
GUESSES[0] = 3  # ...but is predicted once
WEIGHTS = (RNG.rand(N) * (RNG.rand(N) < 0.8)).astype(np.float32)


@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix(target, weighted):
    w = WEIGHTS if weighted else None
    y, p = tf.placeholder(tf.int64, [None]), tf.placeholder(tf.int32, [None, 1])
    cm = confusion_matrix(y, p, C, tf.float32, weights=w)  # [N, 1] predictions squeeze
    with tf.Session(target=target) as sess:
        got = sess.run(cm, {y: LABELS, p: GUESSES[:, None]})
    want = skm.confusion_matrix(LABELS, GUESSES, labels=range(C), sample_weight=w)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.dtype == np.float32


def test_confusion_matrix_of_constants_finds_num_classes(target):
    cm = confusion_matrix([0, 2, 1], [0, 2, 2], weights=[1, 1, 2])
    with tf.Session(target=target) as sess:
        np.testing.assert_array_equal(sess.run(cm), [[1, 0, 0], [0, 0, 2], [0, 0, 1]])
    assert cm.dtype is tf.int32
    with pytest.raises(ShapeError, match="num_classes is needed"):
        confusion_matrix(tf.placeholder(tf.int32, [None]), tf.constant([1]))


def test_confusion_matrix_out_of_range_fails_the_run(target):
    labels = tf.placeholder(tf.int64, [None])
    cm = confusion_matrix(labels, tf.constant([0, 1], tf.int64), 2)
    with tf.Session(target=target) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="`labels` out of bound"):
            sess.run(cm, {labels: [0, 2]})
        with pytest.raises(tf.errors.InvalidArgumentError, match="`labels` contains negative"):
            sess.run(cm, {labels: [-1, 0]})


@pytest.mark.parametrize("weighted", [False, True])
def test_mean_iou(target, weighted):
    arrays = (LABELS, GUESSES, WEIGHTS) if weighted else (LABELS, GUESSES)
    got, updates = stream(lambda *t: metrics.mean_iou(t[0], t[1], C, *t[2:]), split(arrays),
                          target)
    w = WEIGHTS if weighted else None
    # jaccard_score's macro average runs over the classes labelled or predicted, as TF1's
    want = skm.jaccard_score(LABELS, GUESSES, average="macro", sample_weight=w)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # update_op returns the running confusion matrix (TF1), of float64
    cm = skm.confusion_matrix(LABELS, GUESSES, labels=range(C), sample_weight=w)
    np.testing.assert_allclose(updates[-1], cm, rtol=1e-6)
    assert [v.name for v in tf.local_variables()] == ["mean_iou/total_confusion_matrix:0"]


def test_mean_iou_of_images(target):
    """[batch, h, w] label maps are flattened; weights broadcast per image first."""
    labels = RNG.randint(0, C, (3, 4, 5))
    guesses = np.where(RNG.rand(3, 4, 5) < 0.6, labels, RNG.randint(0, C, (3, 4, 5)))
    weights = np.array([1.0, 0.0, 2.0], np.float32)[:, None, None]
    got, _ = stream(lambda y, p, w: metrics.mean_iou(y, p, C, w),
                    [(labels, guesses, weights)], target)
    w = np.broadcast_to(weights, labels.shape).ravel()
    want = skm.jaccard_score(labels.ravel(), guesses.ravel(), average="macro", sample_weight=w)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_per_class_accuracy(target, weighted):
    arrays = (LABELS, GUESSES, WEIGHTS) if weighted else (LABELS, GUESSES)
    got, updates = stream(lambda *t: metrics.mean_per_class_accuracy(t[0], t[1], C, *t[2:]),
                          split(arrays), target)
    w = WEIGHTS if weighted else np.ones(N, np.float32)
    per_class = np.array([np.sum(w * (LABELS == c) * (GUESSES == c)) /
                          max(np.sum(w * (LABELS == c)), 1e-30) for c in range(C)])
    np.testing.assert_allclose(updates[-1], per_class, rtol=1e-5)
    np.testing.assert_allclose(got, per_class.mean(), rtol=1e-5)  # over all C classes
    # balanced accuracy averages over the labelled classes only
    balanced = skm.balanced_accuracy_score(LABELS, GUESSES, sample_weight=w)
    np.testing.assert_allclose(got * C / (C - 1), balanced, rtol=1e-5)
    names = [v.name for v in tf.local_variables()]
    assert names == ["mean_accuracy/total:0", "mean_accuracy/count:0"]


@pytest.mark.parametrize("metric", [metrics.mean_iou, metrics.mean_per_class_accuracy])
def test_num_classes_is_required(metric):
    with pytest.raises(ShapeError, match=f"tf.metrics.{metric.__name__} needs num_classes") \
            as e:
        metric(tf.constant([0, 1]), tf.constant([1, 1]))
    assert "test_metric_confusion.py" in str(e.value)
    with pytest.raises(ShapeError, match="must be known when the graph is built"):
        metric(tf.constant([0, 1]), tf.constant([1, 1]), tf.placeholder(tf.int32, []))


def test_mean_iou_shapes_must_match():
    with pytest.raises(ShapeError, match=r"labels of shape \(2, 3\) and predictions of shape "
                                         r"\(6,\)"):
        metrics.mean_iou(tf.zeros([2, 3], tf.int32), tf.zeros([6], tf.int32), 3)
