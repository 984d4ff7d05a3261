"""Loop metadata the LLVM renderer attaches: an outer loop of many iterations is not
unrolled (O3 unrolled a 32 x 1024 fill into straight-line code that took 1.9 s to compile),
a short one (a convolution's window) may be."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.intrinsics import INTRINSICS
from graphc.codegen_llvm.render import host_vector_bits, render_module
from graphc.compiler import build_plan


def _ir(rows: int) -> str:
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [])
    y = tf.broadcast_to(x, [3, rows, 1024]) + tf.zeros([3, rows, 1024])
    plan, kernels, slots_of = build_plan([y.node], {x.node: ()}, str, 1, tf.Options(),
                                         vector_bits=host_vector_bits(), direct_commits=True)
    return str(render_module(kernels, slots_of, INTRINSICS, program=plan.program))


@pytest.mark.parametrize("rows, rolled", [(32, True), (8, False)])
def test_outer_loops_of_many_iterations_are_not_unrolled(rows, rolled):
    assert ('"llvm.loop.unroll.disable"' in _ir(rows)) is rolled


def test_the_rolled_fill_computes_the_value():
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [])
    y = tf.broadcast_to(x, [3, 32, 1024]) + tf.zeros([3, 32, 1024])
    with tf.Session(target="llvm") as sess:
        np.testing.assert_array_equal(sess.run(y, {x: 2.5}), np.full((3, 32, 1024), 2.5))
