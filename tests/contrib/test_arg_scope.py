"""tf.contrib.framework (graphc/contrib/framework.py): arg_scope's nesting, merging and
override order, its errors, the variable helpers, and a slim-style CNN built under
arg_scope that trains."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.contrib.framework import add_arg_scope, arg_scope

layers = tf.contrib.layers
framework = tf.contrib.framework


@add_arg_scope
def op(x, a=1, b=2, c=3):
    return (x, a, b, c)


@add_arg_scope
def other(x, a=10, d=4, **rest):
    return (x, a, d, rest)


def test_nesting_merging_and_override_order():
    assert op(0) == (0, 1, 2, 3)
    with arg_scope([op, other], a=5):
        assert op(0) == (0, 5, 2, 3) and other(0) == (0, 5, 4, {})
        with arg_scope([op], b=6, a=7):
            assert op(0) == (0, 7, 6, 3)
            assert op(0, a=8) == (0, 8, 6, 3)  # the caller's argument wins
            assert other(0) == (0, 5, 4, {})   # untouched by the inner scope
            with arg_scope([op], c=9):
                assert op(0) == (0, 7, 6, 9)   # merged with both outer scopes
        assert op(0) == (0, 5, 2, 3)           # leaving restores
    assert op(0) == (0, 1, 2, 3)


def test_reentering_a_captured_scope():
    with arg_scope([op], a=5, b=6) as saved:
        pass
    assert framework.current_arg_scope() == {}
    with arg_scope(saved):
        assert op(0) == (0, 5, 6, 3)
        assert framework.current_arg_scope() == saved
    with pytest.raises(ValueError, match="no keyword arguments may be passed"):
        with arg_scope(saved, a=1):
            pass


def test_errors_name_the_op_the_argument_and_the_line():
    with pytest.raises(ValueError, match=r"test_arg_scope\.op does not accept the argument\(s\) "
                                         r"'d'; its scoped arguments are \['a', 'b', 'c'\] "
                                         r"\(at test_arg_scope\.py:\d+\)"):
        with arg_scope([other, op], d=1):
            pass
    with arg_scope([other], anything=1):  # **kwargs accepts everything
        assert other(0)[3] == {"anything": 1}
    with pytest.raises(ValueError, match="fully_connected does not accept the argument"
                                         r"\(s\) 'padding'"):
        with arg_scope([layers.conv2d, layers.fully_connected], padding="VALID"):
            pass

    def plain(x, a=1):
        return x
    with pytest.raises(ValueError, match="plain is not decorated with @add_arg_scope"):
        with arg_scope([plain], a=1):
            pass
    with pytest.raises(TypeError, match="must be a list or tuple of ops"):
        with arg_scope(op, a=1):
            pass
    assert framework.current_arg_scope() == {}


def test_introspection():
    assert framework.has_arg_scope(layers.fully_connected)
    assert framework.has_arg_scope(layers.batch_norm) and not framework.has_arg_scope(print)
    args = framework.arg_scoped_arguments(layers.conv2d)
    assert args[:3] == ("stride", "padding", "data_format") and "conv_dims" not in args
    assert "activation_fn" in framework.arg_scoped_arguments(layers.fully_connected)
    assert framework.arg_scoped_arguments(op) == ("a", "b", "c")
    assert layers.conv2d.__name__ == "convolution2d"


def test_contrib_layers_take_scope_defaults():
    x = tf.placeholder(tf.float32, [None, 4])
    with arg_scope([layers.fully_connected], activation_fn=None,
                   weights_regularizer=layers.l2_regularizer(0.1)):
        y = layers.fully_connected(x, 3)
        z = layers.fully_connected(x, 3, activation_fn=tf.nn.relu)
    assert y.name == "fully_connected/BiasAdd:0" and z.name == "fully_connected_1/Relu:0"
    assert len(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)) == 2


def test_variable_helpers():
    with tf.variable_scope("net"):
        w = framework.model_variable("w", shape=[2], initializer=tf.zeros_initializer(),
                                     collections=["extra"])
        v = framework.variable("v", shape=[3], trainable=False)
        layers.fully_connected(tf.placeholder(tf.float32, [None, 2]), 2)
    step = framework.get_or_create_global_step()
    assert framework.get_or_create_global_step() is step and step.name == "global_step:0"
    assert framework.get_global_step() is step
    assert [u.name for u in framework.get_model_variables()] == [
        "net/w:0", "net/fully_connected/weights:0", "net/fully_connected/biases:0"]
    assert framework.get_variables("net/fully") == framework.get_model_variables()[1:]
    assert framework.get_variables(suffix="biases") == [framework.get_model_variables()[2]]
    assert framework.get_variables_by_name("v") == [v]
    assert tf.get_collection("extra") == [w] and v not in tf.trainable_variables()
    assert framework.get_variables_to_restore(exclude=["net/fully"]) == [w, v, step]


def test_slim_style_cnn_trains(target):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(16, 8, 8, 1)).astype(np.float32)
    labels = (images[:, :4].mean(axis=(1, 2, 3)) > images[:, 4:].mean(axis=(1, 2, 3))
              ).astype(np.int32)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int32, [None])
    with arg_scope([layers.conv2d, layers.fully_connected],
                   weights_initializer=layers.xavier_initializer(seed=1),
                   weights_regularizer=layers.l2_regularizer(1e-4)):
        with arg_scope([layers.conv2d], padding="SAME", stride=1):
            net = layers.conv2d(x, 4, [3, 3], scope="conv1")
            net = layers.max_pool2d(net, [2, 2], scope="pool1")
            net = layers.flatten(net)
            net = layers.fully_connected(net, 16, scope="fc1")
            logits = layers.fully_connected(net, 2, activation_fn=None, scope="logits")
    assert [v.name for v in framework.get_model_variables()] == [
        "conv1/weights:0", "conv1/biases:0", "fc1/weights:0", "fc1/biases:0",
        "logits/weights:0", "logits/biases:0"]
    loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits) + \
        tf.losses.get_regularization_loss()
    train = tf.train.GradientDescentOptimizer(0.3).minimize(loss)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        feed = {x: images, y: labels}
        first = sess.run(loss, feed)
        for _ in range(15):
            sess.run(train, feed)
        last = sess.run(loss, feed)
    assert last < 0.8 * first, (first, last)
