"""vecmath: accuracy in ulp over the whole range, special values, and that loops vectorize.

Every function is JIT-compiled (O3, host CPU) inside a loop `void f(ptr in..., ptr out, i64 n)`
and run on numpy arrays. References: float64 numpy for f32 results; 80-bit long double numpy
(glibc's expl, log1pl, sinl, powl, ...) for f64 results; erf from a long double Taylor series
(|x| < 2) or 1 - math.erfc (whose error is far below an ulp of erf there).
"""

from __future__ import annotations

import ctypes
import math
import re

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

from graphc.codegen_llvm.vecmath import SINCOS_LIMIT as LIMIT
from graphc.codegen_llvm.vecmath import SUPPORTED, math_function

F32, F64, I64, PTR = ir.FloatType(), ir.DoubleType(), ir.IntType(64), ir.PointerType()
TYPES = {"f32": (F32, np.float32), "f64": (F64, np.float64)}
LD = np.longdouble
_CALL = re.compile(r"call [^@]*@([\w.]+)")
# The variants that scale by 2**n with AVX-512's vscalef, compiled where the host has it.
SCALEF = bool(llvm.get_host_cpu_features().get("avx512f"))
# Asserted maximum error in ulp (vecmath's docstring lists the measured maxima).
BOUND = {"exp": 1, "expm1": 1, "log": 1, "log1p": 1, "tanh": 1.5, "sigmoid": 1, "erf": 1.5,
         "sin": 1, "cos": 1, "pow": 1.5, "atan2": 1.5,
         # fast math's rational tanh (float32; float64 keeps the accurate one)
         ("tanh_fast", "f32"): 6, ("tanh_fast", "f64"): 1.5}


@pytest.fixture(scope="module")
def jit():
    """One module with a loop per (function, type), optimized at O3 and loaded by MCJIT."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = ir.Module(name="vecmath_test")
    for name in sorted(SUPPORTED):
        for key, (ty, _) in TYPES.items():
            _loop(module, name, ty, f"loop_{name}_{key}")
            if SCALEF:
                _loop(module, name, ty, f"loop_{name}_{key}_scalef", scalef=True)
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    mod.triple, mod.data_layout = tm.triple, str(tm.target_data)
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = options.slp_vectorization = True
    passes = llvm.create_pass_builder(tm, options)
    passes.getModulePassManager().run(mod, passes)
    optimized = str(mod)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    return engine, optimized


def _loop(module, name, ty, loop_name, scalef=False):
    fn = math_function(module, name, ty, scalef)
    nin = len(fn.args)
    loop = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (nin + 1) + [I64]),
                       name=loop_name)
    for arg in loop.args[:-1]:
        arg.add_attribute("noalias")
    entry, body, done = (loop.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    n = loop.args[-1]
    b.cbranch(b.icmp_signed(">", n, I64(0)), body, done)
    b.position_at_end(body)
    i = b.phi(I64)
    i.add_incoming(I64(0), entry)
    args = [b.load(b.gep(p, [i], inbounds=True, source_etype=ty), typ=ty)
            for p in loop.args[:nin]]
    b.store(b.call(fn, args), b.gep(loop.args[nin], [i], inbounds=True, source_etype=ty))
    nxt = b.add(i, I64(1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()


def run(jit, name, key, *inputs, scalef=False):
    """Apply graphc.<name>.<key> elementwise to numpy arrays through the compiled loop (the
    AVX-512 variant with scalef)."""
    engine, _ = jit
    dtype = TYPES[key][1]
    arrays = [np.ascontiguousarray(np.broadcast_arrays(*inputs)[k], dtype=dtype)
              for k in range(len(inputs))]
    out = np.empty_like(arrays[0])
    proto = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (len(arrays) + 1), ctypes.c_int64)
    f = proto(engine.get_function_address(f"loop_{name}_{key}" + ("_scalef" if scalef else "")))
    f(*[a.ctypes.data for a in arrays], out.ctypes.data, out.size)
    return out


# ---- references ----

_TWO_OVER_SQRT_PI = LD("1.12837916709551257389615890312154517")


def _erf_ref(x):
    """erf in long double: Taylor series below 2 (terms never exceed 2.4, so < 2 bits are lost
    to cancellation), 1 - erfc beyond (erfc < 0.005 there: its error is invisible in erf)."""
    x = np.asarray(x, dtype=LD)
    small = np.abs(x) < 2
    xs = np.where(small, x, 0)
    term, total, x2 = xs.copy(), xs.copy(), xs * xs
    for k in range(1, 60):
        term = -term * x2 / k
        total += term / (2 * k + 1)
    erfc = np.vectorize(math.erfc, otypes=[np.float64])(np.abs(x).astype(np.float64))
    far = np.copysign(1 - erfc.astype(LD), x)
    return np.where(small, total * _TWO_OVER_SQRT_PI, far)


def reference(name, key, *inputs):
    """The exact function value, to far better than an ulp of the result type."""
    with np.errstate(all="ignore"):
        wide = [np.asarray(a, dtype=np.float64 if key == "f32" else LD) for a in inputs]
        if name == "erf":
            if key == "f32":
                return np.vectorize(math.erf, otypes=[np.float64])(wide[0])
            return _erf_ref(wide[0])
        if name == "sigmoid":
            return 1 / (1 + np.exp(-wide[0]))
        table = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
                 "tanh": np.tanh, "tanh_fast": np.tanh, "sin": np.sin, "cos": np.cos,
                 "pow": np.power, "atan2": np.arctan2}
        return table[name](*wide)


def ulp_error(got, ref, dtype):
    """|got - ref| in ulps of dtype at ref (ref computed in a wider type). Where ref rounds to
    inf or nan in dtype, got must be that value exactly (error 0, else inf)."""
    info = np.finfo(dtype)
    with np.errstate(all="ignore"):
        ref = np.asarray(ref, dtype=LD)
        got_ld = got.astype(LD)
        ref_t = ref.astype(dtype)
        _, exp2 = np.frexp(ref)
        exp2 = np.where(ref == 0, info.minexp, np.maximum(exp2 - 1, info.minexp))
        ulp = np.ldexp(LD(1), exp2 - info.nmant)
        err = np.abs(got_ld - ref) / ulp
    special = ~np.isfinite(ref_t)
    same = (got == ref_t) | (np.isnan(got) & np.isnan(ref_t))
    err = np.where(special, np.where(same, 0, np.inf), err)
    return np.where(np.isnan(err), np.inf, err)


# ---- inputs ----

def random_bits(key, n, seed):
    """Uniform over all bit patterns: every exponent, both signs, denormals, infs and nans."""
    rng = np.random.default_rng(seed)
    if key == "f32":
        return rng.integers(0, 2 ** 32, n, dtype=np.uint32).view(np.float32)
    return rng.integers(0, 2 ** 64, n, dtype=np.uint64).view(np.float64)


def denormals(key, n, seed):
    rng = np.random.default_rng(seed)
    if key == "f32":
        bits = rng.integers(1, 2 ** 23, n, dtype=np.uint32) | rng.integers(0, 2, n, np.uint32) << 31
        return bits.view(np.float32)
    bits = rng.integers(1, 2 ** 52, n, dtype=np.uint64) | (rng.integers(0, 2, n, np.uint64) << 63)
    return bits.view(np.float64)


def specials(key):
    dtype = TYPES[key][1]
    info = np.finfo(dtype)
    vals = [0.0, info.smallest_subnormal, info.tiny, 1.0, info.max, np.inf, np.nan]
    return np.array(vals + [-v for v in vals], dtype=dtype)


def sweep(key, lo, hi, n=20001):
    return np.linspace(lo, hi, n).astype(TYPES[key][1])


def logsweep(key, lo, hi, n=4001):
    """Magnitudes from lo to hi, both signs."""
    m = np.geomspace(lo, hi, n)
    return np.concatenate([m, -m]).astype(TYPES[key][1])


def near_half_pi_multiples(key, n, seed):
    """The floats nearest k*pi/2 for k up to the accurate range: sin or cos is tiny there, so
    every bit lost in the argument reduction shows."""
    k = np.random.default_rng(seed).integers(1, int(LIMIT[key] / 1.6), n).astype(LD)
    return (k * (LD(np.pi) + LD("1.2246467991473531772e-16")) / 2).astype(TYPES[key][1])


def unary_inputs(name, key):
    big = 1e30 if key == "f32" else 1e300
    parts = [random_bits(key, 100000, 1), denormals(key, 2000, 2), specials(key),
             logsweep(key, 1e-40 if key == "f32" else 1e-300, big)]
    edges = {
        "exp": [sweep(key, -20, 20), sweep(key, 80, 90), sweep(key, -110, -80),
                sweep(key, 700, 712), sweep(key, -750, -700)],
        "expm1": [sweep(key, -2, 2), sweep(key, -1e-3, 1e-3), sweep(key, 85, 90),
                  sweep(key, 700, 712), sweep(key, -45, -10)],
        "log": [sweep(key, 0, 4), sweep(key, 0.9, 1.1), logsweep(key, 1e-45, 1e-37)],
        "log1p": [sweep(key, -1, 3), sweep(key, -1e-3, 1e-3), sweep(key, -1, -0.99)],
        "tanh": [sweep(key, -5, 5), sweep(key, -1e-3, 1e-3), sweep(key, 8, 25)],
        "tanh_fast": [sweep(key, -10, 10, 400001), sweep(key, -1e-3, 1e-3), sweep(key, 8, 25)],
        "sigmoid": [sweep(key, -20, 20), sweep(key, -110, -80), sweep(key, -750, -700),
                    sweep(key, 15, 40)],
        "erf": [sweep(key, -7, 7), sweep(key, -1e-3, 1e-3), sweep(key, 0.8, 1.0)],
        "sin": [sweep(key, -10, 10), sweep(key, -1e5, 1e5, 100001), logsweep(key, 1e-3, 2e9),
                near_half_pi_multiples(key, 20000, 6)],
        "cos": [sweep(key, -10, 10), sweep(key, -1e5, 1e5, 100001), logsweep(key, 1e-3, 2e9),
                near_half_pi_multiples(key, 20000, 7)],
    }
    return np.concatenate(parts + edges[name])


def binary_inputs(name, key):
    rng = np.random.default_rng(3)
    dtype = TYPES[key][1]
    s = specials(key)
    grid_x, grid_y = np.meshgrid(np.concatenate([s, [-1.0, 2.0, -2.0, 0.5, 3.0]]),
                                 np.concatenate([s, [-1.0, 2.0, -2.0, 0.5, 3.0, -3.0]]))
    xs = [grid_x.ravel(), random_bits(key, 50000, 4)]
    ys = [grid_y.ravel(), random_bits(key, 50000, 5)]
    if name == "pow":
        n = 50000
        # |y*log x| up to past the overflow threshold; x near sqrt 2 with large y is the
        # hardest case for the extended-precision log, x near 1 with huge y the next
        t_max = 110 if key == "f32" else 760
        e_lo, e_hi = (-149, 128) if key == "f32" else (-1074, 1024)
        xs += [rng.uniform(0, 10, n), 2.0 ** rng.uniform(e_lo, e_hi, n),
               1 + rng.uniform(-1e-3, 1e-3, n), rng.uniform(1.3, 1.5, n),
               -rng.integers(1, 30, n).astype(float)]
        ys += [rng.uniform(-30, 30, n), rng.uniform(-1, 1, n),
               rng.uniform(-t_max, t_max, n) * 1e3, rng.uniform(-t_max, t_max, n) * 3,
               rng.integers(-30, 30, n).astype(float)]
    else:
        n = 100000
        xs += [rng.uniform(-4, 4, n), rng.normal(size=n) * 10.0 ** rng.uniform(-30, 30, n)]
        ys += [rng.uniform(-4, 4, n), rng.normal(size=n) * 10.0 ** rng.uniform(-30, 30, n)]
    with np.errstate(all="ignore"):
        return np.concatenate(xs).astype(dtype), np.concatenate(ys).astype(dtype)


# ---- tests ----

UNARY = sorted(SUPPORTED - {"pow", "atan2"})


@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_accuracy(jit, name, key):
    x = unary_inputs(name, key)
    got = run(jit, name, key, x)
    ref = reference(name, key, x)
    if name in ("sin", "cos"):   # accurate range only; beyond it the result is merely bounded
        far = np.isfinite(x) & (np.abs(x) >= LIMIT[key])
        assert np.all(np.abs(got[far]) <= 1)
        x, got, ref = x[~far], got[~far], ref[~far]
    err = ulp_error(got, ref, TYPES[key][1])
    worst = int(np.argmax(err))
    bound = BOUND.get((name, key), BOUND.get(name))
    assert err[worst] <= bound, (name, key, x[worst], got[worst], ref[worst], err[worst])


@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", ["pow", "atan2"])
def test_binary_accuracy(jit, name, key):
    x, y = binary_inputs(name, key)
    args = (x, y) if name == "pow" else (y, x)
    got = run(jit, name, key, *args)
    ref = reference(name, key, *args)
    err = ulp_error(got, ref, TYPES[key][1])
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[name], (name, key, args[0][worst], args[1][worst], got[worst],
                                       ref[worst], err[worst])


@pytest.mark.skipif(not SCALEF, reason="the host has no AVX-512F (vscalef)")
@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_scalef_variant_gives_the_same_bits(jit, name, key):
    # ldexp rounds once, as the two-step scaling does: the results must not differ at all,
    # denormal results (exp, sigmoid, pow and erf's far tails in the inputs) included
    args = binary_inputs(name, key) if name in ("pow", "atan2") else (unary_inputs(name, key),)
    plain = run(jit, name, key, *args)
    fast = run(jit, name, key, *args, scalef=True)
    same = _same(fast, plain)
    assert same.all(), (name, key, [a[~same][:3] for a in args], fast[~same][:3],
                        plain[~same][:3])


def _same(got, want):
    """Equal values with equal signs (so +0 and -0 differ), or both nan."""
    same_value = (got == want) & (np.signbit(got) == np.signbit(want))
    return same_value | (np.isnan(got) & np.isnan(want))


INF, NAN = np.inf, np.nan
SPECIAL = {   # name: [(x, exact result)]
    "exp": [(-INF, 0.0), (INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (1e4, INF),
            (-1e4, 0.0)],
    "expm1": [(-INF, -1.0), (INF, INF), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (1e4, INF),
              (-1e4, -1.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN),
            (1.0, 0.0)],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (0.0, 0.0),
              (-0.0, -0.0)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (1e4, 1.0),
             (-1e4, -1.0)],
    "tanh_fast": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (1e4, 1.0),
                  (-1e4, -1.0)],
    "sigmoid": [(INF, 1.0), (-INF, 0.0), (NAN, NAN), (0.0, 0.5), (-0.0, 0.5), (1e4, 1.0),
                (-1e4, 0.0)],
    "erf": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (10.0, 1.0),
            (-10.0, -1.0)],
    "sin": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0)],
    "cos": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0)],
}


@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values(jit, name, key):
    dtype = TYPES[key][1]
    x, want = (np.array(v, dtype=dtype) for v in zip(*SPECIAL[name]))
    got = run(jit, name, key, x)
    bad = ~_same(got, want)
    assert not bad.any(), (name, key, x[bad], got[bad], want[bad])


@pytest.mark.parametrize("key", ["f32", "f64"])
def test_exp_underflow_overflow_edges(jit, key):
    dtype = TYPES[key][1]
    info = np.finfo(dtype)
    # the neighbours of log(max): finite below, inf above
    top = dtype(np.log(info.max.astype(LD)))
    got = run(jit, "exp", key, np.array([np.nextafter(top, 0), np.nextafter(top, INF)], dtype))
    assert np.isfinite(got[0]) and got[1] == INF
    # exp(log(smallest denormal)) rounds to it; below half of it the result rounds to 0
    tiny = np.log(LD(info.smallest_subnormal))
    got = run(jit, "exp", key, np.array([tiny, tiny - np.log(LD(2)) - 0.01], dtype=dtype))
    assert got[0] == info.smallest_subnormal and got[1] == 0


@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", ["pow", "atan2"])
def test_binary_special_values(jit, name, key):
    """Pairs from {+-0, +-denormal, +-1, +-max, +-inf, nan, +-2, +-3, 0.5} whose C99 result is
    a special value or exact: the same value and sign of zero as the C library via numpy."""
    dtype = TYPES[key][1]
    vals = np.concatenate([specials(key), np.array([2.0, -2.0, 0.5, 3.0, -3.0], dtype)])
    a, b = (v.ravel() for v in np.meshgrid(vals, vals))
    with np.errstate(all="ignore"):
        want = (np.power if name == "pow" else np.arctan2)(a, b)
    got = run(jit, name, key, a, b)
    exact = ~np.isfinite(a) | ~np.isfinite(b) | (a == 0) | (b == 0)
    if name == "pow":
        exact |= a == 1
    bad = exact & ~_same(got, want)
    assert not bad.any(), (name, key, a[bad], b[bad], got[bad], want[bad])


def test_pow_signs_of_negative_bases(jit):
    x = np.array([-2.0, -2.0, -2.0, -0.0, -0.0, -0.0, -INF, -INF, -1.0, -1.0], np.float32)
    y = np.array([3.0, 2.0, 0.5, -3.0, -2.0, 3.0, 3.0, -3.0, INF, NAN], np.float32)
    for key, dtype in (("f32", np.float32), ("f64", np.float64)):
        with np.errstate(all="ignore"):
            want = np.power(x.astype(dtype), y.astype(dtype))
        got = run(jit, "pow", key, x, y)
        assert _same(got, want).all(), (key, got, want)


@pytest.mark.parametrize("key", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_loops_vectorize_without_calls(jit, name, key):
    """After O3 the loop over each function is vector code (8 or 16 f32 lanes with AVX2 or
    AVX-512, 4 with SSE only) and calls nothing but LLVM intrinsics: no math library."""
    _, optimized = jit
    body = optimized.split(f"@loop_{name}_{key}(", 1)[1].split("\n}\n", 1)[0]
    vector = r"<(4|8|16) x float>" if key == "f32" else r"<(2|4|8) x double>"
    assert re.search(vector, body), (name, key)
    called = {c for c in _CALL.findall(body) if not c.startswith("llvm.")}
    assert not called, (name, key, called)


def test_math_function_is_cached_and_checked():
    module = ir.Module()
    f = math_function(module, "exp", F32)
    assert math_function(module, "exp", F32) is f and f.name == "graphc.exp.f32"
    assert math_function(module, "exp", F64) is not f
    assert f.linkage == "internal" and "alwaysinline" in f.attributes
    assert len(math_function(module, "atan2", F64).args) == 2
    with pytest.raises(ValueError, match="unknown function"):
        math_function(module, "gamma", F32)
    with pytest.raises(TypeError, match="float or double"):
        math_function(module, "exp", ir.IntType(32))
