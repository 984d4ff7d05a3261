"""Whole-model saving: model.save writes a saved-model directory that load_model rebuilds
(same predictions, same compile arguments, the optimizer's state, so training goes on as
if never interrupted), that graphc.saved_model loads as a plain saved model; configs and
JSON; and the errors for what cannot be loaded."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphc as tf
from graphc import keras
from graphc.errors import DataLossError

L = keras.layers
RNG = np.random.default_rng(3)


def weights_equal(a, b) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def test_sequential_round_trip_and_training_goes_on(tmp_path):
    x = RNG.normal(size=(48, 5)).astype(np.float32)
    y = (x[:, :2].sum(1, keepdims=True) > 0).astype(np.float32)
    tf.set_random_seed(0)
    model = keras.Sequential([L.Dense(8, activation="relu", input_shape=(5,)),
                              L.BatchNormalization(), L.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="roc")])
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    model.save(str(tmp_path / "seq"))
    assert sorted(os.listdir(tmp_path / "seq")) == [
        "constants.safetensors", "keras_model.json", "keras_optimizer.safetensors",
        "keras_weights.safetensors", "saved_model.json", "variables.safetensors"]

    loaded = keras.models.load_model(tmp_path / "seq")
    assert type(loaded) is keras.Sequential and weights_equal(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.metrics_names == ["loss", "acc", "roc"]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    # Adam's moments and step count came back: one more epoch each gives the same weights
    again = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    resumed = loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    assert again == resumed and weights_equal(model, loaded)
    # (a fresh Adam would not: its first steps are bias-corrected differently)
    fresh = keras.models.load_model(tmp_path / "seq", compile=False)
    fresh.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    fresh.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert not weights_equal(fresh, loaded)


def _multi_input_model():
    words = keras.Input(shape=(6,), dtype="int32", name="words")
    extra = keras.Input(shape=(3,), name="extra")
    seq = L.Embedding(12, 4)(words)
    state = L.LSTM(5)(seq)
    joined = L.Concatenate()([state, L.Dense(5, activation="tanh")(extra)])
    out = L.Dense(3, activation="softmax", name="probs")(L.Dropout(0.2)(joined))
    return keras.Model([words, extra], out, name="tagger")


def test_functional_multi_input_round_trip(tmp_path):
    tf.set_random_seed(1)
    model = _multi_input_model()
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    xs = [RNG.integers(0, 12, (20, 6)).astype(np.int32),
          RNG.normal(size=(20, 3)).astype(np.float32)]
    y = RNG.integers(0, 3, 20)
    model.fit(xs, y, epochs=1, batch_size=10, verbose=0)
    want = model.predict(xs)
    model.save(tmp_path / "tagger")

    loaded = keras.models.load_model(tmp_path / "tagger")
    assert loaded.name == "tagger" and [t.dtype for t in loaded.inputs] == [tf.int32, tf.float32]
    np.testing.assert_array_equal(loaded.predict(xs), want)
    assert loaded.evaluate(xs, y, verbose=0) == model.evaluate(xs, y, verbose=0)
    # the directory is a graphc saved model too: inputs and outputs by layer name
    served = tf.saved_model.load(tmp_path / "tagger")
    assert sorted(served.signature.inputs) == ["extra", "words"]
    np.testing.assert_allclose(served(words=xs[0], extra=xs[1])["probs"], want, rtol=1e-6)


def test_config_json_and_clone():
    model = _multi_input_model()
    config = model.get_config()
    assert [layer["class_name"] for layer in config["layers"]][:4] == [
        "InputLayer", "InputLayer", "Embedding", "LSTM"]
    assert config["output_layers"] == [["probs", 0, 0]]
    rebuilt = keras.Model.from_config(config)
    assert rebuilt.get_config() == config
    from_json = keras.models.model_from_json(model.to_json())
    assert json.loads(from_json.to_json()) == json.loads(model.to_json())
    clone = keras.models.clone_model(model)
    assert [w.shape.as_list() for w in clone.weights] == \
        [w.shape.as_list() for w in model.weights]
    assert not weights_equal(clone, model)  # fresh weights
    seq = keras.Sequential([L.Dense(2, input_shape=(3,)), L.ReLU(max_value=1.0)])
    assert keras.Sequential.from_config(seq.get_config()).get_config() == seq.get_config()


def test_lambda_and_custom_layers_need_custom_objects(tmp_path):
    def double(t):
        return t * 2.0

    class Scale(L.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, Scale(3.0)(L.Lambda(double)(L.Dense(2)(inputs))))
    model.save(tmp_path / "custom")
    with pytest.raises(ValueError, match=r"layer 'lambda' wraps the function 'double': graphc "
                                         r"never stores code .* custom_objects=\{'double'"):
        keras.models.load_model(tmp_path / "custom")
    with pytest.raises(ValueError, match=r"Unknown layer: 'Scale' \(layer 'scale'\); .* "
                                         r"custom_objects=\{'Scale': Scale\}"):
        keras.models.load_model(tmp_path / "custom", custom_objects={"double": double})
    loaded = keras.models.load_model(tmp_path / "custom",
                                     custom_objects={"double": double, "Scale": Scale})
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[-1].factor == 3.0


class Residual(keras.Model):
    def __init__(self, units=4):
        super().__init__()
        self.units = units
        self.inner = L.Dense(units, activation="relu")
        self.out = L.Dense(1)

    def call(self, x, training=None):
        return self.out(x + self.inner(x))

    def get_config(self):
        return {"units": self.units}


def test_subclassed_model_needs_its_class(tmp_path):
    model = Residual()
    model.compile("adam", "mse")
    x, y = np.ones((8, 4), np.float32), np.ones((8, 1), np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    with pytest.raises(NotImplementedError, match="is a subclassed Model"):
        keras.Model.get_config(model)
    model.save(tmp_path / "residual")
    with pytest.raises(ValueError, match=r"subclassed Model of class 'Residual'.*"
                                         r"custom_objects=\{'Residual': Residual\}"):
        keras.models.load_model(tmp_path / "residual")
    loaded = keras.models.load_model(tmp_path / "residual",
                                     custom_objects={"Residual": Residual})
    assert isinstance(loaded, Residual) and weights_equal(model, loaded)
    assert model.fit(x, y, epochs=1, verbose=0, shuffle=False).history == \
        loaded.fit(x, y, epochs=1, verbose=0, shuffle=False).history


def test_damaged_and_unknown_contents(tmp_path):
    model = keras.Sequential([L.Dense(3, input_shape=(2,)), L.Dense(1)])
    model.save(tmp_path / "m")
    weights = tmp_path / "m" / "keras_weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # a flipped bit in the last tensor's bytes
    weights.write_bytes(bytes(data))
    with pytest.raises(DataLossError, match="keras_weights.safetensors"):
        keras.models.load_model(tmp_path / "m")

    model.save(tmp_path / "m")  # overwrites the model
    doc_path = tmp_path / "m" / "keras_model.json"
    doc = json.loads(doc_path.read_text())
    doc["model_config"]["config"]["layers"][1]["class_name"] = "Dense3000"
    doc_path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"Unknown layer: 'Dense3000' \(layer 'dense_1'\)"):
        keras.models.load_model(tmp_path / "m")


def test_formats_and_directories(tmp_path):
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    for path, kwargs in ((tmp_path / "m.h5", {}), (tmp_path / "m", {"save_format": "h5"})):
        with pytest.raises(ValueError, match="graphc does not read or write HDF5 .* saved-model "
                                             "directory"):
            model.save(path, **kwargs)
    with pytest.raises(ValueError, match="HDF5"):
        keras.models.load_model(tmp_path / "model.keras")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not a model saved by model.save"):
        model.save(tmp_path / "notes")
    with pytest.raises(OSError, match="No Keras model at"):
        keras.models.load_model(tmp_path / "notes")
    with pytest.raises(ValueError, match="cannot be saved because its input shapes"):
        keras.Sequential([L.Dense(1)]).save(tmp_path / "unbuilt")
    # without the optimizer, the loaded model is not compiled (as Keras)
    model.save(tmp_path / "plain", include_optimizer=False)
    loaded = keras.models.load_model(tmp_path / "plain")
    assert loaded.optimizer is None
    with pytest.raises(RuntimeError, match="You must compile your model"):
        loaded.evaluate(np.ones((2, 2)), np.ones((2, 1)), verbose=0)


@pytest.mark.parametrize("layer", [
    L.ZeroPadding1D((1, 2)), L.Cropping1D((2, 1)), L.UpSampling1D(3), L.ZeroPadding2D((1, 2)),
    L.Cropping3D(((1, 0), (0, 1), (1, 1))), L.UpSampling3D((1, 2, 2)),
    L.Conv3D(4, 3, strides=2), L.Conv2DTranspose(3, 2, output_padding=1, strides=2),
    L.SeparableConv1D(4, 3, depth_multiplier=2), L.DepthwiseConv2D(3, depth_multiplier=2),
    L.MaxPooling1D(3), L.AveragePooling3D(2), L.GroupNormalization(groups=2),
    L.MultiHeadAttention(2, 4), L.Dense(3, activation="relu"), L.LSTM(4),
], ids=lambda layer: type(layer).__name__)
def test_every_layer_config_rebuilds_the_same_layer(layer):
    """from_config(get_config()) gives a layer whose config is the same: what load_model
    relies on to rebuild each layer of a saved model."""
    from graphc.keras.model_config import layer_config
    again = type(layer).from_config(layer.get_config())
    assert type(again) is type(layer)
    assert layer_config(again) == layer_config(layer)
