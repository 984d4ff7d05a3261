"""8- and 16-bit integers on target='cuda-emulated': every result equals the reference
target's, dtype and value. C computes these types in int, so the renderer must narrow each
result (wrapping) before it is read again; unsigned comparisons, division and remainder,
saturating float -> int casts, reductions and matmul accumulating in the narrow type, and
scatter-adds (a compare-and-swap on the 32-bit word holding the element) are checked.

One graph per dtype: one plan, one host compile.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_support import cuda_function, gpu_kernels

import graphc as tf
from graphc.codegen_cuda.compile import compile_cubin, nvcc
from graphc.codegen_cuda.render import constant, render_program

SMALL = [np.int8, np.uint8, np.int16, np.uint16]
ROWS, COLS = 6, 40  # reductions along COLS (>= GPUCaps.min_row) combine thread shares


def _ints(rng, dtype, shape, zeros: bool = False) -> np.ndarray:
    """Values over dtype's whole range, its extremes (and -1, 1, 0) among them."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    ends = [info.min, info.max, 1, 0 if zeros else 1] + ([-1] if info.min < 0 else [])
    x.flat[:len(ends)] = ends
    if zeros:
        x.flat[::7] = 0  # zero divisors
    return x


def _floats(rng, dtype) -> np.ndarray:
    """float32 casts must saturate: nan, infinities, values just inside and outside the
    range and at its ends, and random ones over twice the range."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    special = [np.nan, np.inf, -np.inf, lo, hi, lo - 0.5, hi + 0.5, lo - 1, hi + 1, hi + 0.99,
               lo - 0.99, -0.9, 0.9, -0.0, 2.5, -2.5, 1e10, -1e10]
    spread = rng.uniform(2 * lo - 10, 2 * hi + 10, ROWS * COLS - len(special))
    return np.concatenate([special, spread]).astype(np.float32).reshape(ROWS, COLS)


def _cases(rng, dtype):
    """(name, fetch) pairs over placeholders, and the feed."""
    dt = tf.as_dtype(dtype)
    a, b = _ints(rng, dtype, (ROWS, COLS)), _ints(rng, dtype, (ROWS, COLS), zeros=True)
    info = np.iinfo(dtype)
    a.flat[-2:], b.flat[-2:] = info.min, [-1 if info.min else info.max, info.min]  # min / -1
    f = _floats(rng, dtype)
    wide = rng.integers(-2**31, 2**31, (ROWS, COLS), dtype=np.int64).astype(np.int32)
    k = _ints(rng, dtype, (COLS, 5))
    ids = np.array([0, 3, 3, 1, 3, 0], np.int32)  # repeated: threads add into one element
    pa, pb, pk = (tf.placeholder(dt, x.shape) for x in (a, b, k))
    pf, pw = tf.placeholder(tf.float32, f.shape), tf.placeholder(tf.int32, wide.shape)
    e = rng.integers(0, 10, (ROWS, COLS)).astype(dtype)  # exponents: a ** e wraps
    pids, pe = tf.placeholder(tf.int32, ids.shape), tf.placeholder(dt, e.shape)
    feed = {pa: a, pb: b, pk: k, pf: f, pw: wide, pids: ids, pe: e}
    one, zero = tf.constant(1, dt), tf.constant(0, dt)

    def fused(build):
        """build(x, y) over placeholders of its own (fed a and b): a fetched or shared
        intermediate would be stored, and so wrapped, in a buffer of its own."""
        x, y = tf.placeholder(dt, a.shape), tf.placeholder(dt, b.shape)
        feed.update({x: a, y: b})
        return build(x, y)

    cases = {
        "add": pa + pb, "sub": pa - pb, "mul": pa * pb, "floordiv": tf.floordiv(pa, pb),
        "mod": tf.mod(pa, pb), "maximum": tf.maximum(pa, pb), "minimum": tf.minimum(pa, pb),
        "less": pa < pb, "greater_equal": pa >= pb, "equal": tf.equal(pa, pb),
        "neg": -pa, "abs": tf.abs(pa), "sign": tf.sign(pa), "pow": tf.pow(pa, pe),
        # fused: every intermediate wraps before it is read again
        "(a+b)//max(b,1)": fused(lambda x, y: tf.floordiv(x + y, tf.maximum(y, one))),
        "(a*b)>b": fused(lambda x, y: (x * y) > y),
        "(a-b)<a": fused(lambda x, y: (x - y) < x),
        "max(a+b,a)": fused(lambda x, y: tf.maximum(x + y, x)),
        "(a*a+b)%b": fused(lambda x, y: tf.mod(x * x + y, y)),
        "-(a+b)>=0": fused(lambda x, y: -(x + y) >= zero),
        "abs(a-b)": fused(lambda x, y: tf.abs(x - y)),
        "sign(a*b)": fused(lambda x, y: tf.sign(x * y)),
        "where(a<b,a+b,b)": fused(lambda x, y: tf.where(x < y, x + y, y)),
        "(a+b)_to_i32": fused(lambda x, y: tf.cast(x + y, tf.int32)),
        "(a*b)_to_f32": fused(lambda x, y: tf.cast(x * y, tf.float32)),
        "sum1(a+b)": fused(lambda x, y: tf.reduce_sum(x + y, 1)),
        "max0(a*b)": fused(lambda x, y: tf.reduce_max(x * y, 0)),
        "matmul(a+b)": fused(lambda x, y: tf.matmul(x + y, pk)),
        "to_f32": tf.cast(pa, tf.float32), "to_f16": tf.cast(pa, tf.float16),
        "to_i32": tf.cast(pa, tf.int32), "to_i64": tf.cast(pa, tf.int64),
        "to_bool": tf.cast(pa, tf.bool),
        "from_f32": tf.cast(pf, dt), "from_f64": tf.cast(tf.cast(pf, tf.float64), dt),
        "from_f16": tf.cast(tf.cast(pf, tf.float16), dt), "from_i32": tf.cast(pw, dt),
        "from_bool": tf.cast(pa > pb, dt),
        "sum0": tf.reduce_sum(pa, 0), "sum1": tf.reduce_sum(pa, 1), "sum": tf.reduce_sum(pa),
        "prod0": tf.reduce_prod(pa, 0), "prod1": tf.reduce_prod(pa, 1),
        "max0": tf.reduce_max(pa, 0), "max1": tf.reduce_max(pa, 1), "max": tf.reduce_max(pa),
        "min0": tf.reduce_min(pa, 0), "min1": tf.reduce_min(pa, 1), "min": tf.reduce_min(pa),
        "mean1": tf.reduce_mean(pa, 1),
        "matmul": tf.matmul(pa, pk),
        "unsorted_segment_sum": tf.math.unsorted_segment_sum(pa, pids, 4),
        "tensor_scatter_nd_add": tf.tensor_scatter_nd_add(
            pb, tf.reshape(pids, [-1, 1]), pa),
        "gather": tf.gather(pa, pids), "concat": tf.concat([pa, pb], 0),
        "pad": tf.pad(pa, [[1, 2], [0, 3]], constant_values=int(info.max)),
        "one_hot_u8": tf.one_hot(pids, 5, dtype=tf.uint8),
        "one_hot": tf.one_hot(pids, 5, on_value=tf.constant(info.min, dt),
                              off_value=tf.constant(info.max, dt)),
        "argmax": tf.argmax(pa, 1), "argmin": tf.argmin(pa, 0),
    }
    for other in SMALL:
        if other is not dtype:
            cases[f"to_{np.dtype(other).name}"] = tf.cast(pa, tf.as_dtype(other))
    return cases, feed


@pytest.mark.parametrize("dtype", SMALL, ids=lambda d: np.dtype(d).name)
def test_cuda_emulated_matches_the_reference(dtype):
    cases, feed = _cases(np.random.default_rng(0), dtype)
    got = {}
    for target in ("reference", "cuda-emulated"):
        with tf.Session(target=target) as sess:
            got[target] = dict(zip(cases, sess.run(list(cases.values()), feed)))
    failures = []
    for name in cases:
        want, have = got["reference"][name], got["cuda-emulated"][name]
        if want.dtype != have.dtype or not np.array_equal(want, have, equal_nan=True):
            failures.append(f"{name}: {have.dtype} {have.ravel()[:8]} != reference "
                            f"{want.dtype} {want.ravel()[:8]}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + \
        "\n".join(failures)


def test_literals_are_in_range_ints():
    assert [constant(v, "i8") for v in (-128, 127, 255, 128)] == ["-128", "127", "-1", "-128"]
    assert [constant(v, "u8") for v in (255, -1, 0)] == ["255", "255", "0"]
    assert [constant(v, "i16") for v in (-32768, 65535)] == ["-32768", "-1"]
    assert constant(65535, "u16") == "65535"


def test_uint16_products_multiply_as_unsigned():
    """C multiplies two uint16_t as int, where 65535 * 65535 overflows (undefined, though the
    emulator's -fwrapv would hide it): the renderer widens one side to unsigned."""
    x = tf.placeholder(tf.uint16, [8])
    source = render_program(gpu_kernels([x * x > x])).source
    assert "((uint16_t)(((unsigned)p1[gt]) * p1[gt]))" in source


def _scatter_program(dtype):
    x = tf.placeholder(dtype, [64, 8])
    ids = tf.placeholder(tf.int32, [64])
    return render_program(gpu_kernels([tf.math.unsorted_segment_sum(x, ids, 5),
                                       tf.reduce_sum(x + x, 1)]))


@pytest.mark.parametrize("dtype", [tf.int8, tf.uint16])
def test_scatter_adds_are_atomic_and_parallel(dtype):
    """Not a racy plain store, and not one thread: compare-and-swap in a parallel launch."""
    program = _scatter_program(dtype)
    ctype = {tf.int8: "int8_t", tf.uint16: "uint16_t"}[dtype]
    assert f"gc_atomic_add<{ctype}>(" in program.source
    scatter = [launch for launch in program.launches
               if "gc_atomic_add" in cuda_function(program, launch.function)]
    assert scatter and all(launch.block[0] > 1 for launch in scatter)


@pytest.mark.skipif(nvcc() is None, reason="nvcc is not on PATH")
def test_small_int_kernels_compile_for_sm90():
    fetches = []
    for dt in (tf.int8, tf.uint8, tf.int16, tf.uint16):
        x, y = tf.placeholder(dt, [3, 40]), tf.placeholder(dt, [40])
        ids = tf.placeholder(tf.int32, [3])
        fetches += [tf.floordiv(x + y, tf.maximum(y, tf.constant(1, dt))), tf.mod(x, y),
                    tf.reduce_sum(x, 1), tf.reduce_max(x, 0), tf.argmax(x, 1),
                    tf.cast(tf.cast(x, tf.float32) * 2.5, dt), tf.abs(x), tf.sign(x),
                    tf.math.unsorted_segment_sum(x, ids, 2), tf.matmul(x, tf.transpose(x))]
    program = render_program(gpu_kernels(fetches))
    assert compile_cubin(program.source, "sm_90")[:4] == b"\x7fELF"
