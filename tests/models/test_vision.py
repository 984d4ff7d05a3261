"""graphc.models' image classifiers: torchvision's parameter counts, small forward passes,
blocks against numpy references in PyTorch's layouts, and LeNet learning the digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from vision_checks import (
    batch_norm_nchw,
    conv_nchw,
    max_pool_nchw,
    random_state,
    relu,
)

import graphc as tf
from graphc import keras, models
from graphc.datasets import load_digits
from graphc.models.vision.layers import AdaptiveAveragePooling2D, _bins
from graphc.models.vision.mobilenet import inverted_residual, make_divisible
from graphc.models.vision.resnet import basic_block, bottleneck

KEYS = json.loads((Path(__file__).parent / "data" / "torchvision_keys.json").read_text())
TORCHVISION = ["resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn",
               "mobilenet_v2"]


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape.as_list()) for w in model.trainable_weights))


# --- architecture ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", TORCHVISION)
def test_parameter_counts_are_torchvisions(name):
    """Trainable parameters are torchvision's parameters; count_params adds the batch
    norms' moving statistics, which PyTorch keeps as buffers (running_mean, running_var)."""
    model = getattr(models, name)()
    info = KEYS["models"][name]
    buffers = sum(int(np.prod(shape)) for key, shape in info["state_dict"].items()
                  if key.endswith(("running_mean", "running_var")))
    assert trainable_count(model) == info["parameters"]
    assert model.count_params() == info["parameters"] + buffers
    assert model.name == name


def test_the_briefed_counts():
    expected = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                "vgg11": 132_863_336, "vgg16": 138_357_544, "mobilenet_v2": 3_504_872}
    for name, count in expected.items():
        tf.reset_default_graph()
        assert trainable_count(getattr(models, name)()) == count, name


@pytest.mark.parametrize("name, kwargs, shape", [
    ("resnet18", {"input_shape": (32, 32, 3), "num_classes": 10}, (2, 10)),
    ("resnet50", {"input_shape": (32, 32, 3), "num_classes": 7}, (2, 7)),
    ("mobilenet_v2", {"input_shape": (32, 32, 3), "num_classes": 10, "width_mult": 0.5},
     (2, 10)),
    ("vgg11", {"input_shape": (32, 32, 3), "include_top": False}, (2, 1, 1, 512)),
    ("vgg16_bn", {"input_shape": (64, 32, 3), "include_top": False}, (2, 2, 1, 512)),
])
def test_small_forward(name, kwargs, shape):
    """resnet34, vgg11_bn and vgg16 are resnet18's, vgg16_bn's and vgg11's code with other
    depths: their structure is checked against torchvision's names and shapes
    (test_weights.py), and not run here, to keep the suite fast; so is VGG's 120-million
    parameter head (its pooling and flatten order are tested below; the comparison with
    torchvision runs it). LeNet runs in test_lenet_matches_numpy_in_pytorchs_layout."""
    tf.set_random_seed(0)
    model = getattr(models, name)(**kwargs)
    x = np.random.default_rng(0).random((2, *model.inputs[0].shape.dims[1:]), np.float32)
    out = model.predict(x)
    assert out.shape == shape
    assert np.isfinite(out).all() and out.std() > 0


def test_vgg_head_shapes():
    model = models.vgg11(input_shape=(32, 32, 3), num_classes=10)
    shapes = {layer.name: layer.output_shape for layer in model.layers}
    assert shapes["avgpool"] == (None, 7, 7, 512)  # from 1x1, as torchvision's
    assert shapes["flatten"] == (None, 25088)
    assert model.outputs[0].shape.dims == (None, 10)


def test_layer_names_are_torchvisions_modules():
    model = models.resnet18(input_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    assert {"conv1", "bn1", "layer2.0.conv1", "layer2.0.downsample.0", "fc"} <= names
    assert "layer1.0.downsample.0" not in names  # layer1 keeps 64 channels at stride 1


def test_mobilenet_width():
    assert [make_divisible(v) for v in (32 * 0.5, 24 * 0.35, 1280 * 0.75, 11)] == \
        [16, 8, 960, 16]
    narrow = models.mobilenet_v2(input_shape=(32, 32, 3), width_mult=0.5, include_top=False)
    assert narrow.outputs[0].shape.dims[1:] == (1, 1, 1280)  # the last layer keeps 1280
    assert narrow.get_layer("features.0.0").kernel.shape.as_list() == [3, 3, 3, 16]


def test_builder_arguments_are_checked():
    with pytest.raises(ValueError, match=r"resnet18: input_shape must be \(height, width, "
                                         r"channels\).*got \(32, 32\)"):
        models.resnet18(input_shape=(32, 32))
    with pytest.raises(ValueError, match="vgg16: input_shape .* too small: five 2x2 max "
                                         "poolings need at least 32x32"):
        models.vgg16(input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="mobilenet_v2: num_classes must be a positive int, "
                                         "got 0"):
        models.mobilenet_v2(num_classes=0)
    with pytest.raises(ValueError, match="width_mult must be a positive number, got -1"):
        models.mobilenet_v2(width_mult=-1)
    with pytest.raises(ValueError, match="lenet: input_shape .* too small"):
        models.lenet(input_shape=(3, 3, 1))


# --- pieces against numpy references in PyTorch's layouts -----------------------------------
def load_state(model, state, tmp_path):
    path = tmp_path / "state.safetensors"
    save_file(state, str(path))
    models.load_weights(model, path, source="torchvision")


def bn(x, state, name):
    return batch_norm_nchw(x, state[f"{name}.weight"], state[f"{name}.bias"],
                           state[f"{name}.running_mean"], state[f"{name}.running_var"])


def np_basic_block(x, s, name, stride):
    y = relu(bn(conv_nchw(x, s[f"{name}.conv1.weight"], stride=stride, padding=1), s,
                f"{name}.bn1"))
    y = bn(conv_nchw(y, s[f"{name}.conv2.weight"], padding=1), s, f"{name}.bn2")
    shortcut = bn(conv_nchw(x, s[f"{name}.downsample.0.weight"], stride=stride), s,
                  f"{name}.downsample.1")
    return relu(y + shortcut)


def np_inverted_residual(x, s, name):
    """Expansion 3, stride 1, channels unchanged: the residual connection is on."""
    y = relu(bn(conv_nchw(x, s[f"{name}.conv.0.0.weight"]), s, f"{name}.conv.0.1"), 6.0)
    channels = y.shape[1]
    y = conv_nchw(y, s[f"{name}.conv.1.0.weight"], padding=1, groups=channels)
    y = relu(bn(y, s, f"{name}.conv.1.1"), 6.0)
    return x + bn(conv_nchw(y, s[f"{name}.conv.2.weight"]), s, f"{name}.conv.3")


def random_state_for(model, rng):
    return random_state(models.expected_weights(model), rng)


def test_basic_block_matches_numpy(tmp_path):
    """Stride 2 on an even size: PyTorch's symmetric padding, and the downsample path."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    inputs = keras.Input(shape=(6, 6, 4))
    model = keras.Model(inputs, basic_block(inputs, 8, 2, "block"))
    state = random_state_for(model, rng)
    load_state(model, state, tmp_path)
    got = model.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np_basic_block(x, state, "block", 2), rtol=1e-4,
                               atol=1e-4)


def test_bottleneck_matches_numpy(tmp_path):
    """torchvision v1.5: the stride is on the 3x3 convolution."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 5, 5)).astype(np.float32)
    inputs = keras.Input(shape=(5, 5, 8))
    model = keras.Model(inputs, bottleneck(inputs, 2, 2, "b"))
    s = random_state_for(model, rng)
    load_state(model, s, tmp_path)
    y = relu(bn(conv_nchw(x, s["b.conv1.weight"]), s, "b.bn1"))
    y = relu(bn(conv_nchw(y, s["b.conv2.weight"], stride=2, padding=1), s, "b.bn2"))
    y = bn(conv_nchw(y, s["b.conv3.weight"]), s, "b.bn3")
    want = relu(y + bn(conv_nchw(x, s["b.downsample.0.weight"], stride=2), s,
                       "b.downsample.1"))
    got = model.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert got.shape == (2, 8, 3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_inverted_residual_matches_numpy(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    inputs = keras.Input(shape=(5, 5, 4))
    model = keras.Model(inputs, inverted_residual(inputs, 4, 1, 3, "ir"))
    state = random_state_for(model, rng)
    assert state["ir.conv.1.0.weight"].shape == (12, 1, 3, 3)  # depthwise, PyTorch layout
    load_state(model, state, tmp_path)
    got = model.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, np_inverted_residual(x, state, "ir"), rtol=1e-4,
                               atol=1e-4)


def test_strided_inverted_residual_has_no_shortcut():
    inputs = keras.Input(shape=(6, 6, 4))
    out = inverted_residual(inputs, 4, 2, 1, "ir")
    layers = keras.Model(inputs, out).layers
    assert out.shape.dims[1:] == (3, 3, 4)
    assert not any(isinstance(layer, keras.layers.Add) for layer in layers)
    assert "ir.conv.0.0.pad" in {layer.name for layer in layers}  # symmetric padding


def test_lenet_matches_numpy_in_pytorchs_layout(tmp_path):
    """Conv and Linear layouts, and fc1 reading a flattened 5x5x16 map: PyTorch flattens
    it channel by channel, graphc pixel by pixel."""
    rng = np.random.default_rng(4)
    model = models.lenet()
    s = random_state_for(model, rng)
    load_state(model, s, tmp_path)
    x = rng.random((2, 1, 28, 28)).astype(np.float32)
    y = max_pool_nchw(relu(conv_nchw(x, s["conv1.weight"], s["conv1.bias"], padding=2)), 2, 2)
    y = max_pool_nchw(relu(conv_nchw(y, s["conv2.weight"], s["conv2.bias"])), 2, 2)
    y = y.reshape(2, -1)
    for layer in ("fc1", "fc2"):
        y = relu(y @ s[f"{layer}.weight"].T + s[f"{layer}.bias"])
    want = y @ s["fc3.weight"].T + s["fc3.bias"]
    got = model.predict(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_resnet_stem_matches_numpy(tmp_path):
    """conv1 (7x7, stride 2, padding 3) and the max pool (3x3, stride 2, padding 1) on an
    even size, where TF's 'SAME' would pad differently."""
    rng = np.random.default_rng(5)
    model = models.resnet18(input_shape=(10, 10, 3), include_top=False)
    stem = keras.Model(model.inputs, model.get_layer("maxpool").output)
    s = random_state_for(stem, rng)
    assert sorted(s) == ["bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.weight",
                         "conv1.weight"]
    load_state(stem, s, tmp_path)
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    want = max_pool_nchw(relu(bn(conv_nchw(x, s["conv1.weight"], stride=2, padding=3), s,
                                 "bn1")), 3, 2, padding=1)
    got = stem.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert got.shape == (2, 64, 3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size, out", [(5, 3), (2, 7), (7, 7), (6, 4), (1, 1)])
def test_adaptive_average_pooling(size, out):
    """PyTorch's bins: floor(i * n / out) to ceil((i + 1) * n / out)."""
    x = np.random.default_rng(6).standard_normal((2, size, size + 1, 3)).astype(np.float32)
    want = np.zeros((2, out, out, 3))
    for i in range(out):
        for j in range(out):
            r0, r1 = i * size // out, -(-(i + 1) * size // out)
            c0, c1 = j * (size + 1) // out, -(-(j + 1) * (size + 1) // out)
            want[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    inputs = keras.Input(shape=x.shape[1:])
    got = keras.Model(inputs, AdaptiveAveragePooling2D(out)(inputs)).predict(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert _bins(size, out).sum(axis=1) == pytest.approx(np.ones(out))


def test_adaptive_pooling_needs_known_sizes():
    with pytest.raises(ValueError, match="output_size must be an int or two positive ints"):
        AdaptiveAveragePooling2D((0, 2))
    inputs = keras.Input(shape=(None, None, 3))
    with pytest.raises(ValueError, match="expects NHWC inputs of known height and width"):
        AdaptiveAveragePooling2D(7, name="pool")(inputs)


# --- training -------------------------------------------------------------------------------
def test_lenet_learns_the_digits():
    """8x8 digits (LeNet's second convolution pads there), 10 epochs: >= 95% on held-out
    digits."""
    images, labels = load_digits()
    x = (images / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], labels[order]
    tf.set_random_seed(0)
    np.random.seed(0)
    net = models.lenet(input_shape=(8, 8, 1))
    assert net.get_layer("conv2").padding == "same"
    net.compile(optimizer=keras.optimizers.Adam(0.005), metrics=["accuracy"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(x[:1500], y[:1500], batch_size=64, epochs=10, verbose=0)
    _, accuracy = net.evaluate(x[1500:], y[1500:], verbose=0)
    assert accuracy >= 0.95
