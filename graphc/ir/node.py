"""L1 nodes: immutable, hash-consed (interned) values.

A node is (op, inputs, attrs, deps) plus the dtype and shape its op's rules derive from them.
`make_node` is the only constructor: structurally equal nodes are the same Python object, so
common-subexpression elimination is free and tests can say `assert rewritten is expected`.
Stateful primitives (variables, placeholders, assignments, random draws) get a fresh `uid`
attribute, so two of them are never merged.

Names, scopes and the user's file:line are *not* part of a node; the Graph keeps them beside
it (see graph.py), because they do not change what the node computes.

Shapes are tuples whose entries are ints or None (a dimension unknown until run time), or
None as a whole when even the rank is unknown.
"""

from __future__ import annotations

import itertools
import threading
import types
import weakref
from typing import Any, Optional, Tuple

import numpy as np
import xxhash

from graphc.errors import DTypeError, ShapeError
from graphc.ir.dtypes import DType

Shape = Optional[Tuple[Optional[int], ...]]

_INTERN: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()
_UIDS = itertools.count(1)


class Node:
    """One L1 value. Build with `make_node`; never mutate."""

    __slots__ = ("op", "inputs", "attrs", "deps", "dtype", "shape", "_key", "__weakref__")

    op: Any  # graphc.ir.ops.Primitive
    inputs: Tuple["Node", ...]
    attrs: types.MappingProxyType
    deps: Tuple["Node", ...]
    dtype: Optional[DType]  # None only for effect-only nodes (group / no_op)
    shape: Shape

    def __setattr__(self, name, value):
        raise AttributeError("L1 nodes are immutable")

    def __delattr__(self, name):
        raise AttributeError("L1 nodes are immutable")

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    @property
    def stateful(self) -> bool:
        return self.op.stateful

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else ",".join("?" if d is None else str(d)
                                                        for d in self.shape)
        dtype = self.dtype.short if self.dtype is not None else "none"
        return f"<Node {self.op.name} {dtype}[{shape}] #{id(self) & 0xFFFFF:x}>"

    def __reduce__(self):
        raise TypeError("L1 nodes are not picklable; serialize graphs through graphc's formats")


class Region:
    """A sub-graph owned by a control-flow node (a loop's body, a branch of a cond): the
    function from `params` (nodes of the `param` primitive, each region's own) to `results`.
    A region is pure: it reads nothing but its params (values from outside are passed in as
    params: the control node's captured inputs). Equal params and results = equal region."""

    __slots__ = ("params", "results")

    def __init__(self, params, results):
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "results", tuple(results))

    def __setattr__(self, name, value):
        raise AttributeError("regions are immutable")

    def __eq__(self, other):
        return (isinstance(other, Region) and self.params == other.params
                and self.results == other.results)

    def __hash__(self):
        return hash((self.params, self.results))

    def __repr__(self) -> str:
        return f"<Region {len(self.params)} params -> {len(self.results)} results>"

    def __reduce__(self):
        raise TypeError("regions are not picklable; serialize graphs through graphc's formats")


class _ArrayKey:
    """An array's bytes as a key, without copying them: hashed by XXH3-64 and compared
    byte for byte (so a hash collision never interns two different arrays as one). Holds
    the attribute's array, which make_node has made C-ordered and read-only."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        self.array = array
        self._hash = xxhash.xxh3_64_intdigest(_bytes_of(array))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        if not isinstance(other, _ArrayKey) or other._hash != self._hash:
            return False
        a, b = self.array, other.array
        if a is b:
            return True
        return a.dtype == b.dtype and a.shape == b.shape and \
            bool(np.array_equal(_bytes_of(a), _bytes_of(b)))


def _bytes_of(array: np.ndarray) -> np.ndarray:
    """The array's bytes, as a flat uint8 view (no copy of a contiguous array)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def freeze(value: Any) -> Any:
    """A hashable key for an attribute value that tells apart what numpy would compute apart.

    Floats are keyed by their exact bits (0.0 and -0.0 differ; nan equals nan), bools are
    not ints, and arrays are keyed by dtype, shape and bytes.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (str, DType)):
        return (type(value).__name__, value)
    if isinstance(value, (int, np.integer)):
        return ("int", int(value))
    if isinstance(value, (float, np.floating)):
        return ("float", float(value).hex())
    if isinstance(value, (tuple, list)):
        return ("tuple",) + tuple(freeze(v) for v in value)
    if isinstance(value, slice):
        return ("slice", freeze(value.start), freeze(value.stop), freeze(value.step))
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ("ndarray", value.dtype.str, value.shape, value.tobytes())
        return ("ndarray", value.dtype.str, value.shape, _ArrayKey(value))
    if isinstance(value, Region):
        return ("region", value)
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not supported")


def of_immutable_bytes(value: np.ndarray) -> bool:
    """Whether `value` is a view of a bytes object (np.frombuffer of it, reshaped): memory
    nothing can write to, which a node may keep as it is (a model file's weights)."""
    base = value.base
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, bytes)


def _normalize_attr(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_normalize_attr(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_normalize_attr(v) for v in value)
    if isinstance(value, np.ndarray):
        if not (value.flags.c_contiguous and not value.flags.writeable
                and (value.flags.owndata or of_immutable_bytes(value))):
            value = np.array(value, copy=True, order="C")  # kernels read attributes row-major
            value.setflags(write=False)  # (already so: an attribute of another node)
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def make_node(op, inputs=(), attrs=None, deps=()) -> Node:
    """Build (or find) the node `op(inputs; attrs)` that runs after `deps`.

    Runs the op's dtype and shape rules, which raise DTypeError / ShapeError naming the op.
    """
    inputs = tuple(inputs)
    for x in inputs:
        if not isinstance(x, Node):
            raise TypeError(f"{op.name}: inputs must be L1 nodes, got {type(x).__name__}")
    if op.arity is not None and len(inputs) not in op.arity_range:
        raise ShapeError(f"{op.name} takes {op.arity} input(s), got {len(inputs)}")
    attrs = {k: _normalize_attr(v) for k, v in (attrs or {}).items()}
    if op.stateful and "uid" not in attrs:
        attrs["uid"] = next(_UIDS)
    deps = tuple(dict.fromkeys(deps))  # drop repeats, keep order
    key = (op.name, inputs, tuple(sorted((k, freeze(v)) for k, v in attrs.items())), deps)
    with _LOCK:
        node = _INTERN.get(key)
    if node is not None:
        return node
    try:
        dtype = op.dtype_rule(inputs, attrs)
        if op.handles_unknown_rank or all(x.shape is not None for x in inputs):
            shape = op.shape_rule(inputs, attrs)
        else:
            shape = None
    except (ShapeError, DTypeError) as e:
        raise type(e)(f"{op.name}: {e.args[0]}") from None
    node = object.__new__(Node)
    for slot, value in (("op", op), ("inputs", inputs), ("attrs", types.MappingProxyType(attrs)),
                        ("deps", deps), ("dtype", dtype), ("shape", shape), ("_key", key)):
        object.__setattr__(node, slot, value)
    with _LOCK:
        return _INTERN.setdefault(key, node)


def replace_inputs(node: Node, inputs, deps=None) -> Node:
    """The node computing `node.op` with new inputs (and optionally deps); keeps the uid."""
    return make_node(node.op, inputs, dict(node.attrs), node.deps if deps is None else deps)


def topo_sort(roots, stop=frozenset()) -> list:
    """All nodes reachable from `roots` through inputs and deps, producers first.

    Nodes in `stop` are included but not expanded (fed values: their producers need not
    run). Iterative (deep graphs must not hit the recursion limit) and deterministic: the
    order depends only on the graph structure and the order of `roots`.
    """
    def children_of(node):
        return iter(()) if node in stop else iter(node.inputs + node.deps)

    order, done, on_stack = [], set(), set()
    for root in roots:
        if root in done:
            continue
        stack = [(root, children_of(root))]
        on_stack.add(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in done and child not in on_stack:
                    on_stack.add(child)
                    stack.append((child, children_of(child)))
                    break
            else:
                stack.pop()
                on_stack.discard(node)
                done.add(node)
                order.append(node)
    return order
