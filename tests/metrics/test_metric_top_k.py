"""recall@k and precision@k against scikit-learn's top-k accuracy and a numpy transcription
of TF1's set arithmetic (top_k by a stable sort: ties go to the lower class index)."""

from __future__ import annotations

import numpy as np
import pytest
from metric_streams import split, stream
from sklearn import metrics as skm

import graphc as tf
from graphc import metrics
from graphc.errors import ShapeError

C = 6
N = 24
RNG = np.random.RandomState(9)
SCORES = RNG.rand(N, C).astype(np.float32)
TIED = np.round(SCORES * 3) / 3  # many ties
LABEL = RNG.randint(0, C, N).astype(np.int64)
# two labels a row, some repeated, some outside [0, C)
LABELS = np.stack([LABEL, np.where(RNG.rand(N) < 0.2, LABEL, RNG.randint(-1, C + 2, N))], 1)
WEIGHTS = RNG.rand(N).astype(np.float32)


def tf1_counts(labels, indices, class_id=None, weights=None):
    """Summed (tp, fp, fn) of per-row sets, as TF1's set_intersection / set_difference."""
    total = np.zeros(3)
    for i, (row_labels, row_indices) in enumerate(zip(labels.reshape(len(labels), -1),
                                                     indices)):
        truth, guess = set(row_labels.tolist()), set(row_indices.tolist())
        if class_id is not None:
            truth, guess = truth & {class_id}, guess & {class_id}
        w = 1.0 if weights is None else weights[i]
        total += w * np.array([len(guess & truth), len(guess - truth), len(truth - guess)])
    return total


def top_k(scores, k):
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]


def ratio(a, b):
    return a / (a + b) if a + b else np.nan


def test_single_labels_against_sklearn(target):
    for k in (1, 3):
        tf.reset_default_graph()
        got, _ = stream(lambda y, s: metrics.recall_at_k(y, s, k), split((LABEL, SCORES)),
                        target)
        want = skm.top_k_accuracy_score(LABEL, SCORES, k=k, labels=range(C))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        tf.reset_default_graph()
        got, _ = stream(lambda y, s: metrics.precision_at_k(y, s, k), split((LABEL, SCORES)),
                        target)
        np.testing.assert_allclose(got, want / k, rtol=1e-12)  # k guesses, one can be right


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("class_id", [None, 2])
def test_sets_with_ties(target, weighted, class_id):
    w = WEIGHTS if weighted else None
    arrays = (LABELS, TIED, WEIGHTS) if weighted else (LABELS, TIED)

    def build(y, s, *w):
        rec = metrics.recall_at_k(y, s, 2, class_id, *w)
        prec = metrics.precision_at_k(y, s, 2, class_id, *w)
        return [rec[0], prec[0]], [rec[1], prec[1]]
    (recall, precision), _ = stream(build, split(arrays), target)
    tp, fp, fn = tf1_counts(LABELS, top_k(TIED, 2), class_id, w)
    np.testing.assert_allclose([recall, precision], [ratio(tp, fn), ratio(tp, fp)],
                               rtol=1e-6)
    suffix = "_at_2" if class_id is None else "_at_2_class2"
    assert [v.name for v in tf.local_variables()] == [
        f"recall{suffix}/true_positive{suffix}:0", f"recall{suffix}/false_negative{suffix}:0",
        f"precision{suffix}/true_positive{suffix}:0",
        f"precision{suffix}/false_positive{suffix}:0"]


def test_given_top_k_indices(target):
    indices = np.stack([LABEL, (LABEL + 1) % C, LABEL], 1)  # a repeated index counts once
    indices[::3, 0] = 7  # an index no label has

    def build(y, i):
        rec = metrics.recall_at_top_k(y, i, k=3)
        prec = metrics.precision_at_top_k(y, i, k=3)
        return [rec[0], prec[0]], [rec[1], prec[1]]
    (recall, precision), _ = stream(build, split((LABELS, indices)), target)
    tp, fp, fn = tf1_counts(LABELS, indices)
    np.testing.assert_allclose([recall, precision], [ratio(tp, fn), ratio(tp, fp)],
                               rtol=1e-12)


def test_a_class_never_seen_is_nan(target):
    got, _ = stream(lambda y, s: metrics.precision_at_k(y, s, 1, class_id=C + 1),
                    [(LABEL, SCORES)], target)
    assert np.isnan(got)


def test_bad_shapes():
    scores = tf.placeholder(tf.float32, [None, C])
    with pytest.raises(ShapeError, match=f"k=7 exceeds the {C} classes"):
        metrics.recall_at_k(tf.constant(LABEL), scores, 7)
    with pytest.raises(ShapeError, match="predictions need a known last dimension"):
        metrics.recall_at_k(tf.constant(LABEL), tf.placeholder(tf.float32, [None, None]), 1)
    with pytest.raises(ShapeError, match=r"labels of shape \(24, 2, 1\) do not match"):
        metrics.precision_at_k(tf.constant(LABELS[:, :, None]), scores, 1)
