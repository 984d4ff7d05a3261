"""tf.nn.rnn_cell: TF1's RNN cells as compositions of matmul, bias_add, split, concat and
elementwise ops (their gradients come from those). The variable names, shapes, default
initializers, gate order and math are TF1's (rnn_cell_impl.py); kernels without an explicit
initializer take tf.get_variable's default (glorot_uniform), biases start at zero, except
GRUCell's gate bias at 1.0.

The wrappers (DropoutWrapper, ResidualWrapper, DeviceWrapper) add no variable scope of their
own, so a wrapped cell's variables are named as the bare cell's.
"""

import hashlib as _hashlib
import numbers as _numbers

from graphc import unsupported as _unsupported
from graphc.ops import array_ops as _array_ops
from graphc.ops import math_ops as _math_ops
from graphc.ops import nn_norm as _nn_norm
from graphc.ops import nn_ops as _nn_ops
from graphc.ops.init_ops import constant_initializer as _constant_initializer
from graphc.ops.init_ops import zeros_initializer as _zeros_initializer
from graphc.ops.rnn_base import LSTMStateTuple, RNNCell
from graphc.ops.rnn_base import assert_like_rnncell as _assert_like_rnncell
from graphc.ops.rnn_base import flatten as _flatten
from graphc.ops.rnn_base import is_nested as _is_nested
from graphc.ops.rnn_base import map_structure as _map_structure
from graphc.ops.rnn_base import pack_as as _pack_as
from graphc.ops.tensor import convert_to_tensor as _convert_to_tensor
from graphc.ops.variables import variable_scope as _variable_scope

__all__ = ["RNNCell", "LSTMStateTuple", "BasicRNNCell", "BasicLSTMCell", "LSTMCell",
           "GRUCell", "MultiRNNCell", "DropoutWrapper", "ResidualWrapper", "DeviceWrapper"]


def _affine(x, h, kernel, bias):
    """[x, h] @ kernel + bias: one matmul for all gates of a step."""
    return _nn_ops.bias_add(_math_ops.matmul(_array_ops.concat([x, h], 1), kernel), bias)


class _OneStateCell(RNNCell):
    """A cell whose state and output are one [batch, num_units] tensor."""

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units


class BasicRNNCell(_OneStateCell):
    """h' = activation([x, h] @ kernel + bias); the output is h' too."""

    _input_ndim = 2

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(reuse=reuse, name=name, dtype=dtype)
        self._num_units = num_units
        self._activation = activation or _math_ops.tanh

    def build(self, inputs_shape):
        n = self._num_units
        self._kernel = self.add_variable("kernel", [inputs_shape[-1] + n, n])
        self._bias = self.add_variable("bias", [n], initializer=_zeros_initializer())

    def call(self, inputs, state):
        output = self._activation(_affine(inputs, state, self._kernel, self._bias))
        return output, output


class BasicLSTMCell(RNNCell):
    """The LSTM without peepholes or projection. With gates i, j, f, o (this order) split
    from [x, h] @ kernel + bias:
        c' = c * sigmoid(f + forget_bias) + sigmoid(i) * act(j),  h' = act(c') * sigmoid(o).
    The state is LSTMStateTuple(c, h), or concat([c, h], 1) when state_is_tuple=False."""

    _input_ndim = 2

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(reuse=reuse, name=name, dtype=dtype)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or _math_ops.tanh

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self):
        return self._num_units

    def build(self, inputs_shape):
        n = self._num_units
        self._kernel = self.add_variable("kernel", [inputs_shape[-1] + n, 4 * n])
        self._bias = self.add_variable("bias", [4 * n], initializer=_zeros_initializer())

    def call(self, inputs, state):
        sigmoid, act = _math_ops.sigmoid, self._activation
        c, h = state if self._state_is_tuple else _array_ops.split(state, 2, axis=1)
        gates = _affine(inputs, h, self._kernel, self._bias)
        i, j, f, o = _array_ops.split(gates, 4, axis=1)
        new_c = c * sigmoid(f + self._forget_bias) + sigmoid(i) * act(j)
        new_h = act(new_c) * sigmoid(o)
        if self._state_is_tuple:
            return new_h, LSTMStateTuple(new_c, new_h)
        return new_h, _array_ops.concat([new_c, new_h], 1)


class LSTMCell(RNNCell):
    """The LSTM with optional peepholes (w_f_diag, w_i_diag, w_o_diag), cell clipping and a
    projection of the output (projection/kernel [num_units, num_proj], then proj_clip):
        c' = sigmoid(f + forget_bias [+ w_f_diag * c]) * c + sigmoid(i [+ w_i_diag * c]) * act(j)
        c' = clip(c', -cell_clip, cell_clip)
        m' = sigmoid(o [+ w_o_diag * c']) * act(c'),  m' = clip(m' @ projection, -proj_clip, ..)
    The state is LSTMStateTuple(c', m'); the output is m' (num_proj or num_units wide)."""

    _input_ndim = 2

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(reuse=reuse, name=name, dtype=dtype)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("LSTMCell: num_unit_shards and num_proj_shards (variable "
                                      "partitioning, deprecated in TF1) are not supported")
        self._num_units, self._num_proj = num_units, num_proj
        self._use_peepholes, self._initializer = use_peepholes, initializer
        self._cell_clip, self._proj_clip = cell_clip, proj_clip
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or _math_ops.tanh

    @property
    def state_size(self):
        n, m = self._num_units, self._num_proj or self._num_units
        return LSTMStateTuple(n, m) if self._state_is_tuple else n + m

    @property
    def output_size(self):
        return self._num_proj or self._num_units

    def build(self, inputs_shape):
        n, h_depth, init = self._num_units, self.output_size, self._initializer
        self._kernel = self.add_variable("kernel", [inputs_shape[-1] + h_depth, 4 * n], init)
        self._bias = self.add_variable("bias", [4 * n], _zeros_initializer())
        if self._use_peepholes:
            self._w_f_diag = self.add_variable("w_f_diag", [n], init)
            self._w_i_diag = self.add_variable("w_i_diag", [n], init)
            self._w_o_diag = self.add_variable("w_o_diag", [n], init)
        if self._num_proj is not None:
            self._proj_kernel = self.add_variable("projection/kernel", [n, self._num_proj], init)

    def call(self, inputs, state):
        sigmoid, act, n = _math_ops.sigmoid, self._activation, self._num_units
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev = _array_ops.slice(state, [0, 0], [-1, n])
            m_prev = _array_ops.slice(state, [0, n], [-1, self.output_size])
        gates = _affine(inputs, m_prev, self._kernel, self._bias)
        i, j, f, o = _array_ops.split(gates, 4, axis=1)
        if self._use_peepholes:
            c = (sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev
                 + sigmoid(i + self._w_i_diag * c_prev) * act(j))
        else:
            c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * act(j)
        if self._cell_clip is not None:
            c = _math_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sigmoid(o + self._w_o_diag * c) * act(c)
        else:
            m = sigmoid(o) * act(c)
        if self._num_proj is not None:
            m = _math_ops.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = _math_ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        if self._state_is_tuple:
            return m, LSTMStateTuple(c, m)
        return m, _array_ops.concat([c, m], 1)


class GRUCell(_OneStateCell):
    """The GRU of Cho et al. With r, u = split(sigmoid([x, h] @ gates/kernel + gates/bias)):
        c = act([x, r * h] @ candidate/kernel + candidate/bias),  h' = u * h + (1 - u) * c.
    gates/bias starts at 1.0 (gates open) unless bias_initializer is given."""

    _input_ndim = 2

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None, **kwargs):
        super().__init__(reuse=reuse, name=name, dtype=dtype)
        self._num_units = num_units
        self._activation = activation or _math_ops.tanh
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    def build(self, inputs_shape):
        n, depth = self._num_units, inputs_shape[-1] + self._num_units
        kernel_init, bias_init = self._kernel_initializer, self._bias_initializer
        self._gate_kernel = self.add_variable("gates/kernel", [depth, 2 * n], kernel_init)
        self._gate_bias = self.add_variable("gates/bias", [2 * n],
                                            bias_init or _constant_initializer(1.0))
        self._candidate_kernel = self.add_variable("candidate/kernel", [depth, n], kernel_init)
        self._candidate_bias = self.add_variable("candidate/bias", [n],
                                                 bias_init or _zeros_initializer())

    def call(self, inputs, state):
        gates = _math_ops.sigmoid(_affine(inputs, state, self._gate_kernel, self._gate_bias))
        r, u = _array_ops.split(gates, 2, axis=1)
        candidate = _affine(inputs, r * state, self._candidate_kernel, self._candidate_bias)
        c = self._activation(candidate)
        new_h = u * state + (1 - u) * c
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """Cells stacked in depth: each cell's output is the next one's input; the i-th cell
    runs under the variable scope `cell_i`. The state is the tuple of the cells' states, or
    their concatenation along axis 1 when state_is_tuple=False."""

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not isinstance(cells, (list, tuple)):
            raise TypeError(f"MultiRNNCell: cells must be a list or tuple, but saw: {cells}")
        if not cells:
            raise ValueError("MultiRNNCell: Must specify at least one cell for MultiRNNCell.")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(_is_nested(c.state_size) for c in self._cells):
            raise ValueError("MultiRNNCell: some cells return tuples of states, but the flag "
                             "state_is_tuple is not set. State sizes are: "
                             f"{[c.state_size for c in self._cells]}")

    @property
    def state_size(self):
        sizes = tuple(c.state_size for c in self._cells)
        return sizes if self._state_is_tuple else sum(sizes)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def _sub_cells(self):
        return self._cells

    def zero_state(self, batch_size, dtype):
        if self._state_is_tuple:
            return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
        return super().zero_state(batch_size, dtype)

    def call(self, inputs, state):
        if self._state_is_tuple and not _is_nested(state):
            raise ValueError(f"MultiRNNCell: expected state to be a tuple of length "
                             f"{len(self._cells)}, but received: {state}")
        x, new_states, offset = inputs, [], 0
        for i, cell in enumerate(self._cells):
            with _variable_scope(f"cell_{i}"):
                if self._state_is_tuple:
                    cell_state = state[i]
                else:
                    cell_state = _array_ops.slice(state, [0, offset], [-1, cell.state_size])
                    offset += cell.state_size
                x, new_state = cell(x, cell_state)
                new_states.append(new_state)
        if self._state_is_tuple:
            return x, tuple(new_states)
        return x, _array_ops.concat(new_states, 1)


class _Wrapper(RNNCell):
    """A cell around a cell: same sizes, same variables, no scope of its own."""

    def __init__(self, cell):
        super().__init__()
        self._cell = cell

    @property
    def cell(self):
        return self._cell

    @property
    def state_size(self):
        return self._cell.state_size

    @property
    def output_size(self):
        return self._cell.output_size

    def _sub_cells(self):
        return [self._cell]

    def zero_state(self, batch_size, dtype):
        return self._cell.zero_state(batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        return self._cell(inputs, state, scope=scope)


def _keep_probability(value, what):
    """A keep probability known when building as a float checked to lie in [0, 1]; a
    tensor computed at run time as is."""
    known = value if isinstance(value, _numbers.Real) else \
        _array_ops.static_value(_convert_to_tensor(value))
    if known is None:
        return _convert_to_tensor(value)
    if not 0 <= float(known) <= 1:
        raise ValueError(f"DropoutWrapper: Parameter {what} must be between 0 and 1: "
                         f"{float(known)}")
    return float(known)


def _default_dropout_state_filter(substate):
    """Which parts of a state DropoutWrapper drops: all but an LSTM's cell state c."""
    if isinstance(substate, LSTMStateTuple):
        return LSTMStateTuple(c=False, h=True)
    return True


def _dropout_flags(visitor, value) -> list:
    """One bool per leaf of `value`: whether to drop it. `visitor(sub)` says for a subtree
    True (descend, or drop a leaf), False (keep it all) or a bool per child."""
    decision = visitor(value)
    if not _is_nested(value):
        return [bool(decision)]
    if isinstance(decision, bool):
        if not decision:
            return [False] * len(_flatten(value))
        decision = [True] * len(value)
    flags = []
    for take, child in zip(decision, value):
        if not take:
            flags += [False] * len(_flatten(child))
        else:
            flags += _dropout_flags(visitor, child)
    return flags


class DropoutWrapper(_Wrapper):
    """Dropout (tf.nn.dropout) on the cell's inputs, outputs and new state; each element
    is kept with its keep probability, independently at every step."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        _assert_like_rnncell("cell", cell, "DropoutWrapper")
        if variational_recurrent:
            raise NotImplementedError(
                "DropoutWrapper(variational_recurrent=True) is not supported by graphc: it "
                "draws one dropout mask per sequence; use variational_recurrent=False")
        super().__init__(cell)
        self._input_keep_prob = _keep_probability(input_keep_prob, "input_keep_prob")
        self._output_keep_prob = _keep_probability(output_keep_prob, "output_keep_prob")
        self._state_keep_prob = _keep_probability(state_keep_prob, "state_keep_prob")
        self._seed = seed
        self._state_filter = dropout_state_filter_visitor or _default_dropout_state_filter

    def _gen_seed(self, salt, index):
        """The op seed of TF1's DropoutWrapper: a hash of the seed, the part and the index."""
        if self._seed is None:
            return None
        digest = _hashlib.md5(f"{self._seed}{salt}_{index}".encode()).hexdigest()
        return int(digest[:8], 16) & 0x7FFFFFFF

    def _dropout(self, values, salt, keep_prob, flags=None):
        flat = _flatten(values)
        flags = flags or [True] * len(flat)
        out = [_nn_norm.dropout(v, keep_prob=keep_prob, seed=self._gen_seed(salt, i))
               if drop else v for i, (v, drop) in enumerate(zip(flat, flags))]
        return _pack_as(values, out)

    def __call__(self, inputs, state, scope=None):
        def should_drop(p):  # a float 1.0 is known to keep everything
            return not isinstance(p, _numbers.Real) or p < 1
        if should_drop(self._input_keep_prob):
            inputs = self._dropout(inputs, "input", self._input_keep_prob)
        output, new_state = self._cell(inputs, state, scope=scope)
        if should_drop(self._state_keep_prob):
            flags = _dropout_flags(self._state_filter, new_state)
            new_state = self._dropout(new_state, "state", self._state_keep_prob, flags)
        if should_drop(self._output_keep_prob):
            output = self._dropout(output, "output", self._output_keep_prob)
        return output, new_state


class ResidualWrapper(_Wrapper):
    """output = inputs + cell output (or residual_fn(inputs, output)); the state as is."""

    def __init__(self, cell, residual_fn=None):
        super().__init__(cell)
        self._residual_fn = residual_fn

    def __call__(self, inputs, state, scope=None):
        output, new_state = self._cell(inputs, state, scope=scope)
        if self._residual_fn is not None:
            return self._residual_fn(inputs, output), new_state

        def add(x, y):
            x, y = _convert_to_tensor(x), _convert_to_tensor(y)
            if not x.shape.is_compatible_with(y.shape):
                raise ValueError(f"ResidualWrapper: inputs of shape {x.shape} and cell "
                                 f"outputs of shape {y.shape} cannot be added")
            return x + y
        return _map_structure(add, inputs, output), new_state


class DeviceWrapper(_Wrapper):
    """The cell as is: graphc runs every op on the session's target, so `device` is ignored."""

    def __init__(self, cell, device):
        super().__init__(cell)
        self._device = device


# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.nn.rnn_cell")
