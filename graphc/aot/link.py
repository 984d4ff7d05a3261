"""Turning the native object and the generated C into the artifact's files, with the system
C compiler (`cc`) and archiver (`ar`).

    lib<name>.so   cc -shared of the object and the wrapper; exports only <name>_* and needs
                   only libc, libm and libpthread (asserted by the tests with readelf)
    lib<name>.a    the same two objects, for static linking (link with -lm -pthread)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

ALLOWED_NEEDED = ("libc.so", "libm.so", "libpthread.so", "ld-linux", "libdl.so")


class ToolchainError(RuntimeError):
    """The C compiler or archiver is missing or failed; the message holds its output."""


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"graphc export needs `{name}` on PATH to build the artifact")
    return path


def _run(command: list, what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"{what} failed ({' '.join(command)}):\n{result.stderr.strip()}")


def build_files(directory: str, name: str, native_object: bytes, wrapper_c: str,
                header: str, weights: bytes, work: str, cc: str = "cc") -> dict:
    """Write <name>.h, lib<name>.so and lib<name>.a into `directory`, building in `work`
    (a scratch directory). Returns {"header", "shared", "static"} -> file name."""
    compiler = find_tool(cc)
    header_path = os.path.join(directory, f"{name}.h")
    with open(header_path, "w") as f:
        f.write(header)
    native = os.path.join(work, f"{name}_graph.o")
    with open(native, "wb") as f:
        f.write(native_object)
    with open(os.path.join(work, "weights.bin"), "wb") as f:
        f.write(weights)
    source = os.path.join(work, f"{name}_api.c")
    with open(source, "w") as f:
        f.write(wrapper_c)
    api = os.path.join(work, f"{name}_api.o")
    _run([compiler, "-std=c99", "-O2", "-fPIC", "-fvisibility=hidden", "-Wall",
          f"-I{directory}", "-c", source, "-o", api], "compiling the C wrapper")
    shared = f"lib{name}.so"
    _run([compiler, "-shared", "-o", os.path.join(directory, shared), native, api,
          f"-Wl,-soname,{shared}", "-Wl,--no-undefined", "-Wl,-z,noexecstack",
          "-Wl,--as-needed", "-lm", "-pthread"], "linking the shared library")
    static = f"lib{name}.a"
    static_path = os.path.join(directory, static)
    if os.path.exists(static_path):
        os.remove(static_path)
    _run([find_tool("ar"), "rcs", static_path, native, api], "archiving the static library")
    return {"header": f"{name}.h", "shared": shared, "static": static}


def needed_libraries(shared_object: str) -> list:
    """The DT_NEEDED entries of a shared object (readelf -d)."""
    out = subprocess.run([find_tool("readelf"), "-d", shared_object], capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def exported_symbols(shared_object: str) -> list:
    """The global symbols a shared object defines (readelf --dyn-syms)."""
    out = subprocess.run([find_tool("readelf"), "--dyn-syms", "-W", shared_object],
                         capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[4] in ("GLOBAL", "WEAK") and cols[6] != "UND":
            names.append(cols[7].split("@")[0])
    return names
