"""The Keras face of graphc's layers: what `tf.keras` layers do differently from tf.layers.

- Variables are named after the layer's name scope (`dense/kernel`, `my_model/dense/kernel`
  inside a subclassed model's call), as Keras names them, not after variable scopes.
- The dtype defaults to float32 (Keras's floatx), not "infer".
- `training=None` (Dropout, BatchNormalization) means Keras's learning phase.
- `input_shape=`, `batch_input_shape=`, `batch_size=` and `input_dim=` are kept, for
  Sequential to build its Input from the first layer.
- Every call is recorded as a `Node` (layer, input tensors, output tensors, call kwargs), and
  each output tensor remembers which node made it (`history_of`): the functional Model
  walks these back from its outputs to its inputs.

Keras layers subclass `KerasLayer` first, then the graphc/layers class they share math with.
"""

from __future__ import annotations

import inspect
import weakref

from graphc.errors import ShapeError, user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.keras import activations, backend, constraints, initializers, regularizers
from graphc.keras.layer_config import argument_config, layer_from_entry, register
from graphc.layers.base import Layer
from graphc.ops import array_ops as A
from graphc.ops import nest
from graphc.ops.variables import VariableScope

# graph -> {id(tensor): (tensor, Node, index)}; the tensor is held so its id stays its own
_HISTORY: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Node:
    """One call of a layer: flat input and output tensors, and the call's keyword args."""

    def __init__(self, layer, inputs, outputs, kwargs):
        self.layer, self.inputs, self.outputs, self.kwargs = layer, inputs, outputs, kwargs
        self.input_structure = None  # the structure of the call's inputs (set by the caller)

    def inbound(self) -> list:
        """(layer, node index, tensor index) of each input, for summary's 'Connected to'."""
        found = []
        for t in self.inputs:
            record = history_of(t)
            if record is not None:
                node, index = record
                found.append((node.layer, node.layer._inbound_nodes.index(node), index))
        return found


def history_of(tensor):
    """(Node, output index) of the layer call that made `tensor`, or None."""
    entry = _HISTORY.get(tensor.graph, {}).get(id(tensor))
    if entry is None or entry[0] is not tensor:
        return None
    return entry[1], entry[2]


def record_history(tensor, node, index) -> None:
    _HISTORY.setdefault(tensor.graph, {})[id(tensor)] = (tensor, node, index)


def layer_error(layer, message: str, kind=ValueError):
    return kind(f"layer '{layer}': {message} (at {user_location()})")


def keras_args(kwargs: dict) -> dict:
    """Keras's spellings resolved to what graphc/layers take: activation, initializer and
    regularizer names, and data_format=None as Keras's default (backend.image_data_format)."""
    out = dict(kwargs)
    for key, value in kwargs.items():
        if key == "activation" and value is not None:
            out[key] = activations.get(value)
        elif key.endswith("_initializer"):
            out[key] = initializers.get(value)
        elif key.endswith("_regularizer"):
            out[key] = regularizers.get(value)
        elif key.endswith("_constraint"):
            out[key] = constraints.get(value)
        elif key == "data_format" and value is None:
            out[key] = backend.image_data_format()
    return out


class KerasLayer(Layer):
    """Mix in first: `class Dense(KerasLayer, graphc.layers.Dense)`."""

    def __init__(self, *args, input_shape=None, batch_input_shape=None, batch_size=None,
                 input_dim=None, dtype=None, **kwargs):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = None if batch_input_shape is None else \
            tuple(batch_input_shape)
        super().__init__(*args, dtype=dtype or backend.floatx(), **kwargs)
        self._inbound_nodes: list = []
        self._takes_training = "training" in inspect.signature(self.call).parameters

    _keras_config = True  # get_config below gives every constructor argument

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("graphc."):  # tf.keras's own: found by name on load
            register(cls)

    def get_config(self) -> dict:
        """Every constructor argument the layer keeps (under the argument's name), then
        what the layer's classes say: from_config(get_config()) rebuilds the same layer."""
        return {**argument_config(self), **super().get_config()}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """A new layer from `config` (get_config's, or the fuller one a saved model keeps):
        nested initializers, regularizers and layers are rebuilt as load_model does."""
        custom = {cls.__name__: cls, **(custom_objects or {})}
        return layer_from_entry({"class_name": cls.__name__, "config": config}, custom)

    def _open_scope(self, scope=None) -> None:
        """Keras's naming: the variable scope is the layer's name scope, made unique in the
        graph (`dense`, or `dense_1` if that name scope is taken), under the current one."""
        if self._scope is not None:
            return
        graph = get_default_graph()
        with graph.name_scope(scope or self.name) as opened:
            self._name_scope = opened
        self._scope = VariableScope(opened[:-1])

    def __call__(self, inputs, *args, **kwargs):
        """Call as tf.layers does, with Keras's training default, errors at the user's line,
        and the call recorded for the functional API."""
        if self._takes_training and kwargs.get("training") is None:
            kwargs["training"] = backend.learning_phase()
        try:
            outputs = super().__call__(inputs, *args, **kwargs)
        except ShapeError as e:
            if "(at " in str(e):
                raise
            raise ShapeError(f"{e} (at {user_location()})") from None
        flat_in = [t for t in nest.flatten(inputs) if hasattr(t, "node")]
        # a layer returning an input as is would overwrite that tensor's history
        outputs = nest.map_structure(
            lambda t: A.identity(t) if any(t is x for x in flat_in) else t, outputs)
        flat_out = nest.flatten(outputs)
        node = Node(self, flat_in, flat_out, {k: v for k, v in kwargs.items()
                                              if k != "training" or not hasattr(v, "node")})
        node.input_structure = inputs
        self._inbound_nodes.append(node)
        for i, t in enumerate(flat_out):
            record_history(t, node, i)
        return outputs

    # --- what Keras reports about a layer ---------------------------------------------------
    @property
    def input(self):
        return self._only_node("input").input_structure

    @property
    def output(self):
        node = self._only_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    @property
    def output_shape(self):
        node = self._only_node("output shape")
        shapes = [tuple(t.shape.dims) for t in node.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _only_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no "
                                 f"defined {what}.")
        if len(self._inbound_nodes) > 1:
            raise AttributeError(f"The layer {self.name} has been called {len(self._inbound_nodes)}"
                                 f" times: its {what} is ill-defined; use get_{what}_at(i).")
        return self._inbound_nodes[0]

    def get_weights(self) -> list:
        return backend.batch_get_value(self.weights)

    def set_weights(self, weights) -> None:
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(f"You called `set_weights(weights)` on layer {self.name} with a "
                             f"weight list of length {len(weights)}, but the layer was "
                             f"expecting {len(params)} weights.")
        backend.batch_set_value(zip(params, weights))

    def _cast_input(self, x):
        if self._dtype is None:
            self._dtype = dtypes.float32
        return super()._cast_input(x)
