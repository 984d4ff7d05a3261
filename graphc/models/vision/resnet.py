"""ResNet-18/34/50 as torchvision builds them (v1.5: a bottleneck strides in its 3x3
convolution, not its first 1x1), in NHWC, with torchvision's module names as layer names.
"""

from __future__ import annotations

from graphc.keras import layers as K
from graphc.keras.training import Model
from graphc.models.vision.layers import (
    batch_norm,
    check_classes,
    check_image_shape,
    conv2d,
    linear_init,
    max_pool,
    relu,
)
from graphc.models.weights import load_weights

_STAGE_PLANES = (64, 128, 256, 512)


def _shortcut(x, out_channels: int, strides: int, name: str):
    """The identity, or torchvision's `downsample` (1x1 convolution + batch norm) where the
    block changes the shape."""
    if strides == 1 and x.shape.dims[-1] == out_channels:
        return x
    x = conv2d(x, out_channels, 1, f"{name}.downsample.0", strides=strides)
    return batch_norm(x, f"{name}.downsample.1")


def basic_block(x, planes: int, strides: int, name: str):
    """torchvision's BasicBlock: two 3x3 convolutions (the first strided), each with batch
    norm, added to the shortcut, then ReLU. Output channels: planes."""
    shortcut = _shortcut(x, planes, strides, name)
    y = conv2d(x, planes, 3, f"{name}.conv1", strides=strides, padding=1)
    y = relu(batch_norm(y, f"{name}.bn1"), f"{name}.relu1")
    y = batch_norm(conv2d(y, planes, 3, f"{name}.conv2", padding=1), f"{name}.bn2")
    return relu(K.Add(name=f"{name}.add")([y, shortcut]), f"{name}.relu2")


def bottleneck(x, planes: int, strides: int, name: str):
    """torchvision's Bottleneck (v1.5): 1x1 to planes, 3x3 strided, 1x1 to 4 * planes, each
    with batch norm, added to the shortcut, then ReLU."""
    out = 4 * planes
    shortcut = _shortcut(x, out, strides, name)
    y = relu(batch_norm(conv2d(x, planes, 1, f"{name}.conv1"), f"{name}.bn1"), f"{name}.relu1")
    y = conv2d(y, planes, 3, f"{name}.conv2", strides=strides, padding=1)
    y = relu(batch_norm(y, f"{name}.bn2"), f"{name}.relu2")
    y = batch_norm(conv2d(y, out, 1, f"{name}.conv3"), f"{name}.bn3")
    return relu(K.Add(name=f"{name}.add")([y, shortcut]), f"{name}.relu3")


def _resnet(block, depths, model, input_shape, num_classes, include_top, weights):
    shape = check_image_shape(input_shape, model)
    inputs = K.Input(shape=shape)
    x = conv2d(inputs, 64, 7, "conv1", strides=2, padding=3)
    x = max_pool(relu(batch_norm(x, "bn1"), "relu"), 3, 2, 1, "maxpool")
    for stage, (planes, depth) in enumerate(zip(_STAGE_PLANES, depths), start=1):
        for index in range(depth):
            strides = 2 if stage > 1 and index == 0 else 1
            x = block(x, planes, strides, f"layer{stage}.{index}")
    if include_top:
        classes = check_classes(num_classes, model)
        x = K.GlobalAveragePooling2D(name="avgpool")(x)
        kernel_init, bias_init = linear_init(x.shape.dims[-1])
        x = K.Dense(classes, kernel_initializer=kernel_init, bias_initializer=bias_init,
                    name="fc")(x)
    net = Model(inputs, x, name=model)
    if weights is not None:
        load_weights(net, weights, ignore=() if include_top else ("fc.", "fc/"))
    return net


def resnet18(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's resnet18 (11,689,512 parameters at 1000 classes). include_top=False
    ends at layer4's feature map (N, H/32, W/32, 512). `weights`: a .safetensors file with
    torchvision's or graphc's names (see graphc.models.load_weights)."""
    return _resnet(basic_block, (2, 2, 2, 2), "resnet18", input_shape, num_classes,
                   include_top, weights)


def resnet34(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's resnet34 (21,797,672 parameters); arguments as resnet18's."""
    return _resnet(basic_block, (3, 4, 6, 3), "resnet34", input_shape, num_classes,
                   include_top, weights)


def resnet50(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's resnet50 (25,557,032 parameters); include_top=False ends at a
    2048-channel feature map. Arguments as resnet18's."""
    return _resnet(bottleneck, (3, 4, 6, 3), "resnet50", input_shape, num_classes,
                   include_top, weights)
