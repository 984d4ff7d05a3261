"""The Transformer LM: logits and loss against a NumPy forward pass, generation with the
key/value cache against the full forward on the growing sequence, sampling against a NumPy
Gumbel-max draw with the same noise, and the argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as tf
from graphc.models.text import (
    TransformerLM,
    TransformerLMConfig,
    kth_largest,
    sinusoidal_positions,
    uniform_noise,
)

VOCAB = 13


def small(**kwargs):
    base = dict(vocab_size=VOCAB, d_model=16, num_heads=2, num_layers=2, max_len=12,
                init_std=0.4)
    base.update(kwargs)
    return TransformerLMConfig(**base)


# --- a NumPy reference ------------------------------------------------------------------------
def layer_norm(x, g, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def activation(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def reference_logits(c: TransformerLMConfig, w: dict, ids):
    """GPT-2's forward pass in float64, from the variables' values `w`."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    batch, length = ids.shape
    pos = w["wpe"] if c.positions == "learned" else sinusoidal_positions(c.max_len, c.d_model)
    x = w["wte"][ids] + pos[:length]
    causal = np.tril(np.ones((length, length), bool))
    for i in range(c.num_layers):
        p = f"h{i}/"
        h = layer_norm(x, w[p + "ln_1/gamma"], w[p + "ln_1/beta"], c.layer_norm_epsilon)
        qkv = h @ w[p + "attn/c_attn/kernel"] + w[p + "attn/c_attn/bias"]
        q, k, v = (t.reshape(batch, length, c.num_heads, c.head_dim).transpose(0, 2, 1, 3)
                   for t in np.split(qkv, 3, axis=-1))
        s = np.where(causal, q @ k.transpose(0, 1, 3, 2) / math.sqrt(c.head_dim), -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a = (a / a.sum(-1, keepdims=True)) @ v
        a = a.transpose(0, 2, 1, 3).reshape(batch, length, c.d_model)
        x = x + a @ w[p + "attn/c_proj/kernel"] + w[p + "attn/c_proj/bias"]
        h = layer_norm(x, w[p + "ln_2/gamma"], w[p + "ln_2/beta"], c.layer_norm_epsilon)
        h = activation(c.activation, h @ w[p + "mlp/c_fc/kernel"] + w[p + "mlp/c_fc/bias"])
        x = x + h @ w[p + "mlp/c_proj/kernel"] + w[p + "mlp/c_proj/bias"]
    x = layer_norm(x, w["ln_f/gamma"], w["ln_f/beta"], c.layer_norm_epsilon)
    return x @ (w["wte"].T if c.tie_embeddings else w["lm_head/kernel"])


def values(sess, lm):
    return dict(zip(lm.variables, sess.run(list(lm.variables.values()))))


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


# --- training graph ---------------------------------------------------------------------------
@pytest.mark.parametrize("options", [
    {},
    {"positions": "sinusoidal", "tie_embeddings": False, "activation": "relu", "d_ff": 24},
    {"activation": "gelu", "num_layers": 1},
], ids=["gpt2-like", "sinusoidal-untied-relu", "gelu"])
def test_logits_and_loss_match_numpy(options):
    tf.set_random_seed(1)
    config = small(**options)
    lm = TransformerLM(config)
    ids = tf.placeholder(tf.int32, [None, 7])
    logits, loss = lm.logits(ids), lm.loss(ids)
    data = np.random.default_rng(0).integers(0, VOCAB, (3, 7)).astype(np.int32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, got_loss = sess.run([logits, loss], {ids: data})
        want = reference_logits(config, values(sess, lm), data)
    assert got.shape == (3, 7, VOCAB)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the loss predicts ids[:, 1:] from ids[:, :-1]
    picked = np.take_along_axis(log_softmax(want[:, :-1]), data[:, 1:, None], -1)
    np.testing.assert_allclose(got_loss, -picked.mean(), rtol=1e-4)


def test_loss_weights_mask_positions():
    tf.set_random_seed(2)
    lm = TransformerLM(small(num_layers=1))
    ids = tf.placeholder(tf.int32, [2, 6])
    weights = tf.placeholder(tf.float32, [2, 5])
    loss, logits = lm.loss(ids, weights), lm.logits(ids)
    data = np.random.default_rng(3).integers(0, VOCAB, (2, 6)).astype(np.int32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, lg = sess.run([loss, logits], {ids: data, weights: mask})
    per = -np.take_along_axis(log_softmax(lg[:, :-1].astype(np.float64)), data[:, 1:, None],
                              -1)[..., 0]
    np.testing.assert_allclose(got, (per * mask).sum() / mask.sum(), rtol=1e-5)


def test_variables_are_named_like_gpt2_modules():
    lm = TransformerLM(small(num_layers=1, tie_embeddings=False), name="lm")
    names = sorted(v.name for v in tf.global_variables())
    assert names == sorted(f"lm/{n}:0" for n in [
        "wte", "wpe", "h0/ln_1/gamma", "h0/ln_1/beta", "h0/attn/c_attn/kernel",
        "h0/attn/c_attn/bias", "h0/attn/c_proj/kernel", "h0/attn/c_proj/bias",
        "h0/ln_2/gamma", "h0/ln_2/beta", "h0/mlp/c_fc/kernel", "h0/mlp/c_fc/bias",
        "h0/mlp/c_proj/kernel", "h0/mlp/c_proj/bias", "ln_f/gamma", "ln_f/beta",
        "lm_head/kernel"])
    assert lm.variables["h0/attn/c_attn/kernel"].shape.as_list() == [16, 48]


def test_sinusoidal_table():
    table = sinusoidal_positions(5, 4)
    p, i = 3, 1
    assert table[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 4)), rel=1e-6)
    assert table[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 4)), rel=1e-6)


# --- generation -------------------------------------------------------------------------------
def run_full_forward(sess, lm, prompt, steps, choose):
    """Tokens chosen one at a time from the full forward over the growing sequence (no
    cache): one graph over the final length, fed the sequence so far padded with zeros;
    causal attention makes position t independent of what follows it."""
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


@pytest.mark.parametrize("seed, options", [
    (3, {}), (4, {"positions": "sinusoidal", "tie_embeddings": False})])
def test_cached_greedy_generation_equals_full_forward(seed, options):
    tf.set_random_seed(seed)
    lm = TransformerLM(small(init_std=1.0, **options))
    prompt = tf.placeholder(tf.int32, [None, 3])  # the batch is known at run time only
    generated, one = lm.generate(prompt, 8, temperature=0), lm.generate(prompt, 1, 0)
    data = np.array([[1, 2, 3], [7, 5, 11]], np.int32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, first = sess.run([generated, one], {prompt: data})
        want = run_full_forward(sess, lm, data, 8, lambda last, i: last.argmax(-1))
    np.testing.assert_array_equal(first, want[:, :1])  # no loop iteration at all
    assert got.dtype == np.int32 and got.shape == (2, 8)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 2  # the weights are large enough for varied tokens


@pytest.mark.parametrize("k", [4, 7])  # top_k unrolled, and as an inner while loop
def test_sampling_with_fed_noise_equals_numpy_gumbel_max(k):
    tf.set_random_seed(4)
    lm = TransformerLM(small())
    steps, temperature = 7, 0.8
    prompt = tf.placeholder(tf.int32, [2, 2])
    noise = tf.placeholder(tf.float32, [steps, 2, VOCAB])
    generated = lm.generate(prompt, steps, temperature, top_k=k, noise=noise)
    data = np.array([[4, 9], [0, 12]], np.int32)
    u = uniform_noise(steps, 2, VOCAB, seed=5)

    def gumbel_top_k(last, i):
        scores = last / temperature
        kth = np.sort(scores, -1)[:, -k][:, None]
        scores = np.where(scores >= kth, scores, -np.inf)
        return (scores - np.log(-np.log(u[i]))).argmax(-1)

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(generated, {prompt: data, noise: u})
        want = run_full_forward(sess, lm, data, steps, gumbel_top_k)
    np.testing.assert_array_equal(got, want)


def test_in_graph_noise_top_1_is_greedy_and_draws_vary():
    tf.set_random_seed(5)
    lm = TransformerLM(small(num_layers=1))
    prompt = tf.placeholder(tf.int32, [3, 2])
    top1 = lm.generate(prompt, 6, temperature=1.0, top_k=1, seed=7)
    greedy = lm.generate(prompt, 6, temperature=0)
    hot = lm.generate(prompt, 6, temperature=50.0, seed=8)
    data = np.array([[1, 2], [3, 4], [5, 6]], np.int32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([top1, greedy], {prompt: data})
        draws = [sess.run(hot, {prompt: data}) for _ in range(2)]
    np.testing.assert_array_equal(a, b)
    assert all(((d >= 0) & (d < VOCAB)).all() for d in draws)
    assert not np.array_equal(draws[0], draws[1])  # a fresh draw each run


def test_kth_largest_counts_ties_like_top_k():
    rng = np.random.default_rng(6)
    data = rng.integers(0, 4, (5, 9)).astype(np.float32)  # many ties
    x = tf.placeholder(tf.float32, [5, 9])
    with tf.Session() as sess:
        got = [sess.run(kth_largest(x, k), {x: data}) for k in (1, 3, 9)]
    for k, g in zip((1, 3, 9), got):
        np.testing.assert_array_equal(g[:, 0], np.sort(data, -1)[:, -k])


# --- argument checks --------------------------------------------------------------------------
def test_config_errors():
    with pytest.raises(ValueError, match="d_model=10 must be a multiple of num_heads=4"):
        TransformerLMConfig(vocab_size=5, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="positions must be one of"):
        TransformerLMConfig(vocab_size=5, positions="rotary")
    with pytest.raises(ValueError, match="activation must be one of"):
        TransformerLMConfig(vocab_size=5, activation="swish")
    with pytest.raises(ValueError, match="vocab_size must be an int >= 1, got 0"):
        TransformerLMConfig(vocab_size=0)
    with pytest.raises(TypeError, match="config must be a TransformerLMConfig"):
        TransformerLM({"vocab_size": 5})


def test_generate_errors():
    lm = TransformerLM(small(), name="lm")
    prompt = tf.placeholder(tf.int32, [2, 4])
    with pytest.raises(ValueError, match=r"lm.generate: a prompt of 4 tokens and 10 new tokens "
                                         r"need 13 positions, more than max_len=12"):
        lm.generate(prompt, 10)
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        lm.generate(prompt, 3, temperature=-1)
    with pytest.raises(ValueError, match=r"top_k must be None or an int in \[1, vocab_size=13\]"):
        lm.generate(prompt, 3, top_k=14)
    with pytest.raises(ValueError, match=r"noise must be \[max_new_tokens, batch, vocab_size\] "
                                         r"= \[3, 2, 13\]"):
        lm.generate(prompt, 3, noise=tf.placeholder(tf.float32, [3, 2, 12]))
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 1"):
        lm.generate(prompt, 0)
    with pytest.raises(TypeError, match="token ids must be integers"):
        lm.generate(tf.placeholder(tf.float32, [2, 4]), 3)
    with pytest.raises(ValueError, match="the prompt's length must be known"):
        lm.generate(tf.placeholder(tf.int32, [2, None]), 3)
    with pytest.raises(ValueError, match="at most max_len=12"):
        lm.logits(tf.placeholder(tf.int32, [2, 13]))
