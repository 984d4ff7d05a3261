"""tf.keras.layers: graphc/layers' classes with Keras's arguments, plus the layers only Keras
has (Input, Activation, ReLU, Softmax, Reshape, Concatenate, Add, Embedding, Lambda, global
pooling). Everything is a composition of graphc.ops; see base_layer.py for the Keras face.
"""

from __future__ import annotations

import numpy as np

from graphc import layers as tf_layers
from graphc.ir import dtypes
from graphc.keras import activations, backend, initializers, regularizers
from graphc.keras.attention import AdditiveAttention, Attention, MultiHeadAttention  # noqa: F401
from graphc.keras.base_layer import (
    KerasLayer,
    Node,
    keras_args,
    layer_error,
    record_history,
)
from graphc.keras.layers_conv import *  # noqa: F401,F403 (tf.keras.layers names, see __all__)
from graphc.keras.layers_extra import (  # noqa: F401 (tf.keras.layers names)
    Average,
    Bidirectional,
    Cropping2D,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    LayerNormalization,
    LeakyReLU,
    Maximum,
    Minimum,
    Multiply,
    Permute,
    RepeatVector,
    SpatialDropout1D,
    SpatialDropout2D,
    Subtract,
    TimeDistributed,
    UpSampling2D,
    Wrapper,
    ZeroPadding2D,
    _Elementwise,
    average,
    check_merge_inputs,
    maximum,
    minimum,
    multiply,
    subtract,
)
from graphc.keras.normalization import GroupNormalization  # noqa: F401
from graphc.keras.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
from graphc.layers.base import InputSpec
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nn_ops
from graphc.ops.misc_ops import embedding_lookup
from graphc.ops.tensor import TensorShape


# --- graphc/layers with Keras's defaults -----------------------------------------------------
class Dense(KerasLayer, tf_layers.Dense):
    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(units, **keras_args(dict(
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, **kwargs)))


class Conv1D(KerasLayer, tf_layers.Conv1D):
    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format or "channels_last",
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            **kwargs)))


class Conv2D(KerasLayer, tf_layers.Conv2D):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, **keras_args(dict(
            strides=strides, padding=padding, data_format=data_format or "channels_last",
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            **kwargs)))


class MaxPooling2D(KerasLayer, tf_layers.MaxPooling2D):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format or "channels_last",
                         **kwargs)


class AveragePooling2D(KerasLayer, tf_layers.AveragePooling2D):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format or "channels_last",
                         **kwargs)


class BatchNormalization(KerasLayer, tf_layers.BatchNormalization):
    """Keras's defaults are tf.layers' (momentum 0.99, epsilon 1e-3); initializers by name."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(axis, **keras_args(dict(
            momentum=momentum, epsilon=epsilon, center=center, scale=scale,
            beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
            moving_mean_initializer=moving_mean_initializer,
            moving_variance_initializer=moving_variance_initializer, **kwargs)))


class Dropout(KerasLayer, tf_layers.Dropout):
    """training=None (the default) follows the learning phase: on in fit, off otherwise."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=training)


class Flatten(KerasLayer, tf_layers.Flatten):
    pass


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
Convolution1D, Convolution2D = Conv1D, Conv2D


# --- layers only Keras has ------------------------------------------------------------------
class InputLayer(KerasLayer):
    """The entry of a functional model: a placeholder of shape (batch_size, *input_shape)."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, input_tensor=None,
                 sparse=False, name=None, batch_input_shape=None, **kwargs):
        if sparse:
            raise NotImplementedError("InputLayer(sparse=True): graphc has no sparse tensors")
        name = name or f"input_{backend.get_uid('input')}"  # Keras's input_1, input_2, ...
        super().__init__(name=name, dtype=dtype, **kwargs)
        if input_tensor is None:
            if batch_input_shape is None:
                if input_shape is None:
                    raise layer_error(self.name, "an Input needs a shape (shape=, "
                                                 "batch_shape= or input_shape=)")
                batch_input_shape = (batch_size,) + tuple(input_shape)
            with self._graph_root():
                input_tensor = A.placeholder(self.dtype, shape=list(batch_input_shape),
                                             name=self.name)
        self._batch_input_shape = tuple(input_tensor.shape.dims)
        self.built = True
        node = Node(self, [], [input_tensor], {})
        self._inbound_nodes.append(node)
        record_history(input_tensor, node, 0)

    @staticmethod
    def _graph_root():
        from graphc.framework.graph import get_default_graph
        return get_default_graph().name_scope(None)

    def count_params(self) -> int:
        return 0


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=False, tensor=None,
          batch_shape=None, **kwargs):  # noqa: N802 (Keras's name)
    """A Keras tensor: a placeholder (batch dimension None unless given) that functional
    models start from."""
    if shape is None and batch_shape is None and tensor is None:
        raise ValueError("Please provide to Input either a `shape` or a `tensor` argument. "
                         "Note that `shape` does not include the batch dimension.")
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       sparse=sparse, input_tensor=tensor, batch_input_shape=batch_shape,
                       **kwargs)
    return layer._inbound_nodes[0].outputs[0]


class Activation(KerasLayer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)


class ReLU(KerasLayer):
    """min(max_value, x) above threshold, negative_slope * (x - threshold) below."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise layer_error(self.name, f"max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise layer_error(self.name, f"negative_slope must be >= 0, got {negative_slope}")
        self.max_value, self.negative_slope = max_value, float(negative_slope)
        self.threshold = float(threshold)

    def call(self, inputs):
        return activations.relu(inputs, alpha=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)


class Softmax(KerasLayer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return nn_ops.softmax(inputs, axis=self.axis)


class Reshape(KerasLayer):
    """(batch, ...) -> (batch, *target_shape); one entry of target_shape may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise layer_error(self.name, f"target_shape may hold one -1, got "
                                         f"{self.target_shape}")

    def call(self, inputs):
        rest = inputs.shape.dims[1:]
        target = list(self.target_shape)
        if None not in rest:
            size, known = int(np.prod(rest)), int(np.prod([d for d in target if d != -1]))
            if (-1 in target and size % known) or (-1 not in target and size != known):
                raise layer_error(self.name, f"total size of new array must be unchanged: "
                                             f"input shape {tuple(rest)}, target shape "
                                             f"{self.target_shape}")
            target = [size // known if d == -1 else d for d in target]
            return A.reshape(inputs, [-1] + target)
        return A.reshape(inputs, A.stack([A.shape(inputs)[0]] + target))


class Concatenate(KerasLayer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        check_merge_inputs(self.name, inputs)
        return A.concat(list(inputs), axis=self.axis)


class Add(_Elementwise):
    _combine = staticmethod(m.add)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


class Embedding(KerasLayer):
    """Rows of an (input_dim, output_dim) table picked by integer ids (float ids, as from a
    float32 Input, are cast to int32)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if mask_zero:
            raise layer_error(self.name, "mask_zero=True: graphc's Keras has no masking",
                              NotImplementedError)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        init = "random_uniform" if embeddings_initializer == "uniform" else \
            embeddings_initializer
        self.embeddings_initializer = initializers.get(init)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", [self.input_dim, self.output_dim],
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer)
        self.built = True

    def _cast_input(self, x):
        return x  # ids stay integers

    def call(self, inputs):
        if inputs.dtype.kind != "i":
            inputs = m.cast(inputs, dtypes.int32)
        return embedding_lookup(self.embeddings, inputs)


class Lambda(KerasLayer):
    """Wraps `function(inputs, **arguments)` as a layer (no weights)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)


class _GlobalPooling2D(KerasLayer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        axes = [1, 2] if self.data_format == "channels_last" else [2, 3]
        return self._reduce(inputs, axes)


class GlobalAveragePooling2D(_GlobalPooling2D):
    _reduce = staticmethod(m.reduce_mean)


class GlobalMaxPooling2D(_GlobalPooling2D):
    _reduce = staticmethod(m.reduce_max)


GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
Layer = KerasLayer
