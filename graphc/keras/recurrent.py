"""tf.keras.layers.SimpleRNN, LSTM and GRU with TF 1.15's (v1) arguments, defaults, weight
names and gate order, so weights move to and from Keras as they are:

- weights `kernel` (features, gates * units), `recurrent_kernel` (units, gates * units) and
  `bias` (gates * units,), GRU with reset_after=True (2, 3 * units); gates LSTM i, f, c, o
  and GRU z, r, h. LSTM and GRU default to recurrent_activation='hard_sigmoid' and GRU to
  reset_after=False, as TF 1.x's tf.keras.layers.LSTM / GRU (the v1 classes).
- The input projection `x @ kernel + bias` of every step is one tensordot before the loop;
  the loop (tf.nn.dynamic_rnn: one tf.while_loop, however many steps) only does the
  recurrent half. The sum is the same as Keras's per-step `x_t @ kernel + h @ U + b`.
- dropout / recurrent_dropout: one mask per gate, drawn once per call outside the loop and
  applied at every step (Keras's implementation=1), only in the training phase.
- A time dimension of None runs, but differentiating the loop (fit) needs the number of
  steps known when the graph is built (graphc saves each step in a buffer of that size).

Refused rather than silently wrong: masks (`mask=`), `stateful=True`, `initial_state=`.
"""

from __future__ import annotations

import numbers

from graphc.keras import activations, initializers, regularizers
from graphc.keras.base_layer import KerasLayer, layer_error
from graphc.layers.base import InputSpec
from graphc.layers.utils import smart_select
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.init_ops import Initializer
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.rnn_dynamic import dynamic_rnn
from graphc.ops.tensor import TensorShape, convert_to_tensor


class _ForgetBias(Initializer):
    """unit_forget_bias: the LSTM bias with the forget gate's quarter set to ones."""

    def __init__(self, base, units):
        super().__init__()
        self.base, self.units = base, units

    def __call__(self, shape, dtype=None, partition_info=None):
        u = self.units
        return A.concat([self.base([u], dtype), A.ones([u], self._dtype(dtype)),
                         self.base([2 * u], dtype)], axis=0)


class _StepCell:
    """The minimal cell dynamic_rnn drives: `step(projected x_t, state) -> (h, state)`."""

    def __init__(self, step, state_size, units):
        self.step, self.state_size, self.output_size = step, state_size, units

    def zero_state(self, batch_size, dtype):  # never used: the layer passes its state
        raise AssertionError("the Keras RNN layers pass their initial state")

    def __call__(self, inputs, state):
        return self.step(inputs, state)


def _rate(layer, name, value) -> float:
    if not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise layer_error(layer, f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


class Recurrent(KerasLayer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, masks and the time loop.
    Subclasses set `gates` and `state_count` and define `_step`."""

    gates = 1
    state_count = 1

    def _setup(self, config: dict, kwargs: dict) -> None:
        """Keep the constructor's arguments (Bidirectional rebuilds the layer from them)."""
        if config.pop("stateful"):
            raise layer_error(kwargs.get("name") or type(self).__name__, "stateful=True is "
                              "not supported by graphc's Keras", NotImplementedError)
        config.pop("unroll")  # unrolled or not, the same math: graphc always loops
        config.pop("implementation", None)  # 1 and 2 differ in speed only
        self._init_config = dict(config)
        self._init_kwargs = {k: v for k, v in kwargs.items() if k != "name"}
        reg = config.pop("activity_regularizer")
        super().__init__(activity_regularizer=regularizers.get(reg), **kwargs)
        self.units = int(config.pop("units"))
        if self.units <= 0:
            raise layer_error(self.name, f"units must be a positive integer, got {self.units}")
        self.activation = activations.get(config.pop("activation"))
        self.recurrent_activation = activations.get(config.pop("recurrent_activation",
                                                               None))
        self.dropout = _rate(self.name, "dropout", config.pop("dropout"))
        self.recurrent_dropout = _rate(self.name, "recurrent_dropout",
                                       config.pop("recurrent_dropout"))
        for key in ("use_bias", "return_sequences", "return_state", "go_backwards"):
            setattr(self, key, bool(config.pop(key)))
        self.unit_forget_bias = bool(config.pop("unit_forget_bias", False))
        self.reset_after = bool(config.pop("reset_after", False))
        self._weight_args = config  # initializers, regularizers, constraints
        self.input_spec = InputSpec(ndim=3)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._init_config}

    # --- weights ----------------------------------------------------------------------------
    def build(self, input_shape):
        depth = TensorShape(input_shape).dims[-1]
        if depth is None:
            raise layer_error(self.name, f"the last dimension of the inputs (features) must "
                                         f"be known, got shape {TensorShape(input_shape)}")
        n, args = self.gates * self.units, self._weight_args
        self.kernel = self._weight("kernel", [depth, n], args, "kernel")
        self.recurrent_kernel = self._weight("recurrent_kernel", [self.units, n], args,
                                             "recurrent")
        self.bias = None
        if self.use_bias:
            init = initializers.get(args["bias_initializer"])
            if self.unit_forget_bias:
                init = _ForgetBias(init, self.units)
            shape = [2, n] if self.reset_after else [n]
            self.bias = self.add_weight("bias", shape, initializer=init,
                                        regularizer=regularizers.get(args["bias_regularizer"]),
                                        constraint=args["bias_constraint"])
        self.built = True

    def _weight(self, name, shape, args, prefix):
        return self.add_weight(name, shape, initializer=initializers.get(
            args[f"{prefix}_initializer"]), regularizer=regularizers.get(
            args[f"{prefix}_regularizer"]), constraint=args[f"{prefix}_constraint"])

    # --- the call ---------------------------------------------------------------------------
    def call(self, inputs, mask=None, training=None, initial_state=None):
        if mask is not None:
            raise layer_error(self.name, "mask=: graphc's Keras has no masking",
                              NotImplementedError)
        if initial_state is not None:
            raise layer_error(self.name, "initial_state= is not supported yet; the state "
                                         "starts at zeros", NotImplementedError)
        x = A.reverse(inputs, [1]) if self.go_backwards else inputs
        first = A.ones_like(x[:, 0, :])  # (batch, features): the shape of an input mask
        in_masks = self._masks(first, self.dropout, training)
        zeros = A.zeros([A.shape(x)[0], self.units], x.dtype)
        rec_masks = self._masks(zeros + 1, self.recurrent_dropout, training)
        kernels = A.split(convert_to_tensor(self.kernel), self.gates, axis=1)
        # what _step reads, fixed for this call (the step runs while the loop is traced)
        self._rec = A.split(convert_to_tensor(self.recurrent_kernel), self.gates, axis=1)
        self._rec_masks = rec_masks
        if in_masks is None:
            proj = m.tensordot(x, self.kernel, 1)
        else:
            proj = A.concat([m.tensordot(x * A.expand_dims(mk, 1), k, 1)
                             for mk, k in zip(in_masks, kernels)], axis=-1)
        if self.bias is not None:
            proj = proj + (self.bias[0] if self.reset_after else self.bias)
        state = tuple([zeros] * self.state_count)
        cell = _StepCell(self._step, tuple([self.units] * self.state_count), self.units)
        outputs, final = dynamic_rnn(cell, proj, initial_state=state)
        output = outputs if self.return_sequences else final[0]
        if self.return_state:
            return [output] + list(final)
        return output

    def _masks(self, ones, rate, training):
        """One dropout mask per gate ((batch, depth), scaled by 1 / (1 - rate)) in the
        training phase, ones otherwise; None without dropout."""
        if rate == 0:
            return None
        return [smart_select(training, lambda: nn_dropout(ones, rate=rate),
                             lambda: ones) for _ in range(self.gates)]

    def _recurrent(self, h, gate):
        """(h * recurrent mask of `gate`) @ the gate's columns of recurrent_kernel."""
        if self._rec_masks is not None:
            h = h * self._rec_masks[gate]
        return m.matmul(h, self._rec[gate])

    def _all_recurrent(self, h):
        """h @ recurrent_kernel for every gate: one matmul without recurrent dropout."""
        if self._rec_masks is None:
            return m.matmul(h, self.recurrent_kernel)
        return A.concat([self._recurrent(h, g) for g in range(self.gates)], axis=-1)

    def compute_output_shape(self, input_shape):
        shape = TensorShape(input_shape).dims
        out = [shape[0], shape[1], self.units] if self.return_sequences else \
            [shape[0], self.units]
        states = [TensorShape([shape[0], self.units])] * self.state_count
        return [TensorShape(out)] + states if self.return_state else TensorShape(out)


class SimpleRNN(Recurrent):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs",
                                                                  "__class__")}
        self._setup(config, kwargs)

    def _step(self, z, state):
        h = self.activation(z + self._recurrent(state[0], 0))
        return h, (h,)


class LSTM(Recurrent):
    """Gates i, f, c, o (Keras's order): z = x_t @ kernel + h @ recurrent_kernel + bias;
    i, f, o = recurrent_activation(z_i, z_f, z_o); c = f * c + i * activation(z_c);
    h = o * activation(c). Returned states (return_state): [h, c]."""

    gates, state_count = 4, 2

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, implementation=1, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 **kwargs):
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs",
                                                                  "__class__")}
        self._setup(config, kwargs)

    def _step(self, z, state):
        h, c = state
        z = z + self._all_recurrent(h)
        zi, zf, zc, zo = A.split(z, 4, axis=1)
        ra = self.recurrent_activation
        c = ra(zf) * c + ra(zi) * self.activation(zc)
        h = ra(zo) * self.activation(c)
        return h, (h, c)


class GRU(Recurrent):
    """Gates z, r, h (Keras's order). reset_after=False (TF 1.x's default):
    hh = activation(x_h + (r * h) @ U_h); reset_after=True (CuDNN-compatible; the bias is
    (2, 3 * units), input and recurrent rows): hh = activation(x_h + r * (h @ U_h + b_rh)).
    Then h = z * h + (1 - z) * hh."""

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="hard_sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, implementation=1, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 reset_after=False, **kwargs):
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs",
                                                                  "__class__")}
        self._setup(config, kwargs)

    def _step(self, x, state):
        (h,) = state
        xz, xr, xh = A.split(x, 3, axis=1)
        ra = self.recurrent_activation
        if self.reset_after:
            rec = self._all_recurrent(h)
            if self.bias is not None:
                rec = rec + self.bias[1]
            rz, rr, rh = A.split(rec, 3, axis=1)
            z, r = ra(xz + rz), ra(xr + rr)
            hh = self.activation(xh + r * rh)
        else:
            z = ra(xz + self._recurrent(h, 0))
            r = ra(xr + self._recurrent(h, 1))
            hh = self.activation(xh + self._recurrent(r * h, 2))
        h = z * h + (1 - z) * hh
        return h, (h,)
