"""The Graph: where user code builds L1 nodes, and what it keeps beside them.

Nodes themselves are pure interned values (node.py). A Graph records, for the nodes built in
it: their order of creation, their names (TF1-style, unique, scoped: "layer1/add_2"), and the
user's file:line. It also holds the building context a TF1 program expects: the name-scope
and control-dependency stacks, collections, the graph-level random seed and the stack of
default graphs.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Optional

from graphc.errors import DTypeError, ShapeError, user_location  # noqa: F401
from graphc.framework.tensor import Operation, Tensor
from graphc.ir import ops as prims
from graphc.ir.node import Node, make_node, topo_sort


@dataclass(frozen=True)
class NodeInfo:
    """What a Graph knows about a node beyond its structure."""

    name: str
    location: str  # "file.py:12" of the user's code that built it


class Graph:
    """A TF1-style graph: the context in which ops are built (`with g.as_default(): ...`)."""

    def __init__(self):
        self._nodes: dict[Node, NodeInfo] = {}  # creation order, first info wins
        self._names: dict[str, Node] = {}
        self._names_in_use: dict[str, int] = {}
        self._scope = ""
        self._control: list[Optional[list[Node]]] = []
        self._collections: dict[str, list] = {}
        self._finalized = False
        self.seed: Optional[int] = None
        self._seed_counter = 0
        self._lock = threading.RLock()
        self._variable_store: dict = {}  # for get_variable, owned by graphc.ops.variables
        self._variable_scope_stack: list = []
        self._host_feeds: dict = {}  # placeholder node -> HostFeed (graphc/runtime/host.py)
        self._host_taps: dict = {}  # node -> HostTap (graphc/runtime/host.py)

    # --- building -------------------------------------------------------------------------
    def create(self, op_name: str, inputs=(), attrs=None, name: Optional[str] = None,
               control: bool = True) -> tuple[Node, str]:
        """Build the node op(inputs; attrs) here; return it with the unique name it got.

        A name ending in '/' is a scope already made unique (what `name_scope` yields) and is
        used as is, as TF1's create_op does: the op that names its scope, like a variable's
        handle 'v' under scope 'v/'. Shape and dtype errors name the op, the node's name and
        the user's file:line.
        """
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        op = prims.get(op_name)
        deps = self.control_inputs() if control else ()
        try:
            node = make_node(op, inputs, attrs, deps)
        except (ShapeError, DTypeError) as e:
            where = user_location()
            op_text = self._scoped(name or op_name)
            raise type(e)(f"{e.args[0]} (op '{op_text}' at {where})") from None
        with self._lock:
            full = name[:-1] if name and name.endswith("/") else self.unique_name(name or op_name)
            self._names[full] = node
            if node not in self._nodes:
                self._nodes[node] = NodeInfo(full, user_location())
        return node, full

    def adopt(self, roots) -> list:
        """Name the nodes reachable from `roots` that this graph has not seen (nodes built
        below the API, as gradients are) in the current scope, as create would name them:
        the op's name in TF1's spelling ("reduce_sum" -> "ReduceSum"). Returns the roots'
        names."""
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        roots = list(roots)
        location = user_location()
        with self._lock:
            for node in topo_sort(roots, stop=self._nodes):
                if node not in self._nodes:
                    full = self.unique_name("".join(
                        part.capitalize() for part in node.op.name.split("_")))
                    self._names[full] = node
                    self._nodes[node] = NodeInfo(full, location)
        return [self._nodes[n].name for n in roots]

    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """`name` under the current scope, suffixed _1, _2... if already taken (as TF1).

        A name ending in '/' is absolute: not prefixed by the current scope.
        """
        full = name[:-1] if name.endswith("/") else self._scoped(name)
        key = full.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = count + 1
        if count:
            base = full
            while f"{base}_{count}".lower() in self._names_in_use:
                count += 1
            full = f"{base}_{count}"
            if mark_as_used:
                self._names_in_use[full.lower()] = 1
        return full

    def _scoped(self, name: str) -> str:
        return f"{self._scope}/{name}" if self._scope else name

    def info(self, node: Node) -> Optional[NodeInfo]:
        return self._nodes.get(node)

    def inherit(self, renamed: dict) -> None:
        """Give each rebuilt node of {node: rebuilt} the name and location of the node it
        was rebuilt from (a region's copy of what the user's function built)."""
        with self._lock:
            for old, new in renamed.items():
                info = self._nodes.get(old)
                if info is not None and new not in self._nodes:
                    self._nodes[new] = info

    def describe(self, node: Node) -> str:
        """"'name' (op at file:line)" for messages; works for nodes built elsewhere too."""
        info = self._nodes.get(node)
        if info is None:
            return f"a {node.op.name} node"
        return f"'{info.name}' ({node.op.name} created at {info.location})"

    @property
    def nodes(self) -> list:
        """Every node built in this graph, in creation order."""
        return list(self._nodes)

    def node_by_name(self, name: str) -> Optional[Node]:
        return self._names.get(name)

    def finalize(self) -> None:
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    # --- scopes and control dependencies -----------------------------------------------------
    @contextlib.contextmanager
    def name_scope(self, name: Optional[str]):
        """Prefix names built inside with `name/`; reusing a scope name makes `name_1/`.

        A name ending in '/' re-enters that exact scope; None or '' returns to the root.
        """
        old = self._scope
        if not name:
            scope = ""
        elif name.endswith("/"):  # re-entering a scope made earlier: exactly that name
            scope = name[:-1]
            self._names_in_use.setdefault(scope.lower(), 1)
        else:
            scope = self.unique_name(name)
        self._scope = scope
        try:
            yield scope + "/" if scope else ""
        finally:
            self._scope = old

    @property
    def current_scope(self) -> str:
        return self._scope

    @contextlib.contextmanager
    def control_dependencies(self, nodes):
        """Nodes built inside run after `nodes`; None clears the enclosing dependencies."""
        self._control.append(None if nodes is None else list(nodes))
        try:
            yield
        finally:
            self._control.pop()

    def control_inputs(self) -> tuple:
        deps = []
        for frame in reversed(self._control):
            if frame is None:
                break
            deps[:0] = frame
        return tuple(dict.fromkeys(deps))

    @contextlib.contextmanager
    def as_default(self):
        _default_stack().append(self)
        try:
            yield self
        finally:
            _default_stack().pop()

    # --- collections and seeds -----------------------------------------------------------------
    def add_to_collection(self, name: str, value) -> None:
        self._collections.setdefault(name, []).append(value)

    def get_collection(self, name: str, scope: Optional[str] = None) -> list:
        items = list(self._collections.get(name, []))
        if scope is None:
            return items
        return [v for v in items if getattr(v, "name", "").startswith(scope)]

    def get_collection_ref(self, name: str) -> list:
        return self._collections.setdefault(name, [])

    def next_op_seed(self) -> int:
        self._seed_counter += 1
        return self._seed_counter

    def __str__(self) -> str:
        from graphc.ir.printer import format_graph
        return format_graph(self)

    # --- TF1 lookups (they hand out the tensor layer's handles) ------------------------------
    def get_tensor_by_name(self, name: str):
        problem = self.missing_tensor(name)
        if problem:
            raise KeyError(problem)
        op_name = name.partition(":")[0]
        return Tensor(self._names[op_name], self, op_name)

    def missing_tensor(self, name: str) -> Optional[str]:
        """Why "op:0" names no tensor here (None when it does). A node has one output, 0,
        except effect-only nodes (no_op, group), which have none."""
        op_name, colon, index = name.partition(":")
        if not colon:
            return (f"The name '{name}' looks like an (invalid) Operation name, not a Tensor. "
                    "Tensor names must be of the form \"<op_name>:<output_index>\".")
        node = self._names.get(op_name)
        prefix = f"The name '{name}' refers to a Tensor which does not exist."
        if node is None:
            return f"{prefix} The operation, '{op_name}', does not exist in the graph."
        outputs = 0 if node.dtype is None else 1
        if index != "0" or not outputs:
            return (f"{prefix} The operation, '{op_name}', exists but only has {outputs} "
                    f"output{'' if outputs == 1 else 's'}.")
        return None

    def get_operation_by_name(self, name: str):
        node = self._names.get(name)
        if node is None:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.")
        return Operation(node, self, name)

    def get_operations(self) -> list:
        return [Operation(node, self, name) for name, node in self._names.items()]


class _DefaultStack(threading.local):
    def __init__(self):
        self.stack: list[Graph] = []


_STACK = _DefaultStack()
_GLOBAL_DEFAULT = [Graph()]


def _default_stack() -> list:
    return _STACK.stack


def get_default_graph() -> Graph:
    stack = _default_stack()
    return stack[-1] if stack else _GLOBAL_DEFAULT[0]


def reset_default_graph() -> None:
    """Replace the global default graph with a new, empty one (not inside `as_default`)."""
    if _default_stack():
        raise AssertionError("Do not use tf.reset_default_graph() to clear nested graphs. "
                             "If you need a cleared graph, exit the nesting and create a "
                             "new graph.")
    _GLOBAL_DEFAULT[0] = Graph()
