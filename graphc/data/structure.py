"""Elements of a tf.data pipeline: nested structures whose leaves are numpy arrays.

Inside a pipeline an element travels as a flat tuple of components (numpy arrays, or for
tf.string components Python `bytes` / object arrays of bytes); the dataset keeps the
nesting once, as a template, and its static `TensorSpec`s (dtype and shape, unknown dims
None). As in tf.data, tuples, namedtuples and dicts are structure and a Python list is a
value (converted to one array). Conversion follows graphc's `tf.constant` rules: Python
floats become float32, ints int32 (int64 when they do not fit), numpy arrays keep their
dtype, and a dtype graphc lacks is an error.
"""

from __future__ import annotations

import collections

import numpy as np

from graphc.framework.sparse_tensor import SparseTensor, SparseTensorValue
from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes
from graphc.ops import nest
from graphc.ops.tensor import is_tensor_like, python_default_dtype


class _StringDType:
    """tf.string for dataset elements only: graphc tensors have no string dtype, so string
    components live on the host (see graphc/data/mapping.py for how map() parses them)."""

    name = "string"
    kind = "S"

    def __repr__(self) -> str:
        return "tf.string"

    def __str__(self) -> str:
        return "string"


string = _StringDType()


class TensorSpec:
    """The static type of one component: dtype, shape (TensorShape) and an optional name.
    The dense_shape component of a sparse leaf also has `dense`: the static dense shape."""

    def __init__(self, shape, dtype=dtypes.float32, name=None, dense=None):
        self.shape = TensorShape(shape)
        self.dtype = dtype if dtype is string else dtypes.as_dtype(dtype)
        self.name = name
        self.dense = None if dense is None else TensorShape(dense)

    def is_compatible_with(self, other) -> bool:
        return self.dtype is other.dtype and self.shape.is_compatible_with(other.shape)

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorSpec) and self.dtype is other.dtype \
            and self.shape == other.shape

    def __hash__(self) -> int:
        return hash((self.dtype.name, self.shape))

    def __repr__(self) -> str:
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype!r}, name={self.name!r})"


class SparseTensorSpec:
    """The static type of a sparse leaf (tf.SparseTensorSpec): its dense shape and dtype."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = TensorShape(shape), dtype

    def __eq__(self, other) -> bool:
        return isinstance(other, SparseTensorSpec) and self.dtype is other.dtype \
            and self.shape == other.shape

    def __hash__(self) -> int:
        return hash(("sparse", self.dtype.name, self.shape))

    def __repr__(self) -> str:
        return f"SparseTensorSpec(shape={self.shape}, dtype={self.dtype!r})"


# A sparse leaf in a template: it stands for three components (indices, values, dense_shape).
SparseParts = collections.namedtuple("SparseParts", ["indices", "values", "dense_shape"])


def sparse_specs(dtype, dense) -> list:
    """The three component specs of a sparse leaf of values of `dtype` and static dense
    shape `dense` (a rank is needed: tf.data's sparse leaves have a known rank)."""
    dense = TensorShape(dense)
    rank = dense.ndims
    return [TensorSpec((None, rank), dtypes.int64), TensorSpec((None,), dtype),
            TensorSpec((rank,), dtypes.int64, dense=dense)]


def note_dense_shapes(template, specs: list, value) -> None:
    """Give the dense_shape specs of the sparse leaves of `value` (split into `template`)
    their static dense shapes."""
    shapes: list = []

    def record(sparse):
        shapes.append(sparse.shape if isinstance(sparse, SparseTensor) else TensorShape(
            [int(d) for d in np.asarray(sparse.dense_shape).ravel()]))
    _collapse(value, record, (SparseTensor, SparseTensorValue))
    for at, shape in zip(sparse_positions(template), shapes):
        specs[at + 2].dense = shape


# --- structure ----------------------------------------------------------------------------
def split(value) -> tuple:
    """(template, leaves): the tuple/dict nesting of `value` with None leaves, and its leaves
    in tf.nest order. Lists are leaves (tf.data converts them to tensors). A SparseTensor
    (or SparseTensorValue) is the template SparseParts() over its three parts."""
    leaves: list = []
    return _template(value, leaves), leaves


def _template(value, leaves: list):
    if isinstance(value, SparseTensor):
        leaves.extend((value.indices, value.values, value.dense_shape))
        return SparseParts(None, None, None)
    if isinstance(value, SparseTensorValue):
        leaves.extend((_int64s(value.indices, "indices", 2), value.values,
                       _int64s(value.dense_shape, "dense_shape", 1)))
        return SparseParts(None, None, None)
    if isinstance(value, dict):
        return type(value)((k, _template(value[k], leaves)) for k in sorted(value))
    if isinstance(value, tuple):
        parts = [_template(v, leaves) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    leaves.append(value)
    return None


def _int64s(value, what: str, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0 and ndim == 2 and arr.ndim == 1:
        arr = arr.reshape(0, 0)
    if arr.ndim != ndim or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"a SparseTensorValue's {what} must be a {ndim}-D array of integers, "
                        f"found {value!r:.60}")
    return arr.astype(np.int64)


def pack(template, flat):
    """`template`'s nesting holding the values `flat` (a sparse leaf's three as SparseParts)."""
    if template is None:
        return flat[0]
    return nest.pack_sequence_as(template, flat)


def element(template, flat, specs=None):
    """The element of `template`'s nesting holding the components `flat`: each sparse leaf a
    SparseTensor (tensors) or SparseTensorValue (arrays). With `specs`, a SparseTensor of
    placeholders knows its static dense shape."""
    positions = iter(sparse_positions(template))

    def collapse(parts: SparseParts):
        if is_tensor_like(parts.values):
            out = SparseTensor(*parts)
            if specs is not None:
                dense = specs[next(positions) + 2].dense
                out._known = None if dense is None else dense.dims
            return out
        return SparseTensorValue(*parts)
    return _collapse(pack(template, flat), collapse)


def _collapse(value, fn, leaves=SparseParts):
    """`value` with each of its `leaves` (SparseParts) replaced by fn(leaf), in tf.nest
    order (dicts by sorted key)."""
    if isinstance(value, leaves):
        return fn(value)
    if isinstance(value, dict):
        return type(value)((k, _collapse(value[k], fn, leaves)) for k in sorted(value))
    if isinstance(value, tuple):
        parts = [_collapse(v, fn, leaves) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
    return value


def sparse_positions(template) -> list:
    """The component positions where the sparse leaves of `template` begin (each takes the
    three components indices, values, dense_shape), in order."""
    out: list = []

    def walk(t, at: int) -> int:
        if t is None:
            return at + 1
        if isinstance(t, SparseParts):
            out.append(at)
            return at + 3
        parts = [t[k] for k in sorted(t)] if isinstance(t, dict) else list(t)
        for part in parts:
            at = walk(part, at)
        return at
    walk(template, 0)
    return out


def count(template) -> int:
    return 1 if template is None else len(nest.flatten(template))


def same_structure(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        nest.assert_same_structure(a, b)
    except ValueError:
        return False
    return True


# --- components -------------------------------------------------------------------------------
def to_component(value, what: str):
    """A leaf as a numpy array of a graphc dtype, or a string component (bytes / an object
    array of bytes). Tensors are returned as they are (evaluated later, in a session)."""
    if is_tensor_like(value):
        return value._as_graph_tensor() if hasattr(value, "_as_graph_tensor") else value
    if isinstance(value, (bytes, str)):
        return value.encode() if isinstance(value, str) else value
    if isinstance(value, np.ndarray) and value.dtype.kind in "SOU":
        return _string_array(value, what)
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    except ValueError as e:
        raise ValueError(f"{what}: cannot convert {value!r:.60} to an array: {e}") from None
    if arr.dtype.kind in "SU" or (arr.dtype.kind == "O" and _all_bytes(arr)):
        return _string_array(arr, what)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected numbers, bools or bytes, found {value!r:.60} "
                        f"(numpy dtype {arr.dtype})")
    try:
        dtype = python_default_dtype(arr, value)
    except TypeError as e:
        raise TypeError(f"{what}: {e}") from None
    return arr if arr.dtype == dtype.np else arr.astype(dtype.np)


def _all_bytes(arr) -> bool:
    return arr.size > 0 and all(isinstance(x, (bytes, str)) for x in arr.flat)


def _string_array(arr: np.ndarray, what: str) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for i, x in np.ndenumerate(arr):
        if isinstance(x, str):
            x = x.encode()
        elif isinstance(x, np.bytes_):
            x = bytes(x)
        if not isinstance(x, bytes):
            raise TypeError(f"{what}: expected bytes or str in a string array, found {x!r:.60}")
        out[i] = x
    return out


def is_string(value) -> bool:
    return isinstance(value, bytes) or (isinstance(value, np.ndarray) and value.dtype == object)


def spec_of(component) -> TensorSpec:
    """The spec of a component (array, string component or graphc Tensor)."""
    if isinstance(component, bytes):
        return TensorSpec((), string)
    if is_tensor_like(component):
        return TensorSpec(component.shape, component.dtype)
    if component.dtype == object:
        return TensorSpec(component.shape, string)
    return TensorSpec(component.shape, dtypes.as_dtype(component.dtype))


def shape_of(component) -> tuple:
    return () if isinstance(component, bytes) else tuple(component.shape)


def most_specific_compatible(a: TensorShape, b: TensorShape) -> TensorShape:
    """The shape both `a` and `b` satisfy: dims that differ become None (unknown)."""
    if a.dims is None or b.dims is None or len(a.dims) != len(b.dims):
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.dims, b.dims)])


def check_component(value, spec: TensorSpec, what: str):
    """`value` converted to `spec`'s dtype and checked against its shape (from_generator,
    map results computed on the host)."""
    if spec.dtype is string:
        out = to_component(value, what)
        if not is_string(out):
            raise TypeError(f"{what}: expected a tf.string value (bytes), found {value!r:.60}")
    else:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf" or (
                arr.size and not dtypes.can_cast_losslessly(arr, spec.dtype)):
            raise TypeError(f"{what}: expected a value convertible to {spec.dtype} without "
                            f"loss, found {value!r:.60} (numpy dtype {arr.dtype})")
        out = arr.astype(spec.dtype.np, copy=False)
    if not spec.shape.is_compatible_with(shape_of(out)):
        raise ValueError(f"{what}: expected shape {spec.shape}, found a value of shape "
                         f"{TensorShape(shape_of(out))}")
    return out


def describe(template, specs: list, attr: str):
    """The nesting of `template` holding each spec's `attr` (output_types, ...); a sparse
    leaf's is its values' dtype, its dense shape or a SparseTensorSpec."""
    values = [spec if attr == "spec" else getattr(spec, attr) for spec in specs]
    for at in sparse_positions(template):
        values[at + 1] = _sparse_attr(specs[at + 1], specs[at + 2], attr)
    return _collapse(pack(template, values), lambda parts: parts.values)


def _sparse_attr(values: TensorSpec, dense_shape: TensorSpec, attr: str):
    shape = dense_shape.dense
    if shape is None:
        rank = dense_shape.shape.dims[0] if dense_shape.shape.dims else None
        shape = TensorShape(None if rank is None else [None] * rank)
    if attr == "spec":
        return SparseTensorSpec(shape, values.dtype)
    return shape if attr == "shape" else values.dtype


class Structured:
    """TF1's structure properties of datasets and iterators, over `_template` (the element's
    nesting) and `_specs` (one TensorSpec per component)."""

    @property
    def element_spec(self):
        return describe(self._template, self._specs, "spec")

    @property
    def output_types(self):
        return describe(self._template, self._specs, "dtype")

    @property
    def output_shapes(self):
        return describe(self._template, self._specs, "shape")

    @property
    def output_classes(self):
        from graphc.framework.tensor import Tensor
        return _collapse(pack(self._template, [Tensor] * len(self._specs)),
                         lambda parts: SparseTensor)
