"""The Graph: unique names, name scopes, control dependencies, lookups, collections, the
user's file:line, and the stack of default graphs."""

from __future__ import annotations

import inspect
import threading

import pytest

import graphc as tf
from graphc.errors import ShapeError

HERE = "test_graph.py"


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment `# @marker`."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(f"# @{marker}")]
    return number


def names(tensors) -> list:
    return [t.name for t in tensors]


# --- unique names ---------------------------------------------------------------------------
def test_repeated_names_get_suffixes():
    x = tf.placeholder(tf.float32, [2], name="x")
    assert names([tf.add(x, 1.0), tf.add(x, 2.0), tf.add(x, 3.0)]) == \
        ["add:0", "add_1:0", "add_2:0"]
    assert names([tf.identity(x, name="y"), tf.identity(x, name="y")]) == ["y:0", "y_1:0"]


def test_suffixes_skip_names_taken_explicitly():
    x = tf.placeholder(tf.float32, [2], name="x")
    assert tf.identity(x, name="add_1").name == "add_1:0"
    assert names([tf.add(x, 1.0), tf.add(x, 2.0)]) == ["add:0", "add_2:0"]
    assert tf.identity(x, name="add_1").name == "add_1_1:0"


def test_names_are_unique_ignoring_case():
    x = tf.placeholder(tf.float32, [2], name="x")
    assert tf.identity(x, name="Foo").name == "Foo:0"
    assert tf.identity(x, name="foo").name == "foo_1:0"


def test_equal_nodes_keep_their_first_name_in_the_graph():
    g = tf.get_default_graph()
    a = tf.constant(3.0, name="three")
    b = tf.constant(3.0, name="drei")
    assert a.node is b.node and b.name == "drei:0"
    assert g.info(b.node).name == "three"
    assert g.get_tensor_by_name("drei:0").node is a.node


# --- name scopes ----------------------------------------------------------------------------
def test_name_scopes_nest():
    with tf.name_scope("outer") as outer:
        with tf.name_scope("inner") as inner:
            c = tf.constant(1.0)
        d = tf.constant(2.0)
    assert (outer, inner) == ("outer/", "outer/inner/")
    assert names([c, d]) == ["outer/inner/Const:0", "outer/Const:0"]
    assert tf.constant(3.0).name == "Const:0"


def test_reusing_a_scope_name_makes_a_new_scope():
    with tf.name_scope("layer") as first:
        a = tf.constant(1.0)
    with tf.name_scope("layer") as second:
        b = tf.constant(1.5)
    with tf.name_scope("layer") as third:
        pass
    assert (first, second, third) == ("layer/", "layer_1/", "layer_2/")
    assert names([a, b]) == ["layer/Const:0", "layer_1/Const:0"]


def test_a_trailing_slash_reenters_a_scope():
    with tf.name_scope("block") as scope:
        a = tf.constant(1.0)
    with tf.name_scope(scope) as again:
        b = tf.constant(2.0)
    assert again == "block/"
    assert names([a, b]) == ["block/Const:0", "block/Const_1:0"]
    with tf.name_scope("block") as fresh:  # a new one is still unique
        pass
    assert fresh == "block_1/"


def test_none_or_empty_scope_returns_to_the_root():
    with tf.name_scope("a"):
        with tf.name_scope(None) as root:
            c = tf.constant(1.0, name="c")
        with tf.name_scope("") as root2:
            d = tf.constant(2.0, name="d")
    assert (root, root2) == ("", "")
    assert names([c, d]) == ["c:0", "d:0"]


def test_scope_names_and_op_names_share_one_namespace():
    x = tf.identity(tf.constant(1.0), name="net")
    with tf.name_scope("net") as scope:
        y = tf.constant(2.0)
    assert x.name == "net:0"
    assert scope == "net_1/" and y.name == "net_1/Const:0"


def test_graph_name_scope_and_current_scope():
    g = tf.get_default_graph()
    assert g.current_scope == ""
    with g.name_scope("a"):
        with g.name_scope("b"):
            assert g.current_scope == "a/b"
        assert g.current_scope == "a"
    assert g.current_scope == ""


def test_variable_scope_prefixes_names():
    with tf.variable_scope("model"):
        v = tf.get_variable("w", [2], initializer=tf.zeros_initializer())
        c = tf.constant(1.0)
    assert v.name == "model/w:0"
    assert c.name == "model/Const:0"


def test_variable_handle_op_has_the_variable_name():
    g = tf.get_default_graph()
    v = tf.Variable(1.0, name="w")
    assert v.name == "w:0" and v.op.name == "w"
    assert g.info(v.handle.node).name == "w"
    assert g.get_operation_by_name("w").node is v.handle.node
    assert tf.Variable(2.0, name="w_1").name == "w_1:0"


# --- control dependencies -------------------------------------------------------------------
def control_names(t) -> list:
    return [op.name for op in t.op.control_inputs]


def test_control_dependencies_stack():
    x = tf.placeholder(tf.float32, [2], name="x")
    a, b, c = (tf.add(x, float(i), name=n) for i, n in enumerate("abc"))
    with tf.control_dependencies([a]):
        in_a = tf.identity(x, name="in_a")
        with tf.control_dependencies([b, a]):
            in_ab = tf.identity(x, name="in_ab")
            with tf.control_dependencies(None):
                cleared = tf.identity(x, name="cleared")
                with tf.control_dependencies([c]):
                    only_c = tf.identity(x, name="only_c")
        back_to_a = tf.identity(x, name="back")
    outside = tf.identity(x, name="outside")
    assert control_names(in_a) == ["a"]
    assert control_names(in_ab) == ["a", "b"]  # outer first, repeats dropped
    assert control_names(cleared) == []
    assert control_names(only_c) == ["c"]
    assert control_names(back_to_a) == ["a"]
    assert control_names(outside) == []


def test_control_dependencies_change_node_identity():
    x = tf.placeholder(tf.float32, [2])
    plain = tf.identity(x)
    with tf.control_dependencies([plain]):
        after = tf.identity(x)
    assert after.node is not plain.node
    assert after.node.deps == (plain.node,)


def test_control_dependencies_accept_ops_tensors_and_variables():
    v = tf.Variable(1.0, name="v")
    x = tf.constant(2.0)
    noop = tf.no_op(name="noop")
    with tf.control_dependencies([v.initializer, x, noop, [v]]):
        y = tf.identity(x)
    assert y.node.deps == (v.initializer.node, x.node, noop.node, v.handle.node)
    with pytest.raises(TypeError, match="can only depend on"):
        tf.control_dependencies([1.0])


def test_control_dependencies_on_another_graph_are_refused():
    other = tf.Graph()
    with other.as_default():
        foreign = tf.constant(123.0)
    with pytest.raises(ValueError), tf.control_dependencies([foreign]):
        tf.constant(1.0)


# --- lookups --------------------------------------------------------------------------------
def test_get_tensor_and_operation_by_name():
    g = tf.get_default_graph()
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.name_scope("s"):
        y = tf.add(x, 1.0, name="y")
    done = tf.no_op(name="done")
    assert g.get_tensor_by_name("s/y:0").node is y.node
    assert g.get_tensor_by_name("s/y:0").name == "s/y:0"
    op = g.get_operation_by_name("s/y")
    assert (op.name, op.type) == ("s/y", "add") and op == y.op
    assert g.get_operation_by_name("done") == done
    assert names(op.outputs) == ["s/y:0"]
    assert names(op.inputs) == ["x:0", "s/Const:0"]


@pytest.mark.parametrize("name, message", [
    ("nope:0", (r"The name 'nope:0' refers to a Tensor which does not exist\. The operation, "
                r"'nope', does not exist in the graph\.")),
    ("x", r"looks like an \(invalid\) Operation name, not a Tensor"),
    ("x:1", r"The operation, 'x', exists but only has 1 output\."),
    ("done:0", r"The operation, 'done', exists but only has 0 outputs\."),
])
def test_get_tensor_by_name_errors(name, message):
    g = tf.get_default_graph()
    tf.placeholder(tf.float32, [2], name="x")
    tf.no_op(name="done")
    with pytest.raises(KeyError, match=message):
        g.get_tensor_by_name(name)


def test_get_operation_by_name_error():
    with pytest.raises(KeyError, match="'nope' refers to an Operation not in the graph"):
        tf.get_default_graph().get_operation_by_name("nope")


def test_get_operations_in_creation_order():
    x = tf.placeholder(tf.float32, [2], name="x")
    tf.identity(x, name="y")
    tf.no_op(name="z")
    ops = tf.get_default_graph().get_operations()
    assert [(op.name, op.type) for op in ops] == [("x", "placeholder"), ("y", "identity"),
                                                  ("z", "no_op")]


def test_graph_nodes_and_describe():
    g = tf.get_default_graph()
    x = tf.placeholder(tf.float32, [2], name="x")  # @describe
    y = tf.negative(x, name="y")
    assert g.nodes == [x.node, y.node]
    assert g.node_by_name("y") is y.node and g.node_by_name("nope") is None
    assert g.describe(x.node) == f"'x' (placeholder created at {HERE}:{line_of('describe')})"
    assert tf.Graph().describe(x.node) == "a placeholder node"


# --- collections ----------------------------------------------------------------------------
def test_collections():
    g = tf.get_default_graph()
    x = tf.constant(1.0, name="x")
    with tf.name_scope("s"):
        y = tf.constant(2.0, name="y")
    tf.add_to_collection("things", x)
    g.add_to_collection("things", y)
    assert tf.get_collection("things") == [x, y]
    assert tf.get_collection("things", scope="s") == [y]
    assert tf.get_collection("missing") == []
    copy = tf.get_collection("things")
    copy.append("ignored")
    assert tf.get_collection("things") == [x, y]
    ref = tf.get_collection_ref("things")
    ref.append("kept")
    assert tf.get_collection("things") == [x, y, "kept"]
    assert tf.Graph().get_collection("things") == []


def test_variables_land_in_their_collections():
    v = tf.Variable(1.0, name="v")
    frozen = tf.Variable(2.0, trainable=False, name="frozen")
    local = tf.Variable(3.0, collections=[tf.GraphKeys.LOCAL_VARIABLES], name="local")
    assert tf.global_variables() == [v, frozen]
    assert tf.trainable_variables() == [v, local]  # TF1 adds trainables to the trainable list
    assert tf.local_variables() == [local]
    assert tf.get_collection(tf.GraphKeys.GLOBAL_VARIABLES) == [v, frozen]


# --- the user's file:line -------------------------------------------------------------------
def test_locations_point_at_the_users_line():
    x = tf.placeholder(tf.float32, [None, 3], name="x")  # @placeholder
    p = tf.nn.softmax(x)  # @softmax
    assert x.location == f"{HERE}:{line_of('placeholder')}"
    assert p.location == f"{HERE}:{line_of('softmax')}"
    g = tf.get_default_graph()
    # every node that softmax composes is attributed to the user's line, not to graphc
    softmax_nodes = [n for n in g.nodes if n is not x.node]
    assert len(softmax_nodes) > 3
    assert {g.info(n).location for n in softmax_nodes} == {f"{HERE}:{line_of('softmax')}"}


def test_build_errors_name_the_op_and_the_users_line():
    a, b = tf.zeros([2, 3]), tf.zeros([4, 5])
    with pytest.raises(ShapeError) as info:
        tf.add(a, b, name="bad_sum")  # @bad_sum
    assert str(info.value) == (f"add: cannot broadcast shapes (2, 3) and (4, 5) (op 'bad_sum' "
                               f"at {HERE}:{line_of('bad_sum')})")
    with tf.name_scope("layer"), pytest.raises(ValueError,
                                              match=rf"\(op 'layer/MatMul' at {HERE}:\d+\)"):
        tf.matmul(a, b)


def test_inputs_from_two_graphs_are_refused():
    x = tf.constant(1.0)
    with tf.Graph().as_default():
        y = tf.constant(2.0)
    with pytest.raises(ValueError, match="must be from the same graph"):
        tf.add(x, y)


# --- default graphs -------------------------------------------------------------------------
def test_as_default_nests_and_restores():
    base = tf.get_default_graph()
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default() as entered:
        assert entered is g1 and tf.get_default_graph() is g1
        with g2.as_default():
            assert tf.get_default_graph() is g2
            c = tf.constant(1.0)
        assert tf.get_default_graph() is g1
    assert tf.get_default_graph() is base
    assert c.graph is g2 and g2.nodes == [c.node] and g1.nodes == []


def test_as_default_restores_after_an_exception():
    base = tf.get_default_graph()
    with pytest.raises(RuntimeError), tf.Graph().as_default():
        raise RuntimeError("boom")
    assert tf.get_default_graph() is base


def test_reset_default_graph():
    before = tf.get_default_graph()
    tf.constant(1.0)
    tf.reset_default_graph()
    after = tf.get_default_graph()
    assert after is not before and after.nodes == []


def test_reset_default_graph_inside_as_default_raises():
    with tf.Graph().as_default(), pytest.raises(AssertionError,
                                                match="Do not use tf.reset_default_graph"):
        tf.reset_default_graph()


def test_default_graph_stack_is_per_thread():
    g = tf.Graph()
    seen = []
    with g.as_default():
        thread = threading.Thread(target=lambda: seen.append(tf.get_default_graph()))
        thread.start()
        thread.join()
    assert seen and seen[0] is not g


def test_same_constant_in_two_graphs_is_one_node_named_in_each():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant([1.0, 2.0], name="a")
    with g2.as_default():
        b = tf.constant([1.0, 2.0], name="b")
    assert a.node is b.node
    assert g1.info(a.node).name == "a" and g2.info(b.node).name == "b"


def test_finalized_graph_refuses_new_nodes():
    g = tf.Graph()
    with g.as_default():
        tf.constant(1.0)
        g.finalize()
        assert g.finalized
        with pytest.raises(RuntimeError, match="finalized"):
            tf.constant(2.0)
