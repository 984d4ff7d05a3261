"""This machine's limits, measured with kernels generated here: peak FMA rate and memory copy
bandwidth (`graphc bench machine`; the harness divides by them to give "fraction of peak").

- FMA peak: a loop of independent vector FMAs on registers (24 chains of the host's widest
  vector, enough to hide FMA latency on two pipes), so it does no memory traffic. GFLOP/s
  counts 2 flops per lane per FMA.
- Copy bandwidth: `dst[i] = src[i] + 0.0` over float32 arrays larger than the caches
  (64 MiB each by default). Adding +0.0 keeps LLVM from turning the loop into a call to
  libc's memcpy, and changes no value except -0.0, so the kernel stays ours. GB/s counts one
  read and one write per element, the STREAM "copy" convention.

With N threads, N Python threads call the kernel at once, each on its own share; ctypes
releases the GIL during the call, so they run in parallel. Each figure is the best of several
timed runs (a limit is the best the machine does, not its typical speed). Measurements take
about a second; `small=True` shrinks them to milliseconds, for tests.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from dataclasses import asdict, dataclass

import llvmlite.ir as ir
import numpy as np

_PTR = ir.PointerType()
_I64 = ir.IntType(64)
_F32 = ir.FloatType()
FMA_CHAINS = 24


@dataclass(frozen=True)
class MachineLimits:
    """What `threads` threads of this machine reach; GFLOP/s for f32 FMA, GB/s for copy."""
    threads: int
    fma_gflops: float
    copy_gbs: float
    copy_bytes: int  # size of each of the two arrays copied
    vector_lanes: int  # f32 lanes of the vectors the FMA loop uses
    cpu: str

    def as_dict(self) -> dict:
        return asdict(self)


def _fma_ir(width: int) -> str:
    """`float graphc_bench_fma(i64 iters, float x)`: iters x 2 x FMA_CHAINS vector FMAs."""
    vec = ir.VectorType(_F32, width)
    module = ir.Module(name="graphc_bench_fma")
    fma = ir.Function(module, ir.FunctionType(vec, [vec] * 3), name=f"llvm.fma.v{width}f32")
    fn = ir.Function(module, ir.FunctionType(_F32, [_I64, _F32]), name="graphc_bench_fma")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    x = b.insert_element(ir.Constant(vec, ir.Undefined), fn.args[1], ir.Constant(_I64, 0))
    x = b.shuffle_vector(x, ir.Constant(vec, ir.Undefined),
                         ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))
    entry, loop, done = b.block, fn.append_basic_block("loop"), fn.append_basic_block("done")
    b.branch(loop)
    b.position_at_end(loop)
    k = b.phi(_I64)
    k.add_incoming(ir.Constant(_I64, 0), entry)
    accs = []
    for j in range(FMA_CHAINS):
        acc = b.phi(vec)
        acc.add_incoming(ir.Constant(vec, [float(j)] * width), entry)
        accs.append(acc)
    # two dependent FMAs per chain per iteration: the loop overhead is amortized over 48
    new = [b.call(fma, [x, x, b.call(fma, [x, x, acc])]) for acc in accs]
    for acc, value in zip(accs, new):
        acc.add_incoming(value, loop)
    k_next = b.add(k, ir.Constant(_I64, 1))
    k.add_incoming(k_next, loop)
    b.cbranch(b.icmp_signed("<", k_next, fn.args[0]), loop, done)
    b.position_at_end(done)
    total = new[0]
    for value in new[1:]:  # every chain feeds the result, so none is dead code
        total = b.fadd(total, value)
    b.ret(b.extract_element(total, ir.Constant(_I64, 0)))
    return str(module)


def _copy_ir() -> str:
    """`void graphc_bench_copy(ptr dst, ptr src, i64 n)`: dst[i] = src[i] + 0.0, i < n."""
    module = ir.Module(name="graphc_bench_copy")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I64]),
                     name="graphc_bench_copy")
    dst, src, n = fn.args
    dst.add_attribute("noalias")
    src.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    from graphc.codegen_llvm.irutil import counted_loop
    with counted_loop(b, ir.Constant(_I64, 0), n) as i:
        value = b.load(b.gep(src, [i], inbounds=True, source_etype=_F32), typ=_F32)
        b.store(b.fadd(value, ir.Constant(_F32, 0.0)),
                b.gep(dst, [i], inbounds=True, source_etype=_F32))
    b.ret_void()
    return str(module)


@functools.lru_cache(maxsize=None)
def _kernels():
    """(fma, copy, lanes): the two kernels JIT-compiled once per process."""
    from graphc.codegen_llvm.gemm import host_vector_width
    from graphc.codegen_llvm.jit import JITModule, optimize

    lanes = host_vector_width("f32")
    fma_jit = JITModule(optimize(_fma_ir(lanes)))
    copy_jit = JITModule(optimize(_copy_ir()))
    fma = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64, ctypes.c_float)(
        fma_jit.address("graphc_bench_fma"))
    copy = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(
        copy_jit.address("graphc_bench_copy"))
    fma.engines = copy.engines = (fma_jit, copy_jit)  # keep the code alive with the pointers
    return fma, copy, lanes


def run_together(calls: list) -> float:
    """Run each zero-argument callable in its own thread, started together; the wall seconds
    from the first start to the last finish."""
    if len(calls) == 1:
        t = time.perf_counter()
        calls[0]()
        return time.perf_counter() - t
    barrier = threading.Barrier(len(calls))
    spans = [None] * len(calls)

    def worker(index: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        calls[index]()
        spans[index] = (start, time.perf_counter())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(end for _, end in spans) - min(start for start, _ in spans)


def fma_peak(threads: int = 1, iters: int = 2_000_000, repeat: int = 5) -> float:
    """Best GFLOP/s of `threads` concurrent FMA loops of `iters` iterations each."""
    fma, _, lanes = _kernels()
    flops = threads * iters * FMA_CHAINS * 2 * 2 * lanes
    fma(min(iters, 10_000), 0.999)  # warm the code and the clock
    best = min(run_together([functools.partial(fma, iters, 0.999)] * threads)
               for _ in range(repeat))
    return flops / best / 1e9


def copy_bandwidth(threads: int = 1, nbytes: int = 64 << 20, repeat: int = 5) -> float:
    """Best GB/s (read + write bytes) of copying `nbytes` of float32 with `threads` threads,
    each taking one contiguous share."""
    _, copy, _ = _kernels()
    n = nbytes // 4
    src = np.ones(n, np.float32)
    dst = np.zeros(n, np.float32)  # written once below, so no page faults are timed
    bounds = np.linspace(0, n, threads + 1).astype(np.int64) // 16 * 16
    bounds[-1] = n
    calls = [functools.partial(copy, dst.ctypes.data + 4 * int(lo), src.ctypes.data + 4 * int(lo),
                               int(hi - lo)) for lo, hi in zip(bounds[:-1], bounds[1:])]
    run_together(calls)
    best = min(run_together(calls) for _ in range(repeat))
    return 2 * 4 * n / best / 1e9


def measure(threads: int = 1, small: bool = False) -> MachineLimits:
    """Both limits for `threads` threads (the caller pins the process first if it wants)."""
    import llvmlite.binding as llvm

    _, _, lanes = _kernels()
    if small:
        fma = fma_peak(threads, iters=20_000, repeat=2)
        nbytes = 1 << 20
        copy = copy_bandwidth(threads, nbytes=nbytes, repeat=2)
    else:
        fma = fma_peak(threads)
        nbytes = 64 << 20
        copy = copy_bandwidth(threads, nbytes=nbytes)
    return MachineLimits(threads=threads, fma_gflops=fma, copy_gbs=copy, copy_bytes=nbytes,
                         vector_lanes=lanes, cpu=llvm.get_host_cpu_name())
