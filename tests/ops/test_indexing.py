"""Tensor `[]` indexing and the Python operators on tensors (graphc.ops.overloads), against
the same expression evaluated by numpy on every target.

With operands of one dtype (or Python scalars of the tensor's kind), numpy 2's promotion is
graphc's, so the expected value is literally the same expression on numpy arrays.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf

E = Ellipsis
# numpy basic indexing: ints (negative too), slices with any step, `...` and None
KEYS = [
    1, -1, slice(1, None), slice(None, None, -1), slice(None, None, 2), slice(-2, None),
    slice(5, 1, -2), slice(10, 20), slice(-10, 2), (1, 2), (-1, slice(None), 0),
    (E, 1), (E, -1), (None, 1), (slice(1, 3), None, E), (E, None), (0, E, -1),
    (slice(None), slice(None, None, -2), slice(1, -1)), (None, E, None), (2, 3, 4),
    (slice(3, 1), 0), (), E, (slice(None), None, 2, None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_], ids=["float32", "int64",
                                                                          "bool"])
@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_getitem(key, dtype, target):
    x = (np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7).astype(dtype)
    p = tf.placeholder(x.dtype, x.shape)
    out = p[key]
    expected = x[key]
    assert out.shape.as_list() == list(expected.shape)
    assert_close(run(out, {p: x}, target), expected)


@pytest.mark.parametrize("key", [0, -1, (slice(None), 0), (E, -2), (0, -1)], ids=repr)
def test_getitem_with_unknown_dims(key, target):
    x = np.arange(12.0).reshape(3, 4)
    p = tf.placeholder(tf.float64, [None, None])
    assert_close(run(p[key], {p: x}, target), x[key])


@pytest.mark.parametrize("index", [0, 2, -1, -3])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_getitem_with_a_scalar_tensor_index(index, axis, target):
    # the index is fed, so it is only known at run time; negative counts from the end
    x = np.arange(3 * 4).reshape(3, 4).astype(np.float32)
    p, i = tf.placeholder(tf.float32, [3, 4]), tf.placeholder(tf.int32, [])
    key = (i,) if axis == 0 else (slice(None), i) if axis == 1 else (E, i)
    np_key = (index,) if axis == 0 else (slice(None), index) if axis == 1 else (E, index)
    assert_close(run(p[key], {p: x, i: index}, target), x[np_key])


def test_getitem_of_a_shape_tensor(target):
    p = tf.placeholder(tf.float32, [None, 3])
    got = run([tf.shape(p)[0], tf.shape(p)[-1], tf.shape(p)[::-1]], {p: np.zeros((5, 3))},
              target)
    for actual, expected in zip(got, [5, 3, [3, 5]]):
        assert_close(actual, np.array(expected, np.int32))


@pytest.mark.parametrize("key,error,message", [
    ((0, 0, 0, 0), IndexError, "too many indices"),
    (4, IndexError, "index 4 is out of bounds for axis 0 with size 4"),
    ((0, -6), IndexError, "index -6 is out of bounds for axis 1 with size 5"),
    ((E, E), IndexError, "single ellipsis"),
    (slice(None, None, 0), ValueError, "slice step cannot be zero"),
    ([0, 1], TypeError, "unsupported index"),
], ids=["too_many", "out_of_bounds", "negative_out_of_bounds", "two_ellipses", "zero_step",
        "list"])
def test_getitem_errors(key, error, message):
    p = tf.placeholder(tf.float32, [4, 5, 6])
    with pytest.raises(error, match=message):
        p[key]


# --- operators --------------------------------------------------------------------------
def _data(rng, shape, dtype, low=-5, high=5):
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, shape).astype(dtype)
    return rng.integers(low, high + 1, shape).astype(dtype)


def _divisor(rng, shape, dtype):
    return (_data(rng, shape, dtype, 1, 4) * rng.choice([-1, 1], shape)).astype(dtype)


# (name, operator, data of the right operand)
ARITHMETIC = [
    ("add", operator.add, _data), ("sub", operator.sub, _data), ("mul", operator.mul, _data),
    ("truediv", operator.truediv, _divisor), ("floordiv", operator.floordiv, _divisor),
    ("mod", operator.mod, _divisor),
    ("pow", operator.pow, lambda rng, shape, dtype: _data(rng, shape, dtype, 0, 3)),
    ("lt", operator.lt, _data), ("le", operator.le, _data), ("gt", operator.gt, _data),
    ("ge", operator.ge, _data),
]
# which operands are tensors: both, left only (numpy array right), right only (array left)
FORMS = ["tensor-tensor", "tensor-array", "array-tensor", "tensor-scalar", "scalar-tensor"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64],
                         ids=["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("op,right", [c[1:] for c in ARITHMETIC], ids=[c[0] for c in ARITHMETIC])
def test_arithmetic_operators(op, right, dtype, form, target):
    rng = np.random.default_rng(0)
    a = _data(rng, (2, 3), dtype, 1, 4) if op is operator.pow else _data(rng, (2, 3), dtype)
    b = right(rng, (3,), dtype)
    if form == "tensor-scalar":
        b = b[0].item()  # a Python scalar of the tensor's kind stays weak
    if form == "scalar-tensor":
        a = a[0, 0].item()
    pa = tf.placeholder(dtype, np.shape(a))
    pb = tf.placeholder(dtype, np.shape(b))
    feed = {pa: a, pb: b}
    left = pa if form.startswith("tensor") else a
    rhs = pb if form.endswith("tensor") else b
    with np.errstate(all="ignore"):
        expected = op(np.asarray(a, dtype) if form != "scalar-tensor" else a,
                      np.asarray(b, dtype) if form != "tensor-scalar" else b)
    out = run(op(left, rhs), {k: v for k, v in feed.items() if k in (left, rhs)}, target)
    assert_close(out, np.asarray(expected), np.asarray(expected).dtype,
                 rtol=1e-5 if np.dtype(dtype) == np.float32 else None)


@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=["float32", "int32"])
@pytest.mark.parametrize("shapes", [((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((3,), (3, 4)),
                                    ((2, 3), (3,))], ids=str)
def test_matmul_operator(shapes, dtype, target):
    rng = np.random.default_rng(1)
    a, b = _data(rng, shapes[0], dtype), _data(rng, shapes[1], dtype)
    pa, pb = tf.placeholder(dtype, a.shape), tf.placeholder(dtype, b.shape)
    got = run([pa @ pb, a @ pb, pa @ b], {pa: a, pb: b}, target)
    for actual in got:
        assert_close(actual, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64],
                         ids=["float32", "float64", "int32", "int64"])
def test_unary_operators(dtype, target):
    x = _data(np.random.default_rng(2), (2, 3), dtype)
    p = tf.placeholder(dtype, x.shape)
    got = run([-p, abs(p), +p, -abs(p)], {p: x}, target)
    for actual, expected in zip(got, [-x, abs(x), x, -abs(x)]):
        assert_close(actual, expected)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), ())], ids=str)
@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor],
                         ids=["and", "or", "xor"])
def test_logical_operators(op, shapes, target):
    rng = np.random.default_rng(3)
    a, b = (rng.random(s) < 0.5 for s in shapes)
    pa, pb = tf.placeholder(tf.bool, a.shape), tf.placeholder(tf.bool, b.shape)
    got = run([op(pa, pb), op(pa, b), op(a, pb), op(pa, True), op(False, pb), ~pa],
              {pa: a, pb: b}, target)
    expected = [op(a, b), op(a, b), op(a, b), op(a, True), op(False, b), ~a]
    for actual, want in zip(got, expected):
        assert actual.dtype == np.bool_
        assert_close(actual, np.asarray(want))


def test_equality_operators_compare_identity():
    # TF1: == and != are Python identity, so tensors work as dict keys; tf.equal compares values
    a, b = tf.placeholder(tf.float32, [2]), tf.placeholder(tf.float32, [2])
    same = a
    assert (a == same) is True and (a == b) is False and (a != b) is True
    assert len({a: 1, b: 2}) == 2


def test_operators_on_variables(target):
    v = tf.Variable(np.array([1.0, -2.0, 3.0], np.float32))
    got = run([v + 1, 2 * v, v / 2, -v, v[1], v ** 2, v > 0], None, target)
    x = np.array([1.0, -2.0, 3.0], np.float32)
    for actual, expected in zip(got, [x + 1, 2 * x, x / 2, -x, x[1], x ** 2, x > 0]):
        assert_close(actual, np.asarray(expected))
