"""The text form of L1: one node a line, exact format."""

from __future__ import annotations

import inspect

import numpy as np

import graphc as tf
from graphc.ir import dtypes
from graphc.ir.printer import format_graph, format_node, format_nodes, format_type

HERE = "test_printer.py"


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment `# @marker`."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.endswith(f"# @{marker}")]
    return number


def build_small_graph():
    """A graph with a source, state, math, a scope, a big constant, an unknown rank and an
    effect-only node."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, shape=[None, 3], name="x")  # @x
        init = np.ones((3, 2), np.float32)
        w_init, _ = g.create("constant", (), {"value": init}, "w/init")  # @w
        w, _ = g.create("variable", (), {"dtype": tf.float32, "shape": (3, 2)}, "w")  # @var
        g.create("assign", (w, w_init), {"mode": "set"}, "w/Assign")  # @assign
        w_read, _ = g.create("read", (w,), None, "w/read")  # @read
        w_t = tf.Tensor(w_read, g, "w/read")
        y = tf.matmul(x, w_t, name="y")  # @y
        with tf.name_scope("stats"):
            s = tf.reduce_sum(y, axis=1, keepdims=True)  # @s
            table = np.arange(12, dtype=np.int64).reshape(3, 4)
            tf.constant(table, name="table")  # @table
        u = tf.placeholder(tf.int32, name="u")  # @u
        tf.cast(u, tf.float32)  # @cast
        with tf.control_dependencies([s]):
            done = tf.no_op(name="done")  # @done
    return g, (x, y, s, done)


def test_graph_text_is_exact():
    g, _ = build_small_graph()
    at = {k: line_of(k) for k in ("x", "w", "var", "assign", "read", "y", "s", "table", "u",
                                  "cast", "done")}
    expected = f"""\
graph: 11 nodes
%0 = placeholder() dtype=float32 shape=(?, 3) f32[?,3]  x  # {HERE}:{at["x"]}
%1 = constant() value=[[1.,1.], [1.,1.], [1.,1.]] f32[3,2]  w/init  # {HERE}:{at["w"]}
%2 = variable() dtype=float32 shape=(3, 2)   f32[3,2]  w  # {HERE}:{at["var"]}
%3 = assign(%2, %1) mode=set                 f32[3,2]  w/Assign  # {HERE}:{at["assign"]}
%4 = read(%2)                                f32[3,2]  w/read  # {HERE}:{at["read"]}
%5 = matmul(%0, %4)                          f32[?,2]  y  # {HERE}:{at["y"]}
%6 = reduce_sum(%5) axes=(1) keepdims=True   f32[?,1]  stats/Sum  # {HERE}:{at["s"]}
%7 = constant() value=<12 values>            i64[3,4]  stats/table  # {HERE}:{at["table"]}
%8 = placeholder() dtype=int32 shape=<unknown rank> i32[*]  u  # {HERE}:{at["u"]}
%9 = cast(%8) dtype=float32                  f32[*]  Cast  # {HERE}:{at["cast"]}
%10 = no_op() after %6                       ()  done  # {HERE}:{at["done"]}"""
    assert str(g) == expected
    assert format_graph(g) == expected


def test_locations_are_this_file():
    g, (x, _, _, done) = build_small_graph()
    assert x.location == f"{HERE}:{line_of('x')}"
    assert g.info(done.node).location == f"{HERE}:{line_of('done')}"


def test_format_nodes_without_a_graph_has_no_names():
    _, (_, _, _, done) = build_small_graph()
    assert format_nodes([done.node]) == """\
%0 = placeholder() dtype=float32 shape=(?, 3) f32[?,3]
%1 = variable() dtype=float32 shape=(3, 2)   f32[3,2]
%2 = read(%1)                                f32[3,2]
%3 = matmul(%0, %2)                          f32[?,2]
%4 = reduce_sum(%3) axes=(1) keepdims=True   f32[?,1]
%5 = no_op() after %4                        ()"""


def test_format_nodes_numbers_only_the_subgraph():
    g, (_, y, _, _) = build_small_graph()
    text = format_nodes([y.node], g)
    assert text.splitlines()[-1] == \
        f"%3 = matmul(%0, %2)                          f32[?,2]  y  # {HERE}:{line_of('y')}"
    assert len(text.splitlines()) == 4


def test_small_constants_print_values_and_uid_is_hidden():
    a = tf.constant([1, 2, 3], name="a")
    b = tf.constant(np.zeros((3, 3), np.float32), name="b")
    p = tf.placeholder(tf.bool, [], name="p")
    ids = {a.node: 0, b.node: 1, p.node: 2}
    assert format_node(a.node, ids).startswith("%0 = constant() value=[1,2,3] ")
    assert format_node(b.node, ids).startswith("%1 = constant() value=<9 values> ")
    text = format_node(p.node, ids)
    assert "uid" not in text
    assert text.endswith(" bool[]")


def test_format_type():
    assert format_type(tf.placeholder(tf.float16, [None, 2]).node) == "f16[?,2]"
    assert format_type(tf.placeholder(tf.int64, []).node) == "i64[]"
    assert format_type(tf.placeholder(dtypes.float64).node) == "f64[*]"
    assert format_type(tf.no_op().node) == "()"


def test_empty_graph():
    assert str(tf.Graph()) == "graph: 0 nodes"
