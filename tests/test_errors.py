"""Every error a TF1 user can run into, with its message: what was expected, what was found,
which op, and where in the user's own code the op was built."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import graphc as tf
from graphc.errors import DTypeError, ShapeError


def _next_line() -> str:
    """'test_errors.py:<n>' for the line after the caller's: where the op under test is built."""
    return f"test_errors.py:{sys._getframe(1).f_lineno + 1}"


# --- building: shapes -----------------------------------------------------------------------------
def test_add_shape_mismatch_names_op_shapes_and_location():
    a, b = tf.ones([2, 3]), tf.ones([4])
    with pytest.raises(ShapeError) as info:
        where = _next_line()
        _ = a + b
    message = str(info.value)
    assert "(2, 3)" in message and "(4,)" in message
    assert "'add'" in message
    assert where in message
    assert isinstance(info.value, ValueError)


def test_matmul_inner_dimension_mismatch():
    a, b = tf.ones([2, 3]), tf.ones([4, 5])
    with pytest.raises(ValueError) as info:
        where = _next_line()
        tf.matmul(a, b, name="mm")
    assert str(info.value) == (f"matmul: inner dimensions differ: (2, 3) @ (4, 5) (3 != 4) "
                               f"(op 'mm' at {where})")


def test_shape_error_carries_the_name_scope():
    with tf.name_scope("layer"):
        with pytest.raises(ValueError) as info:
            where = _next_line()
            tf.reshape(tf.ones([2, 3]), [4])
    assert str(info.value).endswith(f"(op 'layer/Reshape' at {where})")
    assert "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4,)" in str(info.value)


def test_concat_and_assign_shape_mismatch():
    with pytest.raises(ValueError) as info:
        where = _next_line()
        tf.concat([tf.ones([2, 3]), tf.ones([2, 4])], axis=0)
    assert re.fullmatch(rf"concat: dimension 1 differs: shapes \(2, 3\) and \(2, 4\).* "
                        rf"\(op 'concat' at {where}\)", str(info.value))
    v = tf.Variable(tf.zeros([2]), name="v")
    with pytest.raises(ValueError) as info:
        where = _next_line()
        v.assign([1.0, 2.0, 3.0])
    assert str(info.value) == ("assign: value of shape (3,) cannot update a variable of shape "
                               f"(2,) (op 'Assign' at {where})")


def test_variable_needs_a_known_shape():
    with pytest.raises(ValueError, match=r"variable 'w' needs a fully known shape, its initial "
                                         r"value has shape \(\?,\)"):
        tf.Variable(tf.placeholder(tf.float32, [None]), name="w")
    with pytest.raises(ValueError, match="initial_value must be specified"):
        tf.Variable()
    with pytest.raises(ValueError, match=r"Shape of a new variable \(u\) must be fully "
                                         r"defined"):
        tf.get_variable("u")


# --- building: dtypes -----------------------------------------------------------------------------
def test_sqrt_of_int32():
    x = tf.constant([1, 4], name="ints")
    with pytest.raises(TypeError, match=r"sqrt expects a floating-point tensor, got int32 "
                                        r"\('ints:0'\); cast it first with tf.cast"):
        tf.sqrt(x)


def test_constant_of_strings():
    with pytest.raises(DTypeError, match=r"cannot make a constant from a value of numpy dtype "
                                         r"<U5 \('hello'\); graphc tensors hold bool, int and "
                                         "float"):
        tf.constant("hello")


def test_unsupported_dtypes():
    supported = ("graphc supports float16, float32, float64, int8, uint8, int16, uint16, int32, "
                 "int64, bool")
    with pytest.raises(TypeError, match=f"unsupported dtype 'complex64'; {supported}"):
        tf.placeholder("complex64", [2])
    with pytest.raises(TypeError, match=f"unsupported dtype .*complex128.*; {supported}"):
        tf.placeholder(np.complex128, [2])
    with pytest.raises(TypeError, match="unsupported dtype 'string'"):
        tf.cast(tf.constant(1), "string")


def test_lossy_constant_and_assignment_dtypes():
    with pytest.raises(TypeError, match="Expected int32, got 1.5 of type 'float' instead: the "
                                        "conversion would lose data"):
        tf.constant(1.5, dtype=tf.int32)
    v = tf.Variable([1.0, 2.0], name="v")
    with pytest.raises(TypeError, match="Tensor conversion requested dtype float32 for Tensor "
                                        "'ints:0' of dtype int32"):
        v.assign(tf.constant([1, 2], name="ints"))
    with pytest.raises(TypeError, match="assign needs a tf.Variable as its first argument"):
        tf.assign(tf.constant(1), 2)


def test_gather_with_float_indices():
    indices = tf.constant([0.5])
    with pytest.raises(TypeError) as info:
        where = _next_line()
        tf.gather(tf.ones([3]), indices)
    assert str(info.value) == ("gather: indices must be int32 or int64, got float32 "
                               f"(op 'GatherV2' at {where})")


# --- feeds ----------------------------------------------------------------------------------------
def test_missing_feed_names_the_placeholder():
    where = _next_line()
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    y = x * 2.0
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"You must feed a value for placeholder 'images' \(placeholder "
                                 rf"created at {where}\) with dtype float32 and shape \(\?, 3\)"):
            sess.run(y)


def test_unknown_feed_keys():
    x = tf.placeholder(tf.float32, [], name="x")
    with tf.Graph().as_default():
        foreign = tf.placeholder(tf.float32, [], name="x")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.NotFoundError, match="The name 'nope:0' refers to a Tensor "
                                                          "which does not exist. The operation, "
                                                          "'nope', does not exist in the graph"):
            sess.run(x, {"nope:0": 1.0})
        with pytest.raises(ValueError, match="Cannot feed <tf.Tensor 'x:0' .*>: it is not an "
                                             "element of this graph"):
            sess.run(x, {foreign: 1.0})
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key 'x' as a Tensor: "
                                            "keys must be Tensors, Variables or tensor names"):
            sess.run(x, {"x": 1.0})
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key 5 as a Tensor"):
            sess.run(x, {5: 1.0})


def test_feed_of_the_wrong_shape():
    where = _next_line()
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with tf.Session() as sess:
        with pytest.raises(ValueError, match=rf"Cannot feed value of shape \(2, 4\) for 'x' "
                                             rf"\(placeholder created at {where}\), which has "
                                             rf"shape \(\?, 3\)"):
            sess.run(x, {x: np.ones((2, 4))})
        with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\)"):
            sess.run(x, {x: np.ones(3)})


def test_lossy_feeds():
    i = tf.placeholder(tf.int32, [2], name="i")
    b = tf.placeholder(tf.bool, [], name="flag")
    f = tf.placeholder(tf.float32, [], name="f")
    with tf.Session() as sess:
        with pytest.raises(TypeError, match=r"Cannot feed value of dtype float64 to 'i' .*which "
                                            r"has dtype int32: the conversion would lose data"):
            sess.run(i, {i: [1.5, 2.0]})
        with pytest.raises(TypeError, match=r"Cannot feed value of dtype int64 to 'i' .*the "
                                            r"conversion would lose data"):
            sess.run(i, {i: np.array([2**40, 1])})
        with pytest.raises(TypeError, match=r"Cannot feed value of dtype int64 to 'flag' .*bool"):
            sess.run(b, {b: 1})
        with pytest.raises(TypeError, match=r"Cannot feed value of type str \(numpy dtype <U3\) "
                                            r"to 'f'"):
            sess.run(f, {f: "abc"})
        # In range, the same conversions are fine.
        assert sess.run(i, {i: np.array([2, 1], np.int64)}).tolist() == [2, 1]


def test_feed_value_that_is_a_tensor():
    x = tf.placeholder(tf.float32, [1, 3], name="x")
    with tf.Session() as sess:
        with pytest.raises(TypeError, match=r"The value of a feed cannot be a tf.Tensor object "
                                            r"\(feed for 'x' .*\)\. Acceptable feed values "
                                            "include Python scalars, lists and numpy ndarrays"):
            sess.run(x, {x: tf.ones([1, 3])})
        with pytest.raises(TypeError, match="The value of a feed cannot be a tf.Tensor"):
            sess.run(x, {x: tf.Variable(tf.ones([1, 3]))})


# --- fetches --------------------------------------------------------------------------------------
def test_bad_fetches():
    x = tf.placeholder(tf.float32, [], name="x")
    tf.no_op(name="init")
    with tf.Graph().as_default():
        foreign = tf.constant(1)
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="Fetch argument None has invalid type"):
            sess.run([x, None], {x: 1.0})
        with pytest.raises(TypeError, match="Fetch argument 5 has invalid type <class 'int'>"):
            sess.run(5)
        with pytest.raises(ValueError, match="is not an element of this graph"):
            sess.run(foreign)
        with pytest.raises(tf.errors.NotFoundError, match="The operation, 'x', exists but only "
                                                          "has 1 output"):
            sess.run("x:1")
        with pytest.raises(tf.errors.NotFoundError, match="'init', exists but only has 0 "
                                                          "outputs"):
            sess.run("init:0")
        with pytest.raises(tf.errors.NotFoundError, match="The name 'nope' refers to an "
                                                          "Operation not in the graph"):
            sess.run("nope")
    with pytest.raises(KeyError, match="looks like an \\(invalid\\) Operation name"):
        tf.get_default_graph().get_tensor_by_name("x")


def test_uninitialized_variable():
    where = _next_line()
    v = tf.Variable([1.0, 2.0], name="weights")
    ready = tf.Variable(3.0, name="ready")
    with tf.Session() as sess:
        sess.run(ready.initializer)
        with pytest.raises(tf.errors.FailedPreconditionError,
                           match=rf"Attempting to use uninitialized value 'weights' \(variable "
                                 rf"created at {where}\); run its initializer first"):
            sess.run(v * ready)
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value "
                                                                    "'weights'"):
            sess.run(v.assign_add([1.0, 1.0]))


# --- run time -------------------------------------------------------------------------------------
def test_gather_index_out_of_range():
    params = tf.constant([1.0, 2.0, 3.0])
    idx = tf.placeholder(tf.int32, [None], name="idx")
    where = _next_line()
    picked = tf.gather(params, idx, name="pick")
    with tf.Session() as sess:
        assert sess.run(picked, {idx: [2, 0]}).tolist() == [3.0, 1.0]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"'pick' \(gather created at {where}\) failed: index 5 is out "
                                 rf"of range \[0, 3\) along axis 0") as info:
            sess.run(picked, {idx: [5]})
    assert isinstance(info.value, tf.errors.OpError)
    assert info.value.node is picked.node


def test_integer_pow_with_negative_exponent():
    base = tf.constant([2, 3])
    exponent = tf.placeholder(tf.int32, [2], name="e")
    where = _next_line()
    powered = tf.pow(base, exponent)
    with tf.Session() as sess:
        assert sess.run(powered, {exponent: [2, 0]}).tolist() == [4, 1]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"'pow' \(pow created at {where}\) failed: integers to negative "
                                 "integer powers are not allowed"):
            sess.run(powered, {exponent: [-1, 2]})


def test_assign_of_the_wrong_shape_at_run_time():
    v = tf.Variable([1.0, 2.0], name="v")
    x = tf.placeholder(tf.float32, [None], name="x")
    store = v.assign(x, name="store")
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"'store' \(assign created at test_errors.py:\d+\): cannot "
                                 r"assign a value of shape \(3,\) to variable 'v' .* of shape "
                                 r"\(2,\)"):
            sess.run(store, {x: [1.0, 2.0, 3.0]})
        assert sess.run(v).tolist() == [1.0, 2.0]


def test_failing_run_leaves_variables_unchanged():
    v = tf.Variable([1.0, 2.0], name="v")
    count = tf.Variable(0, name="count")
    idx = tf.placeholder(tf.int32, [], name="idx")
    bump = tf.group(v.assign_add([10.0, 10.0]), count.assign_add(1))
    with tf.control_dependencies([bump]):
        picked = tf.gather(v, idx)  # reads v after the update
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(picked, {idx: 1}) == 12.0
        with pytest.raises(tf.errors.InvalidArgumentError, match="index 7 is out of range"):
            sess.run(picked, {idx: 7})
        # Neither assignment of the failed run was committed.
        assert sess.run(v).tolist() == [11.0, 12.0]
        assert sess.run(count) == 1
        assert sess.run(picked, {idx: 0}) == 21.0
        assert sess.run(count) == 2


# --- get_variable and scopes ----------------------------------------------------------------------
def test_get_variable_reuse_errors():
    with tf.variable_scope("layer"):
        w = tf.get_variable("w", [2])
    with pytest.raises(ValueError, match=re.escape(
            "Variable layer/w already exists, disallowed. Did you mean to set reuse=True or "
            "reuse=tf.AUTO_REUSE in VarScope?")):
        with tf.variable_scope("layer"):
            tf.get_variable("w", [2])
    with pytest.raises(ValueError, match=re.escape(
            "Variable layer/b does not exist, or was not created with tf.get_variable(). Did you "
            "mean to set reuse=tf.AUTO_REUSE in VarScope?")):
        with tf.variable_scope("layer", reuse=True):
            tf.get_variable("b", [2])
    with pytest.raises(ValueError, match=re.escape(
            "Trying to share variable layer/w, but specified shape (3,) and found shape (2,).")):
        with tf.variable_scope("layer", reuse=True):
            tf.get_variable("w", [3])
    with pytest.raises(ValueError, match=re.escape(
            "Trying to share variable layer/w, but specified dtype int32 and found dtype "
            "float32.")):
        with tf.variable_scope("layer", reuse=True):
            tf.get_variable("w", [2], dtype=tf.int32)
    with tf.variable_scope("layer", reuse=True):
        assert tf.get_variable("w", [2]) is w
    with tf.variable_scope("layer", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("w") is w
    with pytest.raises(ValueError, match="variable_scope needs name_or_scope or default_name"):
        with tf.variable_scope(None):
            pass


# --- Python protocol misuse -----------------------------------------------------------------------
def test_tensor_as_bool():
    x = tf.constant(1.0, name="x")
    message = (r"Using a tf.Tensor as a Python `bool` is not allowed in graph mode: 'x:0' has "
               r"no value until a Session runs it")
    with pytest.raises(TypeError, match=message):
        bool(x)
    with pytest.raises(TypeError, match=message.replace("x:0", "Greater:0")):
        if x > 0:
            pass
    with pytest.raises(TypeError, match="Tensor 'x:0' is not iterable in graph mode"):
        iter(x)
    with pytest.raises(TypeError, match=r"len\(\) of a symbolic Tensor 'x:0' is not defined"):
        len(x)
    with pytest.raises(TypeError, match="Cannot convert a symbolic Tensor \\('x:0'\\) to a "
                                        "numpy array"):
        np.asarray(x)


def test_eval_without_or_with_the_wrong_session():
    x = tf.constant(1)
    with pytest.raises(ValueError, match="Cannot evaluate tensor using `eval\\(\\)`: No default "
                                         "session is registered"):
        x.eval()
    other = tf.Graph()
    with tf.Session(graph=other) as sess:
        with pytest.raises(ValueError, match="the tensor's graph is different from the "
                                             "session's graph"):
            x.eval(session=sess)


# --- graphs ---------------------------------------------------------------------------------------
def test_finalized_graph_refuses_new_ops():
    x = tf.placeholder(tf.float32, [], name="x")
    y = x + 1.0
    v = tf.Variable(2.0)
    init = tf.global_variables_initializer()
    graph = tf.get_default_graph()
    graph.finalize()
    assert graph.finalized
    with pytest.raises(RuntimeError, match="Graph is finalized and cannot be modified"):
        tf.constant(1.0)
    with pytest.raises(RuntimeError, match="Graph is finalized and cannot be modified"):
        _ = y * 2.0
    with pytest.raises(RuntimeError, match="Graph is finalized and cannot be modified"):
        tf.Variable(1.0)
    with tf.Session() as sess:  # running what exists still works
        sess.run(init)
        assert sess.run([y, v], {x: 1.0}) == [2.0, 2.0]
        assert sess.run("x:0", {"x:0": 4.0}) == 4.0


def test_reset_default_graph_inside_a_graph_context():
    with tf.Graph().as_default():
        with pytest.raises(AssertionError, match="Do not use tf.reset_default_graph\\(\\) to "
                                                 "clear nested graphs"):
            tf.reset_default_graph()


def test_sparse_softmax_cross_entropy_rejects_out_of_range_labels():
    logits = tf.placeholder(tf.float32, [None, 3])
    labels = tf.placeholder(tf.int64, [None])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    with tf.Session() as sess:
        assert sess.run(loss, {logits: np.zeros((2, 3)), labels: [0, 2]}).shape == (2,)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"'labels_in_range' \(assert created at .*\) failed: labels "
                                 r"must be class indices in \[0, 3\) \(first failing index "
                                 r"\(1,\)\); data: \[0, 3\]"):
            sess.run(loss, {logits: np.zeros((2, 3)), labels: [0, 3]})


def test_assert_less_names_the_condition_and_shows_the_data():
    x = tf.placeholder(tf.int32, [3], name="x")
    with tf.control_dependencies([tf.assert_less(x, 5, message="x too large")]):
        y = tf.identity(x)
    with tf.Session() as sess:
        assert list(sess.run(y, {x: [1, 2, 3]})) == [1, 2, 3]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"x too large: Condition x < y did not hold element-wise: x "
                                 r"\('x:0'\) < y \('Const:0'\) \(first failing index \(2,\)\); "
                                 r"data: \[1, 2, 7\]; data: \[5\]"):
            sess.run(y, {x: [1, 2, 7]})
