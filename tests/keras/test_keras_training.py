"""compile/fit/evaluate/predict: Keras's math, one compiled step per batch, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc import keras

L = keras.layers


def blobs(n=200, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, size=(n, 1)).astype(np.float32)
    x = rng.randn(n, 2).astype(np.float32) * 0.5 + np.where(y > 0, 2.0, -2.0)
    return x, y


def test_fit_separates_a_linearly_separable_problem():
    x, y = blobs()
    model = keras.Sequential([L.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert sorted(history.history) == ["acc", "loss"]
    assert len(history.history["loss"]) == 5 and history.epoch == [0, 1, 2, 3, 4]
    assert history.history["acc"][-1] > 0.95
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < history.history["loss"][0]
    assert model.metrics_names == ["loss", "acc"]


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_fit_computes_the_hand_written_training_step(target):
    """Same weights, same batches (shuffle=False, a partial last batch): fit's batch losses
    and final weights are those of a plain graphc loop."""
    rng = np.random.RandomState(3)
    x = rng.randn(20, 3).astype(np.float32)
    y = rng.randn(20, 2).astype(np.float32)
    with tf.Session(target=target).as_default():
        model = keras.Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(2)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        start = model.get_weights()
        seen = []
        log = keras.callbacks.LambdaCallback(
            on_batch_end=lambda b, logs: seen.append((logs["size"], logs["loss"])))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            callbacks=[log])
        end = model.get_weights()
    graph = tf.Graph()
    with graph.as_default():
        xp, yp = tf.placeholder(tf.float32, [None, 3]), tf.placeholder(tf.float32, [None, 2])
        w = [tf.Variable(v) for v in start]
        pred = tf.matmul(tf.nn.relu(tf.matmul(xp, w[0]) + w[1]), w[2]) + w[3]
        loss = tf.reduce_mean(tf.reduce_mean(tf.square(pred - yp), axis=-1))
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            want = []
            for _ in range(2):
                for s in range(0, 20, 8):
                    value, _ = sess.run([loss, step], {xp: x[s:s + 8], yp: y[s:s + 8]})
                    want.append((len(x[s:s + 8]), value))
            final = sess.run(w)
    assert [n for n, _ in seen] == [8, 8, 4, 8, 8, 4]
    np.testing.assert_allclose([v for _, v in seen], [v for _, v in want], rtol=1e-5)
    for a, b in zip(end, final):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    epoch0 = sum(n * v for n, v in want[:3]) / 20
    assert history.history["loss"][0] == pytest.approx(epoch0, rel=1e-5)


def test_validation_split_takes_the_last_fraction():
    x, y = blobs(40, seed=1)
    model = keras.Sequential([L.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile("sgd", "binary_crossentropy", metrics=["acc", "mse"])
    sizes = []
    log = keras.callbacks.LambdaCallback(on_batch_end=lambda b, logs: sizes.append(logs["size"]))
    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, verbose=0,
                        callbacks=[log])
    assert sizes == [10, 10, 10]
    assert sorted(history.history) == ["acc", "loss", "mean_squared_error", "val_acc",
                                       "val_loss", "val_mean_squared_error"]
    val = model.evaluate(x[30:], y[30:], verbose=0)
    np.testing.assert_allclose([history.history[k][0] for k in
                                ("val_loss", "val_acc", "val_mean_squared_error")], val,
                               rtol=1e-5)
    history = model.fit(x[:30], y[:30], epochs=1, verbose=0, validation_data=(x[30:], y[30:]))
    assert "val_loss" in history.history


def test_evaluate_predict_and_batch_methods():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    model = keras.Sequential([L.Dense(1, input_shape=(2,), kernel_initializer="ones",
                                      bias_initializer="zeros")])
    model.compile("sgd", "mae")
    pred = model.predict(x, batch_size=4)
    np.testing.assert_allclose(pred[:, 0], x.sum(1))
    assert model.evaluate(x, np.zeros((6, 1)), batch_size=4, verbose=0) == \
        pytest.approx(x.sum(1).mean())
    assert model.test_on_batch(x[:2], np.zeros((2, 1))) == pytest.approx(x[:2].sum(1).mean())
    np.testing.assert_allclose(model.predict_on_batch(x[:3])[:, 0], x[:3].sum(1))
    before = model.get_weights()[0].copy()
    model.train_on_batch(x[:2], np.zeros((2, 1)))
    assert (model.get_weights()[0] < before).all()


def test_categorical_and_sparse_accuracy_follow_the_loss():
    x = np.eye(3, dtype=np.float32)
    labels = np.array([0, 1, 2])
    for loss, y in (("categorical_crossentropy", np.eye(3, dtype=np.float32)),
                    ("sparse_categorical_crossentropy", labels),
                    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels)):
        model = keras.Sequential([L.Dense(3, input_shape=(3,))])
        model.set_weights([np.eye(3, dtype=np.float32) * 5, np.zeros(3, np.float32)])
        model.compile("sgd", loss, metrics=["accuracy"])
        assert model.evaluate(x, y, verbose=0)[1] == 1.0


def test_batch_norm_updates_run_in_the_training_step():
    tf.set_random_seed(0)  # a Dense column summing to about 0 would leave a mean near 0
    x = np.random.RandomState(0).randn(64, 3).astype(np.float32) + 5
    bn = L.BatchNormalization(momentum=0.5)
    model = keras.Sequential([L.Dense(3, input_shape=(3,)), bn, L.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, x[:, :1], epochs=1, batch_size=64, verbose=0, shuffle=False)
    mean = keras.backend.get_value(bn.moving_mean)
    assert np.abs(mean).min() > 0.1


def test_keras_optimizer_formulas_one_step():
    x, y = np.array([[1.0, 2.0]], np.float32), np.zeros((1, 1), np.float32)
    g = np.array([6.0, 12.0])  # d/dw (x.w - 0)^2 at w = 1
    cases = {
        "SGD": (keras.optimizers.SGD(0.1), 1 - 0.1 * g),
        "RMSprop": (keras.optimizers.RMSprop(0.01), 1 - 0.01 * g / (np.sqrt(0.1 * g * g) + 1e-7)),
        "Adam": (keras.optimizers.Adam(0.01), 1 - 0.01 * np.sqrt(0.001) / 0.1 * 0.1 * g /
                 (np.sqrt(0.001 * g * g) + 1e-7)),
        "Adagrad": (keras.optimizers.Adagrad(0.1), 1 - 0.1 * g / (np.sqrt(0.1 + g * g) + 1e-7)),
    }
    for name, (opt, want) in cases.items():
        model = keras.Sequential([L.Dense(1, input_shape=(2,), use_bias=False,
                                          kernel_initializer="ones")])
        model.compile(opt, "mse")
        model.train_on_batch(x, y)
        np.testing.assert_allclose(model.get_weights()[0][:, 0], want, rtol=1e-5, err_msg=name)


def test_string_optimizers_and_learning_rate_variable():
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    for name in ("sgd", "adam", "rmsprop", "adagrad"):
        model.compile(name, "mse")
        model.train_on_batch(np.ones((2, 2)), np.ones((2, 1)))
    opt = keras.optimizers.SGD(0.5)
    model.compile(opt, "mse")
    assert keras.backend.get_value(opt.lr) == pytest.approx(0.5)
    assert keras.optimizers.Adam().epsilon == 1e-7


def test_compile_with_an_unknown_loss_lists_the_names():
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match=r"Unknown loss function: 'nope'.*'binary_crossentropy'"
                                         r".*'mse'.*test_keras_training\.py"):
        model.compile("sgd", loss="nope")


def test_fit_with_x_and_y_of_different_lengths_names_both():
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="Found 10 input samples and 9 target samples"):
        model.fit(np.zeros((10, 2)), np.zeros((9, 1)), verbose=0)


def test_fit_with_the_wrong_feature_size_names_the_layer():
    model = keras.Sequential([L.Dense(1, input_shape=(4,))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"expected dense_input \(the input of layer 'dense'\) "
                                         r"to have shape \(4,\) but got array with shape \(3,\)"):
        model.fit(np.zeros((10, 3)), np.zeros((10, 1)), verbose=0)
    with pytest.raises(RuntimeError, match="must compile"):
        keras.Sequential([L.Dense(1, input_shape=(4,))]).fit(np.zeros((2, 4)), np.zeros((2, 1)))


def test_multi_input_functional_model_takes_a_dict():
    a, b = keras.Input(shape=(2,), name="a"), keras.Input(shape=(3,), name="b")
    model = keras.Model([a, b], L.Dense(1)(L.Concatenate()([a, b])))
    model.compile("sgd", "mse")
    data = {"a": np.ones((4, 2)), "b": np.ones((4, 3))}
    model.fit(data, np.ones((4, 1)), epochs=1, verbose=0)
    assert model.predict([np.ones((4, 2)), np.ones((4, 3))]).shape == (4, 1)
