"""Building tensors: make_tensor and make_operation (a node in a graph, under a name), and
conversion of Python and numpy values to tensors. The handles themselves (Tensor,
Operation, TensorShape) live in graphc.framework.tensor and are re-exported here."""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError
from graphc.framework.graph import Graph, get_default_graph
from graphc.framework.tensor import (  # noqa: F401 (the handles' usual home)
    Dimension,
    Operation,
    Tensor,
    TensorShape,
    handle,
    name_of,
)
from graphc.ir import dtypes


def make_tensor(op_name: str, inputs=(), attrs=None, name=None, graph=None,
                control: bool = True) -> Tensor:
    """Build a node from Tensor inputs and return a handle to it."""
    graph = graph or graph_of(inputs)
    node, full = graph.create(op_name, [t.node for t in inputs], attrs, name, control)
    return Tensor(node, graph, full)


def make_operation(op_name: str, attrs=None, name=None, graph=None) -> Operation:
    graph = graph or get_default_graph()
    node, full = graph.create(op_name, (), attrs, name)
    return Operation(node, graph, full)


def graph_of(values) -> Graph:
    """The graph the given tensors live in; they must all share it."""
    graph = None
    for v in values:
        g = getattr(v, "graph", None)
        if g is None:
            continue
        if graph is None:
            graph = g
        elif g is not graph:
            raise ValueError(f"{v!r} must be from the same graph as the other inputs")
    return graph or get_default_graph()


def is_tensor_like(value) -> bool:
    return isinstance(value, Tensor) or hasattr(value, "_as_graph_tensor")


def _contains_tensor(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_contains_tensor(v) for v in value)
    return is_tensor_like(value)


def python_default_dtype(value: np.ndarray, original) -> dtypes.DType:
    """The dtype a constant gets: numpy arrays keep theirs, Python numbers TF1's defaults."""
    if isinstance(original, (np.ndarray, np.generic)):
        return dtypes.as_dtype(value.dtype)
    if value.dtype.kind == "f":
        return dtypes.float32
    if value.dtype.kind in "iu":
        ok = value.size == 0 or (value.min() >= -2**31 and value.max() < 2**31)
        return dtypes.int32 if ok else dtypes.int64
    return dtypes.as_dtype(value.dtype)


def convert_to_tensor(value, dtype=None, name=None, graph=None) -> Tensor:
    """A Tensor for `value`: a Tensor or Variable as is, anything array-like as a constant.

    A requested dtype must hold the value without losing data (1.5 is not an int32), and a
    Tensor of another dtype is an error rather than a silent cast, as in TF1.
    """
    want = None if dtype is None else dtypes.as_dtype(dtype)
    if hasattr(value, "_as_graph_tensor"):
        value = value._as_graph_tensor()
    if isinstance(value, Tensor):
        if want is not None and value.dtype is not want:
            raise DTypeError(f"Tensor conversion requested dtype {want} for Tensor "
                             f"'{value.name}' of dtype {value.dtype}")
        return value
    if isinstance(value, (list, tuple)) and _contains_tensor(value):
        from graphc.ops.array_ops import stack
        parts = [convert_to_tensor(v, want, graph=graph) for v in value]
        return stack(parts, name=name or "packed")
    return constant(value, want, name=name, graph=graph)


def constant(value, dtype=None, shape=None, name: str = "Const", graph=None) -> Tensor:
    """tf.constant: a tensor holding `value`, broadcast to `shape` if given."""
    want = None if dtype is None else dtypes.as_dtype(dtype)
    try:
        arr = np.asarray(value)
    except ValueError as e:
        raise ValueError(f"cannot make a constant from {value!r}: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"cannot make a constant from a value of numpy dtype {arr.dtype} "
                         f"({value!r:.60}); graphc tensors hold bool, int and float")
    target = want or python_default_dtype(arr, value)
    if not dtypes.can_cast_losslessly(arr, target):
        raise DTypeError(f"Expected {target}, got {value!r:.60} of type "
                         f"'{type(value).__name__}' instead: the conversion would lose data")
    arr = arr.astype(target.np)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if arr.size == 1 or arr.shape == ():
            arr = np.broadcast_to(arr.reshape(()), shape)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValueError(f"Too many elements provided. Needed at most {int(np.prod(shape))}"
                             f", but received {arr.size}")
    return make_tensor("constant", (), {"value": arr}, name or "Const",
                       graph or get_default_graph())
