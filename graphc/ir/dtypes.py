"""Element types of the L1 IR and the promotion rules between them.

A DType is an interned singleton (`float32 is as_dtype("float32")`), so IR nodes can compare
dtypes by identity. Promotion follows numpy's table for typed operands (tensors and numpy
arrays) and treats Python and numpy scalars as *weak*: a weak scalar adopts the dtype of the
tensor it meets when its kind (bool < int < float) fits, so `float32_tensor * 2.0` stays
float32 and `int32_tensor + 1` stays int32. A weak scalar of a higher kind than the tensor
takes graphc's default dtype of its kind (float32 for floats, int32 for ints).
"""

from __future__ import annotations

import numpy as np


class DType:
    """An element type: a name, a numpy dtype and a kind ('b', 'i' or 'f')."""

    __slots__ = ("name", "np", "kind", "short")

    def __init__(self, name: str, np_dtype: np.dtype, short: str):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.kind = self.np.kind if self.np.kind != "u" else "i"
        self.short = short

    # TF1 spellings used by ported programs.
    @property
    def as_numpy_dtype(self) -> type:
        return self.np.type

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def is_floating(self) -> bool:
        return self.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.kind == "i"

    @property
    def is_unsigned(self) -> bool:
        return self.np.kind == "u"

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    @property
    def size(self) -> int:
        return self.np.itemsize

    @property
    def min(self):
        return np.finfo(self.np).min if self.is_floating else np.iinfo(self.np).min

    @property
    def max(self):
        return np.finfo(self.np).max if self.is_floating else np.iinfo(self.np).max

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16, "f16")
float32 = DType("float32", np.float32, "f32")
float64 = DType("float64", np.float64, "f64")
int8 = DType("int8", np.int8, "i8")
uint8 = DType("uint8", np.uint8, "u8")
int16 = DType("int16", np.int16, "i16")
uint16 = DType("uint16", np.uint16, "u16")
int32 = DType("int32", np.int32, "i32")
int64 = DType("int64", np.int64, "i64")
bool_ = DType("bool", np.bool_, "bool")

ALL_DTYPES = (float16, float32, float64, int8, uint8, int16, uint16, int32, int64, bool_)
FLOAT_DTYPES = (float16, float32, float64)
# The dtypes of indices, shapes, labels and counts (TF1's Tindices): int32 and int64.
INT_DTYPES = (int32, int64)
# Narrow integers (images, audio): arithmetic wraps around at their width, as numpy's and
# TF's do; they are not index dtypes.
SMALL_INT_DTYPES = (int8, uint8, int16, uint16)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64)
_BY_NP = {d.np: d for d in ALL_DTYPES}
_KIND_ORDER = {"b": 0, "i": 1, "f": 2}
_DEFAULT_OF_KIND = {"b": bool_, "i": int32, "f": float32}


def as_dtype(value) -> DType:
    """Convert a DType, a name ('float32'), a numpy dtype or a Python type to a DType."""
    if isinstance(value, DType):
        return value
    if value is None:
        raise TypeError("a dtype is required, got None")
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    supported = ", ".join(d.name for d in ALL_DTYPES)
    raise TypeError(f"unsupported dtype {value!r}; graphc supports {supported}")


def default_dtype_of_kind(kind: str) -> DType:
    return _DEFAULT_OF_KIND[kind]


def promote(a: DType, b: DType) -> DType:
    """numpy promotion between two strongly typed operands."""
    if a is b:
        return a
    return as_dtype(np.result_type(a.np, b.np))


def promote_weak(strong: DType, weak_kind: str) -> DType:
    """The dtype of `strong` combined with a weak scalar of kind `weak_kind`."""
    if _KIND_ORDER[weak_kind] <= _KIND_ORDER[strong.kind]:
        return strong
    return _DEFAULT_OF_KIND[weak_kind]


def can_cast_losslessly(value: np.ndarray, to: DType) -> bool:
    """Whether `value` converts to `to` without losing data that matters.

    Allowed: any cast numpy calls 'safe', float -> narrower float when no finite value
    overflows, and int -> narrower int when every value is in range. Refused: float -> int,
    anything -> bool from a non-bool, and out-of-range values. This is the rule for feeds.
    """
    src = value.dtype
    if src == to.np:
        return True
    if src.kind not in "biuf":
        return False
    if np.can_cast(src, to.np, "safe"):
        return True
    if to.kind == "b":
        return False
    if src.kind == "b":
        return True
    if src.kind == "f" and to.kind == "i":
        return False
    if value.size == 0:
        return True
    if to.kind == "i":
        return bool(value.min() >= to.min and value.max() <= to.max)
    if src.kind in "iu":  # ints -> float16/float32: rounding is accepted, overflow is not
        return bool(value.min() >= to.min and value.max() <= to.max)
    finite = np.isfinite(value)
    return bool(np.all(np.abs(value[finite]) <= to.max)) if finite.any() else True
