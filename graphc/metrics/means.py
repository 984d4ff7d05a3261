"""Streaming (weighted) means: tf.metrics.mean and the metrics TF1 builds on it (accuracy,
mean_absolute_error, mean_squared_error, root_mean_squared_error, mean_relative_error,
percentage_below, mean_cosine_distance), and the element-wise mean_tensor.

State: `total` (sum of weight * value) and `count` (sum of weights), float32. The value is
total / count, 0 while count is 0.
"""

from __future__ import annotations

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.metrics.state import (
    add_to_collections,
    broadcast_weights,
    check_same_shape,
    div_no_nan,
    metric_scope,
    metric_variable,
    prepare,
    squeeze_pair,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import convert_to_tensor


def _weighted(values, weights, metric: str):
    """(values * weights, the weights' sum) in float32; weights None count 1 each."""
    values = M.cast(values, dtypes.float32)
    if weights is None:
        return values, M.cast(M.size(values), dtypes.float32)
    _, values, weights = prepare(None, values, weights, metric)
    weights = broadcast_weights(weights, values, metric)
    return values * weights, M.reduce_sum(weights)


def mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The weighted mean of every value streamed through `update_op`."""
    return _mean(values, weights, metrics_collections, updates_collections, name, "mean")


def _mean(values, weights, metrics_collections, updates_collections, name, metric):
    with metric_scope(name, "mean"):
        values, num_values = _weighted(values, weights, metric)
        total = metric_variable([], dtypes.float32, "total")
        count = metric_variable([], dtypes.float32, "count")
        update_total = total.assign_add(M.reduce_sum(values))
        update_count = count.assign_add(num_values)
        # maximum(count, 0): negative weights cannot make a negative count (TF1)
        value = div_no_nan(total, M.maximum(count, 0), name="value")
        update_op = div_no_nan(update_total, M.maximum(update_count, 0), name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def mean_tensor(values, weights=None, metrics_collections=None, updates_collections=None,
                name=None):
    """The element-wise weighted mean of `values` over the batches: a tensor of values'
    shape, which must be fully known (it is the shape of the state)."""
    with metric_scope(name, "mean"):
        values = M.cast(convert_to_tensor(values), dtypes.float32)
        if not values.shape.is_fully_defined():
            raise ShapeError(f"tf.metrics.mean_tensor: values need a fully known shape (the "
                             f"shape of the running mean), got {values.shape}")
        num_values = A.ones_like(values)
        if weights is not None:
            _, values, weights = prepare(None, values, weights, "mean_tensor")
            weights = broadcast_weights(weights, values, "mean_tensor")
            values, num_values = values * weights, num_values * weights
        shape = values.shape.as_list()
        total = metric_variable(shape, dtypes.float32, "total_tensor")
        count = metric_variable(shape, dtypes.float32, "count_tensor")
        update_total = total.assign_add(values)
        update_count = count.assign_add(num_values)
        value = div_no_nan(total, M.maximum(count, 0), name="value")
        update_op = div_no_nan(update_total, M.maximum(update_count, 0), name="update_op")
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def accuracy(labels, predictions, weights=None, metrics_collections=None,
             updates_collections=None, name=None):
    """How often predictions equal labels (weighted). Predictions are cast to the labels'
    dtype first, as TF1 does."""
    labels, predictions, weights = prepare(labels, predictions, weights, "accuracy")
    if labels.dtype is not predictions.dtype:
        predictions = M.cast(predictions, labels.dtype)
    is_correct = M.cast(M.equal(predictions, labels), dtypes.float32)
    return _mean(is_correct, weights, metrics_collections, updates_collections,
                 name or "accuracy", "accuracy")


def _errors(labels, predictions, weights, metric):
    """labels and predictions of one shape and dtype (the predictions')."""
    labels, predictions, weights = prepare(labels, predictions, weights, metric)
    return M.cast(labels, predictions.dtype), predictions, weights


def mean_absolute_error(labels, predictions, weights=None, metrics_collections=None,
                        updates_collections=None, name=None):
    labels, predictions, weights = _errors(labels, predictions, weights, "mean_absolute_error")
    return _mean(M.abs(predictions - labels), weights, metrics_collections,
                 updates_collections, name or "mean_absolute_error", "mean_absolute_error")


def mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                       updates_collections=None, name=None):
    labels, predictions, weights = _errors(labels, predictions, weights, "mean_squared_error")
    return _mean(M.square(labels - predictions), weights, metrics_collections,
                 updates_collections, name or "mean_squared_error", "mean_squared_error")


def root_mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                            updates_collections=None, name=None):
    """sqrt of the streaming mean squared error (state: the MSE's total and count)."""
    metric = "root_mean_squared_error"
    labels, predictions, weights = _errors(labels, predictions, weights, metric)
    mse, update_mse = _mean(M.square(labels - predictions), weights, None, None,
                            name or metric, metric)
    value, update_op = M.sqrt(mse), M.sqrt(update_mse)
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op


def mean_relative_error(labels, predictions, normalizer, weights=None,
                        metrics_collections=None, updates_collections=None, name=None):
    """The weighted mean of |labels - predictions| / normalizer, counting 0 where the
    normalizer is 0."""
    metric = "mean_relative_error"
    labels, predictions, weights = _errors(labels, predictions, weights, metric)
    normalizer, predictions = squeeze_pair(convert_to_tensor(normalizer), predictions)
    check_same_shape(normalizer, predictions, metric, ("normalizer", "predictions"))
    normalizer = M.cast(normalizer, predictions.dtype)
    zero = M.equal(normalizer, 0)
    relative = M.where(zero, A.zeros_like(labels), M.abs(labels - predictions)
                       / M.where(zero, A.ones_like(normalizer), normalizer))
    return _mean(relative, weights, metrics_collections, updates_collections,
                 name or metric, metric)


def percentage_below(values, threshold, weights=None, metrics_collections=None,
                     updates_collections=None, name=None):
    """The weighted fraction of values < threshold."""
    is_below = M.cast(M.less(convert_to_tensor(values), threshold), dtypes.float32)
    return _mean(is_below, weights, metrics_collections, updates_collections,
                 name or "percentage_below_threshold", "percentage_below")


def mean_cosine_distance(labels, predictions, dim, weights=None, metrics_collections=None,
                         updates_collections=None, name=None):
    """1 - the weighted mean of sum(labels * predictions, axis=dim): the cosine distance of
    vectors the caller has normalized (TF1 does not normalize). Weights must have size 1
    along `dim`."""
    metric = "mean_cosine_distance"
    labels, predictions, weights = _errors(labels, predictions, weights, metric)
    radial = M.reduce_sum(predictions * labels, axis=[dim], keepdims=True)
    mean_value, update_mean = _mean(radial, weights, None, None, name or metric, metric)
    value, update_op = 1.0 - mean_value, 1.0 - update_mean
    add_to_collections(metrics_collections, value)
    add_to_collections(updates_collections, update_op)
    return value, update_op
