"""tf.keras.losses (TF 1.15): per-sample loss functions `f(y_true, y_pred)` (the mean over
the last axis), their classes (with `from_logits` and a reduction), and `get` for compile.

Keras's probability losses clip predictions to [epsilon, 1 - epsilon] (epsilon = 1e-7)
before taking logs, exactly as keras.backend does; with from_logits=True they use tf.nn's
stable cross-entropies instead. A class instance reduces the per-sample losses to their mean
over the batch (SUM_OVER_BATCH_SIZE), the reduction compile uses for strings and functions.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ir import dtypes
from graphc.keras import backend
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.nn_losses import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
)
from graphc.ops.tensor import convert_to_tensor


def _pair(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    y_true = m.cast(convert_to_tensor(y_true), y_pred.dtype)
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return m.reduce_mean(m.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return m.reduce_mean(m.abs(y_pred - y_true), axis=-1)


def _clip(p):
    eps = backend.epsilon()
    return m.clip_by_value(p, eps, 1.0 - eps)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0):
    """Mean over the last axis of -(y log p + (1 - y) log(1 - p)); without logits, p is
    clipped and turned back into logits (Keras's backend does the same)."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if not from_logits:
        p = _clip(y_pred)
        y_pred = m.log(p / (1.0 - p))
    return m.reduce_mean(sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred),
                         axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0):
    """-sum(y log p) over the last axis; p renormalized to sum 1, then clipped."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        classes = m.cast(A.shape(y_true)[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        return softmax_cross_entropy_with_logits_v2(labels=y_true, logits=y_pred)
    p = _clip(y_pred / m.reduce_sum(y_pred, axis=-1, keepdims=True))
    return -m.reduce_sum(y_true * m.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Integer labels (shape (batch,) or (batch, 1)) against (batch, classes)."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true)
    if y_true.shape.ndims == y_pred.shape.ndims:
        y_true = A.squeeze(y_true, [-1])
    labels = m.cast(y_true, dtypes.int32)
    logits = y_pred if from_logits else m.log(_clip(y_pred))
    return sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return m.reduce_mean(m.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def kullback_leibler_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    y_true, y_pred = _clip(y_true), _clip(y_pred)
    return m.reduce_sum(y_true * m.log(y_true / y_pred), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence


class Reduction:
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    AUTO = "auto"


class Loss:
    """A loss object: `loss(y_true, y_pred)` is the reduced loss (a scalar by default)."""

    def __init__(self, reduction=Reduction.AUTO, name=None):
        self.reduction, self.name = reduction, name

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        per_sample = self.call(y_true, y_pred)
        if sample_weight is not None:
            per_sample = per_sample * m.cast(convert_to_tensor(sample_weight),
                                             per_sample.dtype)
        if self.reduction == Reduction.NONE:
            return per_sample
        if self.reduction == Reduction.SUM:
            return m.reduce_sum(per_sample)
        return m.reduce_mean(per_sample)


class LossFunctionWrapper(Loss):
    def __init__(self, fn, reduction=Reduction.AUTO, name=None, **kwargs):
        super().__init__(reduction, name or fn.__name__)
        self.fn, self.fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)


def _loss_class(fn, class_name, with_logits):
    def __init__(self, from_logits=False, reduction=Reduction.AUTO, name=None, **kwargs):
        kwargs = {"from_logits": from_logits, **kwargs} if with_logits else kwargs
        LossFunctionWrapper.__init__(self, fn, reduction, name or fn.__name__, **kwargs)

    def plain_init(self, reduction=Reduction.AUTO, name=None):
        LossFunctionWrapper.__init__(self, fn, reduction, name or fn.__name__)
    return type(class_name, (LossFunctionWrapper,),
                {"__init__": __init__ if with_logits else plain_init,
                 "__doc__": f"The class form of {fn.__name__}."})


MeanSquaredError = _loss_class(mean_squared_error, "MeanSquaredError", False)
MeanAbsoluteError = _loss_class(mean_absolute_error, "MeanAbsoluteError", False)
BinaryCrossentropy = _loss_class(binary_crossentropy, "BinaryCrossentropy", True)
CategoricalCrossentropy = _loss_class(categorical_crossentropy, "CategoricalCrossentropy",
                                      True)
SparseCategoricalCrossentropy = _loss_class(sparse_categorical_crossentropy,
                                            "SparseCategoricalCrossentropy", True)
Hinge = _loss_class(hinge, "Hinge", False)
KLDivergence = _loss_class(kullback_leibler_divergence, "KLDivergence", False)

_BY_NAME = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "hinge": hinge, "kullback_leibler_divergence": kullback_leibler_divergence,
    "kld": kullback_leibler_divergence,
}


def get(identifier):
    """A name, a loss function or a Loss object, as a Loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return LossFunctionWrapper(_BY_NAME[identifier])
    if callable(identifier) and not isinstance(identifier, type):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Unknown loss function: {identifier!r}; expected a tf.keras.losses "
                     f"function or object, or one of {sorted(_BY_NAME)} "
                     f"(at {user_location()})")


def base_function(loss) -> object:
    """The plain function behind a loss object (for choosing the accuracy)."""
    return getattr(loss, "fn", None)

