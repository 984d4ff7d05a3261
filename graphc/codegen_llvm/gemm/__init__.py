"""A BLIS-style matrix multiply emitted as LLVM IR with llvmlite.

`define_gemm(module, dtype, vector_width)` adds `graphc_gemm_<dtype>` to `module`:

    void graphc_gemm_f32(int64 M, int64 N, int64 K,
                         const float *A, int64 rsA, int64 csA,
                         const float *B, int64 rsB, int64 csB,
                         float *C, int64 rsC, int64 beta, float *workspace,
                         void (*epilogue)(void *ctx, int64 r0, int64 r1, int64 c0, int64 c1),
                         void *ctx, int64 row0, int64 col0,
                         void (*pack_a)(void *pctx, int64 r0, int64 rows, int64 c0, int64 cols,
                                        float *dst),
                         void (*pack_b)(void *pctx, int64 r0, int64 rows, int64 c0, int64 cols,
                                        float *dst),
                         void *pctx, int64 bpacked, int64 a_lanes, const float *alpha)

It computes C = A @ B (beta == 0) or C += alpha * (A @ B) (beta != 0; a null `alpha` is 1,
else it points at one element of the GEMM's type, read once). The product is rounded before
it is added, as a separate multiply and add round it, and each K block of KC rows adds its
own (a K of at most KC: exactly what C += alpha * (A @ B) computed on its own would give, so a
gradient step W -= lr * (X^T @ G) can accumulate into W itself; alpha is ignored with beta 0).
A non-null `epilogue` is called on each block of C as soon as it is final, rows [r0, r1)
and columns [c0, c1) numbered from row `row0` and column `col0` (where this call's C starts
in the caller's whole C, when the call computes a block of it):
one call per MR rows of a KC x NC B block, whose piece of C is then still in L1 or L2, so an
elementwise consumer of C (bias plus activation) costs no pass over memory of its own. The
calls cover every element of C once, in no set order; `epilogue` may rewrite C's elements
in its block and must not touch A, B or other blocks. Element A[i, k] is at
A + i*rsA + k*csA and B[k, j] at B + k*rsB + j*csB (strides in elements, so a transposed
operand is the same buffer with its strides swapped); C[i, j] is at C + i*rsC + j (rows of C
are contiguous) and must not overlap A, B or the workspace (A and B may overlap each other).
With beta == 0, C is never read, so it may hold garbage or NaN. `workspace` is scratch of at
least `gemm_workspace_elems(dtype, vector_width)` elements, 64-byte aligned; the function keeps
no state anywhere else, so concurrent calls with distinct workspaces (and disjoint C blocks)
are safe. See `gemm_rows_partition` for the multithreaded use.

Structure (the Goto / BLIS algorithm; see van Zee & van de Geijn, "BLIS: A Framework for
Rapidly Instantiating BLAS Functionality", and Goto & van de Geijn, "Anatomy of
High-Performance Matrix Multiplication"):

    for ic in 0..M step MC:                       # Ap block: MC x KC, lives in L3
      for pc in 0..K step KC:
        pack A[ic:ic+MC, pc:pc+KC] -> Ap          # MR-row micro-panels, row stride KC
                                                  # (a row-major A: only a short last panel)
        for jc in 0..N step NC:                   # Bp block: KC x NC, lives in L2
          pack B[pc:pc+KC, jc:jc+NC] -> Bp        # NR-column micro-panels, k-major
          for ir in 0..MC step MR:                # one A micro-panel (MR x KC) stays in L1
            for jr in 0..NC step NR:              # B micro-panels stream from L2
              micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= Ap[ir] @ Bp[jr]

The micro-kernel holds an MR x NR tile of C in MR * (NR / W) vector registers (W = SIMD lanes)
and, for each k, loads NR / W vectors of the B micro-panel, broadcasts MR scalars of the A
micro-panel and issues MR * NR / W independent vector FMAs (`llvm.fma.v<W>`). Packing makes
both operands contiguous in exactly the order the kernel reads them (so every load is a
unit-stride stream the hardware prefetcher follows, whatever the caller's strides) and
zero-pads the last partial micro-panels, so the kernel always runs a full MR x NR tile; only
its write-back is guarded, through a small tile buffer in the workspace, when the tile sticks
out of C. A row-major A (csA == 1) is the exception where MR is at most DIRECT_MAX_MR (the
default tile; not the narrow and thin ones): its full micro-panels are read where they lie,
their MR rows rsA apart (the micro-kernel takes the panel's row stride), which saves the
copy (W4's products 2.5-5% faster, tall convolution GEMMs 15-17%); only a last panel of
fewer than MR rows is packed. A transposed operand (rsA == 1 or rsB == 1) is packed W x W
elements at a time, transposed in registers.

An operand that is not a strided matrix (the patches of a convolution, an implicit GEMM) comes
from a non-null `pack_a` or `pack_b` instead, which writes that operand's block straight into
the workspace in the packed layout; A and its strides (or B and its) are then not used.
pack_a(pctx, r0, rows, c0, cols, dst) writes A[r0 + i, c0 + k] to dst[i * KC + k] for i < rows,
k < cols (r0 counted in the caller's whole C, like the epilogue's rows); the GEMM zeroes the
rows past `rows` of the last micro-panel itself. pack_b(pctx, r0, rows, c0, cols, dst) writes
B[r0 + k, c0 + j] to dst[(j / NR) * NR * rows + k * NR + j % NR] for k < rows and j up to
`cols` rounded up to NR, zero for j >= cols (GemmBlocking has KC and NR). Both are called
concurrently from concurrent calls, with distinct destinations.

A last A micro-panel of fewer than MR rows (M = 49: 8 full panels and one row) runs a
micro-kernel of exactly its rows where the blocking has them (MR <= 8), which does that
many rows' FMAs instead of a whole tile's.

bpacked != 0: B holds prepack_b's panels (prepacked, below). a_lanes: 0; -1 to pack a
row-major A all the same (for a caller whose epilogue stores into A's buffer, against the rule
above: A is then copied before any block of C is final); or for the indirect GEMM the
segment of an A read in place (define_gemm).

With GemmBlocking.fuse_b (the default for 512-bit vectors) a row-major B has no separate
packing pass: the micro-kernel calls of the first A panel (ir = 0) read their B panel where it
is, row by row, and store it to Bp as they use it, and the later A panels read Bp (see
_emit_block).

Relative to the textbook BLIS mapping (which broadcasts from B and vector-loads A into a
column-major C), this is the same algorithm applied to C^T = B^T A^T: C is row-major here, so
the vector direction is N and the broadcast direction is M. BLIS's L2-resident block becomes
our Bp (vector operand) and its L3-resident block our Ap; hence the loop order above.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools

import llvmlite.binding as llvm
import llvmlite.ir as ir
import numpy as np

from graphc.codegen_llvm.gemm.kernels import (
    _ELEM_BYTES,
    _I64,
    _PTR,
    DIRECT_MAX_MR,
    GemmBlocking,
    _c,
    _emit_micro_kernel,
    _emit_pack_a,
    _emit_pack_b,
    _new_function,
    emit_zero_rows,
)
from graphc.codegen_llvm.irutil import counted_loop
from graphc.codegen_llvm.jit import JITModule, optimize, shared_target_machine

__all__ = [
    "EPILOGUE",
    "EPILOGUE_PTR",
    "PACK",
    "PACK_PTR",
    "GemmBlocking",
    "HostGemm",
    "default_blocking",
    "define_gemm",
    "gemm_rows_partition",
    "gemm_workspace_elems",
    "host_vector_width",
    "narrow_blocking",
    "thin_blocking",
    "prepack_b",
    "prepacked_width",
    "vector_width",
]

_NUMPY_DTYPE = {"f32": np.float32, "f64": np.float64}
# void epilogue(void *ctx, int64 r0, int64 r1, int64 c0, int64 c1): see the module docstring
EPILOGUE = ir.FunctionType(ir.VoidType(), [_PTR, _I64, _I64, _I64, _I64])
EPILOGUE_PTR = ir.PointerType(EPILOGUE)
# void pack(void *pctx, int64 r0, int64 rows, int64 c0, int64 cols, T *dst): see the docstring
PACK = ir.FunctionType(ir.VoidType(), [_PTR, _I64, _I64, _I64, _I64, _PTR])
PACK_PTR = ir.PointerType(PACK)
_ALIGN_BYTES = 64  # one cache line; also the AVX-512 vector size
# Blockings of at most this many rows per panel also get a micro-kernel for each shorter
# last panel (see _call_kernel); the narrow GEMM's 12-row tile does not.
_SHORT_PANEL_MAX_MR = 8
# A prepacked B larger than this is prefetched a block ahead (kernel_ahead) when the A block
# has at most _AHEAD_MAX_PANELS panels: it does not stay in L2 between calls, and its first
# pass from memory is then a large share of the time (a ResNet's 7x7 and 14x14 layers: M = 49
# and 196). Its blocks are then _ahead_nc wide (half of NC: 512 KiB for float32), so that the
# block in use and the next one fit in L2 together; with whole-width blocks (1 MiB each) the
# prefetch evicted the block in use, and ResNet-18's 3x3 512-512 convolutions took 1.89 ms
# in the network against 1.70 ms now (one thread).
_AHEAD_MIN_BYTES = 1 << 20
_AHEAD_MAX_PANELS = 40
# A prepacked B of at most this many NR-column panels (or a K block of under KC / 2 rows):
# A is packed a micro-panel at a time, into L1, just before the micro-kernels that use it,
# instead of a block of MC rows first, read back from L2 panel by panel
_PANELWISE_MAX_PANELS = 2


def _ahead_nc(blk: GemmBlocking) -> int:
    """The width of the B blocks of a GEMM whose prepacked B streams a block ahead."""
    return max(blk.nr, blk.nc // 2 // blk.nr * blk.nr)



def _elem_type(dtype: str) -> ir.Type:
    if dtype == "f32":
        return ir.FloatType()
    if dtype == "f64":
        return ir.DoubleType()
    raise ValueError(f"gemm: unsupported dtype {dtype!r} (expected 'f32' or 'f64')")


def host_vector_width(dtype: str) -> int:
    """SIMD lanes of `dtype` in one vector register of the host CPU.

    512-bit registers with AVX-512F, 256-bit with AVX (the FMA kernels also want the FMA
    extension, which every AVX2 CPU has), else 128-bit (SSE2, NEON). LLVM legalizes any width
    on any target, so a wrong guess costs speed, never correctness.
    """
    _elem_type(dtype)
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot query features on every host
        features = {}
    if features.get("avx512f"):
        bits = 512
    elif features.get("avx"):
        bits = 256
    else:
        bits = 128
    return bits // (8 * _ELEM_BYTES[dtype])


_PROBE = """define <16 x float> @probe(<16 x float> %a, <16 x float> %b) {
  %c = fadd <16 x float> %a, %b
  ret <16 x float> %c
}"""


@functools.lru_cache(maxsize=None)
def _register_bits(cpu: str) -> int:
    """Width of the widest vector register LLVM uses for `cpu` (a name it knows), found by
    compiling a 16-lane float add and looking at the registers in the assembly."""
    tm = shared_target_machine(cpu)
    module = llvm.parse_assembly(_PROBE)
    module.triple = tm.triple
    asm = tm.emit_assembly(module)
    return 512 if "zmm" in asm else 256 if "ymm" in asm else 128


def vector_width(dtype: str, cpu: str = "native") -> int:
    """SIMD lanes of `dtype` in one vector register of `cpu`: 'native' (this machine, see
    host_vector_width), 'generic' (any x86-64: SSE2) or an LLVM CPU name, which must be
    valid (LLVM aborts the process on a CPU name it does not know for a 64-bit target)."""
    if cpu == "native":
        return host_vector_width(dtype)
    _elem_type(dtype)
    bits = 128 if cpu == "generic" else _register_bits(cpu)
    return bits // (8 * _ELEM_BYTES[dtype])


def default_blocking(dtype: str, vector_width: int) -> GemmBlocking:
    """Blocking for a CPU with `vector_width` lanes of `dtype` (see bench/gemm_kernel.py).

    Register tile (MR x NR, NV = NR / W vectors per row). x86 has 32 vector registers with
    AVX-512 and 16 without. The tile needs MR * NV accumulators, NV registers for the current
    row of B and one for the broadcast element of A. Each k step issues MR * NV independent
    FMAs against NV vector loads + MR broadcast loads. Two FMA pipes with latency 4 need at
    least 8 accumulators in flight; beyond that the tile shape decides the loads per FMA,
    (NV + MR) / (MR * NV). With 32 registers the candidates that fit are 14 x 2, 12 x 2, 8 x 3
    and 6 x 4 (rows x vectors): 14 x 2 makes LLVM spill, and on the AVX-512 test host (a Xeon
    under KVM) whole-GEMM throughput was 6 x 4 > 8 x 3 > 12 x 2 by 3-8% at n = 1024 and 2048:
    the load ports, which broadcasts also occupy, are the tighter resource, and 6 x 4 needs the
    fewest loads (10 per 24 FMAs against 14 for 12 x 2). So MR = 6, NR = 4W (6 x 64 for f32,
    24 accumulators + 4 + 1 = 29 registers). With 16 registers: the classic 6 x 2W (15).

    Cache blocks. The A micro-panel (MR x KC) is reused by every B micro-panel of the Bp block
    and must stay in L1D (32-48 KiB): MR * KC * sizeof(T) = 12 KiB with KC * sizeof(T) = 2 KiB
    (KC = 512 f32, 256 f64); the B micro-panel streams through L1 from L2. A deep KC also means
    fewer read-modify-write passes over C (K / KC of them). The Bp block (KC x NC) is reused by
    every A micro-panel of the Ap block, so it lives in L2 (2 MiB per core on the test host,
    1 MiB or more on the CPUs we target): KC * NC * sizeof(T) = 1 MiB -> NC = 512. The Ap block
    (MC x KC) is reused for every Bp block, from L3; MC only sets how often B is repacked (once
    per MC rows of C) and the workspace size: MC = 3072 repacks B once for M <= 3072 and makes
    the workspace about 7 MiB. Measured on the test host (f32, n = 2048): KC 256 -> 512 gained
    about 5%, MC 1536 -> 3072 about 2%; KC 384-1024 with NC 256-512 are all within 2% of it.

    A narrow C (mc_narrow). With fewer than 4 * NR columns an A micro-panel meets at most
    three B micro-panels, so it is hardly reused and the A block's 6 MiB only has to be
    written to and read back from L3; a block of mc_narrow rows (about 512 KiB of A) stays in
    L2 beside Bp instead, and the B block it then repacks once per mc_narrow rows is small.
    Measured on the AVX-512 test host (f32, one thread, GFLOP/s at MC 240 against 3072):
    12544 x 147 x 64 164 against 114, 3136 x 576 x 64 173 against 134, 3136 x 576 x 128 192
    against 163, 3136 x 576 x 256 194 against 190; wider products lose with small A blocks
    (2048^3: 181 against 208), so they keep MC. ResNet-18's convolutions are such GEMMs: its
    first layer went from 2.20 to 1.66 ms and the network from 25.4 to 22.3 ms.

    A micro-panel at a time (_PANELWISE_MAX_PANELS). With B prepacked (nothing to pack on the
    first pass), an A micro-panel that meets at most two B micro-panels, or a K block under
    KC / 2 deep (whose rows, KC apart in the block, would fill a quarter of its lines), is
    packed just before its micro-kernels, always to the same 12 KiB, which stays in L1:
    the block's copy was written to L2 and read back for one or two micro-kernels each.
    Measured on the AVX-512 test host (f32, one thread, B prepacked, medians): 3136 x 64 x 256
    804 -> 654 us, 3136 x 256 x 64 750 -> 722 us, 3136 x 576 x 64 1707 -> 1673 us, 784 x 1152
    x 128 1539 -> 1475 us; in ResNet-50 the 1 x 1 convolutions at 56 x 56 went 16-36% faster
    and its 3 x 3 ones 5-8%, the stem 8%; with wider B it lost 3-10% (the packing of each
    panel no longer streams), so those keep the block.

    Unrolling (KU). With 32 registers the k loop is unrolled twice: with the operands in L1 the
    kernel ran 5% faster than unrolled 4 times (180 against 172 GFLOP/s on the test host; the
    longer body gained nothing), though with B streaming from L2 the two are within 1%.

    Packing B in the kernel (fuse_b) gained 2-4% at n = 1024-2048 with 512-bit vectors (a
    separate pass reads the block and writes 1 MiB that the kernel then reads back from L2;
    fused, the copy overlaps the FMAs). With 256- and 128-bit vectors it lost about 5%,
    probably because a B panel row is only one or two cache lines there: too little work per
    row to hide the fetch of the next row from another page of B, which the separate pass,
    reading whole rows of the block, streams.
    """
    if dtype not in _ELEM_BYTES:
        _elem_type(dtype)
    size = _ELEM_BYTES[dtype]
    if vector_width * size * 8 >= 512:   # 32 vector registers
        mr, nv, ku, fuse_b = 6, 4, 2, True
    else:                                # 16 vector registers
        mr, nv, ku, fuse_b = 6, 2, 4, False
    nr = nv * vector_width
    kc = 2048 // size
    nc = max(nr, (1024 * 1024 // (kc * size)) // nr * nr)
    mc = max(mr, 3072 // mr * mr)
    mc_narrow = min(mc, max(mr, (512 * 1024 // (kc * size)) // mr * mr))
    return GemmBlocking(mr=mr, nr=nr, kc=kc, mc=mc, nc=nc, ku=ku, fuse_b=fuse_b,
                        mc_narrow=mc_narrow)


def narrow_blocking(dtype: str, vector_width: int) -> GemmBlocking | None:
    """The blocking of the GEMM for a C at most half a default register tile wide
    (graphc_gemm_narrow_<dtype>), or None where the default tile is one vector wide.

    It trades the default tile's width for height: twice the rows, half the vectors per row
    (12 x 2 vectors with 32 registers), so a C of N <= NR columns (a convolution's 32 input
    channels, a classifier's 10 classes) wastes at most half the FMAs instead of three
    quarters or more. Measured on the AVX-512 test host, f32, one thread: N = 32, K = 800 and
    1600, M = 12544: 83 and 77 GFLOP/s against 60 and 51 with the default tile; N = 10: 35
    against 26; N = 16: 46 against 31. The cache blocks are the default's, so the workspace
    is the same size.
    """
    base = default_blocking(dtype, vector_width)
    vectors = base.nr // vector_width
    if vectors < 2:
        return None
    mr = 2 * base.mr
    return GemmBlocking(mr=mr, nr=base.nr // 2, kc=base.kc, mc=base.mc // mr * mr, nc=base.nc,
                        ku=base.ku, fuse_b=base.fuse_b,
                        mc_narrow=max(mr, base.mc_narrow // mr * mr))


def thin_blocking(dtype: str, vector_width: int) -> GemmBlocking | None:
    """The blocking of the GEMM for a C at most one vector wide (graphc_gemm_thin_f32), or
    None where the narrow tile is one vector wide already (16 registers), and for float64.

    16 rows of one vector: 16 accumulators, one vector of B and one broadcast of A per k
    step (18 of 32 registers). A C of N <= W columns (a classifier's 10 classes, a
    convolution's 16 channels) then wastes at most W - N of W lanes instead of 2W - N of 2W
    with the narrow 12 x 2-vector tile. Measured on the AVX-512 test host (f32, one thread,
    medians of 200 calls), against the narrow tile: 256 x 512 x 10 73.4 -> 52.5 us, 256 x
    784 x 10 106 -> 77 us, 512 x 256 x 10 with A transposed 114 -> 96 us, 12544 x 800 x 16
    5.67 -> 3.98 ms; 24 and 28 rows were no faster (28: 434 us with A transposed). The
    cache blocks are the default's, so the workspace is no larger.
    """
    narrow = narrow_blocking(dtype, vector_width)
    if dtype != "f32" or narrow is None or narrow.nr // vector_width < 2:
        return None
    base, mr = default_blocking(dtype, vector_width), 16
    return GemmBlocking(mr=mr, nr=vector_width, kc=base.kc, mc=base.mc // mr * mr,
                        nc=base.nc, ku=base.ku, fuse_b=base.fuse_b,
                        mc_narrow=max(mr, base.mc_narrow // mr * mr))


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _workspace_layout(dtype: str, blocking: GemmBlocking) -> tuple[int, int, int, int]:
    """(offset of Bp, offset of the tile buffer, tile size, total) in elements."""
    align = _ALIGN_BYTES // _ELEM_BYTES[dtype]
    ap = _round_up(blocking.mc * blocking.kc, align)
    bp = _round_up(blocking.kc * blocking.nc, align)
    tile = _round_up(blocking.mr * blocking.nr, align)
    return ap, ap + bp, tile, ap + bp + tile


def gemm_workspace_elems(dtype: str, vector_width: int,
                         blocking: GemmBlocking | None = None) -> int:
    """Elements of scratch one call of graphc_gemm_<dtype> needs (64-byte aligned by caller)."""
    blocking = blocking or default_blocking(dtype, vector_width)
    return _workspace_layout(dtype, blocking)[3]


def gemm_rows_partition(m: int, threads: int, mr: int = 1) -> list[tuple[int, int]]:
    """Split the M rows of C among `threads` workers: a list of (first_row, rows). (The same
    split of the N columns in NR-multiples serves a C wider than it is tall.)

    Each worker calls the GEMM on its own row block, with its own workspace:
        gemm(rows, N, K, A + first*rsA, rsA, csA, B, rsB, csB, C + first*rsC, rsC, beta, ws_t)
    The blocks of C are disjoint and the function has no other shared state, so the calls may
    run concurrently. Block sizes are multiples of `mr` (pass the blocking's mr) except the last,
    so only one worker has a partial micro-panel. Each worker packs B for itself: that costs
    K * N copies per worker against 2 * rows * N * K flops, negligible for rows >~ 64. Splitting N
    instead works the same way (offset B and C by the first column); prefer M when M >= N.
    Empty blocks are dropped, so fewer than `threads` entries may come back.
    """
    if threads < 1 or mr < 1:
        raise ValueError("gemm_rows_partition: threads and mr must be >= 1")
    if m <= 0:
        return []
    panels = -(-m // mr)
    parts = []
    first = 0
    for t in range(threads):
        count = panels // threads + (1 if t < panels % threads else 0)
        rows = min(count * mr, m - first)
        if rows > 0:
            parts.append((first, rows))
            first += rows
    return parts



def define_gemm(module: ir.Module, dtype: str, vector_width: int,
                blocking: GemmBlocking | None = None, name: str = "",
                indirect: bool = False) -> ir.Function:
    """Add `graphc_gemm_<dtype>` (or `name`; external linkage) and its internal helpers to
    `module`.

    Returns the existing function if the module already has one of that name. `blocking`
    overrides `default_blocking(dtype, vector_width)` (the benchmark uses it to tune; the
    library's narrow GEMM is narrow_blocking's); callers must then size the workspace with
    the same blocking.

    With `indirect`, the GEMM reads A where it lies instead of packing it (the indirect
    GEMM, as XNNPACK's indirect convolution): A is given by a non-null pack_a and a last
    argument `a_lanes` > 0, and its K index is cut into segments of a_lanes elements, each
    segment of each row being a_lanes consecutive elements of the buffer at A, or zeros.
    KC must be a multiple of a_lanes, or K at most KC. pack_a(pctx, r0, rows, c0, cols, dst)
    then writes int64 offsets: dst[((k - c0) / a_lanes) * MR + i - r0] is the offset in
    elements from A of the segment that starts at K index k (a multiple of a_lanes) in row i,
    or -1 for a segment of zeros (an implicit GEMM's padding). The GEMM turns them into
    pointers, one micro-panel at a time, and the micro-kernels read A through them
    (_emit_micro_kernel's `indirect`): no copy of A is made, which is what a convolution over
    few output channels spent a tenth of its time on. B is packed as usual, or prepacked.
    The other GEMMs take a_lanes as 0, or -1 to pack a row-major A (the module docstring).
    """
    elem = _elem_type(dtype)
    name = name or f"graphc_gemm_{dtype}"
    if name in module.globals:
        return module.globals[name]
    if vector_width < 1:
        raise ValueError(f"gemm: vector_width must be >= 1, got {vector_width}")
    blk = blocking or default_blocking(dtype, vector_width)
    blk.check(vector_width)
    zeros_elems = _round_up(blk.kc, _ALIGN_BYTES // _ELEM_BYTES[dtype])
    if indirect and (zeros_elems + blk.mr * blk.kc * 8 // _ELEM_BYTES[dtype]
                     > blk.mc * blk.kc):
        raise ValueError(f"gemm: the indirect GEMM keeps KC zeros and MR * KC pointers in "
                         f"the A block's space, which {blk} is too small for")
    pack_a = _emit_pack_a(module, name, elem, blk, vector_width)
    pack_b = _emit_pack_b(module, name, elem, blk, vector_width)
    # (the indirect GEMM packs B by itself: its first A panel is not packed to read from)
    kernel_pack = (_emit_micro_kernel(module, name, elem, blk, vector_width, packing=True)
                   if blk.fuse_b and not indirect else None)
    short = {rows: _emit_micro_kernel(module, f"{name}_rows{rows}", elem,
                                      dataclasses.replace(blk, mr=rows), vector_width,
                                      indirect=blk.mr if indirect else 0)
             for rows in _short_panels(dtype, blk)}
    # a prepacked B's first pass and the later ones prefetching the next block: float32's
    # default tile (like the short panels; each kernel costs library compile time)
    plain = _emit_micro_kernel(module, name, elem, blk, vector_width,
                               indirect=blk.mr if indirect else 0)
    streams = (plain, None)
    if short:
        streams = tuple(_emit_micro_kernel(module, name, elem, blk, vector_width, prefetch=p,
                                           indirect=blk.mr if indirect else 0)
                        for p in ("stream", "ahead"))
    kernels = (plain, kernel_pack, short, streams)
    bp_off, tile_off, _, _ = _workspace_layout(dtype, blk)

    args = [(_I64, "M"), (_I64, "N"), (_I64, "K"), (_PTR, "A"), (_I64, "rsA"), (_I64, "csA"),
            (_PTR, "B"), (_I64, "rsB"), (_I64, "csB"), (_PTR, "C"), (_I64, "rsC"),
            (_I64, "beta"), (_PTR, "workspace"), (EPILOGUE_PTR, "epilogue"), (_PTR, "ctx"),
            (_I64, "row0"), (_I64, "col0"), (PACK_PTR, "pack_a"), (PACK_PTR, "pack_b"),
            (_PTR, "pctx"), (_I64, "bpacked"), (_I64, "a_lanes"), (_PTR, "alpha")]
    fn, e = _new_function(module, name, args, elem)
    fn.linkage = "external"
    (big_m, big_n, big_k, a, rsa, csa, bmat, rsb, csb, c, rsc, beta, ws, ep, ctx, row0,
     col0, pack_a_fn, pack_b_fn, pctx, bpacked, a_lanes, alpha_at) = fn.args
    b = e.b
    zero = ir.Constant(elem, 0.0)
    with b.goto_entry_block():
        alpha_slot = b.alloca(elem)
    b.store(ir.Constant(elem, 1.0), alpha_slot)
    # (with beta 0 the K blocks after the first accumulate with alpha 1)
    with e.if_(b.and_(b.icmp_unsigned("!=", alpha_at, ir.Constant(_PTR, None)),
                      b.icmp_signed("!=", beta, _c(0)))):
        b.store(b.load(alpha_at, typ=elem), alpha_slot)
    alpha = b.load(alpha_slot, typ=elem)
    has_epilogue = b.icmp_unsigned("!=", ep, ir.Constant(EPILOGUE_PTR, None))

    def finished(first_row, rows, first_col, cols, last=None):
        """Call the epilogue on those rows and columns of C (if `last`, an i1)."""
        cond = has_epilogue if last is None else b.and_(last, has_epilogue)
        with e.if_(cond):
            r0, c0 = b.add(row0, first_row), b.add(col0, first_col)
            b.call(ep, [ctx, r0, b.add(r0, rows), c0, b.add(c0, cols)])

    with e.if_(b.or_(b.icmp_signed("<=", big_m, _c(0)), b.icmp_signed("<=", big_n, _c(0)))):
        b.ret_void()
    with e.if_(b.icmp_signed("<=", big_k, _c(0))):
        # An empty sum: C = 0 (beta 0) or C unchanged (beta 1).
        with e.if_(b.icmp_signed("==", beta, _c(0))):
            with counted_loop(b, _c(0), big_m, "zi") as i:
                row = e.ptr(c, b.mul(i, rsc))
                with counted_loop(b, _c(0), big_n, "zj") as j:
                    b.store(zero, e.ptr(row, j))
        finished(_c(0), big_m, _c(0), big_n)
        b.ret_void()

    ap = ws
    bp = e.ptr(ws, _c(bp_off))
    tile = e.ptr(ws, _c(tile_off))
    mc_step = _c(blk.mc)
    if indirect:  # A's block space holds KC zeros (padding) and a panel's pointers
        zeros, pointers = ap, e.ptr(ap, _c(zeros_elems))
        memset = module.declare_intrinsic("llvm.memset", [_PTR, _I64])
        b.call(memset, [zeros, ir.Constant(ir.IntType(8), 0), _c(blk.kc * _ELEM_BYTES[dtype]),
                        ir.Constant(ir.IntType(1), 0)])
        mc_step = big_m  # (no A block to keep in cache: one block of all of M)
    elif blk.mc_narrow:  # as many blocks as mc_narrow needs, of even heights (MR multiples)
        blocks = b.sdiv(b.add(big_m, _c(blk.mc_narrow - 1)), _c(blk.mc_narrow))
        height = b.sdiv(b.add(big_m, b.sub(blocks, _c(1))), blocks)
        height = e.round_up(height, blk.mr)
        mc_step = b.select(b.icmp_signed("<", big_n, _c(4 * blk.nr)), height, mc_step)
    big_b = b.icmp_signed(">", b.mul(b.mul(big_k, big_n), _c(_ELEM_BYTES[dtype])),
                          _c(_AHEAD_MIN_BYTES))
    prepacked = b.icmp_signed("!=", bpacked, _c(0))
    few_panels = b.icmp_signed("<=", big_n, _c(_PANELWISE_MAX_PANELS * blk.nr))
    # A row-major (csA == 1), given as an array (no pack_a callback), and not written by the
    # epilogue (a_lanes -1 says it may be): the micro-kernels of a tile of at most
    # DIRECT_MAX_MR rows read its panels in place
    direct = ir.Constant(ir.IntType(1), 0)
    if not indirect and blk.mr <= DIRECT_MAX_MR:
        direct = b.and_(b.and_(b.icmp_signed("==", csa, _c(1)), b.icmp_signed(">=", a_lanes,
                                                                               _c(0))),
                        b.icmp_unsigned("==", pack_a_fn, ir.Constant(PACK_PTR, None)))
    with counted_loop(b, _c(0), big_m, "ic", step=mc_step) as ic:
        mc = e.min(mc_step, b.sub(big_m, ic))
        with counted_loop(b, _c(0), big_k, "pc", step=blk.kc) as pc:
            kc = e.min(_c(blk.kc), b.sub(big_k, pc))
            # Only the first rank-kc update may overwrite C; later ones accumulate onto it.
            beta_eff = b.select(b.icmp_signed("==", pc, _c(0)), beta, _c(1))

            def point_rows(first, rows):
                """The pointers of the indirect GEMM's panel of rows ic + first .. + rows
                (fewer than MR: the last row's again) in this K block, at `pointers`."""
                b.call(pack_a_fn, [pctx, b.add(row0, b.add(ic, first)), rows, pc, kc,
                                   pointers])
                with counted_loop(b, _c(0), b.sdiv(kc, a_lanes), "as") as seg:
                    slots = b.gep(pointers, [b.mul(seg, _c(blk.mr))], source_etype=_I64)
                    with counted_loop(b, _c(0), _c(blk.mr), "ai") as i:
                        slot = b.gep(slots, [i], source_etype=_I64)
                        with e.if_else(b.icmp_signed("<", i, rows)) as (given, again):
                            with given:
                                offset = b.load(slot, typ=_I64)
                                b.store(b.select(b.icmp_signed("<", offset, _c(0)), zeros,
                                                 e.ptr(a, offset, inbounds=False)), slot)
                            with again:
                                last = b.gep(slots, [b.sub(rows, _c(1))], source_etype=_PTR)
                                b.store(b.load(last, typ=_PTR), slot)

            def pack_rows(first, rows):
                """Pack rows ic + first .. + rows of this K block of A at ap."""
                if indirect:
                    point_rows(first, rows)
                    return
                with e.if_else(b.icmp_unsigned("==", pack_a_fn, ir.Constant(PACK_PTR, None))) \
                        as (strided, given):
                    with strided:
                        top = b.add(ic, first)
                        b.call(pack_a, [rows, kc, e.ptr(a, b.add(b.mul(top, rsa),
                                                                  b.mul(pc, csa))),
                                        rsa, csa, ap])
                    with given:
                        b.call(pack_a_fn, [pctx, b.add(row0, b.add(ic, first)), rows, pc, kc,
                                           ap])
                        # the callback writes those rows; the last micro-panel's rest is ours
                        panels_end = e.round_up(rows, blk.mr)
                        emit_zero_rows(e, rows, panels_end, kc, ap, blk.kc)

            # With B prepacked, A is packed a micro-panel at a time, just before the
            # micro-kernels that use it, into the same place, where it stays in L1
            # (panelwise), when each panel has few of them to serve (the block's copy would
            # be read back from L2 for little work) or the K block is short (the block's
            # rows KC apart would be sparse); else the whole block of A first (and with B
            # not prepacked, the first pass packs B as it goes, from A's first panel).
            short_k = b.icmp_signed("<", b.mul(kc, _c(2)), _c(blk.kc))
            panelwise = b.and_(prepacked, b.or_(few_panels, short_k))
            if indirect:
                panelwise = ir.Constant(ir.IntType(1), 1)
            # a row-major A read in place (direct) is not packed: only a last panel of fewer
            # than MR rows is, just before its micro-kernels
            with e.if_(b.not_(b.or_(panelwise, direct))):
                pack_rows(_c(0), mc)
            a_block = e.ptr(a, b.add(b.mul(ic, rsa), pc), inbounds=False)
            # a large prepacked B read by few A panels streams from memory a block ahead
            # (kernel_ahead): its blocks are half as wide, so that the one in use and the next
            # fit in L2 together
            packed = b.icmp_signed("!=", bpacked, _c(0))
            streamed = b.and_(b.and_(packed, big_b),
                              b.icmp_signed("<=", mc, _c(_AHEAD_MAX_PANELS * blk.mr)))
            nc_step = b.select(streamed, _c(_ahead_nc(blk)), _c(blk.nc))
            with counted_loop(b, _c(0), big_n, "jc", step=nc_step) as jc:
                nc = e.min(nc_step, b.sub(big_n, jc))
                b_block = e.ptr(bmat, b.add(b.mul(pc, rsb), b.mul(jc, csb)))
                c_block = e.ptr(c, b.add(b.mul(ic, rsc), jc))
                last = b.icmp_signed(">=", b.add(pc, kc), big_k)  # this block of C is final

                def strip_done(ir_, m):
                    finished(b.add(ic, ir_), m, jc, nc, last)
                given_b = (pack_b_fn, pctx, pc, b.add(col0, jc))
                # a prepacked B: this block's panels where prepack_b put them
                bp_block = b.select(packed, e.ptr(bmat, b.add(b.mul(pc, rsb),
                                                              b.mul(b.add(col0, jc), kc)),
                                                   inbounds=False), bp)
                ahead = _next_packed_block(e, blk, _ELEM_BYTES[dtype], (big_n, big_k),
                                           (pc, jc, kc, nc_step), bmat, rsb, col0)
                _emit_block(e, blk, pack_b, kernels, (mc, nc, kc), b_block, rsb, csb, bp_block,
                            ap, c_block, rsc, (beta_eff, alpha), tile, strip_done, given_b,
                            packed,
                            ahead, streamed, (panelwise, pack_rows, pointers if indirect
                                              else ap, [a_lanes] if indirect else None),
                            (direct, a_block, rsa))
    b.ret_void()
    return fn


def _next_packed_block(e, blk: GemmBlocking, size: int, dims, at, bmat, rsb, col0) -> tuple:
    """(start, 64-byte lines) of the prepacked B block after the one at `at` = (pc, jc, kc,
    the width of the column blocks): the next column block, else the next K block; no lines
    after the last."""
    big_n, big_k = dims
    pc, jc, kc, nc_step = at
    b = e.b
    jc_next, pc_next = b.add(jc, nc_step), b.add(pc, kc)
    more_cols = b.icmp_signed("<", jc_next, big_n)
    row = b.select(more_cols, pc, pc_next)
    col = b.select(more_cols, jc_next, _c(0))
    rows = e.min(_c(blk.kc), b.sub(big_k, row))
    cols = e.min(nc_step, b.sub(big_n, col))
    cols = e.round_up(cols, blk.nr)
    start = e.ptr(bmat, b.add(b.mul(row, rsb), b.mul(b.add(col0, col), rows)), inbounds=False)
    lines = b.sdiv(b.add(b.mul(b.mul(rows, cols), _c(size)), _c(63)), _c(64))
    exists = b.or_(more_cols, b.icmp_signed("<", pc_next, big_k))
    return start, b.select(exists, lines, _c(0))


def _emit_block(e, blk: GemmBlocking, pack_b, kernels, sizes, bsrc, rsb, csb, bp, ap, c, rsc,
                scale, tile, strip_done, given_b, packed, ahead, streamed, panels,
                in_place) -> None:
    """C[:mc, :nc] (+)= Ap @ B[:kc, :nc] for one packed A block (sizes = (mc, nc, kc)), with the
    B block (bsrc, strides rsb, csb) packed into bp on the way; scale = (beta, alpha), the
    micro-kernels' (see _emit_write_back). strip_done(ir, rows) emits
    what follows the update of each strip of MR rows (the epilogue call).

    With blk.fuse_b and a row-major B (csb == 1), the pass of the first A panel packs the full
    B panels as it uses them (kernels[1], the packing kernel), so the copy overlaps the FMAs;
    only the last, partial panel (nc % NR columns, zero-padded) is packed by pack_b
    beforehand. Otherwise pack_b packs the whole block first. Then the remaining A panels
    run on the packed block. given_b = (pack_b callback, its ctx, first row and column of the
    block in B): a non-null callback packs the whole block instead. With `packed` (an i1)
    B was packed before the call (prepack_b) and bp points at this block of it: nothing is
    packed: the first pass prefetches as it goes (kernel_stream), the later ones run the
    plain kernel, or, with `streamed` (B is large and the A block is a few panels), share out
    the prefetch of the next block, `ahead` (kernel_ahead). panels = (panelwise, an i1,
    pack_rows(first, rows), the panel's address, the kernels' last arguments): with
    panelwise, each A panel is packed (or the indirect GEMM's pointers written) just before
    its micro-kernels (so the packed block is one panel, read from L1), else ap holds the
    block. The kernels' last arguments are the indirect GEMM's [a_lanes], or None: the A
    panel's row stride then. in_place = (direct, an i1, the block's first element in A, A's
    row stride): with direct, the full panels are read from A itself (the kernels given its
    row stride), and a last panel of fewer than MR rows is packed alone as with panelwise.
    """
    kernel, kernel_pack, short, (kernel_stream, kernel_ahead) = kernels
    mc, nc, kc = sizes
    beta, alpha = scale
    b = e.b
    first = _c(0)
    panelwise, pack_rows, panel_at, tail = panels
    direct, a_block, rsa = in_place

    def a_panel(ir_, m):
        """(address, row stride) of the A panel of rows ir_ .. ir_ + m, packed first where
        it has to be (panelwise, or the short last panel of an A read in place)."""
        here = b.or_(panelwise, b.and_(direct, b.icmp_signed("<", m, _c(blk.mr))))
        with e.if_(here):
            pack_rows(ir_, m)
        read = b.and_(direct, b.not_(here))
        at = b.select(here, panel_at, b.select(read, e.ptr(a_block, b.mul(ir_, rsa),
                                                           inbounds=False),
                                               e.ptr(ap, b.mul(ir_, _c(blk.kc)))))
        return at, b.select(read, rsa, _c(blk.kc))

    callback, pctx, k0, j0 = given_b
    given = b.and_(b.icmp_unsigned("!=", callback, ir.Constant(PACK_PTR, None)),
                   b.not_(packed))
    copy = b.not_(b.or_(given, packed))  # B is a strided matrix to pack
    with e.if_(given):
        b.call(callback, [pctx, k0, kc, j0, nc, bp])
    if not kernel_pack:
        with e.if_(copy):
            b.call(pack_b, [nc, kc, bsrc, rsb, csb, bp])
    else:
        row_major = b.and_(b.icmp_signed("==", csb, _c(1)), copy)
        with e.if_else(row_major) as (then, otherwise):
            with then:
                _emit_fused_pass(e, blk, pack_b, kernels, sizes, bsrc, rsb, bp,
                                 a_panel(_c(0), e.min(_c(blk.mr), mc)), c, rsc, scale, tile)
                strip_done(_c(0), e.min(_c(blk.mr), mc))
            with otherwise:
                with e.if_(copy):
                    b.call(pack_b, [nc, kc, bsrc, rsb, csb, bp])
        first = b.select(row_major, _c(blk.mr), first)
    # the later passes over a prepacked block prefetch the next one into L2, sharing it out
    start, lines = ahead
    lines = b.select(streamed, lines, _c(0))
    per_panel = b.sdiv(b.add(nc, _c(blk.nr - 1)), _c(blk.nr))
    calls = b.mul(b.sdiv(b.add(b.sub(mc, _c(1)), _c(blk.mr - 1)), _c(blk.mr)), per_panel)
    calls = b.select(b.icmp_signed(">", calls, _c(0)), calls, _c(1))
    share = b.sdiv(b.add(lines, b.sub(calls, _c(1))), calls)
    with counted_loop(b, first, mc, "ir", step=blk.mr) as ir_:
        m = e.min(_c(blk.mr), b.sub(mc, ir_))
        at, stride = a_panel(ir_, m)
        last_args = tail if tail is not None else [stride]
        c_rows = e.ptr(c, b.mul(ir_, rsc))
        # the first pass over a prepacked block streams it in, prefetching ahead
        streaming = b.and_(packed, b.icmp_signed("==", ir_, _c(0)))
        panel = b.sub(b.sdiv(ir_, _c(blk.mr)), _c(1))  # the later passes' number
        with counted_loop(b, _c(0), nc, "jr", step=blk.nr) as jr:
            n = e.min(_c(blk.nr), b.sub(nc, jr))
            args = [kc, at, e.ptr(bp, b.mul(jr, kc)), e.ptr(c_rows, jr), rsc, m, n, beta,
                    tile, alpha]
            full = b.icmp_signed("==", m, _c(blk.mr))
            if kernel_ahead is None:
                _call_kernel(e, kernel, short, m, args + last_args)
            else:
                first_line = b.mul(b.add(b.mul(panel, per_panel), b.sdiv(jr, _c(blk.nr))),
                                   share)
                count = b.select(b.icmp_signed(">=", panel, _c(0)),
                                 e.min(share, b.sub(lines, first_line)), _c(0))
                ahead_ = b.and_(full, b.icmp_signed(">", count, _c(0)))
                with e.if_else(b.and_(streaming, full)) as (first_pass, later):
                    with first_pass:
                        b.call(kernel_stream, args + last_args)
                    with later:
                        with e.if_else(ahead_) as (prefetching, plain):
                            with prefetching:
                                b.call(kernel_ahead, args + [
                                    b.gep(start, [b.mul(first_line, _c(64))], inbounds=False,
                                          source_etype=ir.IntType(8)), count] + last_args)
                            with plain:
                                _call_kernel(e, kernel, short, m, args + last_args)
        strip_done(ir_, m)


def _short_panels(dtype: str, blk: GemmBlocking) -> tuple:
    """The row counts of the extra micro-kernels for a last A panel of fewer than MR rows.

    Each costs compile time (the library's, once per machine: the five of a 6-row f32 tile
    took it from 1.3 to 2.2 s), so only float32's default tile has them, and only 1, 2 and
    4 rows: a panel of 3 runs the 4-row kernel and one of 5 the full one. The float32 GEMMs
    of a CNN are where short panels cost: a 7 x 7 image (M = 49) is 8 full panels and one
    row, whose full-tile call did six rows' FMAs for one."""
    if dtype != "f32" or blk.mr > _SHORT_PANEL_MAX_MR:
        return ()
    return tuple(r for r in (1, 2, 4) if r < blk.mr)


def _call_kernel(e, kernel, short: dict, m, args) -> None:
    """The micro-kernel on a panel of m rows: the shortest one of at least m rows (a last
    panel of fewer than MR rows), else the MR-row one."""
    b = e.b
    if not short:
        b.call(kernel, args)
        return
    fn = b.function
    done = fn.append_basic_block("kernel.done")
    full = fn.append_basic_block("kernel.full")
    switch = b.switch(m, full)
    blocks = {}
    for rows, small in short.items():
        blocks[rows] = fn.append_basic_block(f"kernel.rows{rows}")
        with b.goto_block(blocks[rows]):
            b.call(small, args)
            b.branch(done)
    for m_rows in range(1, max(short) + 1):
        switch.add_case(_c(m_rows), blocks[min(r for r in short if r >= m_rows)])
    b.position_at_end(full)
    b.call(kernel, args)
    b.branch(done)
    b.position_at_end(done)


def _emit_fused_pass(e, blk: GemmBlocking, pack_b, kernels, sizes, bsrc, rsb, bp, a_panel,
                     c, rsc, scale, tile) -> None:
    """The first A panel's pass over a row-major B block, packing B (see _emit_block);
    a_panel = (its address, its row stride), scale = (beta, alpha)."""
    beta, alpha = scale
    ap, rs_ap = a_panel
    kernel, kernel_pack, short, _ = kernels
    mc, nc, kc = sizes
    b = e.b
    nfull = e.round_down(nc, blk.nr)
    with e.if_(b.icmp_signed("<", nfull, nc)):
        b.call(pack_b, [b.sub(nc, nfull), kc, e.ptr(bsrc, nfull), rsb, _c(1),
                        e.ptr(bp, b.mul(nfull, kc))])
    m = e.min(_c(blk.mr), mc)
    with counted_loop(b, _c(0), nc, "jr0", step=blk.nr) as jr:
        args = [kc, ap, e.ptr(bp, b.mul(jr, kc)), e.ptr(c, jr), rsc, m,
                e.min(_c(blk.nr), b.sub(nc, jr)), beta, tile, alpha]
        with e.if_else(b.icmp_signed("<", jr, nfull)) as (full, partial):
            with full:
                b.call(kernel_pack, [*args, e.ptr(bsrc, jr), rsb, rs_ap])
            with partial:
                _call_kernel(e, kernel, short, m, args + [rs_ap])


def prepack_b(b: np.ndarray, blocking: GemmBlocking, out: np.ndarray = None) -> np.ndarray:
    """B (K x N) in the layout of the GEMM's packed B blocks, for a call with bpacked = 1 and
    rsB = prepacked_width(N, blocking) (the B it reads while it runs is then this array,
    64-byte aligned; csB is not used).

    K is cut into blocks of KC rows (the last may be shorter, kc rows); block p holds its kc
    x N rows at p * KC * width, as NR-column panels one after the other, each row-major
    (kc rows of NR), the columns past N zero: element (k, j) is at
    pc * width + (j // NR) * NR * kc + (k - pc) * NR + j % NR, pc = k - k % KC. It is what
    pack_b writes into the workspace for each block, so the GEMM reads the same numbers in
    the same order and gives the same result bit for bit, without packing anything: a
    constant operand (a convolution's filter, a dense layer's weights) is packed once.
    out: the K * prepacked_width(N) elements of b's dtype to write it into (a fresh
    aligned array when None)."""
    k, n = b.shape
    nr = blocking.nr
    width = prepacked_width(n, blocking)
    whole = n // nr  # panels with no padding columns
    if out is None:
        out = aligned_empty(k * width, b.dtype)
    elif out.shape != (k * width,) or out.dtype != b.dtype:
        raise ValueError(f"prepack_b: out must hold {k * width} elements of {b.dtype}, got "
                         f"{out.shape} of {out.dtype}")
    for pc in range(0, k, blocking.kc):
        rows = b[pc:pc + blocking.kc]
        kc = rows.shape[0]
        panels = out[pc * width:(pc + kc) * width].reshape(width // nr, kc, nr)
        # (one strided copy, straight into place: the panels of this block, row-major)
        panels[:whole] = rows[:, :whole * nr].reshape(kc, whole, nr).transpose(1, 0, 2)
        if whole * nr < n:
            panels[whole] = 0
            panels[whole, :, :n - whole * nr] = rows[:, whole * nr:]
    return out


def prepacked_width(n: int, blocking: GemmBlocking) -> int:
    """The row stride (rsB) of a prepacked B of n columns: n rounded up to NR."""
    return _round_up(n, blocking.nr)


class PackedB:
    """A prepacked B (prepack_b) with its shape, for HostGemm calls."""

    def __init__(self, data: np.ndarray, k: int, n: int, blocking: GemmBlocking):
        self.data, self.k, self.n, self.blocking = data, k, n, blocking
        self.width = prepacked_width(n, blocking)

    @property
    def shape(self) -> tuple:
        return self.k, self.n


# --------------------------------------------------------------------------------------------
# Host JIT convenience (tests, benchmarks, and callers that just want a fast matmul)


_GEMM_CFUNC = ctypes.CFUNCTYPE(
    None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_void_p)


def aligned_empty(elems: int, dtype, align: int = _ALIGN_BYTES) -> np.ndarray:
    """A 1-D numpy array of `elems` elements whose data starts on an `align`-byte boundary."""
    dt = np.dtype(dtype)
    raw = np.empty(elems * dt.itemsize + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + elems * dt.itemsize].view(dt)


class HostGemm:
    """graphc_gemm_<dtype> JIT-compiled for the host, with a checked numpy-facing call.

    `gemm(a, b, out=None, beta=0, alpha=None)` returns out = a @ b (beta 0) or out += alpha *
    (a @ b) (beta 1; alpha None is 1) for
    2-D arrays of the gemm's dtype; a and b may have any element strides (transposed views
    included), out needs unit column stride. One workspace per instance: a HostGemm object is
    not to be called from two threads at once (use `raw` with separate workspaces for that).
    """

    def __init__(self, dtype: str = "f32", vector_width: int | None = None,
                 blocking: GemmBlocking | None = None, indirect: bool = False):
        self.dtype, self.indirect = dtype, indirect
        self.np_dtype = np.dtype(_NUMPY_DTYPE[dtype])
        self.vector_width = vector_width or host_vector_width(dtype)
        self.blocking = blocking or default_blocking(dtype, self.vector_width)
        module = ir.Module(name=f"graphc_gemm_{dtype}")
        # (indirect: define_gemm's GEMM reading A in place, through `raw` only)
        define_gemm(module, dtype, self.vector_width, self.blocking, indirect=indirect)
        self.llvm_module = optimize(str(module))
        self.engine = JITModule(self.llvm_module)
        self.raw = _GEMM_CFUNC(self.engine.address(f"graphc_gemm_{dtype}"))
        self.workspace_elems = gemm_workspace_elems(dtype, self.vector_width, self.blocking)
        self.workspace = aligned_empty(self.workspace_elems, self.np_dtype)

    def new_workspace(self) -> np.ndarray:
        return aligned_empty(self.workspace_elems, self.np_dtype)

    def asm(self) -> str:
        return shared_target_machine().emit_assembly(self.llvm_module)

    def _strides(self, x: np.ndarray, what: str) -> tuple[int, int]:
        if x.ndim != 2:
            raise ValueError(f"gemm: {what} must be 2-D, got shape {x.shape}")
        if x.dtype != self.np_dtype:
            raise TypeError(f"gemm: {what} has dtype {x.dtype}, expected {self.np_dtype}")
        size = x.itemsize
        if any(s % size for s in x.strides):
            raise ValueError(f"gemm: {what} strides {x.strides} are not whole elements")
        return x.strides[0] // size, x.strides[1] // size

    def __call__(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
                 beta: int = 0, workspace: np.ndarray | None = None,
                 alpha: float | None = None) -> np.ndarray:
        if self.indirect:
            raise ValueError("gemm: the indirect GEMM reads A through a pack_a callback: call "
                             "`raw`")
        rsa, csa = self._strides(a, "a")
        if isinstance(b, PackedB):
            if b.blocking != self.blocking:
                raise ValueError("gemm: b was prepacked for another blocking")
            k2, n = b.k, b.n
            rsb, csb, bpacked, b_data = b.width, 1, 1, b.data.ctypes.data
        else:
            rsb, csb = self._strides(b, "b")
            k2, n = b.shape
            bpacked, b_data = 0, b.ctypes.data
        m, k = a.shape
        if k != k2:
            raise ValueError(f"gemm: inner dimensions differ: {a.shape} @ {b.shape}")
        if out is None:
            if beta:
                raise ValueError("gemm: beta=1 needs an `out` to accumulate into")
            out = np.empty((m, n), dtype=self.np_dtype)
        rsc, csc = self._strides(out, "out")
        if out.shape != (m, n):
            raise ValueError(f"gemm: out has shape {out.shape}, expected {(m, n)}")
        if not out.flags.writeable:
            raise ValueError("gemm: out is read-only")
        if m == 0 or n == 0:
            return out  # nothing to write (numpy gives empty arrays arbitrary strides)
        if csc != 1 and n > 1:
            raise ValueError("gemm: out must have contiguous rows (unit column stride)")
        if np.may_share_memory(out, a) or np.may_share_memory(
                out, b.data if isinstance(b, PackedB) else b):
            raise ValueError("gemm: out overlaps an input")
        ws = self.workspace if workspace is None else workspace
        if ws.dtype != self.np_dtype or ws.size < self.workspace_elems or \
                ws.ctypes.data % _ALIGN_BYTES or not ws.flags.c_contiguous:
            raise ValueError("gemm: workspace must be a contiguous, 64-byte aligned array of "
                             f"at least {self.workspace_elems} {self.dtype} elements")
        scale = None if alpha is None else np.array([alpha], dtype=self.np_dtype)
        self.raw(m, n, k, a.ctypes.data, rsa, csa, b_data, rsb, csb,
                 out.ctypes.data, rsc, 1 if beta else 0, ws.ctypes.data, None, None, 0, 0,
                 None, None, None, bpacked, 0, None if scale is None else scale.ctypes.data)
        return out

    def prepack(self, b: np.ndarray) -> "PackedB":
        """b packed once for this GEMM's blocking (prepack_b), to pass as `b` to calls."""
        self._strides(b, "b")
        return PackedB(prepack_b(b, self.blocking), *b.shape, self.blocking)

