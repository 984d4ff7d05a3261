"""tf.keras.layers.GroupNormalization (Keras's layer, as in Keras 2.11+; TF 1.15 had it only
in addons), a composition of reshape and means like LayerNormalization.

The channels of each sample are split into `groups` groups of consecutive channels; every
group is normalized by its own mean and (biased) variance over its channels and all the
spatial positions, then each channel is scaled by gamma and shifted by beta. groups=1 is
layer normalization over all non-batch axes, groups=channels (or -1) instance
normalization.
"""

from __future__ import annotations

import numbers

from graphc.keras import initializers, regularizers
from graphc.keras.base_layer import KerasLayer, layer_error
from graphc.layers.base import InputSpec
from graphc.layers.utils import get_callable, serialize
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.tensor import TensorShape


class GroupNormalization(KerasLayer):
    """gamma and beta have shape (channels,), channels being the size of `axis`; they are
    created gamma first, then beta, as Keras does."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or \
                (groups < 1 and groups != -1):
            raise layer_error(self.name, f"groups must be a positive integer or -1 (one "
                                         f"group per channel), got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise layer_error(self.name, f"axis must be an int, got {axis!r}")
        self.groups, self.axis = int(groups), int(axis)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = get_callable(beta_constraint, "beta_constraint", self.name)
        self.gamma_constraint = get_callable(gamma_constraint, "gamma_constraint", self.name)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        shape = TensorShape(input_shape)
        if shape.ndims is None:
            raise layer_error(self.name, "the inputs need a known rank")
        rank = shape.ndims
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise layer_error(self.name, f"axis {self.axis} is not a non-batch axis of the "
                                         f"inputs of shape {shape}")
        channels = shape.dims[axis]
        if channels is None:
            raise layer_error(self.name, f"axis {self.axis} of the inputs must have a known "
                                         f"size, got shape {shape}")
        self._group_count = self._check_groups(channels)
        self._axis = axis
        self.input_spec = InputSpec(ndim=rank, axes={axis: channels})
        self.gamma = self._param("gamma", channels, self.gamma_initializer,
                                 self.gamma_regularizer, self.gamma_constraint) \
            if self.scale else None
        self.beta = self._param("beta", channels, self.beta_initializer,
                                self.beta_regularizer, self.beta_constraint) \
            if self.center else None
        self.built = True

    def _check_groups(self, channels: int) -> int:
        groups = channels if self.groups == -1 else self.groups
        if groups > channels:
            raise layer_error(self.name, f"the number of groups ({groups}) cannot be more "
                                         f"than the number of channels ({channels})")
        if channels % groups:
            raise layer_error(self.name, f"the number of groups ({groups}) must divide the "
                                         f"number of channels ({channels})")
        return groups

    def _param(self, name, channels, initializer, regularizer, constraint):
        return self.add_weight(name, [channels], initializer=initializer,
                               regularizer=regularizer, constraint=constraint)

    def call(self, inputs):
        dims = inputs.shape.dims
        rank, axis, groups = len(dims), self._axis, self._group_count
        shape = A.shape(inputs)
        known = [d if d is not None else shape[i] for i, d in enumerate(dims)]
        known[0] = -1
        # the channel axis split into (groups, channels per group); the statistics of a
        # group reduce every axis but the batch and the group axis
        grouped = known[:axis] + [groups, dims[axis] // groups] + known[axis + 1:]
        x = A.reshape(inputs, _shape_list(grouped))
        reduce = [i for i in range(1, rank + 1) if i != axis]
        mean = m.reduce_mean(x, axis=reduce, keepdims=True)
        centered = x - mean
        variance = m.reduce_mean(centered * centered, axis=reduce, keepdims=True)
        out = A.reshape(centered * m.rsqrt(variance + self.epsilon), _shape_list(known))
        per_channel = [dims[axis] if i == axis else 1 for i in range(rank)]
        if self.gamma is not None:
            out = out * A.reshape(self.gamma, per_channel)
        if self.beta is not None:
            out = out + A.reshape(self.beta, per_channel)
        return out

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)

    _CONFIG = ("groups", "axis", "epsilon", "center", "scale", "beta_initializer",
               "gamma_initializer", "beta_regularizer", "gamma_regularizer",
               "beta_constraint", "gamma_constraint")

    def get_config(self):
        return {**super().get_config(), **{k: serialize(getattr(self, k))
                                           for k in self._CONFIG}}


def _shape_list(dims):
    """A reshape target: the list itself when every entry is an int, else a stacked
    int32 tensor."""
    if all(isinstance(d, int) for d in dims):
        return dims
    return A.stack(dims)
