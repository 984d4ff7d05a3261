"""Host calls: compiled code calling back into Python in the middle of a run, where its
program reaches them (tf.print and tf.Print; the collectives of graphc.distributed).

A `print` node (graphc/ir/ops/state.py) or a collective (allreduce, allgather, broadcast:
graphc/ir/ops/collective.py) lowers to a kernel whose body is one `host_call` Intrinsic
(passes/lower.py): its buffers are the plan's callback slot, then the printed values, or a
collective's input and output (one buffer when the output took the input's place); its
arguments are the node's uid and the kernel's message code for a failed call. A collective
runs MPI on those buffers' memory (numpy views of the arena, no copy through Python
objects). Each target runs a host call when its program gets there, inside loops and
branches too:

    llvm       the kernel calls the function whose address the callback slot holds, with
               the uid and an array of the values' addresses (`Callbacks`, a ctypes
               callback); a non-zero return stops the run as a failed Check does, and the
               executor raises what the call raised
    cuda       the executor downloads the values when its program reaches the kernel,
               which has no launch of its own (the emulated target too), and uploads a
               collective's result
    reference  the executor calls `emit` when it evaluates a print, a collective's
               numpy reference (the same collective) for the others

So prints come out in program order, once per loop iteration, and those before a failure
are written before the run fails (as in TF). `first_n` is counted per session.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from graphc.ir import kernel as K
from graphc.ir.ops.collective import INTO
from graphc.runtime.printing import render, stream_of, write

HOST_CALLS = ("print",) + tuple(INTO)  # the ops a plan calls back for
# int32 callback(int64 uid, void **values): 0, or non-zero when the call failed
CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p)


def calls_of(kernels) -> dict:
    """{uid: print or collective node} of the host calls among `kernels` (a node may appear
    in several kernels: a loop and its gradient's saving copy share it)."""
    out = {}
    for kernel in kernels:
        call = K.host_call(kernel)
        if call is not None:
            out[int(call.args[0].value)] = kernel.notes["node"]
    return out


def emit(state, node, values) -> None:
    """Run print node `node` on `values` (one array per input) for the session whose
    RuntimeState is `state`."""
    attrs = node.attrs
    if not state.prints:  # a run repeated by graphc check
        return
    if attrs["first_n"] >= 0:
        key = ("printed", attrs["uid"])
        count = state.host.get(key, 0)
        if count >= attrs["first_n"]:
            return
        state.host[key] = count + 1
    write(stream_of(attrs["stream"]), render(attrs, values))


def run_collective(node, src: np.ndarray, dst: np.ndarray) -> None:
    """Run collective node `node` from `src` into `dst` (may be views of one buffer)."""
    INTO[node.op.name](src, dst, **node.attrs)


def layout_of(node) -> list:
    """(dtype, shape) of each buffer a host call of `node` passes: a print's values, a
    collective's input and output."""
    values = list(node.inputs) if node.op.name == "print" else [node.inputs[0], node]
    return [(x.dtype.np, tuple(x.shape)) for x in values]


def call(state, node, arrays) -> None:
    """Run host call `node` on `arrays` (as layout_of lists them)."""
    if node.op.name == "print":
        emit(state, node, arrays)
    else:
        run_collective(node, *arrays)


class Callbacks:
    """The LLVM target's callback for one plan of one session: `address` goes in the
    plan's callback slot. What a call raised is kept in `error` for the executor."""

    def __init__(self, state, kernels, calls=None):
        """calls: {uid: (node, layout)} where the kernels do not hold their nodes (a stored
        plan's: runtime/plan_store.load_session), else found in `kernels`."""
        self.state = state
        self.calls = calls if calls is not None else \
            {uid: (node, layout_of(node)) for uid, node in calls_of(kernels).items()}
        self.error = None
        self.function = CALLBACK_TYPE(self._call)  # (kept alive with the plan)
        self.address = ctypes.cast(self.function, ctypes.c_void_p).value

    def _call(self, uid: int, pointers: int) -> int:
        try:
            node, layout = self.calls[uid]
            addresses = (ctypes.c_void_p * len(layout)).from_address(pointers) \
                if layout else ()
            call(self.state, node, [array_at(a, dtype, shape)
                                    for a, (dtype, shape) in zip(addresses, layout)])
            return 0
        except BaseException as e:  # noqa: BLE001 - raised again by the executor
            self.error = e
            return 1

    def take_error(self):
        """What the last failed call raised (once), or None."""
        error, self.error = self.error, None
        return error


def array_at(address: int, dtype, shape) -> np.ndarray:
    """A view of the `shape` array of `dtype` at `address` (native memory: plan buffers)."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes == 0:
        return np.empty(shape, dtype)
    return np.frombuffer((ctypes.c_char * nbytes).from_address(address), dtype).reshape(shape)
