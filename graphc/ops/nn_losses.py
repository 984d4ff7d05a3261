"""The cross-entropy family of tf.nn, in log-sum-exp form: finite losses and gradients for
logits of any finite magnitude (1e4 and beyond)."""

from __future__ import annotations

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.ops import math_ops as M
from graphc.ops.array_ops import zeros_like
from graphc.ops.check_ops import check
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.nn_ops import log_softmax
from graphc.ops.tensor import convert_to_tensor


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None, dim=None):
    """-sum(labels * log_softmax(logits)) along `axis`; gradients reach labels too (v2)."""
    logits = convert_to_tensor(logits)
    labels = M.cast(convert_to_tensor(labels), logits.dtype)
    axis = dim if dim is not None else axis
    if not labels.shape.is_compatible_with(logits.shape):
        raise ShapeError(f"labels of shape {labels.shape} and logits of shape {logits.shape} "
                         "must match")
    return M.negative(M.reduce_sum(labels * log_softmax(logits, axis), axis),
                      name=name or "softmax_cross_entropy_with_logits")


softmax_cross_entropy_with_logits_v2 = softmax_cross_entropy_with_logits


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """-log_softmax(logits)[label] per example; labels are class indices (int32/int64)."""
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    if labels.dtype not in dtypes.INT_DTYPES:
        raise TypeError(f"labels must be int32 or int64 class indices, got {labels.dtype}")
    if logits.node.rank is None or labels.node.rank != logits.node.rank - 1:
        raise ShapeError(f"labels of shape {labels.shape} must have the shape of logits "
                         f"{logits.shape} without its last axis")
    depth = logits.node.shape[-1]
    if depth is None:
        raise ShapeError("the number of classes (last axis of logits) must be known")
    # a label outside [0, depth) fails the run, as in TF1, instead of a silent zero loss
    in_range = M.logical_and(M.greater_equal(labels, 0), M.less(labels, depth))
    labels_ok = check(in_range, [labels], f"labels must be class indices in [0, {depth})",
                      name="labels_in_range")
    with control_dependencies([labels_ok]):
        picked = M.one_hot(labels, depth, dtype=logits.dtype)
    return M.negative(M.reduce_sum(picked * log_softmax(logits), -1),
                      name=name or "sparse_softmax_cross_entropy_with_logits")


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    # z * -log(sigmoid(x)) + (1 - z) * -log(1 - sigmoid(x)) = max(x, 0) - x z + log1p(e^-|x|)
    # with max(x, 0) and -|x| both taken from one x >= 0 branch, so that at x = 0 their
    # gradients (1 and -1/2) add up to sigmoid(0) - z (abs's gradient there would be 0)
    x = convert_to_tensor(logits)
    z = M.cast(convert_to_tensor(labels), x.dtype)
    if not z.shape.is_compatible_with(x.shape):
        raise ShapeError(f"labels of shape {z.shape} and logits of shape {x.shape} must match")
    nonnegative = M.greater_equal(x, 0)
    relu = M.where(nonnegative, x, zeros_like(x))
    neg_abs = M.where(nonnegative, -x, x)
    return M.add(relu - x * z, M.log1p(M.exp(neg_abs)), name=name or "logistic_loss")


def l2_loss(t, name=None):
    """sum(t ** 2) / 2."""
    t = convert_to_tensor(t)
    return M.multiply(M.reduce_sum(M.square(t)), 0.5, name=name or "L2Loss")
