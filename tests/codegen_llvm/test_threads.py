"""The generated thread pool (graphc/codegen_llvm/threads.py), run through MCJIT and as an AOT
shared library: static partition, exactly-once coverage, reuse, concurrent host threads,
nested regions, fork, shutdown/reuse, and (printed, not asserted) overhead and speedup."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
import time

import llvmlite.binding as llvm
import llvmlite.ir as ir
import numpy as np
import pytest

from graphc.codegen_llvm.irutil import counted_loop
from graphc.codegen_llvm.threads import (
    KERNEL_TYPE,
    MAX_THREADS,
    SLOT_BYTES,
    SLOT_TYPE,
    define_parallel_runtime,
)

llvm.initialize_native_target()       # still required: without them no target is registered
llvm.initialize_native_asmprinter()

I32, I64, F64 = ir.IntType(32), ir.IntType(64), ir.DoubleType()
PTR = ir.PointerType()
LOG_ENTRIES = 64                      # room for the chunk log of one region (k <= 64 here)
PF = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)
BENCH = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32,
                         ctypes.c_int64)


def expected_partition(n: int, nthreads: int) -> list[tuple[int, int]]:
    """The documented static partition: k chunks, the first n % k one element longer."""
    if n <= 0:
        return []
    k = min(max(nthreads, 1), MAX_THREADS, n)
    q, r = divmod(n, k)
    return [(c * q + min(c, r), (c + 1) * q + min(c + 1, r)) for c in range(k)]


def f_of(i: np.ndarray) -> np.ndarray:
    """What the `record` kernel writes at index i (int64, wrapping like the IR)."""
    return i * i * 3 + 7


# --- the test module: the pool plus a few kernels -----------------------------------------------
def _ctx_ptr(b: ir.IRBuilder, ctx, index: int, name: str):
    """ctx is an array of u64 words (addresses or integers); load word `index` as a ptr."""
    slot = b.gep(ctx, [ir.Constant(I64, index)], source_etype=I64)
    return b.load(slot, typ=PTR, name=name)


def _ctx_int(b: ir.IRBuilder, ctx, index: int, name: str):
    slot = b.gep(ctx, [ir.Constant(I64, index)], source_etype=I64)
    return b.load(slot, typ=I64, name=name)


def _kernel(module, name):
    fn = ir.Function(module, KERNEL_TYPE, name)
    ctx, begin, end = fn.args
    return fn, ir.IRBuilder(fn.append_basic_block("entry")), ctx, begin, end


def build_module_ir(triple: str, data_layout: str) -> str:
    m = ir.Module("threads_test")
    m.triple, m.data_layout = triple, data_layout
    rt = define_parallel_runtime(m)
    assert define_parallel_runtime(m) == rt            # idempotent
    pf = rt["graphc_parallel_for"]
    pthread_self = ir.Function(m, ir.FunctionType(I64, []), "pthread_self")

    # record: out[i] = f(i); counts[i] += 1 (atomic); log (begin, end, pthread_self()).
    # ctx = [out, counts, log, log_count]
    fn, b, ctx, begin, end = _kernel(m, "record")
    out, counts = _ctx_ptr(b, ctx, 0, "out"), _ctx_ptr(b, ctx, 1, "counts")
    log, nlog = _ctx_ptr(b, ctx, 2, "log"), _ctx_ptr(b, ctx, 3, "nlog")
    with counted_loop(b, begin, end) as i:
        v = b.add(b.mul(b.mul(i, i), ir.Constant(I64, 3)), ir.Constant(I64, 7))
        b.store(v, b.gep(out, [i], source_etype=I64))
        b.atomic_rmw("add", b.gep(counts, [i], source_etype=I32), ir.Constant(I32, 1),
                     "monotonic")
    j = b.atomic_rmw("add", nlog, ir.Constant(I64, 1), "monotonic")
    at = b.mul(j, ir.Constant(I64, 3))
    for offset, value in enumerate((begin, end, b.call(pthread_self, []))):
        b.store(value, b.gep(log, [b.add(at, ir.Constant(I64, offset))], source_etype=I64))
    b.ret_void()

    # add_one: counts[i] += 1 (plain: each index belongs to exactly one chunk). ctx = [counts]
    fn, b, ctx, begin, end = _kernel(m, "add_one")
    counts = _ctx_ptr(b, ctx, 0, "counts")
    with counted_loop(b, begin, end) as i:
        p = b.gep(counts, [i], source_etype=I32)
        b.store(b.add(b.load(p, typ=I32), ir.Constant(I32, 1)), p)
    b.ret_void()
    add_one_fn = fn

    # noop: the cost of a region and nothing else.
    fn, b, *_ = _kernel(m, "noop")
    b.ret_void()

    # burn: out[i] = a long dependent multiply-add chain from i. ctx = [out, iters]
    fn, b, ctx, begin, end = _kernel(m, "burn")
    out, iters = _ctx_ptr(b, ctx, 0, "out"), _ctx_int(b, ctx, 1, "iters")

    acc = b.alloca(F64)
    with counted_loop(b, begin, end) as i:
        b.store(b.sitofp(i, F64), acc)
        with counted_loop(b, ir.Constant(I64, 0), iters, "step"):
            x = b.load(acc, typ=F64)
            b.store(b.fadd(b.fmul(x, ir.Constant(F64, 0.9999999)), ir.Constant(F64, 0.5)), acc)
        b.store(b.load(acc, typ=F64), b.gep(out, [i], source_etype=F64))
    b.ret_void()

    # nested: each chunk runs add_one over its own range through another parallel region.
    # ctx = [counts, inner nthreads]
    fn, b, ctx, begin, end = _kernel(m, "nested")
    counts, inner = _ctx_ptr(b, ctx, 0, "counts"), _ctx_int(b, ctx, 1, "inner")
    inner_ctx = b.alloca(PTR)
    b.store(b.gep(counts, [begin], source_etype=I32), inner_ctx)
    b.call(pf, [add_one_fn, inner_ctx, b.sub(end, begin), b.trunc(inner, I32)])
    b.ret_void()

    # gate: count itself in, then wait until the flag is set. ctx = [flag (i32), entered (i64)]
    fn, b, ctx, begin, end = _kernel(m, "gate")
    flag, entered = _ctx_ptr(b, ctx, 0, "flag"), _ctx_ptr(b, ctx, 1, "entered")
    b.atomic_rmw("add", entered, ir.Constant(I64, 1), "seq_cst")
    wait, go = b.append_basic_block("wait"), b.append_basic_block("go")
    b.branch(wait)
    b.position_at_end(wait)
    is_set = b.load_atomic(flag, "acquire", 4, typ=I32)
    b.cbranch(b.icmp_signed("!=", is_set, ir.Constant(I32, 0)), go, wait)
    b.position_at_end(go)
    b.ret_void()

    # bench(fn, ctx, n, nthreads, reps): `reps` regions back to back, without ctypes in between.
    bench = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I32, I64]), "bench")
    b = ir.IRBuilder(bench.append_basic_block("entry"))
    body, ctx, n, nthreads, reps = bench.args
    with counted_loop(b, ir.Constant(I64, 0), reps):
        b.call(pf, [body, ctx, n, nthreads])
    b.ret_void()
    return str(m)


def _target_machine(reloc: str = "default"):
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, reloc=reloc)


def _compile(text: str, tm) -> llvm.ModuleRef:
    mod = llvm.parse_assembly(text)
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    mod.verify()
    return mod


class Pool:
    """The JIT-compiled test module and ctypes entry points into it."""

    def __init__(self):
        self.tm = _target_machine()
        self.ir_text = build_module_ir(self.tm.triple, str(self.tm.target_data))
        self.engine = llvm.create_mcjit_compiler(_compile(self.ir_text, self.tm), self.tm)
        self.engine.finalize_object()
        addr = self.engine.get_function_address
        self.kernels = {name: addr(name) for name in ("record", "add_one", "noop", "burn",
                                                       "nested", "gate")}
        self.parallel_for = PF(addr("graphc_parallel_for"))
        self.shutdown = ctypes.CFUNCTYPE(None)(addr("graphc_pool_shutdown"))
        self.workers = ctypes.CFUNCTYPE(ctypes.c_int32)(addr("graphc_pool_workers"))
        self.bench = BENCH(addr("bench"))


@pytest.fixture(scope="module")
def pool():
    p = Pool()
    yield p
    p.shutdown()          # join the workers before the engine (and their code) goes away
    assert p.workers() == 0


class Record:
    """Buffers for one `record` region; keeps the arrays alive while native code uses them."""

    def __init__(self, n: int):
        self.out = np.zeros(n, np.int64)
        self.counts = np.zeros(n, np.int32)
        self.log = np.zeros(LOG_ENTRIES * 3, np.int64)
        self.nlog = np.zeros(1, np.int64)
        self.ctx = np.array([a.ctypes.data for a in (self.out, self.counts, self.log, self.nlog)],
                            np.uint64)

    def run(self, pool: Pool, nthreads: int) -> None:
        self.counts[:] = 0
        self.nlog[0] = 0
        pool.parallel_for(pool.kernels["record"], self.ctx.ctypes.data, len(self.out), nthreads)

    def chunks(self) -> list[tuple[int, int, int]]:
        """(begin, end, thread id) per fn call, sorted by begin."""
        entries = self.log[: 3 * int(self.nlog[0])].reshape(-1, 3)
        return sorted((int(b), int(e), int(t) & (2**64 - 1)) for b, e, t in entries)


# --- tests --------------------------------------------------------------------------------------
def test_slot_layout_matches_the_target():
    """Worker slot fields at the offsets documented in threads/layout.py, mutex and condvar
    128-byte aligned inside the 128-byte aligned slot."""
    td = _target_machine().target_data
    ty = llvm.parse_assembly(f"@g = external global {SLOT_TYPE}").get_global_variable(
        "g").global_value_type
    offsets = [td.get_element_offset(ty, i) for i in range(11)]
    assert offsets == [0, 8, 16, 24, 32, 40, 44, 48, 52, 128, 256]
    assert td.get_abi_size(ty) == SLOT_BYTES == 384


@pytest.mark.parametrize("nthreads", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000, 10**6])
def test_static_partition_exactly_once(pool, n, nthreads):
    rec = Record(n)
    rec.run(pool, nthreads)
    np.testing.assert_array_equal(rec.counts, np.ones(n, np.int32))
    np.testing.assert_array_equal(rec.out, f_of(np.arange(n, dtype=np.int64)))

    serial = Record(n)
    serial.run(pool, 1)
    np.testing.assert_array_equal(rec.out, serial.out)

    chunks = rec.chunks()
    assert [(b, e) for b, e, _ in chunks] == expected_partition(n, nthreads)
    if chunks:
        caller = threading.get_ident()
        assert chunks[0][2] == caller                  # chunk 0 on the calling thread
        others = [t for _, _, t in chunks[1:]]
        assert caller not in others                    # the rest on pool workers ...
        assert len(set(others)) == len(others)         # ... one chunk per worker


def test_lazy_growth_shutdown_and_reuse(pool):
    pool.shutdown()
    assert pool.workers() == 0
    pool.shutdown()                                    # idempotent
    assert pool.workers() == 0
    rec = Record(100)
    rec.run(pool, 1)
    assert pool.workers() == 0                         # inline regions start nothing
    rec.run(pool, 3)
    assert pool.workers() == 2
    rec.run(pool, 2)
    assert pool.workers() == 2                         # never shrinks
    rec.run(pool, 5)
    assert pool.workers() == 4                         # grows on demand
    pool.shutdown()
    assert pool.workers() == 0
    rec.run(pool, 2)                                   # reuse after shutdown
    assert pool.workers() == 1
    np.testing.assert_array_equal(rec.counts, np.ones(100, np.int32))
    np.testing.assert_array_equal(rec.out, f_of(np.arange(100, dtype=np.int64)))
    assert [(b, e) for b, e, _ in rec.chunks()] == expected_partition(100, 2)


def test_nthreads_out_of_range_and_tiny_n(pool):
    for n, nthreads in [(5, 0), (5, -3), (2, 64), (1, 8)]:
        rec = Record(n)
        rec.run(pool, nthreads)
        np.testing.assert_array_equal(rec.counts, np.ones(n, np.int32))
        assert [(b, e) for b, e, _ in rec.chunks()] == expected_partition(n, nthreads)


def test_many_regions_and_overhead(pool):
    reps, n = 10_000, 64
    counts = np.zeros(n, np.int32)
    ctx = np.array([counts.ctypes.data], np.uint64)
    pool.bench(pool.kernels["add_one"], ctx.ctypes.data, n, 2, reps)
    np.testing.assert_array_equal(counts, np.full(n, reps, np.int32))

    noop = pool.kernels["noop"]
    timings = {}
    oversubscribed = (os.cpu_count() or 1) + 1
    for nthreads in (1, 2, oversubscribed):            # n = nthreads: one element per chunk
        pool.bench(noop, 0, nthreads, nthreads, 1000)  # warm up (workers spinning)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            pool.bench(noop, 0, nthreads, nthreads, reps)
            best = min(best, time.perf_counter() - t0)
        timings[nthreads] = best / reps * 1e6
    t0 = time.perf_counter()
    for _ in range(reps):
        pool.parallel_for(noop, 0, 2, 2)
    through_ctypes = (time.perf_counter() - t0) / reps * 1e6
    # A region after the workers went to sleep (idle longer than their spin): a futex wake-up.
    cold = []
    for _ in range(50):
        time.sleep(0.003)
        t0 = time.perf_counter()
        pool.parallel_for(noop, 0, 2, 2)
        cold.append(time.perf_counter() - t0)
    print(f"\nper region (noop): inline {timings[1]:.3f} us, 2 threads {timings[2]:.2f} us,"
          f" {oversubscribed} threads {timings[oversubscribed]:.2f} us, 2 threads through ctypes"
          f" {through_ctypes:.2f} us, 2 threads after idle (workers asleep)"
          f" {np.median(cold) * 1e6:.1f} us median ({os.cpu_count()} cpus)")


def test_idle_workers_sleep(pool):
    Record(1000).run(pool, 3)
    assert pool.workers() >= 2
    time.sleep(0.05)                                   # past the spin phase
    cpu0 = time.process_time()
    time.sleep(0.3)
    busy = time.process_time() - cpu0
    assert busy < 0.1, f"idle pool used {busy:.3f} s of CPU in 0.3 s"


def test_two_host_threads_concurrently(pool):
    rounds, errors, paths = 300, [], {"pool": 0, "serial": 0}
    start = threading.Barrier(2)

    def host(n, nthreads):
        try:
            rec = Record(n)
            expected = f_of(np.arange(n, dtype=np.int64))
            start.wait()
            for _ in range(rounds):
                rec.run(pool, nthreads)               # ctypes releases the GIL during the call
                if not (rec.counts == 1).all() or not (rec.out == expected).all():
                    errors.append(f"wrong result n={n} nthreads={nthreads}")
                chunks = rec.chunks()
                if [(b, e) for b, e, _ in chunks] != expected_partition(n, nthreads):
                    errors.append(f"wrong partition n={n} nthreads={nthreads}: {chunks}")
                me = threading.get_ident()
                paths["serial" if all(t == me for *_, t in chunks) else "pool"] += 1
        except Exception as exc:                       # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=host, args=args) for args in ((10_007, 2), (5_003, 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a host thread hung"
    assert errors == []
    print(f"\nconcurrent regions: {paths['pool']} on the pool, {paths['serial']} ran serially "
          "because the pool was busy")


def test_nested_region_runs_inline_without_deadlock(pool):
    n = 10_000
    counts = np.zeros(n, np.int32)
    ctx = np.array([counts.ctypes.data, 2], np.uint64)
    done = threading.Event()

    def outer():
        pool.parallel_for(pool.kernels["nested"], ctx.ctypes.data, n, 3)
        done.set()

    threading.Thread(target=outer, daemon=True).start()
    assert done.wait(timeout=20), "nested parallel_for deadlocked"
    np.testing.assert_array_equal(counts, np.ones(n, np.int32))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_forked_child_starts_its_own_workers(pool):
    Record(10).run(pool, 3)                            # the parent has workers
    assert pool.workers() >= 2
    pid = os.fork()
    if pid == 0:                                       # child: report through the exit status
        status = 1
        try:
            rec = Record(1000)
            rec.run(pool, 3)
            chunks = rec.chunks()
            ok = ((rec.counts == 1).all() and pool.workers() == 2
                  and [(b, e) for b, e, _ in chunks] == expected_partition(1000, 3)
                  and len({t for *_, t in chunks}) == 3)
            pool.shutdown()
            status = 0 if ok and pool.workers() == 0 else 2
        finally:
            os._exit(status)
    assert _wait_child(pid) == 0
    rec = Record(1000)                                 # the parent's pool is unaffected
    rec.run(pool, 3)
    np.testing.assert_array_equal(rec.counts, np.ones(1000, np.int32))


def _wait_child(pid: int) -> int:
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung")
        time.sleep(0.01)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_while_another_thread_holds_the_pool(pool):
    """The child inherits a pool mutex held by a thread it does not have: its regions run
    serially on the calling thread and its shutdown returns instead of waiting forever."""
    flag, entered = np.zeros(1, np.int32), np.zeros(1, np.int64)
    ctx = np.array([flag.ctypes.data, entered.ctypes.data], np.uint64)
    host = threading.Thread(
        target=lambda: pool.parallel_for(pool.kernels["gate"], ctx.ctypes.data, 3, 3))
    host.start()
    try:
        deadline = time.monotonic() + 10
        while entered[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert entered[0] == 3, "the gated region did not start"
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                rec = Record(1000)
                rec.run(pool, 3)
                me = threading.get_ident()
                ok = ((rec.counts == 1).all()
                      and [(b, e) for b, e, _ in rec.chunks()] == expected_partition(1000, 3)
                      and all(t == me for *_, t in rec.chunks()))
                pool.shutdown()
                status = 0 if ok else 2
            finally:
                os._exit(status)
        assert _wait_child(pid) == 0
    finally:
        flag[0] = 1                                    # let the parent's region finish
        host.join(timeout=20)
    assert not host.is_alive()


def test_compute_bound_speedup(pool):
    n, iters = 256, 400_000
    results, timings = {}, {}
    for nthreads in (1, 2):
        out = np.zeros(n, np.float64)
        ctx = np.array([out.ctypes.data, iters], np.uint64)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        pool.parallel_for(pool.kernels["burn"], ctx.ctypes.data, n, nthreads)
        timings[nthreads] = (time.perf_counter() - wall0, time.process_time() - cpu0)
        results[nthreads] = out
    np.testing.assert_array_equal(results[1], results[2])
    (w1, c1), (w2, c2) = timings[1], timings[2]
    print(f"\ncompute-bound: 1 thread {w1 * 1e3:.0f} ms wall / {c1 * 1e3:.0f} ms cpu; "
          f"2 threads {w2 * 1e3:.0f} ms wall / {c2 * 1e3:.0f} ms cpu; "
          f"speedup {w1 / w2:.2f}x, cpu/wall {c2 / w2:.2f}")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to link a shared library")
def test_aot_shared_library_needs_only_libc(pool, tmp_path):
    tm = _target_machine(reloc="pic")
    obj = tmp_path / "pool.o"
    obj.write_bytes(tm.emit_object(_compile(pool.ir_text, tm)))
    lib = tmp_path / "libpool.so"
    subprocess.run(["cc", "-shared", "-pthread", "-o", str(lib), str(obj)], check=True)
    dynamic = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
    needed = {line.split("[")[1].split("]")[0] for line in dynamic.splitlines()
              if "(NEEDED)" in line}
    assert needed <= {"libc.so.6", "libm.so.6", "libpthread.so.0"}, needed

    handle = ctypes.CDLL(str(lib))
    pf = PF(ctypes.cast(handle.graphc_parallel_for, ctypes.c_void_p).value)
    record = ctypes.cast(handle.record, ctypes.c_void_p).value
    rec = Record(12345)
    for nthreads in (1, 2, 4):
        rec.counts[:] = 0
        rec.nlog[0] = 0
        pf(record, rec.ctx.ctypes.data, 12345, nthreads)
        np.testing.assert_array_equal(rec.counts, np.ones(12345, np.int32))
        assert [(b, e) for b, e, _ in rec.chunks()] == expected_partition(12345, nthreads)
    handle.graphc_pool_workers.restype = ctypes.c_int32
    assert handle.graphc_pool_workers() == 3
    handle.graphc_pool_shutdown()
    assert handle.graphc_pool_workers() == 0
    import _ctypes
    _ctypes.dlclose(handle._handle)                    # unloading is safe once shut down
    time.sleep(0.05)                                   # a surviving worker would crash here
