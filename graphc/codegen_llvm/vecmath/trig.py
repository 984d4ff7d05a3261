"""vecmath's trigonometric functions: sin, cos, atan2 (methods and error bounds:
vecmath/__init__.py's docstring)."""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen_llvm.vecmath.emit import F32, F64, _nan

# ---- coefficient tables (low degree first) and split constants, keyed by type ----

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

# Constants split as hi + lo (hi = the value rounded to the type, lo = the rest rounded).
PI = {"f32": (3.1415927410125732, -8.742277657347586e-08),
      "f64": (3.141592653589793, 1.2246467991473532e-16)}
PIO2 = {"f32": (1.5707963705062866, -4.371138828673793e-08),
        "f64": (1.5707963267948966, 6.123233995736766e-17)}
PIO4 = {"f32": (0.7853981852531433, -2.1855694143368964e-08),
        "f64": (0.7853981633974483, 3.061616997868383e-17)}
ATAN_HALF = {"f32": (0.46364760398864746, 5.01215868808913e-09),
             "f64": (0.4636476090008061, 2.2698777452961687e-17)}
PIO2_3 = (1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33)  # pi/2, 3 doubles


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
    # Beyond SINCOS_LIMIT (vecmath/__init__.py) r is no longer small; clamping keeps the
    # result in [-1, 1].
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
