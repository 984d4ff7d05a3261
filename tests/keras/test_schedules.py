"""tf.keras.optimizers.schedules against numpy closed forms at several steps (fed as an int64
tensor, as the optimizer's iterations are, and as a Python int), their configs and
serialization, and their argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf
from graphc import keras

S = keras.optimizers.schedules
STEPS_AT = [0, 1, 2, 5, 9, 10, 11, 24, 50]


def _values(schedule):
    """The schedule at each of STEPS_AT, through one int64 placeholder."""
    step = tf.placeholder(tf.int64, [])
    rate = schedule(step)
    with tf.Session() as sess:
        return np.array([sess.run(rate, {step: s}) for s in STEPS_AT])


def _close(got, want, rtol=1e-6):
    assert got.dtype == np.float32
    assert_close(got, np.array(want, np.float32), rtol=rtol, atol=1e-8)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    got = _values(S.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=staircase))
    _close(got, [0.1 * 0.5 ** (s // 4 if staircase else s / 4) for s in STEPS_AT])


def test_piecewise_constant_decay():
    got = _values(S.PiecewiseConstantDecay([2, 10], [1.0, 0.5, 0.1]))
    _close(got, [1.0 if s <= 2 else 0.5 if s <= 10 else 0.1 for s in STEPS_AT])


@pytest.mark.parametrize("power,cycle", [(1.0, False), (0.5, False), (2.0, True)])
def test_polynomial_decay(power, cycle):
    got = _values(S.PolynomialDecay(0.2, decay_steps=10, end_learning_rate=0.02, power=power,
                                    cycle=cycle))
    want = []
    for s in STEPS_AT:
        steps = 10 * (1 if s == 0 else math.ceil(s / 10)) if cycle else 10
        want.append((0.2 - 0.02) * (1 - (s if cycle else min(s, 10)) / steps) ** power + 0.02)
    _close(got, want)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    got = _values(S.InverseTimeDecay(0.5, decay_steps=5, decay_rate=2.0, staircase=staircase))
    _close(got, [0.5 / (1 + 2.0 * (s // 5 if staircase else s / 5)) for s in STEPS_AT])


@pytest.mark.parametrize("alpha", [0.0, 0.25])
def test_cosine_decay(alpha):
    got = _values(S.CosineDecay(0.3, decay_steps=10, alpha=alpha))
    want = [0.3 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, 10) / 10)) + alpha)
            for s in STEPS_AT]
    _close(got, want, rtol=1e-5)


def _sgdr(step, first, t_mul, m_mul, alpha):
    """Walk the restart periods (TF computes period and fraction in closed form)."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    fraction = (step - start) / length
    return (1 - alpha) * 0.5 * m_mul ** i * (1 + math.cos(math.pi * fraction)) + alpha


@pytest.mark.parametrize("t_mul,m_mul,alpha", [(2.0, 1.0, 0.0), (1.0, 0.5, 0.0),
                                               (3.0, 0.7, 0.1)])
def test_cosine_decay_restarts(t_mul, m_mul, alpha):
    got = _values(S.CosineDecayRestarts(0.4, first_decay_steps=3, t_mul=t_mul, m_mul=m_mul,
                                        alpha=alpha))
    _close(got, [0.4 * _sgdr(s, 3, t_mul, m_mul, alpha) for s in STEPS_AT], rtol=1e-5)


def test_linear_cosine_decay():
    got = _values(S.LinearCosineDecay(0.1, decay_steps=10, num_periods=1.0, alpha=0.2,
                                      beta=0.05))
    want = []
    for s in STEPS_AT:
        s = min(s, 10)
        cosine = 0.5 * (1 + math.cos(math.pi * 2 * 1.0 * s / 10))
        want.append(0.1 * ((0.2 + (10 - s) / 10) * cosine + 0.05))
    _close(got, want, rtol=1e-5)


def test_a_python_step_and_the_tf_train_function_agree():
    schedule = S.ExponentialDecay(0.1, 3, 0.9)
    step = tf.constant(7, tf.int64)
    with tf.Session() as sess:
        ours, theirs = sess.run([schedule(7), tf.train.exponential_decay(0.1, step, 3, 0.9)])
    assert ours == theirs


SCHEDULES = [
    S.ExponentialDecay(0.1, 4, 0.5, staircase=True, name="e"),
    S.PiecewiseConstantDecay([2, 10], [1.0, 0.5, 0.1]),
    S.PolynomialDecay(0.2, 10, 0.02, power=2.0, cycle=True),
    S.InverseTimeDecay(0.5, 5, 2.0),
    S.CosineDecay(0.3, 10, alpha=0.1),
    S.CosineDecayRestarts(0.4, 3, t_mul=1.5, m_mul=0.9, alpha=0.01),
    S.LinearCosineDecay(0.1, 10),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    again = type(schedule).from_config(config)
    assert again.get_config() == config
    restored = S.deserialize(S.serialize(schedule))
    assert type(restored) is type(schedule) and restored.get_config() == config
    tf.reset_default_graph()
    assert_close(_values(restored), _values(schedule))


def test_custom_schedule_and_deserialize_errors():
    class Halving(S.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate * tf.pow(0.5, tf.cast(step, tf.float32))

        def get_config(self):
            return {"rate": self.rate}

    config = S.serialize(Halving(0.8))
    assert config == {"class_name": "Halving", "config": {"rate": 0.8}}
    _close(_values(S.deserialize(config, custom_objects={"Halving": Halving})),
           [0.8 * 0.5 ** s for s in STEPS_AT])
    with pytest.raises(ValueError, match=r"Unknown learning rate schedule: 'Halving'"):
        S.deserialize(config)
    with pytest.raises(ValueError, match="deserialize takes a dict"):
        S.deserialize("ExponentialDecay")
    with pytest.raises(TypeError, match="serialize takes a LearningRateSchedule"):
        S.serialize(0.1)


@pytest.mark.parametrize("make,message", [
    (lambda: S.PiecewiseConstantDecay([1, 2], [0.1, 0.2]),
     "the length of boundaries should be 1 less than the length of values, got 2 boundaries "
     "and 2 values"),
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), "ExponentialDecay: `decay_steps` must be "
                                              "positive, got 0"),
    (lambda: S.CosineDecayRestarts(0.1, -3), "`first_decay_steps` must be positive"),
])
def test_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedule_base_class_needs_call_and_config():
    with pytest.raises(NotImplementedError, match="must define __call__"):
        S.LearningRateSchedule()(1)
