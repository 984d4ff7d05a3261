"""One code library for JIT and AOT: parse, verify, optimize at O3 for a CPU, then either load
in-process (MCJIT, an entry address) or emit an object file.

The host target machine uses the host CPU's name and features, so AVX2/AVX-512 are used
where present. Optimizing runs in a compile worker process by default (see compile_worker:
llvmlite leaks native memory on every O3 run), or here with Options(compile_in_process=True).
LLVM's remarks ("loop not vectorized: ...") reach stderr only with Options(debug=True).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading

import llvmlite.binding as llvm

from graphc.options import default_options


@functools.lru_cache(maxsize=None)
def _initialized() -> bool:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return True


def host_target_machine(cpu: str = "native", codemodel: str = "default"):
    """A fresh O3 target machine for `cpu` ('native': this machine, 'generic': any x86-64).

    Fresh, not shared: an MCJIT engine takes ownership of its target machine and disposes
    of it with the engine. codemodel: 'default' (small: code and data within 2 GiB of each
    other, as a shared library links them) or 'large' (see JIT_CODE_MODEL).
    """
    _initialized()
    target = llvm.Target.from_default_triple()
    if cpu == "native":
        name, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    else:
        name, features = ("x86-64" if cpu == "generic" else cpu), ""
    return target.create_target_machine(cpu=name, features=features, opt=3,
                                        reloc="pic", codemodel=codemodel)


# Code loaded in-process is placed wherever the JIT's memory manager finds pages, and the
# symbols it calls (libc, libm, the shared library of GEMMs) are wherever they were loaded:
# in a process holding gigabytes these can be more than 2 GiB apart, beyond the reach of the
# small code model's 32-bit displacements (LLVM then aborts the process while relocating).
# The large code model addresses every symbol and constant with 64 bits, at any distance.
JIT_CODE_MODEL = "large"


@functools.lru_cache(maxsize=None)
def shared_target_machine(cpu: str = "native", codemodel: str = "default"):
    """One target machine per CPU and code model for optimizing and emitting (never given to
    an engine)."""
    return host_target_machine(cpu, codemodel)


def cpu_signature(cpu: str = "native") -> tuple:
    """What compiled code depends on: the triple, the CPU name and its features."""
    if cpu == "native":
        return (llvm.get_default_triple(), llvm.get_host_cpu_name(),
                llvm.get_host_cpu_features().flatten())
    return (llvm.get_default_triple(), cpu, "")


def compile_object(source, cpu: str = "native", options=None) -> bytes:
    """An object file for linking into a shared library (small code model), from IR text or
    bitcode optimized at O3 for `cpu`."""
    return compile_ir(source, cpu, "default", options)


def compile_jit_object(ir_text: str, options=None) -> bytes:
    """An object file for JITModule.from_object (this CPU, the large code model), from IR
    text optimized at O3."""
    return compile_ir(ir_text, "native", JIT_CODE_MODEL, options)


def optimize(ir_text, cpu: str = "native", options=None):
    """Parse, verify and optimize IR (text or bitcode) at O3; returns the optimized ModuleRef,
    which belongs to this process (the optimizing ran where options say, see compile_ir)."""
    return llvm.parse_bitcode(compile_ir(ir_text, cpu, None, options))


def compile_ir(source, cpu: str = "native", codemodel=None, options=None) -> bytes:
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
        from graphc.codegen_llvm.compile_worker import shared_worker
        code = shared_worker().compile(source, cpu, codemodel, verbose=options.debug)
        if code is not None:
            return code
    with contextlib.nullcontext() if options.debug else _stderr_silenced():
        return compile_here(source, cpu, codemodel)


def compile_here(source: bytes, cpu: str, codemodel) -> bytes:
    """compile_ir's work, in this process and leaking there (the compile worker runs it)."""
    _initialized()
    if source[:4] == b"BC\xc0\xde":
        mod = llvm.parse_bitcode(source)
    else:
        mod = llvm.parse_assembly(source.decode())
    tm = shared_target_machine(cpu)
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    builder = llvm.create_pass_builder(tm, options)
    builder.getModulePassManager().run(mod, builder)
    if codemodel is None:
        return mod.as_bitcode()
    return shared_target_machine(cpu, codemodel).emit_object(mod)


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

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise LookupError(f"symbol {name} is not in the compiled module")
        return addr


def jit_signature() -> tuple:
    """What in-process object code depends on: the CPU and the code model."""
    return cpu_signature() + (JIT_CODE_MODEL,)
