"""Constants, types and the worker-slot layout of the generated thread pool (threads/__init__.py
documents the protocol these serve)."""

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

