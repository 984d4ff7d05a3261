"""The generated thread pool's entry points: graphc_parallel_for, graphc_pool_shutdown and
graphc_pool_workers (threads/__init__.py documents their contract and the protocol)."""

from __future__ import annotations

import llvmlite.ir as ir

from graphc.codegen_llvm.irutil import counted_loop
from graphc.codegen_llvm.threads.emit import (
    _c32,
    _c64,
    _load_atomic,
    _PoolEmitter,
    _store_atomic,
)
from graphc.codegen_llvm.threads.layout import (
    _BEGIN,
    _COND,
    _CTX,
    _END,
    _FN,
    _GEN,
    _I32,
    _I64,
    _MUTEX,
    _PTR,
    _QUIT,
    _SLEEPING,
    _TID,
    _VOID,
    CALLER_SPIN,
    MAX_THREADS,
    PARALLEL_FOR_TYPE,
)


class _Emitter(_PoolEmitter):
    """The whole pool: the internal functions and the three entry points."""

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
        with counted_loop(b, _c64(0), k, "serial") as chunk:
            run_chunk(chunk)
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
        with counted_loop(b, b.add(w, _c64(1)), k, "leftover") as chunk:
            run_chunk(chunk)

        # Wait for pending == 0: spin, then sleep on the completion condvar (threads/__init__.py).
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

        with counted_loop(b, _c32(0), nw, "tell") as i:
            slot = self._slot_at(b, slots, i)
            b.store(_c32(1), self._field(b, slot, _QUIT))
            gen = self._field(b, slot, _GEN)
            _store_atomic(b, b.add(b.load(gen, typ=_I32), _c32(1)), gen, "seq_cst")
            mutex = self._field(b, slot, _MUTEX)
            self._call(b, "pthread_mutex_lock", mutex)
            self._call(b, "pthread_cond_signal", self._field(b, slot, _COND))
            self._call(b, "pthread_mutex_unlock", mutex)
        with counted_loop(b, _c32(0), nw, "join") as i:
            slot = self._slot_at(b, slots, i)
            tid = b.load(self._field(b, slot, _TID), typ=_I64, name="tid")
            self._call(b, "pthread_join", tid, ir.Constant(_PTR, None))
            self._call(b, "pthread_mutex_destroy", self._field(b, slot, _MUTEX))
            self._call(b, "pthread_cond_destroy", self._field(b, slot, _COND))
            self._call(b, "free", slot)
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
