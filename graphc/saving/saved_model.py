"""Saved models: a graph, its trained variables and a signature, as a directory of data.

    export_dir/
      saved_model.json      {"format": "graphc-saved-model", "version": 1, "graphc": version,
                             "signature": {"inputs": {key: {"name", "dtype", "shape"}},
                                           "outputs": {key: {...}}},
                             "graph": the graph document (graphc/saving/graph_io.py)}
      constants.safetensors the graph's constants
      variables.safetensors the variables' values under their names (a graphc checkpoint)

    graphc.saved_model.save(sess, export_dir, inputs={"x": x}, outputs={"probs": probs})
    model = graphc.saved_model.load(export_dir)         # a new graph and session
    model(x=batch)                                      # -> {"probs": array}

The directory is written under a temporary name and renamed into place, so a crash never
leaves half a model under `export_dir`. Loading rebuilds the graph from data and compiles it
on this machine (from the compiled-code cache when the same graph was compiled before).
`tf.saved_model.simple_save` and `tf.saved_model.loader.load` are TF1's spellings, and
`graphc compile export_dir -o out/` makes the model a shared library.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from graphc.saving.format import TensorFile, write_tensors
from graphc.saving.graph_io import (
    decode_graph,
    encode_graph,
    read_document,
)

FORMAT, VERSION = "graphc-saved-model", 1
MODEL_FILE = "saved_model.json"
SERVING = "serve"  # tf.saved_model.tag_constants.SERVING
DEFAULT_SIGNATURE = "serving_default"


def is_saved_model(path) -> bool:
    return os.path.isfile(os.path.join(os.fspath(path), MODEL_FILE))


def save(sess, export_dir, inputs: dict, outputs: dict) -> str:
    """Write the session's graph, variables and the signature (dicts of tensors by key)."""
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.exists(export_dir) and (not os.path.isdir(export_dir) or os.listdir(export_dir)):
        raise ValueError(f"Export directory already exists, and isn't empty: {export_dir}. "
                         "Please choose a different export directory, or delete all the "
                         "contents of the specified directory.")
    signature = {"inputs": _ports(sess.graph, inputs, "inputs"),
                 "outputs": _ports(sess.graph, outputs, "outputs")}
    doc, constants = encode_graph(sess.graph)
    values = _variable_values(sess)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(export_dir) + ".", dir=parent)
    try:
        write_tensors(os.path.join(tmp, "constants.safetensors"), constants)
        write_tensors(os.path.join(tmp, "variables.safetensors"), values)
        from graphc.version import __version__
        model = {"format": FORMAT, "version": VERSION, "graphc": __version__,
                 "signature": signature, "graph": doc}
        with open(os.path.join(tmp, MODEL_FILE), "w") as f:
            json.dump(model, f)
            f.flush()
            os.fsync(f.fileno())
        if os.path.isdir(export_dir):
            os.rmdir(export_dir)  # empty (checked above)
        os.replace(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return export_dir


def _ports(graph, tensors: dict, what: str) -> dict:
    from graphc.ops.tensor import Tensor
    if not isinstance(tensors, dict) or not tensors:
        raise TypeError(f"saved_model.save: {what} must be a non-empty dict of tensors by "
                        f"key, got {tensors!r}")
    out = {}
    for key, t in tensors.items():
        if hasattr(t, "_as_graph_tensor"):
            t = t.value()
        if not isinstance(t, Tensor) or t.graph is not graph:
            raise TypeError(f"saved_model.save: {what}[{key!r}] must be a tensor of the "
                            f"session's graph, got {t!r}")
        if t.node.dtype is None:
            raise TypeError(f"saved_model.save: {what}[{key!r}] ({t.name}) is an operation, "
                            "not a tensor")
        out[str(key)] = {"name": t.name, "dtype": t.dtype.name,
                         "shape": None if t.node.shape is None else list(t.node.shape)}
    return out


def _variable_values(sess) -> dict:
    from graphc.ops.variables import GraphKeys
    from graphc.saving.saver import _values
    variables = {}
    for key in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.LOCAL_VARIABLES):
        for v in sess.graph.get_collection(key):
            variables.setdefault(v.op.name, v)
    return _values(sess, variables)


# --- loading ----------------------------------------------------------------------------------
@dataclass
class TensorInfo:
    """One entry of a signature (TF1's TensorInfo: the tensor's name, dtype and shape)."""
    name: str
    dtype: str
    shape: list


@dataclass
class SignatureDef:
    inputs: dict = field(default_factory=dict)  # key -> TensorInfo
    outputs: dict = field(default_factory=dict)
    method_name: str = "tensorflow/serving/predict"


@dataclass
class MetaGraphInfo:
    """What tf.saved_model.loader.load returns: the signatures by key."""
    signature_def: dict


def _read(export_dir: str) -> tuple:
    path = os.path.join(export_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise OSError(f"SavedModel file does not exist at: {export_dir}/{MODEL_FILE}")
    model = read_document(path, FORMAT, VERSION)
    return model, TensorFile(os.path.join(export_dir, "constants.safetensors"))


def _signature(model: dict) -> SignatureDef:
    sig = model["signature"]
    return SignatureDef({k: TensorInfo(**v) for k, v in sig["inputs"].items()},
                        {k: TensorInfo(**v) for k, v in sig["outputs"].items()})


def loader_load(sess, tags, export_dir, import_scope=None, **saver_kwargs) -> MetaGraphInfo:
    """tf.saved_model.loader.load: the model's graph into `sess.graph` (which should be
    empty) and its variables into `sess`."""
    from graphc.saving.saver import Saver
    if import_scope:
        raise NotImplementedError("saved_model loader: import_scope is not supported")
    export_dir = os.fspath(export_dir)
    model, constants = _read(export_dir)
    built = decode_graph(model["graph"], _Constants(constants), sess.graph)
    variables = {v.op.name: v for v in built["variables"]}
    if variables:
        Saver(variables).restore(sess, os.path.join(export_dir, "variables"))
    return MetaGraphInfo({DEFAULT_SIGNATURE: _signature(model)})


class _Constants:
    def __init__(self, f: TensorFile):
        self._f = f

    def __getitem__(self, key):
        return self._f.get(key)


class LoadedModel:
    """A saved model in its own graph and session: call it with the inputs by key (or one
    positional array when it has one input); it returns the outputs by key."""

    def __init__(self, export_dir, target=None, config=None):
        from graphc.framework.graph import Graph
        from graphc.runtime.session import Session
        self.graph = Graph()
        self.session = Session(target=target or "", graph=self.graph, config=config)
        with self.graph.as_default():
            info = loader_load(self.session, [SERVING], export_dir)
        self.signature = info.signature_def[DEFAULT_SIGNATURE]
        self.inputs = {k: self.graph.get_tensor_by_name(v.name)
                       for k, v in self.signature.inputs.items()}
        self.outputs = {k: self.graph.get_tensor_by_name(v.name)
                        for k, v in self.signature.outputs.items()}
        self._keys = list(self.inputs)
        self._call = self.session.make_callable(list(self.outputs.values()),
                                                [self.inputs[k] for k in self._keys])

    def __call__(self, *args, **inputs) -> dict:
        if args:
            if len(args) != 1 or len(self._keys) != 1 or inputs:
                raise TypeError(f"call the model with its inputs by key: "
                                f"{', '.join(self._keys)}")
            inputs = {self._keys[0]: args[0]}
        unknown = sorted(set(inputs) - set(self._keys))
        missing = [k for k in self._keys if k not in inputs]
        if unknown or missing:
            raise TypeError(f"the model takes inputs {', '.join(self._keys)}; "
                            + (f"missing {', '.join(missing)}" if missing else "")
                            + ("; " if missing and unknown else "")
                            + (f"unknown {', '.join(unknown)}" if unknown else ""))
        values = self._call(*[inputs[k] for k in self._keys])
        return dict(zip(self.outputs, values))

    def close(self) -> None:
        self.session.close()


def load(export_dir, target=None, config=None) -> LoadedModel:
    return LoadedModel(export_dir, target, config)


def simple_save(session, export_dir, inputs, outputs, legacy_init_op=None) -> None:
    """TF1's tf.saved_model.simple_save."""
    save(session, export_dir, inputs, outputs)
