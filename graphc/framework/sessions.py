"""The default session: what `Session.as_default()` pushes and `Tensor.eval()` and
`Operation.run()` read, one stack per thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphc.framework.graph import Graph


class _SessionStack(threading.local):
    def __init__(self):
        self.stack: list = []


SESSIONS = _SessionStack()


def get_default_session():
    return SESSIONS.stack[-1] if SESSIONS.stack else None


def default_session_for(session, graph: Graph):
    """`session`, or the default one, checked to run `graph` (Tensor.eval, Operation.run)."""
    session = session or get_default_session()
    if session is None:
        raise ValueError("Cannot evaluate tensor using `eval()`: No default session is "
                         "registered. Use `with sess.as_default()` or pass an explicit "
                         "session to `eval(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph "
                         "is different from the session's graph.")
    return session
