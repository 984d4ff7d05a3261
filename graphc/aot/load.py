"""graphc.load: an exported artifact back in Python, through ctypes, as a callable.

    model = graphc.load("out/libmlp.so")     # or the directory, or out/mlp.json
    probs = model(x)                         # one array per output (a tuple if several)

The library describes itself (names, dtypes, shapes through its query functions), so only
the .so is needed; the manifest (the .json given, the one in the directory given, or the
<name>.json beside a .so) is read when there is one. Before the library is mapped, load
checks it against the manifest's size and SHA-256 and checks that it is a complete ELF
file, and raises ArtifactError naming the file otherwise (dlopen of a truncated file dies
with SIGBUS). Arguments are checked in Python before the native call (count, dtype, shape,
a consistent batch size), with the messages a Session gives, and the C boundary checks
again. Each Python thread gets its own context, so threads may call one model concurrently.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import threading

import numpy as np

from graphc.aot.model import C_IDENTIFIER, DTYPE_CODES, MAX_BYTES, Port, file_digest
from graphc.errors import InvalidArgumentError
from graphc.ir import dtypes

_DTYPES = {code: name for name, code in DTYPE_CODES.items()}
_ABI_VERSION = 1
_REEXPORT = "re-export it with graphc.export"


class ArtifactError(ValueError):
    """What load() was given is not a usable graphc artifact: a manifest that is not valid,
    a library truncated or modified since it was exported, or a shared library that
    graphc.export did not write. The message names the file and what to do."""


def _shared_object(path) -> tuple:
    """(path of lib<name>.so, name, manifest or None, manifest path) for a .so, a manifest
    or a directory holding one. A .so's manifest is the <name>.json beside it, if any."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".json"))
        if len(found) != 1:
            raise FileNotFoundError(f"{path} must hold exactly one <name>.json manifest, "
                                    f"found {found}")
        path = os.path.join(path, found[0])
    if path.endswith(".json"):
        manifest = _read_manifest(path)
        shared = os.path.join(os.path.dirname(path), manifest["files"]["shared"])
        if not os.path.isfile(shared):
            raise FileNotFoundError(f"{shared}, the library that the manifest {path} names, "
                                    "does not exist")
        return shared, manifest["name"], manifest, path
    base = os.path.basename(path)
    if not (base.startswith("lib") and base.endswith(".so")):
        raise ValueError(f"expected lib<name>.so, <name>.json or a directory, got {path}")
    name = base[3:-3]
    if not C_IDENTIFIER.match(name):
        raise ArtifactError(f"{path} is not a graphc export: graphc writes lib<name>.so with "
                            f"<name> a C identifier, not {name!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such library: {path}")
    beside = os.path.join(os.path.dirname(path), f"{name}.json")
    if os.path.isfile(beside) and _is_graphc_manifest(beside):
        manifest = _read_manifest(beside)
        if manifest["files"]["shared"] == base:
            return path, name, manifest, beside
    return path, name, None, None


def _is_graphc_manifest(path: str) -> bool:
    """Whether `path` claims to be a graphc manifest (another tool's <name>.json beside a
    library is not read)."""
    try:
        with open(path) as f:
            return json.load(f).get("format") == "graphc-aot"
    except (OSError, ValueError, AttributeError):
        return False


def _field(manifest, path: str, keys: tuple, kind: type):
    """manifest[keys[0]][keys[1]]..., which must exist and be a `kind`."""
    value = manifest
    for depth, key in enumerate(keys):
        where = "".join(f"[{k!r}]" for k in keys[:depth + 1])
        if not isinstance(value, dict) or key not in value:
            raise ArtifactError(f"the manifest {path} has no {where} (missing key {key!r}): "
                                f"it is incomplete or not written by graphc.export; "
                                f"{_REEXPORT}")
        value = value[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ArtifactError(f"the manifest {path} has {where} = {value!r}, expected a "
                            f"{kind.__name__}; {_REEXPORT}")
    return value


def _read_manifest(path: str) -> dict:
    """The manifest at `path` with the keys load needs checked: format, name, files.shared
    (a file name in the same directory) and, when present, digests of the library."""
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path} is not a graphc artifact manifest (not JSON: {e})") \
            from None
    if not isinstance(manifest, dict) or manifest.get("format") != "graphc-aot":
        raise ArtifactError(f"{path} is not a graphc artifact manifest (no \"format\": "
                            "\"graphc-aot\")")
    name = _field(manifest, path, ("name",), str)
    shared = _field(manifest, path, ("files", "shared"), str)
    if not C_IDENTIFIER.match(name) or shared != f"lib{name}.so":
        raise ArtifactError(f"the manifest {path} names library {shared!r} for artifact "
                            f"{name!r}; graphc.export writes lib<name>.so beside the manifest "
                            f"and <name> is a C identifier; {_REEXPORT}")
    # Manifests written before graphc recorded digests have no "digests": the library is
    # then only checked to be a complete ELF file (_check_elf).
    if "digests" in manifest:
        _field(manifest, path, ("digests", shared, "bytes"), int)
        _field(manifest, path, ("digests", shared, "sha256"), str)
    return manifest


def _check_digest(shared: str, manifest: dict, manifest_path: str) -> None:
    """The library is the one the manifest describes: same size, then same SHA-256."""
    recorded = manifest.get("digests", {}).get(os.path.basename(shared))
    if recorded is None:
        return  # an older manifest, see _read_manifest
    size = os.path.getsize(shared)
    if size != recorded["bytes"]:
        state = "truncated" if size < recorded["bytes"] else "modified"
        raise ArtifactError(f"{shared} has {size} bytes but its manifest "
                            f"{manifest_path} records {recorded['bytes']}: the library is "
                            f"{state} (an interrupted copy?); copy it again or {_REEXPORT}")
    if file_digest(shared)["sha256"] != recorded["sha256"]:
        raise ArtifactError(f"{shared} does not have the SHA-256 its manifest {manifest_path} "
                            f"records: the library was modified or corrupted after export; "
                            f"copy it again or {_REEXPORT}")


# ELF64 little-endian layouts (the only kind graphc writes: x86-64 Linux)
_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
_SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")
_ET_DYN, _PT_LOAD, _SHT_NOBITS = 3, 1, 8


def _check_elf(path: str) -> None:
    """Raise ArtifactError unless `path` is a complete 64-bit ELF shared library: its header
    tables, loadable segments and sections with contents all lie within the file. dlopen
    maps the segments without comparing them with the file's length, and touching a page
    past the end of a truncated file kills the process with SIGBUS, so this runs first."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(_ELF_HEADER.size)
        if header[:4] != b"\x7fELF":
            raise ArtifactError(f"{path} is not a shared library (no ELF header)")
        if len(header) < _ELF_HEADER.size:
            raise ArtifactError(f"{path} is truncated: {size} bytes, shorter than an ELF "
                                f"header; copy it again or {_REEXPORT}")
        (ident, e_type, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         _) = _ELF_HEADER.unpack(header)
        if ident[4] != 2 or ident[5] != 1 or e_type != _ET_DYN:
            raise ArtifactError(f"{path} is not a 64-bit little-endian ELF shared library, "
                                "which graphc.export writes")
        extents = [(phoff, phnum * phentsize, "the program header table"),
                   (shoff, shnum * shentsize, "the section header table")]
        _within(path, size, extents)
        if (phnum and phentsize < _PROGRAM_HEADER.size) or \
                (shnum and shentsize < _SECTION_HEADER.size):
            raise ArtifactError(f"{path} is not a valid ELF file (header entries too small)")
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, offset, _, _, filesz, _, _ = _PROGRAM_HEADER.unpack(
                f.read(_PROGRAM_HEADER.size))
            if p_type == _PT_LOAD:
                extents.append((offset, filesz, f"loadable segment {i}"))
        for i in range(shnum):
            f.seek(shoff + i * shentsize)
            _, sh_type, _, _, offset, sh_size, _, _, _, _ = _SECTION_HEADER.unpack(
                f.read(_SECTION_HEADER.size))
            if sh_type != _SHT_NOBITS:
                extents.append((offset, sh_size, f"section {i}"))
    _within(path, size, extents)


def _within(path: str, size: int, extents: list) -> None:
    for offset, length, what in extents:
        if offset + length > size:
            raise ArtifactError(f"{path} is truncated: {what} ends at byte {offset + length} "
                                f"but the file has {size} bytes; copy it again or "
                                f"{_REEXPORT}")


def _declare(lib, name: str, path: str) -> dict:
    c = ctypes
    signatures = {
        "create": (c.c_void_p, []), "destroy": (None, [c.c_void_p]),
        "run": (c.c_int, [c.c_void_p, c.c_void_p, c.c_void_p]),
        "run_batch": (c.c_int, [c.c_void_p, c.c_int64, c.c_void_p, c.c_void_p]),
        "error": (c.c_char_p, [c.c_void_p]), "max_batch": (c.c_int64, []),
        "num_inputs": (c.c_int, []), "num_outputs": (c.c_int, []),
        "input_name": (c.c_char_p, [c.c_int]), "input_dtype": (c.c_int, [c.c_int]),
        "input_shape": (c.c_int, [c.c_int, c.c_void_p]),
        "output_name": (c.c_char_p, [c.c_int]), "output_dtype": (c.c_int, [c.c_int]),
        "output_shape": (c.c_int, [c.c_int, c.c_void_p]),
        "version": (c.c_char_p, []), "abi_version": (c.c_int, []),
    }
    functions = {}
    for suffix, (restype, argtypes) in signatures.items():
        try:
            fn = getattr(lib, f"{name}_{suffix}")
        except AttributeError:
            raise ArtifactError(f"{path} is not a graphc export: it does not define "
                                f"{name}_{suffix}, one of the {name}_* functions every "
                                "library written by graphc.export has") from None
        fn.restype, fn.argtypes = restype, argtypes
        functions[suffix] = fn
    return functions


def _ports(fn: dict, kind: str, path: str, max_batch: int) -> list:
    """The library's own description of its inputs or outputs, checked: the Python side
    sizes the arrays it passes by it, so a negative dimension or a size that overflows
    int64 (a library exported before export checked its arguments) is refused here."""
    def invalid(what: str) -> ArtifactError:
        return ArtifactError(f"{path} is not a valid graphc export: its {kind} {what}; "
                             f"{_REEXPORT}")
    count = fn[f"num_{kind}s"]()
    if not 0 <= count <= 1 << 20:
        raise invalid(f"count is {count}")
    ports = []
    for i in range(count):
        rank, name, code = fn[f"{kind}_shape"](i, None), fn[f"{kind}_name"](i), \
            fn[f"{kind}_dtype"](i)
        if not 0 <= rank <= 64 or name is None or code not in _DTYPES:
            raise invalid(f"{i} has rank {rank}, name {name!r} and dtype code {code}")
        dims = (ctypes.c_int64 * max(rank, 1))()
        fn[f"{kind}_shape"](i, dims)
        shape = tuple(int(d) for d in dims[:rank])
        if max_batch and shape and shape[0] == -1:  # -1: the batch dimension
            shape = (None,) + shape[1:]
        port = Port(name.decode(), _DTYPES[code], shape)
        problem = port.size_error(max_batch)
        if problem is not None:
            raise invalid(problem)
        ports.append(port)
    return ports


class _Context:
    """One native context; destroyed with this object (the library stays loaded while a
    context of it lives)."""

    def __init__(self, model: "Model"):
        self.model = model
        self.handle = model._fn["create"]()
        if not self.handle:
            raise MemoryError(f"{model.name}_create could not allocate its workspace")

    def __del__(self):
        if getattr(self, "handle", None):
            self.model._fn["destroy"](self.handle)
            self.handle = None


class Model:
    """A loaded artifact. `inputs` / `outputs`: Ports (name, dtype, shape; None marks the
    batch dimension); `max_batch`: 0 for fixed shapes, else the largest batch size."""

    def __init__(self, path):
        self.path, self.name, manifest, manifest_path = _shared_object(path)
        # before dlopen: it would map a truncated or foreign file and may crash the process
        if manifest is not None:
            _check_digest(self.path, manifest, manifest_path)
        _check_elf(self.path)
        self._lib = ctypes.CDLL(self.path)
        self._fn = _declare(self._lib, self.name, self.path)
        if self._fn["abi_version"]() != _ABI_VERSION:
            raise ArtifactError(f"{self.path} has C ABI version {self._fn['abi_version']()}, "
                                f"this graphc reads version {_ABI_VERSION}; {_REEXPORT}")
        self.version = self._fn["version"]().decode()
        self.max_batch = self._fn["max_batch"]()
        if not 0 <= self.max_batch < MAX_BYTES:
            raise ArtifactError(f"{self.path} reports a maximum batch size of "
                                f"{self.max_batch}: it is not a valid graphc export; "
                                f"{_REEXPORT}")
        self.inputs = _ports(self._fn, "input", self.path, self.max_batch)
        self.outputs = _ports(self._fn, "output", self.path, self.max_batch)
        self._local = threading.local()
        self._in_dtypes = [np.dtype(p.dtype) for p in self.inputs]
        self._out_dtypes = [np.dtype(p.dtype) for p in self.outputs]
        self._in_array = ctypes.c_void_p * max(len(self.inputs), 1)
        self._out_array = ctypes.c_void_p * max(len(self.outputs), 1)
        self._run, self._run_batch = self._fn["run"], self._fn["run_batch"]

    def __repr__(self) -> str:
        def text(ports):
            return ", ".join(f"{p.name}: {p.dtype}{list(p.shape)}" for p in ports)
        return f"<graphc.aot.Model {self.name} ({text(self.inputs)}) -> ({text(self.outputs)})>"

    def _context(self) -> _Context:
        ctx = getattr(self._local, "context", None)
        if ctx is None:
            ctx = self._local.context = _Context(self)
        return ctx

    def __call__(self, *args, **kwargs):
        """Run on the inputs (positional in order, or by name); returns the output array,
        or a tuple of them when the artifact has several outputs."""
        values = self._arguments(args, kwargs)
        batch = self._batch(values)
        arrays = [self._convert(p, v, batch, dt) for p, v, dt in
                  zip(self.inputs, values, self._in_dtypes)]
        outs = [np.empty(p.concrete(batch), dtype=dt) for p, dt in
                zip(self.outputs, self._out_dtypes)]
        ins = self._in_array(*[a.ctypes.data for a in arrays])
        ptrs = self._out_array(*[o.ctypes.data for o in outs])
        ctx = getattr(self._local, "context", None) or self._context()
        if self.max_batch:
            status = self._run_batch(ctx.handle, batch, ins, ptrs)
        else:
            status = self._run(ctx.handle, ins, ptrs)
        if status:
            message = self._fn["error"](ctx.handle).decode()
            raise InvalidArgumentError(message) if status == 3 else ValueError(message)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _arguments(self, args, kwargs) -> list:
        names = [p.name for p in self.inputs]
        if args and kwargs:
            raise TypeError(f"{self.name}: pass the inputs by position or by name, not both")
        if kwargs:
            unknown = sorted(set(kwargs) - set(names))
            missing = [n for n in names if n not in kwargs]
            if unknown or missing:
                raise TypeError(f"{self.name} takes inputs {names}; unknown {unknown}, "
                                f"missing {missing}")
            return [kwargs[n] for n in names]
        if len(args) != len(names):
            raise TypeError(f"{self.name} takes {len(names)} inputs {names}, got {len(args)}")
        return list(args)

    def _batch(self, values) -> int:
        """The batch size the batched inputs agree on (0 for fixed shapes)."""
        if not self.max_batch:
            return 0
        sizes = {}
        for p, v in zip(self.inputs, values):
            if not p.batched:
                continue
            if not np.ndim(v):
                shown = ["batch"] + list(p.shape[1:])
                raise ValueError(f"{self.name}: input {p.name} must have shape {shown}, got "
                                 "a scalar")
            sizes[p.name] = np.shape(v)[0]
        if len(set(sizes.values())) != 1:
            raise ValueError(f"{self.name}: the batched inputs must have the same leading "
                             f"dimension, got {sizes}")
        # Refused here, before native code: run_batch refuses the same range, and within
        # it every array's byte size fits in int64 (checked when the library was loaded).
        batch = next(iter(sizes.values()))
        if not 1 <= batch <= self.max_batch:
            raise ValueError(f"{self.name}: batch size {batch} is out of range "
                             f"[1, {self.max_batch}]")
        return batch

    def _convert(self, port: Port, value, batch: int, dtype: np.dtype) -> np.ndarray:
        expected = port.concrete(batch)
        if type(value) is np.ndarray and value.dtype == dtype and value.shape == expected \
                and value.flags.c_contiguous:
            return value  # the common case, checked without conversions
        array = np.asarray(value)
        if not dtypes.can_cast_losslessly(array, dtypes.as_dtype(port.dtype)):
            raise TypeError(f"{self.name}: input {port.name} has dtype {port.dtype}, got "
                            f"{array.dtype} values (the conversion would lose data)")
        if array.shape != expected:
            shown = ["batch" if d is None else d for d in port.shape]
            raise ValueError(f"{self.name}: input {port.name} must have shape {shown}, got "
                             f"{list(array.shape)}")
        return np.ascontiguousarray(array, dtype=port.dtype)


def load(path) -> Model:
    """Load an artifact written by graphc.export (its lib<name>.so, its <name>.json or
    the directory holding them) as a callable Model."""
    return Model(path)
