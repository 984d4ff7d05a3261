"""Binary counts, precision and recall (of booleans and at thresholds) against scikit-learn
and numpy, streamed over several batches."""

from __future__ import annotations

import numpy as np
import pytest
from metric_streams import split, stream
from sklearn import metrics as skm

import graphc as tf
from graphc import metrics

N = 40
RNG = np.random.RandomState(3)
TRUTH = RNG.rand(N) < 0.4
SCORES = np.clip(0.5 * TRUTH + 0.6 * RNG.rand(N) - 0.05, 0, 1).astype(np.float32)
GUESS = SCORES > 0.5
WEIGHTS = (RNG.rand(N) * (RNG.rand(N) < 0.85)).astype(np.float32)
THRESHOLDS = [0.0, 0.25, 0.5, 0.75, 1.0]


def _batches(weighted, *arrays):
    return split(arrays + ((WEIGHTS,) if weighted else ()))


@pytest.mark.parametrize("weighted", [False, True])
def test_counts(target, weighted):
    cells = [metrics.true_negatives, metrics.false_positives, metrics.false_negatives,
             metrics.true_positives]

    def build(y, p, *w):
        pairs = [cell(y, p, *w) for cell in cells]
        return [v for v, _ in pairs], [u for _, u in pairs]
    got, _ = stream(build, _batches(weighted, TRUTH, GUESS), target)
    want = skm.confusion_matrix(TRUTH, GUESS, sample_weight=WEIGHTS if weighted else None)
    np.testing.assert_allclose(got, want.ravel(), rtol=1e-5)
    assert tf.local_variables()[0].name == "true_negatives/count:0"


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("metric, reference", [(metrics.precision, skm.precision_score),
                                               (metrics.recall, skm.recall_score)])
def test_precision_recall(target, weighted, metric, reference):
    got, updates = stream(lambda *t: metric(*t), _batches(weighted, TRUTH, GUESS), target)
    want = reference(TRUTH, GUESS, sample_weight=WEIGHTS if weighted else None)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(updates[-1], got)
    names = [v.name for v in tf.local_variables()]
    other = "false_positives" if metric is metrics.precision else "false_negatives"
    assert names == [f"{metric.__name__}/true_positives/count:0",
                     f"{metric.__name__}/{other}/count:0"]


def test_precision_of_nothing_predicted_is_zero(target):
    got, _ = stream(lambda y, p: metrics.precision(y, p), [(TRUTH, np.zeros(N, bool))], target)
    assert got == 0.0


def _numpy_counts(truth, scores, weights, thresholds):
    """TF1's counts at thresholds: positive when score > threshold. [4, T]: tp, fn, tn, fp."""
    predicted = scores[None, :] > np.asarray(thresholds, np.float32)[:, None]
    w = np.ones_like(scores) if weights is None else weights
    cells = [(truth, predicted), (truth, ~predicted), (~truth, ~predicted), (~truth, predicted)]
    return np.array([np.sum((a & b) * w, 1) for a, b in cells])


@pytest.mark.parametrize("weighted", [False, True])
def test_counts_at_thresholds(target, weighted):
    fns = [metrics.true_positives_at_thresholds, metrics.false_negatives_at_thresholds,
           metrics.true_negatives_at_thresholds, metrics.false_positives_at_thresholds]

    def build(y, p, *w):
        pairs = [fn(y, p, THRESHOLDS, *w) for fn in fns]
        return [v for v, _ in pairs], [u for _, u in pairs]
    got, _ = stream(build, _batches(weighted, TRUTH, SCORES), target)
    want = _numpy_counts(TRUTH, SCORES, WEIGHTS if weighted else None, THRESHOLDS)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert tf.local_variables()[0].name == "true_positives/true_positives:0"


@pytest.mark.parametrize("weighted", [False, True])
def test_precision_and_recall_at_thresholds(target, weighted):
    def build(y, p, *w):
        prec = metrics.precision_at_thresholds(y, p, THRESHOLDS, *w)
        rec = metrics.recall_at_thresholds(y, p, THRESHOLDS, *w)
        return [prec[0], rec[0]], [prec[1], rec[1]]
    got, _ = stream(build, _batches(weighted, TRUTH, SCORES), target)
    tp, fn, _, fp = _numpy_counts(TRUTH, SCORES, WEIGHTS if weighted else None, THRESHOLDS)
    # TF1's epsilon in the denominator (not a test of an empty one)
    np.testing.assert_allclose(got[0], tp / (1e-7 + tp + fp), rtol=1e-5)
    np.testing.assert_allclose(got[1], tp / (1e-7 + tp + fn), rtol=1e-5)
    # at a threshold inside the scores, these are sklearn's precision and recall
    w = WEIGHTS if weighted else None
    np.testing.assert_allclose(got[0][2], skm.precision_score(TRUTH, SCORES > 0.5,
                                                              sample_weight=w), rtol=1e-5)
    np.testing.assert_allclose(got[1][2], skm.recall_score(TRUTH, SCORES > 0.5,
                                                           sample_weight=w), rtol=1e-5)


def test_scores_outside_the_unit_interval_fail_the_run(target):
    scores = tf.placeholder(tf.float32, [None])
    _, update_op = metrics.precision_at_thresholds(tf.constant([True, False]), scores, [0.5])
    with tf.Session(target=target) as sess:
        sess.run(tf.local_variables_initializer())
        sess.run(update_op, {scores: [0.0, 1.0]})
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"tf.metrics.precision_at_thresholds: predictions must be "
                                 r"in \[0, 1\]"):
            sess.run(update_op, {scores: [0.5, 1.5]})
