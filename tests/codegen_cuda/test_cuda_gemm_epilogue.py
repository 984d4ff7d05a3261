"""A gemm's fused elementwise consumer (L2 Intrinsic.epilogue) on the GPU: it runs where each
thread writes its elements of C, in the gemm's own launch. Render checks, numbers on
cuda-emulated (one plan per test: a host compile costs about a second), nvcc for sm_90."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, numpy_gemm
from cuda_support import assert_interprets_alike, cuda_function, gpu_kernels

import graphc as tf
from graphc.bench.workloads import w4_cases
from graphc.codegen_cuda.compile import compile_cubin, nvcc
from graphc.codegen_cuda.render import render_program
from graphc.compiler import build_plan
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import verify_kernel
from graphc.passes.schedule_gpu import schedule_gpu

TARGET = "cuda-emulated"
requires_nvcc = pytest.mark.skipif(nvcc() is None, reason="nvcc is not on PATH")


def _cases():
    """(name, build(*placeholders), inputs, expected float64 numpy): a dense layer with bias
    and relu, a batched matmul with bias and tanh, a transposed operand plus a residual of
    the full (m, n) shape, and two layers whose hidden value may be written over C."""
    rng = np.random.default_rng(0)

    def data(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    x, w, b = data(8, 32), data(32, 16), data(16)
    xb, wb, bb = data(3, 9, 20), data(20, 12), data(12)
    xt, res = data(24, 10), data(10, 14)
    wt = data(24, 14)
    w2 = data(16, 5)
    f64 = np.float64
    relu = np.maximum(x.astype(f64) @ w + b, 0)
    return [
        ("dense-bias-relu", lambda p, q, c: tf.nn.relu(tf.matmul(p, q) + c), [x, w, b], relu),
        ("batched-bias-tanh", lambda p, q, c: tf.tanh(tf.matmul(p, q) + c), [xb, wb, bb],
         np.tanh(xb.astype(f64) @ wb + bb)),
        ("transposed-residual", lambda p, q, r: tf.matmul(p, q, transpose_a=True) + r,
         [xt, wt, res], xt.T.astype(f64) @ wt + res),
        ("two-layers", lambda p, q, c, v: tf.matmul(tf.nn.relu(tf.matmul(p, q) + c), v),
         [x, w, b, w2], relu @ w2),
    ]


def _graph():
    feed, fetches, expected = {}, [], []
    for _, build, inputs, want in _cases():
        ps = [tf.placeholder(tf.float32, a.shape) for a in inputs]
        feed.update(zip(ps, inputs))
        fetches.append(build(*ps))
        expected.append(want)
    return feed, fetches, expected


def test_dense_bias_relu_is_one_launch_with_the_epilogue_in_the_write_back():
    x = tf.placeholder(tf.float32, [8, 32])
    w = tf.placeholder(tf.float32, [32, 16])
    b = tf.placeholder(tf.float32, [16])
    kernels = gpu_kernels([tf.nn.relu(tf.matmul(x, w) + b)])
    for k in kernels:
        verify_kernel(k)
    program = render_program(kernels)
    (launch,) = program.launches
    assert launch.grid == (1, 1, 1) and launch.block == (256, 1, 1)
    body = cuda_function(program, launch.function)
    assert "auto gc_epilogue = [&](i64 i, i64 j) {" in body
    assert "gc_max(" in body and ", gc_epilogue);" in body
    assert "epilogue(r, c);" in program.source  # called per element gc_gemm writes


def test_every_fused_gemm_is_one_launch_and_an_epilogue_may_overwrite_c():
    _, fetches, _ = _graph()
    program = render_program(gpu_kernels(fetches))
    gemms = [launch for launch in program.launches if "matmul" in launch.function]
    assert len(gemms) == 5 and len(program.launches) == 5  # nothing but the gemms
    assert sum(", gc_epilogue);" in cuda_function(program, g.function) for g in gemms) == 4
    batched = next(g for g in gemms if g.grid[2] == 3)
    assert "const i64 gbx = blockIdx.z;" in cuda_function(program, batched.function)
    # the hidden layer is read by the next gemm only: its epilogue writes over C
    hidden = [cuda_function(program, g.function) for g in gemms]
    assert any(_writes_over_c(text) for text in hidden)


def _writes_over_c(text: str) -> bool:
    if "gc_epilogue" not in text:
        return False
    call = text[text.index("gc_gemm<"):]
    c = call.split(",")[2].split("+")[0].strip()
    store = text[text.index("gc_epilogue"):].split("\n")[1]  # the lambda's one statement
    return store.strip().startswith(f"{c}[")


def test_the_interpreter_runs_a_scheduled_epilogue_like_the_kernel():
    feed, fetches, _ = _graph()
    graph = tf.get_default_graph()
    fed = {p.node: v.shape for p, v in feed.items()}
    _, kernels, _ = build_plan([t.node for t in fetches], fed, graph.describe, 1)
    assert sum(bool(_epilogue(k.body)) for k in kernels) == 4
    for k in kernels:
        gpu = schedule_gpu(k)
        assert len(gpu.body) == 1  # one launch
        assert_interprets_alike(k, gpu, intrinsics={"gemm": numpy_gemm})


def _epilogue(stmts):
    for s in stmts:
        if isinstance(s, K.Intrinsic):
            return s.epilogue
        if isinstance(s, K.Loop):
            return _epilogue(s.body)
    return ()


def test_fused_epilogues_compute_the_right_numbers():
    feed, fetches, expected = _graph()
    with tf.Session(target=TARGET) as sess:
        got = sess.run(fetches, feed)
    for actual, want in zip(got, expected):
        assert_close(actual, want.astype(np.float32), rtol=1e-4, atol=1e-4)


def test_an_mlp_training_step_matches_the_reference():
    (case,) = w4_cases("small")
    results = {}
    for target in ("reference", TARGET):
        tf.reset_default_graph()
        (train, loss), (x, labels) = case.build(tf)
        feed = {x: case.arrays["x"], labels: case.arrays["labels"]}
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            losses = [sess.run([train, loss], feed)[1] for _ in range(3)]
            weights = sess.run([v for v in tf.global_variables()])
        results[target] = losses + weights
    for a, b in zip(results["reference"], results[TARGET]):
        assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert results[TARGET][2] < results[TARGET][0]


@requires_nvcc
def test_fused_gemm_kernels_compile_for_sm90():
    _, fetches, _ = _graph()
    kernels = gpu_kernels(fetches)
    tf.reset_default_graph()
    (case,) = w4_cases("small")
    (train, loss), _ = case.build(tf)
    program = render_program(kernels + gpu_kernels([train, loss]))
    assert compile_cubin(program.source, "sm_90")[:4] == b"\x7fELF"


def test_an_epilogue_that_is_not_straight_line_code_is_a_launch_of_its_own():
    i, j = K.Var("i"), K.Var("j")
    at = K.add(K.mul(i, 3), j)
    value = K.Load("c", at, "f32")
    checked = K.nest(["i", "j"], [2, 3], [
        K.Check(K.Unary("is_finite", value, "bool"), 0), K.Store("out", at, value)])
    call = K.Intrinsic("gemm", ("a", "b", "c"), tuple(K.Const(v) for v in (
        2, 3, 4, 0, 4, 1, 0, 3, 1, 0)), checked)
    buffers = tuple(K.Buffer(n, "f32", K.Const(s)) for n, s in
                    (("a", 8), ("b", 12), ("c", 6), ("out", 6)))
    kernel = K.Kernel("k", buffers, (), (call,), ("not finite",))
    gemm, epilogue = schedule_gpu(kernel).body
    assert not gemm.body[0].epilogue and epilogue.body[0].kind == "gpu_thread"
    program = render_program([schedule_gpu(kernel)])
    assert len(program.launches) == 2 and "gc_epilogue" not in program.source
