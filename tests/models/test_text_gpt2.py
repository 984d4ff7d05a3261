"""GPT-2's weights in the Transformer LM: the names against a list written from Hugging
Face's GPT2LMHeadModel, loading with its errors, and the numbers against a PyTorch GPT-2
written here after transformers' modeling_gpt2.py (Conv1D weights [in, out], pre-LN
blocks, tanh GELU, causal mask filled with the dtype's lowest value, tied lm_head)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import graphc as tf
from graphc.models.text import TransformerLM, TransformerLMConfig, gpt2_names, load_gpt2_weights

KEYS = json.loads((Path(__file__).parent / "data" / "gpt2_tiny_keys.json").read_text())["keys"]
BUFFERS = (".attn.bias", ".attn.masked_bias")
TINY = dict(vocab_size=20, n_positions=8, n_embd=8, n_layer=2, n_head=2)


def tiny_model(**kwargs):
    return TransformerLM(TransformerLMConfig.gpt2(**TINY, **kwargs), name="gpt2")


def random_state(seed=0, tied=True):
    """A state dict of the tiny config with every weight random (biases and layer-norm
    parameters too), buffers included as older transformers versions save them."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in KEYS:
        if name.endswith(".attn.bias"):
            state[name] = np.tril(np.ones(shape[-2:], bool)).reshape(shape)
        elif name.endswith(".attn.masked_bias"):
            state[name] = np.array(-1e4, np.float32)
        else:
            scale = 0.1 if name.endswith(".bias") else 0.5
            base = 1.0 if ".ln_" in name and name.endswith(".weight") else 0.0
            state[name] = (base + scale * rng.standard_normal(shape)).astype(np.float32)
    if tied:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    return state


# --- names ----------------------------------------------------------------------------------
def test_names_and_shapes_are_gpt2s():
    lm = tiny_model()
    names = gpt2_names(lm)
    weights = [(n, s) for n, s in KEYS if not n.endswith(BUFFERS)]
    assert [(n, list(shape)) for n, (_, shape) in names.items()] == weights
    for name, (var, shape) in names.items():
        assert tuple(lm.variables[var].shape.as_list()) == shape or name == "lm_head.weight"
    assert names["lm_head.weight"][0] == "wte"  # tied


def test_untied_head_is_its_own_variable():
    lm = tiny_model(tie_word_embeddings=False)
    assert gpt2_names(lm)["lm_head.weight"] == ("lm_head/kernel", (20, 8))
    state = random_state(tied=False)
    state["lm_head.weight"] = np.arange(160, dtype=np.float32).reshape(20, 8)
    with tf.Session() as sess:
        load_gpt2_weights(lm, state, sess)
        kernel = sess.run(lm.variables["lm_head/kernel"])
    np.testing.assert_array_equal(kernel, state["lm_head.weight"].T)  # [d, V] in the model
    del state["lm_head.weight"]
    with tf.Session() as sess, pytest.raises(ValueError, match=r"missing \(1\): lm_head.weight"):
        load_gpt2_weights(lm, state, sess)


def test_other_architectures_are_refused():
    lm = TransformerLM(TransformerLMConfig(vocab_size=20, d_model=8, num_heads=2,
                                           positions="sinusoidal", activation="relu"), name="m")
    with pytest.raises(ValueError, match=r"'m' is not GPT-2's architecture: "
                                         r"positions='sinusoidal' \(GPT-2: 'learned'\), "
                                         r"activation='relu'"):
        gpt2_names(lm)


# --- loading --------------------------------------------------------------------------------
def test_load_from_a_dict_and_from_safetensors(tmp_path):
    from safetensors.numpy import save_file
    lm = tiny_model()
    state = random_state()
    path = tmp_path / "model.safetensors"
    # as GPT2Model saves it: no prefix, no lm_head, no buffers
    save_file({k[len("transformer."):]: v for k, v in state.items()
               if k.startswith("transformer.") and not k.endswith(BUFFERS)}, str(path))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        load_gpt2_weights(lm, state, sess)
        a = sess.run(lm.variables["h1/attn/c_attn/kernel"])
        sess.run(tf.global_variables_initializer())
        load_gpt2_weights(lm, path, sess)
        b = sess.run(lm.variables["h1/attn/c_attn/kernel"])
    np.testing.assert_array_equal(a, state["transformer.h.1.attn.c_attn.weight"])
    np.testing.assert_array_equal(b, a)


def test_mismatches_are_listed():
    lm = tiny_model()
    state = random_state()
    del state["transformer.h.0.ln_2.bias"]
    state["transformer.h.0.mlp.c_fc.weight"] = np.zeros((8, 16), np.float32)
    state["transformer.h.2.ln_1.weight"] = np.zeros(8, np.float32)
    with tf.Session() as sess, pytest.raises(ValueError) as info:
        load_gpt2_weights(lm, state, sess)
    message = str(info.value)
    assert "missing (1): transformer.h.0.ln_2.bias" in message
    assert "unknown to the model (1): transformer.h.2.ln_1.weight" in message
    assert ("wrong shape (1): transformer.h.0.mlp.c_fc.weight: given (8, 16), expected "
            "(8, 32)") in message
    state = random_state()
    state["lm_head.weight"] = state["lm_head.weight"] + 1
    with tf.Session() as sess, pytest.raises(ValueError, match="lm_head.weight differs from "
                                                               "wte.weight"):
        load_gpt2_weights(lm, state, sess)


# --- numbers against PyTorch ----------------------------------------------------------------
def torch_gpt2(state, config):
    """GPT2LMHeadModel's forward (eval mode) as transformers' modeling_gpt2.py computes it."""
    torch = pytest.importorskip("torch")
    w = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
    heads = config.num_heads

    def conv1d(x, name):  # transformers' Conv1D: x @ weight [in, out] + bias
        return torch.addmm(w[name + ".bias"], x.reshape(-1, x.shape[-1]),
                           w[name + ".weight"]).reshape(*x.shape[:-1], -1)

    def layer_norm(x, name):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], w[name + ".weight"],
                                              w[name + ".bias"], eps=1e-5)

    def split_heads(t):
        b, n, d = t.shape
        return t.view(b, n, heads, d // heads).permute(0, 2, 1, 3)

    def forward(ids):
        ids = torch.from_numpy(ids).long()
        n = ids.shape[1]
        x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:n]
        for i in range(config.num_layers):
            p = f"transformer.h.{i}."
            q, k, v = conv1d(layer_norm(x, p + "ln_1"), p + "attn.c_attn").split(
                config.d_model, dim=2)
            q, k, v = split_heads(q), split_heads(k), split_heads(v)
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(v.size(-1))
            causal = w[p + "attn.bias"][:, :, :n, :n]
            s = torch.where(causal, s, torch.tensor(torch.finfo(s.dtype).min))
            a = torch.matmul(torch.softmax(s, dim=-1), v)
            a = a.permute(0, 2, 1, 3).reshape(x.shape)
            x = x + conv1d(a, p + "attn.c_proj")
            h = conv1d(layer_norm(x, p + "ln_2"), p + "mlp.c_fc")
            h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
            x = x + conv1d(h, p + "mlp.c_proj")
        x = layer_norm(x, "transformer.ln_f")
        return (x @ w["lm_head.weight"].T).numpy()

    return forward


def test_logits_and_greedy_generation_match_pytorch():
    lm = tiny_model()
    state = random_state(seed=1)
    forward = torch_gpt2(state, lm.config)
    ids = tf.placeholder(tf.int32, [2, 8])
    logits = lm.logits(ids)
    prompt = tf.placeholder(tf.int32, [2, 3])
    generated = lm.generate(prompt, 6, temperature=0)
    data = np.random.default_rng(2).integers(0, 20, (2, 8)).astype(np.int32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        load_gpt2_weights(lm, state, sess)
        got = sess.run(logits, {ids: data})
        tokens = sess.run(generated, {prompt: data[:, :3]})
    np.testing.assert_allclose(got, forward(data), rtol=1e-4, atol=1e-4)
    seq = data[:, :3]
    for _ in range(6):  # the reference's greedy loop, no cache
        seq = np.concatenate([seq, forward(seq)[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(tokens, seq[:, 3:])
