"""graphc_gemm_<dtype>: JIT-compiled for the host and checked against numpy.

Besides the default blocking (whose 512-deep K blocks and 3072-row M blocks the small test
sizes never fill), every case also runs on a deliberately tiny blocking, so that the loops over
several K, M and N blocks, the beta hand-over between K blocks and every partial-panel path
run on matrices of a few dozen rows.
"""

from __future__ import annotations

import ctypes
import itertools
import random
import threading
from dataclasses import replace

import llvmlite.ir as ir
import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.gemm import (
    _AHEAD_MAX_PANELS,
    GemmBlocking,
    HostGemm,
    default_blocking,
    define_gemm,
    gemm_rows_partition,
    gemm_workspace_elems,
    host_vector_width,
    narrow_blocking,
    thin_blocking,
)

SIZES = (1, 2, 3, 7, 16, 17, 31, 64, 255, 257)
NP_DTYPE = {"f32": np.float32, "f64": np.float64}


def _tiny_blocking(dtype: str) -> GemmBlocking:
    w = host_vector_width(dtype)
    # mr=3 rows, two vectors wide, K blocks of 5, M blocks of 6 rows (3 for a C narrower than
    # 4 * nr = 8 vectors, so both heights run), N blocks of 4 vectors.
    return GemmBlocking(mr=3, nr=2 * w, kc=5, mc=6, nc=4 * w, mc_narrow=3)


_CACHE: dict = {}


def _gemm(dtype: str, kind: str) -> HostGemm:
    key = (dtype, kind)
    if key not in _CACHE:
        if kind == "default":
            _CACHE[key] = HostGemm(dtype)
        elif kind == "tiny":
            _CACHE[key] = HostGemm(dtype, blocking=_tiny_blocking(dtype))
        elif kind == "thin":  # this CPU's thin tile (AVX-512, float32)
            blocking = thin_blocking(dtype, host_vector_width(dtype))
            if blocking is None:
                pytest.skip(f"no thin tile for {dtype} on this CPU")
            _CACHE[key] = HostGemm(dtype, blocking=blocking)
        elif kind == "narrow":  # a 128-bit (SSE/NEON-shaped) kernel, legalized on any host
            _CACHE[key] = HostGemm(dtype, vector_width=16 // np.dtype(NP_DTYPE[dtype]).itemsize)
        else:
            raise AssertionError(kind)
    return _CACHE[key]


@pytest.fixture(params=["f32", "f64"])
def dtype(request) -> str:
    return request.param


@pytest.fixture(params=["default", "tiny"])
def gemm(request, dtype) -> HostGemm:
    return _gemm(dtype, request.param)


def _rand(rng, shape, dtype):
    return rng.uniform(-1.0, 1.0, size=shape).astype(NP_DTYPE[dtype])


def _check(actual, a, b, c0=None, beta=0):
    """|actual - exact| <= (K + 2) * eps * (|A| @ |B| + |C0|), the classic dot-product bound.

    A sum of K products rounded at every step is within gamma_K = K*u/(1 - K*u) (u = eps/2) of
    the exact value times sum |a_ik||b_kj|; the final rounding and the beta-1 addition add a
    couple of u more. The exact value comes from float64 (or longdouble for f64) arithmetic.
    """
    hi = np.longdouble if actual.dtype == np.float64 else np.float64
    a_hi, b_hi = a.astype(hi), b.astype(hi)
    exact = a_hi @ b_hi
    scale = np.abs(a_hi) @ np.abs(b_hi)
    if beta:
        exact = exact + c0.astype(hi)
        scale = scale + np.abs(c0.astype(hi))
    k = a.shape[1]
    eps = np.finfo(actual.dtype).eps
    bound = (k + 2) * eps * scale + np.finfo(actual.dtype).tiny
    err = np.abs(actual.astype(hi) - exact)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"max error {float(err.max()):.3g}, worst at {worst}"


# A fixed sample of the 10^3 (M, N, K) combinations, plus the corners.
_rng_sizes = random.Random(1234)
SHAPES = sorted(set(_rng_sizes.sample(list(itertools.product(SIZES, repeat=3)), 24)) | {
    (1, 1, 1), (257, 257, 257), (255, 1, 257), (1, 257, 255), (17, 31, 7), (64, 64, 64),
    (257, 3, 2), (3, 257, 17)})


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matches_numpy(gemm, dtype, m, n, k):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    out = np.full((m, n), np.nan, dtype=NP_DTYPE[dtype])  # beta 0 must never read C
    gemm(a, b, out)
    _check(out, a, b)


# A transposed operand is packed in tiles of one vector's lanes square, transposed in
# registers, and its edges element by element. (9, 70, 1100): several K blocks, none a whole
# number of tiles deep; (257, 255, 17): one row and one column of A, and one row of B, past
# the last whole tile; (40, 200, 48): whole tiles only for the 128-bit kernel.
@pytest.mark.parametrize("m,n,k", [(7, 17, 31), (64, 3, 255), (31, 64, 16), (257, 255, 17),
                                   (9, 70, 1100), (40, 200, 48)])
@pytest.mark.parametrize("layout", ["aT", "bT", "aT_bT", "strided"])
@pytest.mark.parametrize("kind", ["default", "tiny", "narrow"])
def test_transposed_and_strided_operands(kind, dtype, m, n, k, layout):
    gemm = _gemm(dtype, kind)
    rng = np.random.default_rng(7)
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    if "aT" in layout:
        a = np.asfortranarray(a)  # rsA = 1, csA = M: the buffer of a transposed operand
        assert a.strides[0] == a.itemsize
    if "bT" in layout:
        b = np.asfortranarray(b)
    if layout == "strided":  # neither stride is 1, and A's are negative
        a = _rand(rng, (2 * m, 3 * k), dtype)[::-2, ::3]
        b = _rand(rng, (3 * k, 2 * n), dtype)[::3, ::2]
    _check(gemm(a, b), a, b)


@pytest.mark.parametrize("m,n,k", [(17, 31, 7), (64, 64, 64), (3, 257, 255), (255, 16, 2)])
def test_beta_one_accumulates(gemm, dtype, m, n, k):
    rng = np.random.default_rng(3)
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    c0 = _rand(rng, (m, n), dtype)
    out = c0.copy()
    gemm(a, b, out, beta=1)
    _check(out, a, b, c0, beta=1)


# C += alpha * (A @ B) with K at most KC: the product rounded whole, times alpha, rounded,
# added: the bits of the two-step c0 + alpha * (A @ B) (and of c0 - lr * (A @ B) with alpha
# -lr), on full tiles and edge tiles, A read in place, packed or transposed, and B fused or
# transposed. (The tiny blocking's KC is 5: K = 5 is one block.)
@pytest.mark.parametrize("m,n,k", [(17, 31, 5), (64, 128, 64), (3, 257, 255), (255, 16, 2)])
@pytest.mark.parametrize("layout", ["", "aT", "bT"])
def test_alpha_scales_a_product_of_one_k_block_bit_for_bit(gemm, dtype, m, n, k, layout):
    if k > gemm.blocking.kc:
        pytest.skip("several K blocks: see the test below")
    t = NP_DTYPE[dtype]
    rng = np.random.default_rng(m + n + k)
    a, b, c0 = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype), _rand(rng, (m, n), dtype)
    if "aT" in layout:
        a = np.asfortranarray(a)
    if "bT" in layout:
        b = np.asfortranarray(b)
    product = gemm(a, b)
    for alpha in (t(-0.01), t(1.0), t(-1.0), t(3.5)):
        out = c0.copy()
        gemm(a, b, out, beta=1, alpha=alpha)
        np.testing.assert_array_equal(out, c0 + alpha * product)
    out = c0.copy()
    gemm(a, b, out, beta=1, alpha=t(-0.01))
    np.testing.assert_array_equal(out, c0 - t(0.01) * product)


def test_alpha_scales_each_k_block_and_is_ignored_with_beta_zero(dtype):
    gemm = _gemm(dtype, "tiny")  # KC 5: K = 17 is four K blocks
    t = NP_DTYPE[dtype]
    rng = np.random.default_rng(5)
    a, b, c0 = _rand(rng, (9, 17), dtype), _rand(rng, (17, 11), dtype), _rand(rng, (9, 11), dtype)
    out = c0.copy()
    gemm(a, b, out, beta=1, alpha=t(-0.5))
    _check(out, -0.5 * a, b, c0, beta=1)
    out = np.full((9, 11), np.nan, t)
    gemm(a, b, out, alpha=t(-0.5))  # beta 0: C = A @ B, alpha unused
    np.testing.assert_array_equal(out, gemm(a, b))


def test_k_zero(gemm, dtype):
    a = np.zeros((7, 0), NP_DTYPE[dtype])
    b = np.zeros((0, 17), NP_DTYPE[dtype])
    out = np.full((7, 17), np.nan, NP_DTYPE[dtype])
    gemm(a, b, out)
    assert np.all(out == 0)
    c0 = np.arange(7 * 17, dtype=NP_DTYPE[dtype]).reshape(7, 17)
    out = c0.copy()
    gemm(a, b, out, beta=1)
    np.testing.assert_array_equal(out, c0)


def test_empty_m_or_n_is_a_no_op(gemm, dtype):
    a = np.ones((0, 5), NP_DTYPE[dtype])
    assert gemm(a, np.ones((5, 3), NP_DTYPE[dtype])).shape == (0, 3)
    out = np.full((4, 0), 1.0, NP_DTYPE[dtype])
    gemm(np.ones((4, 5), NP_DTYPE[dtype]), np.ones((5, 0), NP_DTYPE[dtype]), out)


def test_writes_only_the_c_block(gemm, dtype):
    """C as a window of a wider buffer (rsC > N): the elements around it stay untouched."""
    rng = np.random.default_rng(11)
    m, n, k = 31, 17, 64
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    big = np.full((m + 2, n + 9), 7.0, NP_DTYPE[dtype])
    window = big[1:m + 1, 4:n + 4]
    gemm(a, b, window)
    _check(window, a, b)
    mask = np.ones(big.shape, bool)
    mask[1:m + 1, 4:n + 4] = False
    assert np.all(big[mask] == 7.0)


def test_narrow_vector_kernel(dtype):
    """A kernel for 128-bit vectors (what an SSE2 or NEON host gets) is correct here too."""
    gemm = _gemm(dtype, "narrow")
    rng = np.random.default_rng(5)
    for m, n, k in [(17, 31, 7), (64, 255, 33), (3, 2, 257)]:
        a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
        _check(gemm(a, b), a, b)


def test_concurrent_row_blocks_with_separate_workspaces(dtype):
    """The documented multithreaded use: split M, one workspace per thread, run in parallel."""
    gemm = _gemm(dtype, "tiny")
    rng = np.random.default_rng(2)
    m, n, k = 257, 64, 31
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    out = np.full((m, n), np.nan, NP_DTYPE[dtype])
    parts = gemm_rows_partition(m, 4, gemm.blocking.mr)
    errors = []

    def work(first, rows):
        try:  # ctypes drops the GIL around the native call, so these really overlap
            for _ in range(5):
                gemm(a[first:first + rows], b, out[first:first + rows],
                     workspace=gemm.new_workspace())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=p) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _check(out, a, b)


def test_rows_partition():
    assert gemm_rows_partition(0, 4) == []
    assert gemm_rows_partition(5, 8) == [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]
    parts = gemm_rows_partition(1000, 3, mr=6)
    assert parts[0][0] == 0 and sum(r for _, r in parts) == 1000
    assert all(f1 + r1 == f2 for (f1, r1), (f2, _) in zip(parts, parts[1:]))
    assert all(r % 6 == 0 for _, r in parts[:-1])
    assert max(r for _, r in parts) - min(r for _, r in parts) < 2 * 6  # one panel + a partial
    with pytest.raises(ValueError):
        gemm_rows_partition(10, 0)


def test_emitted_function_and_blocking():
    module = ir.Module()
    fn = define_gemm(module, "f32", 16)
    assert fn.name == "graphc_gemm_f32"
    assert define_gemm(module, "f32", 16) is fn  # idempotent per module
    assert [str(t) for t in fn.function_type.args] == (
        ["i64"] * 3 + ["ptr", "i64", "i64"] * 2 + ["ptr", "i64", "i64", "ptr"]
        + ["void (ptr, i64, i64, i64, i64)*", "ptr", "i64", "i64"]
        + ["void (ptr, i64, i64, i64, i64, ptr)*"] * 2 + ["ptr", "i64", "i64", "ptr"])
    text = str(module)
    assert "llvm.fma.v16f32" in text
    # a last A panel of 1, 2, 3 or 4 rows runs a micro-kernel of 1, 2, 4 rows (float32's
    # 6-row tile only: not the 12-row narrow tile, not float64); a prepacked B's first pass
    # runs kernel_stream
    assert "graphc_gemm_f32_kernel_stream" in text
    assert [r for r in range(1, 13) if f"graphc_gemm_f32_rows{r}_kernel\"(" in text] == \
        [1, 2, 4]
    others = ir.Module()
    define_gemm(others, "f32", 16, narrow_blocking("f32", 16), name="narrow")
    define_gemm(others, "f64", 8)
    assert "_rows1_kernel" not in str(others)
    blk = default_blocking("f32", 16)
    assert blk.nr % 16 == 0 and blk.mc % blk.mr == 0 and blk.nc % blk.nr == 0
    assert gemm_workspace_elems("f32", 16) >= blk.mc * blk.kc + blk.kc * blk.nc
    assert host_vector_width("f32") == 2 * host_vector_width("f64") >= 2
    with pytest.raises(ValueError):
        define_gemm(ir.Module(), "f16", 8)
    with pytest.raises(ValueError):
        define_gemm(ir.Module(), "f32", 16, GemmBlocking(mr=4, nr=24, kc=8, mc=8, nc=48))
    for mc_narrow in (6, 12):  # not a multiple of mr, taller than mc
        with pytest.raises(ValueError, match="mc_narrow must be a multiple of mr, at most mc"):
            define_gemm(ir.Module(), "f32", 16,
                        GemmBlocking(mr=4, nr=32, kc=8, mc=8, nc=64, mc_narrow=mc_narrow))
    # a C narrower than 4 * nr columns takes A blocks of mc_narrow rows, in L2 beside Bp
    assert blk.mc_narrow % blk.mr == 0 and blk.mr <= blk.mc_narrow < blk.mc
    assert blk.mc_narrow * blk.kc * 4 <= 512 * 1024


def test_host_kernel_uses_vector_fma():
    gemm = _gemm("f32", "default")
    asm = gemm.asm()
    if host_vector_width("f32") == 16:
        assert "vfmadd231ps" in asm and "zmm" in asm


def test_guards(dtype):
    gemm = _gemm(dtype, "default")
    t = NP_DTYPE[dtype]
    other = np.float64 if t is np.float32 else np.float32
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(np.ones((2, 3), t), np.ones((4, 2), t))
    with pytest.raises(TypeError):
        gemm(np.ones((2, 3), other), np.ones((3, 2), t))
    with pytest.raises(ValueError, match="2-D"):
        gemm(np.ones(3, t), np.ones((3, 2), t))
    with pytest.raises(ValueError, match="contiguous rows"):
        gemm(np.ones((2, 3), t), np.ones((3, 2), t), np.ones((2, 2), t, order="F"))
    with pytest.raises(ValueError, match="workspace"):
        gemm(np.ones((2, 3), t), np.ones((3, 2), t), workspace=np.empty(10, t))
    x = np.ones((3, 3), t)
    with pytest.raises(ValueError, match="overlaps"):
        gemm(x, np.ones((3, 3), t), x)
    with pytest.raises(ValueError, match="beta=1"):
        gemm(np.ones((2, 3), t), np.ones((3, 2), t), beta=1)


_EPILOGUE_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *[ctypes.c_int64] * 4)


@pytest.mark.parametrize("kind", ["tiny", "default"])
@pytest.mark.parametrize("transposed_b", [False, True])
@pytest.mark.parametrize("k", [0, 13])
def test_epilogue_sees_every_final_block_once(dtype, kind, transposed_b, k):
    """The epilogue is called on blocks that tile C exactly, each when it holds its final
    value, numbered from (row0, col0)."""
    gemm = _gemm(dtype, kind)
    m, n, row0, col0 = 23, 3 * gemm.blocking.nr + 5, 100, 7
    rng = np.random.default_rng(k)
    a = rng.standard_normal((m, k)).astype(NP_DTYPE[dtype])
    b = rng.standard_normal((n, k)).astype(NP_DTYPE[dtype]).T if transposed_b else \
        rng.standard_normal((k, n)).astype(NP_DTYPE[dtype])
    want = a @ b
    out = np.full((m, n), np.nan, NP_DTYPE[dtype])
    seen = np.zeros((m, n), np.int64)
    wrong = []

    def epilogue(ctx, r0, r1, c0, c1):
        rows, cols = slice(r0 - row0, r1 - row0), slice(c0 - col0, c1 - col0)
        seen[rows, cols] += 1
        if not np.allclose(out[rows, cols], want[rows, cols], rtol=1e-4, atol=1e-4):
            wrong.append((r0, r1, c0, c1))
        out[rows, cols] = np.maximum(out[rows, cols], 0)  # it may rewrite its block
    callback = _EPILOGUE_CFUNC(epilogue)
    size = a.itemsize
    gemm.raw(m, n, k, a.ctypes.data, a.strides[0] // size, a.strides[1] // size,
             b.ctypes.data, b.strides[0] // size, b.strides[1] // size, out.ctypes.data, n, 0,
             gemm.workspace.ctypes.data, ctypes.cast(callback, ctypes.c_void_p), None, row0,
             col0, None, None, None, 0, 0, None)
    assert not wrong
    assert (seen == 1).all()
    np.testing.assert_allclose(out, np.maximum(want, 0), rtol=1e-4, atol=1e-4)



# M: fewer rows than any tile, a last panel of 1..5 rows, whole panels only; K over the
# default KC (512 float32, 256 float64) and the tiny blocking's 5
@pytest.mark.parametrize("m,n,k", [(2, 17, 9), (13, 70, 600), (24, 33, 7), (97, 130, 31)])
@pytest.mark.parametrize("layout", ["contiguous", "wider", "reversed"])
@pytest.mark.parametrize("kind", ["default", "tiny", "thin"])
@pytest.mark.parametrize("prepacked", [False, True])
def test_a_row_major_a_is_read_in_place_bit_for_bit(dtype, kind, m, n, k, layout, prepacked):
    """A row-major A (unit column stride) is read where it lies, its full panels at its own
    row stride (wider than K for a view of wider rows, negative for reversed rows) and a
    short last one packed; a_lanes -1 makes the GEMM pack every panel instead (an epilogue
    that writes A's buffer). Both sum the same products in the same order: the same bits."""
    gemm = _gemm(dtype, kind)
    rng = np.random.default_rng(m * 31 + k)
    parent = _rand(rng, (m, k + 7), dtype)
    a = {"contiguous": np.ascontiguousarray(parent[:, :k]), "wider": parent[:, 3:3 + k],
         "reversed": np.ascontiguousarray(parent[:, :k])[::-1]}[layout]
    b = _rand(rng, (k, n), dtype)
    rsa = a.strides[0] // a.itemsize
    assert a.strides[1] == a.itemsize and rsa == {"contiguous": k, "wider": k + 7,
                                                  "reversed": -k}[layout]
    packed = gemm.prepack(b) if prepacked else None
    outs = []
    for a_lanes in (0, -1):
        out = np.full((m, n), np.nan, dtype=NP_DTYPE[dtype])
        if packed is None:
            b_args = (b.ctypes.data, n, 1, 0)
        else:
            b_args = (packed.data.ctypes.data, packed.width, 1, 1)
        gemm.raw(m, n, k, a.ctypes.data, rsa, 1, *b_args[:3], out.ctypes.data, n, 0,
                 gemm.workspace.ctypes.data, None, None, 0, 0, None, None, None, b_args[3],
                 a_lanes, None)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    _check(outs[0], a, b)

_PACK_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *[ctypes.c_int64] * 4, ctypes.c_void_p)


@pytest.mark.parametrize("kind", ["tiny", "default"])
@pytest.mark.parametrize("packed", ["a", "b", "ab"])
@pytest.mark.parametrize("k", [1, 37])
def test_pack_callbacks_give_the_operands(dtype, kind, packed, k):
    """An operand given by a pack callback (an implicit GEMM's) gives the same product as
    the strided one: pack_a writes rows [r0, r0 + rows) of A's columns [c0, c0 + cols) at
    row stride KC, pack_b the NR-column panels of B's block with the last one zero-padded;
    the GEMM zeroes A's rows past the block itself (garbage there must not matter)."""
    gemm = _gemm(dtype, kind)
    blk, t = gemm.blocking, NP_DTYPE[dtype]
    m, n, row0 = 2 * blk.mr + 5, 2 * blk.nr + 3, 40
    rng = np.random.default_rng(k)
    a, b = rng.standard_normal((m, k)).astype(t), rng.standard_normal((k, n)).astype(t)
    calls = {"a": [], "b": []}

    def view(dst, count):
        return np.ctypeslib.as_array(ctypes.cast(dst, ctypes.POINTER(
            ctypes.c_float if dtype == "f32" else ctypes.c_double)), (count,))

    def pack_a(ctx, r0, rows, c0, cols, dst):
        calls["a"].append((r0, rows, c0, cols))
        panel = view(dst, -(-rows // blk.mr) * blk.mr * blk.kc).reshape(-1, blk.kc)
        panel[:] = 1e30  # rows past `rows` are the GEMM's to zero
        panel[:rows, :cols] = a[r0 - row0:r0 - row0 + rows, c0:c0 + cols]

    def pack_b(ctx, r0, rows, c0, cols, dst):
        calls["b"].append((r0, rows, c0, cols))
        panels = -(-cols // blk.nr)
        block = np.zeros((rows, panels * blk.nr), t)
        block[:, :cols] = b[r0:r0 + rows, c0:c0 + cols]
        view(dst, panels * blk.nr * rows)[:] = \
            block.reshape(rows, panels, blk.nr).transpose(1, 0, 2).ravel()
    callbacks = {x: _PACK_CFUNC(f) for x, f in (("a", pack_a), ("b", pack_b))}
    out = np.full((m, n), np.nan, t)
    gemm.raw(m, n, k, None if "a" in packed else a.ctypes.data, k, 1,
             None if "b" in packed else b.ctypes.data, n, 1, out.ctypes.data, n, 0,
             gemm.workspace.ctypes.data, None, None, row0, 0,
             *(ctypes.cast(callbacks[x], ctypes.c_void_p) if x in packed else None
               for x in "ab"), None, 0, 0, None)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-4)
    for x in "ab":
        assert bool(calls[x]) == (x in packed)
    if "a" in packed:  # every row block of A, each K block of it once per row block
        mc = blk.mc
        if blk.mc_narrow and n < 4 * blk.nr:  # blocks of even heights, at most mc_narrow
            blocks = -(-m // blk.mc_narrow)
            mc = -(-(-(-m // blocks)) // blk.mr) * blk.mr
        assert {(r0, rows) for r0, rows, _, _ in calls["a"]} == {
            (row0 + i, min(mc, m - i)) for i in range(0, m, mc)}


_INDIRECT: dict = {}


def _indirect_gemm(dtype: str, kind: str) -> HostGemm:
    """define_gemm's indirect GEMM (A read in place) on the kind's blocking."""
    if (dtype, kind) not in _INDIRECT:
        # (its A block's space holds the zeros and a panel's pointers: 12 rows of 5)
        blocking = replace(_tiny_blocking(dtype), mc=12) if kind == "tiny" else \
            narrow_blocking(dtype, host_vector_width(dtype)) if kind == "narrow" else None
        _INDIRECT[dtype, kind] = HostGemm(dtype, blocking=blocking, indirect=True)
    return _INDIRECT[dtype, kind]


@pytest.mark.parametrize("kind,lanes,segments", [
    ("tiny", 1, 7), ("tiny", 5, 3),  # K blocks of 5: one lane, or one segment, per block
    ("default", 21, 7),  # a stem's 7 kernel rows of 7 x 3 channels: one K block
    ("default", 64, 9),  # a 3 x 3 kernel over 64 channels: K blocks of 512 and 64
    ("default", 16, 40),
    ("narrow", 64, 25), ("narrow", 20, 9)])  # (a 5 x 5 or 3 x 3 input gradient's windows)
@pytest.mark.parametrize("prepacked", [False, True])
@pytest.mark.parametrize("beta", [0, 1])
def test_indirect_gemm_reads_a_in_place(dtype, kind, lanes, segments, prepacked, beta):
    """The indirect GEMM: A's row i is, segment by segment, `lanes` consecutive elements of
    the source buffer at the offset the callback gives (int64, MR per segment), or zeros
    for an offset of -1; the product is A @ B, with a short last panel, several K blocks
    and B packed by the GEMM or prepacked."""
    gemm = _indirect_gemm(dtype, kind)
    blk, t = gemm.blocking, NP_DTYPE[dtype]
    k = lanes * segments
    m, n, row0 = 2 * blk.mr + 1, 2 * blk.nr + 3, 40
    rng = np.random.default_rng(lanes * segments + beta)
    source = rng.standard_normal(64 * k).astype(t)
    offsets = rng.integers(0, source.size - lanes + 1, (m, segments))
    offsets[rng.random((m, segments)) < 0.25] = -1
    a = np.zeros((m, k), t)
    for i, j in itertools.product(range(m), range(segments)):
        if offsets[i, j] >= 0:
            a[i, j * lanes:(j + 1) * lanes] = source[offsets[i, j]:offsets[i, j] + lanes]
    b = rng.standard_normal((k, n)).astype(t)
    calls = []

    def pack_a(ctx, r0, rows, c0, cols, dst):
        calls.append((r0, rows, c0, cols))
        table = np.ctypeslib.as_array(ctypes.cast(dst, ctypes.POINTER(ctypes.c_int64)),
                                      (cols // lanes * blk.mr,)).reshape(-1, blk.mr)
        table[:] = 1 << 40  # rows past `rows` are the GEMM's (it reuses the last row's)
        table[:, :rows] = offsets[r0 - row0:r0 - row0 + rows, c0 // lanes:(c0 + cols) // lanes].T
    callback = _PACK_CFUNC(pack_a)
    if prepacked:
        packed = gemm.prepack(b)
        b_at, rsb, flag = packed.data.ctypes.data, packed.width, 1
    else:
        b_at, rsb, flag = b.ctypes.data, n, 0
    out = rng.standard_normal((m, n)).astype(t) if beta else np.full((m, n), np.nan, t)
    want = a @ b + (out if beta else 0)
    gemm.raw(m, n, k, source.ctypes.data, 0, 0, b_at, rsb, 1, out.ctypes.data, n, beta,
             gemm.workspace.ctypes.data, None, None, row0, 0,
             ctypes.cast(callback, ctypes.c_void_p), None, None, flag, lanes, None)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert all(c0 % lanes == 0 and cols % lanes == 0 and cols <= max(blk.kc, k)
               for _, _, c0, cols in calls)
    # each panel of MR rows once per K block and column block
    blocks = -(-k // blk.kc) * -(-n // blk.nc)
    assert sorted((r0, rows) for r0, rows, _, _ in calls) == sorted(
        (row0 + i, min(blk.mr, m - i)) for i in range(0, m, blk.mr) for _ in range(blocks))


def test_indirect_gemm_is_not_called_with_arrays():
    with pytest.raises(ValueError, match="pack_a callback: call `raw`"):
        _indirect_gemm("f32", "tiny")(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))


def test_indirect_gemm_needs_room_for_its_pointers():
    with pytest.raises(ValueError, match="too small for"):
        HostGemm("f32", blocking=_tiny_blocking("f32"), indirect=True)


@pytest.mark.parametrize("dtype, width", [("f32", 16), ("f64", 8), ("f32", 8), ("f64", 4)])
def test_the_narrow_gemm_has_the_default_workspace(dtype, width):
    """A plan sizes one workspace per thread for any of the GEMMs (gemm_workspace_bytes)."""
    base, narrow = default_blocking(dtype, width), narrow_blocking(dtype, width)
    assert (narrow.mr, narrow.nr) == (2 * base.mr, base.nr // 2)
    assert gemm_workspace_elems(dtype, width, narrow) <= gemm_workspace_elems(dtype, width)
    narrow.check(width)
    thin = thin_blocking(dtype, width)
    if (dtype, width) == ("f32", 16):  # (AVX-512 float32 only: elsewhere narrow is as thin)
        assert (thin.mr, thin.nr) == (16, 16)
        assert gemm_workspace_elems(dtype, width, thin) <= gemm_workspace_elems(dtype, width)
        thin.check(width)
    else:
        assert thin is None


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (17, 16, 31), (40, 10, 513), (257, 7, 64),
                                   (600, 16, 1100)])
@pytest.mark.parametrize("layout", ["plain", "aT", "bT", "prepacked", "accumulate"])
def test_the_thin_gemm_matches_numpy(m, n, k, layout):
    """The thin tile (16 x one vector), on its own blocks: short and several M blocks, K
    blocks whole and partial, transposed operands, B prepacked (A then packed a panel at a
    time) and beta = 1."""
    gemm = _gemm("f32", "thin")
    rng = np.random.default_rng(m * 31 + n * 7 + k)
    a, b = _rand(rng, (m, k), "f32"), _rand(rng, (k, n), "f32")
    if layout == "aT":
        a = np.asfortranarray(a)
    if layout == "bT":
        b = np.asfortranarray(b)
    if layout == "prepacked":
        got = gemm(a, gemm.prepack(b))
        np.testing.assert_array_equal(got, gemm(a, b))
    elif layout == "accumulate":
        c = _rand(rng, (m, n), "f32")
        _check(gemm(a, b, c.copy(), beta=1), a, b, c, beta=1)
        return
    else:
        got = gemm(a, b)
    _check(got, a, b)


@pytest.mark.parametrize("n, narrow", [(10, "thin"), (16, "thin"), (17, True), (32, True),
                                       (33, False)])
def test_plans_take_the_narrow_gemm_for_narrow_products(n, narrow):
    import graphc as tf
    if narrow_blocking("f32", host_vector_width("f32")).nr < 32:
        pytest.skip("this CPU's narrow tile is narrower than 32 columns")
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((40, 70)), rng.standard_normal((70, n))
    x = tf.placeholder(tf.float32, [40, 70])
    y = tf.matmul(x, tf.constant(b.astype(np.float32)))
    with tf.Session(config=tf.Options(threads=2)) as sess:
        got = sess.run(y, {x: a.astype(np.float32)})
        plan = next(iter(sess._executor._plans.values()))
    assert ("graphc_gemm_narrow_f32" in plan.ir_text) == (narrow is True)
    assert ("graphc_gemm_thin_f32" in plan.ir_text) == (narrow == "thin")
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_batched_matrix_times_a_view_of_itself_reads_each_operand_at_its_offset(dtype):
    # both operands are one buffer, A at offset b * 2 in batch b and B (broadcast) at 0:
    # the LLVM gemm once took both pointers from one per-buffer entry (fuzz seed 4200081)
    a = np.array([[[-0.72744859], [1.65599132]], [[0.12087925], [0.12846009]],
                  [[2.5], [-1.25]]], dtype)
    x = tf.placeholder(tf.as_dtype(dtype), a.shape)
    flat = tf.reshape(x, [3, 2])
    fetches = [tf.matmul(x, flat[:2], transpose_a=True),
               tf.matmul(tf.reshape(x, [3, 1, 2]), tf.reshape(x, [2, 3]))]
    with tf.Session(config=tf.Options(opt_level=2, threads=1)) as sess:
        got = sess.run(fetches, {x: a})
    np.testing.assert_allclose(got[0], np.swapaxes(a, 1, 2) @ a.reshape(3, 2)[:2], rtol=1e-6)
    np.testing.assert_allclose(got[1], a.reshape(3, 1, 2) @ a.reshape(2, 3), rtol=1e-6)


@pytest.mark.parametrize("kind", ["tiny", "default"])
def test_prepacked_b_gives_the_same_bits(dtype, kind):
    """B packed once (prepack_b) and read in place gives the strided B's result bit for bit,
    with A row-major or not (then packed a micro-panel at a time: few B panels, or a short
    K block): K blocks full and partial, N a multiple of NR or not, an A panel short or not,
    several A blocks, and (49 x 1025 x 577 and 240 x 1031 x 649, default blocking: B over
    1 MiB, at most _AHEAD_MAX_PANELS panels) the half-width B blocks whose later passes
    prefetch the next block."""
    gemm = _gemm(dtype, kind)
    blk = gemm.blocking
    rng = np.random.default_rng(3)
    rows = 2 * (blk.mc_narrow or blk.mc) + 1  # several A blocks of a narrow C
    for m, k, n in ((1, 1, 1), (blk.mr + 1, blk.kc + 3, blk.nr + 5), (49, 2 * blk.kc, 2 * blk.nr),
                    (rows, 3 * blk.kc - 1, blk.nr + 3), (49, 2 * blk.kc + 1, blk.nc + blk.nr + 1),
                    (7, 300, 1000),
                    (_AHEAD_MAX_PANELS * blk.mr, 2 * blk.kc + 7, blk.nc + 2 * blk.nr + 9)):
        a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
        packed = gemm.prepack(b)
        assert packed.data.size == k * -(-n // blk.nr) * blk.nr
        np.testing.assert_array_equal(gemm(a, packed), gemm(a, b))
        # (A is then packed a panel at a time: from a strided A too)
        np.testing.assert_array_equal(gemm(np.asfortranarray(a), packed), gemm(a, b))
        if m * n * k < 1 << 22:
            _check(gemm(a, packed), a, b)
        b_t = np.asfortranarray(b)  # any strides pack to the same panels
        np.testing.assert_array_equal(gemm.prepack(b_t).data, packed.data)


def test_prepacked_b_column_blocks_start_at_col0(dtype):
    """A call on columns [j0, j0 + n) of C (a thread's share) finds its panels of the whole
    prepacked B at its col0, a multiple of NR."""
    gemm = _gemm(dtype, "tiny")
    blk, t = gemm.blocking, NP_DTYPE[dtype]
    rng = np.random.default_rng(4)
    m, k, n = 11, 2 * blk.kc + 2, 3 * blk.nr + 3
    a, b = _rand(rng, (m, k), dtype), _rand(rng, (k, n), dtype)
    packed = gemm.prepack(b)
    out = np.full((m, n), np.nan, t)
    for j0 in range(0, n, blk.nr):
        cols = min(blk.nr, n - j0)
        gemm.raw(m, cols, k, a.ctypes.data, k, 1, packed.data.ctypes.data, packed.width, 1,
                 out[:, j0:].ctypes.data, n, 0, gemm.workspace.ctypes.data, None, None, 0, j0,
                 None, None, None, 1, 0, None)
    np.testing.assert_array_equal(out, gemm(a, b))


def test_prepacked_b_guards():
    gemm, other = _gemm("f32", "default"), _gemm("f32", "tiny")
    b = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="prepacked for another blocking"):
        other(np.ones((2, 3), np.float32), gemm.prepack(b))
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(np.ones((2, 5), np.float32), gemm.prepack(b))
