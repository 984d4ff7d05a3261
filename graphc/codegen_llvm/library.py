"""Routines shared by every plan (GEMM, the thread pool), compiled once into their own object.

A plan module only declares them. In-process, the library is loaded once into its own engine
and its symbols are published to the JIT linker, so every plan calls the same code and one
thread pool serves them all; the O3 cost of the big GEMM kernels is paid once per machine
(the object is kept in the compiled-code cache), not once per plan.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from graphc.codegen_llvm.gemm import (
    EPILOGUE_PTR,
    PACK_PTR,
    define_gemm,
    narrow_blocking,
    vector_width,
)
from graphc.codegen_llvm.threads import define_parallel_runtime

EXPORTS = ("graphc_gemm_f32", "graphc_gemm_f64", "graphc_gemm_narrow_f32",
           "graphc_gemm_narrow_f64", "graphc_parallel_for", "graphc_pool_shutdown")


def gemm_signature() -> ir.FunctionType:
    i64, ptr = ir.IntType(64), ir.PointerType()
    return ir.FunctionType(ir.VoidType(), [i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr,
                                           i64, i64, ptr, EPILOGUE_PTR, ptr, i64, i64,
                                           PACK_PTR, PACK_PTR, ptr, i64])


def gemm_name(dtype: str, narrow: bool = False) -> str:
    """The library's GEMM for `dtype`: the default tile, or the narrow one
    (gemm.narrow_blocking) for a C at most its NR columns wide."""
    return f"graphc_gemm_narrow_{dtype}" if narrow else f"graphc_gemm_{dtype}"


def declare_gemm(module: ir.Module, dtype: str, narrow: bool = False) -> ir.Function:
    """The external declaration of the library's GEMM for `dtype` in a plan module."""
    name = gemm_name(dtype, narrow)
    if name not in module.globals:
        ir.Function(module, gemm_signature(), name=name)
    return module.globals[name]


def library_ir(cpu: str = "native") -> str:
    """The library's IR for `cpu` (see jit.host_target_machine): the GEMMs are blocked for
    that CPU's vector width, so a plan must be rendered for the same CPU (intrinsics_for)."""
    module = ir.Module(name="graphc_library")
    for dtype in ("f32", "f64"):
        width = vector_width(dtype, cpu)
        define_gemm(module, dtype, width)
        # the narrow GEMM: its own tile where the CPU has one, else the default's again
        define_gemm(module, dtype, width, narrow_blocking(dtype, width),
                    gemm_name(dtype, narrow=True))
    define_parallel_runtime(module)
    return str(module)


@functools.lru_cache(maxsize=None)
def source_digest():
    """The digest of the code that writes the library (see _source_digest): what object
    code stored elsewhere and linked with the library, a stored plan, must be keyed by,
    since the library's functions may change their arguments with it. "" if unreadable."""
    return _source_digest() or ""


def _source_digest():
    """An XXH3-128 digest of the code that writes the library's IR (every module of
    graphc.codegen_llvm, whose IR builders import nothing else of graphc) and of llvmlite's
    version, or None where the sources cannot be read."""
    import llvmlite
    import xxhash
    root = os.path.dirname(os.path.abspath(__file__))
    h = xxhash.xxh3_128(llvmlite.__version__.encode())
    try:
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def library_object(cache) -> bytes:
    """The library's machine code for this CPU, from `cache` or compiled (and stored).
    Keyed by the source of the code that writes its IR, so a process whose library is in
    the cache does not render the IR (0.1 s); by the IR itself where that source cannot be
    read."""
    from graphc.codegen_llvm.jit import compile_jit_object, jit_signature
    from graphc.version import __version__
    digest = _source_digest()
    text = library_ir() if digest is None else None
    key = cache.key("library", digest or text, jit_signature(), __version__, "O3")
    code = cache.load(key)
    if code is None:
        code = compile_jit_object(text or library_ir())
        cache.store(key, code)
    return code


_LOADED: dict = {}
_LOCK = threading.Lock()


def library_loaded() -> bool:
    """Whether load_library has run in this process."""
    return "engine" in _LOADED


def load_library(cache):
    """Load the library into this process once and publish its symbols to the JIT linker.

    Its thread pool is shut down at exit, before the code it runs in goes away.
    """
    from graphc.codegen_llvm.jit import JITModule
    with _LOCK:
        if "engine" not in _LOADED:
            engine = JITModule.from_object(library_object(cache))
            for name in EXPORTS:
                llvm.add_symbol(name, engine.address(name))
            shutdown = ctypes.CFUNCTYPE(None)(engine.address("graphc_pool_shutdown"))
            atexit.register(shutdown)
            _LOADED.update(engine=engine, shutdown=shutdown)
        return _LOADED["engine"]
