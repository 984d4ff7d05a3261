"""tf.SparseTensor: a tensor given by the positions and values of its entries.

A SparseTensor is three ordinary graph tensors, as in TensorFlow: `indices` (int64,
[N, rank], one row per entry), `values` ([N], any dtype) and `dense_shape` (int64, [rank]).
It is not a new kind of node: the ops of graphc/ops/sparse_ops.py are compositions over the
three tensors (gathers and scatter-adds), so their lowering, fusion and gradients are the
ordinary ones. The number of entries N is usually known only at run time.

`dense_shape` may be a run-time value (a sparse placeholder's, a parsed batch's). An op whose
result has the dense shape (`tf.sparse.to_dense`) then reads it as a run-time shape input:
the compiled plan holds its value as a constant and is specialized anew for another value
(graphc/passes/specialize.shape_feeds), as for `tf.reshape(x, shape_placeholder)`.

Session.run of a SparseTensor returns a `SparseTensorValue`; feeding one gives values to the
three tensors (graphc/runtime/session.py).
"""

from __future__ import annotations

import collections

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes

SparseTensorValue = collections.namedtuple("SparseTensorValue",
                                           ["indices", "values", "dense_shape"])
SparseTensorValue.__doc__ = ("tf.SparseTensorValue: the value of a SparseTensor, as numpy "
                             "arrays (indices [N, rank] int64, values [N], dense_shape [rank] "
                             "int64).")


class SparseTensor:
    """tf.SparseTensor(indices, values, dense_shape)."""

    def __init__(self, indices, values, dense_shape):
        from graphc.ops.tensor import convert_to_tensor, graph_of
        with _graph_for(indices, values, dense_shape).as_default():
            self._indices = _int64(indices, "indices")
            self._values = convert_to_tensor(values, name="values")
            self._dense_shape = _int64(dense_shape, "dense_shape")
        graph_of((self._indices, self._values, self._dense_shape))  # one graph, or an error
        self._known = None  # static dims known besides dense_shape's value (placeholders)
        ishape, vshape = self._indices.shape, self._values.shape
        sshape = self._dense_shape.shape
        for t, rank, what in ((self._indices, 2, "indices"), (self._values, 1, "values"),
                              (self._dense_shape, 1, "dense_shape")):
            if t.shape.ndims is not None and t.shape.ndims != rank:
                raise ShapeError(f"SparseTensor: {what} must be {rank}-D, got '{t.name}' of "
                                 f"shape {t.shape}")
        if ishape.ndims and vshape.ndims and not _same(ishape[0], vshape[0]):
            raise ShapeError(f"SparseTensor: indices {ishape} and values {vshape} must have "
                             "one entry count (their first dimension)")
        if ishape.ndims and sshape.ndims and not _same(ishape[1], sshape[0]):
            raise ShapeError(f"SparseTensor: indices {ishape} give rank {ishape[1]}, but "
                             f"dense_shape {sshape} has {sshape[0]} entries")

    @classmethod
    def from_value(cls, value) -> "SparseTensor":
        """A SparseTensor of constants holding a SparseTensorValue (or a SparseTensor as
        it is)."""
        if isinstance(value, SparseTensor):
            return value
        if not isinstance(value, SparseTensorValue):
            raise TypeError(f"SparseTensor.from_value takes a SparseTensorValue, found "
                            f"{type(value).__name__}")
        return cls(value.indices, value.values, value.dense_shape)

    indices = property(lambda self: self._indices, doc="int64 [N, rank]: the entries' positions")
    values = property(lambda self: self._values, doc="[N]: the entries' values")
    dense_shape = property(lambda self: self._dense_shape, doc="int64 [rank]: the shape")
    dtype = property(lambda self: self._values.dtype, doc="the values' dtype")
    graph = property(lambda self: self._values.graph)
    op = property(lambda self: self._values.op, doc="the operation making the values")

    @property
    def shape(self) -> TensorShape:
        """The static dense shape: dims known when the graph is built, else None."""
        from graphc.ops.array_ops import _partial_shape
        dims = _partial_shape(self._dense_shape)
        if dims is None:
            rank = self._indices.shape[1] if self._indices.shape.ndims else None
            dims = None if rank is None else [None] * int(rank)
        if dims is not None and self._known is not None and len(self._known) == len(dims):
            dims = [k if d is None else d for d, k in zip(dims, self._known)]
        return TensorShape(None if dims is None else
                           [None if d is None or d < 0 else d for d in dims])

    def get_shape(self) -> TensorShape:
        return self.shape

    def eval(self, feed_dict=None, session=None) -> SparseTensorValue:
        from graphc.framework.sessions import default_session_for
        return default_session_for(session, self.graph).run(self, feed_dict)

    def consumers(self) -> list:
        return []

    def __repr__(self) -> str:
        return (f"SparseTensor(indices={self._indices!r}, values={self._values!r}, "
                f"dense_shape={self._dense_shape!r})")

    # `*` and `/` with a dense tensor are attached by graphc/ops/sparse_ops.py.

    def __neg__(self):
        from graphc.ops.math_ops import negative
        return SparseTensor(self._indices, negative(self._values), self._dense_shape)

    def __bool__(self):
        raise TypeError("Using a tf.SparseTensor as a Python bool is not allowed")


def is_sparse(value) -> bool:
    return isinstance(value, (SparseTensor, SparseTensorValue))


def _same(a, b) -> bool:
    return a is None or b is None or a == b


def _graph_for(*values):
    from graphc.ops.tensor import graph_of
    return graph_of([v for v in values if hasattr(v, "graph")])


def _int64(value, what: str):
    """`value` as an int64 tensor: int32 tensors are cast (TF accepts only int64; an int32
    Tensor here is almost always a shape or a range the user built)."""
    from graphc.ops.math_ops import cast
    from graphc.ops.tensor import convert_to_tensor, is_tensor_like
    if is_tensor_like(value):
        t = convert_to_tensor(value)
        if t.dtype not in dtypes.INT_DTYPES:
            raise DTypeError(f"SparseTensor: {what} must be int64, got '{t.name}' of dtype "
                             f"{t.dtype}")
        return t if t.dtype is dtypes.int64 else cast(t, dtypes.int64, name=what)
    arr = np.asarray(value)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"SparseTensor: {what} must be integers, got {value!r:.60} (numpy "
                         f"dtype {arr.dtype})")
    return convert_to_tensor(arr.astype(np.int64), name=what)


def convert_to_tensor_or_sparse_tensor(value, dtype=None, name=None):
    """tf.convert_to_tensor_or_sparse_tensor: a SparseTensor (from a SparseTensorValue too)
    as it is, anything else as convert_to_tensor makes it."""
    from graphc.ops.tensor import convert_to_tensor
    if isinstance(value, SparseTensorValue):
        value = SparseTensor.from_value(value)
    if isinstance(value, SparseTensor):
        if dtype is not None and value.dtype is not dtypes.as_dtype(dtype):
            raise DTypeError(f"Sparse dtype: requested = {dtypes.as_dtype(dtype)}, actual = "
                             f"{value.dtype}")
        return value
    return convert_to_tensor(value, dtype, name)


def sparse_placeholder(dtype, shape=None, name=None) -> SparseTensor:
    """tf.sparse_placeholder: a SparseTensor fed as a SparseTensorValue (or a tuple of its
    three parts). Its dense_shape is a constant when `shape` is fully known (a fed
    dense_shape must then equal it), else an int64 placeholder of the shape's rank."""
    from graphc.ops.array_ops import placeholder
    from graphc.ops.tensor import constant
    dims = TensorShape(shape).dims if shape is not None else None
    rank = None if dims is None else len(dims)
    prefix = f"{name}/" if name else ""
    values = placeholder(dtype, [None], name=f"{prefix}values" if name else None)
    indices = placeholder(dtypes.int64, [None, rank], name=f"{prefix}indices" if name else None)
    if dims is not None and None not in dims:
        dense_shape = constant(np.array(dims, np.int64), name=f"{prefix}shape")
    else:
        dense_shape = placeholder(dtypes.int64, [rank], name=f"{prefix}shape" if name else None)
    out = SparseTensor(indices, values, dense_shape)
    out._known = dims  # the static dims a fed dense_shape must agree with
    return out
