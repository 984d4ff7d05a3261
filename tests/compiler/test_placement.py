"""check_placement (graphc/compiler/placement.py): along every path through a plan's program,
no arena read finds bytes another slot wrote since."""

import contextlib

import graphc as tf
from graphc.compiler import buffers
from graphc.compiler.driver import build_plan
from graphc.compiler.placement import check_placement


def _plan(fuse: bool):
    x = tf.placeholder(tf.float32, [3])
    n = tf.placeholder(tf.int32, [])
    y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: tf.fill([3], 2.0) * x)
    _, a, b = tf.while_loop(lambda i, a, b: i < n, lambda i, a, b: (i + 1, b, a + b),
                            [0, y, tf.fill([3], 2.0) + y], maximum_iterations=5)
    grad = tf.gradients(tf.reduce_sum(a * b), x)[0]
    options = tf.Options(opt_level=0 if not fuse else 2, fuse=fuse, threads=1)
    return build_plan([a.node, b.node, grad.node], {x.node: (3,), n.node: ()},
                      tf.get_default_graph().describe, 1, options)[0]


def test_loops_and_branches_are_placed_safely():
    for fuse in (False, True):
        tf.reset_default_graph()
        assert check_placement(_plan(fuse)) == []


def test_a_branch_that_took_the_outer_slot_of_a_shared_node_is_caught(monkeypatch):
    # the fuzzer's case (seed 2100063): without the slot scope, the untaken branch's zeros
    # (the same node as the zeros of maximum's gradient outside) take a branch-only slot,
    # which the gradient reads after the cond
    monkeypatch.setattr(buffers.Buffers, "scope", contextlib.contextmanager(
        lambda self: (yield)))
    from graphc.tools import fuzz_control
    x, w = tf.placeholder(tf.float32, [3]), tf.placeholder(tf.float32, [3])
    y = fuzz_control.loop(tf.maximum(2.0, x), w, 1, "tanh_affine", 4, nested=True)
    grad = tf.gradients(tf.reduce_sum(y), x)[0]
    plan = build_plan([grad.node], {x.node: (3,), w.node: (3,)},
                      tf.get_default_graph().describe, 1,
                      tf.Options(opt_level=0, fuse=False, threads=1))[0]
    problems = check_placement(plan)
    assert problems and "whose bytes slot" in problems[0]


def test_parts_of_one_buffer_read_each_other_s_bytes():
    # a concat computed in place and slices of it beside a loop: the slots share bytes by
    # design (compiler/views.py), which is not a problem
    x = tf.placeholder(tf.float32, [4])
    _, a = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * 1.5), [0, x])
    flat = tf.concat([tf.exp(a), tf.sin(x) * 2.0], 0) + 1.0
    out = tf.reduce_sum(flat[:4] * flat[4:])
    plan = build_plan([out.node], {x.node: (4,)}, tf.get_default_graph().describe, 1,
                      tf.Options(threads=1), views=True)[0]
    slices = [s for s, (parent, _) in plan.parts.items() if parent not in plan.parts]
    assert len(plan.parts) >= 3 and check_placement(plan) == []
    # a slice the checker is not told of reads bytes another slot wrote
    plan.parts = {s: p for s, p in plan.parts.items() if s != max(slices)}
    assert "whose bytes slot" in check_placement(plan)[0]
