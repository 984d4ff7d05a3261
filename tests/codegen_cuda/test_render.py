"""Render tests: the CUDA C of representative kernels (what a launch looks like, how threads
map to data, how reductions, GEMM and Checks come out), and the schedule's flat phases run
by the L2 interpreter against the unscheduled kernel."""

from __future__ import annotations

import numpy as np
from cuda_support import assert_interprets_alike, gpu_kernels

import graphc as tf
from graphc.codegen_cuda.render import cast, constant, render_program
from graphc.compiler import build_plan
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import verify_kernel
from graphc.passes.schedule_gpu import schedule_gpu


def _program(*fetches):
    kernels = gpu_kernels(fetches)
    for k in kernels:
        verify_kernel(k)
    return kernels, render_program(kernels)


def _function(program, name):
    start = program.source.index("void __launch_bounds__")
    text = program.source[start:]
    for part in text.split('extern "C"'):
        if f" {name}(" in part:
            return part
    raise AssertionError(f"no function {name}")


def test_elementwise_with_broadcast_is_one_coalesced_grid_stride_launch():
    a = tf.placeholder(tf.float32, [300, 1000])
    b = tf.placeholder(tf.float32, [1000])
    _, program = _program(tf.exp(a) * b + 1.0)
    (launch,) = program.launches
    # 300000 f32 elements, 4 per thread (float4): 75000 threads
    assert launch.block == (256, 1, 1) and launch.grid == (293, 1, 1) and not launch.sync
    body = _function(program, launch.function)
    # consecutive threads, consecutive groups of 4: 4 x the flat index is the store's offset
    assert "for (i64 gt = ((gbx * 256) + gtx); gt < gc_min<i64>(" in body
    assert "const float4 gc_q1 = gc_load4(&p2[gc_mod<i64>((gt * 4), 1000)]);" in body
    assert "const float gc_v2 = ((gc_exp(gc_q0.z) * gc_q1.z) + p3[0]);" in body
    assert "gc_store4(&p0[(gt * 4)], make_float4(gc_v0, gc_v1, gc_v2, gc_v3));" in body
    assert "p0[((gt * 4) + gv)] = ((gc_exp(p1[((gt * 4) + gv)]) * " \
        "p2[(gc_mod<i64>((gt * 4), 1000) + gv)]) + p3[0]);" in body  # unaligned pointers
    assert "__syncthreads" not in body


def test_large_elementwise_walks_the_grid_in_strides():
    a = tf.placeholder(tf.float32, [16384, 8192])  # 2^25 groups of 4
    _, program = _program(a * 2.0)
    (launch,) = program.launches
    assert launch.grid == (1 << 16, 1, 1)
    assert "for (i64 gts = 0; gts < 2; ++gts)" in _function(program, launch.function)


def test_row_softmax_is_one_block_per_row_with_shuffle_reductions():
    x = tf.placeholder(tf.float32, [8, 1000])
    _, program = _program(tf.nn.softmax(x))
    (launch,) = program.launches
    assert launch.grid == (8, 1, 1) and launch.block == (256, 1, 1) and launch.sync
    body = _function(program, launch.function)
    assert "__shared__ float p3[256];" in body
    assert body.index("gc_block_reduce<GcMax>(p3, 256);") < \
        body.index("gc_block_reduce<GcAdd>(p3, 256);")
    assert "for (i64 gjs = 0; gjs < 4; ++gjs)" in body  # 1000 elements, 256 threads
    assert body.count("__syncthreads();") >= 2
    assert "__shfl_down_sync" in program.source  # the prelude's block reduction


def test_reduction_over_the_last_axis_and_full_reduction():
    x = tf.placeholder(tf.float64, [5, 40])
    kernels, program = _program(tf.reduce_max(x, -1), tf.reduce_sum(x))
    rows, full = program.launches
    assert rows.grid == (5, 1, 1) and rows.block == (64, 1, 1)
    assert full.grid == (1, 1, 1) and full.block == (256, 1, 1)
    assert "gc_block_reduce<GcMax>" in _function(program, rows.function)
    assert "gc_block_reduce<GcAdd>" in _function(program, full.function)
    assert any(b.scratch and b.dtype == "f64" for b in kernels[0].buffers)


def test_batched_gemm_launches_tiles_with_the_batch_on_z():
    a = tf.placeholder(tf.float32, [3, 300, 64])
    b = tf.placeholder(tf.float32, [64, 200])
    _, program = _program(tf.matmul(a, b))
    (launch,) = program.launches
    assert launch.grid == (2, 3, 3) and launch.block == (256, 1, 1)
    body = _function(program, launch.function)
    assert "const i64 gbx = blockIdx.z;" in body
    assert "gc_gemm<float>(p0 + (gbx * 19200), p1 + 0, p2 + (gbx * 60000), 300, 200, 64" in body


def test_gather_checks_its_indices_through_the_error_word():
    x = tf.placeholder(tf.float32, [5, 3])
    i = tf.placeholder(tf.int32, [4])
    kernels, program = _program(tf.gather(x, i))
    body = _function(program, program.launches[0].function)
    assert "if (!(((j >= 0) && (j < 5)))) { gc_fail(gc_err, gc_kernel, 0); return; }" in body
    assert kernels[0].messages[0].startswith("an index is out of range [0, 5)")


def test_scatter_add_is_parallel_with_atomic_adds():
    x = tf.placeholder(tf.float32, [5, 3])
    i = tf.placeholder(tf.int32, [4])
    (grad,) = tf.gradients(tf.reduce_sum(tf.gather(x, i)), x)
    _, program = _program(grad)
    fill, scatter = program.launches[-2:]
    assert fill.block == scatter.block == (32, 1, 1)
    body = _function(program, scatter.function)
    assert "atomicAdd(&p1[((j * 3) + gc_mod<i64>(gt, 3))], p2[gt]);" in body


def test_an_in_place_add_is_not_atomic():
    k = K.Kernel("k", (K.Buffer("a", "f32", K.Const(8)), K.Buffer("b", "f32", K.Const(8))), (),
                 K.nest(["i"], [8], [K.Store("a", K.Var("i"), K.Binary(
                     "add", K.Load("a", K.Var("i"), "f32"), K.Load("b", K.Var("i"), "f32"),
                     "f32"))]))
    program = render_program([schedule_gpu(k)])
    assert program.launches[0].block == (32, 1, 1)
    assert "atomicAdd" not in program.source.split('extern "C"')[1]
    assert "const float gc_v0 = (gc_q0.x + gc_q1.x);" in program.source  # float4, in place
    assert "p0[((gt * 4) + gv)] = (p0[((gt * 4) + gv)] + p1[((gt * 4) + gv)]);" in \
        program.source


def test_equal_phases_share_one_function(monkeypatch):
    import graphc.compiler.driver as driver
    # (two kernels: merge_siblings would make them one)
    monkeypatch.setattr(driver, "merge_siblings", lambda kernels, program, live: (
        kernels, program, live))
    x = tf.placeholder(tf.float32, [64])
    y = tf.placeholder(tf.float32, [64])
    _, program = _program(tf.exp(x), tf.exp(y))
    assert len(program.launches) == 2 and len(program.signatures) == 1


def test_constants_and_casts():
    assert constant(float("inf"), "f32") == "(GC_INF_F32)"
    assert constant(float("-inf"), "f64") == "(-GC_INF_F64)"
    assert constant(float("nan"), "f32") == "GC_NAN_F32"
    assert constant(0.5, "f32") == "0.5f" and constant(0.1, "f64") == "0.1"
    assert constant(0.1, "f32") == "0.10000000149011612f"
    assert constant(1e-5, "f32") == f"{float(np.float32(1e-5)).hex()}f"
    assert constant(1.5, "f16") == "__float2half(1.5f)"
    assert constant(-(1 << 31), "i32") == "(-2147483647 - 1)"
    assert constant(1 << 40, "i64") == "1099511627776LL"
    assert constant(True, "bool") == "true"
    assert cast("x", "f32", "i32") == "gc_f2i<int, float>(x)"
    assert cast("x", "f64", "bool") == "(x != 0)"
    assert cast("x", "i32", "f16") == "__float2half(((float)(x)))"


def _interpret_both(fetches, inputs):
    """Run each plan kernel before and after schedule_gpu in the L2 interpreter."""
    graph = tf.get_default_graph()
    fed = {p.node: v.shape for p, v in inputs.items()}
    plan, kernels, slots_of = build_plan([t.node for t in fetches], fed, graph.describe, 1)
    for k in kernels:
        gpu = schedule_gpu(k)
        verify_kernel(gpu)
        assert_interprets_alike(k, gpu)


def test_flat_phases_compute_what_the_kernel_computes():
    a = tf.placeholder(tf.float32, [3, 5, 2])
    b = tf.placeholder(tf.float32, [5, 1])
    fetches = [tf.transpose(a * b, [2, 0, 1]), tf.pad(a, [[1, 0], [0, 2], [1, 1]]),
               tf.concat([a, a + 1.0], 1), tf.tile(b, [2, 3])]
    _interpret_both(fetches, {a: np.zeros((3, 5, 2)), b: np.zeros((5, 1))})


def test_schedule_rejects_symbolic_sizes():
    k = K.Kernel("k", (K.Buffer("x", "f32", K.Var("n")),), ("n",), ())
    try:
        schedule_gpu(k)
    except NotImplementedError as e:
        assert "symbolic sizes" in str(e)
    else:
        raise AssertionError("expected NotImplementedError")
