"""tf.Print and tf.print: what they print, when, where to, and how values are formatted (TF's
Tensor::SummarizeValue, v1 for tf.Print and v2 for tf.print)."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

import graphc as tf
from graphc.ops.print_ops import Print, format_v1, format_v2, print_


def test_print_is_an_identity_that_prints_after_the_run(capsys, target):
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


def test_prints_inside_control_flow_are_refused():
    with pytest.raises(tf.errors.UnimplementedError,
                       match=r"tf.Print inside a tf.cond branch or a tf.while_loop body \(at "
                             r"test_print_ops.py:\d+\) is not supported"):
        tf.while_loop(lambda i: i < 3, lambda i: Print(i, [i]) + 1, [0])
    x = tf.constant(1.0)
    with pytest.raises(tf.errors.UnimplementedError, match=r"tf.print inside a tf.cond"):
        tf.cond(x > 0, lambda: tf.identity(x, name="t") if print_(x) else x, lambda: x)


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
