"""The LLVM renderings of L2 intrinsics (library routines called from kernels)."""

from __future__ import annotations

import functools
from dataclasses import replace

from llvmlite import ir

from graphc.codegen_llvm.gemm import (
    EPILOGUE,
    EPILOGUE_PTR,
    default_blocking,
    gemm_rows_partition,
    gemm_workspace_elems,
    vector_width,
)
from graphc.codegen_llvm.library import declare_gemm
from graphc.codegen_llvm.render import I32, I64, PTR, TYPES
from graphc.ir import kernel as K

PARALLEL_FLOPS = 1 << 18  # m*n*k below which a GEMM stays on one thread
# Threads split a C wider than tall by columns only for a deep enough K. On the AVX-512 test
# host, two threads on (256, K) @ (K, 512): K = 512 and 784 ran 5-6% faster split by columns
# (436 against 461 us, 714 against 750 us), K = 256 the same, and K <= 128 up to 1.8x slower
# (K = 10: 34 against 20 us), where writing C back costs more than packing.
COLUMN_SPLIT_MIN_K = 256


def render_gemm(r, s, cpu: str = "native") -> None:
    """gemm(A, B, C[, W]; M, N, K, offA, rsA, csA, offB, rsB, csB, offC): C = A @ B, A and B
    read through their strides, C row-major, blocked for `cpu`'s vector width (the library
    the plan links with must be built for the same CPU).

    With threads, C's rows are split in MR-multiples (gemm_rows_partition), or its columns
    in NR-multiples when C is wider than tall and K is deep (each worker then packs only its
    share of B, the larger operand; COLUMN_SPLIT_MIN_K), and each block runs on the pool with
    a workspace of its own. The packing workspace is the optional
    fourth buffer W (gemm_workspace_bytes(dtype, threads, cpu), 64-byte aligned; AOT plans
    keep it in each context's arena, so contexts run concurrently) or else a global of the
    module (the JIT: a module runs one plan at a time).
    """
    a, b_, c = s.buffers[:3]
    t = r.kernel.buffer(c).dtype
    width = vector_width(t, cpu)
    fn = declare_gemm(r.module, t)
    m, n, k, _, rsa, csa, _, rsb, csb, _ = (  # lowering passes concrete sizes and strides
        int(x.value) if isinstance(x, K.Const) else None for x in s.args)
    strides = (rsa, csa, rsb, csb)
    b = r.builder
    base = {name: b.gep(r.buffers[name], [r.expr(off)], source_etype=TYPES[t])
            for name, off in ((a, s.args[3]), (b_, s.args[6]), (c, s.args[9]))}
    blocking = default_blocking(t, width)
    if n > m and k >= COLUMN_SPLIT_MIN_K:  # (first row, rows, first column, columns)
        parts = [(0, m, first, cols)
                 for first, cols in gemm_rows_partition(n, r.threads, blocking.nr)]
    else:
        parts = [(first, rows, 0, n)
                 for first, rows in gemm_rows_partition(m, r.threads, blocking.mr)]
    elems = gemm_workspace_elems(t, width)
    if len(s.buffers) > 3:
        ws = r.buffers[s.buffers[3]]
    else:  # one region per possible chunk
        ws = b.gep(_workspace(r.module, t, elems * max(r.threads, 1)),
                   [ir.Constant(I64, 0), ir.Constant(I64, 0)])
    epilogue = _epilogue(r, s.epilogue)
    if len(parts) <= 1 or m * n * k < PARALLEL_FLOPS:
        _call(b, fn, (0, m, 0, n), n, k, base[a], base[b_], base[c], ws, 0, elems, t,
              strides, epilogue)
        return
    # pointers to the operands and the workspace through ctx, one outlined call per row block
    operands = (base[a], base[b_], base[c], ws, epilogue[1])
    with b.goto_entry_block():
        ctx = b.alloca(PTR, size=ir.Constant(I32, len(operands)))
    for j, value in enumerate(operands):
        b.store(value, b.gep(ctx, [ir.Constant(I64, j)], source_etype=PTR))
    r.outlined += 1
    body = ir.Function(r.module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]),
                       name=f"{r.fn.name}.gemm{r.outlined}")
    body.linkage = "internal"
    ib = ir.IRBuilder(body.append_basic_block("entry"))
    ops = [ib.load(ib.gep(body.args[0], [ir.Constant(I64, j)], source_etype=PTR), typ=PTR)
           for j in range(len(operands))]
    chunk = body.args[1]
    done = body.append_basic_block("done")
    switch = ib.switch(chunk, done)
    for index, part in enumerate(parts):
        block = body.append_basic_block(f"part{index}")
        switch.add_case(ir.Constant(I64, index), block)
        ib.position_at_end(block)
        _call(ib, fn, part, n, k, *ops[:4], index, elems, t, strides, (epilogue[0], ops[4]))
        ib.branch(done)
    ib.position_at_end(done)
    ib.ret_void()
    r.parallel_for(body, ctx, ir.Constant(I64, len(parts)), len(parts))


def _epilogue(r, epilogue) -> tuple:
    """(function, ctx) of a gemm's epilogue (see kernel.Intrinsic), outlined as
    `void (ptr ctx, i64 r0, i64 r1, i64 c0, i64 c1)` over a block of C, or nulls."""
    if not epilogue:
        return ir.Constant(EPILOGUE_PTR, None), ir.Constant(PTR, None)
    (rows,) = epilogue
    (cols,) = rows.body
    r.outlined += 1
    fn, inner, ctx = r.outline(f"epilogue{r.outlined}", EPILOGUE,
                               ("epilogue.r0", "epilogue.r1", "epilogue.c0", "epilogue.c1"))
    block = replace(rows, start=K.Var("epilogue.r0"), stop=K.Var("epilogue.r1"),
                    body=(replace(cols, start=K.Var("epilogue.c0"), stop=K.Var("epilogue.c1")),))
    inner.s_Loop(block)
    inner.builder.ret_void()
    return fn, ctx


def _call(b, fn, part, n, k, a, bm, c, ws, index, elems, t, strides, epilogue):
    """gemm on the block part = (first row, rows, first column, columns) of C (n columns
    in all), with workspace number `index` (ws points at the first), and the epilogue
    (function, ctx) on its blocks."""
    row, rows, col, cols = part
    rsa, csa, rsb, csb = (ir.Constant(I64, v) for v in strides)
    ty = TYPES[t]
    a = b.gep(a, [ir.Constant(I64, row * strides[0])], source_etype=ty)
    bm = b.gep(bm, [ir.Constant(I64, col * strides[3])], source_etype=ty)
    c = b.gep(c, [ir.Constant(I64, row * n + col)], source_etype=ty)
    w = b.gep(ws, [ir.Constant(I64, index * elems)], source_etype=ty)
    b.call(fn, [ir.Constant(I64, rows), ir.Constant(I64, cols), ir.Constant(I64, k), a, rsa,
                csa, bm, rsb, csb, c, ir.Constant(I64, n), ir.Constant(I64, 0), w, *epilogue,
                ir.Constant(I64, row), ir.Constant(I64, col)])


def _workspace(module, t: str, elems: int):
    """Packing space for GEMM, one region per thread, per module (a module runs one plan at
    a time)."""
    name = f"graphc.gemm_workspace.{t}"
    if name not in module.globals:
        ty = ir.ArrayType(TYPES[t], elems)
        ws = ir.GlobalVariable(module, ty, name=name)
        ws.linkage = "internal"
        ws.initializer = ir.Constant(ty, None)
        ws.align = 64
    return module.globals[name]


def gemm_workspace_bytes(dtype: str, threads: int, cpu: str = "native") -> int:
    """Bytes of the workspace buffer a gemm of `dtype` in a plan for `threads` and `cpu`
    needs: one packing region per possible row chunk."""
    elems = gemm_workspace_elems(dtype, vector_width(dtype, cpu))
    return elems * max(threads, 1) * {"f32": 4, "f64": 8}[dtype]


def intrinsics_for(cpu: str) -> dict:
    """The intrinsic table for plans compiled for `cpu` ('native' gives INTRINSICS)."""
    return INTRINSICS if cpu == "native" else {"gemm": functools.partial(render_gemm, cpu=cpu)}


INTRINSICS = {"gemm": render_gemm}
