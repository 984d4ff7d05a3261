"""User-facing handles on L1 nodes: Tensor, Operation and TensorShape (graphc.ops.tensor
converts Python and numpy values to tensors and builds them).

A Tensor is (graph, node, name): the node says what is computed, the name is the one the
user asked for (two equal nodes built under two names are one node with two handles).
Operator overloads are attached in graphc.ops.overloads, once the math ops exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from graphc.framework.sessions import default_session_for
from graphc.ir import dtypes
from graphc.ir.node import Node
from graphc.ir.shapes import format_shape, merge_shapes, num_elements

if TYPE_CHECKING:
    from graphc.framework.graph import Graph


class Dimension(int):
    """A known dimension; an int with TF1's `.value` spelling."""

    @property
    def value(self) -> int:
        return int(self)


class TensorShape:
    """A static shape: known and unknown (None) dims, or an unknown rank."""

    def __init__(self, dims):
        if isinstance(dims, TensorShape):
            dims = dims.dims
        self.dims = None if dims is None else tuple(None if d is None else int(d)
                                                     for d in dims)

    @property
    def ndims(self) -> Optional[int]:
        return None if self.dims is None else len(self.dims)

    rank = ndims

    def as_list(self) -> list:
        if self.dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self.dims)

    def is_fully_defined(self) -> bool:
        return num_elements(self.dims) is not None

    def num_elements(self) -> Optional[int]:
        return num_elements(self.dims)

    def is_compatible_with(self, other) -> bool:
        other = TensorShape(other)
        if self.dims is None or other.dims is None:
            return True
        return len(self.dims) == len(other.dims) and all(
            a is None or b is None or a == b for a, b in zip(self.dims, other.dims))

    def __len__(self) -> int:
        if self.dims is None:
            raise ValueError("Cannot take the length of shape with unknown rank.")
        return len(self.dims)

    def __iter__(self):
        if self.dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter(self[i] for i in range(len(self.dims)))

    def __getitem__(self, key):
        if self.dims is None:
            return None if isinstance(key, int) else TensorShape(None)
        if isinstance(key, slice):
            return TensorShape(self.dims[key])
        d = self.dims[key]
        return None if d is None else Dimension(d)

    def __eq__(self, other) -> bool:
        try:
            return self.dims == TensorShape(other).dims
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dims)

    def __repr__(self) -> str:
        return f"TensorShape({None if self.dims is None else list(self.dims)})"

    def __str__(self) -> str:
        return format_shape(self.dims)


class Tensor:
    """A symbolic value in a graph, produced when a session runs it."""

    __slots__ = ("node", "graph", "_op_name")
    __array_priority__ = 100  # numpy defers `ndarray + tensor` to Tensor.__radd__
    __array_ufunc__ = None

    def __init__(self, node: Node, graph: Graph, op_name: str):
        self.node, self.graph, self._op_name = node, graph, op_name

    @property
    def dtype(self) -> dtypes.DType:
        return self.node.dtype

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self.node.shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    @property
    def name(self) -> str:
        return f"{self._op_name}:0"

    @property
    def op(self) -> "Operation":
        return Operation(self.node, self.graph, self._op_name)

    @property
    def location(self) -> str:
        info = self.graph.info(self.node)
        return info.location if info else "<unknown>"

    def eval(self, feed_dict=None, session=None):
        return default_session_for(session, self.graph).run(self, feed_dict)

    def set_shape(self, shape) -> None:
        """Refine the static shape (TF1). The handle then stands for an `ensure_shape` of the
        old node, which checks the shape at run time; ops built afterwards see the refined
        shape, and feeding this tensor feeds the original."""
        wanted = TensorShape(shape).dims
        if not self.shape.is_compatible_with(wanted):
            raise ValueError(f"Shapes {self.shape} and {TensorShape(shape)} are incompatible "
                             f"(tensor {self.name})")
        merged = merge_shapes(self.node.shape, wanted)
        if merged != self.node.shape:
            self.node, _ = self.graph.create("ensure_shape", [self.node], {"shape": merged},
                                             f"{self._op_name}/set_shape", control=False)

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape={self.shape} dtype={self.dtype}>"

    def __bool__(self):
        raise TypeError("Using a tf.Tensor as a Python `bool` is not allowed in graph mode: "
                        f"'{self.name}' has no value until a Session runs it. Use tf.where or "
                        "fetch the value with Session.run.")

    def __iter__(self):
        raise TypeError(f"Tensor '{self.name}' is not iterable in graph mode; use tf.unstack")

    def __len__(self):
        raise TypeError(f"len() of a symbolic Tensor '{self.name}' is not defined; use "
                        "tensor.shape[0] or tf.shape(tensor)[0]")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Cannot convert a symbolic Tensor ('{self.name}') to a numpy array; "
                        "run it in a Session to get its value")

    __hash__ = object.__hash__  # TF1: tensors compare and hash by identity


class Operation:
    """A node seen as an operation: what `tf.group`, initializers and `tensor.op` give."""

    __slots__ = ("node", "graph", "name")

    def __init__(self, node: Node, graph: Graph, name: str):
        self.node, self.graph, self.name = node, graph, name

    @property
    def type(self) -> str:
        return self.node.op.name

    @property
    def inputs(self) -> list:
        return [handle(x, self.graph) for x in self.node.inputs]

    @property
    def control_inputs(self) -> list:
        return [Operation(d, self.graph, name_of(d, self.graph)) for d in self.node.deps]

    @property
    def outputs(self) -> list:
        return [] if self.node.dtype is None else [Tensor(self.node, self.graph, self.name)]

    def run(self, feed_dict=None, session=None) -> None:
        default_session_for(session, self.graph).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"

    def __eq__(self, other):
        return isinstance(other, Operation) and other.node is self.node

    def __hash__(self):
        return hash(self.node)


def name_of(node: Node, graph: Graph) -> str:
    info = graph.info(node)
    return info.name if info else node.op.name


def handle(node: Node, graph: Graph) -> Tensor:
    return Tensor(node, graph, name_of(node, graph))
