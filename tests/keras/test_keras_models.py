"""Keras models: Sequential, functional and subclassed structure, summary(), weights."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras

L = keras.layers

SEQUENTIAL_SUMMARY = """\
Model: "sequential"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense (Dense)                (None, 16)                80
_________________________________________________________________
batch_normalization (BatchNo (None, 16)                64
_________________________________________________________________
dropout (Dropout)            (None, 16)                0
_________________________________________________________________
dense_1 (Dense)              (None, 3)                 51
=================================================================
Total params: 195
Trainable params: 163
Non-trainable params: 32
_________________________________________________________________"""

FUNCTIONAL_SUMMARY = """\
Model: "model"
__________________________________________________________________________________________________
Layer (type)                    Output Shape         Param #     Connected to
==================================================================================================
input_1 (InputLayer)            [(None, 8)]          0
__________________________________________________________________________________________________
dense (Dense)                   (None, 4)            36          input_1[0][0]
__________________________________________________________________________________________________
dense_1 (Dense)                 (None, 4)            36          input_1[0][0]
__________________________________________________________________________________________________
add (Add)                       (None, 4)            0           dense[0][0]
                                                                 dense_1[0][0]
__________________________________________________________________________________________________
dense_2 (Dense)                 (None, 1000)         5000        add[0][0]
==================================================================================================
Total params: 5,072
Trainable params: 5,072
Non-trainable params: 0
__________________________________________________________________________________________________"""


def lines_of(model) -> str:
    """The summary, each line checked to be padded to the table's width (Keras pads every
    row), then with the padding stripped."""
    out = []
    model.summary(print_fn=out.append)
    width = len(out[1])
    assert all(len(line) == width for line in out[1:] if not line.startswith(("Total",
                                                                              "Trainable",
                                                                              "Non-")))
    return "\n".join(line.rstrip() for line in out)


def test_sequential_summary_counts_parameters_as_keras():
    model = keras.Sequential([L.Dense(16, input_shape=(4,)), L.BatchNormalization(),
                              L.Dropout(0.5), L.Dense(3)])
    assert lines_of(model) == SEQUENTIAL_SUMMARY
    assert model.count_params() == 195
    assert [x.name for x in model.layers] == ["dense", "batch_normalization", "dropout",
                                              "dense_1"]
    assert len(model.trainable_weights) == 6 and len(model.weights) == 8


def test_functional_summary_shows_connections():
    x = keras.Input(shape=(8,))
    y = L.Add()([L.Dense(4)(x), L.Dense(4)(x)])
    model = keras.Model(x, L.Dense(1000)(y))
    assert lines_of(model) == FUNCTIONAL_SUMMARY
    assert [layer.name for layer in model.layers] == ["input_1", "dense", "dense_1", "add",
                                                      "dense_2"]


def test_functional_model_is_its_graph_and_can_be_called_again():
    x = keras.Input(shape=(3,), name="features")
    hidden = L.Dense(5, activation="relu")
    model = keras.Model(inputs=x, outputs=L.Dense(2)(hidden(x)))
    data = np.random.RandomState(0).randn(7, 3).astype(np.float32)
    first = model.predict(data, batch_size=3)
    assert first.shape == (7, 2)
    other = keras.Input(shape=(3,))
    again = keras.Model(other, model(other))
    np.testing.assert_allclose(again.predict(data), first, rtol=1e-5)
    assert len(again.weights) == 4  # shared, not copied


def test_graph_disconnected_names_the_tensor():
    a, b = keras.Input(shape=(2,)), keras.Input(shape=(2,))
    with pytest.raises(ValueError, match="Graph disconnected: cannot obtain value for tensor"):
        keras.Model(a, L.Add()([a, b]))


class TwoLayers(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = L.Dense(4, activation="relu")
        self.out = L.Dense(1)

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))


def test_subclassed_model_builds_on_first_call_and_tracks_layers():
    model = TwoLayers()
    with pytest.raises(ValueError, match="has not yet been built"):
        model.summary()
    model.compile("sgd", "mse")
    x = np.random.RandomState(1).randn(16, 3).astype(np.float32)
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert [w.name for w in model.weights] == [
        "two_layers/dense/kernel:0", "two_layers/dense/bias:0",
        "two_layers/dense_1/kernel:0", "two_layers/dense_1/bias:0"]
    assert model.count_params() == 3 * 4 + 4 + 4 + 1
    assert "Total params: 21" in lines_of(model)
    assert model.predict(x).shape == (16, 1)


def test_get_set_and_save_load_weights_round_trip(tmp_path):
    model = keras.Sequential([L.Dense(3, input_shape=(2,)), L.Dense(1)])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(2, 3), (3,), (3, 1), (1,)]
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    model.set_weights([np.zeros_like(w) for w in weights])
    assert all((w == 0).all() for w in model.get_weights())
    model.load_weights(path)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    # a model built again with other layer names loads by position
    twin = keras.Sequential([L.Dense(3, input_shape=(2,)), L.Dense(1)])
    twin.load_weights(path)
    np.testing.assert_array_equal(twin.get_weights()[0], weights[0])


def test_load_weights_of_another_shape_names_the_variable(tmp_path):
    model = keras.Sequential([L.Dense(3, input_shape=(2,))])
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    wider = keras.Sequential([L.Dense(4, input_shape=(2,))])
    with pytest.raises(ValueError, match=r"weight 'dense_1/kernel' of model sequential_1 has "
                                         r"shape \(2, 4\), the file's 'dense/kernel' has shape "
                                         r"\(2, 3\)"):
        wider.load_weights(path)
    with pytest.raises(ValueError, match=r"expecting 2 weights"):
        model.set_weights([np.zeros((2, 3))])
