"""tf.metrics: TF1's streaming metrics, built from graphc's ops (no metric primitives).

Each metric returns `(value, update_op)`. Its state lives in zero-initialized local
variables (collections LOCAL_VARIABLES and METRIC_VARIABLES) named under the metric's scope
(`accuracy/total`, `accuracy/count`): run `tf.local_variables_initializer()` to reset them,
`update_op` once per batch (it accumulates the batch and returns the updated value), then
`value` to read the result. docs/metrics.md describes each metric and where graphc differs.
"""

from graphc.metrics.confusion import mean_iou, mean_per_class_accuracy
from graphc.metrics.counts import (
    false_negatives,
    false_negatives_at_thresholds,
    false_positives,
    false_positives_at_thresholds,
    precision,
    precision_at_thresholds,
    recall,
    recall_at_thresholds,
    true_negatives,
    true_negatives_at_thresholds,
    true_positives,
    true_positives_at_thresholds,
)
from graphc.metrics.curves import auc, sensitivity_at_specificity, specificity_at_sensitivity
from graphc.metrics.means import (
    accuracy,
    mean,
    mean_absolute_error,
    mean_cosine_distance,
    mean_relative_error,
    mean_squared_error,
    mean_tensor,
    percentage_below,
    root_mean_squared_error,
)
from graphc.metrics.top_k import precision_at_k, precision_at_top_k, recall_at_k, recall_at_top_k

__all__ = [
    "accuracy", "auc", "false_negatives", "false_negatives_at_thresholds", "false_positives",
    "false_positives_at_thresholds", "mean", "mean_absolute_error", "mean_cosine_distance",
    "mean_iou", "mean_per_class_accuracy", "mean_relative_error", "mean_squared_error",
    "mean_tensor", "percentage_below", "precision", "precision_at_k", "precision_at_thresholds",
    "precision_at_top_k", "recall", "recall_at_k", "recall_at_thresholds", "recall_at_top_k",
    "root_mean_squared_error", "sensitivity_at_specificity", "specificity_at_sensitivity",
    "true_negatives", "true_negatives_at_thresholds",
    "true_positives", "true_positives_at_thresholds",
]
