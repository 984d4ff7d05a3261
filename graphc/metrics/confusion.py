"""Multi-class counts: tf.confusion_matrix, and the streaming metrics over a confusion
matrix or per-class counts (tf.metrics.mean_iou, tf.metrics.mean_per_class_accuracy).

A confusion matrix is a product of one-hot matrices, onehot(labels)^T @ (onehot(predictions)
* weights): entry [i, j] sums the weights of the cases labelled i and predicted j. It is
computed in float64 (exact for integer counts below 2**53) and cast to the requested dtype.
Class ids must lie in [0, num_classes): others fail the run with InvalidArgumentError in TF1's
words ("`labels` out of bound"), since a one-hot row of zeros would drop them silently.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ir.values import node_value
from graphc.metrics.state import (
    add_to_collections,
    broadcast_weights,
    check_same_shape,
    div_no_nan,
    metric_scope,
    metric_variable,
    qualified,
    squeeze_pair,
    static_int,
    where_positive_div,
)
from graphc.ops import array_ops as A
from graphc.ops import check_ops
from graphc.ops import math_ops as M
from graphc.ops.control_flow_ops import control_dependencies, name_scope
from graphc.ops.tensor import convert_to_tensor


def confusion_matrix(labels, predictions, num_classes=None, dtype=dtypes.int32, name=None,
                     weights=None):
    """The [num_classes, num_classes] matrix whose entry [i, j] counts (or sums the weights
    of) the cases labelled i and predicted j. Labels and predictions are 1-D class ids.
    graphc needs num_classes when the graph is built, unless labels and predictions are
    constants (TF1 then takes the largest id + 1)."""
    metric = "tf.confusion_matrix"
    with name_scope(name, "confusion_matrix"):
        labels, predictions = squeeze_pair(M.cast(convert_to_tensor(labels), dtypes.int64),
                                           M.cast(convert_to_tensor(predictions), dtypes.int64))
        for what, t in (("labels", labels), ("predictions", predictions)):
            if t.node.rank not in (None, 1):
                raise ShapeError(f"{metric}: {what} must be a vector of class ids, got shape "
                                 f"{t.shape}")
        check_same_shape(labels, predictions, metric)
        if num_classes is None:
            num_classes = _largest_id(labels, predictions, metric) + 1
        num_classes = static_int(num_classes, "num_classes", metric)
        if weights is not None:  # a scalar, or one weight per case
            weights, _ = squeeze_pair(convert_to_tensor(weights), predictions)
            if weights.node.rank != 0:
                check_same_shape(weights, predictions, metric, ("weights", "predictions"))
        return confusion(labels, predictions, num_classes, weights, dtypes.as_dtype(dtype),
                         metric)


def _largest_id(labels, predictions, metric: str) -> int:
    known = [node_value(t.node) for t in (labels, predictions)]
    if any(k is None for k in known):
        raise ShapeError(f"{metric}: num_classes is needed when labels or predictions are "
                         "computed at run time (the size of the matrix must be known when the "
                         "graph is built)")
    return int(max(k.max(initial=-1) for k in known))


def confusion(labels, predictions, num_classes: int, weights, dtype, metric: str):
    """The confusion matrix of int64 id vectors, entries of `dtype` (TF1 casts the weights
    to `dtype` first, so int counts truncate fractional weights)."""
    labels, predictions = _in_range([("labels", labels), ("predictions", predictions)],
                                    num_classes, metric)
    truth = M.one_hot(labels, num_classes, dtype=dtypes.float64)
    guess = M.one_hot(predictions, num_classes, dtype=dtypes.float64)
    if weights is not None:
        weights = M.cast(M.cast(weights, dtype), dtypes.float64)
        guess = guess * A.expand_dims(weights * A.ones_like(labels, dtype=dtypes.float64), 1)
    return M.cast(M.matmul(truth, guess, transpose_a=True), dtype)


def _in_range(named_ids, num_classes: int, metric: str) -> list:
    """The id tensors of [(name, ids), ...], each failing the run unless all its ids are in
    [0, num_classes) (TF1's assertions, in its words)."""
    checks = []
    for what, ids in named_ids:
        checks += [
            check_ops.assert_non_negative(
                ids, message=f"{qualified(metric)}: `{what}` contains negative values"),
            check_ops.assert_less(
                ids, M.cast(num_classes, ids.dtype),
                message=f"{qualified(metric)}: `{what}` out of bound (num_classes "
                        f"{num_classes})")]
    with control_dependencies(checks):
        return [A.identity(ids) for _, ids in named_ids]


def _flat_ids(labels, predictions, weights, metric: str):
    """int64 vectors of labels and predictions, float32 weights of their length (or None)."""
    labels = M.cast(convert_to_tensor(labels), dtypes.int64)
    predictions = M.cast(convert_to_tensor(predictions), dtypes.int64)
    check_same_shape(labels, predictions, metric)
    if weights is not None:
        weights = A.reshape(broadcast_weights(convert_to_tensor(weights), labels, metric), [-1])
    return A.reshape(labels, [-1]), A.reshape(predictions, [-1]), weights


def mean_iou(labels, predictions, num_classes=None, weights=None, metrics_collections=None,
             updates_collections=None, name=None):
    """The mean over classes of tp / (tp + fp + fn), from a streaming float64 confusion
    matrix (`total_confusion_matrix`); classes never labelled nor predicted are left out of
    the mean. As TF1, update_op returns the updated confusion matrix, not the IoU."""
    with metric_scope(name, "mean_iou"):
        num_classes = static_int(num_classes, "num_classes", "mean_iou")
        labels, predictions, weights = _flat_ids(labels, predictions, weights, "mean_iou")
        total = metric_variable([num_classes, num_classes], dtypes.float64,
                                "total_confusion_matrix")
        update_op = total.assign_add(confusion(labels, predictions, num_classes, weights,
                                               dtypes.float64, "mean_iou"))
        value = _mean_iou(total.value(), num_classes)
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def _mean_iou(matrix, num_classes: int):
    """IoU_c = cm[c, c] / (column c + row c - cm[c, c]), averaged over the classes whose
    denominator is not 0 (0 when there are none). float32, as TF1."""
    predicted = M.cast(M.reduce_sum(matrix, 0), dtypes.float32)
    labelled = M.cast(M.reduce_sum(matrix, 1), dtypes.float32)
    eye = convert_to_tensor(np.eye(num_classes))
    hits = M.cast(M.reduce_sum(matrix * eye, 1), dtypes.float32)
    union = predicted + labelled - hits
    present = M.reduce_sum(M.cast(M.not_equal(union, 0), dtypes.float32))
    iou = hits / M.where(M.greater(union, 0), union, A.ones_like(union))
    return where_positive_div(M.reduce_sum(iou), present, name="mean_iou")


def mean_per_class_accuracy(labels, predictions, num_classes=None, weights=None,
                            metrics_collections=None, updates_collections=None, name=None):
    """The mean over all num_classes classes of (correct weight / weight) of the cases
    labelled with that class (a class never seen counts 0). State: per-class `total` and
    `count` (float32). update_op returns the per-class accuracies, as TF1."""
    metric = "mean_per_class_accuracy"
    with metric_scope(name, "mean_accuracy"):
        num_classes = static_int(num_classes, "num_classes", metric)
        labels, predictions, weights = _flat_ids(labels, predictions, weights, metric)
        (labels,) = _in_range([("labels", labels)], num_classes, metric)
        is_correct = M.cast(M.equal(predictions, labels), dtypes.float32)
        seen = A.ones_like(labels, dtype=dtypes.float32)
        if weights is not None:
            is_correct, seen = is_correct * weights, seen * weights
        onehot = M.one_hot(labels, num_classes, dtype=dtypes.float32)  # [cases, classes]
        total = metric_variable([num_classes], dtypes.float32, "total")
        count = metric_variable([num_classes], dtypes.float32, "count")
        update_total = total.assign_add(M.reduce_sum(onehot * A.expand_dims(seen, 1), 0))
        update_count = count.assign_add(M.reduce_sum(onehot * A.expand_dims(is_correct, 1), 0))
        value = M.reduce_mean(div_no_nan(count, M.maximum(total, 0)), name="mean_accuracy")
        update_op = div_no_nan(update_count, M.maximum(update_total, 0), name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op
