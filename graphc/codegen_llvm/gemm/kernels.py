"""The GEMM's inner pieces, emitted as internal functions: packing of A and B into the
workspace and the register-tiled micro-kernel (gemm/__init__.py has the algorithm and the
layout)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import llvmlite.ir as ir

from graphc.codegen_llvm.irutil import counted_loop


@dataclasses.dataclass(frozen=True)
class GemmBlocking:
    """Register and cache blocking of one emitted GEMM (all in elements).

    mr x nr is the register tile of C; kc the depth of one rank-kc update; mc x kc the packed A
    block and kc x nc the packed B block; ku the unrolling of the micro-kernel's k loop. With
    fuse_b, a row-major B is packed by the micro-kernel during the first A panel's pass over
    each B block (see _emit_block) instead of by a separate pass first. nr must be a multiple
    of the vector width, mc a multiple of mr and nc of nr.

    mc_narrow (0: unused), a multiple of mr below mc, bounds the A block's height instead of
    mc when C is narrower than 4 * nr columns: such a C gives each A micro-panel at most
    three B micro-panels to meet, so the A block is reread from cache little and should stay
    in L2 beside Bp, while the B block, which is then repacked once per A block, is small.
    The blocks are of even heights (256 rows: two of 128, not 252 and 4).
    """

    mr: int
    nr: int
    kc: int
    mc: int
    nc: int
    ku: int = 4
    fuse_b: bool = False
    mc_narrow: int = 0

    def check(self, vector_width: int) -> None:
        if min(self.mr, self.nr, self.kc, self.mc, self.nc, self.ku) < 1:
            raise ValueError(f"gemm blocking must be positive: {self}")
        if self.nr % vector_width:
            raise ValueError(f"gemm blocking: nr={self.nr} is not a multiple of the vector "
                             f"width {vector_width}")
        if self.mc % self.mr or self.nc % self.nr:
            raise ValueError(f"gemm blocking: mc must be a multiple of mr and nc of nr: {self}")
        if self.mc_narrow % self.mr or not 0 <= self.mc_narrow <= self.mc:
            raise ValueError(f"gemm blocking: mc_narrow must be a multiple of mr, at most mc: "
                             f"{self}")



_ELEM_BYTES = {"f32": 4, "f64": 8}
_I64 = ir.IntType(64)
_PTR = ir.PointerType()


def _c(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


class _Emitter:
    """An IRBuilder plus the few control-flow shapes the GEMM needs (loops: irutil)."""

    def __init__(self, fn: ir.Function, elem: ir.Type):
        self.fn = fn
        self.elem = elem
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))

    def ptr(self, base, index, inbounds=True):
        """&base[index] for a T* base (index in elements)."""
        return self.b.gep(base, [index], inbounds=inbounds, source_etype=self.elem)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)

    def round_down(self, x, step: int):
        """x rounded down to a multiple of `step` (x >= 0)."""
        return self.b.mul(self.b.sdiv(x, _c(step)), _c(step))

    def round_up(self, x, step: int):
        """x rounded up to a multiple of `step` (x >= 0)."""
        return self.round_down(self.b.add(x, _c(step - 1)), step)

    @contextmanager
    def if_(self, cond):
        with self.b.if_then(cond):
            yield

    @contextmanager
    def if_else(self, cond):
        with self.b.if_else(cond) as (then, otherwise):
            yield then, otherwise


def _new_function(module, name, args, elem):
    fnty = ir.FunctionType(ir.VoidType(), [t for t, _ in args])
    fn = ir.Function(module, fnty, name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    for arg, (ty, argname) in zip(fn.args, args):
        arg.name = argname
        if ty == _PTR:
            arg.attributes.add("noalias")
    return fn, _Emitter(fn, elem)


def _transpose_vectors(b: ir.IRBuilder, rows: list) -> list:
    """The W x W transpose of `rows` (W vectors of W lanes, W a power of two) in registers:
    log2(W) rounds, each pairing vector t with vector t + W/2 and interleaving their low and
    their high halves lane by lane (W two-source shuffles per round)."""
    width = len(rows)
    half = width // 2
    i32 = ir.IntType(32)
    low = ir.Constant(ir.VectorType(i32, width),
                      [x for i in range(half) for x in (i, i + width)])
    high = ir.Constant(ir.VectorType(i32, width),
                       [x for i in range(half, width) for x in (i, i + width)])
    for _ in range(width.bit_length() - 1):
        rows = [v for t in range(half)
                for v in (b.shuffle_vector(rows[t], rows[t + half], low),
                          b.shuffle_vector(rows[t], rows[t + half], high))]
    return rows


def _emit_transpose_tiles(e: _Emitter, width: int, src, src_stride, dst, dst_stride: ir.Value,
                          rows, cols) -> None:
    """dst[r * dst_stride + c] = src[c * src_stride + r] for r < rows, c < cols (multiples of
    `width`), a width x width tile at a time: `width` vector loads along r, the transpose in
    registers, `width` vector stores along c. Tiles go along c within a band of rows, so the
    stores of a band fill its `width` rows of dst in order."""
    b, elem = e.b, e.elem
    vec = ir.VectorType(elem, width)
    al = _elem_align(elem)
    with counted_loop(b, _c(0), rows, "tr", step=width) as r0:
        with counted_loop(b, _c(0), cols, "tc", step=width) as c0:
            top = e.ptr(src, b.add(b.mul(c0, src_stride), r0))
            loaded = [b.load(e.ptr(top, b.mul(_c(t), src_stride)), typ=vec, align=al)
                      for t in range(width)]
            corner = e.ptr(dst, b.add(b.mul(r0, dst_stride), c0))
            for s, v in enumerate(_transpose_vectors(b, loaded)):
                b.store(v, e.ptr(corner, b.mul(_c(s), dst_stride)), align=al)


def _emit_pack_a(module, prefix, elem, blk: GemmBlocking, width: int) -> ir.Function:
    """pack_a(mc, kc, A, rsA, csA, Ap): Ap[p][i][k] = A[p*MR + i, k], zero for rows >= mc.

    Panel p (rows p*MR .. p*MR+MR-1) occupies MR*KC elements at Ap + p*MR*KC, row-major with
    the fixed row stride KC (only the first kc columns are used when the last K block is
    short). A fixed stride lets the micro-kernel address row i of the panel as a constant
    displacement i*KC*sizeof(T) from one moving pointer, and keeps the common row-major A
    (csA == 1) a plain row copy (memcpy) instead of a transposition. The panels follow each
    other, so the block is the matrix of its mc rows with row stride KC, and a transposed A
    (rsA == 1) is transposed into it `width` x `width` elements at a time in registers.
    """
    mr, kcmax = blk.mr, blk.kc
    fn, e = _new_function(module, f"{prefix}_pack_a", [
        (_I64, "mc"), (_I64, "kc"), (_PTR, "A"), (_I64, "rsA"), (_I64, "csA"), (_PTR, "Ap")],
        elem)
    mc, kc, a, rsa, csa, ap = fn.args
    b = e.b
    size = _ELEM_BYTES["f64" if isinstance(elem, ir.DoubleType) else "f32"]
    memcpy = module.declare_intrinsic("llvm.memcpy", [_PTR, _PTR, _I64])
    row_bytes = b.mul(kc, _c(size))
    false = ir.Constant(ir.IntType(1), 0)

    def copy_elements(rows0, rows1, k0):
        # Strided rows: element by element, MR rows at a time and column by column within
        # them, so that a transposed A is read a line at a time and the rows are written in
        # order (row by row, each of the kc reads took a line of its own: 512x256 @ 256x512
        # with A transposed 0.81 -> 0.73 ms).
        with counted_loop(b, rows0, rows1, "ip", step=mr) as i0:
            i1 = e.min(b.add(i0, _c(mr)), rows1)
            with counted_loop(b, k0, kc, "k") as k:
                column = e.ptr(a, b.mul(k, csa))
                with counted_loop(b, i0, i1, "i") as i:
                    b.store(b.load(e.ptr(column, b.mul(i, rsa)), typ=elem),
                            e.ptr(ap, b.add(b.mul(i, _c(kcmax)), k)))

    with e.if_else(b.icmp_signed("==", csa, _c(1))) as (then, otherwise):
        with then:
            with counted_loop(b, _c(0), mc, "i") as i:
                b.call(memcpy, [e.ptr(ap, b.mul(i, _c(kcmax))), e.ptr(a, b.mul(i, rsa)),
                                row_bytes, false])
        with otherwise:
            # A transposed (rsA == 1): whole width x width tiles in registers, then the
            # columns right of them; the rows below them (and any other strided A) as above
            rows_done = _c(0)
            if width > 1:
                transposed = b.icmp_signed("==", rsa, _c(1))
                tiles_m = e.round_down(mc, width)
                with e.if_(transposed):
                    tiles_k = e.round_down(kc, width)
                    _emit_transpose_tiles(e, width, a, csa, ap, _c(kcmax), tiles_m, tiles_k)
                    copy_elements(_c(0), tiles_m, tiles_k)
                rows_done = b.select(transposed, tiles_m, _c(0))
            copy_elements(rows_done, mc, _c(0))
    emit_zero_rows(e, mc, e.round_up(mc, mr), kc, ap, kcmax)
    b.ret_void()
    return fn


def emit_zero_rows(e, first, end, kc, base, kcmax: int) -> None:
    """Zero rows [first, end) of a packed A panel at `base` (row stride KC, kc elements
    used): the kernel always computes MR rows, and garbage past the edge of A could be
    denormals (slow) even though those rows are never written back."""
    b = e.b
    memset = e.fn.module.declare_intrinsic("llvm.memset", [_PTR, _I64])
    size = _ELEM_BYTES["f64" if isinstance(e.elem, ir.DoubleType) else "f32"]
    with counted_loop(b, first, end, "iz") as i:
        b.call(memset, [e.ptr(base, b.mul(i, _c(kcmax))), ir.Constant(ir.IntType(8), 0),
                        b.mul(kc, _c(size)), ir.Constant(ir.IntType(1), 0)])


def _elem_align(elem: ir.Type) -> int:
    return 8 if isinstance(elem, ir.DoubleType) else 4


def _emit_pack_b(module, prefix, elem, blk: GemmBlocking, width: int) -> ir.Function:
    """pack_b(nc, kc, B, rsB, csB, Bp): Bp[q][k][j] = B[k, q*NR + j], zero for columns >= nc.

    Panel q occupies kc*NR consecutive elements at Bp + q*kc*NR, one NR-element row per k: the
    micro-kernel reads it as NR/W consecutive vectors per k.
    """
    nr = blk.nr
    fn, e = _new_function(module, f"{prefix}_pack_b", [
        (_I64, "nc"), (_I64, "kc"), (_PTR, "B"), (_I64, "rsB"), (_I64, "csB"), (_PTR, "Bp")],
        elem)
    nc, kc, bsrc, rsb, csb, bp = fn.args
    b = e.b
    zero = ir.Constant(elem, 0.0)
    vec = ir.VectorType(elem, width)
    al = _elem_align(elem)
    nfull = b.sdiv(nc, _c(nr))
    full_cols = b.mul(nfull, _c(nr))
    panel = b.mul(kc, _c(nr))  # elements per packed panel
    with e.if_else(b.icmp_signed("==", csb, _c(1))) as (then, otherwise):
        with then:
            # Row-major B: walk B row by row (sequential reads the hardware prefetcher
            # follows across the whole nc-wide row) and scatter each NR-wide piece, as NR/W
            # vectors, into its panel.
            with counted_loop(b, _c(0), kc, "k") as k:
                row = e.ptr(bsrc, b.mul(k, rsb))
                out = e.ptr(bp, b.mul(k, _c(nr)))
                with counted_loop(b, _c(0), nfull, "q") as q:
                    src = e.ptr(row, b.mul(q, _c(nr)))
                    dst = e.ptr(out, b.mul(q, panel))
                    for v in range(nr // width):
                        x = b.load(e.ptr(src, _c(v * width)), typ=vec, align=al)
                        b.store(x, e.ptr(dst, _c(v * width)), align=al)
        with otherwise:
            # Strided columns. With B transposed (rsB == 1), whole width x width tiles of
            # each panel in registers, a band of `width` rows across the panel at a time, so
            # that the stores fill the panel in order (256 x 512 x 512 with B transposed, one
            # thread: 1077 -> 975 us, as fast as with B row-major); the rows below the last
            # whole band, and any other strided B, element by element as follows.
            k_done = _c(0)
            if width > 1:
                transposed = b.icmp_signed("==", rsb, _c(1))
                tiles_k = e.round_down(kc, width)
                with e.if_(transposed):
                    with counted_loop(b, _c(0), nfull, "qt") as q:
                        first = e.ptr(bsrc, b.mul(b.mul(q, _c(nr)), csb))
                        _emit_transpose_tiles(e, width, first, csb, e.ptr(bp, b.mul(q, panel)),
                                              _c(nr), tiles_k, _c(nr))
                k_done = b.select(transposed, tiles_k, _c(0))
            # Element by element, a tile of _PACK_TILE_ROWS rows at a time, column by column
            # within it, so that the reads are sequential when rsB == 1 and the tile's rows
            # of each panel (4 KiB for float32) stay in L1 while every column is written into
            # them. (Column by column over all kc rows, each store went to another line of a
            # panel too large for L1: a 256 x 512 x 512 product with B transposed took 1.14
            # ms against 0.70.)
            with counted_loop(b, k_done, kc, "kt", step=_PACK_TILE_ROWS) as k0:
                k1 = e.min(b.add(k0, _c(_PACK_TILE_ROWS)), kc)
                with counted_loop(b, _c(0), full_cols, "j") as j:
                    col = e.ptr(bsrc, b.mul(j, csb))
                    jq = b.srem(j, _c(nr))
                    dst = e.ptr(bp, b.add(b.mul(b.sub(j, jq), kc), jq))
                    with counted_loop(b, k0, k1, "k") as k:
                        x = b.load(e.ptr(col, b.mul(k, rsb)), typ=elem)
                        b.store(x, e.ptr(dst, b.mul(k, _c(nr))))
    # The last, partial panel: copy its nc % NR columns and zero the rest, so that the kernel
    # can always compute NR columns.
    nrem = b.sub(nc, full_cols)
    with e.if_(b.icmp_signed(">", nrem, _c(0))):
        dst = e.ptr(bp, b.mul(full_cols, kc))
        with counted_loop(b, _c(0), kc, "ke") as k:
            out = e.ptr(dst, b.mul(k, _c(nr)))
            row = e.ptr(bsrc, b.add(b.mul(k, rsb), b.mul(full_cols, csb)))
            with counted_loop(b, _c(0), nrem, "je") as j:
                b.store(b.load(e.ptr(row, b.mul(j, csb)), typ=elem), e.ptr(out, j))
            with counted_loop(b, nrem, _c(nr), "jz") as j:
                b.store(zero, e.ptr(out, j))
    b.ret_void()
    return fn


# The tallest register tile whose micro-kernel reads an A panel in place, rows a run-time
# stride apart. Twelve or sixteen row addresses (the narrow and thin tiles) do not fit the
# general registers beside the loop's own: LLVM spilled them inside the k loop, and the
# narrow GEMMs of a CNN's training step ran at half speed even on packed panels (W5's
# input gradient 10.9 -> 26.1 ms), so those tiles keep the constant KC and a packed A.
DIRECT_MAX_MR = 8
# Rows of a B panel a strided B is packed in at a time (see _emit_pack_b)
_PACK_TILE_ROWS = 16
# Rows of B ahead of the one in use that the packing kernel prefetches: a row of a B panel
# is NR contiguous elements, one row of the caller's B further on, usually on another page,
# which the hardware prefetchers do not follow. 4-8 measured alike on the test host.
_PACK_PREFETCH_ROWS = 6
# kernel_stream's distance, in rows of a prepacked B panel (NR elements each, contiguous)
_STREAM_PREFETCH_ROWS = 24


def _prefetch(module, b: ir.IRBuilder, ptr, write: bool, locality: int = 3) -> None:
    """llvm.prefetch of the line at `ptr` for reading or writing, into L1 (locality 3) or
    L2 (2)."""
    fn = module.globals.get("llvm.prefetch.p0")
    if fn is None:
        i32 = ir.IntType(32)
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR, i32, i32, i32]),
                         name="llvm.prefetch.p0")
    i32 = ir.IntType(32)
    b.call(fn, [ptr, ir.Constant(i32, int(write)), ir.Constant(i32, locality),
                ir.Constant(i32, 1)])


def _emit_micro_kernel(module, prefix, elem, blk: GemmBlocking, width: int,
                       packing: bool = False, prefetch: str = "",
                       indirect: int = 0) -> ir.Function:
    """kernel(kc, Ap, Bp, C, rsC, m, n, beta, tile, alpha, rsAp): C[:m, :n] = (Ap panel @ Bp
    panel)[:m, :n] (beta 0) or += alpha times it (beta != 0), the A panel's rows rsAp elements
    apart (KC in the packed block, or A's own
    row stride where the GEMM reads a row-major A in place). rsAp is always the last
    argument, after those of the variants below.

    The k loop carries the MR * NV accumulators <W x T> as phi nodes, so they are SSA values
    that the register allocator keeps in vector registers for the whole loop (no memory
    traffic for C inside it). Each k step: NV vector loads from the B micro-panel, MR scalar
    loads from the A micro-panel (row i at i*rsAp) each splatted to a vector (x86:
    vbroadcastss/sd from memory), MR * NV llvm.fma. The body is unrolled blk.ku times (plus a
    one-step remainder loop) to amortize the counter and branch.

    prefetch="stream" (kernel_stream) also prefetches the B panel _STREAM_PREFETCH_ROWS rows
    ahead: the first pass over a prepacked B block, which comes from memory or L3 (the
    later passes find it in L2). prefetch="ahead" (kernel_ahead) is kernel(..., alpha,
    pf, pfLines): at its k-th step it also prefetches into L2 the 64-byte line pf + 64 *
    min(k, pfLines - 1), its share of the prepacked block the GEMM reads next, so that the
    stream from memory overlaps the FMAs of the passes that find their block in L2.

    With `packing`, the function is kernel_pack(..., alpha, Bsrc, rsB) and packs the B panel
    as it goes: row k of the panel is read from the caller's B at Bsrc + k*rsB (unit column
    stride, NR columns all inside B), used, and stored to Bp + k*NR, so that the later A
    panels find it packed. Packing this way overlaps the copy with the FMAs and reads the
    panel into L1 once, instead of a separate pass over the whole kc x nc block first.

    With `indirect` > 0 (not with `packing`), A is read through pointers: the function takes
    a last argument `lanes` instead of rsAp, kc is a multiple of it, and Ap is an array of
    pointers, `indirect` per segment of `lanes` K indices (the GEMM's MR: a short panel's
    kernel reads the first of each segment's): row i's elements at K indices s*lanes ..
    s*lanes + lanes - 1 are the `lanes` consecutive elements at Ap[s*indirect + i] (an
    implicit GEMM's rows, read in place; see define_gemm's indirect GEMM). The k loop runs
    segment by segment, the accumulators carried through both loops.
    """
    mr, nr = blk.mr, blk.nr
    nv = nr // width
    args = [(_I64, "kc"), (_PTR, "Ap"), (_PTR, "Bp"), (_PTR, "C"), (_I64, "rsC"), (_I64, "m"),
            (_I64, "n"), (_I64, "beta"), (_PTR, "tile"), (elem, "alpha")]
    if packing:
        args += [(_PTR, "Bsrc"), (_I64, "rsB")]
    elif prefetch == "ahead":
        args += [(_PTR, "pf"), (_I64, "pfLines")]
    args += [(_I64, "lanes")] if indirect else [(_I64, "rsAp")]
    suffix = "_pack" if packing else f"_{prefetch}" if prefetch else ""
    fn, e = _new_function(module, f"{prefix}_kernel{suffix}", args, elem)
    # (inlined into the GEMM's loops, whose values then spill, the indirect GEMM's kernels
    # ran 10% slower)
    fn.attributes.add("noinline")
    kc, ap, bp, cptr, rsc, m, n, beta, tile, alpha = fn.args[:10]
    b = e.b
    vec = ir.VectorType(elem, width)
    al = _elem_align(elem)
    fma = module.globals.get(f"llvm.fma.v{width}{'f32' if al == 4 else 'f64'}")
    if fma is None:
        fma = ir.Function(module, ir.FunctionType(vec, [vec, vec, vec]),
                          name=f"llvm.fma.v{width}{'f32' if al == 4 else 'f64'}")
    zero_vec = ir.Constant(vec, [0.0] * width)

    line_elems = 64 // al

    def load_b_row(k):
        """Row k of the B panel as NV vectors (packing: from the caller's B, and stored)."""
        brow = e.ptr(bp, b.mul(k, _c(nr)))
        if not packing:
            if prefetch == "stream":  # (not `inbounds`: the rows ahead may lie past it)
                ahead = e.ptr(brow, _c(_STREAM_PREFETCH_ROWS * nr), inbounds=False)
                for off in range(0, nr, line_elems):
                    _prefetch(module, b, e.ptr(ahead, _c(off), inbounds=False), write=False)
            return [b.load(e.ptr(brow, _c(v * width)), typ=vec, align=al) for v in range(nv)]
        bsrc, rsb = fn.args[10:12]
        src = e.ptr(bsrc, b.mul(k, rsb))
        bvecs = [b.load(e.ptr(src, _c(v * width)), typ=vec, align=al) for v in range(nv)]
        for v, x in enumerate(bvecs):
            b.store(x, e.ptr(brow, _c(v * width)), align=al)
        # Not `inbounds`: near the end of the panel the row ahead may lie past the end of B.
        ahead = e.ptr(src, b.mul(_c(_PACK_PREFETCH_ROWS), rsb), inbounds=False)
        for off in range(0, nr, line_elems):
            _prefetch(module, b, e.ptr(ahead, _c(off), inbounds=False), write=False)
        return bvecs

    # the panel's row stride: KC for a packed panel, A's own row stride for one read in place;
    # a tile of more than DIRECT_MAX_MR rows always reads a packed panel, at the constant KC
    rs_ap = _c(blk.kc) if indirect or mr > DIRECT_MAX_MR else fn.args[-1]

    def packed_rows(k):
        """The addresses of A's column k in the panel (row i at offset i*rsAp)."""
        acol = e.ptr(ap, k)
        return [acol] + [e.ptr(acol, b.mul(_c(i), rs_ap)) for i in range(1, mr)]

    def step(k, accs, a_rows=packed_rows, ka=None):
        """One rank-1 update of the tile with column k of A (its rows' elements at
        a_rows(ka), ka = k unless given) and row k of Bp."""
        if prefetch == "ahead":  # one line of the next block (see the docstring)
            pf, pf_lines = fn.args[10:12]
            line = e.min(k, b.sub(pf_lines, _c(1)))
            _prefetch(module, b, b.gep(pf, [b.mul(line, _c(64))], inbounds=False,
                                       source_etype=ir.IntType(8)), write=False, locality=2)
        bvecs = load_b_row(k)
        out = []
        for i, at in enumerate(a_rows(k if ka is None else ka)):
            s = _splat(b, b.load(at, typ=elem, align=al), width)
            for v in range(nv):
                out.append(b.call(fma, [s, bvecs[v], accs[i * nv + v]]))
        return out

    def unrolled(steps, a_rows=packed_rows, base=None):
        """The body of `steps` consecutive k steps from k (A's index from base + k)."""
        def body(k, accs):
            for u in range(steps):
                ku = b.add(k, _c(u)) if u else k
                accs = step(ku if base is None else b.add(base, ku), accs, a_rows, ku)
            return accs
        return body

    def carried_loop(name, start, accs_in, count_ok, stride, steps):
        """A loop whose state is (k, accumulators); returns (k, accs) at the exit."""
        pre = b.block
        header = fn.append_basic_block(f"{name}.header")
        body = fn.append_basic_block(f"{name}.body")
        done = fn.append_basic_block(f"{name}.done")
        b.branch(header)
        b.position_at_end(header)
        k = b.phi(_I64, name=f"{name}.k")
        k.add_incoming(start, pre)
        phis = []
        for idx, acc in enumerate(accs_in):
            p = b.phi(vec, name=f"{name}.acc{idx}")
            p.add_incoming(acc, pre)
            phis.append(p)
        b.cbranch(count_ok(k), body, done)
        b.position_at_end(body)
        accs = steps(k, phis)
        k.add_incoming(b.add(k, _c(stride)), b.block)
        for p, acc in zip(phis, accs):
            p.add_incoming(acc, b.block)
        b.branch(header)
        b.position_at_end(done)
        return k, phis

    # Prefetch the C tile (MR rows, NR * sizeof(T) bytes each) for writing while the k loop
    # runs: its lines are needed at the end and would otherwise be demand misses. (Not
    # `inbounds`: on an edge tile these rows may lie past the end of C; a prefetch of any
    # address is harmless, an out-of-bounds inbounds GEP would be poison.)
    for i in range(mr):
        row = e.ptr(cptr, b.mul(_c(i), rsc), inbounds=False)
        for off in range(0, nr, line_elems):
            _prefetch(module, b, e.ptr(row, _c(off), inbounds=False), write=True)

    def k_loops(accs, count, a_rows=packed_rows, base=None, name="k"):
        """The k loop over [0, count), unrolled KU times, and its remainder."""
        k_main, accs = carried_loop(
            f"{name}main", _c(0), accs,
            lambda k: b.icmp_signed("<=", b.add(k, _c(blk.ku)), count), blk.ku,
            unrolled(blk.ku, a_rows, base))
        return carried_loop(f"{name}rem", k_main, accs, lambda k: b.icmp_signed("<", k, count),
                            1, unrolled(1, a_rows, base))[1]

    accs0 = [zero_vec] * (mr * nv)
    if not indirect:
        accs = k_loops(accs0, kc)
    else:
        lanes = fn.args[-1]

        def segment(s, accs):
            """The k steps of segment s: row i's `lanes` elements from Ap[s*MR + i]."""
            slot = b.mul(s, _c(indirect))
            rows = [b.load(b.gep(ap, [b.add(slot, _c(i))], inbounds=True, source_etype=_PTR),
                           typ=_PTR) for i in range(mr)]
            # (a prefetch of the next segment's rows here made ResNet-18 2% slower)
            return k_loops(accs, lanes, lambda k: [e.ptr(r, k) for r in rows],
                           b.mul(s, lanes), "kseg")
        segments = b.sdiv(kc, lanes)
        _, accs = carried_loop("seg", _c(0), accs0,
                               lambda s: b.icmp_signed("<", s, segments), 1, segment)
    _emit_write_back(e, blk, width, accs, cptr, rsc, m, n, (beta, alpha), tile)
    b.ret_void()
    return fn


def _splat(b: ir.IRBuilder, x, width: int):
    """A vector of `width` copies of scalar x (x86: one vbroadcastss/sd)."""
    undef = ir.Constant(ir.VectorType(x.type, width), ir.Undefined)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
    return b.shuffle_vector(b.insert_element(undef, x, ir.Constant(ir.IntType(32), 0)), undef,
                            mask)


def _emit_write_back(e: _Emitter, blk: GemmBlocking, width: int, accs, cptr, rsc, m, n, scale,
                     tile) -> None:
    """C[:m, :n] = tile (beta 0) or += alpha * tile (beta != 0), scale = (beta, alpha), the
    tile being the MR x NR accumulators `accs` (row-major, NR / W vectors per row). The
    product alpha * tile is rounded before the sum, as a separate multiply and add would
    round it (alpha 1 leaves the tile as it is)."""
    beta, alpha = scale
    b = e.b
    mr, nr = blk.mr, blk.nr
    nv = nr // width
    elem = e.elem
    vec = ir.VectorType(elem, width)
    al = _elem_align(elem)

    # Write-back. Full tile: vector read-modify-write straight into C. Partial tile (the edge of
    # C): spill the accumulators to `tile` and copy the valid m x n corner element by element.
    full = b.and_(b.icmp_signed("==", m, _c(mr)), b.icmp_signed("==", n, _c(nr)))
    accumulate = b.icmp_signed("!=", beta, _c(0))
    alphas = _splat(b, alpha, width)
    with e.if_else(full) as (then, otherwise):
        with then:
            with e.if_else(accumulate) as (add, store):
                with add:
                    for i in range(mr):
                        row = e.ptr(cptr, b.mul(_c(i), rsc))
                        for v in range(nv):
                            p = e.ptr(row, _c(v * width))
                            old = b.load(p, typ=vec, align=al)
                            b.store(b.fadd(old, b.fmul(alphas, accs[i * nv + v])), p,
                                    align=al)
                with store:
                    for i in range(mr):
                        row = e.ptr(cptr, b.mul(_c(i), rsc))
                        for v in range(nv):
                            b.store(accs[i * nv + v], e.ptr(row, _c(v * width)), align=al)
        with otherwise:
            for i in range(mr):
                for v in range(nv):
                    b.store(accs[i * nv + v], e.ptr(tile, _c(i * nr + v * width)), align=al)
            with counted_loop(b, _c(0), m, "ei") as i:
                row = e.ptr(cptr, b.mul(i, rsc))
                trow = e.ptr(tile, b.mul(i, _c(nr)))
                with counted_loop(b, _c(0), n, "ej") as j:
                    x = b.load(e.ptr(trow, j), typ=elem, align=al)
                    p = e.ptr(row, j)
                    with e.if_else(accumulate) as (add, store):
                        with add:
                            b.store(b.fadd(b.load(p, typ=elem, align=al), b.fmul(alpha, x)),
                                    p, align=al)
                        with store:
                            b.store(x, p, align=al)

