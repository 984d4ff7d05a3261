"""recall@k and precision@k against dense class-id labels: tf.metrics.recall_at_k,
precision_at_k (of scores) and recall_at_top_k, precision_at_top_k (of top-k indices).

graphc has no top_k primitive, so the top k are found by ranking: score c ranks
    rank_c = #{j : s_j > s_c} + #{j < c : s_j == s_c}
(ties go to the lower index, TF's top_k order), one pairwise comparison of the C scores
of each row: O(rows * C^2) time and memory. Exact, and cheap for tens or hundreds of
classes; for 10^4 classes it is 10^8 comparisons per row.

Each row's labels and predicted indices are sets, as TF1's set operations make them (a
repeated id counts once; every value counts, so an out-of-range label is a false negative
for recall and never a true positive):
    tp = |P & L|    fp = |P - L|    fn = |L - P|
With class_id, both sets are first cut down to {class_id}. The state is two float64
counts; the value is tp / (tp + fp) or tp / (tp + fn), nan while the sum is 0 (as TF1).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.metrics.state import (
    add_to_collections,
    broadcast_weights,
    metric_variable,
    qualified,
    static_int,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.control_flow_ops import name_scope
from graphc.ops.tensor import convert_to_tensor


def recall_at_k(labels, predictions, k, class_id=None, weights=None, metrics_collections=None,
                updates_collections=None, name=None):
    """How often a label of a row is among the row's k highest scores."""
    k = static_int(k, "k", "recall_at_k")
    with name_scope(name, _at_k_name("recall", k, class_id)):
        indices = top_k_indices(predictions, k, "recall_at_k")
        return _streaming("recall", labels, indices, k, class_id, weights,
                          metrics_collections, updates_collections)


def precision_at_k(labels, predictions, k, class_id=None, weights=None,
                   metrics_collections=None, updates_collections=None, name=None):
    """How often one of a row's k highest scores is one of its labels."""
    k = static_int(k, "k", "precision_at_k")
    with name_scope(name, _at_k_name("precision", k, class_id)):
        indices = top_k_indices(predictions, k, "precision_at_k")
        return _streaming("precision", labels, indices, k, class_id, weights,
                          metrics_collections, updates_collections)


def recall_at_top_k(labels, predictions_idx, k=None, class_id=None, weights=None,
                    metrics_collections=None, updates_collections=None, name=None):
    """recall_at_k of given top-k class indices ([..., k] ids); k only names the scope."""
    with name_scope(name, _at_k_name("recall", k, class_id)):
        return _streaming("recall", labels, predictions_idx, k, class_id, weights,
                          metrics_collections, updates_collections)


def precision_at_top_k(labels, predictions_idx, k=None, class_id=None, weights=None,
                       metrics_collections=None, updates_collections=None, name=None):
    """precision_at_k of given top-k class indices ([..., k] ids)."""
    with name_scope(name, _at_k_name("precision", k, class_id)):
        return _streaming("precision", labels, predictions_idx, k, class_id, weights,
                          metrics_collections, updates_collections)


def _at_k_name(name: str, k=None, class_id=None) -> str:
    name = f"{name}_at_{k}" if k is not None else f"{name}_at_k"
    return name if class_id is None else f"{name}_class{class_id}"


def top_k_indices(predictions, k: int, metric: str):
    """int64 [..., k]: the indices of the k highest scores of each row, highest first."""
    scores = convert_to_tensor(predictions)
    shape = scores.node.shape
    if shape is None or len(shape) < 1 or shape[-1] is None:
        raise ShapeError(f"{qualified(metric)}: predictions need a known last dimension (the "
                         f"number of classes), got shape {scores.shape}")
    classes = shape[-1]
    if k > classes:
        raise ShapeError(f"{qualified(metric)}: k={k} exceeds the {classes} classes of "
                         f"predictions of shape {scores.shape}")
    mine, other = A.expand_dims(scores, -1), A.expand_dims(scores, -2)  # s_c, s_j
    lower = convert_to_tensor(np.tri(classes, k=-1, dtype=bool))  # [c, j]: j < c
    beaten = M.logical_or(M.greater(other, mine), M.logical_and(M.equal(other, mine), lower))
    rank = M.reduce_sum(M.cast(beaten, dtypes.int64), -1)  # [..., C]
    at = M.equal(A.expand_dims(rank, -1), A.range(k, dtype=dtypes.int64))  # [..., C, k]
    ids = A.reshape(A.range(classes, dtype=dtypes.int64), [classes, 1])
    return M.reduce_sum(M.cast(at, dtypes.int64) * ids, -2)


def _streaming(kind: str, labels, indices, k, class_id, weights, metrics_collections,
               updates_collections):
    """tp and fp (precision) or fn (recall) accumulated in float64 variables, in the
    current name scope."""
    metric = f"{kind}_at_k"
    labels, indices = _label_sets(labels, indices, metric)
    tp, fp, fn = (_class_counts(labels, indices, class_id) if class_id is not None
                  else _set_counts(labels, indices))
    other, other_name = (fp, "false_positive") if kind == "precision" else (fn, "false_negative")
    if weights is not None:
        weights = broadcast_weights(convert_to_tensor(weights), tp, metric, dtypes.float64)
        tp, other = tp * weights, other * weights
    suffix = _at_k_name("", k, class_id)
    tp_var = metric_variable([], dtypes.float64, f"true_positive{suffix}")
    other_var = metric_variable([], dtypes.float64, f"{other_name}{suffix}")
    update_tp = tp_var.assign_add(M.reduce_sum(tp), name="update")
    update_other = other_var.assign_add(M.reduce_sum(other), name="update")
    # a plain division: 0 / 0 is nan, TF1's answer for a class never labelled or predicted
    value = M.truediv(tp_var.value(), tp_var.value() + other_var.value(), name="value")
    update_op = M.truediv(update_tp, update_tp + update_other, name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def _label_sets(labels, indices, metric: str):
    """int64 labels [..., n] and indices [..., k] with equal leading dimensions; labels
    without the last axis are one label per row."""
    labels = M.cast(convert_to_tensor(labels), dtypes.int64)
    indices = M.cast(convert_to_tensor(indices), dtypes.int64)
    lr, ir = labels.node.rank, indices.node.rank
    if lr is not None and ir is not None and lr == ir - 1:
        labels = A.expand_dims(labels, -1)
    ls, ps = labels.node.shape, indices.node.shape
    if ls is None or ps is None or len(ls) != len(ps) or len(ps) < 1 \
            or not labels.shape[:-1].is_compatible_with(indices.shape[:-1]):
        raise ShapeError(f"{qualified(metric)}: labels of shape {labels.shape} do not match "
                         f"predictions of shape {indices.shape}; expected labels [..., "
                         "num_labels] or [...] for predictions [..., classes]")
    for what, t in (("labels", labels), ("predicted indices", indices)):
        if t.node.shape[-1] is None:
            raise ShapeError(f"{qualified(metric)}: {what} need a known last dimension, got "
                             f"shape {t.shape}")
    return labels, indices


def _first(ids):
    """bool [..., n]: True where an id appears for the first time in its row."""
    n = ids.node.shape[-1]
    same = M.equal(A.expand_dims(ids, -1), A.expand_dims(ids, -2))  # [..., j, j']
    earlier = convert_to_tensor(np.tri(n, k=-1, dtype=bool))  # [j, j']: j' < j
    return M.logical_not(M.reduce_any(M.logical_and(same, earlier), -1))


def _set_counts(labels, indices):
    """float64 (|P & L|, |P - L|, |L - P|) per row."""
    def size(mask):
        return M.reduce_sum(M.cast(mask, dtypes.float64), -1)
    first = _first(indices)
    found = M.reduce_any(M.equal(A.expand_dims(indices, -1), A.expand_dims(labels, -2)), -1)
    tp = size(M.logical_and(first, found))
    return tp, size(first) - tp, size(_first(labels)) - tp


def _class_counts(labels, indices, class_id):
    """float64 (tp, fp, fn) per row for the one class `class_id`."""
    labelled = M.reduce_any(M.equal(labels, M.cast(class_id, dtypes.int64)), -1)
    predicted = M.reduce_any(M.equal(indices, M.cast(class_id, dtypes.int64)), -1)

    def both(a, b):
        return M.cast(M.logical_and(a, b), dtypes.float64)
    return (both(labelled, predicted), both(predicted, M.logical_not(labelled)),
            both(labelled, M.logical_not(predicted)))
