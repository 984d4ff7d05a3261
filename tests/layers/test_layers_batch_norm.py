"""tf.layers.batch_normalization (graphc/layers/normalization.py): TF1's variables and
collections, training and inference values against numpy, the moving averages after
running UPDATE_OPS (Bessel-corrected variance on the fused rank-4 path, as TF), `training`
as a bool tensor, gradients on every target, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from layer_checks import check_gradients

import graphc as tf
from graphc import layers

_RNG = np.random.default_rng(5)
EPS = 1e-3


def normalize(x, axes, gamma=1.0, beta=0.0):
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def test_variables_and_collections():
    x = tf.placeholder(tf.float32, [None, 4, 4, 3])
    layers.batch_normalization(x, training=True)
    assert [(v.name, v.shape.as_list()) for v in tf.global_variables()] == [
        ("batch_normalization/gamma:0", [3]), ("batch_normalization/beta:0", [3]),
        ("batch_normalization/moving_mean:0", [3]),
        ("batch_normalization/moving_variance:0", [3])]
    assert [v.name for v in tf.trainable_variables()] == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0"]
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert [u.name for u in updates] == ["batch_normalization/AssignMovingAvg:0",
                                         "batch_normalization/AssignMovingAvg_1:0"]
    layers.batch_normalization(x, name="bn_infer")  # training=False: no updates
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        gamma, beta, mean, var = sess.run(tf.global_variables()[:4])
    assert_close(gamma, np.ones(3, np.float32))
    assert_close(beta, np.zeros(3, np.float32))
    assert_close(mean, np.zeros(3, np.float32))
    assert_close(var, np.ones(3, np.float32))


# (input shape, axis, normalized-over axes, fused path?)
CASES = [((6, 3, 2, 4), -1, (0, 1, 2), True), ((6, 4, 3, 2), 1, (0, 2, 3), True),
         ((8, 5), -1, (0,), False), ((5, 3, 4), 1, (0, 2), False),
         ((4, 3, 2), [1, 2], (0,), False)]


@pytest.mark.parametrize("shape,axis,reduced,fused", CASES)
def test_training_values_and_moving_averages(shape, axis, reduced, fused, target):
    xv = _RNG.normal(2.0, 3.0, shape)
    x = tf.placeholder(tf.float64, shape)
    layer = layers.BatchNormalization(axis=axis, momentum=0.9)
    y = layer(x, training=True)
    assert layer.fused is fused
    params = [d if i not in reduced else 1 for i, d in enumerate(shape)]
    gamma, beta = _RNG.uniform(0.5, 2, params), _RNG.uniform(-1, 1, params)
    squeeze = (lambda a: a.reshape(-1)) if isinstance(axis, int) else (lambda a: a)
    n = np.prod([shape[i] for i in reduced])
    batch_var = xv.var(axis=reduced, keepdims=True)
    tracked = batch_var * n / (n - 1) if fused else batch_var
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        layer.gamma.load(squeeze(gamma), sess)
        layer.beta.load(squeeze(beta), sess)
        assert_close(sess.run(y, {x: xv}), normalize(xv, reduced, gamma, beta), rtol=1e-9,
                     atol=1e-9)
        for _ in range(2):
            sess.run(layer.updates, {x: xv})
        mean, var = sess.run([layer.moving_mean, layer.moving_variance])
    # moving -= (moving - batch) * (1 - momentum), twice, from 0 and 1
    want_mean = squeeze(xv.mean(axis=reduced, keepdims=True)) * (1 - 0.9 ** 2)
    want_var = 0.9 ** 2 + squeeze(tracked) * (1 - 0.9 ** 2)
    assert_close(mean, want_mean, rtol=1e-9)
    assert_close(var, want_var, rtol=1e-9)


def test_inference_uses_the_moving_statistics(target):
    x = tf.placeholder(tf.float32, [None, 2, 2, 3])
    layer = layers.BatchNormalization()
    y = layer(x)  # training=False, as tf.layers defaults
    xv = _RNG.normal(size=(2, 2, 2, 3)).astype(np.float32)
    mean, var = np.array([0.5, -1, 2], np.float32), np.array([1, 4, 0.25], np.float32)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        layer.moving_mean.load(mean, sess)
        layer.moving_variance.load(var, sess)
        out = sess.run(y, {x: xv})
    assert layer.updates == []
    assert_close(out, (xv - mean) / np.sqrt(var + EPS), rtol=1e-5)


@pytest.mark.parametrize("shape", [(4, 2, 2, 3), (6, 3)], ids=["fused", "general"])
def test_training_placeholder_switches_statistics_and_updates(shape, target):
    training = tf.placeholder_with_default(False, [])
    x = tf.placeholder(tf.float32, shape)
    y = layers.batch_normalization(x, training=training, momentum=0.5)
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    xv = _RNG.normal(1.0, 2.0, shape).astype(np.float32)
    moving_mean = tf.global_variables()[2]
    axes = tuple(range(len(shape) - 1))
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        assert_close(sess.run(y, {x: xv}), xv / np.sqrt(1 + EPS), rtol=1e-5)
        sess.run(updates, {x: xv})  # not training: the update changes nothing
        assert_close(sess.run(moving_mean), np.zeros(shape[-1], np.float32))
        assert_close(sess.run(y, {x: xv, training: True}), normalize(xv, axes), rtol=1e-4,
                     atol=1e-5)
        sess.run(updates, {x: xv, training: True})
        assert_close(sess.run(moving_mean), 0.5 * xv.mean(axis=axes), rtol=1e-5)


def test_update_ops_pattern_in_a_train_step(target):
    x = tf.placeholder(tf.float32, [8, 3])
    h = layers.batch_normalization(x, training=True)
    loss = tf.reduce_mean(tf.square(layers.dense(h, 1) - 1.0))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    xv = _RNG.normal(3.0, 1.0, (8, 3)).astype(np.float32)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train_op, {x: xv})
        mean = sess.run(tf.global_variables()[2])
    assert_close(mean, xv.mean(axis=0) * (1 - 0.99 ** 3), rtol=1e-4)


@pytest.mark.parametrize("shape", [(3, 2, 1, 2), (4, 3)], ids=["fused", "general"])
def test_gradients(shape, target):
    check_gradients(lambda x: layers.batch_normalization(x, training=True),
                    _RNG.normal(size=shape), target, tol=1e-5)


def test_center_scale_off_and_sharing(target):
    x = tf.placeholder(tf.float32, [None, 2, 2, 3])
    y = layers.batch_normalization(x, center=False, scale=False, training=True, name="bn")
    layers.batch_normalization(x, center=False, scale=False, name="bn", reuse=True)
    assert [v.name for v in tf.global_variables()] == ["bn/moving_mean:0",
                                                       "bn/moving_variance:0"]
    xv = _RNG.normal(size=(3, 2, 2, 3)).astype(np.float32)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        assert_close(sess.run(y, {x: xv}), normalize(xv, (0, 1, 2)), rtol=1e-4, atol=1e-5)


def test_refusals_and_errors():
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(NotImplementedError, match="layer 'batch_normalization': batch "
                                                  "normalization's renorm is not supported"):
        layers.batch_normalization(x, renorm=True)
    with pytest.raises(ValueError, match="invalid axis 2 for an input of rank 2"):
        layers.batch_normalization(x, axis=2)
    with pytest.raises(ValueError, match="normalized axis \\[1\\] of the input must be known"):
        layers.batch_normalization(tf.placeholder(tf.float32, [None, None]))
    layer = layers.BatchNormalization()
    layer(x)
    with pytest.raises(ValueError, match="expected axis 1 of input shape to have value 3"):
        layer(tf.placeholder(tf.float32, [None, 4]))
