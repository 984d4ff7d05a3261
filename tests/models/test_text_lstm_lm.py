"""The LSTM LM: logits against a NumPy LSTM, and generation (the state carried by the loop)
against the full forward on the growing sequence, greedy and sampled."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.models.text import LSTMLM, uniform_noise

VOCAB = 9


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_logits(sess, lm, ids):
    """tf.nn.rnn_cell.LSTMCell's equations (gates i, j, f, o; forget bias 1) in float64."""
    emb, kernel, bias = sess.run([lm.embedding, lm.kernel, lm.bias])
    cells = [sess.run(c.variables) for c in lm.cells]
    x = emb[ids].astype(np.float64)
    for k, b in cells:
        c = h = np.zeros((ids.shape[0], lm.units))
        outputs = []
        for t in range(ids.shape[1]):
            i, j, f, o = np.split(np.concatenate([x[:, t], h], 1) @ k + b, 4, axis=1)
            c = sigmoid(f + 1.0) * c + sigmoid(i) * np.tanh(j)
            h = sigmoid(o) * np.tanh(c)
            outputs.append(h)
        x = np.stack(outputs, 1)
    return x @ kernel + bias


def test_logits_match_numpy_lstm():
    tf.set_random_seed(0)
    lm = LSTMLM(VOCAB, units=12, num_layers=2, embedding_dim=6)
    ids = tf.placeholder(tf.int32, [None, 5])
    logits = lm.logits(ids)
    data = np.random.default_rng(1).integers(0, VOCAB, (3, 5)).astype(np.int32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(logits, {ids: data})
        want = reference_logits(sess, lm, data)
    assert got.shape == (3, 5, VOCAB)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def full_forward_tokens(sess, lm, prompt, steps, choose):
    batch, length = prompt.shape
    ids = tf.placeholder(tf.int32, [batch, length + steps - 1])
    logits = lm.logits(ids)
    seq = prompt.copy()
    for i in range(steps):
        padded = np.zeros((batch, length + steps - 1), np.int32)
        padded[:, :seq.shape[1]] = seq
        last = sess.run(logits, {ids: padded})[:, seq.shape[1] - 1]
        seq = np.concatenate([seq, choose(last, i)[:, None].astype(np.int32)], axis=1)
    return seq[:, length:]


@pytest.mark.parametrize("temperature", [0.0, 1.3])
def test_generation_equals_full_forward(temperature):
    tf.set_random_seed(2)
    lm = LSTMLM(VOCAB, units=10, num_layers=2)
    steps = 6
    prompt = tf.placeholder(tf.int32, [2, 3])
    noise = tf.placeholder(tf.float32, [steps, 2, VOCAB])
    generated = lm.generate(prompt, steps, temperature, noise=noise if temperature else None)
    data = np.array([[1, 2, 3], [8, 0, 4]], np.int32)
    u = uniform_noise(steps, 2, VOCAB, seed=3)

    def choose(last, i):
        if temperature == 0:
            return last.argmax(-1)
        return (last / temperature - np.log(-np.log(u[i]))).argmax(-1)

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(generated, {prompt: data, noise: u} if temperature else {prompt: data})
        want = full_forward_tokens(sess, lm, data, steps, choose)
    np.testing.assert_array_equal(got, want)


def test_dropout_trains_and_shares_the_variables():
    tf.set_random_seed(4)
    lm = LSTMLM(VOCAB, units=8, num_layers=2, dropout=0.3)
    ids = tf.placeholder(tf.int32, [4, 6])
    train_loss, eval_loss = lm.loss(ids, training=True), lm.loss(ids)
    prompt = tf.placeholder(tf.int32, [1, 2])
    lm.generate(prompt, 3, temperature=0)
    assert len(tf.trainable_variables()) == 3 + 2 * 2  # embedding, output, two cells
    data = np.tile(np.arange(6, dtype=np.int32) % VOCAB, (4, 1))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run(eval_loss, {ids: data}), sess.run(eval_loss, {ids: data})
        draws = {float(sess.run(train_loss, {ids: data})) for _ in range(3)}
    assert a == b and len(draws) > 1


def test_lstm_errors():
    with pytest.raises(ValueError, match="LSTMLM: units must be an int >= 1, got 0"):
        LSTMLM(5, units=0)
    with pytest.raises(ValueError, match=r"LSTMLM: dropout must be in \[0, 1\)"):
        LSTMLM(5, dropout=1.0)
    lm = LSTMLM(5, units=4, name="rnnlm")
    with pytest.raises(ValueError, match="rnnlm.logits: the sequence length must be known"):
        lm.logits(tf.placeholder(tf.int32, [2, None]))
