"""MobileNetV2 as torchvision builds it, in NHWC: inverted residual blocks (1x1 expansion,
3x3 depthwise, 1x1 linear projection) with ReLU6, channel counts rounded to multiples of 8.
"""

from __future__ import annotations

from graphc.keras import layers as K
from graphc.keras.training import Model
from graphc.models.vision.layers import (
    batch_norm,
    check_classes,
    check_image_shape,
    classifier_init,
    conv2d,
    depthwise_conv2d,
    relu,
)
from graphc.models.weights import load_weights

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2
_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: the nearest multiple of divisor (at least divisor),
    bumped up one step if rounding lost more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_relu6(x, filters: int, kernel_size: int, name: str, strides: int = 1):
    """torchvision's Conv2dNormActivation: convolution `name.0`, batch norm `name.1`,
    ReLU6; padding (kernel_size - 1) / 2."""
    x = conv2d(x, filters, kernel_size, f"{name}.0", strides=strides,
               padding=(kernel_size - 1) // 2)
    return relu(batch_norm(x, f"{name}.1"), f"{name}.2", max_value=6.0)


def inverted_residual(x, out_channels: int, strides: int, expansion: int, name: str):
    """torchvision's InvertedResidual: [1x1 to C * expansion, ReLU6,] 3x3 depthwise
    (strided), ReLU6, 1x1 to out_channels with no activation; plus the input when the
    stride is 1 and the channels are unchanged."""
    channels = x.shape.dims[-1]
    hidden = int(round(channels * expansion))
    y, index = x, 0
    if expansion != 1:
        y = conv_bn_relu6(y, hidden, 1, f"{name}.conv.0")
        index = 1
    y = depthwise_conv2d(y, 3, f"{name}.conv.{index}.0", strides=strides, padding=1)
    y = relu(batch_norm(y, f"{name}.conv.{index}.1"), f"{name}.conv.{index}.2", max_value=6.0)
    y = conv2d(y, out_channels, 1, f"{name}.conv.{index + 1}")
    y = batch_norm(y, f"{name}.conv.{index + 2}")
    if strides == 1 and channels == out_channels:
        y = K.Add(name=f"{name}.add")([x, y])
    return y


def mobilenet_v2(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None,
                 width_mult=1.0):
    """torchvision's mobilenet_v2 (3,504,872 parameters at width 1.0 and 1000 classes).
    width_mult scales every layer's channels (rounded to multiples of 8; the last
    convolution keeps at least 1280). include_top=False ends at the features'
    (N, H/32, W/32, 1280) map. `weights`: a .safetensors file with torchvision's or
    graphc's names (see graphc.models.load_weights)."""
    if not isinstance(width_mult, (int, float)) or isinstance(width_mult, bool) or \
            width_mult <= 0:
        raise ValueError(f"mobilenet_v2: width_mult must be a positive number, got "
                         f"{width_mult!r}")
    shape = check_image_shape(input_shape, "mobilenet_v2")
    inputs = K.Input(shape=shape)
    x = conv_bn_relu6(inputs, make_divisible(32 * width_mult), 3, "features.0", strides=2)
    index = 1
    for expansion, channels, repeats, first_stride in _BLOCKS:
        out = make_divisible(channels * width_mult)
        for i in range(repeats):
            x = inverted_residual(x, out, first_stride if i == 0 else 1, expansion,
                                  f"features.{index}")
            index += 1
    x = conv_bn_relu6(x, make_divisible(1280 * max(1.0, width_mult)), 1, f"features.{index}")
    if include_top:
        classes = check_classes(num_classes, "mobilenet_v2")
        x = K.GlobalAveragePooling2D(name="avgpool")(x)
        x = K.Dropout(0.2, name="classifier.0")(x)
        kernel_init, bias_init = classifier_init()
        x = K.Dense(classes, kernel_initializer=kernel_init, bias_initializer=bias_init,
                    name="classifier.1")(x)
    net = Model(inputs, x, name="mobilenet_v2")
    if weights is not None:
        load_weights(net, weights, ignore=() if include_top else ("classifier.",))
    return net
