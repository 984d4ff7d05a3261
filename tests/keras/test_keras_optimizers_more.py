"""tf.keras.optimizers step by step against numpy transcriptions of Keras's formulas (SGD's
Keras momentum, Adam with AMSGrad, AdamW, Adadelta, Adamax, Nadam), learning-rate
schedules and `decay` read from `iterations`, gradient clipping, slots and weights,
get_config / from_config, `get`, argument errors; and, with torch installed, Adadelta,
Adamax, NAdam and AdamW against torch.optim (equal formulas, except where epsilon sits:
torch's Adamax puts it inside the max, torch's AdamW scales it by sqrt(1 - beta_2^t);
a tiny epsilon makes those differences vanish).

The model is a quadratic with a known gradient, loss = sum(c/2 v^2 + k v) over two float64
variables; learning rates are powers of two, exact in the float32 rate variable.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import B0, W0, C, K, assert_close
from conftest import quadratic_model as _model

import graphc as tf
from graphc import keras

opts = keras.optimizers
STEPS = 4


def _train(opt, steps=STEPS):
    """The variables after each step, and the iterations count at the end."""
    w, b, loss = _model()
    train_op = opt.minimize(loss, [w, b])
    history = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(train_op)
            history.append(sess.run({"w": w, "b": b}))
        iterations = sess.run(opt.iterations)
    return history, iterations


def _check(opt, numpy_step, state_init, steps=STEPS, rtol=1e-10):
    """Train with `opt` and compare with numpy_step(name, var, grad, state, t)."""
    history, iterations = _train(opt, steps)
    assert iterations == steps
    values = {"w": W0.copy(), "b": B0.copy()}
    states = {k: state_init(values[k]) for k in values}
    for t in range(1, steps + 1):
        values = {k: numpy_step(k, v, C[k] * v + K[k], states[k], t)
                  for k, v in values.items()}
        for k, v in values.items():
            assert_close(history[t - 1][k], v, rtol=rtol, atol=1e-12)


def _zeros(*names):
    return lambda v: {n: np.zeros_like(v) for n in names}


# --- update rules ---------------------------------------------------------------------------
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_keras_momentum(nesterov):
    lr, mu = 0.125, 0.9

    def step(k, v, g, s, t):  # ApplyKerasMomentum
        s["m"] = mu * s["m"] - lr * g
        return v + (mu * s["m"] - lr * g if nesterov else s["m"])

    _check(opts.SGD(lr, momentum=mu, nesterov=nesterov), step, _zeros("m"))


def _adam(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None, decayed=("w", "b")):
    def step(k, v, g, s, t):
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        s["vhat"] = np.maximum(s["vhat"], s["v"]) if amsgrad else s["v"]
        if wd is not None and k in decayed:
            v = v - v * wd * lr  # Keras 3: decay first, with this step's rate
        return v - alpha * s["m"] / (np.sqrt(s["vhat"]) + eps)
    return step


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(amsgrad):
    _check(opts.Adam(0.25, beta_1=0.8, beta_2=0.9, amsgrad=amsgrad),
           _adam(0.25, 0.8, 0.9, amsgrad=amsgrad), _zeros("m", "v", "vhat"))


def test_adamw_decays_before_the_step_and_skips_excluded_variables():
    _check(opts.AdamW(0.125, weight_decay=0.5), _adam(0.125, wd=0.5), _zeros("m", "v", "vhat"))
    tf.reset_default_graph()
    opt = opts.AdamW(0.125, weight_decay=0.5, amsgrad=True)
    opt.exclude_from_weight_decay(var_names=["b"])
    _check(opt, _adam(0.125, amsgrad=True, wd=0.5, decayed=("w",)), _zeros("m", "v", "vhat"))


def test_adadelta():
    lr, rho, eps = 0.5, 0.8, 1e-3

    def step(k, v, g, s, t):
        s["acc"] = s["acc"] * rho + g * g * (1 - rho)
        update = np.sqrt(s["upd"] + eps) / np.sqrt(s["acc"] + eps) * g
        s["upd"] = s["upd"] * rho + update * update * (1 - rho)
        return v - lr * update

    _check(opts.Adadelta(lr, rho=rho, epsilon=eps), step, _zeros("acc", "upd"))


def test_adamax():
    lr, b1, b2, eps = 0.25, 0.8, 0.95, 1e-3

    def step(k, v, g, s, t):  # ApplyAdaMax
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = np.maximum(b2 * s["v"], np.abs(g))
        return v - lr / (1 - b1 ** t) * s["m"] / (s["v"] + eps)

    _check(opts.Adamax(lr, beta_1=b1, beta_2=b2, epsilon=eps), step, _zeros("m", "v"))


def _nadam(lr, b1, b2, eps, schedule_decay=0.004):
    cache = {"product": 1.0, "t": 0}

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (schedule_decay * t))

    def step(k, v, g, s, t):
        if cache["t"] != t:  # the momentum cache advances once per step
            cache["product"], cache["t"] = cache["product"] * mu(t), t
        prod_t = cache["product"]
        prod_next = prod_t * mu(t + 1)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        m_bar = (1 - mu(t)) * g / (1 - prod_t) + mu(t + 1) * s["m"] / (1 - prod_next)
        return v - lr * m_bar / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)
    return step


@pytest.mark.parametrize("schedule_decay", [0.004, 0.5])
def test_nadam(schedule_decay):
    opt = opts.Nadam(0.125, beta_1=0.8, beta_2=0.9, epsilon=1e-3, schedule_decay=schedule_decay)
    _check(opt, _nadam(0.125, 0.8, 0.9, 1e-3, schedule_decay), _zeros("m", "v"))


# --- learning rates from iterations ----------------------------------------------------------
def test_schedule_is_evaluated_at_iterations_inside_the_step():
    sched = opts.schedules.PiecewiseConstantDecay([1, 2], [0.5, 0.25, 0.0625])
    rates = [0.5, 0.5, 0.25, 0.0625]  # at iterations 0, 1, 2, 3: step <= boundary

    def step(k, v, g, s, t):
        s["m"] = 0.5 * s["m"] - rates[t - 1] * g  # Keras's momentum scales each new step
        return v + s["m"]

    _check(opts.SGD(sched, momentum=0.5), step, _zeros("m"))


def test_exponential_schedule_with_adam():
    sched = opts.schedules.ExponentialDecay(0.25, decay_steps=2, decay_rate=0.5)

    def step(k, v, g, s, t):
        rate = float(np.float32(0.25) * np.float32(0.5) ** np.float32((t - 1) / 2))
        return _adam(rate)(k, v, g, s, t)

    _check(opts.Adam(sched), step, _zeros("m", "v", "vhat"), rtol=1e-6)


def test_decay_divides_the_rate_by_one_plus_decay_times_iterations():
    def step(k, v, g, s, t):  # in the rate's float32, as TF for float32 variables
        f = np.float32
        return v - float(f(0.5) / (f(1) + f(0.25) * f(t - 1))) * g

    _check(opts.SGD(0.5, decay=0.25), step, lambda v: {})


# --- clipping -------------------------------------------------------------------------------
def _clipped(kind, limit):
    def step(k, v, g, s, t):
        if kind == "clipnorm":
            g = g * limit / max(np.linalg.norm(g), limit)
        elif kind == "global_clipnorm":  # w comes first: the norm of this step's gradients
            both = s["both"]
            if k == "w":
                both["norm"] = np.sqrt(sum(np.sum((C[n] * both[n] + K[n]) ** 2) for n in "wb"))
            g = g * limit / max(both["norm"], limit)
            both[k] = v - 0.5 * g
        else:
            g = np.clip(g, -limit, limit)
        return v - 0.5 * g
    return step


@pytest.mark.parametrize("kind,limit", [("clipnorm", 1.0), ("clipvalue", 0.5),
                                        ("global_clipnorm", 2.0)])
def test_gradient_clipping(kind, limit):
    both = {"w": W0.copy(), "b": B0.copy()}
    _check(opts.SGD(0.5, **{kind: limit}), _clipped(kind, limit), lambda v: {"both": both})


# --- slots, weights, config -----------------------------------------------------------------
def test_slots_weights_and_iterations():
    w, b, loss = _model()
    opt = opts.Adadelta(0.5)
    train_op = opt.minimize(loss, [w, b])
    assert opt.get_slot_names() == ["accum_grad", "accum_var"]
    assert opt.get_slot(w, "accum_grad").shape.as_list() == [2, 3]
    with pytest.raises(KeyError, match="no slot 'm' for variable w:0"):
        opt.get_slot(w, "m")
    assert [v.name for v in opt.weights][0] == "Adadelta/iter:0" and len(opt.weights) == 5
    keras.backend.get_session().run(train_op)
    values = opt.get_weights()
    assert values[0] == 1
    opt.set_weights([np.int64(7)] + values[1:])
    assert keras.backend.get_value(opt.iterations) == 7
    with pytest.raises(ValueError, match="set_weights got 1 values for 5 weights"):
        opt.set_weights(values[:1])


@pytest.mark.parametrize("make", [
    lambda: opts.SGD(0.5, momentum=0.5, nesterov=True, clipnorm=1.0),
    lambda: opts.Adam(0.25, amsgrad=True, decay=0.01),
    lambda: opts.AdamW(0.125, weight_decay=0.01, global_clipnorm=3.0),
    lambda: opts.RMSprop(0.5, rho=0.8, centered=True),
    lambda: opts.Adagrad(0.5, initial_accumulator_value=0.2),
    lambda: opts.Adadelta(0.5, rho=0.9, clipvalue=2.0),
    lambda: opts.Adamax(0.25, beta_2=0.99),
    lambda: opts.Nadam(0.125, schedule_decay=0.01),
    lambda: opts.Adam(opts.schedules.CosineDecay(0.5, 100, alpha=0.1)),
], ids=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam",
        "schedule"])
def test_config_round_trip(make):
    opt = make()
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    assert opts.deserialize(opts.serialize(opt)).get_config() == config
    assert opts.get(opts.serialize(opt)).get_config() == config


def test_config_reads_the_rate_variable_and_accepts_lr():
    opt = opts.SGD(0.5)
    w, b, loss = _model()
    opt.minimize(loss, [w, b])
    keras.backend.set_value(opt.lr, 0.25)
    assert opt.get_config()["learning_rate"] == 0.25
    assert opts.SGD.from_config({"lr": 0.125}).get_config()["learning_rate"] == 0.125
    assert opts.Adam.from_config({"name": "A", "learning_rate": 0.5}).get_config()["name"] == "A"


@pytest.mark.parametrize("name,cls", [("adadelta", opts.Adadelta), ("Adamax", opts.Adamax),
                                      ("nadam", opts.Nadam), ("adamw", opts.AdamW)])
def test_get_by_name_gives_keras_defaults(name, cls):
    opt = opts.get(name)
    assert type(opt) is cls
    assert opt.get_config()["learning_rate"] == 0.001 and opt.epsilon == 1e-7


def test_adadelta_defaults():
    opt = opts.Adadelta()
    assert (opt.get_config()["learning_rate"], opt.rho, opt.epsilon) == (0.001, 0.95, 1e-7)
    assert opts.AdamW().weight_decay == 0.004


def test_learning_rate_is_the_schedule_or_the_variable():
    sched = opts.schedules.InverseTimeDecay(0.5, 10, 1.0)
    opt = opts.Adam(sched)
    assert opt.lr is sched and opt.learning_rate is sched
    plain = opts.Adam(0.5)
    assert plain.lr == 0.5
    w, b, loss = _model()
    plain.minimize(loss, [w, b])
    opt.minimize(loss, [w, b])
    assert plain.lr.name == "Adam/learning_rate:0"
    with pytest.raises(ValueError, match="cannot replace the learning rate"):
        plain.learning_rate = sched
    with pytest.raises(ValueError, match="cannot replace the learning rate"):
        opt.learning_rate = 0.1
    plain.learning_rate = 0.25
    assert keras.backend.get_value(plain.lr) == 0.25


@pytest.mark.parametrize("make,error,message", [
    (lambda: opts.get("adamz"), ValueError, r"Unknown optimizer: 'adamz'.*'adadelta'"),
    (lambda: opts.Adam(bogus=1), TypeError, "Unexpected keyword argument passed to optimizer "
                                         "Adam: 'bogus'"),
    (lambda: opts.SGD(clipnorm=-1.0), ValueError, r"SGD: expected clipnorm >= 0, received: -1"),
    (lambda: opts.SGD(clipnorm=1.0, global_clipnorm=1.0), ValueError,
     "cannot accept both `clipnorm` and `global_clipnorm`"),
    (lambda: opts.SGD(momentum=1.5), ValueError, r"`momentum` must be between \[0, 1\]"),
    (lambda: opts.Nadam(decay=0.1), ValueError, "Nadam: `decay` is not used"),
    (lambda: opts.AdamW(weight_decay=None), ValueError, "argument `weight_decay` must be a float"),
    (lambda: opts.Adam(lambda step: 0.1), TypeError, "learning_rate must be a number or a"),
    (lambda: opts.deserialize({"class_name": "Foo"}), ValueError, "Unknown optimizer: 'Foo'"),
])
def test_argument_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_no_gradient_is_an_error_naming_the_variables():
    w, b, _ = _model()
    with pytest.raises(ValueError, match=r"Adam: no gradients provided for any variable: "
                                         r"\['w:0'\]"):
        opts.Adam().apply_gradients([(None, w)])


def test_fit_with_a_schedule_matches_numpy():
    x = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]], np.float32)
    y = np.array([[1.0], [0.0], [2.0]], np.float32)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,), use_bias=False,
                                                 kernel_initializer="zeros")])
    sched = opts.schedules.PolynomialDecay(0.25, decay_steps=3, end_learning_rate=0.0625)
    model.compile(opts.SGD(sched), "mse")
    model.fit(x, y, batch_size=3, epochs=4, verbose=0, shuffle=False)
    w = np.zeros((2, 1))
    for t in range(4):
        rate = (0.25 - 0.0625) * (1 - min(t, 3) / 3) + 0.0625
        w -= rate * 2 * x.T @ (x @ w - y) / len(x)
    assert_close(model.get_weights()[0], w.astype(np.float32), rtol=1e-5)
    assert keras.backend.get_value(model.optimizer.iterations) == 4


# --- torch ----------------------------------------------------------------------------------
def _against_torch(opt, torch_opt, rtol=1e-9):
    """Train w alone with both; equal values after every step."""
    torch = pytest.importorskip("torch")
    w = tf.Variable(W0, dtype=tf.float64, name="w")
    train_op = opt.minimize(tf.reduce_sum(w * w * (0.5 * C["w"]) + w * K["w"]), [w])
    tw = torch.tensor(W0, requires_grad=True)
    topt = torch_opt(torch, [tw])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(STEPS):
            sess.run(train_op)
            topt.zero_grad()
            (tw * tw * torch.tensor(0.5 * C["w"]) + tw * torch.tensor(K["w"])).sum().backward()
            topt.step()
            assert_close(sess.run(w), tw.detach().numpy(), rtol=rtol, atol=1e-12)


def test_adadelta_matches_torch():
    _against_torch(opts.Adadelta(0.5, rho=0.8, epsilon=1e-4),
                   lambda torch, p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-4))


def test_adamax_matches_torch():
    _against_torch(opts.Adamax(0.25, beta_1=0.8, beta_2=0.95, epsilon=1e-14),
                   lambda torch, p: torch.optim.Adamax(p, lr=0.25, betas=(0.8, 0.95),
                                                       eps=1e-14))


def test_nadam_matches_torch():
    # torch keeps the momentum product in a float32 tensor: agreement to about 1e-8
    _against_torch(opts.Nadam(0.125, beta_1=0.8, beta_2=0.9, epsilon=1e-3),
                   lambda torch, p: torch.optim.NAdam(p, lr=0.125, betas=(0.8, 0.9), eps=1e-3,
                                                      momentum_decay=0.004), rtol=1e-7)


def test_adamw_matches_torch():
    _against_torch(opts.AdamW(0.125, weight_decay=0.5, beta_2=0.9, epsilon=1e-14),
                   lambda torch, p: torch.optim.AdamW(p, lr=0.125, betas=(0.9, 0.9), eps=1e-14,
                                                      weight_decay=0.5))
