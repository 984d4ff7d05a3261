"""The cell protocol of tf.nn.rnn_cell (TF1's RNNCell), LSTMStateTuple, and the helpers for
nested states that the cells and the RNN drivers (static_rnn, later dynamic_rnn) share.

A cell maps (inputs [batch, depth], state) to (output, new_state). A state is a tensor or a
nested tuple of tensors, shaped like `state_size` with a batch dimension in front of each
size. As TF1's cells (which are layers), a cell creates its variables with tf.get_variable
on its first call, under the variable scope it captures then: the `scope` argument, or a
fresh `<default name>` (`basic_lstm_cell`, `basic_lstm_cell_1`, ...) under the current
scope. Every later call uses those variables, whatever scope it is made in.
"""

from __future__ import annotations

import collections
import contextlib
import re

from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops import array_ops, nest
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.variables import get_variable, variable_scope

# nested states: tuples, lists and namedtuples of tensors (or of sizes), as tf.nest sees them
is_nested, flatten, map_structure = nest.is_nested, nest.flatten, nest.map_structure
pack_as = nest.pack_sequence_as


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The state of an LSTM: c, the cell state, and h, the output (both [batch, size])."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


def assert_like_rnncell(arg: str, cell, op: str) -> None:
    """TypeError unless `cell` has what the RNN drivers use (duck typing, as TF1)."""
    problems = []
    if not hasattr(cell, "output_size"):
        problems.append("'output_size' property is missing")
    if not hasattr(cell, "state_size"):
        problems.append("'state_size' property is missing")
    if not (hasattr(cell, "zero_state") or hasattr(cell, "get_initial_state")):
        problems.append("either 'zero_state' or 'get_initial_state' method is required")
    if not callable(cell):
        problems.append("is not callable")
    if problems:
        raise TypeError(f"{op}: the argument '{arg}' ({cell!r}) is not an RNNCell: "
                        f"{', '.join(problems)}")


def zeros_for(batch_size, size, dtype):
    """Zeros of shape [batch_size] + size; batch_size may be a scalar tensor."""
    dims = [size] if isinstance(size, int) else list(size)
    return array_ops.zeros([batch_size] + dims, dtype=dtype)


def _snake_case(name: str) -> str:
    """A layer's default name from its class name, as Keras: BasicLSTMCell -> basic_lstm_cell."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class RNNCell:
    """An RNN cell. Subclasses give `state_size`, `output_size` and `call(inputs, state)`,
    and create their variables in `build(inputs_shape)` with `add_variable`."""

    _input_ndim = None  # 2 for the cells that are layers over [batch, depth] inputs

    def __init__(self, reuse=None, name=None, dtype=None):
        self._reuse = reuse
        self._base_name = name or _snake_case(type(self).__name__)
        self._dtype = None if dtype is None else dtypes.as_dtype(dtype)
        self._scope = None  # the variable scope captured by the first call
        self._variables = []
        self.built = False

    @property
    def state_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define state_size")

    @property
    def output_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define output_size")

    @property
    def name(self) -> str:
        return self._base_name

    @property
    def dtype(self):
        return self._dtype

    @property
    def variables(self) -> list:
        """The variables of this cell and of the cells it wraps or stacks."""
        return list(self._variables) + [v for c in self._sub_cells() for v in c.variables]

    @property
    def trainable_variables(self) -> list:
        return [v for v in self.variables if v.trainable]

    weights, trainable_weights = variables, trainable_variables

    def _sub_cells(self) -> list:
        return []

    def build(self, inputs_shape) -> None:
        """Create the variables; runs once, before the first call."""

    def call(self, inputs, state):
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs, state)")

    def add_variable(self, name, shape, initializer=None):
        """tf.get_variable in the cell's scope, of the cell's dtype (the first input's)."""
        var = get_variable(name, shape, dtype=self._dtype, initializer=initializer)
        self._variables.append(var)
        return var

    add_weight = add_variable

    def __call__(self, inputs, state, scope=None):
        """(output, new_state) of one step; the first call builds the variables."""
        if not is_nested(inputs):
            inputs = convert_to_tensor(inputs)
        if self._input_ndim is not None:
            self._check_inputs(inputs)
        with self._variable_scope(scope):
            if not self.built:
                if self._dtype is None and not is_nested(inputs):
                    self._dtype = inputs.dtype
                self.build(None if is_nested(inputs) else inputs.shape)
                self.built = True
            return self.call(inputs, state)

    @contextlib.contextmanager
    def _variable_scope(self, scope):
        """The captured scope (reusing) after the first call; before it, as TF1's layers:
        `scope` or a fresh default-named scope, or with reuse= that exact name, reused."""
        if self._scope is not None:
            context = variable_scope(self._scope, reuse=True)
        elif self._reuse:
            context = variable_scope(self._base_name if scope is None else scope,
                                     reuse=self._reuse)
        else:
            context = variable_scope(scope, default_name=self._base_name)
        with context as captured:
            if self._scope is None:
                self._scope = captured
            yield

    def _check_inputs(self, x) -> None:
        if is_nested(x):
            raise TypeError(f"{type(self).__name__}: inputs must be one [batch, depth] tensor, "
                            f"got a {type(x).__name__}")
        rank = x.shape.ndims
        if rank != 2:
            found = "unknown rank" if rank is None else f"ndim={rank}"
            raise ValueError(f"{type(self).__name__}: input 0 of layer {self._base_name} is "
                             f"incompatible with the layer: expected ndim=2 ([batch, depth]), "
                             f"found {found}. Full shape received: {x.shape}")
        if x.shape[-1] is None:
            raise ValueError(f"{type(self).__name__}: expected inputs.shape[-1] to be known "
                             f"when the graph is built, saw shape: {x.shape}")

    def zero_state(self, batch_size, dtype):
        """Zeros shaped like state_size, with a batch dimension of batch_size (int or tensor)."""
        with get_default_graph().name_scope(f"{type(self).__name__}ZeroState"):
            return map_structure(lambda size: zeros_for(batch_size, size, dtype),
                                 self.state_size)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """zero_state, with batch size and dtype taken from `inputs` when given."""
        if inputs is not None:
            inputs = convert_to_tensor(inputs)
            dims = inputs.shape.dims
            batch_size = dims[0] if dims and dims[0] is not None else array_ops.shape(inputs)[0]
            dtype = inputs.dtype
        if batch_size is None or dtype is None:
            raise ValueError(f"{type(self).__name__}.get_initial_state needs inputs, or "
                             "batch_size and dtype")
        return self.zero_state(batch_size, dtype)
