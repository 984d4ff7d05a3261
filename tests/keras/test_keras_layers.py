"""tf.keras.layers: outputs against numpy, Keras's names and defaults, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import backend as K

L = keras.layers


def run(outputs, feeds, target="llvm"):
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        return sess.run(outputs, feeds)


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_dense_matches_numpy_and_names_variables_after_the_layer(target):
    x = keras.Input(shape=(4,))
    layer = L.Dense(3, activation="relu", kernel_initializer="ones", bias_initializer="zeros")
    y = layer(x)
    second = L.Dense(2)
    second(y)
    assert [v.name for v in layer.weights] == ["dense/kernel:0", "dense/bias:0"]
    assert [v.name for v in second.weights] == ["dense_1/kernel:0", "dense_1/bias:0"]
    data = np.arange(8, dtype=np.float32).reshape(2, 4) - 3
    out = run(y, {x: data}, target)
    np.testing.assert_allclose(out, np.maximum(data.sum(1, keepdims=True) * np.ones(3), 0))
    assert layer.output_shape == (None, 3)


def test_conv_and_pooling_layers_match_numpy():
    x = keras.Input(shape=(6, 6, 2))
    conv = L.Conv2D(3, 3, padding="same", kernel_initializer="ones", use_bias=False)
    y = conv(x)
    pooled = L.MaxPooling2D()(y)
    avg = L.AveragePooling2D(pool_size=3)(y)
    gap = L.GlobalAveragePooling2D()(y)
    gmp = L.GlobalMaxPooling2D()(y)
    flat = L.Flatten()(pooled)
    data = np.random.RandomState(0).randn(2, 6, 6, 2).astype(np.float32)
    got = run([y, pooled, avg, gap, gmp, flat], {x: data})
    padded = np.pad(data.sum(-1), [(0, 0), (1, 1), (1, 1)])
    conv_np = np.stack([padded[:, i:i + 6, j:j + 6] for i in range(3) for j in range(3)]).sum(0)
    conv_np = np.repeat(conv_np[..., None], 3, axis=-1)
    np.testing.assert_allclose(got[0], conv_np, rtol=1e-5, atol=1e-5)
    pool_np = conv_np.reshape(2, 3, 2, 3, 2, 3).max(axis=(2, 4))
    np.testing.assert_allclose(got[1], pool_np, rtol=1e-5)
    np.testing.assert_allclose(got[2], conv_np.reshape(2, 2, 3, 2, 3, 3).mean(axis=(2, 4)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[3], conv_np.mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[4], conv_np.max(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(got[5], pool_np.reshape(2, -1), rtol=1e-5)
    assert [v.name for v in conv.weights] == ["conv2d/kernel:0"]


def test_conv1d_matches_numpy():
    x = keras.Input(shape=(5, 1))
    y = L.Conv1D(1, 2, kernel_initializer="ones", bias_initializer="ones")(x)
    data = np.arange(10, dtype=np.float32).reshape(2, 5, 1)
    np.testing.assert_allclose(run(y, {x: data})[..., 0], data[:, :-1, 0] + data[:, 1:, 0] + 1)


def test_elementwise_reshape_and_merge_layers():
    a, b = keras.Input(shape=(6,)), keras.Input(shape=(6,))
    outs = [L.Activation("tanh")(a), L.ReLU(max_value=1.0, negative_slope=0.1)(a),
            L.Softmax()(a), L.Reshape((3, -1))(a), L.Concatenate()([a, b]), L.Add()([a, b]),
            L.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(a)]
    va = np.linspace(-2, 2, 12, dtype=np.float32).reshape(2, 6)
    vb = np.ones((2, 6), np.float32)
    got = run(outs, {a: va, b: vb})
    np.testing.assert_allclose(got[0], np.tanh(va), rtol=1e-5)
    np.testing.assert_allclose(got[1], np.where(va > 0, np.minimum(va, 1.0), 0.1 * va),
                               rtol=1e-6)
    e = np.exp(va - va.max(1, keepdims=True))
    np.testing.assert_allclose(got[2], e / e.sum(1, keepdims=True), rtol=1e-5)
    assert got[3].shape == (2, 3, 2)
    np.testing.assert_allclose(got[4], np.concatenate([va, vb], 1))
    np.testing.assert_allclose(got[5], va + vb)
    np.testing.assert_allclose(got[6], 3 * va, rtol=1e-6)


def test_embedding_takes_float_or_int_ids():
    ids = keras.Input(shape=(3,))
    layer = L.Embedding(5, 2, embeddings_initializer="glorot_uniform")
    y = layer(ids)
    table = np.arange(10, dtype=np.float32).reshape(5, 2)
    with tf.Session() as sess:
        K.initialize_variables(sess)
        layer.set_weights([table])
        got = sess.run(y, {ids: np.array([[0, 4, 2]], np.float32)})
    np.testing.assert_array_equal(got[0], table[[0, 4, 2]])
    assert layer.weights[0].name == "embedding/embeddings:0"


def test_dropout_and_batch_norm_follow_the_learning_phase():
    x = keras.Input(shape=(4,))
    drop = L.Dropout(0.5, seed=1)(x)
    bn_layer = L.BatchNormalization()
    bn = bn_layer(x)
    assert (bn_layer.momentum, bn_layer.epsilon) == (0.99, 1e-3)
    data = np.arange(16, dtype=np.float32).reshape(4, 4)
    phase = K.symbolic_learning_phase()
    with tf.Session() as sess:
        K.initialize_variables(sess)
        off = sess.run([drop, bn], {x: data})
        on = sess.run([drop, bn], {x: data, phase: True})
    np.testing.assert_array_equal(off[0], data)
    np.testing.assert_allclose(off[1], data / np.sqrt(1 + 1e-3), rtol=1e-5)
    assert set(np.unique(on[0] / np.maximum(data, 1))) <= {0.0, 2.0}
    mean, var = data.mean(0), data.var(0)
    np.testing.assert_allclose(on[1], (data - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)


def test_dense_fed_the_wrong_last_dimension_names_the_layer():
    layer = L.Dense(2, name="head")
    layer(keras.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"layer head .*expected axis -1 of input shape to "
                                         r"have value 4.*\(\?, 3\).*test_keras_layers\.py"):
        layer(keras.Input(shape=(3,)))


def test_unknown_activation_lists_the_names():
    with pytest.raises(ValueError, match=r"Unknown activation function 'swoosh'.*'relu'"):
        L.Dense(2, activation="swoosh")


def test_regularizers_add_layer_losses():
    x = keras.Input(shape=(2,))
    layer = L.Dense(1, kernel_initializer="ones", kernel_regularizer=keras.regularizers.l2(0.5))
    layer(x)
    assert run(layer.losses[0], {}) == pytest.approx(0.5 * 2)
