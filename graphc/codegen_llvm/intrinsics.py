"""The LLVM renderings of L2 intrinsics (library routines called from kernels)."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

from llvmlite import ir

from graphc.codegen_llvm.gemm import (
    EPILOGUE,
    EPILOGUE_PTR,
    PACK,
    PACK_PTR,
    default_blocking,
    gemm_rows_partition,
    gemm_workspace_elems,
    narrow_blocking,
    thin_blocking,
    vector_width,
)
from graphc.codegen_llvm.library import declare_gemm
from graphc.codegen_llvm.render import I32, I64, PTR, TYPES
from graphc.compiler.kernels import written_by
from graphc.ir import kernel as K

PARALLEL_FLOPS = 1 << 18  # m*n*k below which a GEMM stays on one thread
# Threads split a C wider than tall by columns only for a deep enough K. On the AVX-512 test
# host, two threads on (256, K) @ (K, 512): K = 512 and 784 ran 5-6% faster split by columns
# (436 against 461 us, 714 against 750 us), K = 256 the same, and K <= 128 up to 1.8x slower
# (K = 10: 34 against 20 us), where writing C back costs more than packing.
COLUMN_SPLIT_MIN_K = 256


def gemm_parts(m: int, n: int, k: int, threads: int, blocking) -> list:
    """The blocks of C the threads compute: (first row, rows, first column, columns) each.
    C's rows are split in MR-multiples, or its columns in NR-multiples when C is wider than
    tall, K is deep (COLUMN_SPLIT_MIN_K) and the busiest thread then has no more micro-tiles
    than it has with rows: W9's backward product, 32 x 320 from K = 1024, has 5 column
    panels, 3 and 2 to a thread, where its 6 row panels split 3 and 3 (two threads on the
    AVX-512 VM: the product 1.68x -> 1.8x its one-thread speed)."""
    row_panels, col_panels = -(-m // blocking.mr), -(-n // blocking.nr)
    busiest_rows = -(-row_panels // threads) * col_panels
    busiest_cols = row_panels * -(-col_panels // threads)
    if n > m and k >= COLUMN_SPLIT_MIN_K and busiest_cols <= busiest_rows:
        return [(0, m, first, cols)
                for first, cols in gemm_rows_partition(n, threads, blocking.nr)]
    return [(first, rows, 0, n) for first, rows in gemm_rows_partition(m, threads, blocking.mr)]


def render_gemm(r, s, cpu: str = "native") -> None:
    """gemm(A, B, C[, W]; M, N, K, offA, rsA, csA, offB, rsB, csB, offC[, alpha]): C = A @ B,
    or C += alpha * (A @ B) with alpha (K at most the blocking's KC, so that the product is
    rounded whole before it is added: compiler/accumulate.py), A and B read through their
    strides, C row-major, blocked for `cpu`'s vector width (the library the plan links with
    must be built for the same CPU).

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
    m, n, k, _, rsa, csa, _, rsb, csb, _ = (  # lowering passes concrete sizes and strides
        int(x.value) if isinstance(x, K.Const) else None for x in s.args[:10])
    kind, blocking = gemm_choice(t, width, n)
    if len(s.args) > 10 and k > blocking.kc:  # (see compiler/accumulate.py)
        raise ValueError(f"gemm: C += alpha * (A @ B) rounds as one product only for K <= "
                         f"{blocking.kc}, not {k}")
    in_place = _in_place_a(s, t, kind, blocking, k)
    if in_place:  # A read where it lies (the indirect GEMM), from the buffer its pack reads
        kind, a = "indirect" if kind == "" else "indirect_narrow", in_place[0]
    fn = declare_gemm(r.module, t, kind)
    strides = (rsa, csa, rsb, csb)
    b = r.builder
    # one pointer per operand, A, B and C (not per buffer: A and B may be one buffer at two
    # offsets, a matrix times a view of itself)
    pa, pb, pc = (b.gep(r.buffers[name], [r.expr(off)], source_etype=TYPES[t])
                  if name else ir.Constant(PTR, None)  # a packed operand has no buffer
                  for name, off in ((a, s.args[3]), (b_, s.args[6]), (c, s.args[9])))
    # -1: the epilogue stores into A's buffer, so A is packed before C's blocks are final
    # rather than read in place (an assignment to a variable the product reads is staged,
    # compiler/commits.py, so this is a guard)
    a_lanes = s.packs[0].lanes if in_place else -1 if a in written_by(s.epilogue) else 0
    parts = gemm_parts(m, n, k, r.threads, blocking)
    elems = gemm_workspace_elems(t, width)  # the narrow and thin GEMMs' are no larger
    if len(s.buffers) > 3:
        ws = r.buffers[s.buffers[3]]
    else:  # one region per possible chunk
        ws = b.gep(_workspace(r.module, t, elems * max(r.threads, 1)),
                   [ir.Constant(I64, 0), ir.Constant(I64, 0)])
    epilogue = _epilogue(r, s.epilogue)
    packs = _packs(r, s.packs, t, blocking, k, in_place)
    alpha, beta = ir.Constant(PTR, None), int(len(s.args) > 10)
    if beta:  # C += alpha * (A @ B): alpha's value, through a pointer
        with b.goto_entry_block():
            alpha = b.alloca(TYPES[t])
        b.store(r.expr(s.args[10]), alpha)
    if len(parts) <= 1 or m * n * k < PARALLEL_FLOPS:
        _call(b, fn, (0, m, 0, n), n, k, pa, pb, pc, ws, 0, elems, t,
              strides, epilogue, packs, (s.prepacked, a_lanes, beta, alpha))
        return
    # pointers to the operands and the workspace through ctx, one outlined call per row block
    operands = (pa, pb, pc, ws, epilogue[1], packs[2], alpha)
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
        _call(ib, fn, part, n, k, *ops[:4], index, elems, t, strides, (epilogue[0], ops[4]),
              (*packs[:2], ops[5]), (s.prepacked, a_lanes, beta, ops[6]))
        ib.branch(done)
    ib.position_at_end(done)
    ib.ret_void()
    r.parallel_for(body, ctx, ir.Constant(I64, len(parts)), len(parts))


def gemm_accumulates(t: str, k: int, cpu: str = "native") -> bool:
    """Whether render_gemm computes C += alpha * (A @ B) for dtype t and depth k with the
    product rounded whole before it is scaled and added (one K block of every tile's
    blocking; compiler/accumulate.py)."""
    return k <= default_blocking(t, vector_width(t, cpu)).kc


def gemm_blocking(t: str, width: int, n: int):
    """The blocking of the library GEMM render_gemm calls for a C of n columns
    (gemm_choice)."""
    return gemm_choice(t, width, n)[1]


def gemm_choice(t: str, width: int, n: int) -> tuple:
    """(kind, blocking) of the library GEMM render_gemm calls for a C of n columns
    (library.gemm_name's kinds): the thin one for a C at most one vector wide, the narrow
    one for a C at most half a default tile wide, else the default."""
    thin = thin_blocking(t, width)
    if thin is not None and n <= thin.nr:
        return "thin", thin
    narrow = narrow_blocking(t, width)
    if narrow is not None and n <= narrow.nr:
        return "narrow", narrow
    return "", default_blocking(t, width)


# A segment shorter than this is packed rather than read in place: the indirect GEMM's
# micro-kernel pays a loop and MR pointer loads per segment.
IN_PLACE_MIN_LANES = 16


def in_place_a(s, t: str, cpu: str = "native"):
    """_in_place_a of gemm `s` (whose C is of dtype t) as render_gemm decides it for `cpu`."""
    n, k = (int(x.value) if isinstance(x, K.Const) else None for x in s.args[1:3])
    if n is None or k is None:
        return None
    return _in_place_a(s, t, *gemm_choice(t, vector_width(t, cpu), n), k)


def _in_place_a(s, t: str, kind: str, blocking, k: int):
    """(buffer, start, inside) where the gemm's A is a pack that the indirect GEMM can read
    in place, else None: each segment of each row is `lanes` consecutive elements of one
    buffer from `start`, or zeros where `inside` is false (its value is `buffer[start +
    PACK_LANE]`, or that under `Select(inside, ..., 0)`, with start and inside free of
    PACK_LANE), the tile is float32's default or narrow one, and every K block is whole
    segments."""
    pack = s.packs[0] if s.packs else None
    if pack is None or t != "f32" or kind not in ("", "narrow") \
            or pack.lanes < IN_PLACE_MIN_LANES \
            or not (k <= blocking.kc or blocking.kc % pack.lanes == 0):
        return None
    value, inside = pack.value, K.Const(True, "bool")
    if isinstance(value, K.Select) and isinstance(value.b, K.Const) and value.b.value == 0 \
            and math.copysign(1.0, value.b.value) > 0:  # (+0.0: the zeros the GEMM reads)
        value, inside = value.a, value.cond
    if not isinstance(value, K.Load) or value.dtype != t:
        return None
    lane = K.Var(K.PACK_LANE)
    index = value.index
    if index == lane:
        start = K.Const(0)
    elif isinstance(index, K.Binary) and index.op == "add" and index.b == lane:
        start = index.a
    else:
        return None
    if _reads(start, K.PACK_LANE) or _reads(inside, K.PACK_LANE):
        return None
    return value.buffer, start, inside


def _reads(e, var: str) -> bool:
    """Whether expression e reads loop variable `var`."""
    return (isinstance(e, K.Var) and e.name == var) or any(
        _reads(x, var) for x in K.expr_children(e))


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
    inner.prefetch = False  # a block of C the gemm has just written: in cache
    block = replace(rows, start=K.Var("epilogue.r0"), stop=K.Var("epilogue.r1"),
                    body=(replace(cols, start=K.Var("epilogue.c0"), stop=K.Var("epilogue.c1")),))
    inner.s_Loop(block)
    inner.builder.ret_void()
    return fn, ctx


def _packs(r, packs, t: str, blocking, k: int, in_place=None) -> tuple:
    """(pack_a, pack_b, ctx) of a gemm whose operands are given as K.Packs (see the gemm's
    docstring for the callbacks' contract), nulls for strided operands. Each callback is
    outlined from L2 loops that copy the operand's block into the workspace segment by
    segment, so the row and segment parts of the value are computed once per segment. Both
    see the same names in scope, so one ctx serves both. With `in_place` (_in_place_a), A's
    callback writes the offsets of its segments instead (the indirect GEMM's)."""
    nulls = [ir.Constant(PACK_PTR, None)] * 2
    if not any(p is not None for p in packs):
        return (*nulls, ir.Constant(PTR, None))
    ctx = None
    for pos, pack in enumerate(packs):
        if pack is None:
            continue
        r.outlined += 1
        fn, inner, ctx = r.outline(f"pack{'AB'[pos]}{r.outlined}", PACK, (
            "pack.r0", "pack.rows", "pack.c0", "pack.cols", "pack.dst"), ctx)
        inner.buffers["pack.dst"] = inner.vars.pop("pack.dst")
        inner.prefetch = False
        offsets = pos == 0 and in_place
        inner.kernel = replace(inner.kernel, buffers=inner.kernel.buffers + (
            K.Buffer("pack.dst", K.INDEX if offsets else t, K.Const(0), scratch=True),))
        if offsets:
            body = _offsets_a(pack, in_place, blocking.mr)
        elif pos == 0:
            body = _pack_a(pack, blocking.kc, _whole_segments(pack, k, blocking.kc))
        else:
            body = _pack_b(pack, blocking.nr, t)
        inner.stmts([body])
        inner.builder.ret_void()
        nulls[pos] = fn
    return (*nulls, ctx)


def _segments(pack, first, count, body, whole: bool = False) -> K.Loop:
    """Loops over the K indices [first, first + count) of `pack` as (segment, lane).
    `whole`: first and count are multiples of the segment, so every lane loop runs 0..lanes,
    a constant trip count the backend vectorizes without a remainder."""
    lanes = K.Const(pack.lanes)
    seg, end = K.Var(K.PACK_SEG), K.add(first, count)
    if whole:
        return K.Loop(K.PACK_SEG, K.Binary("floordiv", first, lanes, K.INDEX),
                      K.Binary("floordiv", end, lanes, K.INDEX),
                      (K.Loop(K.PACK_LANE, K.Const(0), lanes, tuple(body)),))
    start = K.Binary("max", K.Const(0), K.Binary("sub", first, K.mul(seg, pack.lanes),
                                                 K.INDEX), K.INDEX)
    stop = K.Binary("min", lanes, K.Binary("sub", end, K.mul(seg, pack.lanes), K.INDEX),
                    K.INDEX)
    last = K.Binary("floordiv", K.add(end, pack.lanes - 1), lanes, K.INDEX)
    return K.Loop(K.PACK_SEG, K.Binary("floordiv", first, lanes, K.INDEX), last,
                  (K.Loop(K.PACK_LANE, start, stop, tuple(body)),))


def _k_index(pack, first) -> K.Expr:
    """The K index the (segment, lane) loops are at, counted from `first`."""
    return K.Binary("sub", K.add(K.mul(K.Var(K.PACK_SEG), pack.lanes), K.Var(K.PACK_LANE)),
                    first, K.INDEX)


def _whole_segments(pack, k: int, kc: int) -> bool:
    """Whether every K block of a gemm of depth k (blocks of kc) is whole segments of
    `pack`: one block holds all of K, or kc is a multiple of the segment (and K is, as
    an implicit GEMM's K is kernel offsets times the segment)."""
    return k % pack.lanes == 0 and (k <= kc or kc % pack.lanes == 0)


def _pack_a(pack, kc: int, whole: bool = False) -> K.Loop:
    """dst[(i - r0) * KC + k - c0] = A[i, k] for i in [r0, r0 + rows), k in [c0, c0 + cols)."""
    r0, c0 = K.Var("pack.r0"), K.Var("pack.c0")
    i = K.Var(K.PACK_ROW)
    at = K.add(K.mul(K.Binary("sub", i, r0, K.INDEX), kc), _k_index(pack, c0))
    return K.Loop(K.PACK_ROW, r0, K.add(r0, K.Var("pack.rows")), (
        _segments(pack, c0, K.Var("pack.cols"), [K.Store("pack.dst", at, pack.value)],
                  whole),))


def _offsets_a(pack, in_place, mr: int) -> K.Loop:
    """dst[(s - c0 / lanes) * MR + i - r0] = the offset of A's segment s of row i in its
    buffer, or -1 where it is zeros, for i in [r0, r0 + rows) and the segments of K indices
    [c0, c0 + cols) (whole ones: define_gemm's indirect GEMM)."""
    _, start, inside = in_place
    r0, c0, lanes = K.Var("pack.r0"), K.Var("pack.c0"), K.Const(pack.lanes)
    i, seg = K.Var(K.PACK_ROW), K.Var(K.PACK_SEG)
    first = K.Binary("floordiv", c0, lanes, K.INDEX)
    at = K.add(K.mul(K.Binary("sub", seg, first, K.INDEX), mr),
               K.Binary("sub", i, r0, K.INDEX))
    offset = start if inside == K.Const(True, "bool") else \
        K.Select(inside, start, K.Const(-1), K.INDEX)
    end = K.Binary("floordiv", K.add(c0, K.Var("pack.cols")), lanes, K.INDEX)
    return K.Loop(K.PACK_ROW, r0, K.add(r0, K.Var("pack.rows")), (
        K.Loop(K.PACK_SEG, first, end, (K.Store("pack.dst", at, offset),)),))


def _pack_b(pack, nr: int, t: str) -> K.Loop:
    """dst[(j' / NR) * NR * rows + (k - r0) * NR + j' % NR] = B[k, j] for k in [r0, r0 +
    rows), j in [c0, c0 + cols), j' = j - c0, and zero for j' in [cols, cols rounded up to
    NR)."""
    r0, rows, c0, cols = (K.Var(f"pack.{v}") for v in ("r0", "rows", "c0", "cols"))

    def at(j):
        jj = K.Binary("sub", j, c0, K.INDEX)
        panel = K.Binary("floordiv", jj, K.Const(nr), K.INDEX)
        return K.add(K.add(K.mul(K.mul(panel, nr), rows), K.mul(_k_index(pack, r0), nr)),
                     K.Binary("mod", jj, K.Const(nr), K.INDEX))
    end = K.add(c0, cols)
    padded = K.add(c0, K.mul(K.Binary("floordiv", K.add(cols, nr - 1), K.Const(nr), K.INDEX),
                             nr))
    j, z = K.Var(K.PACK_COL), K.Var("pack.z")
    return _segments(pack, r0, rows, [
        K.Loop(K.PACK_COL, c0, end, (K.Store("pack.dst", at(j), pack.value),)),
        K.Loop("pack.z", end, padded, (K.Store("pack.dst", at(z), K.Const(0, t)),))])


def _call(b, fn, part, n, k, a, bm, c, ws, index, elems, t, strides, epilogue, packs,
          flags: tuple):
    """gemm on the block part = (first row, rows, first column, columns) of C (n columns
    in all), with workspace number `index` (ws points at the first), the epilogue
    (function, ctx) on its blocks and the operands' pack callbacks and their ctx; flags =
    (whether B is prepacked, a_lanes: the segment of an A read in place, or 0, beta and a
    pointer to alpha: C += alpha * (A @ B) with beta 1, C = A @ B with 0)."""
    prepacked, a_lanes, beta, alpha = flags
    row, rows, col, cols = part
    rsa, csa, rsb, csb = (ir.Constant(I64, v) for v in strides)
    ty = TYPES[t]
    a = b.gep(a, [ir.Constant(I64, row * strides[0])], source_etype=ty)
    if not prepacked:  # (a prepacked B's panels are found at column `col` by the GEMM)
        bm = b.gep(bm, [ir.Constant(I64, col * strides[3])], source_etype=ty)
    c = b.gep(c, [ir.Constant(I64, row * n + col)], source_etype=ty)
    w = b.gep(ws, [ir.Constant(I64, index * elems)], source_etype=ty)
    b.call(fn, [ir.Constant(I64, rows), ir.Constant(I64, cols), ir.Constant(I64, k), a, rsa,
                csa, bm, rsb, csb, c, ir.Constant(I64, n), ir.Constant(I64, beta), w,
                *epilogue, ir.Constant(I64, row), ir.Constant(I64, col), *packs,
                ir.Constant(I64, int(prepacked)), ir.Constant(I64, a_lanes), alpha])


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


class _Callee:
    """A pointer value called as a function of `function_type` (llvmlite's builder calls
    Functions; with opaque pointers, an indirect call only needs the type)."""

    def __init__(self, pointer, function_type):
        self.pointer, self.function_type, self.type = pointer, function_type, pointer.type

    def get_reference(self) -> str:
        return self.pointer.get_reference()


def render_host_call(r, s) -> None:
    """host_call(callback, values...; uid, code): status = callback(uid, {values' addresses}),
    and a non-zero status ends the kernel with `code` (runtime/host_calls.py)."""
    b = r.builder
    names = s.buffers[1:]
    values = b.alloca(PTR, size=ir.Constant(I32, max(len(names), 1)))
    for i, name in enumerate(names):
        b.store(r.buffers[name], b.gep(values, [ir.Constant(I64, i)], source_etype=PTR))
    callee = _Callee(r.buffers[s.buffers[0]], ir.FunctionType(I32, [I64, PTR]))
    status = b.call(callee, [r.expr(s.args[0]), values])
    with b.if_then(b.icmp_signed("!=", status, ir.Constant(I32, 0)), likely=False):
        b.ret(ir.Constant(I32, int(s.args[1].value) + 1))


def intrinsics_for(cpu: str) -> dict:
    """The intrinsic table for plans compiled for `cpu` ('native' gives INTRINSICS)."""
    return INTRINSICS if cpu == "native" else {"gemm": functools.partial(render_gemm, cpu=cpu)}


INTRINSICS = {"gemm": render_gemm, K.HOST_CALL: render_host_call}
