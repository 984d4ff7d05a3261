"""The table of exporters: one function per graphc primitive that writes the ONNX nodes
computing it (graphc/onnx/exporter.py walks the graph and calls them).

An exporter gets the emitter `e` (e.node(op_type, inputs, **attrs) adds a node and returns its
output name; e.const(array) an initializer's name; e.opset the target opset), the L1 node
and the ONNX names of its inputs, and returns the name of the node's value. Each one keeps
graphc's semantics where ONNX differs: floor division and float modulo are composed, an
empty reduction is the identity (ONNX would reduce every axis), reshape's 0 is a size.
"""

from __future__ import annotations

import numpy as np

from graphc.onnx import registry

EXPORTERS: dict = {}


def exporter(*names: str):
    def register(fn):
        for name in names:
            EXPORTERS[name] = fn
        return fn
    return register


def _ints(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.int64)


# --- elementwise ----------------------------------------------------------------------------
_UNARY = {"sqrt": "Sqrt", "exp": "Exp", "log": "Log", "sin": "Sin", "cos": "Cos",
          "tanh": "Tanh", "floor": "Floor", "ceil": "Ceil", "sigmoid": "Sigmoid", "erf": "Erf",
          "is_nan": "IsNaN", "is_inf": "IsInf", "neg": "Neg", "abs": "Abs", "sign": "Sign",
          "round": "Round", "logical_not": "Not", "identity": "Identity",
          "stop_gradient": "Identity", "ensure_shape": "Identity"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "maximum": "Max", "minimum": "Min", "equal": "Equal", "less": "Less",
           "less_equal": "LessOrEqual", "greater": "Greater",
           "greater_equal": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or",
           "logical_xor": "Xor"}


def _unary(e, node, ins):
    if node.op.name == "round" and node.dtype.kind != "f":
        return e.node("Identity", ins)  # rounding an integer keeps it
    return e.node(_UNARY[node.op.name], ins)


def _binary(e, node, ins):
    return e.node(_BINARY[node.op.name], ins)


for _name in _UNARY:
    EXPORTERS[_name] = _unary
for _name in _BINARY:
    EXPORTERS[_name] = _binary


def _scalar_like(e, value, dtype):
    return e.const(np.asarray(value, dtype=dtype.np))


@exporter("log1p")
def _log1p(e, node, ins):
    return e.node("Log", [e.node("Add", [ins[0], _scalar_like(e, 1, node.dtype)])])


@exporter("expm1")
def _expm1(e, node, ins):
    return e.node("Sub", [e.node("Exp", ins), _scalar_like(e, 1, node.dtype)])


@exporter("is_finite")
def _is_finite(e, node, ins):
    return e.node("Not", [e.node("Or", [e.node("IsNaN", ins), e.node("IsInf", ins)])])


@exporter("not_equal")
def _not_equal(e, node, ins):
    return e.node("Not", [e.node("Equal", ins)])


@exporter("mod")
def _mod(e, node, ins):
    """a - floor(a / b) * b: the sign follows b (ONNX's Mod does so only for integers)."""
    if node.dtype.kind != "f":
        return e.node("Mod", ins, fmod=0)
    a, b = ins
    return e.node("Sub", [a, e.node("Mul", [e.node("Floor", [e.node("Div", [a, b])]), b])])


@exporter("floordiv")
def _floordiv(e, node, ins):
    """floor(a / b); for integers (a - mod(a, b)) / b, exact where ONNX's Div truncates."""
    a, b = ins
    if node.dtype.kind == "f":
        return e.node("Floor", [e.node("Div", [a, b])])
    return e.node("Div", [e.node("Sub", [a, e.node("Mod", [a, b], fmod=0)]), b])


@exporter("select")
def _select(e, node, ins):
    return e.node("Where", ins)


@exporter("cast")
def _cast(e, node, ins):
    return e.node("Cast", ins, to=registry.onnx_elem_type(node.dtype))


# --- reductions -----------------------------------------------------------------------------
_REDUCE = {"reduce_sum": "ReduceSum", "reduce_prod": "ReduceProd", "reduce_max": "ReduceMax",
           "reduce_min": "ReduceMin", "reduce_any": "ReduceMax", "reduce_all": "ReduceMin"}


def reduce(e, op_type: str, x: str, axes, keepdims: bool) -> str:
    """An ONNX reduction over `axes`, which went from attribute to input at opset 13
    (ReduceSum) or 18 (the others)."""
    since = 13 if op_type == "ReduceSum" else 18
    if e.opset >= since:
        return e.node(op_type, [x, e.const(_ints(axes))], keepdims=int(keepdims))
    return e.node(op_type, [x], axes=list(axes), keepdims=int(keepdims))


@exporter(*_REDUCE)
def _reduce(e, node, ins):
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    if not axes:  # graphc reduces nothing; ONNX would reduce every axis
        return e.node("Identity", ins)
    x = ins[0]
    logical = node.op.name in ("reduce_any", "reduce_all")
    if logical:  # bool reductions as max / min over 0/1 (bool ReduceMax needs opset 20)
        x = e.node("Cast", [x], to=registry.elem_type_of(np.dtype(np.int32)))
    out = reduce(e, _REDUCE[node.op.name], x, axes, keepdims)
    return e.node("Cast", [out], to=registry.onnx_elem_type(node.dtype)) if logical else out


@exporter("argmax", "argmin")
def _arg(e, node, ins):
    op_type = "ArgMax" if node.op.name == "argmax" else "ArgMin"
    out = e.node(op_type, ins, axis=node.attrs["axis"], keepdims=0)
    return _as_int(e, out, node.dtype)


def _as_int(e, name: str, dtype) -> str:
    """An int64 value (what ONNX's index ops give) as graphc's int dtype."""
    if dtype.name == "int64":
        return name
    return e.node("Cast", [name], to=registry.onnx_elem_type(dtype))


# --- data movement --------------------------------------------------------------------------
def _int64(e, name: str, dtype) -> str:
    return name if dtype.name == "int64" else e.node("Cast", [name], to=7)


@exporter("reshape")
def _reshape(e, node, ins):
    if len(ins) == 2:
        shape = _int64(e, ins[1], node.inputs[1].dtype)
        zero = True  # a run-time 0 is a size in graphc
    else:
        shape = e.const(_ints(node.attrs["shape"]))
        zero = 0 in node.attrs["shape"]
    return e.node("Reshape", [ins[0], shape], **({"allowzero": 1} if zero else {}))


@exporter("transpose")
def _transpose(e, node, ins):
    return e.node("Transpose", ins, perm=list(node.attrs["perm"]))


@exporter("expand_dims")
def _expand_dims(e, node, ins):
    return e.node("Unsqueeze", [ins[0], e.const(_ints([node.attrs["axis"]]))])


@exporter("squeeze")
def _squeeze(e, node, ins):
    if not node.attrs["axes"]:
        return e.node("Identity", ins)
    return e.node("Squeeze", [ins[0], e.const(_ints(node.attrs["axes"]))])


@exporter("broadcast_to")
def _broadcast_to(e, node, ins):
    if len(ins) == 2:
        return e.node("Expand", [ins[0], _int64(e, ins[1], node.inputs[1].dtype)])
    return e.node("Expand", [ins[0], e.const(_ints(node.attrs["shape"]))])


_BIG = np.iinfo(np.int64).max


@exporter("slice")
def _slice(e, node, ins):
    """Python slices as ONNX's Slice, which clamps and counts negatives from the end as
    Python does; an open end is +-int64 max, by the step's sign."""
    starts, ends, axes, steps = [], [], [], []
    for axis, (start, stop, step) in enumerate(node.attrs["slices"]):
        step = 1 if step is None else step
        if start is None and stop is None and step == 1:
            continue
        starts.append((0 if step > 0 else _BIG) if start is None else start)
        ends.append((_BIG if step > 0 else -_BIG - 1) if stop is None else stop)
        axes.append(axis)
        steps.append(step)
    if not axes:
        return e.node("Identity", ins)
    return e.node("Slice", [ins[0]] + [e.const(_ints(v)) for v in (starts, ends, axes, steps)])


@exporter("concat")
def _concat(e, node, ins):
    return e.node("Concat", ins, axis=node.attrs["axis"])


_PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect"}


@exporter("pad")
def _pad(e, node, ins):
    paddings = node.attrs["paddings"]
    pads = e.const(_ints([b for b, _ in paddings] + [a for _, a in paddings]))
    mode = _PAD_MODES[node.attrs["mode"]]
    if mode == "reflect":
        return e.node("Pad", [ins[0], pads], mode=mode)
    value = _scalar_like(e, node.attrs["constant_value"], node.dtype)
    return e.node("Pad", [ins[0], pads, value], mode=mode)


def pad_supported(node) -> bool:
    return node.attrs["mode"] in _PAD_MODES


@exporter("tile")
def _tile(e, node, ins):
    return e.node("Tile", [ins[0], e.const(_ints(node.attrs["multiples"]))])


@exporter("gather")
def _gather(e, node, ins):
    return e.node("Gather", ins, axis=node.attrs["axis"])


@exporter("put_row")
def _put_row(e, node, ins):
    """buffer[index] = value as a ScatterND of one row."""
    buffer, index, value = ins
    where = e.node("Reshape", [_int64(e, index, node.inputs[1].dtype), e.const(_ints([1, 1]))])
    row = e.node("Unsqueeze", [value, e.const(_ints([0]))])
    return e.node("ScatterND", [buffer, where, row])


@exporter("matmul")
def _matmul(e, node, ins):
    return e.node("MatMul", ins)


@exporter("shape")
def _shape(e, node, ins):
    return _as_int(e, e.node("Shape", ins), node.dtype)


# --- convolution and pooling ----------------------------------------------------------------
def _to_channels_first(e, x: str, rank: int) -> str:
    return e.node("Transpose", [x], perm=[0, rank - 1] + list(range(1, rank - 1)))


def _to_channels_last(e, x: str, rank: int) -> str:
    return e.node("Transpose", [x], perm=[0] + list(range(2, rank)) + [1])


def _pads(padding) -> list:
    return [b for b, _ in padding] + [a for _, a in padding]


@exporter("conv")
def _conv(e, node, ins):
    """graphc's filter is (*kernel, C / groups, O), ONNX's (O, C / groups, *kernel); a
    channels-last input is transposed to channels first and back."""
    a = node.attrs
    rank = len(node.shape)
    s = rank - 2
    x = _to_channels_first(e, ins[0], rank) if a["channels_last"] else ins[0]
    w = e.node("Transpose", [ins[1]], perm=[s + 1, s] + list(range(s)))
    y = e.node("Conv", [x, w], strides=list(a["strides"]), dilations=list(a["dilations"]),
               pads=_pads(a["padding"]), group=a["groups"],
               kernel_shape=list(node.inputs[1].shape[:s]))
    return _to_channels_last(e, y, rank) if a["channels_last"] else y


@exporter("pool")
def _pool(e, node, ins):
    """MaxPool (padding never wins) or AveragePool over the window's unpadded part."""
    a = node.attrs
    rank = len(node.shape)
    x = _to_channels_first(e, ins[0], rank) if a["channels_last"] else ins[0]
    common = dict(kernel_shape=list(a["window"]), strides=list(a["strides"]),
                  pads=_pads(a["padding"]))
    if a["kind"] == "max":
        y = e.node("MaxPool", [x], **common)
    else:
        y = e.node("AveragePool", [x], count_include_pad=0, **common)
    return _to_channels_last(e, y, rank) if a["channels_last"] else y


# ops that ONNX gained at a later opset than export's lowest: primitive -> (ONNX op, opset)
SINCE = {"bitcast": ("BitCast", 26), "bitwise_and": ("BitwiseAnd", 18),
         "bitwise_or": ("BitwiseOr", 18), "bitwise_xor": ("BitwiseXor", 18),
         "invert": ("BitwiseNot", 18)}


@exporter("bitcast")
def _bitcast(e, node, ins):
    return e.node("BitCast", ins, to=registry.onnx_elem_type(node.dtype))


@exporter("bitwise_and", "bitwise_or", "bitwise_xor", "invert")
def _bitwise(e, node, ins):
    return e.node(SINCE[node.op.name][0], ins)


def unsupported_reason(node, opset: int):
    """Why this node cannot be exported at `opset` (None if it can), beyond having no
    exporter."""
    if node.op.name == "pad" and not pad_supported(node):
        return f"padding mode {node.attrs['mode']} has no ONNX equivalent"
    if node.op.name in SINCE and opset < SINCE[node.op.name][1]:
        op, since = SINCE[node.op.name]
        return f"ONNX has {op} from opset {since}; exporting at opset {opset}"
    return None
