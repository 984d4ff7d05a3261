"""BoundPlan: a compiled plan bound to an ordered feed list, the hot path of make_callable.

A call checks each value with a few attribute tests (ndarray, dtype, shape, C order) and
replays the plan: small feeds are copied into staging buffers whose addresses never change,
large ones are bound by address; small fetches are copied out of the arena, large ones are
written by the kernels straight into fresh (or the caller's out=) arrays, a "fresh" one
being the previous call's result again when the caller has dropped it (`_fresh`). Taking
an array's address from Python costs about 1 us, more than a 16-element kernel, which is why small
values are copied instead. When a call does not fit (a list instead of an array, a dtype to
convert, a non-contiguous value, a missing variable), the call returns None and the caller
takes the general path, which converts the values or raises the usual error. The caller
holds the session lock around a call.
"""

from __future__ import annotations

import ctypes
import math
import sys
import weakref

import numpy as np

SMALL = 1 << 16  # bytes: values up to this size are copied; larger ones are bound by address
_ndarray = np.ndarray
RECYCLED = 2  # large results kept per fetch for reuse once the caller drops them (_fresh)
SMALL_PLAN = 1 << 18  # bytes of data (feeds, constants, arena) below which the GIL is kept


def _address(array: np.ndarray) -> int:
    """The address of a C-contiguous array's first element. Through a ctypes view of its
    buffer, 0.15 us, where `array.ctypes.data` builds a helper object each time, 0.8-1.1 us:
    three a call were a third of a large result's 6 us dispatch. A read-only or empty array
    has no writable buffer to view and takes the slow way."""
    try:
        return _addressof(_char_view(array))
    except (TypeError, ValueError):
        return array.ctypes.data


_addressof, _char_view = ctypes.addressof, ctypes.c_char.from_buffer


class BoundPlan:
    def __init__(self, executor, plan, feed_nodes, shapes):
        self.executor, self.plan = executor, plan
        self.table = plan.table
        self.table_address = ctypes.addressof(plan.table)
        # a plan over little data keeps the GIL: its native call is shorter than releasing
        # and taking back the lock (large plans release it, for other Python threads)
        data = plan.arena_bytes + sum(s.array.nbytes for s in plan.slots
                                      if s.kind in ("constant", "packed"))
        data += sum(math.prod(shape) * n.dtype.np.itemsize for n, shape in zip(feed_nodes, shapes))
        functype = ctypes.PYFUNCTYPE if data <= SMALL_PLAN else ctypes.CFUNCTYPE
        self.entry = functype(ctypes.c_int32, ctypes.c_void_p)(
            ctypes.cast(plan.entry, ctypes.c_void_p).value)
        slot_of = {slot.node: i for i, slot in plan.bound_per_run if slot.kind == "feed"}
        self.feeds = []  # per value: (shape, dtype, staging array or None, table index or -1)
        self.staged = []  # (table index, staging address): entries this plan must hold
        for node, shape in zip(feed_nodes, shapes):
            index, dtype = slot_of.get(node, -1), node.dtype.np
            nbytes = math.prod(shape) * dtype.itemsize
            staging = np.empty(shape, dtype) if index >= 0 and nbytes <= SMALL else None
            self.feeds.append((tuple(shape), dtype, staging, index))
            if staging is not None:
                self.staged.append((index, _address(staging)))
        self.variables = [(i, slot.node) for i, slot in plan.bound_per_run
                          if slot.kind == "variable"]
        self.bound_variables: dict = {}  # table index -> the array bound there last time
        self.hosts = [(i, slot) for i, slot in plan.bound_per_run if slot.kind == "host"]
        self.fetches = [self._fetch_record(f) for f in plan.fetch_slots]
        self.recycled: dict = {}  # fetch position -> the large arrays last returned for it
        self.stateful = bool(self.variables or plan.needs_value)
        self.commits = bool(plan.commits)
        # (arena view, shape) per fetch when every fetch is a small arena value and nothing
        # is drawn on the host: the common case, run by the shortest path
        self.simple = None
        if not self.hosts and all(f is not None and f[3] is not None and not f[4]
                                  for f in self.fetches):
            self.simple = [(f[3], f[1]) for f in self.fetches]

    def _fetch_record(self, f):
        """(slot index, shape, dtype, arena view or None, large) for a fetched value."""
        if f is None:
            return None
        index, dtype, shape = f
        slot = self.plan.slots[index]
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        view = None
        if slot.kind == "arena":
            view = self.plan.arena[slot.offset:slot.offset + nbytes].view(dtype).reshape(shape)
        return index, tuple(shape), np.dtype(dtype), view, view is not None and nbytes > SMALL

    def __call__(self, values, outs=None):
        """The fetched values (per plan fetch), or None when this call needs the general
        path. `outs` is None or one array-or-None per plan fetch."""
        table = self.table
        for v, (shape, dtype, staging, index) in zip(values, self.feeds):
            if type(v) is not _ndarray or v.dtype is not dtype or v.shape != shape:
                return None
            if staging is not None:
                staging[...] = v  # any memory layout: it is copied
            elif index >= 0:
                if not v.flags.c_contiguous:
                    return None
                table[index] = _address(v)
        if self.plan.bound_by is not self:  # another caller pointed the table elsewhere
            for index, address in self.staged:
                table[index] = address
            self.plan.bound_by = self
        if self.stateful and not self._bind_state():
            return None
        if self.plan.packed:
            if self.plan.superseded:
                return None  # the general path runs the plan that replaced it
            self.executor.refresh_packed(self.plan)
        if outs is not None:  # each a C-contiguous, writeable array of the fetch's dtype
            if len(outs) != len(self.fetches):  # and shape, or None (inline: see below)
                return None
            for o, f in zip(outs, self.fetches):
                if o is not None:
                    if f is None or type(o) is not _ndarray or o.dtype is not f[2] or \
                            o.shape != f[1]:
                        return None
                    flags = o.flags  # (one flags object: each attribute makes another)
                    if not (flags.c_contiguous and flags.writeable):
                        return None
        if self.simple is None:
            return self._run(values, outs)
        # every fetch small and in the arena: one native call, then copies
        status = self.entry(self.table_address)
        if status:
            self.executor.raise_failure(self.plan, status)
        if outs is None:
            results = [view.copy() if shape else view[()] for view, shape in self.simple]
        else:  # (inline: a method call per fetch was a fifth of W7's out= overhead)
            results = []
            for (view, shape), o in zip(self.simple, outs):
                if o is None:
                    results.append(view.copy() if shape else view[()])
                else:
                    o[...] = view
                    results.append(o if shape else o[()])
        if self.commits:
            self.executor.commit(self.plan)
        return results

    def _bind_state(self) -> bool:
        variables = self.executor.state.variables
        for var in self.plan.needs_value:
            if var not in variables:
                return False  # the general path raises the uninitialized-variable error
        bound, table = self.bound_variables, self.table
        for index, node in self.variables:
            array = variables.get(node)
            if array is None:
                continue  # only assigned in this plan: nothing reads it
            if bound.get(index) is not array:  # commits update arrays in place
                bound[index] = array
                table[index] = _address(array)
        return True

    def _fresh(self, k: int, f) -> np.ndarray:
        """The array a large fetch k is written into: one of the last two returned for it
        that nothing else refers to any more (the caller dropped it: no name, view or weak
        reference holds it), else a new one, kept for later calls. Two, so that a loop that
        rebinds its result (`y = f(x)`, the old y held during the call) reuses memory too.
        A fresh 64 MiB array costs 8-15 ms of page faults on these machines, more than W2
        itself takes to read and write it."""
        ring = self.recycled.setdefault(k, [])
        for old in ring:  # references: the ring, `old`, getrefcount's argument
            if sys.getrefcount(old) == 3 and not weakref.getweakrefcount(old) and \
                    old.flags.writeable:
                return old
        new = np.empty(f[1], f[2])
        ring.append(new)
        if len(ring) > RECYCLED:
            del ring[0]
        return new

    def _run(self, values, outs):
        plan, table, executor = self.plan, self.table, self.executor
        if outs is not None and any(o is not None and any(np.may_share_memory(o, v)
                                                          for v in values) for o in outs):
            # an out= array over a feed: kernels assume unaliased buffers, and a fed value
            # fetched as is would be read after an out= array over it was written. The
            # general path (Session._run) writes such arrays after the run.
            return None
        # the host draws must outlive the native call: bound by address, held until then
        keep = [executor.bind_host(plan, index, slot) for index, slot in self.hosts]
        results = [None] * len(self.fetches)
        direct = []  # (table index, fetch position): kernels write into the result itself
        for k, f in enumerate(self.fetches):
            if f is None or not f[4] or any(d[0] == f[0] for d in direct):
                continue
            o = outs[k] if outs is not None else None
            if o is None:
                o = self._fresh(k, f)
            results[k] = o
            table[f[0]] = _address(o)
            direct.append((f[0], k))
        try:
            status = self.entry(self.table_address)
        finally:
            arena = _address(plan.arena) if direct else 0
            for index, _ in direct:
                table[index] = arena + plan.slots[index].offset
        del keep
        if status:
            executor.raise_failure(plan, status)
        written = {index: results[k] for index, k in direct}
        for k, f in enumerate(self.fetches):
            if f is None:
                continue
            value = results[k]
            if value is None:
                o = outs[k] if outs is not None else None
                source = f[3]  # the arena's copy, unless: a slot fetched twice (x and a
                if f[0] in written:  # reshape of it) was written into the other's array
                    source = written[f[0]].reshape(-1).view(f[2]).reshape(f[1])
                if source is None:  # a fed or variable value fetched as is
                    value = executor.read_slot(plan, f[0], f[2], f[1], out=o)
                elif o is not None:
                    o[...] = source
                    value = o
                else:
                    value = source.copy()
            results[k] = value if f[1] else value[()]  # 0-d: a numpy scalar, as from TF1
        executor.commit(plan)
        return results
