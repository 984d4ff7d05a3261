"""tf.keras.layers.MultiHeadAttention, Attention and AdditiveAttention against numpy with the
layers' own weights (Keras's layout), and, where torch is installed, against
torch.nn.functional.scaled_dot_product_attention and torch.nn.MultiheadAttention with the
weights mapped."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import backend as K

RNG = np.random.default_rng(0)


def data(*shapes, dtype=np.float32):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


def run(fetches, feeds=None, target="reference"):
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        return sess.run(fetches, feeds or {})


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mha(query, value, key, weights, mask=None, causal=False):
    """Keras's MultiHeadAttention in numpy einsums: (output, scores [B, H, Tq, Tk])."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q = np.einsum("btd,dhk->bthk", query, wq) + bq
    k = np.einsum("btd,dhk->bthk", key, wk) + bk
    v = np.einsum("btd,dhk->bthk", value, wv) + bv
    logits = np.einsum("bthk,bshk->bhts", q / np.sqrt(wq.shape[-1]), k)
    allowed = np.ones(logits.shape, bool)
    if mask is not None:
        allowed &= mask[:, None].astype(bool)
    if causal:
        allowed &= np.tril(np.ones(logits.shape[-2:], bool))
    scores = softmax(np.where(allowed, logits, -1e9))
    out = np.einsum("bhts,bshk->bthk", scores, v)
    return np.einsum("bthk,hkd->btd", out, wo) + bo, scores


# --- MultiHeadAttention ----------------------------------------------------------------------
@pytest.mark.parametrize("target", ["reference", "llvm"])
@pytest.mark.parametrize("masked, causal", [(False, False), (True, False), (True, True)])
def test_mha_matches_numpy(target, masked, causal):
    query, value, key = data((2, 4, 6), (2, 5, 7), (2, 5, 3))
    layer = keras.layers.MultiHeadAttention(3, 2, value_dim=4, bias_initializer="random_normal")
    q, v, k = (tf.placeholder(tf.float32, [None, *a.shape[1:]]) for a in (query, value, key))
    mask = RNG.random((2, 4, 5)) > 0.3 if masked else None
    out, scores = layer(q, v, key=k, attention_mask=mask, return_attention_scores=True,
                        use_causal_mask=causal)
    got_out, got_scores, weights = run([out, scores, layer.weights],
                                       {q: query, v: value, k: key}, target)
    want_out, want_scores = np_mha(query, value, key, weights, mask, causal)
    assert got_out.shape == (2, 4, 6) and got_scores.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)


def test_mha_weights_have_keras_names_shapes_and_order():
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5,
                                            output_shape=8)
    layer(tf.placeholder(tf.float32, [None, 4, 6]), tf.placeholder(tf.float32, [None, 7, 9]))
    got = [(w.name, tuple(w.shape.as_list())) for w in layer.weights]
    assert got == [("multi_head_attention/query/kernel:0", (6, 2, 3)),
                   ("multi_head_attention/query/bias:0", (2, 3)),
                   ("multi_head_attention/key/kernel:0", (9, 2, 3)),
                   ("multi_head_attention/key/bias:0", (2, 3)),
                   ("multi_head_attention/value/kernel:0", (9, 2, 5)),
                   ("multi_head_attention/value/bias:0", (2, 5)),
                   ("multi_head_attention/attention_output/kernel:0", (2, 5, 8)),
                   ("multi_head_attention/attention_output/bias:0", (8,))]
    no_bias = keras.layers.MultiHeadAttention(2, 3, use_bias=False, name="nb")
    no_bias(tf.placeholder(tf.float32, [None, 4, 6]), tf.placeholder(tf.float32, [None, 4, 6]))
    assert [w.name for w in no_bias.weights] == [
        "nb/query/kernel:0", "nb/key/kernel:0", "nb/value/kernel:0",
        "nb/attention_output/kernel:0"]


def test_mha_over_two_time_axes_attends_jointly():
    query, value = data((2, 2, 3, 4), (2, 3, 2, 4))
    mask = RNG.random((2, 2, 3, 3, 2)) > 0.3
    layer = keras.layers.MultiHeadAttention(2, 3)
    out, scores = layer(tf.constant(query), tf.constant(value), attention_mask=mask,
                        return_attention_scores=True)
    got_out, got_scores, weights = run([out, scores, layer.weights])
    flat_out, flat_scores = np_mha(query.reshape(2, 6, 4), value.reshape(2, 6, 4),
                                   value.reshape(2, 6, 4), weights, mask.reshape(2, 6, 6))
    np.testing.assert_allclose(got_out, flat_out.reshape(2, 2, 3, 4), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_scores, flat_scores.reshape(2, 2, 2, 3, 3, 2), rtol=1e-5,
                               atol=1e-6)


def test_mha_gradients_and_a_training_step():
    shapes = [(2, 3, 4), (2, 5, 4)]
    q, v = (tf.placeholder(tf.float64, s) for s in shapes)
    layer = keras.layers.MultiHeadAttention(2, 3, dtype="float64",
                                            bias_initializer="random_normal")
    out = layer(q, v, attention_mask=np.tril(np.ones((3, 5), bool), 2)[None])
    with tf.Session() as sess:
        K.initialize_variables(sess)
        err = tf.test.compute_gradient_error([q, v], shapes, out, [2, 3, 4],
                                             x_init_value=data(*shapes, dtype=np.float64))
    assert err < 1e-6
    loss = tf.reduce_mean(tf.square(out - 1.0))
    grads = tf.gradients(loss, layer.weights)
    assert all(g is not None for g in grads)
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    feeds = dict(zip([q, v], data(*shapes, dtype=np.float64)))
    with tf.Session() as sess:
        K.initialize_variables(sess)
        before = sess.run(loss, feeds)
        for _ in range(5):
            sess.run(train, feeds)
        assert sess.run(loss, feeds) < before


def test_mha_dropout_only_in_training():
    query = data((2, 4, 6))[0]
    layer = keras.layers.MultiHeadAttention(2, 3, dropout=0.5)
    q = tf.constant(query)
    out_eval, scores = layer(q, q, return_attention_scores=True, training=False)
    out_train = layer(q, q, training=True)
    got_eval, got_train, got_scores, weights = run([out_eval, out_train, scores,
                                                    layer.weights])
    want_out, want_scores = np_mha(query, query, query, weights)
    np.testing.assert_allclose(got_eval, want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got_train, want_out, atol=1e-3)


def test_mha_in_a_functional_model_and_get_config():
    q_in, v_in = keras.Input(shape=(4, 6)), keras.Input(shape=(5, 6))
    layer = keras.layers.MultiHeadAttention(2, 3, name="mha")
    model = keras.Model(inputs=[q_in, v_in], outputs=layer(q_in, v_in))
    query, value = data((2, 4, 6), (2, 5, 6))
    got = model.predict([query, value])
    weights = K.batch_get_value(layer.weights)
    np.testing.assert_allclose(got, np_mha(query, value, value, weights)[0], rtol=1e-5,
                               atol=1e-5)
    config = layer.get_config()
    assert {k: config[k] for k in ("name", "num_heads", "key_dim", "value_dim", "dropout",
                                   "use_bias", "output_shape", "attention_axes")} == {
        "name": "mha", "num_heads": 2, "key_dim": 3, "value_dim": 3, "dropout": 0.0,
        "use_bias": True, "output_shape": None, "attention_axes": None}
    assert config["kernel_initializer"]["class_name"] == "VarianceScaling"
    assert layer.compute_output_shape({"query": (None, 4, 6)}).as_list() == [None, 4, 6]


@pytest.mark.parametrize("make, call, message", [
    (lambda: keras.layers.MultiHeadAttention(2, 3, attention_axes=(1,)), None,
     "attention_axes=.*is not supported"),
    (lambda: keras.layers.MultiHeadAttention(0, 3), None, "num_heads"),
    (lambda: keras.layers.MultiHeadAttention(2, 3, dropout=1.5), None,
     r"dropout must be a number in \[0, 1\)"),
    (lambda: keras.layers.MultiHeadAttention(2, 3), lambda layer, x: layer(x),
     "value is missing"),
    (lambda: keras.layers.MultiHeadAttention(2, 3),
     lambda layer, x: layer(tf.placeholder(tf.float32, [2, 6]), x),
     r"query must be \[batch, T\.\.\., dim\]"),
    (lambda: keras.layers.MultiHeadAttention(2, 3),
     lambda layer, x: layer(x, x, attention_mask=np.ones((2, 1, 4, 4), bool)),
     "attention_mask must be"),
])
def test_mha_errors(make, call, message):
    x = tf.placeholder(tf.float32, [2, 4, 6])
    with pytest.raises((ValueError, TypeError, NotImplementedError), match=message):
        layer = make()
        call(layer, x)


# --- Attention and AdditiveAttention -----------------------------------------------------------
def np_dense_attention(scores, value, q_mask=None, v_mask=None, causal=False):
    allowed = np.ones(scores.shape, bool)
    if v_mask is not None:
        allowed &= v_mask[:, None]
    if causal:
        allowed &= np.tril(np.ones(scores.shape[-2:], bool))
    weights = softmax(np.where(allowed, scores, -1e9))
    out = weights @ value
    if q_mask is not None:
        out = out * q_mask[..., None]
    return out, weights


@pytest.mark.parametrize("target", ["reference", "llvm"])
@pytest.mark.parametrize("kind", ["dot", "dot_scaled", "concat", "additive", "additive_1"])
def test_dense_attention_matches_numpy(target, kind):
    query, value, key = data((2, 3, 4), (2, 5, 4), (2, 5, 4))
    q_mask, v_mask = RNG.random((2, 3)) > 0.3, RNG.random((2, 5)) > 0.3
    v_mask[:, 0] = True
    layer = {"dot": lambda: keras.layers.Attention(name="att"),
             "dot_scaled": lambda: keras.layers.Attention(use_scale=True, causal=True,
                                                          name="att"),
             "concat": lambda: keras.layers.Attention(use_scale=True, score_mode="concat",
                                                      name="att"),
             "additive": lambda: keras.layers.AdditiveAttention(name="att"),
             "additive_1": lambda: keras.layers.AdditiveAttention(use_scale=False,
                                                                  name="att")}[kind]()
    out, weights = layer([tf.constant(query), tf.constant(value), tf.constant(key)],
                         mask=[q_mask, v_mask], return_attention_scores=True)
    got_out, got_weights, scale = run([out, weights, layer.weights], target=target)
    if kind.startswith("dot"):
        scores = query @ key.transpose(0, 2, 1) * (scale[0] if scale else 1.0)
    elif kind == "concat":
        total = np.tanh(scale[0] * (query[:, :, None] + key[:, None]))
        scores = scale[1] * total.sum(-1)
    else:
        total = np.tanh(query[:, :, None] + key[:, None])
        scores = (total * (scale[0] if scale else 1.0)).sum(-1)
    want_out, want_weights = np_dense_attention(scores, value, q_mask, v_mask,
                                                causal=kind == "dot_scaled")
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_weights, want_weights, rtol=1e-5, atol=1e-6)
    names = {"dot": [], "dot_scaled": ["att/scale:0"],
             "concat": ["att/scale:0", "att/concat_score_weight:0"],
             "additive": ["att/scale:0"], "additive_1": []}[kind]
    assert [w.name for w in layer.weights] == names


def test_dense_attention_causal_call_argument_dropout_and_config():
    query, value = data((2, 4, 3), (2, 4, 3))
    layer = keras.layers.Attention(dropout=0.5, name="luong")
    q, v = tf.constant(query), tf.constant(value)
    causal = layer([q, v], use_causal_mask=True, training=False)
    dropped = layer([q, v], training=True)
    got, got_dropped = run([causal, dropped])
    scores = query @ value.transpose(0, 2, 1)
    np.testing.assert_allclose(got, np_dense_attention(scores, value, causal=True)[0],
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(got_dropped, np_dense_attention(scores, value)[0], atol=1e-3)
    assert {k: v for k, v in layer.get_config().items() if k != "dtype"} == {
        "name": "luong", "trainable": True, "causal": False, "dropout": 0.5,
        "use_scale": False, "score_mode": "dot"}
    assert keras.layers.AdditiveAttention().get_config()["use_scale"] is True


@pytest.mark.parametrize("call, message", [
    (lambda layer, x: layer(x), "must be called on a list of inputs"),
    (lambda layer, x: layer([x]), "must be called on a list of inputs"),
    (lambda layer, x: layer([x, x], mask=[None]), "mask must be a list"),
])
def test_dense_attention_errors(call, message):
    x = tf.placeholder(tf.float32, [2, 4, 3])
    with pytest.raises(ValueError, match=message):
        call(keras.layers.Attention(), x)
    with pytest.raises(ValueError, match="score_mode='sum'"):
        keras.layers.Attention(score_mode="sum")


# --- against torch -----------------------------------------------------------------------------
def test_core_matches_torch_scaled_dot_product_attention():
    torch = pytest.importorskip("torch")
    from graphc.layers.attention import dot_product_attention
    q, k, v = data((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5))
    mask = RNG.random((2, 1, 4, 6)) > 0.3
    mask[..., 0] = True  # torch gives nan for a row with nothing to attend to
    cases = [({"mask": mask}, {"attn_mask": torch.from_numpy(mask)}),
             ({"scale": 0.2}, {"scale": 0.2})]
    for ours, theirs in cases:
        got = tf.Session().run(dot_product_attention(q, k, v, **ours))
        want = torch.nn.functional.scaled_dot_product_attention(
            *(torch.from_numpy(a) for a in (q, k, v)), **theirs).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    square = data((2, 3, 5, 8))[0]
    got = tf.Session().run(dot_product_attention(square, k[:, :, :5], v[:, :, :5],
                                                 causal=True))
    t = [torch.from_numpy(a) for a in (square, k[:, :, :5].copy(), v[:, :, :5].copy())]
    want = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=True).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_mha_matches_torch_multihead_attention_with_mapped_weights():
    torch = pytest.importorskip("torch")
    d_model, heads = 8, 2
    query, value = data((2, 4, d_model), (2, 6, d_model))
    mask = RNG.random((2, 4, 6)) > 0.3
    mask[..., 0] = True
    layer = keras.layers.MultiHeadAttention(heads, d_model // heads,
                                            bias_initializer="random_normal")
    out, scores = layer(tf.constant(query), tf.constant(value), attention_mask=mask,
                        return_attention_scores=True)
    got_out, got_scores, weights = run([out, scores, layer.weights])
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    ref = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)
    flat = [w.reshape(d_model, d_model).T for w in (wq, wk, wv)]
    state = {"in_proj_weight": np.concatenate(flat),
             "in_proj_bias": np.concatenate([b.reshape(-1) for b in (bq, bk, bv)]),
             "out_proj.weight": wo.reshape(d_model, d_model).T, "out_proj.bias": bo}
    ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                         for k, v in state.items()})
    with torch.no_grad():
        # torch's bool attn_mask marks what may NOT be attended to, one per batch and head
        blocked = torch.from_numpy(~np.repeat(mask, heads, axis=0))
        want_out, want_scores = ref(torch.from_numpy(query), torch.from_numpy(value),
                                    torch.from_numpy(value), attn_mask=blocked,
                                    average_attn_weights=False)
    np.testing.assert_allclose(got_out, want_out.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_scores, want_scores.numpy(), rtol=1e-5, atol=1e-6)
