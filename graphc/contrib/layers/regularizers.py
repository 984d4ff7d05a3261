"""tf.contrib.layers' regularizers: functions of a weight tensor that return a scalar
penalty (or None, which callers skip), and apply_regularization, which sums them.

l1: scale * sum(|w|); l2: scale * sum(w^2) / 2 (tf.nn.l2_loss). A scale of 0 returns a
regularizer that gives None, as TF.
"""

from __future__ import annotations

import numbers

from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ops import math_ops as m
from graphc.ops.gradients import add_n
from graphc.ops.nn_losses import l2_loss
from graphc.ops.tensor import constant, convert_to_tensor

REGULARIZATION_LOSSES = "regularization_losses"  # tf.GraphKeys.REGULARIZATION_LOSSES
WEIGHTS = "weights"  # tf.GraphKeys.WEIGHTS: apply_regularization's default list


def _check_scale(scale, who: str) -> bool:
    """False when the scale turns the regularizer off (0); raises on a bad scale."""
    if isinstance(scale, numbers.Integral) and not isinstance(scale, bool):
        raise ValueError(f"{who}: scale cannot be an integer, got {scale} (write {scale}.0) "
                         f"(at {user_location()})")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise ValueError(f"{who}: scale must be >= 0, got {scale} (at {user_location()})")
        if scale == 0.0:
            return False
    return True


def _penalty(scale, scope, default_name, weights, body):
    graph = get_default_graph()
    with graph.name_scope(scope or default_name) as name:
        weights = convert_to_tensor(weights)
        my_scale = convert_to_tensor(scale, dtype=weights.dtype, name="scale")
        return m.multiply(my_scale, body(weights), name=name)


def l1_regularizer(scale, scope=None):
    """scale * sum(|weights|)."""
    if not _check_scale(scale, "l1_regularizer"):
        return lambda _: None

    def l1(weights):
        return _penalty(scale, scope, "l1_regularizer", weights,
                        lambda w: m.reduce_sum(m.abs(w)))
    return l1


def l2_regularizer(scale, scope=None):
    """scale * sum(weights ** 2) / 2."""
    if not _check_scale(scale, "l2_regularizer"):
        return lambda _: None

    def l2(weights):
        return _penalty(scale, scope, "l2_regularizer", weights, l2_loss)
    return l2


def sum_regularizer(regularizer_list, scope=None):
    """The sum of the penalties of several regularizers (None entries and None penalties
    skipped); None when the list is empty."""
    regularizers = [r for r in regularizer_list if r is not None]
    if not regularizers:
        return None

    def sum_reg(weights):
        with get_default_graph().name_scope(scope or "sum_regularizer") as name:
            penalties = [p for p in (r(weights) for r in regularizers) if p is not None]
            return add_n(penalties, name=name) if penalties else None
    return sum_reg


def l1_l2_regularizer(scale_l1=1.0, scale_l2=1.0, scope=None):
    """l1_regularizer(scale_l1) + l2_regularizer(scale_l2)."""
    for what, scale in (("scale_l1", scale_l1), ("scale_l2", scale_l2)):
        if isinstance(scale, numbers.Integral) and not isinstance(scale, bool):
            raise ValueError(f"l1_l2_regularizer: {what} cannot be an integer, got {scale} "
                             f"(at {user_location()})")
    scope = scope or "l1_l2_regularizer"
    if isinstance(scale_l1, numbers.Real) and scale_l1 == 0.0:
        return l2_regularizer(scale_l2, scope)
    if isinstance(scale_l2, numbers.Real) and scale_l2 == 0.0:
        return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope=scope)


def apply_regularization(regularizer, weights_list=None):
    """The summed penalty of `regularizer` over `weights_list` (default: the WEIGHTS
    collection), added to REGULARIZATION_LOSSES and returned."""
    graph = get_default_graph()
    if not weights_list:
        weights_list = graph.get_collection(WEIGHTS)
    if not weights_list:
        raise ValueError("apply_regularization: no weights to regularize (weights_list is empty "
                         f"and so is the '{WEIGHTS}' collection) (at {user_location()})")
    with graph.name_scope("get_regularization_penalty") as name:
        penalties = [regularizer(w) for w in weights_list]
        penalties = [p if p is not None else constant(0.0) for p in penalties]
        for p in penalties:
            if p.shape.ndims != 0:
                raise ValueError("apply_regularization: the regularizer must return a scalar "
                                 f"tensor, got one of shape {p.shape} (at {user_location()})")
        summed = add_n(penalties, name=name)
    graph.add_to_collection(REGULARIZATION_LOSSES, summed)
    return summed
