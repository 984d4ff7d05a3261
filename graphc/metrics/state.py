"""What every tf.metrics function shares: its state (zero-initialized local variables), its
scope, the shape rules for labels, predictions and weights, and division without nan.

A metric's state lives in variables of the LOCAL_VARIABLES and METRIC_VARIABLES collections,
so `tf.local_variables_initializer()` resets it and `tf.global_variables_initializer()`
leaves it alone (TF1's evaluation loop: reset, stream the batches through `update_op`, read
the value).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ir.values import node_value
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import Tensor, convert_to_tensor, is_tensor_like
from graphc.ops.variables import GraphKeys, Variable, variable_scope

# TF1's GraphKeys.METRIC_VARIABLES; graphc's GraphKeys may not spell it yet.
METRIC_VARIABLES = getattr(GraphKeys, "METRIC_VARIABLES", "metric_variables")


def qualified(metric: str) -> str:
    """The name users call: 'accuracy' -> 'tf.metrics.accuracy'; dotted names stay."""
    return metric if "." in metric else f"tf.metrics.{metric}"


def metric_variable(shape, dtype, name: str) -> Variable:
    """A non-trainable variable of zeros, named `name` in the current scope, in the
    LOCAL_VARIABLES and METRIC_VARIABLES collections (TF1's metric_variable)."""
    return Variable(lambda: A.zeros(shape, dtype), trainable=False, name=name,
                    collections=[GraphKeys.LOCAL_VARIABLES, METRIC_VARIABLES])


def metric_scope(name, default: str):
    """TF1's `variable_scope(name, default)`: names the metric's variables and ops
    `default/total`, `default_1/total`, ... or `name/total` when the user names it."""
    return variable_scope(name, default_name=default)


def add_to_collections(names, value) -> None:
    """metrics_collections / updates_collections: a collection name or a list of them."""
    if not names:
        return
    graph = get_default_graph()
    for key in [names] if isinstance(names, str) else dict.fromkeys(names):
        graph.add_to_collection(key, value)


def static_int(value, what: str, metric: str) -> int:
    """A Python int from an int or a tensor whose value is known when the graph is built."""
    if value is None:
        raise ShapeError(f"{qualified(metric)} needs {what}, an int >= 1 known when the graph "
                         "is built (it sizes the metric's variables); got None")
    if is_tensor_like(value):
        known = node_value(convert_to_tensor(value).node)
        if known is None or known.ndim != 0:
            raise ShapeError(f"{qualified(metric)}: {what} must be known when the graph is "
                             f"built (it sizes the metric's variables); got the tensor "
                             f"{convert_to_tensor(value).name}")
        value = known.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ShapeError(f"{qualified(metric)}: {what} must be an int >= 1, got {value!r}")
    return int(value)


# --- shapes -----------------------------------------------------------------------------
def squeeze_pair(labels: Tensor, predictions: Tensor):
    """TF1's remove_squeezable_dimensions: when the ranks differ by one and the longer
    shape ends in 1, drop that dimension so that [N] labels meet [N, 1] predictions."""
    lr, pr = labels.node.rank, predictions.node.rank
    if lr is not None and pr is not None:
        if pr == lr + 1 and predictions.node.shape[-1] == 1:
            predictions = A.squeeze(predictions, [-1])
        elif lr == pr + 1 and labels.node.shape[-1] == 1:
            labels = A.squeeze(labels, [-1])
    return labels, predictions


def check_same_shape(labels: Tensor, predictions: Tensor, metric: str,
                     names=("labels", "predictions")) -> None:
    if not labels.shape.is_compatible_with(predictions.shape):
        raise ShapeError(f"{qualified(metric)}: {names[0]} of shape {labels.shape} and "
                         f"{names[1]} of shape {predictions.shape} are incompatible; expected "
                         "the same shape (a trailing dimension of 1 may differ)")


def prepare(labels, predictions, weights, metric: str):
    """(labels, predictions, weights) as TF1's _remove_squeezable_dimensions leaves them:
    labels and predictions of one shape, weights of rank 0 or of the predictions' rank.
    `labels` may be None (metrics of one tensor, like tf.metrics.mean)."""
    predictions = convert_to_tensor(predictions)
    if labels is not None:
        labels, predictions = squeeze_pair(convert_to_tensor(labels), predictions)
        check_same_shape(labels, predictions, metric)
    if weights is None:
        return labels, predictions, None
    weights = convert_to_tensor(weights)
    wr, pr = weights.node.rank, predictions.node.rank
    if wr and pr is not None:  # a scalar weight stays a scalar
        if wr == pr + 1 and weights.node.shape[-1] == 1:
            weights = A.squeeze(weights, [-1])
        elif wr == pr - 1:
            weights = A.expand_dims(weights, -1)
    return labels, predictions, weights


def broadcast_weights(weights: Tensor, values: Tensor, metric: str,
                      dtype=dtypes.float32) -> Tensor:
    """Weights of `values`' shape (float32 unless `dtype`). As TF1's broadcast_weights,
    weights must be a scalar or have the values' rank, each dimension 1 or the values'."""
    weights = M.cast(weights, dtype)
    ws, vs = weights.node.shape, values.node.shape
    if ws is not None and vs is not None and len(ws) != 0:
        fits = len(ws) == len(vs) and all(w in (1, None) or v in (None, w)
                                          for w, v in zip(ws, vs))
        if not fits:
            raise ShapeError(f"{qualified(metric)}: weights of shape {weights.shape} do not "
                             f"broadcast to the values of shape {values.shape}; expected a "
                             "scalar or the same rank with each dimension 1 or equal")
    if ws is not None and vs is not None and tuple(ws) == tuple(vs) and None not in vs:
        return weights
    return weights * A.ones_like(values, dtype=dtype)


# --- arithmetic -------------------------------------------------------------------------
def div_no_nan(x, y, name=None) -> Tensor:
    """x / y, and 0 where y == 0 (TF's div_no_nan). The divisor is replaced by 1 there, so
    no target computes 0 / 0 in the branch that is thrown away."""
    x, y = M.promote_operands([x, y], "div_no_nan")
    zero = M.equal(y, 0)
    return M.where(zero, A.zeros_like(x * y), x / M.where(zero, A.ones_like(y), y),
                   name=name)


def where_positive_div(x, y, name=None) -> Tensor:
    """x / y where y > 0, else 0 (TF1's precision and recall)."""
    x, y = M.promote_operands([x, y], "where_positive_div")
    positive = M.greater(y, 0)
    return M.where(positive, x / M.where(positive, y, A.ones_like(y)), A.zeros_like(x * y),
                   name=name)
