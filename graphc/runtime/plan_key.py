"""The key of a session's plan in the disk cache: everything the plan depends on, computed
from the user's graph before any pass runs, so that a process compiling the same model again
finds its plan without optimizing, lowering or rendering it (runtime/plan_store.py).

    key, nodes = plan_key(fetches, fed_shapes, fed_values, context)   # or None

The graph part is the nodes the fetches need (topo_sort, fed nodes as leaves, regions'
nodes before the node owning them), each as (op, dtype, shape, input positions, dependency
positions, attributes, fed shape): a node is named by its position in that order, so the
key does not depend on the uid a stateful node got in this process, nor on names; the ids
that tell loops apart (drawn from counters too) enter by their order of appearance. Constant
arrays enter by dtype, shape and the XXH3-128 of their bytes. `nodes` lists the nodes in
that order: a stored plan names the nodes it binds (feeds, variables) by their position.

`marked` nodes (variables the executor does not pack ahead) enter by their positions.
`context` holds what else the plan depends on (the caller's options, threads, CPU, numpy's
version, and the sources below). graphc's version does not change with every edit of its
passes, so the key also holds a digest of the code that builds a plan from the graph
(`compiler_digest`: the size and modification time of each file, as Python decides whether
a .pyc is current): the IR, the passes, the compiler, the LLVM code generator and the
runtime.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import xxhash

from graphc.ir.dtypes import DType
from graphc.ir.node import Region, topo_sort
from graphc.runtime.cache import CodeCache

FORMAT = 1
# the packages (relative to graphc/) whose code turns a graph into a plan
_COMPILER_SOURCES = ("ir", "passes", "compiler", "codegen_llvm", "runtime", "options.py",
                     "version.py")
_digest: dict = {}
# Attributes whose values are numbers drawn from a process's counters to tell loops (and
# custom gradients) apart, and to pair a loop with its saving copy ("saves" holds the
# loop's loop_id): keyed by the order in which each value first appears, per namespace.
_COUNTED = {"loop_id": "loop", "saves": "loop", "fn_id": "custom gradient"}


class _Unkeyable(Exception):
    """An attribute the key cannot describe exactly: such a plan is not stored."""


def plan_key(fetches, fed_shapes: dict, fed_values: Optional[dict], context: tuple,
             marked=frozenset()):
    """(key, nodes) of the plan computing `fetches` from feeds of `fed_shapes` (and feeds
    read as shapes with `fed_values`), or None when some attribute cannot be keyed. The
    positions of the nodes in `marked` (variables the executor treats apart) are keyed
    too."""
    nodes, index, rows = [], {}, []
    try:
        _walk(fetches, frozenset(fed_shapes), _Walk(fed_shapes, nodes, index, rows, {}))
        fed = tuple(sorted((index[n], tuple(s)) for n, s in fed_shapes.items() if n in index))
        values = tuple(sorted((index[n], tuple(v)) for n, v in (fed_values or {}).items()
                              if n in index))
        roots = tuple(index[f] for f in fetches)
        marks = tuple(sorted(index[n] for n in marked if n in index))
    except (_Unkeyable, KeyError):
        return None
    digest = compiler_digest()
    if digest is None:
        return None
    # (the rows as Python literals: repr tells apart what _value keeps apart, and is
    # quicker than CodeCache's encoding of each of the thousands of values)
    return CodeCache.key("graphc-session-plan", FORMAT, repr(rows).encode(), roots, fed,
                         values, marks, context, digest), nodes


class _Walk:
    def __init__(self, fed_shapes, nodes, index, rows, counted):
        self.fed_shapes, self.nodes, self.index, self.rows = fed_shapes, nodes, index, rows
        self.counted = counted  # (namespace, value) -> its order of appearance


def _walk(roots, stop, w: _Walk) -> None:
    for node in topo_sort(roots, stop=stop):
        if node in w.index:
            continue
        attrs = tuple((k, _counted(k, v, w) if k in _COUNTED else _value(v, w))
                      for k, v in sorted(node.attrs.items()) if k != "uid")
        w.index[node] = len(w.nodes)
        w.nodes.append(node)
        fed = w.fed_shapes.get(node)
        w.rows.append((node.op.name, None if node.dtype is None else node.dtype.name,
                       _shape(node.shape), tuple(w.index[x] for x in node.inputs),
                       tuple(w.index[d] for d in node.deps), attrs,
                       None if fed is None else tuple(int(d) for d in fed)))


def _shape(shape):
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


def _counted(name: str, value, w: _Walk):
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unkeyable(f"{name}={value!r}")
    return ("counted", w.counted.setdefault((_COUNTED[name], value), len(w.counted)))


def _value(value, w: _Walk):
    """An attribute value as what CodeCache.key encodes, told apart as node.freeze tells
    values apart (tags keep 1, 1.0, True and "1" apart; floats by their bits)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, DType):
        return ("dtype", value.name)
    if isinstance(value, tuple):
        return ("tuple",) + tuple(_value(v, w) for v in value)
    if isinstance(value, slice):
        return ("slice",) + tuple(_value(v, w) for v in (value.start, value.stop, value.step))
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
        return ("array", value.dtype.str, tuple(value.shape), xxhash.xxh3_128_digest(data))
    if isinstance(value, Region):  # its nodes first: a region reads nothing from outside
        _walk(value.params + value.results, frozenset(), w)
        return ("region", tuple(w.index[p] for p in value.params),
                tuple(w.index[r] for r in value.results))
    raise _Unkeyable(type(value).__name__)


def compiler_digest() -> Optional[str]:
    """XXH3-128 of the path, size and modification time of each source that builds a plan
    (_COMPILER_SOURCES; as Python decides whether a cached .pyc is current) and of
    llvmlite's version, once per process; None when they cannot be read."""
    if "value" not in _digest:
        import llvmlite

        from graphc.codegen_llvm.library import python_sources
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = xxhash.xxh3_128(llvmlite.__version__.encode())
        try:
            for entry in _COMPILER_SOURCES:
                for name in python_sources(os.path.join(root, entry)):
                    st = os.stat(name)
                    h.update(b"%s\0%d\0%d\0" % (os.path.relpath(name, root).encode(),
                                                  st.st_size, st.st_mtime_ns))
            _digest["value"] = h.hexdigest()
        except OSError:
            _digest["value"] = None
    return _digest["value"]

