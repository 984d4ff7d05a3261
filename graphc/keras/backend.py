"""tf.keras.backend (TF 1.15, graph mode): Keras's session, the learning phase, and reading
and writing variables through that session.

Contracts:
- `get_session()` is the default session when one is active (`with sess.as_default():`),
  else Keras's own session for the default graph (created on first use, kept until
  `clear_session()` or `set_session()`). Either way, variables of the graph that the session
  has no value for yet are initialized first; a value already there (set by the user, by
  `set_weights`, by an earlier run) is never overwritten.
- `learning_phase()` is one `placeholder_with_default(False, [])` per graph: layers built
  with `training=None` (Dropout, BatchNormalization) select on it, and `fit` feeds True.
  `set_learning_phase(0 or 1)` fixes it to a Python value for layers built afterwards.
"""

from __future__ import annotations

import weakref

import numpy as np

from graphc.framework.graph import get_default_graph, reset_default_graph
from graphc.framework.sessions import get_default_session
from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops.variables import global_variables, variables_initializer

_SESSIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> Session
_PHASES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> placeholder
_FIXED_PHASE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> 0 or 1
_UIDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> {prefix: n}

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    return _FLOATX


def epsilon() -> float:
    """The fuzz factor of Keras's losses and optimizers (1e-7)."""
    return _EPSILON


def image_data_format() -> str:
    return "channels_last"


def get_uid(prefix: str = "") -> int:
    """1, 2, 3, ... per prefix and default graph (Keras names Input layers input_1, ...)."""
    counts = _UIDS.setdefault(get_default_graph(), {})
    counts[prefix] = counts.get(prefix, 0) + 1
    return counts[prefix]


# --- the session --------------------------------------------------------------------------
def get_session():
    """The session Keras runs in (see the module docstring), its variables initialized."""
    session = get_default_session()
    if session is None:
        graph = get_default_graph()
        session = _SESSIONS.get(graph)
        if session is None or session._closed:
            from graphc.runtime.session import Session
            session = _SESSIONS[graph] = Session(graph=graph)
    initialize_variables(session)
    return session


def set_session(session) -> None:
    """Make `session` Keras's session for its graph."""
    _SESSIONS[session.graph] = session


def clear_session() -> None:
    """Forget Keras's sessions and start a new default graph (layer names restart)."""
    for session in list(_SESSIONS.values()):
        session.close()
    _SESSIONS.clear()
    reset_default_graph()


def initialize_variables(session) -> None:
    """Initialize the variables of the session's graph that it holds no value for."""
    store = session._state.variables
    fresh = [v for v in global_variables_of(session.graph) if v.handle.node not in store]
    if fresh:
        with session.graph.as_default():
            session.run(variables_initializer(fresh))


def global_variables_of(graph) -> list:
    with graph.as_default():
        return global_variables()


# --- the learning phase ---------------------------------------------------------------------
def learning_phase():
    """0 or 1 after set_learning_phase, else the graph's bool placeholder (default False)."""
    graph = get_default_graph()
    if graph in _FIXED_PHASE:
        return _FIXED_PHASE[graph]
    return symbolic_learning_phase()


def symbolic_learning_phase():
    """The graph's learning-phase placeholder, whatever set_learning_phase says."""
    graph = get_default_graph()
    phase = _PHASES.get(graph)
    if phase is None:
        with graph.name_scope(None):
            phase = _PHASES[graph] = A.placeholder_with_default(
                False, shape=[], name="keras_learning_phase")
    return phase


def set_learning_phase(value) -> None:
    if value not in (0, 1):
        raise ValueError(f"Expected learning phase to be 0 or 1, got {value!r}")
    _FIXED_PHASE[get_default_graph()] = int(value)


# --- values ----------------------------------------------------------------------------------
def get_value(x):
    """The numpy value of a variable (or tensor) in Keras's session."""
    with x.graph.as_default():
        return get_session().run(x)


def batch_get_value(tensors) -> list:
    if not tensors:
        return []
    with tensors[0].graph.as_default():
        return list(get_session().run(list(tensors)))


def set_value(x, value) -> None:
    batch_set_value([(x, value)])


def batch_set_value(pairs) -> None:
    """Load each (variable, value); a value of another shape is a ValueError naming both."""
    pairs = list(pairs)
    if not pairs:
        return
    with pairs[0][0].graph.as_default():
        session = get_session()
        for variable, value in pairs:
            value = np.asarray(value, dtype=variable.dtype.np)
            want = tuple(variable.shape.as_list())
            if value.shape != want:
                raise ValueError(f"cannot set {variable.name} (shape {want}) to a value of "
                                 f"shape {value.shape}")
            session.load_variable(variable, value)


def cast_to_floatx(x):
    return np.asarray(x, dtype=dtypes.as_dtype(_FLOATX).np)
