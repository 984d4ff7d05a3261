"""What a converter sees of the node it converts: its inputs as tensors or as values known
at import time, its attributes (with the schema's defaults), its opset, and a way to
import a subgraph (an If branch, a Loop body) inside a graphc region."""

from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.ir import dtypes
from graphc.onnx import registry
from graphc.onnx.errors import ConstantInputError, OnnxImportError
from graphc.ops.tensor import Tensor, constant


class Scope:
    """The values visible while importing one graph: its own, then its parents' (a
    subgraph reads outer values by name, as ONNX allows)."""

    def __init__(self, parent: Optional["Scope"] = None):
        self.parent = parent
        self.tensors: dict = {}
        self.values: dict = {}  # name -> numpy value known at import time

    def find(self, name: str):
        scope = self
        while scope is not None:
            if name in scope.tensors or name in scope.values:
                return scope
            scope = scope.parent
        return None


class Context:
    def __init__(self, builder, node: registry.NodeView, scope):
        self.builder = builder
        self.node = node
        self.scope = scope

    # --- the node ---------------------------------------------------------------------------
    @property
    def opset(self) -> int:
        return self.node.opset

    @property
    def name(self) -> str:
        return self.node.name

    def attr(self, name: str, default=None):
        return self.node.attr(name, default)

    def has_attr(self, name: str) -> bool:
        return self.node.has(name)

    def fail(self, message: str):
        raise OnnxImportError(message)

    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    def present(self, i: int) -> bool:
        return self.node.present(i)

    def wants(self, k: int) -> bool:
        """Whether output k is used (named) by the model."""
        return k < len(self.node.outputs) and self.node.outputs[k] != ""

    def input_type(self, i: int) -> int:
        """Input i's ONNX element type: declared, inferred or found while importing (0 if
        unknown or absent)."""
        if not self.present(i):
            return 0
        return self.builder.elem_of(self.node.inputs[i])

    def output_dtype(self, k: int) -> Optional[dtypes.DType]:
        """The element type the model (or shape inference) gives output k, if any."""
        if k >= len(self.node.outputs):
            return None
        return registry.graphc_dtype(self.builder.types.get(self.node.outputs[k], 0))

    # --- inputs -----------------------------------------------------------------------------
    def input(self, i: int) -> Optional[Tensor]:
        """Input i as a tensor, None when the node leaves it out."""
        if not self.present(i):
            return None
        return self.builder.tensor(self.scope, self.node.inputs[i], f"input {i} of "
                                                                    f"'{self.name}'")

    def inputs(self) -> list:
        """Every present input, in order."""
        return [self.input(i) for i in range(self.num_inputs) if self.present(i)]

    def value(self, i: int) -> Optional[np.ndarray]:
        """Input i's value if known at import time (None when absent or computed)."""
        if not self.present(i):
            return None
        return self.builder.value(self.scope, self.node.inputs[i])

    def const(self, i: int, what: str) -> np.ndarray:
        """Input i's value, which graphc needs at import time (`what` it is, for the error)."""
        value = self.value(i)
        if value is not None:
            return value
        if not self.present(i):
            raise OnnxImportError(f"{self.node.op_type} needs its {what} (input {i})")
        name = self.node.inputs[i]
        sources = self.builder.depends_on(self.input(i))
        via = (f"; it is computed from graph input(s) {sources}: fix them with "
               f"import_model(..., constants={{...}})") if sources else ""
        raise ConstantInputError(
            f"node '{self.name}' ({self.node.op_type}): its {what} '{name}' must be known when "
            f"the model is imported (graphc's shapes and {what} are static){via}", sources)

    def static_shape(self, x: Tensor, what: str) -> list:
        """x's dims, all of which `what` needs at import time. When they are unknown because
        a shape was computed from graph inputs, ConstantInputError names those inputs."""
        dims = x.node.shape
        if dims is not None and None not in dims:
            return list(dims)
        sources = self.builder.shape_depends_on(x)
        message = (f"node '{self.name}' ({self.node.op_type}): {what} needs the shape of "
                   f"{x.name} when the model is imported, got {x.shape}")
        if sources:
            raise ConstantInputError(f"{message}; it depends on graph input(s) {sources}",
                                     sources)
        raise OnnxImportError(message)

    def inferred_shape(self, k: int):
        """Output k's dims as the model declares them or onnx's shape inference gives them
        (None where unknown), or None."""
        if k >= len(self.node.outputs):
            return None
        name = self.node.outputs[k]
        for table in (self.builder.declared, self.builder.inferred):
            if name in table and table[name][1] is not None:
                return list(table[name][1])
        return None

    def ints(self, i: int, what: str) -> list:
        return registry.as_ints(self.const(i, what))

    def const_or_attr(self, i: int, attr: str, what: str):
        """An operand that moved from attribute to input in a later opset."""
        if self.has_attr(attr):
            return self.attr(attr)
        if self.present(i):
            return self.const(i, what)
        return self.attr(attr)

    def scalar(self, value, like: Tensor) -> Tensor:
        return constant(np.asarray(value).astype(like.dtype.np))

    # --- subgraphs --------------------------------------------------------------------------
    def subgraph(self, attr: str):
        g = self.attr(attr)
        if g is None:
            raise OnnxImportError(f"{self.node.op_type} needs its {attr} subgraph")
        return g

    def run_subgraph(self, graph_proto, args: list) -> list:
        """Import `graph_proto` with its inputs bound to `args`, in the current graphc scope
        (call it inside a cond branch or loop body); its output tensors, in order."""
        scope = Scope(self.scope)
        if len(args) != len(graph_proto.input):
            raise OnnxImportError(f"{self.node.op_type}: the subgraph '{graph_proto.name}' takes "
                                  f"{len(graph_proto.input)} inputs, {len(args)} given")
        for vi, arg in zip(graph_proto.input, args):
            scope.tensors[vi.name] = arg
        for t in graph_proto.initializer:
            scope.values[t.name] = self.builder._initializer_value(t)
        self.builder.import_nodes(graph_proto, scope)
        return [self.builder.tensor(scope, vi.name, "subgraph output")
                for vi in graph_proto.output]

    def capture(self, *graph_protos) -> None:
        """Make tensors, here and now (outside any region), of the outer values the
        subgraphs read, so a branch or loop body captures them rather than creating them
        inside itself."""
        for name in sorted(set().union(*(_outer_names(g) for g in graph_protos))):
            if self.scope.find(name) is not None:
                self.builder.tensor(self.scope, name, "captured value")


def _outer_names(graph_proto) -> set:
    """Names a graph (and its subgraphs) reads that it does not define itself."""
    from graphc.onnx.model_file import subgraphs_of
    defined = {vi.name for vi in graph_proto.input} | {t.name for t in graph_proto.initializer}
    read = set()
    for node in graph_proto.node:
        defined.update(node.output)
        read.update(x for x in node.input if x)
        for attr in node.attribute:
            for g in subgraphs_of(attr):
                read.update(_outer_names(g))
    read.update(vi.name for vi in graph_proto.output)
    return read - defined
