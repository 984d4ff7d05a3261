"""tf.Session: runs fetches with feeds on a target, keeping variable state between runs.

`run` resolves the fetch structure (tensors, operations, variables, tensor names; nested in
lists, tuples, namedtuples and dicts) to nodes, checks and converts the feeds, lets the
target's executor compute, and rebuilds the same structure with numpy values.
"""

from __future__ import annotations

import collections
import threading
from typing import Optional

import numpy as np

from graphc.errors import NotFoundError
from graphc.framework.complex_tensor import ComplexTensor
from graphc.framework.graph import Graph, get_default_graph
from graphc.framework.sessions import (  # noqa: F401 (get_default_session: tf's)
    SESSIONS,
    get_default_session,
)
from graphc.framework.sparse_tensor import SparseTensor, SparseTensorValue
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import make_node
from graphc.ir.shapes import format_shape, is_compatible
from graphc.ops.tensor import Operation, Tensor
from graphc.options import ConfigProto, Options, default_options, resolve_target
from graphc.runtime.host import HostFetch, has_host_work, run_hosted
from graphc.runtime.run_metadata import traced
from graphc.runtime.state import RuntimeState
from graphc.runtime.targets import make_executor

_MAX_CALLABLES = 256  # run() callables kept per session (all dropped when exceeded)


class Session:
    """Runs parts of a graph. `target` names the execution target ('' for the default)."""

    def __init__(self, target: str = "", graph: Optional[Graph] = None, config=None):
        self.graph = graph if graph is not None else get_default_graph()
        if isinstance(config, ConfigProto):
            config = config.to_options()
        if config is not None and not isinstance(config, Options):
            raise TypeError(f"config must be graphc.Options or tf.ConfigProto, got "
                            f"{type(config).__name__}")
        self.options = config or default_options()
        self.target_name = resolve_target(target or None, self.options)
        self._state = RuntimeState()
        self._executor = make_executor(self.target_name, self._state, self.options,
                                       self.graph.describe)
        self._lock = threading.Lock()
        self._closed = False
        self._default_ctx = None
        self._callables: dict = {}  # see _callable_for
        self._host_needs: dict = {}  # fetched nodes -> the host feeds they need (host.py)
        self._flat_callables: dict = {}  # see _run_flat

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._state.variables.clear()
        release = getattr(self._executor, "close", None)
        if release is not None:  # a device target frees its memory, after any run in flight
            with self._lock:
                release()

    def __enter__(self) -> "Session":
        self._default_ctx = self.as_default()
        self._default_ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._default_ctx is not None:
            self._default_ctx.__exit__(*exc)
            self._default_ctx = None
        self.close()

    def as_default(self):
        session = self

        class _Default:
            def __enter__(self):
                SESSIONS.stack.append(session)
                return session

            def __exit__(self, *exc):
                SESSIONS.stack.remove(session)

        return _Default()

    # --- running --------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Compute `fetches` (any nesting of lists, tuples, dicts) given `feed_dict`.
        With `run_metadata`, the run is timed into it when `options` ask for a trace
        (graphc/runtime/run_metadata.py)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if feed_dict and any(isinstance(k, SparseTensor) for k in feed_dict):
            feed_dict = sparse_feeds(feed_dict)
        if run_metadata is not None:
            return traced(lambda: self.run(fetches, feed_dict), options, run_metadata,
                          self.target_name,
                          len(fetches) if isinstance(fetches, (list, tuple, dict)) else 1,
                          self._executor, self.graph.describe)
        call = None if has_host_work(self.graph) else self._callable_for(fetches, feed_dict)
        if call is not None:
            return call(*feed_dict.values()) if feed_dict else call()
        leaves: list = []
        template = _flatten(fetches, leaves)
        if has_host_work(self.graph) or any(isinstance(x, HostFetch) for x in leaves):
            return _rebuild(template, iter(run_hosted(self, leaves, feed_dict)))
        targets = [self._fetch_node(leaf) for leaf in leaves]
        unique = list(dict.fromkeys(n for n, _ in targets))
        return self._run(template, targets, unique, self._feeds(feed_dict))

    def _callable_for(self, fetches, feed_dict):
        """run() of the same fetch and feed objects as before is make_callable's: the
        callable is kept, keyed by the identities of the objects (which it holds, so they
        cannot be reused by others). Fetches of other kinds (dicts, nested lists) are
        resolved on every run."""
        leaves = (fetches,) if isinstance(fetches, _FETCH_LEAVES) else fetches \
            if type(fetches) in (list, tuple) and all(isinstance(f, _FETCH_LEAVES)
                                                     for f in fetches) else None
        if leaves is None:
            return None
        keys = tuple(feed_dict) if feed_dict else ()
        key = (type(fetches), tuple(map(id, leaves)), tuple(map(id, keys)))
        entry = self._callables.get(key)
        if entry is None:
            if len(self._callables) >= _MAX_CALLABLES:
                self._callables.clear()
            entry = self._callables[key] = (self.make_callable(fetches, list(keys)), leaves,
                                            keys)
        return entry[0]

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """A function of the values of `feed_list` (in order) returning `fetches`: what
        run() does, with the fetches and feed keys resolved once (TF1's make_callable).
        Calls with arrays of the fed dtypes and of shapes seen before take a fast path
        (graphc/runtime/bound.py) where the target has one."""
        if feed_list and any(isinstance(k, SparseTensor) for k in feed_list):
            return _sparse_fed(self, fetches, list(feed_list))
        leaves: list = []
        _flatten(fetches, leaves)
        if has_host_work(self.graph) or any(isinstance(x, HostFetch) for x in leaves):
            return self._hosted_callable(fetches, feed_list)
        return self._compiled_callable(fetches, feed_list)

    def _compiled_callable(self, fetches, feed_list):
        """make_callable's function: graph tensors only, host work done by the caller."""
        template, targets, unique = self._resolve_fetches(fetches)
        keys = [self._feed_tensor(k) for k in (feed_list or [])]
        fed = [_fed_node(t.node) for t in keys]
        self._check_fed_once(feed_list or [], fed)
        bind = getattr(self._executor, "bind", None)
        if [n for n, _ in targets] != unique:  # a fetch repeated: no fast path
            bind = None
        bound: dict = {}  # feed shapes -> BoundPlan
        last = [None]  # the BoundPlan of the latest call, tried first
        lock, n_keys = self._lock, len(keys)

        def finish(results):
            return results[0] if template is None else _rebuild(template, iter(results))

        def call(*values, out=None, options=None, run_metadata=None, **unknown):
            # options and run_metadata are taken as by Session.run (TF1's callables pass
            # them on); any other keyword is a mistake worth reporting
            if unknown:
                raise TypeError(f"the callable from make_callable got unexpected keyword "
                                f"argument(s) {', '.join(map(repr, unknown))}; it accepts "
                                "out=, options= and run_metadata=")
            if run_metadata is not None:
                return traced(lambda: call(*values, out=out), options, run_metadata,
                              self.target_name, len(unique), self._executor,
                              self.graph.describe)
            outs = None
            if out is not None:
                outs = (out,) if type(out) is np.ndarray else out
                if type(outs) in (list, tuple) and len(outs) > 1:
                    pair = _overlapping_outs(outs)
                    if pair is not None:
                        raise self._overlap_error(targets, *pair)
            runner = last[0]
            if runner is not None and len(values) == n_keys and not self._closed:
                with lock:
                    results = runner(values, outs)
                if results is not None:  # finish(results), inlined: this is the hot path
                    return results[0] if template is None else \
                        _rebuild(template, iter(results))
            return slow_call(values, out)

        def slow_call(values, out):
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            if len(values) != n_keys:
                raise TypeError(f"this callable takes {n_keys} feed values (one per "
                                f"feed_list entry), got {len(values)}")
            try:
                shapes = tuple([v.shape for v in values])
            except AttributeError:
                shapes = None
            runner = bound.get(shapes)
            if runner is not None:
                outs = None if out is None else [out] if type(out) is np.ndarray else out
                if outs is None or (type(outs) in (list, tuple) and len(outs) == len(unique)):
                    with lock:
                        results = runner(values, outs)
                    if results is not None:
                        last[0] = runner
                        return finish(results)
            feeds = {n: convert_feed(t, v) for n, t, v in zip(fed, keys, values)}
            outs = None if out is None else self._outputs(targets, unique, out)
            result = self._run(template, targets, unique, feeds, outs)
            if bind is not None and shapes is not None and \
                    (shapes not in bound or _superseded(bound[shapes])):
                with lock:
                    bound[shapes] = last[0] = bind(unique, fed, shapes)
            return result
        return call

    @staticmethod
    def _convert_feed(tensor, value, what: str):
        return convert_feed(tensor, value, what=what)

    def _run_flat(self, leaves: list, feeds: dict) -> list:
        """The values of `leaves` (a flat list of tensors, operations or names) given
        {fed node: converted array}, through a compiled callable kept per (leaves, fed
        nodes): host-driven runs (runtime/host.py) take the same fast path as feed_dict
        runs of make_callable."""
        nodes = tuple(feeds)
        key = (tuple(map(id, leaves)), nodes)
        entry = self._flat_callables.get(key)
        if entry is None:
            if len(self._flat_callables) >= _MAX_CALLABLES:
                self._flat_callables.clear()
            tensors = [Tensor(n, self.graph, self._name_of(n)) for n in nodes]
            entry = self._flat_callables[key] = (
                self._compiled_callable(list(leaves), tensors), list(leaves))
        return entry[0](*[feeds[n] for n in nodes])

    def _name_of(self, node) -> str:
        info = self.graph.info(node)
        return info.name if info else node.op.name

    def _hosted_callable(self, fetches, feed_list):
        """make_callable where the session fills placeholders or finishes fetches on the
        host: each call is a run (no fast path, which would skip the iterators)."""
        keys = list(feed_list or [])

        def call(*values, options=None, run_metadata=None):
            if len(values) != len(keys):
                raise TypeError(f"this callable takes {len(keys)} feed values (one per "
                                f"feed_list entry), got {len(values)}")
            return self.run(fetches, dict(zip(keys, values)), options, run_metadata)
        return call

    def _overlap_error(self, targets, k: int, m: int) -> ValueError:
        def fetch(i):
            return self.graph.describe(targets[i][0]) if i < len(targets) else "no fetch"
        return ValueError(f"out[{k}] and out[{m}] share memory; each fetched value needs an "
                          f"array of its own (out[{k}] is for {fetch(k)}, out[{m}] for "
                          f"{fetch(m)})")

    def _outputs(self, targets, unique, out) -> list:
        """Preallocated arrays (one per fetch, None to allocate) checked against the fetches
        they will receive, aligned with `unique`."""
        out = [out] if isinstance(out, np.ndarray) else list(out)
        if len(out) != len(targets):
            raise ValueError(f"out= needs one entry per fetch ({len(targets)}), got {len(out)}")
        by_node: dict = {}
        for (node, is_op), array in zip(targets, out):
            if array is None:
                continue
            where = self.graph.describe(node)
            if is_op or not isinstance(array, np.ndarray):
                raise TypeError(f"out= for {where} must be a numpy array (or None)")
            if array.dtype != node.dtype.np or not array.flags.c_contiguous \
                    or not array.flags.writeable:
                raise ValueError(f"out= for {where} must be a writeable C-contiguous "
                                 f"{node.dtype} array, got {array.dtype}")
            if node.shape is None or not is_compatible(array.shape, node.shape):
                raise ValueError(f"out= for {where} has shape {format_shape(array.shape)}, "
                                 f"the fetch has shape {format_shape(node.shape)}")
            by_node[node] = array
        return [by_node.get(n) for n in unique]

    def _resolve_fetches(self, fetches):
        leaves: list = []
        template = _flatten(fetches, leaves)
        targets = [self._fetch_node(leaf) for leaf in leaves]
        return template, targets, list(dict.fromkeys(n for n, _ in targets))

    def _run(self, template, targets, unique, feeds, outs=None):
        # An out= array sharing memory with a feed is written only after the run: the
        # executor fills a private array in its place (and checks its shape before any
        # variable changes), so no kernel or copy-out reads a feed it has overwritten.
        deferred = {}  # position in unique -> (the caller's out= array, the private one)
        for k, o in enumerate(outs or ()):
            if o is not None and any(np.may_share_memory(o, v) for v in feeds.values()):
                deferred[k] = (o, np.empty_like(o))
        if deferred:
            outs = [deferred[k][1] if k in deferred else o for k, o in enumerate(outs)]
        with self._lock:
            raw = self._executor.run(unique, feeds, outs)
        if deferred:
            raw = _write_deferred(raw, deferred)
        values = dict(zip(unique, raw))
        given = {id(o) for o in outs if o is not None} if outs else set()
        given.update(id(o) for o, _ in deferred.values())
        if getattr(self._executor, "returns_fresh_arrays", False):
            results = [None if is_op else _scalar(values[node]) for node, is_op in targets]
            return _rebuild(template, iter(results))
        protected = {id(v) for v in self._state.variables.values()}
        protected.update(id(v) for v in feeds.values())
        results = [None if is_op else values[node] if id(values[node]) in given
                   else _owned(values[node], protected) for node, is_op in targets]
        return _rebuild(template, iter(results))

    def _fetch_node(self, fetch):
        """(node, is_operation) for one fetch leaf."""
        if isinstance(fetch, str):
            fetch = self._by_name(fetch)
        if hasattr(fetch, "_as_graph_tensor"):  # a Variable: its current value
            fetch = fetch.value()
        if isinstance(fetch, (Tensor, Operation)):
            if fetch.graph is not self.graph:
                raise ValueError(f"Fetch {fetch!r} is not an element of this graph.")
            if isinstance(fetch, Operation) or fetch.node.dtype is None:
                return fetch.node, True
            return _value_node(fetch.node), False
        raise TypeError(f"Fetch argument {fetch!r} has invalid type {type(fetch)}, must be a "
                        "string or Tensor. (Can not convert a "
                        f"{type(fetch).__name__} into a Tensor or Operation.)")

    def _by_name(self, name: str):
        """"op:0" is a Tensor, "op" an Operation (run, giving None), as in TF1."""
        op_name, colon, _ = name.partition(":")
        if colon:
            problem = self.graph.missing_tensor(name)
            if problem:
                raise NotFoundError(problem)
            return Tensor(self.graph.node_by_name(op_name), self.graph, op_name)
        node = self.graph.node_by_name(name)
        if node is None:
            raise NotFoundError(f"The name '{name}' refers to an Operation not in the graph.")
        return Operation(node, self.graph, name)

    def _feeds(self, feed_dict) -> dict:
        keys = list(feed_dict or ())
        tensors = [self._feed_tensor(k) for k in keys]
        fed = [_fed_node(t.node) for t in tensors]
        self._check_fed_once(keys, fed)
        return {node: convert_feed(t, feed_dict[k]) for k, t, node in zip(keys, tensors, fed)}

    def _check_fed_once(self, keys, fed) -> None:
        """A ValueError when two feed keys (`keys`, aligned with the nodes they feed, `fed`)
        stand for one tensor, e.g. x and 'x:0': which value would win is arbitrary."""
        first: dict = {}  # fed node -> position of its first key
        for i, node in enumerate(fed):
            j = first.setdefault(node, i)
            if j != i:
                raise ValueError(f"{self.graph.describe(node)} is fed twice, under the keys "
                                 f"{keys[j]!r} and {keys[i]!r}; feed each tensor once per run")

    def _feed_tensor(self, key) -> Tensor:
        """The tensor a feed key (Tensor, Variable or tensor name) stands for."""
        tensor = self._by_name(key) if isinstance(key, str) else key
        if isinstance(tensor, ComplexTensor):
            raise TypeError(f"Cannot feed {key!r}: a ComplexTensor is not fed; feed "
                            "placeholders for its real and imaginary parts (tf.complex)")
        if hasattr(tensor, "_as_graph_tensor"):
            tensor = tensor.value()
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Cannot interpret feed_dict key {key!r} as a Tensor: keys "
                            "must be Tensors, Variables or tensor names")
        if tensor.graph is not self.graph:
            raise ValueError(f"Cannot feed {tensor!r}: it is not an element of this graph.")
        return tensor

    def load_variable(self, variable, value) -> None:
        """Set a variable's value directly (Variable.load)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        arr = convert_feed(variable.handle, value, what="load into variable")
        with self._lock:
            # C order: compiled code reads a variable's buffer row-major, so a transposed
            # or sliced array must be laid out afresh, not copied as it lies (order='K')
            self._state.variables[variable.handle.node] = np.array(arr, copy=True,
                                                                   order="C")


def _superseded(runner) -> bool:
    """Whether a callable's fast path runs a plan its executor has replaced."""
    return runner is not None and runner.plan.superseded


class InteractiveSession(Session):
    """A Session that makes itself the default when created (for shells and notebooks)."""

    def __init__(self, target: str = "", graph: Optional[Graph] = None, config=None):
        super().__init__(target, graph, config)
        self._default_ctx = self.as_default()
        self._default_ctx.__enter__()

    def close(self) -> None:
        if self._default_ctx is not None:
            self._default_ctx.__exit__(None, None, None)
            self._default_ctx = None
        super().close()


_FETCH_LEAVES = (Tensor, Operation, str)


def convert_feed(tensor: Tensor, value, what: str = "feed") -> np.ndarray:
    """`value` as an array of the tensor's dtype and shape, or a clear error naming it."""
    node = tensor.node
    if type(value) is np.ndarray and node.dtype is not None and value.dtype == node.dtype.np \
            and is_compatible(value.shape, node.shape):
        return value  # the common case, checked without building any message
    where = tensor.graph.describe(_fed_node(node))
    if node.dtype is None:
        raise TypeError(f"Cannot {what} {where}: it is an operation, not a tensor")
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_tensor"):
        raise TypeError(f"The value of a feed cannot be a tf.Tensor object ({what} for "
                        f"{where}). Acceptable feed values include Python scalars, lists "
                        "and numpy ndarrays.")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"Cannot {what} {where}: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Cannot {what} value of type {type(value).__name__} (numpy dtype "
                        f"{arr.dtype}) to {where}, which has dtype {node.dtype}")
    if not dtypes.can_cast_losslessly(arr, node.dtype):
        raise TypeError(f"Cannot {what} value of dtype {arr.dtype} to {where}, which has "
                        f"dtype {node.dtype}: the conversion would lose data")
    if not is_compatible(arr.shape, node.shape):
        raise ValueError(f"Cannot {what} value of shape {format_shape(arr.shape)} for "
                         f"{where}, which has shape {format_shape(node.shape)}")
    return arr.astype(node.dtype.np, copy=False)


def _overlapping_outs(outs):
    """(k, m), the first two out= entries that share memory, or None. Both would be written
    and one result lost, so make_callable's callable refuses them before the run. Entries
    other than arrays are left to Session._outputs to reject. An out= array may share memory
    with a feed: Session._run (and BoundPlan) write it once nothing reads the feed any more.
    np.may_share_memory compares bounds, which is exact for the C-contiguous arrays out=
    accepts (others are rejected later anyway). This runs on make_callable's hot path, hence
    the plain loops."""
    n = len(outs)
    for k in range(n - 1):
        a = outs[k]
        if isinstance(a, np.ndarray):
            for m in range(k + 1, n):
                b = outs[m]
                if isinstance(b, np.ndarray) and np.may_share_memory(a, b):
                    return k, m
    return None


def _write_deferred(raw: list, deferred: dict) -> list:
    """`raw` (an executor's results) with each deferred out= array holding its result, as
    _run promises. Every result that shares memory with one of those arrays (a fed array
    fetched as is) is copied before any of them is written."""
    arrays = [o for o, _ in deferred.values()]
    raw = [r.copy() if isinstance(r, np.ndarray) and any(np.may_share_memory(r, o)
                                                         for o in arrays) else r for r in raw]
    for k, (o, _) in deferred.items():
        np.copyto(o, raw[k])
        raw[k] = o
    return raw


def _scalar(value):
    """0-d results come back as numpy scalars, as from TF1."""
    return value[()] if value.ndim == 0 else value


def _owned(value, protected: set):
    """A result the caller may keep and modify: never a view of state, feeds or constants."""
    if value.ndim == 0:
        return value[()]
    if value.flags.owndata and value.flags.writeable and id(value) not in protected:
        return value
    return value.copy()


def _value_node(node):
    """The node whose value a fetch or feed of `node` means. A variable's handle (what the
    name 'v:0' resolves to) stands for the variable's value, i.e. its canonical read, which
    interning finds: fetching it reads the variable, feeding it overrides that read."""
    if node.op.name == "variable":
        return make_node(prims.get("read"), (node,))
    return node


def _fed_node(node):
    """The node a feed of `node` replaces: as _value_node, and a tensor refined by
    set_shape (an ensure_shape) feeds the tensor it refines, once checked against the
    refined shape."""
    while node.op.name == "ensure_shape":
        node = node.inputs[0]
    return _value_node(node)


# --- sparse tensors ------------------------------------------------------------------------
def sparse_feeds(feed_dict) -> dict:
    """`feed_dict` with each SparseTensor key replaced by its parts: its value is a
    SparseTensorValue or a tuple (indices, values, dense_shape). A dense_shape that is a
    constant (a sparse_placeholder of a fully known shape) is not fed; a value for it must
    equal it."""
    out = {}
    for key, value in feed_dict.items():
        if not isinstance(key, SparseTensor):
            out[key] = value
            continue
        if not (isinstance(value, SparseTensorValue) or
                (isinstance(value, tuple) and len(value) == 3)):
            raise TypeError(f"a SparseTensor is fed a SparseTensorValue or a tuple (indices, "
                            f"values, dense_shape), found {type(value).__name__} for {key!r}")
        indices, values, dense_shape = value
        out[key.indices], out[key.values] = indices, values
        fixed = _fixed_shape(key)
        if fixed is None:
            out[key.dense_shape] = dense_shape
            continue
        given = np.asarray(dense_shape)
        if given.shape != fixed.shape or not np.array_equal(given, fixed):
            raise ValueError(f"Cannot feed dense_shape {given.tolist()} to the SparseTensor "
                             f"of values '{key.values.name}': its dense_shape is fixed at "
                             f"{fixed.tolist()}")
    return out


def _fixed_shape(sparse: SparseTensor):
    """The dense_shape of `sparse` when it is known while building (not fed), else None."""
    from graphc.ops.array_ops import static_value
    return static_value(sparse.dense_shape)


def _sparse_fed(session, fetches, feed_list: list):
    """make_callable with SparseTensors in feed_list: a callable of the same arguments
    (a SparseTensorValue or tuple for each SparseTensor) over their parts."""
    inner_keys: list = []
    for key in feed_list:
        if isinstance(key, SparseTensor):
            inner_keys += [key.indices, key.values]
            if _fixed_shape(key) is None:
                inner_keys.append(key.dense_shape)
        else:
            inner_keys.append(key)
    inner = session.make_callable(fetches, inner_keys)

    def call(*values, **kwargs):
        if len(values) != len(feed_list):
            raise TypeError(f"this callable takes {len(feed_list)} feed values (one per "
                            f"feed_list entry), got {len(values)}")
        args: list = []
        for key, value in zip(feed_list, values):
            if isinstance(key, SparseTensor):
                args += list(sparse_feeds({key: value}).values())
            else:
                args.append(value)
        return inner(*args, **kwargs)
    return call


# --- fetch structures ---------------------------------------------------------------------
def _flatten(fetches, leaves: list):
    """A template of the structure, the leaves appended to `leaves` in order: None for a
    leaf, else (type, children), plus the default_factory for a dict (defaultdict needs it).
    A SparseTensor is the namedtuple SparseTensorValue of its three parts; a ComplexTensor
    the numpy complex array its fetched tensors make (ComplexTensor._fetch_plan)."""
    if isinstance(fetches, ComplexTensor):
        tensors, join = fetches._fetch_plan()
        return (ComplexTensor, [_flatten(t, leaves) for t in tensors], join)
    if isinstance(fetches, SparseTensor):
        parts = (fetches.indices, fetches.values, fetches.dense_shape)
        return (SparseTensorValue, [_flatten(v, leaves) for v in parts])
    if isinstance(fetches, dict):
        factory = getattr(fetches, "default_factory", None)
        return (type(fetches), [(k, _flatten(v, leaves)) for k, v in fetches.items()], factory)
    if isinstance(fetches, (list, tuple)):
        return (type(fetches), [_flatten(v, leaves) for v in fetches])
    leaves.append(fetches)
    return None


def _rebuild(template, values):
    if template is None:
        return next(values)
    kind, items = template[:2]
    if issubclass(kind, dict):
        out = {k: _rebuild(t, values) for k, t in items}
        if issubclass(kind, collections.defaultdict):  # its first argument is the factory
            return kind(template[2], out)
        return kind(out) if kind is not dict else out
    parts = [_rebuild(t, values) for t in items]
    if kind is ComplexTensor:
        return template[2](*parts)
    if issubclass(kind, tuple) and hasattr(kind, "_fields"):  # namedtuple
        return kind(*parts)
    return kind(parts)
