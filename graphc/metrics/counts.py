"""Binary classification counts: true/false positives/negatives (of boolean predictions, or
of scores above each of several thresholds), and the precision and recall made of them.

Labels are cast to bool (nonzero is positive). For the *_at_thresholds metrics the scores
must lie in [0, 1]: a score counts as positive at threshold t when score > t, and a score
outside [0, 1] fails the run with InvalidArgumentError, as TF1's assertion does.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.metrics.state import (
    add_to_collections,
    broadcast_weights,
    metric_scope,
    metric_variable,
    prepare,
    qualified,
    where_positive_div,
)
from graphc.ops import array_ops as A
from graphc.ops import check_ops
from graphc.ops import math_ops as M
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.tensor import convert_to_tensor

# (label, predicted) of each count: positive/negative label, positive/negative prediction
_CELLS = {"tp": (True, True), "fn": (True, False), "tn": (False, False), "fp": (False, True)}
_NAMES = {"tp": "true_positives", "fn": "false_negatives", "tn": "true_negatives",
          "fp": "false_positives"}


# --- counts of boolean predictions ------------------------------------------------------
def _count(cell: str, labels, predictions, weights, metrics_collections, updates_collections,
           name):
    """The summed weight of the cases in `cell` ('tp', ...), in the variable `count`."""
    metric = _NAMES[cell]
    with metric_scope(name, metric):
        labels, predictions, weights = prepare(
            M.cast(convert_to_tensor(labels), dtypes.bool_),
            M.cast(convert_to_tensor(predictions), dtypes.bool_), weights, metric)
        label_is, predicted_is = _CELLS[cell]
        hits = M.cast(M.logical_and(M.equal(labels, label_is),
                                    M.equal(predictions, predicted_is)), dtypes.float32)
        if weights is not None:
            hits = hits * broadcast_weights(weights, hits, metric)
        count = metric_variable([], dtypes.float32, "count")
        value, update_op = count.value(), count.assign_add(M.reduce_sum(hits))
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def true_positives(labels, predictions, weights=None, metrics_collections=None,
                   updates_collections=None, name=None):
    return _count("tp", labels, predictions, weights, metrics_collections,
                  updates_collections, name)


def false_positives(labels, predictions, weights=None, metrics_collections=None,
                    updates_collections=None, name=None):
    return _count("fp", labels, predictions, weights, metrics_collections,
                  updates_collections, name)


def true_negatives(labels, predictions, weights=None, metrics_collections=None,
                   updates_collections=None, name=None):
    return _count("tn", labels, predictions, weights, metrics_collections,
                  updates_collections, name)


def false_negatives(labels, predictions, weights=None, metrics_collections=None,
                    updates_collections=None, name=None):
    return _count("fn", labels, predictions, weights, metrics_collections,
                  updates_collections, name)


def _ratio(labels, predictions, weights, metrics_collections, updates_collections, name,
           metric: str, other: str):
    """tp / (tp + other), 0 while that sum is 0; state: the two counts' variables."""
    with metric_scope(name, metric):
        labels, predictions, weights = prepare(
            M.cast(convert_to_tensor(labels), dtypes.bool_),
            M.cast(convert_to_tensor(predictions), dtypes.bool_), weights, metric)
        tp, update_tp = _count("tp", labels, predictions, weights, None, None, None)
        rest, update_rest = _count(other, labels, predictions, weights, None, None, None)
        value = where_positive_div(tp, tp + rest, name="value")
        update_op = where_positive_div(update_tp, update_tp + update_rest, name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def precision(labels, predictions, weights=None, metrics_collections=None,
              updates_collections=None, name=None):
    """tp / (tp + fp) of boolean predictions (0 while nothing is predicted positive)."""
    return _ratio(labels, predictions, weights, metrics_collections, updates_collections,
                  name, "precision", "fp")


def recall(labels, predictions, weights=None, metrics_collections=None,
           updates_collections=None, name=None):
    """tp / (tp + fn) of boolean predictions (0 while no label is positive)."""
    return _ratio(labels, predictions, weights, metrics_collections, updates_collections,
                  name, "recall", "fn")


# --- counts at thresholds ---------------------------------------------------------------
def confusion_at_thresholds(labels, predictions, thresholds, weights, includes, metric):
    """({cell: variable value}, {cell: update op}) for the cells in `includes`, each a
    float32 vector over `thresholds`: the summed weight of the scores above (positive) or
    at most (negative) each threshold, by label. TF1's _confusion_matrix_at_thresholds;
    the [thresholds, scores] comparison is one broadcast, not TF1's two tiles."""
    thresholds = np.asarray(thresholds, dtype=np.float32)
    if thresholds.ndim != 1:
        raise ValueError(f"{qualified(metric)}: thresholds must be a list of floats, got "
                         f"an array of shape {thresholds.shape}")
    predictions = _in_unit_interval(convert_to_tensor(predictions), metric)
    labels, predictions, weights = prepare(M.cast(convert_to_tensor(labels), dtypes.bool_),
                                           predictions, weights, metric)
    scores = A.reshape(predictions, [1, -1])
    positive = {True: A.reshape(labels, [1, -1])}
    positive[False] = M.logical_not(positive[True])
    predicted = {True: M.greater(scores, convert_to_tensor(thresholds[:, None]))}
    predicted[False] = M.logical_not(predicted[True])
    if weights is not None:
        weights = A.reshape(broadcast_weights(weights, predictions, metric), [1, -1])
    values, updates = {}, {}
    for cell in includes:
        label_is, predicted_is = _CELLS[cell]
        hits = M.cast(M.logical_and(positive[label_is], predicted[predicted_is]),
                      dtypes.float32)
        if weights is not None:
            hits = hits * weights
        var = metric_variable([len(thresholds)], dtypes.float32, _NAMES[cell])
        values[cell], updates[cell] = var.value(), var.assign_add(M.reduce_sum(hits, 1))
    return values, updates


def _in_unit_interval(predictions, metric: str):
    """float32 predictions that fail the run unless all are in [0, 1] (TF1's assertion)."""
    message = f"{qualified(metric)}: predictions must be in [0, 1]"
    checks = [check_ops.assert_greater_equal(predictions, M.cast(0.0, predictions.dtype),
                                             message=message),
              check_ops.assert_less_equal(predictions, M.cast(1.0, predictions.dtype),
                                          message=message)]
    with control_dependencies(checks):
        return A.identity(M.cast(predictions, dtypes.float32))


def _at_thresholds(cell, labels, predictions, thresholds, weights, metrics_collections,
                   updates_collections, name):
    metric = f"{_NAMES[cell]}_at_thresholds"
    with metric_scope(name, _NAMES[cell]):
        values, updates = confusion_at_thresholds(labels, predictions, thresholds, weights,
                                                  (cell,), metric)
    add_to_collections(metrics_collections, values[cell])
    add_to_collections(updates_collections, updates[cell])
    return values[cell], updates[cell]


def true_positives_at_thresholds(labels, predictions, thresholds, weights=None,
                                 metrics_collections=None, updates_collections=None,
                                 name=None):
    return _at_thresholds("tp", labels, predictions, thresholds, weights,
                          metrics_collections, updates_collections, name)


def false_positives_at_thresholds(labels, predictions, thresholds, weights=None,
                                  metrics_collections=None, updates_collections=None,
                                  name=None):
    return _at_thresholds("fp", labels, predictions, thresholds, weights,
                          metrics_collections, updates_collections, name)


def true_negatives_at_thresholds(labels, predictions, thresholds, weights=None,
                                 metrics_collections=None, updates_collections=None,
                                 name=None):
    return _at_thresholds("tn", labels, predictions, thresholds, weights,
                          metrics_collections, updates_collections, name)


def false_negatives_at_thresholds(labels, predictions, thresholds, weights=None,
                                  metrics_collections=None, updates_collections=None,
                                  name=None):
    return _at_thresholds("fn", labels, predictions, thresholds, weights,
                          metrics_collections, updates_collections, name)


def _ratio_at_thresholds(labels, predictions, thresholds, weights, metrics_collections,
                         updates_collections, name, metric, other):
    """tp / (1e-7 + tp + other) per threshold: TF1 adds the epsilon rather than testing for
    an empty denominator, so these values sit slightly below the exact ratio."""
    with metric_scope(name, metric):
        values, updates = confusion_at_thresholds(labels, predictions, thresholds, weights,
                                                  ("tp", other), metric)
        short = metric.partition("_")[0]  # precision / recall
        value = M.truediv(values["tp"], 1e-7 + values["tp"] + values[other],
                          name=f"{short}_value")
        update_op = M.truediv(updates["tp"], 1e-7 + updates["tp"] + updates[other],
                              name=f"{short}_update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def precision_at_thresholds(labels, predictions, thresholds, weights=None,
                            metrics_collections=None, updates_collections=None, name=None):
    return _ratio_at_thresholds(labels, predictions, thresholds, weights, metrics_collections,
                                updates_collections, name, "precision_at_thresholds", "fp")


def recall_at_thresholds(labels, predictions, thresholds, weights=None,
                         metrics_collections=None, updates_collections=None, name=None):
    return _ratio_at_thresholds(labels, predictions, thresholds, weights, metrics_collections,
                                updates_collections, name, "recall_at_thresholds", "fn")
