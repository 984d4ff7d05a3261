"""tf.contrib.seq2seq: sequence_loss, the weighted cross-entropy of a batch of sequences
(TF 1.15 semantics). The decoders and attention wrappers of TF's seq2seq are not here."""

from __future__ import annotations

from graphc import unsupported as _unsupported
from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.nn_losses import sparse_softmax_cross_entropy_with_logits
from graphc.ops.tensor import convert_to_tensor


def _div_no_nan(x, y):
    """x / y, 0 where y is 0 (TF's div_no_nan)."""
    zero = m.equal(y, 0.0)
    return m.where(zero, A.zeros_like(x), x / m.where(zero, A.ones_like(y), y))


def _check(logits, targets, weights, flags) -> None:
    for what, t, rank, shape in (("logits", logits, 3, "[batch_size x sequence_length x "
                                  "logits]"), ("targets", targets, 2, "[batch_size x "
                                  "sequence_length]"), ("weights", weights, 2, "[batch_size x "
                                  "sequence_length]")):
        if t.shape.ndims != rank:
            raise ValueError(f"sequence_loss: {what} must be a {shape} tensor, got shape "
                             f"{t.shape} (at {user_location()})")
    avg_t, avg_b, sum_t, sum_b = flags
    for avg, total, axis in ((avg_t, sum_t, "timesteps"), (avg_b, sum_b, "batch")):
        if avg and total:
            raise ValueError(f"sequence_loss: average_across_{axis} and sum_over_{axis} cannot "
                             f"both be True (at {user_location()})")


def sequence_loss(logits, targets, weights, average_across_timesteps=True,
                  average_across_batch=True, sum_over_timesteps=False, sum_over_batch=False,
                  softmax_loss_function=None, name=None):
    """Cross-entropy of logits (batch, time, classes) at targets (batch, time), times
    weights (batch, time), then reduced as TF 1.15 does:

    - averaged over both: sum(loss) / sum(weights), a scalar;
    - summed over both: sum(loss) / count_nonzero(weights) (TF's choice), a scalar;
    - otherwise (batch, time) reduced over one axis by the first flag set in the order
      average_across_timesteps/average_across_batch, then the sum flags: an average divides
      by the sum of the weights along it, a "sum" by their count of non-zeros;
    - no flag: the weighted loss, (batch, time).
    Divisions by zero give 0 (div_no_nan).
    """
    flags = (average_across_timesteps, average_across_batch, sum_over_timesteps,
             sum_over_batch)
    logits, targets, weights = (convert_to_tensor(t) for t in (logits, targets, weights))
    _check(logits, targets, weights, flags)
    with get_default_graph().name_scope(name or "sequence_loss"):
        classes = logits.shape.dims[2]  # static where known: the loss needs it when built
        flat_logits = A.reshape(logits, [-1, classes] if classes is not None else
                                A.stack([-1, A.shape(logits)[2]]))
        flat_targets = A.reshape(targets, [-1])
        if softmax_loss_function is None:
            crossent = sparse_softmax_cross_entropy_with_logits(labels=flat_targets,
                                                                logits=flat_logits)
        else:
            crossent = softmax_loss_function(labels=flat_targets, logits=flat_logits)
        weights = m.cast(weights, crossent.dtype)
        crossent = crossent * A.reshape(weights, [-1])
        if average_across_timesteps and average_across_batch:
            return _div_no_nan(m.reduce_sum(crossent), m.reduce_sum(weights))
        if sum_over_timesteps and sum_over_batch:
            count = m.cast(m.count_nonzero(weights), crossent.dtype)
            return _div_no_nan(m.reduce_sum(crossent), count)
        crossent = A.reshape(crossent, A.shape(logits)[0:2])
        if average_across_timesteps or average_across_batch:
            axis = [0] if average_across_batch else [1]
            return _div_no_nan(m.reduce_sum(crossent, axis), m.reduce_sum(weights, axis))
        if sum_over_timesteps or sum_over_batch:
            axis = [0] if sum_over_batch else [1]
            count = m.cast(m.count_nonzero(weights, axis), crossent.dtype)
            return _div_no_nan(m.reduce_sum(crossent, axis), count)
        return crossent


# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib.seq2seq")
