"""The registry of execution targets: name -> executor class.

An executor is built per Session with (state, options, describe) and offers
`run(fetch_nodes, feeds) -> values`. Backends register here; nothing else in graphc
branches on the target's name.

TARGETS run everywhere (the numeric test suite runs on each of them); DEVICE_TARGETS need a
device (cuda) or are too slow for every test (cuda-emulated runs the CUDA code on the CPU;
tests/runtime/test_cuda_emulated.py runs the op table on it in a few batched plans).
"""

from __future__ import annotations

from graphc.errors import UnimplementedError
from graphc.runtime.cuda import CudaExecutor
from graphc.runtime.cuda_emulated import EmulatedCudaExecutor
from graphc.runtime.llvm import LLVMExecutor
from graphc.runtime.reference import ReferenceExecutor

TARGETS = {"reference": ReferenceExecutor, "llvm": LLVMExecutor}
DEVICE_TARGETS = {"cuda": CudaExecutor, "cuda-emulated": EmulatedCudaExecutor}


def make_executor(name: str, state, options, describe):
    cls = TARGETS.get(name) or DEVICE_TARGETS.get(name)
    if cls is None:
        known = ", ".join(sorted(TARGETS) + sorted(DEVICE_TARGETS))
        raise UnimplementedError(f"unknown or unavailable target {name!r}; available targets: "
                                 f"{known} (chosen by Session(target=...), "
                                 "graphc.set_default_target or $GRAPHC_TARGET)")
    return cls(state, options, describe)
