"""Vectorized flat phases: an elementwise f32 kernel whose accesses are contiguous or
broadcast along the last axis, of a length that is a multiple of 4, gives each thread 4
consecutive elements (a `vector` loop of width 4 in L2, float4 loads and stores in CUDA C)
behind a once-per-launch alignment test. Render checks, the cases that stay scalar, numbers
on cuda-emulated (one plan for all cases), the L2 interpreter before and after the
schedule, a misaligned pointer taking the scalar path, and nvcc for sm_90."""

from __future__ import annotations

import ctypes
import os
import tempfile

import numpy as np
import pytest
from cuda_support import assert_interprets_alike, cuda_function, gpu_kernels

import graphc as tf
from graphc.codegen_cuda.compile import compile_cubin, compile_host, nvcc
from graphc.codegen_cuda.render import render_program
from graphc.compiler import build_plan
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import verify_kernel
from graphc.passes.schedule_gpu import schedule_gpu

requires_nvcc = pytest.mark.skipif(nvcc() is None, reason="nvcc is not on PATH")


def _gelu(y):
    return 0.5 * y * (1.0 + tf.tanh(0.7978846 * (y + 0.044715 * y * y * y)))


def _np_gelu(y):
    return 0.5 * y * (1.0 + np.tanh(0.7978846 * (y + 0.044715 * y * y * y)))


def _cases():
    """(name, fetch, numpy reference, feeds, vectorized?) over fresh placeholders."""
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [64, 256])
    bias = tf.placeholder(tf.float32, [256])
    odd = tf.placeholder(tf.float32, [5, 7])
    wide = tf.placeholder(tf.float64, [64, 256])
    cube = tf.placeholder(tf.float32, [4, 8, 16])
    ints = tf.placeholder(tf.int32, [64, 256])
    xv = rng.standard_normal((64, 256)).astype(np.float32)
    bv = rng.standard_normal(256).astype(np.float32)
    ov = rng.standard_normal((5, 7)).astype(np.float32)
    wv = rng.standard_normal((64, 256))
    cv = rng.standard_normal((4, 8, 16)).astype(np.float32)
    iv = rng.integers(-50, 50, (64, 256)).astype(np.int32)
    feeds = {x: xv, bias: bv, odd: ov, wide: wv, cube: cv, ints: iv}
    return feeds, [
        ("gelu(x * 2 + bias)", _gelu(x * 2.0 + bias), _np_gelu(xv * 2.0 + bv), True),
        ("bias * 3", bias * 3.0, bv * 3.0, True),
        ("x - bias", x - bias, xv - bv, True),
        ("(5, 7) + 1", odd + 1.0, ov + 1.0, False),
        ("f64 gelu", _gelu(wide + 1.0), _np_gelu(wv + 1.0), False),
        ("transpose [2, 0, 1]", tf.transpose(cube, [2, 0, 1]), cv.transpose(2, 0, 1), False),
        ("x < bias", x < bias, xv < bv, False),
        ("int32 * 3", ints * 3, iv * 3, False),
    ]


def _vector_loops(stmt) -> list:
    if not isinstance(stmt, K.Loop):
        return []
    own = [stmt] if stmt.kind == "vector" else []
    return own + [v for s in stmt.body for v in _vector_loops(s)]


def test_an_elementwise_chain_with_a_bias_uses_float4_behind_an_alignment_test():
    x = tf.placeholder(tf.float32, [64, 256])
    bias = tf.placeholder(tf.float32, [256])
    kernels = gpu_kernels([_gelu(x * 2.0 + bias)])
    (kernel,) = kernels
    verify_kernel(kernel)
    (loop,) = [v for phase in kernel.body for v in _vector_loops(phase)]
    assert loop.width == 4 and loop.stop == K.Const(4)
    program = render_program(kernels)
    (launch,) = program.launches
    assert launch.grid == (16, 1, 1) and launch.block == (256, 1, 1)  # 64 * 256 / 4 threads
    body = cuda_function(program, launch.function)
    assert "const bool gc_vec4 = gc_aligned16(p0) && gc_aligned16(p1) && gc_aligned16(p3);" \
        in body
    assert "const float4 gc_q0 = gc_load4(&p1[(gt * 4)]);" in body
    assert "const float4 gc_q1 = gc_load4(&p3[gc_mod<i64>((gt * 4), 256)]);" in body  # bias
    assert "gc_store4(&p0[(gt * 4)], make_float4(gc_v0, gc_v1, gc_v2, gc_v3));" in body
    assert body.count("gc_load4") == 2 and body.count("gc_store4") == 1
    assert "gc_q0.w" in body and "p2[0]" in body  # per lane; the constant is a scalar load
    vector, scalar = body.split("} else {")
    assert "if (gc_vec4) {" in vector and "for (i64 gv = 0; gv < 4; ++gv)" in scalar


def test_other_flat_phases_stay_scalar():
    feeds, cases = _cases()
    for name, fetch, _, vectorized in cases:
        kernels = gpu_kernels([fetch])
        loops = [v for k in kernels for phase in k.body for v in _vector_loops(phase)]
        source = render_program(kernels).source.split('extern "C"', 1)[1]
        assert bool(loops) == vectorized, name
        assert ("gc_load4" in source and "gc_vec4" in source) == vectorized, name


def test_a_load_off_the_alignment_stays_scalar():
    """out[i, j] = x[i, j + 1]: contiguous, but its lanes start one element past 16 bytes."""
    i, j = K.Var("i"), K.Var("j")
    k = K.Kernel("k", (K.Buffer("out", "f32", K.Const(32)), K.Buffer("x", "f32", K.Const(40))),
                 (), K.nest(["i", "j"], [4, 8], [K.Store("out", K.add(K.mul(i, 8), j), K.Load(
                     "x", K.add(K.add(K.mul(i, 10), j), 1), "f32"))]))
    assert not _vector_loops(schedule_gpu(k).body[0])
    aligned = K.Kernel("k", k.buffers, (), K.nest(["i", "j"], [4, 8], [K.Store(
        "out", K.add(K.mul(i, 8), j), K.Load("x", K.add(K.mul(i, 8), j), "f32"))]))
    assert _vector_loops(schedule_gpu(aligned).body[0])


def test_numbers_on_cuda_emulated_vectorized_and_scalar():
    feeds, cases = _cases()
    with tf.Session(target="cuda-emulated") as sess:
        got = sess.run([fetch for _, fetch, _, _ in cases], feeds)
    for (name, _, ref, _), value in zip(cases, got):
        assert value.shape == ref.shape, name
        if ref.dtype == np.float32 or ref.dtype == np.float64:
            np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(value, ref, err_msg=name)


def test_the_scheduled_kernels_interpret_like_the_unscheduled_ones():
    feeds, cases = _cases()
    graph = tf.get_default_graph()
    fed = {p.node: v.shape for p, v in feeds.items()}
    nodes = [fetch.node for _, fetch, _, _ in cases]
    _, kernels, _ = build_plan(nodes, fed, graph.describe, 1)
    vectorized = 0
    for k in kernels:
        gpu = schedule_gpu(k)
        verify_kernel(gpu)
        vectorized += any(_vector_loops(phase) for phase in gpu.body)
        assert_interprets_alike(k, gpu)
    assert vectorized >= 3


def test_a_misaligned_pointer_takes_the_scalar_path():
    """The kernel called directly with pointers 4 bytes past 16-byte alignment: the float4
    path would trap under emulation (and fault on a GPU); the guard runs the scalar loop."""
    n = 32
    i = K.Var("i")
    k = K.Kernel("k", tuple(K.Buffer(b, "f32", K.Const(n)) for b in ("out", "a", "b")), (),
                 K.nest(["i"], [n], [K.Store("out", i, K.Binary(
                     "mul", K.Load("a", i, "f32"), K.Load("b", i, "f32"), "f32"))]))
    program = render_program([schedule_gpu(k)])
    assert "gc_load4" in program.source
    fd, path = tempfile.mkstemp(suffix=".so")
    with os.fdopen(fd, "wb") as f:
        f.write(compile_host(program))
    try:
        library = ctypes.CDLL(path)
    finally:
        os.unlink(path)
    (launch,) = program.launches
    run = getattr(library, f"gc_launch_{launch.function}")
    run.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_uint] * 6
    rng = np.random.default_rng(1)
    for shift in (0, 1):  # elements: 0 aligned, 1 misaligned (arrays are 64-byte aligned)
        arrays = [np.zeros(n + 32, np.float32), rng.standard_normal(n + 32).astype(np.float32),
                  rng.standard_normal(n + 32).astype(np.float32)]
        base = [a.ctypes.data + (-a.ctypes.data) % 64 for a in arrays]
        views = [np.frombuffer((ctypes.c_float * n).from_address(p + 4 * shift), np.float32)
                 for p in base]
        err = ctypes.c_int(0)
        args = (ctypes.c_void_p * 4)(*[p + 4 * shift for p in base], ctypes.addressof(err))
        assert run(args, 0, *launch.grid, *launch.block) == 0 and err.value == 0
        np.testing.assert_array_equal(views[0], views[1] * views[2])


@requires_nvcc
def test_the_kernels_compile_for_sm90():
    _, cases = _cases()
    program = render_program(gpu_kernels([fetch for _, fetch, _, _ in cases]))
    assert "gc_store4" in program.source
    assert compile_cubin(program.source, "sm_90")[:4] == b"\x7fELF"
