"""Mismatch detection: before the first gradient bucket of a DistributedOptimizer's step is
reduced, the processes compare what they are about to reduce.

A process that built a different model (a layer of another width, a variable more) would
otherwise reduce buffers of different sizes together: MPI then fails with an unhelpful
message, hangs, or silently mixes unrelated gradients. So each DistributedOptimizer's
bucket reductions run on a communicator of their own, `CheckedCommunicator`, registered
under its own name in graphc's communicator table. Its first reduction, in any session and
on any target, first exchanges the optimizer's fingerprint (per bucket, in reduction order:
the op, the dtype and each gradient's variable name and shape) with one allgather of a few
hundred bytes; every process compares every process's fingerprint with rank 0's and, on a
difference, raises the same FailedPreconditionError naming the first differing variable.
Later reductions go straight to the world communicator.
"""

from __future__ import annotations

import json
import math

from graphc.distributed.comm import WORLD
from graphc.errors import FailedPreconditionError
from graphc.ir.ops.collective import COMMUNICATORS

_names: dict = {"count": 0}


def fingerprint(op: str, buckets: list) -> list:
    """The fingerprint of a step's reductions: per bucket, in order, {op, dtype, grads:
    [[variable name, shape], ...]}. `buckets`: per bucket, (gradient, variable) pairs."""
    out = []
    for pairs in buckets:
        out.append({"op": op, "dtype": pairs[0][0].dtype.name,
                     "grads": [[_var_name(v), _shape(g)] for g, v in pairs]})
    return out


def _var_name(var) -> str:
    name = getattr(var, "name", str(var))
    return name[:-2] if name.endswith(":0") else name


def _shape(grad) -> list:
    shape = grad.node.shape
    return None if shape is None else [None if d is None else int(d) for d in shape]


def register(print_: list) -> str:
    """Register a CheckedCommunicator for a step with fingerprint `print_`; its name (the
    `comm` attribute of the step's bucket reductions). The n-th registration of a process
    gets the same name on every process."""
    _names["count"] += 1
    name = f"{WORLD}/checked{_names['count']}"
    COMMUNICATORS[name] = CheckedCommunicator(print_)
    return name


class CheckedCommunicator:
    """The world communicator, checking the fingerprint before its first reduction."""

    def __init__(self, print_: list):
        self.fingerprint = print_
        self.checked = False

    @property
    def world(self):
        comm = COMMUNICATORS.get(WORLD)
        if comm is None:
            raise FailedPreconditionError("no communicator named 'world': call "
                                          "graphc.distributed.init() before running "
                                          "collectives")
        return comm

    @property
    def size(self) -> int:
        return self.world.size

    @property
    def rank(self) -> int:
        return self.world.rank

    def check(self) -> None:
        """Compare every process's fingerprint with rank 0's; raise on every process."""
        world = self.world
        mine = json.dumps(self.fingerprint, separators=(",", ":")).encode()
        prints = [json.loads(b) for b in world.allgather_bytes(mine)]
        self.checked = True
        for r in range(1, len(prints)):
            difference = first_difference(prints[0], prints[r], r)
            if difference:
                raise FailedPreconditionError(
                    f"graphc.distributed: the processes built different training steps: "
                    f"{difference}. Every process must build the same model (same "
                    f"variables, shapes and dtypes, in the same order)")

    def allreduce(self, src, dst, op: str, name: str = "", key=None) -> None:
        if not self.checked:
            self.check()
        self.world.allreduce(src, dst, op, name=name, checked=True)

    def allgather(self, src, dst, name: str = "", key=None) -> None:
        self.world.allgather(src, dst, name=name, key=key)

    def broadcast(self, src, dst, root: int, name: str = "", key=None) -> None:
        self.world.broadcast(src, dst, root, name=name, key=key)


def first_difference(first: list, other: list, r: int) -> str:
    """How rank r's fingerprint differs from rank 0's, naming the first differing variable
    ('' when they are the same)."""
    for k, (a, b) in enumerate(zip(first, other)):
        for (name_a, shape_a), (name_b, shape_b) in zip(a["grads"], b["grads"]):
            if name_a != name_b:
                return (f"rank {r}'s bucket {k} reduces the gradient of {name_b} where "
                        f"rank 0's reduces {name_a}")
            if shape_a != shape_b:
                return (f"rank {r}'s bucket {k} has shape {shape_b} for {name_b}, rank 0's "
                        f"{shape_a}")
        if a["dtype"] != b["dtype"]:
            return (f"rank {r}'s bucket {k} ({b['grads'][0][0]}, ...) is {b['dtype']}, "
                    f"rank 0's {a['dtype']}")
        if len(a["grads"]) != len(b["grads"]):
            return (f"rank {r}'s bucket {k} holds {_listed(b)}, rank 0's {_listed(a)}")
        if a["op"] != b["op"]:
            return f"rank {r}'s bucket {k} is reduced by {b['op']}, rank 0's by {a['op']}"
    if len(first) != len(other):
        extra, who = (other, r) if len(other) > len(first) else (first, 0)
        bucket = extra[min(len(first), len(other))]
        return (f"rank {r} reduces {len(other)} gradient buckets, rank 0 {len(first)} "
                f"(rank {who}'s bucket {min(len(first), len(other))} holds {_listed(bucket)})")
    return ""


def _listed(bucket: dict) -> str:
    grads = bucket["grads"]
    total = sum(math.prod(s) for _, s in grads if s is not None and None not in s)
    names = ", ".join(f"{n} {s}" for n, s in grads)
    return f"{len(grads)} gradient{'s' * (len(grads) != 1)} ({names}; {total} values)"
