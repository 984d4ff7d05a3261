"""tf.losses: weighted losses reduced as TF1 does (by default the weighted sum divided by the
number of non-zero weights), each added to the LOSSES collection."""

from __future__ import annotations

from graphc.framework.graph import get_default_graph
from graphc.ops import math_ops as M
from graphc.ops.array_ops import broadcast_to, ones_like, shape
from graphc.ops.nn_losses import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.variables import GraphKeys


class Reduction:
    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE, cls.MEAN, cls.SUM_BY_NONZERO_WEIGHTS)


def _safe_div(num, den):
    """num / den, or 0 where den is 0 (no division by zero, so no nan in the gradient)."""
    positive = M.greater(den, 0)
    return M.where(positive, num / M.where(positive, den, ones_like(den)), num * 0)


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    if reduction not in Reduction.all():
        raise ValueError(f"invalid reduction {reduction!r}; one of {Reduction.all()}")
    losses = convert_to_tensor(losses)
    weights = M.cast(convert_to_tensor(weights), losses.dtype)
    weighted = M.multiply(losses, weights)
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        total = M.reduce_sum(weighted)
        if reduction == Reduction.SUM:
            loss = total
        elif reduction == Reduction.MEAN:
            loss = _safe_div(total, M.reduce_sum(weights * ones_like(losses)))
        else:
            every = broadcast_to(weights, shape(losses)) if losses.node.rank else weights
            if reduction == Reduction.SUM_OVER_BATCH_SIZE:
                count = M.cast(M.reduce_sum(ones_like(every)), losses.dtype)
            else:
                count = M.cast(M.count_nonzero(every), losses.dtype)
            loss = _safe_div(total, count)
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)
    return loss


def _pair(labels, predictions):
    predictions = convert_to_tensor(predictions)
    labels = M.cast(convert_to_tensor(labels), predictions.dtype)
    if not labels.shape.is_compatible_with(predictions.shape):
        raise ValueError(f"Shapes {labels.shape} and {predictions.shape} are incompatible "
                         "(labels and predictions)")
    return labels, predictions


def mean_squared_error(labels, predictions, weights=1.0, scope=None,
                       loss_collection=GraphKeys.LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    labels, predictions = _pair(labels, predictions)
    return compute_weighted_loss(M.square(predictions - labels), weights, scope,
                                 loss_collection, reduction)


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=GraphKeys.LOSSES,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    labels, predictions = _pair(labels, predictions)
    return compute_weighted_loss(M.abs(predictions - labels), weights, scope, loss_collection,
                                 reduction)


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    # 0.5 e^2 for |e| <= delta, delta (|e| - delta/2) beyond: 0.5 q^2 + delta (|e| - q)
    labels, predictions = _pair(labels, predictions)
    error = M.abs(predictions - labels)
    quadratic = M.minimum(error, delta)
    losses = 0.5 * M.square(quadratic) + delta * (error - quadratic)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    # -y log(p + eps) - (1 - y) log(1 - p + eps)
    labels, predictions = _pair(labels, predictions)
    losses = -labels * M.log(predictions + epsilon) - (1 - labels) * M.log(
        1 - predictions + epsilon)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    logits = convert_to_tensor(logits)
    labels = M.cast(convert_to_tensor(multi_class_labels), logits.dtype)
    if label_smoothing:
        labels = labels * (1 - label_smoothing) + 0.5 * label_smoothing
    losses = sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    logits = convert_to_tensor(logits)
    labels = M.cast(convert_to_tensor(onehot_labels), logits.dtype)
    if label_smoothing:
        classes = logits.node.shape[-1]
        labels = labels * (1 - label_smoothing) + label_smoothing / classes
    losses = softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=GraphKeys.LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    losses = sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def get_losses(scope=None, loss_collection=GraphKeys.LOSSES) -> list:
    return get_default_graph().get_collection(loss_collection, scope)


def add_loss(loss, loss_collection=GraphKeys.LOSSES) -> None:
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)


def get_regularization_losses(scope=None) -> list:
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    """The sum of the regularization losses (0.0 when there are none)."""
    from graphc.ops.gradients import add_n
    from graphc.ops.tensor import constant
    losses = get_regularization_losses(scope)
    return add_n(losses, name=name) if losses else constant(0.0, name=name)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    losses = get_losses(scope)
    if add_regularization_losses:
        losses += get_regularization_losses(scope)
    if not losses:
        raise ValueError("No losses found in the graph.")
    from graphc.ops.gradients import add_n
    return add_n(losses, name=name)
