"""Helpers for the CUDA renderer tests: the GPU-scheduled kernels of a graph's plan."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.compiler import build_plan
from graphc.ir.kernel_tools import NUMPY, interpret
from graphc.passes.schedule_gpu import GPUCaps, schedule_gpu


def gpu_kernels(fetches, caps: GPUCaps = GPUCaps()):
    """The plan kernels of `fetches` (tensors over placeholders of static shape), scheduled
    for the GPU; the placeholders are found by walking the graph."""
    graph = tf.get_default_graph()
    nodes = [t.node for t in fetches]
    fed = {}
    stack, seen = list(nodes), set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.op.name == "placeholder":
            fed[n] = tuple(n.shape)
        stack.extend(n.inputs)
    _, kernels, _ = build_plan(nodes, fed, graph.describe, 1)
    return [schedule_gpu(k, caps) for k in kernels]


def cuda_function(program, name: str) -> str:
    """The source of the extern "C" function `name` in a rendered program."""
    for part in program.source.split('extern "C"'):
        if f" {name}(" in part:
            return part
    raise AssertionError(f"no function {name}")


def assert_interprets_alike(kernel, scheduled, intrinsics=None) -> None:
    """The L2 interpreter gives the same buffers for a kernel and its GPU schedule, from the
    same random inputs."""
    results = []
    for k in (kernel, scheduled):
        rng = np.random.default_rng(0)
        buffers = {b.name: rng.standard_normal(int(b.size.value)).astype(NUMPY[b.dtype])
                   for b in kernel.params}
        interpret(k, buffers, intrinsics=intrinsics)
        results.append(buffers)
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name])
