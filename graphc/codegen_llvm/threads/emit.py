"""The generated thread pool's IR helpers and internal functions (one-time init, the
worker loop, the fork check, growing the pool); threads/__init__.py documents the protocol."""

from __future__ import annotations

import llvmlite.ir as ir

from graphc.codegen_llvm.irutil import counted_loop
from graphc.codegen_llvm.threads.layout import (
    _BEGIN,
    _COND,
    _CTX,
    _END,
    _FN,
    _GEN,
    _I8,
    _I32,
    _I64,
    _LIBC,
    _MUTEX,
    _PTR,
    _QUIT,
    _SLEEPING,
    _TID,
    _VOID,
    COND_BYTES,
    GLOBAL_ALIGN,
    KERNEL_TYPE,
    MUTEX_BYTES,
    SLOT_ALIGN,
    SLOT_BYTES,
    SLOT_TYPE,
    WORKER_SPIN,
    YIELD_EVERY,
)


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


class _PoolEmitter:
    """Declarations, globals, IR helpers and the internal functions of the pool (the
    entry points are added by threads.entry._Emitter)."""

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
        """begin(c) = c * q + min(c, r): the static partition documented in threads/__init__.py."""
        lo = b.select(b.icmp_signed("<", c, r), c, r)
        return b.add(b.mul(c, q), lo, name="begin")


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

        # Sleep: announce `sleeping` before the final check of gen (threads/__init__.py).
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
        with counted_loop(b, _c32(0), nw, "forget") as i:
            self._call(b, "free", self._slot_at(b, slots, i))
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
        with counted_loop(b, _c32(0), nw, "move") as i:
            b.store(self._slot_at(b, old, i), b.gep(new, [i], inbounds=True, source_etype=_PTR))
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
