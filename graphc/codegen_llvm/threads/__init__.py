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

from graphc.codegen_llvm.threads.entry import _Emitter
from graphc.codegen_llvm.threads.layout import (
    CALLER_SPIN,
    COND_BYTES,
    GLOBAL_ALIGN,
    KERNEL_TYPE,
    MAX_THREADS,
    MUTEX_BYTES,
    PARALLEL_FOR_TYPE,
    SLOT_ALIGN,
    SLOT_BYTES,
    SLOT_TYPE,
    WORKER_SPIN,
    YIELD_EVERY,
)

__all__ = [
    "CALLER_SPIN",
    "COND_BYTES",
    "GLOBAL_ALIGN",
    "KERNEL_TYPE",
    "MAX_THREADS",
    "MUTEX_BYTES",
    "PARALLEL_FOR_TYPE",
    "SLOT_ALIGN",
    "SLOT_BYTES",
    "SLOT_TYPE",
    "WORKER_SPIN",
    "YIELD_EVERY",
    "define_parallel_runtime",
]

_PUBLIC = ("graphc_parallel_for", "graphc_pool_shutdown", "graphc_pool_workers")


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

