"""simplify and stabilize: algebraic identities and numerically stable forms, as rule tables.

simplify expects canonical input (canonicalize, fold_constants) and guarantees that no rule
of SIMPLIFY_RULES (plus FAST_MATH_RULES when options.fast_math) matches anywhere. Each
IEEE-safe rule gives bit-identical results for every input, nan, inf and signed zeros
included; its comment says why. Fast-math rules assume no nan, no inf and no signed zeros.

stabilize replaces compositions that lose accuracy or overflow by stable ones computing the
same function: log(exp(a) / b) and log(exp(a) * (1/b)) (and so log(softmax)), log(sigmoid),
log(1 + x), exp(x) - 1.
Their results are at least as accurate as the original's and agree with it on nan, inf and
zeros up to the sign of a zero result; where the original underflowed to -inf or rounded
1 + x to 1, the stable form gives the finite, accurate value.

Both run with the canonicalization rules, so their output stays canonical, and are consumed
by dce and then fusion and lowering (every op they introduce has a lowering).
"""

from __future__ import annotations

import numpy as np

from graphc.ir.node import Node
from graphc.ir.ops.conv import FEW_CHANNELS, as_gemm
from graphc.ir.rewrite import (
    P,
    Rewritten,
    Rule,
    RuleTable,
    const,
    constant,
    constant_value,
    make,
    rewrite,
    var,
)
from graphc.passes.canonicalize import CANONICAL_RULES

# Widening casts that keep every value exactly, so casting back returns the input.
_EXACT_WIDENING = {("float16", "float32"), ("float16", "float64"), ("float32", "float64"),
                   ("int32", "int64"), ("int32", "float64"), ("bool", "int32"),
                   ("bool", "int64"), ("bool", "float16"), ("bool", "float32"),
                   ("bool", "float64")}


def _is_float(x: Node) -> bool:
    return x.dtype.kind == "f"


def _is_int(x: Node) -> bool:
    return x.dtype.kind == "i"


def _exact_reciprocal(c: Node):
    """1/c as a constant when every element of c is a power of two whose reciprocal is a
    normal number of c's dtype (then x / c and x * (1/c) round the same exact product)."""
    value = constant_value(c)
    if value.dtype.kind != "f" or value.size == 0 or not np.all(np.isfinite(value)):
        return None
    mantissa, _ = np.frexp(value)
    if not np.all(np.abs(mantissa) == 0.5):
        return None
    with np.errstate(over="ignore"):
        inverse = (1 / value.astype(np.float64)).astype(value.dtype)
    if not np.all(np.isfinite(inverse)) or np.any(np.abs(inverse) < np.finfo(value.dtype).tiny):
        return None
    return constant(inverse, c.dtype)


def _div_by_power_of_two(x: Node, c: Node):
    inverse = _exact_reciprocal(c)
    return None if inverse is None else make("mul", x, inverse)


def _zero_like(n: Node):
    return constant(0, n.dtype)  # the engine broadcasts it to n's shape


def _cast_round_trip(n: Node, inner: Node):
    x = inner.inputs[0]
    if n.dtype is not x.dtype or (x.dtype.name, inner.dtype.name) not in _EXACT_WIDENING:
        return None
    return x


def _neg_zero(x: Node) -> float:
    """The additive identity of x's dtype: -0.0 for floats (0.0 + -0.0 is 0.0, -0.0 + -0.0
    is -0.0), 0 for ints; +0.0 is not one (-0.0 + 0.0 is 0.0)."""
    return -0.0 if _is_float(x) else 0


def _is_additive_identity(c: Node) -> bool:
    value = constant_value(c)
    return bool(value.size) and np.all(value == 0) and (
        value.dtype.kind != "f" or bool(np.all(np.signbit(value))))


def _is_plus_zero(c: Node) -> bool:
    value = constant_value(c)
    return bool(value.size) and np.all(value == 0) and (
        value.dtype.kind != "f" or not bool(np.any(np.signbit(value))))


def _pad_explicitly(conv: Node, x: Node, w: Node):
    """conv(x, w) padded = conv(pad(x), w) unpadded, for an implicit-GEMM convolution of an
    input with few channels: exact (the padding's zeros enter the same products), and the
    packed kernel rows then need no per-element bounds test (lower_conv._window_reads sees
    that no window leaves the padded input; ResNet-18's 7x7/2 layer on 224x224x3: 4.97 ->
    2.07 ms). The same for its filter gradient, conv_filter_grad(x, g), whose patches are
    the same windows of x, and whose pad is the forward's after CSE (W5's first layer's
    filter gradient, 64 images of 28 x 28 x 1: 1.85 -> 1.41 ms in the step)."""
    attrs = conv.attrs
    if not as_gemm(conv) or x.shape[-1] >= FEW_CHANNELS \
            or all(p == (0, 0) for p in attrs["padding"]):
        return None
    pairs = ((0, 0),) + tuple(tuple(p) for p in attrs["padding"]) + ((0, 0),)
    padded = make("pad", x, paddings=pairs, mode="CONSTANT", constant_value=0.0)
    return make(conv.op.name, padded, w,
                **{**attrs, "padding": ((0, 0),) * len(attrs["padding"])})


def _narrow_transposed_product(mm: Node, a: Node, b: Node):
    """a^T b as (b^T a)^T when the product is narrow and tall (see the rule)."""
    if len(mm.shape) != 2 or not _is_float(mm):  # (a and b are then matrices too)
        return None
    m, n = mm.shape
    if n > NARROW_PRODUCT or m < NARROW_PRODUCT_ROWS or m <= n:  # (m > n: swap once)
        return None
    swapped = make("matmul", make("transpose", b, perm=(1, 0)), a)
    return make("transpose", swapped, perm=(1, 0))


# a^T b with at most this many columns (a classifier's weight gradient, H^T dlogits) is
# computed as (b^T a)^T, with b^T of that many rows: the GEMM then packs a as its B, by
# rows, instead of gathering a's columns into 16-row panels for a one-vector tile
NARROW_PRODUCT, NARROW_PRODUCT_ROWS = 16, 64


def _short_transposed_product(mm: Node, a: Node, b: Node):
    """a b^T as (b a^T)^T when the product is short and wide and b is large (see the
    rule)."""
    if len(mm.shape) != 2 or not _is_float(mm):
        return None
    (m, n), k = mm.shape, a.shape[-1]
    if m not in SHORT_PRODUCT_ROWS or n < SHORT_PRODUCT_COLUMNS or n * k < SHORT_PRODUCT_B \
            or m >= n:  # (wider than tall: swap once)
        return None
    swapped = make("matmul", b, make("transpose", a, perm=(1, 0)))
    return make("transpose", swapped, perm=(1, 0))


# a b^T of this many rows (a batch of 64 or 128), at least this many columns and a b^T of
# at least this many elements (a large dense layer's input gradient, g @ W^T, W of n x k)
# is computed as (b a^T)^T: the GEMM reads b where it lies, row-major, as its A, and packs
# only the small a^T, instead of transposing all of b^T into its packed B blocks, which
# with so few rows to use each block was a third of the time. The rows fill whole
# register tiles of the swapped product (64 columns of float32 with AVX-512). Measured on
# the Rocket Lake VM (f32, one thread, the library GEMM alone; the transpose after it, a
# numpy copy, in brackets), k x n = 1024 x 3136: m = 64 3.64 -> 2.70 (+0.21) ms, m = 128
# 6.20 -> 5.17 (+0.77); 512 x 4096: m = 64 2.29 -> 1.74 (+0.30); but m = 32, 48 and 96
# 1.19, 0.99 and 1.16 times slower swapped (their columns fill part of a tile).
SHORT_PRODUCT_ROWS, SHORT_PRODUCT_COLUMNS, SHORT_PRODUCT_B = (64, 128), 1024, 1 << 18

SIMPLIFY_RULES = RuleTable([
    # a^T b = (b^T a)^T element for element: each is the same sum over k of the same
    # products, accumulated in the same order by the GEMM (_narrow_transposed_product)
    Rule("narrow_transposed_product", P("matmul", P("transpose", var("a"), where=lambda t:
                                                    t.attrs["perm"] == (1, 0)), var("b"),
                                        name="mm"), _narrow_transposed_product),
    # a b^T = (b a^T)^T element for element, as above (_short_transposed_product)
    Rule("short_transposed_product", P("matmul", var("a"), P("transpose", var("b"), where=lambda
                                                             t: t.attrs["perm"] == (1, 0)),
                                       name="mm"), _short_transposed_product),
    # explicit padding of a few-channel convolution (see _pad_explicitly)
    Rule("pad_few_channels", P("conv", var("x"), var("w"), name="conv"), _pad_explicitly),
    Rule("pad_few_channels_filter_grad", P("conv_filter_grad", var("x"), var("w"),
                                           name="conv"), _pad_explicitly),
    # x * 1 is x exactly, nan, inf and -0.0 included (IEEE multiplication by one is exact)
    Rule("mul_one", P("mul", var("x"), const(value=1), commutative=True), lambda x: x),
    # x / 1 is x exactly, as above
    Rule("div_one", P("div", var("x"), const(value=1)), lambda x: x),
    # x + (-0.0) is x for every x (+0.0 + -0.0 = +0.0); x + 0 for ints
    Rule("add_zero", P("add", var("x"), const("c", where=_is_additive_identity),
                       commutative=True), lambda x, c: x),
    # x - (+0.0) = x + (-0.0) = x; x - 0 for ints
    Rule("sub_zero", P("sub", var("x"), const(where=_is_plus_zero)), lambda x: x),
    # (-0.0) - x = -x for every x (-0.0 - +0.0 = -0.0 = -(+0.0)); 0 - x for ints
    Rule("zero_sub", P("sub", const(where=_is_additive_identity), var("x")),
         lambda x: make("neg", x)),
    # negation flips the sign bit only: twice is the identity
    Rule("neg_neg", P("neg", P("neg", var("x"))), lambda x: x),
    # a - (-b) and a + b are the same IEEE operation (subtraction is addition of -b)
    Rule("sub_neg", P("sub", var("a"), P("neg", var("b"))), lambda a, b: make("add", a, b)),
    # a + (-b) and a - b likewise
    Rule("add_neg", P("add", var("a"), P("neg", var("b")), commutative=True),
         lambda a, b: make("sub", a, b)),
    # (-a) * (-b) = a * b: the product's magnitude and rounding do not depend on signs
    Rule("mul_neg_neg", P("mul", P("neg", var("a")), P("neg", var("b"))),
         lambda a, b: make("mul", a, b)),
    # |-x| = |x| and ||x|| = |x|: abs clears the sign bit whatever it was
    Rule("abs_neg", P("abs", P(("neg", "abs"), var("x"))), lambda x: make("abs", x)),
    # pow(x, 1) = x for every x (IEEE pow, numpy and C agree)
    Rule("pow_one", P("pow", var("x"), const(value=1)), lambda x: x),
    # x / 2^k and x * 2^-k round the same exact value when 2^-k is a normal number
    Rule("div_power_of_two", P("div", var("x", where=_is_float), const("c")),
         _div_by_power_of_two),
    # max(x, x) and min(x, x) are x, nan included
    Rule("max_min_self", P(("maximum", "minimum"), var("x"), var("x")), lambda x: x),
    # both branches the same value: the condition does not matter
    Rule("select_same", P("select", var("c"), var("x"), var("x")), lambda c, x: x),
    # a constant condition picks one branch (the engine broadcasts it to the shape)
    Rule("select_true", P("select", const(value=True), var("a"), var("b")), lambda a, b: a),
    Rule("select_false", P("select", const(value=False), var("a"), var("b")), lambda a, b: b),
    # a value-preserving widening cast undone by the cast back is the identity
    Rule("cast_round_trip", P("cast", P("cast", name="inner"), name="n"), _cast_round_trip),
    # integer arithmetic has no nan or inf: x * 0 = 0 and x - x = 0 exactly
    Rule("int_mul_zero", P("mul", var("x", where=_is_int), const(value=0), commutative=True,
                           name="n"), lambda n, x: _zero_like(n)),
    Rule("int_sub_self", P("sub", var("x", where=_is_int), var("x"), name="n"),
         lambda n, x: _zero_like(n)),
])

def _channel_scale(conv: Node, c: Node):
    """c's values as one per output channel of `conv`, if c (a constant multiplying the
    convolution) broadcasts along its channel axis only; else None."""
    value = constant_value(c)
    axis = len(conv.shape) - 1 if conv.attrs["channels_last"] else 1
    channels = conv.shape[axis]
    if value.ndim > len(conv.shape):
        return None
    shape = (1,) * (len(conv.shape) - value.ndim) + value.shape  # aligned from the right
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    return np.broadcast_to(value.reshape(-1), (channels,))


def _fold_scale(conv: Node, x: Node, w: Node, c: Node):
    """conv(x, w) * c = conv(x, w * c) for a per-channel constant c (batch norm in
    inference): the filter's last axis is the output channel. w * c rounds once more."""
    scale = _channel_scale(conv, c)
    if scale is None:
        return None
    folded = (constant_value(w) * scale).astype(constant_value(w).dtype)
    return make("conv", x, constant(folded, w.dtype), **conv.attrs)


# Valid only without nan, inf and signed zeros (options.fast_math).
FAST_MATH_RULES = RuleTable([
    # batch norm folding: a convolution with a constant filter times a constant per output
    # channel is the convolution with the scaled filter, up to one rounding of w * c
    Rule("fold_conv_scale", P("mul", P("conv", var("x"), const("w"), name="conv"), const("c"),
                              commutative=True), _fold_scale),
    # x + 0.0 is x except -0.0 + 0.0 = +0.0
    Rule("fast_add_zero", P("add", var("x"), const(value=0), commutative=True), lambda x: x),
    # x * 0 is 0 except for nan and inf (nan) and negative x (-0.0)
    Rule("fast_mul_zero", P("mul", var("x"), const(value=0), commutative=True, name="n"),
         lambda n, x: _zero_like(n)),
    # x - x is 0 except for nan and inf (nan)
    Rule("fast_sub_self", P("sub", var("x"), var("x"), name="n"), lambda n, x: _zero_like(n)),
    # x / c = x * (1/c) up to one rounding of 1/c
    Rule("fast_div_constant", P("div", var("x"), const("c", where=lambda c: bool(
        np.all(np.isfinite(constant_value(c))) and np.all(constant_value(c) != 0)))),
         lambda x, c: make("mul", x, constant(1 / constant_value(c), c.dtype))),
    # exp(log x) = x for x > 0 (log of a negative number is nan)
    Rule("fast_exp_log", P("exp", P("log", var("x"))), lambda x: x),
    # log(exp x) = x while exp(x) does not overflow
    Rule("fast_log_exp", P("log", P("exp", var("x"))), lambda x: x),
])


def _log_sigmoid(x: Node) -> Node:
    """log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)): exp never overflows
    and the result never underflows to -inf for finite x."""
    zero = constant(0, x.dtype)
    return make("sub", make("minimum", x, zero),
                make("log1p", make("exp", make("neg", make("abs", x)))))


STABLE_RULES = RuleTable([
    # log(exp(a) / b) = a - log(b): exp(a) may underflow to 0 (log gives -inf) or overflow;
    # log(softmax(x)) is this with a = x - max(x), and becomes log_softmax
    Rule("log_div_exp", P("log", P("div", P("exp", var("a")), var("b"))),
         lambda a, b: make("sub", a, make("log", b))),
    # the same with the ratio as exp(a) * (1 / b), as softmax computes it
    Rule("log_mul_exp_reciprocal", P("log", P("mul", P("exp", var("a")),
                                              P("div", const(value=1), var("b")),
                                              commutative=True)),
         lambda a, b: make("sub", a, make("log", b))),
    # log(sigmoid(x)) = -softplus(-x): sigmoid(x) underflows to 0 for x below about -100
    Rule("log_sigmoid", P("log", P("sigmoid", var("x"))), _log_sigmoid),
    # log(1 - sigmoid(x)) = log(sigmoid(-x)): 1 - sigmoid(x) cancels to 0 for large x
    Rule("log_one_minus_sigmoid", P("log", P("sub", const(value=1), P("sigmoid", var("x")))),
         lambda x: _log_sigmoid(make("neg", x))),
    # log(1 + x) = log1p(x): 1 + x rounds away the low bits of a small x
    Rule("log1p", P("log", P("add", var("x"), const(value=1), commutative=True)),
         lambda x: make("log1p", x)),
    # exp(x) - 1 = expm1(x): the subtraction cancels every significant bit for small x
    Rule("expm1", P("sub", P("exp", var("x")), const(value=1)), lambda x: make("expm1", x)),
])


def simplify(roots, origin, options) -> Rewritten:
    """The graph of `roots` with the algebraic identities applied (module docstring)."""
    rules = SIMPLIFY_RULES + FAST_MATH_RULES if options.fast_math else SIMPLIFY_RULES
    return rewrite(roots, rules + CANONICAL_RULES, origin)


def stabilize(roots, origin, options) -> Rewritten:
    """The graph of `roots` with numerically stable forms (module docstring)."""
    return rewrite(roots, STABLE_RULES + CANONICAL_RULES, origin)

