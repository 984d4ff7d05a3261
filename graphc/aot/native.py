"""The native half of an artifact: plans -> one LLVM object for one CPU.

Each plan (one per batch block, see export.py) is rendered as in the JIT, with two changes
that make a context re-entrant: the GEMM packing workspace, a module global in the JIT, is a
buffer in the arena (which every context owns), and the plan's entry is renamed
`<name>_graphc_run_<v>`. The plans and the library (GEMM, thread pool) built for the same
CPU are linked into one module in which every other symbol is internal, so two artifacts in
one process, or two static archives in one executable, never see each other's symbols. The
entries and `<name>_graphc_pool_shutdown` (the C wrapper calls it when the library is
unloaded) are hidden: visible to the wrapper's object, not exported from the shared library.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import replace

import llvmlite.binding as llvm

from graphc.ir import kernel as K


def entry_symbol(name: str, variant: int) -> str:
    return f"{name}_graphc_run_{variant}"


def shutdown_symbol(name: str) -> str:
    return f"{name}_graphc_pool_shutdown"


def _gemm_dtypes(stmts, kernel: K.Kernel, found: set) -> None:
    for s in stmts:
        if isinstance(s, K.Intrinsic) and s.name == "gemm":
            found.add(kernel.buffer(s.buffers[2]).dtype)
        elif isinstance(s, K.Loop):
            _gemm_dtypes(s.body, kernel, found)


def gemm_dtypes(kernels) -> list:
    """The dtypes of the GEMMs the kernels call, sorted."""
    found: set = set()
    for k in kernels:
        _gemm_dtypes(k.body, k, found)
    return sorted(found)


def with_workspace(kernel: K.Kernel, buffer_of: dict) -> K.Kernel:
    """The kernel with each gemm given its workspace buffer (buffer_of: dtype -> buffer
    name, e.g. 's12' for table slot 12) as a fourth buffer and a parameter."""
    used: dict = {}

    def visit(stmts):
        out = []
        for s in stmts:
            if isinstance(s, K.Intrinsic) and s.name == "gemm" and len(s.buffers) == 3:
                t = kernel.buffer(s.buffers[2]).dtype
                used[t] = buffer_of[t]
                s = replace(s, buffers=s.buffers + (buffer_of[t],))
            elif isinstance(s, K.Loop):
                s = replace(s, body=tuple(visit(s.body)))
            out.append(s)
        return tuple(out)

    body = visit(kernel.body)
    if not used:
        return kernel
    params = list(kernel.params)
    scratch = [b for b in kernel.buffers if b.scratch]
    params += [K.Buffer(name, t, K.Const(0)) for t, name in sorted(used.items())]
    return replace(kernel, buffers=tuple(params + scratch), body=body)


_CPU_PROBE = """
import llvmlite.binding as llvm
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
tm = llvm.Target.from_default_triple().create_target_machine(cpu={cpu!r}, features="",
                                                             opt=3, reloc="pic")
module = llvm.parse_assembly("define i32 @f() {{ ret i32 0 }}")
module.triple = tm.triple
tm.emit_assembly(module)
"""


@functools.lru_cache(maxsize=None)
def check_cpu(cpu: str) -> None:
    """Raise ValueError unless LLVM knows `cpu` ('native' and 'generic' always pass). Asked
    in a child process: LLVM aborts the process on a CPU name it does not know."""
    if cpu in ("native", "generic"):
        return
    result = subprocess.run([sys.executable, "-c", _CPU_PROBE.format(cpu=cpu)],
                            capture_output=True, text=True)
    if result.returncode != 0 or "not a recognized processor" in result.stderr:
        raise ValueError(f"cpu {cpu!r} is not a CPU name LLVM knows for this target "
                         "(use 'native', 'generic' or a name such as 'haswell', "
                         "'skylake-avx512', 'znver4', 'x86-64-v3')")


def cpu_description(cpu: str) -> dict:
    """What the object is built for: the triple, the LLVM CPU name and its features (the
    build machine's for 'native'; implied by the name otherwise)."""
    from graphc.codegen_llvm.jit import _initialized
    _initialized()
    if cpu == "native":
        return {"requested": cpu, "triple": llvm.get_default_triple(),
                "cpu": llvm.get_host_cpu_name(),
                "features": llvm.get_host_cpu_features().flatten()}
    return {"requested": cpu, "triple": llvm.get_default_triple(),
            "cpu": "x86-64" if cpu == "generic" else cpu, "features": ""}


def _parse(text: str, tm):
    module = llvm.parse_assembly(text)
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    return module


def build_object(name: str, plan_modules: list, cpu: str) -> bytes:
    """One object: the plan modules (llvmlite.ir modules with an entry `graphc_run` each,
    renamed entry_symbol(name, index)) linked with the library for `cpu`, everything but
    the entries and the pool's shutdown internal, optimized at O3."""
    from graphc.codegen_llvm.jit import compile_object, shared_target_machine
    from graphc.codegen_llvm.library import library_ir
    tm = shared_target_machine(cpu)
    combined = _parse(library_ir(cpu), tm)
    combined.get_function("graphc_pool_shutdown").name = shutdown_symbol(name)
    keep = {shutdown_symbol(name)}
    for index, module in enumerate(plan_modules):
        plan = _parse(str(module), tm)
        plan.get_function("graphc_run").name = entry_symbol(name, index)
        keep.add(entry_symbol(name, index))
        combined.link_in(plan)
    for value in list(combined.functions) + list(combined.global_variables):
        if value.is_declaration:
            continue
        if value.name in keep:
            value.visibility = "hidden"
        else:
            value.linkage = "internal"
    return compile_object(combined.as_bitcode(), cpu)
