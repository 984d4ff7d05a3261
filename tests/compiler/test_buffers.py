"""The compile driver's slot step (graphc/compiler/buffers.py) and its steps in order."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc.compiler import build_plan
from graphc.compiler.buffers import assign_buffers
from graphc.compiler.driver import partition
from graphc.passes.pipeline import run_pipeline
from graphc.passes.specialize import specialize


def _units(fetches, fed_shapes):
    graph = tf.get_default_graph()
    roots, origin = specialize([t.node for t in fetches], fed_shapes, graph.describe)
    result = run_pipeline(roots, origin, tf.Options())
    return partition(list(result.roots), tf.Options()), result.origin


def test_views_share_slots_and_assignments_stage_the_variable():
    v = tf.Variable(np.zeros((2, 3), np.float32), name="v")
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    bump = tf.assign_add(v, tf.exp(x))
    parts, origin = _units([bump], {x.node: (2, 3)})
    buffers = assign_buffers(parts.units, parts.inlined, origin)
    kinds = [s.kind for s in buffers.slots]
    assign = next(n for n in parts.order if n.op.name == "assign")
    before = buffers.slot_of[("before", assign)]
    assert kinds[before] == "variable" and buffers.slots[before].node is v.handle.node
    assert kinds[buffers.slot_of[assign]] == "arena"
    assert buffers.needs_value == [v.handle.node]
    assert buffers.commits() == [(v.handle.node, buffers.slot_of[assign], (2, 3))]


def test_plan_steps_agree_with_each_other():
    x = tf.placeholder(tf.float32, [4, 8], name="x")
    y = tf.reshape(tf.nn.softmax(x * 2.0), [32])
    z = tf.reduce_sum(y)
    plan, kernels, slots_of = build_plan([y.node, z.node], {x.node: (4, 8)}, repr, 1)
    assert len(kernels) == len(plan.kernels)
    (ys, ydtype, yshape), (zs, _, zshape) = plan.fetch_slots
    assert (ydtype, yshape, zshape) == (np.float32, (32,), ())
    # the reshape is a view: y's slot is the softmax kernel's output, in the arena
    assert plan.slots[ys].kind == "arena" and plan.slots[zs].kind == "arena"
    written = {int(b.name[1:]) for k in plan.kernels for b in k.params}
    assert {ys, zs} <= written
    for kernel in kernels:
        assert all(0 <= i < len(plan.slots) for i in slots_of(kernel))
    assert plan.arena_bytes >= 32 * 4 + 4
