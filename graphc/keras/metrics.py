"""tf.keras.metrics: the per-sample metric functions, the stateful Metric classes, and how
compile resolves its `metrics` entries.

'accuracy' follows TF 1.15's rule: binary when the output has one unit or the loss is binary
cross-entropy, sparse categorical when the loss is sparse categorical cross-entropy,
categorical otherwise. Names follow TF 1.15 (graph mode, TF2 behaviour off): 'accuracy' and
'acc' report as 'acc', 'mse' as 'mean_squared_error', 'mae' as 'mean_absolute_error'. fit
averages each metric function over the samples of an epoch, as Keras's stateful mean
metrics do; a Metric object (`tf.keras.metrics.AUC()`) reports under its name the result of
its state, which fit resets at the start of each epoch and evaluate at its start.

The classes live in metrics_base.py (Metric, Mean, Sum, RootMeanSquaredError) and
metrics_confusion.py (counts, Precision, Recall, AUC, F1Score, MeanIoU).
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ir import dtypes
from graphc.keras import backend, losses
from graphc.keras.metrics_base import (  # noqa: F401 (tf.keras.metrics names)
    Mean,
    MeanMetricWrapper,
    Metric,
    Reduce,
    RootMeanSquaredError,
    Sum,
)
from graphc.keras.metrics_confusion import (  # noqa: F401 (tf.keras.metrics names)
    AUC,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    MeanIoU,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.extra_ops import in_top_k
from graphc.ops.tensor import convert_to_tensor


# --- per-sample functions -------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true (element by element), else 0.0."""
    y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
    if y_true.dtype is not y_pred.dtype:
        y_pred = m.cast(y_pred, y_true.dtype)
    return m.cast(m.equal(y_true, y_pred), backend.floatx())


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


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the class of one-hot y_true is among y_pred's k largest (tf.nn.in_top_k:
    ties at the k-th value count as in). Per sample, as newer Keras (TF 1.15 took the
    batch's mean here, which sample weights cannot follow)."""
    y_pred = convert_to_tensor(y_pred)
    target = m.argmax(convert_to_tensor(y_true), axis=-1, output_type=dtypes.int32)
    return m.cast(in_top_k(y_pred, target, k), backend.floatx())


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the class id y_true is among y_pred's k largest (rows of rank > 2
    flattened to [-1, classes], ids to [-1])."""
    y_pred, y_true = convert_to_tensor(y_pred), convert_to_tensor(y_true)
    if y_pred.shape.ndims is not None and y_pred.shape.ndims > 2:
        y_pred = A.reshape(y_pred, [-1, y_pred.shape.dims[-1]])
    if y_true.shape.ndims is not None and y_true.shape.ndims > 1:
        y_true = A.reshape(y_true, [-1])
    return m.cast(in_top_k(y_pred, m.cast(y_true, dtypes.int32), k), backend.floatx())


mean_squared_error = mse = losses.mean_squared_error
mean_absolute_error = mae = losses.mean_absolute_error
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy


# --- the mean of a function, as classes -----------------------------------------------------
def _wrapper(fn, class_name: str, default_name: str, extra: dict, doc: str):
    """A MeanMetricWrapper class over `fn` whose constructor takes (name, dtype, **extra)
    with extra's defaults, in Keras's argument order."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - set(extra)
        if unknown:
            raise TypeError(f"{class_name}: keyword argument(s) not understood: "
                            f"{sorted(unknown)}")
        MeanMetricWrapper.__init__(self, fn, name, dtype, **{**extra, **kwargs})
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc,
                                                   "__module__": __name__})


Accuracy = _wrapper(accuracy, "Accuracy", "accuracy", {},
                    "How often y_pred equals y_true, element by element.")
BinaryAccuracy = _wrapper(binary_accuracy, "BinaryAccuracy", "binary_accuracy",
                          {"threshold": 0.5}, "How often y_pred > threshold matches y_true.")
CategoricalAccuracy = _wrapper(categorical_accuracy, "CategoricalAccuracy",
                               "categorical_accuracy", {},
                               "How often argmax(y_pred) is the class of one-hot y_true.")
SparseCategoricalAccuracy = _wrapper(sparse_categorical_accuracy, "SparseCategoricalAccuracy",
                                     "sparse_categorical_accuracy", {},
                                     "How often argmax(y_pred) is the class id y_true.")
TopKCategoricalAccuracy = _wrapper(top_k_categorical_accuracy, "TopKCategoricalAccuracy",
                                   "top_k_categorical_accuracy", {"k": 5},
                                   "How often one-hot y_true's class is in y_pred's top k.")
SparseTopKCategoricalAccuracy = _wrapper(
    sparse_top_k_categorical_accuracy, "SparseTopKCategoricalAccuracy",
    "sparse_top_k_categorical_accuracy", {"k": 5},
    "How often the class id y_true is in y_pred's top k.")
MeanSquaredError = _wrapper(mean_squared_error, "MeanSquaredError", "mean_squared_error", {},
                            "The mean of each sample's mean squared error.")
MeanAbsoluteError = _wrapper(mean_absolute_error, "MeanAbsoluteError", "mean_absolute_error",
                             {}, "The mean of each sample's mean absolute error.")
BinaryCrossentropy = _wrapper(binary_crossentropy, "BinaryCrossentropy", "binary_crossentropy",
                              {"from_logits": False, "label_smoothing": 0},
                              "The mean binary cross-entropy.")
CategoricalCrossentropy = _wrapper(categorical_crossentropy, "CategoricalCrossentropy",
                                   "categorical_crossentropy",
                                   {"from_logits": False, "label_smoothing": 0},
                                   "The mean categorical cross-entropy.")
SparseCategoricalCrossentropy = _wrapper(
    sparse_categorical_crossentropy, "SparseCategoricalCrossentropy",
    "sparse_categorical_crossentropy", {"from_logits": False},
    "The mean sparse categorical cross-entropy.")

_BY_NAME = {
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}

CLASSES = {c.__name__: c for c in (
    Mean, Sum, MeanMetricWrapper, RootMeanSquaredError, AUC, F1Score, FBetaScore, MeanIoU,
    Precision, Recall, TruePositives, FalsePositives, TrueNegatives, FalseNegatives, Accuracy,
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy)}


# --- compile's entries ----------------------------------------------------------------------
def get(identifier):
    """A metric function or Metric object from a name (a function's, or a class's, which
    makes a new object), a {'class_name', 'config'} dict, a function or a Metric."""
    if isinstance(identifier, Metric) or (callable(identifier) and
                                          not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in CLASSES:
        return CLASSES[identifier]()
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown metric function: {identifier!r}; expected a callable, a "
                     f"Metric, or one of {sorted(['accuracy', 'acc', *_BY_NAME, *CLASSES])} "
                     f"(at {user_location()})")


def serialize(metric):
    """A JSON-ready description: a function's name, or a Metric's class and config."""
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    return getattr(metric, "__name__", metric)


def deserialize(config, custom_objects=None):
    """The metric `serialize` described; custom classes and functions by their names in
    `custom_objects`."""
    custom = dict(custom_objects or {})
    if isinstance(config, str):
        if config in custom:
            return custom[config]
        if config in ("accuracy", "acc") or config in _BY_NAME or config in CLASSES:
            return config if config in ("accuracy", "acc") else get(config)
        raise ValueError(f"Unknown metric function: '{config}'; if it is yours, pass it as "
                         f"custom_objects={{'{config}': function}}")
    name = config.get("class_name")
    cls = custom.get(name) or CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown metric class {name!r}; pass it in custom_objects "
                         f"(known: {sorted(CLASSES)})")
    return cls.from_config(dict(config.get("config", {})))


def instantiate(metric):
    """compile's view of one entry: class names become Metric objects (once), the rest stay."""
    if isinstance(metric, str) and metric in CLASSES:
        return CLASSES[metric]()
    if isinstance(metric, dict):
        return deserialize(metric)
    return metric


def resolve(metric, loss, output_units):
    """(name, per-sample function or Metric object) of one entry of compile's `metrics`."""
    if metric in ("accuracy", "acc"):
        fn = losses.base_function(loss)
        if output_units == 1 or fn is losses.binary_crossentropy:
            return "acc", binary_accuracy
        if fn is losses.sparse_categorical_crossentropy:
            return "acc", sparse_categorical_accuracy
        return "acc", categorical_accuracy
    if isinstance(metric, Metric):
        return metric.name, metric
    if isinstance(metric, str) and metric in _BY_NAME:
        fn = _BY_NAME[metric]
        return fn.__name__, fn
    if callable(metric) and not isinstance(metric, type):
        return getattr(metric, "name", None) or metric.__name__, metric
    raise ValueError(f"Unknown metric function: {metric!r}; expected a callable, a Metric, "
                     f"or one of {sorted(['accuracy', 'acc', *_BY_NAME, *CLASSES])} "
                     f"(at {user_location()})")
