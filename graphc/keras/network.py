"""The structure of a Keras model: functional graphs of layer calls, subclassed models, and
their weights (get/set through Keras's session, save/load as one safetensors file).

A functional model is the graph its layers already built: `Model(inputs, outputs)` walks
the recorded calls (base_layer.Node) back from `outputs` to `inputs` and keeps them in
topological order; fit, evaluate and predict feed its Input placeholders and fetch its
output tensors, so nothing is rebuilt. Calling the model on other tensors replays the
calls on them (the layers, hence the weights, are shared).

A subclassed model defines `call`; the layers it assigns to attributes are tracked (in
assignment order) for `layers` and `weights`. It is built by its first call, or by `fit`
on Input placeholders shaped like the data (batch dimension None).
"""

from __future__ import annotations

import json

import numpy as np

from graphc.keras import backend
from graphc.keras.base_layer import KerasLayer, history_of
from graphc.layers.base import Layer
from graphc.ops import nest

_WEIGHT_ORDER_KEY = "keras_weights"  # metadata: the model's weight names, in order


def walk(inputs: list, outputs: list) -> list:
    """The layer calls computing `outputs` from `inputs`, each after those it needs; a
    tensor that cannot be traced back to `inputs` is a ValueError naming it."""
    known = {id(t) for t in inputs}
    order, seen, done = [], set(), []

    def visit(tensor):
        if id(tensor) in known:
            return
        record = history_of(tensor)
        if record is None or not record[0].inputs:
            layer = record[0].layer.name if record else "(not made by a Keras layer)"
            raise ValueError(f"Graph disconnected: cannot obtain value for tensor {tensor.name}"
                             f" at layer \"{layer}\". The following previous layers were "
                             f"accessed without issue: {done}")
        node = record[0]
        if id(node) in seen:
            return
        for x in node.inputs:
            visit(x)
        seen.add(id(node))
        order.append(node)
        done.append(node.layer.name)

    for t in outputs:
        visit(t)
    return order


def _unique(items) -> list:
    out, seen = [], set()
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


class Network(KerasLayer):
    """Functional (`Network(inputs, outputs)`) or subclassed (`call` defined) model."""

    _is_model_class = True  # rebuilt from a model config, not constructor arguments

    def __init__(self, *args, **kwargs):
        self.__dict__["_tracked"] = []
        inputs = kwargs.pop("inputs", args[0] if args else None)
        outputs = kwargs.pop("outputs", args[1] if len(args) > 1 else None)
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("name", "trainable",
                                                                      "dtype")})
        self.inputs, self.outputs, self._nodes = None, None, []
        self._is_graph_network = False
        self._in_call = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model(inputs, outputs): give both, or neither (a "
                                 "subclassed model)")
            self._init_graph_network(inputs, outputs)

    def __setattr__(self, name, value):
        tracked = self.__dict__.get("_tracked")
        if tracked is not None and not name.startswith("_"):
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Layer) and item is not self and \
                        not any(item is t for t in tracked):
                    tracked.append(item)
        super().__setattr__(name, value)

    # --- functional models ------------------------------------------------------------------
    def _init_graph_network(self, inputs, outputs) -> None:
        self._nested_inputs, self._nested_outputs = inputs, outputs
        self.inputs, self.outputs = nest.flatten(inputs), nest.flatten(outputs)
        for t in self.inputs:
            record = history_of(t)
            if record is None or record[0].inputs:
                raise ValueError(f"Input tensors to a Model must come from tf.keras.Input; "
                                 f"{t.name} does not")
        self._nodes = walk(self.inputs, self.outputs)
        self._input_layers = [history_of(t)[0].layer for t in self.inputs]
        self._layers = _unique(self._input_layers + [n.layer for n in self._nodes])
        self._is_graph_network = True
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if not self._is_graph_network:
            raise NotImplementedError(f"{type(self).__name__} must define call(inputs) "
                                      "(a subclassed Model) or be built from inputs and outputs")
        return self._replay(inputs, training)

    def _replay(self, inputs, training):
        """The model's layer calls again, on `inputs` in place of the model's Inputs."""
        flat = nest.flatten(inputs)
        if len(flat) != len(self.inputs):
            raise ValueError(f"model {self.name} expects {len(self.inputs)} input(s), got "
                             f"{len(flat)}")
        values = {id(a): b for a, b in zip(self.inputs, flat)}
        for node in self._nodes:
            args = nest.map_structure(lambda t: values.get(id(t), t), node.input_structure)
            kwargs = dict(node.kwargs)
            if training is not None and node.layer._takes_training:
                kwargs["training"] = training
            out = node.layer(args, **kwargs)
            for old, new in zip(node.outputs, nest.flatten(out)):
                values[id(old)] = new
        outs = [values[id(t)] for t in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    def __call__(self, inputs, *args, **kwargs):
        self._in_call = True
        try:
            outputs = super().__call__(inputs, *args, **kwargs)
        finally:
            self._in_call = False
        if self.inputs is None and all(history_of(t) is not None and not history_of(t)[0].inputs
                                       for t in nest.flatten(inputs)):
            self.inputs, self.outputs = nest.flatten(inputs), nest.flatten(outputs)
        return outputs

    def build(self, input_shape=None):
        """Called by the first call (nothing more to do), or by the user: a subclassed model
        is then called on Input placeholders of `input_shape` (batch dimension included)."""
        if self._in_call or self._is_graph_network:
            self.built = True
            return
        from graphc.keras.layers import Input
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self([Input(batch_shape=tuple(s)) for s in shapes] if len(shapes) > 1 else
             Input(batch_shape=tuple(shapes[0])))

    # --- layers and weights -------------------------------------------------------------------
    @property
    def layers(self) -> list:
        if self._is_graph_network:
            return list(self._layers)
        return list(self._tracked)

    def get_layer(self, name=None, index=None):
        if index is not None:
            if not 0 <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(self.layers)} layers.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Layers: {[x.name for x in self.layers]}")

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        own = list(self._trainable_weights)
        return _unique(own + [w for layer in self.layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list:
        layers_ = [w for layer in self.layers for w in layer.non_trainable_weights]
        if self.trainable:
            return _unique(list(self._non_trainable_weights) + layers_)
        every = [w for layer in self.layers for w in layer.weights]
        return _unique(self._trainable_weights + self._non_trainable_weights + every)

    @property
    def weights(self) -> list:
        return _unique(self.trainable_weights + self.non_trainable_weights)

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def losses(self) -> list:
        return _unique(list(self._losses) + [x for layer in self.layers for x in layer.losses])

    @property
    def updates(self) -> list:
        own = [u for u, _ in self._updates]
        return _unique(own + [u for layer in self.layers for u in layer.updates])

    def count_params(self) -> int:
        if not self.built or (not self._is_graph_network and self.inputs is None and
                              not self.weights):
            raise ValueError(f"You tried to call `count_params` on {self.name}, but the model "
                             "isn't built. Build it first (call it, fit it, or model.build).")
        return int(sum(np.prod(w.shape.as_list(), dtype=np.int64) for w in self.weights))

    def _ordered_weights(self) -> list:
        """Layer by layer, each layer's weights in its order (Keras's get_weights order)."""
        return _unique([w for layer in self.layers for w in layer.weights] + self.weights)

    def get_weights(self) -> list:
        with self.graph_scope():
            return backend.batch_get_value(self._ordered_weights())

    def set_weights(self, weights) -> None:
        params = self._ordered_weights()
        if len(params) != len(weights):
            raise ValueError(f"You called `set_weights(weights)` on model {self.name} with a "
                             f"weight list of length {len(weights)}, but the model was "
                             f"expecting {len(params)} weights.")
        for p, w in zip(params, weights):
            if tuple(np.shape(w)) != tuple(p.shape.as_list()):
                raise ValueError(f"Layer weight shape {tuple(p.shape.as_list())} not "
                                 f"compatible with provided weight shape {np.shape(w)} "
                                 f"(variable {p.name})")
        with self.graph_scope():
            backend.batch_set_value(zip(params, weights))

    def graph_scope(self):
        """The model's graph as the default (models may outlive a later default graph)."""
        graph = self._graph_of()
        return graph.as_default()

    def _graph_of(self):
        from graphc.framework.graph import get_default_graph
        tensors = self.outputs or self.weights
        return tensors[0].graph if tensors else get_default_graph()

    # --- saving ---------------------------------------------------------------------------------
    def save_weights(self, filepath, overwrite=True, save_format=None) -> None:
        """One safetensors file at `filepath`: each weight under its variable name
        (`dense/kernel`), and the model's order in the metadata."""
        from graphc.saving.format import write_tensors
        params = self._ordered_weights()
        values = self.get_weights()
        names = [_weight_name(p) for p in params]
        write_tensors(str(filepath), dict(zip(names, values)),
                      {_WEIGHT_ORDER_KEY: json.dumps(names)})

    def load_weights(self, filepath, by_name=False) -> None:
        """Weights by variable name when the file has every one; else (a model built with
        other layer names) by position in the saved order, as Keras loads by topology.
        Shapes are checked, and a mismatch names the variable and both shapes."""
        from graphc.saving.format import TensorFile
        f = TensorFile(str(filepath))
        params = self._ordered_weights()
        names = [_weight_name(p) for p in params]
        if by_name or all(f.has(n) for n in names):
            missing = [n for n in names if not f.has(n)]
            if missing and not by_name:
                raise ValueError(f"{filepath} lacks weights {missing}")
            sources = [n if f.has(n) else None for n in names]
        else:
            order = json.loads(f.metadata.get(_WEIGHT_ORDER_KEY, "[]"))
            if len(order) != len(names):
                raise ValueError(f"You are trying to load a weight file containing "
                                 f"{len(order)} weights into a model with {len(names)} "
                                 f"weights ({filepath}); the names differ too: file "
                                 f"{sorted(f.names())[:6]}, model {names[:6]}")
            sources = order
        pairs = []
        for p, name, source in zip(params, names, sources):
            if source is None:
                continue
            want, got = tuple(p.shape.as_list()), f.shape(source)
            if want != got:
                raise ValueError(f"Shape mismatch loading {filepath}: weight '{name}' of "
                                 f"model {self.name} has shape {want}, the file's "
                                 f"'{source}' has shape {got}")
            pairs.append((p, f.get(source)))
        with self.graph_scope():
            backend.batch_set_value(pairs)

    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None,
             signatures=None, options=None) -> None:
        """The whole model (architecture, weights, compile arguments, optimizer state) as
        the directory `filepath`, a graphc saved model too (graphc/keras/saving.py)."""
        from graphc.keras.saving import save_model
        save_model(self, filepath, overwrite, include_optimizer, save_format, signatures,
                   options)

    def get_config(self) -> dict:
        """The architecture as data (Keras's model config; graphc/keras/model_config.py)."""
        from graphc.keras.model_config import model_config
        return model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model of this class built (in the default graph) from get_config()."""
        from graphc.keras.model_config import model_from_config
        custom = {**(custom_objects or {}), cls.__name__: cls}
        return model_from_config({"class_name": cls.__name__, "config": config}, custom)

    def to_json(self, **kwargs) -> str:
        from graphc.keras.saving import to_json
        return to_json(self, **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None) -> None:
        from graphc.keras.summary import print_summary
        print_summary(self, line_length, positions, print_fn)


def _weight_name(variable) -> str:
    name = variable.name
    return name[:-2] if name.endswith(":0") else name
