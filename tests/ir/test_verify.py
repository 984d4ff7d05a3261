"""The L1 verifier: accepts what the API builds, rejects forged (hand-made) nodes."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

import graphc as tf
from graphc.errors import VerifyError
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import Node, make_node
from graphc.ir.verify import verify

F32 = dtypes.float32


def forge(op, inputs=(), attrs=None, dtype=F32, shape=(2,), deps=()) -> Node:
    """A Node built around make_node, so its rules never ran: what a buggy pass could make."""
    node = object.__new__(Node)
    values = {"op": op, "inputs": tuple(inputs), "attrs": types.MappingProxyType(attrs or {}),
              "deps": tuple(deps), "dtype": dtype, "shape": shape, "_key": None}
    for slot, value in values.items():
        object.__setattr__(node, slot, value)
    return node


def placeholder(dtype=F32, shape=(2,)) -> Node:
    return make_node(prims.get("placeholder"), (), {"dtype": dtype, "shape": shape})


# --- graphs from the public API pass --------------------------------------------------------
def test_api_graph_passes():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    w = tf.Variable(tf.random_normal([3, 4], seed=1), name="w")
    b = tf.get_variable("b", [4], initializer=tf.zeros_initializer())
    h = tf.nn.relu(tf.matmul(x, w) + b)
    logits = tf.reshape(h, [-1, 2, 2])[:, 0, ::-1]
    p = tf.nn.softmax(tf.concat([logits, tf.zeros_like(logits)], axis=1))
    idx = tf.argmax(p, axis=1)
    picked = tf.gather(tf.transpose(p), tf.range(2))
    dyn = tf.reshape(x, tf.stack([n, -1]))
    counts = tf.reduce_mean(tf.cast(tf.equal(idx, 1), tf.float32))
    with tf.control_dependencies([counts]):
        step = w.assign_add(tf.ones([3, 4]))
    padded = tf.pad(tf.tile(picked, [1, 2]), [[1, 1], [0, 0]], mode="REFLECT")
    shaped = tf.shape(x)
    train = tf.group(step, padded, dyn, shaped, tf.where(x > 0, x, -x))
    g = tf.get_default_graph()
    verify(g.nodes)
    verify([train.node])


def test_a_fresh_graph_of_every_kind_passes():
    g = tf.Graph()
    with g.as_default():
        v = tf.Variable([1.0, 2.0])
        tf.group(v.assign(tf.placeholder_with_default([0.0, 1.0], [2])),
                 tf.random_uniform([2], maxval=5, dtype=tf.int64))
    verify(g.nodes)
    kinds = {n.op.kind for n in g.nodes}
    assert {"source", "effect", "opaque"} <= kinds


# --- forged nodes fail, naming the node -----------------------------------------------------
def test_wrong_shape_is_rejected():
    x, y = placeholder(), placeholder()
    bad = forge(prims.get("add"), (x, y), shape=(3,))
    with pytest.raises(VerifyError, match=r"<Node add f32\[3\] #\w+>: shape \(3,\) but the "
                                          r"rules give \(2,\)"):
        verify([bad])


def test_wrong_dtype_is_rejected():
    x, y = placeholder(), placeholder()
    bad = forge(prims.get("less"), (x, y), dtype=F32)
    with pytest.raises(VerifyError, match="dtype float32 but the rules give bool"):
        verify([bad])


def test_a_bad_node_deep_inside_is_found():
    x = placeholder()
    bad = forge(prims.get("neg"), (x,), shape=(5,))
    top = make_node(prims.get("abs"), (make_node(prims.get("exp"), (bad,)),))
    verify([x])  # the good part alone is fine
    with pytest.raises(VerifyError, match=r"<Node neg f32\[5\] #\w+>: shape \(5,\)"):
        verify([top])


def test_a_bad_dependency_is_found():
    bad = forge(prims.get("neg"), (placeholder(),), shape=())
    after = make_node(prims.get("no_op"), (), deps=(bad,))
    with pytest.raises(VerifyError, match="neg"):
        verify([after])


def test_rules_rejecting_the_node():
    x, i = placeholder(), placeholder(dtypes.int32)
    bad = forge(prims.get("add"), (x, i))
    with pytest.raises(VerifyError, match="rules reject the node: inputs have different "
                                          "dtypes float32 and int32"):
        verify([bad])


def test_wrong_arity_is_rejected():
    bad = forge(prims.get("add"), (placeholder(),))
    with pytest.raises(VerifyError, match="1 inputs, the op takes 2"):
        verify([bad])


def test_unregistered_op_is_rejected():
    copy_of_add = dataclasses.replace(prims.get("add"))
    bad = forge(copy_of_add, (placeholder(), placeholder()))
    with pytest.raises(VerifyError, match="op 'add' is not a registered primitive"):
        verify([bad])


def test_stateful_node_without_uid_is_rejected():
    bad = forge(prims.get("placeholder"), (), {"dtype": F32, "shape": (2,)})
    with pytest.raises(VerifyError, match="stateful node without a uid"):
        verify([bad])


def test_constant_must_match_its_value():
    value = np.zeros(2, np.float64)
    value.setflags(write=False)
    bad = forge(prims.get("constant"), (), {"value": value}, dtype=F32)
    with pytest.raises(VerifyError, match="dtype float32 but the rules give float64"):
        verify([bad])
