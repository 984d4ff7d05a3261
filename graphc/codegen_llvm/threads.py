"""threads: a persistent CPU thread pool emitted as LLVM IR into the module that uses it.

The pool is generated code, not Python, so that the same module works in-process (JIT) and as
an AOT shared library that depends only on libc (pthread_* live in libc on glibc >= 2.34; link
with -pthread for older ones). Everything it calls is declared in the module: pthread_create /
pthread_join, pthread_mutex_*, pthread_cond_*, posix_memalign, malloc, free, getpid and
sched_yield.

Public entry points (external linkage, C ABI):

    void graphc_parallel_for(void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx,
                             int64_t n, int32_t nthreads);
    void graphc_pool_shutdown(void);
    int32_t graphc_pool_workers(void);      /* workers alive now (for tests and diagnostics) */

graphc_parallel_for splits [0, n) into k = min(max(nthreads, 1), n, MAX_THREADS) contiguous
chunks, the static partition

    q, r = n / k, n % k;   begin(c) = c * q + min(c, r);   end(c) = begin(c + 1)   (c < k)

(the first r chunks hold one element more), calls fn(ctx, begin(c), end(c)) once per chunk and
returns when all calls have returned. Chunk 0 runs on the calling thread, chunk c >= 1 on pool
worker c - 1. fn is not called when n <= 0; when k == 1 it is called once, inline, without
touching any pool state. The partition depends only on (n, nthreads), never on the pool's state,
so a kernel that keeps per-chunk partial results (reductions) gives bitwise-identical results
whichever of the paths below ran it.

Concurrency contract: parallel regions are serialized by one pool mutex, taken with TRYLOCK. A
region that finds the pool busy (another host thread is running a region, or fn itself calls
graphc_parallel_for: a nested region) does not wait: it runs its k chunks one after another on
its own calling thread, in chunk order. So any number of host threads may call
graphc_parallel_for concurrently; nothing deadlocks and nothing blocks on another region, and
when the pool is busy the cores are usually busy too, so little is lost. Chunks whose worker
could not be created (pthread_create failed) also run on the calling thread, after chunk 0.

Workers are created lazily, under the pool mutex, when a region needs more than exist (up to
MAX_THREADS - 1), and persist until graphc_pool_shutdown joins and frees them. Shutdown takes
the pool mutex with a blocking lock (it waits for a running region to finish), is idempotent,
and must not be called from inside fn. Afterwards no thread runs code of the module, so a JIT
engine or a shared library holding it may be released; the next region starts new workers (so
to unload, make sure no host thread still calls in: a region that starts after shutdown
returned, or that raced with it, may start workers again).
Whoever owns the code must call graphc_pool_shutdown before freeing it: idle workers spin in,
or sleep with return addresses into, the module's code.

fork(): the pid that started the workers is recorded; a region (or shutdown) that finds a
different pid is in a forked child where the workers do not exist, so it forgets them (frees
their memory, re-initializes the completion mutex/condvar) and starts fresh ones. A child forked
while another thread of the parent held the pool mutex sees that mutex locked forever, so its
regions all take the serial path: correct, but single-threaded; graphc_pool_shutdown there
returns at once (there is nothing of ours to join).

Memory layout assumptions (64-bit targets): pthread_mutex_t and pthread_cond_t live in byte
arrays of MUTEX_BYTES / COND_BYTES = 128 bytes each, 64-byte aligned as globals and 128-byte
aligned inside a worker slot (glibc x86-64: 40 and 48 bytes; glibc aarch64: 48 and 48; musl:
40 and 48; macOS: 64 and 48). pthread_t is taken to be 8 bytes and passed to pthread_join as an
i64 (an unsigned long on glibc and musl, a pointer on macOS). All are initialized with
pthread_*_init at first use; the pool mutex, completion mutex and completion condvar are never
destroyed (they own no resources on glibc or musl), so they stay valid for host threads that
call in while or after the pool shuts down.

Protocol (who waits on what):

  * Dispatch. Each worker has a cache-line-aligned slot: a generation counter `gen`, a
    `sleeping` flag, the task (fn, ctx, begin, end), a `quit` flag, its pthread_t, and a private
    mutex + condvar. The region's caller writes the task with plain stores, then bumps `gen`
    with a seq_cst store (release: the task and everything the caller wrote before the region
    become visible to the worker's acquire load of `gen`).
  * A worker waiting for work spins on `gen` (WORKER_SPIN pause iterations, about 150 us on the
    project's machines, with a sched_yield every YIELD_EVERY of them so that a thread it shares
    a core with can run) so that back-to-back regions cost no kernel round trip; then it sleeps:
    under its mutex it sets `sleeping` (seq_cst), re-checks `gen` (seq_cst) and waits on its
    condvar while `gen` is unchanged. After bumping `gen`, the caller loads `sleeping`
    (seq_cst) and, only if set, locks the worker's mutex and signals. Store-then-load on both
    sides with seq_cst means at least one side sees the other's store: either the worker sees
    the new `gen` and does not wait, or the caller sees `sleeping` and signals; the worker
    holds its mutex from setting `sleeping` until cond_wait releases it, so the signal cannot
    fall between its check and its wait. Only the workers a region uses are woken.
  * Completion. Before publishing, the caller stores the number of dispatched workers into
    `pending`. Each worker, after fn returns, does a seq_cst fetch-sub on `pending` (release:
    fn's writes become visible to the caller's acquire load of `pending` == 0; fetch-subs
    continue the release sequence, so all workers' writes are covered). The caller, after its
    own chunk, spins on `pending` (CALLER_SPIN iterations), then sleeps by the same pattern:
    under the completion mutex it sets `caller_sleeping` (seq_cst), re-checks `pending`, and
    waits on the completion condvar; the worker whose fetch-sub returned 1 loads
    `caller_sleeping` (seq_cst) and, if set, locks the completion mutex and signals.
  * A worker only reads its task between seeing a new `gen` and its fetch-sub, and the next
    region is only published after `pending` reached 0, so the caller never overwrites a task
    that is still being read. A stale flag only causes a spurious signal; every wait re-checks
    its predicate in a loop.
  * Shutdown sets `quit`, bumps `gen`, always signals (under the worker's mutex), then joins.

Cost, measured on the project's 2-core VMs when otherwise idle (tests/codegen_llvm/
test_threads.py prints it): a 2-thread region with an empty fn takes about 0.5-0.7 us while the
workers spin (an inline call: a few ns; a ctypes call adds 1-2 us); 3 threads on 2 cores about
2-3 us (without the sched_yield: about 200 us); a region after the workers went to sleep about
25-100 us (a futex wake-up of an idle vCPU). A compute-bound 2-thread region runs 1.99x faster
than 1 thread with the same CPU time.
"""

from __future__ import annotations

import llvmlite.ir as ir

MUTEX_BYTES = 128
COND_BYTES = 128
GLOBAL_ALIGN = 64
SLOT_ALIGN = 128
MAX_THREADS = 1024
WORKER_SPIN = 1 << 13
CALLER_SPIN = 1 << 13
YIELD_EVERY = 64          # a power of two, or 0 for never

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VOID = ir.VoidType()
_PTR = ir.PointerType()

KERNEL_TYPE = ir.FunctionType(_VOID, [_PTR, _I64, _I64])
"""The type of a parallel-for body: void fn(ptr ctx, i64 begin, i64 end)."""

PARALLEL_FOR_TYPE = ir.FunctionType(_VOID, [ir.PointerType(KERNEL_TYPE), _PTR, _I64, _I32])
"""void graphc_parallel_for(ptr fn, ptr ctx, i64 n, i32 nthreads). The fn parameter is typed so
that llvmlite can emit the indirect call; in the textual IR it is a plain `ptr`."""

# One worker's slot, allocated with posix_memalign(SLOT_ALIGN). Packed, with every field at an
# offset that is a multiple of its size, so the layout is the same under any 64-bit data layout.
# The fields the caller and the worker exchange sit in the first cache line, padding keeps the
# next slot's off it, and the worker's private mutex and condvar follow, 128-byte aligned.
SLOT_TYPE = ir.LiteralStructType([
    _PTR,                               # 0   fn
    _PTR,                               # 8   ctx
    _I64,                               # 16  begin
    _I64,                               # 24  end
    _I64,                               # 32  tid (pthread_t)
    _I32,                               # 40  gen: bumped by the caller to hand over a task
    _I32,                               # 44  sleeping: the worker is (about to be) in cond_wait
    _I32,                               # 48  quit: exit instead of running the task
    ir.ArrayType(_I8, 76),              # 52  padding to 128
    ir.ArrayType(_I8, MUTEX_BYTES),     # 128 mutex
    ir.ArrayType(_I8, COND_BYTES),      # 256 cond
], packed=True)
_FN, _CTX, _BEGIN, _END, _TID, _GEN, _SLEEPING, _QUIT, _MUTEX, _COND = 0, 1, 2, 3, 4, 5, 6, 7, 9, 10
SLOT_BYTES = 128 + MUTEX_BYTES + COND_BYTES

_PUBLIC = ("graphc_parallel_for", "graphc_pool_shutdown", "graphc_pool_workers")

_LIBC = {
    "pthread_mutex_init": (_I32, [_PTR, _PTR]),
    "pthread_mutex_lock": (_I32, [_PTR]),
    "pthread_mutex_trylock": (_I32, [_PTR]),
    "pthread_mutex_unlock": (_I32, [_PTR]),
    "pthread_mutex_destroy": (_I32, [_PTR]),
    "pthread_cond_init": (_I32, [_PTR, _PTR]),
    "pthread_cond_wait": (_I32, [_PTR, _PTR]),
    "pthread_cond_signal": (_I32, [_PTR]),
    "pthread_cond_destroy": (_I32, [_PTR]),
    "pthread_create": (_I32, [_PTR, _PTR, _PTR, _PTR]),
    "pthread_join": (_I32, [_I64, _PTR]),
    "posix_memalign": (_I32, [_PTR, _I64, _I64]),
    "malloc": (_PTR, [_I64]),
    "free": (_VOID, [_PTR]),
    "getpid": (_I32, []),
    "sched_yield": (_I32, []),
}


def define_parallel_runtime(module: ir.Module) -> dict[str, ir.Function]:
    """Emit the pool into `module` (once; later calls return the same functions).

    Returns {"graphc_parallel_for", "graphc_pool_shutdown", "graphc_pool_workers"} -> Function.
    The module's triple picks the spin-wait hint (x86 `pause`, aarch64 `yield`); an unset
    triple means the host's. libc functions already declared in the module are reused.
    """
    found = [module.globals.get(name) for name in _PUBLIC]
    if all(f is not None for f in found):
        return dict(zip(_PUBLIC, found))
    if any(f is not None for f in found):
        raise ValueError("module already defines part of the graphc parallel runtime")
    return _Emitter(module).emit()


# --- IR helpers -------------------------------------------------------------------------------
def _c32(v: int) -> ir.Constant:
    return ir.Constant(_I32, v)


def _c64(v: int) -> ir.Constant:
    return ir.Constant(_I64, v)


def _store_atomic(b: ir.IRBuilder, value, ptr, ordering: str) -> None:
    """An atomic store, emitted as `atomicrmw xchg` with its result unused: llvmlite's
    IRBuilder.store_atomic rejects opaque pointers. On x86 a seq_cst store is an xchg anyway;
    the weaker stores done this way are all off the hot path."""
    b.atomic_rmw("xchg", ptr, value, ordering)


def _load_atomic(b: ir.IRBuilder, ptr, typ: ir.IntType, ordering: str, name: str = ""):
    return b.load_atomic(ptr, ordering, typ.width // 8, name=name, typ=typ)


def _for_range(b: ir.IRBuilder, start, stop, body, name: str) -> None:
    """Emit `for (i = start; i < stop; ++i) body(i)` (signed compare); leaves b after it."""
    pre = b.block
    head = b.append_basic_block(name + ".head")
    loop = b.append_basic_block(name + ".body")
    done = b.append_basic_block(name + ".done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(start.type, name=name + ".i")
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), loop, done)
    b.position_at_end(loop)
    body(i)
    i.add_incoming(b.add(i, ir.Constant(start.type, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)


def _spin_hint_name(module: ir.Module) -> tuple[str, list] | None:
    triple = module.triple
    if not triple or triple.startswith("unknown"):
        import llvmlite.binding as llvm
        triple = llvm.get_process_triple()
    arch = triple.split("-", 1)[0]
    if arch in ("x86_64", "amd64", "i386", "i486", "i586", "i686"):
        return "llvm.x86.sse2.pause", []
    if arch in ("aarch64", "arm64"):
        return "llvm.aarch64.hint", [_c32(1)]          # hint #1 is YIELD
    return None


class _Emitter:
    def __init__(self, module: ir.Module):
        self.m = module
        self.libc = {name: self._declare(name, ir.FunctionType(ret, args))
                     for name, (ret, args) in _LIBC.items()}
        hint = _spin_hint_name(module)
        if hint is None:
            self.hint = None
        else:
            hname, hargs = hint
            fn = self._declare(hname, ir.FunctionType(_VOID, [a.type for a in hargs]))
            self.hint = (fn, hargs)
        g = self._global
        self.init_state = g("graphc_pool.init_state", _I32)      # 0 none, 1 running, 2 done
        self.lock = g("graphc_pool.lock", ir.ArrayType(_I8, MUTEX_BYTES))
        self.done_mutex = g("graphc_pool.done_mutex", ir.ArrayType(_I8, MUTEX_BYTES))
        self.done_cond = g("graphc_pool.done_cond", ir.ArrayType(_I8, COND_BYTES))
        self.pending = g("graphc_pool.pending", _I32, align=SLOT_ALIGN)
        self.caller_sleeping = g("graphc_pool.caller_sleeping", _I32, align=SLOT_ALIGN)
        self.nworkers = g("graphc_pool.nworkers", _I32)           # written under the lock
        self.capacity = g("graphc_pool.capacity", _I32)           # of the slots array
        self.slots = g("graphc_pool.slots", _PTR)                 # malloc'd array of slot ptrs
        self.pid = g("graphc_pool.pid", _I32)     # process owning the workers; set under lock

    # declarations and globals
    def _declare(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        existing = self.m.globals.get(name)
        if existing is not None:
            if not isinstance(existing, ir.Function) or existing.function_type != fnty:
                raise ValueError(f"module declares {name} with another type than {fnty}")
            return existing
        return ir.Function(self.m, fnty, name)

    def _global(self, name: str, typ: ir.Type, align: int = GLOBAL_ALIGN) -> ir.GlobalVariable:
        var = ir.GlobalVariable(self.m, typ, name)
        var.linkage = "internal"
        var.initializer = ir.Constant(typ, None)
        var.align = align
        return var

    def _function(self, name: str, fnty: ir.FunctionType, internal: bool = True):
        fn = ir.Function(self.m, fnty, name)
        if internal:
            fn.linkage = "internal"
        fn.attributes.add("nounwind")
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def _call(self, b: ir.IRBuilder, name: str, *args):
        return b.call(self.libc[name], list(args))

    def _backoff(self, b: ir.IRBuilder, k) -> None:
        """One spin-wait step: a pause hint, and every YIELD_EVERY-th step sched_yield, so that
        when threads outnumber free cores the thread being waited for gets to run."""
        if self.hint is not None:
            b.call(self.hint[0], self.hint[1])
        if YIELD_EVERY:
            with b.if_then(b.icmp_signed("==", b.and_(k, _c32(YIELD_EVERY - 1)),
                                         _c32(YIELD_EVERY - 1))):
                self._call(b, "sched_yield")

    def _field(self, b: ir.IRBuilder, slot, index: int, name: str = ""):
        return b.gep(slot, [_c32(0), _c32(index)], inbounds=True, name=name, source_etype=SLOT_TYPE)

    def _array_ptr(self, b: ir.IRBuilder, var):
        """Address of a byte-array global (a mutex or condvar) as a plain ptr."""
        return b.gep(var, [_c32(0), _c32(0)], inbounds=True, source_etype=var.value_type)

    def _slot_at(self, b: ir.IRBuilder, slots, index):
        p = b.gep(slots, [index], inbounds=True, source_etype=_PTR)
        return b.load(p, typ=_PTR, name="slot")

    @staticmethod
    def _chunk_begin(b: ir.IRBuilder, c, q, r):
        """begin(c) = c * q + min(c, r): the static partition documented above."""
        lo = b.select(b.icmp_signed("<", c, r), c, r)
        return b.add(b.mul(c, q), lo, name="begin")

    # emitted functions
    def emit(self) -> dict[str, ir.Function]:
        self.ensure_init = self._emit_ensure_init()
        self.worker = self._emit_worker()
        self.check_fork = self._emit_check_fork()
        self.grow = self._emit_grow()
        funcs = {
            "graphc_parallel_for": self._emit_parallel_for(),
            "graphc_pool_shutdown": self._emit_shutdown(),
            "graphc_pool_workers": self._emit_workers(),
        }
        return funcs

    def _emit_ensure_init(self) -> ir.Function:
        """One-time init of the global mutexes/condvar. init_state: 0 -> 1 by the one thread
        whose compare-exchange wins, which initializes and then stores 2 (release); the others
        yield until they load 2 (acquire). Only the first calls ever get here."""
        fn, b = self._function("graphc_pool.ensure_init", ir.FunctionType(_VOID, []))
        ready = b.append_basic_block("ready")
        racing = b.append_basic_block("racing")
        won = b.append_basic_block("won")
        wait = b.append_basic_block("wait")
        state = _load_atomic(b, self.init_state, _I32, "acquire")
        b.cbranch(b.icmp_signed("==", state, _c32(2)), ready, racing)
        b.position_at_end(racing)
        result = b.cmpxchg(self.init_state, _c32(0), _c32(1), "acq_rel", "acquire")
        b.cbranch(b.extract_value(result, 1), won, wait)
        b.position_at_end(won)
        null = ir.Constant(_PTR, None)
        self._call(b, "pthread_mutex_init", self._array_ptr(b, self.lock), null)
        self._call(b, "pthread_mutex_init", self._array_ptr(b, self.done_mutex), null)
        self._call(b, "pthread_cond_init", self._array_ptr(b, self.done_cond), null)
        _store_atomic(b, self._call(b, "getpid"), self.pid, "monotonic")
        _store_atomic(b, _c32(2), self.init_state, "release")
        b.branch(ready)
        b.position_at_end(wait)
        self._call(b, "sched_yield")
        state = _load_atomic(b, self.init_state, _I32, "acquire")
        b.cbranch(b.icmp_signed("==", state, _c32(2)), ready, wait)
        b.position_at_end(ready)
        b.ret_void()
        return fn

    def _emit_worker(self) -> ir.Function:
        """void *worker(slot): wait for `gen` to change (spin, then sleep on the slot's condvar),
        run the task, count it done in `pending`, wake the caller if it sleeps; repeat until a
        task with `quit` set arrives."""
        fn, b = self._function("graphc_pool.worker", ir.FunctionType(_PTR, [_PTR]))
        slot = fn.args[0]
        gen = self._field(b, slot, _GEN, "gen.p")
        sleeping = self._field(b, slot, _SLEEPING, "sleeping.p")
        mutex = self._field(b, slot, _MUTEX, "mutex")
        cond = self._field(b, slot, _COND, "cond")
        seen = b.alloca(_I32, name="seen")          # the last generation this worker ran
        spins = b.alloca(_I32, name="spins")
        b.store(_c32(0), seen)
        blocks = {n: b.append_basic_block(n) for n in (
            "wait", "spin", "spin.more", "spin.pause", "sleep", "sleep.check", "sleep.wait",
            "sleep.done", "got", "run", "last", "wake.caller", "quit")}
        b.branch(blocks["wait"])

        b.position_at_end(blocks["wait"])
        b.store(_c32(0), spins)
        b.branch(blocks["spin"])

        # Spin: a new task shows up as gen != seen (acquire pairs with the caller's publish).
        b.position_at_end(blocks["spin"])
        g = _load_atomic(b, gen, _I32, "acquire", "g")
        b.cbranch(b.icmp_signed("!=", g, b.load(seen, typ=_I32)), blocks["got"],
                  blocks["spin.more"])
        b.position_at_end(blocks["spin.more"])
        k = b.load(spins, typ=_I32)
        b.cbranch(b.icmp_signed("<", k, _c32(WORKER_SPIN)), blocks["spin.pause"],
                  blocks["sleep"])
        b.position_at_end(blocks["spin.pause"])
        self._backoff(b, k)
        b.store(b.add(k, _c32(1)), spins)
        b.branch(blocks["spin"])

        # Sleep: announce `sleeping` before the final check of gen (see the module docstring).
        b.position_at_end(blocks["sleep"])
        self._call(b, "pthread_mutex_lock", mutex)
        _store_atomic(b, _c32(1), sleeping, "seq_cst")
        b.branch(blocks["sleep.check"])
        b.position_at_end(blocks["sleep.check"])
        g2 = _load_atomic(b, gen, _I32, "seq_cst", "g2")
        b.cbranch(b.icmp_signed("==", g2, b.load(seen, typ=_I32)), blocks["sleep.wait"],
                  blocks["sleep.done"])
        b.position_at_end(blocks["sleep.wait"])
        self._call(b, "pthread_cond_wait", cond, mutex)
        b.branch(blocks["sleep.check"])
        b.position_at_end(blocks["sleep.done"])
        _store_atomic(b, _c32(0), sleeping, "monotonic")
        self._call(b, "pthread_mutex_unlock", mutex)
        b.branch(blocks["got"])

        # A task: gen cannot move again before this worker's fetch-sub below, so re-reading it
        # here gives the generation just seen.
        b.position_at_end(blocks["got"])
        b.store(_load_atomic(b, gen, _I32, "acquire"), seen)
        quit_ = b.load(self._field(b, slot, _QUIT), typ=_I32, name="quit")
        b.cbranch(b.icmp_signed("!=", quit_, _c32(0)), blocks["quit"], blocks["run"])

        b.position_at_end(blocks["run"])
        body = b.load(self._field(b, slot, _FN), typ=ir.PointerType(KERNEL_TYPE), name="fn")
        ctx = b.load(self._field(b, slot, _CTX), typ=_PTR, name="ctx")
        begin = b.load(self._field(b, slot, _BEGIN), typ=_I64, name="begin")
        end = b.load(self._field(b, slot, _END), typ=_I64, name="end")
        b.call(body, [ctx, begin, end])
        # Done: release fn's writes; the worker that brings pending to 0 wakes a sleeping caller.
        old = b.atomic_rmw("sub", self.pending, _c32(1), "seq_cst", name="old")
        b.cbranch(b.icmp_signed("==", old, _c32(1)), blocks["last"], blocks["wait"])
        b.position_at_end(blocks["last"])
        asleep = _load_atomic(b, self.caller_sleeping, _I32, "seq_cst")
        b.cbranch(b.icmp_signed("!=", asleep, _c32(0)), blocks["wake.caller"], blocks["wait"])
        b.position_at_end(blocks["wake.caller"])
        self._call(b, "pthread_mutex_lock", self._array_ptr(b, self.done_mutex))
        self._call(b, "pthread_cond_signal", self._array_ptr(b, self.done_cond))
        self._call(b, "pthread_mutex_unlock", self._array_ptr(b, self.done_mutex))
        b.branch(blocks["wait"])

        b.position_at_end(blocks["quit"])
        b.ret(ir.Constant(_PTR, None))
        return fn

    def _emit_check_fork(self) -> ir.Function:
        """Called with the pool mutex held. In a fork() child the workers recorded in the
        globals do not exist: free their slots (no thread uses that memory here), forget them,
        and re-initialize the completion mutex/condvar, which a vanished worker may have held."""
        fn, b = self._function("graphc_pool.check_fork", ir.FunctionType(_VOID, []))
        forked = b.append_basic_block("forked")
        same = b.append_basic_block("same")
        pid = self._call(b, "getpid")
        owner = _load_atomic(b, self.pid, _I32, "monotonic")
        b.cbranch(b.icmp_signed("==", pid, owner), same, forked)
        b.position_at_end(forked)
        slots = b.load(self.slots, typ=_PTR)
        nw = b.load(self.nworkers, typ=_I32)
        _for_range(b, _c32(0), nw,
                   lambda i: self._call(b, "free", self._slot_at(b, slots, i)), "forget")
        self._call(b, "free", slots)
        b.store(ir.Constant(_PTR, None), self.slots)
        b.store(_c32(0), self.capacity)
        _store_atomic(b, _c32(0), self.nworkers, "monotonic")
        null = ir.Constant(_PTR, None)
        self._call(b, "pthread_mutex_init", self._array_ptr(b, self.done_mutex), null)
        self._call(b, "pthread_cond_init", self._array_ptr(b, self.done_cond), null)
        b.store(_c32(0), self.pending)
        b.store(_c32(0), self.caller_sleeping)
        _store_atomic(b, pid, self.pid, "monotonic")
        b.branch(same)
        b.position_at_end(same)
        b.ret_void()
        return fn

    def _emit_grow(self) -> ir.Function:
        """i32 grow(i32 need), called with the pool mutex held: start workers until `need`
        exist or creation fails; returns how many exist. Each slot is initialized before
        pthread_create, which orders those stores before the worker's first instruction."""
        fn, b = self._function("graphc_pool.grow", ir.FunctionType(_I32, [_I32]))
        need = fn.args[0]
        tmp = b.alloca(_PTR, name="tmp")
        enough = b.append_basic_block("enough")
        check_cap = b.append_basic_block("check.cap")
        realloc = b.append_basic_block("realloc")
        copy = b.append_basic_block("copy")
        create = b.append_basic_block("create")
        create_body = b.append_basic_block("create.body")
        allocated = b.append_basic_block("allocated")
        started = b.append_basic_block("started")
        failed = b.append_basic_block("failed")
        done = b.append_basic_block("done")

        nw = b.load(self.nworkers, typ=_I32)
        b.cbranch(b.icmp_signed(">=", nw, need), enough, check_cap)
        b.position_at_end(enough)
        b.ret(nw)

        # The slots array only grows; workers never read it (each gets its slot pointer).
        b.position_at_end(check_cap)
        cap = b.load(self.capacity, typ=_I32)
        b.cbranch(b.icmp_signed(">", need, cap), realloc, create)
        b.position_at_end(realloc)
        twice = b.mul(cap, _c32(2))
        newcap = b.select(b.icmp_signed(">", need, twice), need, twice, name="newcap")
        new = self._call(b, "malloc", b.mul(b.zext(newcap, _I64), _c64(8)))
        b.cbranch(b.icmp_unsigned("==", new, ir.Constant(_PTR, None)), create, copy)
        b.position_at_end(copy)
        old = b.load(self.slots, typ=_PTR)

        def move(i):
            b.store(self._slot_at(b, old, i), b.gep(new, [i], inbounds=True, source_etype=_PTR))
        _for_range(b, _c32(0), nw, move, "move")
        self._call(b, "free", old)
        b.store(new, self.slots)
        b.store(newcap, self.capacity)
        b.branch(create)

        b.position_at_end(create)
        i = b.load(self.nworkers, typ=_I32, name="i")
        more = b.and_(b.icmp_signed("<", i, need),
                      b.icmp_signed("<", i, b.load(self.capacity, typ=_I32)))
        b.cbranch(more, create_body, done)
        b.position_at_end(create_body)
        rc = self._call(b, "posix_memalign", tmp, _c64(SLOT_ALIGN), _c64(SLOT_BYTES))
        b.cbranch(b.icmp_signed("==", rc, _c32(0)), allocated, done)
        b.position_at_end(allocated)
        slot = b.load(tmp, typ=_PTR, name="slot")
        for index, typ in ((_GEN, _I32), (_SLEEPING, _I32), (_QUIT, _I32), (_FN, _PTR),
                           (_CTX, _PTR), (_BEGIN, _I64), (_END, _I64), (_TID, _I64)):
            b.store(ir.Constant(typ, None), self._field(b, slot, index))
        mutex = self._field(b, slot, _MUTEX)
        cond = self._field(b, slot, _COND)
        null = ir.Constant(_PTR, None)
        self._call(b, "pthread_mutex_init", mutex, null)
        self._call(b, "pthread_cond_init", cond, null)
        rc = self._call(b, "pthread_create", self._field(b, slot, _TID), null, self.worker, slot)
        b.cbranch(b.icmp_signed("==", rc, _c32(0)), started, failed)
        b.position_at_end(started)
        slots = b.load(self.slots, typ=_PTR)
        b.store(slot, b.gep(slots, [i], inbounds=True, source_etype=_PTR))
        _store_atomic(b, b.add(i, _c32(1)), self.nworkers, "monotonic")
        b.branch(create)
        b.position_at_end(failed)
        self._call(b, "pthread_mutex_destroy", mutex)
        self._call(b, "pthread_cond_destroy", cond)
        self._call(b, "free", slot)
        b.branch(done)
        b.position_at_end(done)
        b.ret(b.load(self.nworkers, typ=_I32))
        return fn

    def _emit_parallel_for(self) -> ir.Function:
        fn, b = self._function("graphc_parallel_for", PARALLEL_FOR_TYPE, internal=False)
        body, ctx, n, nthreads = fn.args
        body.name, ctx.name, n.name, nthreads.name = "fn", "ctx", "n", "nthreads"
        names = ("empty", "some", "inline", "split", "init", "ready", "serial", "locked",
                 "publish", "wake", "next", "own", "spin", "spin.more", "spin.pause", "sleep",
                 "sleep.check", "sleep.wait", "sleep.done", "finished")
        blk = {name: b.append_basic_block(name) for name in names}
        b.cbranch(b.icmp_signed("<=", n, _c64(0)), blk["empty"], blk["some"])
        b.position_at_end(blk["empty"])
        b.ret_void()

        # k = min(max(nthreads, 1), MAX_THREADS, n)
        b.position_at_end(blk["some"])
        nt = b.select(b.icmp_signed("<", nthreads, _c32(1)), _c32(1), nthreads)
        nt = b.select(b.icmp_signed(">", nt, _c32(MAX_THREADS)), _c32(MAX_THREADS), nt)
        nt = b.sext(nt, _I64)
        k = b.select(b.icmp_signed("<", n, nt), n, nt, name="k")
        b.cbranch(b.icmp_signed("<=", k, _c64(1)), blk["inline"], blk["split"])
        b.position_at_end(blk["inline"])
        b.call(body, [ctx, _c64(0), n])
        b.ret_void()

        b.position_at_end(blk["split"])
        q = b.sdiv(n, k, name="q")
        r = b.srem(n, k, name="r")
        state = _load_atomic(b, self.init_state, _I32, "acquire")
        b.cbranch(b.icmp_signed("==", state, _c32(2)), blk["ready"], blk["init"])
        b.position_at_end(blk["init"])
        b.call(self.ensure_init, [])
        b.branch(blk["ready"])

        # Busy pool (another region, or a nested call): run all k chunks here, in order.
        b.position_at_end(blk["ready"])
        lock = self._array_ptr(b, self.lock)
        busy = self._call(b, "pthread_mutex_trylock", lock)
        b.cbranch(b.icmp_signed("!=", busy, _c32(0)), blk["serial"], blk["locked"])
        b.position_at_end(blk["serial"])

        def run_chunk(c):
            b.call(body, [ctx, self._chunk_begin(b, c, q, r),
                          self._chunk_begin(b, b.add(c, _c64(1)), q, r)])
        _for_range(b, _c64(0), k, run_chunk, "serial")
        b.ret_void()

        # Workers 0 .. w-1 take chunks 1 .. w; chunks w+1 .. k-1 (no worker) run here.
        b.position_at_end(blk["locked"])
        b.call(self.check_fork, [])
        have = b.call(self.grow, [b.trunc(b.sub(k, _c64(1)), _I32)])
        w = b.select(b.icmp_signed("<", b.sext(have, _I64), b.sub(k, _c64(1))),
                     b.sext(have, _I64), b.sub(k, _c64(1)), name="w")
        b.store(b.trunc(w, _I32), self.pending)   # ordered before the releases of gen below
        slots = b.load(self.slots, typ=_PTR, name="slots")
        b.branch(blk["publish"])
        b.position_at_end(blk["publish"])
        c = b.phi(_I64, name="c")
        c.add_incoming(_c64(1), blk["locked"])
        b.cbranch(b.icmp_signed("<=", c, w), blk["wake"], blk["own"])
        b.position_at_end(blk["wake"])
        slot = self._slot_at(b, slots, b.sub(c, _c64(1)))
        b.store(body, self._field(b, slot, _FN))
        b.store(ctx, self._field(b, slot, _CTX))
        b.store(self._chunk_begin(b, c, q, r), self._field(b, slot, _BEGIN))
        b.store(self._chunk_begin(b, b.add(c, _c64(1)), q, r), self._field(b, slot, _END))
        gen = self._field(b, slot, _GEN)
        g = b.load(gen, typ=_I32)                 # only this (lock-holding) thread writes gen
        _store_atomic(b, b.add(g, _c32(1)), gen, "seq_cst")
        asleep = _load_atomic(b, self._field(b, slot, _SLEEPING), _I32, "seq_cst")
        signal = b.append_basic_block("signal")
        b.cbranch(b.icmp_signed("!=", asleep, _c32(0)), signal, blk["next"])
        b.position_at_end(signal)
        mutex = self._field(b, slot, _MUTEX)
        self._call(b, "pthread_mutex_lock", mutex)
        self._call(b, "pthread_cond_signal", self._field(b, slot, _COND))
        self._call(b, "pthread_mutex_unlock", mutex)
        b.branch(blk["next"])
        b.position_at_end(blk["next"])
        c.add_incoming(b.add(c, _c64(1)), blk["next"])
        b.branch(blk["publish"])

        b.position_at_end(blk["own"])
        b.call(body, [ctx, _c64(0), self._chunk_begin(b, _c64(1), q, r)])
        _for_range(b, b.add(w, _c64(1)), k, run_chunk, "leftover")

        # Wait for pending == 0: spin, then sleep on the completion condvar (protocol above).
        pre = b.block
        b.branch(blk["spin"])
        b.position_at_end(blk["spin"])
        spins = b.phi(_I32, name="spins")
        spins.add_incoming(_c32(0), pre)
        left = _load_atomic(b, self.pending, _I32, "acquire", "left")
        b.cbranch(b.icmp_signed("==", left, _c32(0)), blk["finished"], blk["spin.more"])
        b.position_at_end(blk["spin.more"])
        b.cbranch(b.icmp_signed("<", spins, _c32(CALLER_SPIN)), blk["spin.pause"], blk["sleep"])
        b.position_at_end(blk["spin.pause"])
        self._backoff(b, spins)
        spins.add_incoming(b.add(spins, _c32(1)), b.block)
        b.branch(blk["spin"])

        b.position_at_end(blk["sleep"])
        done_mutex = self._array_ptr(b, self.done_mutex)
        self._call(b, "pthread_mutex_lock", done_mutex)
        _store_atomic(b, _c32(1), self.caller_sleeping, "seq_cst")
        b.branch(blk["sleep.check"])
        b.position_at_end(blk["sleep.check"])
        left = _load_atomic(b, self.pending, _I32, "seq_cst", "left")
        b.cbranch(b.icmp_signed("!=", left, _c32(0)), blk["sleep.wait"], blk["sleep.done"])
        b.position_at_end(blk["sleep.wait"])
        self._call(b, "pthread_cond_wait", self._array_ptr(b, self.done_cond), done_mutex)
        b.branch(blk["sleep.check"])
        b.position_at_end(blk["sleep.done"])
        _store_atomic(b, _c32(0), self.caller_sleeping, "monotonic")
        self._call(b, "pthread_mutex_unlock", done_mutex)
        b.branch(blk["finished"])

        b.position_at_end(blk["finished"])
        self._call(b, "pthread_mutex_unlock", lock)
        b.ret_void()
        return fn

    def _emit_shutdown(self) -> ir.Function:
        """Wait for a running region (blocking lock), tell every worker to quit, join them,
        free their slots and the slots array. Idempotent; not to be called from inside fn.

        Exception: if the lock is taken and the recorded pid is not ours, this is a fork()
        child whose pool mutex was held by a parent thread that does not exist here (pid is
        only written under the lock, so nobody in this process has taken it yet): no worker of
        ours exists, and waiting would be forever, so return."""
        fn, b = self._function("graphc_pool_shutdown", ir.FunctionType(_VOID, []),
                               internal=False)
        init = b.append_basic_block("init")
        ready = b.append_basic_block("ready")
        state = _load_atomic(b, self.init_state, _I32, "acquire")
        b.cbranch(b.icmp_signed("==", state, _c32(2)), ready, init)
        b.position_at_end(init)
        b.call(self.ensure_init, [])
        b.branch(ready)
        b.position_at_end(ready)
        lock = self._array_ptr(b, self.lock)
        busy = self._call(b, "pthread_mutex_trylock", lock)
        contended = b.append_basic_block("contended")
        stuck = b.append_basic_block("stuck")
        wait = b.append_basic_block("wait")
        locked = b.append_basic_block("locked")
        b.cbranch(b.icmp_signed("==", busy, _c32(0)), locked, contended)
        b.position_at_end(contended)
        owner = _load_atomic(b, self.pid, _I32, "monotonic")
        b.cbranch(b.icmp_signed("!=", self._call(b, "getpid"), owner), stuck, wait)
        b.position_at_end(stuck)
        b.ret_void()
        b.position_at_end(wait)
        self._call(b, "pthread_mutex_lock", lock)
        b.branch(locked)
        b.position_at_end(locked)
        b.call(self.check_fork, [])
        nw = b.load(self.nworkers, typ=_I32, name="nw")
        slots = b.load(self.slots, typ=_PTR, name="slots")

        def tell(i):
            slot = self._slot_at(b, slots, i)
            b.store(_c32(1), self._field(b, slot, _QUIT))
            gen = self._field(b, slot, _GEN)
            _store_atomic(b, b.add(b.load(gen, typ=_I32), _c32(1)), gen, "seq_cst")
            mutex = self._field(b, slot, _MUTEX)
            self._call(b, "pthread_mutex_lock", mutex)
            self._call(b, "pthread_cond_signal", self._field(b, slot, _COND))
            self._call(b, "pthread_mutex_unlock", mutex)

        def join(i):
            slot = self._slot_at(b, slots, i)
            tid = b.load(self._field(b, slot, _TID), typ=_I64, name="tid")
            self._call(b, "pthread_join", tid, ir.Constant(_PTR, None))
            self._call(b, "pthread_mutex_destroy", self._field(b, slot, _MUTEX))
            self._call(b, "pthread_cond_destroy", self._field(b, slot, _COND))
            self._call(b, "free", slot)

        _for_range(b, _c32(0), nw, tell, "tell")
        _for_range(b, _c32(0), nw, join, "join")
        self._call(b, "free", slots)
        b.store(ir.Constant(_PTR, None), self.slots)
        b.store(_c32(0), self.capacity)
        _store_atomic(b, _c32(0), self.nworkers, "monotonic")
        self._call(b, "pthread_mutex_unlock", lock)
        b.ret_void()
        return fn

    def _emit_workers(self) -> ir.Function:
        fn, b = self._function("graphc_pool_workers", ir.FunctionType(_I32, []), internal=False)
        b.ret(_load_atomic(b, self.nworkers, _I32, "monotonic"))
        return fn
