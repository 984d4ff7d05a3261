"""Variables: tf.Variable, get_variable with variable scopes, initializers, assignments.

A Variable is three nodes: the `variable` handle (state that persists in the session), the
initializer `assign(handle, initial_value)`, and the canonical `read(handle)`. Reading under
`control_dependencies` makes a separate read that runs after those dependencies, so a read
placed after an assignment sees the new value.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Optional

from graphc.errors import ShapeError
from graphc.framework.graph import get_default_graph
from graphc.framework.sessions import default_session_for
from graphc.ir import dtypes
from graphc.ir.shapes import format_shape
from graphc.ops import init_ops
from graphc.ops.overloads import install
from graphc.ops.tensor import Operation, Tensor, TensorShape, convert_to_tensor, make_tensor


class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    GLOBAL_STEP = "global_step"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    SUMMARIES = "summaries"
    METRIC_VARIABLES = "metric_variables"


class Variable:
    """A tensor whose value persists across Session.run calls and changes by assignment."""

    def __init__(self, initial_value=None, trainable=True, collections=None,
                 validate_shape=True, caching_device=None, name=None, variable_def=None,
                 dtype=None, expected_shape=None, import_scope=None, constraint=None,
                 use_resource=None, synchronization=None, aggregation=None, shape=None):
        if initial_value is None:
            raise ValueError("initial_value must be specified")
        if constraint is not None and not callable(constraint):
            raise ValueError(f"the constraint of variable '{name}' must be callable, got "
                             f"{constraint!r}")
        self._constraint = constraint  # applied by tf.train's optimizers after each update
        graph = get_default_graph()
        self.graph = graph
        self.trainable = bool(trainable)
        with graph.name_scope(graph.unique_name(name or "Variable") + "/") as scope:
            self._name = scope[:-1]
            with graph.control_dependencies(None):
                value = initial_value() if callable(initial_value) else initial_value
                init = convert_to_tensor(value, dtype=dtype, name="initial_value")
            static = init.node.shape if shape is None else TensorShape(shape).dims
            if static is None or None in static:
                raise ShapeError(f"variable '{self._name}' needs a fully known shape, its "
                                 f"initial value has shape {format_shape(static)}")
            if shape is not None and not init.shape.is_compatible_with(static):
                raise ShapeError(f"variable '{self._name}': initial value of shape "
                                 f"{init.shape} does not match shape {format_shape(static)}")
            self._handle = make_tensor("variable", (), {"dtype": init.dtype, "shape": static},
                                       scope, graph, control=False)
            self._initial_value = init
            self._init = make_tensor("assign", (self._handle, init), {"mode": "set"}, "Assign",
                                     graph, control=False)
            self._read = make_tensor("read", (self._handle,), None, "read", graph,
                                     control=False)
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if self.trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        for key in collections:
            graph.add_to_collection(key, self)

    # --- identity --------------------------------------------------------------------------
    @property
    def constraint(self):
        """The projection applied after each optimizer update (TF1's Variable.constraint)."""
        return self._constraint

    @property
    def name(self) -> str:
        return f"{self._name}:0"

    @property
    def op(self) -> Operation:
        return Operation(self._handle.node, self.graph, self._name)

    @property
    def handle(self) -> Tensor:
        return self._handle

    @property
    def dtype(self) -> dtypes.DType:
        return self._handle.dtype

    @property
    def shape(self) -> TensorShape:
        return self._handle.shape

    def get_shape(self) -> TensorShape:
        return self.shape

    @property
    def device(self) -> str:
        return ""

    @property
    def initializer(self) -> Operation:
        return Operation(self._init.node, self.graph, self._init._op_name)

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def initialized_value(self) -> Tensor:
        """The initial value, for initializing another variable from this one."""
        return self._initial_value

    def __repr__(self) -> str:
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype}>"

    __hash__ = object.__hash__

    # --- reading ----------------------------------------------------------------------------
    def _as_graph_tensor(self) -> Tensor:
        if self.graph.control_inputs():
            return make_tensor("read", (self._handle,), None, f"{self._name}/read", self.graph)
        return self._read

    def value(self) -> Tensor:
        return self._read

    def read_value(self) -> Tensor:
        return self._as_graph_tensor()

    def eval(self, session=None):
        return self._as_graph_tensor().eval(session=session)

    def load(self, value, session=None) -> None:
        """Write a numpy value into this variable in `session` (no ops are added)."""
        default_session_for(session, self.graph).load_variable(self, value)

    # --- assignment -------------------------------------------------------------------------
    def _assign(self, mode: str, value, name: Optional[str]) -> Tensor:
        value = convert_to_tensor(value, dtype=self.dtype)
        return make_tensor("assign", (self._handle, value), {"mode": mode},
                           name or {"set": "Assign", "add": "AssignAdd", "sub": "AssignSub"}[mode])

    def assign(self, value, use_locking=None, name=None, read_value=True) -> Tensor:
        return self._assign("set", value, name)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True) -> Tensor:
        return self._assign("add", delta, name)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True) -> Tensor:
        return self._assign("sub", delta, name)


install(Variable)


def assign(ref, value, validate_shape=None, use_locking=None, name=None) -> Tensor:
    return _variable(ref, "assign").assign(value, name=name)


def assign_add(ref, value, use_locking=None, name=None) -> Tensor:
    return _variable(ref, "assign_add").assign_add(value, name=name)


def assign_sub(ref, value, use_locking=None, name=None) -> Tensor:
    return _variable(ref, "assign_sub").assign_sub(value, name=name)


def _variable(ref, what) -> Variable:
    if not isinstance(ref, Variable):
        raise TypeError(f"{what} needs a tf.Variable as its first argument, got {ref!r}")
    return ref


# --- collections and initializers ---------------------------------------------------------
def global_variables(scope=None) -> list:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def trainable_variables(scope=None) -> list:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None) -> list:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def variables_initializer(var_list, name="init") -> Operation:
    from graphc.ops.control_flow_ops import group
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables(), name="init")


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_local")


initialize_all_variables = global_variables_initializer


# --- variable scopes and get_variable -----------------------------------------------------
class _AutoReuse:
    def __repr__(self):
        return "tf.AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


@dataclass
class VariableScope:
    name: str
    reuse: Any = False
    initializer: Any = None
    dtype: dtypes.DType = dtypes.float32
    regularizer: Any = None
    default_name_counts: dict = field(default_factory=dict)

    def reuse_variables(self) -> None:
        self.reuse = True


def get_variable_scope() -> VariableScope:
    stack = get_default_graph()._variable_scope_stack
    return stack[-1] if stack else _root_scope()


def _root_scope() -> VariableScope:
    graph = get_default_graph()
    root = graph._variable_store.get("")
    if root is None:
        root = graph._variable_store[""] = VariableScope("")
    return root


@contextlib.contextmanager
def variable_scope(name_or_scope=None, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None,
                   custom_getter=None, reuse=None, dtype=None, use_resource=None,
                   constraint=None, auxiliary_name_scope=True):
    """Prefix get_variable names; reuse=True shares existing variables, AUTO_REUSE either."""
    graph = get_default_graph()
    parent = get_variable_scope()
    if isinstance(name_or_scope, VariableScope):
        full, short = name_or_scope.name, name_or_scope.name.split("/")[-1]
    else:
        if name_or_scope is None:
            if default_name is None:
                raise ValueError("variable_scope needs name_or_scope or default_name")
            count = parent.default_name_counts.get(default_name, 0)
            parent.default_name_counts[default_name] = count + 1
            short = default_name if count == 0 else f"{default_name}_{count}"
        else:
            short = name_or_scope
        full = f"{parent.name}/{short}" if parent.name else short
    # As TF1: reuse=None or False inherits (a reusing scope cannot be left by nesting).
    scope = VariableScope(full, parent.reuse if reuse in (None, False) else reuse,
                          initializer or parent.initializer,
                          dtypes.as_dtype(dtype) if dtype is not None else parent.dtype,
                          regularizer or parent.regularizer)
    graph._variable_scope_stack.append(scope)
    try:
        if auxiliary_name_scope:
            with graph.name_scope(short):
                yield scope
        else:
            yield scope
    finally:
        graph._variable_scope_stack.pop()


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 synchronization=None, aggregation=None) -> Variable:
    """The variable `scope/name`: created, or shared under reuse, as in TF1.

    A regularizer (here or on the scope) is called on a new variable and its result added to
    the REGULARIZATION_LOSSES collection (see tf.losses.get_regularization_loss).
    """
    graph = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    store = graph._variable_store.setdefault("vars", {})
    dims = None if shape is None else TensorShape(shape).dims
    if full in store:
        if scope.reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set "
                             "reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        var = store[full]
        if dims is not None and tuple(dims) != tuple(var.shape.dims):
            raise ValueError(f"Trying to share variable {full}, but specified shape "
                             f"{format_shape(dims)} and found shape {var.shape}.")
        if dtype is not None and dtypes.as_dtype(dtype) is not var.dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype "
                             f"{dtypes.as_dtype(dtype)} and found dtype {var.dtype}.")
        return var
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                         "VarScope?")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else scope.dtype
    initializer = initializer if initializer is not None else scope.initializer
    if initializer is None:
        initializer = (init_ops.glorot_uniform_initializer() if dtype.kind == "f"
                       else init_ops.zeros_initializer())
    if callable(initializer):
        if dims is None or None in dims:
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                             f"instead was {format_shape(dims)}.")
        def initial_value():
            return initializer(dims, dtype=dtype)
    else:
        initial_value = initializer
    var = Variable(initial_value, trainable=True if trainable is None else trainable,
                   collections=collections, name=full + "/", dtype=dtype, shape=dims,
                   constraint=constraint)
    store[full] = var
    regularizer = regularizer or scope.regularizer
    if regularizer is not None:
        with graph.name_scope(full + "/Regularizer/"):
            penalty = regularizer(var)
        if penalty is not None:  # TF1: a regularizer may decline by returning None
            graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, penalty)
    return var
