"""target='cuda-emulated': the CUDA target's generated code, run on the CPU.

The plan, schedule, CUDA C and executor are the CUDA target's (runtime/cuda.py); only the
device layer differs: "device memory" is host memory, and the translation unit is compiled
as host C++ with codegen_cuda/emulate.h (threads as fibers, blocks in turn) into a shared
library, one per plan, cached on disk like any compiled code. It exists to check the numbers
the CUDA code computes on machines without a GPU; it is slow (a fiber switch per barrier per
thread) and meant for small shapes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
import threading

import numpy as np

from graphc.runtime.cuda import DeviceExecutor

ALIGN = 64
_LAUNCH = threading.Lock()  # the emulator's thread and block state is process-wide


class EmulationError(RuntimeError):
    """Generated code misbehaved under emulation (threads diverged around a barrier)."""


class HostDevice:
    """The device layer over host memory and a host-compiled plan library."""

    def __init__(self):
        self._keep: dict = {}  # address -> the array owning it

    def alloc(self, nbytes: int) -> int:
        raw = np.zeros(int(nbytes) + ALIGN, np.uint8)
        address = raw.ctypes.data + (-raw.ctypes.data) % ALIGN
        self._keep[address] = raw
        return address

    def active(self):
        return contextlib.nullcontext()

    def close(self) -> None:
        self._keep.clear()

    def upload(self, pointer: int, array: np.ndarray) -> None:
        if array.nbytes:
            ctypes.memmove(pointer, np.ascontiguousarray(array).ctypes.data, array.nbytes)

    def download(self, pointer: int, dtype, shape) -> np.ndarray:
        out = np.empty(shape, dtype)
        if out.nbytes:
            ctypes.memmove(out.ctypes.data, pointer, out.nbytes)
        return out

    def copy(self, dst: int, src: int, nbytes: int) -> None:
        if nbytes:
            ctypes.memmove(dst, src, nbytes)

    def load(self, program, cache):
        """The plan's launchers, from a shared library compiled (or cached) for this CPU."""
        from graphc.codegen_cuda.compile import compile_host
        library = _load_shared(compile_host(program, cache))
        launchers = {}
        for name in program.signatures:
            fn = getattr(library, f"gc_launch_{name}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_uint] * 6
            launchers[name] = fn
        return library, launchers

    def launch(self, module, launch, pointers, error_word) -> None:
        _, launchers = module
        args = (ctypes.c_void_p * (len(pointers) + 1))(*pointers, error_word)
        with _LAUNCH:
            failed = launchers[launch.function](args, launch.kernel, *launch.grid,
                                                *launch.block)
        if failed:
            raise EmulationError(f"{launch.function}: threads of a block diverged around a "
                                 "barrier or shuffle")


def _load_shared(code: bytes):
    """ctypes handle of a shared library given as bytes (the file is removed once mapped)."""
    fd, path = tempfile.mkstemp(prefix="graphc-emulated-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(code)
        return ctypes.CDLL(path)
    finally:
        os.unlink(path)


class EmulatedCudaExecutor(DeviceExecutor):
    name = "cuda-emulated"

    def open_device(self):
        return HostDevice()
