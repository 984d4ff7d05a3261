"""Tests of the initializers (graphc/ops/init_ops.py, graphc/initializers.py): shapes and
dtypes, bounds of the uniform draws, standard deviations of the normal, variance-scaling,
Glorot, He and LeCun draws on a 200x200 sample (within a few percent: the standard error of
a std estimate from 40000 draws is about 0.4%), TF1's fan computation, orthogonality and
gain of the orthogonal initializer, and seeded determinism.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.ops.init_ops import compute_fans

N = 200
TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def draw(init, shape=(N, N), dtype=None):
    """One value of the initializer's tensor."""
    return run(init(list(shape)) if dtype is None else init(list(shape), dtype=dtype))


# --- constants ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64, tf.int32])
def test_zeros_and_ones(dtype):
    z = run(tf.zeros_initializer()([2, 3], dtype=dtype))
    o = run(tf.ones_initializer(dtype=dtype)([4]))
    assert z.dtype == dtype.np and z.shape == (2, 3) and not z.any()
    assert o.dtype == dtype.np and o.shape == (4,) and (o == 1).all()


def test_constant_initializer():
    assert_close(run(tf.constant_initializer(0.5)([2, 2])), np.full((2, 2), 0.5, np.float32))
    value = np.arange(6.0).reshape(2, 3)
    got = run(tf.constant_initializer(value, dtype=tf.float64)([2, 3]))
    assert_close(got, value)
    assert_close(run(tf.initializers.constant([1, 2, 3, 4])([2, 2], dtype=tf.int64)),
                 np.array([[1, 2], [3, 4]], np.int64))


def test_default_dtype_is_float32():
    for init in (tf.zeros_initializer(), tf.random_uniform_initializer(),
                 tf.random_normal_initializer(), tf.truncated_normal_initializer(),
                 tf.glorot_uniform_initializer(), tf.variance_scaling_initializer(),
                 tf.orthogonal_initializer()):
        value = run(init([3, 2]))
        assert value.dtype == np.float32 and value.shape == (3, 2), init


# --- plain random draws ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_random_uniform_bounds(dtype):
    x = draw(tf.random_uniform_initializer(-0.3, 0.7, seed=1), dtype=dtype)
    assert x.dtype == dtype.np and x.shape == (N, N)
    assert x.min() >= -0.3 and x.max() < 0.7
    assert abs(x.mean() - 0.2) < 0.01
    assert abs(x.std() - 1.0 / math.sqrt(12)) < 0.01


def test_random_uniform_default_range():
    x = draw(tf.random_uniform_initializer(seed=2))
    assert x.min() >= -0.05 and x.max() < 0.05
    assert x.min() < -0.049 and x.max() > 0.049


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_random_normal_statistics(dtype):
    x = draw(tf.random_normal_initializer(mean=1.0, stddev=0.5, seed=3), dtype=dtype)
    assert x.dtype == dtype.np
    assert abs(x.mean() - 1.0) < 0.01
    assert abs(x.std() / 0.5 - 1) < 0.03
    assert x.max() > 1.0 + 3 * 0.5  # untruncated: some draws beyond 3 sigma


def test_truncated_normal_statistics():
    x = draw(tf.truncated_normal_initializer(mean=-0.5, stddev=0.2, seed=4))
    assert x.min() >= -0.5 - 2 * 0.2 - 1e-6 and x.max() <= -0.5 + 2 * 0.2 + 1e-6
    assert abs(x.mean() + 0.5) < 0.005
    assert abs(x.std() / (0.2 * TRUNCATED_STD) - 1) < 0.03


# --- variance scaling -----------------------------------------------------------------------
def test_compute_fans():
    assert compute_fans([]) == (1, 1)
    assert compute_fans([7]) == (7, 7)
    assert compute_fans([3, 5]) == (3, 5)
    assert compute_fans([3, 3, 4, 8]) == (3 * 3 * 4, 3 * 3 * 8)  # conv kernel (h, w, in, out)
    assert compute_fans([2, 4, 6]) == (8, 12)


VS_SHAPES = [(N, N), (100, 400), (5, 5, 8, 16)]


@pytest.mark.parametrize("shape", VS_SHAPES, ids=str)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal",
                                          "uniform", "normal"])
def test_variance_scaling(shape, mode, distribution):
    scale = 2.0
    init = tf.variance_scaling_initializer(scale=scale, mode=mode, distribution=distribution,
                                           seed=5)
    x = draw(init, shape)
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    assert x.shape == shape and x.dtype == np.float32
    assert abs(x.mean()) < 0.02 * std + 3 * std / math.sqrt(x.size)
    assert abs(x.std() / std - 1) < max(0.03, 5 / math.sqrt(2 * x.size))  # 5 standard errors
    if distribution == "uniform":
        limit = math.sqrt(3 * scale / n)
        assert x.min() >= -limit and x.max() <= limit
        assert x.max() > 0.99 * limit
    elif distribution in ("truncated_normal", "normal"):
        bound = 2 * std / TRUNCATED_STD
        assert np.abs(x).max() <= bound * (1 + 1e-6)
    else:
        assert np.abs(x).max() > 2 * std / TRUNCATED_STD  # not truncated


def test_variance_scaling_small_fan_uses_at_least_one():
    # TF1: variance = scale / max(1, n)
    x = draw(tf.variance_scaling_initializer(scale=0.25, distribution="uniform", seed=1),
             shape=())
    assert abs(float(x)) <= math.sqrt(3 * 0.25)


def test_variance_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        tf.variance_scaling_initializer(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        tf.variance_scaling_initializer(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        tf.variance_scaling_initializer(distribution="cauchy")


NAMED = {
    # name: (initializer, fan mode, scale, uniform?)
    "glorot_uniform": (tf.glorot_uniform_initializer, "fan_avg", 1.0, True),
    "glorot_normal": (tf.glorot_normal_initializer, "fan_avg", 1.0, False),
    "xavier_uniform": (tf.initializers.xavier_uniform, "fan_avg", 1.0, True),
    "xavier_normal": (tf.initializers.xavier_normal, "fan_avg", 1.0, False),
    "he_uniform": (tf.initializers.he_uniform, "fan_in", 2.0, True),
    "he_normal": (tf.initializers.he_normal, "fan_in", 2.0, False),
    "lecun_uniform": (tf.initializers.lecun_uniform, "fan_in", 1.0, True),
    "lecun_normal": (tf.initializers.lecun_normal, "fan_in", 1.0, False),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_variance_scaling(name):
    make, mode, scale, uniform = NAMED[name]
    shape = (100, 400)
    x = draw(make(seed=11), shape)
    n = {"fan_in": 100, "fan_avg": 250}[mode]
    std = math.sqrt(scale / n)
    assert abs(x.std() / std - 1) < 0.03
    if uniform:
        limit = math.sqrt(3 * scale / n)  # Glorot: sqrt(6 / (fan_in + fan_out))
        assert x.min() >= -limit and x.max() <= limit
    else:
        assert np.abs(x).max() <= 2 * std / TRUNCATED_STD * (1 + 1e-6)


def test_glorot_uniform_limit_closed_form():
    x = draw(tf.glorot_uniform_initializer(seed=12), (30, 50))
    limit = math.sqrt(6 / (30 + 50))
    assert x.min() >= -limit and x.max() <= limit and x.max() > 0.95 * limit


# --- orthogonal -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(N, N), (8, 5), (5, 8), (3, 4, 6)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    x = draw(tf.orthogonal_initializer(gain=gain, seed=6), shape, dtype=tf.float64)
    assert x.shape == shape and x.dtype == np.float64
    flat = x.reshape(-1, shape[-1])
    rows, cols = flat.shape
    if rows >= cols:  # orthonormal columns
        assert_close(flat.T @ flat, gain ** 2 * np.eye(cols), atol=1e-10)
    else:  # orthonormal rows
        assert_close(flat @ flat.T, gain ** 2 * np.eye(rows), atol=1e-10)


def test_orthogonal_float32_and_aliases():
    x = draw(tf.initializers.orthogonal(gain=2.0, seed=1), (6, 6))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.T @ x, 4 * np.eye(6), atol=1e-5)


def test_orthogonal_unseeded():
    x = draw(tf.orthogonal_initializer(), (4, 3), dtype=tf.float64)
    assert_close(x.T @ x, np.eye(3), atol=1e-10)


def test_orthogonal_is_not_biased_by_qr_signs():
    # Haar-distributed: the diagonal of Q has no preferred sign across draws
    diag = np.concatenate([np.diag(draw(tf.orthogonal_initializer(seed=s), (4, 4),
                                        dtype=tf.float64)) for s in range(40)])
    assert 0.25 < np.mean(diag > 0) < 0.75


def test_orthogonal_needs_rank_two():
    with pytest.raises(ValueError, match="rank >= 2"):
        tf.orthogonal_initializer()([5])


# --- seeding --------------------------------------------------------------------------------
SEEDED = {
    "uniform": lambda seed: tf.random_uniform_initializer(seed=seed),
    "normal": lambda seed: tf.random_normal_initializer(seed=seed),
    "truncated": lambda seed: tf.truncated_normal_initializer(seed=seed),
    "glorot": lambda seed: tf.glorot_uniform_initializer(seed=seed),
    "he_normal": lambda seed: tf.initializers.he_normal(seed=seed),
    "orthogonal": lambda seed: tf.orthogonal_initializer(seed=seed),
}


@pytest.mark.parametrize("name", list(SEEDED))
def test_op_seed_is_deterministic(name):
    first = draw(SEEDED[name](42), (5, 4))
    tf.reset_default_graph()
    again = draw(SEEDED[name](42), (5, 4))
    tf.reset_default_graph()
    other = draw(SEEDED[name](43), (5, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", list(SEEDED))
def test_graph_seed_is_deterministic(name):
    def build():
        tf.reset_default_graph()
        tf.set_random_seed(1234)
        return draw(SEEDED[name](None), (5, 4)), draw(SEEDED[name](None), (5, 4))

    a1, a2 = build()
    b1, b2 = build()
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # two ops of one graph get different op seeds


def test_seeded_variable_initializer_replays_in_a_new_session():
    v = tf.get_variable("v", [6, 5], initializer=tf.random_normal_initializer(seed=9))
    values = []
    for _ in range(2):
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            values.append(sess.run(v))
    np.testing.assert_array_equal(values[0], values[1])


def test_unseeded_draws_differ_between_sessions():
    v = tf.Variable(tf.random_normal_initializer()([6, 5]))
    values = []
    for _ in range(2):
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            values.append(sess.run(v))
    assert not np.array_equal(values[0], values[1])


def test_get_variable_default_initializer_is_glorot_uniform():
    v = tf.get_variable("w", [N, N])
    x = run(v)
    limit = math.sqrt(6 / (2 * N))
    assert x.min() >= -limit and x.max() <= limit
    assert abs(x.std() / math.sqrt(1 / N) - 1) < 0.03


def test_initializer_through_variable_scope_and_partition_info():
    with tf.variable_scope("s", initializer=tf.constant_initializer(3.0)):
        v = tf.get_variable("v", [2])
    assert_close(run(v), np.array([3.0, 3.0], np.float32))
    init = tf.initializers.random_uniform(0.0, 1.0, seed=1)
    x = run(init([3], dtype=tf.float64, partition_info=None))
    assert x.dtype == np.float64 and x.shape == (3,)
