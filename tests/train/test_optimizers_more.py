"""tf.train's Adadelta, Ftrl, ProximalGradientDescent and ProximalAdagrad step by step
against numpy transcriptions of TF's kernels (training_ops.cc), their slots and argument
errors; Adadelta against torch.optim.Adadelta (the same formula); and the TF1 decays
polynomial_decay, natural_exp_decay, inverse_time_decay, cosine_decay_restarts and
linear_cosine_decay against numpy closed forms at several steps.

The model is the quadratic of tests/train/test_optimizers.py: loss = sum(c/2 v^2 + k v), so
grad = c v + k changes from step to step as v moves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import B0, W0, C, K, assert_close
from conftest import quadratic_model as _model

import graphc as tf

STEPS = 4


def _train(opt, steps=STEPS):
    """The variables' values after each of `steps` minimize steps, and the optimizer's
    slots for w after the last."""
    w, b, loss = _model()
    train_op = opt.minimize(loss)
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(train_op)
            history.append(sess.run({"w": w, "b": b}))
        slots = {n: sess.run(opt.get_slot(w, n)) for n in opt.get_slot_names()}
    return history, slots


def _check(history, numpy_step, state_init, steps=STEPS):
    """Compare with the numpy rule numpy_step(var, grad, state); the final numpy states."""
    values = {"w": W0.copy(), "b": B0.copy()}
    states = {k: state_init(values[k]) for k in values}
    for t in range(steps):
        values = {k: numpy_step(v, C[k] * v + K[k], states[k]) for k, v in values.items()}
        for k, v in values.items():
            assert_close(history[t][k], v, rtol=1e-10, atol=1e-12)
    return states


# --- Adadelta -------------------------------------------------------------------------------
def _adadelta_step(lr, rho, eps):
    def step(v, g, s):  # ApplyAdadelta
        s["accum"] = s["accum"] * rho + g * g * (1 - rho)
        update = np.sqrt(s["accum_update"] + eps) / np.sqrt(s["accum"] + eps) * g
        s["accum_update"] = s["accum_update"] * rho + update * update * (1 - rho)
        return v - lr * update
    return step


def _zeros(*names):
    return lambda v: {n: np.zeros_like(v) for n in names}


@pytest.mark.parametrize("lr,rho,eps", [(1.0, 0.95, 1e-8), (0.5, 0.7, 1e-3)])
def test_adadelta(lr, rho, eps):
    history, slots = _train(tf.train.AdadeltaOptimizer(lr, rho=rho, epsilon=eps))
    states = _check(history, _adadelta_step(lr, rho, eps), _zeros("accum", "accum_update"))
    assert sorted(slots) == ["accum", "accum_update"]
    for name in slots:
        assert_close(slots[name], states["w"][name], rtol=1e-10)


def test_adadelta_defaults_are_tf1s():
    history, _ = _train(tf.train.AdadeltaOptimizer())
    _check(history, _adadelta_step(0.001, 0.95, 1e-8), _zeros("accum", "accum_update"))


def test_adadelta_matches_torch():
    torch = pytest.importorskip("torch")
    history, _ = _train(tf.train.AdadeltaOptimizer(0.5, rho=0.8, epsilon=1e-4))
    w = torch.tensor(W0, requires_grad=True)
    opt = torch.optim.Adadelta([w], lr=0.5, rho=0.8, eps=1e-4)
    for t in range(STEPS):
        opt.zero_grad()
        (w * w * torch.tensor(0.5 * C["w"]) + w * torch.tensor(K["w"])).sum().backward()
        opt.step()
        assert_close(history[t]["w"], w.detach().numpy(), rtol=1e-10, atol=1e-12)


# --- Ftrl -----------------------------------------------------------------------------------
def _ftrl_step(lr, lr_power=-0.5, l1=0.0, l2=0.0, shrinkage=0.0):
    p = -lr_power

    def step(v, g, s):  # ApplyFtrl / ApplyFtrlV2 (the accumulator takes the plain gradient)
        shrunk = g + 2 * shrinkage * v
        new = s["accum"] + g * g
        s["linear"] = s["linear"] + shrunk - (new ** p - s["accum"] ** p) / lr * v
        quadratic = new ** p / lr + 2 * l2
        s["accum"] = new
        value = (l1 * np.sign(s["linear"]) - s["linear"]) / quadratic
        return np.where(np.abs(s["linear"]) > l1, value, 0.0)
    return step


def _ftrl_init(initial=0.1):
    return lambda v: {"accum": np.full_like(v, initial), "linear": np.zeros_like(v)}


@pytest.mark.parametrize("kwargs", [
    {},
    {"l1": 0.3, "l2": 0.2},
    {"lr_power": -0.3, "l1": 0.05, "initial": 0.5},
    {"lr_power": 0.0, "l2": 0.1},
    {"l1": 0.1, "l2": 0.05, "shrinkage": 0.4},
], ids=["plain", "l1-l2", "power", "fixed-rate", "shrinkage"])
def test_ftrl(kwargs):
    lr = 0.4
    initial = kwargs.pop("initial", 0.1)
    opt = tf.train.FtrlOptimizer(
        lr, learning_rate_power=kwargs.get("lr_power", -0.5),
        initial_accumulator_value=initial,
        l1_regularization_strength=kwargs.get("l1", 0.0),
        l2_regularization_strength=kwargs.get("l2", 0.0),
        l2_shrinkage_regularization_strength=kwargs.get("shrinkage", 0.0))
    history, slots = _train(opt, steps=5)
    states = _check(history, _ftrl_step(lr, **kwargs), _ftrl_init(initial), steps=5)
    assert sorted(slots) == ["accum", "linear"]
    assert_close(slots["linear"], states["w"]["linear"], rtol=1e-10, atol=1e-12)
    assert_close(slots["accum"], states["w"]["accum"], rtol=1e-10)


def test_ftrl_l1_zeroes_weights():
    history, _ = _train(tf.train.FtrlOptimizer(0.4, l1_regularization_strength=50.0), steps=2)
    assert (history[-1]["w"] == 0).all() and (history[-1]["b"] == 0).all()


def test_ftrl_slot_variable_names():
    w, _, loss = _model()
    tf.train.FtrlOptimizer(0.1).minimize(loss)
    tf.train.FtrlOptimizer(0.1, accum_name="acc", linear_name="lin", name="F2").minimize(loss)
    names = [v.name for v in tf.global_variables()]
    assert "w/Ftrl:0" in names and "w/Ftrl_1:0" in names
    assert "w/acc:0" in names and "w/lin:0" in names


@pytest.mark.parametrize("kwargs,message", [
    ({"learning_rate_power": 0.5}, r"learning_rate_power \(0.5\) must be a non-positive"),
    ({"initial_accumulator_value": -1.0}, "initial_accumulator_value -1.0 needs to be"),
    ({"l1_regularization_strength": -0.1}, "l1_regularization_strength -0.1 needs to be"),
    ({"l2_shrinkage_regularization_strength": -2.0}, "l2_shrinkage_regularization_strength"),
])
def test_ftrl_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tf.train.FtrlOptimizer(0.1, **kwargs)


# --- proximal methods -----------------------------------------------------------------------
def _prox(p, rate, l1, l2):
    if l1 > 0:
        return np.sign(p) * np.maximum(np.abs(p) - rate * l1, 0) / (1 + rate * l2)
    return p / (1 + rate * l2)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.0, 0.5), (0.2, 0.1), (1.5, 0.0)])
def test_proximal_gradient_descent(l1, l2):
    lr = 0.1
    opt = tf.train.ProximalGradientDescentOptimizer(lr, l1_regularization_strength=l1,
                                                    l2_regularization_strength=l2)
    history, slots = _train(opt)
    _check(history, lambda v, g, s: _prox(v - lr * g, lr, l1, l2), lambda v: {})
    assert slots == {}


@pytest.mark.parametrize("l1,l2,initial", [(0.0, 0.0, 0.1), (0.0, 0.3, 1.0),
                                           (0.2, 0.1, 0.1)])
def test_proximal_adagrad(l1, l2, initial):
    lr = 0.3

    def step(v, g, s):  # ApplyProximalAdagrad
        s["accumulator"] = s["accumulator"] + g * g
        rate = lr / np.sqrt(s["accumulator"])
        return _prox(v - g * rate, rate, l1, l2)

    opt = tf.train.ProximalAdagradOptimizer(lr, initial_accumulator_value=initial,
                                            l1_regularization_strength=l1,
                                            l2_regularization_strength=l2)
    history, slots = _train(opt)
    states = _check(history, step, lambda v: {"accumulator": np.full_like(v, initial)})
    assert_close(slots["accumulator"], states["w"]["accumulator"], rtol=1e-10)


def test_proximal_argument_errors():
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive: 0.0"):
        tf.train.ProximalAdagradOptimizer(0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError, match="l2_regularization_strength -1 needs to be"):
        tf.train.ProximalGradientDescentOptimizer(0.1, l2_regularization_strength=-1)


# --- decays ---------------------------------------------------------------------------------
STEPS_AT = [0, 1, 3, 7, 10, 15, 26, 40]


def _evaluate(make):
    """The schedule at each of STEPS_AT, fed through an int64 step placeholder."""
    step = tf.placeholder(tf.int64, [])
    rate = make(step)
    with tf.Session() as sess:
        return np.array([sess.run(rate, {step: s}) for s in STEPS_AT])


def _sgdr(step, first, t_mul, m_mul, alpha):
    """SGDR by walking the periods (a different route from TF's closed form)."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    fraction = (step - start) / length
    return (1 - alpha) * 0.5 * m_mul ** i * (1 + math.cos(math.pi * fraction)) + alpha


@pytest.mark.parametrize("cycle", [False, True])
def test_polynomial_decay(cycle):
    got = _evaluate(lambda s: tf.train.polynomial_decay(0.1, s, 10, 0.01, power=2.0,
                                                        cycle=cycle))
    want = []
    for s in STEPS_AT:
        steps = 10 * max(1, math.ceil(s / 10)) if cycle else 10
        s = s if cycle else min(s, 10)
        want.append((0.1 - 0.01) * (1 - s / steps) ** 2 + 0.01)
    assert_close(got, np.array(want, np.float32), rtol=1e-6)


@pytest.mark.parametrize("staircase", [False, True])
def test_natural_exp_and_inverse_time_decay(staircase):
    def progress(s):
        return np.floor(s / 4) if staircase else s / 4

    got = _evaluate(lambda s: tf.train.natural_exp_decay(0.5, s, 4, 0.3, staircase))
    want = [0.5 * math.exp(-0.3 * progress(s)) for s in STEPS_AT]
    assert_close(got, np.array(want, np.float32), rtol=1e-6)
    got = _evaluate(lambda s: tf.train.inverse_time_decay(0.5, s, 4, 0.3, staircase))
    want = [0.5 / (1 + 0.3 * progress(s)) for s in STEPS_AT]
    assert_close(got, np.array(want, np.float32), rtol=1e-6)


@pytest.mark.parametrize("t_mul,m_mul,alpha", [(2.0, 1.0, 0.0), (1.0, 0.5, 0.1),
                                               (1.5, 0.8, 0.0)])
def test_cosine_decay_restarts(t_mul, m_mul, alpha):
    got = _evaluate(lambda s: tf.train.cosine_decay_restarts(0.2, s, 5, t_mul, m_mul, alpha))
    want = [0.2 * _sgdr(s, 5, t_mul, m_mul, alpha) for s in STEPS_AT]
    assert_close(got, np.array(want, np.float32), rtol=1e-5, atol=1e-7)


def test_linear_cosine_decay():
    got = _evaluate(lambda s: tf.train.linear_cosine_decay(0.1, s, 20, num_periods=2.0,
                                                           alpha=0.1, beta=0.01))
    want = []
    for s in STEPS_AT:
        s = min(s, 20)
        cosine = 0.5 * (1 + math.cos(math.pi * 2 * 2.0 * s / 20))
        want.append(0.1 * ((0.1 + (20 - s) / 20) * cosine + 0.01))
    assert_close(got, np.array(want, np.float32), rtol=1e-5, atol=1e-8)


def test_decays_need_a_global_step():
    for decay, args in ((tf.train.polynomial_decay, (10,)),
                        (tf.train.natural_exp_decay, (10, 0.5)),
                        (tf.train.inverse_time_decay, (10, 0.5)),
                        (tf.train.cosine_decay_restarts, (10,)),
                        (tf.train.linear_cosine_decay, (10,))):
        with pytest.raises(ValueError, match=f"global_step is required for {decay.__name__}"):
            decay(0.1, None, *args)


def test_decayed_rate_drives_an_optimizer():
    step = tf.train.get_or_create_global_step()
    w = tf.Variable(1.0, dtype=tf.float64)
    rate = tf.train.polynomial_decay(0.5, step, 2, end_learning_rate=0.0)
    train_op = tf.train.GradientDescentOptimizer(rate).minimize(w * w, global_step=step)
    value = 1.0
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for s in range(4):
            sess.run(train_op)
            value -= float(np.float32(0.5 * (1 - min(s, 2) / 2))) * 2 * value
            assert_close(sess.run(w), value, rtol=1e-12)
