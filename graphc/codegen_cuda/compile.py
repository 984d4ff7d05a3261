"""Compiling a rendered Program: to a cubin with nvcc (the GPU), or to a host shared library
with the emulation header (cuda-emulated). Both go through the content-addressed code cache:
the key holds the source, the target (architecture, or the emulation header's text), the
compiler's version and graphc's version, so a hit is the same bytes a compile would make.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

from graphc.codegen_cuda.render import Program

EMULATE_H = os.path.join(os.path.dirname(__file__), "emulate.h")
HOST_FLAGS = ("-O1", "-std=c++17", "-fPIC", "-shared", "-fwrapv", "-w")


class CompileError(RuntimeError):
    """nvcc or the host compiler rejected generated code (a graphc bug: please report it)."""


def nvcc() -> str | None:
    return shutil.which("nvcc")


@functools.lru_cache(maxsize=None)
def _version(tool: str) -> str:
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True,
                              timeout=60).stdout
    except OSError:
        return ""


def _cached(cache, parts, build) -> bytes:
    """build() unless `cache` holds the bytes for `parts` (then stored)."""
    from graphc.version import __version__
    key = cache.key(*parts, __version__) if cache is not None else None
    data = cache.load(key) if key else None
    if data is None:
        data = build()
        if key:
            cache.store(key, data)
    return data


def _run(command, source: str, suffix: str, output: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="graphc-cuda-") as tmp:
        src = os.path.join(tmp, "plan" + suffix)
        out = os.path.join(tmp, output)
        with open(src, "w") as f:
            f.write(source)
        done = subprocess.run(command + [src, "-o", out], capture_output=True, text=True)
        if done.returncode:
            raise CompileError(f"{command[0]} failed on generated code:\n{done.stderr[-4000:]}")
        with open(out, "rb") as f:
            return f.read()


def compile_cubin(source: str, arch: str = "sm_90", cache=None) -> bytes:
    """The cubin of `source` for `arch` (e.g. sm_90 for an H100/H200) through nvcc -O3."""
    tool = nvcc()
    if tool is None:
        raise CompileError("nvcc is not on PATH: install the CUDA toolkit to compile for GPUs")
    command = [tool, "-cubin", f"-arch={arch}", "-O3", "-std=c++17"]
    return _cached(cache, ("cubin", source, arch, _version(tool)),
                   lambda: _run(command, source, ".cu", "plan.cubin"))


def host_compiler() -> str:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or "c++"


def emulated_source(program: Program) -> str:
    """The same translation unit plus one host launcher per function:
    `int gc_launch_<fn>(void** buffers_then_error_word, int kernel, grid xyz, block xyz)`."""
    parts = [program.source]
    sync = {launch.function: launch.sync for launch in program.launches}
    for name, types in program.signatures.items():
        args = ", ".join([f"({t}*)a[{i}]" for i, t in enumerate(types)]
                         + [f"(int*)a[{len(types)}]", "kernel"])
        parts.append(
            f'extern "C" int gc_launch_{name}(void** a, int kernel, unsigned gx, unsigned gy, '
            f"unsigned gz, unsigned bx, unsigned by, unsigned bz) {{\n"
            f"  return gc_emu::launch(dim3(gx, gy, gz), dim3(bx, by, bz), "
            f"{'true' if sync[name] else 'false'}, [&] {{ {name}({args}); }});\n}}\n")
    return "\n".join(parts)


def compile_host(program: Program, cache=None) -> bytes:
    """A shared library running `program` on this CPU (see emulate.h)."""
    source = emulated_source(program)
    with open(EMULATE_H) as f:
        header = f.read()
    tool = host_compiler()
    command = [tool, *HOST_FLAGS, "-include", EMULATE_H, "-x", "c++"]
    return _cached(cache, ("cuda-emulated", source, header, HOST_FLAGS, _version(tool)),
                   lambda: _run(command, source, ".cpp", "plan.so"))
