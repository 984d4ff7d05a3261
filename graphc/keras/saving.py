"""Whole-model saving: `model.save(path)` and `tf.keras.models.load_model(path)`.

`path` becomes a directory (TF 1.15's save_format='tf'; graphc writes no HDF5):

    path/
      saved_model.json, constants.safetensors, variables.safetensors
                        graphc's saved model of the model's graph, with a serving signature
                        (inputs and outputs by layer name): `graphc compile path` and
                        `graphc.saved_model.load(path)` read it as any saved model
      keras_model.json  {"format": "graphc-keras-model", "version": 1, "model_config":
                        the architecture (model_config.py), "input_specs", "training_config":
                        loss, metrics, optimizer class and config, target shapes (or null),
                        "weights" and "optimizer_weights": the variable names, in order}
      keras_weights.safetensors     the model's weights (model.save_weights's format)
      keras_optimizer.safetensors   the optimizer's state (iterations, slots), when it has any

The directory is written under a temporary name beside `path` and renamed into place.
load_model rebuilds the model in the default graph from its config (a subclassed model
from its class, given in custom_objects, called on Inputs of the saved shapes), loads the
weights by position (shapes checked; a damaged file is graphc's DataLossError), and with
compile=True compiles it as it was and restores the optimizer's state, so predictions are
identical and training goes on where it stopped. Nothing in the directory is executed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings

import numpy as np

from graphc.keras import backend, losses, metrics, optimizers
from graphc.keras.model_config import (
    KERAS_CLASSES,
    UnknownObjectError,
    model_config,
    model_from_config,
)

FORMAT, VERSION = "graphc-keras-model", 1
KERAS_FILE = "keras_model.json"
WEIGHTS_FILE = "keras_weights.safetensors"
OPTIMIZER_FILE = "keras_optimizer.safetensors"
_HDF5 = (".h5", ".hdf5", ".keras")


def _check_format(path: str, save_format) -> None:
    ext = os.path.splitext(path)[1].lower()
    if save_format not in (None, "tf", "tensorflow") or ext in _HDF5:
        what = f"save_format={save_format!r}" if save_format not in (None, "tf", "tensorflow") \
            else f"the extension '{ext}' of '{path}'"
        raise ValueError(f"graphc does not read or write HDF5 / .keras model files ({what}); "
                         f"it saves a model as a saved-model directory: model.save(path) with "
                         f"a path without {', '.join(_HDF5)} (save_format='tf')")


# --- saving -----------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None,
               signatures=None, options=None) -> None:
    """Write `model` as the directory `filepath` (see the module docstring)."""
    path = os.path.abspath(os.fspath(filepath))
    _check_format(path, save_format)
    if signatures is not None or options is not None:
        raise NotImplementedError("model.save(signatures=..., options=...) is not supported: "
                                  "the signature serves the model's inputs and outputs")
    if model.inputs is None:
        raise ValueError(f"Model {model.name} cannot be saved because its input shapes have "
                         "not been set; call it, fit it or build it first")
    _check_target(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=os.path.basename(path) + ".", dir=parent)
    try:
        with model.graph_scope():
            _write(model, staging, include_optimizer)
        _move_into_place(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_target(path: str, overwrite: bool) -> None:
    if not os.path.exists(path):
        return
    ours = os.path.isfile(os.path.join(path, KERAS_FILE))
    if not overwrite:
        raise FileExistsError(f"{path} exists and overwrite=False")
    if not os.path.isdir(path) or (os.listdir(path) and not ours):
        raise FileExistsError(f"{path} exists and is not a model saved by model.save; "
                              "refusing to replace it")


def _move_into_place(staging: str, path: str) -> None:
    old = None
    if os.path.exists(path):
        old = tempfile.mkdtemp(prefix=os.path.basename(path) + ".old.",
                               dir=os.path.dirname(path))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(model, folder: str, include_optimizer: bool) -> None:
    from graphc.saving import saved_model
    from graphc.saving.format import write_tensors
    session = backend.get_session()
    _initialize_locals(session)
    os.rmdir(folder)  # saved_model.save writes a fresh directory
    saved_model.save(session, folder, _ports(model._input_names(), model.inputs),
                     _ports([model._output_name(i) for i in range(len(model.outputs))],
                            model.outputs))
    model.save_weights(os.path.join(folder, WEIGHTS_FILE))
    training, opt_names = None, []
    if include_optimizer and model.optimizer is not None:
        training = _training_config(model)
        state = _optimizer_state(model.optimizer)
        if training is not None and state:
            opt_names = [_name(v) for v in state]
            write_tensors(os.path.join(folder, OPTIMIZER_FILE),
                          dict(zip(opt_names, backend.batch_get_value(state))),
                          {"keras_weights": json.dumps(opt_names)})
    doc = {"format": FORMAT, "version": VERSION, "keras_version": "2.2.4-tf",
           "backend": "tensorflow", "model_config": _architecture(model),
           "input_specs": [{"shape": list(t.shape.dims), "dtype": t.dtype.name}
                           for t in model.inputs],
           "training_config": training,
           "weights": [_name(v) for v in model._ordered_weights()],
           "optimizer_weights": opt_names}
    from graphc.version import __version__
    doc["graphc"] = __version__
    with open(os.path.join(folder, KERAS_FILE), "w") as f:
        json.dump(doc, f, indent=1)


def _initialize_locals(session) -> None:
    """Local variables (metric state) the session has no value for yet start at their
    initial values, so that the saved model holds every variable."""
    from graphc.ops.variables import local_variables, variables_initializer
    with session.graph.as_default():
        fresh = [v for v in local_variables() if v.handle.node not in session._state.variables]
        if fresh:
            session.run(variables_initializer(fresh))


def _ports(names: list, tensors: list) -> dict:
    out = {}
    for i, (name, t) in enumerate(zip(names, tensors)):
        out[name if name not in out else f"{name}_{i}"] = t
    return out


def _name(variable) -> str:
    return variable.name[:-2] if variable.name.endswith(":0") else variable.name


def _architecture(model) -> dict:
    """{"class_name", "config"}; a subclassed model gives its own get_config (or {})."""
    if model._is_graph_network or _is_sequential(model):
        return {"class_name": type(model).__name__, "config": model_config(model)}
    own = type(model).get_config is not KERAS_CLASSES["Network"].get_config
    return {"class_name": type(model).__name__, "subclassed": True,
            "config": model.get_config() if own else {}}


def _is_sequential(model) -> bool:
    return isinstance(model, KERAS_CLASSES["Sequential"])


def _optimizer_state(optimizer) -> list:
    return list(getattr(optimizer, "weights", []) or [])


def _training_config(model):
    """compile's arguments as data; None (with a warning, as Keras) for a tf.train
    optimizer, whose state Keras cannot save."""
    if not isinstance(model.optimizer, optimizers.OptimizerV2):
        warnings.warn(f"model.save: the optimizer {type(model.optimizer).__name__} is not a "
                      "tf.keras optimizer, so it is not saved; load_model returns an "
                      "uncompiled model")
        return None
    targets = model._functions.get("targets")
    return {"loss": _loss_entry(model.loss),
            "metrics": [metrics.serialize(x) for x in model._compiled[1]],
            "optimizer_config": {"class_name": type(model.optimizer).__name__,
                                 "config": model.optimizer.get_config()},
            "target_shapes": None if targets is None else
            [list(t.shape.dims) for t in targets[0]]}


def _loss_entry(loss):
    if isinstance(loss, str):
        return loss
    if type(loss) is losses.LossFunctionWrapper and not loss.fn_kwargs:
        return loss.fn.__name__
    if isinstance(loss, losses.Loss):
        config = {"reduction": loss.reduction, "name": loss.name,
                  **getattr(loss, "fn_kwargs", {})}
        if hasattr(loss, "get_config"):
            config = loss.get_config()
        return {"class_name": type(loss).__name__, "config": config}
    return getattr(loss, "__name__", repr(loss))


# --- loading ----------------------------------------------------------------------------------
def load_model(filepath, custom_objects=None, compile=True):  # noqa: A002 (Keras's name)
    """The model saved at `filepath` by model.save (see the module docstring)."""
    path = os.fspath(filepath)
    _check_format(path, None)
    doc = _read(path)
    custom = dict(custom_objects or {})
    model = _rebuild(doc, custom)
    _load_weights(model, os.path.join(path, WEIGHTS_FILE), doc["weights"])
    training = doc.get("training_config")
    if compile and training is not None:
        _compile(model, training, custom)
        if doc.get("optimizer_weights"):
            _restore_optimizer(model, os.path.join(path, OPTIMIZER_FILE), training)
    return model


def _read(path: str) -> dict:
    from graphc.saving.graph_io import read_document
    from graphc.saving.saved_model import is_saved_model
    file = os.path.join(path, KERAS_FILE)
    if not os.path.isfile(file):
        hint = " (a graphc saved model without a Keras model: load it with " \
               "graphc.saved_model.load)" if is_saved_model(path) else ""
        raise OSError(f"No Keras model at {path}: expected a directory written by "
                      f"model.save, holding {KERAS_FILE}{hint}")
    return read_document(file, FORMAT, VERSION, error=ValueError)


def _rebuild(doc: dict, custom: dict):
    entry = doc["model_config"]
    if not entry.get("subclassed"):
        return model_from_config(entry, custom)
    name = entry["class_name"]
    if name not in custom:
        raise UnknownObjectError(f"the model was a subclassed Model of class '{name}', "
                                 f"whose code graphc does not store: pass the class, "
                                 f"load_model(path, custom_objects={{'{name}': {name}}})")
    cls = custom[name]
    config = entry.get("config") or {}
    model = cls.from_config(config) if "from_config" in vars(cls) else cls(**config)
    from graphc.keras.layers import Input
    inputs = [Input(batch_shape=tuple(s["shape"]), dtype=s["dtype"])
              for s in doc["input_specs"]]
    model._build_on(inputs if len(inputs) > 1 else inputs[0])
    return model


def _load_weights(model, file: str, names: list) -> None:
    from graphc.saving.format import TensorFile
    f = TensorFile(file)
    params = model._ordered_weights()
    if len(params) != len(names):
        raise ValueError(f"{file} holds {len(names)} weights but the rebuilt model "
                         f"{model.name} has {len(params)}")
    pairs = []
    for p, name in zip(params, names):
        want, got = tuple(p.shape.as_list()), f.shape(name)
        if want != got:
            raise ValueError(f"{file}: weight '{name}' has shape {got}, the rebuilt model's "
                             f"{_name(p)} {want}")
        pairs.append((p, f.get(name)))
    with model.graph_scope():
        backend.batch_set_value(pairs)


def _compile(model, training: dict, custom: dict) -> None:
    entry = training["optimizer_config"]
    cls = custom.get(entry["class_name"]) or getattr(optimizers, entry["class_name"], None)
    if cls is None:
        raise UnknownObjectError(f"Unknown optimizer: '{entry['class_name']}'; pass it as "
                                 f"custom_objects={{'{entry['class_name']}': class}}")
    optimizer = cls.from_config(dict(entry["config"]))
    loss = training["loss"]
    if isinstance(loss, dict):
        loss_cls = custom.get(loss["class_name"]) or getattr(losses, loss["class_name"], None)
        if loss_cls is None:
            raise UnknownObjectError(f"Unknown loss: '{loss['class_name']}'; pass it as "
                                     f"custom_objects={{'{loss['class_name']}': class}}")
        loss = loss_cls(**loss["config"])
    elif isinstance(loss, str) and loss in custom:
        loss = custom[loss]
    compiled = [metrics.deserialize(x, custom) for x in training["metrics"]]
    model.compile(optimizer, loss, metrics=compiled)


def _restore_optimizer(model, file: str, training: dict) -> None:
    """Build the training step (targets shaped as saved), then set the optimizer's state;
    a state that does not fit is skipped with a warning, as Keras does."""
    from graphc.saving.format import TensorFile
    shapes = training.get("target_shapes")
    if not shapes:
        return
    dtype = model.outputs[0].dtype.np
    ys = [np.zeros([0] + [d or 1 for d in s[1:]], dtype) for s in shapes]
    model._function("train", ys)
    f = TensorFile(file)
    names = json.loads(f.metadata.get("keras_weights", "[]"))
    with model.graph_scope():
        state = _optimizer_state(model.optimizer)
        shapes_now = [tuple(v.shape.as_list()) for v in state]
        if len(state) != len(names) or shapes_now != [f.shape(n) for n in names]:
            warnings.warn(f"load_model: the optimizer state in {file} does not fit the "
                          "rebuilt optimizer; it starts afresh")
            return
        backend.batch_set_value(zip(state, [f.get(n) for n in names]))


# --- JSON and cloning ---------------------------------------------------------------------------
def to_json(model, **kwargs) -> str:
    entry = {"class_name": type(model).__name__, "config": model_config(model),
             "keras_version": "2.2.4-tf", "backend": "tensorflow"}
    return json.dumps(entry, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """The model (fresh weights) that to_json described."""
    return model_from_config(json.loads(json_string), custom_objects)


def clone_model(model, input_tensors=None, clone_function=None):
    """A new Sequential or functional model of the same layers' configs, with fresh
    weights (clone_function(layer) makes each layer instead, when given)."""
    if input_tensors is not None:
        raise NotImplementedError("clone_model(input_tensors=...) is not supported; the "
                                  "clone gets new Inputs")
    if not (model._is_graph_network or _is_sequential(model)):
        raise ValueError(f"clone_model expects a functional or Sequential model; "
                         f"{type(model).__name__} is a subclassed Model")
    originals = {layer.name: layer for layer in model.layers}
    factory = None
    if clone_function is not None:
        def factory(entry):
            return clone_function(originals[entry["config"]["name"]])
    entry = {"class_name": type(model).__name__, "config": model_config(model)}
    return model_from_config(entry, {type(model).__name__: type(model)}, factory)
