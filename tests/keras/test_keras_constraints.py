"""Weight constraints: tf.keras.constraints against numpy, and applied after each update by
tf.train's and tf.keras's optimizers (TF1's Variable.constraint), in fit and by hand."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras

W = np.array([[3.0, -0.5, 0.0], [4.0, 0.2, -2.0]], np.float32)
EPS = 1e-7


def norms(w, axis):
    return np.sqrt((w * w).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("constraint, expected", [
    (keras.constraints.MaxNorm(2.0), W * np.minimum(norms(W, 0), 2.0) / (EPS + norms(W, 0))),
    (keras.constraints.max_norm(1.0, axis=1),
     W * np.minimum(norms(W, 1), 1.0) / (EPS + norms(W, 1))),
    (keras.constraints.NonNeg(), np.maximum(W, 0.0)),
    (keras.constraints.UnitNorm(), W / (EPS + norms(W, 0))),
    (keras.constraints.MinMaxNorm(1.0, 3.0, rate=0.5),
     W * (0.5 * np.clip(norms(W, 0), 1.0, 3.0) + 0.5 * norms(W, 0)) / (EPS + norms(W, 0))),
], ids=["max_norm", "max_norm_axis1", "non_neg", "unit_norm", "min_max_norm"])
def test_constraints_against_numpy(constraint, expected):
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(constraint(tf.constant(W))), expected, rtol=1e-6,
                                   atol=1e-7)


def test_get_by_name_config_and_errors():
    assert isinstance(keras.constraints.get("non_neg"), keras.constraints.NonNeg)
    rebuilt = keras.constraints.get({"class_name": "MaxNorm",
                                     "config": {"max_value": 3, "axis": 1}})
    assert rebuilt.get_config() == {"max_value": 3, "axis": 1}
    with pytest.raises(ValueError, match="Unknown constraint 'no_such'"):
        keras.constraints.get("no_such")


def test_tf_train_optimizer_applies_a_variable_constraint_after_the_update():
    v = tf.get_variable("clipped", [3], initializer=tf.constant_initializer([0.5, -0.5, 0.05]),
                        constraint=lambda x: tf.clip_by_value(x, -0.1, 0.1))
    step = tf.train.GradientDescentOptimizer(0.01).minimize(
        tf.reduce_sum(v * tf.constant([1.0, -1.0, 1.0])))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step)
        # the update first (0.5 - 0.01, -0.5 + 0.01, 0.05 - 0.01), then the clip
        np.testing.assert_allclose(sess.run(v), [0.1, -0.1, 0.04], rtol=1e-6)


def test_fit_keeps_a_kernel_constraint_and_leaves_unconstrained_weights_free():
    tf.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,), kernel_constraint="non_neg")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.ones((8, 3), np.float32)
    model.fit(x, -3 * np.ones((8, 2), np.float32), epochs=3, verbose=0)
    kernel, bias = model.get_weights()
    assert kernel.min() >= 0.0
    assert bias.max() < -0.1  # the bias, unconstrained, went negative towards the target
    again = keras.layers.Dense.from_config(model.layers[0].get_config())
    assert isinstance(again.kernel_constraint, keras.constraints.NonNeg)
