"""Routines shared by every plan (GEMM today), compiled once into their own object code.

A plan module only declares them; its engine loads the library's object next to the plan's,
so the O3 cost of the big GEMM kernels is paid once per machine (the object is kept in the
compiled-code cache), not once per plan.
"""

from __future__ import annotations

import functools

from llvmlite import ir

from graphc.codegen_llvm.gemm import define_gemm, host_vector_width

GEMM_ARGS = ("M", "N", "K", "A", "rsA", "csA", "B", "rsB", "csB", "C", "rsC", "beta",
             "workspace")


def gemm_signature() -> ir.FunctionType:
    i64, ptr = ir.IntType(64), ir.PointerType()
    return ir.FunctionType(ir.VoidType(), [i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr,
                                           i64, i64, ptr])


def declare_gemm(module: ir.Module, dtype: str) -> ir.Function:
    """The external declaration of the library's GEMM for `dtype` in a plan module."""
    name = f"graphc_gemm_{dtype}"
    if name not in module.globals:
        ir.Function(module, gemm_signature(), name=name)
    return module.globals[name]


def library_ir() -> str:
    module = ir.Module(name="graphc_library")
    for dtype in ("f32", "f64"):
        define_gemm(module, dtype, host_vector_width(dtype))
    return str(module)


@functools.lru_cache(maxsize=None)
def library_object(cache) -> bytes:
    """The library's machine code for this CPU, from `cache` or compiled (and stored)."""
    from graphc import __version__
    from graphc.codegen_llvm.jit import cpu_signature, emit_object, optimize
    text = library_ir()
    key = cache.key("library", text, cpu_signature(), __version__, "O3")
    code = cache.load(key)
    if code is None:
        code = emit_object(optimize(text))
        cache.store(key, code)
    return code
