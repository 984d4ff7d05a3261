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
  kept in the manifest, and read into fresh aligned memory (not mapped: see _read_blob).

A plan is stored only when nothing in it needs the session: no variables, no values drawn
on the host, no prints, no commits (`storable`). Anything missing, damaged or inconsistent at
load is a miss (None): the caller compiles as usual and stores again. Loading never executes
anything but the object code the code cache already vouches for.

A session's plans (save_session / load_session, keyed by runtime/plan_key.py from the user's
graph) are stored the same way, and may also read and assign variables: the manifest names
the nodes it binds by their position in the key's order, and the session binds its own
variables to them, and a random draw (host slot) is stored as its op and attributes, drawn
from the session's generator of the node it stands for. Its host calls (prints,
collectives) are stored as the uid the code passes, the position of the node with that uid,
and the buffers' dtypes and shapes: the session's callbacks run its own node. The
constants files of all stored plans keep to PLANS_BUDGET_BYTES.
"""

from __future__ import annotations

import ctypes
import dataclasses
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
_READ_CHUNK = 1 << 20
# The stored plans' constants together keep to this many bytes: storing one more removes
# the least recently used others (a program whose constants change with every run, drawn
# at random without a seed, would otherwise add a model's weights to the disk each run).
PLANS_BUDGET_BYTES = 2 << 30


def storable(plan, session: bool = False) -> Optional[str]:
    """Why `plan` cannot be stored, or None when it can. A plan stored for a model file
    (`session` False) needs nothing of a session; a session's plan (save_session) may also
    read and assign the session's variables, draw random numbers from the session's
    generators and call back into the session (prints, collectives: save_session names
    each call's node)."""
    allowed = {"feed", "constant", "arena", "unused"} | (
        {"variable", "packed", "host", "callback"} if session else set())
    kinds = {slot.kind for slot in plan.slots} - allowed
    if kinds:
        return f"its pointer table holds {', '.join(sorted(kinds))} slots"
    if plan.commits and not session:
        return "it assigns variables"
    if not plan.code_keys:
        return "its object code is not in the cache"
    return None


def blob_path(cache, key: str) -> str:
    return os.path.join(cache.directory, PLANS_DIR, f"{key}.bin")


def _constants(plan) -> tuple:
    """(constants as (offset, array), {slot index: its entry in the manifest}, bytes) of
    the constants of `plan`, laid out one after the other in the blob."""
    constants, layout, size = [], {}, 0
    for i, slot in enumerate(plan.slots):
        if slot.kind == "constant":
            array = np.ascontiguousarray(slot.array)
            size += (-size) % _BLOB_ALIGN
            layout[i] = {"offset": size, "dtype": array.dtype.str, "shape": list(array.shape)}
            constants.append((size, array))
            size += array.nbytes
    return constants, layout, size


def _store(cache, key: str, manifest: dict, constants: list) -> bool:
    try:
        manifest["blob_xxh3"] = _write_constants(blob_path(cache, key), constants)
    except OSError:
        return False
    cache.store(key, json.dumps(manifest, sort_keys=True).encode())
    _keep_to_budget(os.path.dirname(blob_path(cache, key)), PLANS_BUDGET_BYTES)
    return True


def _keep_to_budget(folder: str, budget: int) -> None:
    """Remove the least recently used constants files (by modification time, which a load
    renews) in `folder` until the rest take at most `budget` bytes. A plan whose constants
    are gone is a miss, compiled and stored again."""
    try:
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(".bin") and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((st.st_mtime_ns, st.st_size, entry.path))
    except OSError:
        return
    total = sum(size for _, size, _ in found)
    for _, size, path in sorted(found):
        if total <= budget:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size


def save(cache, key: str, plan, feeds: list, describe) -> bool:
    """Store `plan` under `key`; `feeds` lists (slot index, input name) of its fed slots,
    describe(node) names a kernel's node in errors. False (nothing written) when the plan
    is not storable or the disk refuses."""
    if storable(plan) is not None:
        return False
    constants, layout, size = _constants(plan)
    fed = dict(feeds)
    manifest = {
        "format": FORMAT,
        "arena_bytes": int(plan.arena_bytes),
        "slots": [{"kind": s.kind, "offset": int(s.offset), **layout.get(i, {}),
                   **({"input": fed[i], "dtype": s.node.dtype.name,
                       "shape": list(s.node.shape)} if s.kind == "feed" else {})}
                  for i, s in enumerate(plan.slots)],
        "fetches": _fetches(plan),
        "kernels": {str(k): [list(kernel.messages), describe(kernel.notes["origin"])]
                    for k, kernel in enumerate(plan.kernels) if kernel.messages},
        "codes": list(plan.code_keys),
        "exports": [list(e) for e in plan.exports],
        "blob_bytes": size,
    }
    if any(s["kind"] == "feed" and s.get("input") is None for s in manifest["slots"]):
        return False  # a fed slot the caller did not name
    return _store(cache, key, manifest, constants)


def _fetches(plan) -> list:
    return [None if f is None else [int(f[0]), np.dtype(f[1]).str, list(f[2])]
            for f in plan.fetch_slots]


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
    found = _load(cache, key, FORMAT)
    if found is None:
        return None
    try:
        return StoredPlan(cache, *found)
    except (ValueError, KeyError, TypeError, IndexError):  # a manifest not of our making
        return None


def _load(cache, key: str, fmt) -> Optional[tuple]:
    """(manifest, constants (read), object code of each module) stored under `key` in
    format `fmt`, or None."""
    raw = cache.load(key)
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != fmt:
            return None
        blob = _read_blob(cache, key, manifest)
        if blob is None:
            return None
        codes = [cache.load(k) for k in manifest["codes"]]
        if any(c is None for c in codes):
            return None
        return manifest, blob, codes
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _read_blob(cache, key: str, manifest: dict):
    """The constants file of `key`, read into fresh memory aligned to _BLOB_ALIGN and checked
    against the manifest's size and hash, or None. Read, not mapped: a mapped file that
    something truncates in place while a plan uses it would end the process (SIGBUS) at its
    next run. Reading costs about 2.5 ms per 10 MB more than mapping (ResNet-18: 12 ms)."""
    import xxhash

    from graphc.codegen_llvm.gemm import aligned_empty
    path, size = blob_path(cache, key), int(manifest["blob_bytes"])
    blob, digest = aligned_empty(size, np.uint8, _BLOB_ALIGN), xxhash.xxh3_64()
    try:
        with open(path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size != size:
                return None
            view, done = memoryview(blob), 0
            while done < size:  # hashed a chunk at a time, while it is in cache
                got = f.readinto(view[done:done + _READ_CHUNK])
                if not got:
                    return None  # shorter than it said (truncated meanwhile)
                digest.update(view[done:done + got])
                done += got
    except OSError:
        return None
    if f"{digest.intdigest():016x}" != manifest["blob_xxh3"]:
        return None
    try:
        os.utime(path)  # recently used (_keep_to_budget)
    except OSError:
        pass
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


# --- a session's plans (runtime/llvm.py, keyed by runtime/plan_key.py) -------------------------
SESSION_FORMAT = "session-1"


def save_session(cache, key: str, plan, index_of: dict) -> bool:
    """Store a session's compiled `plan` under `key`; `index_of` gives each node of the
    user's graph its position in the key (plan_key), by which the plan names the nodes it
    binds (feeds, variables), assigns and comes from. False (nothing written) when it is
    not storable (storable(plan, session=True)) or names a node outside the key."""
    if storable(plan, session=True) is not None:
        return False
    constants, layout, size = _constants(plan)
    try:
        slots = []
        for i, slot in enumerate(plan.slots):
            entry = {"kind": slot.kind, "offset": int(slot.offset), **layout.get(i, {})}
            if slot.kind in ("feed", "variable", "packed", "host"):
                entry["node"] = index_of[slot.node]
            if slot.kind == "host":
                entry["draw"] = _draw_out(slot.draw)
            if slot.kind == "packed":
                off, rows, cols, k, n, blocking = slot.pack
                entry["pack"] = [int(off), int(rows), int(cols), int(k), int(n),
                                 dataclasses.asdict(blocking)]
                entry["elems"], entry["dtype"] = int(slot.array.size), slot.array.dtype.str
            slots.append(entry)
        manifest = {
            "format": SESSION_FORMAT,
            "arena_bytes": int(plan.arena_bytes),
            "slots": slots,
            "fetches": _fetches(plan),
            "commits": [[index_of[var], int(s), list(shape)] for var, s, shape in plan.commits],
            "needs": [index_of[var] for var in plan.needs_value],
            "direct": sorted(int(s) for s in plan.direct),
            "program": None if plan.program is None else _program_out(plan.program),
            "kernels": [[k.name, index_of.get(k.notes.get("origin")), list(k.messages)]
                        for k in plan.kernels],
            "codes": list(plan.code_keys),
            "exports": [list(e) for e in plan.exports],
            "blob_bytes": size,
            "calls": _calls_out(plan, index_of),
        }
    except (KeyError, ValueError):  # a node the key does not hold, a draw it cannot
        return False
    return _store(cache, key, manifest, constants)


def _calls_out(plan, index_of: dict) -> list:
    """The plan's host calls (prints, collectives: runtime/host_calls.py) as [uid the code
    passes, the position of the user's node with that uid in the key, the buffers' [dtype,
    shape] as the plan passes them]; KeyError where a call's node is not in the key."""
    from graphc.runtime.host_calls import calls_of, layout_of
    calls = calls_of(plan.kernels)
    if not calls:
        return []
    by_uid = {node.attrs["uid"]: node for node in index_of
              if node.op.stateful and "uid" in node.attrs}
    return [[int(uid), index_of[by_uid[uid]],
             [[np.dtype(dtype).str, [int(d) for d in shape]] for dtype, shape in layout_of(node)]]
            for uid, node in sorted(calls.items())]


def _calls_in(entries: list, node) -> Optional[dict]:
    """{uid: (this process's node, [(dtype, shape) of each buffer])} of _calls_out's
    entries (node: a position in the key to its node), None for none. A call whose node is
    not a print or a collective, or whose buffers are not those the node's dtypes say, is a
    ValueError (a manifest not of our making)."""
    from graphc.runtime.host_calls import HOST_CALLS, layout_of
    if not entries:
        return None
    out = {}
    for uid, position, layout in entries:
        n = node(position)
        if n.op.name not in HOST_CALLS:
            raise ValueError(f"a host call of a {n.op.name} node")
        buffers = [(np.dtype(dtype), tuple(int(d) for d in shape)) for dtype, shape in layout]
        expected = layout_of(n)  # (the user's node: None where a dimension is fed)
        if len(buffers) != len(expected) or any(
                dtype != want or len(shape) != len(dims) or
                any(d is not None and d != e for d, e in zip(dims, shape))
                for (dtype, shape), (want, dims) in zip(buffers, expected)):
            raise ValueError(f"a host call of a {n.op.name} node that does not match it")
        out[int(uid)] = (n, buffers)
    return out


def _draw_out(draw) -> dict:
    """A host slot's random node (compiler/buffers.py: no inputs, its shape resolved) as
    its op and attributes; ValueError (attr_json.GraphFormatError) where it has inputs or
    an attribute the graph format cannot hold."""
    from graphc.ir.attr_json import GraphFormatError, encode_attribute
    if draw.inputs or draw.deps:
        raise GraphFormatError(f"a draw with inputs: {draw!r}")
    return {"op": draw.op.name, "attrs": {k: encode_attribute(v)
                                          for k, v in draw.attrs.items() if k != "uid"}}


def _draw_in(entry: dict):
    from graphc.ir import ops as prims
    from graphc.ir.attr_json import decode_attribute
    from graphc.ir.node import make_node
    op = prims.get(entry["op"])
    if op.name != "random":
        raise ValueError(f"a host slot drawing {op.name!r}")
    return make_node(op, (), {k: decode_attribute(v) for k, v in entry["attrs"].items()})


def load_session(cache, key: str, nodes: list) -> Optional[tuple]:
    """(plan, object code of each module) stored under `key` for the graph whose nodes in
    key order are `nodes`, or None (a miss). The plan's slots, fetches, commits, program
    and kernels' names and messages are as compiled; its constants are views of the stored
    file (read into memory); a packed slot has fresh memory of its size, to be filled
    before the first run; the runtime fields (entry, table, arena) are left to the caller."""
    from graphc.codegen_llvm.gemm import aligned_empty
    from graphc.codegen_llvm.gemm.kernels import GemmBlocking
    from graphc.compiler.plan import Plan, Slot
    from graphc.ir import kernel as K
    found = _load(cache, key, SESSION_FORMAT)
    if found is None:
        return None
    manifest, blob, codes = found

    def node(i):
        if not isinstance(i, int) or not 0 <= i < len(nodes):
            raise IndexError(f"node {i!r} is not in the graph")
        return nodes[i]

    try:
        slots = []
        for entry in manifest["slots"]:
            kind = entry["kind"]
            slot = Slot(kind, offset=int(entry["offset"]))
            if kind in ("feed", "variable", "packed", "host"):
                slot.node = node(entry["node"])
            if kind == "host":
                slot.draw = _draw_in(entry["draw"])
            elif kind == "constant":
                dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
                start, nbytes = int(entry["offset"]), math.prod(shape) * dtype.itemsize
                if start % _BLOB_ALIGN or start + nbytes > len(blob):
                    raise ValueError("a constant past the end of the stored constants")
                slot.offset = 0
                slot.array = blob[start:start + nbytes].view(dtype).reshape(shape)
            elif kind == "packed":
                off, rows, cols, k, n, blocking = entry["pack"]
                slot.pack = (off, rows, cols, k, n, GemmBlocking(**blocking))
                slot.array = aligned_empty(int(entry["elems"]), np.dtype(entry["dtype"]))
            elif kind == "arena" and not 0 <= slot.offset <= int(manifest["arena_bytes"]):
                raise ValueError("an arena slot past the arena")
            elif kind not in ("feed", "variable", "host", "arena", "unused", "callback"):
                raise ValueError(f"a slot of kind {kind!r}")
            slots.append(slot)
        kernels = [K.Kernel(str(name), (), (), (), tuple(str(m) for m in messages),
                            notes={"origin": None if origin is None else node(origin)})
                   for name, origin, messages in manifest["kernels"]]
        plan = Plan(
            slots=slots, kernels=kernels,
            fetch_slots=[None if f is None else (int(f[0]), np.dtype(f[1]), tuple(f[2]))
                         for f in manifest["fetches"]],
            commits=[(node(v), int(s), tuple(shape)) for v, s, shape in manifest["commits"]],
            needs_value=[node(v) for v in manifest["needs"]],
            arena_bytes=int(manifest["arena_bytes"]),
            program=None if manifest["program"] is None else
            _program_in(manifest["program"], len(kernels)),
            direct=frozenset(int(s) for s in manifest["direct"]),
            code_keys=tuple(manifest["codes"]), exports=[list(e) for e in manifest["exports"]],
            host_calls=_calls_in(manifest.get("calls", []), node))
        if (plan.host_calls is None) != all(s.kind != "callback" for s in slots):
            raise ValueError("host calls without a callback slot, or the reverse")
        if any(f is not None and not 0 <= f[0] < len(slots) for f in plan.fetch_slots) or \
                any(not 0 <= s < len(slots) for _, s, _ in plan.commits):
            raise IndexError("a fetch or an assignment past the slots")
        return plan, codes
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):  # not ours
        return None


def _program_out(program) -> list:
    """A plan's program (compiler/plan.py) as JSON: kernel indices, {"loop": [cond, pred,
    body]} and {"branch": [pred, then, other]}."""
    from graphc.compiler.plan import Loop
    out = []
    for entry in program:
        if isinstance(entry, int):
            out.append(int(entry))
        elif isinstance(entry, Loop):
            out.append({"loop": [_program_out(entry.cond), int(entry.pred),
                                 _program_out(entry.body)]})
        else:
            out.append({"branch": [int(entry.pred), _program_out(entry.then),
                                   _program_out(entry.other)]})
    return out


def _program_in(entries: list, kernels: int) -> tuple:
    from graphc.compiler.plan import Branch, Loop
    out = []
    for entry in entries:
        if isinstance(entry, int) and 0 <= entry < kernels:
            out.append(entry)
        elif isinstance(entry, dict) and "loop" in entry:
            cond, pred, body = entry["loop"]
            out.append(Loop(_program_in(cond, kernels), int(pred), _program_in(body, kernels)))
        elif isinstance(entry, dict) and "branch" in entry:
            pred, then, other = entry["branch"]
            out.append(Branch(int(pred), _program_in(then, kernels),
                              _program_in(other, kernels)))
        else:
            raise ValueError(f"a program entry {entry!r}")
    return tuple(out)
