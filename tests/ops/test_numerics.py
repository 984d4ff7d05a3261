"""tf.check_numerics and tf.add_check_numerics_ops, on every target: the identity passes good
values and gradients through, and bad values fail the run in TF's words."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as tf
from graphc.ops.numerics import add_check_numerics_ops, check_numerics


def failure(sess, fetch, feed) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        sess.run(fetch, feed)
    return str(info.value)


def test_check_numerics_passes_good_values_and_names_bad_ones(target):
    x = tf.placeholder(tf.float32, [3], name="x")
    y = check_numerics(tf.log(x), "log of x") * 2.0
    where = r"\(assert created at test_numerics.py:\d+\) failed: log of x : Tensor had"
    with tf.Session(target) as sess:
        np.testing.assert_allclose(sess.run(y, {x: [1.0, 2.0, 4.0]}),
                                   2 * np.log([1.0, 2.0, 4.0]), rtol=1e-6)
        cases = [([1.0, -1.0, 2.0], "nan", "NaN"), ([0.0, 1.0, 2.0], "inf", "Inf"),
                 ([0.0, -1.0, 2.0], "inf_and_nan", "Inf and NaN")]
        for value, check, words in cases:
            text = failure(sess, y, {x: value})
            assert re.fullmatch(f"'CheckNumerics/{check}' {where} {words} values "
                                r"\(check_numerics 'CheckNumerics'\)", text), text


def test_check_numerics_names_and_types():
    x = tf.constant([1.0, 2.0], dtype=tf.float64)
    assert check_numerics(x, "m").name == "CheckNumerics:0"
    assert check_numerics(x, "m", name="guard").name == "guard:0"
    with pytest.raises(TypeError, match=r"tf.check_numerics needs a floating tensor \(float16, "
                                        r"float32, float64\), got 'Const_1:0' of dtype int32 "
                                        r"\(at test_numerics.py:\d+\)"):
        check_numerics(tf.constant([1, 2]), "m")


def test_gradients_flow_through_check_numerics():
    x = tf.constant([1.0, 2.0])
    y = check_numerics(x * 3.0, "m")
    grad = tf.gradients(tf.reduce_sum(y * y), x)[0]
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(grad), [18.0, 36.0])


def test_add_check_numerics_ops_reports_the_first_bad_op(target):
    x = tf.placeholder(tf.float32, [2], name="x")
    v = tf.Variable([1.0, 1.0], name="v")
    step = tf.assign_add(v, [1.0, 1.0])  # not run by the checks (no state change)
    root = tf.sqrt(x, name="root")
    tf.log(root * v, name="out")
    checks = add_check_numerics_ops()
    with tf.Session(target) as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(checks, {x: [1.0, 4.0]}) is None
        np.testing.assert_array_equal(sess.run(v), [1.0, 1.0])
        text = failure(sess, checks, {x: [1.0, -4.0]})  # sqrt gives the NaN, log inherits it
        assert "root:0 : Tensor had NaN values" in text and "test_numerics.py:" in text
        assert "Inf" in failure(sess, checks, {x: [0.0, 4.0]})  # log(0): Inf
        sess.run(step)
    assert checks.name == "CheckNumericsOps"


def test_add_check_numerics_ops_refuses_control_flow():
    x = tf.constant(1.0)
    tf.cond(x > 0, lambda: x + 1, lambda: x - 1)
    with pytest.raises(ValueError, match=r"tf.add_check_numerics_ops\(\) is not compatible "
                                         r"with TensorFlow control flow operations such as "
                                         r"tf.cond\(\) or tf.while_loop\(\) "
                                         r"\(at test_numerics.py:\d+\)"):
        add_check_numerics_ops()
