"""Elementwise ONNX ops: arithmetic, math functions, comparisons, logic, Cast, Clip, Where.

ONNX broadcasts numpy-style from opset 7; opset 6's `broadcast`/`axis` attributes (B's dims
aligned at A's axis `axis`) are honoured. Integer Div truncates toward zero (C), Mod
follows the divisor's sign unless fmod=1 (then the dividend's, as C's fmod).
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.onnx import formats
from graphc.onnx.registry import (
    NARROW,
    NARROW_FLOATS,
    converter,
    graphc_dtype,
    numpy_dtype,
    one_of,
    onnx_type_name,
)
from graphc.ops import array_ops as A
from graphc.ops import bitwise_ops as bitwise
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, make_tensor


def _legacy_broadcast(ctx, a, b):
    """Opset < 7: B broadcasts onto A only with broadcast=1, aligned at `axis` if given."""
    if ctx.opset >= 7 or not ctx.attr("broadcast", 0) or not ctx.has_attr("axis"):
        return a, b
    axis = int(ctx.attr("axis"))
    ra, rb = a.node.rank, b.node.rank
    axis = axis + ra if axis < 0 else axis
    shape = [1] * axis + list(b.node.shape) + [1] * (ra - axis - rb)
    return a, A.reshape(b, [-1 if d is None else d for d in shape])


def _binary(op_name):
    def convert(ctx):
        a, b = _legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
        return [make_tensor(op_name, (a, b), name=op_name)]
    return convert


for _onnx, _prim in [("Add", "add"), ("Sub", "sub"), ("Mul", "mul"),
                     ("Equal", "equal"), ("Greater", "greater"), ("Less", "less"),
                     ("GreaterOrEqual", "greater_equal"), ("LessOrEqual", "less_equal"),
                     ("And", "logical_and"), ("Or", "logical_or"), ("Xor", "logical_xor")]:
    converter(_onnx)(_binary(_prim))


@converter("Div")
def _div(ctx):
    a, b = _legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
    if a.dtype.kind == "f":
        return [make_tensor("div", (a, b), name="div")]
    # C division truncates toward zero: floor, plus one where a remainder and signs differ
    q, r = M.floordiv(a, b), M.mod(a, b)
    adjust = M.logical_and(M.not_equal(r, 0), M.not_equal(M.less(a, 0), M.less(b, 0)))
    return [q + cast(adjust, a.dtype)]


@converter("Mod", check=lambda n: one_of("fmod", (0, 1), n))
def _mod(ctx):
    a, b = ctx.input(0), ctx.input(1)
    if not ctx.attr("fmod", 0):  # the sign of the divisor, as numpy's mod and Python's %
        return [M.mod(a, b)]
    # C fmod: the remainder of |a| by |b|, with the sign of a
    r = M.mod(M.abs(a), M.abs(b))
    return [M.where(M.less(a, 0), M.negative(r), r)]


@converter("Pow")
def _pow(ctx):
    a, b = _legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
    if a.dtype is b.dtype:
        return [M.pow(a, b)]
    if a.dtype.kind == "f":
        return [M.pow(a, cast(b, a.dtype))]
    # an integer base to a float power: computed in float64, truncated back (as numpy)
    return [cast(M.pow(cast(a, dtypes.float64), cast(b, dtypes.float64)), a.dtype)]


def _variadic(op_name):
    def convert(ctx):
        xs = ctx.inputs()
        out = xs[0]
        for x in xs[1:]:
            out = make_tensor(op_name, (out, x), name=op_name)
        return [A.identity(out) if len(xs) == 1 else out]
    return convert


converter("Sum")(_variadic("add"))
converter("Max")(_variadic("maximum"))
converter("Min")(_variadic("minimum"))


@converter("Mean")
def _mean(ctx):
    xs = ctx.inputs()
    total = _variadic("add")(ctx)[0]
    return [M.truediv(total, ctx.scalar(len(xs), xs[0]))]


# --- unary ------------------------------------------------------------------------------
def _unary(fn):
    def convert(ctx):
        return [fn(ctx.input(0))]
    return convert


_UNARY = {
    "Abs": M.abs, "Neg": M.negative, "Sign": M.sign, "Reciprocal": M.reciprocal,
    "Sqrt": M.sqrt, "Exp": M.exp, "Log": M.log, "Sin": M.sin, "Cos": M.cos,
    "Tanh": M.tanh, "Sigmoid": M.sigmoid, "Erf": M.erf, "Floor": M.floor, "Ceil": M.ceil,
    "Round": M.round, "Not": M.logical_not, "IsNaN": M.is_nan,
    "Tan": lambda x: M.sin(x) / M.cos(x),
    "Atan": lambda x: M.atan2(x, A.ones_like(x)),
    # asin = atan2(x, sqrt(1 - x^2)), acos = atan2(sqrt(1 - x^2), x): exact at +-1
    "Asin": lambda x: M.atan2(x, M.sqrt((1.0 - x) * (1.0 + x))),
    "Acos": lambda x: M.atan2(M.sqrt((1.0 - x) * (1.0 + x)), x),
    "Sinh": lambda x: (M.exp(x) - M.exp(-x)) * 0.5,
    "Cosh": lambda x: (M.exp(x) + M.exp(-x)) * 0.5,
    # asinh = sign(x) log(|x| + sqrt(x^2 + 1)): the odd form keeps large negatives accurate
    "Asinh": lambda x: M.sign(x) * M.log(M.abs(x) + M.sqrt(x * x + 1.0)),
    "Acosh": lambda x: M.log(x + M.sqrt((x - 1.0) * (x + 1.0))),
    "Atanh": lambda x: 0.5 * M.log((1.0 + x) / (1.0 - x)),
}
for _onnx, _fn in _UNARY.items():
    converter(_onnx)(_unary(_fn))


@converter("Identity")
def _identity(ctx):
    return [A.identity(ctx.input(0))]


@converter("IsInf")
def _is_inf(ctx):
    x = ctx.input(0)
    inf = M.is_inf(x)
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if pos and neg:
        return [inf]
    if not pos and not neg:
        return [A.zeros_like(x, dtype=dtypes.bool_)]
    side = M.greater(x, 0) if pos else M.less(x, 0)
    return [M.logical_and(inf, side)]


@converter("Where")
def _where(ctx):
    return [M.where(ctx.input(0), ctx.input(1), ctx.input(2))]


# --- Cast and Clip --------------------------------------------------------------------------
def _cast_check(node):
    to = node.attr("to")
    if to is not None and graphc_dtype(to) is None:
        return f"Cast to {onnx_type_name(to)}: graphc has no such element type"
    return None


def _cast_to(ctx, to: int):
    """Input 0 cast to ONNX element type `to`: narrow floats rounded into their format (with
    the node's saturate and round_mode), floats to 4- and 2-bit ints as onnx's reference
    does, the rest by graphc's cast (a narrow int is wrapped into its range afterwards)."""
    x = ctx.input(0)
    if to in formats.NARROW_FLOATS:
        return formats.round_to(x, to, bool(ctx.attr("saturate", 1)),
                                ctx.attr("round_mode", "up"))
    if to in NARROW and NARROW[to][1] < 8 and x.dtype.kind == "f":
        return formats.narrow_int_from_float(x, NARROW[to][1], NARROW[to][2])
    return A.identity(cast(x, graphc_dtype(to)))


@converter("Cast", check=_cast_check)
def _cast(ctx):
    return [_cast_to(ctx, int(ctx.attr("to")))]


@converter("CastLike")
def _cast_like(ctx):
    to = ctx.input_type(1)
    return [_cast_to(ctx, to) if to else A.identity(cast(ctx.input(0), ctx.input(1).dtype))]


@converter("Clip")
def _clip(ctx):
    x = ctx.input(0)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
        lo = None if lo is None else ctx.scalar(lo, x)
        hi = None if hi is None else ctx.scalar(hi, x)
    else:
        lo, hi = ctx.input(1), ctx.input(2)
    out = x
    if lo is not None:
        out = M.maximum(out, lo)
    if hi is not None:
        out = M.minimum(out, hi)
    return [A.identity(out) if out is x else out]


# --- bit operations -------------------------------------------------------------------------
@converter("BitShift", check=lambda n: one_of("direction", ("LEFT", "RIGHT"), n))
def _bit_shift(ctx):
    """tf.bitwise's shifts on the carrier (a narrow type is wrapped back afterwards; its
    values are not negative: ONNX shifts unsigned types). An amount outside [0, bits) gives
    0, as numpy."""
    x, y = ctx.input(0), ctx.input(1)
    if x.dtype.kind != "i":
        ctx.fail("BitShift needs an integer input")
    y = cast(y, x.dtype)
    left = ctx.attr("direction") == "LEFT"
    return [bitwise.left_shift(x, y) if left else bitwise.right_shift(x, y)]


# BitCast: a float type's bits are graphc's bitcast to the signed int of its width; between
# integer types of one width the bits are the value wrapped into the target's range, which
# graphc's int casts do (and the importer's wrap of a narrow target's carrier)
_FLOAT_BITS = {10: dtypes.int16, 1: dtypes.int32, 11: dtypes.int64}


def _bit_width(elem: int):
    if elem in NARROW_FLOATS or graphc_dtype(elem) is None:
        return None
    if elem in NARROW:
        return NARROW[elem][1]
    return 8 * numpy_dtype(elem).itemsize


def _bitcast_check(node):
    src, to = node.input_type(0), int(node.attr("to", 0))
    for elem in (src, to):
        if elem and _bit_width(elem) is None:
            return f"BitCast of {onnx_type_name(elem)}: graphc reinterprets bits of the types " \
                   "it computes in"
    if src and _bit_width(src) != _bit_width(to):
        return (f"BitCast from {onnx_type_name(src)} ({_bit_width(src)} bits) to "
                f"{onnx_type_name(to)} ({_bit_width(to)} bits): the widths must be equal")
    return None


@converter("BitCast", check=_bitcast_check)
def _bit_cast(ctx):
    x, src, to = ctx.input(0), ctx.input_type(0), int(ctx.attr("to"))
    if not src:
        ctx.fail("BitCast needs an input of known element type")
    if src in _FLOAT_BITS:
        bits = A.bitcast(x, _FLOAT_BITS[src])
    elif to in _FLOAT_BITS:
        bits = cast(x, _FLOAT_BITS[to])  # wraps the carried value into the signed int
    else:
        bits = x
    if to in _FLOAT_BITS:
        return [A.bitcast(bits, graphc_dtype(to))]
    if to == 9:
        return [M.not_equal(bits, ctx.scalar(0, bits))]
    return [cast(bits, graphc_dtype(to))]


# Bitwise ops on the carrier: a narrow signed value is sign-extended there, and the bits of
# sign-extended operands combine into the sign-extended result
converter("BitwiseAnd")(lambda ctx: [bitwise.bitwise_and(ctx.input(0), ctx.input(1))])
converter("BitwiseOr")(lambda ctx: [bitwise.bitwise_or(ctx.input(0), ctx.input(1))])
converter("BitwiseXor")(lambda ctx: [bitwise.bitwise_xor(ctx.input(0), ctx.input(1))])
converter("BitwiseNot")(lambda ctx: [bitwise.invert(ctx.input(0))])
