"""tf.layers convolutions and pooling (graphc/layers/convolutional.py, pooling.py): output
shapes, TF1 variable names and shapes, values against numpy loops in both data formats,
gradients on every target, and argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from layer_checks import check_gradients, np_conv, np_conv_transpose, np_pool

import graphc as tf
from graphc import layers

_RNG = np.random.default_rng(11)


def u(*shape):
    return _RNG.uniform(-1.0, 1.0, shape)


def run_layer(layer, xv, target, weights=None, fmt="channels_last", **call):
    """Call `layer` on a float64 placeholder, load `weights` ({attribute: array}) and
    return (output tensor, value)."""
    shape = list(xv.shape)
    x = tf.placeholder(tf.float64, [None] + shape[1:])
    y = layer(x, **call)
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        for attr, value in (weights or {}).items():
            getattr(layer, attr).load(value, sess)
        return y, sess.run(y, {x: xv})


def to_first(a):
    return np.moveaxis(a, -1, 1)


def to_last(a):
    return np.moveaxis(a, 1, -1)


CONV_CASES = [  # (class, input shape, kwargs)
    (layers.Conv1D, (2, 9, 3), dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (layers.Conv1D, (2, 9, 3), dict(filters=2, kernel_size=2, dilation_rate=2)),
    (layers.Conv2D, (2, 6, 5, 3), dict(filters=4, kernel_size=(3, 2), padding="SAME")),
    (layers.Conv2D, (1, 7, 7, 2), dict(filters=3, kernel_size=3, strides=(2, 1))),
    (layers.Conv3D, (1, 4, 5, 4, 2), dict(filters=3, kernel_size=2, padding="same")),
]


@pytest.mark.parametrize("cls,shape,kw", CONV_CASES)
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_conv_values_and_names(cls, shape, kw, fmt, target):
    rank = len(shape) - 2
    layer = cls(data_format=fmt, activation=tf.nn.relu, **kw)
    k = kw["kernel_size"]
    kernel_shape = (k,) * rank if isinstance(k, int) else k
    w, b = u(*kernel_shape, shape[-1], kw["filters"]), u(kw["filters"])
    xv = u(*shape)
    y, out = run_layer(layer, xv if fmt == "channels_last" else to_first(xv), target,
                       {"kernel": w, "bias": b})
    strides = layer.strides
    want = np.maximum(np_conv(xv, w, strides, layer.dilation_rate, layer.padding) + b, 0)
    got = out if fmt == "channels_last" else to_last(out)
    assert_close(got, want, rtol=1e-10, atol=1e-10)
    static = [None] + list(want.shape[1:])
    assert y.shape.as_list() == (static if fmt == "channels_last" else
                                 [None, static[-1], *static[1:-1]])
    assert layer.compute_output_shape(y.shape.as_list()[:1] + list(
        (xv if fmt == "channels_last" else to_first(xv)).shape[1:])).as_list() == \
        y.shape.as_list()
    name = cls.__name__.lower()
    assert [(v.name, v.shape.as_list()) for v in layer.variables] == [
        (f"{name}/kernel:0", list(w.shape)), (f"{name}/bias:0", [kw["filters"]])]


def test_causal_conv1d(target):
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2, use_bias=False)
    xv, w = u(1, 8, 2), u(3, 2, 2)
    _, out = run_layer(layer, xv, target, {"kernel": w})
    padded = np.concatenate([np.zeros((1, 4, 2)), xv], axis=1)
    assert_close(out, np_conv(padded, w, (1,), (2,), "valid"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls,shape,kw", [
    (layers.Conv2DTranspose, (2, 3, 4, 3), dict(filters=2, kernel_size=3, strides=2,
                                                padding="same")),
    (layers.Conv2DTranspose, (1, 3, 3, 2), dict(filters=3, kernel_size=(2, 3), strides=(2, 1),
                                                padding="valid")),
    (layers.Conv3DTranspose, (1, 2, 3, 2, 2), dict(filters=2, kernel_size=2, strides=2,
                                                   padding="same")),
])
def test_conv_transpose_values_and_names(cls, shape, kw, target):
    layer = cls(**kw)
    rank = len(shape) - 2
    k = kw["kernel_size"]
    kernel_shape = (k,) * rank if isinstance(k, int) else k
    w, b = u(*kernel_shape, kw["filters"], shape[-1]), u(kw["filters"])
    xv = u(*shape)
    y, out = run_layer(layer, xv, target, {"kernel": w, "bias": b})
    strides, padding = layer.strides, layer.padding
    sizes = [n * s + (max(kk - s, 0) if padding == "valid" else 0)
             for n, kk, s in zip(shape[1:-1], kernel_shape, strides)]
    assert y.shape.as_list() == [None, *sizes, kw["filters"]]
    want = np_conv_transpose(xv, w, sizes, strides, (1,) * rank, padding) + b
    assert_close(out, want, rtol=1e-10, atol=1e-10)
    name = "conv2d_transpose" if rank == 2 else "conv3d_transpose"
    assert [(v.name, v.shape.as_list()) for v in layer.variables] == [
        (f"{name}/kernel:0", list(w.shape)), (f"{name}/bias:0", [kw["filters"]])]


def test_conv2d_transpose_channels_first(target):
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same",
                                   data_format="channels_first", use_bias=False)
    xv, w = u(1, 3, 4, 3), u(3, 3, 2, 3)
    _, out = run_layer(layer, to_first(xv), target, {"kernel": w})
    want = np_conv_transpose(xv, w, [6, 8], (2, 2), (1, 1), "same")
    assert_close(to_last(out), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_separable_conv2d(fmt, target):
    layer = layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, data_format=fmt)
    xv = u(2, 5, 4, 3)
    dw, pw, b = u(3, 3, 3, 2), u(1, 1, 6, 4), u(4)
    y, out = run_layer(layer, xv if fmt == "channels_last" else to_first(xv), target,
                       {"depthwise_kernel": dw, "pointwise_kernel": pw, "bias": b})
    depthwise = np.concatenate([np_conv(xv[..., c:c + 1], dw[:, :, c:c + 1, :], (1, 1),
                                        (1, 1), "same") for c in range(3)], axis=-1)
    want = depthwise @ pw[0, 0] + b
    assert_close(out if fmt == "channels_last" else to_last(out), want, rtol=1e-10,
                 atol=1e-10)
    assert [(v.name, v.shape.as_list()) for v in layer.variables] == [
        ("separable_conv2d/depthwise_kernel:0", [3, 3, 3, 2]),
        ("separable_conv2d/pointwise_kernel:0", [1, 1, 6, 4]),
        ("separable_conv2d/bias:0", [4])]


def test_separable_conv1d(target):
    layer = layers.SeparableConv1D(3, 2, strides=2, use_bias=False)
    xv, dw, pw = u(2, 7, 2), u(2, 2, 1), u(1, 2, 3)
    y, out = run_layer(layer, xv, target, {"depthwise_kernel": dw, "pointwise_kernel": pw})
    depthwise = np.concatenate([np_conv(xv[..., c:c + 1], dw[:, c:c + 1, :], (2,), (1,),
                                        "valid") for c in range(2)], axis=-1)
    assert y.shape.as_list() == [None, 3, 3]
    assert_close(out, depthwise @ pw[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("build", [
    lambda x: layers.conv2d(x, 2, 2, padding="same", activation=tf.tanh),
    lambda x: layers.conv2d_transpose(x, 2, 2, strides=2),
    lambda x: layers.separable_conv2d(x, 2, 2, data_format="channels_first"),
], ids=["conv2d", "conv2d_transpose", "separable_conv2d"])
def test_conv_gradients(build, target):
    check_gradients(build, _RNG.uniform(-1, 1, (1, 3, 3, 2)), target)


def test_conv_argument_errors():
    x = tf.placeholder(tf.float32, [None, 5, 5, 3])
    with pytest.raises(ValueError, match="layer 'conv2d': padding must be one of 'valid', "
                                         "'same' .*got 'full' \\(at test_layers_conv.py:"):
        layers.conv2d(x, 4, 3, padding="full")
    with pytest.raises(ValueError, match="layer 'conv2d_1': padding .* got 'causal'"):
        layers.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="layer 'conv2d_2': filters must be a positive "
                                         "integer, got 0"):
        layers.conv2d(x, 0, 3)
    with pytest.raises(ValueError, match="filters must be a positive integer, got -2"):
        layers.Conv1D(-2, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 2 ints"):
        layers.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="data_format must be 'channels_last' or "
                                         "'channels_first', got 'NHWC'"):
        layers.Conv2D(4, 3, data_format="NHWC")
    with pytest.raises(ValueError, match="Input 0 of layer conv2d_5 is incompatible with the "
                                         "layer: expected ndim=4, found ndim=3"):
        layers.Conv2D(4, 3)(tf.placeholder(tf.float32, [None, 5, 3]))
    with pytest.raises(ValueError, match="channel dimension of the inputs must be known"):
        layers.conv2d(tf.placeholder(tf.float32, [None, 5, 5, None]), 4, 3)
    conv = layers.Conv2D(4, 3)
    conv(x)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3 "
                                         "but received input with shape \\(\\?, 5, 5, 2\\)"):
        conv(tf.placeholder(tf.float32, [None, 5, 5, 2]))


# --- pooling --------------------------------------------------------------------------------
POOL_CASES = [
    (layers.max_pooling1d, "max", (2, 7, 3), 2, 2, "valid"),
    (layers.average_pooling1d, "avg", (2, 7, 3), 3, 2, "same"),
    (layers.max_pooling2d, "max", (2, 5, 6, 3), (2, 3), (2, 1), "same"),
    (layers.average_pooling2d, "avg", (2, 5, 6, 3), 2, 2, "valid"),
    (layers.max_pooling3d, "max", (1, 4, 5, 3, 2), 2, 2, "same"),
    (layers.average_pooling3d, "avg", (1, 4, 5, 3, 2), 2, 1, "valid"),
]


@pytest.mark.parametrize("fn,kind,shape,size,strides,padding", POOL_CASES)
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_pooling(fn, kind, shape, size, strides, padding, fmt, target):
    rank = len(shape) - 2
    xv = u(*shape)
    x = tf.placeholder(tf.float64, [None, *(xv if fmt == "channels_last"
                                            else to_first(xv)).shape[1:]])
    y = fn(x, size, strides, padding=padding, data_format=fmt)
    with tf.Session(target=target) as sess:
        out = sess.run(y, {x: xv if fmt == "channels_last" else to_first(xv)})
    sizes = (size,) * rank if isinstance(size, int) else size
    steps = (strides,) * rank if isinstance(strides, int) else strides
    want = np_pool(xv, kind, sizes, steps, padding)
    assert_close(out if fmt == "channels_last" else to_last(out), want, rtol=1e-12)
    name = ("max_pooling" if kind == "max" else "average_pooling") + f"{rank}d"
    assert y.name.startswith(name + "/")
    assert tf.global_variables() == []


def test_pooling_classes_and_errors():
    layer = layers.MaxPooling2D(2, 2)
    assert layer.name == "max_pooling2d" and layer.strides == (2, 2)
    assert layer.compute_output_shape([None, 7, 6, 3]).as_list() == [None, 3, 3, 3]
    assert layers.AveragePooling1D(3).strides == (3,)
    with pytest.raises(ValueError, match="pool_size must be >= 1, got 0"):
        layers.max_pooling2d(tf.ones([1, 4, 4, 1]), 0, 1)
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same'"):
        layers.average_pooling2d(tf.ones([1, 4, 4, 1]), 2, 2, padding="causal")
