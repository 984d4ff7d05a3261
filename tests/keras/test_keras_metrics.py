"""tf.keras.metrics classes: streamed over several batches with sample weights against
scikit-learn (or a numpy transcription of Keras's formula where Keras approximates), used
standalone in a session and through compile/fit/evaluate, their configs and errors.

AUC tolerance against scikit-learn: with 200 thresholds, scores within one bucket of width
1/199 count as tied, so the ROC area moves by at most the weight of the positive-negative
pairs sharing a bucket (well under 2e-3 here). The PR area interpolates precision between
thresholds where average precision sums steps: for these 90 samples they differ by 1.6e-2
(2e-2 allowed). Against the numpy transcription of Keras's formula the match is float32
rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import graphc as tf
from graphc import keras

M = keras.metrics
RNG = np.random.default_rng(7)
N, C = 90, 4
SIZES = (30, 30, 30)  # three batches of one shape: one compiled plan
TRUTH = (RNG.random(N) < 0.4).astype(np.float32)
SCORES = np.clip(0.35 * TRUTH + 0.65 * RNG.random(N), 0, 1).astype(np.float32)
SCORES[:3] = [0.0, 1.0, 0.5]
WEIGHTS = RNG.random(N).astype(np.float32)
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]
PROBS = RNG.random((N, C)).astype(np.float32) + 0.6 * ONE_HOT
PROBS /= PROBS.sum(1, keepdims=True)


def stream(metric, *arrays, sizes=SIZES):
    """metric.update_state on each batch of `arrays` (cut at `sizes`) in one session, then
    the result; the placeholders' batch dimension is None."""
    feeds = [tf.placeholder(tf.as_dtype(a.dtype), [None] + list(a.shape[1:])) for a in arrays]
    update, result = metric.update_state(*feeds), metric.result()
    edges = np.cumsum((0,) + sizes)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        for lo, hi in zip(edges[:-1], edges[1:]):
            sess.run(update, dict(zip(feeds, [a[lo:hi] for a in arrays])))
        return sess.run(result)


def keras_auc(truth, scores, weights, curve="ROC", method="interpolation", n=200):
    """Keras's AUC (TF 1.15 metrics_utils and AUC.result) transcribed to numpy float32."""
    inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
    thresholds = np.array([-1e-7] + inner + [1 + 1e-7], np.float32)
    above = scores[None, :] > thresholds[:, None]
    t = truth > 0
    tp, fn, tn, fp = (np.sum((a & b) * weights, 1, dtype=np.float32) for a, b in
                      [(t, above), (t, ~above), (~t, ~above), (~t, above)])

    def div(a, b):
        return np.where(b == 0, 0, a / np.where(b == 0, 1, b))
    if curve == "PR" and method == "interpolation":
        dtp, p = tp[:-1] - tp[1:], tp + fp
        slope = div(dtp, np.maximum(p[:-1] - p[1:], 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), div(p[:-1], np.maximum(p[1:], 0)), 1)
        return np.sum(div(slope * (dtp + intercept * np.log(ratio)),
                          np.maximum(tp[1:] + fn[1:], 0)))
    x, y = (div(fp, fp + tn), div(tp, tp + fn)) if curve == "ROC" else \
        (div(tp, tp + fn), div(tp, tp + fp))
    h = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
         "majoring": np.maximum(y[:-1], y[1:])}[method]
    return np.sum((x[:-1] - x[1:]) * h)


# --- against scikit-learn -------------------------------------------------------------------
def test_accuracies():
    column, w = TRUTH[:, None], WEIGHTS
    got = stream(M.BinaryAccuracy(), column, SCORES[:, None], w)
    assert got == pytest.approx(skm.accuracy_score(TRUTH, SCORES > 0.5, sample_weight=w))
    tf.reset_default_graph()
    got = stream(M.BinaryAccuracy(threshold=0.7), column, SCORES[:, None], w)
    assert got == pytest.approx(skm.accuracy_score(TRUTH, SCORES > 0.7, sample_weight=w))
    tf.reset_default_graph()
    got = stream(M.CategoricalAccuracy(), ONE_HOT, PROBS, w)
    want = skm.accuracy_score(LABELS, PROBS.argmax(1), sample_weight=w)
    assert got == pytest.approx(want)
    tf.reset_default_graph()
    assert stream(M.SparseCategoricalAccuracy(), LABELS[:, None].astype(np.float32), PROBS,
                  w) == pytest.approx(want)
    tf.reset_default_graph()
    guesses = PROBS.argmax(1).astype(np.int64)
    assert stream(M.Accuracy(), LABELS, guesses, w) == pytest.approx(want)


@pytest.mark.parametrize("k", [1, 2])
def test_top_k_accuracies(k):
    want = skm.top_k_accuracy_score(LABELS, PROBS, k=k, sample_weight=WEIGHTS)
    got = stream(M.TopKCategoricalAccuracy(k=k), ONE_HOT, PROBS, WEIGHTS)
    assert got == pytest.approx(want, rel=1e-6)
    tf.reset_default_graph()
    got = stream(M.SparseTopKCategoricalAccuracy(k=k), LABELS.astype(np.int32), PROBS, WEIGHTS)
    assert got == pytest.approx(want, rel=1e-6)


def test_top_k_counts_ties_at_the_boundary_in():
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.3, 0.3], [0.4, 0.1, 0.2]], np.float32)
    ids = np.array([1, 0, 2], np.int32)
    got = stream(M.SparseTopKCategoricalAccuracy(k=1), ids, scores, sizes=(3,))
    assert got == pytest.approx(1 / 3)  # only the tie in row 0 is in


def test_counts_precision_and_recall_at_thresholds():
    w = WEIGHTS
    for cls, cell in ((M.TruePositives, (1, 1)), (M.FalsePositives, (0, 1)),
                      (M.TrueNegatives, (0, 0)), (M.FalseNegatives, (1, 0))):
        tf.reset_default_graph()
        got = stream(cls(thresholds=[0.3, 0.6]), TRUTH, SCORES, w)
        want = [skm.confusion_matrix(TRUTH, SCORES > t, sample_weight=w)[cell]
                for t in (0.3, 0.6)]
        np.testing.assert_allclose(got, want, rtol=1e-5)
    tf.reset_default_graph()
    got = stream(M.Precision(thresholds=[0.3, 0.6]), TRUTH, SCORES, w)
    np.testing.assert_allclose(got, [skm.precision_score(TRUTH, SCORES > t, sample_weight=w)
                                     for t in (0.3, 0.6)], rtol=1e-5)
    tf.reset_default_graph()
    got = stream(M.Recall(), TRUTH[:, None], SCORES[:, None], w)  # one threshold: a scalar
    assert np.shape(got) == ()
    assert got == pytest.approx(skm.recall_score(TRUTH, SCORES > 0.5, sample_weight=w))


def test_precision_and_recall_of_one_class_and_of_the_top_k():
    multi = (RNG.random((N, C)) < 0.3).astype(np.float32)
    got = stream(M.Precision(class_id=2), multi, PROBS, WEIGHTS)
    want = skm.precision_score(multi[:, 2], PROBS[:, 2] > 0.5, sample_weight=WEIGHTS)
    assert got == pytest.approx(want, rel=1e-5)
    tf.reset_default_graph()
    # top_k=2: the two highest scores of a row are its positives (threshold: above -1e10)
    top = np.argsort(-PROBS, 1)[:, :2]
    predicted = np.zeros_like(multi)
    np.put_along_axis(predicted, top, 1, 1)
    got = stream(M.Recall(top_k=2), multi, PROBS, WEIGHTS)
    tp = np.sum(predicted * multi * WEIGHTS[:, None])
    assert got == pytest.approx(tp / np.sum(multi * WEIGHTS[:, None]), rel=1e-5)
    tf.reset_default_graph()
    got = stream(M.Precision(top_k=2), multi, PROBS, WEIGHTS)
    assert got == pytest.approx(tp / np.sum(predicted * WEIGHTS[:, None]), rel=1e-5)


@pytest.mark.parametrize("curve, method", [("ROC", "interpolation"), ("ROC", "minoring"),
                                           ("ROC", "majoring"), ("PR", "interpolation"),
                                           ("PR", "majoring")])
def test_auc_matches_keras_formula(curve, method):
    got = stream(M.AUC(curve=curve, summation_method=method), TRUTH, SCORES, WEIGHTS)
    want = keras_auc(TRUTH, SCORES, WEIGHTS, curve, method)
    assert got == pytest.approx(want, rel=2e-5)


def test_auc_approximates_sklearn():
    roc = stream(M.AUC(), TRUTH, SCORES, WEIGHTS)
    assert abs(roc - skm.roc_auc_score(TRUTH, SCORES, sample_weight=WEIGHTS)) < 2e-3
    tf.reset_default_graph()
    pr = stream(M.AUC(curve="PR"), TRUTH, SCORES, WEIGHTS)
    assert abs(pr - skm.average_precision_score(TRUTH, SCORES, sample_weight=WEIGHTS)) < 2e-2
    tf.reset_default_graph()
    # given thresholds replace the even grid: 0.5 alone is the one-point ROC curve
    coarse = stream(M.AUC(thresholds=[0.5]), TRUTH, SCORES)
    tpr = skm.recall_score(TRUTH, SCORES > 0.5)
    fpr = np.mean(SCORES[TRUTH == 0] > 0.5)
    assert coarse == pytest.approx(fpr * tpr / 2 + (1 - fpr) * (1 + tpr) / 2, rel=1e-5)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score(average):
    multi = (RNG.random((N, C)) < 0.4).astype(np.float32)
    scores = np.clip(0.4 * multi + 0.7 * RNG.random((N, C)), 0, 1).astype(np.float32)
    got = stream(M.F1Score(average=average, threshold=0.5), multi, scores, WEIGHTS)
    want = skm.f1_score(multi, scores > 0.5, average=average, sample_weight=WEIGHTS)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    tf.reset_default_graph()
    # no threshold: each row's largest score is its one positive
    got = stream(M.F1Score(average=average), ONE_HOT, PROBS, WEIGHTS)
    want = skm.f1_score(LABELS, PROBS.argmax(1), average=average, sample_weight=WEIGHTS,
                        labels=range(C))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_regression_and_cross_entropy_metrics():
    y = RNG.normal(size=(N, 3)).astype(np.float32)
    p = y + RNG.normal(size=(N, 3)).astype(np.float32)
    w = WEIGHTS
    assert stream(M.MeanSquaredError(), y, p, w) == pytest.approx(
        skm.mean_squared_error(y, p, sample_weight=w), rel=1e-5)
    tf.reset_default_graph()
    assert stream(M.MeanAbsoluteError(), y, p, w) == pytest.approx(
        skm.mean_absolute_error(y, p, sample_weight=w), rel=1e-5)
    tf.reset_default_graph()
    assert stream(M.RootMeanSquaredError(), y, p, w) == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, p, sample_weight=w)), rel=1e-5)
    tf.reset_default_graph()
    got = stream(M.BinaryCrossentropy(), TRUTH[:, None], SCORES[:, None], w)
    assert got == pytest.approx(skm.log_loss(TRUTH, np.clip(SCORES, 1e-7, 1 - 1e-7),
                                             sample_weight=w), rel=1e-4)
    tf.reset_default_graph()
    got = stream(M.CategoricalCrossentropy(), ONE_HOT, PROBS, w)
    assert got == pytest.approx(skm.log_loss(LABELS, PROBS, sample_weight=w), rel=1e-5)


def test_mean_iou_against_jaccard():
    predicted = np.where(RNG.random(N) < 0.7, LABELS, RNG.integers(0, C + 1, N))
    got = stream(M.MeanIoU(num_classes=C + 1), LABELS, predicted, WEIGHTS)
    want = skm.jaccard_score(LABELS, predicted, average="macro", sample_weight=WEIGHTS)
    assert got == pytest.approx(want, rel=1e-5)


def test_mean_and_sum_and_weight_shapes():
    values = RNG.normal(size=(N, 2)).astype(np.float32)
    got = stream(M.Mean(), values, WEIGHTS)  # [N] weights broadcast along the last axis
    assert got == pytest.approx(np.sum(values * WEIGHTS[:, None]) / (2 * WEIGHTS.sum()),
                                rel=1e-5)
    tf.reset_default_graph()
    assert stream(M.Sum(), values, WEIGHTS) == pytest.approx(
        np.sum(values * WEIGHTS[:, None]), rel=1e-5)
    tf.reset_default_graph()
    assert stream(M.Mean(), values) == pytest.approx(values.mean(), rel=1e-5)


# --- standalone use -----------------------------------------------------------------------------
def test_state_variables_call_and_reset():
    auc = M.AUC(num_thresholds=5)
    assert [v.name for v in auc.variables] == [
        "auc/true_positives:0", "auc/true_negatives:0", "auc/false_positives:0",
        "auc/false_negatives:0"]
    assert all(v in tf.local_variables() for v in auc.variables)
    mean = M.Mean(name="loss_mean")
    x = tf.placeholder(tf.float32, [None])
    running = mean(x)  # the result after this run's update
    with tf.Session() as sess:
        sess.run(tf.variables_initializer(mean.variables))
        assert sess.run(running, {x: [1.0, 2.0]}) == pytest.approx(1.5)
        assert sess.run(running, {x: [6.0]}) == pytest.approx(3.0)
        mean.reset_states()  # through Keras's session: the default one here
        assert sess.run(mean.result()) == 0.0
        assert sess.run(running, {x: [4.0]}) == pytest.approx(4.0)


def test_configs_round_trip():
    for metric in (M.AUC(num_thresholds=7, curve="PR", name="pr"), M.Precision(top_k=2),
                   M.BinaryAccuracy(threshold=0.3), M.F1Score(average="macro", threshold=0.4),
                   M.MeanIoU(3), M.TruePositives(thresholds=[0.2, 0.8]),
                   M.TopKCategoricalAccuracy(k=3)):
        again = M.deserialize(M.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert M.AUC(thresholds=[0.2, 0.6]).get_config()["thresholds"] == [0.2, 0.6]
    assert M.get("AUC").name.startswith("auc") and M.get("mse") is M.mean_squared_error


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="metric 'auc.*': curve must be 'ROC' or 'PR', got 'XY'"):
        M.AUC(curve="XY")
    with pytest.raises(ValueError, match="summation_method must be one of"):
        M.AUC(summation_method="simpson")
    with pytest.raises(ValueError, match="num_thresholds must be an int > 1, got 1"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"threshold values must be in \[0, 1\]; invalid "
                                         r"values: \[1.5\]"):
        M.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="average must be one of"):
        M.F1Score(average="samples")
    with pytest.raises(ValueError, match="num_classes must be an int >= 1, got 0"):
        M.MeanIoU(0)
    with pytest.raises(ValueError, match=r"f1_score.*expects 2-D inputs .* y_true has shape"):
        M.F1Score().update_state(tf.constant([1.0, 0.0]), tf.constant([0.4, 0.6]))
    with pytest.raises(ValueError, match="incompatible"):
        M.Recall().update_state(tf.zeros([4, 3]), tf.zeros([4, 2]))
    scores = tf.placeholder(tf.float32, [None])
    update = M.AUC().update_state(tf.constant([1.0, 0.0, 1.0]), scores)
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError, match="predictions must be <= 1"):
            sess.run(update, {scores: [0.2, 1.5, 0.9]})


# --- in compile / fit / evaluate ------------------------------------------------------------------
def _classifier(lr=0.1):
    tf.set_random_seed(1)
    model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(keras.optimizers.SGD(lr), "binary_crossentropy",
                  metrics=[M.AUC(), "accuracy", M.TruePositives(), M.Precision(
                      thresholds=[0.3, 0.7])])
    return model


def test_fit_and_evaluate_report_the_metrics():
    x = RNG.normal(size=(64, 3)).astype(np.float32)
    y = (x.sum(1, keepdims=True) + RNG.normal(size=(64, 1)) > 0).astype(np.float32)
    model = _classifier()
    assert model.metrics_names == ["loss", "auc", "acc", "true_positives", "precision"]
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0)
    assert sorted(history.history) == sorted(model.metrics_names +
                                             ["val_" + n for n in model.metrics_names])
    assert history.history["precision"][0].shape == (2,)
    loss, auc, acc, tp, precision = model.evaluate(x, y, batch_size=20, verbose=0)
    p = model.predict(x)[:, 0]
    assert auc == pytest.approx(keras_auc(y[:, 0], p, np.ones(64, np.float32)), rel=1e-5)
    assert auc == pytest.approx(history.history["val_auc"][-1], rel=1e-6)
    assert acc == pytest.approx(skm.accuracy_score(y, p > 0.5))
    assert tp == np.sum((p > 0.5) & (y[:, 0] > 0))
    np.testing.assert_allclose(precision, [skm.precision_score(y, p > t, zero_division=0)
                                          for t in (0.3, 0.7)],
                               rtol=1e-5)


def test_metrics_restart_each_epoch_and_on_batch():
    x = RNG.normal(size=(32, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = _classifier(lr=0.0)  # nothing changes: every epoch counts the same
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    tps = history.history["true_positives"]
    assert tps[0] == tps[1] > 0
    one = model.train_on_batch(x, y)[3]
    assert model.train_on_batch(x, y, reset_metrics=False)[3] == 2 * one
    assert model.test_on_batch(x, y)[3] == one
    model.reset_metrics()
    assert all(not np.any(v) for v in keras.backend.batch_get_value(model.metrics[0].variables))


def test_unknown_metric_names_are_refused():
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse", metrics=["no_such_metric"])
    with pytest.raises(ValueError, match="Unknown metric function: 'no_such_metric'"):
        model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
