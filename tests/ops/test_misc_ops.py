"""graphc.ops.misc_ops and graphc.ops.einsum: squared_difference, reduce_logsumexp,
xw_plus_b, embedding_lookup (one table, "mod" and "div" shards, max_norm), einsum against
numpy.einsum over a table of equations, on every target; gradients by central differences
(graphc.test.gradcheck); device/container scopes, RunOptions/RunMetadata, and the tf.math /
tf.random namespaces with their error for names graphc lacks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import DTypeError, ShapeError
from graphc.ops import misc_ops
from graphc.ops.misc_ops import (
    RunMetadata,
    RunOptions,
    einsum,
    embedding_lookup,
    reduce_logsumexp,
    squared_difference,
    xw_plus_b,
)
from graphc.test import gradcheck
from graphc.unsupported import UnsupportedAPIError

_RNG = np.random.default_rng(7)


def _feed(*arrays):
    phs = [tf.placeholder(a.dtype, a.shape) for a in arrays]
    return phs, dict(zip(phs, arrays))


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# --- squared_difference, reduce_logsumexp, xw_plus_b ----------------------------------------
def test_squared_difference_broadcasts(target):
    a, b = _RNG.standard_normal((2, 3)).astype(np.float32), np.float32([1, 2, 3])
    (x, y), feed = _feed(a, b)
    assert_close(run(squared_difference(x, y), feed, target), (a - b) ** 2)
    assert misc_ops.math.squared_difference is squared_difference


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), (0, True), ([0, 1], True),
                                           (-1, True)])
def test_reduce_logsumexp_matches_numpy_for_huge_values(target, axis, keepdims):
    a = (_RNG.standard_normal((3, 4)) * 1000).astype(np.float32)  # exp overflows unshifted
    (x,), feed = _feed(a)
    got = run(reduce_logsumexp(x, axis=axis, keepdims=keepdims), feed, target)
    want = _np_logsumexp(a.astype(np.float64), None if axis is None else tuple(np.atleast_1d(
        axis)), keepdims).astype(np.float32)
    assert np.all(np.isfinite(got))
    assert_close(got, want)


def test_reduce_logsumexp_of_minus_infinity_rows_and_legacy_arguments(target):
    a = np.float32([[-np.inf, -np.inf], [0.0, np.log(3.0)]])
    (x,), feed = _feed(a)
    got = run(reduce_logsumexp(x, reduction_indices=1, keep_dims=True), feed, target)
    assert_close(got, np.float32([[-np.inf], [np.log(4.0)]]))


def test_reduce_logsumexp_refuses_ints():
    with pytest.raises(DTypeError, match=r"reduce_logsumexp expects a floating-point tensor, "
                       r"found int32 .*\(at test_misc_ops\.py:\d+\)"):
        reduce_logsumexp(tf.constant([1, 2]))


def test_reduce_logsumexp_gradient_is_softmax():
    gradcheck(lambda x: reduce_logsumexp(x, axis=1), [_RNG.standard_normal((3, 4)) * 5])
    gradcheck(lambda x: reduce_logsumexp(x, keepdims=True), [_RNG.standard_normal((2, 3))])
    x = tf.constant(np.float64([1000.0, 1000.0]))
    (g,) = tf.gradients(reduce_logsumexp(x), [x])
    assert_close(run(g), np.float64([0.5, 0.5]))


def test_xw_plus_b(target):
    a, w, b = (_RNG.standard_normal(s).astype(np.float32) for s in [(2, 3), (3, 4), (4,)])
    (x, wt, bt), feed = _feed(a, w, b)
    assert_close(run(xw_plus_b(x, wt, bt), feed, target), a @ w + b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeError, match=r"xw_plus_b expects a 2-D x, found shape \(3,\)"):
        xw_plus_b(tf.constant([1.0, 2.0, 3.0]), wt, bt)


# --- embedding_lookup ------------------------------------------------------------------------
def _shards(table, n, strategy):
    """numpy shards of `table` as TF's partitioners split it."""
    if strategy == "mod":
        return [table[p::n] for p in range(n)]
    per, extras = divmod(len(table), n)
    sizes = [per + 1 if p < extras else per for p in range(n)]
    return np.split(table, np.cumsum(sizes)[:-1])


@pytest.mark.parametrize("strategy", ["mod", "div"])
@pytest.mark.parametrize("rows,n", [(10, 3), (9, 3), (7, 2)])
def test_embedding_lookup_sharded_matches_the_whole_table(target, strategy, rows, n):
    table = _RNG.standard_normal((rows, 4)).astype(np.float32)
    ids = _RNG.integers(0, rows, (2, 5)).astype(np.int32)
    shards = [tf.constant(s) for s in _shards(table, n, strategy)]
    idp = tf.placeholder(tf.int32, [None, 5])
    out = embedding_lookup(shards, idp, partition_strategy=strategy)
    assert out.shape.as_list() == [None, 5, 4]
    assert_close(run(out, {idp: ids}, target), table[ids])


def test_embedding_lookup_single_table_and_max_norm(target):
    table = _RNG.standard_normal((6, 3)).astype(np.float32) * 3
    ids = np.int32([0, 5, 2, 2])
    (t, i), feed = _feed(table, ids)
    assert_close(run(embedding_lookup(t, i), feed, target), table[ids])
    assert_close(run(embedding_lookup([t], i), feed, target), table[ids])
    rows = table[ids]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    clipped = rows * 1.5 / np.maximum(norms, 1.5)
    assert_close(run(embedding_lookup(t, i, max_norm=1.5), feed, target), clipped)


def test_embedding_lookup_out_of_range_id_still_fails():
    shards = [tf.constant(np.ones((2, 2), np.float32)) for _ in range(2)]
    ids = tf.placeholder(tf.int32, [1])
    with pytest.raises(tf.errors.OpError, match="out of range"):
        run(embedding_lookup(shards, ids), {ids: np.int32([4])})


def test_embedding_lookup_errors_name_what_was_expected():
    a, b = tf.zeros([2, 3]), tf.zeros([2, 4])
    with pytest.raises(ShapeError, match=r"expected shards of one dtype and one row shape, "
                       r"found shard 0 float32 \(2, 3\) and shard 1 float32 \(2, 4\)"):
        embedding_lookup([a, b], [0])
    with pytest.raises(ValueError, match=r"expected partition_strategy 'mod' or 'div', found "
                       r"'range'"):
        embedding_lookup([a, a], [0], partition_strategy="range")
    with pytest.raises(ShapeError, match=r"'div' strategy needs every shard's row count"):
        embedding_lookup([a, tf.placeholder(tf.float32, [None, 3])], [0], "div")


@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_embedding_lookup_gradient_reaches_every_shard(strategy):
    ids = np.int32([[0, 4], [3, 3]])

    def f(s0, s1):
        return embedding_lookup([s0, s1], ids, partition_strategy=strategy, max_norm=2.0)
    gradcheck(f, [_RNG.standard_normal((3, 2)), _RNG.standard_normal((2, 2))])


# --- einsum ----------------------------------------------------------------------------------
EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,i->", [(3,), (3,)]),
    ("i,i->i", [(3,), (3,)]),
    ("ab,cd->", [(2, 3), (4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,jk->...ik", [(5, 2, 3), (3, 4)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ba", [(2, 3)]),
]


@pytest.mark.parametrize("equation,shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_numpy(target, equation, shapes):
    arrays = [_RNG.standard_normal(s) for s in shapes]
    phs, feed = _feed(*arrays)
    assert_close(run(einsum(equation, *phs), feed, target), np.einsum(equation, *arrays),
                 rtol=1e-10, atol=1e-10)


def test_einsum_with_sizes_known_only_at_run_time():
    a, b = _RNG.standard_normal((2, 4)), _RNG.standard_normal((3, 4, 5))
    x, y = tf.placeholder(tf.float64, [None, None]), tf.placeholder(tf.float64, [3, None, 5])
    out = einsum("ij,bjk->bik", x, y)
    assert_close(run(out, {x: a, y: b}), np.einsum("ij,bjk->bik", a, b))


@pytest.mark.parametrize("equation,shapes", [("ij,jk->ik", [(2, 3), (3, 4)]),
                                             ("bij,bkj->bik", [(2, 2, 3), (2, 4, 3)]),
                                             ("ii->i", [(3, 3)]), ("ij->", [(2, 3)])])
def test_einsum_gradients(equation, shapes):
    gradcheck(lambda *xs: einsum(equation, *xs), [_RNG.standard_normal(s) for s in shapes])


@pytest.mark.parametrize("equation,shapes,message", [
    ("i->ii", [(3,)], r"expected each output index once, found \['i'\] repeated"),
    ("ij->k", [(2, 3)], r"output indices \['k'\] appear in no operand"),
    ("ij,jk->ik", [(2, 3)], r"expected 2 operand\(s\) for its 2 input term\(s\), found 1"),
    ("ijk->ij", [(2, 3)], r"term 'ijk' names 3 axes, found an operand of rank 2"),
    ("ij,jk->ik", [(2, 3), (4, 5)], r"index 'j' has size 3 in operand 0 and 4 in operand 1"),
    ("...i->i", [(2, 3)], r"expected '\.\.\.' in the output"),
    ("...ij,...jk->...ik", [(1, 2, 3), (5, 3, 4)], r"a '\.\.\.' axis has size 1 in operand 0 "
                                                   r"and 5 in operand 1"),
    ("i-j", [(2,)], r"expected terms of letters"),
])
def test_einsum_errors_name_the_equation(equation, shapes, message):
    operands = [tf.zeros(s) for s in shapes]
    with pytest.raises(ShapeError, match=rf"einsum '{_re(equation)}': {message}.*"
                       r"\(at test_misc_ops\.py:\d+\)"):
        einsum(equation, *operands)


def _re(text):
    import re
    return re.escape(text)


# --- scopes, run options, namespaces ---------------------------------------------------------
def test_device_and_container_scopes_have_no_effect(target):
    with misc_ops.device("/gpu:0"), misc_ops.container("experiment"):
        y = tf.constant(2.0) * 3.0
    with misc_ops.device(lambda op: "/cpu:0"), misc_ops.device(None):
        z = y + 1.0
    assert run(z, None, target) == 7.0


def test_run_options_and_metadata_are_accepted_by_session_run():
    options = RunOptions(trace_level=RunOptions.FULL_TRACE)
    metadata = RunMetadata()
    assert (RunOptions.NO_TRACE, RunOptions.FULL_TRACE) == (0, 3)
    x = tf.placeholder(tf.float32, [])
    with tf.Session() as sess:
        assert sess.run(x + 1.0, {x: 1.0}, options=options, run_metadata=metadata) == 2.0
        (device,) = metadata.step_stats.dev_stats
        stats, kernel = device.node_stats  # the whole run, then its one kernel
        assert device.device == "/job:localhost/replica:0/task:0/device:CPU:0"
        assert stats.node_name == "graphc_run" and stats.all_end_rel_micros > 0
        assert kernel.node_name == "k_add#0" and kernel.timeline_label.startswith("k_add: ")
        assert "test_misc_ops.py" in kernel.timeline_label
        assert stats.all_start_micros > 1.7e15  # microseconds since the epoch
        assert metadata.partition_graphs == [] and metadata.cost_graph.node == []
        sess.run(x + 1.0, {x: 1.0}, run_metadata=metadata)  # no trace asked: cleared
        assert metadata.step_stats.dev_stats == []
        call = sess.make_callable(x + 1.0, [x])
        assert call(2.0, options=options, run_metadata=metadata) == 3.0
        assert len(metadata.step_stats.dev_stats) == 1
        with pytest.raises(TypeError, match="run_metadata must be a tf.RunMetadata"):
            sess.run(x, {x: 1.0}, run_metadata={})
    with pytest.raises(ValueError, match=r'Protocol message RunOptions has no "trace" field '
                       r"\(expected one of trace_level, "):
        RunOptions(trace=1)


def test_a_traced_run_times_each_kernel_of_the_plan():
    """FULL_TRACE on the LLVM target: after the whole run, one entry per kernel that ran, in
    run order, laid end to end from the run's start, each at most the whole run; a kernel
    run by a loop says how often; untraced runs in between count nothing."""
    x = tf.placeholder(tf.float32, [64, 64])
    w = tf.constant(_RNG.standard_normal((64, 64)).astype(np.float32))
    y = tf.reduce_sum(tf.tanh(tf.matmul(x, w)), axis=1)
    total = tf.while_loop(lambda i, acc: i < 5, lambda i, acc: (i + 1, acc * 0.5 + y),
                          [tf.constant(0), tf.zeros([64])])[1]
    value = _RNG.standard_normal((64, 64)).astype(np.float32)
    options = RunOptions(trace_level=RunOptions.FULL_TRACE)
    with tf.Session() as sess:
        want = sess.run(total, {x: value})
        for _ in range(2):  # the counters start from zero on every traced run
            metadata = RunMetadata()
            got = sess.run(total, {x: value}, options=options, run_metadata=metadata)
            np.testing.assert_array_equal(got, want)
            whole, *kernels = metadata.step_stats.dev_stats[0].node_stats
            plan = list(sess._executor._plans.values())[-1]
            names = [k.name for k in plan.kernels]
            assert [k.node_name.split("#")[0] for k in kernels] == [n for n in names
                                                                      if n != "k_copy"]
            assert kernels[0].all_start_micros == whole.all_start_micros
            for a, b in zip(kernels, kernels[1:]):
                assert b.all_start_micros == a.all_start_micros + a.all_end_rel_micros
            assert sum(k.all_end_rel_micros for k in kernels) <= whole.all_end_rel_micros
            looped = [k for k in kernels if "(5 calls)" in k.timeline_label]
            assert looped, [k.timeline_label for k in kernels]
        sess.run(total, {x: value}, run_metadata=metadata)  # no trace: no kernels either
        assert metadata.step_stats.dev_stats == []
    with tf.Session(target="reference") as sess:  # other targets: the whole run only
        sess.run(total, {x: value}, options=options, run_metadata=metadata)
        assert [s.node_name for s in metadata.step_stats.dev_stats[0].node_stats] == \
            ["graphc_run"]


def test_math_and_random_namespaces_map_to_graphc_functions():
    m = misc_ops.math
    assert m.exp is tf.exp and m.reduce_sum is tf.reduce_sum and m.floormod is tf.mod
    assert m.reduce_logsumexp is reduce_logsumexp and m.log_softmax is tf.nn.log_softmax
    r = misc_ops.random
    assert r.normal is tf.random_normal and r.uniform is tf.random_uniform
    assert r.truncated_normal is tf.truncated_normal and r.set_seed is tf.set_random_seed
    r.set_seed(5)
    assert tf.get_default_graph().seed == 5


def test_namespaces_refuse_names_graphc_lacks():
    with pytest.raises(UnsupportedAPIError, match=r"module 'graphc\.math' has no attribute "
                       r"'bessel_i0e': .*tf\.math\.bessel_i0e.*docs/api-coverage\.md"):
        misc_ops.math.bessel_i0e  # noqa: B018
    with pytest.raises(UnsupportedAPIError, match=r"did you mean tf\.math\.reduce_sum\?"):
        misc_ops.math.reduce_summ  # noqa: B018
    assert not hasattr(misc_ops.random, "shuffle")
    assert getattr(misc_ops.math, "bessel_i0e", None) is None
