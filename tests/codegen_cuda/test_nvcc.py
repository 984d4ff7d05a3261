"""Every kernel of a representative plan compiles with nvcc for sm_90 (an H100/H200) and the
emulation header compiles it as host C++. One translation unit per test: nvcc costs about
half a second per file. Skipped where nvcc is not on PATH."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_support import gpu_kernels

import graphc as tf
from graphc.codegen_cuda.compile import compile_cubin, compile_host, nvcc
from graphc.codegen_cuda.render import render_program

requires_nvcc = pytest.mark.skipif(nvcc() is None, reason="nvcc is not on PATH")
DTYPES = [tf.float16, tf.float32, tf.float64, tf.int32, tf.int64]


def _representative():
    """Fetches covering every L2 operator on every dtype it takes, casts between all
    dtypes, bitcasts, bit operations, reductions of each kind, GEMM and the integer matmul
    loop, rows, data movement with Checks, a scatter-add and a variable update."""
    out = []
    for dt in DTYPES:
        x = tf.placeholder(dt, [3, 40])
        y = tf.placeholder(dt, [40])
        ops = [tf.add, tf.subtract, tf.multiply, tf.maximum, tf.minimum, tf.floordiv, tf.mod,
               tf.equal, tf.less, tf.greater_equal, tf.not_equal]
        out += [f(x, y) for f in ops] + [tf.abs(x), tf.sign(x), tf.negative(x), tf.round(x)]
        out += [tf.reduce_sum(x, -1), tf.reduce_max(x), tf.reduce_min(x, 0), tf.argmax(x, -1)]
        out += [tf.cast(x, other) for other in DTYPES + [tf.bool] if other != dt]
        if dt.is_floating:
            out += [f(x) for f in (tf.sqrt, tf.exp, tf.log, tf.tanh, tf.sigmoid, tf.floor,
                                   tf.ceil, tf.is_nan, tf.is_finite)]
            out += [tf.pow(x, y), tf.divide(x, y), tf.nn.softmax(x), tf.reduce_prod(x, -1)]
        if dt != tf.float16:
            out += [f(x) for f in (tf.log1p, tf.expm1, tf.sin, tf.cos, tf.erf)] \
                if dt.is_floating else [tf.pow(x, tf.abs(y))]
        out.append(tf.matmul(tf.reshape(x, [2, 3, 20]), tf.reshape(x, [2, 20, 3])))
    b = tf.placeholder(tf.bool, [3, 40])
    out += [tf.logical_and(b, b), tf.logical_xor(b, b), tf.logical_not(b), tf.reduce_any(b, -1),
            tf.reduce_all(b)]
    p = tf.placeholder(tf.float32, [5, 3])
    i = tf.placeholder(tf.int64, [4])
    out += [tf.gather(p, i), tf.gradients(tf.reduce_sum(tf.gather(p, i)), p)[0],
            tf.pad(p, [[1, 1], [0, 2]], "SYMMETRIC"), tf.one_hot(i, 6), tf.transpose(p)]
    v = tf.Variable(np.zeros((5, 3), np.float32))
    out.append(tf.assign_add(v, p))
    out += [tf.bitcast(tf.bitcast(p, tf.int32), tf.float32),  # bitcasts of every width
            tf.bitcast(tf.placeholder(tf.float16, [8]), tf.uint16),
            tf.bitcast(tf.placeholder(tf.int16, [8]), tf.float16),
            tf.bitcast(tf.placeholder(tf.float64, [4]), tf.int64),
            tf.bitcast(tf.placeholder(tf.uint8, [4]), tf.int8)]
    for dt in (tf.int8, tf.uint8, tf.int16, tf.uint16, tf.int32, tf.int64):  # tf.bitwise
        a, s = tf.placeholder(dt, [6]), tf.placeholder(dt, [6])
        out += [tf.bitwise.bitwise_and(a, s), tf.bitwise.bitwise_or(a, s),
                tf.bitwise.bitwise_xor(a, s), tf.bitwise.invert(a),
                tf.bitwise.left_shift(a, s), tf.bitwise.right_shift(a, s)]
    return out


@requires_nvcc
def test_every_kernel_of_a_representative_plan_compiles_for_sm90():
    program = render_program(gpu_kernels(_representative()))
    # (neighbouring elementwise kernels of one shape run as one: compiler/siblings.py)
    assert len(program.signatures) > 60
    cubin = compile_cubin(program.source, "sm_90")
    assert cubin[:4] == b"\x7fELF"


def test_the_same_source_compiles_as_host_code():
    program = render_program(gpu_kernels(_representative()[:40]))
    assert compile_host(program)[:4] == b"\x7fELF"


@requires_nvcc
def test_cubins_are_cached(tmp_path):
    from graphc.runtime.cache import CodeCache
    cache = CodeCache(tmp_path)
    x = tf.placeholder(tf.float32, [64])
    source = render_program(gpu_kernels([tf.exp(x)])).source
    first = compile_cubin(source, "sm_90", cache)
    assert cache.info()["entries"] == 1
    assert compile_cubin(source, "sm_90", cache) == first
