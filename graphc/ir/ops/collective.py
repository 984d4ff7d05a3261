"""Collectives: allreduce, allgather and broadcast of a tensor across the processes of a
communicator (data-parallel training, graphc.distributed).

A collective node is stateful (a fresh `uid`: two are never merged, folded or dropped, and
each runs once per run, where the program reaches it) and is lowered to a `host_call`
kernel (passes/lower.py) whose host function runs the collective on the plan's buffers in
place, with MPI (runtime/host_calls.py). Every process of the communicator must run the
same collectives in the same order: they build the same graph, which the compiler orders
deterministically (ir/node.topo_sort), and graphc.distributed chains the collectives of one
call (gradient buckets, a broadcast of many variables) by control dependencies.

Attributes: `comm`, the name of a communicator in COMMUNICATORS (graphc.distributed.init
registers "world"; "local" is the process alone, size 1, for tests), its `size`, and per op:
allreduce `op` ("sum" or "average") and `group` (a gradient bucket's number, 0 otherwise),
broadcast `root`; optionally `name`, what an error about the collective calls it, and
`fixed`, true when its input's shape is static (the communicator checks that every process
gives it the same dtype and shape: at its first run when fixed, else at every run). The numpy
reference is the collective itself (the reference target calls the same function the
compiled targets do).
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, FailedPreconditionError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register

REDUCE_OPS = ("sum", "average")
# dtypes MPI reduces natively (float16 has no MPI datatype)
COLLECTIVE_DTYPES = (dtypes.float32, dtypes.float64, dtypes.int32, dtypes.int64)


class LocalCommunicator:
    """The process alone (size 1): every collective is a copy. The interface the MPI
    communicator (graphc/distributed/comm.py) implements, on arrays that may be views of
    one buffer (an allreduce or broadcast in place)."""

    size, rank = 1, 0

    # name and key: what an error calls the collective, and what its shape check is
    # remembered by (MPICommunicator.same_everywhere); checked: compared already
    def allreduce(self, src: np.ndarray, dst: np.ndarray, op: str, name: str = "",
                  key=None, checked: bool = False) -> None:
        np.copyto(dst, src)

    def allgather(self, src: np.ndarray, dst: np.ndarray, name: str = "", key=None) -> None:
        np.copyto(dst, src)

    def broadcast(self, src: np.ndarray, dst: np.ndarray, root: int, name: str = "",
                  key=None) -> None:
        np.copyto(dst, src)


COMMUNICATORS: dict = {"local": LocalCommunicator()}


def communicator(name: str, size: int):
    """The communicator registered as `name`, checked to have `size` processes."""
    comm = COMMUNICATORS.get(name)
    if comm is None:
        raise FailedPreconditionError(f"no communicator named {name!r}: call "
                                      "graphc.distributed.init() before running collectives")
    if comm.size != size:
        raise FailedPreconditionError(f"the graph was built for {size} processes of "
                                      f"communicator {name!r}, which has {comm.size}")
    return comm


def _dtype(inputs, attrs):
    dt = inputs[0].dtype
    if dt not in COLLECTIVE_DTYPES:
        raise DTypeError(f"expects a float32, float64, int32 or int64 input, got {dt}")
    if not isinstance(attrs["comm"], str) or not isinstance(attrs["size"], int) \
            or attrs["size"] < 1:
        raise DTypeError(f"comm must be a communicator's name and size a positive int, got "
                         f"{attrs['comm']!r} and {attrs['size']!r}")
    return dt


def _reduce_dtype(inputs, attrs):
    dt = _dtype(inputs, attrs)
    if attrs["op"] not in REDUCE_OPS:
        raise DTypeError(f"op must be one of {REDUCE_OPS}, got {attrs['op']!r}")
    if attrs["op"] == "average" and dt.kind != "f":
        raise DTypeError(f"cannot average {dt} values across processes (use op='sum')")
    return dt


def _gather_shape(inputs, attrs):
    shape = inputs[0].shape
    if not shape:
        raise ShapeError("cannot gather scalars: the input needs a first axis")
    return (None if shape[0] is None else shape[0] * attrs["size"],) + tuple(shape[1:])


def _broadcast_shape(inputs, attrs):
    if not 0 <= attrs["root"] < attrs["size"]:
        raise ShapeError(f"root {attrs['root']} is not a process of a communicator of size "
                         f"{attrs['size']}")
    return inputs[0].shape


# --- what each computes, into a destination array (the host call writes the plan's buffer)
def _check_key(attrs):
    """What the communicator remembers a collective's shape check by (its node's uid, where
    the input's shape is static: checked once), or None (checked at every run)."""
    return attrs["uid"] if attrs.get("fixed") else None


def allreduce_into(src, dst, *, op, comm, size, name="", **attrs) -> None:
    """dst = the sum over processes of src (divided by size for 'average')."""
    communicator(comm, size).allreduce(src, dst, op, name=name, key=_check_key(attrs))
    if op == "average" and size > 1:
        np.divide(dst, size, out=dst)


def allgather_into(src, dst, *, comm, size, name="", **attrs) -> None:
    """dst = the processes' src concatenated along the first axis, in rank order."""
    communicator(comm, size).allgather(src, dst, name=name, key=_check_key(attrs))


def broadcast_into(src, dst, *, root, comm, size, name="", **attrs) -> None:
    """dst = src of process `root`."""
    communicator(comm, size).broadcast(src, dst, root, name=name, key=_check_key(attrs))


INTO = {"allreduce": allreduce_into, "allgather": allgather_into,
        "broadcast": broadcast_into}


def _reference(name: str, shape_of):
    def run(x, **attrs):
        src = np.ascontiguousarray(x)
        dst = np.empty(shape_of(src.shape, attrs), src.dtype)
        INTO[name](src, dst, **attrs)
        return dst
    return run


def _same(shape, attrs):
    return shape


def _gathered(shape, attrs):
    return (shape[0] * attrs["size"],) + shape[1:]


register(Primitive("allreduce", "opaque", 1, _reduce_dtype, lambda inputs, attrs:
                   inputs[0].shape, _reference("allreduce", _same), stateful=True,
                   handles_unknown_rank=True,
                   doc="the sum (attrs['op'] 'sum') or mean ('average') of its input over the "
                       "processes of communicator attrs['comm']"))
register(Primitive("allgather", "opaque", 1, _dtype, _gather_shape,
                   _reference("allgather", _gathered), stateful=True,
                   doc="the processes' inputs concatenated along the first axis, in rank order"))
register(Primitive("broadcast", "opaque", 1, _dtype, _broadcast_shape,
                   _reference("broadcast", _same), stateful=True, handles_unknown_rank=True,
                   doc="process attrs['root']'s input, on every process"))
COLLECTIVES = tuple(INTO)
