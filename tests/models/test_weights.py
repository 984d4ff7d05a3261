"""graphc.models.load_weights: torchvision's state-dict names mapped onto graphc's models
(checked against the recorded keys without torch, and against torchvision's own outputs
where torch is installed), graphc's names, and the errors for files that do not fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from vision_checks import import_torchvision, random_state

import graphc as tf
from graphc import keras, models

KEYS = json.loads((Path(__file__).parent / "data" / "torchvision_keys.json").read_text())


def torch_keys(name: str) -> dict:
    return {k: tuple(v) for k, v in KEYS["models"][name]["state_dict"].items()}


@pytest.mark.parametrize("name", sorted(KEYS["models"]))
def test_mapping_covers_every_torchvision_key(name):
    """Every state-dict entry but the num_batches_tracked counters, with its shape."""
    model = getattr(models, name)()
    wanted = {k: v for k, v in torch_keys(name).items()
              if not k.endswith("num_batches_tracked")}
    assert models.expected_weights(model, "torchvision") == wanted
    assert len(wanted) == len(model.weights)


def write(path, state: dict) -> str:
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return str(path)


def small_resnet18(**kwargs):
    return models.resnet18(input_shape=(32, 32, 3), num_classes=10, **kwargs)


def torch_state(model, seed=0) -> dict:
    state = random_state(models.expected_weights(model), np.random.default_rng(seed))
    counters = {k.rsplit(".", 1)[0] + ".num_batches_tracked": np.array(7, np.int64)
                for k in state if k.endswith("running_mean")}
    return {**state, **counters}


def test_loads_a_torchvision_state_dict(tmp_path):
    """Values land converted: a conv kernel OIHW -> HWIO, fc (out, in) -> (in, out), batch
    norm's running_var -> moving_variance; num_batches_tracked (int64) is skipped."""
    model = small_resnet18()
    state = torch_state(model)
    models.load_weights(model, write(tmp_path / "r.safetensors", state))
    get = dict(zip([w.name for w in model.weights], keras.backend.batch_get_value(
        model.weights)))
    np.testing.assert_array_equal(get["layer2.0.conv1/kernel:0"],
                                  state["layer2.0.conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(get["fc/kernel:0"], state["fc.weight"].T)
    np.testing.assert_array_equal(get["layer3.1.bn2/moving_variance:0"],
                                  state["layer3.1.bn2.running_var"])
    np.testing.assert_array_equal(get["bn1/gamma:0"], state["bn1.weight"])


def test_depthwise_layout(tmp_path):
    """PyTorch's depthwise weight (C * M, 1, kh, kw): output channel c * M + m filters input
    channel c, graphc's depthwise_kernel[:, :, c, m]."""
    inputs = keras.Input(shape=(4, 4, 3))
    out = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(inputs)
    model = keras.Model(inputs, out)
    assert models.expected_weights(model) == {"dw.weight": (6, 1, 3, 3), "dw.bias": (6,)}
    w = np.arange(54, dtype=np.float32).reshape(6, 1, 3, 3)
    models.load_weights(model, write(tmp_path / "d.safetensors",
                                     {"dw.weight": w, "dw.bias": np.zeros(6, np.float32)}))
    kernel = keras.backend.get_value(model.get_layer("dw").depthwise_kernel)
    for c in range(3):
        for m in range(2):
            np.testing.assert_array_equal(kernel[:, :, c, m], w[c * 2 + m, 0])


def test_flatten_order_is_permuted(tmp_path):
    """A Dense after Flatten of a (2, 3, 4) NHWC map: PyTorch's column c * 6 + h * 3 + w is
    graphc's row h * 12 + w * 4 + c."""
    inputs = keras.Input(shape=(2, 3, 4))
    out = keras.layers.Dense(5, name="fc")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    w = np.random.default_rng(0).standard_normal((5, 24)).astype(np.float32)
    models.load_weights(model, write(tmp_path / "f.safetensors",
                                     {"fc.weight": w, "fc.bias": np.zeros(5, np.float32)}))
    kernel = keras.backend.get_value(model.get_layer("fc").kernel)
    for c in range(4):
        for h in range(2):
            for x in range(3):
                np.testing.assert_array_equal(kernel[h * 12 + x * 4 + c], w[:, c * 6 + h * 3 + x])
    image = np.random.default_rng(1).standard_normal((1, 2, 3, 4)).astype(np.float32)
    torch_like = image.transpose(0, 3, 1, 2).reshape(1, -1) @ w.T
    np.testing.assert_allclose(model.predict(image), torch_like, rtol=1e-5, atol=1e-5)


def test_graphc_names_round_trip(tmp_path):
    """Model.save_weights' names (`layer/weight`, for a model alone in its graph) load into
    a model built in another graph, found by source='auto' as graphc's."""
    tf.set_random_seed(1)
    model = models.lenet()
    path = str(tmp_path / "g.safetensors")
    model.save_weights(path)
    x = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    want = model.predict(x)
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        again = models.lenet()
        assert models.expected_weights(again, "graphc")["fc1/kernel"] == (400, 120)
        models.load_weights(again, path)
        np.testing.assert_array_equal(again.predict(x), want)


def test_save_weights_names_layers_not_variables(tmp_path):
    """A second model in one graph has variables conv1_1/kernel, ...; save_weights still
    writes conv1/kernel, which a model elsewhere loads."""
    models.lenet()
    tf.set_random_seed(3)
    net = models.lenet()
    assert net.get_layer("conv1").kernel.name == "conv1_1/kernel:0"
    path = str(tmp_path / "g.safetensors")
    models.save_weights(net, path)
    x = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    with tf.Graph().as_default():
        again = models.lenet(weights=path)
        np.testing.assert_array_equal(again.predict(x), net.predict(x))


@pytest.mark.parametrize("build", [
    models.lenet,  # Dense after Flatten: the column permutation and its inverse
    lambda: models.mobilenet_v2(input_shape=(32, 32, 3), width_mult=0.35, num_classes=3),
])
def test_torchvision_names_round_trip(build, tmp_path):
    """load then save with PyTorch's names gives back the same arrays, and a zero
    num_batches_tracked per batch norm (PyTorch's strict load_state_dict wants them)."""
    model = build()
    state = random_state(models.expected_weights(model), np.random.default_rng(5))
    models.load_weights(model, write(tmp_path / "in.safetensors", state))
    out = str(tmp_path / "out.safetensors")
    models.save_weights(model, out, names="torchvision")
    saved = load_file(out)
    counters = {k for k in saved if k.endswith("num_batches_tracked")}
    assert counters == {k.replace("running_mean", "num_batches_tracked") for k in state
                        if k.endswith("running_mean")}
    assert all(saved[k].dtype == np.int64 and saved[k].shape == () for k in counters)
    assert sorted(set(saved) - counters) == sorted(state)
    for name, value in state.items():
        np.testing.assert_array_equal(saved[name], value, err_msg=name)


def test_save_weights_names_are_checked(tmp_path):
    with pytest.raises(ValueError, match="save_weights: names must be 'graphc' or "
                                         "'torchvision', got 'auto'"):
        models.save_weights(models.lenet(), tmp_path / "x.safetensors", names="auto")


def test_builders_take_weights_and_drop_the_head(tmp_path):
    """weights= loads at build; include_top=False skips the file's classifier."""
    model = small_resnet18()
    state = torch_state(model, seed=3)
    path = write(tmp_path / "r.safetensors", state)
    with tf.Graph().as_default():
        loaded = small_resnet18(weights=path)
        kernel = keras.backend.get_value(loaded.get_layer("fc").kernel)
        np.testing.assert_array_equal(kernel, state["fc.weight"].T)
    with tf.Graph().as_default():
        body = models.resnet18(input_shape=(32, 32, 3), include_top=False, weights=path)
        value = keras.backend.get_value(body.get_layer("layer4.1.bn2").moving_mean)
        np.testing.assert_array_equal(value, state["layer4.1.bn2.running_mean"])


def test_mismatch_lists_missing_unknown_and_misshaped(tmp_path):
    model = small_resnet18()
    state = torch_state(model)
    del state["layer1.0.conv1.weight"], state["fc.bias"]
    state["extra.weight"] = np.zeros(3, np.float32)
    state["bn1.running_var"] = np.ones(65, np.float32)
    path = write(tmp_path / "bad.safetensors", state)
    with pytest.raises(ValueError) as info:
        models.load_weights(model, path, source="torchvision")
    message = str(info.value)
    assert f"load_weights: {path} does not match model 'resnet18' (source='torchvision')" \
        in message
    assert "missing from the file (2): layer1.0.conv1.weight, fc.bias" in message
    assert "unknown to the model (1): extra.weight" in message
    assert "wrong shape (1): bn1.running_var: file (65,), model expects (64,)" in message


def test_a_file_of_another_model_is_refused(tmp_path):
    lenet = models.lenet()
    path = write(tmp_path / "lenet.safetensors", random_state(
        models.expected_weights(lenet), np.random.default_rng(0)))
    with pytest.raises(ValueError) as info:
        models.load_weights(small_resnet18(), path)
    lines = str(info.value).splitlines()
    assert lines[1].startswith("  missing from the file (101): bn1.weight, bn1.bias, ")
    assert lines[1].endswith(", ... and 89 more")
    assert lines[2] == ("  unknown to the model (9): conv1.bias, conv2.bias, conv2.weight, "
                        "fc1.bias, fc1.weight, fc2.bias, fc2.weight, fc3.bias, fc3.weight")
    assert lines[3] == ("  wrong shape (1): conv1.weight: file (6, 1, 5, 5), model expects "
                        "(64, 3, 7, 7)")


def test_graphc_source_needs_graphc_names(tmp_path):
    model = models.lenet()
    path = write(tmp_path / "t.safetensors", random_state(
        models.expected_weights(model), np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"missing from the file \(10\): conv1/kernel, "
                                         r"conv1/bias"):
        models.load_weights(model, path, source="graphc")


def test_bad_arguments_and_values(tmp_path):
    model = models.lenet()
    with pytest.raises(ValueError, match="source must be one of .*'torchvision', 'graphc', "
                                         "'auto'.*got 'keras'"):
        models.load_weights(model, tmp_path / "x.safetensors", source="keras")
    state = random_state(models.expected_weights(model), np.random.default_rng(0))
    state["fc3.bias"] = np.arange(10, dtype=np.int32)
    with pytest.raises(ValueError, match="weight 'fc3.bias' has dtype int32, a floating-point "
                                         "tensor was expected"):
        models.load_weights(model, write(tmp_path / "i.safetensors", state))


def test_layers_without_a_pytorch_counterpart():
    inputs = keras.Input(shape=(4, 4, 2))
    out = keras.layers.Conv2DTranspose(3, 2, name="up")(inputs)
    with pytest.raises(ValueError, match="layer 'up' \\(Conv2DTranspose\\) has no PyTorch "
                                         "counterpart .* use graphc's names \\(source='graphc'\\)"):
        models.expected_weights(keras.Model(inputs, out), "torchvision")


# --- against torchvision itself (where torch and torchvision are installed) ----------------
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg11", "mobilenet_v2"])
def test_same_logits_as_torchvision(name, tmp_path):
    """Random torchvision weights (batch-norm statistics and affines too), saved with
    safetensors.torch, loaded by name: eval-mode logits agree on 64x64 images."""
    torchvision = import_torchvision()
    import torch
    from safetensors.torch import save_file as save_torch

    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(num_classes=10).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    path = str(tmp_path / f"{name}.safetensors")
    save_torch({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    model = getattr(models, name)(input_shape=(64, 64, 3), num_classes=10, weights=path)
    got = model.predict(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_exported_weights_load_into_torchvision(tmp_path):
    """graphc's random resnet18, saved with PyTorch's names, loads strictly into
    torchvision's resnet18, which then computes graphc's logits."""
    torchvision = import_torchvision()
    import torch
    from safetensors.torch import load_file as load_torch

    tf.set_random_seed(4)
    model = models.resnet18(input_shape=(64, 64, 3), num_classes=10)
    path = str(tmp_path / "export.safetensors")
    models.save_weights(model, path, names="torchvision")
    net = torchvision.models.resnet18(num_classes=10).eval()
    net.load_state_dict(load_torch(path), strict=True)
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = model.predict(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * max(1.0, np.abs(want).max()))
