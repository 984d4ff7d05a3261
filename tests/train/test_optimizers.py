"""Tests of graphc.train: each optimizer's update rule step by step against a numpy
transcription of TF1's published formula, the Optimizer interface (var_list, global_step,
compute_gradients / apply_gradients, slots, errors), learning-rate schedules against closed
forms, and gradient clipping against numpy.

The model is a quadratic with a known gradient: loss = sum(c/2 * v^2 + b * v) over two
variables, so that grad = c * v + b changes from step to step as v moves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

STEPS = 4
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
B0 = np.array([0.2, -0.4, 0.9])
C = {"w": np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.0]]), "b": np.array([2.0, 1.0, 0.3])}
K = {"w": np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -1.0]]), "b": np.array([-0.3, 0.2, 0.1])}


def _model(dtype=tf.float64):
    w = tf.Variable(W0, dtype=dtype, name="w")
    b = tf.Variable(B0, dtype=dtype, name="b")
    loss = tf.add_n([tf.reduce_sum(v * v * (0.5 * C[k]) + v * K[k])
                     for k, v in (("w", w), ("b", b))])
    return w, b, loss


def _grad(name, value):
    return C[name] * value + K[name]


def _train(opt, steps=STEPS, dtype=tf.float64, **minimize_kwargs):
    """Run `steps` minimize steps; the variables' values after each step."""
    w, b, loss = _model(dtype)
    train_op = opt.minimize(loss, **minimize_kwargs)
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(train_op)
            history.append(sess.run({"w": w, "b": b}))
    return history


def _check(history, numpy_step, state_init, steps=STEPS, rtol=1e-10):
    """Compare `history` with the numpy rule `numpy_step(name, var, grad, state, t)`."""
    values = {"w": W0.copy(), "b": B0.copy()}
    states = {k: state_init(values[k]) for k in values}
    for t in range(1, steps + 1):
        values = {k: numpy_step(v, _grad(k, v), states[k], t) for k, v in values.items()}
        for k, v in values.items():
            assert_close(history[t - 1][k], v, rtol=rtol, atol=1e-12)


# --- update rules ---------------------------------------------------------------------------
def test_gradient_descent():
    lr = 0.1
    _check(_train(tf.train.GradientDescentOptimizer(lr)),
           lambda v, g, s, t: v - lr * g, lambda v: {})


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(nesterov):
    lr, mu = 0.05, 0.9

    def step(v, g, s, t):
        s["accum"] = mu * s["accum"] + g
        return v - lr * (g + mu * s["accum"] if nesterov else s["accum"])

    opt = tf.train.MomentumOptimizer(lr, mu, use_nesterov=nesterov)
    _check(_train(opt), step, lambda v: {"accum": np.zeros_like(v)})


def _adam_step(lr, b1, b2, eps, wd=0.0):
    def step(v, g, s, t):
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        return v - wd * v - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
    return step


def _adam_state(v):
    return {"m": np.zeros_like(v), "v": np.zeros_like(v)}


def test_adam_defaults():
    _check(_train(tf.train.AdamOptimizer(0.1), steps=5), _adam_step(0.1, 0.9, 0.999, 1e-8),
           _adam_state,
           steps=5)


def test_adam_hyperparameters():
    opt = tf.train.AdamOptimizer(learning_rate=0.03, beta1=0.5, beta2=0.8, epsilon=0.1)
    _check(_train(opt), _adam_step(0.03, 0.5, 0.8, 0.1), _adam_state)


def test_adamw_decoupled_decay():
    opt = tf.train.AdamWOptimizer(weight_decay=0.01, learning_rate=0.05, beta1=0.8)
    _check(_train(opt), _adam_step(0.05, 0.8, 0.999, 1e-8, wd=0.01), _adam_state)


def test_adamw_zero_decay_is_adam():
    adamw = _train(tf.train.AdamWOptimizer(weight_decay=0.0, learning_rate=0.05))
    tf.reset_default_graph()
    adam = _train(tf.train.AdamOptimizer(learning_rate=0.05))
    for a, b in zip(adamw, adam):
        assert_close(a["w"], b["w"])


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True),
                                               (0.7, True)])
def test_rmsprop(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-10

    def step(v, g, s, t):
        s["ms"] = rho * s["ms"] + (1 - rho) * g * g
        denom = s["ms"]
        if centered:
            s["mg"] = rho * s["mg"] + (1 - rho) * g
            denom = s["ms"] - s["mg"] ** 2
        s["mom"] = momentum * s["mom"] + lr * g / np.sqrt(denom + eps)
        return v - s["mom"]

    def init(v):  # TF1: the mean square starts at ones
        return {"ms": np.ones_like(v), "mg": np.zeros_like(v), "mom": np.zeros_like(v)}

    opt = tf.train.RMSPropOptimizer(lr, decay=rho, momentum=momentum, epsilon=eps,
                                    centered=centered)
    _check(_train(opt), step, init)


@pytest.mark.parametrize("initial", [0.1, 2.0])
def test_adagrad(initial):
    lr = 0.3

    def step(v, g, s, t):
        s["acc"] = s["acc"] + g * g
        return v - lr * g / np.sqrt(s["acc"])

    opt = tf.train.AdagradOptimizer(lr) if initial == 0.1 else \
        tf.train.AdagradOptimizer(lr, initial_accumulator_value=initial)
    _check(_train(opt), step, lambda v: {"acc": np.full_like(v, initial)})


def test_adagrad_rejects_nonpositive_accumulator():
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)


@pytest.mark.parametrize("make", [
    lambda: tf.train.GradientDescentOptimizer(0.1),
    lambda: tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    lambda: tf.train.AdamOptimizer(0.1),
    lambda: tf.train.AdamWOptimizer(0.01, 0.1),
    lambda: tf.train.RMSPropOptimizer(0.1, momentum=0.5, centered=True),
    lambda: tf.train.AdagradOptimizer(0.1),
], ids=["sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_float32_variables_match_float64(make):
    # the same rule in float32 (hyperparameters cast to the variable's dtype)
    f32 = _train(make(), dtype=tf.float32)
    tf.reset_default_graph()
    f64 = _train(make(), dtype=tf.float64)
    for a, b in zip(f32, f64):
        assert a["w"].dtype == np.float32
        assert_close(a["w"], b["w"].astype(np.float32), rtol=1e-4, atol=1e-5)


def test_learning_rate_as_tensor_and_placeholder():
    lr = tf.placeholder(tf.float32, [])
    w = tf.Variable([1.0, -2.0])
    train_op = tf.train.GradientDescentOptimizer(lr).minimize(tf.reduce_sum(w * w))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op, {lr: 0.25})  # w -= 0.25 * 2w = 0.5 w
        assert_close(sess.run(w), [0.5, -1.0], dtype=np.float32)
        sess.run(train_op, {lr: 0.0})
        assert_close(sess.run(w), [0.5, -1.0], dtype=np.float32)


def test_minimize_reduces_loss():
    _, _, loss = _model()
    train_op = tf.train.AdamOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(loss)
        for _ in range(50):
            sess.run(train_op)
        assert sess.run(loss) < first - 1.0


# --- the Optimizer interface ----------------------------------------------------------------
def test_var_list_limits_the_update():
    w, b, loss = _model()
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss, var_list=[b])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        assert_close(sess.run(w), W0)
        assert_close(sess.run(b), B0 - 0.1 * _grad("b", B0))


def test_non_trainable_variables_are_left_alone():
    w = tf.Variable([1.0, 2.0], dtype=tf.float64)
    frozen = tf.Variable([3.0], dtype=tf.float64, trainable=False)
    train_op = tf.train.GradientDescentOptimizer(0.5).minimize(tf.reduce_sum(w * frozen))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        assert_close(sess.run(w), [-0.5, 0.5])
        assert_close(sess.run(frozen), [3.0])


def test_global_step_increments():
    step = tf.train.get_or_create_global_step()
    assert step is tf.train.get_or_create_global_step()
    assert tf.train.get_global_step() is step
    assert step.dtype == tf.int64 and step not in tf.trainable_variables()
    _, _, loss = _model()
    train_op = tf.train.MomentumOptimizer(0.1, 0.5).minimize(loss, global_step=step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(step) == 0
        for i in range(1, 4):
            sess.run(train_op)
            assert sess.run(step) == i


def test_global_step_helpers():
    assert tf.train.get_global_step() is None
    step = tf.train.create_global_step()
    assert step.name == "global_step:0"
    with pytest.raises(ValueError, match="already exists"):
        tf.train.create_global_step()


def test_global_step_increments_after_the_update():
    # the update must use the variables' pre-step gradient, and the step counts once per run
    step = tf.train.get_or_create_global_step()
    w = tf.Variable([2.0], dtype=tf.float64)
    opt = tf.train.GradientDescentOptimizer(0.25)
    train_op = opt.apply_gradients(opt.compute_gradients(tf.reduce_sum(w * w)), step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        sess.run(train_op)
        assert sess.run(step) == 2
        assert_close(sess.run(w), [0.5])  # 2 -> 1 -> 0.5


def test_compute_gradients_and_apply_gradients():
    w, b, loss = _model()
    unused = tf.Variable([1.0], dtype=tf.float64)
    opt = tf.train.GradientDescentOptimizer(0.1)
    grads_and_vars = opt.compute_gradients(loss)
    assert [v for _, v in grads_and_vars] == [w, b, unused]
    assert grads_and_vars[2][0] is None
    # a user transformation between the two halves: double every gradient
    train_op = opt.apply_gradients([(None if g is None else 2.0 * g, v)
                                    for g, v in grads_and_vars])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert_close(sess.run(grads_and_vars[0][0]), _grad("w", W0))
        sess.run(train_op)
        assert_close(sess.run(w), W0 - 0.2 * _grad("w", W0))
        assert_close(sess.run(unused), [1.0])


def test_compute_gradients_with_grad_loss():
    w = tf.Variable([1.0, 2.0], dtype=tf.float64)
    opt = tf.train.GradientDescentOptimizer(1.0)
    ((g, _),) = opt.compute_gradients(w * w, var_list=[w], grad_loss=tf.constant(
        [1.0, -1.0], tf.float64))
    assert_close(run(g), [2.0, -4.0])


def test_compute_gradients_rejects_non_variables():
    _, _, loss = _model()
    opt = tf.train.GradientDescentOptimizer(0.1)
    with pytest.raises(TypeError, match="tf.Variable"):
        opt.compute_gradients(loss, var_list=[tf.constant(1.0)])


def test_no_variables_to_optimize():
    x = tf.constant(1.0)
    with pytest.raises(ValueError, match="No variables to optimize"):
        tf.train.GradientDescentOptimizer(0.1).minimize(x * x)


def test_no_gradients_provided_error():
    w = tf.Variable([1.0])
    loss = tf.reduce_sum(tf.stop_gradient(w) * 2.0)
    with pytest.raises(ValueError, match="No gradients provided for any variable") as info:
        tf.train.AdamOptimizer().minimize(loss)
    assert w.name in str(info.value)
    # the message names the variables also when the pairs come as a one-shot iterator
    with pytest.raises(ValueError, match="No gradients provided") as info:
        tf.train.GradientDescentOptimizer(0.1).apply_gradients(zip([None], [w]))
    assert w.name in str(info.value)


@pytest.mark.parametrize("make,slots", [
    (lambda: tf.train.GradientDescentOptimizer(0.1), []),
    (lambda: tf.train.MomentumOptimizer(0.1, 0.9), ["momentum"]),
    (lambda: tf.train.AdamOptimizer(), ["m", "v"]),
    (lambda: tf.train.AdamWOptimizer(0.1), ["m", "v"]),
    (lambda: tf.train.RMSPropOptimizer(0.1), ["momentum", "rms"]),
    (lambda: tf.train.RMSPropOptimizer(0.1, centered=True), ["mg", "momentum", "rms"]),
    (lambda: tf.train.AdagradOptimizer(0.1), ["accumulator"]),
], ids=["sgd", "momentum", "adam", "adamw", "rmsprop", "rmsprop_centered", "adagrad"])
def test_slots(make, slots):
    w, b, loss = _model()
    opt = make()
    opt.minimize(loss)
    assert opt.get_slot_names() == slots
    for name in slots:
        for var in (w, b):
            slot = opt.get_slot(var, name)
            assert isinstance(slot, tf.Variable), (name, var)
            assert slot.shape.as_list() == var.shape.as_list() and slot.dtype == var.dtype
            assert slot not in tf.trainable_variables()
            assert slot in tf.global_variables()
            assert slot in opt.variables()
    assert opt.get_slot(w, "no_such_slot") is None
    assert tf.trainable_variables() == [w, b]


def test_slot_initial_values():
    w, b, loss = _model()
    opts = {"adam": tf.train.AdamOptimizer(), "rms": tf.train.RMSPropOptimizer(0.1),
            "adagrad": tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.3)}
    for opt in opts.values():
        opt.minimize(loss)
    values = run({"m": opts["adam"].get_slot(w, "m"), "rms": opts["rms"].get_slot(w, "rms"),
                  "acc": opts["adagrad"].get_slot(b, "accumulator")})
    assert_close(values["m"], np.zeros_like(W0))
    assert_close(values["rms"], np.ones_like(W0))
    assert_close(values["acc"], np.full_like(B0, 0.3))


def test_slot_names_are_distinct_per_optimizer():
    w, _, loss = _model()
    first, second = tf.train.AdamOptimizer(), tf.train.AdamOptimizer()
    first.minimize(loss)
    second.minimize(loss)
    names = [v.name for v in tf.global_variables()]
    assert len(names) == len(set(names)), names
    assert first.get_slot(w, "m") is not second.get_slot(w, "m")


def test_adam_beta_powers_advance():
    _, _, loss = _model()
    opt = tf.train.AdamOptimizer(0.1, beta1=0.5, beta2=0.25)
    train_op = opt.minimize(loss)
    powers = [v for v in opt.variables() if "beta" in v.name]
    assert len(powers) == 2
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for t in range(1, 4):
            sess.run(train_op)
            assert_close(sorted(sess.run(powers)), sorted([0.5 ** (t + 1), 0.25 ** (t + 1)]))


def test_get_name():
    assert tf.train.AdamOptimizer(name="MyAdam").get_name() == "MyAdam"
    assert tf.train.GradientDescentOptimizer(0.1).get_name() == "GradientDescent"


# --- schedules ------------------------------------------------------------------------------
def _at_steps(make_rate, steps):
    """The schedule's value at each global step (fed through a placeholder)."""
    step = tf.placeholder(tf.int64, [])
    rate = make_rate(step)
    with tf.Session() as sess:
        return [float(sess.run(rate, {step: s})) for s in steps]


STEPS_TO_CHECK = [0, 1, 5, 10, 15, 99, 100, 250]


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    got = _at_steps(lambda s: tf.train.exponential_decay(0.1, s, 10, 0.5, staircase=staircase),
                    STEPS_TO_CHECK)
    expected = [0.1 * 0.5 ** ((s // 10) if staircase else s / 10) for s in STEPS_TO_CHECK]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_exponential_decay_with_global_step_variable():
    step = tf.train.get_or_create_global_step()
    rate = tf.train.exponential_decay(1.0, step, 2, 0.5, staircase=True)
    w = tf.Variable([0.0], dtype=tf.float32)
    train_op = tf.train.GradientDescentOptimizer(rate).minimize(tf.reduce_sum(-w),
                                                                global_step=step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(4):
            sess.run(train_op)
        # rates at steps 0..3: 1, 1, 0.5, 0.5
        assert_close(sess.run(w), [3.0], dtype=np.float32)
        assert_close(sess.run(rate), 0.25, dtype=np.float32)


def test_piecewise_constant():
    boundaries, values = [10, 100], [1.0, 0.5, 0.1]
    got = _at_steps(lambda s: tf.train.piecewise_constant(s, boundaries, values),
                    STEPS_TO_CHECK)
    expected = [1.0 if s <= 10 else 0.5 if s <= 100 else 0.1 for s in STEPS_TO_CHECK]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_piecewise_constant_needs_one_more_value():
    with pytest.raises(ValueError, match="len\\(values\\) == len\\(boundaries\\) \\+ 1"):
        tf.train.piecewise_constant(tf.constant(1), [1, 2], [0.1, 0.2])


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_cosine_decay(alpha):
    got = _at_steps(lambda s: tf.train.cosine_decay(0.2, s, 100, alpha=alpha), STEPS_TO_CHECK)
    expected = [0.2 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(s, 100) / 100)) + alpha)
                for s in STEPS_TO_CHECK]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_schedule_needs_a_global_step():
    with pytest.raises(ValueError, match="global_step is required"):
        tf.train.exponential_decay(0.1, None, 10, 0.5)


# --- clipping -------------------------------------------------------------------------------
def _np_clip_by_norm(t, clip, axes=None):
    norm = np.sqrt(np.sum(t * t, axis=axes, keepdims=True))
    return t * clip / np.maximum(norm, clip)


@pytest.mark.parametrize("clip", [0.5, 100.0])
@pytest.mark.parametrize("axes", [None, [1], [0]])
def test_clip_by_norm(clip, axes):
    t = np.array([[3.0, -4.0, 1.0], [0.5, 0.2, -0.1]])
    got = run(tf.clip_by_norm(tf.constant(t), clip, axes=axes))
    assert_close(got, _np_clip_by_norm(t, clip, None if axes is None else tuple(axes)))


def test_clip_by_norm_gradient():
    tf.test.gradcheck(lambda t: tf.clip_by_norm(t, 1.0),
                      [np.array([[3.0, -4.0], [1.0, 0.5]])])


def test_global_norm_skips_none():
    ts = [np.array([3.0, 4.0]), None, np.array([[1.0, 2.0], [2.0, 4.0]])]
    got = run(tf.global_norm([None if t is None else tf.constant(t) for t in ts]))
    assert_close(got, math.sqrt(25 + 25), dtype=np.float32)
    with pytest.raises(ValueError):
        tf.global_norm([None])


@pytest.mark.parametrize("clip", [2.0, 1000.0])
def test_clip_by_global_norm(clip):
    ts = [np.array([3.0, 4.0]), None, np.array([[1.0, 2.0], [2.0, 4.0]])]
    tensors = [None if t is None else tf.constant(t, tf.float64) for t in ts]
    clipped, norm = tf.clip_by_global_norm(tensors, clip)
    assert clipped[1] is None and len(clipped) == 3
    values = run([clipped[0], clipped[2], norm])
    g = math.sqrt(50.0)
    scale = clip / max(g, clip)
    assert_close(values[2], g)
    assert_close(values[0], ts[0] * scale)
    assert_close(values[1], ts[2] * scale)


def test_clip_by_global_norm_with_use_norm_and_mixed_dtypes():
    a, b = tf.constant([3.0, 4.0], tf.float64), tf.constant([6.0, 8.0], tf.float32)
    (ca, cb), norm = tf.clip_by_global_norm([a, b], 1.0, use_norm=tf.constant(10.0))
    values = run([ca, cb, norm])
    assert values[0].dtype == np.float64 and values[1].dtype == np.float32
    assert_close(values[0], [0.3, 0.4], rtol=1e-6)
    assert_close(values[1], np.array([0.6, 0.8], np.float32))


def test_clipped_gradients_train():
    w = tf.Variable([3.0, 4.0], dtype=tf.float64)
    opt = tf.train.GradientDescentOptimizer(1.0)
    grads, variables = zip(*opt.compute_gradients(tf.reduce_sum(w * w)))
    clipped, _ = tf.clip_by_global_norm(list(grads), 1.0)
    train_op = opt.apply_gradients(zip(clipped, variables))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        assert_close(sess.run(w), [3.0 - 0.6, 4.0 - 0.8])
