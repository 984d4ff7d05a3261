"""graphc.check on runs with host work: a summary stands for the tensors it is made from;
a run fed by a tf.data iterator is refused (checking would consume its elements)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf


def test_summaries_are_checked_through_their_tensors():
    pytest.importorskip("tensorboard")
    x = tf.placeholder(tf.float32, [3])
    loss = tf.reduce_sum(tf.exp(x))
    summary = tf.summary.scalar("loss", loss)
    report = tf.check([loss, summary], {x: np.array([0.5, 1.0, 2.0], np.float32)})
    assert report.ok and report.compared >= 1


def test_iterator_fed_runs_are_refused_unless_fed():
    data = np.arange(6, dtype=np.float32).reshape(3, 2)
    x = tf.data.Dataset.from_tensor_slices(data).make_one_shot_iterator().get_next()
    y = x * 2
    with pytest.raises(ValueError, match="is filled from a tf.data iterator at each run; "
                       "checking would consume its elements"):
        tf.check(y)
    assert tf.check(y, {x: data[0]}).ok
    with tf.Session() as sess:  # nothing was consumed
        np.testing.assert_array_equal(sess.run(y), [0, 2])
