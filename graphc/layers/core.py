"""tf.layers.Dense, Dropout and Flatten, with their functional forms (TF 1.15 semantics)."""

from __future__ import annotations

import numbers

import numpy as np

from graphc.layers.base import InputSpec, Layer, input_shape_of
from graphc.layers.utils import (
    get_activation,
    get_callable,
    get_initializer,
    layer_error,
    normalize_data_format,
    positive_int,
    serialize,
    smart_select,
)
from graphc.ops import array_ops as A
from graphc.ops import init_ops, nn_ops
from graphc.ops import math_ops as m
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import TensorShape


class Dense(Layer):
    """outputs = activation(inputs @ kernel + bias); kernel (in, units), bias (units,).
    Inputs of rank > 2 contract their last axis with the kernel (tensordot), as TF."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_int(units, "units", self.name)
        self.activation = get_activation(activation, self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer, self.name)
        self.bias_initializer = get_initializer(bias_initializer, self.name)
        self.kernel_regularizer = get_callable(kernel_regularizer, "kernel_regularizer",
                                               self.name)
        self.bias_regularizer = get_callable(bias_regularizer, "bias_regularizer", self.name)
        self.kernel_constraint = get_callable(kernel_constraint, "kernel_constraint",
                                              self.name)
        self.bias_constraint = get_callable(bias_constraint, "bias_constraint", self.name)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        shape = input_shape_of(input_shape)
        if self.dtype.kind != "f":
            raise layer_error(self.name, f"Dense needs a floating-point dtype, got "
                                         f"{self.dtype}", TypeError)
        last = shape.dims[-1]
        if last is None:
            raise layer_error(self.name, "the last dimension of the inputs to Dense must be "
                                         f"known when the graph is built, got shape {shape}")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: last})
        self.kernel = self.add_weight("kernel", [last, self.units],
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", [self.units],
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        rank = inputs.shape.ndims
        if rank > 2:
            outputs = m.tensordot(inputs, self.kernel, [[rank - 1], [0]])
        else:
            outputs = m.matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        shape = input_shape_of(input_shape)
        return TensorShape(shape.dims[:-1] + (self.units,))

    def get_config(self):
        names = ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                 "kernel_regularizer", "bias_regularizer", "kernel_constraint",
                 "bias_constraint")
        return {**super().get_config(), **{k: serialize(getattr(self, k)) for k in names}}


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None,
          bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
    """tf.layers.dense: a Dense layer applied once; `name` is its variable scope (shared
    under reuse=True or tf.AUTO_REUSE)."""
    layer = Dense(units, activation=activation, use_bias=use_bias,
                  kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                  kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                  activity_regularizer=activity_regularizer,
                  kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                  trainable=trainable, name=name, _scope=name, _reuse=reuse)
    return layer.apply(inputs)


class Dropout(Layer):
    """Training: each element kept with probability 1 - rate and scaled by 1 / (1 - rate)
    (slices along noise_shape's 1 entries share a draw); otherwise the identity.
    `training` is a Python bool or a bool tensor (then both are built and one selected)."""

    def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise layer_error(self.name, f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = seed
        self.supports_masking = True

    def _noise_shape(self, inputs):
        """noise_shape with its None entries taken from the input (at run time if need be)."""
        if self.noise_shape is None:
            return None
        dims = inputs.shape.dims
        shape = [d if d is not None else (dims[i] if dims[i] is not None else
                                          A.shape(inputs)[i])
                 for i, d in enumerate(self.noise_shape)]
        return shape

    def call(self, inputs, training=False):
        def dropped():
            return nn_dropout(inputs, rate=self.rate, noise_shape=self._noise_shape(inputs),
                              seed=self.seed)
        return smart_select(training, dropped, lambda: A.identity(inputs))

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """tf.layers.dropout: training=False (the default) is the identity."""
    return Dropout(rate, noise_shape=noise_shape, seed=seed, name=name).apply(
        inputs, training=training)


class Flatten(Layer):
    """(batch, ...) -> (batch, product of the rest); channels_first inputs are moved to
    channels last first, so the order of the features is the same in both formats."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, self.name)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        rank = inputs.shape.ndims
        if rank == 1:
            return A.expand_dims(inputs, 1)
        if self.data_format == "channels_first" and rank > 2:
            inputs = A.transpose(inputs, [0] + list(range(2, rank)) + [1])
        rest = inputs.shape.dims[1:]
        if None not in rest:
            return A.reshape(inputs, [-1, int(np.prod(rest, dtype=np.int64))])
        return A.reshape(inputs, A.stack([A.shape(inputs)[0], -1]))

    def compute_output_shape(self, input_shape):
        dims = input_shape_of(input_shape).dims
        rest = dims[1:]
        size = int(np.prod(rest, dtype=np.int64)) if None not in rest else None
        return TensorShape([dims[0], size if rest else 1])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def flatten(inputs, name=None, data_format="channels_last"):
    """tf.layers.flatten."""
    return Flatten(name=name, data_format=data_format).apply(inputs)
