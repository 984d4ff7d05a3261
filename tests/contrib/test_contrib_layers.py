"""tf.contrib.layers (graphc/contrib/layers/): TF1's variable names and collections, values
against numpy on every target, gradients against central differences, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf
from graphc.contrib import layers as contrib_layers
from graphc.contrib.layers import fully_connected

layers = tf.contrib.layers
RNG = np.random.default_rng(11)


def names(collection=tf.GraphKeys.GLOBAL_VARIABLES):
    return [v.name for v in tf.get_collection(collection)]


def run_loaded(fetches, feed, values, target="reference"):
    """Run fetches after loading {variable: numpy value}."""
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        for var, value in values.items():
            var.load(value, sess)
        return sess.run(fetches, feed)


def np_conv2d_same(x, w):
    """NHWC stride-1 SAME convolution, w (kh, kw, in, out)."""
    kh, kw = w.shape[:2]
    xp = np.pad(x, [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)])
    out = np.zeros(x.shape[:3] + (w.shape[-1],))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + x.shape[1], j:j + x.shape[2]] @ w[i, j]
    return out


def check_gradients(loss, x, x_value, tol=1e-6, delta=1e-6):
    """tf.gradients of a scalar loss w.r.t. placeholder x and every trainable variable,
    against central differences (float64, variables at random values)."""
    variables = tf.trainable_variables()
    grads = tf.gradients(loss, [x] + variables)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        values = [RNG.uniform(-1, 1, v.shape.as_list()) for v in variables]
        for v, value in zip(variables, values):
            v.load(value, sess)
        symbolic = sess.run(grads, {x: x_value})
        points = [(x_value, lambda a: sess.run(loss, {x: a}))]
        for v, value in zip(variables, values):
            def f(a, v=v):
                v.load(a, sess)
                return sess.run(loss, {x: x_value})
            points.append((value, f))
        for (point, f), sym in zip(points, symbolic):
            numeric = np.zeros_like(point)
            for i in np.ndindex(*point.shape):
                plus, minus = point.copy(), point.copy()
                plus[i] += delta
                minus[i] -= delta
                numeric[i] = (f(plus) - f(minus)) / (2 * delta)
            f(point)
            np.testing.assert_allclose(sym, numeric, atol=tol, rtol=1e-5)


# --- the namespace ----------------------------------------------------------------------------
def test_attribute_and_module_spellings_are_one_module():
    import graphc.contrib.layers as imported
    assert tf.contrib.layers is imported is contrib_layers
    assert fully_connected is tf.contrib.layers.fully_connected
    assert tf.contrib.layers.conv2d is tf.contrib.layers.convolution2d
    with pytest.raises(AttributeError, match="graphc has no tf.contrib.layers.gdn"):
        tf.contrib.layers.gdn  # noqa: B018


# --- fully_connected ------------------------------------------------------------------------
def test_fully_connected_names_collections_and_values(target):
    x = tf.placeholder(tf.float32, [None, 4])
    y = layers.fully_connected(x, 3)
    z = layers.fully_connected(y, 2, activation_fn=None, scope="logits")
    expected = ["fully_connected/weights:0", "fully_connected/biases:0", "logits/weights:0",
                "logits/biases:0"]
    assert names() == expected
    assert names(tf.GraphKeys.TRAINABLE_VARIABLES) == expected
    assert names(tf.GraphKeys.MODEL_VARIABLES) == expected
    assert y.name == "fully_connected/Relu:0" and z.shape.as_list() == [None, 2]
    w1, b1, w2, b2 = tf.global_variables()
    assert w1.shape.as_list() == [4, 3] and b2.shape.as_list() == [2]
    vals = {v: RNG.normal(size=v.shape.as_list()).astype(np.float32) for v in (w1, b1, w2, b2)}
    xv = RNG.normal(size=(5, 4)).astype(np.float32)
    got = run_loaded(z, {x: xv}, vals, target)
    hidden = np.maximum(xv @ vals[w1] + vals[b1], 0)
    assert_close(got, hidden @ vals[w2] + vals[b2], rtol=1e-5, atol=1e-5)


def test_fully_connected_rank3_normalizer_and_collections():
    x = tf.placeholder(tf.float32, [2, 5, 4])
    seen = []

    def normalizer(t, factor):
        seen.append(factor)
        return t * factor
    y = layers.fully_connected(x, 3, normalizer_fn=normalizer, normalizer_params={"factor": 2.0},
                               variables_collections={"weights": ["my_weights"]},
                               outputs_collections="outs", activation_fn=None)
    assert seen == [2.0] and y.shape.as_list() == [2, 5, 3]
    assert names() == ["fully_connected/weights:0"]  # no biases with a normalizer
    assert names("my_weights") == ["fully_connected/weights:0"]
    assert tf.get_collection("outs") == [y]
    w = tf.global_variables()[0]
    xv = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    wv = RNG.normal(size=(4, 3)).astype(np.float32)
    assert_close(run_loaded(y, {x: xv}, {w: wv}), 2 * xv @ wv, rtol=1e-5, atol=1e-5)


def test_fully_connected_reuse_regularizer_and_errors():
    x = tf.placeholder(tf.float32, [None, 4])
    a = layers.fully_connected(x, 3, scope="fc", weights_regularizer=layers.l2_regularizer(0.5))
    b = layers.fully_connected(x, 3, scope="fc", reuse=True)
    assert names() == ["fc/weights:0", "fc/biases:0"] and a is not b
    assert len(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)) == 1
    with tf.variable_scope("block"):
        layers.fully_connected(x, 3, biases_initializer=None, trainable=False)
    assert names()[-1] == "block/fully_connected/weights:0"
    assert names(tf.GraphKeys.TRAINABLE_VARIABLES) == ["fc/weights:0", "fc/biases:0"]
    with pytest.raises(ValueError, match="Variable fc/weights already exists"):
        layers.fully_connected(x, 3, scope="fc")
    with pytest.raises(ValueError, match="num_outputs should be an int, got 3.0"):
        layers.fully_connected(x, 3.0)
    with pytest.raises(ValueError, match=r"reuse=True needs a scope.*test_contrib_layers\.py"):
        layers.fully_connected(x, 3, reuse=True)
    xv = RNG.normal(size=(2, 4)).astype(np.float32)
    first, second = run_loaded([a, b], {x: xv}, {})
    assert_close(first, second)


def test_fully_connected_and_conv2d_gradients():
    x = tf.placeholder(tf.float64, [2, 4, 4, 2])
    h = layers.conv2d(x, 2, [3, 2], activation_fn=tf.nn.tanh)
    y = layers.fully_connected(layers.flatten(h), 2, activation_fn=tf.nn.tanh)
    loss = tf.reduce_sum(y * np.array([[0.3, -0.7], [1.1, 0.4]]))
    check_gradients(loss, x, RNG.uniform(-1, 1, (2, 4, 4, 2)))


# --- convolutions ---------------------------------------------------------------------------
def test_conv2d_names_values_and_nchw(target):
    x = tf.placeholder(tf.float32, [2, 5, 5, 3])
    y = layers.conv2d(x, 4, 3)
    w, b = tf.global_variables()
    assert names() == ["Conv/weights:0", "Conv/biases:0"]
    assert w.shape.as_list() == [3, 3, 3, 4] and y.name == "Conv/Relu:0"
    nchw = layers.conv2d(tf.transpose(x, [0, 3, 1, 2]), 4, 3, data_format="NCHW",
                         scope="Conv", reuse=True, activation_fn=None)
    strided = layers.conv2d(x, 2, [2, 2], stride=2, padding="VALID", scope="s")
    assert strided.shape.as_list() == [2, 2, 2, 2] and nchw.shape.as_list() == [2, 4, 5, 5]
    xv = RNG.normal(size=(2, 5, 5, 3)).astype(np.float32)
    wv = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    bv = RNG.normal(size=4).astype(np.float32)
    got, got_nchw = run_loaded([y, nchw], {x: xv}, {w: wv, b: bv}, target)
    want = np_conv2d_same(xv, wv) + bv
    assert_close(got, np.maximum(want, 0), rtol=1e-4, atol=1e-4)
    assert_close(got_nchw, want.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)


def test_convolution_by_rank_and_errors():
    layers.convolution(tf.placeholder(tf.float32, [1, 6, 2]), 3, 2)
    layers.conv3d(tf.placeholder(tf.float32, [1, 3, 3, 3, 1]), 2, 2)
    assert [v.shape.as_list() for v in tf.global_variables()[::2]] == [[2, 2, 3],
                                                                     [2, 2, 2, 1, 2]]
    with pytest.raises(ValueError, match="expected an input of rank 4"):
        layers.conv2d(tf.placeholder(tf.float32, [1, 6, 2]), 3, 2)
    with pytest.raises(ValueError, match="invalid data_format 'NHCW'"):
        layers.conv2d(tf.placeholder(tf.float32, [1, 6, 6, 2]), 3, 2, data_format="NHCW")


def test_conv2d_transpose_and_separable():
    x = tf.placeholder(tf.float32, [1, 3, 3, 2])
    up = layers.conv2d_transpose(x, 5, 3, stride=2, activation_fn=None)
    sep = layers.separable_conv2d(x, 4, 3, depth_multiplier=2)
    dw = layers.separable_conv2d(x, None, 3, depth_multiplier=2, activation_fn=None)
    assert up.shape.as_list() == [1, 6, 6, 5] and sep.shape.as_list() == [1, 3, 3, 4]
    assert dw.shape.as_list() == [1, 3, 3, 4]
    shapes = {v.name: v.shape.as_list() for v in tf.global_variables()}
    assert shapes == {
        "Conv2d_transpose/weights:0": [3, 3, 5, 2], "Conv2d_transpose/biases:0": [5],
        "SeparableConv2d/depthwise_weights:0": [3, 3, 2, 2],
        "SeparableConv2d/pointwise_weights:0": [1, 1, 4, 4], "SeparableConv2d/biases:0": [4],
        "SeparableConv2d_1/depthwise_weights:0": [3, 3, 2, 2],
        "SeparableConv2d_1/biases:0": [4]}
    assert len(names(tf.GraphKeys.MODEL_VARIABLES)) == 7
    v = {var.name: var for var in tf.global_variables()}
    want_up = tf.nn.conv2d_transpose(x, v["Conv2d_transpose/weights:0"], [1, 6, 6, 5],
                                     [1, 2, 2, 1]) + v["Conv2d_transpose/biases:0"]
    want_dw = tf.nn.depthwise_conv2d(x, v["SeparableConv2d_1/depthwise_weights:0"],
                                     [1, 1, 1, 1], "SAME") + v["SeparableConv2d_1/biases:0"]
    xv = RNG.normal(size=(1, 3, 3, 2)).astype(np.float32)
    bias = {v["Conv2d_transpose/biases:0"]: np.arange(5, dtype=np.float32),
            v["SeparableConv2d_1/biases:0"]: np.ones(4, np.float32)}
    got = run_loaded([up, want_up, dw, want_dw], {x: xv}, bias)
    assert_close(got[0], got[1])
    assert_close(got[2], got[3])


# --- layers without variables -----------------------------------------------------------------
def test_pooling_flatten_one_hot_softmax(target):
    x = tf.placeholder(tf.float32, [2, 5, 5, 3])
    mp = layers.max_pool2d(x, 2)  # stride 2, VALID
    ap = layers.avg_pool2d(x, [3, 3], stride=1, padding="SAME")
    mp_nchw = layers.max_pool2d(tf.transpose(x, [0, 3, 1, 2]), 2, data_format="NCHW")
    flat = layers.flatten(mp)
    labels = tf.constant([0, 2, 1])
    hot = layers.one_hot_encoding(labels, 3)
    logits = tf.placeholder(tf.float32, [2, 3, 4])
    probs = layers.softmax(logits)
    assert mp.name.startswith("MaxPool2D/") and flat.shape.as_list() == [2, 12]
    assert tf.global_variables() == []
    xv = RNG.normal(size=(2, 5, 5, 3)).astype(np.float32)
    lv = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    got = run_loaded([mp, ap, mp_nchw, flat, hot, probs], {x: xv, logits: lv}, {}, target)
    want_mp = xv[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4))
    padded = np.pad(xv, [(0, 0), (1, 1), (1, 1), (0, 0)])
    count = np.pad(np.ones((5, 5)), 1)
    sums = sum(padded[:, i:i + 5, j:j + 5] for i in range(3) for j in range(3))
    counts = sum(count[i:i + 5, j:j + 5] for i in range(3) for j in range(3))
    e = np.exp(lv - lv.max(-1, keepdims=True))
    assert_close(got[0], want_mp)
    assert_close(got[1], sums / counts[None, :, :, None], rtol=1e-5, atol=1e-5)
    assert_close(got[2], want_mp.transpose(0, 3, 1, 2))
    assert_close(got[3], want_mp.reshape(2, 12))
    assert_close(got[4], np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert_close(got[5], e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_dropout_with_a_bool_tensor():
    x = tf.placeholder(tf.float32, [50, 40])
    training = tf.placeholder_with_default(False, [])
    y = layers.dropout(x, keep_prob=0.5, is_training=training)
    off = layers.dropout(x, is_training=False)
    channel = layers.dropout(x, keep_prob=0.25, noise_shape=[None, 1])
    xv = RNG.uniform(1, 2, size=(50, 40)).astype(np.float32)
    with tf.Session() as sess:
        assert_close(sess.run(y, {x: xv}), xv)
        assert_close(sess.run(off, {x: xv}), xv)
        dropped = sess.run(y, {x: xv, training: True})
        rows = sess.run(channel, {x: xv})
    kept = dropped != 0
    assert_close(dropped[kept], 2 * xv[kept])
    assert 0.35 < kept.mean() < 0.65
    assert all(np.all(r == 0) or np.allclose(r, 4 * xr) for r, xr in zip(rows, xv))


# --- batch_norm -----------------------------------------------------------------------------
def _bn_numpy(x, axes, eps=1e-3):
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return (x - mean) / np.sqrt(var + eps), mean, var


def test_batch_norm_variables():
    x = tf.placeholder(tf.float32, [None, 4, 4, 3])
    layers.batch_norm(x)
    layers.batch_norm(x, scale=True, center=False, updates_collections=None,
                      variables_collections=["bn_vars"], scope="bn2")
    assert names() == ["BatchNorm/beta:0", "BatchNorm/moving_mean:0",
                       "BatchNorm/moving_variance:0", "bn2/gamma:0", "bn2/moving_mean:0",
                       "bn2/moving_variance:0"]
    assert names(tf.GraphKeys.TRAINABLE_VARIABLES) == ["BatchNorm/beta:0", "bn2/gamma:0"]
    assert names(tf.GraphKeys.MODEL_VARIABLES) == names()
    assert names("bn_vars") == names()[3:]
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2  # the first call's only
    with pytest.raises(NotImplementedError, match="zero_debias_moving_mean=True is not "
                                                  "supported by graphc"):
        layers.batch_norm(x, zero_debias_moving_mean=True)
    with pytest.raises(ValueError, match="data_format has to be either NCHW or NHWC"):
        layers.batch_norm(x, data_format="NCW")


@pytest.mark.parametrize("rank,updates,bessel", [
    (4, "update_ops", True),   # tf.layers' fused path
    (4, None, True),           # TF's _fused_batch_norm
    (3, None, False),          # the legacy composition
    (3, "update_ops", False),  # tf.layers, not fused
    (2, "update_ops", True),   # rank 2 always takes the fused route
])
def test_batch_norm_values_and_moving_statistics(rank, updates, bessel, target):
    shape = [6, 3, 2, 3][:rank - 1] + [3]
    x = tf.placeholder(tf.float32, shape)
    kwargs = {} if updates == "update_ops" else {"updates_collections": None}
    y = layers.batch_norm(x, decay=0.9, scale=True, **kwargs)
    mm, mv = tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)[2:]
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(update_ops) == (2 if updates else 0)
    xv = RNG.normal(2.0, 3.0, size=shape).astype(np.float32)
    axes = tuple(range(rank - 1))
    want, mean, var = _bn_numpy(xv, axes)
    n = xv.size // 3
    tracked = var * n / (n - 1) if bessel else var
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(y, {x: xv})
        if updates:
            assert_close(sess.run(mm), np.zeros(3, np.float32))  # nothing ran them
            sess.run(update_ops, {x: xv})
        assert_close(sess.run(mm), 0.1 * mean, rtol=1e-4, atol=1e-5)
        assert_close(sess.run(mv), 0.9 + 0.1 * tracked, rtol=1e-4, atol=1e-5)
    assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_batch_norm_is_training_tensor_and_inference(target):
    x = tf.placeholder(tf.float32, [8, 3])
    training = tf.placeholder_with_default(True, [])
    y = layers.batch_norm(x, decay=0.5, updates_collections=None, is_training=training)
    frozen = layers.batch_norm(x, is_training=False, scope="BatchNorm", reuse=True)
    mm, mv = tf.global_variables()[1:]
    xv = RNG.normal(1.0, 2.0, size=(8, 3)).astype(np.float32)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        mm.load(np.array([1.0, 2.0, 3.0], np.float32), sess)
        mv.load(np.array([4.0, 1.0, 0.25], np.float32), sess)
        infer = sess.run(y, {x: xv, training: False})
        assert_close(sess.run(mm), [1.0, 2.0, 3.0])  # is_training False: no update
        assert_close(infer, (xv - [1, 2, 3]) / np.sqrt(np.array([4, 1, 0.25]) + 1e-3),
                     rtol=1e-5, atol=1e-5)
        assert_close(sess.run(frozen, {x: xv}), infer, rtol=1e-5, atol=1e-5)
        sess.run(y, {x: xv})
        assert_close(sess.run(mm), 0.5 * np.array([1, 2, 3]) + 0.5 * xv.mean(0), rtol=1e-5)


def test_batch_norm_gradients():
    x = tf.placeholder(tf.float64, [4, 3])
    y = layers.batch_norm(x, scale=True, updates_collections=None, activation_fn=tf.nn.tanh)
    loss = tf.reduce_sum(y * RNG.uniform(-1, 1, (4, 3)))
    check_gradients(loss, x, RNG.uniform(-1, 1, (4, 3)), tol=1e-5)


# --- layer_norm -----------------------------------------------------------------------------
@pytest.mark.parametrize("norm_axis,params_axis", [(1, -1), (-1, -1), (2, 1)])
def test_layer_norm_against_numpy(norm_axis, params_axis, target):
    x = tf.placeholder(tf.float32, [2, 3, 4])
    y = layers.layer_norm(x, begin_norm_axis=norm_axis, begin_params_axis=params_axis)
    beta, gamma = tf.global_variables()
    assert names() == ["LayerNorm/beta:0", "LayerNorm/gamma:0"]
    assert gamma.shape.as_list() == [2, 3, 4][params_axis:]
    xv = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    bv = RNG.normal(size=beta.shape.as_list()).astype(np.float32)
    gv = RNG.normal(size=gamma.shape.as_list()).astype(np.float32)
    axes = tuple(range(norm_axis % 3, 3))
    mean, var = xv.mean(axes, keepdims=True), xv.var(axes, keepdims=True)
    want = (xv - mean) / np.sqrt(var + 1e-12) * gv + bv
    assert_close(run_loaded(y, {x: xv}, {beta: bv, gamma: gv}, target), want, rtol=1e-4,
                 atol=1e-4)


def test_layer_norm_gradients_and_errors():
    x = tf.placeholder(tf.float64, [3, 4])
    y = layers.layer_norm(x, activation_fn=tf.nn.sigmoid)
    check_gradients(tf.reduce_sum(y * RNG.uniform(-1, 1, (3, 4))), x,
                    RNG.uniform(-1, 1, (3, 4)), tol=1e-5)
    with pytest.raises(ValueError, match=r"begin_norm_axis \(2\) must be < rank\(inputs\) \(2\)"):
        layers.layer_norm(x, begin_norm_axis=2)


# --- embed_sequence, regularizers, initializers ---------------------------------------------
def test_embed_sequence():
    ids = tf.constant([[0, 2], [1, 1]])
    out = layers.embed_sequence(ids, vocab_size=3, embed_dim=2)
    again = layers.embed_sequence(ids, scope="EmbedSequence", reuse=True)
    (table,) = tf.global_variables()
    assert table.name == "EmbedSequence/embeddings:0" and out.shape.as_list() == [2, 2, 2]
    tv = np.arange(6, dtype=np.float32).reshape(3, 2)
    got, got2 = run_loaded([out, again], None, {table: tv})
    assert_close(got, tv[[[0, 2], [1, 1]]])
    assert_close(got2, got)
    with pytest.raises(ValueError, match="give vocab_size and embed_dim"):
        layers.embed_sequence(ids, vocab_size=3)


def test_regularizers():
    w = tf.constant([[1.0, -2.0], [3.0, -0.5]])
    penalties = [layers.l1_regularizer(0.5)(w), layers.l2_regularizer(0.25)(w),
                 layers.l1_l2_regularizer(0.5, 0.25)(w),
                 layers.sum_regularizer([layers.l1_regularizer(1.0), None])(w)]
    total = layers.apply_regularization(layers.l1_regularizer(1.0), [w, w * 2.0])
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES) == [total]
    assert layers.l2_regularizer(0.0)(w) is None and layers.sum_regularizer([None]) is None
    got = run_loaded(penalties + [total], None, {})
    l1, l2 = 6.5, (1 + 4 + 9 + 0.25) / 2
    assert_close(np.array(got), np.array([0.5 * l1, 0.25 * l2, 0.5 * l1 + 0.25 * l2, l1,
                                          3 * l1], np.float32))
    with pytest.raises(ValueError, match="scale cannot be an integer"):
        layers.l2_regularizer(1)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        layers.l1_regularizer(-0.1)


def test_initializers():
    uniform = layers.xavier_initializer(seed=1)([200, 100])
    he = layers.variance_scaling_initializer(seed=2)([3, 3, 50, 64])
    fan_out = layers.variance_scaling_initializer(1.0, "FAN_OUT", True, seed=3)([40, 30])
    with tf.Session() as sess:
        u, h, f = sess.run([uniform, he, fan_out])
    limit = np.sqrt(6.0 / 300)
    assert np.abs(u).max() <= limit and np.abs(u).max() > 0.95 * limit
    std = np.sqrt(1.3 * 2.0 / (9 * 50))  # contrib's truncated normal: cut at 2 stddev
    assert np.abs(h).max() <= 2 * std + 1e-6 and abs(h.std() / (0.8796 * std) - 1) < 0.05
    assert np.abs(f).max() <= np.sqrt(3.0 / 30)
    with pytest.raises(TypeError, match="unknown mode 'fan_in'"):
        layers.variance_scaling_initializer(mode="fan_in")


def test_repeat_and_stack_scopes():
    x = tf.placeholder(tf.float32, [1, 4, 4, 2])
    layers.repeat(x, 2, layers.conv2d, 3, [3, 3], scope="conv1")
    layers.stack(layers.flatten(x), layers.fully_connected, [8, 4], scope="fc")
    layers.repeat(x, 1, layers.max_pool2d, 2)
    assert names()[::2] == ["conv1/conv1_1/weights:0", "conv1/conv1_2/weights:0",
                            "fc/fc_1/weights:0", "fc/fc_2/weights:0"]
    assert tf.global_variables()[-1].shape.as_list() == [4]
