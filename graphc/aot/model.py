"""What an artifact is made of, independent of how it is written: ports, plans, weights.

These records are what the C wrapper generator (cabi.py) and the manifest consume.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from dataclasses import dataclass, field

import numpy as np

ALIGN = 64
# the graphc_dtype enumeration of the C header; numpy dtype name -> code
DTYPE_CODES = {"float16": 1, "float32": 2, "float64": 3, "int32": 4, "int64": 5, "bool": 6,
               "int8": 7, "uint8": 8, "int16": 9, "uint16": 10}
C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Every array of an artifact (an input or output at the largest batch, the arena) stays
# below MAX_BYTES, so the C wrapper's int64 byte counts, and their sums with offsets, never
# overflow. export() refuses larger ones, load() refuses libraries that report larger ones.
MAX_BYTES = 2**62


@dataclass(frozen=True)
class Port:
    """One input or output: its name, numpy dtype name and shape, where a batched port's
    shape has None at axis 0 (the batch size, given at each call)."""
    name: str
    dtype: str
    shape: tuple

    @property
    def batched(self) -> bool:
        return len(self.shape) > 0 and self.shape[0] is None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def row_bytes(self) -> int:
        """Bytes of one batch row (of the whole value when not batched)."""
        dims = self.shape[1:] if self.batched else self.shape
        return math.prod(dims) * self.itemsize

    def concrete(self, batch: int) -> tuple:
        return (batch,) + tuple(self.shape[1:]) if self.batched else tuple(self.shape)

    def as_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def size_error(self, rows: int) -> str | None:
        """Why this port cannot be in an artifact that runs up to `rows` batch rows at once
        (a negative or non-integer dimension, or MAX_BYTES or more), else None."""
        dims = self.shape[1:] if self.batched else self.shape
        shown = ["batch" if d is None else d for d in self.shape]
        if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0
               for d in dims):
            return (f"{self.name} has shape {shown}: every dimension but a leading batch "
                    "dimension must be an int >= 0")
        size = self.row_bytes * (rows if self.batched else 1)
        if size >= MAX_BYTES:
            rows_text = f" for {rows} rows" if self.batched else ""
            return (f"{self.name} {self.dtype}{shown} would take {size} bytes{rows_text}, "
                    f"more than the {MAX_BYTES} (2**62) an artifact allows")
        return None


@dataclass
class Variant:
    """One compiled plan: it computes `block` batch rows per call (0: the artifact has no
    symbolic batch and the plan computes everything)."""
    block: int
    slots: list  # per table entry: ("arena", byte offset) | ("weights", offset) | ("input", i)
    outputs: list  # per output port: the table entry holding its value
    arena_bytes: int
    messages: list  # per kernel: per check code, the full message
    module: object = None  # the rendered llvmlite.ir module


@dataclass
class Weights:
    """Constants and frozen variables as one blob, each at a 64-byte aligned offset; equal
    arrays (same dtype, shape and bytes) are stored once."""
    blob: bytearray = field(default_factory=bytearray)
    _offsets: dict = field(default_factory=dict)

    def add(self, array: np.ndarray) -> int:
        data = np.ascontiguousarray(array).tobytes()
        key = (array.dtype.str, array.shape, hashlib.sha256(data).digest())
        if key not in self._offsets:
            self.blob.extend(b"\0" * (-len(self.blob) % ALIGN))
            self._offsets[key] = len(self.blob)
            self.blob.extend(data)
        return self._offsets[key]


def file_digest(path: str) -> dict:
    """{"bytes": size, "sha256": hex digest} of a file: what the manifest records for each
    file export wrote and what load compares before it maps the library."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def c_name(text: str, taken: set) -> str:
    """`text` made a C identifier (tensor names like 'dense/kernel:0' -> 'dense_kernel'),
    distinct from the names in `taken`, to which it is added."""
    base = re.sub(r"\W", "_", text.split(":")[0]) or "value"
    if base[0].isdigit():
        base = "_" + base
    name, n = base, 1
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
