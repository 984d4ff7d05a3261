"""tf.keras layers of layers_extra.py against numpy: wrappers, LayerNormalization, merges,
reshaping, spatial dropout, 1-D global pooling, 2-D padding / cropping / upsampling."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import backend as K
from graphc.keras import layers_extra as X
from graphc.keras.recurrent import GRU, LSTM

RNG = np.random.RandomState(0)


def run(outputs, feeds, target="reference"):
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        return sess.run(outputs, feeds)


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_shape_layers_match_numpy(target):
    img = keras.Input(shape=(4, 5, 2))
    seq = keras.Input(shape=(3, 2))
    vec = keras.Input(shape=(2,))
    outs = [X.ZeroPadding2D(((1, 2), (0, 1)))(img), X.Cropping2D(((1, 0), (1, 2)))(img),
            X.UpSampling2D((2, 3))(img), X.UpSampling2D(2, data_format="channels_first")(img),
            X.Permute((2, 1))(seq), X.RepeatVector(3)(vec), X.LeakyReLU()(seq),
            X.GlobalAveragePooling1D()(seq), X.GlobalMaxPooling1D()(seq)]
    a, s, v = (RNG.randn(2, 4, 5, 2), RNG.randn(2, 3, 2), RNG.randn(2, 2))
    a, s, v = (t.astype(np.float32) for t in (a, s, v))
    got = run(outs, {img: a, seq: s, vec: v}, target)
    want = [np.pad(a, [(0, 0), (1, 2), (0, 1), (0, 0)]), a[:, 1:, 1:-2],
            a.repeat(2, 1).repeat(3, 2), a.repeat(2, 2).repeat(2, 3), s.transpose(0, 2, 1),
            np.repeat(v[:, None], 3, 1), np.where(s > 0, s, 0.3 * s), s.mean(1), s.max(1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_merges_match_numpy(target):
    x = [keras.Input(shape=(3,)) for _ in range(3)]
    outs = [X.Multiply()(x), X.Subtract()(x[:2]), X.Average()(x), X.Maximum()(x),
            X.Minimum()(x), X.multiply(x[:2])]
    data = [RNG.randn(2, 3).astype(np.float32) for _ in x]
    got = run(outs, dict(zip(x, data)), target)
    a, b, c = data
    for g, w in zip(got, [a * b * c, a - b, (a + b + c) / 3, np.maximum(np.maximum(a, b), c),
                          np.minimum(np.minimum(a, b), c), a * b]):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="should be called on exactly 2 inputs"):
        X.Subtract()(x)
    with pytest.raises(ValueError, match="Multiply needs inputs of one shape"):
        X.Multiply()([x[0], keras.Input(shape=(4,))])


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_layer_normalization_matches_numpy_with_set_weights(target):
    x = keras.Input(shape=(3, 4))
    layer = X.LayerNormalization()
    y = layer(x)
    both = X.LayerNormalization(axis=[1, 2], center=False)
    z = both(x)
    assert [w.name for w in layer.weights] == ["layer_normalization/gamma:0",
                                                "layer_normalization/beta:0"]
    assert layer.count_params() == 8 and both.count_params() == 12
    assert layer.epsilon == 1e-3
    data = RNG.randn(2, 3, 4).astype(np.float32)
    gamma, beta = RNG.randn(4).astype(np.float32), RNG.randn(4).astype(np.float32)
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        layer.set_weights([gamma, beta])
        got, got_both = sess.run([y, z], {x: data})
    mean, var = data.mean(-1, keepdims=True), data.var(-1, keepdims=True)
    np.testing.assert_allclose(got, (data - mean) / np.sqrt(var + 1e-3) * gamma + beta,
                               rtol=1e-4, atol=1e-5)
    mean, var = data.mean((1, 2), keepdims=True), data.var((1, 2), keepdims=True)
    np.testing.assert_allclose(got_both, (data - mean) / np.sqrt(var + 1e-3), rtol=1e-4,
                               atol=1e-5)


def test_layer_normalization_gradient_matches_central_differences():
    data = RNG.randn(2, 3)
    x = tf.placeholder(tf.float64, [2, 3])
    layer = X.LayerNormalization(dtype="float64")
    w = tf.constant(RNG.randn(2, 3))
    loss = tf.reduce_sum(layer(x) * w)
    got = run(tf.gradients(loss, x)[0], {x: data})
    wv = run(w, {})

    def f(v):
        n = (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-3)
        return float((n * wv).sum())

    want = np.zeros_like(data)
    for idx in np.ndindex(*data.shape):
        d = np.zeros_like(data)
        d[idx] = 1e-6
        want[idx] = (f(data + d) - f(data - d)) / 2e-6
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_time_distributed_applies_the_layer_to_each_step():
    x = keras.Input(shape=(None, 3))
    dense = keras.layers.Dense(2)
    td = X.TimeDistributed(dense)
    y = td(x)
    assert tuple(y.shape.dims) == (None, None, 2)
    assert td.count_params() == 8
    assert [w.name for w in td.weights] == ["time_distributed/dense/kernel:0",
                                             "time_distributed/dense/bias:0"]
    data = RNG.randn(2, 5, 3).astype(np.float32)
    with tf.Session(target="reference") as sess:
        K.initialize_variables(sess)
        kernel, bias = sess.run(dense.weights)
        got = sess.run(y, {x: data})
    np.testing.assert_allclose(got, data @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_spatial_dropout_drops_whole_channels_in_training_only():
    x = keras.Input(shape=(6, 5, 16))
    y = X.SpatialDropout2D(0.5)(x)
    s = keras.Input(shape=(7, 16))
    z = X.SpatialDropout1D(0.5)(s)
    phase = K.symbolic_learning_phase()
    data, seq = np.ones((4, 6, 5, 16), np.float32), np.ones((4, 7, 16), np.float32)
    off = run(y, {x: data})
    np.testing.assert_array_equal(off, data)
    on, on1 = run([y, z], {x: data, s: seq, phase: True})
    assert set(np.unique(on)) <= {0.0, 2.0} and set(np.unique(on1)) <= {0.0, 2.0}
    # one draw per (sample, channel): constant over rows and columns / over time
    assert (on == on[:, :1, :1, :]).all() and (on1 == on1[:, :1, :]).all()
    assert 0 < (on[:, 0, 0] == 0).mean() < 1


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match="layer 'permute.*Invalid permutation `dims`"):
        X.Permute((0, 1))
    with pytest.raises(ValueError, match="`padding` should be an int, a tuple of 2 ints"):
        X.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="cropping .* removes all of axis 1 \\(size 4\\)"):
        X.Cropping2D(((2, 2), (0, 0)))(keras.Input(shape=(4, 5, 2)))
    with pytest.raises(NotImplementedError, match="only 'nearest' is supported"):
        X.UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="Invalid merge mode 'max'"):
        X.Bidirectional(LSTM(2), merge_mode="max")


def test_layers_work_in_sequential_and_functional_models_and_train():
    tf.set_random_seed(0)
    np.random.seed(0)
    rng = np.random.RandomState(2)
    x = rng.randn(128, 6, 3).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)[:, None]
    model = keras.Sequential([
        X.TimeDistributed(keras.layers.Dense(4), input_shape=(6, 3)),
        X.LayerNormalization(),
        X.LeakyReLU(),
        X.Bidirectional(GRU(4, return_sequences=True), merge_mode="ave"),
        X.SpatialDropout1D(0.1),
        X.GlobalAveragePooling1D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    # 16 + 8 + 2 * 3 * (4 * (4 + 4) + 4) + 5
    assert "Total params: 245" in lines, lines
    model.compile(keras.optimizers.Adam(0.03), "binary_crossentropy", metrics=["acc"])
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]

    inputs = keras.Input(shape=(4,))
    a, b = keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)
    merged = X.Maximum()([X.Multiply()([a, b]), X.Subtract()([a, b])])
    out = keras.layers.Dense(1)(X.Average()([merged, X.Minimum()([a, b])]))
    functional = keras.Model(inputs, out)
    functional.compile("sgd", "mse")
    functional.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0)
    assert functional.count_params() == 2 * 15 + 4
