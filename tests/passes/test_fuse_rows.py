"""Row groups (fuse_rows + lower_rows): which reductions and row-wise nodes share a kernel, and
that the fused kernels compute what the reference does."""

import numpy as np
import pytest
from conftest import llvm_plan

import graphc as tf
from graphc.ir.kernel_tools import format_kernel
from graphc.ir.node import topo_sort
from graphc.passes.fuse import inline_elementwise
from graphc.passes.fuse_rows import row_groups, units
from graphc.passes.specialize import specialize


def _layer_norm(x, eps=1e-5):
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centered = x - mean
    var = tf.reduce_mean(centered * centered, axis=-1, keepdims=True)
    return centered * tf.rsqrt(var + eps)


def _logsumexp(x):
    m = tf.reduce_max(x, axis=-1, keepdims=True)
    return tf.log(tf.reduce_sum(tf.exp(x - m), axis=-1, keepdims=True)) + m


RNG = np.random.default_rng(0)


def test_softmax_reads_the_input_once_and_keeps_no_intermediate_buffer():
    x = tf.placeholder(tf.float32, [6, 50])
    names, plan = llvm_plan(tf.nn.softmax(x), {x: RNG.standard_normal((6, 50)) * 5})
    assert names == ["k_rows_mul"]
    assert plan.arena_bytes == 1216  # the output only: 6 * 50 * 4 bytes, padded to 64
    # exp(x - max) is computed once: the sum's loop leaves it in the output, scaled there
    # by the reciprocal of the sum
    text = format_kernel(plan.kernels[0])
    assert text.count("exp(") == 1 and "= mul(s2[" in text


@pytest.mark.parametrize("build,kernels", [
    (tf.nn.log_softmax, 1),
    (_layer_norm, 1),
    (lambda x: _logsumexp(x), 1),
], ids=["log_softmax", "layer_norm", "logsumexp"])
def test_row_wise_compositions_become_one_kernel(build, kernels):
    x = tf.placeholder(tf.float32, [3, 5, 40])  # rows over two leading dims
    names, _ = llvm_plan(build(x), {x: RNG.standard_normal((3, 5, 40)) * 3})
    assert len(names) == kernels and names[0].startswith("k_rows_")


def test_cross_entropy_and_softmax_share_one_kernel_and_store_what_others_read():
    logits = tf.placeholder(tf.float32, [8, 10])
    labels = tf.placeholder(tf.int32, [8])
    probs = tf.nn.softmax(logits)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    names, _ = llvm_plan([probs, loss], {logits: RNG.standard_normal((8, 10)),
                                     labels: RNG.integers(0, 10, 8).astype(np.int32)})
    assert [n for n in names if n.startswith("k_rows_")] == ["k_rows_neg", "k_rows_mul"]


def test_a_row_vector_is_not_mistaken_for_a_row_value():
    x = tf.placeholder(tf.float32, [4, 4])
    s = tf.reduce_sum(x, axis=1)  # shape (4,): added to x it broadcasts along columns
    y = x + s
    names, _ = llvm_plan(y, {x: RNG.standard_normal((4, 4))})
    assert names == ["k_reduce_sum", "k_add"]


def test_fetched_members_are_stored():
    x = tf.placeholder(tf.float32, [5, 30])
    m = tf.reduce_max(x, axis=1, keepdims=True)
    e = tf.exp(x - m)
    s = tf.reduce_sum(e, axis=1, keepdims=True)
    names, _ = llvm_plan([m, s, e / s], {x: RNG.standard_normal((5, 30))})
    assert names == ["k_rows_div"]


def test_a_group_ends_at_a_reader_that_cannot_join():
    x = tf.placeholder(tf.float32, [6, 20])
    m = tf.reduce_max(x, axis=1, keepdims=True)
    t = tf.transpose(x - m)  # not row-wise: a kernel of its own, after the group
    y = tf.reduce_sum(tf.exp(x - m), axis=1)
    names, _ = llvm_plan([y, t], {x: RNG.standard_normal((6, 20))})
    assert "k_transpose" in names


def test_half_precision_sums_round_once():
    x = tf.placeholder(tf.float16, [4, 300])
    y = x / tf.reduce_sum(x, axis=1, keepdims=True)
    value = RNG.uniform(0.5, 1.5, (4, 300)).astype(np.float16)
    with tf.Session(target="llvm") as sess:
        got = sess.run(y, {x: value})
    want = value / value.astype(np.float32).sum(1, keepdims=True).astype(np.float16)
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_rows_run_on_threads_with_the_same_results():
    x = tf.placeholder(tf.float32, [512, 256])
    value = RNG.standard_normal((512, 256)).astype(np.float32)
    _, plan = llvm_plan(tf.nn.softmax(x), {x: value}, threads=2)
    with tf.Session(target="llvm", config=tf.Options(threads=1)) as one:
        with tf.Session(target="llvm", config=tf.Options(threads=2)) as two:
            np.testing.assert_array_equal(one.run(tf.nn.softmax(x), {x: value}),
                                          two.run(tf.nn.softmax(x), {x: value}))
    assert "graphc_parallel_for" in plan.ir_text


def test_groups_run_in_the_place_of_their_last_member():
    x = tf.placeholder(tf.float32, [4, 8])
    other = tf.sin(tf.placeholder(tf.float32, [3]))
    y = tf.nn.softmax(x)
    (spec_y, spec_o), _ = specialize([y.node, other.node], {
        x.node: (4, 8), other.node.inputs[0]: (3,)})
    order = topo_sort([spec_o, spec_y])
    inlined = inline_elementwise(order, [spec_y, spec_o])
    (group,) = row_groups(order, [spec_y, spec_o], inlined)
    assert [m.op.name for m in group.members] == ["reduce_max", "sub", "exp", "reduce_sum",
                                                  "div", "mul"]
    assert group.stored == frozenset({spec_y})
    placed = units(order, [group])
    assert placed.index(group) == len(placed) - 1
    assert not any(m in placed for m in group.members)


def test_views_between_the_two_row_shapes_stay_in_the_group():
    x = tf.placeholder(tf.float32, [7, 12])
    s = tf.reduce_sum(x, axis=1)  # (7,)
    y = x / tf.reshape(s, [7, 1])  # the same value per row
    names, _ = llvm_plan(y, {x: RNG.uniform(0.5, 1.5, (7, 12))})
    assert names == ["k_rows_div"]
