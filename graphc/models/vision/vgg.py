"""VGG-11 and VGG-16, with and without batch norm, as torchvision builds them, in NHWC.

Layer names follow torchvision's Sequential indices: `features.<i>` counts every module
(convolution, batch norm, ReLU, pooling), so VGG-11's convolutions are features.0, 3, 6, 8,
... and with batch norm features.0, 4, 8, 11, ...; the head is classifier.0, .3 and .6.
The head's first Linear reads a 7x7x512 map flattened in NHWC order; torchvision's
flattens NCHW, and graphc.models.load_weights permutes its columns to match.
"""

from __future__ import annotations

from graphc.keras import layers as K
from graphc.keras.training import Model
from graphc.models.vision.layers import (
    AdaptiveAveragePooling2D,
    batch_norm,
    check_classes,
    check_image_shape,
    classifier_init,
    conv2d,
    relu,
)
from graphc.models.weights import load_weights

# torchvision's configurations "A" (VGG-11) and "D" (VGG-16): channels, or "M" a max pool
_LAYOUTS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
}


def _features(x, layout, batch_norms: bool):
    index = 0
    for item in layout:
        if item == "M":
            x = K.MaxPooling2D(2, 2, name=f"features.{index}")(x)
            index += 1
            continue
        x = conv2d(x, item, 3, f"features.{index}", padding=1, use_bias=True)
        if batch_norms:
            x = batch_norm(x, f"features.{index + 1}")
        index += 2 if batch_norms else 1
        x = relu(x, f"features.{index}")
        index += 1
    return x


def _classifier(x, num_classes: int):
    """torchvision's head: Linear 4096, ReLU, Dropout(0.5), Linear 4096, ReLU, Dropout(0.5),
    Linear num_classes."""
    x = K.Flatten(name="flatten")(AdaptiveAveragePooling2D(7, name="avgpool")(x))
    for index, units in ((0, 4096), (3, 4096), (6, num_classes)):
        kernel_init, bias_init = classifier_init()
        x = K.Dense(units, kernel_initializer=kernel_init, bias_initializer=bias_init,
                    name=f"classifier.{index}")(x)
        if index < 6:
            x = relu(x, f"classifier.{index + 1}")
            x = K.Dropout(0.5, name=f"classifier.{index + 2}")(x)
    return x


def _vgg(layout: str, batch_norms: bool, input_shape, num_classes, include_top, weights):
    model = layout + ("_bn" if batch_norms else "")
    shape = check_image_shape(input_shape, model)
    if min(shape[:2]) < 32:
        raise ValueError(f"{model}: input_shape {shape} is too small: five 2x2 max poolings "
                         f"need at least 32x32")
    inputs = K.Input(shape=shape)
    x = _features(inputs, _LAYOUTS[layout], batch_norms)
    if include_top:
        x = _classifier(x, check_classes(num_classes, model))
    net = Model(inputs, x, name=model)
    if weights is not None:
        load_weights(net, weights, ignore=() if include_top else ("classifier.",))
    return net


def vgg11(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's vgg11 (132,863,336 parameters at 1000 classes). The head pools any
    input of at least 32x32 to 7x7 as torchvision's AdaptiveAvgPool2d does; include_top=False
    ends at the features' (N, H/32, W/32, 512) map. `weights`: a .safetensors file with
    torchvision's or graphc's names (see graphc.models.load_weights)."""
    return _vgg("vgg11", False, input_shape, num_classes, include_top, weights)


def vgg11_bn(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's vgg11_bn: vgg11 with batch norm after each convolution."""
    return _vgg("vgg11", True, input_shape, num_classes, include_top, weights)


def vgg16(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's vgg16 (138,357,544 parameters); arguments as vgg11's."""
    return _vgg("vgg16", False, input_shape, num_classes, include_top, weights)


def vgg16_bn(input_shape=(224, 224, 3), num_classes=1000, include_top=True, weights=None):
    """torchvision's vgg16_bn: vgg16 with batch norm after each convolution."""
    return _vgg("vgg16", True, input_shape, num_classes, include_top, weights)
