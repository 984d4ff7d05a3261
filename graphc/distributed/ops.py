"""Collectives on tensors (nodes of graphc/ir/ops/collective.py, run inside the compiled
step), and the broadcast of variables from one process to all.

Every builder checks its arguments the same way in one process as in many, and in one
process returns an identity of its input: no node to run, nothing to pay.
"""

from __future__ import annotations

from graphc.distributed.comm import WORLD, size
from graphc.ir.ops.collective import COLLECTIVE_DTYPES
from graphc.ops.array_ops import concat, identity, reshape
from graphc.ops.array_ops import shape as shape_of
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.tensor import cast, convert_to_tensor, make_tensor
from graphc.ops.variables import global_variables

Sum, Average = "sum", "average"  # Horovod's hvd.Sum and hvd.Average
OPS = (Sum, Average)


def _checked(tensor, what: str):
    t = convert_to_tensor(tensor)
    if t.dtype not in COLLECTIVE_DTYPES:
        names = ", ".join(d.name for d in COLLECTIVE_DTYPES)
        raise TypeError(f"{what} supports {names} tensors, got {t.dtype} ({t.name})")
    return t


def _static(t) -> bool:
    """Whether t's shape is known before a run (a collective's shape check then runs once)."""
    return t.node.shape is not None and None not in t.node.shape


def reduce_op(average=None, op=None) -> str:
    """The reduction Horovod's (average, op) arguments ask for: Average by default."""
    if average is not None and op is not None:
        raise ValueError("give allreduce either average= or op=, not both")
    if op is None:
        return Sum if average is False else Average
    if op not in OPS:
        raise ValueError(f"op must be graphc.distributed.Sum or Average, got {op!r}")
    return op


def allreduce(tensor, average=None, op=None, name=None, group=0):
    """The sum (op=Sum) or mean (op=Average, the default) of `tensor` over every process,
    computed when a run reaches it. `group` tags a gradient bucket (DistributedOptimizer)."""
    op = reduce_op(average, op)
    t = _checked(tensor, "allreduce")
    if op == Average and t.dtype.kind != "f":
        raise TypeError(f"cannot average {t.dtype} tensors across processes ({t.name}): use "
                        "op=graphc.distributed.Sum")
    if size() == 1:
        return identity(t, name=name)
    return reduce_on(t, op, WORLD, group, name)


def reduce_on(t, op: str, comm: str, group: int = 0, name=None):
    """The allreduce node of checked tensor `t` on the communicator registered as `comm`."""
    return make_tensor("allreduce", [t], {"op": op, "comm": comm, "size": size(),
                                          "group": int(group), "name": name or t.name,
                                          "fixed": _static(t)},
                       name or "HorovodAllreduce")


def average_metric(value, weight=None, name=None):
    """The mean over every process of a float metric `value` (a scalar or any shape), so
    every process reports the same number. With `weight` (this process's count of samples,
    a number or scalar tensor) it is the weighted mean sum_r value_r * weight_r / sum_r
    weight_r: the whole data's value when the shards differ in size; without, the plain
    mean, the same when they are equal. In one process it is `value`."""
    t = _checked(value, "average_metric")
    if t.dtype.kind != "f":
        raise TypeError(f"average_metric needs a float metric, got {t.dtype} ({t.name}): "
                        "cast it first")
    if size() == 1:
        return identity(t, name=name)
    if weight is None:
        return allreduce(t, op=Average, name=name)
    w = cast(convert_to_tensor(weight), t.dtype)
    if w.node.shape is not None and len(w.node.shape) != 0:
        raise ValueError(f"average_metric's weight must be a scalar, got shape "
                         f"{list(w.node.shape)} ({w.name})")
    # one reduction of [value * weight..., weight]: the weighted sums and the total weight
    total = allreduce(concat([reshape(t * w, [-1]), reshape(w, [1])], 0), op=Sum)
    return reshape(total[:-1] / total[-1], shape_of(t), name=name)


def allgather(tensor, name=None):
    """Every process's `tensor` concatenated along the first axis, in rank order (each
    process must give the same shape)."""
    t = _checked(tensor, "allgather")
    if t.node.shape is not None and len(t.node.shape) == 0:
        raise ValueError(f"allgather needs a tensor with a first axis, got a scalar ({t.name})")
    if size() == 1:
        return identity(t, name=name)
    return make_tensor("allgather", [t], {"comm": WORLD, "size": size(),
                                          "name": name or t.name, "fixed": _static(t)},
                       name or "HorovodAllgather")


def broadcast(tensor, root_rank: int, name=None, _label=None):
    """Process `root_rank`'s value of `tensor`, on every process. (_label: what an error
    about it calls it, the tensor's name by default.)"""
    t = _checked(tensor, "broadcast")
    if not isinstance(root_rank, int) or not 0 <= root_rank < size():
        raise ValueError(f"root_rank must be a rank in [0, {size()}), got {root_rank!r}")
    if size() == 1:
        return identity(t, name=name)
    return make_tensor("broadcast", [t], {"comm": WORLD, "size": size(), "root": root_rank,
                                          "name": _label or name or t.name,
                                          "fixed": _static(t)},
                       name or "HorovodBroadcast")


def broadcast_variables(variables, root_rank: int, name=None):
    """One op assigning each of `variables` its value on process `root_rank`. The
    broadcasts run one after another, in the order given (the same on every process)."""
    variables = list(variables)
    if size() == 1:
        if not 0 <= root_rank < 1:
            raise ValueError(f"root_rank must be a rank in [0, 1), got {root_rank!r}")
        return group(name=name or "broadcast_variables")
    assigns, previous = [], []
    for var in variables:
        with control_dependencies(previous):
            label = var.name[:-2] if var.name.endswith(":0") else var.name
            value = broadcast(var.read_value(), root_rank, _label=f"variable {label}")
        assigns.append(var.assign(value))
        previous = [value]
    return group(*assigns, name=name or "broadcast_variables")


def broadcast_global_variables(root_rank: int):
    """One op assigning every global variable its value on process `root_rank` (run it
    once after the variables are initialized, so every process starts from the same
    weights)."""
    return broadcast_variables(global_variables(), root_rank, name="broadcast_global_variables")


class BroadcastGlobalVariablesHook:
    """Horovod's hook that broadcasts the global variables from `root_rank` when a session
    is created. graphc has no MonitoredTrainingSession, so call its two methods yourself:
    `begin()` once the model is built (it builds the op), then
    `after_create_session(session, coord=None)` once the variables are initialized (it runs
    the op)."""

    def __init__(self, root_rank: int = 0, device: str = ""):
        self.root_rank = root_rank
        self.bcast_op = None

    def begin(self) -> None:
        if self.bcast_op is None:
            self.bcast_op = broadcast_global_variables(self.root_rank)

    def after_create_session(self, session, coord=None) -> None:
        self.begin()
        session.run(self.bcast_op)



def local_collective(tensor, kind: str, op=Sum, root_rank: int = 0, name=None):
    """The collective `kind` (allreduce, allgather or broadcast) over the process alone
    (the "local" communicator, size 1): the primitive itself, run as a host call inside the
    compiled step, rather than the identity a size-1 world builds. Its value is the
    input's; it is how one process tests the collectives' lowering (the fuzzer draws it)."""
    t = _checked(tensor, kind)
    if kind == "allreduce":
        reduce_op(None, op)
        return make_tensor("allreduce", [t], {"op": op, "comm": "local", "size": 1,
                                              "group": 0}, name or "LocalAllreduce")
    if kind == "allgather":
        return make_tensor("allgather", [t], {"comm": "local", "size": 1},
                           name or "LocalAllgather")
    if kind == "broadcast":
        return make_tensor("broadcast", [t], {"comm": "local", "size": 1, "root": root_rank},
                           name or "LocalBroadcast")
    raise ValueError(f"kind must be allreduce, allgather or broadcast, got {kind!r}")
