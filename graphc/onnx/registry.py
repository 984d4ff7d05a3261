"""The table of op converters, and the read-only view of an ONNX node they work from.

A converter turns one ONNX node into graphc tensors through the TF1-style API
(graphc/ops/*). It is registered per op type with `@converter("Relu", ...)` in one of the
family modules (ops_math, ops_nn, ...; graphc/onnx/table.py loads them all), optionally
with a `check(node)` that says, from the node's attributes, opset and input types alone,
why graphc cannot honour it: the importer runs every check over the whole model (its
subgraphs included) before it builds anything, so one error lists every unsupported use.
An attribute value a converter cannot honour is such a reason, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from graphc.ir import dtypes
from graphc.onnx import formats

DEFAULT_DOMAINS = ("", "ai.onnx")

# ONNX TensorProto element types graphc computes in. The others (bfloat16, float8, 4-bit
# ints, uint64, strings, complex...) are refused by name.
_ONNX_TO_GRAPHC = {1: dtypes.float32, 11: dtypes.float64, 10: dtypes.float16,
                   6: dtypes.int32, 7: dtypes.int64, 9: dtypes.bool_}
_GRAPHC_TO_ONNX = {v: k for k, v in _ONNX_TO_GRAPHC.items()}
# export writes graphc's narrow integers as themselves (import still carries them: NARROW)
_GRAPHC_TO_ONNX.update({dtypes.uint8: 2, dtypes.int8: 3, dtypes.uint16: 4, dtypes.int16: 5})
# Narrow integers ride in a wider graphc integer (their carrier), wrapped back into their
# range after every op that could leave it (see NARROW): two's-complement sums, products
# and differences agree with the narrow type's modulo 2^bits, and divisions, comparisons and
# data movement of in-range values are exact, so the narrow type's results come out.
NARROW = {2: (dtypes.int32, 8, False, "uint8"), 3: (dtypes.int32, 8, True, "int8"),
          4: (dtypes.int32, 16, False, "uint16"), 5: (dtypes.int32, 16, True, "int16"),
          12: (dtypes.int64, 32, False, "uint32"), 21: (dtypes.int32, 4, False, "uint4"),
          22: (dtypes.int32, 4, True, "int4"), 25: (dtypes.int32, 2, False, "uint2"),
          26: (dtypes.int32, 2, True, "int2")}
# Narrow floats (bfloat16, float8, float4) ride in float32, rounded into their format by
# every op that computes a value of theirs: graphc/onnx/formats.py.
NARROW_FLOATS = formats.NARROW_FLOATS


_ML_DTYPES = frozenset(f.name for f in formats.FLOATS.values()) | {
    "float8_e8m0fnu", "uint4", "int4", "uint2", "int2"}


def _narrow_numpy(elem_type: int) -> np.dtype:
    """The numpy (or ml_dtypes, for 4- and 2-bit ints and narrow floats) dtype of a narrow
    element type."""
    if elem_type in NARROW_FLOATS:
        return formats.numpy_type(elem_type)
    name = NARROW[elem_type][3]
    if name in ("uint4", "int4", "uint2", "int2"):
        import ml_dtypes
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def is_carried(elem_type: int) -> bool:
    """Whether values of this element type ride in a wider graphc dtype."""
    return int(elem_type) in NARROW or int(elem_type) in NARROW_FLOATS


def onnx_type_name(elem_type: int) -> str:
    from onnx import TensorProto
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"element type {elem_type}"


def graphc_dtype(elem_type: int) -> Optional[dtypes.DType]:
    """graphc's dtype for an ONNX element type (a narrow integer's carrier), or None where
    graphc has none."""
    elem_type = int(elem_type)
    if elem_type in NARROW:
        return NARROW[elem_type][0]
    if elem_type in NARROW_FLOATS:
        return formats.CARRIER
    return _ONNX_TO_GRAPHC.get(elem_type)


def numpy_dtype(elem_type: int) -> Optional[np.dtype]:
    """The numpy dtype of an ONNX element type graphc computes in (narrow ones included)."""
    if int(elem_type) in NARROW or int(elem_type) in NARROW_FLOATS:
        return _narrow_numpy(int(elem_type))
    dtype = _ONNX_TO_GRAPHC.get(int(elem_type))
    return None if dtype is None else dtype.np


def elem_type_of(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy dtype (0 if ONNX has none graphc knows)."""
    dtype = np.dtype(dtype)
    if dtype.name in _ML_DTYPES:  # ml_dtypes' types (by name: one of them is of kind "f")
        for elem in NARROW_FLOATS + (21, 22, 25, 26):
            if dtype == _narrow_numpy(elem):
                return elem
    for elem, (_, _, _, np_type) in NARROW.items():
        if dtype.name == np_type:
            return elem
    for elem, d in _ONNX_TO_GRAPHC.items():
        if d.np == dtype:
            return elem
    return 0


def wrap_narrow(t, elem_type: int):
    """t (in its carrier) brought back into the range of the narrow type elem_type, as that
    type's own arithmetic would have left it (modulo 2^bits)."""
    from graphc.ops import math_ops as M
    from graphc.ops.tensor import constant
    carrier, bits, signed, _ = NARROW[int(elem_type)]
    low = -(2 ** (bits - 1)) if signed else 0
    span = constant(np.asarray(2 ** bits, carrier.np))
    if not low:
        return M.mod(t, span)
    shift = constant(np.asarray(-low, carrier.np))
    return M.mod(t + shift, span) - shift


def onnx_elem_type(dtype: dtypes.DType) -> int:
    return _GRAPHC_TO_ONNX[dtype]


def type_problem(elem_type: int) -> Optional[str]:
    """Why an ONNX element type cannot be computed in, or None when it can."""
    if elem_type == 0 or graphc_dtype(elem_type) is not None:
        return None
    return (f"element type {onnx_type_name(elem_type)} (graphc computes in float16/32/64, "
            "int8/16/32/64, uint8/16/32 and bool, and carries bfloat16, float8, float4 and "
            "4- and 2-bit integers in wider ones)")


# --- nodes ----------------------------------------------------------------------------------
_SCHEMAS: dict = {}


def schema_of(op_type: str, version: int, domain: str):
    """The op's schema in force at opset `version` of its domain, or None if unknown."""
    key = (op_type, version, domain)
    if key not in _SCHEMAS:
        from onnx import defs
        try:
            _SCHEMAS[key] = defs.get_schema(op_type, version, domain)
        except defs.SchemaError:
            _SCHEMAS[key] = None
    return _SCHEMAS[key]


def attribute_value(attr):
    """A Python value for an AttributeProto: strings as str, lists as lists."""
    from onnx import helper
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


class NodeView:
    """An ONNX NodeProto with its opset, attribute defaults from its schema, and the element
    types of its inputs where the model (or shape inference) states them."""

    def __init__(self, proto, opset: int, name: str, types: Optional[dict] = None):
        self.proto = proto
        self.op_type = proto.op_type
        self.domain = "" if proto.domain in DEFAULT_DOMAINS else proto.domain
        self.opset = opset
        self.name = name
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.attrs = {a.name: a for a in proto.attribute}
        self._types = types or {}

    def __repr__(self) -> str:
        return f"<{self.op_type} node '{self.name}' (opset {self.opset})>"

    @property
    def schema(self):
        return schema_of(self.op_type, self.opset, self.domain)

    def has(self, name: str) -> bool:
        return name in self.attrs

    def attr(self, name: str, default=None):
        """The attribute's value: the node's own, else the schema's default, else `default`."""
        if name in self.attrs:
            return attribute_value(self.attrs[name])
        schema = self.schema
        if schema is not None and name in schema.attributes:
            proto = schema.attributes[name].default_value
            if proto is not None and proto.type != 0:
                return attribute_value(proto)
        return default

    def input_type(self, i: int) -> int:
        """The ONNX element type of input i where known, else 0."""
        if i >= len(self.inputs) or not self.inputs[i]:
            return 0
        return self._types.get(self.inputs[i], 0)

    def present(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""


# --- the converter table --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Converter:
    op_type: str
    convert: Callable  # (ctx) -> list of Tensors, one per node output (None: absent)
    check: Optional[Callable]  # (NodeView) -> reason it cannot be honoured, or None
    domain: str = ""
    min_opset: int = 1


CONVERTERS: dict = {}


def converter(*op_types: str, check: Optional[Callable] = None, domain: str = "",
              min_opset: int = 1):
    """Register the decorated function as the converter of each of `op_types`."""
    def register(fn):
        for op in op_types:
            if (domain, op) in CONVERTERS:
                raise ValueError(f"two converters for ONNX op {op}")
            CONVERTERS[(domain, op)] = Converter(op, fn, check, domain, min_opset)
        return fn
    return register


# --- small helpers the converters share -----------------------------------------------------
def one_of(name: str, allowed, node: NodeView) -> Optional[str]:
    """A reason if attribute `name` is set to a value outside `allowed`."""
    value = node.attr(name)
    if value is not None and value not in allowed:
        return f"attribute {name}={value!r} is not supported (graphc supports {list(allowed)})"
    return None


def first_problem(*reasons) -> Optional[str]:
    return next((r for r in reasons if r), None)


def as_ints(value) -> list:
    return [int(v) for v in np.asarray(value).reshape(-1)]
