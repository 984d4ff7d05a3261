"""Neighbouring elementwise kernels over the same loops run as one kernel
(graphc/compiler/siblings.py): values against numpy, the kernels' names, and the cases that
must stay apart (a reader at another index, more than MAX_STORES stores)."""

import numpy as np
import pytest
from conftest import llvm_plan

import graphc as tf
from graphc.compiler.siblings import MAX_STORES

RNG = np.random.default_rng(17)


def _names(fetches, feeds, threads=1):
    names, _ = llvm_plan(fetches, feeds, threads=threads, rtol=2e-6, atol=1e-6)
    return names


@pytest.mark.parametrize("threads", [1, 2])
def test_independent_elementwise_kernels_are_one(threads):
    x = tf.placeholder(tf.float32, [64, 130])
    value = RNG.standard_normal((64, 130)).astype(np.float32)
    fetches = [tf.sigmoid(x), tf.tanh(x) * 2.0, tf.exp(x) + x]
    assert _names(fetches, {x: value}, threads) == ["k_sigmoid_mul_add"]
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        a, b, c = sess.run(fetches, {x: value})
    np.testing.assert_allclose(a, 1 / (1 + np.exp(-value)), rtol=2e-6)
    np.testing.assert_allclose(b, np.tanh(value) * 2, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(c, np.exp(value) + value, rtol=2e-6, atol=1e-6)


def test_a_reader_of_the_element_just_stored_joins_its_writer():
    x = tf.placeholder(tf.float32, [5, 7])
    y = tf.exp(x)  # fetched, so stored; read by the next kernel at the same element
    z = tf.sin(y) * y
    value = RNG.standard_normal((5, 7)).astype(np.float32)
    assert _names([y, z], {x: value}) == ["k_exp_mul"]


def test_a_reader_at_other_indices_stays_apart():
    x = tf.placeholder(tf.float32, [6, 9])
    y = tf.exp(x)
    z = tf.reverse(y, [1]) + 1.0  # reads y's row backwards
    value = RNG.standard_normal((6, 9)).astype(np.float32)
    names = _names([y, z], {x: value})
    assert len(names) == 2, names
    with tf.Session() as sess:
        got = sess.run(z, {x: value})
    np.testing.assert_allclose(got, np.exp(value)[:, ::-1] + 1, rtol=2e-6)


def test_at_most_max_stores_stores_in_one_kernel():
    x = tf.placeholder(tf.float32, [4, 8])
    fetches = [tf.sin(x + float(i)) for i in range(MAX_STORES + 3)]
    value = RNG.standard_normal((4, 8)).astype(np.float32)
    assert len(_names(fetches, {x: value})) == 2
    with tf.Session() as sess:
        got = sess.run(fetches, {x: value})
    for i, g in enumerate(got):
        np.testing.assert_allclose(g, np.sin(value + np.float32(i)), rtol=2e-6, atol=1e-7)


def test_an_assignment_after_a_read_of_its_variable_stays_apart():
    """The second kernel writes what the first reads: not merged (it would be right at the
    same element, but merging only allows the other direction)."""
    v = tf.Variable(np.arange(12, dtype=np.float32).reshape(3, 4))
    read = tf.sin(v) * 2.0
    with tf.control_dependencies([read]):
        update = tf.assign(v, tf.cos(v) + 1.0)
    with tf.Session() as sess:
        sess.run(v.initializer)
        got, after = sess.run([read, update])
        plan = list(sess._executor._plans.values())[-1]
        assert [k.name for k in plan.kernels] == ["k_mul", "k_assign"]  # v's own array
    start = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(got, np.sin(start) * 2, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(after, np.cos(start) + 1, rtol=2e-6, atol=1e-6)


def test_explain_lists_each_merged_op_and_the_value_kept_between_them():
    x = tf.placeholder(tf.float32, [5, 7])
    y = tf.exp(x, name="y")
    z = tf.sin(y, name="z")
    report = tf.explain([y, z], {x: np.ones((5, 7), np.float32)})
    lines = report.splitlines()
    at = next(i for i, line in enumerate(lines) if "k_exp_sin" in line)
    assert "y " in lines[at + 1] and "z " in lines[at + 2], lines[at:at + 3]
    assert "  #0   -> #0   y (exp): fetched: its value is returned" in lines
