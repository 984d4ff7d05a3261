"""tf.contrib.seq2seq.sequence_loss (graphc/contrib/seq2seq.py): every combination of the
four reduction flags against numpy (zero weights included: divisions by zero give 0), a
custom loss function, gradients, and the errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf
from graphc.contrib.seq2seq import sequence_loss
from graphc.test import gradcheck

RNG = np.random.default_rng(4)
LOGITS = RNG.normal(size=(3, 4, 5)).astype(np.float32)
TARGETS = RNG.integers(0, 5, size=(3, 4)).astype(np.int32)
WEIGHTS = RNG.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
WEIGHTS[1, :] = 0.0  # a sequence with no weight: its per-sequence averages divide by 0
WEIGHTS[:, 2] = 0.0  # and a time step with none
FLAGS = list(itertools.product([True, False], repeat=4))


def np_sequence_loss(logits, targets, weights, avg_t, avg_b, sum_t, sum_b):
    """TF 1.15's documented reduction, in numpy."""
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    loss = -np.take_along_axis(logp, targets[..., None], -1)[..., 0] * weights

    def div(a, b):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))
    if avg_t and avg_b:
        return div(loss.sum(), weights.sum())
    if sum_t and sum_b:
        return div(loss.sum(), np.count_nonzero(weights))
    if avg_t or avg_b:
        axis = 0 if avg_b else 1
        return div(loss.sum(axis), weights.sum(axis))
    if sum_t or sum_b:
        axis = 0 if sum_b else 1
        return div(loss.sum(axis), np.count_nonzero(weights, axis))
    return loss


def valid(flags):
    avg_t, avg_b, sum_t, sum_b = flags
    return not (avg_t and sum_t) and not (avg_b and sum_b)


def test_every_flag_combination_against_numpy(target):
    logits = tf.placeholder(tf.float32, [None, 4, 5])
    targets = tf.placeholder(tf.int32, [None, 4])
    weights = tf.placeholder(tf.float32, [None, 4])
    losses = {}
    for flags in FLAGS:
        kwargs = dict(zip(["average_across_timesteps", "average_across_batch",
                           "sum_over_timesteps", "sum_over_batch"], flags))
        if valid(flags):
            losses[flags] = tf.contrib.seq2seq.sequence_loss(logits, targets, weights, **kwargs)
        else:
            with pytest.raises(ValueError, match="cannot both be True"):
                sequence_loss(logits, targets, weights, **kwargs)
    assert len(losses) == 9
    with tf.Session(target=target) as sess:
        got = sess.run(losses, {logits: LOGITS, targets: TARGETS, weights: WEIGHTS})
    for flags, value in got.items():
        want = np_sequence_loss(LOGITS.astype(np.float64), TARGETS, WEIGHTS, *flags)
        assert_close(value, want.astype(np.float32), rtol=1e-5, atol=1e-6)
    assert got[(True, True, False, False)].shape == ()
    assert got[(False, False, False, False)].shape == (3, 4)


def test_custom_loss_function_and_name():
    def doubled(labels, logits):
        return 2.0 * tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                    logits=logits)
    loss = sequence_loss(tf.constant(LOGITS), tf.constant(TARGETS), tf.constant(WEIGHTS),
                         softmax_loss_function=doubled)
    with tf.Session() as sess:
        got = sess.run(loss)
    assert_close(got, np.float32(2 * np_sequence_loss(LOGITS.astype(np.float64), TARGETS,
                                                      WEIGHTS, True, True, False, False)),
                 rtol=1e-5)


@pytest.mark.parametrize("flags", [(True, True, False, False), (False, True, True, False),
                                   (False, False, False, False)])
def test_gradients_with_respect_to_logits(flags):
    def f(logits):
        return sequence_loss(logits, TARGETS, WEIGHTS.astype(np.float64), *flags)
    gradcheck(f, [LOGITS.astype(np.float64)])


def test_errors():
    good3, good2 = tf.zeros([2, 3, 4]), tf.zeros([2, 3])
    with pytest.raises(ValueError, match=r"logits must be a \[batch_size x sequence_length x "
                                         r"logits\] tensor, got shape \(2, 3\) "
                                         r"\(at test_seq2seq\.py:\d+\)"):
        sequence_loss(good2, tf.zeros([2, 3], tf.int32), good2)
    with pytest.raises(ValueError, match="weights must be a"):
        sequence_loss(good3, tf.zeros([2, 3], tf.int32), good3)
