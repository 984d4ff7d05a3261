"""Reading an ONNX model, and what it declares about its tensors.

`read_model` accepts a path, bytes or a ModelProto and refuses, with the reason, anything
that is not a complete model: a truncated or corrupt file, a model without a graph, a
tensor whose external data file is missing. `declared_types` gathers the element types and
shapes the model states (graph inputs, outputs and value_info, in subgraphs too) next to
what onnx's own shape inference adds; the importer checks graphc's shapes against the
first and uses both to fill in what graphc cannot see (a reshape to a computed shape).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from graphc.onnx.errors import ModelFileError


def require_onnx():
    """The onnx package, or an ImportError that names the extra to install."""
    try:
        import onnx
    except ImportError:
        raise ImportError("graphc.onnx needs the onnx package: pip install graphc[onnx]") \
            from None
    return onnx


def read_model(model, base_dir: Optional[str] = None, info: Optional[dict] = None,
               label: Optional[str] = None):
    """A ModelProto with its external data loaded, from a path, bytes or a ModelProto.
    `info`, a dict, receives "external": whether any tensor's data came from another
    file. `label` names bytes in errors (the file they were read from)."""
    onnx = require_onnx()
    external = 0
    if isinstance(model, onnx.ModelProto):
        proto = model
        if base_dir is not None:
            external = _load_external(proto, base_dir, "the model")
    elif isinstance(model, (bytes, bytearray, memoryview)):
        what = label or "the model bytes"
        proto = _parse(onnx, bytes(model), what)
        if base_dir is not None:
            external = _load_external(proto, base_dir, what)
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelFileError(f"no ONNX model file at {path!r}")
        with open(path, "rb") as f:
            proto = _parse(onnx, f.read(), repr(path))
        external = _load_external(proto, base_dir or os.path.dirname(os.path.abspath(path)),
                                  repr(path))
    else:
        raise TypeError(f"expected an ONNX model as a path, bytes or onnx.ModelProto, got "
                        f"{type(model).__name__}")
    if info is not None:
        info["external"] = bool(external)
    _check_complete(proto)
    if len(proto.functions):
        from onnx import inliner
        proto = inliner.inline_local_functions(proto)
    return proto


def _parse(onnx, data: bytes, what: str):
    from google.protobuf.message import DecodeError
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"cannot read {what} as an ONNX model: the data is truncated or "
                             f"not an ONNX protobuf ({e})") from None
    if not proto.HasField("graph"):
        raise ModelFileError(f"{what} is not an ONNX model: it has no graph (an empty, "
                             "truncated or unrelated file)")
    return proto


def _load_external(proto, base_dir: str, what: str) -> int:
    """Load the data of the tensors kept in other files; how many there were."""
    from onnx import external_data_helper as ext
    tensors = [t for t in _all_tensors(proto.graph) if ext.uses_external_data(t)]
    for tensor in tensors:
        try:
            ext.load_external_data_for_tensor(tensor, base_dir)
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{what}: cannot load the external data of tensor "
                                 f"'{tensor.name}' from {base_dir!r}: {e}") from None
        ext.remove_external_data_field(tensor, "location")
        tensor.data_location = 0  # DEFAULT: the data is in the proto now
    return len(tensors)


def _all_tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for g in subgraphs_of(attr):
                yield from _all_tensors(g)


def subgraphs_of(attr) -> list:
    out = [attr.g] if attr.HasField("g") else []
    return out + list(attr.graphs)


def _check_complete(proto) -> None:
    """Structural checks a truncated file is likely to fail: every node input and graph
    output is produced somewhere, every initializer's data is all there."""
    from onnx import external_data_helper as ext
    graph = proto.graph
    if not graph.output:
        raise ModelFileError("the model's graph has no outputs (a truncated or empty file?)")
    for tensor in _all_tensors(graph):
        if ext.uses_external_data(tensor):
            raise ModelFileError(f"tensor '{tensor.name}' keeps its data in an external file; "
                                 "load the model from its path (or pass base_dir=) so graphc "
                                 "can find it")
        _check_tensor_size(tensor)
    _check_produced(graph, set())


def _check_tensor_size(tensor) -> None:
    from onnx import numpy_helper
    try:
        numpy_helper.to_array(tensor)
    except Exception as e:  # numpy's reshape of a short buffer: a truncated initializer
        raise ModelFileError(f"tensor '{tensor.name}' does not hold the {list(tensor.dims)} "
                             f"elements it declares (a truncated or corrupt file?): {e}") \
            from None


def _check_produced(graph, outer: set) -> None:
    known = set(outer) | {i.name for i in graph.input} | {t.name for t in graph.initializer}
    known |= {t.values.name for t in graph.sparse_initializer}
    produced = set()
    for node in graph.node:
        produced.update(o for o in node.output if o)
    for node in graph.node:
        for attr in node.attribute:
            for g in subgraphs_of(attr):
                _check_produced(g, known | produced)
        missing = [x for x in node.input if x and x not in known and x not in produced]
        if missing:
            raise ModelFileError(f"node '{node.name or node.op_type}' ({node.op_type}) reads "
                                 f"{missing}, which nothing in the model produces (a truncated "
                                 "or corrupt file?)")
    missing = [o.name for o in graph.output if o.name not in known | produced]
    if missing:
        raise ModelFileError(f"the graph's outputs {missing} are not produced by any node "
                             "(a truncated or corrupt file?)")


# --- what the model says about its tensors --------------------------------------------------
def tensor_type(value_info):
    """(element type, dims or None) of a ValueInfoProto holding a tensor; dims are ints,
    None for a symbolic or unknown dim. (0, None) for a non-tensor or untyped value."""
    t = value_info.type
    if not t.HasField("tensor_type"):
        return 0, None
    tt = t.tensor_type
    if not tt.HasField("shape"):
        return tt.elem_type, None
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return tt.elem_type, dims


def is_tensor_value(value_info) -> bool:
    return value_info.type.HasField("tensor_type") or not value_info.type.ListFields()


def declared_types(graph, into: Optional[dict] = None) -> dict:
    """name -> (element type, dims) for every value the graph (and its subgraphs) declares."""
    out = {} if into is None else into
    for t in graph.initializer:
        out[t.name] = (t.data_type, tuple(t.dims))
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.type.HasField("tensor_type"):
            out[vi.name] = tensor_type(vi)
    for node in graph.node:
        for attr in node.attribute:
            for g in subgraphs_of(attr):
                declared_types(g, out)
    return out


_LARGE_INITIALIZER = 4096  # elements; shape inference reads only small ones' values


def _without_large_initializers(proto):
    """A copy of the model whose large initializers are typed graph inputs instead: what
    shape inference needs of them is their type, and serializing a model of 100 MB of
    weights for it took longer than the inference itself."""
    from onnx import ModelProto, helper
    large = [t for t in proto.graph.initializer
             if int(np.prod(t.dims, dtype=np.int64)) > _LARGE_INITIALIZER]
    if not large:
        return proto
    light = ModelProto()
    for field, value in proto.ListFields():
        if field.name != "graph":
            _copy_field(light, field, value)
    names = {t.name for t in large}
    graph = light.graph
    for field, value in proto.graph.ListFields():
        if field.name == "initializer":
            graph.initializer.extend(t for t in value if t.name not in names)
        else:
            _copy_field(graph, field, value)
    declared = {vi.name for vi in graph.input}
    graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                       for t in large if t.name not in declared)
    return light


def _copy_field(message, field, value) -> None:
    repeated = field.is_repeated if hasattr(field, "is_repeated") else \
        field.label == field.LABEL_REPEATED  # protobuf before 5.29
    if repeated:
        getattr(message, field.name).extend(value)
    elif field.message_type is not None:
        getattr(message, field.name).CopyFrom(value)
    else:
        setattr(message, field.name, value)


def inferred_types(proto) -> dict:
    """name -> (element type, dims) after onnx's shape inference (empty if it fails)."""
    from onnx import shape_inference
    try:
        inferred = shape_inference.infer_shapes(
            _with_stft_default(_without_large_initializers(proto), proto),
            strict_mode=False, data_prop=True)
    except Exception:  # inference is a help, not a requirement: the importer checks anyway
        return {}
    return declared_types(inferred.graph)


def _with_stft_default(light, proto):
    """onnx's shape inference reads an STFT node's missing `onesided` as 0 where the op's
    default is 1 (its schema, onnx's reference and onnxruntime), giving the two-sided
    shape: the model (a copy, if `light` is still `proto`) with the default written out."""
    def missing(graph):
        for node in graph.node:
            if node.op_type == "STFT" and not any(a.name == "onesided" for a in node.attribute):
                yield node
            for attr in node.attribute:
                for g in subgraphs_of(attr):
                    yield from missing(g)
    if next(missing(light.graph), None) is None:
        return light
    if light is proto:
        from onnx import ModelProto
        light = ModelProto()
        light.CopyFrom(proto)
    from onnx import helper
    for node in list(missing(light.graph)):
        node.attribute.append(helper.make_attribute("onesided", 1))
    return light
