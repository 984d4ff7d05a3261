"""Pooling layers of tf.layers: MaxPooling1D/2D/3D and AveragePooling1D/2D/3D, with their
functional forms. They own no variables; they lower to tf.nn's one N-d window reduction
(SAME average pooling counts only the elements inside the input, as TF)."""

from __future__ import annotations

from graphc.layers.base import InputSpec, Layer, input_shape_of
from graphc.layers.utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from graphc.ops import nn_pool
from graphc.ops.tensor import TensorShape


class Pooling(Layer):
    """Max or average over windows of `pool_size`, moved by `strides` (default: the
    window), on `rank` spatial axes."""

    def __init__(self, kind, rank, pool_size, strides=None, padding="valid",
                 data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        who = self.name
        self.kind, self.rank = kind, rank
        self.pool_size = normalize_tuple(pool_size, rank, "pool_size", who)
        self.strides = normalize_tuple(self.pool_size if strides is None else strides, rank,
                                       "strides", who)
        self.padding = normalize_padding(padding, who)
        self.data_format = normalize_data_format(data_format, who)
        self.input_spec = InputSpec(ndim=rank + 2)

    def call(self, inputs):
        pool = nn_pool.max_pool if self.kind == "max" else nn_pool.avg_pool
        return pool(inputs, ksize=self.pool_size, strides=self.strides,
                    padding=self.padding.upper(), data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        dims = input_shape_of(input_shape).dims
        first = self.data_format == "channels_first"
        spatial = dims[2:] if first else dims[1:-1]
        out = [conv_output_length(n, k, self.padding, s)
               for n, k, s in zip(spatial, self.pool_size, self.strides)]
        return TensorShape([dims[0], dims[1], *out] if first else [dims[0], *out, dims[-1]])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(Pooling):
    """The maximum of each window over 1 spatial axis."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("max", 1, pool_size, strides, padding, data_format, name,
                         **kwargs)


class MaxPooling2D(Pooling):
    """The maximum of each window over 2 spatial axes."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("max", 2, pool_size, strides, padding, data_format, name,
                         **kwargs)


class MaxPooling3D(Pooling):
    """The maximum of each window over 3 spatial axes."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("max", 3, pool_size, strides, padding, data_format, name,
                         **kwargs)


class AveragePooling1D(Pooling):
    """The mean of each window over 1 spatial axis."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("avg", 1, pool_size, strides, padding, data_format, name,
                         **kwargs)


class AveragePooling2D(Pooling):
    """The mean of each window over 2 spatial axes."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("avg", 2, pool_size, strides, padding, data_format, name,
                         **kwargs)


class AveragePooling3D(Pooling):
    """The mean of each window over 3 spatial axes."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__("avg", 3, pool_size, strides, padding, data_format, name,
                         **kwargs)


def _pooling_function(cls, function_name: str):
    def apply(inputs, pool_size, strides=None, padding="valid", data_format="channels_last",
              name=None):
        # as TF1: `name` is the layer's name, made unique (no variables to share)
        return cls(pool_size, strides, padding, data_format, name=name).apply(inputs)
    apply.__name__ = apply.__qualname__ = function_name
    apply.__doc__ = f"tf.layers.{function_name}: a {cls.__name__} layer applied to inputs."
    return apply


max_pooling1d = _pooling_function(MaxPooling1D, "max_pooling1d")
max_pooling2d = _pooling_function(MaxPooling2D, "max_pooling2d")
max_pooling3d = _pooling_function(MaxPooling3D, "max_pooling3d")
average_pooling1d = _pooling_function(AveragePooling1D, "average_pooling1d")
average_pooling2d = _pooling_function(AveragePooling2D, "average_pooling2d")
average_pooling3d = _pooling_function(AveragePooling3D, "average_pooling3d")

MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
