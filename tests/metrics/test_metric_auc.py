"""tf.metrics.auc against a numpy transcription of TF1's thresholded formula (which it must
match to float32 rounding) and against scikit-learn's exact areas (which it approximates).

Tolerances against scikit-learn: with 200 thresholds, scores falling in one bucket of width
1/199 count as tied, so the area moves by at most the weight of the positive-negative pairs
sharing a bucket; for 300 spread-out scores that is well under 2e-3 (ROC). The PR area by
careful interpolation stays within 5e-3 of average precision (a step-wise sum) here.
"""

from __future__ import annotations

import numpy as np
import pytest
from metric_streams import split, stream
from sklearn import metrics as skm

import graphc as tf
from graphc import metrics

N = 300
RNG = np.random.RandomState(11)
TRUTH = RNG.rand(N) < 0.4
SCORES = np.clip(0.3 * TRUTH + 0.7 * RNG.rand(N), 0, 1).astype(np.float32)
SCORES[:3] = [0.0, 1.0, 0.5]  # the end thresholds must catch exact 0 and 1
WEIGHTS = RNG.rand(N).astype(np.float32)
BATCHES = (100, 37, 1)


def tf1_auc(truth, scores, weights, num_thresholds=200, curve="ROC",
            method="trapezoidal"):
    """TF1's auc, transcribed to numpy in float32."""
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = np.array([-1e-7] + inner + [1 + 1e-7], np.float32)
    above = scores[None, :] > thresholds[:, None]
    w = np.ones_like(scores) if weights is None else weights
    tp, fn, tn, fp = (np.sum((a & b) * w, 1, dtype=np.float32) for a, b in
                      [(truth, above), (truth, ~above), (~truth, ~above), (~truth, above)])
    eps = np.float32(1e-6)
    if curve == "PR" and method == "careful_interpolation":
        return _careful_pr(tp, fp, fn)
    recall = (tp + eps) / (tp + fn + eps)
    if curve == "ROC":
        x, y = fp / (fp + tn + eps), recall
    else:
        x, y = recall, (tp + eps) / (tp + fp + eps)
    height = {"trapezoidal": (y[:-1] + y[1:]) / 2, "careful_interpolation": (y[:-1] + y[1:]) / 2,
              "minoring": np.minimum(y[:-1], y[1:]), "majoring": np.maximum(y[:-1], y[1:])}
    return np.sum((x[:-1] - x[1:]) * height[method])


def _careful_pr(tp, fp, fn):
    def div_no_nan(a, b):
        return np.where(b == 0, 0, a / np.where(b == 0, 1, b))
    dtp, p = tp[:-1] - tp[1:], tp + fp
    slope = div_no_nan(dtp, np.maximum(p[:-1] - p[1:], 0))
    intercept = tp[1:] - slope * p[1:]
    ratio = np.where((p[:-1] > 0) & (p[1:] > 0), div_no_nan(p[:-1], np.maximum(p[1:], 0)), 1)
    return np.sum(div_no_nan(slope * (dtp + intercept * np.log(ratio)),
                             np.maximum(tp[1:] + fn[1:], 0)))


def _stream_auc(target, weighted, **kw):
    arrays = (TRUTH, SCORES, WEIGHTS) if weighted else (TRUTH, SCORES)
    return stream(lambda *t: metrics.auc(*t, **kw), split(arrays, BATCHES), target)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("curve, method", [
    ("ROC", "trapezoidal"), ("ROC", "minoring"), ("ROC", "majoring"),
    ("PR", "trapezoidal"), ("PR", "careful_interpolation"),
])
def test_matches_tf1_formula(target, weighted, curve, method):
    got, updates = _stream_auc(target, weighted, curve=curve, summation_method=method)
    want = tf1_auc(TRUTH, SCORES, WEIGHTS if weighted else None, curve=curve, method=method)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    np.testing.assert_allclose(updates[-1], got, rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_approximates_sklearn(target, weighted):
    w = WEIGHTS if weighted else None
    roc, _ = _stream_auc(target, weighted)
    exact = skm.roc_auc_score(TRUTH, SCORES, sample_weight=w)
    assert abs(roc - exact) < 2e-3
    tf.reset_default_graph()
    lower, _ = _stream_auc(target, weighted, summation_method="minoring")
    tf.reset_default_graph()
    upper, _ = _stream_auc(target, weighted, summation_method="majoring")
    assert lower <= exact <= upper
    tf.reset_default_graph()
    pr, _ = _stream_auc(target, weighted, curve="PR", summation_method="careful_interpolation")
    assert abs(pr - skm.average_precision_score(TRUTH, SCORES, sample_weight=w)) < 5e-3


def test_given_thresholds_and_state(target):
    got, _ = stream(lambda y, p: metrics.auc(y, p, num_thresholds=5), [(TRUTH, SCORES)], target)
    np.testing.assert_allclose(got, tf1_auc(TRUTH, SCORES, None, 5), rtol=2e-5)
    names = [v.name for v in tf.local_variables()]
    assert names == ["auc/true_positives:0", "auc/false_negatives:0", "auc/true_negatives:0",
                     "auc/false_positives:0"]
    assert tf.local_variables()[0].shape.as_list() == [5]
    tf.reset_default_graph()
    # thresholds= replaces the even grid (sorted, then framed by -1e-7 and 1 + 1e-7)
    same, _ = stream(lambda y, p: metrics.auc(y, p, thresholds=[0.75, 0.25, 0.5]),
                     [(TRUTH, SCORES)], target)
    np.testing.assert_allclose(same, got, rtol=1e-6)


def test_predictions_outside_the_unit_interval_fail_the_run(target):
    scores = tf.placeholder(tf.float32, [None])
    value, update_op = metrics.auc(tf.constant([True, False, True]), scores)
    with tf.Session(target=target) as sess:
        sess.run(tf.local_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"tf.metrics.auc: predictions must be in \[0, 1\]") as e:
            sess.run(update_op, {scores: [0.2, -0.1, 0.9]})
        assert "test_metric_auc.py" in str(e.value)  # where the metric was built


def test_bad_arguments():
    y, p = tf.constant([True]), tf.constant([0.5])
    with pytest.raises(ValueError, match="curve must be 'ROC' or 'PR', got 'XY'"):
        metrics.auc(y, p, curve="XY")
    with pytest.raises(ValueError, match="summation_method must be one of"):
        metrics.auc(y, p, summation_method="simpson")
    with pytest.raises(ValueError, match="num_thresholds must be an int >= 2, got 1"):
        metrics.auc(y, p, num_thresholds=1)


def _tf1_operating_point(weights, target_rate, sensitivity_first):
    """TF1's sensitivity_at_specificity (first closest threshold) and
    specificity_at_sensitivity (last closest, thresholds ending at 1 - 1e-7), in numpy."""
    inner = [(i + 1) * 1.0 / 199 for i in range(198)]
    top = 1 + 1e-7 if sensitivity_first else 1 - 1e-7
    thresholds = np.array([-1e-7] + inner + [top], np.float32)
    above = SCORES[None, :] > thresholds[:, None]
    w = np.ones_like(SCORES) if weights is None else weights
    tp, fn, tn, fp = (np.sum((a & b) * w, 1, dtype=np.float32) for a, b in
                      [(TRUTH, above), (TRUTH, ~above), (~TRUTH, ~above), (~TRUTH, above)])
    eps = np.float32(1e-7)
    if sensitivity_first:
        i = np.argmin(np.abs(tn / (tn + fp + eps) - target_rate))
        return tp[i] / (tp[i] + fn[i] + eps)
    gap = np.abs(tp / (tp + fn + eps) - target_rate)
    i = np.flatnonzero(gap == gap.min())[-1]
    return tn[i] / (tn[i] + fp[i] + eps)


@pytest.mark.parametrize("weighted", [False, True])
def test_sensitivity_and_specificity_at_a_target(target, weighted):
    arrays = (TRUTH, SCORES, WEIGHTS) if weighted else (TRUTH, SCORES)

    def build(y, p, *w):
        sens = metrics.sensitivity_at_specificity(y, p, 0.8, *w)
        # at sensitivity 0 and 1 many thresholds tie: TF1 takes the last of them
        specs = [metrics.specificity_at_sensitivity(y, p, s, *w) for s in (0.7, 0.0, 1.0)]
        return [sens[0]] + [v for v, _ in specs], [sens[1]] + [u for _, u in specs]
    got, updates = stream(build, split(arrays, BATCHES), target)
    w = WEIGHTS if weighted else None
    want = [_tf1_operating_point(w, 0.8, True)] + [_tf1_operating_point(w, s, False)
                                                   for s in (0.7, 0.0, 1.0)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(updates[-1], got)
    with pytest.raises(ValueError, match="the target rate must be in"):
        metrics.sensitivity_at_specificity(TRUTH, SCORES, 1.5)
