"""graphc.distributed: data-parallel training on MPI with Horovod's API
(`import graphc.distributed as hvd`).

Start N processes with `mpirun -n N python train.py` (or `graphc run-distributed -n N
train.py`); each builds the same graph, feeds its own share of the data, and
DistributedOptimizer averages the gradients inside the compiled step. Started as a plain
`python train.py`, it is one process and every collective is an identity. See
docs/distributed.md.
"""

from graphc.distributed import checkpoint  # save, restore, latest_checkpoint
from graphc.distributed.comm import (
    barrier,
    init,
    is_chief,
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
    average_metric,
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
    "Sum", "allgather", "allreduce", "allreduce_gradients", "average_metric", "barrier",
    "broadcast", "broadcast_global_variables", "broadcast_variables", "callbacks",
    "checkpoint", "init", "is_chief", "is_initialized", "join", "local_rank", "local_size",
    "mpi_enabled", "rank", "shutdown", "size",
]


def __getattr__(name):
    # hvd.callbacks (Keras callbacks) is imported on first use: it brings in graphc.keras
    if name == "callbacks":
        import importlib
        return importlib.import_module("graphc.distributed.callbacks")
    raise AttributeError(f"module 'graphc.distributed' has no attribute {name!r}")
