"""The LLVM renderings of L2 intrinsics (library routines called from kernels)."""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen_llvm.gemm import gemm_workspace_elems, host_vector_width
from graphc.codegen_llvm.library import declare_gemm
from graphc.codegen_llvm.render import I64, TYPES


def render_gemm(r, s) -> None:
    """gemm(A, B, C; M, N, K, offA, offB, offC): C = A @ B for row-major operands."""
    a, b_, c = s.buffers
    t = r.kernel.buffer(c).dtype
    width = host_vector_width(t)
    fn = declare_gemm(r.module, t)
    m, n, k, off_a, off_b, off_c = (r.expr(x) for x in s.args)
    b = r.builder
    ptr = {name: b.gep(r.buffers[name], [off], source_etype=TYPES[t])
           for name, off in ((a, off_a), (b_, off_b), (c, off_c))}
    one = ir.Constant(I64, 1)
    b.call(fn, [m, n, k, ptr[a], k, one, ptr[b_], n, one, ptr[c], n, ir.Constant(I64, 0),
                _workspace(r.module, t, width)])


def _workspace(module, t: str, width: int):
    """Packing space for GEMM, one per module (a module runs one plan at a time)."""
    name = f"graphc.gemm_workspace.{t}"
    if name not in module.globals:
        ty = ir.ArrayType(TYPES[t], gemm_workspace_elems(t, width))
        ws = ir.GlobalVariable(module, ty, name=name)
        ws.linkage = "internal"
        ws.initializer = ir.Constant(ty, None)
        ws.align = 64
    return module.globals[name]


INTRINSICS = {"gemm": render_gemm}
