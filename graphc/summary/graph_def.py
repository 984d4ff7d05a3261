"""graphc Graph -> TensorFlow GraphDef, for TensorBoard's graph view (FileWriter.add_graph).

One NodeDef per named op of the graph (graph.get_operations(): an interned node built under
two names appears twice, as the user built it), with its op in TF's spelling ('reduce_sum'
-> 'ReduceSum'), its inputs by name ('^name' for control inputs), a dtype and
`_output_shapes` attr where known (TensorBoard labels edges with them), and the node's
simple attrs. Inputs the graph never named (nodes built below the API) get names of their
own under '_unnamed/'. Summary ops, which are not graph nodes, appear with their inputs.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.summary.protos import protos


def tf_op_type(op_name: str) -> str:
    return "".join(part.capitalize() for part in op_name.split("_"))


def to_graph_def(graph):
    """The GraphDef proto of `graph` (see the module docstring)."""
    pb = protos("FileWriter.add_graph")
    names: dict = {}  # node -> the name its consumers use
    for name, node in graph._names.items():
        names.setdefault(node, name)
    defs = []
    name_of = _namer(names, defs, pb)
    for name, node in list(graph._names.items()):
        defs.append(_node_def(pb, name, node, name_of))
    from graphc.summary.ops import SUMMARY_OPS
    for fetch in SUMMARY_OPS.get(graph, []):
        inputs = [t.node for t in fetch.host_inputs()]
        node_def = pb.node_def_pb2.NodeDef(name=fetch.op_name, op=fetch.op_type)
        node_def.input.extend(name_of(n) for n in inputs)
        defs.append(node_def)
    graph_def = pb.graph_pb2.GraphDef(node=defs)
    graph_def.versions.producer = 22  # TF 1.x's GraphDef version; TensorBoard only displays
    return graph_def


def _namer(names: dict, defs: list, pb):
    """A function giving an input node's name, adding NodeDefs for unnamed ones."""
    def name_of(inp) -> str:
        found = names.get(inp)
        if found is None:
            found = names[inp] = f"_unnamed/{tf_op_type(inp.op.name)}_{len(names)}"
            defs.append(_node_def(pb, found, inp, name_of))
        return found
    return name_of


def _node_def(pb, name: str, node, name_of):
    node_def = pb.node_def_pb2.NodeDef(name=name, op=tf_op_type(node.op.name))
    node_def.input.extend(name_of(i) for i in node.inputs)
    node_def.input.extend(f"^{name_of(d)}" for d in node.deps)
    attr = node_def.attr
    for key, value in node.attrs.items():
        converted = _attr_value(pb, value)
        if converted is not None and key not in ("uid",):
            attr[key].CopyFrom(converted)
    if node.dtype is not None:
        attr["T" if "dtype" in attr else "dtype"].CopyFrom(_attr_value(pb, node.dtype))
        shapes = pb.attr_value_pb2.AttrValue.ListValue(shape=[_shape(pb, node.shape)])
        attr["_output_shapes"].CopyFrom(pb.attr_value_pb2.AttrValue(list=shapes))
    return node_def


_TYPES = {dtypes.float16: "DT_HALF", dtypes.float32: "DT_FLOAT", dtypes.float64: "DT_DOUBLE",
          dtypes.int32: "DT_INT32", dtypes.int64: "DT_INT64", dtypes.bool_: "DT_BOOL"}


def _attr_value(pb, value):
    """An AttrValue for the attr kinds TensorBoard shows (None for the others: regions,
    arrays)."""
    AttrValue = pb.attr_value_pb2.AttrValue  # noqa: N806 - a proto class
    if isinstance(value, dtypes.DType):
        return AttrValue(type=getattr(pb.types_pb2, _TYPES.get(value, "DT_INVALID")))
    if isinstance(value, (bool, np.bool_)):
        return AttrValue(b=bool(value))
    if isinstance(value, (int, np.integer)):
        return AttrValue(i=int(value))
    if isinstance(value, (float, np.floating)):
        return AttrValue(f=float(value))
    if isinstance(value, str):
        return AttrValue(s=value.encode("utf-8"))
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, np.integer))
                                                 and not isinstance(v, bool) for v in value):
        return AttrValue(list=AttrValue.ListValue(i=[int(v) for v in value]))
    return None


def _shape(pb, shape):
    proto = pb.tensor_shape_pb2.TensorShapeProto
    if shape is None:
        return proto(unknown_rank=True)
    return proto(dim=[proto.Dim(size=-1 if d is None else int(d)) for d in shape])
