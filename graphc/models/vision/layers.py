"""The pieces the vision models are built from, in PyTorch's conventions over NHWC tensors.

Each layer is named after the torchvision module it stands for (`layer1.0.conv1`,
`features.0.0`), so a torchvision state-dict name is the layer's name plus the parameter's
(graphc/models/weights.py relies on this). Layers torchvision has no module for (paddings,
additions) get names of their own, derived from the block's.

PyTorch pads symmetrically: `Conv2d(k, stride=2, padding=1)` puts one row above and one
below, where TF's 'SAME' pads an even-sized input only after. Such convolutions are an
explicit ZeroPadding2D and a 'valid' convolution; stride 1 with padding (k - 1) / 2 is TF's
'same', identical and one op fewer.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.keras import layers as K
from graphc.keras.base_layer import KerasLayer, layer_error
from graphc.keras.layers_conv import DepthwiseConv2D
from graphc.ops import array_ops as A
from graphc.ops.einsum import einsum
from graphc.ops.init_ops import RandomNormal, RandomUniform, VarianceScaling
from graphc.ops.tensor import TensorShape

BN_EPSILON = 1e-5  # torch.nn.BatchNorm2d's eps
BN_MOMENTUM = 0.9  # Keras's decay of the moving statistics: PyTorch's momentum 0.1


def conv_init():
    """torchvision's kaiming_normal_(mode='fan_out', nonlinearity='relu'): N(0, 2 / fan_out)
    with fan_out = out_channels * kh * kw, untruncated."""
    return VarianceScaling(2.0, "fan_out", "untruncated_normal")


def linear_init(fan_in: int):
    """torch.nn.Linear's default initializers (kernel, bias): U(-1/sqrt(fan_in), +) both."""
    bound = 1.0 / math.sqrt(fan_in)
    return VarianceScaling(1.0 / 3.0, "fan_in", "uniform"), RandomUniform(-bound, bound)


def classifier_init():
    """torchvision's VGG and MobileNetV2 heads: weights N(0, 0.01), biases zero."""
    return RandomNormal(0.0, 0.01), "zeros"


def pad_for(x, kernel_size: int, strides: int, padding: int, name: str):
    """(tensor, Keras padding) for PyTorch's `padding` zeros on every side of x."""
    if padding == 0:
        return x, "valid"
    if strides == 1 and 2 * padding == kernel_size - 1:
        return x, "same"
    return K.ZeroPadding2D(padding, name=f"{name}.pad")(x), "valid"


def conv2d(x, filters: int, kernel_size: int, name: str, strides: int = 1, padding: int = 0,
           use_bias: bool = False):
    """torch.nn.Conv2d(in, filters, kernel_size, strides, padding, bias=use_bias) on NHWC."""
    x, mode = pad_for(x, kernel_size, strides, padding, name)
    return K.Conv2D(filters, kernel_size, strides=strides, padding=mode, use_bias=use_bias,
                    kernel_initializer=conv_init(), name=name)(x)


def depthwise_conv2d(x, kernel_size: int, name: str, strides: int = 1, padding: int = 0):
    """torch.nn.Conv2d(C, C, kernel_size, strides, padding, groups=C, bias=False)."""
    x, mode = pad_for(x, kernel_size, strides, padding, name)
    return DepthwiseConv2D(kernel_size, strides=strides, padding=mode, use_bias=False,
                             depthwise_initializer=conv_init(), name=name)(x)


def batch_norm(x, name: str):
    """torch.nn.BatchNorm2d with its defaults (eps 1e-5, momentum 0.1)."""
    return K.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def relu(x, name: str, max_value=None):
    return K.ReLU(max_value=max_value, name=name)(x)


def max_pool(x, pool_size: int, strides: int, padding: int, name: str):
    """torch.nn.MaxPool2d(pool_size, strides, padding). PyTorch pads a max pooling with
    -inf; every max pooling here follows a ReLU, whose outputs are >= 0, so zeros pad the
    same: a window's maximum is one of its real inputs either way."""
    if padding:
        x = K.ZeroPadding2D(padding, name=f"{name}.pad")(x)
    return K.MaxPooling2D(pool_size, strides, name=name)(x)


def check_image_shape(input_shape, model: str) -> tuple:
    """input_shape as (height, width, channels) of positive ints, or a ValueError."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(
            isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(f"{model}: input_shape must be (height, width, channels) of positive "
                         f"ints (NHWC without the batch), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def check_classes(num_classes, model: str) -> int:
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or \
            num_classes < 1:
        raise ValueError(f"{model}: num_classes must be a positive int, got {num_classes!r}")
    return int(num_classes)


def _bins(size: int, out: int) -> np.ndarray:
    """(out, size) averaging matrix of adaptive pooling: row i averages inputs
    floor(i * size / out) .. ceil((i + 1) * size / out) - 1, as PyTorch bins them."""
    matrix = np.zeros((out, size), np.float32)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAveragePooling2D(KerasLayer):
    """torch.nn.AdaptiveAvgPool2d(output_size) on NHWC: output cell (i, j) averages its
    PyTorch bin of rows and columns. Bins may overlap, or repeat an input when the output
    is larger (VGG's 7x7 head on a 2x2 map), so this is two products with averaging
    matrices rather than a strided pooling. The spatial size must be known."""

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        size = (output_size, output_size) if isinstance(output_size, int) else output_size
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise layer_error(self.name, f"output_size must be an int or two positive ints, "
                                         f"got {output_size!r}")
        self.output_size = tuple(size)

    def call(self, inputs):
        dims = inputs.shape.dims
        if len(dims) != 4 or dims[1] is None or dims[2] is None:
            raise layer_error(self.name, f"expects NHWC inputs of known height and width, "
                                         f"got shape {inputs.shape}")
        (h, w), (oh, ow) = dims[1:3], self.output_size
        if (h, w) == (oh, ow):
            return inputs
        rows = A.constant(_bins(h, oh))
        cols = A.constant(_bins(w, ow))
        x = einsum("ih,nhwc->niwc", rows, inputs)
        return einsum("jw,niwc->nijc", cols, x)

    def compute_output_shape(self, input_shape):
        dims = TensorShape(input_shape).dims
        return TensorShape([dims[0], *self.output_size, dims[3]])
