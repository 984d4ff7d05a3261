"""tf.keras SimpleRNN / LSTM / GRU: Keras's step equations in numpy with set weights,
return_sequences / return_state / go_backwards, gradients, parameter counts, names, fit."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import backend as K
from graphc.keras.layers_extra import Bidirectional
from graphc.keras.recurrent import GRU, LSTM, SimpleRNN

RNG = np.random.RandomState(0)


def run(outputs, feeds, target="reference"):
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        return sess.run(outputs, feeds)


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- numpy references: Keras's step equations, one step at a time ---------------------------
def np_simple(x, kernel, rec, bias):
    h = np.zeros((x.shape[0], rec.shape[0]))
    seq = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ rec + bias)
        seq.append(h)
    return np.stack(seq, 1), [h]


def np_lstm(x, kernel, rec, bias, ra=hard_sigmoid):
    u = rec.shape[0]
    h = c = np.zeros((x.shape[0], u))
    seq = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ rec + bias
        i, f, o = ra(z[:, :u]), ra(z[:, u:2 * u]), ra(z[:, 3 * u:])
        c = f * c + i * np.tanh(z[:, 2 * u:3 * u])
        h = o * np.tanh(c)
        seq.append(h)
    return np.stack(seq, 1), [h, c]


def np_gru(x, kernel, rec, bias, reset_after=False, ra=hard_sigmoid):
    u = rec.shape[0]
    h = np.zeros((x.shape[0], u))
    seq = []
    for t in range(x.shape[1]):
        xin = x[:, t] @ kernel + (bias[0] if reset_after else bias)
        xz, xr, xh = xin[:, :u], xin[:, u:2 * u], xin[:, 2 * u:]
        if reset_after:
            rh = h @ rec + bias[1]
            z, r = ra(xz + rh[:, :u]), ra(xr + rh[:, u:2 * u])
            hh = np.tanh(xh + r * rh[:, 2 * u:])
        else:
            z, r = ra(xz + h @ rec[:, :u]), ra(xr + h @ rec[:, u:2 * u])
            hh = np.tanh(xh + (r * h) @ rec[:, 2 * u:])
        h = z * h + (1 - z) * hh
        seq.append(h)
    return np.stack(seq, 1), [h]


CASES = [
    (lambda **k: SimpleRNN(3, **k), np_simple, 1),
    (lambda **k: LSTM(3, **k), np_lstm, 4),
    (lambda **k: GRU(3, **k), np_gru, 3),
    (lambda **k: GRU(3, reset_after=True, **k),
     lambda *a: np_gru(*a, reset_after=True), 3),
]


def _set_random_weights(layer):
    values = [RNG.randn(*w.shape.as_list()).astype(np.float32) * 0.5 for w in layer.weights]
    layer.set_weights(values)
    return values


@pytest.mark.parametrize("target", ["reference", "llvm"])
@pytest.mark.parametrize("case", range(len(CASES)), ids=["simple", "lstm", "gru", "gru_ra"])
def test_forward_matches_keras_step_equations(case, target):
    make, ref, _ = CASES[case]
    data = RNG.randn(2, 5, 4).astype(np.float32)
    x = keras.Input(shape=(None, 4))  # time unknown when the graph is built
    seq_layer = make(return_sequences=True, return_state=True)
    back_layer = make(go_backwards=True)
    outs = seq_layer(x)
    back = back_layer(x)
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        weights = _set_random_weights(seq_layer)
        back_layer.set_weights(weights)
        got, got_back = sess.run([outs, back], {x: data})
    want_seq, want_states = ref(data, *weights)
    np.testing.assert_allclose(got[0], want_seq, rtol=1e-4, atol=1e-5)
    for g, w in zip(got[1:], want_states):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    assert len(got) == 1 + len(want_states)
    # go_backwards: the last state of the run over the reversed sequence
    np.testing.assert_allclose(got_back, ref(data[:, ::-1], *weights)[1][0], rtol=1e-4,
                               atol=1e-5)


def test_parameter_counts_weight_names_and_defaults():
    x = keras.Input(shape=(7, 3))
    lstm, gru, gru2, simple = LSTM(4), GRU(4), GRU(4, reset_after=True), SimpleRNN(4)
    for layer in (lstm, gru, gru2, simple):
        layer(x)
    assert lstm.count_params() == 4 * (4 * (3 + 4) + 4) == 128
    assert gru.count_params() == 3 * (4 * (3 + 4) + 4) == 96
    assert gru2.count_params() == 3 * 4 * (3 + 4) + 2 * 3 * 4 == 108
    assert simple.count_params() == 4 * (3 + 4) + 4 == 32
    assert [w.name for w in lstm.weights] == ["lstm/kernel:0", "lstm/recurrent_kernel:0",
                                               "lstm/bias:0"]
    assert [w.shape.as_list() for w in gru2.weights] == [[3, 12], [4, 12], [2, 12]]
    assert lstm.recurrent_activation.__name__ == "hard_sigmoid"  # TF 1.x's v1 default
    assert gru.reset_after is False
    bias = K.get_value(lstm.bias)  # unit_forget_bias: the forget quarter starts at one
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)
    kernel = K.get_value(simple.recurrent_kernel)  # orthogonal
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(4), atol=1e-5)


def test_gradients_match_central_differences():
    data = RNG.randn(2, 3, 2)
    x = tf.placeholder(tf.float64, [2, 3, 2])
    layer = LSTM(2, recurrent_activation="sigmoid", dtype="float64")
    y = layer(x)
    loss = tf.reduce_sum(y * y)
    grads = tf.gradients(loss, layer.weights + [x])
    with tf.Session(target="reference") as sess:
        K.initialize_variables(sess)
        weights = [w * 0.7 for w in _set_random_weights(layer)]
        layer.set_weights(weights)
        got = sess.run(grads, {x: data})

    def f(ws, xs):
        seq, _ = np_lstm(xs, *ws, ra=sigmoid)
        return float((seq[:, -1] ** 2).sum())

    args = [w.astype(np.float64) for w in weights] + [data]
    for k, g in enumerate(got):
        want = np.zeros_like(args[k])
        for idx in np.ndindex(*args[k].shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[k][idx] += 1e-6
            minus[k][idx] -= 1e-6
            want[idx] = (f(plus[:3], plus[3]) - f(minus[:3], minus[3])) / 2e-6
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)


def test_bidirectional_concatenates_forward_and_reversed_backward_runs():
    data = RNG.randn(2, 4, 3).astype(np.float32)
    x = keras.Input(shape=(4, 3))
    bi = Bidirectional(GRU(2, return_sequences=True))
    y = bi(x)
    assert tuple(y.shape.dims) == (None, 4, 4)
    assert bi.count_params() == 2 * 3 * (2 * (3 + 2) + 2)
    assert [w.name for w in bi.weights][:1] == ["bidirectional/forward_gru/kernel:0"]
    assert [w.name for w in bi.weights][3] == "bidirectional/backward_gru/kernel:0"
    with tf.Session(target="reference") as sess:
        K.initialize_variables(sess)
        weights = _set_random_weights(bi)
        got = sess.run(y, {x: data})
    forward, _ = np_gru(data, *weights[:3])
    backward, _ = np_gru(data[:, ::-1], *weights[3:])
    np.testing.assert_allclose(got, np.concatenate([forward, backward[:, ::-1]], -1),
                               rtol=1e-4, atol=1e-5)


def test_dropout_is_off_at_inference_and_drops_in_training():
    data = np.ones((64, 3, 2), np.float32)
    x = keras.Input(shape=(3, 2))
    layer = SimpleRNN(8, dropout=0.5, recurrent_dropout=0.5, kernel_initializer="ones",
                      recurrent_initializer="zeros")
    y = layer(x)
    phase = K.symbolic_learning_phase()
    off, on = run([y, y], {x: data}), run(y, {x: data, phase: True})
    np.testing.assert_allclose(off[0], np.tanh(2.0) * np.ones((64, 8)), rtol=1e-5)
    # one step sees x * mask, mask in {0, 2}: tanh of 0, 2 or 4 per unit
    allowed = np.tanh([0.0, 2.0, 4.0])
    nearest = np.abs(on.ravel()[:, None] - allowed[None]).min(1)
    assert nearest.max() < 1e-5
    assert len(set(np.round(on.ravel(), 3))) == 3


def test_refusals_name_the_layer_and_the_argument():
    x = keras.Input(shape=(3, 2))
    with pytest.raises(NotImplementedError, match="layer 'lstm.*mask=: graphc's Keras has no"):
        LSTM(2)(x, mask=tf.ones([1, 3], tf.bool))
    with pytest.raises(NotImplementedError, match="stateful=True is not supported"):
        GRU(2, stateful=True)
    with pytest.raises(ValueError, match="dropout must be a number in \\[0, 1\\), got 1.5"):
        LSTM(2, dropout=1.5)
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        LSTM(2)(keras.Input(shape=(3,)))
    with pytest.raises(ValueError, match="Bidirectional wraps a recurrent layer"):
        Bidirectional(keras.layers.Dense(2))


def test_embedding_lstm_dense_learns_a_toy_task_with_fit():
    """Is the first token of a sequence of 6 equal to the last? needs the state to carry."""
    tf.set_random_seed(0)
    np.random.seed(0)
    rng = np.random.RandomState(1)
    ids = rng.randint(1, 5, size=(256, 6))
    ids[: 128, -1] = ids[: 128, 0]
    labels = (ids[:, 0] == ids[:, -1]).astype(np.float32)[:, None]
    model = keras.Sequential([
        keras.layers.Embedding(5, 8, input_length=6),
        LSTM(16),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    # Embedding 5*8, LSTM 4*(16*(8+16)+16), Dense 16+1
    assert "Total params: 1,657" in lines, lines
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["acc"])
    history = model.fit(ids, labels, batch_size=32, epochs=25, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert history.history["acc"][-1] > 0.85
