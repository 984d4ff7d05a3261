"""tf.keras.layers.GroupNormalization against numpy (and torch where installed): groups of
channels, channels first, instance norm (groups=-1), unknown spatial sizes; gradients
against finite differences, Keras's variables and config, errors, training in a model."""

from __future__ import annotations

import numpy as np
import pytest
from conv_references import check_gradients, group_norm

import graphc as tf
from graphc import keras
from graphc.errors import ShapeError
from graphc.keras import backend as K

L = keras.layers


def run(outputs, feeds, weights=(), target="reference"):
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        for layer, values in weights:
            layer.set_weights(values)
        return sess.run(outputs, feeds)


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_group_normalization_matches_numpy(target):
    rng = np.random.default_rng(0)
    img, seq = keras.Input(shape=(3, 2, 4)), keras.Input(shape=(6, 5))
    cases = [(L.GroupNormalization(2), img, dict(groups=2)),
             (L.GroupNormalization(groups=-1, epsilon=1e-5), img, dict(groups=4, epsilon=1e-5)),
             (L.GroupNormalization(1), img, dict(groups=1)),
             (L.GroupNormalization(3, axis=1), seq, dict(groups=3, axis=1)),
             (L.GroupNormalization(5, center=False), seq, dict(groups=5)),
             (L.GroupNormalization(5, scale=False), seq, dict(groups=5))]
    outputs = [layer(x) for layer, x, _ in cases]
    weights = [(layer, [rng.uniform(0.5, 1.5, w.shape.as_list()).astype(np.float32)
                        for w in layer.weights]) for layer, _, _ in cases]
    data = {x: rng.standard_normal((2, *x.shape.as_list()[1:])).astype(np.float32) * 3 + 1
            for x in (img, seq)}
    got = run(outputs, data, weights, target)
    for (layer, x, args), (_, values), g in zip(cases, weights, got):
        channels = x.shape.as_list()[args.get("axis", -1)]
        gamma = values[0] if layer.scale else np.ones(channels)
        beta = values[-1] if layer.center else np.zeros(channels)
        want = group_norm(data[x], gamma, beta, args["groups"], args.get("axis", -1),
                          args.get("epsilon", 1e-3))
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5, err_msg=layer.name)
        assert layer.compute_output_shape(x.shape).as_list() == x.shape.as_list()


def test_each_group_has_zero_mean_and_unit_variance():
    x = keras.Input(shape=(4, 6))
    y = L.GroupNormalization(3, epsilon=0.0)(x)
    data = np.random.default_rng(1).standard_normal((2, 4, 6)).astype(np.float32) * 5 - 2
    out = run(y, {x: data}).reshape(2, 4, 3, 2)
    np.testing.assert_allclose(out.mean(axis=(1, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(1, 3)), 1, rtol=1e-4)


def test_variables_defaults_and_config():
    x = keras.Input(shape=(5, 64))
    layer = L.GroupNormalization(gamma_regularizer="l2", beta_initializer="ones")
    y = layer(x)
    assert [(w.name, w.shape.as_list()) for w in layer.weights] == [
        ("group_normalization/gamma:0", [64]), ("group_normalization/beta:0", [64])]
    assert layer.count_params() == 128 and len(layer.losses) == 1
    config = layer.get_config()
    assert {k: config[k] for k in ("groups", "axis", "epsilon", "center", "scale")} == \
        {"groups": 32, "axis": -1, "epsilon": 1e-3, "center": True, "scale": True}
    assert config["gamma_initializer"]["class_name"] == "Ones"
    assert config["beta_initializer"]["class_name"] == "Ones"
    assert config["gamma_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    data = np.random.default_rng(2).standard_normal((1, 5, 64)).astype(np.float32)
    np.testing.assert_allclose(run(y, {x: data}), group_norm(data, 1, 1, 32), rtol=1e-4,
                               atol=1e-5)
    bare = L.GroupNormalization(4, center=False, scale=False)
    bare(x)
    assert bare.weights == [] and bare.count_params() == 0


def test_unknown_batch_and_spatial_sizes():
    x = keras.Input(shape=(None, None, 6))
    layer = L.GroupNormalization(3)
    y = layer(x)
    assert y.shape.as_list() == [None, None, None, 6]
    data = np.random.default_rng(3).standard_normal((3, 2, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(run(y, {x: data}, target="llvm"), group_norm(data, 1, 0, 3),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("groups,axis,shape", [(2, -1, (2, 3, 4)), (-1, 1, (1, 2, 2, 3)),
                                               (1, 2, (2, 2, 3))])
def test_gradients_match_finite_differences(groups, axis, shape):
    layer = L.GroupNormalization(groups, axis=axis, dtype="float64")
    x = np.random.default_rng(4).uniform(-1, 1, shape)
    check_gradients(layer, x)


def test_bad_inputs_and_arguments_name_the_layer():
    with pytest.raises(ValueError, match=r"layer 'group_normalization': the number of groups "
                                         r"\(3\) must divide the number of channels \(4\)"):
        L.GroupNormalization(3)(keras.Input(shape=(5, 4)))
    with pytest.raises(ValueError, match=r"layer 'group_normalization_1': the number of "
                                         r"groups \(32\) cannot be more than the number of "
                                         r"channels \(8\)"):
        L.GroupNormalization()(keras.Input(shape=(5, 8)))
    with pytest.raises(ValueError, match=r"layer 'gn': axis 0 is not a non-batch axis of the "
                                         r"inputs of shape \(\?, 5, 8\)"):
        L.GroupNormalization(2, axis=0, name="gn")(keras.Input(shape=(5, 8)))
    with pytest.raises(ValueError, match=r"layer 'gn2': axis -1 of the inputs must have a "
                                         r"known size"):
        L.GroupNormalization(2, name="gn2")(keras.Input(shape=(5, None)))
    with pytest.raises(ValueError, match=r"layer 'gn3': groups must be a positive integer "
                                         r"or -1"):
        L.GroupNormalization(0, name="gn3")
    with pytest.raises(ShapeError, match=r"Input 0 of layer gn4 is incompatible with the "
                                         r"layer: expected min_ndim=2, found ndim=1"):
        L.GroupNormalization(1, name="gn4")(tf.placeholder(tf.float32, [4]))
    layer = L.GroupNormalization(2, name="gn5")
    layer(keras.Input(shape=(3, 4)))
    with pytest.raises(ShapeError, match=r"layer gn5 .*expected axis 2 of input shape to "
                                         r"have value 4"):
        layer(keras.Input(shape=(3, 6)))


def test_trains_in_a_sequential_model():
    tf.set_random_seed(0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, 4, 2)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model = keras.Sequential([L.Conv2D(4, 3, padding="same", input_shape=(4, 4, 2)),
                              L.GroupNormalization(2), L.GlobalAveragePooling2D(), L.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    before = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("group_normalization (GroupNo") and "(None, 4, 4, 4)" in line
               and line.split()[-1] == "8" for line in lines)
    assert "Total params: 89" in lines


def test_matches_torch_group_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = keras.Input(shape=(6, 3, 2))  # channels first: 6 channels
    layer = L.GroupNormalization(3, axis=1, epsilon=1e-5)
    y = layer(x)
    gamma, beta = (rng.standard_normal(6).astype(np.float32) for _ in range(2))
    data = rng.standard_normal((2, 6, 3, 2)).astype(np.float32)
    got = run(y, {x: data}, [(layer, [gamma, beta])])
    want = torch.nn.functional.group_norm(torch.from_numpy(data), 3, torch.from_numpy(gamma),
                                          torch.from_numpy(beta), eps=1e-5)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)
