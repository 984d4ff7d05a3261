"""tf.keras.metrics over confusion counts (TF 1.15 Keras formulas): TruePositives and its
three siblings, Precision, Recall, AUC, MeanIoU, and F1Score / FBetaScore (as newer Keras
defines them).

Thresholded counts follow Keras's update_confusion_matrix_variables: predictions must lie
in [0, 1] (a value outside fails the run), labels are cast to bool, and at each threshold t a
prediction counts as positive when it is > t. With `top_k`, only the k highest predictions of
a row keep their values (the others drop to -1e10, ties going to the lower index as top_k
orders them); with `class_id`, only that column of y_true and y_pred is counted. Counts are
float32 sums of the sample weights, one per threshold.

AUC's area uses no epsilon (TF1's tf.metrics.auc adds 1e-6 to its ratios): recall =
tp / (tp + fn), fp_rate = fp / (fp + tn), precision = tp / (tp + fp), each 0 where its
denominator is 0, summed over the thresholds -1e-7, num_thresholds - 2 even steps in (0, 1)
and 1 + 1e-7 by the trapezoid ('interpolation'; for PR Davis & Goadrich's interpolation, as
Keras), the lower ('minoring') or the upper ('majoring') of each pair of heights.
"""

from __future__ import annotations

import numbers

import numpy as np

from graphc.ir import dtypes
from graphc.keras import backend
from graphc.keras.metrics_base import Metric, match_weights, metric_error, squeeze_pair
from graphc.metrics.confusion import confusion
from graphc.metrics.curves import _interpolated_pr_area
from graphc.metrics.state import broadcast_weights, div_no_nan
from graphc.ops import array_ops as A
from graphc.ops import check_ops
from graphc.ops import math_ops as m
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.tensor import convert_to_tensor

NEG_INF = -1e10  # what top_k filtering gives the predictions outside the top k


def parse_thresholds(thresholds, default: float, metric: str) -> list:
    """A list of floats in [0, 1] (one float, a list, or None for `default`)."""
    if thresholds is None:
        return [float(default)]
    values = [thresholds] if isinstance(thresholds, numbers.Real) else list(thresholds)
    bad = [t for t in values if not isinstance(t, numbers.Real) or not 0 <= t <= 1]
    if bad or not values:
        raise metric_error(metric, f"threshold values must be in [0, 1]; invalid values: "
                                   f"{bad or values}")
    return [float(t) for t in values]


def top_k_mask(x, k: int):
    """bool [..., C]: True at the k highest values of each row (ties to the lower index)."""
    classes = x.shape.dims[-1]
    mine, other = A.expand_dims(x, -1), A.expand_dims(x, -2)  # x_c, x_j
    lower = convert_to_tensor(np.tri(classes, k=-1, dtype=bool))  # [c, j]: j < c
    beaten = m.logical_or(m.greater(other, mine), m.logical_and(m.equal(other, mine), lower))
    return m.less(m.reduce_sum(m.cast(beaten, dtypes.int32), -1), k)


def _checked_predictions(y_pred, metric: str):
    """y_pred, failing the run unless every value is in [0, 1]."""
    checks = [check_ops.assert_greater_equal(y_pred, 0.0, message=f"metric '{metric}': "
                                             "predictions must be >= 0"),
              check_ops.assert_less_equal(y_pred, 1.0, message=f"metric '{metric}': "
                                          "predictions must be <= 1")]
    with control_dependencies(checks):
        return A.identity(y_pred)


def update_confusion_variables(metric: str, variables: dict, y_true, y_pred, thresholds,
                               top_k=None, class_id=None, sample_weight=None):
    """Add the weighted counts at each threshold to `variables` ({'tp': var, ...}, each of
    shape [len(thresholds)]); returns the op."""
    y_pred = _checked_predictions(m.cast(convert_to_tensor(y_pred), dtypes.float32), metric)
    y_true = m.cast(convert_to_tensor(y_true), dtypes.float32)
    y_pred, y_true = squeeze_pair(y_pred, y_true)
    if not y_pred.shape.is_compatible_with(y_true.shape):
        raise metric_error(metric, f"y_true of shape {y_true.shape} and y_pred of shape "
                                   f"{y_pred.shape} are incompatible")
    weights = None
    if sample_weight is not None:
        weights = match_weights(y_pred, m.cast(convert_to_tensor(sample_weight),
                                               dtypes.float32), metric)
    if top_k is not None:
        if y_pred.shape.dims[-1] is None:
            raise metric_error(metric, f"top_k needs a known last dimension, got y_pred of "
                                       f"shape {y_pred.shape}")
        y_pred = m.where(top_k_mask(y_pred, top_k), y_pred,
                         A.fill(A.shape(y_pred), NEG_INF))
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
        if weights is not None and weights.shape.ndims:
            weights = weights[..., 0] if weights.shape.dims[-1] == 1 else \
                weights[..., class_id]
    labels = A.reshape(m.cast(y_true, dtypes.bool_), [1, -1])
    above = m.greater(A.reshape(y_pred, [1, -1]),
                      convert_to_tensor(np.array(thresholds, np.float32).reshape(-1, 1)))
    if weights is not None:
        weights = A.reshape(broadcast_weights(weights, y_pred, metric), [1, -1])
    cells = {"tp": (labels, above), "fn": (labels, m.logical_not(above)),
             "tn": (m.logical_not(labels), m.logical_not(above)),
             "fp": (m.logical_not(labels), above)}
    updates = []
    for kind, variable in variables.items():
        label_is, predicted_is = cells[kind]
        hits = m.cast(m.logical_and(label_is, predicted_is), dtypes.float32)
        if weights is not None:
            hits = hits * weights
        updates.append(variable.assign_add(m.reduce_sum(hits, 1)))
    return group(*updates)


def _first_if_one(values, thresholds):
    return values[0] if len(thresholds) == 1 else values


# --- counts -------------------------------------------------------------------------------------
class _ConditionCount(Metric):
    _cell = None

    def __init__(self, thresholds=None, name=None, dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5, self.name)
        self.accumulator = self.add_weight("accumulator", (len(self.thresholds),),
                                           dtypes.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._check_graph()
        return update_confusion_variables(self.name, {self._cell: self.accumulator}, y_true,
                                          y_pred, self.thresholds, sample_weight=sample_weight)

    def result(self):
        return A.identity(_first_if_one(self._read(self.accumulator), self.thresholds))

    def get_config(self) -> dict:
        return {"thresholds": self.init_thresholds, **super().get_config()}


class TruePositives(_ConditionCount):
    """The weighted count of positive labels predicted positive (> threshold)."""
    _cell = "tp"


class FalsePositives(_ConditionCount):
    _cell = "fp"


class TrueNegatives(_ConditionCount):
    _cell = "tn"


class FalseNegatives(_ConditionCount):
    _cell = "fn"


class _Ratio(Metric):
    """Precision tp / (tp + fp) or Recall tp / (tp + fn) at each threshold."""

    _other = None

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name, dtype, **kwargs)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        if top_k is not None and (not isinstance(top_k, numbers.Integral) or top_k < 1):
            raise metric_error(self.name, f"top_k must be an int >= 1, got {top_k!r}")
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = [default] if thresholds is None else \
            parse_thresholds(thresholds, default, self.name)
        shape = (len(self.thresholds),)
        self.true_positives = self.add_weight("true_positives", shape, dtypes.float32)
        other = "false_positives" if self._other == "fp" else "false_negatives"
        self._other_count = self.add_weight(other, shape, dtypes.float32)
        setattr(self, other, self._other_count)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._check_graph()
        return update_confusion_variables(
            self.name, {"tp": self.true_positives, self._other: self._other_count}, y_true,
            y_pred, self.thresholds, self.top_k, self.class_id, sample_weight)

    def result(self):
        tp = self._read(self.true_positives)
        value = div_no_nan(tp, tp + self._read(self._other_count))
        return _first_if_one(value, self.thresholds)

    def get_config(self) -> dict:
        return {"thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id, **super().get_config()}


class Precision(_Ratio):
    """tp / (tp + fp): how many predicted positives are positive (0 before any)."""
    _other = "fp"


class Recall(_Ratio):
    """tp / (tp + fn): how many positives are predicted positive (0 before any)."""
    _other = "fn"


# --- the area under a curve ------------------------------------------------------------------
class AUC(Metric):
    """The approximate area under the ROC or precision-recall curve (module docstring)."""

    _METHODS = ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, **kwargs):
        super().__init__(name, dtype, **kwargs)
        if str(curve).upper() not in ("ROC", "PR"):
            raise metric_error(self.name, f"curve must be 'ROC' or 'PR', got {curve!r}")
        if str(summation_method).lower() not in self._METHODS:
            raise metric_error(self.name, f"summation_method must be one of "
                                          f"{self._METHODS}, got {summation_method!r}")
        self.curve, self.summation_method = str(curve).upper(), str(summation_method).lower()
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5, self.name))
            self.num_thresholds = len(inner) + 2
        else:
            if not isinstance(num_thresholds, numbers.Integral) or num_thresholds <= 1:
                raise metric_error(self.name, f"num_thresholds must be an int > 1, got "
                                              f"{num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        eps = backend.epsilon()
        self.thresholds = [0.0 - eps] + inner + [1.0 + eps]
        shape = (self.num_thresholds,)
        self.true_positives = self.add_weight("true_positives", shape, dtypes.float32)
        self.true_negatives = self.add_weight("true_negatives", shape, dtypes.float32)
        self.false_positives = self.add_weight("false_positives", shape, dtypes.float32)
        self.false_negatives = self.add_weight("false_negatives", shape, dtypes.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._check_graph()
        counts = {"tp": self.true_positives, "tn": self.true_negatives,
                  "fp": self.false_positives, "fn": self.false_negatives}
        return update_confusion_variables(self.name, counts, y_true, y_pred, self.thresholds,
                                          sample_weight=sample_weight)

    def result(self):
        tp, fn = self._read(self.true_positives), self._read(self.false_negatives)
        fp, tn = self._read(self.false_positives), self._read(self.true_negatives)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolated_pr_area(tp, fp, fn, "interpolate_pr_auc")
        recall = div_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = div_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, div_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = m.minimum(y[:-1], y[1:])
        else:
            heights = m.maximum(y[:-1], y[1:])
        return m.reduce_sum((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        return {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method,
                "thresholds": self.thresholds[1:-1], **super().get_config()}


# --- F-scores (newer Keras) --------------------------------------------------------------------
class FBetaScore(Metric):
    """Per-class F-beta of 2-D one-hot (or multi-label) y_true against scores y_pred, as
    keras.metrics.FBetaScore: y_pred is positive above `threshold`, or, without one, where
    it is its row's largest (and not 0). precision = tp / (tp + fp + eps), recall = tp /
    (tp + fn + eps), F = (1 + b^2) p r / (b^2 p + r + eps), eps = 1e-7. average: None (one
    score per class), 'micro' (counts summed over classes first), 'macro' (the mean) or
    'weighted' (the mean weighted by each class's share of the labels)."""

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)
        if average not in self._AVERAGES:
            raise metric_error(self.name, f"average must be one of {self._AVERAGES}, got "
                                          f"{average!r}")
        if not isinstance(beta, numbers.Real) or beta <= 0:
            raise metric_error(self.name, f"beta must be a number > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or
                                      not 0 < threshold <= 1):
            raise metric_error(self.name, f"threshold must be a Python float in (0, 1], got "
                                          f"{threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self._axis = None if average == "micro" else 0

    def _build(self, y_true, y_pred) -> None:
        if len(self._variables):
            return
        for what, t in (("y_true", y_true), ("y_pred", y_pred)):
            if t.shape.ndims != 2 or t.shape.dims[-1] is None:
                raise metric_error(self.name, f"expects 2-D inputs (batch_size, classes) "
                                              f"with the classes known; {what} has shape "
                                              f"{t.shape}")
        shape = () if self.average == "micro" else (y_pred.shape.dims[-1],)
        self.true_positives = self.add_weight("true_positives", shape)
        self.false_positives = self.add_weight("false_positives", shape)
        self.false_negatives = self.add_weight("false_negatives", shape)
        self.intermediate_weights = self.add_weight("intermediate_weights", shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._check_graph()
        y_true = m.cast(convert_to_tensor(y_true), self._dtype)
        y_pred = m.cast(convert_to_tensor(y_pred), self._dtype)
        self._build(y_true, y_pred)
        if self.threshold is None:
            top = m.reduce_max(y_pred, axis=-1, keepdims=True)
            # the row's largest, but a row of zeros stays all negative
            positive = m.logical_and(m.greater_equal(y_pred, top),
                                     m.greater(m.abs(y_pred), 1e-9))
        else:
            positive = m.greater(y_pred, self.threshold)
        y_pred = m.cast(positive, self._dtype)
        weights = None
        if sample_weight is not None:
            weights = m.cast(convert_to_tensor(sample_weight), self._dtype)
            if weights.shape.ndims == 1:
                weights = A.expand_dims(weights, 1)

        def weighted_sum(values):
            if weights is not None:
                values = values * weights
            return m.reduce_sum(values, axis=self._axis)
        return group(
            self.true_positives.assign_add(weighted_sum(y_pred * y_true)),
            self.false_positives.assign_add(weighted_sum(y_pred * (1 - y_true))),
            self.false_negatives.assign_add(weighted_sum((1 - y_pred) * y_true)),
            self.intermediate_weights.assign_add(weighted_sum(y_true)))

    def result(self):
        if not self._variables:
            raise metric_error(self.name, "result() before the first update_state: the "
                                          "number of classes is not known yet")
        eps = backend.epsilon()
        tp = self._read(self.true_positives)
        precision = tp / (tp + self._read(self.false_positives) + eps)
        recall = tp / (tp + self._read(self.false_negatives) + eps)
        b2 = self.beta ** 2
        score = (1 + b2) * (precision * recall) / (b2 * precision + recall + eps)
        if self.average == "weighted":
            share = self._read(self.intermediate_weights)
            return m.reduce_sum(score * share / (m.reduce_sum(share) + eps))
        if self.average is not None:
            return m.reduce_mean(score)
        return score

    def get_config(self) -> dict:
        return {"average": self.average, "beta": self.beta, "threshold": self.threshold,
                **super().get_config()}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None, **kwargs):
        super().__init__(average, 1.0, threshold, name, dtype, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


# --- intersection over union ---------------------------------------------------------------------
class MeanIoU(Metric):
    """The mean over classes of tp / (tp + fp + fn) from a float64 confusion matrix of class
    ids (y_true and y_pred flattened); classes never labelled nor predicted are left out."""

    def __init__(self, num_classes, name=None, dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
                or num_classes < 1:
            raise metric_error(self.name, f"num_classes must be an int >= 1, got "
                                          f"{num_classes!r}")
        self.num_classes = int(num_classes)
        self.total_cm = self.add_weight("total_confusion_matrix",
                                        (self.num_classes, self.num_classes), dtypes.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._check_graph()

        def ids(t):
            t = m.cast(convert_to_tensor(t), self._dtype)
            return m.cast(A.reshape(t, [-1]), dtypes.int64)
        weights = None if sample_weight is None else convert_to_tensor(sample_weight)
        if weights is not None and weights.shape.ndims:
            weights = A.reshape(weights, [-1])
        return self.total_cm.assign_add(confusion(ids(y_true), ids(y_pred), self.num_classes,
                                                  weights, dtypes.float64, self.name))

    def result(self):
        matrix = self._read(self.total_cm)
        predicted = m.cast(m.reduce_sum(matrix, 0), self._dtype)
        labelled = m.cast(m.reduce_sum(matrix, 1), self._dtype)
        eye = convert_to_tensor(np.eye(self.num_classes))
        hits = m.cast(m.reduce_sum(matrix * eye, 1), self._dtype)
        union = predicted + labelled - hits
        present = m.reduce_sum(m.cast(m.not_equal(union, 0), self._dtype))
        return div_no_nan(m.reduce_sum(div_no_nan(hits, union)), present)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, **super().get_config()}
