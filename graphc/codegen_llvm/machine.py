"""LLVM in this process: the native target, target machines for a CPU and code model, and
one compile (verify, optimize at O3, emit) of a module. Below both the compile worker, which
runs compile_here in its own process, and jit, which decides where compiling runs."""

from __future__ import annotations

import functools

import llvmlite.binding as llvm


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


def compile_here(source: bytes, cpu: str, codemodel, speed: int = 3) -> bytes:
    """compile_ir's work, in this process and leaking there (the compile worker runs it);
    optimized at O`speed`."""
    _initialized()
    if source[:4] == b"BC\xc0\xde":
        mod = llvm.parse_bitcode(source)
    else:
        mod = llvm.parse_assembly(source.decode())
    tm = shared_target_machine(cpu)
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    options = llvm.create_pipeline_tuning_options(speed_level=speed)
    options.loop_vectorization = True
    options.slp_vectorization = True
    builder = llvm.create_pass_builder(tm, options)
    builder.getModulePassManager().run(mod, builder)
    if codemodel is None:
        return mod.as_bitcode()
    return shared_target_machine(cpu, codemodel).emit_object(mod)
