"""graphc.keras.transformer: the encoder block, post-LN and pre-LN, against numpy with the
block's own weights; masks, dropout, training, configuration."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import backend as K
from graphc.keras.transformer import TransformerEncoderBlock, encoder_block

RNG = np.random.default_rng(0)
B, T, D, H, F = 2, 5, 8, 2, 16


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_attention(x, weights, mask):
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q, k, v = (np.einsum("btd,dhk->bthk", x, w) + b for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    logits = np.einsum("bthk,bshk->bhts", q / np.sqrt(wq.shape[-1]), k)
    logits = np.where(mask, logits, -1e9)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    out = np.einsum("bhts,bshk->bthk", e / e.sum(-1, keepdims=True), v)
    return np.einsum("bthk,hkd->btd", out, wo) + bo


def np_block(x, weights, norm_first, mask=True, activation=lambda z: np.maximum(z, 0)):
    attention, (g1, b1, w1, c1, w2, c2, g2, b2) = weights[:8], weights[8:]

    def ffn(z):
        return activation(z @ w1 + c1) @ w2 + c2
    if norm_first:
        xn = layer_norm(x, g1, b1)
        h = x + np_attention(xn, attention, mask)
        return h + ffn(layer_norm(h, g2, b2))
    h = layer_norm(x + np_attention(x, attention, mask), g1, b1)
    return layer_norm(h + ffn(h), g2, b2)


def random_weights(block, sess):
    """Non-trivial values for every weight (biases and LayerNorm parameters included)."""
    values = [RNG.standard_normal(w.shape.as_list()).astype(np.float32) * 0.3 for w in
              block.weights]
    for w, v in zip(block.weights, values):
        w.load(v, sess)
    return values


@pytest.mark.parametrize("target", ["reference", "llvm"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_block_matches_numpy(target, norm_first):
    x = RNG.standard_normal((B, T, D)).astype(np.float32)
    mask = RNG.random((B, T, T)) > 0.3
    mask[..., 0] = True
    inputs = tf.placeholder(tf.float32, [None, T, D])
    block = TransformerEncoderBlock(H, F, norm_first=norm_first)
    out = block(inputs, attention_mask=mask, training=False)
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        weights = random_weights(block, sess)
        got = sess.run(out, {inputs: x})
    want = np_block(x, weights, norm_first, mask[:, None])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_causal_gelu_block_and_weight_names():
    x = RNG.standard_normal((B, T, D)).astype(np.float32)
    out = encoder_block(tf.constant(x), H, F, activation="gelu", use_causal_mask=True,
                        name="enc")
    weights = [v for v in tf.global_variables() if v.name.startswith("enc/")]
    assert [w.name for w in weights] == [
        f"enc/self_attention/{p}/{k}:0" for p in ("query", "key", "value", "attention_output")
        for k in ("kernel", "bias")] + [
        "enc/self_attention_layer_norm/gamma:0", "enc/self_attention_layer_norm/beta:0",
        "enc/feedforward_intermediate_dense/kernel:0",
        "enc/feedforward_intermediate_dense/bias:0",
        "enc/feedforward_output_dense/kernel:0", "enc/feedforward_output_dense/bias:0",
        "enc/feedforward_layer_norm/gamma:0", "enc/feedforward_layer_norm/beta:0"]
    with tf.Session() as sess:
        K.initialize_variables(sess)
        got, values = sess.run([out, weights])
    erf = np.vectorize(math.erf)
    gelu = lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2)))  # noqa: E731
    causal = np.tril(np.ones((T, T), bool))
    np.testing.assert_allclose(got, np_block(x, values, False, causal, gelu), rtol=1e-4,
                               atol=1e-4)


def test_dropout_in_training_and_a_training_step_lowers_the_loss():
    x = RNG.standard_normal((B, T, D)).astype(np.float32)
    target = RNG.standard_normal((B, T, D)).astype(np.float32)
    training = tf.placeholder(tf.bool, [])
    block = TransformerEncoderBlock(H, F, dropout=0.3)
    out = block(tf.constant(x), training=training)
    loss = tf.reduce_mean(tf.square(out - target))
    train = tf.train.AdamOptimizer(0.01).minimize(loss)
    assert len(block.trainable_weights) == 16
    with tf.Session() as sess:
        K.initialize_variables(sess)
        first = sess.run(out, {training: False})
        assert np.allclose(first, sess.run(out, {training: False}))
        assert not np.allclose(first, sess.run(out, {training: True}), atol=1e-3)
        before = sess.run(loss, {training: False})
        for _ in range(10):
            sess.run(train, {training: True})
        assert sess.run(loss, {training: False}) < before


def test_functional_model_and_config():
    inputs = keras.Input(shape=(T, D))
    mask = keras.Input(shape=(T, T), dtype="bool")
    block = TransformerEncoderBlock(H, F, name="block")
    model = keras.Model(inputs=[inputs, mask], outputs=block(inputs, attention_mask=mask))
    x = RNG.standard_normal((B, T, D)).astype(np.float32)
    allowed = np.ones((B, T, T), bool)
    got = model.predict([x, allowed])
    weights = K.batch_get_value(block.weights)
    np.testing.assert_allclose(got, np_block(x, weights, False), rtol=1e-4, atol=1e-4)
    config = block.get_config()
    assert {k: config[k] for k in ("name", "num_heads", "d_ff", "key_dim", "dropout",
                                   "activation", "norm_first", "layer_norm_epsilon")} == {
        "name": "block", "num_heads": H, "d_ff": F, "key_dim": None, "dropout": 0.0,
        "activation": "relu", "norm_first": False, "layer_norm_epsilon": 1e-5}


def test_errors():
    with pytest.raises(ValueError, match="d_model=6 is not divisible by num_heads=4"):
        TransformerEncoderBlock(4, 8)(tf.placeholder(tf.float32, [2, 3, 6]))
    with pytest.raises(ValueError, match=r"expects \[batch, T, d_model\] inputs"):
        TransformerEncoderBlock(2, 8)(tf.placeholder(tf.float32, [2, 6]))
    with pytest.raises(ValueError, match="d_ff"):
        TransformerEncoderBlock(2, 0)
