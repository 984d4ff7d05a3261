"""Compiled ONNX models kept whole in the disk cache, keyed by the model file's contents.

The first load of a model file compiles it as usual; after its first successful call, the
compiled plan for that call's input signature is stored (runtime/plan_store.py) with the
model's interface (input and output names, the ONNX element types of those carried in
a wider type). A later
`graphc.onnx.load` of a file with the same bytes, on the same CPU, with the same graphc,
target and options, finds both: it neither parses the protobuf nor imports, optimizes or
renders the graph, and a call of a stored signature runs the stored plan. A call with a
signature not stored parses and compiles the model then, as a first load does.

Keys hold the XXH3-128 hash of the file's bytes, so a changed file is another model. Only
models whose data is all in the file (no external data), whose inputs decide no shapes,
and whose plans need no session state (runtime/plan_store.storable) are stored, and only
for the LLVM target. Models given as an onnx.ModelProto are not stored.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from graphc.options import default_options, resolve_target
from graphc.runtime import plan_store
from graphc.runtime.cache import CodeCache, default_cache

FORMAT = 2  # 2: narrow inputs and outputs by ONNX element type


def model_digest(model) -> Optional[str]:
    """The XXH3-128 hex digest of a model file's (or bytes') contents; None for a
    ModelProto or a path that is not a readable file (the normal path reports it)."""
    import xxhash
    if isinstance(model, (bytes, bytearray, memoryview)):
        return xxhash.xxh3_128_hexdigest(model)
    if not isinstance(model, (str, os.PathLike)):
        return None
    try:
        digest, size = xxhash.xxh3_128(), 0
        with open(os.fspath(model), "rb") as f:  # read in chunks (a mapping of a file
            while chunk := f.read(1 << 22):      # truncated meanwhile would be a SIGBUS)
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest() if size else None
    except (OSError, ValueError):
        return None


class ModelStore:
    """The stored interface and plans of one model file (see the module docstring)."""

    def __init__(self, digest: str, target: str, options):
        from graphc.codegen_llvm.jit import jit_signature
        from graphc.codegen_llvm.library import source_digest
        from graphc.version import __version__
        self.digest = digest
        self.options = options or default_options()
        self.cache = default_cache(self.options)
        # (the library's source: its GEMM's arguments, which stored code calls, follow it)
        self._base = ("graphc-onnx-stored", FORMAT, plan_store.FORMAT, digest, target,
                      self.options, os.cpu_count() or 1, jit_signature(), __version__,
                      source_digest())

    @classmethod
    def of(cls, model, target: Optional[str], options) -> Optional["ModelStore"]:
        """The store of `model`, or None when it cannot be stored (not a file or bytes, or
        a target other than LLVM)."""
        name = resolve_target(target or None, options)
        if name != "llvm":
            return None
        digest = model_digest(model)
        return None if digest is None else cls(digest, name, options)

    def _key(self, *parts) -> str:
        return CodeCache.key(*self._base, *parts)

    def interface(self) -> Optional[dict]:
        """{"inputs", "outputs", "narrow"} stored for this model, or None."""
        raw = self.cache.load(self._key("interface"))
        if raw is None:
            return None
        try:
            found = json.loads(raw)
            if isinstance(found.get("inputs"), list) and isinstance(found.get("outputs"), list) \
                    and isinstance(found.get("narrow"), dict) \
                    and all(isinstance(e, int) for e in found["narrow"].values()):
                return found
        except ValueError:
            pass
        return None

    def plan(self, signature: tuple) -> Optional[plan_store.StoredPlan]:
        return plan_store.load(self.cache, self._key("plan", signature))

    def save(self, signature: tuple, session, imported, inputs: list, outputs: list) -> bool:
        """Store the plan `session` compiled for its one run of `imported` (and the model's
        interface). False when there is not exactly one plan or it cannot be stored."""
        compiled = getattr(session._executor, "compiled_plans", list)()
        if len(compiled) != 1:
            return False
        ((plan, holds_values),) = compiled
        if holds_values:  # inputs read as shapes are constants in it: one plan per value
            return False
        if len(plan.fetch_slots) != len(outputs):  # an output repeated: fetched once
            return False
        names = {tensor.node: name for name, tensor in imported.inputs.items()}
        feeds = [(i, names.get(slot.node)) for i, slot in enumerate(plan.slots)
                 if slot.kind == "feed"]
        if not plan_store.save(self.cache, self._key("plan", signature), plan, feeds,
                               session.graph.describe):
            return False
        from graphc.onnx.registry import elem_type_of
        narrow = {n: elem_type_of(d) for n, d in imported.narrow.items()}
        self.cache.store(self._key("interface"), json.dumps(
            {"inputs": inputs, "outputs": outputs, "narrow": narrow}).encode())
        return True
