"""Building L1 nodes for gradients: the few operations VJP rules are written with.

A Value wraps a node with arithmetic operators, so a rule reads as its math
(`g * p.out * (1 - p.out)`); a Python number beside a Value becomes a constant of the Value's
dtype (numbers are weakly typed, as in the TF1 API). Every node is made through a Builder,
which gives it the control dependencies the gradients are built under. Operands must already
share a dtype: rules never promote, and a mismatch is a bug in the rule (DTypeError).
The functions take static shapes where the shape is known and read the shape at run time
where it is not (a None dimension), keeping what is known in the node's shape attribute.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import Node, make_node


class Builder:
    """Makes nodes that run after `deps` (the control dependencies in force)."""

    def __init__(self, deps=()):
        self.deps = tuple(deps)

    def make(self, op_name: str, inputs=(), attrs=None) -> Value:
        nodes = [x.node for x in inputs]
        return Value(make_node(prims.get(op_name), nodes, attrs, self.deps), self)

    def wrap(self, node: Node) -> Value:
        return Value(node, self)

    def constant(self, value, dtype) -> Value:
        array = np.asarray(value).astype(dtypes.as_dtype(dtype).np)
        return self.make("constant", (), {"value": array})


class Value:
    """A node seen by a VJP rule: its dtype and static shape, and arithmetic operators."""

    __slots__ = ("node", "builder")

    def __init__(self, node: Node, builder: Builder):
        self.node, self.builder = node, builder

    @property
    def dtype(self):
        return self.node.dtype

    @property
    def shape(self):
        """The static shape: a tuple with None for unknown dims, or None (unknown rank)."""
        return self.node.shape

    def _operand(self, other) -> Value:
        if isinstance(other, Value):
            return other
        return self.builder.constant(other, self.dtype)

    def _binary(self, op: str, other, reverse: bool = False) -> Value:
        other = self._operand(other)
        a, b = (other, self) if reverse else (self, other)
        if a.dtype is not b.dtype:
            raise DTypeError(f"{op} of {a.dtype} and {b.dtype} in a gradient rule")
        return self.builder.make(op, (a, b))

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._binary("add", other, reverse=True)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __rsub__(self, other):
        return self._binary("sub", other, reverse=True)

    def __mul__(self, other):
        return self._binary("mul", other)

    def __rmul__(self, other):
        return self._binary("mul", other, reverse=True)

    def __truediv__(self, other):
        return self._binary("div", other)

    def __rtruediv__(self, other):
        return self._binary("div", other, reverse=True)

    def __neg__(self):
        return self.builder.make("neg", (self,))

    def __gt__(self, other):
        return self._binary("greater", other)

    def __ge__(self, other):
        return self._binary("greater_equal", other)

    def __le__(self, other):
        return self._binary("less_equal", other)

    __hash__ = object.__hash__


# --- elementwise ------------------------------------------------------------------------------
def unary(op: str, x: Value) -> Value:
    """An elementwise primitive of one input: "sign", "cos", "exp", ..."""
    return x.builder.make(op, (x,))


def binary(op: str, x: Value, y) -> Value:
    """An elementwise primitive of two inputs of x's dtype ("pow", "equal", ...)."""
    return x._binary(op, y)


def where(cond: Value, x: Value, y: Value) -> Value:
    return cond.builder.make("select", (cond, x, y))


def cast(x: Value, dtype) -> Value:
    dtype = dtypes.as_dtype(dtype)
    return x if x.dtype is dtype else x.builder.make("cast", (x,), {"dtype": dtype})


def identity(x: Value) -> Value:
    return x.builder.make("identity", (x,))


def filled_like(x: Value, value) -> Value:
    """A tensor of x's shape and dtype holding `value` everywhere."""
    return broadcast_to(x.builder.constant(value, x.dtype), *shape_of(x))


def zeros_like(x: Value) -> Value:
    return filled_like(x, 0)


def ones_like(x: Value) -> Value:
    return filled_like(x, 1)


# --- reductions -------------------------------------------------------------------------------
def reduce(op: str, x: Value, axes, keepdims: bool = False) -> Value:
    """reduce_sum, reduce_prod, ... of x over `axes` (sorted non-negative ints)."""
    return x.builder.make(op, (x,), {"axes": tuple(sorted(axes)), "keepdims": keepdims})


def reduce_sum(x: Value, axes, keepdims: bool = False) -> Value:
    return reduce("reduce_sum", x, axes, keepdims)


def sum_to(g: Value, x: Value) -> Value:
    """g summed down to x's shape, read at run time (the broadcast axes are not known)."""
    return g.builder.make("sum_to", (g, shape_node(x)), {"shape": x.shape})


# --- shapes -----------------------------------------------------------------------------------
def shape_node(x: Value) -> Value:
    """x's shape as an int32 vector: a constant when fully known."""
    s = x.shape
    if s is not None and None not in s:
        return x.builder.constant(np.array(s, dtype=np.int32), dtypes.int32)
    return x.builder.make("shape", (x,), {"out_type": dtypes.int32})


def shape_of(x: Value):
    """(static dims, run-time shape or None) of x, as reshape and broadcast_to take them."""
    s = x.shape
    if s is not None and None not in s:
        return tuple(s), None
    return (None if s is None else tuple(s)), shape_node(x)


def dims(parts, builder: Builder):
    """(static dims, run-time shape or None) of a shape given as ints and int32 scalars."""
    if all(not isinstance(d, Value) for d in parts):
        return tuple(int(d) for d in parts), None
    rows = [builder.make("expand_dims", (d if isinstance(d, Value) else
                                         builder.constant(d, dtypes.int32),), {"axis": 0})
            for d in parts]
    vector = builder.make("concat", rows, {"axis": 0})
    return tuple(None if isinstance(d, Value) else int(d) for d in parts), vector


def dim(x: Value, axis: int) -> Value:
    """x's size along `axis`, an int32 scalar read at run time."""
    index = x.builder.constant(axis, dtypes.int32)
    return x.builder.make("gather", (shape_node(x), index), {"axis": 0})


def reshape(x: Value, static, dynamic: Value = None) -> Value:
    inputs = (x,) if dynamic is None else (x, dynamic)
    return x.builder.make("reshape", inputs, {"shape": static})


def broadcast_to(x: Value, static, dynamic: Value = None) -> Value:
    inputs = (x,) if dynamic is None else (x, dynamic)
    return x.builder.make("broadcast_to", inputs, {"shape": static})


def expand_dims(x: Value, axis: int) -> Value:
    return x.builder.make("expand_dims", (x,), {"axis": axis})


def transpose(x: Value, perm) -> Value:
    return x.builder.make("transpose", (x,), {"perm": tuple(int(p) for p in perm)})


def matmul(a: Value, b: Value, transpose_a: bool = False, transpose_b: bool = False) -> Value:
    """The product over the last two axes (rank >= 2), an operand's matrices transposed."""
    if transpose_a:
        a = transpose(a, _swap_last_two(a.shape))
    if transpose_b:
        b = transpose(b, _swap_last_two(b.shape))
    return a.builder.make("matmul", (a, b))


def _swap_last_two(shape) -> list:
    rank = len(shape)
    return list(range(rank - 2)) + [rank - 1, rank - 2]


# --- data movement ----------------------------------------------------------------------------
def slice_of(x: Value, slices) -> Value:
    """x[slices], each a (start, stop, step) triple as Python slices take them."""
    return x.builder.make("slice", (x,), {"slices": tuple(slices)})


def concat(values, axis: int) -> Value:
    return values[0].builder.make("concat", tuple(values), {"axis": axis})


def slice_grad(g: Value, like: Value, slices) -> Value:
    """Zeros shaped like `like`, with g written at like[slices]."""
    return g.builder.make("slice_grad", (g, shape_node(like)),
                          {"slices": tuple(slices), "shape": like.shape})


def gather(params: Value, indices: Value, axis: int) -> Value:
    return params.builder.make("gather", (params, indices), {"axis": axis})


def put_row(buffer: Value, index: Value, row: Value) -> Value:
    """buffer with row `index` (a scalar) replaced by `row`."""
    return buffer.builder.make("put_row", (buffer, index, row))


def scatter_add(g: Value, indices: Value, like: Value, axis: int) -> Value:
    """Zeros shaped like `like`, with the slices of g added at `indices` along axis."""
    return g.builder.make("scatter_add", (g, indices, shape_node(like)),
                          {"axis": axis, "shape": like.shape})
