"""The LLVM CPU target: a run compiles (once per fetches, feeds and fed shapes) to a Plan
(graphc/compiler), one native module whose `graphc_run` computes everything, then
replays it: binds feeds, variables and host draws into the pointer table, calls the module,
copies fetched values out of the arena (or lets kernels write into out= arrays) and commits
staged assignments only when the whole run succeeded, as on the reference target. Every
feed is checked in Python (by the Session) before native code sees it.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
from dataclasses import replace

import numpy as np

from graphc.compiler import Plan, Slot, build_plan
from graphc.errors import InvalidArgumentError, unfed_placeholder, uninitialized_variable
from graphc.ir.node import topo_sort
from graphc.ir.shapes import format_shape
from graphc.passes.memory import ALIGN
from graphc.passes.specialize import shape_feeds, shape_values
from graphc.runtime.bound import BoundPlan
from graphc.runtime.cache import default_cache
from graphc.runtime.host_calls import Callbacks, array_at
from graphc.runtime.state import RuntimeState

# plans of at least this many kernels are compiled in parts on several cores at once
PARALLEL_COMPILE_KERNELS = 24
# the optimization level of a plan's kernels: O3 took 25-80% longer to compile (ResNet-18's
# plan 2.6 against 1.6 s cold) and ran no faster (W1-W9 in one process each, both levels
# side by side: within 1% on one and two threads); the GEMM and thread library is at O3
KERNEL_SPEED = 2
# a variable packed again before this many runs, and before most of its runs, is not
# packed ahead any more (LLVMExecutor.refresh_packed)
VOLATILE_FILLS = 3
# a plan that took this long to build and render (not counting LLVM, whose object code the
# code cache keeps anyway) is stored whole in the disk cache (runtime/plan_store.py), so that
# the next process compiling the same graph loads it instead: ResNet-18 builds and renders
# in about 0.3 s; a small plan, which builds in milliseconds, is not worth the disk
STORE_SECONDS = 0.05


def compile_parts(kernels: int, options) -> int:
    """How many modules to render a plan of `kernels` kernels as, so that LLVM optimizes
    them on that many cores at once: one per CPU this process may use (at most 4) for plans
    of many kernels, one for the others (a worker start costs more than they take)."""
    if options.compile_in_process or kernels < PARALLEL_COMPILE_KERNELS:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return max(1, min(cpus, 4))


_STORE_THREAD: list = []
_STORE_LOCK = threading.Lock()


def _store_thread():
    """The one thread that stores plans (its pool joins it at the interpreter's exit)."""
    with _STORE_LOCK:
        if not _STORE_THREAD:
            from concurrent.futures import ThreadPoolExecutor
            _STORE_THREAD.append(ThreadPoolExecutor(1, thread_name_prefix="graphc-store"))
        return _STORE_THREAD[0]


def _store_plan(cache, key: str, plan, index_of: dict) -> None:
    """plan_store.save_session, whose failure only costs the next process a compile: a
    warning, not an error in the program that compiled it."""
    import warnings

    from graphc.runtime import plan_store
    from graphc.runtime.cache import CacheWarning
    try:
        plan_store.save_session(cache, key, plan, index_of)
    except Exception as err:  # (a bug: the plan is fine, only not stored)
        warnings.warn(f"graphc: storing a plan in {cache.directory} failed: "
                      f"{type(err).__name__}: {err}", CacheWarning)


class LLVMExecutor:
    name = "llvm"
    returns_fresh_arrays = True  # every fetch is copied out of the arena, or is out=
    stores_plans = True  # look plans up in, and store them to, the disk cache
    store_after = STORE_SECONDS  # store a plan that took this long to build and render

    def __init__(self, state: RuntimeState, options, describe):
        self.state, self.options, self.describe = state, options, describe
        self._plans: dict = {}
        # (variable, B's view and blocking) -> [packed copy, version it holds, uses, fills]
        self._packed: dict = {}
        self._volatile: set = set()  # variables that change between most runs: not packed
        self._cache = None
        self._storing: list = []  # futures of plans being stored in the disk cache
        self._trace = None  # while a traced run goes on: (plan, counters, ...) per plan
        self.threads = options.threads or os.cpu_count() or 1

    # --- running ----------------------------------------------------------------------------
    def run(self, fetches, feeds: dict, outs=None) -> list:
        """Fetch values; where `outs` holds an array for a fetch, the value is written
        into it (checked by the caller) instead of a fresh array."""
        values = shape_values(fetches, feeds)
        return self.execute(self.plan_for(fetches, {n: v.shape for n, v in feeds.items()},
                                          values), feeds, outs)

    def plan_for(self, fetches, fed_shapes: dict, fed_values=None) -> Plan:
        """The plan of these fetches for feeds of these shapes (and, for feeds read as
        shapes, these values: specialize.shape_values), compiled on first use."""
        key = (tuple(fetches), frozenset(fed_shapes.items()),
               frozenset((fed_values or {}).items()))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.compile(fetches, fed_shapes, fed_values)
            plan.key = key
        return plan

    def compiled_plans(self) -> list:
        """(plan, whether it holds fed values as constants) for each plan compiled so far
        (a plan of the second kind is right only for the values it was compiled for)."""
        return [(plan, bool(key[2])) for key, plan in self._plans.items()]

    def bind(self, fetches, feed_nodes, shapes):
        """The fast path for calls feeding `feed_nodes` (in order) values of `shapes`, once
        a run has compiled that plan (make_callable's hot path); None when the plan also
        depends on fed values (a feed read as a shape), which the fast path does not see."""
        if shape_feeds(fetches, feed_nodes):
            return None
        return BoundPlan(self, self.plan_for(fetches, dict(zip(feed_nodes, shapes))),
                         feed_nodes, shapes)

    def check_run(self, plan: Plan, outs) -> None:
        """What a run needs before any native code: every variable it reads initialized,
        every out= array of its fetch's shape."""
        for var in plan.needs_value:
            if var not in self.state.variables:
                raise uninitialized_variable(self.describe(var), var)
        for f, o in zip(plan.fetch_slots, outs or ()):
            if o is not None and f is not None and o.shape != tuple(f[2]):
                raise ValueError(f"out= has shape {format_shape(o.shape)}, this run's fetch "
                                 f"has shape {format_shape(f[2])}")

    def execute(self, plan: Plan, feeds: dict, outs=None) -> list:
        self.check_run(plan, outs)
        if plan.packed:
            self.refresh_packed(plan)
        keep = []  # arrays that must outlive the native call
        plan.bound_by = None
        for i, slot in plan.bound_per_run:
            if slot.kind == "feed":
                arr = np.ascontiguousarray(feeds[slot.node])
            elif slot.kind == "variable":
                arr = self.state.variables.get(slot.node)
                if arr is None:  # only assigned ('set') in this plan: nothing reads it
                    continue
            else:
                arr = self.bind_host(plan, i, slot)
            keep.append(arr)
            plan.table[i] = arr.ctypes.data
        outs = outs or [None] * len(plan.fetch_slots)
        direct = self._bind_outputs(plan, outs, keep)
        try:
            status = plan.entry(plan.table)
            if status:
                self.raise_failure(plan, status)
            outputs = [None if f is None else o if o is not None and direct.get(f[0]) is o else
                       self.read_slot(plan, *f, out=o) for f, o in zip(plan.fetch_slots, outs)]
            self.commit(plan)
        finally:
            for i in direct:  # back to the arena for the next run
                plan.table[i] = plan.arena.ctypes.data + plan.slots[i].offset
        del keep
        return outputs

    def refresh_packed(self, plan: Plan) -> None:
        """Pack again each variable whose value changed since its packed slot was filled
        (codegen_llvm/prepack.py); every variable the plan reads is initialized. A variable
        found changed in most of its runs (a model trained between them: packing ahead
        costs a pass over its weights each time, where the GEMM packs as it goes for
        free) is not packed ahead any more: the plan gives way to one compiled without."""
        from graphc.codegen_llvm.prepack import fill_packed
        variables = self.state.variables
        version = getattr(variables, "version", None)
        for slot, record in plan.packed:
            held = version(slot.node) if version is not None else None
            record[2] += 1
            if held is None or record[1] != held:
                value = variables[slot.node]
                if value.size != math.prod(slot.node.shape) or value.dtype != record[0].dtype:
                    raise RuntimeError(
                        f"{self.describe(slot.node)} holds {value.dtype} {value.shape}, this "
                        f"plan was compiled for {record[0].dtype} {tuple(slot.node.shape)}")
                record[1] = None  # (a fill that fails leaves nothing valid)
                fill_packed(slot.pack, value, out=record[0])
                record[1], record[3] = held, record[3] + 1
                if record[3] >= VOLATILE_FILLS and 2 * record[3] > record[2]:
                    self._volatile.add(slot.node)
        if self._volatile and not plan.superseded and \
                any(s.node in self._volatile for s, _ in plan.packed):
            plan.superseded = True  # (this run goes on: its packed copies are current)
            if self._plans.get(plan.key) is plan:
                del self._plans[plan.key]
            for key in [k for k in self._packed if k[0] in self._volatile]:
                del self._packed[key]  # (the memory goes with the last plan holding it)

    @staticmethod
    def _bind_outputs(plan, outs, inputs) -> dict:
        """Let kernels write fetched values straight into the caller's out= arrays (no copy
        out of the arena): {slot whose table entry now points at an out array: that array}.
        Not done where the out array overlaps an input (kernels assume unaliased buffers).
        A slot fetched twice (a value and a reshape of it) is bound to the first one's
        array; the table then points there, so the other fetch is read from that array
        (read_slot reads the table's address), not from the arena."""
        direct: dict = {}
        for f, o in zip(plan.fetch_slots, outs):
            if o is None or f is None or f[0] in direct or plan.slots[f[0]].kind != "arena":
                continue
            if any(np.may_share_memory(o, a) for a in inputs):
                continue
            plan.table[f[0]] = o.ctypes.data
            direct[f[0]] = o
        return direct

    def commit(self, plan: Plan) -> None:
        """Store the staged values of assigned variables (the run succeeded). A variable's
        array is private to the session, so it is overwritten in place when it has the
        shape already: no fresh memory, and its address stays bound in fast paths. Every
        assigned variable gets a new version (state.VariableStore)."""
        variables = self.state.variables
        versioned = hasattr(variables, "touch")
        for var, slot, shape in plan.commits:
            if slot not in plan.direct:  # else its kernel wrote the array (compiler/commits.py)
                current = variables.get(var)
                if current is None or current.shape != tuple(shape):
                    variables[var] = self.read_slot(plan, slot, var.dtype.np, shape)
                    continue
                if versioned:
                    current = variables.writable(var)
                self.read_slot(plan, slot, var.dtype.np, shape, out=current)
            if versioned:
                variables.touch(var)

    def touch_direct(self, plan: Plan) -> None:
        """A failed run may have written the variables its kernels assign in place."""
        variables = self.state.variables
        if plan.direct and hasattr(variables, "touch"):
            for var, slot, _ in plan.commits:
                if slot in plan.direct:
                    variables.touch(var)

    def bind_host(self, plan: Plan, index: int, slot: Slot) -> np.ndarray:
        """Draw a random node's values for this run (from its own generator in the session)
        and point the table at them; the caller keeps the array alive over the call."""
        node = slot.draw
        value = node.op.reference(rng=self.state.rng(slot.node), **node.attrs)
        array = np.ascontiguousarray(value, dtype=node.dtype.np)
        plan.table[index] = array.ctypes.data
        return array

    def read_slot(self, plan, slot_index, dtype, shape, out=None) -> np.ndarray:
        """A slot's value in a fresh array, or copied into `out` (the arena is reused by
        the next run, so a view of it cannot be handed out)."""
        view = array_at(plan.table[slot_index], dtype, shape)
        if out is None:
            return view.copy()
        np.copyto(out, view)
        return out

    def raise_failure(self, plan, status):
        """Report a failed Check as the reference target would: rerun the failing node's
        numpy reference on its inputs, whose error names the offending value; the kernel's
        own message is the fallback. A plan loaded from the disk cache knows only its
        kernels' messages: it is built again (not rendered) for the failing node."""
        self.touch_direct(plan)
        error = plan.callbacks.take_error() if plan.callbacks is not None else None
        if error is not None:  # a print failed (writing to a closed file, say)
            raise error
        index, code = status >> 16, (status & 0xFFFF) - 1
        kernel = plan.kernels[index]
        if plan.stored:
            kernel = self._built_kernel(plan, index) or kernel
        node, original = kernel.notes.get("node"), kernel.notes["origin"]
        message = kernel.messages[code]
        slots = kernel.notes.get("input_slots")
        if node is not None and node.op.reference is not None and slots is not None:
            args = [self.read_slot(plan, s, x.dtype.np, x.shape)
                    for s, x in zip(slots, node.inputs)]
            try:
                with np.errstate(all="ignore"):
                    node.op.reference(*args, **node.attrs)
            except Exception as e:  # the reference's own words for the same failure
                message = str(e)
        raise InvalidArgumentError(f"{self.describe(original)} failed: {message}", original)

    def _built_kernel(self, plan, index: int):
        """Kernel `index` of the stored `plan` as building it again gives it (with the
        nodes and slots its notes name), or None when that build differs from the stored
        plan (then the stored messages are all there is)."""
        fetches, fed_shapes, fed_values = plan.key
        built, kernels, _ = self._build(list(fetches), dict(fed_shapes), dict(fed_values))
        if [k.name for k in kernels] != [k.name for k in plan.kernels] or \
                [s.kind for s in built.slots] != [s.kind for s in plan.slots]:
            return None
        return kernels[index]

    # --- compiling ----------------------------------------------------------------------------
    def compile(self, fetches, fed_shapes: dict, fed_values=None) -> Plan:
        """The plan of `fetches`, linked and bound: from the disk cache when this graph's
        plan was stored there (runtime/plan_store.load_session, keyed by plan_key), else
        built, rendered and compiled (its object code from the code cache where its IR was
        seen before), and stored when building and rendering it took `store_after` seconds."""
        from graphc.codegen_llvm.library import begin_loading, load_library, parts_called
        from graphc.runtime import plan_store

        self._check_feeds(fetches, fed_shapes)
        if self._cache is None:
            self._cache = default_cache(self.options)
        # the first plan of a process: the library (from the disk cache, or compiled in the
        # shared worker) loads while this plan is looked up, or built and compiled
        loading = None if self.options.compile_in_process else begin_loading(self._cache)
        keyed = self._plan_key(fetches, fed_shapes, fed_values) if self.stores_plans else None
        if keyed is not None:
            found = plan_store.load_session(self._cache, keyed[0], keyed[1])
            if found is not None:
                plan, codes = found
                plan.stored = True
                load_library(self._cache, parts_called(codes))
                return self._link(plan, codes)
        started = time.perf_counter()
        plan, kernels, slots_of = self._build(fetches, fed_shapes, fed_values)
        pieces = self._compile_parts(kernels)
        if pieces > 1:  # the workers for its modules (and graphc_run's) start as it renders
            from graphc.codegen_llvm.compile_worker import start_workers
            start_workers(pieces + 1)
        texts, plan.exports = self._render(plan, kernels, slots_of, pieces)
        built = time.perf_counter() - started
        parts = parts_called(texts)
        if loading is not None:  # the parts this plan calls besides, after those
            loading = begin_loading(self._cache, parts)
        # graphc_run alone (a split plan's first module) at O2, kernels at KERNEL_SPEED
        speeds = [2] + [KERNEL_SPEED] * (len(texts) - 1) if len(texts) > 1 else [KERNEL_SPEED]
        codes, plan.code_keys = self._object_code(texts, speeds,
                                                  first_worker=0 if loading is None else 1)
        load_library(self._cache, parts)  # GEMM and the thread pool, shared by every plan
        plan = self._link(plan, codes)
        if keyed is not None and built >= self.store_after:
            # (on a thread of its own, while the plan runs: writing ResNet-18's packed filters
            # takes 0.1 s; close() and the interpreter's exit wait for it)
            self._storing.append(_store_thread().submit(
                _store_plan, self._cache, keyed[0], plan,
                {node: i for i, node in enumerate(keyed[1])}))
        return plan

    def close(self) -> None:
        """Wait for the plans being stored (compile)."""
        while self._storing:
            self._storing.pop().result()

    def _plan_key(self, fetches, fed_shapes: dict, fed_values):
        """(key, nodes) of this plan among stored plans (runtime/plan_key.py), or None."""
        from graphc.codegen_llvm.jit import jit_signature
        from graphc.codegen_llvm.library import source_digest
        from graphc.codegen_llvm.render import host_vector_bits
        from graphc.runtime.plan_key import plan_key
        from graphc.version import __version__
        # (numpy's version: constant folding runs its functions)
        context = ("llvm", self.options, self.threads, host_vector_bits(), jit_signature(),
                   __version__, source_digest(), np.__version__)
        return plan_key(fetches, fed_shapes, fed_values, context, marked=self._volatile)

    def _build(self, fetches, fed_shapes: dict, fed_values):
        """(plan, kernels, slots_of): the plan built (compiler/driver.build_plan) and its
        constant GEMM operands packed ahead."""
        from graphc.codegen_llvm.intrinsics import gemm_accumulates
        from graphc.codegen_llvm.prepack import blocking_for, in_place_for, prepack_constants
        from graphc.codegen_llvm.render import host_vector_bits
        plan, kernels, slots_of = build_plan(
            fetches, fed_shapes, self.describe, self.threads, self.options,
            vector_bits=host_vector_bits(), direct_commits=True, fed_values=fed_values,
            views=True, accumulates=gemm_accumulates, packs_ahead=blocking_for())
        kernels = prepack_constants(plan, kernels, blocking_for(), in_place_for(),
                                    packable=lambda var: var not in self._volatile)
        return plan, kernels, slots_of

    def _render(self, plan, kernels, slots_of, pieces: int) -> tuple:
        """(LLVM IR text of each module, the kernel names each later module exports), as
        render_modules renders the plan in `pieces` parts (compile_parts)."""
        from graphc.codegen_llvm.intrinsics import INTRINSICS
        from graphc.codegen_llvm.render import render_modules
        modules = render_modules(kernels, slots_of, INTRINSICS,
                                 pieces, threads=self.threads,
                                 program=plan.program, fast_math=self.options.fast_math,
                                 trace_slot=len(plan.slots))
        texts = [str(m) for m in modules]
        exports = [[f.name for f in m.functions if not f.is_declaration
                    and f.linkage == "external"] for m in modules[1:]]
        plan.ir_text = "\n".join(texts)
        return texts, exports

    def _link(self, plan: Plan, codes: list) -> Plan:
        """Link the plan's object code and bind its pointer table: arena, constants, the
        session's packed copies of variables, prints' callbacks."""
        from graphc.codegen_llvm.jit import JITModule
        plan.module = JITModule.linked(codes, plan.exports)
        plan.entry = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(
            plan.module.address("graphc_run"))
        plan.arena = np.zeros(plan.arena_bytes + ALIGN, dtype=np.uint8)
        base = plan.arena.ctypes.data
        shift = (-base) % ALIGN
        plan.arena = plan.arena[shift:shift + plan.arena_bytes]
        # one entry more than the slots: the trace counters (null unless a traced run)
        plan.table = (ctypes.c_void_p * (len(plan.slots) + 1))()
        plan.cycles = ctypes.CFUNCTYPE(ctypes.c_int64)(plan.module.address("graphc_cycles"))
        plan.bound_per_run = [(i, slot) for i, slot in enumerate(plan.slots)
                              if slot.kind in ("feed", "variable", "host")]
        for i, slot in enumerate(plan.slots):  # one packed copy per variable and layout
            if slot.kind == "packed":
                record = self._packed.setdefault((slot.node, slot.pack),
                                                 [slot.array, None, 0, 0])
                plan.slots[i] = slot = replace(slot, array=record[0])
                plan.packed.append((slot, record))
        for i, slot in enumerate(plan.slots):
            if slot.kind == "arena":
                plan.table[i] = plan.arena.ctypes.data + slot.offset
            elif slot.kind in ("constant", "packed"):
                plan.table[i] = slot.array.ctypes.data
            elif slot.kind == "callback":  # prints, collectives (runtime/host_calls.py)
                plan.callbacks = Callbacks(self.state, plan.kernels, plan.host_calls)
                plan.table[i] = plan.callbacks.address
        if self._trace is not None:
            self._arm(plan)
        return plan

    # --- tracing (RunOptions.trace_level, runtime/run_metadata.py) --------------------------
    def trace_begin(self) -> None:
        """Count each kernel's cycles in the runs until trace_end: every plan's trace slot
        gets counters (render_modules' trace_slot), and so does each plan compiled before
        then."""
        self._trace = []
        for plan in self._plans.values():
            self._arm(plan)

    def _arm(self, plan) -> None:
        counters = np.zeros(2 * len(plan.kernels) + 2, np.int64)
        plan.table[len(plan.slots)] = counters.ctypes.data
        self._trace.append((plan, counters, plan.cycles(), time.perf_counter()))

    def trace_end(self) -> list:
        """The kernels the runs since trace_begin called, in plan order, each as (kernel,
        the user's node it came from, calls, seconds), its cycles scaled by the cycle
        counter's rate over the traced span; the counters are taken off again."""
        records, self._trace = self._trace, None
        out = []
        for plan, counters, cycles0, time0 in records:
            plan.table[len(plan.slots)] = None
            if not counters[-1]:
                continue  # not run
            span = time.perf_counter() - time0
            rate = (plan.cycles() - cycles0) / span if span > 0 else 0
            for i, kernel in enumerate(plan.kernels):
                calls = int(counters[2 * i + 1])
                if calls and rate > 0:
                    out.append((kernel, kernel.notes.get("origin"), calls,
                                float(counters[2 * i]) / rate))
        return out

    def _compile_parts(self, kernels) -> int:
        """How many modules to render a plan as (compile_parts)."""
        return compile_parts(len(kernels), self.options)

    def _object_code(self, ir_texts: list, speeds: list, first_worker: int = 0) -> tuple:
        """(machine code for each module, their cache keys): from the disk cache when its
        IR was seen before (on this CPU, by this graphc version, at this optimization
        level); otherwise optimized at O`speeds[i]`, all the missing ones at the same time,
        and stored."""
        from graphc.codegen_llvm.jit import compile_jit_objects, jit_signature
        from graphc.runtime.cache import CodeCache
        from graphc.version import __version__
        keys = [CodeCache.key(t, jit_signature(), __version__, f"O{s}")
                for t, s in zip(ir_texts, speeds)]
        codes = [self._cache.load(k) for k in keys]
        missing = [i for i, c in enumerate(codes) if c is None]
        if missing:
            for i, code in zip(missing, compile_jit_objects(
                    [ir_texts[i] for i in missing], self.options, first_worker,
                    [speeds[i] for i in missing])):
                codes[i] = code
                self._cache.store(keys[i], code)
        return codes, tuple(keys)

    def _check_feeds(self, fetches, fed_shapes):
        for node in topo_sort(fetches, stop=frozenset(fed_shapes)):
            if node.op.name == "placeholder" and node not in fed_shapes:
                raise unfed_placeholder(self.describe(node), node)
