"""explain: what the LLVM target makes of a graph, as a report a person can read.

    graphc.explain(fetches, feed_dict) -> str        (graphc explain script.py)

The report has four parts: the graph passes that ran (time, node counts, rules fired), the
kernels in run order with the user's ops each computes (name, op and file:line), the values
that go through memory between kernels with why fusion left each one there, and the memory
plan (peak workspace, what it would be without reuse, buffers reused, kernels in place). On
request it appends the L2 and the LLVM IR of chosen kernels. `analyze` returns the same as
data (an Explanation). Nothing is run: the plan is built exactly as Session.run builds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from graphc.tools.explain_format import format_explanation
from graphc.tools.fusion import FusedGraph
from graphc.tools.request import Request, resolve


@dataclass
class Explanation:
    request: Request
    records: list  # graphc.passes.pipeline.PassRecord, one per pass that ran
    fused: FusedGraph
    origin: dict  # specialized node -> the user's node it stands for
    plan: object  # graphc.compiler.Plan
    scheduled: list  # the kernels as scheduled, what the LLVM renderer receives
    slots_of: object
    memory: dict = field(default_factory=dict)

    @property
    def kernels(self) -> list:
        return self.fused.kernels

    @property
    def edges(self) -> list:
        return self.fused.edges

    def user_ops(self, info) -> list:
        """The user's nodes a kernel computes, deduplicated, in the kernel's order."""
        return list(dict.fromkeys(self.origin.get(n, n) for n in info.nodes
                                  if n.op.name not in ("constant", "placeholder")))

    @property
    def collectives(self) -> list:
        """The collectives (graphc.distributed) the plan runs, in run order."""
        return collectives_of(self)

    def format(self, show_l2: bool = False, show_llvm: bool = False, kernels=None) -> str:
        return format_explanation(self, show_l2, show_llvm, kernels)

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class CollectiveInfo:
    """One collective of a plan: a host call running MPI on the plan's memory."""
    kernel: int  # its kernel's number in the report
    primitive: str  # allreduce, allgather or broadcast
    op: str  # an allreduce's "sum" or "average", else ""
    bucket: int  # an allreduce's gradient bucket (DistributedOptimizer's group), else 0
    dtype: str
    shape: tuple
    nbytes: int  # of its output
    in_place: bool  # reduced in place over its input's buffer (MPI.IN_PLACE)
    comm: str
    name: str  # the user's name of the value


def collectives_of(ex) -> list:
    from graphc.ir import kernel as K
    out = []
    for info in ex.kernels:
        call = K.host_call(info.kernel)
        node = info.kernel.notes.get("node") if call is not None else None
        if node is None or node.op.name not in ("allreduce", "allgather", "broadcast"):
            continue
        shape = tuple(node.shape)
        nbytes = node.dtype.np.itemsize * math.prod(shape)
        name, _ = ex.request.name_and_location(ex.origin.get(node, node))
        out.append(CollectiveInfo(info.index, node.op.name, node.attrs.get("op", ""),
                                  int(node.attrs.get("group", 0)), node.dtype.name, shape,
                                  nbytes, call.buffers[1] == call.buffers[2],
                                  node.attrs["comm"], name))
    return out


def analyze(fetches, feed_dict=None, *, session=None, options=None) -> Explanation:
    """The plan of `fetches` fed `feed_dict` as data (see explain)."""
    from graphc.codegen_llvm.intrinsics import gemm_accumulates
    from graphc.codegen_llvm.prepack import blocking_for
    from graphc.codegen_llvm.render import host_vector_bits
    from graphc.compiler import build_plan
    request = resolve(fetches, feed_dict, session, options)
    trace: dict = {}
    plan, scheduled, slots_of = build_plan(request.nodes, request.fed_shapes,
                                           request.describe, request.threads,
                                           request.options, vector_bits=host_vector_bits(),
                                           trace=trace, direct_commits=True,
                                           views=True, accumulates=gemm_accumulates,
                                           packs_ahead=blocking_for())
    records, origin = trace["records"], trace["origin"]

    def name_of(node):
        return repr(request.name_and_location(origin.get(node, node))[0])
    fused = FusedGraph(trace, plan.kernels, name_of, request.options.fuse)
    return Explanation(request, records, fused, origin, plan, scheduled, slots_of,
                       memory_summary(plan))


def explain(fetches, feed_dict=None, *, session=None, options=None, show_l2: bool = False,
            show_llvm: bool = False, kernels: Optional[list] = None) -> str:
    """A readable report of how `fetches` fed `feed_dict` compile on the LLVM target.

    session: take the graph and options from it; options: override them (opt_level,
    disable_passes, fast_math, fuse, threads). show_l2 / show_llvm append each kernel's L2
    and LLVM IR; kernels=[i, ...] limits those to the kernels numbered i in the report.
    """
    return analyze(fetches, feed_dict, session=session, options=options).format(
        show_l2=show_l2, show_llvm=show_llvm, kernels=kernels)


def memory_summary(plan) -> dict:
    """The plan's memory summary (arena_bytes, naive_bytes, reused, in_place) where the plan
    has one, else what the slots say: arena bytes and the number of arena buffers; and
    `direct`, the assignments that write their variable's array itself."""
    memory = dict(getattr(plan, "memory", None) or {})
    memory["direct"] = len(getattr(plan, "direct", ()))  # assignments writing the variable
    memory.setdefault("arena_bytes", plan.arena_bytes)
    memory.setdefault("buffers", sum(s.kind == "arena" for s in plan.slots))
    return memory
