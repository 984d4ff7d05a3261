"""The fuzzer's family for the collectives of graphc.distributed (allreduce, allgather,
broadcast) over the process alone: the primitives themselves, lowered to host calls inside
the compiled step (in place where the planner lets the output take the input's buffer), with
their gradients. Over one process each is a copy, so the value is the input's, exactly."""

from __future__ import annotations

import graphc.distributed.ops  # noqa: F401  (makes tf.distributed.ops reachable by name)
from graphc.tools.fuzz_ops import weight
from graphc.tools.fuzz_program import Ref, Step

DTYPES = ("float32", "float64", "int32", "int64")   # what MPI reduces natively


@weight(1)
def collective(g):
    kind = str(g.rng.choice(["allreduce", "allgather", "broadcast"]))
    a = g.pick(lambda v: v.dtype in DTYPES and (kind != "allgather" or len(v.shape) >= 1))
    if a is None:
        return None
    kwargs = ()
    if kind == "allreduce":
        op = "average" if a.dtype.startswith("float") and g.rng.random() < 0.5 else "sum"
        kwargs = (("op", op),)
    return g.step(Step("distributed.ops.local_collective", (Ref(a.index), kind), kwargs),
                  a.exact, a.bound)
