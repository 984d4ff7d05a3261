"""tf.keras layers of layers_conv.py: convolutions, pooling, padding, cropping and
upsampling against numpy references (and torch where installed), their gradients against
finite differences, Keras's names, defaults and configs, errors, and training in a
Sequential model."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from conv_references import check_gradients, conv, conv_transpose, depthwise, pool

import graphc as tf
from graphc import keras
from graphc.errors import ShapeError
from graphc.keras import backend as K

L = keras.layers


def run(outputs, feeds, weights=(), target="reference"):
    """Run `outputs` with every layer of `weights` ((layer, arrays) pairs) set first."""
    with tf.Session(target=target) as sess:
        K.initialize_variables(sess)
        for layer, values in weights:
            layer.set_weights(values)
        return sess.run(outputs, feeds)


def random_weights(layer, rng):
    return [rng.uniform(-1, 1, w.shape.as_list()).astype(np.float32) for w in layer.weights]


# --- forward against numpy -------------------------------------------------------------------
@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_convolutions_match_numpy(target):
    rng = np.random.default_rng(1)
    vol, img, seq = (keras.Input(shape=s) for s in ((4, 5, 3, 2), (5, 4, 3), (7, 3)))
    layers = [
        (L.Conv3D(3, (2, 3, 2), strides=(1, 2, 1), padding="same", activation="relu"), vol),
        (L.Conv2DTranspose(2, 3, strides=2), img),
        (L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1), img),
        (L.Conv3DTranspose(2, 2, strides=(2, 1, 2), padding="same"), vol),
        (L.SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2), seq),
        (L.SeparableConv2D(2, 2, dilation_rate=(2, 1)), img),
        (L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), img),
    ]
    outputs = [layer(x) for layer, x in layers]
    weights = [(layer, random_weights(layer, rng)) for layer, _ in layers]
    data = {x: rng.uniform(-1, 1, [2] + x.shape.as_list()[1:]).astype(np.float32)
            for x in (vol, img, seq)}
    got = run(outputs, data, weights, target)
    v, i, s = data[vol], data[img], data[seq]
    (k3, b3), (kt, bt), (kp, bp), (k3t, b3t) = (w for _, w in weights[:4])
    (d1, p1, b1), (d2, p2, b2), (dw, bw) = (w for _, w in weights[4:])
    want = [
        np.maximum(conv(v, k3, (1, 2, 1), "same") + b3, 0),
        conv_transpose(i, kt, (11, 9), (2, 2)) + bt,
        conv_transpose(i, kp, (10, 8), (2, 2), "same") + bp,
        conv_transpose(v, k3t, (8, 5, 6), (2, 1, 2), "same") + b3t,
        conv(depthwise(s, d1, (2,), "same"), p1, (1,)) + b1,
        conv(depthwise(i, d2, (1, 1), dilations=(2, 1)), p2, (1, 1)) + b2,
        depthwise(i, dw, (2, 2), "same") + bw,
    ]
    for (layer, _), g, w in zip(layers, got, want):
        assert g.shape == w.shape, layer.name
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=layer.name)
    shapes = [(2, 4, 3, 3, 3), (2, 11, 9, 2), (2, 10, 8, 2), (2, 8, 5, 6, 2), (2, 4, 4),
              (2, 3, 3, 2), (2, 3, 2, 6)]
    assert [g.shape for g in got] == shapes
    for (layer, x), shape in zip(layers, shapes):
        assert tuple(layer.compute_output_shape(x.shape).as_list()) == (None,) + shape[1:]
        assert layer.output_shape == (None,) + shape[1:]


def test_channels_first_is_channels_last_transposed():
    rng = np.random.default_rng(9)
    last, first = keras.Input(shape=(5, 4, 3)), keras.Input(shape=(3, 5, 4))
    pairs = [(L.DepthwiseConv2D(2, strides=2, depth_multiplier=2, data_format=fmt),
              L.Conv2DTranspose(2, 3, strides=2, padding="same", data_format=fmt),
              L.SeparableConv2D(2, 2, depth_multiplier=2, data_format=fmt))
             for fmt in ("channels_last", "channels_first")]
    outputs = [[layer(x) for layer in layers] for layers, x in zip(pairs, (last, first))]
    weights = [random_weights(layer, rng) for layer in pairs[0]]
    sets = [(layer, w) for layers in pairs for layer, w in zip(layers, weights)]
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    got_last, got_first = run(outputs, {last: x, first: x.transpose(0, 3, 1, 2)}, sets)
    for layer, a, b in zip(pairs[1], got_last, got_first):
        np.testing.assert_allclose(b, a.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6,
                                   err_msg=layer.name)
        assert layer.output_shape == (None,) + b.shape[1:]


def test_variables_have_keras_names_and_shapes():
    img = keras.Input(shape=(5, 4, 3))
    layers = [L.Conv3D(3, (2, 3, 2)), L.Conv2DTranspose(2, 3), L.Conv3DTranspose(2, 2),
              L.SeparableConv1D(4, 3, depth_multiplier=2), L.SeparableConv2D(2, (2, 1)),
              L.DepthwiseConv2D(3, depth_multiplier=2), L.DepthwiseConv2D(2, use_bias=False)]
    inputs = [keras.Input(shape=(4, 5, 3, 2)), img, keras.Input(shape=(3, 3, 3, 3)),
              keras.Input(shape=(7, 3)), img, img, img]
    for layer, x in zip(layers, inputs):
        layer(x)
    got = [[(w.name, tuple(w.shape.as_list())) for w in layer.weights] for layer in layers]
    assert got == [
        [("conv3d/kernel:0", (2, 3, 2, 2, 3)), ("conv3d/bias:0", (3,))],
        [("conv2d_transpose/kernel:0", (3, 3, 2, 3)), ("conv2d_transpose/bias:0", (2,))],
        [("conv3d_transpose/kernel:0", (2, 2, 2, 2, 3)), ("conv3d_transpose/bias:0", (2,))],
        [("separable_conv1d/depthwise_kernel:0", (3, 3, 2)),
         ("separable_conv1d/pointwise_kernel:0", (1, 6, 4)),
         ("separable_conv1d/bias:0", (4,))],
        [("separable_conv2d/depthwise_kernel:0", (2, 1, 3, 1)),
         ("separable_conv2d/pointwise_kernel:0", (1, 1, 3, 2)),
         ("separable_conv2d/bias:0", (2,))],
        [("depthwise_conv2d/depthwise_kernel:0", (3, 3, 3, 2)),
         ("depthwise_conv2d/bias:0", (6,))],
        [("depthwise_conv2d_1/depthwise_kernel:0", (2, 2, 3, 1))],
    ]
    assert [layer.count_params() for layer in layers] == [75, 56, 50, 46, 14, 60, 12]


def test_keras_defaults_configs_and_aliases():
    config = L.Conv3D(4, 3).get_config()
    assert (config["padding"], config["data_format"], config["strides"]) == \
        ("valid", "channels_last", (1, 1, 1))
    glorot = {"class_name": "VarianceScaling", "mode": "fan_avg", "distribution": "uniform"}
    init = config["kernel_initializer"]
    assert {"class_name": init["class_name"], "mode": init["config"]["mode"],
            "distribution": init["config"]["distribution"]} == glorot
    assert config["bias_initializer"]["class_name"] == "Zeros"
    depth = L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu").get_config()
    assert "filters" not in depth and "kernel_initializer" not in depth
    assert depth["depth_multiplier"] == 2 and depth["activation"] == "relu"
    assert depth["depthwise_initializer"]["config"]["mode"] == "fan_avg"
    sep = L.SeparableConv2D(3, 2, depth_multiplier=3).get_config()
    assert sep["depth_multiplier"] == 3 and sep["pointwise_initializer"]["config"]["mode"] == \
        "fan_avg"
    assert L.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 0)).get_config()[
        "output_padding"] == (1, 0)
    assert L.MaxPooling1D().get_config()["pool_size"] == (2,)
    pool3 = L.AveragePooling3D(strides=1).get_config()
    assert (pool3["pool_size"], pool3["strides"], pool3["data_format"]) == \
        ((2, 2, 2), (1, 1, 1), "channels_last")
    assert L.ZeroPadding1D(2).get_config()["padding"] == (2, 2)  # Keras's 1-D spelling
    assert L.ZeroPadding3D((1, 2, 3)).get_config()["padding"] == ((1, 1), (2, 2), (3, 3))
    assert L.Cropping1D().get_config()["cropping"] == (1, 1)
    assert L.Cropping3D(data_format="channels_first").get_config()["data_format"] == \
        "channels_first"
    assert L.UpSampling3D(3).get_config()["size"] == (3, 3, 3)
    assert L.GlobalMaxPooling3D().get_config()["data_format"] == "channels_last"
    aliases = [(L.MaxPool1D, L.MaxPooling1D), (L.MaxPool3D, L.MaxPooling3D),
               (L.AvgPool1D, L.AveragePooling1D), (L.AvgPool3D, L.AveragePooling3D),
               (L.GlobalAvgPool3D, L.GlobalAveragePooling3D),
               (L.GlobalMaxPool3D, L.GlobalMaxPooling3D), (L.Convolution3D, L.Conv3D),
               (L.Convolution2DTranspose, L.Conv2DTranspose),
               (L.Convolution3DTranspose, L.Conv3DTranspose),
               (L.SeparableConvolution1D, L.SeparableConv1D),
               (L.SeparableConvolution2D, L.SeparableConv2D),
               (tf.keras.layers.DepthwiseConv2D, L.DepthwiseConv2D)]
    assert all(a is b for a, b in aliases)


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_pooling_matches_numpy(target):
    seq, vol = keras.Input(shape=(6, 3)), keras.Input(shape=(4, 5, 3, 2))
    outputs = [L.MaxPooling1D()(seq), L.AveragePooling1D(3, strides=2, padding="same")(seq),
               L.MaxPooling1D(data_format="channels_first")(seq), L.MaxPooling3D()(vol),
               L.AveragePooling3D((2, 3, 2), strides=1, padding="same")(vol),
               L.MaxPooling3D(data_format="channels_first")(vol),
               L.GlobalAveragePooling3D()(vol), L.GlobalMaxPooling3D()(vol),
               L.GlobalAveragePooling3D(data_format="channels_first")(vol)]
    rng = np.random.default_rng(2)
    s = rng.standard_normal((2, 6, 3)).astype(np.float32)
    v = rng.standard_normal((2, 4, 5, 3, 2)).astype(np.float32)
    got = run(outputs, {seq: s, vol: v}, target=target)
    last = np.moveaxis(v, 1, -1)  # channels_first: (2, 4 channels, 5, 3, 2)
    want = [pool(s, "max", (2,), (2,)), pool(s, "avg", (3,), (2,), "same"),
            pool(s.transpose(0, 2, 1), "max", (2,), (2,)).transpose(0, 2, 1),
            pool(v, "max", (2, 2, 2), (2, 2, 2)), pool(v, "avg", (2, 3, 2), (1, 1, 1), "same"),
            np.moveaxis(pool(last, "max", (2, 2, 2), (2, 2, 2)), -1, 1),
            v.mean(axis=(1, 2, 3)), v.max(axis=(1, 2, 3)), v.mean(axis=(2, 3, 4))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert [g.shape for g in got] == [(2, 3, 3), (2, 3, 3), (2, 6, 1), (2, 2, 2, 1, 2),
                                      (2, 4, 5, 3, 2), (2, 4, 2, 1, 1), (2, 2), (2, 2), (2, 4)]


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_padding_cropping_and_upsampling_match_numpy(target):
    seq, vol = keras.Input(shape=(5, 2)), keras.Input(shape=(4, 4, 5, 3))
    layers = [(L.ZeroPadding1D(), seq), (L.ZeroPadding1D((2, 0)), seq), (L.Cropping1D(), seq),
              (L.Cropping1D((2, 0)), seq), (L.UpSampling1D(3), seq), (L.ZeroPadding3D(), vol),
              (L.ZeroPadding3D(((1, 0), (0, 2), 1)), vol),
              (L.ZeroPadding3D(1, data_format="channels_first"), vol), (L.Cropping3D(), vol),
              (L.Cropping3D(((1, 0), (0, 1), (2, 1))), vol),
              (L.Cropping3D(1, data_format="channels_first"), vol), (L.UpSampling3D(), vol),
              (L.UpSampling3D((1, 2, 3), data_format="channels_first"), vol)]
    rng = np.random.default_rng(3)
    s = rng.standard_normal((2, 5, 2)).astype(np.float32)
    v = rng.standard_normal((2, 4, 4, 5, 3)).astype(np.float32)
    got = run([layer(x) for layer, x in layers], {seq: s, vol: v}, target=target)
    z = (0, 0)
    want = [np.pad(s, [z, (1, 1), z]), np.pad(s, [z, (2, 0), z]), s[:, 1:-1], s[:, 2:],
            s.repeat(3, axis=1), np.pad(v, [z, (1, 1), (1, 1), (1, 1), z]),
            np.pad(v, [z, (1, 0), (0, 2), (1, 1), z]), np.pad(v, [z, z, (1, 1), (1, 1), (1, 1)]),
            v[:, 1:-1, 1:-1, 1:-1], v[:, 1:, :-1, 2:-1], v[:, :, 1:-1, 1:-1, 1:-1],
            v.repeat(2, 1).repeat(2, 2).repeat(2, 3), v.repeat(2, 3).repeat(3, 4)]
    for (layer, x), g, w in zip(layers, got, want):
        np.testing.assert_array_equal(g, w, err_msg=layer.name)
        assert layer.compute_output_shape(x.shape).as_list() == [None, *w.shape[1:]]


def test_sizes_unknown_when_the_graph_is_built():
    seq, vol = keras.Input(shape=(None, 2)), keras.Input(shape=(None, 3, None, 1))
    layers = [(L.UpSampling1D(2), seq), (L.Cropping1D((1, 2)), seq), (L.ZeroPadding1D(), seq),
              (L.UpSampling3D((2, 1, 3)), vol), (L.Cropping3D(((1, 0), 1, 0)), vol),
              (L.MaxPooling1D(), seq), (L.GlobalMaxPooling3D(), vol)]
    outputs = [layer(x) for layer, x in layers]
    assert [o.shape.as_list() for o in outputs] == [
        [None, None, 2], [None, None, 2], [None, None, 2], [None, None, 3, None, 1],
        [None, None, 1, None, 1], [None, None, 2], [None, 1]]
    s = np.arange(12, dtype=np.float32).reshape(1, 6, 2)
    v = np.arange(72, dtype=np.float32).reshape(2, 3, 3, 4, 1)
    got = run(outputs, {seq: s, vol: v})
    want = [s.repeat(2, 1), s[:, 1:-2], np.pad(s, [(0, 0), (1, 1), (0, 0)]),
            v.repeat(2, 1).repeat(3, 3), v[:, 1:, 1:-1], pool(s, "max", (2,), (2,)),
            v.max(axis=(1, 2, 3))]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# --- gradients --------------------------------------------------------------------------------
GRADIENT_CASES = {  # layer class and arguments, input shape
    "conv3d": (partial(L.Conv3D, 2, 2, strides=(1, 2, 1), padding="same"), (1, 2, 3, 2, 2)),
    "conv2d_transpose": (partial(L.Conv2DTranspose, 2, 3, strides=2, padding="same",
                                 output_padding=1), (1, 2, 2, 2)),
    "conv3d_transpose": (partial(L.Conv3DTranspose, 1, 2, strides=(2, 1, 1)), (1, 2, 1, 2, 2)),
    "separable_conv1d": (partial(L.SeparableConv1D, 2, 2, depth_multiplier=2,
                                 padding="causal"), (1, 4, 2)),
    "separable_conv2d": (partial(L.SeparableConv2D, 2, 2, strides=2), (1, 3, 3, 2)),
    "depthwise_conv2d": (partial(L.DepthwiseConv2D, 2, depth_multiplier=2, padding="same",
                                 activation="tanh"), (1, 3, 3, 2)),
    "max_pooling3d": (partial(L.MaxPooling3D, (2, 1, 2)), (1, 2, 2, 2, 2)),
    "average_pooling1d": (partial(L.AveragePooling1D, 3, 2, padding="same"), (2, 5, 2)),
    "global_max_pooling3d": (L.GlobalMaxPooling3D, (2, 2, 1, 2, 2)),
    "up_sampling3d": (partial(L.UpSampling3D, (1, 2, 2)), (1, 2, 1, 2, 1)),
    "cropping1d": (partial(L.Cropping1D, (1, 2)), (1, 5, 2)),
    "zero_padding3d": (partial(L.ZeroPadding3D, ((0, 1), 1, 0)), (1, 1, 2, 2, 1)),
}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(case):
    make, shape = GRADIENT_CASES[case]
    x = np.random.default_rng(4).uniform(-1, 1, shape)
    check_gradients(make(dtype="float64"), x)


# --- errors -----------------------------------------------------------------------------------
def test_bad_inputs_and_arguments_name_the_layer():
    img = keras.Input(shape=(5, 4, 3))
    with pytest.raises(ShapeError, match=r"Input 0 of layer conv3d is incompatible with the "
                                         r"layer: expected ndim=5, found ndim=4"):
        L.Conv3D(2, 2)(img)
    depth = L.DepthwiseConv2D(3)
    depth(img)
    with pytest.raises(ShapeError, match=r"layer depthwise_conv2d .*expected axis -1 of "
                                         r"input shape to have value 3"):
        depth(keras.Input(shape=(5, 4, 2)))
    with pytest.raises(ShapeError, match=r"layer global_max_pooling3d .*expected ndim=5"):
        L.GlobalMaxPooling3D()(img)
    with pytest.raises(ShapeError, match=r"layer max_pooling1d .*expected ndim=3"):
        L.MaxPooling1D()(img)
    with pytest.raises(ShapeError, match=r"layer up_sampling1d .*expected ndim=3"):
        L.UpSampling1D()(img)
    with pytest.raises(ValueError, match=r"layer 'conv2d_transpose': a transposed "
                                         r"convolution needs the spatial sizes"):
        L.Conv2DTranspose(2, 3)(keras.Input(shape=(None, 4, 3)))
    with pytest.raises(ValueError, match=r"layer 'cropping1d': cropping \(\(3, 3\),\) "
                                         r"removes all of spatial axis 1 \(size 5\)"):
        L.Cropping1D((3, 3))(keras.Input(shape=(5, 2)))


def test_bad_arguments_name_the_layer():
    cases = [
        (lambda: L.DepthwiseConv2D(3, depth_multiplier=0),
         r"layer 'depthwise_conv2d': depth_multiplier must be a positive integer, got 0"),
        (lambda: L.SeparableConv2D(2, 3, depth_multiplier=-1),
         r"layer 'separable_conv2d': depth_multiplier must be a positive integer"),
        (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2),
         r"layer 'conv2d_transpose': output_padding \(2, 2\) must be smaller than the "
         r"strides \(2, 2\)"),
        (lambda: L.Conv3D(2, (2, 2)),
         r"layer 'conv3d': kernel_size must be an int or a tuple of 3 ints"),
        (lambda: L.Conv3DTranspose(2, 2, data_format="NCDHW"),
         r"layer 'conv3d_transpose': data_format must be 'channels_last' or"),
        (lambda: L.Conv3D(2, 2, padding="causal"), r"layer 'conv3d_1': padding must be one of"),
        (lambda: L.ZeroPadding3D((1, 2)),
         r"layer 'zero_padding3d': `padding` should be an int, a tuple of 3 ints or a tuple "
         r"of 3 tuples of 2 ints, all non-negative, got \(1, 2\)"),
        (lambda: L.ZeroPadding1D(-1), r"layer 'zero_padding1d': `padding` should be an int"),
        (lambda: L.Cropping3D(((1, 2), (1,), 0)), r"layer 'cropping3d': `cropping` should be"),
        (lambda: L.UpSampling3D((2, 0, 1)), r"layer 'up_sampling3d': size must be >= 1"),
        (lambda: L.GlobalAveragePooling3D(data_format="last"),
         r"layer 'global_average_pooling3d': data_format must be"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


# --- in a model --------------------------------------------------------------------------------
def fit_one_epoch(model, x_shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8,) + x_shape).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    before = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after = model.get_weights()
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    lines = []
    model.summary(print_fn=lines.append)
    return [layer.output_shape for layer in model.layers], lines


def test_2d_layers_train_in_a_sequential_model():
    tf.set_random_seed(0)
    model = keras.Sequential([
        L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1,
                          input_shape=(3, 3, 2)),
        L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
        L.SeparableConv2D(4, 2), L.GlobalAveragePooling2D(), L.Dense(1)])
    shapes, lines = fit_one_epoch(model, (3, 3, 2), 5)
    assert shapes == [(None, 6, 6, 4), (None, 4, 4, 8), (None, 3, 3, 4), (None, 4), (None, 1)]
    assert "Total params: 229" in lines
    assert any(line.startswith("depthwise_conv2d (Depthwise") and "(None, 4, 4, 8)" in line
               and line.split()[-1] == "80" for line in lines)


def test_3d_layers_train_in_a_sequential_model():
    tf.set_random_seed(0)
    model = keras.Sequential([
        L.Conv3D(2, 2, padding="same", input_shape=(4, 4, 4, 1)), L.ZeroPadding3D(1),
        L.MaxPooling3D(), L.Conv3DTranspose(2, 2, strides=2), L.Cropping3D(1),
        L.UpSampling3D(), L.AveragePooling3D(), L.GlobalMaxPooling3D(), L.Dense(1)])
    shapes, lines = fit_one_epoch(model, (4, 4, 4, 1), 6)
    assert shapes == [(None, 4, 4, 4, 2), (None, 6, 6, 6, 2), (None, 3, 3, 3, 2),
                      (None, 6, 6, 6, 2), (None, 4, 4, 4, 2), (None, 8, 8, 8, 2),
                      (None, 4, 4, 4, 2), (None, 2), (None, 1)]
    assert "Total params: 55" in lines


def test_1d_layers_train_in_a_sequential_model():
    tf.set_random_seed(0)
    model = keras.Sequential([
        L.ZeroPadding1D(1, input_shape=(6, 2)), L.SeparableConv1D(4, 3, depth_multiplier=2),
        L.MaxPooling1D(), L.UpSampling1D(2), L.Cropping1D((1, 0)),
        L.AveragePooling1D(padding="same"), L.Flatten(), L.Dense(1)])
    shapes, lines = fit_one_epoch(model, (6, 2), 7)
    assert shapes == [(None, 8, 2), (None, 6, 4), (None, 3, 4), (None, 6, 4), (None, 5, 4),
                      (None, 3, 4), (None, 12), (None, 1)]
    assert "Total params: 45" in lines


# --- against torch -----------------------------------------------------------------------------
def test_matches_torch_functional():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    img = keras.Input(shape=(5, 4, 3))
    layers = [L.Conv2DTranspose(2, 3, strides=2, output_padding=1),
              L.Conv2DTranspose(2, (2, 3), strides=(1, 2), dilation_rate=1),
              L.DepthwiseConv2D((3, 2), depth_multiplier=2, dilation_rate=(1, 2)),
              L.SeparableConv2D(4, 2, strides=2, depth_multiplier=3)]
    outputs = [layer(img) for layer in layers]
    weights = [(layer, random_weights(layer, rng)) for layer in layers]
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    got = run(outputs, {img: x}, weights)

    def t(a, *perm):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(*perm)))
    tx = t(x, 0, 3, 1, 2)  # NCHW
    (k1, b1), (k2, b2), (dk, db), (sd, sp, sb) = (w for _, w in weights)
    want = [F.conv_transpose2d(tx, t(k1, 3, 2, 0, 1), t(b1, 0), stride=2, output_padding=1),
            F.conv_transpose2d(tx, t(k2, 3, 2, 0, 1), t(b2, 0), stride=(1, 2)),
            F.conv2d(tx, t(dk.reshape(3, 2, 1, 6), 3, 2, 0, 1), t(db, 0), dilation=(1, 2),
                     groups=3),
            F.conv2d(F.conv2d(tx, t(sd.reshape(2, 2, 1, 9), 3, 2, 0, 1), stride=2, groups=3),
                     t(sp, 3, 2, 0, 1), t(sb, 0))]
    for layer, g, w in zip(layers, got, want):
        np.testing.assert_allclose(g, w.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-5,
                                   err_msg=layer.name)
