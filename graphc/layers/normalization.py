"""tf.layers.BatchNormalization and batch_normalization (TF 1.15 semantics, V1 layer).

Training normalizes with the batch's mean and variance over every axis but `axis`, and
builds two updates, each `moving -= (moving - batch) * (1 - momentum)`, that the caller runs
(they are in layer.updates and GraphKeys.UPDATE_OPS; TF1's pattern is
`with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)): train_op = ...`).
Inference normalizes with the moving statistics and builds no updates.

Which variance feeds the moving average follows TF: the fused kernel (chosen by default for
rank-4 inputs normalized over axis 1 or 3) gives the batch variance with Bessel's correction
(n / (n - 1)); the general path the plain mean squared deviation. Both normalize the
batch with the uncorrected variance.

`training` may be a bool tensor: both statistics are built and one is selected at run time,
and the updates' decay is 0 when it is False (graphc runs no assignment inside tf.cond, so
the update always runs and changes nothing then; TF's cond skips it, same values).
"""

from __future__ import annotations

import numbers

from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.layers.base import InputSpec, Layer, input_shape_of
from graphc.layers.utils import (
    constant_value,
    get_callable,
    get_initializer,
    layer_error,
    serialize,
    smart_select,
)
from graphc.ops import array_ops as A
from graphc.ops import init_ops
from graphc.ops import math_ops as m
from graphc.ops.nn_norm import batch_normalization as nn_batch_normalization
from graphc.ops.nn_norm import fused_batch_norm
from graphc.ops.nn_ops import moments
from graphc.ops.tensor import TensorShape, constant


class BatchNormalization(Layer):
    """Normalize over the batch (and every axis but `axis`), then scale by gamma and shift
    by beta; moving_mean and moving_variance (not trainable) track the statistics."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer=init_ops.zeros_initializer(),
                 gamma_initializer=init_ops.ones_initializer(),
                 moving_mean_initializer=init_ops.zeros_initializer(),
                 moving_variance_initializer=init_ops.ones_initializer(),
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, fused=None, trainable=True, virtual_batch_size=None,
                 adjustment=None, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        who = self.name
        for flag, value in (("renorm", renorm), ("virtual_batch_size", virtual_batch_size),
                            ("adjustment", adjustment)):
            if value:
                raise layer_error(who, f"batch normalization's {flag} is not supported by "
                                       "graphc; leave it unset", NotImplementedError)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, numbers.Integral):
            self.axis = int(axis)
        else:
            raise layer_error(who, f"axis must be an int or a list of ints, got {axis!r}",
                              TypeError)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = get_initializer(beta_initializer, who)
        self.gamma_initializer = get_initializer(gamma_initializer, who)
        self.moving_mean_initializer = get_initializer(moving_mean_initializer, who)
        self.moving_variance_initializer = get_initializer(moving_variance_initializer, who)
        self.beta_regularizer = get_callable(beta_regularizer, "beta_regularizer", who)
        self.gamma_regularizer = get_callable(gamma_regularizer, "gamma_regularizer", who)
        self.beta_constraint = get_callable(beta_constraint, "beta_constraint", who)
        self.gamma_constraint = get_callable(gamma_constraint, "gamma_constraint", who)
        self.fused = True if fused is None else bool(fused)  # the V1 layer's default
        self.supports_masking = True

    def _axes(self, ndims: int) -> list:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = [a + ndims if a < 0 else a for a in axes]
        for a in axes:
            if not 0 <= a < ndims:
                raise layer_error(self.name, f"invalid axis {a} for an input of rank {ndims}")
        if len(set(axes)) != len(axes):
            raise layer_error(self.name, f"duplicate axis in {self.axis}")
        return axes

    def build(self, input_shape):
        shape = input_shape_of(input_shape)
        ndims = shape.ndims
        self.axis = self._axes(ndims)
        self.fused = self.fused and ndims == 4 and self.axis in ([1], [3])
        sizes = {a: shape.dims[a] for a in self.axis}
        if None in sizes.values():
            raise layer_error(self.name, f"the normalized axis {self.axis} of the input must "
                                         f"be known when the graph is built, got shape {shape}")
        self.input_spec = InputSpec(ndim=ndims, axes=sizes)
        if len(self.axis) == 1:
            param_shape = [sizes[self.axis[0]]]
        else:
            param_shape = [sizes.get(i, 1) for i in range(ndims)]
        dtype = dtypes.float32 if self.dtype is dtypes.float16 else self.dtype

        def weight(name, initializer, trainable, regularizer=None, constraint=None):
            return self.add_weight(name, param_shape, dtype=dtype, initializer=initializer,
                                   regularizer=regularizer, constraint=constraint,
                                   trainable=trainable)
        self.gamma = weight("gamma", self.gamma_initializer, True, self.gamma_regularizer,
                            self.gamma_constraint) if self.scale else None
        self.beta = weight("beta", self.beta_initializer, True, self.beta_regularizer,
                           self.beta_constraint) if self.center else None
        self.moving_mean = weight("moving_mean", self.moving_mean_initializer, False)
        self.moving_variance = weight("moving_variance", self.moving_variance_initializer,
                                      False)
        self.built = True

    # --- computation ----------------------------------------------------------------------
    def _decay(self, training):
        """1 - momentum while training; 0 when a run-time `training` is False."""
        return smart_select(training, lambda: constant(1.0 - self.momentum,
                                                       self.moving_mean.dtype),
                            lambda: constant(0.0, self.moving_mean.dtype))

    def _assign_moving_average(self, variable, value, decay):
        with get_default_graph().name_scope("AssignMovingAvg") as scope:
            delta = (variable - m.cast(value, variable.dtype)) * decay
            return variable.assign_sub(delta, name=scope)  # named as its scope, as TF

    def _add_updates(self, mean, variance, training):
        decay = self._decay(training)
        self.add_update([self._assign_moving_average(self.moving_mean, mean, decay),
                         self._assign_moving_average(self.moving_variance, variance, decay)],
                        inputs=True)

    def _fused(self, inputs, training):
        dtype = self.moving_mean.dtype
        gamma = self.gamma if self.scale else constant(1.0, dtype, shape=self.moving_mean.shape)
        beta = self.beta if self.center else constant(0.0, dtype, shape=self.moving_mean.shape)
        fmt = "NHWC" if self.axis == [3] else "NCHW"

        def train():
            return fused_batch_norm(inputs, gamma, beta, epsilon=self.epsilon, data_format=fmt)

        def infer():
            return fused_batch_norm(inputs, gamma, beta, self.moving_mean,
                                    self.moving_variance, epsilon=self.epsilon,
                                    data_format=fmt, is_training=False)
        known = constant_value(training)
        if known is False:
            return infer()[0]
        if known:
            out, mean, variance = train()
        else:
            out, mean, variance = (m.where(training, a, b) for a, b in zip(train(), infer()))
        self._add_updates(mean, variance, training)
        return out

    def call(self, inputs, training=False):
        if self.fused:
            return self._fused(inputs, training)
        ndims = inputs.shape.ndims
        reduce = [i for i in range(ndims) if i not in self.axis]
        shape = [1] * ndims
        shape[self.axis[0]] = inputs.shape.dims[self.axis[0]]

        def broadcast(v):
            # a per-channel vector for a channel axis that is not the last
            if v is None or len(self.axis) > 1 or reduce == list(range(ndims - 1)):
                return v
            return A.reshape(v, shape)
        if constant_value(training) is False:
            mean, variance = self.moving_mean, self.moving_variance
        else:
            batch_mean, batch_var = moments(inputs, reduce, keepdims=len(self.axis) > 1)
            mean = smart_select(training, lambda: batch_mean, lambda: self.moving_mean)
            variance = smart_select(training, lambda: batch_var,
                                    lambda: self.moving_variance)
            self._add_updates(mean, variance, training)
        return nn_batch_normalization(inputs, broadcast(mean), broadcast(variance),
                                      broadcast(self.beta), broadcast(self.gamma),
                                      self.epsilon)

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)

    def get_config(self):
        names = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                 "gamma_initializer", "moving_mean_initializer",
                 "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                 "beta_constraint", "gamma_constraint")
        return {**super().get_config(), **{k: serialize(getattr(self, k)) for k in names}}


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                        scale=True, beta_initializer=init_ops.zeros_initializer(),
                        gamma_initializer=init_ops.ones_initializer(),
                        moving_mean_initializer=init_ops.zeros_initializer(),
                        moving_variance_initializer=init_ops.ones_initializer(),
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None):
    """tf.layers.batch_normalization: training=False (the default) uses the moving
    statistics; with training=True, run tf.GraphKeys.UPDATE_OPS to update them."""
    layer = BatchNormalization(
        axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
        beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint, gamma_constraint=gamma_constraint, renorm=renorm,
        renorm_clipping=renorm_clipping, renorm_momentum=renorm_momentum, fused=fused,
        trainable=trainable, virtual_batch_size=virtual_batch_size, adjustment=adjustment,
        name=name, _scope=name, _reuse=reuse)
    return layer.apply(inputs, training=training)


BatchNorm = BatchNormalization
