"""vecmath's exponential and logarithm family and the functions built on it: exp, expm1,
log, log1p, pow, tanh, sigmoid, erf (methods and error bounds: vecmath/__init__.py's docstring)."""

from __future__ import annotations

from graphc.codegen_llvm.vecmath.emit import F32, F64, _nan

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
TWO_THIRDS = (0.6666666666666666, 3.700743415417188e-17)
# exp: below LO the result rounds to +0, above HI to inf; the clamp keeps 2**n in range.
EXP_RANGE = {"f32": (-104.0, 89.0), "f64": (-746.0, 710.0)}
EXPM1_RANGE = {"f32": (-18.0, 89.0), "f64": (-40.0, 710.0)}   # expm1(LO) rounds to -1
TINY = {"f32": 2.0 ** -26, "f64": 2.0 ** -55}   # below: expm1(x), log1p(x) round to x
TANH_SAT = {"f32": 10.0, "f64": 22.0}           # above: tanh rounds to 1
# Adding MAGIC rounds a value below 2**(mant-1) in magnitude to an integer n (in the current,
# round-to-nearest mode), which the sum's low bits then hold: n = bits(s) - bits(MAGIC).
# MAGIC's mantissa bits above n's sit at or above bit mant - 1 and its exponent above
# them, so e.pow2(bits(s)) = (bits(s) + bias) << mant, which keeps the low bits, is 2**n.
MAGIC = {"f32": (1.5 * 2.0 ** 23, 0x4B400000), "f64": (1.5 * 2.0 ** 52, 0x4338000000000000)}


# ---- shared kernels: emit IR inline into the caller's function ----

def _round_log2(e, x):
    """(n as a float, the sum s holding it) for n = x/ln2 rounded to an integer (x/ln2 below
    2**(mant-1) in magnitude); _int_of(e, s) and e.pow2(e.bits(s)) read n and 2**n out of s.
    One fma and one subtraction instead of a multiplication, a rounding instruction and a
    conversion; nan gives nan (and garbage bits, no poison)."""
    magic, _ = MAGIC[e.key]
    s = e.fma(x, 1.4426950408889634, magic)
    return e.sub(s, magic), s


def _int_of(e, s):
    return e.b.sub(e.bits(s), e.i(MAGIC[e.key][1]))


def _exp_reduce(e, x):
    """x = n*ln2 + rh + rl, |rh + rl| <= ln2/2 (Cody-Waite). rh = fma(n, -ln2_hi, x) is exact:
    its true value is small and lies on the bit grid of x (or of ln2_hi); rl = -n*ln2_lo."""
    hi, lo = LN2[e.key]
    n, s = _round_log2(e, x)
    return _int_of(e, s), e.fma(n, -hi, x), e.mul(n, -lo)


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
    """p * 2**n, n from the smallest denormal to just past overflow, rounded once: ldexp where
    that is one instruction, else two power-of-two factors that are each normal, the first
    product exact, so a denormal result rounds only once."""
    if e.scalef:
        return e.ldexp(p, n)
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


# ---- the functions ----

def _exp(e, x):
    lo, hi = EXP_RANGE[e.key]
    xc = e.clamp_keep_nan(x, lo, hi)   # nan goes through as nan: no float-to-int conversion
    if e.key == "f32":  # 1 + (r + r*r*P(r)) rounded once is within an ulp for f32
        n, rh, rl = _exp_reduce(e, xc)
        r = e.add(rh, rl)
        return _scale(e, e.add(e.fma(e.mul(r, r), e.poly(r, EXPM1[e.key]), r), 1.0), n)
    return _exp_core(e, xc)


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
    # |x| < 0.625: x + x**3*T(x*x); above: 1 - 2/(exp(2|x|) + 1), no cancellation there. The
    # exp's argument lies in [0, 2*sat] (the far branch needs no lower clamp: its lanes
    # below 0.625 are selected away and stay finite), so no denormal or overflow care: one
    # Cody-Waite step without its low part (n*ln2_lo moves the result by far less than an
    # ulp where n is small, and 2/(P + 1) is tiny where n is large), the expm1 polynomial q,
    # and P + 1 = 2**n*q + (2**n + 1) in one fma. The rounding errors stay below 1.2 ulp
    # of the result (this branch is what a GELU's cost is made of). nan goes through both
    # branches as nan (no float-to-int conversion), so it needs no select of its own.
    sat = TANH_SAT[e.key]
    hi, _ = LN2[e.key]
    a = e.abs(x)
    z = e.mul(a, a)
    near = e.fma(e.mul(a, z), e.poly(z, TANH[e.key]), a)   # exact for 0 and denormals
    y = e.mul(e.sel(e.cmp(">", a, sat), sat, a), 2.0)        # beyond sat: 1
    n, s = _round_log2(e, y)
    r = e.fma(n, -hi, y)
    q = e.fma(e.mul(r, r), e.poly(r, EXPM1[e.key]), r)      # expm1(r)
    t = e.pow2(e.bits(s))   # MAGIC's bits shift out
    far = e.sub(1.0, e.div(2.0, e.fma(t, q, e.add(t, 1.0))))
    return e.copysign(e.sel(e.cmp("<", a, 0.625), near, far), x)


# tanh(x) = x * P(x*x) / Q(x*x) on x clipped to [-9, 9], float32 under fast math (see
# vecmath's docstring for the bound): P and Q of degree 4, P(0) = Q(0) = 1, fitted for
# relative error on [0, 9] (reweighted least squares toward minimax; fit error 2.1e-8).
TANH_FAST_P = (1.0, 0.13381025195121765, 0.003495587734505534, 2.0609069906640798e-05,
               1.3354632955042689e-08)
TANH_FAST_Q = (1.0, 0.4671434164047241, 0.025876982137560844, 0.00032856338657438755,
               7.776548613946943e-07)
TANH_FAST_CLIP = 9.0


def _tanh_fast(e, x):
    # 13 operations and a division against _tanh's 30: the clip keeps nan (nan in, nan out)
    if e.key != "f32":
        return _tanh(e, x)
    c = e.clamp_keep_nan(x, -TANH_FAST_CLIP, TANH_FAST_CLIP)
    t = e.mul(c, c)
    return e.div(e.mul(c, e.poly(t, TANH_FAST_P)), e.poly(t, TANH_FAST_Q))


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
    # one division: q = num * (1/den) is within about an ulp, and the remainder num - q*den
    # (exact in the fma) times the same reciprocal corrects it to about half an ulp; a
    # second division for the quotient would cost as much as the rest of the function
    r = e.div(1.0, den)
    q = e.mul(num, r)
    rem = e.fma(e.neg(q), den_lo, e.add(e.fma(e.neg(q), den, num), num_lo))   # num - q*den
    res = e.fma(rem, r, q)
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
