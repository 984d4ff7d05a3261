"""tf.keras.metrics: the per-sample metric functions compile takes, and how 'accuracy' is
chosen (TF 1.15's rule): binary when the output has one unit or the loss is binary
cross-entropy, sparse categorical when the loss is sparse categorical cross-entropy,
categorical otherwise.

Names follow TF 1.15 (graph mode, TF2 behaviour off): 'accuracy' and 'acc' report as
'acc', 'mse' as 'mean_squared_error', 'mae' as 'mean_absolute_error'. fit averages each
metric over the samples of an epoch, as Keras's stateful mean metrics do.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.keras import losses
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.tensor import convert_to_tensor


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = convert_to_tensor(y_pred)
    y_true = m.cast(convert_to_tensor(y_true), y_pred.dtype)
    hit = m.equal(y_true, m.cast(m.greater(y_pred, threshold), y_pred.dtype))
    return m.reduce_mean(m.cast(hit, y_pred.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    hit = m.equal(m.argmax(convert_to_tensor(y_true), axis=-1), m.argmax(y_pred, axis=-1))
    return m.cast(hit, y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true)
    if y_true.shape.ndims == y_pred.shape.ndims:
        y_true = A.squeeze(y_true, [-1])
    predicted = m.cast(m.argmax(y_pred, axis=-1), y_pred.dtype)
    return m.cast(m.equal(m.cast(y_true, y_pred.dtype), predicted), y_pred.dtype)


mean_squared_error = mse = losses.mean_squared_error
mean_absolute_error = mae = losses.mean_absolute_error
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy

_BY_NAME = {
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


def resolve(metric, loss, output_units):
    """(name, per-sample function) of one entry of compile's `metrics`."""
    if metric in ("accuracy", "acc"):
        fn = losses.base_function(loss)
        if output_units == 1 or fn is losses.binary_crossentropy:
            return "acc", binary_accuracy
        if fn is losses.sparse_categorical_crossentropy:
            return "acc", sparse_categorical_accuracy
        return "acc", categorical_accuracy
    if isinstance(metric, str) and metric in _BY_NAME:
        fn = _BY_NAME[metric]
        return fn.__name__, fn
    if callable(metric):
        return getattr(metric, "name", None) or metric.__name__, metric
    raise ValueError(f"Unknown metric function: {metric!r}; expected a callable or one of "
                     f"{sorted(['accuracy', 'acc', *_BY_NAME])} (at {user_location()})")


