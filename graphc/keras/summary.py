"""model.summary(): Keras's table (TF 1.15's layout, column for column).

A chain of layers (Sequential, subclassed, or a functional model where each layer takes one
input from the one before) prints `Layer (type) | Output Shape | Param #` in 65 columns;
other functional models add `Connected to` (`dense[0][0]`: layer, call, output) in 98.
Totals count each weight once, trainable and non-trainable apart.
"""

from __future__ import annotations

import numpy as np


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + dims[0] + ",)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"


def _output_shape(layer) -> str:
    from graphc.keras.layers import InputLayer
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return "multiple"
    shapes = [tuple(t.shape.dims) for t in nodes[0].outputs]
    if isinstance(layer, InputLayer):
        return _shape_text(shapes)  # TF 1.15 prints an InputLayer's shape as a list
    return _shape_text(shapes[0] if len(shapes) == 1 else shapes)


def _count(weights) -> int:
    seen, total = set(), 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            total += int(np.prod(w.shape.as_list(), dtype=np.int64))
    return total


def _is_chain(model) -> bool:
    if not model._is_graph_network or type(model).__name__ == "Sequential":
        return True
    for node in model._nodes:
        if len(node.inbound()) > 1:
            return False
    calls = [n.layer for n in model._nodes]
    return len(calls) == len({id(x) for x in calls}) and len(model.inputs) == 1 and \
        len(model.outputs) == 1 and _single_consumers(model)


def _single_consumers(model) -> bool:
    consumed: dict = {}
    for node in model._nodes:
        for t in node.inputs:
            consumed[id(t)] = consumed.get(id(t), 0) + 1
    return all(n <= 1 for n in consumed.values())


def _row(fields, positions) -> str:
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        line += str(field)
        line = line[:positions[i]]
        line += " " * (positions[i] - len(line))
    return line


def print_summary(model, line_length=None, positions=None, print_fn=None) -> None:
    if not model.built or (not model._is_graph_network and model.inputs is None
                           and not model.weights):
        raise ValueError("This model has not yet been built. Build the model first by "
                         "calling `build()` or calling `fit()` with some data, or specify an "
                         "`input_shape` argument in the first layer(s) for automatic build.")
    print_fn = print_fn or print
    chain = _is_chain(model)
    if chain:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(_row(header, positions))
    print_fn("=" * line_length)
    layers = model.layers
    for i, layer in enumerate(layers):
        fields = [f"{layer.name} ({type(layer).__name__})", _output_shape(layer),
                  layer.count_params() if layer.built else 0]
        if chain:
            print_fn(_row(fields, positions))
        else:
            links = [f"{lay.name}[{n}][{t}]" for node in layer._inbound_nodes
                     if any(node is x for x in model._nodes) for lay, n, t in node.inbound()]
            print_fn(_row(fields + [links[0] if links else ""], positions))
            for link in links[1:]:
                print_fn(_row(["", "", "", link], positions))
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)
