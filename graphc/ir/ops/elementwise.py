"""Elementwise primitives: unary math, binary arithmetic and comparisons, select, cast,
bitcast.

Binary and ternary primitives broadcast their inputs numpy-style; the public API inserts the
casts that make the inputs' dtypes equal, so the dtype rules here only check. Each reference
computes in the input dtype (numpy does the IEEE work) except where noted.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import DTypeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import broadcast_shapes, format_shape, is_compatible, merge_shapes


def _broadcast_rule(inputs, attrs):
    return broadcast_shapes(*(x.shape for x in inputs))


def _same_dtype(inputs, kinds: str, what: str):
    first = inputs[0].dtype
    for x in inputs[1:]:
        if x.dtype is not first:
            raise DTypeError(f"inputs have different dtypes {first} and {x.dtype}")
    if first.kind not in kinds:
        raise DTypeError(f"expects {what} inputs, got {first}")
    return first


_KINDS = {"float": ("f", "floating-point"), "numeric": ("if", "numeric (int or float)"),
          "bool": ("b", "bool"), "any": ("bif", "any"), "int": ("i", "integer")}


def _def_unary(name: str, fn, accepts: str = "float", out=None, doc: str = ""):
    kinds, what = _KINDS[accepts]

    def dtype_rule(inputs, attrs):
        dt = _same_dtype(inputs, kinds, what)
        return out if out is not None else dt

    register(Primitive(name, "elementwise", 1, dtype_rule, lambda inputs, attrs: inputs[0].shape,
                       fn, handles_unknown_rank=True, doc=doc))


def _def_binary(name: str, fn, accepts: str = "numeric", out=None, doc: str = ""):
    kinds, what = _KINDS[accepts]

    def dtype_rule(inputs, attrs):
        dt = _same_dtype(inputs, kinds, what)
        return out if out is not None else dt

    register(Primitive(name, "elementwise", 2, dtype_rule, _broadcast_rule, fn, doc=doc))


def _in_float64(fn):
    """Evaluate in float64 and round back once: a correctly rounded oracle for f16/f32."""
    def run(x):
        return fn(x.astype(np.float64)).astype(x.dtype)
    return run


def _sigmoid(x):
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0: neither form overflows.
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _round_half_even(x):
    return np.round(x) if x.dtype.kind == "f" else x.copy()


# Unary math on floats.
for _name, _fn in [("sqrt", np.sqrt), ("exp", np.exp), ("log", np.log), ("log1p", np.log1p),
                   ("expm1", np.expm1), ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh),
                   ("floor", np.floor), ("ceil", np.ceil)]:
    _def_unary(_name, _fn)
_def_unary("sigmoid", _in_float64(_sigmoid), doc="logistic function 1 / (1 + exp(-x))")
_def_unary("erf", _in_float64(lambda x: _erf(x) if x.size else x), doc="Gauss error function")
_def_unary("is_nan", np.isnan, out=dtypes.bool_)
_def_unary("is_inf", np.isinf, out=dtypes.bool_)
_def_unary("is_finite", np.isfinite, out=dtypes.bool_)
# Unary on numbers.
_def_unary("neg", np.negative, "numeric")
_def_unary("abs", np.abs, "numeric")
_def_unary("sign", np.sign, "numeric")
_def_unary("round", _round_half_even, "numeric", doc="round half to even, as TF and numpy")
_def_unary("logical_not", np.logical_not, "bool")
_def_unary("identity", lambda x: x, "any")
_def_unary("stop_gradient", lambda x: x, "any", doc="identity whose gradient is zero")


def _int_safe(fn):
    """Integer division/modulo by zero yields 0 (numpy's answer) instead of a warning."""
    def run(a, b):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(a, b)
    return run


def _pow(a, b):
    if a.dtype.kind == "i" and np.any(b < 0):
        raise ValueError("integers to negative integer powers are not allowed")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.power(a, b)


_def_binary("add", np.add)
_def_binary("sub", np.subtract)
_def_binary("mul", np.multiply)
_def_binary("div", _int_safe(np.true_divide), "float", doc="true division of floats")
_def_binary("floordiv", _int_safe(np.floor_divide), doc="floor(a / b), as Python's //")
_def_binary("mod", _int_safe(np.mod), doc="a - floor(a / b) * b: the sign follows b")
_def_binary("pow", _pow)
_def_binary("maximum", np.maximum)
_def_binary("minimum", np.minimum)
_def_binary("atan2", np.arctan2, "float")
for _name, _fn in [("equal", np.equal), ("not_equal", np.not_equal)]:
    _def_binary(_name, _fn, "any", out=dtypes.bool_)
for _name, _fn in [("less", np.less), ("less_equal", np.less_equal), ("greater", np.greater),
                   ("greater_equal", np.greater_equal)]:
    _def_binary(_name, _fn, "numeric", out=dtypes.bool_)
for _name, _fn in [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                   ("logical_xor", np.logical_xor)]:
    _def_binary(_name, _fn, "bool", out=dtypes.bool_)


def shift(x: np.ndarray, y: np.ndarray, left: bool) -> np.ndarray:
    """x << y or x >> y (arithmetic for signed x), with numpy's answer for a y outside
    [0, bits): all bits shifted out, 0 (or -1 for a right shift of a negative x)."""
    bits = 8 * x.dtype.itemsize
    inside = (y >= 0) & (y < bits)
    amount = np.where(inside, y, 0).astype(x.dtype)
    with np.errstate(over="ignore"):
        shifted = np.left_shift(x, amount) if left else np.right_shift(x, amount)
    outside = np.zeros_like(shifted) if left else np.where(x < 0, -1, 0).astype(x.dtype)
    return np.where(inside, shifted, outside).astype(x.dtype)


_def_binary("bitwise_and", np.bitwise_and, "int", doc="bitwise and of integers")
_def_binary("bitwise_or", np.bitwise_or, "int", doc="bitwise or of integers")
_def_binary("bitwise_xor", np.bitwise_xor, "int", doc="bitwise exclusive or of integers")
_def_binary("left_shift", lambda x, y: shift(x, y, True), "int",
            doc="x << y; y outside [0, bits) shifts every bit out (0)")
_def_binary("right_shift", lambda x, y: shift(x, y, False), "int",
            doc="x >> y, arithmetic for signed x; y outside [0, bits) gives 0, or -1 for a "
                "negative x")
_def_unary("invert", np.invert, "int", doc="bitwise not: ~x")


def _select_dtype(inputs, attrs):
    cond, a, b = inputs
    if cond.dtype is not dtypes.bool_:
        raise DTypeError(f"condition must be bool, got {cond.dtype}")
    if a.dtype is not b.dtype:
        raise DTypeError(f"branches have different dtypes {a.dtype} and {b.dtype}")
    return a.dtype


register(Primitive("select", "elementwise", 3, _select_dtype, _broadcast_rule,
                   lambda c, a, b: np.where(c, a, b), doc="select(cond, a, b): a where cond"))


def _cast_dtype(inputs, attrs):
    return attrs["dtype"]


def _cast(x, dtype):
    if x.dtype.kind == "f" and dtype.kind == "i":
        return _saturated(x, dtype.np)
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype.np)


def _saturated(x: np.ndarray, to) -> np.ndarray:
    """float -> int as compiled code does it (LLVM's fptosi.sat): toward zero, values past
    the range to its ends, nan to 0."""
    info = np.iinfo(to)
    t = np.trunc(x)
    high = t >= info.max  # (info.max rounds up in float: >= means it does not fit)
    low = t <= info.min
    out = np.where(np.isnan(t) | high | low, 0, t).astype(to)
    out[high] = info.max
    out[low] = info.min
    return out


register(Primitive("cast", "elementwise", 1, _cast_dtype, lambda inputs, attrs: inputs[0].shape,
                   _cast, handles_unknown_rank=True,
                   doc="convert to attrs['dtype']; float -> int truncates toward zero and "
                       "saturates (nan -> 0); int -> narrower int wraps around"))


def _bitcast_dtype(inputs, attrs):
    src, dst = inputs[0].dtype, attrs["dtype"]
    if dtypes.bool_ in (src, dst):
        raise DTypeError(f"bitcast does not take bool (from {src} to {dst}): a bool's bits "
                         "are not a number's")
    if src.np.itemsize != dst.np.itemsize:
        raise DTypeError(f"bitcast reinterprets one width as another of the same width; "
                         f"{src} has {8 * src.np.itemsize} bits, {dst} "
                         f"{8 * dst.np.itemsize}")
    return dst


def _bitcast(x, dtype):
    return np.array(x, order="C", copy=True).view(dtype.np)


register(Primitive("bitcast", "elementwise", 1, _bitcast_dtype,
                   lambda inputs, attrs: inputs[0].shape, _bitcast, handles_unknown_rank=True,
                   doc="the same bits read as attrs['dtype'], a type of the input's width "
                       "(little-endian on every target): float32 <-> int32, float64 <-> "
                       "int64, float16 <-> int16/uint16, int8 <-> uint8"))


def not_as_declared(actual, declared) -> str:
    """What ensure_shape reports (at run time, or when specializing to fed shapes)."""
    return (f"shape {format_shape(actual)} is not compatible with the declared shape "
            f"{format_shape(declared)}")


def _ensure_shape(x, shape):
    if not is_compatible(x.shape, shape):
        raise ValueError(not_as_declared(x.shape, shape))
    return x


register(Primitive("ensure_shape", "elementwise", 1, lambda inputs, attrs: inputs[0].dtype,
                   lambda inputs, attrs: merge_shapes(inputs[0].shape, attrs["shape"]),
                   _ensure_shape, handles_unknown_rank=True,
                   doc="identity that refines the static shape to attrs['shape'] and checks "
                       "it at run time (tf.ensure_shape, Tensor.set_shape)"))
