"""A compiled ONNX model that runs on numpy arrays: what graphc.onnx.load returns and what
the onnx backend's prepare wraps.

graphc's shapes are static, so the model is imported once per signature of the inputs it
is called with: their shapes, and the values of the few inputs that decide shapes (a
Reshape's target shape fed as an input, a TopK's k). Each signature gets its own graph and
compiled plan, kept for the next call with the same signature; most models have one.
Which inputs decide shapes is found by the importer (ConstantInputError names them).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from graphc.onnx import model_file
from graphc.onnx.checks import check_support
from graphc.onnx.errors import ConstantInputError
from graphc.onnx.importer import _opsets, import_model


class CompiledModel:
    """Call with the model's inputs (positionally, in model order, or by name); returns
    the outputs as a list of numpy arrays in model order. `run(feeds)` returns a dict."""

    def __init__(self, model, target: Optional[str] = None, options=None,
                 base_dir: Optional[str] = None):
        self.proto = model_file.read_model(model, base_dir)
        self._inferred = model_file.inferred_types(self.proto)
        check_support(self.proto.graph, _opsets(self.proto),
                      {**self._inferred, **model_file.declared_types(self.proto.graph)})
        inits = {t.name for t in self.proto.graph.initializer}
        self.input_names = [vi.name for vi in self.proto.graph.input if vi.name not in inits]
        self.output_names = [vi.name for vi in self.proto.graph.output]
        self.target, self.options = target, options
        self._bound: tuple = ()  # inputs imported as constants, by value
        self._plans: dict = {}

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
        imported, session = self._plan(arrays)
        fed = {}
        for n, placeholder in imported.inputs.items():
            a = arrays[n]
            if n in imported.narrow:  # carried in a wider integer
                a = a.astype(imported.narrow[n]).astype(placeholder.dtype.np)
            fed[placeholder] = a
        values = session.run([imported.outputs[n] for n in self.output_names], fed)
        return {n: np.asarray(v).astype(imported.narrow[n]) if n in imported.narrow
                else np.asarray(v) for n, v in zip(self.output_names, values)}

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
        if imported.variables:
            session.run(imported.initializer)
        return session

    def close(self) -> None:
        for _, session in self._plans.values():
            session.close()
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
