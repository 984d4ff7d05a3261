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
<= 1.5 for erf, pow and atan2.

    function  f32   f64   method
    exp       0.76  0.76  Cody-Waite by ln2, minimax expm1 kernel, 1 + r split exactly, ldexp
                          in two steps so denormal results round once
    expm1     0.92  0.92  the same kernel; 2**n*(1 + q) - 1 summed exactly, rounded once
    log       0.80  0.80  fdlibm-style x = 2**k*(1+f), s = f/(2+f), minimax atanh-series kernel
    log1p     0.79  0.83  the log kernel on u = 1+x plus u's exact rounding error over u
    tanh      0.72  0.73  minimax x + x**3*T(x*x) below 0.625, 1 - 2/(expm1(2|x|) + 2) above
    sigmoid   0.76  0.77  1/(1+E) or E/(1+E), E = exp(-|x|) with extra bits, corrected division
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

SUPPORTED = frozenset({"exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin", "cos",
                       "pow", "atan2"})
_BINARY = frozenset({"pow", "atan2"})
F32, F64 = ir.FloatType(), ir.DoubleType()

# ---- coefficient tables (low degree first) and split constants, keyed by type ----

# expm1(r) = r + r*r*P(r), |r| <= ln2/2: minimax fit of P, relative error 2**-32 / 2**-62.
EXPM1 = {"f32": [0.5, 0.1666666716337204, 0.04166646674275398, 0.00833328627049923,
                 0.0013933652080595493, 0.0001990758755709976],
         "f64": [0.5, 0.1666666666666667, 0.041666666666666685, 0.008333333333326134,
                 0.0013888888888874396, 0.00019841269874821957, 2.4801587347346783e-05,
                 2.755725539874195e-06, 2.7557252905997574e-07, 2.5105217543350842e-08,
                 2.0921591355558057e-09]}
# log((1+s)/(1-s)) = 2s + s*z*G(z), z = s*s <= (3-2*sqrt2)**2: minimax fit of G (the series
# 2/3 + 2z/5 + 2z**2/7 + ...), error relative to the log 2**-28 / 2**-72.
LOG = {"f32": [0.6666668653488159, 0.39988717436790466, 0.29582151770591736],
       "f64": [0.6666666666666666, 0.3999999999999999, 0.2857142857143542, 0.22222222219841387,
               0.18181818595989965, 0.1538457496194126, 0.1333564556250302, 0.11687978466410176,
               0.11883239334593856]}
# sin(r) = r + r**3*S(r*r), cos(r) = 1 - r*r/2 + r**4*C(r*r), |r| <= pi/4 + 2e-4: minimax,
# relative error 2**-36 / 2**-67 (f32 is evaluated in double, so it uses the short fit).
SIN = {"f32": [-0.1666666666385514, 0.008333331874109841, -0.00019840086235595503,
               2.7249845844784255e-06],
       "f64": [-0.16666666666666666, 0.008333333333333331, -0.00019841269841265055,
               2.7557319219331307e-06, -2.505210622966233e-08, 1.6058531170383648e-10,
               -7.586670324673546e-13]}
COS = {"f32": [0.041666666664320416, -0.0013888887671321644, 2.4800599876171248e-05,
               -2.730088341003227e-07],
       "f64": [0.041666666666666664, -0.0013888888888888887, 2.4801587301584642e-05,
               -2.7557319221398367e-07, 2.0876755789504064e-09, -1.1470460634187878e-11,
               4.745856789077693e-14]}
# atan(z) = z + z**3*A(z*z), |z| <= 7/16: minimax, relative error 2**-28.7 / 2**-58.
ATAN = {"f32": [-0.3333333432674408, 0.1999996453523636, -0.14283478260040283,
                0.11059357970952988, -0.08538848161697388, 0.048362988978624344],
        "f64": [-0.3333333333333333, 0.19999999999999446, -0.1428571428557458,
                0.11111111097276222, -0.09090908381890797, 0.07692286193755506,
                -0.0666625160418369, 0.0587704067806608, -0.052172688941671486,
                0.04494546999973333, -0.033178338862549554, 0.01482076519596918]}
# tanh(x) = x + x**3*T(x*x), |x| < 0.625: minimax, relative error 2**-27.9 / 2**-56.8.
TANH = {"f32": [-0.3333333432674408, 0.13333332538604736, -0.053967662155628204,
                0.021860139444470406, -0.008792208507657051, 0.003308982588350773,
                -0.0008645473280921578],
        "f64": [-0.3333333333333333, 0.13333333333333322, -0.053968253968236804,
                0.021869488535176326, -0.008863235500864097, 0.003592127523042618,
                -0.001455828542196126, 0.0005899826798480761, -0.00023889294460773647,
                9.605044749433071e-05, -3.709693839841239e-05, 1.2225385466009366e-05,
                -2.4454245946715684e-06]}
# erf(x) = x + x*Q(x*x), |x| < 0.875: minimax, relative error 2**-26.8 / 2**-61.4.
ERF_Q = {"f32": [0.12837915122509003, -0.3761255741119385, 0.11282524466514587,
                 -0.026793954893946648, 0.005035872105509043, -0.000622242281679064],
         "f64": [0.1283791670955126, -0.3761263890318374, 0.11283791670954368,
                 -0.02686617064494554, 0.005223977623090199, -0.000854832684756395,
                 0.00012055324632865235, -1.4925388937332433e-05, 1.6456634791528022e-06,
                 -1.6289507178616158e-07, 1.4124232261018924e-08, -8.669730126056383e-10]}
# erfc(x) = exp(-x*x) * R(x) for 0.875 <= x <= XMAX, R a polynomial in x - center on each
# piece: minimax with weight exp(-x*x), i.e. in absolute erfc error (what 1 - erfc needs):
# 2**-30 and 2**-29 (f32); 2**-59, 2**-62, 2**-61, 2**-66 (f64). Rows: (upper cut, center, R).
ERFC = {"f32": [
    (1.75, 1.3125, [0.35517677664756775, -0.19604003429412842, 0.09787453711032867,
                    -0.045057207345962524, 0.019356917589902878, -0.007806712295860052,
                    0.0031585514079779387, -0.0012839133851230145]),
    (4.0, 2.875, [0.18605493009090424, -0.058561719954013824, 0.017686625942587852,
                  -0.0051574683748185635, 0.0014380512293428183, -0.00037020552554167807,
                  0.00011946896847803146, -4.1471459553577006e-05])],
    "f64": [
    (1.5, 1.1875, [0.38130405896671793, -0.22278202704955777, 0.11675040184536327,
                   -0.056093949905391315, 0.025069418167212677, -0.010529606338704532,
                   0.004188503490259259, -0.0015873593279567423, 0.0005758803128075498,
                   -0.00020078242665576857, 6.746295520063533e-05, -2.1897906957138674e-05,
                   7.120229449153717e-06, -2.2613402760985153e-06]),
    (2.25, 1.875, [0.2694299851646704, -0.11801672272799857, 0.04814863004967254,
                   -0.018492027589863503, 0.00673803915947656, -0.002343281669222183,
                   0.0007814620014135115, -0.0002508686116040833, 7.777105738749375e-05,
                   -2.3345032422917406e-05, 6.7971206477667196e-06, -1.9201933305840466e-06,
                   5.486916315692779e-07, -1.5922795186239533e-07]),
    (3.5, 2.875, [0.18605493468447112, -0.05856329265980952, 0.01768546828752154,
                  -0.005145047554969608, 0.0014467282837388026, -0.0003942815070418256,
                  0.00010438964164129833, -2.6903111177014172e-05, 6.760894322872108e-06,
                  -1.6595767961547894e-06, 3.9746110330627196e-07, -9.252020068399878e-08,
                  2.2940637658721615e-08, -5.875117611802555e-09]),
    (6.0, 4.75, [0.11630270721024731, -0.02350344859840247, 0.004661326368811956,
                 -0.0009080988921163935, 0.00017392830730917694, -3.277580962511283e-05,
                 6.081095940728473e-06, -1.1114972474525396e-06, 2.0033648825503074e-07,
                 -3.568103109707061e-08, 6.191662906121961e-09, -1.0296147665628452e-09,
                 2.1190807642416656e-10, -4.463621769995426e-11])]}

# Constants split as hi + lo (hi = the value rounded to the type, lo = the rest rounded).
LN2 = {"f32": (0.6931471824645996, -1.9046542121259336e-09),
       "f64": (0.6931471805599453, 2.3190468138462996e-17)}
PI = {"f32": (3.1415927410125732, -8.742277657347586e-08),
      "f64": (3.141592653589793, 1.2246467991473532e-16)}
PIO2 = {"f32": (1.5707963705062866, -4.371138828673793e-08),
        "f64": (1.5707963267948966, 6.123233995736766e-17)}
PIO4 = {"f32": (0.7853981852531433, -2.1855694143368964e-08),
        "f64": (0.7853981633974483, 3.061616997868383e-17)}
ATAN_HALF = {"f32": (0.46364760398864746, 5.01215868808913e-09),
             "f64": (0.4636476090008061, 2.2698777452961687e-17)}
PIO2_3 = (1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33)  # pi/2, 3 doubles
TWO_THIRDS = (0.6666666666666666, 3.700743415417188e-17)
# exp: below LO the result rounds to +0, above HI to inf; the clamp keeps 2**n in range.
EXP_RANGE = {"f32": (-104.0, 89.0), "f64": (-746.0, 710.0)}
EXPM1_RANGE = {"f32": (-18.0, 89.0), "f64": (-40.0, 710.0)}   # expm1(LO) rounds to -1
TINY = {"f32": 2.0 ** -26, "f64": 2.0 ** -55}   # below: expm1(x), log1p(x) round to x
TANH_SAT = {"f32": 10.0, "f64": 22.0}           # above: tanh rounds to 1
# |x| below which sin and cos are accurate: there q = rint(x*2/pi) leaves |r| within the fitted
# pi/4 + 2e-4, and the part of q*pi/2 the reduction drops stays far below the ulp of r.
SINCOS_LIMIT = {"f32": 2.0 ** 32, "f64": 2.0 ** 36}


def math_function(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The function `graphc.<name>.<f32|f64>` of `module` (internal, alwaysinline), emitted on
    first use. `ty` is ir.FloatType() or ir.DoubleType(); pow and atan2 (y, x) take two
    arguments, the others one. Raises ValueError / TypeError for other names / types."""
    if name not in SUPPORTED:
        raise ValueError(f"vecmath: unknown function {name!r}; expected one of {sorted(SUPPORTED)}")
    if ty != F32 and ty != F64:
        raise TypeError(f"vecmath: {name} needs float or double, got {ty}")
    fname = f"graphc.{name}.{ty.intrinsic_name}"
    if fname in module.globals:
        return module.globals[fname]
    nargs = 2 if name in _BINARY else 1
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * nargs), name=fname)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(_BODIES[name](_Emitter(builder, ty), *fn.args))
    return fn


class _Emitter:
    """Arithmetic on one float type (and the same-width integer type) over an IRBuilder.
    Python numbers passed as operands become constants of the float type."""

    def __init__(self, builder: ir.IRBuilder, ty: ir.Type):
        self.b, self.ty = builder, ty
        self.key = ty.intrinsic_name
        wide = self.key == "f64"
        self.ity = ir.IntType(64 if wide else 32)
        self.mant, self.bias = (52, 1023) if wide else (23, 127)

    def wide(self) -> _Emitter:
        return _Emitter(self.b, F64)

    def v(self, x):
        return x if isinstance(x, ir.Value) else ir.Constant(self.ty, x)

    def i(self, x):
        return x if isinstance(x, ir.Value) else ir.Constant(self.ity, x)

    def add(self, a, b):
        return self.b.fadd(self.v(a), self.v(b))

    def sub(self, a, b):
        return self.b.fsub(self.v(a), self.v(b))

    def mul(self, a, b):
        return self.b.fmul(self.v(a), self.v(b))

    def div(self, a, b):
        return self.b.fdiv(self.v(a), self.v(b))

    def neg(self, a):
        return self.b.fneg(self.v(a))

    def fma(self, a, b, c):
        return self._intrinsic("llvm.fma", a, b, c)

    def abs(self, a):
        return self._intrinsic("llvm.fabs", a)

    def floor(self, a):
        return self._intrinsic("llvm.floor", a)

    def rint(self, a):
        return self._intrinsic("llvm.rint", a)

    def copysign(self, mag, sign):
        return self._intrinsic("llvm.copysign", mag, sign)

    def _intrinsic(self, name, *args):
        module, fname = self.b.module, f"{name}.{self.key}"
        fn = module.globals.get(fname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), fname)
        return self.b.call(fn, [self.v(a) for a in args])

    def cmp(self, op, a, b):
        """Ordered comparison: false when either side is nan."""
        return self.b.fcmp_ordered(op, self.v(a), self.v(b))

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, b):
        return self.b.select(cond, self.v(a), self.v(b))

    def clamp(self, x, lo, hi):
        """min(max(x, lo), hi) with nan mapped to lo, so later integer conversions are defined."""
        return self.sel(self.cmp(">=", x, lo), self.sel(self.cmp(">", x, hi), hi, x), lo)

    def poly(self, x, coeffs):
        """Horner's rule with fma: coeffs[0] + coeffs[1]*x + ..."""
        acc = self.v(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def bits(self, x):
        return self.b.bitcast(x, self.ity)

    def from_bits(self, n):
        return self.b.bitcast(n, self.ty)

    def to_int(self, x):
        return self.b.fptosi(x, self.ity)

    def to_float(self, n):
        return self.b.sitofp(n, self.ty)

    def pow2(self, n):
        """2**n for an integer n in the normal exponent range: the exponent field alone."""
        return self.from_bits(self.b.shl(self.b.add(n, self.i(self.bias)), self.i(self.mant)))

    def two_sum(self, a, b):
        """(s, err) with s = fl(a + b) and a + b = s + err exactly (Knuth)."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))


# ---- shared kernels: emit IR inline into the caller's function ----

def _exp_reduce(e, x):
    """x = n*ln2 + rh + rl, |rh + rl| <= ln2/2 (Cody-Waite). rh = fma(n, -ln2_hi, x) is exact:
    its true value is small and lies on the bit grid of x (or of ln2_hi); rl = -n*ln2_lo."""
    hi, lo = LN2[e.key]
    n = e.rint(e.mul(x, 1.4426950408889634))
    return e.to_int(n), e.fma(n, -hi, x), e.mul(n, -lo)


def _exp_tail(e, rh, rl):
    """t with exp(rh + rl) = 1 + rh + t for small rl: u = expm1(rh) - rh = rh*rh*P(rh) and
    t = u + rl*exp(rh) (rl = -n*ln2_lo reaches 2**-45 for f64, so rl*u still counts)."""
    u = e.mul(e.mul(rh, rh), e.poly(rh, EXPM1[e.key]))
    return e.fma(rl, e.add(e.add(rh, u), 1.0), u)


def _exp_small(e, rh, rl, split=False):
    """exp(rh + rl), |rh| <= ln2/2: 1 + rh is split exactly (Fast2Sum), so the sum rounds once.
    With split, also the part the rounding dropped: exp(rh + rl) ~ hi + lo."""
    one_rh = e.add(rh, 1.0)
    small = e.add(e.add(e.sub(1.0, one_rh), rh), _exp_tail(e, rh, rl))
    hi = e.add(one_rh, small)
    return (hi, e.sub(small, e.sub(hi, one_rh))) if split else hi


def _scale(e, p, n):
    """p * 2**n, n from the smallest denormal to just past overflow: two power-of-two factors
    that are each normal, the first product exact, so a denormal result rounds only once."""
    n1 = e.b.ashr(n, e.i(1))
    return e.mul(e.mul(p, e.pow2(n1)), e.pow2(e.b.sub(n, n1)))


def _exp_core(e, x, split=False):
    """exp(x) for x inside EXP_RANGE (no nan); with split, (hi, lo) as in _exp_small."""
    n, rh, rl = _exp_reduce(e, x)
    if not split:
        return _scale(e, _exp_small(e, rh, rl), n)
    hi, lo = _exp_small(e, rh, rl, split=True)
    return _scale(e, hi, n), _scale(e, lo, n)


def _expm1_core(e, x):
    """expm1(x) for x inside EXPM1_RANGE (no nan). With expm1(r) = qh + ql and t = 2**(n-1),
    expm1(x) = 2**n*(1 + q) - 1 = 2*((t - 0.5) + t*qh + t*ql): the products by t are exact,
    t - 0.5 is exact up to n = mant + 1 (beyond, -0.5 joins the small terms), and an exact
    two-sum leaves a single rounding."""
    n, rh, rl = _exp_reduce(e, x)
    qh, ql = e.two_sum(rh, _exp_tail(e, rh, rl))
    t = e.pow2(e.b.sub(n, e.i(1)))
    exact = e.b.icmp_signed("<=", n, e.i(e.mant + 1))
    s, err = e.two_sum(e.sel(exact, e.sub(t, 0.5), t), e.mul(t, qh))
    err = e.add(err, e.sel(exact, 0.0, -0.5))
    big = e.mul(e.add(s, e.fma(t, ql, err)), 2.0)
    return e.sel(e.b.icmp_signed("==", n, e.i(0)), qh, big)


def _log_split(e, x, denormals=True):
    """x = 2**k * (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), for x > 0 finite (fdlibm's
    integer trick: adding 1.0 - sqrt(1/2) to the bits carries into the exponent exactly when
    the mantissa is >= sqrt(2)). Denormals are first scaled into the normal range."""
    shift = 54 if e.key == "f64" else 25
    if e.key == "f64":
        one, half_sqrt2 = 0x3FF0000000000000, 0x3FE6A09E667F3BCD
    else:
        one, half_sqrt2 = 0x3F800000, 0x3F3504F3
    if denormals:
        sub = e.cmp("<", x, 2.0 ** (1 - e.bias))
        x = e.sel(sub, e.mul(x, 2.0 ** shift), x)
    ix = e.b.add(e.bits(x), e.i(one - half_sqrt2))
    k = e.b.sub(e.b.ashr(ix, e.i(e.mant)), e.i(e.bias))
    if denormals:
        k = e.b.sub(k, e.b.select(sub, e.i(shift), e.i(0)))
    mant = e.b.and_(ix, e.i((1 << e.mant) - 1))
    m = e.from_bits(e.b.add(mant, e.i(half_sqrt2)))
    return e.to_float(k), e.sub(m, 1.0)   # m - 1 is exact (Sterbenz)


def _log_kernel(e, kf, f, lo=None):
    """k*ln2 + log(1+f) + lo. With s = f/(2+f), log(1+f) = 2*atanh(s) = f - hfsq + s*(hfsq + R),
    R = s*s*G(s*s), hfsq = f*f/2 (fdlibm): f is exact, the rest is a small correction."""
    ln2_hi, ln2_lo = LN2[e.key]
    s = e.div(f, e.add(f, 2.0))
    z = e.mul(s, s)
    hfsq = e.mul(e.mul(f, f), 0.5)
    tail = e.mul(kf, ln2_lo) if lo is None else e.fma(kf, ln2_lo, lo)
    inner = e.fma(s, e.fma(z, e.poly(z, LOG[e.key]), hfsq), tail)
    return e.fma(kf, ln2_hi, e.sub(f, e.sub(hfsq, inner)))


def _log_finite(e, x):
    """log(x) for x > 0 finite."""
    kf, f = _log_split(e, x)
    return _log_kernel(e, kf, f)


def _nan(e):
    return e.v(float("nan"))


# ---- the functions ----

def _exp(e, x):
    lo, hi = EXP_RANGE[e.key]
    return e.sel(e.isnan(x), x, _exp_core(e, e.clamp(x, lo, hi)))


def _expm1(e, x):
    lo, hi = EXPM1_RANGE[e.key]
    res = _expm1_core(e, e.clamp(x, lo, hi))
    # tiny x (and +-0, denormals): expm1(x) = x + x*x/2 rounds to x
    return e.sel(e.cmp("<", e.abs(x), TINY[e.key]), x, e.sel(e.isnan(x), x, res))


def _log(e, x):
    res = _log_finite(e, x)
    res = e.sel(e.cmp("==", x, float("inf")), x, res)
    res = e.sel(e.cmp("==", x, 0.0), float("-inf"), res)
    return e.sel(e.b.fcmp_unordered("<", x, e.v(0.0)), e.add(x, _nan(e)), res)


def _log1p(e, x):
    u = e.add(x, 1.0)
    # 1 + x = u + c exactly (Fast2Sum, larger operand first); then log1p(x) = log(u) + c/u.
    c = e.sel(e.cmp("<=", e.abs(x), 1.0), e.add(e.sub(1.0, u), x), e.add(e.sub(x, u), 1.0))
    kf, f = _log_split(e, u, denormals=False)   # u >= 2**-24 (f32) is normal
    res = _log_kernel(e, kf, f, e.div(c, u))
    res = e.sel(e.cmp("==", x, float("inf")), x, res)
    res = e.sel(e.cmp("==", x, -1.0), float("-inf"), res)
    res = e.sel(e.cmp("<", e.abs(x), TINY[e.key]), x, res)
    return e.sel(e.b.fcmp_unordered("<", x, e.v(-1.0)), e.add(x, _nan(e)), res)


def _tanh(e, x):
    # |x| < 0.625: x + x**3*T(x*x); above: 1 - 2/(expm1(2|x|) + 2), no cancellation there.
    sat = TANH_SAT[e.key]
    a = e.abs(x)
    z = e.mul(a, a)
    near = e.fma(e.mul(a, z), e.poly(z, TANH[e.key]), a)   # exact for 0 and denormals
    ac = e.clamp(a, 0.625, sat)   # beyond sat tanh rounds to 1
    t = _expm1_core(e, e.mul(ac, 2.0))                  # >= 2.49
    den = e.add(t, 2.0)
    den_lo = e.add(e.sub(t, den), 2.0)                   # t + 2 = den + den_lo exactly
    q = e.div(2.0, den)
    q_lo = e.div(e.fma(e.neg(q), den_lo, e.fma(e.neg(q), den, 2.0)), den)   # 2/(t+2) - q
    one_q = e.sub(1.0, q)
    far = e.add(one_q, e.sub(e.sub(e.sub(1.0, one_q), q), q_lo))   # 1 - q split exactly
    return e.sel(e.isnan(x), x, e.copysign(e.sel(e.cmp("<", a, 0.625), near, far), x))


def _sigmoid(e, x):
    # with E = exp(-|x|) <= 1: 1/(1+E) for x >= 0, E/(1+E) for x < 0 -- no overflow, and the
    # tiny results for very negative x keep full relative accuracy down into the denormals.
    # E = ex + ex_lo carries extra bits, so a result just below a power of two is not off by
    # E's rounding in its larger ulp.
    lo, _ = EXP_RANGE[e.key]
    ex, ex_lo = _exp_core(e, e.clamp(e.neg(e.abs(x)), lo, 0.0), split=True)
    pos = e.cmp(">=", x, 0.0)
    num, num_lo = e.sel(pos, 1.0, ex), e.sel(pos, 0.0, ex_lo)
    den = e.add(ex, 1.0)
    den_lo = e.add(e.add(e.sub(1.0, den), ex), ex_lo)   # 1 + E = den + den_lo
    q = e.div(num, den)
    rem = e.fma(e.neg(q), den_lo, e.add(e.fma(e.neg(q), den, num), num_lo))   # num - q*den
    res = e.add(q, e.div(rem, den))                      # one correction step: ~0.5 ulp
    return e.sel(e.isnan(x), x, res)


def _erf(e, x):
    pieces = ERFC[e.key]
    a = e.abs(x)
    near = e.fma(x, e.poly(e.mul(x, x), ERF_Q[e.key]), x)   # x*(1 + Q): exact for x = +-0
    # erfc(a) = exp(-a*a)*R(a); a*a = sq_hi + sq_lo exactly, exp(-a*a) = exp(-sq_hi)*(1 - sq_lo)
    ac = e.clamp(a, 0.875, pieces[-1][0])   # erf rounds to 1 above the last cut
    in_piece = [e.cmp("<", ac, cut) for cut, _, _ in pieces[:-1]]

    def pick(values):   # the value of the piece ac lies in (select chain, no branches)
        out = e.v(values[-1])
        for cond, val in reversed(list(zip(in_piece, values[:-1]))):
            out = e.sel(cond, val, out)
        return out

    t = e.sub(ac, pick([center for _, center, _ in pieces]))
    ncoef = len(pieces[0][2])
    r = e.poly(t, [pick([p[2][j] for p in pieces]) for j in range(ncoef)])
    sq_hi = e.mul(ac, ac)
    sq_lo = e.fma(ac, ac, e.neg(sq_hi))
    er = e.mul(_exp_core(e, e.neg(sq_hi)), r)
    far = e.copysign(e.sub(1.0, e.fma(e.neg(er), sq_lo, er)), x)
    return e.sel(e.isnan(x), x, e.sel(e.cmp("<", a, 0.875), near, far))


def _sin(e, x):
    return _sincos(e, x, 0)


def _cos(e, x):
    return _sincos(e, x, 1)


def _sincos(e, x, quarter_turns):
    """sin(x + quarter_turns*pi/2) via x = q*pi/2 + r, |r| <= pi/4 (Cody-Waite with pi/2 in
    three doubles). f32 runs in double: two parts of pi/2 suffice and the result is rounded
    once. f64 keeps r as a double-double and adds r_lo's first-order effect to the kernels."""
    w = e.wide()
    finite = e.cmp("<", e.abs(x), float("inf"))
    d = e.sel(finite, x, 0.0) if e.key == "f64" else e.b.fpext(e.sel(finite, x, 0.0), F64)
    q = w.rint(w.mul(d, 0.6366197723675814))   # nearest multiple of pi/2
    quad = w.to_int(w.sub(q, w.mul(w.floor(w.mul(q, 0.25)), 4.0)))   # q mod 4, any q
    quad = e.b.add(quad, w.i(quarter_turns))
    p1, p2, p3 = PIO2_3
    r1 = w.fma(q, -p1, d)   # exact: the true result is < 1 and on d's (or p1's) bit grid
    if e.key == "f32":
        rh, rl = w.fma(q, -p2, r1), None
    else:   # r = r1 - q*p2 - q*p3 as a double-double (q*p2 split exactly with fma)
        h = w.mul(q, p2)
        s, err = w.two_sum(r1, w.neg(h))
        err = w.fma(q, -p3, w.sub(err, w.fma(q, p2, w.neg(h))))
        rh, rl = w.two_sum(s, err)
    # Beyond SINCOS_LIMIT r is no longer small; clamping keeps the result in [-1, 1].
    small = w.cmp("<=", w.abs(rh), 0.786)
    rh = w.clamp(rh, -0.786, 0.786)
    rl = rl if rl is None else w.sel(small, rl, 0.0)
    z = w.mul(rh, rh)
    if rl is None:
        sin = w.fma(w.mul(rh, z), w.poly(z, SIN[e.key]), rh)
        cos = w.fma(w.mul(z, z), w.poly(z, COS[e.key]), w.fma(z, -0.5, 1.0))
    else:   # sin(rh+rl) = sin rh + rl*cos rh; cos(rh+rl) = cos rh - rl*sin rh (fdlibm's kernels)
        sin = w.add(rh, w.fma(w.mul(rh, z), w.poly(z, SIN[e.key]), w.fma(w.mul(z, rl), -0.5, rl)))
        hz = w.mul(z, 0.5)
        one_hz = w.sub(1.0, hz)   # its rounding error, (1 - one_hz) - hz, is added back below
        low = w.fma(w.mul(z, z), w.poly(z, COS[e.key]), w.neg(w.mul(rh, rl)))
        cos = w.add(one_hz, w.add(w.sub(w.sub(1.0, one_hz), hz), low))
    res = w.sel(e.b.trunc(quad, ir.IntType(1)), cos, sin)
    res = w.sel(e.b.icmp_signed("!=", e.b.and_(quad, w.i(2)), w.i(0)), w.neg(res), res)
    if e.key == "f32":
        res = e.b.fptrunc(res, F32)
    if not quarter_turns:
        res = e.sel(e.cmp("==", x, 0.0), x, res)   # sin(-0) = -0
    return e.sel(finite, res, e.add(x, _nan(e)))


def _atan2(e, y, x):
    ax, ay = e.abs(x), e.abs(y)
    swap = e.cmp(">", ay, ax)   # then atan(ay/ax) = pi/2 - atan(ax/ay)
    num, den = e.sel(swap, ax, ay), e.sel(swap, ay, ax)
    a = e.div(num, den)                                  # in [0, 1]
    a = e.sel(e.cmp("==", den, 0.0), 0.0, a)             # both zero
    a = e.sel(e.cmp("==", num, float("inf")), 1.0, a)    # both infinite
    # atan(a) = atan(c) + atan((a-c)/(1+a*c)) with c = 0, 1/2, 1 on [0, 7/16), [7/16, 11/16),
    # [11/16, 1] (fdlibm's breakpoints): |z| <= 7/16, and where c != 0 atan(z) is small next to
    # atan(c), so its rounding errors shrink. a - c is exact (Sterbenz).
    c = e.sel(e.cmp("<", a, 0.4375), 0.0, e.sel(e.cmp("<", a, 0.6875), 0.5, 1.0))
    z = e.div(e.sub(a, c), e.fma(a, c, 1.0))
    th = e.fma(e.mul(z, e.mul(z, z)), e.poly(e.mul(z, z), ATAN[e.key]), z)
    half, pio4, pio2, pi = ATAN_HALF[e.key], PIO4[e.key], PIO2[e.key], PI[e.key]
    atan_hi = e.sel(e.cmp("==", c, 0.0), 0.0, e.sel(e.cmp("==", c, 0.5), half[0], pio4[0]))
    atan_lo = e.sel(e.cmp("==", c, 0.0), 0.0, e.sel(e.cmp("==", c, 0.5), half[1], pio4[1]))
    # quadrant: t, pi/2 - t (swapped), pi - t (x < 0), pi/2 + t (both), t = atan(a). The two
    # large constants are added exactly (two-sum), so the result is rounded about once.
    neg_x = e.b.icmp_signed("<", e.bits(x), e.i(0))     # sign bit: atan2(+0, -0) = pi
    base_hi = e.sel(swap, pio2[0], e.sel(neg_x, pi[0], 0.0))
    base_lo = e.sel(swap, pio2[1], e.sel(neg_x, pi[1], 0.0))
    flip = e.b.xor(swap, neg_x)
    big, err = e.two_sum(base_hi, e.sel(flip, e.neg(atan_hi), atan_hi))
    # a's own rounding: atan(a + da) = atan(a) + da/(1 + a*a), da = (num - a*den)/den
    da = e.div(e.fma(e.neg(a), den, num), e.fma(e.mul(a, a), den, den))
    small = e.add(atan_lo, e.add(th, e.sel(e.isnan(da), 0.0, da)))
    th = e.add(big, e.add(err, e.add(base_lo, e.sel(flip, e.neg(small), small))))
    res = e.copysign(th, y)
    return e.sel(e.b.or_(e.isnan(x), e.isnan(y)), e.add(x, y), res)


def _pow(e, x, y):
    if e.key == "f32":   # y*log(x) in double has ~20 bits to spare: one final rounding
        w = e.wide()
        ax = e.b.fpext(e.abs(x), F64)
        lg = w.sel(w.cmp("==", ax, 0.0), float("-inf"), _log_finite(w, ax))
        lg = w.sel(w.cmp("==", ax, float("inf")), ax, lg)
        mag = e.b.fptrunc(_exp(w, w.mul(e.b.fpext(y, F64), lg)), F32)
    else:
        mag = _pow_f64(e, e.abs(x), y)
    return _pow_specials(e, x, y, mag)


def _pow_f64(e, ax, y):
    """|x|**y = exp(y*log|x|) with log|x| as a double-double good to ~2**-64 relative (the
    product reaches 745, so its absolute error is what the result's relative error becomes)."""
    kf, f = _log_split(e, ax)
    ln2_hi, ln2_lo = LN2["f64"]
    d = e.add(f, 2.0)
    dl = e.sub(f, e.sub(d, 2.0))                          # 2 + f = d + dl exactly
    sh = e.div(f, d)
    sl = e.div(e.sub(e.fma(e.neg(sh), d, f), e.mul(sh, dl)), d)   # s = f/(2+f) = sh + sl
    zh = e.mul(sh, sh)
    zl = e.fma(sh, sh, e.neg(zh))
    # 2*atanh(s) = 2s + s**3*G(z), G = 2/3 + z*G1(z): s**3 and G both as double-doubles, as
    # s**3*G reaches 1% of the log; only z*G1 (< 2% of G) is a plain double.
    ch = e.mul(sh, zh)
    cl = e.add(e.fma(sh, zh, e.neg(ch)), e.fma(sh, zl, e.mul(e.mul(zh, sl), 3.0)))
    gh, gl = e.two_sum(TWO_THIRDS[0], e.mul(zh, e.poly(zh, LOG["f64"][1:])))
    gl = e.add(gl, TWO_THIRDS[1])
    th = e.mul(ch, gh)
    tl = e.add(e.fma(ch, gh, e.neg(th)), e.fma(ch, gl, e.mul(cl, gh)))
    kh = e.mul(kf, ln2_hi)
    kl = e.fma(kf, ln2_lo, e.fma(kf, ln2_hi, e.neg(kh)))
    big, a = e.two_sum(kh, e.mul(sh, 2.0))
    big, b = e.two_sum(big, th)
    small = e.add(e.add(a, b), e.add(e.add(kl, e.mul(sl, 2.0)), tl))
    lh = e.add(big, small)
    ll = e.sub(small, e.sub(lh, big))
    lh = e.sel(e.cmp("==", ax, 0.0), float("-inf"), lh)
    lh = e.sel(e.cmp("==", ax, float("inf")), ax, lh)
    # exp(ph + pl), ph + pl = y*(lh + ll)
    lo, hi = EXP_RANGE["f64"]
    ph = e.mul(y, lh)
    in_range = e.b.and_(e.cmp(">=", ph, lo), e.cmp("<=", ph, hi))
    pl = e.sel(in_range, e.fma(y, ll, e.fma(y, lh, e.neg(ph))), 0.0)
    phc = e.clamp(ph, lo, hi)   # beyond: exp(phc) already overflows / rounds to 0
    nf = e.rint(e.mul(phc, 1.4426950408889634))
    n = e.to_int(nf)
    p = _exp_small(e, e.fma(nf, -ln2_hi, phc), e.fma(nf, -ln2_lo, pl))   # as in exp
    return e.sel(e.isnan(ph), ph, _scale(e, p, n))


def _pow_specials(e, x, y, mag):
    """C99 F.9.4.4 on top of |x|**y: signs for negative x, nan for negative x and non-integer
    y, and the cases whose answer is 1 whatever the other argument (even nan)."""
    y_int = e.cmp("==", e.rint(y), y)                    # true for +-inf as well
    hy = e.mul(y, 0.5)
    y_odd = e.b.and_(y_int, e.cmp("!=", e.rint(hy), hy))
    x_neg = e.b.icmp_signed("<", e.bits(x), e.i(0))
    res = e.sel(e.b.and_(x_neg, y_odd), e.neg(mag), mag)
    finite_neg = e.b.and_(e.cmp("<", x, 0.0), e.cmp(">", x, float("-inf")))
    res = e.sel(e.b.and_(finite_neg, e.b.not_(y_int)), _nan(e), res)
    res = e.sel(e.b.and_(e.cmp("==", e.abs(x), 1.0), e.cmp("==", e.abs(y), float("inf"))),
                1.0, res)
    res = e.sel(e.b.or_(e.isnan(x), e.isnan(y)), e.add(x, y), res)
    return e.sel(e.b.or_(e.cmp("==", x, 1.0), e.cmp("==", y, 0.0)), 1.0, res)


_BODIES = {"exp": _exp, "log": _log, "log1p": _log1p, "expm1": _expm1, "tanh": _tanh,
           "sigmoid": _sigmoid, "erf": _erf, "sin": _sin, "cos": _cos, "pow": _pow,
           "atan2": _atan2}
