"""Exceptions raised by graphc (also reachable as `graphc.errors`, like `tf.errors`).

Graph-construction errors subclass the builtin a Python user expects (ValueError for shapes,
TypeError for dtypes). Run-time errors follow TF1's OpError family, carry the offending node
and name the user's file:line where it was created.
"""

from __future__ import annotations


class GraphcError(Exception):
    """Base class of every graphc exception."""


class ShapeError(GraphcError, ValueError):
    """Incompatible or invalid shapes while building a node."""


class DTypeError(GraphcError, TypeError):
    """Incompatible or unsupported dtypes while building a node."""


class VerifyError(GraphcError):
    """The IR verifier found a malformed node."""


class OpError(GraphcError):
    """An error while running a graph; `node` is the IR node that failed, if known."""

    def __init__(self, message: str, node=None):
        super().__init__(message)
        self.message = message
        self.node = node


class InvalidArgumentError(OpError, ValueError):
    """An op received an argument it cannot compute with (bad feed, bad value at run time)."""


class FailedPreconditionError(OpError):
    """The state needed is missing, e.g. reading a variable that was never initialized."""


class NotFoundError(OpError, KeyError):
    """Something named does not exist (a tensor name, a checkpoint entry)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class UnimplementedError(OpError):
    """The requested operation or target is not available."""
