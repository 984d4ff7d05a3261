"""tf.keras.Sequential: a stack of layers, each taking the previous one's output.

Given an input shape (the first layer's `input_shape=`, or an InputLayer first) the model
is built as layers are added: an Input named `<first layer>_input` and each layer called
in turn, so it is a functional model from then on. Without one, it is built by its first
call or fit, on an Input shaped like the data. `layers` leaves out the Input layer.
"""

from __future__ import annotations

from graphc.keras.base_layer import KerasLayer
from graphc.keras.layers import Input, InputLayer
from graphc.keras.training import Model
from graphc.layers.base import Layer


class Sequential(Model):
    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self._stack: list = []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list:
        return [x for x in self._stack if not isinstance(x, InputLayer)]

    def add(self, layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Found: "
                            f"{layer!r}")
        if any(layer is x for x in self._stack):
            raise ValueError(f"layer {layer.name} is already in model {self.name}")
        self._stack.append(layer)
        if self.outputs is not None:
            self._rebuild(self.inputs[0], self.outputs[0], [layer])
            return
        if isinstance(layer, InputLayer):
            self._start(layer._inbound_nodes[0].outputs[0], [])
            return
        shape = getattr(layer, "_batch_input_shape", None)
        if len(self._stack) == 1 and shape is not None:
            with self._model_graph():
                x = Input(batch_shape=shape, name=f"{layer.name}_input",
                          dtype=layer.dtype)
            self._start(x, [layer])

    def _model_graph(self):
        from graphc.framework.graph import get_default_graph
        return get_default_graph().as_default()

    def _start(self, x, layers) -> None:
        self._rebuild(x, x, layers)

    def _rebuild(self, x, y, layers) -> None:
        for layer in layers:
            y = layer(y)
        self._init_graph_network(x, y)
        self._functions = {}

    def pop(self) -> None:
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self._stack.pop()
        if self.outputs is not None:
            x = self.inputs[0]
            self.outputs = None
            self._rebuild(x, x, self.layers)

    def _build_on(self, inputs):
        """A deferred Sequential: its Input (shaped like the data) and every layer on it."""
        if isinstance(inputs, list):
            raise ValueError("a Sequential model takes one input")
        self._rebuild(inputs, inputs, self.layers)

    def call(self, inputs, training=None, mask=None):
        if self._is_graph_network:
            return self._replay(inputs, training)
        y = inputs
        for layer in self.layers:
            kwargs = {"training": training} if isinstance(layer, KerasLayer) and \
                layer._takes_training and training is not None else {}
            y = layer(y, **kwargs)
        return y

    def __call__(self, inputs, *args, **kwargs):
        if self.outputs is None and not self._stack:
            raise ValueError(f"model {self.name} has no layers")
        return super().__call__(inputs, *args, **kwargs)
