"""Routines shared by every plan (GEMM, the thread pool), compiled once into objects of their own.

A plan module only declares them. In-process, the library is loaded once into its own
engines and its symbols are published to the JIT linker, so every plan calls the same code
and one thread pool serves them all; the O3 cost of the big GEMM kernels is paid once per
machine (the objects are kept in the compiled-code cache), not once per plan.

The library comes in parts (PARTS), each its own object, cached and loaded on its own: the
thread pool and float32's GEMM, which nearly every plan calls, load as a process's first
plan is built (begin_loading); the others (the narrow and thin GEMMs, float64's) load when
a plan that calls them is linked (parts_called). A float32 model compiled into an empty cache so
waits for one GEMM's O3 compile (about 1 s), not four (2.2 s).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from graphc.codegen_llvm.gemm import (
    EPILOGUE_PTR,
    PACK_PTR,
    define_gemm,
    narrow_blocking,
    thin_blocking,
    vector_width,
)
from graphc.codegen_llvm.threads import define_parallel_runtime

# part: the symbols it exports (the runtime part first: it holds the thread pool)
PARTS = {
    "runtime": ("graphc_parallel_for", "graphc_pool_shutdown"),
    "gemm_f32": ("graphc_gemm_f32",),
    "gemm_narrow_f32": ("graphc_gemm_narrow_f32",),
    "gemm_thin_f32": ("graphc_gemm_thin_f32",),  # (only where thin_blocking has a tile)
    "gemm_indirect_f32": ("graphc_gemm_indirect_f32",),
    "gemm_indirect_narrow_f32": ("graphc_gemm_indirect_narrow_f32",),
    "gemm_f64": ("graphc_gemm_f64",),
    "gemm_narrow_f64": ("graphc_gemm_narrow_f64",),
}
# what a process's first plan starts loading before it knows what it calls
EAGER_PARTS = ("runtime", "gemm_f32")


def gemm_signature() -> ir.FunctionType:
    i64, ptr = ir.IntType(64), ir.PointerType()
    return ir.FunctionType(ir.VoidType(), [i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr,
                                           i64, i64, ptr, EPILOGUE_PTR, ptr, i64, i64,
                                           PACK_PTR, PACK_PTR, ptr, i64, i64, ptr])


def gemm_name(dtype: str, kind: str = "") -> str:
    """The library's GEMM for `dtype` of a `kind` of tile: "" the default one, "narrow"
    (gemm.narrow_blocking) for a C at most its NR columns wide, "thin"
    (gemm.thin_blocking) for a C at most one vector wide; "indirect" the default tile
    reading A in place (define_gemm's `indirect`; float32 only), "indirect_narrow" the
    narrow one."""
    if kind not in ("", "narrow", "thin", "indirect", "indirect_narrow"):
        raise ValueError(f"unknown GEMM kind {kind!r}")
    return f"graphc_gemm_{kind}_{dtype}" if kind else f"graphc_gemm_{dtype}"


def declare_gemm(module: ir.Module, dtype: str, kind: str = "") -> ir.Function:
    """The external declaration of the library's GEMM for `dtype` in a plan module."""
    name = gemm_name(dtype, kind)
    if name not in module.globals:
        ir.Function(module, gemm_signature(), name=name)
    return module.globals[name]


def library_ir(cpu: str = "native", parts=tuple(PARTS)) -> str:
    """The IR of the library's `parts` (all of them unless said) for `cpu` (see
    jit.host_target_machine): the GEMMs are blocked for that CPU's vector width, so a plan
    must be rendered for the same CPU (intrinsics_for)."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown library parts {unknown}; the parts are {list(PARTS)}")
    module = ir.Module(name="graphc_library")
    for dtype in ("f32", "f64"):
        width = vector_width(dtype, cpu)
        if f"gemm_{dtype}" in parts:
            define_gemm(module, dtype, width)
        if f"gemm_narrow_{dtype}" in parts:
            # the narrow GEMM: its own tile where the CPU has one, else the default's again
            define_gemm(module, dtype, width, narrow_blocking(dtype, width),
                        gemm_name(dtype, "narrow"))
        thin = thin_blocking(dtype, width)
        if f"gemm_thin_{dtype}" in parts and thin is not None:  # (no plan calls it else)
            define_gemm(module, dtype, width, thin, gemm_name(dtype, "thin"))
        if f"gemm_indirect_{dtype}" in parts:
            define_gemm(module, dtype, width, name=gemm_name(dtype, "indirect"), indirect=True)
        narrow = narrow_blocking(dtype, width)
        if f"gemm_indirect_narrow_{dtype}" in parts and narrow is not None:
            define_gemm(module, dtype, width, narrow, gemm_name(dtype, "indirect_narrow"),
                        indirect=True)
    if "runtime" in parts:
        define_parallel_runtime(module)
    return str(module)


def has_code(part: str, cpu: str = "native") -> bool:
    """Whether `part` holds code for `cpu`: the thin and the indirect narrow GEMMs exist only
    where the CPU's vector width has their tile (no plan for that CPU calls them else)."""
    for dtype in ("f32", "f64"):
        width = vector_width(dtype, cpu)
        if part == f"gemm_thin_{dtype}":
            return thin_blocking(dtype, width) is not None
        if part == f"gemm_indirect_narrow_{dtype}":
            return narrow_blocking(dtype, width) is not None
    return part in PARTS


def parts_called(codes) -> tuple:
    """The library parts that the plan objects or IR texts `codes` call, the runtime
    always: each part whose exported names one of them mentions (an object names each symbol
    it links to; a mention that is not a call costs only a part loaded for nothing)."""
    def mentions(code, name):
        return (name.encode() if isinstance(code, (bytes, bytearray)) else name) in code
    return ("runtime",) + tuple(part for part, names in PARTS.items() if part != "runtime"
                                and any(mentions(c, n) for c in codes for n in names))


@functools.lru_cache(maxsize=None)
def source_digest():
    """The digest of the code that writes the library (see _source_digest): what object
    code stored elsewhere and linked with the library, a stored plan, must be keyed by,
    since the library's functions may change their arguments with it. "" if unreadable."""
    return _source_digest() or ""


def _source_digest():
    """An XXH3-128 digest of the code that writes the library's IR (every module of
    graphc.codegen_llvm, whose IR builders import nothing else of graphc) and of llvmlite's
    version, or None where the sources cannot be read."""
    import llvmlite
    import xxhash
    root = os.path.dirname(os.path.abspath(__file__))
    h = xxhash.xxh3_128(llvmlite.__version__.encode())
    try:
        for path in python_sources(root):
            h.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()


def python_sources(path: str) -> list:
    """The .py files under the folder `path`, in a fixed order (folders sorted, then their
    files), or [path] itself when it is a file: what a digest of source code reads."""
    if not os.path.isdir(path):
        return [path]
    out = []
    for folder, _, files in sorted(os.walk(path)):
        out += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    return out


@functools.lru_cache(maxsize=None)
def library_object(cache, part: str = "gemm_f32") -> bytes:
    """The machine code of the library's `part` for this CPU, from `cache` or compiled (and
    stored). Keyed by the source of the code that writes its IR, so a process whose library
    is in the cache does not render the IR (0.1 s); by the IR itself where that source
    cannot be read."""
    from graphc.codegen_llvm.jit import compile_jit_object, jit_signature
    from graphc.version import __version__
    digest = _source_digest()
    text = library_ir(parts=(part,)) if digest is None else None
    key = cache.key("library", part, digest or text, jit_signature(), __version__, "O3")
    code = cache.load(key)
    if code is None:
        code = compile_jit_object(text or library_ir(parts=(part,)))
        cache.store(key, code)
    return code


_LOADED: dict = {}  # part: its engine
_SHUTDOWN: list = []  # the thread pool's shutdown as a ctypes function, kept alive for atexit
_LOCK = threading.Lock()
_BACKGROUND: list = []  # the executor of begin_loading, made on first use
_BACKGROUND_LOCK = threading.Lock()  # (not _LOCK, which a load holds while it compiles)


def _after_fork():
    """A child of fork has none of the parent's threads: a lock one of them held stays
    held, and the background executor would never run what it is given."""
    global _LOCK, _BACKGROUND_LOCK
    _LOCK, _BACKGROUND_LOCK = threading.Lock(), threading.Lock()
    _BACKGROUND.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def library_loaded(parts=EAGER_PARTS) -> bool:
    """Whether load_library has loaded `parts` in this process (those it has, see has_code)."""
    return all(part in _LOADED or not has_code(part) for part in parts)


def load_library(cache, parts=EAGER_PARTS):
    """Load the library's `parts` (the runtime always, first; those without code for this
    CPU are skipped, see has_code) into this process once each and publish their symbols
    to the JIT linker.

    The thread pool is shut down at exit, before the code it runs in goes away.
    """
    from graphc.codegen_llvm.jit import JITModule
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown library parts {unknown}; the parts are {list(PARTS)}")
    with _LOCK:
        for part in ("runtime",) + tuple(p for p in parts if p != "runtime"):
            if part in _LOADED or not has_code(part):  # (nothing to load for this CPU)
                continue
            engine = JITModule.from_object(library_object(cache, part))
            for name in PARTS[part]:
                llvm.add_symbol(name, engine.address(name))
            if part == "runtime":
                shutdown = ctypes.CFUNCTYPE(None)(engine.address("graphc_pool_shutdown"))
                atexit.register(shutdown)
                _SHUTDOWN.append(shutdown)
            _LOADED[part] = engine


def begin_loading(cache, parts=EAGER_PARTS):
    """Start load_library(cache, parts) on a background thread (its compiles run in the
    compile worker, beside whatever this thread does meanwhile); a later load_library of
    the same parts waits for it. None if they are loaded already, else the future (whose
    error, if any, the later load_library meets again and raises)."""
    if library_loaded(parts):
        return None
    with _BACKGROUND_LOCK:  # (returns at once while a load compiles: it holds _LOCK)
        if not _BACKGROUND:
            from concurrent.futures import ThreadPoolExecutor
            _BACKGROUND.append(ThreadPoolExecutor(1, thread_name_prefix="graphc-library"))
    return _BACKGROUND[0].submit(load_library, cache, parts)
