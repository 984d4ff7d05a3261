"""Building tensors: make_tensor and make_operation (a node in a graph, under a name), and
conversion of Python and numpy values to tensors. The handles themselves (Tensor,
Operation, TensorShape) live in graphc.framework.tensor and are re-exported here."""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
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
from graphc.ir.shapes import normalize_axis


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
    arr = np.array(arr, dtype=target.np, order="C")  # the graph's own copy, read-only, so
    arr.setflags(write=False)  # that the node keeps it as it is (no second copy)
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


# --- promotion and packing ------------------------------------------------------------------
def _weak_kind(value):
    """'b', 'i' or 'f' for a Python/numpy scalar (weakly typed); None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return "b"
    if isinstance(value, (int, np.integer)):
        return "i"
    if isinstance(value, (float, np.floating)):
        return "f"
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return "i" if value.dtype.kind == "u" else value.dtype.kind
    return None


def promote_operands(values, name: str = "op"):
    """Tensors of one common dtype for `values` (tensors, arrays, scalars)."""
    strong, weak = [], []
    for v in values:
        kind = None if is_tensor_like(v) else _weak_kind(v)
        (weak if kind else strong).append((v, kind))
    graph = graph_of(values)
    if strong:
        tensors = [convert_to_tensor(v, graph=graph) for v, _ in strong]
        target = tensors[0].dtype
        for t in tensors[1:]:
            target = dtypes.promote(target, t.dtype)
    else:
        target = None
    for v, kind in weak:
        target = (dtypes.default_dtype_of_kind(kind) if target is None
                  else dtypes.promote_weak(target, kind))
    out = []
    for v in values:
        if is_tensor_like(v) or _weak_kind(v) is None:
            t = convert_to_tensor(v, graph=graph)
            out.append(t if t.dtype is target else cast(t, target))
        else:
            out.append(_weak_constant(v, target, graph, name))
    return out


def _weak_constant(value, dtype, graph, op_name):
    if dtype.kind == "i" and not dtypes.can_cast_losslessly(np.asarray(value), dtype):
        raise DTypeError(f"{op_name}: Python value {value!r} does not fit in {dtype}")
    return constant(np.asarray(value).astype(dtype.np), graph=graph)


def cast(x, dtype, name=None):
    """Convert to `dtype`; float -> int truncates toward zero, nonzero -> True."""
    x = convert_to_tensor(x)
    dtype = dtypes.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return make_tensor("cast", (x,), {"dtype": dtype}, name or "Cast")


def scalar(value, dtype) -> Tensor:
    """`value` as a scalar constant of `dtype`: 0 and 1 are False and True for bool."""
    return constant(np.asarray(value).astype(dtypes.as_dtype(dtype).np))


def stack(values, axis=0, name="stack") -> Tensor:
    """tf.stack: tensors of one shape along a new axis (convert_to_tensor packs nested lists
    holding tensors with it, along axis 0)."""
    values = promote_operands(list(values), "stack")
    if not values:
        raise ValueError("stack needs at least one tensor")
    rank = values[0].node.rank
    axis = normalize_axis(axis, (rank or 0) + 1, "stack axis")
    for v in values:
        if v.node.rank is None:
            raise ShapeError(f"expand_dims needs a tensor of known rank, '{v.name}' has none")
    expanded = [make_tensor("expand_dims", (v,), {"axis": axis}, "ExpandDims") for v in values]
    for v in values[1:]:
        if not v.shape.is_compatible_with(values[0].shape):
            raise ShapeError(f"stack: shapes of all inputs must match: {values[0].shape} and "
                             f"{v.shape}")
    if len(expanded) == 1:
        return make_tensor("identity", (expanded[0],), name=name)
    return make_tensor("concat", tuple(expanded), {"axis": axis}, name)
