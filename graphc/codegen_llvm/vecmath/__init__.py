"""vecmath: scalar math functions in LLVM IR that LLVM's loop vectorizer can widen.

    math_function(module, name, ty) -> ir.Function   # `graphc.<name>.<f32|f64>`, made once

A libm call per element would keep a generated loop scalar. Each function here is straight-line
code built only from arithmetic, llvm.fma, comparisons, selects, bitcasts, integer ops and the
llvm.fabs / floor / rint / copysign intrinsics: no branches, no calls. They are `internal` and
`alwaysinline`, so after inlining the loop vectorizer turns a loop calling them into 256/512-bit
code. Every branch of a piecewise formula is computed and the right one selected; lanes whose
intermediate values are garbage (inf, nan) are always selected away.

Floating-point semantics are IEEE with round-to-nearest and no fast-math flags: results are
right over the whole range of the type, for denormal inputs and outputs, and for the special
values C99 Annex F gives (exp(-inf) = 0, log(0) = -inf, tanh(inf) = 1, pow(-0, -1) = -inf, ...).

Maximum error in ulp of the exact result, measured over dense sweeps, random bit patterns of
every exponent, denormals and edge regions (tests/codegen_llvm/test_vecmath.py, plus one-off
runs on 12-24M inputs per function, for f32 unary ones every 256th bit pattern) against float64
references for f32 and 80-bit long double references for f64. The tests assert <= 1 ulp, and
<= 1.5 for tanh, erf, pow and atan2 (and <= 6 for the fast-math tanh_fast in f32).

    function  f32   f64   method
    exp       0.97  0.76  Cody-Waite by ln2 (n rounded by adding 1.5*2**mant, whose sum's
                          low bits are n), minimax expm1 kernel, ldexp rounding once for
                          denormal results (AVX-512's vscalef, else in two steps); f64
                          also splits 1 + r exactly (for f32 one rounding of
                          1 + (r + r*r*P(r)) stays within an ulp and saves a fifth of
                          the time)
    expm1     0.92  0.92  the same kernel; 2**n*(1 + q) - 1 summed exactly, rounded once
    log       0.80  0.80  fdlibm-style x = 2**k*(1+f), s = f/(2+f), minimax atanh-series kernel
    log1p     0.79  0.83  the log kernel on u = 1+x plus u's exact rounding error over u
    tanh      1.20  1.30  minimax x + x**3*T(x*x) below 0.625, 1 - 2/(exp(2|x|) + 1) above
                          with exp(2|x|) + 1 = 2**n*expm1(r) + (2**n + 1) in one fma (no
                          denormal or overflow cases there): 2.5x fewer instructions than
                          a correctly compensated form, for <= 1.5 ulp
    tanh_fast 5.5   1.30  Options(fast_math=True)'s tanh (render.py picks it): x*P(x*x)/Q(x*x)
                          on x clipped to [-9, 9], P and Q of degree 4 fitted for relative
                          error (3.3e-7 at most; within 3.1 ulp for |x| < 0.35), nan kept:
                          13 operations and a division against tanh's 30. f64 is tanh's
    sigmoid   0.76  0.77  1/(1+E) or E/(1+E), E = exp(-|x|) with extra bits; one division
                          (r = 1/(1+E), q = num*r, corrected by the remainder times r)
    erf       0.93  1.00  x + x*Q(x*x) below 0.875, 1 - exp(-x*x)*R(x) above (R piecewise)
    sin, cos  0.50  0.78  f32 evaluated in double; f64 reduces to r = x - k*pi/2 as hi + lo
    pow       0.50  0.93  f32 as exp(y*log x) in double; f64 with log x, y*log x as hi + lo
    atan2     1.07  1.03  atan of the min/max ratio about c = 0, 1/2, 1, ratio rounding fixed

sin and cos are accurate for |x| < 2**32 (f32) and |x| < 2**36 (f64). Beyond, Cody-Waite
reduction without Payne-Hanek degrades with |x| until the result is unrelated to sin(x); it
stays in [-1, 1], and inf and nan give nan.

Polynomial coefficients are minimax (Remez) fits made offline in 60-digit arithmetic for the
stated function and interval, then rounded to the type; the fit error named next to each table
is far below the ulp of the result.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen_llvm.vecmath.emit import F32, F64, _Emitter
from graphc.codegen_llvm.vecmath.exp_log import (
    _erf,
    _exp,
    _expm1,
    _log,
    _log1p,
    _pow,
    _sigmoid,
    _tanh,
    _tanh_fast,
)
from graphc.codegen_llvm.vecmath.trig import _atan2, _cos, _sin

SUPPORTED = frozenset({"exp", "log", "log1p", "expm1", "tanh", "tanh_fast", "sigmoid", "erf",
                       "sin", "cos", "pow", "atan2"})
_BINARY = frozenset({"pow", "atan2"})

# |x| below which sin and cos are accurate: there q = rint(x*2/pi) leaves |r| within the fitted
# pi/4 + 2e-4, and the part of q*pi/2 the reduction drops stays far below the ulp of r.
SINCOS_LIMIT = {"f32": 2.0 ** 32, "f64": 2.0 ** 36}


def math_function(module: ir.Module, name: str, ty: ir.Type, scalef: bool = False) -> ir.Function:
    """The function `graphc.<name>.<f32|f64>` of `module` (internal, alwaysinline), emitted on
    first use. `ty` is ir.FloatType() or ir.DoubleType(); pow and atan2 (y, x) take two
    arguments, the others one. scalef: the module is for a CPU with AVX-512F, where scaling
    by 2**n with one rounding is one instruction (`graphc.<name>.<type>.scalef`, the same
    results). Raises ValueError / TypeError for other names / types."""
    if name not in SUPPORTED:
        raise ValueError(f"vecmath: unknown function {name!r}; expected one of {sorted(SUPPORTED)}")
    if ty != F32 and ty != F64:
        raise TypeError(f"vecmath: {name} needs float or double, got {ty}")
    fname = f"graphc.{name}.{ty.intrinsic_name}" + (".scalef" if scalef else "")
    if fname in module.globals:
        return module.globals[fname]
    nargs = 2 if name in _BINARY else 1
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * nargs), name=fname)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(_BODIES[name](_Emitter(builder, ty, scalef), *fn.args))
    return fn


_BODIES = {"exp": _exp, "log": _log, "log1p": _log1p, "expm1": _expm1, "tanh": _tanh,
           "tanh_fast": _tanh_fast,
           "sigmoid": _sigmoid, "erf": _erf, "sin": _sin, "cos": _cos, "pow": _pow,
           "atan2": _atan2}
