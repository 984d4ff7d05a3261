"""Lowering L1 -> L2, checked with the L2 numpy interpreter (no backend involved)."""

import numpy as np
import pytest
from conftest import numpy_gemm

import graphc as tf
from graphc.errors import InvalidArgumentError, VerifyError
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import NUMPY, format_kernel, interpret, verify_kernel
from graphc.ir.node import make_node
from graphc.passes.lower import DT, Lowering
from graphc.passes.specialize import specialize


def _lower_and_run(tensor, feeds):
    """Lower the node behind `tensor` (inputs fed concretely) and interpret its kernel."""
    fed = {t.node: np.asarray(v) for t, v in feeds.items()}
    (node,), origin = specialize([tensor.node], {n: v.shape for n, v in fed.items()})
    values = {x: fed[origin[x]].astype(x.dtype.np) for x in node.inputs}
    names = {n: f"b{i}" for i, n in enumerate(list(node.inputs) + [node])}
    kernel = Lowering(lambda n: names[n]).lower(node)
    verify_kernel(kernel)
    out = np.zeros(int(np.prod(node.shape)), dtype=node.dtype.np)
    buffers = {names[x]: np.ascontiguousarray(v).reshape(-1) for x, v in values.items()}
    buffers[names[node]] = out
    interpret(kernel, buffers, intrinsics={"gemm": numpy_gemm})
    return out.reshape(node.shape), kernel


CASES = [
    ("add_broadcast", lambda a, b: a + b, [(2, 3), (3,)]),
    ("select", lambda a, b: tf.where(a > b, a, b * 2), [(2, 3), (2, 1)]),
    ("tanh", lambda a, b: tf.tanh(a) * b, [(4,), ()]),
    ("sum_axis", lambda a, b: tf.reduce_sum(a * b, axis=1), [(3, 4), (4,)]),
    ("max_keepdims", lambda a, b: tf.reduce_max(a, axis=0, keepdims=True) + b, [(3, 4), (1,)]),
    ("argmax", lambda a, b: tf.argmax(a + b, axis=1), [(3, 4), (4,)]),
    ("transpose", lambda a, b: tf.transpose(a) + b, [(2, 3), (2,)]),
    ("slice", lambda a, b: a[::-1, 1:] + b, [(3, 4), (3,)]),
    ("concat", lambda a, b: tf.concat([a, tf.tile(b[None], [2, 1])], 0), [(2, 3), (3,)]),
    ("pad_reflect", lambda a, b: tf.pad(a, [[1, 1], [2, 0]], "REFLECT") + b, [(3, 4), ()]),
    ("matmul", lambda a, b: tf.matmul(a, b), [(3, 4), (4, 2)]),
    ("batched_matmul", lambda a, b: tf.matmul(a, b), [(2, 3, 4), (4, 5)]),
]


@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_each_lowered_kernel_matches_the_reference(name, fn, shapes):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    xs = [tf.placeholder(tf.float32, s) for s in shapes]
    y = fn(*xs)
    inner = y.node  # the last op: its inputs are computed by the reference beforehand
    with tf.Session(target="reference") as sess:
        feed = dict(zip(xs, values))
        expected = sess.run(y, feed)
        inputs = sess.run([tf.Tensor(x, y.graph, "") for x in inner.inputs], feed)
    placeholders = [tf.placeholder(x.dtype, x.shape) for x in inner.inputs]
    rebuilt = make_node(inner.op, [p.node for p in placeholders], dict(inner.attrs))
    got, _ = _lower_and_run(tf.Tensor(rebuilt, y.graph, ""), dict(zip(placeholders, inputs)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_gather_out_of_range_stops_the_kernel_with_its_message():
    params = tf.placeholder(tf.float32, [4, 2])
    indices = tf.placeholder(tf.int32, [3])
    y = tf.gather(params, indices)
    feeds = {params: np.ones((4, 2), np.float32), indices: np.array([0, 4, 1], np.int32)}
    with pytest.raises(InvalidArgumentError, match=r"an index is out of range \[0, 4\) along "
                                                   r"axis 0"):
        _lower_and_run(y, feeds)


def test_printed_kernel_of_a_reduction():
    x = tf.placeholder(tf.float32, [2, 3])
    y = tf.reduce_sum(x, axis=1)
    (node,), _ = specialize([y.node], {x.node: (2, 3)})
    names = {node.inputs[0]: "x", node: "y"}
    text = format_kernel(Lowering(lambda n: names[n]).lower(node))
    assert text == "\n".join([
        "kernel k_reduce_sum(x: f32[6], y: f32[2])",
        "  for i0 in 0..2 [serial]:",
        "    f32 acc = 0:f32",
        "    for r1 in 0..3 [serial]:",
        "      acc = add(acc, x[add(mul(i0, 3), r1)])",
        "    y[i0] = acc",
    ])


def test_verifier_rejects_unbound_names_and_type_mismatches():
    buf = (K.Buffer("a", "f32", K.Const(4)),)
    unbound = K.Kernel("k", buf, (), (K.Store("a", K.Var("i"), K.Const(1.0, "f32")),))
    with pytest.raises(VerifyError, match="i is not bound as a i64 here"):
        verify_kernel(unbound)
    mixed = K.Kernel("k", buf, (), K.nest(["i"], [4], [K.Store("a", K.Var("i"), K.Binary(
        "add", K.Const(1.0, "f32"), K.Const(1, "i64"), "f32"))]))
    with pytest.raises(VerifyError, match="operands of different dtypes"):
        verify_kernel(mixed)
    bad_store = K.Kernel("k", buf, (), K.nest(["i"], [4], [K.Store("a", K.Var("i"),
                                                                    K.Const(1, "i32"))]))
    with pytest.raises(VerifyError, match="store of i32 into a"):
        verify_kernel(bad_store)


def test_interpreter_binds_size_parameters():
    n = K.Var("n")
    k = K.Kernel("fill", (K.Buffer("out", "i64", n),), ("n",),
                 (K.Loop("i", K.Const(0), n, (K.Store("out", K.Var("i"), K.Binary(
                     "mul", K.Var("i"), K.Var("i"), "i64")),)),))
    verify_kernel(k)
    out = np.zeros(5, np.int64)
    interpret(k, {"out": out}, {"n": np.int64(5)})
    assert out.tolist() == [0, 1, 4, 9, 16]
    assert set(DT.values()) == set(NUMPY)
