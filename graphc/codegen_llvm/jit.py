"""One code library for JIT and AOT: parse, verify, optimize at O3 for a CPU, then either load
in-process (MCJIT, an entry address) or emit an object file.

The host target machine uses the host CPU's name and features, so AVX2/AVX-512 are used
where present. Optimizing runs in a compile worker process by default (see compile_worker:
llvmlite leaks native memory on every O3 run), or here with Options(compile_in_process=True).
LLVM's remarks ("loop not vectorized: ...") reach stderr only with Options(debug=True).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import llvmlite.binding as llvm

from graphc.codegen_llvm.compile_worker import shared_worker
from graphc.codegen_llvm.machine import (  # noqa: F401 (the code library's names)
    JIT_CODE_MODEL,
    _initialized,
    compile_here,
    cpu_signature,
    host_target_machine,
    shared_target_machine,
)
from graphc.options import default_options


def compile_object(source, cpu: str = "native", options=None) -> bytes:
    """An object file for linking into a shared library (small code model), from IR text or
    bitcode optimized at O3 for `cpu`."""
    return compile_ir(source, cpu, "default", options)


def compile_jit_object(ir_text: str, options=None, speed: int = 3) -> bytes:
    """An object file for JITModule.from_object (this CPU, the large code model), from IR
    text optimized at O`speed` (3 unless said)."""
    return compile_ir(ir_text, "native", JIT_CODE_MODEL, options, speed)


def compile_jit_objects(ir_texts: list, options=None, first_worker: int = 0,
                        speeds=None) -> list:
    """compile_jit_object of each text (at O`speeds[i]`, 3 by default), at the same time in
    as many compile workers (the parts of one plan, render.render_modules), numbered from
    `first_worker` (1 leaves the shared worker to another compile meanwhile)."""
    options = options if options is not None else default_options()
    speeds = list(speeds) if speeds is not None else [3] * len(ir_texts)
    if options.compile_in_process or (len(ir_texts) == 1 and first_worker == 0):
        return [compile_jit_object(t, options, s) for t, s in zip(ir_texts, speeds)]
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        code = shared_worker(first_worker + i).compile(ir_texts[i].encode(), "native",
                                                       JIT_CODE_MODEL, verbose=options.debug,
                                                       speed=speeds[i])
        return code if code is not None else compile_jit_object(ir_texts[i], options,
                                                                speeds[i])

    with ThreadPoolExecutor(len(ir_texts)) as pool:
        return list(pool.map(one, range(len(ir_texts))))


def optimize(ir_text, cpu: str = "native", options=None):
    """Parse, verify and optimize IR (text or bitcode) at O3; returns the optimized ModuleRef,
    which belongs to this process (the optimizing ran where options say, see compile_ir)."""
    return llvm.parse_bitcode(compile_ir(ir_text, cpu, None, options))


def compile_ir(source, cpu: str = "native", codemodel=None, options=None,
               speed: int = 3) -> bytes:
    """IR text or bitcode, verified and optimized at O3 for `cpu`: object code for `codemodel`,
    or the optimized bitcode when codemodel is None. Runs in the compile worker unless
    options.compile_in_process (or no worker can be started: warned once). Errors are the
    in-process ones (RuntimeError for IR that does not parse or verify) wherever it ran.
    What LLVM prints is shown only with options.debug. options: None is default_options().
    """
    options = options if options is not None else default_options()
    if isinstance(source, str):
        source = source.encode()
    if not options.compile_in_process:
        code = shared_worker().compile(source, cpu, codemodel, verbose=options.debug,
                                       speed=speed)
        if code is not None:
            return code
    with contextlib.nullcontext() if options.debug else _stderr_silenced():
        return compile_here(source, cpu, codemodel, speed)


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _stderr_silenced():
    """fd 2 on /dev/null meanwhile: LLVM writes its remarks to fd 2 directly, below Python's
    sys.stderr. fd 2 belongs to the whole process, so one holder at a time; other threads'
    stderr output in that window is lost too (this is only the in-process path)."""
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


_LINK_LOCK = threading.Lock()


class JITModule:
    """An optimized module loaded into this process; keeps the engine alive."""

    def __init__(self, module_ref, cpu: str = "native"):
        self.engine = llvm.create_mcjit_compiler(module_ref,
                                                 host_target_machine(cpu, JIT_CODE_MODEL))
        self.engine.finalize_object()
        self.engine.run_static_constructors()
        self.module = module_ref

    @classmethod
    def from_object(cls, *objects: bytes, cpu: str = "native") -> "JITModule":
        """Load emitted object code (a plan, and the library it calls) into one engine."""
        _initialized()
        empty = llvm.parse_assembly("")
        self = cls.__new__(cls)
        self.engine = llvm.create_mcjit_compiler(empty, host_target_machine(cpu, JIT_CODE_MODEL))
        for data in objects:
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        self.engine.finalize_object()
        self.module = None
        return self

    @classmethod
    def linked(cls, objects: list, exports: list, cpu: str = "native") -> "JITModule":
        """A plan rendered in parts (render.render_modules): each part is loaded into an
        engine of its own and its kernels (`exports`, one list of names per part) are
        published to the JIT linker, then the first object (graphc_run), which calls them,
        is loaded.
        Names repeat between plans, so publishing and linking hold one lock: each plan's
        first object links to its own parts."""
        if len(objects) == 1:
            return cls.from_object(objects[0], cpu=cpu)
        with _LINK_LOCK:
            parts = [cls.from_object(code, cpu=cpu) for code in objects[1:]]
            for part, names in zip(parts, exports):
                for name in names:
                    llvm.add_symbol(name, part.address(name))
            self = cls.from_object(objects[0], cpu=cpu)
        self.parts = parts  # keeps their code alive
        return self

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise LookupError(f"symbol {name} is not in the compiled module")
        return addr


def jit_signature() -> tuple:
    """What in-process object code depends on: the CPU and the code model."""
    return cpu_signature() + (JIT_CODE_MODEL,)
