"""L1 nodes: interning (equal structure is the same object), attribute keys, stateful nodes,
immutability, and topo_sort (order, determinism, deep graphs)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import graphc as tf
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import Node, freeze, make_node, replace_inputs, topo_sort
from graphc.ir.printer import format_nodes
from graphc.ir.verify import verify


def const(value, dtype=None) -> Node:
    arr = np.asarray(value, dtype=None if dtype is None else dtypes.as_dtype(dtype).np)
    return make_node(prims.get("constant"), (), {"value": arr})


def placeholder(dtype=dtypes.float32, shape=(2,)) -> Node:
    return make_node(prims.get("placeholder"), (), {"dtype": dtype, "shape": shape})


def binary(op: str, a: Node, b: Node, deps=()) -> Node:
    return make_node(prims.get(op), (a, b), deps=deps)


# --- interning ------------------------------------------------------------------------------
def test_equal_structure_is_the_same_object():
    x = placeholder()
    one = const(np.float32(1.0))
    assert const(np.float32(1.0)) is one
    assert binary("add", x, one) is binary("add", x, one)
    assert make_node(prims.get("neg"), (binary("add", x, one),)) is \
        make_node(prims.get("neg"), (binary("add", x, one),))


def test_different_op_inputs_or_order_give_different_nodes():
    x, y = placeholder(), placeholder()
    assert binary("add", x, y) is not binary("sub", x, y)
    assert binary("add", x, y) is not binary("add", y, x)  # no commutativity in interning
    assert binary("add", x, x) is not binary("add", x, y)


def test_different_attrs_give_different_nodes():
    x = placeholder(shape=(2, 3))
    reduce_sum = prims.get("reduce_sum")
    a = make_node(reduce_sum, (x,), {"axes": (0,), "keepdims": False})
    assert make_node(reduce_sum, (x,), {"axes": (0,), "keepdims": False}) is a
    assert make_node(reduce_sum, (x,), {"axes": (1,), "keepdims": False}) is not a
    assert make_node(reduce_sum, (x,), {"axes": (0,), "keepdims": True}) is not a
    # attribute order in the dict does not matter; lists are normalized to tuples
    assert make_node(reduce_sum, (x,), {"keepdims": False, "axes": [0]}) is a


def test_different_deps_give_different_nodes():
    x = placeholder()
    first, second = placeholder(), placeholder()
    plain = make_node(prims.get("neg"), (x,))
    after = make_node(prims.get("neg"), (x,), deps=(first,))
    assert after is not plain
    assert after.deps == (first,)
    assert make_node(prims.get("neg"), (x,), deps=(first,)) is after
    assert make_node(prims.get("neg"), (x,), deps=(second,)) is not after
    # repeated deps are dropped
    assert make_node(prims.get("neg"), (x,), deps=(first, first)) is after


def test_float_attrs_are_keyed_by_their_bits():
    x = placeholder()

    def pad(value):
        return make_node(prims.get("pad"), (x,), {"paddings": ((1, 1),), "mode": "CONSTANT",
                                                  "constant_value": value})

    assert pad(0.0) is not pad(-0.0)
    assert pad(float("nan")) is pad(float("nan"))
    assert pad(np.float64(1.5)) is pad(1.5)  # numpy scalars normalize to Python floats
    assert freeze(0.0) != freeze(-0.0)
    assert freeze(float("nan")) == freeze(float("nan"))


def test_bool_attrs_are_not_ints():
    x = placeholder(shape=(2, 3))
    reduce_sum = prims.get("reduce_sum")
    as_bool = make_node(reduce_sum, (x,), {"axes": (0,), "keepdims": True})
    as_int = make_node(reduce_sum, (x,), {"axes": (0,), "keepdims": 1})
    assert as_bool is not as_int
    assert freeze(True) != freeze(1)
    assert freeze(np.int64(3)) == freeze(3)


def test_constants_are_keyed_by_bytes_dtype_and_shape():
    assert const([1.0, 2.0], "float32") is const(np.array([1.0, 2.0], np.float32))
    assert const(0.0, "float32") is not const(-0.0, "float32")
    assert const(np.nan, "float32") is const(np.nan, "float32")
    # same bytes (all zero) but another dtype or shape
    assert const(0, "int32") is not const(0, "float32")
    assert const(np.zeros((2, 1), np.float32)) is not const(np.zeros((1, 2), np.float32))
    assert const(np.zeros(2, np.int32)) is not const(np.zeros((), np.int64))
    assert const([1.0, 2.0], "float32") is not const([1.0, 2.0], "float64")


def test_constant_value_is_a_private_read_only_copy():
    arr = np.array([1.0, 2.0], np.float32)
    node = const(arr)
    arr[0] = 99.0  # the caller's array may change afterwards
    assert node.attrs["value"][0] == 1.0
    assert not node.attrs["value"].flags.writeable
    assert const(np.array([1.0, 2.0], np.float32)) is node


def test_unsupported_attr_values_are_rejected():
    with pytest.raises(TypeError, match="not supported"):
        freeze({"a": 1})


def test_api_merges_equal_pure_ops_but_keeps_both_names():
    x = tf.placeholder(tf.float32, [2], name="x")
    a = tf.add(x, 1.0)
    b = tf.add(x, 1.0)
    assert a.node is b.node
    assert (a.name, b.name) == ("add:0", "add_1:0")


# --- stateful nodes -------------------------------------------------------------------------
def test_stateful_prims_are_never_merged():
    assert placeholder() is not placeholder()
    v = make_node(prims.get("variable"), (), {"dtype": dtypes.float32, "shape": (2,)})
    w = make_node(prims.get("variable"), (), {"dtype": dtypes.float32, "shape": (2,)})
    assert v is not w
    value = const([1.0, 2.0], "float32")
    assign = prims.get("assign")
    assert make_node(assign, (v, value), {"mode": "set"}) is not \
        make_node(assign, (v, value), {"mode": "set"})
    attrs = {"distribution": "uniform", "dtype": dtypes.float32, "shape": (2,), "seed": 1,
             "seed2": 2, "minval": 0.0, "maxval": 1.0}
    assert make_node(prims.get("random"), (), attrs) is not \
        make_node(prims.get("random"), (), attrs)


def test_stateful_nodes_get_distinct_uids():
    nodes = [placeholder() for _ in range(3)]
    uids = [n.attrs["uid"] for n in nodes]
    assert len(set(uids)) == 3
    assert all(n.stateful for n in nodes)


def test_api_stateful_ops_are_never_merged():
    assert tf.placeholder(tf.float32, [2]).node is not tf.placeholder(tf.float32, [2]).node
    v, w = tf.Variable([1.0, 2.0]), tf.Variable([1.0, 2.0])
    assert v.handle.node is not w.handle.node
    tf.set_random_seed(1)
    assert tf.random_uniform([2], seed=3).node is not tf.random_uniform([2], seed=3).node
    assert v.assign([0.0, 0.0]).node is not v.assign([0.0, 0.0]).node
    # the initial values are one constant, interned
    assert v.initial_value.node is w.initial_value.node


def test_replace_inputs_keeps_the_uid():
    v = make_node(prims.get("variable"), (), {"dtype": dtypes.float32, "shape": (2,)})
    assign = make_node(prims.get("assign"), (v, const([1.0, 2.0], "float32")), {"mode": "set"})
    moved = replace_inputs(assign, (v, const([3.0, 4.0], "float32")))
    assert moved is not assign
    assert moved.attrs["uid"] == assign.attrs["uid"]
    assert replace_inputs(assign, assign.inputs) is assign


# --- immutability and serialization ---------------------------------------------------------
def test_nodes_are_immutable():
    node = binary("add", placeholder(), placeholder())
    with pytest.raises(AttributeError, match="immutable"):
        node.shape = (3,)
    with pytest.raises(AttributeError):
        node.extra = 1
    with pytest.raises(TypeError):
        node.attrs["uid"] = 5
    assert isinstance(node.inputs, tuple) and isinstance(node.deps, tuple)


def test_node_attributes_cannot_be_deleted():
    node = binary("add", placeholder(), placeholder())
    with pytest.raises(AttributeError):
        del node.shape
    assert node.shape == (2,)


def test_nodes_are_not_picklable():
    node = const([1.0], "float32")
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(node)
    with pytest.raises(TypeError, match="not picklable"):
        copy.deepcopy(node)


def test_dtypes_pickle_to_the_same_singleton():
    for dt in dtypes.ALL_DTYPES:
        assert pickle.loads(pickle.dumps(dt)) is dt


def test_repr_shows_op_dtype_and_shape():
    x = placeholder(shape=(None, 3))
    assert repr(x).startswith("<Node placeholder f32[?,3] #")
    effect = make_node(prims.get("no_op"), ())
    assert repr(effect).startswith("<Node no_op none[] #")


# --- construction checks --------------------------------------------------------------------
def test_inputs_must_be_nodes():
    with pytest.raises(TypeError, match="add: inputs must be L1 nodes, got ndarray"):
        make_node(prims.get("add"), (placeholder(), np.zeros(2)))


def test_arity_is_checked():
    with pytest.raises(ValueError, match=r"add takes 2 input\(s\), got 1"):
        make_node(prims.get("add"), (placeholder(),))


def test_unknown_rank_inputs_give_unknown_rank_unless_the_op_handles_it():
    x = placeholder(shape=None)
    assert binary("add", x, x).shape is None
    assert make_node(prims.get("neg"), (x,)).shape is None
    assert make_node(prims.get("shape"), (x,), {"out_type": dtypes.int32}).shape == (None,)


# --- topo_sort ------------------------------------------------------------------------------
def _diamond():
    x = placeholder()
    left = make_node(prims.get("neg"), (x,))
    right = make_node(prims.get("abs"), (x,))
    return x, left, right, binary("add", left, right)


def test_topo_sort_puts_producers_first():
    x, left, right, top = _diamond()
    order = topo_sort([top])
    assert order == [x, left, right, top]
    assert len(order) == len(set(order))


def test_topo_sort_includes_deps_and_respects_root_order():
    x, left, right, top = _diamond()
    marker = placeholder()
    after = make_node(prims.get("neg"), (x,), deps=(marker,))
    order = topo_sort([after, top])
    assert order.index(marker) < order.index(after)
    assert order[:3] == [x, marker, after]
    assert topo_sort([right, left]) == [x, right, left]


def test_topo_sort_stop_nodes_are_included_but_not_expanded():
    x, left, right, top = _diamond()
    assert topo_sort([top], stop={left}) == [left, x, right, top]
    assert topo_sort([top], stop={left, right}) == [left, right, top]


def test_topo_sort_is_deterministic():
    def build():
        x, y = placeholder(), placeholder()
        nodes = [x, y]
        for i in range(30):
            a, b = nodes[(7 * i) % len(nodes)], nodes[(3 * i + 1) % len(nodes)]
            nodes.append(binary(("add", "mul", "sub")[i % 3], a, b))
        return nodes

    def signature(nodes):
        index = {n: i for i, n in enumerate(nodes)}
        return [(index[n], n.op.name) for n in topo_sort([nodes[-1], nodes[-5]])]

    first, second = build(), build()  # new placeholders, so no node is shared
    assert not set(first) & set(second)
    assert signature(first) == signature(second)
    assert topo_sort([first[-1], first[-5]]) == topo_sort([first[-1], first[-5]])


DEEP = 5000


def test_deep_chain_has_no_recursion_limit():
    x = placeholder(shape=(2,))
    node = x
    neg = prims.get("neg")
    for _ in range(DEEP):
        node = make_node(neg, (node,))
    order = topo_sort([node])
    assert len(order) == DEEP + 1 and order[0] is x and order[-1] is node
    verify([node])
    assert len(format_nodes([node]).splitlines()) == DEEP + 1


def test_deep_api_chain_builds_prints_and_runs():
    x = tf.placeholder(tf.float32, [])
    y = x
    for _ in range(DEEP):
        y = y + 1.0
    assert len(str(tf.get_default_graph()).splitlines()) > DEEP
    with tf.Session() as sess:
        assert sess.run(y, {x: 0.5}) == DEEP + 0.5


def test_deep_constant_chain_as_a_static_argument():
    n = tf.constant(1)
    for _ in range(DEEP):
        n = n + 0
    assert tf.range(n).shape.as_list() == [1]
