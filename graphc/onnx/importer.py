"""ONNX import: a model becomes a graphc graph of placeholders (the model's inputs) and
tensors (its outputs), built through the same TF1-style API a user writes.

    imported = import_model("model.onnx")
    with tf.Session(graph=imported.graph) as sess:
        y = sess.run(imported.outputs["y"], {imported.inputs["x"]: x})

What happens, in order:
1. read the model (graphc/onnx/model_file.py): a truncated or corrupt file is refused;
2. check every node, subgraphs included, against the converter table: every unsupported
   op, attribute value or element type is listed in one UnsupportedModelError;
3. build: initializers become constants (or variables, `initializers="variables"`), inputs
   placeholders whose symbolic dims are None, each node its converter's tensors. The shapes
   the model declares are checked against graphc's (a contradiction is an error naming the
   tensor) and refine what graphc cannot see.
Inputs that must be known at import time (a Slice's starts, a Pad's pads) are read from
initializers and Constant nodes and folded through shape arithmetic; when they come from a
graph input, ConstantInputError names it, and `constants={name: value}` fixes it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.graph import Graph
from graphc.ir import dtypes
from graphc.ir.shapes import format_shape
from graphc.ir.values import node_value
from graphc.onnx import formats, functions, model_file, registry, table
from graphc.onnx.checks import Types, check_support, node_name
from graphc.onnx.context import Context, Scope
from graphc.onnx.errors import ConstantInputError, OnnxImportError, UnsupportedModelError
from graphc.ops import array_ops as A
from graphc.ops.tensor import Tensor, constant, make_tensor

_GRAPHC_DTYPES = tuple(np.dtype(t) for t in ("float16", "float32", "float64", "int32", "int64",
                                              "bool"))


@dataclasses.dataclass
class ImportedModel:
    """The result of import_model: a graph with the model's inputs and outputs in it.

    inputs: ONNX input name -> placeholder (model order, initializers excluded).
    outputs: ONNX output name -> tensor (model order).
    variables: the variables made from initializers (initializers="variables"), whose
    `initializer` op must run once in a session before the outputs are fetched.
    """

    graph: Graph
    inputs: dict
    outputs: dict
    variables: list
    opset: int
    producer: str = ""
    # ONNX name -> the numpy dtype the model gives it, for inputs and outputs whose type
    # graphc carries in a wider integer (uint8 in int32...): feed and read them as these
    narrow: dict = dataclasses.field(default_factory=dict)

    @property
    def initializer(self):
        """The op that sets the variables to the model's initializer values."""
        from graphc.ops.variables import variables_initializer
        with self.graph.as_default():
            return variables_initializer(self.variables)


def import_model(model, *, graph: Optional[Graph] = None, constants: Optional[dict] = None,
                 input_shapes: Optional[dict] = None, initializers: str = "constants",
                 base_dir: Optional[str] = None,
                 inferred: Optional[dict] = None) -> ImportedModel:
    """Import an ONNX model (a path, bytes or onnx.ModelProto) into `graph` (a new one by
    default).

    constants: graph input name -> value, to fix an input to a value (it is then no
        placeholder): what ConstantInputError asks for.
    input_shapes: graph input name -> shape, overriding the declared one (symbolic dims
        become None otherwise).
    initializers: "constants" (default) or "variables": float initializers become
        trainable variables, for fine-tuning; values used as shapes or axes stay constants.
    base_dir: where a ModelProto or bytes keep their external data files.
    inferred: `model_file.inferred_types` of the model, when the caller has it already.
    """
    if initializers not in ("constants", "variables"):
        raise ValueError(f"initializers must be 'constants' or 'variables', got "
                         f"{initializers!r}")
    proto = model_file.read_model(model, base_dir)
    opsets = _opsets(proto)
    declared = model_file.declared_types(proto.graph)
    if inferred is None:
        inferred = model_file.inferred_types(proto)
    check_support(proto.graph, opsets, {**inferred, **declared})
    graph = graph or Graph()
    builder = _Builder(graph, opsets, declared, inferred, initializers == "variables")
    with graph.as_default():
        inputs, outputs = builder.build_main(proto.graph, dict(constants or {}),
                                             dict(input_shapes or {}))
    narrow = {vi.name: registry.numpy_dtype(model_file.tensor_type(vi)[0])
              for vi in list(proto.graph.input) + list(proto.graph.output)
              if registry.is_carried(model_file.tensor_type(vi)[0])}
    return ImportedModel(graph, inputs, outputs, builder.variables, opsets.get("", 1),
                         proto.producer_name, narrow)


def _opsets(proto) -> dict:
    opsets = {}
    for o in proto.opset_import:
        opsets["" if o.domain in registry.DEFAULT_DOMAINS else o.domain] = o.version
    if "" not in opsets:
        opsets[""] = 1 if proto.ir_version < 3 else 0
    return opsets


# --- building -------------------------------------------------------------------------------
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_name(name: str) -> str:
    """An ONNX tensor name as a graphc op name (no '/' or ':')."""
    out = _SAFE.sub("_", name) or "value"
    return out if out[0].isalnum() or out[0] == "." else "v" + out


class _Builder:
    def __init__(self, graph, opsets, declared, inferred, as_variables: bool):
        self.graph = graph
        self.opsets = opsets
        self.declared = declared
        self.inferred = inferred
        self.as_variables = as_variables
        self.variables: list = []
        self.placeholders: dict = {}  # placeholder node -> ONNX input name
        self.initializers: set = set()  # the main graph's initializer names
        self.derived: dict = {}  # name -> element type found on import (not declared)
        self.types = Types({**inferred, **declared})

    # inputs and initializers
    def build_main(self, graph_proto, constants, input_shapes):
        scope = Scope()
        inits = {t.name: t for t in graph_proto.initializer}
        self.initializers = set(inits)
        for name, tensor in inits.items():
            scope.values[name] = self._initializer_value(tensor)
        inputs = {}
        for vi in graph_proto.input:
            if vi.name in inits:
                self._check_initializer_shape(vi, scope.values[vi.name])
                continue
            if vi.name in constants:
                scope.values[vi.name] = self._fixed_input(vi, constants.pop(vi.name))
                continue
            inputs[vi.name] = self._placeholder(vi, input_shapes.pop(vi.name, None))
            scope.tensors[vi.name] = inputs[vi.name]
        unknown = sorted(set(constants) | set(input_shapes))
        if unknown:
            raise OnnxImportError(f"constants/input_shapes name {unknown}, which are not inputs "
                                  f"of the model (its inputs: {list(inputs) or 'none'})")
        for name in inits:  # first, so they get the model's names rather than node scopes
            self.tensor(scope, name, "initializer")
        self.import_nodes(graph_proto, scope)
        outputs = {}
        for vi in graph_proto.output:
            t = self.tensor(scope, vi.name, "graph output")
            outputs[vi.name] = A.identity(t, name=safe_name(vi.name))
        return inputs, outputs

    def _initializer_value(self, tensor) -> np.ndarray:
        from onnx import numpy_helper
        value = numpy_helper.to_array(tensor)
        if registry.graphc_dtype(tensor.data_type) is None:
            raise UnsupportedModelError([(tensor.name, "(initializer)", registry.type_problem(
                tensor.data_type))])
        return value

    def _check_initializer_shape(self, vi, value) -> None:
        elem, dims = model_file.tensor_type(vi)
        if dims is not None and not _compatible(value.shape, dims):
            raise OnnxImportError(f"initializer '{vi.name}' has shape {list(value.shape)} but "
                                  f"the graph declares input '{vi.name}' with shape "
                                  f"{_dims_text(dims)}")
        if elem and elem != _elem_of(value):
            raise OnnxImportError(f"initializer '{vi.name}' holds {value.dtype} but the graph "
                                  f"declares input '{vi.name}' as "
                                  f"{registry.onnx_type_name(elem)}")

    def _fixed_input(self, vi, value) -> np.ndarray:
        elem, dims = model_file.tensor_type(vi)
        want = registry.graphc_dtype(elem)
        arr = np.asarray(value)
        if registry.is_carried(elem) and arr.dtype == registry.numpy_dtype(elem):
            arr = arr.astype(want.np)  # into its carrier, exactly
        elif want is not None and not dtypes.can_cast_losslessly(arr, want):
            raise OnnxImportError(f"constants['{vi.name}'] of dtype {arr.dtype} does not fit "
                                  f"the input's type {want}")
        arr = arr.astype(want.np) if want is not None else arr
        if dims is not None and not _compatible(arr.shape, dims):
            raise OnnxImportError(f"constants['{vi.name}'] has shape {list(arr.shape)}, the "
                                  f"input is declared {_dims_text(dims)}")
        return arr

    def _placeholder(self, vi, shape) -> Tensor:
        elem, dims = model_file.tensor_type(vi)
        dtype = registry.graphc_dtype(elem)
        if dtype is None:
            raise OnnxImportError(f"graph input '{vi.name}' has no tensor element type")
        if shape is not None:
            shape = tuple(None if d is None or d < 0 else int(d) for d in shape)
            if dims is not None and not _compatible(shape, dims):
                raise OnnxImportError(f"input_shapes['{vi.name}'] = {list(shape)} contradicts "
                                      f"the declared shape {_dims_text(dims)}")
            dims = shape
        p = A.placeholder(dtype, dims, name=safe_name(vi.name))
        self.placeholders[p.node] = vi.name
        return p

    # values
    def tensor(self, scope: Scope, name: str, what: str) -> Tensor:
        owner = scope.find(name)
        if owner is None:
            raise OnnxImportError(f"{what} '{name}' is not produced by any node")
        if name not in owner.tensors:
            with self.graph.name_scope(None):  # named as in the model, not under a node
                owner.tensors[name] = self._materialize(owner, name)
        return owner.tensors[name]

    def _materialize(self, owner: Scope, name: str) -> Tensor:
        """A tensor for a value known at import time: a constant, or a variable for a float
        initializer of the main graph when initializers="variables"."""
        value = owner.values[name]
        elem = registry.elem_type_of(value.dtype)
        if self.as_variables and value.dtype.kind == "f" and name in self.initializers \
                and not registry.is_carried(elem):
            from graphc.ops.variables import Variable
            var = Variable(value, name=safe_name(name))
            self.variables.append(var)
            return var.value()
        if registry.is_carried(elem):
            value = value.astype(registry.graphc_dtype(elem).np)
        if value.dtype in _GRAPHC_DTYPES:
            # the importer's own array, or a view of the model's bytes (numpy_helper made
            # either): the node keeps it uncopied where make_node can (node._normalize_attr)
            if value.flags.owndata:
                value.setflags(write=False)
            return make_tensor("constant", (), {"value": value}, safe_name(name))
        return constant(value, name=safe_name(name))

    def value(self, scope: Scope, name: str) -> Optional[np.ndarray]:
        """The value of `name` if known at import time, else None."""
        owner = scope.find(name)
        if owner is None:
            return None
        if name in owner.values:
            return owner.values[name]
        return node_value(owner.tensors[name].node)

    def depends_on(self, t: Tensor) -> list:
        """The ONNX graph inputs whose values `t` is computed from."""
        seen, stack, found = set(), [t.node], []
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in self.placeholders:
                found.append(self.placeholders[node])
            stack.extend(node.inputs)
            for region in ("then", "else", "cond", "body"):
                if region in node.attrs and hasattr(node.attrs[region], "outputs"):
                    stack.extend(getattr(node.attrs[region], "outputs", ()))
        return sorted(found)

    def shape_depends_on(self, t: Tensor) -> list:
        """The ONNX graph inputs whose values decide `t`'s unknown dims: the shape operands
        of reshapes and broadcasts on the way to it (fixing them makes the dims static)."""
        seen, stack, found = set(), [t.node], set()
        while stack:
            node = stack.pop()
            if node in seen or (node.shape is not None and None not in node.shape):
                continue
            seen.add(node)
            if node.op.name in ("reshape", "broadcast_to") and len(node.inputs) == 2:
                found.update(self.depends_on(Tensor(node.inputs[1], self.graph, "")))
                stack.append(node.inputs[0])
                continue
            stack.extend(node.inputs)
        return sorted(found)

    # nodes
    def import_nodes(self, graph_proto, scope: Scope) -> None:
        self._import_list(list(graph_proto.node), scope, self.opsets, "")

    def _import_list(self, nodes, scope: Scope, opsets: dict, prefix: str) -> None:
        for i, proto in enumerate(_topological(nodes, scope)):
            domain = "" if proto.domain in registry.DEFAULT_DOMAINS else proto.domain
            name = prefix + node_name(proto, i)
            conv = table.lookup(domain, proto.op_type)
            if conv is None:  # an op ONNX defines as a function: import its body
                body, inner = functions.expansion(proto, opsets, self.types.full, name + "/")
                self._import_list(body, scope, inner, name + "/")
                continue
            view = registry.NodeView(proto, opsets[domain], name, self.types)
            ctx = Context(self, view, scope)
            try:
                with self.graph.name_scope(safe_name(name)):
                    results = conv.convert(ctx)
            except (ConstantInputError, UnsupportedModelError):
                raise
            except OnnxImportError as e:
                raise type(e)(_at(view, str(e))) from None
            except (ShapeError, DTypeError, ValueError, TypeError, NotImplementedError) as e:
                raise OnnxImportError(_at(view, f"{type(e).__name__}: {e}")) from e
            self._bind_outputs(ctx, view, scope, results)

    def _bind_outputs(self, ctx, view, scope, results) -> None:
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        for k, out_name in enumerate(view.outputs):
            if not out_name:
                continue
            if k >= len(results) or results[k] is None:
                raise OnnxImportError(_at(view, f"graphc does not compute output {k} "
                                                f"('{out_name}') of {view.op_type}"))
            result = results[k]
            if isinstance(result, np.ndarray):
                scope.values[out_name] = result
                self.derived[out_name] = registry.elem_type_of(result.dtype)
                continue
            elem = self.types.get(out_name, 0) or self._derive_type(view, result)
            self.derived[out_name] = elem
            if elem in registry.NARROW and view.op_type not in _KEEPS_RANGE:
                result = registry.wrap_narrow(result, elem)
            elif elem in registry.NARROW_FLOATS and view.op_type not in _KEEPS_VALUES:
                result = formats.round_to(result, elem, saturate=False)
            scope.tensors[out_name] = self._checked(view, out_name, result)

    def elem_of(self, name: str) -> int:
        """The ONNX element type of a value: declared, inferred, or derived on import."""
        return self.types.get(name, 0) or self.derived.get(name, 0)

    def _derive_type(self, view, result: Tensor) -> int:
        """The element type of an output no one declares (inside an op's function body):
        Cast's target, CastLike's model, else that of the first input of a known type
        whose carrier the result has (ops that keep their inputs' type). It decides
        whether a narrow integer is wrapped back into its range."""
        if view.op_type == "Cast":
            return int(view.attr("to", 0))
        if view.op_type == "CastLike":
            return self.elem_of(view.inputs[1])
        for x in view.inputs:
            elem = self.elem_of(x) if x else 0
            if elem and registry.graphc_dtype(elem) is result.dtype:
                return elem
        return 0

    def _checked(self, view, name: str, t: Tensor) -> Tensor:
        """`t` checked against the model's declarations for `name`, its static shape refined
        by them (and by onnx's shape inference) where graphc's is less specific."""
        for source, known in (("the model declares", self.declared),
                              ("onnx's shape inference gives", self.inferred)):
            if name not in known:
                continue
            elem, dims = known[name]
            want = registry.graphc_dtype(elem) if elem else None
            if want is not None and t.dtype is not want:
                raise OnnxImportError(_at(view, f"output '{name}' is {t.dtype} in graphc but "
                                                f"{source} {registry.onnx_type_name(elem)}"))
            shape = t.node.shape
            if dims is None or shape is None:
                continue
            if not _compatible(shape, dims):
                raise OnnxImportError(_at(view, f"output '{name}' has shape "
                                                f"{format_shape(shape)} in graphc but {source} "
                                                f"{_dims_text(dims)}"))
            if any(s is None and d is not None for s, d in zip(shape, dims)):
                t = A.ensure_shape(t, [d if s is None else s for s, d in zip(shape, dims)])
        return t


# ops whose integer outputs are some of their inputs' elements (or fixed small values), so a
# narrow integer stays in its range without wrapping
_KEEPS_RANGE = frozenset((
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split",
    "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Max", "Min", "Where",
    "ReduceMax", "ReduceMin", "MaxPool", "GlobalMaxPool", "TopK", "Compress", "Clip",
    "ReverseSequence", "DepthToSpace", "SpaceToDepth", "If", "Loop", "Scan", "Mod"))

# ops whose float outputs are values their inputs hold (or exact functions of them), so a
# narrow float needs no rounding after them; Cast and CastLike round themselves
_KEEPS_VALUES = _KEEPS_RANGE | {"Cast", "CastLike", "Neg", "Abs", "Relu"}


def _topological(nodes: list, scope: Scope) -> list:
    """The nodes in an order where each runs after what it reads (ONNX requires the stored
    order to be one; a few exporters get it wrong)."""
    available = set(_visible(scope))
    produced = {o for n in nodes for o in n.output}
    order, pending = [], nodes
    while pending:
        later = []
        for n in pending:
            needs = [x for x in n.input if x and x in produced and x not in available]
            if needs:
                later.append(n)
            else:
                order.append(n)
                available.update(n.output)
        if len(later) == len(pending):
            names = ", ".join(node_name(n, 0) for n in later[:5])
            raise OnnxImportError(f"the graph has a cycle through nodes {names}")
        pending = later
    return order


def _visible(scope: Scope):
    while scope is not None:
        yield from scope.tensors
        yield from scope.values
        scope = scope.parent


def _at(view, message: str) -> str:
    return f"node '{view.name}' ({view.op_type}, opset {view.opset}): {message}"


def _compatible(shape, dims) -> bool:
    return len(shape) == len(dims) and all(
        a is None or b is None or a == b for a, b in zip(shape, dims))


def _dims_text(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _elem_of(value: np.ndarray) -> int:
    return registry.elem_type_of(value.dtype) or -1
