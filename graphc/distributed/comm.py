"""The process group: init, rank and size, and the MPI communicator the collectives run on.

`init()` looks at how the program was started. Under a launcher (`mpirun -n N`, which sets
OMPI_COMM_WORLD_SIZE, or a PMI launcher's PMI_SIZE) it joins MPI through mpi4py and
registers the world communicator as "world" in graphc's communicator table
(graphc/ir/ops/collective.py), where the compiled collectives find it. Started as a plain
`python train.py`, it does not touch MPI at all: one process, size 1, and the collectives
of graphc.distributed are identities that compile to nothing. These launcher variables are
the only environment graphc.distributed reads, here and nowhere else.

With more than one process, an exception that no one catches ends the whole job
(MPI_Abort, as `python -m mpi4py` does) instead of leaving the other processes waiting in
a collective forever.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np

from graphc.errors import FailedPreconditionError
from graphc.ir.ops.collective import COLLECTIVE_DTYPES, COMMUNICATORS, LocalCommunicator

WORLD = "world"  # the name the collectives' `comm` attribute gives the world communicator
# the variables a launcher sets to the number of processes it started
LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
INSTALL_HINT = "pip install 'graphc[distributed]'"


class MPICommunicator:
    """Collectives on an mpi4py communicator, on numpy arrays that may be views of one
    buffer (then MPI works in place: MPI.IN_PLACE)."""

    def __init__(self, comm, mpi):
        self.comm, self.mpi = comm, mpi
        self._checked: set = set()  # same_everywhere's keys
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        local = comm.Split_type(mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_size, self.local_rank = local.Get_size(), local.Get_rank()
        local.Free()

    def allreduce(self, src: np.ndarray, dst: np.ndarray, op: str, name: str = "",
                  key=None, checked: bool = False) -> None:
        """checked: the caller has compared the processes' buffers already (a
        DistributedOptimizer's buckets, graphc/distributed/fingerprint.py)."""
        if not checked:
            self.same_everywhere("allreduce", name, src, key)
        # 'average' is a sum here; the caller divides (collective.allreduce_into)
        send = self.mpi.IN_PLACE if _same_buffer(src, dst) else src
        self.comm.Allreduce(send, dst, op=self.mpi.SUM)

    def allgather(self, src: np.ndarray, dst: np.ndarray, name: str = "", key=None) -> None:
        self.same_everywhere("allgather", name, src, key)
        self.comm.Allgather(src, dst)

    def broadcast(self, src: np.ndarray, dst: np.ndarray, root: int, name: str = "",
                  key=None) -> None:
        self.same_everywhere("broadcast", name, src, key)
        if self.rank == root and not _same_buffer(src, dst):
            np.copyto(dst, src)
        self.comm.Bcast(dst, root=root)

    def same_everywhere(self, kind: str, name: str, src: np.ndarray, key=None) -> None:
        """Raise the same FailedPreconditionError on every process when the processes give
        this collective inputs of different dtypes or shapes: MPI would abort the job
        (MPI_ERR_TRUNCATE), hang, or mix unrelated values. One Allgather of a few integers
        (as long as a small allreduce) before the collective: once for a `key` (a
        collective whose input shape is static; the processes run the same graph, so they
        all skip it or none does: the row says which, so that a process with another graph
        is caught at the first run), at every run for key None. A DistributedOptimizer's
        buckets are compared once, by fingerprint, instead."""
        if key is not None and key in self._checked:
            return
        row = _shape_row(src, key is not None)
        rows = np.empty((self.size, _ROW), np.int64)
        self.comm.Allgather(row, rows)
        for r in range(1, self.size):
            if (rows[r] != rows[0]).any():
                what = f"{kind} of '{name}'" if name else kind
                hint = ("; to gather tensors whose first axis differs between processes, pad "
                        "them to the longest and gather their lengths too"
                        if kind == "allgather" and rows[r][2] == rows[0][2] else "")
                if rows[r][0] != rows[0][0] and (rows[r][1:] == rows[0][1:]).all():
                    known = {1: "a static shape", 0: "a shape known only when run"}
                    found = (f"{known[int(rows[r][0])]} on rank {r}, "
                             f"{known[int(rows[0][0])]} on rank 0")
                else:
                    found = (f"{_described(rows[r])} on rank {r}, {_described(rows[0])} on "
                             f"rank 0")
                raise FailedPreconditionError(
                    f"graphc.distributed: the processes gave the {what} different tensors: "
                    f"{found}. Every process must give it the same dtype and shape{hint}")
        if key is not None:
            self._checked.add(key)

    def barrier(self) -> None:
        self.comm.Barrier()

    def allgather_bytes(self, data: bytes) -> list:
        """Every process's `data`, in rank order (two Allgathers: the lengths, the bytes)."""
        sizes = np.zeros(self.size, np.int64)
        self.comm.Allgather(np.array([len(data)], np.int64), sizes)
        received = np.empty(int(sizes.sum()), np.uint8)
        self.comm.Allgatherv(np.frombuffer(data, np.uint8),
                             [received, sizes.tolist(), self.mpi.BYTE])
        ends = np.cumsum(sizes).tolist()
        return [received[e - n:e].tobytes() for e, n in zip(ends, sizes.tolist())]

    def broadcast_bytes(self, data: bytes, root: int) -> bytes:
        """Process `root`'s `data`, on every process."""
        n = np.array([len(data) if self.rank == root else 0], np.int64)
        self.comm.Bcast(n, root=root)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root \
            else np.empty(int(n[0]), np.uint8)
        self.comm.Bcast(buf, root=root)
        return buf.tobytes()

    def allreduce_array(self, values: np.ndarray) -> np.ndarray:
        """The sum over processes of a host array (not a tensor of a graph)."""
        out = np.empty_like(values)
        self.comm.Allreduce(np.ascontiguousarray(values), out, op=self.mpi.SUM)
        return out


_DTYPE_CODES = tuple(d.name for d in COLLECTIVE_DTYPES)  # (another dtype: -1)
_DIMS = 6
_ROW = 4 + _DIMS  # static?, dtype code, rank, element count, the first _DIMS dimensions


def _shape_row(a: np.ndarray, static: bool) -> np.ndarray:
    row = np.full(_ROW, -1, np.int64)
    name = a.dtype.name
    row[0] = int(static)
    row[1] = _DTYPE_CODES.index(name) if name in _DTYPE_CODES else -1
    row[2], row[3] = a.ndim, a.size
    row[4:4 + min(a.ndim, _DIMS)] = a.shape[:_DIMS]
    return row


def _described(row) -> str:
    dtype = _DTYPE_CODES[row[1]] if 0 <= row[1] < len(_DTYPE_CODES) else "another dtype"
    ndim = int(row[2])
    if ndim > _DIMS:
        return f"{dtype} of rank {ndim} ({int(row[3])} values)"
    return f"{dtype} {[int(d) for d in row[4:4 + ndim]]}"


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    return a.size == 0 or a.ctypes.data == b.ctypes.data


class _Local(LocalCommunicator):
    """The single process of a program not started by a launcher."""

    local_size, local_rank = 1, 0

    def barrier(self) -> None:
        pass

    def allgather_bytes(self, data: bytes) -> list:
        return [bytes(data)]

    def broadcast_bytes(self, data: bytes, root: int) -> bytes:
        return bytes(data)

    def allreduce_array(self, values: np.ndarray) -> np.ndarray:
        return np.array(values)


_state: dict = {"comm": None}


def launched_processes(environ=None) -> int:
    """How many processes the launcher that started this one started (1: none)."""
    environ = os.environ if environ is None else environ
    for name in LAUNCHER_SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def init(comm=None) -> None:
    """Join the process group: the launcher's MPI world, `comm` (an mpi4py communicator),
    or this process alone when no launcher started it. Calling it again does nothing
    (unless a communicator is given)."""
    if _state["comm"] is not None and comm is None:
        return
    if comm is None and launched_processes() == 1:
        _register(_Local())
        return
    try:
        from mpi4py import MPI
    except ImportError:
        n = launched_processes()
        raise ImportError(f"graphc.distributed: this program was started as {n} processes, "
                          f"which needs mpi4py and an MPI library: {INSTALL_HINT}") from None
    _register(MPICommunicator(MPI.COMM_WORLD if comm is None else comm, MPI))
    if size() > 1:
        _abort_on_uncaught(MPI)


def _register(comm) -> None:
    _state["comm"] = comm
    COMMUNICATORS[WORLD] = comm


def _abort_on_uncaught(mpi) -> None:
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(1)
    sys.excepthook = hook


def communicator():
    """The communicator init() registered (ValueError before init)."""
    comm = _state["comm"]
    if comm is None:
        raise ValueError("graphc.distributed has not been initialized: call "
                         "graphc.distributed.init() first")
    return comm


def is_initialized() -> bool:
    return _state["comm"] is not None


def shutdown() -> None:
    """Leave the process group (collectives built later need init() again); MPI itself is
    finalized when the program exits."""
    _state["comm"] = None
    for name in [k for k in COMMUNICATORS if k == WORLD or k.startswith(WORLD + "/")]:
        del COMMUNICATORS[name]


def rank() -> int:
    return communicator().rank


def size() -> int:
    return communicator().size


def local_rank() -> int:
    """This process's rank among those on its machine."""
    return communicator().local_rank


def local_size() -> int:
    """How many processes of the group run on this machine."""
    return communicator().local_size


def mpi_enabled() -> bool:
    """Whether the group runs on MPI (False: a single process without it)."""
    return isinstance(_state["comm"], MPICommunicator)


def barrier() -> None:
    """Wait until every process of the group gets here."""
    communicator().barrier()


def is_chief() -> bool:
    """Whether this is rank 0, the process that writes checkpoints and logs."""
    return rank() == 0


def join() -> Optional[int]:
    """Horovod's join: wait until every process has finished its work, here a barrier
    (every process must call it). Returns None."""
    barrier()
    return None
