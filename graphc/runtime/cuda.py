"""The CUDA target: plans run as CUDA kernels on an NVIDIA GPU through pycuda.

Everything but the device calls is `DeviceExecutor`, shared with the cuda-emulated target
(runtime/cuda_emulated.py), which runs the same generated CUDA C on the CPU: the plan is
LLVM's (build_plan: slots, arena offsets, commits), its kernels are scheduled for the GPU
(schedule_gpu) and rendered into one translation unit (codegen_cuda), and a run is

    upload feeds (and variables whose host value changed)   host -> device
    launch every phase of every kernel in order             (arena, constants on the device)
    read the error word; on a failed Check, report it as the CPU target does
    download fetches                                        device -> host
    commit assigned variables on the device (DeviceVariables: downloaded only when read)

A device layer (`PycudaDevice` here) offers alloc, upload, download, copy, load(program) and
launch; nothing else touches the GPU. Variables live in device buffers between runs; the
session's host copy of one is refreshed only when read from the host (`DeviceVariables`).
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import replace

import numpy as np

from graphc.compiler import Plan, build_plan
from graphc.compiler.plan import Branch, Loop
from graphc.errors import OpError, UnimplementedError
from graphc.ir import kernel as K
from graphc.passes.schedule_gpu import GPUCaps, schedule_gpu
from graphc.runtime.host_calls import call, calls_of, layout_of
from graphc.runtime.llvm import LLVMExecutor

INSTALL = ("install the CUDA toolkit and then pycuda with `pip install graphc[cuda]` "
           "(pycuda builds against the toolkit's headers; see docs/cuda.md)")


class CudaUnavailableError(UnimplementedError):
    """target='cuda' cannot run here: no pycuda, no NVIDIA driver, or no GPU."""


class DeviceMemoryError(OpError):
    """The GPU ran out of memory for a plan's buffers."""


class DeviceExecutor(LLVMExecutor):
    """Runs plans through a device layer; subclasses say which (`open_device`)."""

    name = "device"
    returns_fresh_arrays = True
    bind = None  # no make_callable fast path: the pointer table lives on the device

    def __init__(self, state, options, describe):
        super().__init__(state, options, describe)
        self.threads = 1
        self.caps = GPUCaps()
        self.device = self.open_device()
        self._variables: dict = {}  # variable node -> [device pointer, nbytes, host mirror]
        state.variables = DeviceVariables(state.variables, self._download_variable)

    def open_device(self):
        raise NotImplementedError

    def cache(self):
        from graphc.runtime.cache import default_cache
        if self._cache is None:
            self._cache = default_cache(self.options)
        return self._cache

    # --- compiling ----------------------------------------------------------------------------
    def compile(self, fetches, fed_shapes: dict, fed_values=None) -> Plan:
        from graphc.codegen_cuda.render import render_program
        self._check_feeds(fetches, fed_shapes)
        plan, kernels, slots_of = build_plan(fetches, fed_shapes, self.describe, 1,
                                             self.options, fed_values=fed_values)
        # a print's kernel has no launch: the program downloads its values (_run_program)
        program = render_program([replace(k, body=()) if K.host_call(k) is not None
                                  else schedule_gpu(k, self.caps) for k in kernels])
        plan.ir_text = program.source
        plan.module = self.device.load(program, self.cache())
        plan.launches = [(launch, slots_of(kernels[launch.kernel]))
                         for launch in program.launches]
        # (a plan that prints never runs again after a failure: it would print twice)
        plan.controlled = bool(calls_of(plan.kernels)) or any(not isinstance(e, int)
                                                   for e in plan.program or ())
        plan.launches_of = {}  # kernel index -> its launches, as the program runs them
        for launch, slots in plan.launches:
            plan.launches_of.setdefault(launch.kernel, []).append((launch, slots))
        plan.arena = self.device.alloc(plan.arena_bytes)
        plan.error_word = self.device.alloc(4)
        plan.table = [0] * len(plan.slots)
        plan.buffers = {}  # slot -> (device pointer, nbytes) of fed and drawn values
        for i, slot in enumerate(plan.slots):
            if slot.kind == "arena":
                plan.table[i] = plan.arena + slot.offset
            elif slot.kind == "constant":
                plan.table[i] = self.device.alloc(slot.array.nbytes)
                self.device.upload(plan.table[i], slot.array)
        plan.bound_per_run = [(i, slot) for i, slot in enumerate(plan.slots)
                              if slot.kind in ("feed", "variable", "host")]
        return plan

    # --- running ------------------------------------------------------------------------------
    def execute(self, plan: Plan, feeds: dict, outs=None) -> list:
        with self.device.active():  # one context switch per run, not one per call
            return self._execute(plan, feeds, outs)

    def close(self) -> None:
        """Free the session's device memory; the session runs nothing more."""
        self._plans.clear()
        self._variables.clear()
        self.device.close()

    def _execute(self, plan: Plan, feeds: dict, outs=None) -> list:
        self.check_run(plan, outs)
        for i, slot in plan.bound_per_run:
            if slot.kind == "variable":
                plan.table[i] = self._variable_on_device(slot.node)
                continue
            if slot.kind == "feed":
                array = np.ascontiguousarray(feeds[slot.node])
            else:  # a random draw, made on the host for this run
                node = slot.draw
                array = np.ascontiguousarray(node.op.reference(
                    rng=self.state.rng(slot.node), **node.attrs), dtype=node.dtype.np)
            plan.table[i] = self._staging(plan, i, array.nbytes)
            self.device.upload(plan.table[i], array)
        self.device.upload(plan.error_word, np.zeros(1, np.int32))
        program = range(len(plan.kernels)) if plan.program is None else plan.program
        self._run_program(plan, program)
        status = self._status(plan)
        if status:
            if not plan.controlled:  # again, up to the failing kernel: its inputs intact
                self.device.upload(plan.error_word, np.zeros(1, np.int32))
                self._run_program(plan, program[:(status >> 16) + 1])
            self.raise_failure(plan, status)
        outs = outs or [None] * len(plan.fetch_slots)
        outputs = [None if f is None else self.read_slot(plan, *f, out=o)
                   for f, o in zip(plan.fetch_slots, outs)]
        self.commit(plan)
        return outputs

    def _run_program(self, plan: Plan, program) -> bool:
        """Launch the kernels of `program` in order; loops and branches are driven from
        the host, reading their predicate from the device. False once a kernel failed
        (its Check set the error word): nothing more runs. In a plan with loops or
        branches the error word is read after each kernel that has Checks (one small copy
        from the device each); a plan without them reads it once at the end, and on a
        failure runs again up to the failing kernel, so its inputs can be read."""
        for entry in program:
            if isinstance(entry, Loop):
                while True:
                    if not self._run_program(plan, entry.cond):
                        return False
                    if not self._holds(plan, entry.pred):
                        break
                    if not self._run_program(plan, entry.body):
                        return False
            elif isinstance(entry, Branch):
                taken = entry.then if self._holds(plan, entry.pred) else entry.other
                if not self._run_program(plan, taken):
                    return False
            elif K.host_call(plan.kernels[entry]) is not None:
                self._host_call(plan, plan.kernels[entry])
            else:
                for launch, slots in plan.launches_of.get(entry, ()):
                    self.device.launch(plan.module, launch, [plan.table[s] for s in slots],
                                       plan.error_word)
                if plan.controlled and plan.kernels[entry].messages and self._status(plan):
                    return False  # as on the CPU: nothing after a failed check runs (a
                    # loop must not go on), so the failing kernel's inputs are intact
        return not plan.controlled or not self._status(plan)

    def _host_call(self, plan: Plan, kernel) -> None:
        """A host call (runtime/host_calls): its values downloaded, then printed, or a
        collective run on the host and its result uploaded to its output's buffer."""
        node, names = kernel.notes["node"], K.host_call(kernel).buffers[1:]
        arrays = [self.read_slot(plan, int(name[1:]), dtype, shape)
                  for name, (dtype, shape) in zip(names, layout_of(node))]
        call(self.state, node, arrays)
        if node.op.name != "print":
            self.device.upload(plan.table[int(names[-1][1:])], arrays[-1])

    def _status(self, plan: Plan) -> int:
        return int(self.device.download(plan.error_word, np.int32, (1,))[0])

    def _holds(self, plan: Plan, slot: int) -> bool:
        return bool(self.device.download(plan.table[slot], np.uint8, (1,))[0])

    def _staging(self, plan: Plan, index: int, nbytes: int) -> int:
        """The device buffer of a fed or drawn slot (allocated on first use)."""
        held = plan.buffers.get(index)
        if held is None or held[1] < nbytes:
            held = plan.buffers[index] = (self.device.alloc(nbytes), nbytes)
        return held[0]

    def _variable_on_device(self, var) -> int:
        """The device buffer of a variable, uploaded when the session's host value is not
        the one the device holds (first use, or set from the host: load, restore)."""
        held = self._variables.get(var)
        if self.state.variables.is_stale(var):  # the device holds the newest value
            return held[0]
        host = self.state.variables.get(var)
        if host is None:  # only assigned in this plan: its buffer is written, never read
            return held[0] if held else 0
        if held is None or held[1] != host.nbytes:
            held = self._variables[var] = [self.device.alloc(host.nbytes), host.nbytes, None]
        if held[2] is not host:
            self.device.upload(held[0], np.ascontiguousarray(host))
            held[2] = host
        return held[0]

    def read_slot(self, plan, slot_index, dtype, shape, out=None) -> np.ndarray:
        value = self.device.download(plan.table[slot_index], np.dtype(dtype), tuple(shape))
        if out is None:
            return value
        np.copyto(out, value)
        return out

    def commit(self, plan: Plan) -> None:
        """Assigned variables: staged value -> the variable's device buffer (a device copy).
        The session's host copy is marked stale, to be downloaded when read from the host."""
        for var, slot, shape in plan.commits:
            nbytes = math.prod(shape) * var.dtype.np.itemsize
            held = self._variables.get(var)
            if held is None or held[1] != nbytes:
                held = self._variables[var] = [self.device.alloc(nbytes), nbytes, None]
            self.device.copy(held[0], plan.table[slot], nbytes)
            self.state.variables.mark_stale(var, tuple(shape))

    def _download_variable(self, var, shape) -> np.ndarray:
        """The device's value of a variable, now also the host's."""
        held = self._variables[var]
        held[2] = self.device.download(held[0], var.dtype.np, shape)
        return held[2]


class DeviceVariables(dict):
    """RuntimeState.variables of a device session: variable -> host array, where an entry
    a run assigned is stale until read from the host (then downloaded once). A training step
    thus moves no weights over the bus. Writes from the host (load, restore) replace an
    entry, and the executor uploads it before the device next reads it. Only the marked
    entries differ from a dict; every read path refreshes them first."""

    def __init__(self, initial, download):
        super().__init__(initial)
        self._stale: dict = {}  # variable -> shape, for entries the device holds newer
        self._download = download  # (variable, shape) -> host array

    def mark_stale(self, var, shape) -> None:
        if not dict.__contains__(self, var):
            dict.__setitem__(self, var, None)
        self._stale[var] = shape

    def is_stale(self, var) -> bool:
        return var in self._stale

    def _fresh(self, var):
        if var in self._stale:
            dict.__setitem__(self, var, self._download(var, self._stale.pop(var)))
        return dict.__getitem__(self, var)

    def __getitem__(self, var):
        return self._fresh(var)

    def get(self, var, default=None):
        return self._fresh(var) if dict.__contains__(self, var) else default

    def __setitem__(self, var, value) -> None:
        self._stale.pop(var, None)
        dict.__setitem__(self, var, value)

    def __delitem__(self, var) -> None:
        self._stale.pop(var, None)
        dict.__delitem__(self, var)

    def pop(self, var, *default):
        if dict.__contains__(self, var):
            self._fresh(var)
        return dict.pop(self, var, *default)

    def __iter__(self):  # (also makes dict(this) go through __getitem__)
        return iter(list(dict.keys(self)))

    def values(self):
        return [self[k] for k in list(dict.keys(self))]

    def items(self):
        return [(k, self[k]) for k in list(dict.keys(self))]

    def copy(self) -> dict:
        return dict(self.items())

    def update(self, other=(), **kwargs) -> None:
        for k, v in dict(other, **kwargs).items():
            self[k] = v

    def clear(self) -> None:
        self._stale.clear()
        dict.clear(self)


# --- the GPU through pycuda -----------------------------------------------------------------
_PRIMARY: dict = {}  # (driver, ordinal) -> the primary context, retained once per process


class PycudaDevice:
    """The device layer on pycuda: GPU 0's primary context, which every session of the
    process shares (as the CUDA runtime does), and the allocations of one session, freed
    when it closes."""

    def __init__(self):
        self.cuda = _import_driver()
        try:
            self.cuda.init()
            count = self.cuda.Device.count()
        except Exception as e:  # pycuda raises its own LogicError / RuntimeError here
            raise CudaUnavailableError(
                f"target 'cuda': the NVIDIA driver could not be initialized ({e}); check "
                "that `nvidia-smi` lists a GPU") from None
        if count == 0:
            raise CudaUnavailableError("target 'cuda': the NVIDIA driver reports no GPU; use "
                                       "target='llvm' (CPU) or 'cuda-emulated' here")
        device = self.cuda.Device(0)
        self.arch = "sm_%d%d" % device.compute_capability()
        key = (self.cuda, 0)
        if key not in _PRIMARY:
            _PRIMARY[key] = device.retain_primary_context()
        self.context = _PRIMARY[key]
        self._active = threading.local()  # how deeply this thread is inside active()
        self._keep: list = []  # this session's allocations

    @contextlib.contextmanager
    def active(self):
        """The context made current on this thread for the calls inside (once, however
        deeply nested): a run pushes it once, not once per launch."""
        depth = getattr(self._active, "depth", 0)
        if depth == 0:
            self.context.push()
        self._active.depth = depth + 1
        try:
            yield
        finally:
            self._active.depth = depth
            if depth == 0:
                self.cuda.Context.pop()

    def alloc(self, nbytes: int) -> int:
        with self.active():
            try:
                memory = self.cuda.mem_alloc(max(int(nbytes), 1))
            except self.cuda.MemoryError as e:
                raise DeviceMemoryError(
                    f"target 'cuda': out of GPU memory allocating {nbytes} bytes ({e}); run "
                    "smaller batches or free other sessions") from None
        self._keep.append(memory)
        return int(memory)

    def close(self) -> None:
        """Free this session's device memory (the shared context stays)."""
        with self.active():
            for memory in self._keep:
                memory.free()
        self._keep.clear()

    def _call(self, fn, *args, **kwargs):
        with self.active():
            return fn(*args, **kwargs)

    def upload(self, pointer: int, array: np.ndarray) -> None:
        if array.nbytes:
            self._call(self.cuda.memcpy_htod, pointer, array)

    def download(self, pointer: int, dtype, shape) -> np.ndarray:
        out = np.empty(shape, dtype)
        if out.nbytes:
            self._call(self.cuda.memcpy_dtoh, out, pointer)
        return out

    def copy(self, dst: int, src: int, nbytes: int) -> None:
        if nbytes:
            self._call(self.cuda.memcpy_dtod, dst, src, nbytes)

    def load(self, program, cache):
        from graphc.codegen_cuda.compile import compile_cubin
        cubin = compile_cubin(program.source, self.arch, cache)
        module = self._call(self.cuda.module_from_buffer, cubin)
        return {name: module.get_function(name) for name in program.signatures}

    def launch(self, module, launch, pointers, error_word) -> None:
        args = [np.uintp(p) for p in pointers] + [np.uintp(error_word), np.int32(launch.kernel)]
        self._call(module[launch.function], *args, grid=launch.grid, block=launch.block)


def _import_driver():
    try:
        import pycuda  # noqa: F401
    except ImportError:
        raise CudaUnavailableError(f"target 'cuda' needs pycuda, which is not installed: "
                                   f"{INSTALL}") from None
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        raise CudaUnavailableError(
            f"target 'cuda': pycuda is installed but the NVIDIA driver (libcuda.so) could "
            f"not be loaded ({e}); install the NVIDIA driver on a machine with a GPU, or use "
            "target='cuda-emulated' to run the CUDA code on the CPU") from None
    return cuda


class CudaExecutor(DeviceExecutor):
    name = "cuda"

    def open_device(self):
        return PycudaDevice()
