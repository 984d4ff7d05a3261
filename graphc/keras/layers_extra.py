"""More tf.keras.layers (TF 1.15 arguments and defaults), each a composition of graphc.ops:
the wrappers Bidirectional and TimeDistributed, LayerNormalization, LeakyReLU, Permute,
RepeatVector, the merges Multiply / Subtract / Average / Maximum / Minimum, SpatialDropout1D /
2D, GlobalAveragePooling1D / GlobalMaxPooling1D, ZeroPadding2D, Cropping2D and UpSampling2D
(nearest).

The wrappers own their inner layers: their weights, losses and updates are the inner
layers' (so summary, fit and get_weights see them), and the inner layers are called inside
the wrapper's name scope (`bidirectional/forward_lstm/kernel`, as Keras names them).
"""

from __future__ import annotations

import numbers

from graphc.keras import backend, initializers, regularizers
from graphc.keras.base_layer import KerasLayer, layer_error
from graphc.layers.base import InputSpec
from graphc.layers.utils import smart_select
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import TensorShape


# --- wrappers --------------------------------------------------------------------------------
class Wrapper(KerasLayer):
    """A layer around other layers: weights, losses and updates are theirs."""

    def _sublayers(self) -> list:
        return [self.layer]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for layer in self._sublayers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        every = [w for layer in self._sublayers() for w in layer.weights]
        if not self.trainable:
            return every
        return [w for layer in self._sublayers() for w in layer.non_trainable_weights]

    @property
    def weights(self) -> list:
        return self.trainable_weights + self.non_trainable_weights

    @property
    def losses(self) -> list:
        return [x for layer in self._sublayers() for x in layer.losses]

    @property
    def updates(self) -> list:
        return [u for layer in self._sublayers() for u in layer.updates]

    def _call_inner(self, layer, inputs, training):
        if getattr(layer, "_takes_training", False):
            return layer(inputs, training=training)
        return layer(inputs)


class TimeDistributed(Wrapper):
    """`layer` applied to every time slice of (batch, time, ...) inputs: one call on the
    (batch * time, ...) reshape, reshaped back."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, KerasLayer):
            raise layer_error("time_distributed", f"TimeDistributed wraps a Keras layer, got "
                                                  f"{layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.input_spec = InputSpec(min_ndim=3)

    def call(self, inputs, training=None):
        dims = inputs.shape.dims
        shape = A.shape(inputs)
        rest = [d if d is not None else shape[i + 2] for i, d in enumerate(dims[2:])]
        flat = A.reshape(inputs, _shape_list([-1] + rest))
        y = self._call_inner(self.layer, flat, training)
        out_rest = [d if d is not None else A.shape(y)[i + 1]
                    for i, d in enumerate(y.shape.dims[1:])]
        time = dims[1] if dims[1] is not None else shape[1]
        return A.reshape(y, _shape_list([-1, time] + out_rest))


def _shape_list(dims):
    """A reshape target: the list itself when every entry is an int, else one stacked
    int32 tensor."""
    if all(isinstance(d, int) for d in dims):
        return dims
    return A.stack(dims)


class Bidirectional(Wrapper):
    """`layer` (an RNN layer) run forward and, rebuilt from its arguments with go_backwards
    flipped, backward; the backward sequence output is reversed back to the inputs' order
    and merged with the forward one (merge_mode 'concat', 'sum', 'mul', 'ave' or None for
    the pair). With return_state: [output] + forward states + backward states."""

    _MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if not hasattr(layer, "_init_config"):
            raise layer_error("bidirectional", f"Bidirectional wraps a recurrent layer "
                                               f"(SimpleRNN, LSTM, GRU), got {layer!r}")
        if merge_mode not in self._MODES:
            raise layer_error("bidirectional", f"Invalid merge mode {merge_mode!r}; merge "
                                               f"mode should be one of {self._MODES}")
        if weights is not None or backward_layer is not None:
            raise layer_error("bidirectional", "weights= and backward_layer= are not "
                                               "supported", NotImplementedError)
        super().__init__(**kwargs)
        self.forward_layer = self._rebuild(layer, "forward_", layer.go_backwards)
        self.backward_layer = self._rebuild(layer, "backward_", not layer.go_backwards)
        self.layer = self.forward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    @staticmethod
    def _rebuild(layer, prefix, go_backwards):
        """A fresh copy of `layer` (as Keras's from_config), named prefix + layer.name."""
        config = {**layer._init_config, "go_backwards": go_backwards}
        return type(layer)(**config, **layer._init_kwargs, name=prefix + layer.name)

    def _sublayers(self) -> list:
        return [self.forward_layer, self.backward_layer]

    def call(self, inputs, training=None):
        y = self._call_inner(self.forward_layer, inputs, training)
        y_rev = self._call_inner(self.backward_layer, inputs, training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = A.reverse(y_rev, [1])
        if self.merge_mode == "concat":
            out = A.concat([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "mul":
            out = y * y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        else:
            out = [y, y_rev]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out


# --- normalization and activations -----------------------------------------------------------
class LayerNormalization(KerasLayer):
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta, moments over `axis` (an int or a
    list) of each sample; gamma and beta have the size of those axes. TF 1.15: epsilon 1e-3,
    weights created gamma first, then beta."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else [int(axis)]
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self._args = dict(beta=(beta_initializer, beta_regularizer, beta_constraint),
                          gamma=(gamma_initializer, gamma_regularizer, gamma_constraint))

    def build(self, input_shape):
        dims = TensorShape(input_shape).dims
        rank = len(dims)
        axes = [a + rank if a < 0 else a for a in self.axis]
        if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
            raise layer_error(self.name, f"invalid axis {self.axis} for inputs of rank "
                                         f"{rank}")
        shape = [dims[a] for a in sorted(axes)]
        if None in shape:
            raise layer_error(self.name, f"the normalized axes {self.axis} must have known "
                                         f"sizes, got input shape {TensorShape(input_shape)}")
        self._axes = sorted(axes)
        self.gamma = self._param("gamma", shape) if self.scale else None
        self.beta = self._param("beta", shape) if self.center else None
        self.built = True

    def _param(self, name, shape):
        init, reg, constraint = self._args[name]
        return self.add_weight(name, shape, initializer=initializers.get(init),
                               regularizer=regularizers.get(reg), constraint=constraint)

    def call(self, inputs):
        rank = inputs.shape.ndims
        mean = m.reduce_mean(inputs, axis=self._axes, keepdims=True)
        centered = inputs - mean
        variance = m.reduce_mean(centered * centered, axis=self._axes, keepdims=True)
        out = centered * m.rsqrt(variance + self.epsilon)
        # the parameters broadcast over the other axes: reshape to 1 there
        bshape = [inputs.shape.dims[a] if a in self._axes else 1 for a in range(rank)]
        if self.gamma is not None:
            out = out * A.reshape(self.gamma, bshape)
        if self.beta is not None:
            out = out + A.reshape(self.beta, bshape)
        return out

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)


class LeakyReLU(KerasLayer):
    """x above zero, alpha * x below (Keras's default alpha 0.3)."""

    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return m.where(m.greater(inputs, 0.0), inputs, self.alpha * inputs)

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)


# --- reshaping -------------------------------------------------------------------------------
class Permute(KerasLayer):
    """Permute the non-batch axes: `dims` is a permutation of 1..rank-1 (the batch axis is
    0 and stays)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise layer_error(self.name, f"Invalid permutation `dims` for Permute Layer: "
                                         f"{dims}. The set of indices in `dims` must be "
                                         f"consecutive and start from 1.")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return A.transpose(inputs, [0] + list(self.dims))


class RepeatVector(KerasLayer):
    """(batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return A.tile(A.expand_dims(inputs, 1), [1, self.n, 1])


# --- merges ----------------------------------------------------------------------------------
def check_merge_inputs(name: str, inputs) -> None:
    """A merge layer (Concatenate, Add, Multiply, ...) takes a list of at least 2 inputs."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise layer_error(name, f"a merge layer should be called on a list of at least 2 "
                                f"inputs, got {inputs!r}")


class _Elementwise(KerasLayer):
    """A merge of inputs of one shape by a binary op folded left to right (Add, Multiply,
    Maximum, ...; layers.py defines Add on it)."""

    def call(self, inputs):
        check_merge_inputs(self.name, inputs)
        shapes = {tuple(x.shape.dims[1:]) for x in inputs}
        if len(shapes) > 1:
            raise layer_error(self.name, f"{type(self).__name__} needs inputs of one shape, "
                                         f"got {[tuple(x.shape.dims) for x in inputs]}")
        out = inputs[0]
        for x in inputs[1:]:
            out = self._combine(out, x)
        return self._finish(out, len(inputs))

    @staticmethod
    def _finish(out, count):
        return out


class Multiply(_Elementwise):
    _combine = staticmethod(m.multiply)


class Maximum(_Elementwise):
    _combine = staticmethod(m.maximum)


class Minimum(_Elementwise):
    _combine = staticmethod(m.minimum)


class Average(_Elementwise):
    _combine = staticmethod(m.add)

    @staticmethod
    def _finish(out, count):
        return out / float(count)


class Subtract(_Elementwise):
    _combine = staticmethod(m.subtract)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise layer_error(self.name, f"A `Subtract` layer should be called on exactly 2 "
                                         f"inputs, got {inputs!r}")
        return super().call(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


# --- dropout and pooling ---------------------------------------------------------------------
class _SpatialDropout(KerasLayer):
    """Dropout of whole channels: one draw per (sample, channel), shared along the other
    axes; only in the training phase (training=None follows the learning phase)."""

    ndim = 3

    def __init__(self, rate, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise layer_error(self.name, f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.data_format = data_format or backend.image_data_format()
        self.input_spec = InputSpec(ndim=self.ndim)

    def call(self, inputs, training=None):
        shape = A.shape(inputs)
        ones = [1] * (self.ndim - 2)
        noise = [shape[0]] + (ones + [shape[-1]] if self.data_format == "channels_last"
                              else [shape[1]] + ones)
        if self.rate == 0:
            return A.identity(inputs)
        return smart_select(training,
                            lambda: nn_dropout(inputs, rate=self.rate, noise_shape=noise),
                            lambda: A.identity(inputs))

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape)


class SpatialDropout1D(_SpatialDropout):
    def __init__(self, rate, **kwargs):
        super().__init__(rate, data_format="channels_last", **kwargs)


class SpatialDropout2D(_SpatialDropout):
    ndim = 4


class _GlobalPooling1D(KerasLayer):
    def __init__(self, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return self._reduce(inputs, axis=1 if self.data_format == "channels_last" else 2)


class GlobalAveragePooling1D(_GlobalPooling1D):
    _reduce = staticmethod(m.reduce_mean)


class GlobalMaxPooling1D(_GlobalPooling1D):
    _reduce = staticmethod(m.reduce_max)


GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D


# --- 2-D padding, cropping and upsampling ----------------------------------------------------
def _pairs(value, layer, what):
    """Keras's spellings of ((top, bottom), (left, right)): an int, two ints (symmetric
    per axis) or two pairs."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        out = []
        for v in value:
            if isinstance(v, int):
                out.append((v, v))
            elif isinstance(v, (list, tuple)) and len(v) == 2:
                out.append((int(v[0]), int(v[1])))
            else:
                break
        else:
            if all(a >= 0 and b >= 0 for a, b in out):
                return tuple(out)
    raise layer_error(layer, f"`{what}` should be an int, a tuple of 2 ints or a tuple of 2 "
                             f"tuples of 2 non-negative ints, got {value!r}")


class _Spatial2D(KerasLayer):
    """Rows and columns are axes 1, 2 (channels_last) or 2, 3 (channels_first)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or backend.image_data_format()
        self.input_spec = InputSpec(ndim=4)

    @property
    def _hw(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)


class ZeroPadding2D(_Spatial2D):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(padding, self.name, "padding")

    def call(self, inputs):
        pads = [[0, 0]] * 4
        for axis, pair in zip(self._hw, self.padding):
            pads[axis] = list(pair)
        return A.pad(inputs, pads)


class Cropping2D(_Spatial2D):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, self.name, "cropping")

    def call(self, inputs):
        index = [slice(None)] * 4
        for axis, (a, b) in zip(self._hw, self.cropping):
            size = inputs.shape.dims[axis]
            if size is not None and a + b >= size:
                raise layer_error(self.name, f"cropping {self.cropping} removes all of axis "
                                             f"{axis} (size {size}) of input shape "
                                             f"{inputs.shape}")
            index[axis] = slice(a, -b if b else None)
        return inputs[tuple(index)]


class UpSampling2D(_Spatial2D):
    """Each pixel repeated size[0] times down and size[1] times across (nearest)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        if interpolation != "nearest":
            raise layer_error(self.name, f"interpolation={interpolation!r}: only 'nearest' "
                                         f"is supported", NotImplementedError)
        self.size = (int(size), int(size)) if isinstance(size, int) else \
            tuple(int(s) for s in size)
        self.interpolation = interpolation

    def call(self, inputs):
        x = inputs if self.data_format == "channels_last" else \
            A.transpose(inputs, [0, 2, 3, 1])
        shape, (sh, sw) = A.shape(x), self.size
        h, w, c = [d if d is not None else shape[i + 1] for i, d in enumerate(x.shape.dims[1:])]
        # (b, h, 1, w, 1, c) tiled to (b, h, sh, w, sw, c) then merged: row i*sh+a is row i
        x = A.reshape(x, _shape_list([-1, h, 1, w, 1, c]))
        x = A.tile(x, [1, 1, sh, 1, sw, 1])
        x = A.reshape(x, _shape_list([-1, h * sh, w * sw, c]))
        return x if self.data_format == "channels_last" else A.transpose(x, [0, 3, 1, 2])
