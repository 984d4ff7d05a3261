"""tf.nn.dropout, batch_normalization, fused_batch_norm and lrn (graphc/ops/nn_norm.py)
against numpy formulas, on every target; dropout's statistics, scaling, noise_shape,
seeds and gradient; errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.test import gradcheck

_RNG = np.random.default_rng(11)


def test_dropout_keeps_a_fraction_and_scales(target):
    xv = _RNG.uniform(0.5, 1.5, (200, 50)).astype(np.float32)  # no zeros in x
    x = tf.placeholder(tf.float32, [None, 50])
    y = tf.nn.dropout(x, rate=0.3, seed=5)
    (dx,) = tf.gradients(tf.reduce_sum(y), [x])
    got, grad = run([y, dx], {x: xv}, target)
    kept = got != 0
    frac = kept.mean()  # 10,000 draws: 3 sigma of a Bernoulli(0.7) mean is 0.014
    assert abs(frac - 0.7) < 0.014 * 1.5, frac
    assert_close(got[kept], xv[kept] / np.float32(0.7), rtol=1e-6)
    assert_close(grad, kept / np.float32(0.7), rtol=1e-6)


def test_dropout_noise_shape_drops_whole_rows():
    x = tf.ones([300, 4])
    y = run(tf.nn.dropout(x, keep_prob=0.5, noise_shape=[300, 1], seed=1))
    rows = y != 0
    assert (rows.all(axis=1) | ~rows.any(axis=1)).all()  # each row all kept or all dropped
    assert 0.35 < rows[:, 0].mean() < 0.65


def test_dropout_seeds_repeat_and_draws_differ():
    tf.set_random_seed(3)
    y = tf.nn.dropout(tf.ones([1000]), rate=0.5)
    with tf.Session() as sess:
        first, second = sess.run(y), sess.run(y)
    with tf.Session() as sess:
        again = sess.run(y)
    assert not np.array_equal(first, second)  # a fresh draw each run
    assert np.array_equal(first, again)  # the same sequence in a new session


def test_dropout_identity_and_errors():
    x = tf.constant([1.0, 2.0])
    assert_close(run(tf.nn.dropout(x, rate=0.0)), [1.0, 2.0])
    with pytest.raises(ValueError, match="give exactly one of keep_prob and rate"):
        tf.nn.dropout(x, keep_prob=0.5, rate=0.5)
    with pytest.raises(ValueError, match=r"keep_prob must be in \(0, 1\] \(rate in \[0, 1\)\), "
                                         r"got keep_prob 0.0"):
        tf.nn.dropout(x, rate=1.0)
    with pytest.raises(TypeError, match="dropout expects a floating-point tensor, got int32"):
        tf.nn.dropout(tf.constant([1, 2]), rate=0.5)


def test_batch_normalization(target):
    xv, mv, vv = _RNG.normal(size=(4, 3)), _RNG.normal(size=3), _RNG.uniform(0.5, 2, 3)
    ov, sv = _RNG.normal(size=3), _RNG.normal(size=3)
    y = tf.nn.batch_normalization(tf.constant(xv), tf.constant(mv), tf.constant(vv),
                                  tf.constant(ov), tf.constant(sv), 1e-3)
    want = (xv - mv) / np.sqrt(vv + 1e-3) * sv + ov
    assert_close(run(y, target=target), want, rtol=1e-10)
    bare = tf.nn.batch_normalization(tf.constant(xv), tf.constant(mv), tf.constant(vv), None,
                                     None, 1e-3)
    assert_close(run(bare, target=target), (xv - mv) / np.sqrt(vv + 1e-3), rtol=1e-10)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_fused_batch_norm_training_and_inference(layout, target):
    xv = _RNG.normal(2.0, 3.0, (2, 3, 4, 5))  # NHWC
    scale, offset = _RNG.uniform(0.5, 1.5, 5), _RNG.normal(size=5)
    feed = xv if layout == "NHWC" else np.moveaxis(xv, -1, 1)
    x = tf.placeholder(tf.float64, feed.shape)
    y, mean, var = tf.nn.fused_batch_norm(x, tf.constant(scale), tf.constant(offset),
                                          epsilon=1e-3, data_format=layout)
    got_y, got_mean, got_var = run([y, mean, var], {x: feed}, target)
    mu, sigma2 = xv.mean((0, 1, 2)), xv.var((0, 1, 2))
    want = (xv - mu) / np.sqrt(sigma2 + 1e-3) * scale + offset
    assert_close(got_y if layout == "NHWC" else np.moveaxis(got_y, 1, -1), want, rtol=1e-9)
    assert_close(got_mean, mu, rtol=1e-10)
    assert_close(got_var, sigma2 * 24 / 23, rtol=1e-10)  # Bessel's correction, n = 24
    y2, m2, v2 = tf.nn.fused_batch_norm(x, tf.constant(scale), tf.constant(offset),
                                        tf.constant(mu), tf.constant(sigma2), epsilon=1e-3,
                                        data_format=layout, is_training=False)
    got = run(y2, {x: feed}, target)
    assert_close(got if layout == "NHWC" else np.moveaxis(got, 1, -1), want, rtol=1e-9)


def test_fused_batch_norm_gradients(target):
    scale, offset = _RNG.uniform(0.5, 1.5, 3), _RNG.normal(size=3)

    def f(x):
        y, _, _ = tf.nn.fused_batch_norm(x, tf.constant(scale), tf.constant(offset))
        return y * y
    gradcheck(f, [_RNG.normal(size=(2, 2, 3, 3))], atol=1e-6, rtol=1e-5, target=target)


def test_lrn(target):
    xv = _RNG.normal(size=(2, 3, 2, 7))
    y = tf.nn.lrn(tf.constant(xv), depth_radius=2, bias=1.5, alpha=0.3, beta=0.75)
    want = np.empty_like(xv)
    for d in range(7):
        window = xv[..., max(0, d - 2):d + 3]
        want[..., d] = xv[..., d] / (1.5 + 0.3 * (window ** 2).sum(-1)) ** 0.75
    assert_close(run(y, target=target), want, rtol=1e-10)
    gradcheck(lambda x: tf.nn.local_response_normalization(x, 1, 1.0, 0.5, 0.5),
              [xv[:1, :2, :1]], atol=1e-6, rtol=1e-5)
