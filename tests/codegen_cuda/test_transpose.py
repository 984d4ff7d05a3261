"""Transposes of the last two axes through shared memory: 32x32 tiles (rows padded to 33),
coalesced reads into the tile, a barrier, coalesced writes. Render checks, numbers on
cuda-emulated for shapes that are and are not multiples of 32 (one plan per test), and
nvcc for sm_90."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from cuda_support import cuda_function, gpu_kernels

import graphc as tf
from graphc.codegen_cuda.compile import compile_cubin, nvcc
from graphc.codegen_cuda.render import render_program
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import verify_kernel
from graphc.passes.schedule_gpu import GPUCaps, schedule_gpu

TARGET = "cuda-emulated"
requires_nvcc = pytest.mark.skipif(nvcc() is None, reason="nvcc is not on PATH")
SHAPES = [(5, 7), (64, 96), (33, 65), (3, 40, 50)]
DTYPES = [np.float32, np.float64, np.int32]


def _swap(x):
    return tf.transpose(x, list(range(len(x.shape) - 2)) + [len(x.shape) - 1, len(x.shape) - 2])


def _cases():
    rng = np.random.default_rng(0)
    out = []
    for dt in DTYPES:
        for shape in SHAPES:
            x = (rng.standard_normal(shape) * 100).astype(dt)
            out.append((f"{shape}-{np.dtype(dt).name}", x, np.swapaxes(x, -1, -2)))
    return out


def test_a_transpose_is_tiled_through_shared_memory_with_a_barrier():
    x = tf.placeholder(tf.float32, [33, 65])
    kernels = gpu_kernels([tf.transpose(x)])
    for k in kernels:
        verify_kernel(k)
    program = render_program(kernels)
    (launch,) = program.launches
    assert launch.grid == (6, 1, 1) and launch.block == (256, 1, 1) and launch.sync
    body = cuda_function(program, launch.function)
    assert "__shared__ float p2[1056];" in body  # 32 x 33
    assert body.count("__syncthreads();") == 1
    reads, writes = body.split("__syncthreads();")
    # lanes along the input's rows, then along the output's rows: both coalesced
    assert "p2[(((gtrow + (gr * 8)) * 33) + glane)] = p1[((gw * 65) + gu)];" in reads
    assert "p0[((gu * 33) + gw)] = p2[((glane * 33) + (gtrow + (gr * 8)))];" in writes
    assert "for (i64 gu = (gu0 + glane);" in reads and "for (i64 gw = (gw0 + glane);" in writes


def test_a_batched_transpose_keeps_the_batch_on_the_grid():
    x = tf.placeholder(tf.float64, [3, 40, 50])
    (kernel,) = gpu_kernels([_swap(x)])
    program = render_program([kernel])
    (launch,) = program.launches
    assert launch.grid == (3 * 2 * 2, 1, 1)  # batch x tiles of 40 x tiles of 50
    body = cuda_function(program, launch.function)
    assert "__shared__ double p2[1056];" in body
    assert "p1[(((gc_floordiv<i64>(gtile, 4) * 2000) + (gw * 50)) + gu)]" in body


def test_other_movement_stays_flat():
    x = tf.placeholder(tf.float32, [3, 5, 2])
    y = tf.placeholder(tf.float32, [5, 7])
    fetches = [tf.transpose(x, [2, 0, 1]), tf.transpose(x, [1, 0, 2]), y + 1.0,
               tf.transpose(y)]
    program = render_program(gpu_kernels(fetches))
    assert [launch.sync for launch in program.launches] == [False, False, False, True]


def test_a_value_also_read_along_the_output_rows_stays_flat():
    """out[i, j] = x[j, i] + y[i, j]: the tile would make y's reads strided."""
    i, j = K.Var("i"), K.Var("j")
    value = K.Binary("add", K.Load("x", K.add(K.mul(j, 6), i), "f32"),
                     K.Load("y", K.add(K.mul(i, 5), j), "f32"), "f32")
    buffers = tuple(K.Buffer(n, "f32", K.Const(30)) for n in "xyo")
    store = K.Store("o", K.add(K.mul(i, 5), j), value)
    flat = schedule_gpu(K.Kernel("k", buffers, (), K.nest(["i", "j"], [6, 5], [store])))
    assert not any(b.scratch for b in flat.buffers)
    alone = replace(store, value=value.a)
    tiled = schedule_gpu(K.Kernel("k", buffers, (), K.nest(["i", "j"], [6, 5], [alone])))
    assert [b.name for b in tiled.buffers if b.scratch] == ["gtile_f32"]


def test_a_grid_too_small_for_the_tiles_walks_them_in_strides():
    x = tf.placeholder(tf.int32, [4, 64, 64])
    (kernel,) = gpu_kernels([_swap(x)], GPUCaps(max_blocks=5))
    program = render_program([kernel])
    body = cuda_function(program, program.launches[0].function)
    assert "for (i64 gtiles = 0; gtiles < 4; ++gtiles)" in body
    assert body.count("__syncthreads();") == 2  # the tile is free before the next one


def test_tiled_transposes_compute_the_right_numbers():
    cases = _cases()
    feed, fetches = {}, []
    for _, x, _ in cases:
        p = tf.placeholder(x.dtype, x.shape)
        feed[p] = x
        fetches.append(_swap(p))
    with tf.Session(target=TARGET) as sess:
        got = sess.run(fetches, feed)
    for (name, _, want), actual in zip(cases, got):
        assert actual.dtype == want.dtype and actual.shape == want.shape, name
        np.testing.assert_array_equal(actual, want, err_msg=name)


@requires_nvcc
def test_tiled_transposes_compile_for_sm90():
    fetches = [_swap(tf.placeholder(x.dtype, x.shape)) for _, x, _ in _cases()]
    program = render_program(gpu_kernels(fetches))
    assert sum(launch.sync for launch in program.launches) == len(fetches)
    assert compile_cubin(program.source, "sm_90")[:4] == b"\x7fELF"
