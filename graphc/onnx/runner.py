"""A compiled ONNX model that runs on numpy arrays: what graphc.onnx.load returns and what
the onnx backend's prepare wraps.

graphc's shapes are static, so the model is imported once per signature of the inputs it
is called with: their shapes, and the values of the few inputs that decide shapes (a
Reshape's target shape fed as an input, a TopK's k). Each signature gets its own graph and
compiled plan, kept for the next call with the same signature; most models have one.
Which inputs decide shapes is found by the importer (ConstantInputError names them).

A model file loaded before (same bytes, CPU, graphc, target and options) runs from the
disk cache without being parsed or imported (graphc/onnx/stored.py).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from graphc.onnx import model_file, registry
from graphc.onnx.checks import check_support
from graphc.onnx.errors import ConstantInputError
from graphc.onnx.importer import _opsets, import_model
from graphc.onnx.stored import ModelStore, model_digest
from graphc.options import default_options, resolve_target
from graphc.runtime.cache import default_cache


class CompiledModel:
    """Call with the model's inputs (positionally, in model order, or by name); returns
    the outputs as a list of numpy arrays in model order. `run(feeds)` returns a dict."""

    def __init__(self, model, target: Optional[str] = None, options=None,
                 base_dir: Optional[str] = None):
        self.target, self.options = target, options
        self._bound: tuple = ()  # inputs imported as constants, by value
        self._plans: dict = {}
        self._source, self._proto = (model, base_dir), None
        self._store = ModelStore.of(model, target, options) if base_dir is None else None
        interface = self._store.interface() if self._store is not None else None
        if interface is None:
            self._begin_library()
            self._parse()
            self._begin_workers()
            self._narrow: dict = {}
        else:  # stored before: parsed only if a call's signature was not
            self.input_names, self.output_names = interface["inputs"], interface["outputs"]
            self._narrow = {n: registry.numpy_dtype(e) for n, e in interface["narrow"].items()}

    def _begin_library(self) -> None:
        """On the LLVM target, start loading the GEMM library (compiling it into an empty
        cache takes about 1 s) while the model is parsed, imported and optimized."""
        options = self.options or default_options()
        if resolve_target(self.target or None, options) == "llvm" \
                and not options.compile_in_process:
            from graphc.codegen_llvm.library import begin_loading
            begin_loading(default_cache(options))

    def _begin_workers(self) -> None:
        """On the LLVM target, start the compile workers that a model of this many nodes
        will be compiled on (about 0.15 s each) while it is imported and optimized, and the
        loading of the GEMM that reads a convolution's input in place where the model has
        convolutions (the library part a plan would otherwise ask for only once built)."""
        from graphc.runtime.llvm import compile_parts
        options = self.options or default_options()
        if resolve_target(self.target or None, options) != "llvm":
            return
        parts = compile_parts(len(self._proto.graph.node), options)
        if parts > 1:
            from graphc.codegen_llvm.compile_worker import start_workers
            start_workers(parts)
        if not options.compile_in_process and any(
                node.op_type in ("Conv", "ConvTranspose") for node in self._proto.graph.node):
            from graphc.codegen_llvm.library import begin_loading
            begin_loading(default_cache(options), ("runtime", "gemm_indirect_f32"))

    @property
    def proto(self):
        """The model's ModelProto (parsed on first use when the model was stored)."""
        if self._proto is None:
            self._parse()
        return self._proto

    def _parse(self) -> None:
        model, base_dir = self._source
        if self._store is not None and isinstance(model, (str, os.PathLike)):
            # parse the very bytes the store's key hashes: a file rewritten since the model
            # was loaded is another model, whose plans must not be stored under this key
            try:
                with open(model, "rb") as f:
                    data = f.read()
            except OSError:
                data = None  # read_model reports it
            if data is not None:
                if model_digest(data) != self._store.digest:
                    self._store = None
                model, base_dir = data, os.path.dirname(os.path.abspath(model))
        info: dict = {}
        label = repr(os.fspath(self._source[0])) if model is not self._source[0] else None
        self._proto = model_file.read_model(model, base_dir, info, label)
        if info["external"]:
            self._store = None  # its data lives in other files, which the key does not cover
        self._inferred = model_file.inferred_types(self._proto)
        check_support(self._proto.graph, _opsets(self._proto),
                      {**self._inferred, **model_file.declared_types(self._proto.graph)})
        inits = {t.name for t in self._proto.graph.initializer}
        self.input_names = [vi.name for vi in self._proto.graph.input if vi.name not in inits]
        self.output_names = [vi.name for vi in self._proto.graph.output]

    def __call__(self, *args, **named) -> list:
        if args and named:
            raise TypeError("pass the inputs either positionally or by name, not both")
        if args:
            if len(args) != len(self.input_names):
                raise TypeError(f"the model takes {len(self.input_names)} inputs "
                                f"{self.input_names}, {len(args)} given")
            named = dict(zip(self.input_names, args))
        out = self.run(named)
        return [out[name] for name in self.output_names]

    def run(self, feeds: dict) -> dict:
        missing = [n for n in self.input_names if n not in feeds]
        unknown = [n for n in feeds if n not in self.input_names]
        if missing or unknown:
            raise KeyError(f"the model's inputs are {self.input_names}; missing {missing}, "
                           f"unknown {unknown}")
        arrays = {n: np.asarray(v) for n, v in feeds.items()}
        stored = self._stored_plan(arrays)
        if stored is not None:
            values = stored.run({n: _carried(a, self._narrow[n]) if n in self._narrow else a
                                 for n, a in arrays.items()})
            return {n: v.astype(self._narrow[n]) if n in self._narrow else v
                    for n, v in zip(self.output_names, values)}
        first = self._key(arrays) not in self._plans
        imported, session = self._plan(arrays)
        fed = {}
        for n, placeholder in imported.inputs.items():
            a = arrays[n]
            if n in imported.narrow:  # carried in a wider type
                a = _carried(a, imported.narrow[n])
            fed[placeholder] = a
        values = session.run([imported.outputs[n] for n in self.output_names], fed)
        if first and self._store is not None and not self._bound:
            self._store.save(self._key(arrays), session, imported, self.input_names,
                             self.output_names)
        return {n: np.asarray(v).astype(imported.narrow[n]) if n in imported.narrow
                else np.asarray(v) for n, v in zip(self.output_names, values)}

    def _stored_plan(self, arrays: dict):
        """The stored plan for these inputs' signature when it was not compiled in this
        process, loaded once; None when there is none (the model is then parsed and
        compiled) or the model is not stored."""
        if self._store is None or self._bound:
            return None
        signature = self._key(arrays)
        if signature in self._plans:
            return None
        key = ("stored",) + signature
        if key not in self._plans:
            found = self._store.plan(signature)
            if found is None:
                return None
            self._plans[key] = found
        return self._plans[key]

    def _plan(self, arrays: dict):
        while True:
            key = self._key(arrays)
            if key in self._plans:
                return self._plans[key]
            try:
                imported = import_model(
                    self.proto, inferred=self._inferred,
                    constants={n: arrays[n] for n in self._bound},
                    input_shapes={n: a.shape for n, a in arrays.items() if n not in self._bound})
            except ConstantInputError as e:
                new = [n for n in e.names if n not in self._bound]
                if not new:
                    raise
                self._bound = tuple(sorted(set(self._bound) | set(new)))
                continue
            self._plans[key] = (imported, self._session(imported))
            return self._plans[key]

    def _key(self, arrays: dict) -> tuple:
        shapes = tuple((n, a.shape, a.dtype.str) for n, a in sorted(arrays.items()))
        values = tuple((n, arrays[n].dtype.str, arrays[n].tobytes()) for n in self._bound)
        return shapes + values

    def _session(self, imported):
        from graphc.runtime.session import Session
        session = Session(graph=imported.graph, target=self.target or "", config=self.options)
        if self._store is not None:  # the model's own store keeps its plans
            session._executor.stores_plans = False
        if imported.variables:
            session.run(imported.initializer)
        return session

    def close(self) -> None:
        for entry in self._plans.values():
            if isinstance(entry, tuple):
                entry[1].close()
        self._plans.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load(path, target: Optional[str] = None, options=None,
         base_dir: Optional[str] = None) -> CompiledModel:
    """Read an ONNX model (path, bytes or ModelProto), check that graphc supports all of it,
    and return a callable that compiles it on first use (see CompiledModel)."""
    return CompiledModel(path, target, options, base_dir)


def _carried(a: np.ndarray, narrow: np.dtype) -> np.ndarray:
    """An input of a narrow ONNX type (given as that type or one numpy converts to it) in
    the graphc dtype that carries it."""
    carrier = registry.graphc_dtype(registry.elem_type_of(narrow))
    return a.astype(narrow).astype(carrier.np)
