"""fit/evaluate/predict on tf.data Datasets, sample_weight and class_weight: Keras 1.15's
numbers (the weighted loss is sum(w * loss) / batch size; dataset epochs average the loss
over steps) and its errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.keras import data as kdata

L = keras.layers


def regression(n=20, seed=3):
    rng = np.random.RandomState(seed)
    return rng.randn(n, 3).astype(np.float32), rng.randn(n, 2).astype(np.float32)


def make_model(start=None, lr=0.1, loss="mse", units=2, activation=None):
    model = keras.Sequential([L.Dense(4, activation="relu", input_shape=(3,)),
                              L.Dense(units, activation=activation)])
    model.compile(keras.optimizers.SGD(lr), loss)
    if start is not None:
        model.set_weights(start)
    return model


def batch_log(seen):
    return keras.callbacks.LambdaCallback(
        on_batch_end=lambda b, logs: seen.append((logs["size"], logs["loss"])))


def assert_same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_fit_on_a_dataset_is_fit_on_the_arrays_batch_for_batch():
    x, y = regression()
    first = make_model()
    second = make_model(first.get_weights())
    by_array, by_data = [], []
    h1 = first.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                   callbacks=[batch_log(by_array)])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    h2 = second.fit(dataset, epochs=2, verbose=0, callbacks=[batch_log(by_data)])
    assert [s for s, _ in by_data] == [8, 8, 4] * 2
    np.testing.assert_allclose(by_data, by_array, rtol=1e-6)
    assert_same_weights(first, second)
    # Keras: arrays average the loss over samples, datasets over steps
    losses = np.array([v for _, v in by_data])
    np.testing.assert_allclose(h1.history["loss"][1], (losses[3:] * [8, 8, 4]).sum() / 20,
                               rtol=1e-6)
    np.testing.assert_allclose(h2.history["loss"], [losses[:3].mean(), losses[3:].mean()],
                               rtol=1e-6)


def test_steps_per_epoch_goes_on_through_a_repeated_dataset():
    x, y = regression()
    model = make_model()
    twin = make_model(model.get_weights())
    seen = []
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    history = model.fit(dataset, epochs=3, steps_per_epoch=4, initial_epoch=1, verbose=0,
                        callbacks=[batch_log(seen)])
    assert history.epoch == [1, 2]
    assert [s for s, _ in seen] == [8, 8, 4, 8, 8, 4, 8, 8]  # one iterator for all epochs
    want = [twin.train_on_batch(x[a:b], y[a:b])
            for a, b in [(0, 8), (8, 16), (16, 20), (0, 8), (8, 16), (16, 20), (0, 8),
                         (8, 16)]]
    np.testing.assert_allclose([v for _, v in seen], want, rtol=1e-6)
    np.testing.assert_allclose(history.history["loss"], [np.mean(want[:4]),
                                                         np.mean(want[4:])], rtol=1e-6)
    assert_same_weights(model, twin)


def test_validation_data_as_a_dataset_is_evaluate_on_it():
    x, y = regression()
    vx, vy = regression(12, seed=5)
    model = make_model()
    val = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(5)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=val)
    loss = model.evaluate(val, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    per_batch = [model.evaluate(vx[a:a + 5], vy[a:a + 5], verbose=0) for a in (0, 5, 10)]
    assert loss == pytest.approx(np.mean(per_batch), rel=1e-6)  # a mean over steps
    repeated = val.repeat()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=repeated,
                        validation_steps=4)
    want = model.evaluate(repeated, steps=4, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(want, rel=1e-6)
    per_batch = [model.evaluate(vx[a:a + 5], vy[a:a + 5], verbose=0) for a in (0, 5, 10)]
    assert want == pytest.approx(np.mean(per_batch + per_batch[:1]), rel=1e-6)


def test_predict_and_evaluate_on_datasets_match_the_arrays():
    x, y = regression(13)
    model = make_model()
    model.compile("sgd", "mse", metrics=["mae"])
    want = model.predict(x, batch_size=4)
    features = tf.data.Dataset.from_tensor_slices(x).batch(4)
    np.testing.assert_allclose(model.predict(features), want, rtol=1e-6)
    pairs = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    np.testing.assert_allclose(model.predict(pairs), want, rtol=1e-6)
    assert model.predict(pairs.repeat(), steps=2).shape == (8, 2)
    loss, mae = model.evaluate(pairs, verbose=0)
    assert mae == pytest.approx(np.abs(want - y).mean(), rel=1e-5)  # metrics: over samples
    per_sample = ((want - y) ** 2).mean(axis=1)
    steps = [per_sample[a:a + 4].mean() for a in range(0, 13, 4)]
    assert loss == pytest.approx(np.mean(steps), rel=1e-5)  # the loss: over steps


def test_sample_weight_is_summed_and_divided_by_the_number_of_samples():
    x, y = regression(10)
    model = make_model()
    weights = np.array([1.0, 0.0] * 5, np.float32)
    pred = model.predict(x)
    per_sample = ((pred - y) ** 2).mean(axis=1)
    for batch_size in (10, 4):
        loss = model.evaluate(x, y, batch_size=batch_size, sample_weight=weights, verbose=0)
        assert loss == pytest.approx((weights * per_sample).sum() / 10, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(per_sample.mean(), rel=1e-5)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, weights))
    want = model.evaluate(x, y, sample_weight=weights, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-6)


def test_zero_weights_for_half_the_samples_train_on_the_other_half():
    """Weights 2 and 0 alternating, batches of 8: each batch loss is sum(2 l) / 8, the mean
    over the 4 kept samples, so training equals training on the kept half in batches of 4."""
    x, y = regression(24)
    weighted = make_model()
    half = make_model(weighted.get_weights())
    weights = np.array([2.0, 0.0] * 12, np.float32)
    seen_w, seen_h = [], []
    hw = weighted.fit(x, y, batch_size=8, epochs=2, shuffle=False, sample_weight=weights,
                      verbose=0, callbacks=[batch_log(seen_w)])
    hh = half.fit(x[::2], y[::2], batch_size=4, epochs=2, shuffle=False, verbose=0,
                  callbacks=[batch_log(seen_h)])
    np.testing.assert_allclose([v for _, v in seen_w], [v for _, v in seen_h], rtol=1e-6)
    np.testing.assert_allclose(hw.history["loss"], hh.history["loss"], rtol=1e-6)
    assert_same_weights(weighted, half)


def test_class_weight_is_the_per_sample_weights_it_implies():
    rng = np.random.RandomState(0)
    x = rng.randn(16, 3).astype(np.float32)
    y = (rng.rand(16, 1) > 0.5).astype(np.float32)
    by_class = make_model(loss="binary_crossentropy", units=1, activation="sigmoid")
    by_sample = make_model(by_class.get_weights(), loss="binary_crossentropy", units=1,
                           activation="sigmoid")
    class_weight = {0: 1.0, 1: 3.0, 7: 5.0}  # class 7 never occurs: fine
    h1 = by_class.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                      class_weight=class_weight)
    h2 = by_sample.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                       sample_weight=np.where(y[:, 0] > 0, 3.0, 1.0))
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
    assert_same_weights(by_class, by_sample)
    one_hot = np.eye(3, dtype=np.float32)[[2, 0, 2]]
    np.testing.assert_array_equal(kdata.class_sample_weights(one_hot, {0: 0.5, 2: 2.0}),
                                  [2.0, 0.5, 2.0])


def test_sample_weights_inside_dataset_elements():
    x, y = regression(12)
    weights = np.linspace(0.0, 2.0, 12).astype(np.float32)
    from_arrays = make_model()
    from_data = make_model(from_arrays.get_weights())
    seen_a, seen_d = [], []
    from_arrays.fit(x, y, batch_size=5, shuffle=False, sample_weight=weights, verbose=0,
                    callbacks=[batch_log(seen_a)])
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(5)
    from_data.fit(dataset, verbose=0, callbacks=[batch_log(seen_d)])
    np.testing.assert_allclose(seen_d, seen_a, rtol=1e-6)
    assert_same_weights(from_arrays, from_data)


def test_a_finite_dataset_that_runs_out_before_steps_per_epoch_stops_training():
    x, y = regression(8)
    model = make_model()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(dataset, epochs=3, steps_per_epoch=3, verbose=0)
    assert history.epoch == [0]
    assert any("ran out of data" in str(w.message) for w in caught)


def test_errors_name_the_argument():
    x, y = regression(10)
    model = make_model()
    forever = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    with pytest.raises(ValueError, match=r"`steps_per_epoch`.*test_keras_fit_data.py"):
        model.fit(forever, verbose=0)
    with pytest.raises(ValueError, match=r"`steps` argument"):
        model.evaluate(forever, verbose=0)
    with pytest.raises(ValueError, match=r"`validation_steps`"):
        model.fit(x, y, verbose=0, validation_data=forever)
    with pytest.raises(ValueError, match=r"5 weights but the data has 10 samples"):
        model.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(TypeError, match=r"class_weight must be a dict.*found list"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    labels = np.array([[0.0], [1.0], [2.0]] * 3 + [[0.0]], np.float32)
    with pytest.raises(ValueError, match=r"classes \[2\] exist in the data"):
        kdata.class_sample_weights(labels, {0: 1.0, 1: 1.0})
    features = tf.data.Dataset.from_tensor_slices(x).batch(4)
    with pytest.raises(ValueError, match=r"\(input, target\).*single arrays of shape"):
        model.fit(features, verbose=0)
    pairs = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with pytest.raises(ValueError, match=r"`sample_weight` is not supported.*Dataset"):
        model.fit(pairs, sample_weight=np.ones(10), verbose=0)
    with pytest.raises(ValueError, match=r"`validation_split`"):
        model.fit(pairs, validation_split=0.5, verbose=0)
