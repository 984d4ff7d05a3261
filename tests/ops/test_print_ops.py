"""tf.Print and tf.print: what they print, when, where to, and how values are formatted (TF's
Tensor::SummarizeValue, v1 for tf.Print and v2 for tf.print)."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

import graphc as tf
from graphc.ops.print_ops import Print, print_
from graphc.runtime.printing import format_v1, format_v2


def test_print_is_an_identity_that_prints_when_computed(capsys, target):
    x = tf.placeholder(tf.float32, [None], name="x")
    y = Print(x, [x, tf.reduce_sum(x)], "x and sum: ")
    z = y * 2.0
    with tf.Session(target) as sess:
        np.testing.assert_array_equal(sess.run(z, {x: [1.0, 2.5, 3.0, 4.0]}), [2, 5, 6, 8])
        sess.run(x * 3.0, {x: [1.0]})  # does not compute the Print: nothing printed
    assert capsys.readouterr().err == "x and sum: [1 2.5 3...][10.5]\n"
    assert y.name == "Print:0"


def test_first_n_counts_runs_per_session(capsys):
    x = tf.placeholder(tf.int32, [])
    y = Print(x, [x], first_n=2, summarize=-1) + 0
    for _ in range(2):
        with tf.Session() as sess:
            for i in range(3):
                sess.run(y, {x: i})
    assert capsys.readouterr().err == "[0]\n[1]\n[0]\n[1]\n"


def test_two_prints_of_one_tensor_both_print(capsys):
    x = tf.constant([1, 2])
    a, b = Print(x, [x], "a"), Print(x, [x], "b")
    assert a.node is not b.node
    with tf.Session() as sess:
        sess.run([a, b])
    assert capsys.readouterr().err == "a[1 2]\nb[1 2]\n"


def test_print_v2_to_streams_and_files(capsys, tmp_path):
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    to_out = print_("x:", x, {"sum": tf.reduce_sum(x)}, ["s", 1], output_stream=sys.stdout)
    path = tmp_path / "log.txt"
    to_file = print_(tf.constant(7), sep=",", end=";", output_stream=f"file://{path}")
    to_err = print_("a", "b", sep="-")
    with tf.Session() as sess:
        assert sess.run(to_out) is None
        sess.run([to_file, to_err])
        sess.run(to_file)
    captured = capsys.readouterr()
    assert captured.out == "x: [[1 2]\n [3 4]] {'sum': 10} ['s', 1]\n"
    assert captured.err == "a-b\n"
    assert path.read_text() == "7;7;"
    assert to_out.name == "PrintV2" and to_file.name == "PrintV2_1"


def test_print_v2_to_a_logging_function(caplog):
    with caplog.at_level(logging.INFO, logger="graphc-test"):
        op = print_("value", tf.constant(3), output_stream=logging.getLogger(
            "graphc-test").info)
        with tf.Session() as sess:
            sess.run(op)
    assert [r.getMessage() for r in caplog.records] == ["value 3"]


def test_print_runs_as_a_control_dependency(capsys):
    x = tf.placeholder(tf.float32, [2])
    op = print_("x =", x)
    with tf.control_dependencies([op]):
        y = tf.identity(x * 2.0)
    step = tf.group(print_("in group"))
    with tf.Session() as sess:
        sess.run(y, {x: [1.0, 2.0]})
        sess.run(step)
        sess.run(x * 3.0, {x: [1.0, 2.0]})
    assert capsys.readouterr().err == "x = [1 2]\nin group\n"


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments for tf.print: "
                                         r"\['stream'\] \(at test_print_ops.py:\d+\)"):
        print_("a", stream=sys.stdout)
    with pytest.raises(ValueError, match=r"output_stream must be sys.stdout, sys.stderr, a "
                                         r"'file://path' string or a logging function, got "
                                         r"'out.txt'"):
        print_("a", output_stream="out.txt")
    with pytest.raises(TypeError, match=r"tf.Print's data must be a list of tensors"):
        Print(tf.constant(1), tf.constant(2))


def test_prints_in_a_loop_body_print_each_iteration_in_order(capsys, target):
    x = tf.placeholder(tf.float32, [2])

    def body(i, acc):
        shown = print_("step", i, acc)
        with tf.control_dependencies([shown]):
            doubled = tf.identity(acc * 2.0)
        return i + 1, Print(doubled, [i, doubled], "after: ")
    _, out = tf.while_loop(lambda i, a: i < 3, body, [0, x], maximum_iterations=3)
    grad = tf.gradients(tf.reduce_sum(out), x)[0]
    with tf.Session(target) as sess:
        print_("before the loop")  # not run: nothing printed
        values = sess.run([out, grad], {x: [1.0, 0.5]})
    np.testing.assert_array_equal(values[0], [8.0, 4.0])
    np.testing.assert_array_equal(values[1], [8.0, 8.0])
    # once per iteration of the forward loop; the backward loop prints nothing
    assert capsys.readouterr().err == (
        "step 0 [1 0.5]\nafter: [0][2 1]\nstep 1 [2 1]\nafter: [1][4 2]\n"
        "step 2 [4 2]\nafter: [2][8 4]\n")


def test_prints_in_branches_print_only_when_taken(capsys, target):
    x = tf.placeholder(tf.float32, [])

    def loud(name, value):
        with tf.control_dependencies([print_(name, value)]):
            return tf.identity(value)
    y = tf.cond(x > 0, lambda: loud("then", x * 2.0), lambda: loud("else", x - 1.0))
    grad = tf.gradients(y, x)[0]
    with tf.Session(target) as sess:
        assert sess.run([y, grad], {x: 3.0}) == [6.0, 2.0]
        assert sess.run(y, {x: -3.0}) == -4.0
    assert capsys.readouterr().err == "then 6\nelse -4\n"


def test_nested_prints_print_once_per_forward_step(capsys, target):
    x = tf.placeholder(tf.float32, [2])

    def loud(tag, value):
        with tf.control_dependencies([print_(tag, value)]):
            return tf.identity(value)

    def body(i, h):  # a cond inside a loop body
        return i + 1, tf.cond(tf.equal(i % 2, 1), lambda: loud("odd", h * 0.5),
                              lambda: loud("even", h + 1.0))

    def inner():  # a loop inside a branch
        return tf.while_loop(lambda i, h: i < 2, lambda i, h: (i + 1, loud("in", h * 2.0)),
                             [0, x], maximum_iterations=2)[1]
    _, a = tf.while_loop(lambda i, h: i < 3, body, [0, x], maximum_iterations=3)
    b = tf.cond(tf.reduce_sum(x) > 0, inner, lambda: x)
    grads = tf.gradients(tf.reduce_sum(a) + tf.reduce_sum(b), x)[0]
    with tf.Session(target) as sess:
        values = sess.run([a, b, grads], {x: [1.0, 2.0]})
    np.testing.assert_array_equal(values[0], [2.0, 2.5])
    np.testing.assert_array_equal(values[1], [4.0, 8.0])
    np.testing.assert_array_equal(values[2], [4.5, 4.5])
    text = capsys.readouterr().err
    assert sorted(text.splitlines()) == sorted(
        ["even [2 3]", "odd [1 1.5]", "even [2 2.5]", "in [2 4]", "in [4 8]"])
    assert text.index("even [2 3]") < text.index("odd [1 1.5]") < text.index("even [2 2.5]")
    assert text.index("in [2 4]") < text.index("in [4 8]")


def test_prints_before_a_failure_are_written(capsys, target):
    x = tf.placeholder(tf.float32, [2])
    shown = print_("checking", x)
    with tf.control_dependencies([shown]):
        checked = tf.debugging.assert_positive(x, message="x must be positive")
    with tf.control_dependencies([checked]):
        y = print_("passed", x)
    with tf.Session(target) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="x must be positive"):
            sess.run(y, {x: [1.0, -1.0]})
        sess.run(y, {x: [1.0, 2.0]})
    assert capsys.readouterr().err == "checking [1 -1]\nchecking [1 2]\npassed [1 2]\n"


def test_prints_in_a_compiled_callable_print_at_every_call(capsys):
    x = tf.placeholder(tf.float32, [3])
    y = Print(x * 2.0, [tf.reduce_max(x)], "max ", first_n=3) + 1.0
    with tf.Session() as sess:
        call = sess.make_callable(y, [x])
        for i in range(4):
            np.testing.assert_array_equal(call(np.full(3, i, np.float32)), [2 * i + 1] * 3)
    assert capsys.readouterr().err == "max [0]\nmax [1]\nmax [2]\n"


def test_a_print_that_fails_fails_the_run_and_leaves_variables_as_they_were(tmp_path):
    v = tf.Variable(1.0)
    with tf.control_dependencies([print_(v, output_stream=f"file://{tmp_path}/no/such/dir")]):
        step = tf.assign_add(v, 1.0)
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(FileNotFoundError, match="no/such/dir"):
            sess.run(step)
        assert sess.run(v) == 1.0


@pytest.mark.parametrize("value, limit, expected", [
    (np.float32(2.5), 3, "2.5"),
    (np.arange(5), 3, "0 1 2..."),
    (np.arange(4).reshape(2, 2), 3, "[0 1][2...]..."),
    (np.arange(4).reshape(2, 2), -1, "[0 1][2 3]"),
    (np.array([True, False]), 3, "1 0"),
    (np.float32([0.1, 1e20, 123456789.0, np.nan]), -1, "0.1 1e+20 123456792 nan"),
    (np.float64([0.1, 1 / 3]), -1, "0.1 0.33333333333333331"),
])
def test_format_v1(value, limit, expected):
    assert format_v1(value, limit) == expected


@pytest.mark.parametrize("value, limit, expected", [
    (np.int32(4), 3, "4"),
    (np.arange(10), 3, "[0 1 2 ... 7 8 9]"),
    (np.arange(6), 3, "[0 1 2 3 4 5]"),
    (np.arange(10), -1, "[0 1 2 3 4 5 6 7 8 9]"),
    (np.arange(8).reshape(2, 2, 2), 3, "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"),
    (np.arange(12).reshape(4, 3), 1, "[[0 ... 2]\n ...\n [9 ... 11]]"),
])
def test_format_v2(value, limit, expected):
    assert format_v2(value, limit) == expected


def test_exports_onnx_without_prints_and_refuse_them_ahead_of_time(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from graphc.aot.export import ExportError, export
    from graphc.onnx import export as onnx_export
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = Print(x * 2.0, [x], "x is ", name="y")
    onnx_export(y, x, tmp_path / "m.onnx")
    nodes = onnx.load(str(tmp_path / "m.onnx")).graph.node
    assert [n.op_type for n in nodes] == ["Mul", "Identity", "Identity"]
    with pytest.raises(ExportError, match=r"'y/print' \(print created at test_print_ops.py:\d+\)"
                                          r" prints from Python, which an exported library "
                                          r"does not have"):
        export(y, x, tmp_path / "aot", batch_size=2)
    assert capsys.readouterr().err == ""


def test_a_stream_object_unknown_to_this_process_is_stderr():
    from graphc.runtime.printing import stream_name, stream_of
    log = [].append  # (one bound method object, kept)
    assert stream_of(stream_name(log)) is log
    assert stream_name(log) == stream_name(log)  # one name per object
    assert stream_of("object:0123abcd:0") == "stderr"  # another process's (a loaded graph)
    assert stream_of("file:///tmp/x") == "file:///tmp/x"
