"""graphc.load: an exported artifact back in Python, through ctypes, as a callable.

    model = graphc.load("out/libmlp.so")     # or the directory, or out/mlp.json
    probs = model(x)                         # one array per output (a tuple if several)

The library describes itself (names, dtypes, shapes through its query functions), so only
the .so is needed; the manifest is read when a directory or a .json is given. Arguments are
checked in Python before the native call (count, dtype, shape, a consistent batch size),
with the messages a Session gives, and the C boundary checks again. Each Python thread gets
its own context, so threads may call one model concurrently.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading

import numpy as np

from graphc.aot.model import DTYPE_CODES, Port
from graphc.errors import InvalidArgumentError
from graphc.ir import dtypes

_DTYPES = {code: name for name, code in DTYPE_CODES.items()}
_ABI_VERSION = 1


def _shared_object(path) -> tuple:
    """(path of lib<name>.so, name) for a .so, a manifest or a directory holding one."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".json"))
        if len(found) != 1:
            raise FileNotFoundError(f"{path} must hold exactly one <name>.json manifest, "
                                    f"found {found}")
        path = os.path.join(path, found[0])
    if path.endswith(".json"):
        with open(path) as f:
            manifest = json.load(f)
        if manifest.get("format") != "graphc-aot":
            raise ValueError(f"{path} is not a graphc artifact manifest")
        return os.path.join(os.path.dirname(path), manifest["files"]["shared"]), \
            manifest["name"]
    base = os.path.basename(path)
    if not (base.startswith("lib") and base.endswith(".so")):
        raise ValueError(f"expected lib<name>.so, <name>.json or a directory, got {path}")
    return path, base[3:-3]


def _declare(lib, name: str) -> dict:
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
        fn = getattr(lib, f"{name}_{suffix}")
        fn.restype, fn.argtypes = restype, argtypes
        functions[suffix] = fn
    return functions


def _ports(fn: dict, kind: str) -> list:
    ports = []
    for i in range(fn[f"num_{kind}s"]()):
        rank = fn[f"{kind}_shape"](i, None)
        dims = (ctypes.c_int64 * max(rank, 1))()
        fn[f"{kind}_shape"](i, dims)
        shape = tuple(None if d < 0 else int(d) for d in dims[:rank])
        ports.append(Port(fn[f"{kind}_name"](i).decode(), _DTYPES[fn[f"{kind}_dtype"](i)],
                          shape))
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
        self.path, self.name = _shared_object(path)
        self._lib = ctypes.CDLL(self.path)
        self._fn = _declare(self._lib, self.name)
        if self._fn["abi_version"]() != _ABI_VERSION:
            raise ValueError(f"{self.path} has C ABI version {self._fn['abi_version']()}, "
                             f"this graphc reads version {_ABI_VERSION}")
        self.version = self._fn["version"]().decode()
        self.inputs = _ports(self._fn, "input")
        self.outputs = _ports(self._fn, "output")
        self.max_batch = self._fn["max_batch"]()
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
        sizes = {p.name: np.shape(v)[0] if np.ndim(v) else None
                 for p, v in zip(self.inputs, values) if p.batched}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"{self.name}: the batched inputs must have the same leading "
                             f"dimension, got {sizes}")
        batch = next(iter(sizes.values()))
        if batch is None or not 1 <= batch <= self.max_batch:
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
