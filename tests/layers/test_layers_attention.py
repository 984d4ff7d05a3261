"""graphc.layers.attention: scaled dot-product attention and the head reshapes, against numpy,
on the reference and LLVM targets; gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.layers.attention import (
    causal_mask,
    dot_product_attention,
    merge_heads,
    split_heads,
)

RNG = np.random.default_rng(0)


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    """(output, weights) as the module defines them, masked logits set to -1e9."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(logits.shape, bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:
        tq, tk = logits.shape[-2:]
        allowed = allowed & (np.arange(tk)[None] <= np.arange(tq)[:, None] + tk - tq)
    logits = np.where(allowed, logits, -1e9)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ v, w


def arrays(*shapes, dtype=np.float32):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("target", ["reference", "llvm"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy(target, causal, masked):
    q, k, v = arrays((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5))
    mask = RNG.random((2, 1, 4, 6)) > 0.3 if masked else None  # broadcast over the heads
    qt, kt, vt = (tf.placeholder(tf.float32, a.shape) for a in (q, k, v))
    out, weights = dot_product_attention(qt, kt, vt, mask=mask, causal=causal,
                                         return_weights=True)
    with tf.Session(target=target) as sess:
        got_out, got_w = sess.run([out, weights], {qt: q, kt: k, vt: v})
    want_out, want_w = np_attention(q, k, v, mask, causal)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-6)


def test_causal_block_at_the_end_of_a_cache_sees_the_whole_cache():
    # 2 new queries after 3 cached positions: query 0 is position 3, query 1 position 4
    np.testing.assert_array_equal(tf.Session().run(causal_mask(2, 5)),
                                  [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(tf.Session().run(causal_mask(2, 3, offset=0)),
                                  [[1, 0, 0], [1, 1, 0]])
    q, k, v = arrays((1, 2, 4), (1, 5, 4), (1, 5, 3))
    out, w = dot_product_attention(q, k, v, causal=True, return_weights=True)
    got_out, got_w = tf.Session().run([out, w])
    assert np.all(got_w[0, 0, 4] == 0) and got_w[0, 1, 4] > 0
    np.testing.assert_allclose(got_out, np_attention(q, k, v, causal=True)[0], rtol=1e-5,
                               atol=1e-6)


def test_scale_int_masks_and_fully_masked_rows():
    q, k, v = arrays((2, 3, 4), (2, 5, 4), (2, 5, 2))
    mask = (RNG.random((2, 3, 5)) > 0.5).astype(np.int32)
    mask[0, 1] = 0  # a row with nothing to attend to: uniform weights, not nan
    out, w = dot_product_attention(q, k, v, mask=mask, scale=0.3, return_weights=True)
    got_out, got_w = tf.Session().run([out, w])
    np.testing.assert_allclose(got_w[0, 1], np.full(5, 0.2), rtol=1e-6)
    want = np_attention(q, k, v, mask.astype(bool), scale=0.3)
    np.testing.assert_allclose(got_out, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_w, want[1], rtol=1e-5, atol=1e-7)


def test_dropout_drops_weights_only_in_training():
    q, k = arrays((2, 6, 4), (2, 6, 4))
    v = np.broadcast_to(np.eye(6, dtype=np.float32), (2, 6, 6))  # output = dropped weights
    training = tf.placeholder(tf.bool, [])
    tf.set_random_seed(1)
    out, w = dot_product_attention(q, k, v, dropout_rate=0.5, training=training, seed=3,
                                   return_weights=True)
    with tf.Session() as sess:
        dropped, weights = sess.run([out, w], {training: True})
        kept = sess.run(out, {training: False})
    np.testing.assert_allclose(kept, weights, rtol=1e-6)
    zero = dropped == 0
    assert 0.2 < zero.mean() < 0.8
    np.testing.assert_allclose(dropped[~zero], 2 * weights[~zero], rtol=1e-5)


def test_gradients_match_finite_differences():
    shapes = [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)]
    inputs = [tf.placeholder(tf.float64, s) for s in shapes]
    mask = np.tril(np.ones((3, 5), bool), 2)
    out = dot_product_attention(*inputs, mask=mask)
    with tf.Session():
        err = tf.test.compute_gradient_error(inputs, shapes, out, [1, 2, 3, 3],
                                             x_init_value=arrays(*shapes, dtype=np.float64))
    assert err < 1e-6


def test_split_and_merge_heads():
    x = tf.placeholder(tf.float32, [None, None, 12])
    heads = split_heads(x, 3)
    back = merge_heads(heads)
    assert heads.shape.as_list() == [None, 3, None, 4]
    value = RNG.standard_normal((2, 5, 12)).astype(np.float32)
    got_heads, got_back = tf.Session().run([heads, back], {x: value})
    np.testing.assert_array_equal(got_heads, value.reshape(2, 5, 3, 4).transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(got_back, value)


@pytest.mark.parametrize("call, message", [
    (lambda q, k, v: dot_product_attention(q, k[..., :3], v),
     "query and key must have the same last axis"),
    (lambda q, k, v: dot_product_attention(q, k, v[:, :2]),
     "key and value must have the same number of positions"),
    (lambda q, k, v: dot_product_attention(tf.cast(q, tf.int32), k, v),
     "query must be a floating-point tensor"),
    (lambda q, k, v: dot_product_attention(q, tf.cast(k, tf.float64), v),
     "must share a dtype"),
    (lambda q, k, v: dot_product_attention(q, k, v, dropout_rate=1.0),
     r"dropout_rate must be a number in \[0, 1\)"),
    (lambda q, k, v: dot_product_attention(tf.placeholder(tf.float32, [2, None, 4]), k, v,
                                           causal=True),
     "causal attention needs the query and key lengths"),
    (lambda q, k, v: split_heads(q, 3), r"last axis \(4\) must be known and divisible"),
])
def test_errors_name_the_problem(call, message):
    q, k, v = (tf.constant(a) for a in arrays((2, 3, 4), (2, 5, 4), (2, 5, 2)))
    with pytest.raises((ValueError, TypeError), match=message):
        call(q, k, v)
