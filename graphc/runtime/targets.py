"""The registry of execution targets: name -> executor class.

An executor is built per Session with (state, options, describe) and offers
`run(fetch_nodes, feeds) -> values`. Backends register here; nothing else in graphc
branches on the target's name.
"""

from __future__ import annotations

from graphc.errors import UnimplementedError
from graphc.runtime.llvm import LLVMExecutor
from graphc.runtime.reference import ReferenceExecutor

TARGETS = {"reference": ReferenceExecutor, "llvm": LLVMExecutor}


def make_executor(name: str, state, options, describe):
    cls = TARGETS.get(name)
    if cls is None:
        known = ", ".join(sorted(TARGETS))
        raise UnimplementedError(f"unknown or unavailable target {name!r}; available targets: "
                                 f"{known} (chosen by Session(target=...), "
                                 "graphc.set_default_target or $GRAPHC_TARGET)")
    return cls(state, options, describe)
