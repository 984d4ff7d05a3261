"""More tf.keras.layers for images, volumes and sequences (TF 1.15 arguments and defaults):
Conv3D, Conv2DTranspose / Conv3DTranspose, SeparableConv1D / 2D and DepthwiseConv2D;
MaxPooling1D / 3D, AveragePooling1D / 3D, GlobalAveragePooling3D / GlobalMaxPooling3D;
ZeroPadding1D / 3D, Cropping1D / 3D and UpSampling1D / 3D (nearest).

The convolutions and poolings are graphc/layers' classes with Keras's arguments, as in
layers.py: kernels default to glorot_uniform and biases to zeros, padding to 'valid', and
data_format=None means channels_last (Keras's image_data_format). The padding, cropping and
upsampling layers are compositions of pad, slicing, reshape and tile.
"""

from __future__ import annotations

import numbers

from graphc import layers as tf_layers
from graphc.keras import backend, initializers, regularizers
from graphc.keras.base_layer import KerasLayer, keras_args, layer_error
from graphc.keras.layers_extra import _shape_list
from graphc.layers.base import InputSpec, input_shape_of
from graphc.layers.utils import get_callable, normalize_tuple, positive_int, serialize
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nn_conv
from graphc.ops.tensor import TensorShape

__all__ = [  # the tf.keras.layers names (layers.py imports them all)
    "AveragePooling1D", "AveragePooling3D", "AvgPool1D", "AvgPool3D", "Conv2DTranspose",
    "Conv3D", "Conv3DTranspose", "Convolution2DTranspose", "Convolution3D",
    "Convolution3DTranspose", "Cropping1D", "Cropping3D", "DepthwiseConv2D",
    "GlobalAveragePooling3D", "GlobalAvgPool3D", "GlobalMaxPool3D", "GlobalMaxPooling3D",
    "MaxPool1D", "MaxPool3D", "MaxPooling1D", "MaxPooling3D", "SeparableConv1D",
    "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "UpSampling1D",
    "UpSampling3D", "ZeroPadding1D", "ZeroPadding3D",
]


# --- convolutions ----------------------------------------------------------------------------
class Conv3D(KerasLayer, tf_layers.Conv3D):
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            **kwargs)))


class Conv2DTranspose(KerasLayer, tf_layers.Conv2DTranspose):
    """Kernel (kh, kw, filters, in_channels); with output_padding, each output size is
    (n - 1) * stride + kernel span - 2 * pad + output_padding (pad: span // 2 for 'same')."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, output_padding=output_padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, **kwargs)))


class Conv3DTranspose(KerasLayer, tf_layers.Conv3DTranspose):
    """Kernel (kd, kh, kw, filters, in_channels). TF 1.15's Keras has no dilation_rate
    here; graphc accepts it as a keyword."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 output_padding=None, data_format=None, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 dilation_rate=(1, 1, 1), **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, output_padding=output_padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, **kwargs)))


class SeparableConv1D(KerasLayer, tf_layers.SeparableConv1D):
    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
            activation=activation, use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer,
            **kwargs)))


class SeparableConv2D(KerasLayer, tf_layers.SeparableConv2D):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
            activation=activation, use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer,
            **kwargs)))


class DepthwiseConv2D(KerasLayer, tf_layers.Conv2D):
    """Each input channel convolved on its own with depth_multiplier filters: output
    channel c * depth_multiplier + k sees input channel c only, through
    depthwise_kernel[:, :, c, k] (kernel (kh, kw, in_channels, depth_multiplier)). No
    `filters`: the outputs number in_channels * depth_multiplier."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, dilation_rate=(1, 1),
                 **kwargs):
        # Conv2D's own kernel arguments stay unused: the kernel is made in build
        super().__init__(1, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, bias_constraint=bias_constraint,
            **kwargs)))
        self.filters = None
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", self.name)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = get_callable(depthwise_constraint, "depthwise_constraint",
                                                 self.name)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = tf_layers.convolutional.add_depthwise_kernel(self, channels)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels * self.depth_multiplier,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        outputs = nn_conv.depthwise_conv2d(
            inputs, self.depthwise_kernel, strides=self.strides,
            padding=self.padding.upper(), dilations=self.dilation_rate,
            data_format="NCHW" if self.data_format == "channels_first" else "NHWC")
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        shape = input_shape_of(input_shape)
        channels = shape.dims[self._channel_axis]
        out = list(super().compute_output_shape(shape).dims)
        filters = None if channels is None else channels * self.depth_multiplier
        out[self._channel_axis] = filters
        return TensorShape(out)

    _CONFIG = tuple(k for k in tf_layers.Conv2D._CONFIG
                    if k != "filters" and not k.startswith("kernel_")) + (
        "depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
        "depthwise_constraint")


Convolution3D = Conv3D
Convolution2DTranspose, Convolution3DTranspose = Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D


# --- pooling ---------------------------------------------------------------------------------
class MaxPooling1D(KerasLayer, tf_layers.MaxPooling1D):
    def __init__(self, pool_size=2, strides=None, padding="valid",
                 data_format="channels_last", **kwargs):
        super().__init__(pool_size, strides, padding, data_format or "channels_last",
                         **kwargs)


class AveragePooling1D(KerasLayer, tf_layers.AveragePooling1D):
    def __init__(self, pool_size=2, strides=None, padding="valid",
                 data_format="channels_last", **kwargs):
        super().__init__(pool_size, strides, padding, data_format or "channels_last",
                         **kwargs)


class MaxPooling3D(KerasLayer, tf_layers.MaxPooling3D):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding,
                         data_format or backend.image_data_format(), **kwargs)


class AveragePooling3D(KerasLayer, tf_layers.AveragePooling3D):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding,
                         data_format or backend.image_data_format(), **kwargs)


class _GlobalPooling3D(KerasLayer):
    """(batch, d, h, w, channels) -> (batch, channels), or channels first."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, self.name)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        axes = [1, 2, 3] if self.data_format == "channels_last" else [2, 3, 4]
        return self._reduce(inputs, axis=axes)

    def compute_output_shape(self, input_shape):
        dims = input_shape_of(input_shape).dims
        return TensorShape([dims[0], dims[-1] if self.data_format == "channels_last"
                            else dims[1]])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class GlobalAveragePooling3D(_GlobalPooling3D):
    _reduce = staticmethod(m.reduce_mean)


class GlobalMaxPooling3D(_GlobalPooling3D):
    _reduce = staticmethod(m.reduce_max)


MaxPool1D, MaxPool3D = MaxPooling1D, MaxPooling3D
AvgPool1D, AvgPool3D = AveragePooling1D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D


# --- padding, cropping and upsampling over 1 or 3 spatial axes -------------------------------
def _data_format(value, layer) -> str:
    fmt = backend.image_data_format() if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise layer_error(layer, f"data_format must be 'channels_last' or 'channels_first', "
                                 f"got {value!r}")
    return fmt


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pairs(value, rank, layer, what) -> tuple:
    """Keras's spellings of (before, after) per spatial axis. One axis: an int or (before,
    after). Three axes: an int, three ints (symmetric per axis) or three pairs."""
    pairs = None
    if _is_int(value):
        pairs = ((int(value), int(value)),) * rank
    elif isinstance(value, (list, tuple)):
        if rank == 1 and len(value) == 2 and all(map(_is_int, value)):
            pairs = ((int(value[0]), int(value[1])),)
        elif rank > 1 and len(value) == rank:
            pairs = tuple((int(v), int(v)) if _is_int(v) else
                          tuple(int(x) for x in v) if isinstance(v, (list, tuple)) and
                          len(v) == 2 and all(map(_is_int, v)) else None for v in value)
            pairs = None if None in pairs else pairs
    if pairs is None or any(x < 0 for pair in pairs for x in pair):
        form = "an int or a tuple of 2 ints (before, after)" if rank == 1 else \
            f"an int, a tuple of {rank} ints or a tuple of {rank} tuples of 2 ints"
        raise layer_error(layer, f"`{what}` should be {form}, all non-negative, got "
                                 f"{value!r}")
    return pairs


class _Spatial(KerasLayer):
    """A layer on the `rank` spatial axes of (batch, *spatial, channels) inputs, or of
    (batch, channels, *spatial) ones with data_format='channels_first'. Subclasses give
    `_resize(size, i)`: the output size of spatial axis i from its input size."""

    rank = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, self.name)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    @property
    def _axes(self) -> tuple:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def compute_output_shape(self, input_shape):
        dims = list(input_shape_of(input_shape).dims)
        for i, axis in enumerate(self._axes):
            dims[axis] = None if dims[axis] is None else self._resize(dims[axis], i)
        return TensorShape(dims)

    def get_config(self):
        config = {**super().get_config(), **{k: serialize(getattr(self, k))
                                             for k in self._CONFIG}}
        if self.rank > 1:
            config["data_format"] = self.data_format
        else:  # Keras's 1-D spellings: padding=(1, 1) and size=2, as the constructors take
            config.update({k: config[k][0] for k in self._CONFIG})
        return config


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, self.name, "padding")

    def _resize(self, size, i):
        return size + sum(self.padding[i])

    def call(self, inputs):
        pads = [[0, 0]] * (self.rank + 2)
        for axis, pair in zip(self._axes, self.padding):
            pads[axis] = list(pair)
        return A.pad(inputs, pads)

    _CONFIG = ("padding",)


class ZeroPadding1D(_ZeroPadding):
    """(batch, steps, features) -> (batch, before + steps + after, features), zeros."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, "channels_last", **kwargs)


class ZeroPadding3D(_ZeroPadding):
    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, self.name, "cropping")

    def _resize(self, size, i):
        kept = size - sum(self.cropping[i])
        if kept <= 0:
            raise layer_error(self.name, f"cropping {self.cropping} removes all of spatial "
                                         f"axis {self._axes[i]} (size {size})")
        return kept

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)  # crops too large for the input raise
        index = [slice(None)] * (self.rank + 2)
        for axis, (a, b) in zip(self._axes, self.cropping):
            index[axis] = slice(a, -b if b else None)
        return inputs[tuple(index)]

    _CONFIG = ("cropping",)


class Cropping1D(_Cropping):
    """(batch, steps, features) -> (batch, steps - start - end, features)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, "channels_last", **kwargs)


class Cropping3D(_Cropping):
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class _UpSampling(_Spatial):
    """Nearest-neighbour upsampling: each element repeated size[i] times along spatial
    axis i."""

    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = normalize_tuple(size, self.rank, "size", self.name)

    def _resize(self, size, i):
        return size * self.size[i]

    def call(self, inputs):
        # a 1 after each spatial axis, tiled to size[i] and merged into that axis:
        # index j * size[i] + a of the result is index j of the input
        shape = A.shape(inputs)
        dims = [d if d is not None else shape[i] for i, d in enumerate(inputs.shape.dims)]
        dims[0] = -1
        split, tiles, merged = [], [], list(dims)
        for axis, d in enumerate(dims):
            split.append(d)
            tiles.append(1)
            if axis in self._axes:
                k = self.size[self._axes.index(axis)]
                split.append(1)
                tiles.append(k)
                merged[axis] = d * k
        x = A.tile(A.reshape(inputs, _shape_list(split)), tiles)
        return A.reshape(x, _shape_list(merged))

    _CONFIG = ("size",)


class UpSampling1D(_UpSampling):
    """(batch, steps, features) -> (batch, steps * size, features)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(size, "channels_last", **kwargs)


class UpSampling3D(_UpSampling):
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
