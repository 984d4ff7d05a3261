"""tf.layers.Dense, Dropout and Flatten (graphc/layers/core.py) and the Layer base class:
shapes, TF1 variable names, values against numpy, gradients on every target, sharing and
reuse, losses, configs, and the errors a user sees."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run
from layer_checks import check_gradients

import graphc as tf
from graphc import layers

_RNG = np.random.default_rng(7)


def u(*shape):
    return _RNG.uniform(-1.0, 1.0, shape).astype(np.float32)


# --- Dense --------------------------------------------------------------------------------
def test_dense_names_shapes_and_values(target):
    x = tf.placeholder(tf.float32, [None, 5])
    kernel, bias = u(5, 3), u(3)
    y = layers.dense(x, 3, activation=tf.nn.relu,
                     kernel_initializer=tf.constant_initializer(kernel),
                     bias_initializer=tf.constant_initializer(bias))
    assert y.shape.as_list() == [None, 3]
    assert [(v.name, v.shape.as_list()) for v in tf.global_variables()] == [
        ("dense/kernel:0", [5, 3]), ("dense/bias:0", [3])]
    xv = u(4, 5)
    assert_close(run(y, {x: xv}, target), np.maximum(xv @ kernel + bias, 0), rtol=1e-5)


def test_dense_rank3_contracts_the_last_axis(target):
    x = tf.placeholder(tf.float32, [None, 2, 4])
    layer = layers.Dense(6, use_bias=False)
    y = layer(x)
    assert y.shape.as_list() == [None, 2, 6]
    assert [v.name for v in layer.variables] == ["dense/kernel:0"]
    assert layer.compute_output_shape([None, 2, 4]).as_list() == [None, 2, 6]
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        w = u(4, 6)
        layer.kernel.load(w, sess)
        xv = u(3, 2, 4)
        assert_close(sess.run(y, {x: xv}), xv @ w, rtol=1e-5)


def test_dense_gradients(target):
    check_gradients(lambda x: layers.dense(x, 2, activation=tf.tanh),
                    _RNG.uniform(-1, 1, (3, 4)), target)


def test_default_initializers_as_tf():
    layer = layers.Dense(3)
    layer(tf.placeholder(tf.float32, [None, 200]))
    kernel, bias = run([layer.kernel, layer.bias])
    limit = np.sqrt(6.0 / (200 + 3))  # glorot_uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert np.all(bias == 0)


def test_one_layer_object_shares_its_variables():
    layer = layers.Dense(3, name="fc")
    a = layer(tf.placeholder(tf.float32, [None, 5]))
    b = layer(tf.placeholder(tf.float32, [2, 5]))
    assert [v.name for v in tf.global_variables()] == ["fc/kernel:0", "fc/bias:0"]
    assert a.name == "fc/BiasAdd:0" and b.name == "fc/BiasAdd_1:0"
    assert layer.count_params() == 18


def test_unique_default_names_and_scopes():
    x = tf.placeholder(tf.float32, [None, 5])
    first, second = layers.Dense(2), layers.Dense(2)
    assert (first.name, second.name) == ("dense", "dense_1")
    layers.dense(x, 2)
    first(x)
    with tf.variable_scope("block"):
        layers.dense(x, 2)
    names = [v.name for v in tf.global_variables() if v.name.endswith("kernel:0")]
    assert names == ["dense/kernel:0", "dense_1/kernel:0", "block/dense/kernel:0"]
    assert first.scope_name == "dense_1"


def test_reuse_by_name():
    x = tf.placeholder(tf.float32, [None, 5])
    y1 = layers.dense(x, 3, name="fc")
    y2 = layers.dense(x, 3, name="fc", reuse=True)
    y3 = layers.dense(x, 3, name="fc", reuse=tf.AUTO_REUSE)
    y4 = layers.dense(x, 3, name="other", reuse=tf.AUTO_REUSE)
    assert [v.name for v in tf.global_variables()] == [
        "fc/kernel:0", "fc/bias:0", "other/kernel:0", "other/bias:0"]
    xv = u(2, 5)
    a, b, c = run([y1, y2, y3], {x: xv})
    assert_close(a, b)
    assert_close(a, c)
    assert y4.shape.as_list() == [None, 3]
    with tf.variable_scope("net"):
        layers.dense(x, 3)
    with tf.variable_scope("net", reuse=True):
        layers.dense(x, 3)
    assert len(tf.global_variables()) == 6


def test_reusing_a_name_without_reuse_is_tf1s_error():
    x = tf.placeholder(tf.float32, [None, 5])
    layers.dense(x, 3, name="fc")
    with pytest.raises(ValueError, match="Variable fc/kernel already exists"):
        layers.dense(x, 3, name="fc")
    with pytest.raises(ValueError, match="Variable nothere/kernel does not exist"):
        layers.dense(x, 3, name="nothere", reuse=True)


def test_wrong_last_dimension_names_layer_shapes_and_line():
    layer = layers.Dense(3, name="fc")
    layer(tf.placeholder(tf.float32, [None, 5]))
    with pytest.raises(ValueError) as info:
        layer(tf.placeholder(tf.float32, [None, 7]))
    message = str(info.value)
    assert message.startswith("Input 0 of layer fc is incompatible with the layer: expected "
                              "axis -1 of input shape to have value 5 but received input "
                              "with shape (?, 7)")
    assert "test_layers_core.py:" in message


def test_rank_errors():
    with pytest.raises(ValueError, match="layer dense is incompatible with the layer: "
                                         "expected min_ndim=2, found ndim=1"):
        layers.dense(tf.placeholder(tf.float32, [5]), 3)
    with pytest.raises(ValueError, match="last dimension of the inputs to Dense must be "
                                         "known"):
        layers.dense(tf.placeholder(tf.float32, [None, None]), 3)
    with pytest.raises(ValueError, match="layer 'dense_2': units must be a positive integer, "
                                         "got 0"):
        layers.Dense(0)
    with pytest.raises(TypeError, match="not understood: \\['bogus'\\]"):
        layers.Dense(3, bogus=1)


def test_regularizers_go_to_losses_and_the_collection():
    x = tf.placeholder(tf.float32, [None, 4])
    layer = layers.Dense(2, kernel_regularizer=lambda w: 0.5 * tf.reduce_sum(tf.square(w)),
                         activity_regularizer=lambda y: tf.reduce_sum(tf.abs(y)))
    y = layer(x)
    layer(x)  # a second call adds the activity penalty again, not the weight penalty
    assert len(layer.losses) == 3
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES) == layer.losses
    assert layer.losses[0].name.startswith("dense/kernel/Regularizer/")
    xv = u(4, 4)
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        kernel, out, penalties = sess.run([layer.kernel, y, layer.losses], {x: xv})
    assert_close(penalties[0], 0.5 * np.sum(kernel ** 2), rtol=1e-5)
    assert_close(penalties[1], np.abs(out).sum() / 4, rtol=1e-5)
    total = run(tf.losses.get_regularization_loss(), {x: xv})
    assert total > 0


def test_non_trainable_layer_and_weights_lists():
    x = tf.placeholder(tf.float32, [None, 4])
    frozen = layers.Dense(2, trainable=False)
    frozen(x)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    assert tf.trainable_variables() == []
    live = layers.Dense(2)
    live(x)
    assert live.trainable_variables == [live.kernel, live.bias] == live.weights
    assert live.non_trainable_variables == []


def test_get_config():
    config = layers.Dense(3, activation=tf.nn.relu, name="fc").get_config()
    assert config["name"] == "fc" and config["units"] == 3
    assert config["activation"] == "relu" and config["use_bias"] is True
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {"dtype":
                                                                             "float32"}}
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(3).count_params()


def test_float64_inputs_make_a_float64_layer():
    y = layers.dense(tf.placeholder(tf.float64, [None, 3]), 2)
    assert y.dtype == tf.float64 and tf.global_variables()[0].dtype == tf.float64


def test_a_custom_layer_subclass():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", [input_shape[-1]],
                                     initializer=tf.constant_initializer(2.0))
            super().build(input_shape)

        def call(self, inputs):
            return inputs * self.w

    layer = Scale()
    x = tf.placeholder(tf.float32, [None, 3])
    y = layer(x)
    assert layer.name == "scale" and layer.w.name == "scale/w:0"
    assert_close(run(y, {x: np.ones((2, 3), np.float32)}), np.full((2, 3), 2.0, np.float32))


# --- Dropout --------------------------------------------------------------------------------
def test_dropout_not_training_is_the_identity(target):
    x = tf.placeholder(tf.float32, [None, 6])
    xv = u(3, 6)
    assert_close(run(layers.dropout(x, 0.5), {x: xv}, target), xv)
    assert_close(run(layers.Dropout(0.5)(x, training=False), {x: xv}, target), xv)


def test_dropout_training_keeps_and_scales(target):
    x = tf.ones([200, 100])
    y = layers.dropout(x, rate=0.25, seed=3, training=True)
    out = run(y, target=target)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    assert_close(out[kept], np.full(kept.sum(), 1 / 0.75, np.float32))


def test_dropout_training_tensor_and_noise_shape(target):
    x = tf.placeholder(tf.float32, [None, 4, 50])
    training = tf.placeholder_with_default(False, [])
    y = layers.dropout(x, rate=0.5, noise_shape=[None, 1, 50], seed=1, training=training)
    xv = np.ones((3, 4, 50), np.float32)
    with tf.Session(target=target) as sess:
        assert_close(sess.run(y, {x: xv}), xv)
        out = sess.run(y, {x: xv, training: True})
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert np.all(out == out[:, :1, :])  # one draw shared along the noise shape's 1 axis
    assert 0.3 < (out != 0).mean() < 0.7


def test_dropout_gradient_uses_the_forward_mask(target):
    x = tf.placeholder(tf.float32, [4, 30])
    training = tf.placeholder(tf.bool, [])
    y = layers.dropout(x, rate=0.5, seed=5, training=training)
    g = tf.gradients(tf.reduce_sum(y * y), x)[0]
    xv = np.ones((4, 30), np.float32)
    with tf.Session(target=target) as sess:
        out, grad = sess.run([y, g], {x: xv, training: True})
    assert_close(grad, 2 * out * np.where(out != 0, 2.0, 0.0).astype(np.float32))


def test_dropout_rate_must_be_in_range():
    with pytest.raises(ValueError, match="rate must be a number in \\[0, 1\\), got 1.0"):
        layers.Dropout(1.0)
    with pytest.raises(TypeError, match="training must be a Python bool or a bool tensor"):
        layers.dropout(tf.ones([2]), training="yes")


# --- Flatten --------------------------------------------------------------------------------
def test_flatten(target):
    x = tf.placeholder(tf.float32, [None, 2, 3, 4])
    y = layers.flatten(x)
    assert y.shape.as_list() == [None, 24]
    y_first = layers.flatten(x, data_format="channels_first")
    z = layers.Flatten()(tf.placeholder(tf.float32, [None, None, 2]))
    assert z.shape.as_list() == [None, None]
    xv = u(2, 2, 3, 4)
    a, b = run([y, y_first], {x: xv}, target)
    assert_close(a, xv.reshape(2, 24))
    assert_close(b, xv.transpose(0, 2, 3, 1).reshape(2, 24))
    assert layers.Flatten().compute_output_shape([None, 2, 3]).as_list() == [None, 6]


def test_dtypes_follow_the_first_input():
    with pytest.raises(TypeError, match="layer 'dense': Dense needs a floating-point dtype, "
                                        "got int32"):
        layers.dense(tf.placeholder(tf.int32, [None, 3]), 2)
    layer = layers.Dense(2)
    layer(tf.placeholder(tf.float32, [None, 3]))
    assert layer(tf.placeholder(tf.float64, [None, 3])).dtype == tf.float32
    assert layer(tf.placeholder(tf.int32, [None, 3])).dtype == tf.float32
    assert layers.flatten(tf.placeholder(tf.int32, [None, 2, 2])).dtype == tf.int32
