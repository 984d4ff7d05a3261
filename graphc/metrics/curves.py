"""tf.metrics.auc: the area under the ROC or precision-recall curve, from counts at fixed
thresholds (TF1's Riemann sum, an approximation of the exact area that improves with
num_thresholds).

The thresholds are -1e-7, then num_thresholds - 2 evenly spaced in (0, 1), then 1 + 1e-7
(or -1e-7, the sorted `thresholds` given, 1 + 1e-7). At each threshold i the state holds
tp, fn, tn, fp (float32, weighted). With eps = 1e-6 (TF1's, so no ratio divides by zero):

    recall = (tp + eps) / (tp + fn + eps)       fp_rate = fp / (fp + tn + eps)
    precision = (tp + eps) / (tp + fp + eps)
    ROC: x = fp_rate, y = recall                PR: x = recall, y = precision
    area = sum_i (x[i] - x[i+1]) * h_i

with h_i the mean of y[i] and y[i+1] ('trapezoidal'), their minimum ('minoring') or maximum
('majoring'). 'careful_interpolation' is the trapezoid for ROC and, for PR, integrates the
precision exactly when tp and fp vary linearly between thresholds (Davis & Goadrich 2006).
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.metrics.counts import confusion_at_thresholds
from graphc.metrics.state import add_to_collections, div_no_nan, metric_scope
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M

SUMMATION_METHODS = ("trapezoidal", "careful_interpolation", "minoring", "majoring")
_KEPSILON = 1e-7  # the end thresholds sit this far outside [0, 1]
_EPSILON = 1e-6  # added to the ratios' terms


def auc(labels, predictions, weights=None, num_thresholds=200, metrics_collections=None,
        updates_collections=None, curve="ROC", name=None, summation_method="trapezoidal",
        thresholds=None):
    """The approximate area under the ROC (curve='ROC') or precision-recall ('PR') curve of
    scores in [0, 1] (a score outside fails the run) against boolean labels."""
    if curve not in ("ROC", "PR"):
        raise ValueError(f"tf.metrics.auc: curve must be 'ROC' or 'PR', got {curve!r}")
    if summation_method not in SUMMATION_METHODS:
        raise ValueError(f"tf.metrics.auc: summation_method must be one of "
                         f"{SUMMATION_METHODS}, got {summation_method!r}")
    with metric_scope(name, "auc"):
        values, updates = confusion_at_thresholds(
            labels, predictions, _thresholds(num_thresholds, thresholds), weights,
            ("tp", "fn", "tn", "fp"), "auc")
        value = _area(values, curve, summation_method, "value")
        update_op = _area(updates, curve, summation_method, "update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def _thresholds(num_thresholds, thresholds) -> list:
    if thresholds is not None:
        inner = sorted(float(t) for t in thresholds)
    else:
        if not isinstance(num_thresholds, int) or num_thresholds < 2:
            raise ValueError(f"tf.metrics.auc: num_thresholds must be an int >= 2, got "
                             f"{num_thresholds!r}")
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - _KEPSILON] + inner + [1.0 + _KEPSILON]


def _area(counts: dict, curve: str, method: str, name: str):
    tp, fn, tn, fp = counts["tp"], counts["fn"], counts["tn"], counts["fp"]
    if curve == "PR" and method == "careful_interpolation":
        return _interpolated_pr_area(tp, fp, fn, name)
    recall = (tp + _EPSILON) / (tp + fn + _EPSILON)
    if curve == "ROC":
        x, y = fp / (fp + tn + _EPSILON), recall
    else:
        x, y = recall, (tp + _EPSILON) / (tp + fp + _EPSILON)
    if method == "minoring":
        height = M.minimum(y[:-1], y[1:])
    elif method == "majoring":
        height = M.maximum(y[:-1], y[1:])
    else:  # trapezoidal, and careful_interpolation of ROC
        height = (y[:-1] + y[1:]) / 2.0
    return M.reduce_sum((x[:-1] - x[1:]) * height, name=name)


def _interpolated_pr_area(tp, fp, fn, name: str):
    """Between thresholds a and b let P = tp + fp vary linearly and tp follow it with slope
    s = (tp_a - tp_b) / (P_a - P_b), so precision = (intercept + s P) / P with
    intercept = tp_b - s P_b. Its integral over recall (d recall = dtp / positives) is
        s * (dtp + intercept * log(P_a / P_b)) / positives,   positives = tp_b + fn_b,
    with log(...) taken as 0 while P_a or P_b is 0 (constant precision in that bucket)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    slope = div_no_nan(dtp, M.maximum(p[:-1] - p[1:], 0))
    intercept = tp[1:] - slope * p[1:]
    both = M.logical_and(M.greater(p[:-1], 0), M.greater(p[1:], 0))
    ratio = M.where(both, div_no_nan(p[:-1], M.maximum(p[1:], 0)), A.ones_like(p[1:]))
    increments = div_no_nan(slope * (dtp + intercept * M.log(ratio)),
                            M.maximum(tp[1:] + fn[1:], 0))
    return M.reduce_sum(increments, name=name)


# --- one point of the ROC curve ---------------------------------------------------------
def sensitivity_at_specificity(labels, predictions, specificity, weights=None,
                               num_thresholds=200, metrics_collections=None,
                               updates_collections=None, name=None):
    """The recall tp / (tp + fn + 1e-7) at the threshold whose specificity
    tn / (tn + fp + 1e-7) is closest to `specificity` (the first such threshold)."""
    def pick(c):
        gap = M.abs(c["tn"] / (c["tn"] + c["fp"] + _KEPSILON) - specificity)
        i = M.argmin(gap, 0, output_type=dtypes.int32)
        return c["tp"][i] / (c["tp"][i] + c["fn"][i] + _KEPSILON)
    return _operating_point(labels, predictions, specificity, weights, num_thresholds,
                            metrics_collections, updates_collections, name,
                            "sensitivity_at_specificity", 1.0 + _KEPSILON, pick)


def specificity_at_sensitivity(labels, predictions, sensitivity, weights=None,
                               num_thresholds=200, metrics_collections=None,
                               updates_collections=None, name=None):
    """The specificity tn / (tn + fp + 1e-7) at the threshold whose recall
    tp / (tp + fn + 1e-7) is closest to `sensitivity` (the last such threshold; TF1 also
    ends these thresholds at 1 - 1e-7, not 1 + 1e-7)."""
    def pick(c):
        gap = M.abs(c["tp"] / (c["tp"] + c["fn"] + _KEPSILON) - sensitivity)
        last = num_thresholds - 1  # the last minimum: the first of the reversed gaps
        i = last - M.argmin(A.reverse(gap, [0]), 0, output_type=dtypes.int32)
        return c["tn"][i] / (c["tn"][i] + c["fp"][i] + _KEPSILON)
    return _operating_point(labels, predictions, sensitivity, weights, num_thresholds,
                            metrics_collections, updates_collections, name,
                            "specificity_at_sensitivity", 1.0 - _KEPSILON, pick)


def _operating_point(labels, predictions, target, weights, num_thresholds,
                     metrics_collections, updates_collections, name, metric, top, pick):
    """pick(counts) over tp, fn, tn, fp at -1e-7, num_thresholds - 2 even steps and `top`."""
    if not 0 <= target <= 1:
        raise ValueError(f"tf.metrics.{metric}: the target rate must be in [0, 1], got "
                         f"{target!r}")
    if not isinstance(num_thresholds, int) or num_thresholds < 2:
        raise ValueError(f"tf.metrics.{metric}: num_thresholds must be an int >= 2, got "
                         f"{num_thresholds!r}")
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    with metric_scope(name, metric):
        values, updates = confusion_at_thresholds(
            labels, predictions, [0.0 - _KEPSILON] + inner + [top], weights,
            ("tp", "fn", "tn", "fp"), metric)
        value = A.identity(pick(values), name="value")
        update_op = A.identity(pick(updates), name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op
