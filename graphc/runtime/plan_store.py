"""Stored plans: a compiled LLVM plan kept whole in the disk cache, so that a process loading
the same model again runs it without importing, optimizing, rendering or linking from IR.

What is stored, under a key the caller derives from everything the plan depends on (the
model's bytes, the fed shapes and dtypes, the options, the CPU, graphc's version):
- a manifest (JSON, data only) in the code cache (runtime/cache.py: sha256-checked, written
  atomically): the pointer table's slots (kind, arena offset, constant), the arena size,
  the feeds (slot, input name, dtype, shape) and fetches (slot, dtype, shape), each checking
  kernel's messages and what it computes (for errors), and the code-cache keys of the
  plan's object code with the kernel names each part exports;
- the constants (a model's weights) in one file beside the cache entries,
  `plans/<key>.bin`, written atomically, checked at load against its size and XXH3-64 hash
  kept in the manifest, then mapped copy-on-write (never copied whole).

A plan is stored only when nothing in it needs the session: no variables, no values drawn
on the host, no prints, no commits (`storable`). Anything missing, damaged or inconsistent at
load is a miss (None): the caller compiles as usual and stores again. Loading never executes
anything but the object code the code cache already vouches for.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import tempfile
import threading
from typing import Optional

import numpy as np

from graphc.errors import InvalidArgumentError
from graphc.ir import dtypes
from graphc.passes.memory import ALIGN
from graphc.runtime.cache import PLANS_DIR
from graphc.runtime.host_calls import array_at

FORMAT = 1
_BLOB_ALIGN = 64


def storable(plan) -> Optional[str]:
    """Why `plan` cannot be stored (it needs the session), or None when it can."""
    kinds = {slot.kind for slot in plan.slots} - {"feed", "constant", "arena", "unused"}
    if kinds:
        return f"its pointer table holds {', '.join(sorted(kinds))} slots"
    if plan.commits:
        return "it assigns variables"
    if not plan.code_keys:
        return "its object code is not in the cache"
    return None


def blob_path(cache, key: str) -> str:
    return os.path.join(cache.directory, PLANS_DIR, f"{key}.bin")


def save(cache, key: str, plan, feeds: list, describe) -> bool:
    """Store `plan` under `key`; `feeds` lists (slot index, input name) of its fed slots,
    describe(node) names a kernel's node in errors. False (nothing written) when the plan
    is not storable or the disk refuses."""
    if storable(plan) is not None:
        return False
    constants, layout, size = [], {}, 0
    for i, slot in enumerate(plan.slots):
        if slot.kind == "constant":
            array = np.ascontiguousarray(slot.array)
            size += (-size) % _BLOB_ALIGN
            layout[i] = {"offset": size, "dtype": array.dtype.str, "shape": list(array.shape)}
            constants.append((size, array))
            size += array.nbytes
    fed = dict(feeds)
    manifest = {
        "format": FORMAT,
        "arena_bytes": int(plan.arena_bytes),
        "slots": [{"kind": s.kind, "offset": int(s.offset), **layout.get(i, {}),
                   **({"input": fed[i], "dtype": s.node.dtype.name,
                       "shape": list(s.node.shape)} if s.kind == "feed" else {})}
                  for i, s in enumerate(plan.slots)],
        "fetches": [None if f is None else [int(f[0]), np.dtype(f[1]).str, list(f[2])]
                    for f in plan.fetch_slots],
        "kernels": {str(k): [list(kernel.messages), describe(kernel.notes["origin"])]
                    for k, kernel in enumerate(plan.kernels) if kernel.messages},
        "codes": list(plan.code_keys),
        "exports": [list(e) for e in plan.exports],
        "blob_bytes": size,
    }
    if any(s["kind"] == "feed" and s.get("input") is None for s in manifest["slots"]):
        return False  # a fed slot the caller did not name
    try:
        manifest["blob_xxh3"] = _write_constants(blob_path(cache, key), constants)
    except OSError:
        return False
    cache.store(key, json.dumps(manifest, sort_keys=True).encode())
    return True


def _write_constants(path: str, constants: list) -> str:
    """Write the constants ((offset, array) in order) as one file, zeros between them,
    atomically (temporary file, fsync, rename); the XXH3-64 of its bytes, as hex. Each
    array is written and hashed where it is, never gathered into a copy first."""
    import xxhash
    digest = xxhash.xxh3_64()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            at = 0
            for offset, array in constants:
                for part in (bytes(offset - at), memoryview(array.reshape(-1)).cast("B")):
                    f.write(part)
                    digest.update(part)
                at = offset + array.nbytes
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return f"{digest.intdigest():016x}"


def load(cache, key: str) -> Optional["StoredPlan"]:
    """The plan stored under `key`, ready to run, or None (a miss: not stored, damaged, or
    made by another format)."""
    raw = cache.load(key)
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            return None
        blob = _mapped_blob(cache, key, manifest)
        if blob is None:
            return None
        codes = [cache.load(k) for k in manifest["codes"]]
        if any(c is None for c in codes):
            return None
        return StoredPlan(cache, manifest, blob, codes)
    except (ValueError, KeyError, TypeError, IndexError):  # a manifest not of our making
        return None


def _mapped_blob(cache, key: str, manifest: dict):
    import xxhash
    path, size = blob_path(cache, key), int(manifest["blob_bytes"])
    try:
        if os.path.getsize(path) != size:
            return None
        blob = np.memmap(path, np.uint8, mode="c") if size else np.zeros(0, np.uint8)
    except OSError:
        return None
    if f"{xxhash.xxh3_64_intdigest(memoryview(blob)):016x}" != manifest["blob_xxh3"]:
        return None
    return blob


class StoredPlan:
    """A stored plan loaded into this process: run(arrays by input name) -> fetched values
    (fresh arrays, in the order they were stored). One run at a time (a lock)."""

    def __init__(self, cache, manifest: dict, blob, codes: list):
        from graphc.codegen_llvm.jit import JITModule
        from graphc.codegen_llvm.library import load_library, parts_called
        load_library(cache, parts_called(codes))  # the GEMMs and thread pool it calls
        self.module = JITModule.linked(codes, manifest["exports"])
        self.entry = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(
            self.module.address("graphc_run"))
        arena_bytes = int(manifest["arena_bytes"])
        self.arena = np.zeros(arena_bytes + ALIGN, dtype=np.uint8)
        shift = (-self.arena.ctypes.data) % ALIGN
        self.arena = self.arena[shift:shift + arena_bytes]
        slots = manifest["slots"]
        # one entry more than the slots: the trace slot graphc_run reads (always null here)
        self.table = (ctypes.c_void_p * (len(slots) + 1))()
        self.blob, self.feeds = blob, []
        for i, slot in enumerate(slots):
            if slot["kind"] == "arena":
                if slot["offset"] > arena_bytes:
                    raise ValueError("an arena slot past the arena")
                self.table[i] = self.arena.ctypes.data + slot["offset"]
            elif slot["kind"] == "constant":
                nbytes = math.prod(slot["shape"]) * np.dtype(slot["dtype"]).itemsize
                if slot["offset"] + nbytes > len(blob):
                    raise ValueError("a constant past the end of the stored constants")
                self.table[i] = blob.ctypes.data + slot["offset"] if len(blob) else 0
            elif slot["kind"] == "feed":
                self.feeds.append((i, slot["input"], dtypes.as_dtype(slot["dtype"]),
                                   tuple(slot["shape"])))
        self.fetches = [None if f is None else (f[0], np.dtype(f[1]), tuple(f[2]))
                        for f in manifest["fetches"]]
        self.kernels = {int(k): v for k, v in manifest["kernels"].items()}
        self.input_names = [name for _, name, _, _ in self.feeds]
        self._lock = threading.Lock()

    def run(self, arrays: dict) -> list:
        keep = [_fed(arrays[name], dtype, shape, name)
                for _, name, dtype, shape in self.feeds]
        with self._lock:
            for (index, _, _, _), array in zip(self.feeds, keep):
                self.table[index] = array.ctypes.data
            status = self.entry(self.table)
            if status:
                raise self._failure(status)
            return [None if f is None else array_at(self.table[f[0]], f[1], f[2]).copy()
                    for f in self.fetches]

    def _failure(self, status: int) -> InvalidArgumentError:
        index, code = status >> 16, (status & 0xFFFF) - 1
        messages, what = self.kernels.get(index, ([], f"kernel {index}"))
        message = messages[code] if 0 <= code < len(messages) else f"check {code} failed"
        return InvalidArgumentError(f"{what} failed: {message}")


def _fed(value, dtype, shape: tuple, name: str) -> np.ndarray:
    """`value` as a C-ordered array of the input's dtype and shape, checked as a Session
    checks a feed."""
    array = np.asarray(value)
    if array.dtype != dtype.np:
        if array.dtype.kind not in "biuf" or not dtypes.can_cast_losslessly(array, dtype):
            raise TypeError(f"Cannot feed value of dtype {array.dtype} to input '{name}', "
                            f"which has dtype {dtype}: the conversion would lose data")
    if array.shape != shape:
        raise ValueError(f"Cannot feed value of shape {array.shape} to input '{name}', "
                         f"which has shape {shape}")
    return np.ascontiguousarray(array, dtype=dtype.np)
