"""The reverse walk over L1 nodes (graphc.autodiff.gradients), without a TF1 Graph, and how
tf.gradients names and orders the nodes it adds to the user's graph."""

from __future__ import annotations

import numpy as np

import graphc as tf
from graphc import autodiff
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import make_node, topo_sort


def node(op, *inputs, **attrs):
    return make_node(prims.get(op), inputs, attrs)


def evaluate(root, feeds: dict):
    """root's value by the primitives' numpy references (pure nodes only)."""
    values = dict(feeds)
    for n in topo_sort([root], stop=frozenset(feeds)):
        if n not in values:
            values[n] = n.op.reference(*[values[x] for x in n.inputs], **n.attrs)
    return np.asarray(values[root])


def test_gradient_of_nodes_without_a_graph():
    x = node("placeholder", dtype=dtypes.float64, shape=(4,))
    y = node("reduce_sum", node("mul", x, node("sin", x)), axes=(0,), keepdims=False)
    (g,) = autodiff.gradients([y], [None], [[x]])
    xv = np.array([0.3, -1.2, 2.0, 0.0])
    np.testing.assert_allclose(evaluate(g, {x: xv}), np.sin(xv) + xv * np.cos(xv),
                               rtol=1e-12)


def test_cotangent_weights_each_y_and_unreached_target_is_none():
    x = node("placeholder", dtype=dtypes.float64, shape=(3,))
    z = node("placeholder", dtype=dtypes.float64, shape=(3,))
    y = node("exp", x)
    seed = node("constant", value=np.array([1.0, 2.0, 3.0]))
    gx, gz = autodiff.gradients([y], [seed], [[x], [z]])
    assert gz is None
    xv = np.array([0.5, 1.0, -1.0])
    np.testing.assert_allclose(evaluate(gx, {x: xv}), [1, 2, 3] * np.exp(xv), rtol=1e-12)


def test_gradients_are_named_under_their_scope():
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    w = tf.constant(np.ones((3, 4), np.float32))
    loss = tf.reduce_sum(tf.matmul(x, w))
    (g1,) = tf.gradients(loss, [x])
    (g2,) = tf.gradients(loss * 2.0, [x])
    assert g1.name.startswith("gradients/") and g1.name.endswith(":0")
    assert g2.name.startswith("gradients_1/")
    graph = tf.get_default_graph()
    assert graph.node_by_name(g1.op.name) is g1.node
    # the rule also builds d/dw, which nobody asked for: it is not added to the graph
    assert [n.op.name for n in graph.nodes].count("matmul") == 3  # forward, g1, g2


def test_gradients_built_under_control_dependencies_run_after_them():
    v = tf.Variable(1.0)
    bump = tf.assign_add(v, 1.0)
    x = tf.placeholder(tf.float32, [3])
    y = tf.reduce_sum(x * x)
    with tf.control_dependencies([bump]):
        (g,) = tf.gradients(y, [x])
    assert bump.node in g.node.deps
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(g, {x: [1.0, 2.0, 3.0]}), [2.0, 4.0, 6.0])
        assert sess.run(v) == 2.0
