"""graphc.distributed: data-parallel training on MPI with Horovod's API
(`import graphc.distributed as hvd`).

Start N processes with `mpirun -n N python train.py` (or `graphc run-distributed -n N
train.py`); each builds the same graph, feeds its own share of the data, and
DistributedOptimizer averages the gradients inside the compiled step. Started as a plain
`python train.py`, it is one process and every collective is an identity. See
docs/distributed.md.
"""

from graphc.distributed.comm import (
    barrier,
    init,
    is_initialized,
    join,
    local_rank,
    local_size,
    mpi_enabled,
    rank,
    shutdown,
    size,
)
from graphc.distributed.ops import (
    Average,
    BroadcastGlobalVariablesHook,
    Sum,
    allgather,
    allreduce,
    broadcast,
    broadcast_global_variables,
    broadcast_variables,
)
from graphc.distributed.optimizer import (
    DEFAULT_BUCKET_BYTES,
    DistributedOptimizer,
    allreduce_gradients,
)

__all__ = [
    "Average", "BroadcastGlobalVariablesHook", "DEFAULT_BUCKET_BYTES", "DistributedOptimizer",
    "Sum", "allgather", "allreduce", "allreduce_gradients", "barrier", "broadcast",
    "broadcast_global_variables", "broadcast_variables", "init", "is_initialized", "join",
    "local_rank", "local_size", "mpi_enabled", "rank", "shutdown", "size",
]
