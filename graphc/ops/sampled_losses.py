"""tf.nn.nce_loss and tf.nn.sampled_softmax_loss: TF1's sampled losses, built as TF builds
them (_compute_sampled_logits) from embedding_lookup, a matmul and the cross-entropies, on
the candidates of a sampler (sampling_ops.py; log_uniform_candidate_sampler by default).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.misc_ops import embedding_lookup
from graphc.ops.nn_losses import sigmoid_cross_entropy_with_logits
from graphc.ops.nn_losses import softmax_cross_entropy_with_logits_v2 as softmax_xent
from graphc.ops.sampling_ops import log_uniform_candidate_sampler
from graphc.ops.tensor import convert_to_tensor


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             name="nce_loss"):
    """Noise-contrastive estimation loss per example, [batch] (TF1's tf.nn.nce_loss): the
    sigmoid cross-entropy of the true classes (label 1 / num_true) and of num_sampled
    classes drawn by log_uniform_candidate_sampler (label 0), each logit less the log of
    its expected count, summed over the row."""
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                      num_classes, num_true, sampled_values,
                                      remove_accidental_hits, partition_strategy, name, None)
    return M.reduce_sum(sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), 1,
                        name=name)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                         num_true=1, sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", name="sampled_softmax_loss", seed=None):
    """Sampled softmax loss per example, [batch] (TF1's tf.nn.sampled_softmax_loss): the
    softmax cross-entropy over the true classes and num_sampled drawn ones, logits less the
    log of their expected counts, a drawn class equal to a true one of its row masked out."""
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                      num_classes, num_true, sampled_values,
                                      remove_accidental_hits, partition_strategy, name, seed)
    return softmax_xent(labels=A.stop_gradient(targets), logits=logits, name=name)


def _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, remove_accidental_hits, partition_strategy, name, seed):
    """(logits [batch, num_true + num_sampled], their labels) as TF's
    _compute_sampled_logits builds them: rows of weights and biases looked up for the true
    and the sampled classes, true logits as row-wise dot products, sampled ones as one
    matmul, log expected counts subtracted."""
    weights = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    inputs, labels = convert_to_tensor(inputs), convert_to_tensor(labels)
    num_true, num_sampled = int(num_true), int(num_sampled)
    _check_loss_args(name, inputs, labels, num_true)
    with get_default_graph().name_scope(f"{name}_logits"):
        labels = M.cast(labels, dtypes.int64)
        if sampled_values is None:
            sampled_values = log_uniform_candidate_sampler(labels, num_true, num_sampled, True,
                                                           num_classes, seed=seed)
        sampled, true_count, sampled_count = (A.stop_gradient(convert_to_tensor(s))
                                              for s in sampled_values)
        sampled = M.cast(sampled, dtypes.int64)
        flat = A.reshape(labels, [-1])
        ids = A.concat([flat, sampled], 0)
        rows = _as(embedding_lookup(weights, ids, partition_strategy), inputs.dtype)
        bias = _as(embedding_lookup(biases, ids, partition_strategy), inputs.dtype)
        dim = inputs.shape.as_list()[1]
        true_w, sampled_w = rows[:-num_sampled], rows[-num_sampled:]
        true_b, sampled_b = bias[:-num_sampled], bias[-num_sampled:]
        # [batch, 1, dim] * [batch, num_true, dim] summed over dim: each row's true logits
        dots = A.expand_dims(inputs, 1) * A.reshape(true_w, [-1, num_true, dim])
        true_logits = M.reduce_sum(dots, 2) + A.reshape(true_b, [-1, num_true])
        sampled_logits = M.matmul(inputs, sampled_w, transpose_b=True) + sampled_b
        if remove_accidental_hits:
            sampled_logits = sampled_logits + _accidental_hits(labels, sampled, inputs.dtype)
        true_logits = true_logits - M.log(_as(true_count, inputs.dtype))
        sampled_logits = sampled_logits - M.log(_as(sampled_count, inputs.dtype))
        logits = A.concat([true_logits, sampled_logits], 1)
        targets = A.concat([A.ones_like(true_logits) / float(num_true),
                            A.zeros_like(sampled_logits)], 1)
    return logits, targets


def _check_loss_args(name, inputs, labels, num_true):
    if inputs.dtype.kind != "f" or inputs.node.rank != 2 or inputs.node.shape[1] is None:
        raise ShapeError(f"{name}: inputs must be a float [batch_size, dim] tensor with a known "
                         f"dim, got {inputs.dtype} of shape {inputs.shape}")
    if labels.dtype not in dtypes.INT_DTYPES or labels.node.rank != 2 or \
            labels.node.shape[1] not in (None, num_true):
        raise ShapeError(f"{name}: labels must be an int64 [batch_size, num_true={num_true}] "
                         f"tensor, got {labels.dtype} of shape {labels.shape}")


def _accidental_hits(labels, sampled, dtype):
    """[batch, num_sampled]: -FLT_MAX where the sampled class is one of the row's true
    classes, else 0 (TF adds this, built by compute_accidental_hits and sparse_to_dense,
    to the sampled logits)."""
    same = M.equal(A.expand_dims(labels, 2), A.reshape(sampled, [1, 1, -1]))
    hit = M.reduce_any(same, 1)
    lowest = A.constant(np.array(-np.finfo(np.float32).max, dtype.np))
    return M.where(hit, lowest, A.zeros_like(hit, dtype=dtype))


def _as(x, dtype):
    return x if x.dtype is dtype else M.cast(x, dtype)
