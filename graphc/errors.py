"""Exceptions raised by graphc (also reachable as `graphc.errors`, like `tf.errors`).

Graph-construction errors subclass the builtin a Python user expects (ValueError for shapes,
TypeError for dtypes). Run-time errors follow TF1's OpError family, carry the offending node
and name the user's file:line where it was created.
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CLI = os.path.join(_PACKAGE_DIR, "cli.py")


def user_location() -> str:
    """file:line of the innermost stack frame outside the graphc library: user code, or
    graphc's own command line (`graphc demo` builds graphs too); failing those, the
    outermost graphc frame."""
    frame, last_own = sys._getframe(1), "<unknown>"
    while frame is not None:
        path = frame.f_code.co_filename
        here = f"{os.path.basename(path)}:{frame.f_lineno}"
        if os.path.abspath(path) == _CLI:
            return here
        if os.path.abspath(path).startswith(_PACKAGE_DIR + os.sep):
            last_own = here
        elif not path.startswith("<frozen") and (path.endswith(".py") or path.startswith("<")):
            return here  # (a console-script wrapper, a file without .py, is not user code)
        frame = frame.f_back
    return last_own


class GraphcError(Exception):
    """Base class of every graphc exception."""


class BuildError(GraphcError):
    """An error while building the graph; its text ends with the user's file:line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.location = user_location()

    def __str__(self) -> str:
        message = super().__str__()
        return message if self.location in message else f"{message} (at {self.location})"


class ShapeError(BuildError, ValueError):
    """Incompatible or invalid shapes while building a node."""


class DTypeError(BuildError, TypeError):
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


class AlreadyExistsError(OpError):
    """Something to be created exists already (a file, a directory)."""


class PermissionDeniedError(OpError):
    """The operating system refused access (a file opened for the wrong mode)."""


class OutOfRangeError(OpError):
    """An iterator has no more elements (the end of a tf.data epoch)."""


class DataLossError(OpError):
    """A file is truncated or corrupted (a checkpoint, a TFRecord): its data cannot be
    trusted."""


# --- run-time failures every target reports in the same words ---------------------------------
def format_shape(shape) -> str:
    """(2, ?, 3) style text; '<unknown rank>' for None."""
    if shape is None:
        return "<unknown rank>"
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


def unfed_placeholder(where: str, node) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"You must feed a value for placeholder {where} with dtype {node.dtype} and shape "
        f"{format_shape(node.shape)}", node)


def uninitialized_variable(where: str, var) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"Attempting to use uninitialized value {where}; run its initializer first (e.g. "
        "tf.global_variables_initializer())", var)


def assign_shape_message(where: str, where_var: str, value_shape, var_shape) -> str:
    return (f"{where}: cannot assign a value of shape {format_shape(value_shape)} to variable "
            f"{where_var} of shape {format_shape(var_shape)}")
