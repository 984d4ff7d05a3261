"""A Keras model's architecture as JSON-ready data, and the model rebuilt from it (Keras's
model_config: `model.get_config()`, `Model.from_config`, `to_json`, `model_from_json`).

    Sequential  {"name", "layers": [{"class_name", "config"}, ...]}; the first layer's
                config carries the model's "batch_input_shape"
    functional  {"name", "layers": [{"name", "class_name", "config", "inbound_nodes"}],
                 "input_layers": [[layer, node, tensor]], "output_layers": [...]}
                an inbound node is [[layer, node index, tensor index, call kwargs], ...],
                node indices counting only the calls inside this model

Each layer's own config, and rebuilding a layer from it: graphc/keras/layer_config.py.
"""

from __future__ import annotations

from graphc.keras.base_layer import history_of
from graphc.keras.layer_config import (  # noqa: F401 (also reached as model_config's)
    KERAS_CLASSES,
    UnknownObjectError,
    layer_config,
    layer_entry,
    layer_from_entry,
)
from graphc.layers.utils import serialize
from graphc.ops import nest


# --- models -------------------------------------------------------------------------------------
def model_config(model) -> dict:
    """Keras's config of a Sequential or functional model (NotImplementedError for a
    subclassed one, as Keras: it has no layer graph to describe)."""
    if isinstance(model, KERAS_CLASSES["Sequential"]):
        return _sequential_config(model)
    if not model._is_graph_network:
        raise NotImplementedError(f"model '{model.name}' is a subclassed Model: it has no "
                                  "config of layers (define get_config to save its "
                                  "arguments; load_model then needs the class in "
                                  "custom_objects)")
    return _functional_config(model)


def _sequential_config(model) -> dict:
    layers = [layer_entry(x) for x in model.layers]
    if layers and model.inputs is not None:
        first = layers[0]["config"]
        first["batch_input_shape"] = list(model.inputs[0].shape.dims)
        first.setdefault("dtype", model.inputs[0].dtype.name)
    return {"name": model.name, "layers": layers}


def _model_nodes(model) -> dict:
    """{id(node): its index among its layer's calls inside `model`}."""
    inside = {id(n) for n in model._nodes}
    index = {}
    for layer in model.layers:
        own = [n for n in layer._inbound_nodes if id(n) in inside or not n.inputs]
        index.update({id(n): i for i, n in enumerate(own)})
    return index


def _functional_config(model) -> dict:
    index = _model_nodes(model)

    def ref(tensor) -> list:
        node, at = history_of(tensor)
        return [node.layer.name, index[id(node)], at]
    calls: dict = {}
    for node in model._nodes:
        kwargs = {k: serialize(v) for k, v in node.kwargs.items()}
        calls.setdefault(id(node.layer), []).append([ref(t) + [kwargs] for t in node.inputs])
    layers = []
    for layer in model.layers:
        if not calls.get(id(layer)) and type(layer).__name__ == "InputLayer":
            config = {"batch_input_shape": list(layer._batch_input_shape),
                      "dtype": layer.dtype.name, "sparse": False, "name": layer.name}
        else:
            config = layer_config(layer)
        layers.append({"name": layer.name, "class_name": type(layer).__name__,
                       "config": config, "inbound_nodes": calls.get(id(layer), [])})
    return {"name": model.name, "layers": layers,
            "input_layers": [ref(t) for t in model.inputs],
            "output_layers": [ref(t) for t in model.outputs]}


def model_from_config(entry: dict, custom_objects=None, layer_factory=None):
    """The model of {"class_name", "config"} (Sequential, Model, or a subclass given in
    custom_objects), built in the default graph with fresh weights. `layer_factory(entry)`
    makes each layer (clone_model's clone_function), layer_from_entry by default."""
    custom = dict(custom_objects or {})
    name = entry.get("class_name")
    cls = custom.get(name) or {"Sequential": KERAS_CLASSES["Sequential"],
                               "Model": KERAS_CLASSES["Model"],
                               "Functional": KERAS_CLASSES["Model"]}.get(name)
    if cls is None:
        raise UnknownObjectError(f"Unknown model class: '{name}'; if it is yours, pass it "
                                 f"as custom_objects={{'{name}': {name}}}")
    config = entry["config"]
    make = layer_factory or (lambda e: layer_from_entry(e, custom))
    if issubclass(cls, KERAS_CLASSES["Sequential"]):
        model = cls(name=config.get("name"))
        for layer_entry_ in config["layers"]:
            model.add(make(layer_entry_))
        return model
    if "layers" not in config:  # a subclassed model's own config
        return cls.from_config(config) if "from_config" in vars(cls) else cls(**config)
    inputs, outputs = _replay_calls(config, make, custom)
    return cls(inputs, outputs, name=config.get("name"))


def _replay_calls(config: dict, make, custom: dict) -> tuple:
    """Make each layer and call it on its inbound tensors, in an order that has every
    input ready; returns (inputs, outputs) as the config's input and output layers."""
    from graphc.keras.layers import Input
    made, produced = {}, {}  # layer name -> layer; (layer, node) -> output tensors
    pending = []
    for record in config["layers"]:
        name = record["name"]
        if record["class_name"] == "InputLayer" and not record["inbound_nodes"]:
            c = record["config"]
            produced[(name, 0)] = [Input(batch_shape=tuple(c["batch_input_shape"]),
                                         dtype=c.get("dtype"), name=name)]
            continue
        made[name] = make({"class_name": record["class_name"], "config": record["config"]})
        pending += [(name, i, node) for i, node in enumerate(record["inbound_nodes"])]
    while pending:
        ready = [p for p in pending if all((r[0], r[1]) in produced for r in p[2])]
        if not ready:
            raise ValueError(f"model config: the calls of layers "
                             f"{sorted({p[0] for p in pending})} need tensors no layer makes")
        for name, i, node in ready:
            args = [produced[(r[0], r[1])][r[2]] for r in node]
            kwargs = node[0][3] if node and len(node[0]) > 3 else {}
            out = made[name](args[0] if len(args) == 1 else args, **kwargs)
            produced[(name, i)] = nest.flatten(out)
            pending.remove((name, i, node))

    def tensors(refs):
        return [produced[(r[0], r[1])][r[2]] for r in refs]
    inputs, outputs = tensors(config["input_layers"]), tensors(config["output_layers"])
    return (inputs[0] if len(inputs) == 1 else inputs,
            outputs[0] if len(outputs) == 1 else outputs)
