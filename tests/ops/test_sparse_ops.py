"""graphc.ops.sparse_ops (tf.sparse, the unsorted segment reductions) and
tf.nn.embedding_lookup_sparse against numpy: constant SparseTensors on every target, sparse
placeholders fed at two dense shapes through one session (the plan is made anew per dense
shape), SparseTensor results fetched as SparseTensorValues, int, float and bool values,
empty SparseTensors, the run-time index checks in TF's words, gradients against central
differences, and the graph-build errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import DTypeError, InvalidArgumentError, ShapeError
from graphc.test import gradcheck
from graphc.unsupported import UnsupportedAPIError

RNG = np.random.default_rng(20261215)


def np_dense(indices, values, shape, default=0):
    """The dense array of a SparseTensor (repeated indices sum)."""
    values = np.asarray(values)
    out = np.zeros(shape, values.dtype)
    np.add.at(out, tuple(np.asarray(indices, np.int64).reshape(-1, len(shape)).T), values)
    if default:
        hit = np.zeros(shape, bool)
        hit[tuple(np.asarray(indices, np.int64).reshape(-1, len(shape)).T)] = True
        out[~hit] = default
    return out


def random_sparse(shape, n, dtype="float32"):
    """(indices, values) of n distinct positions of `shape` in row-major order."""
    size = int(np.prod(shape))
    linear = np.sort(RNG.choice(size, size=min(n, size), replace=False))
    indices = np.stack(np.unravel_index(linear, shape), 1).astype(np.int64)
    indices = indices.reshape(-1, len(shape))
    values = (RNG.integers(-5, 6, len(linear)) if dtype.startswith("int")
              else RNG.standard_normal(len(linear))).astype(dtype)
    return indices, values


def feed_sparse(sp, indices, values, shape):
    return {sp.indices: np.asarray(indices, np.int64).reshape(-1, len(shape)),
            sp.values: values, sp.dense_shape: np.array(shape, np.int64)}


# --- every op on constant SparseTensors, on every target --------------------------------------
def test_ops_on_constant_sparse_tensors_match_numpy(target):
    fetches, wants = [], []

    def expect(t, want):
        fetches.append(t)
        wants.append(np.asarray(want))

    for shape, n, dtype in (((4, 5), 7, "float32"), ((3,), 2, "int32"),
                            ((2, 3, 4), 9, "float64"), ((3, 4), 0, "int64")):
        idx, val = random_sparse(shape, n, dtype)
        sp = tf.SparseTensor(idx, val, shape)
        expect(tf.sparse.to_dense(sp), np_dense(idx, val, shape))
        expect(tf.sparse_tensor_to_dense(sp, default_value=7), np_dense(idx, val, shape, 7))
        expect(tf.sparse.reduce_sum(sp), np_dense(idx, val, shape).sum(dtype=dtype))
        expect(tf.sparse.reduce_sum(sp, -1, keepdims=True),
               np_dense(idx, val, shape).sum(-1, keepdims=True, dtype=dtype))
        if len(shape) == 3:
            expect(tf.sparse_reduce_sum(sp, reduction_axes=[0, 2]),
                   np_dense(idx, val, shape).sum((0, 2)))
        dense = RNG.integers(-3, 4, shape).astype(dtype)
        expect(tf.sparse.add(sp, tf.constant(dense)), np_dense(idx, val, shape) + dense)
        expect(tf.sparse_add(tf.constant(dense), sp), np_dense(idx, val, shape) + dense)
    idx, val = random_sparse((3, 4), 6)
    sp = tf.SparseTensor(idx, val, [3, 4])
    b = RNG.standard_normal((4, 2)).astype(np.float32)
    c = RNG.standard_normal((3, 5)).astype(np.float32)
    a = np_dense(idx, val, (3, 4))
    expect(tf.sparse.sparse_dense_matmul(sp, b), a @ b)
    expect(tf.sparse.matmul(sp, b.T, adjoint_b=True), a @ b)
    expect(tf.sparse_tensor_dense_matmul(sp, c, adjoint_a=True), a.T @ c)
    expect(tf.sparse.sparse_dense_matmul(sp, c.T, adjoint_a=True, adjoint_b=True), a.T @ c)
    # bool values, and the old sparse_to_dense with 1-D indices and a scalar value
    bools = tf.SparseTensor([[0, 1], [1, 0]], [True, False], [2, 2])
    expect(tf.sparse.to_dense(bools), [[False, True], [False, False]])
    expect(tf.sparse.to_dense(bools, default_value=True), [[True, True], [False, True]])
    expect(tf.sparse_to_dense([1, 3], [5], 2.5, default_value=-1.0),
           np.array([-1, 2.5, -1, 2.5, -1], np.float32))
    expect(tf.sparse_to_dense([[0, 1]], tf.constant([2, 2]), [4]),
           np.array([[0, 4], [0, 0]], np.int32))
    expect(tf.sparse_to_dense([[1, 0]], [tf.constant(2), 1], 3),
           np.array([[0], [3]], np.int32))
    for got, want in zip(run(fetches, target=target), wants):
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert_close(got, want)


def test_reshaping_ops_match_numpy(target):
    idx, val = random_sparse((2, 6), 5, "int32")
    sp = tf.SparseTensor(idx, val, [2, 6])
    dense = np_dense(idx, val, (2, 6))
    reshaped = tf.sparse.reshape(sp, [3, -1, 2])
    expanded = tf.sparse_expand_dims(sp, -1)
    joined = tf.sparse.concat(0, [sp, tf.SparseTensor([[0, 5]], [9], [1, 6])])
    widened = tf.sparse_concat(0, [sp, tf.SparseTensor([[0, 7]], [9], [1, 8])],
                               expand_nonconcat_dim=True)
    ids = tf.SparseTensor([[0, 0], [0, 1], [2, 0]], tf.constant([3, 1, 3], tf.int64), [3, 2])
    fetches = [tf.sparse.to_dense(reshaped), reshaped.dense_shape,
               tf.sparse.to_dense(expanded), tf.sparse.to_dense(joined),
               tf.sparse.to_dense(widened), tf.sparse.to_indicator(ids, 4),
               tf.sparse_reshape(sp, tf.constant([12])).indices]
    got = run(fetches, target=target)
    assert_close(got[0], dense.reshape(3, 2, 2))
    assert got[1].tolist() == [3, 2, 2]
    assert_close(got[2], dense[..., None])
    assert_close(got[3], np.concatenate([dense, np_dense([[0, 5]], [9], (1, 6))]))
    assert_close(got[4], np.concatenate([np.pad(dense, [(0, 0), (0, 2)]),
                                         np_dense([[0, 7]], [9], (1, 8))]))
    assert got[5].tolist() == [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert got[6].tolist() == [[i * 6 + j] for i, j in idx]  # the row-major order is kept


def test_sparse_times_and_over_dense_broadcast_to_the_dense_shape(target):
    idx, val = random_sparse((3, 4), 6)
    sp = tf.SparseTensor(idx, val, [3, 4])
    row = RNG.uniform(1, 2, (1, 4)).astype(np.float32)
    col = RNG.uniform(1, 2, (3, 1)).astype(np.float32)
    full = RNG.uniform(1, 2, (3, 4)).astype(np.float32)
    prods = [sp * row, sp * tf.constant(col), sp / full, sp * 2.0, sp / tf.constant(4.0)]
    got = run([p.values for p in prods], target=target)
    for g, d in zip(got, [row, col]):
        assert_close(g, val * np.broadcast_to(d, (3, 4))[tuple(idx.T)])
    assert_close(got[2], val / full[tuple(idx.T)])
    assert_close(got[3], val * 2)
    assert_close(got[4], val / 4)
    ints = tf.SparseTensor([[0, 0]], [3], [1, 1]) / 2  # true division, as TF's
    assert run(ints.values).tolist() == [1.5]


def test_to_indicator_of_a_vocabulary_size_fed_at_run_time():
    vocab = tf.placeholder(tf.int32, [])
    ids = tf.SparseTensor([[0, 0], [1, 0], [1, 1]], tf.constant([2, 0, 2], tf.int64), [2, 2])
    out = tf.sparse.to_indicator(ids, vocab)
    assert out.shape.as_list() == [2, None]
    assert run(out, {vocab: 3}).tolist() == [[False, False, True], [True, False, True]]


def test_from_dense_of_a_constant():
    value = np.array([[0, 2, 0], [3, 0, 4]], np.int32)
    sp = tf.sparse.from_dense(value)
    got = run([sp.indices, sp.values, sp.dense_shape, tf.sparse.to_dense(sp)])
    assert got[0].tolist() == [[0, 1], [1, 0], [1, 2]]
    assert got[1].tolist() == [2, 3, 4] and got[1].dtype == np.int32
    assert got[2].tolist() == [2, 3]
    assert_close(got[3], value)


# --- sparse placeholders: one session, two dense shapes ---------------------------------------
def test_placeholders_fed_at_two_dense_shapes_in_one_session(target):
    sp = tf.sparse_placeholder(tf.float32, [None, None])
    b = tf.placeholder(tf.float32, [None, 3])
    ids = tf.sparse_placeholder(tf.int64, [None, None])
    num = tf.placeholder(tf.int32, [])
    data = tf.placeholder(tf.float32, [None, 2])
    seg = tf.placeholder(tf.int32, [None])
    fetches = [tf.sparse.to_dense(sp, default_value=-1.0), tf.sparse.sparse_dense_matmul(sp, b),
               tf.sparse.reduce_sum(sp, 0), tf.sparse.to_indicator(ids, 6),
               tf.sparse.reshape(sp, [-1]).indices,
               tf.math.unsorted_segment_sum(data, seg, num)]
    with tf.Session(target=target) as sess:
        for shape, k in (((2, 3), 3), ((4, 5), 2)):
            idx, val = random_sparse(shape, k + 2)
            mat = RNG.standard_normal((shape[1], 3)).astype(np.float32)
            iid = np.array([[0, 0], [1, 1]])
            seg_ids = RNG.integers(-1, shape[0], 5).astype(np.int32)
            rows = RNG.standard_normal((5, 2)).astype(np.float32)
            feed = {**feed_sparse(sp, idx, val, shape), b: mat, num: shape[0],
                    **feed_sparse(ids, iid, np.array([5, 2]), (shape[0], 9)), data: rows,
                    seg: seg_ids}
            got = sess.run(fetches, feed)
            dense = np_dense(idx, val, shape)
            assert_close(got[0], np_dense(idx, val, shape, -1.0))
            assert_close(got[1], dense @ mat, rtol=1e-5, atol=1e-5)
            assert_close(got[2], dense.sum(0))
            want = np.zeros((shape[0], 6), bool)
            want[0, 5] = want[1, 2] = True
            assert_close(got[3], want)
            assert got[4].ravel().tolist() == [i * shape[1] + j for i, j in idx]
            want = np.zeros((shape[0], 2), np.float32)
            np.add.at(want, seg_ids[seg_ids >= 0], rows[seg_ids >= 0])
            assert_close(got[5], want)
        if target != "reference":  # compiled targets: one plan per dense shape
            assert len(sess._executor._plans) == 2


def test_empty_sparse_tensors(target):
    sp = tf.sparse_placeholder(tf.float32, [None, None])
    fetches = [tf.sparse.to_dense(sp), tf.sparse.to_dense(sp, default_value=2.0),
               tf.sparse.sparse_dense_matmul(sp, tf.ones([4, 2])), tf.sparse.reduce_sum(sp),
               tf.sparse.reduce_sum(sp, 1), tf.sparse.add(sp, tf.ones([3, 4])),
               (sp * tf.ones([3, 4])).values, tf.sparse.reshape(sp, [2, 6]).indices,
               tf.nn.embedding_lookup_sparse(tf.ones([5, 2]), tf.SparseTensor(
                   sp.indices, tf.cast(sp.values, tf.int64), sp.dense_shape), None)]
    got = run(fetches, feed_sparse(sp, np.zeros((0, 2)), np.zeros(0, np.float32), (3, 4)),
              target)
    zeros = np.zeros((3, 4), np.float32)
    for g, w in zip(got, [zeros, zeros + 2, np.zeros((3, 2)), 0.0, np.zeros(3), zeros + 1,
                          np.zeros(0), np.zeros((0, 2)), np.zeros((3, 2))]):
        assert_close(g, np.asarray(w, g.dtype))


def test_sparse_results_are_fetched_and_sparse_values_fed_whole(target):
    sp = tf.sparse_placeholder(tf.int32, [None, None])
    value = tf.SparseTensorValue([[0, 2], [1, 0]], np.array([4, 5], np.int32), [2, 3])
    reshaped, expanded = tf.sparse.reshape(sp, [3, 2]), tf.sparse.expand_dims(sp, 0)
    scaled = sp * tf.constant([[1], [10]], tf.int32)
    got = run([reshaped, expanded, scaled], {sp: value}, target)
    assert all(isinstance(g, tf.SparseTensorValue) for g in got)
    assert got[0].indices.tolist() == [[1, 0], [1, 1]] and got[0].dense_shape.tolist() == [3, 2]
    assert got[1].indices.tolist() == [[0, 0, 2], [0, 1, 0]]
    assert got[1].dense_shape.tolist() == [1, 2, 3]
    assert got[2].values.tolist() == [4, 50] and got[2].values.dtype == np.int32


def test_a_sparse_tensor_value_is_taken_as_constants():
    value = tf.SparseTensorValue(np.array([[0, 1]]), np.array([2.0], np.float32),
                                 np.array([2, 2]))
    assert run(tf.sparse.to_dense(value)).tolist() == [[0, 2], [0, 0]]
    assert tf.convert_to_tensor_or_sparse_tensor(value).dtype == tf.float32


# --- run-time checks --------------------------------------------------------------------------
@pytest.mark.parametrize("indices, words", [
    ([[0, 1], [0, 1]], r"sparse\.to_dense: indices\[i\] is repeated.*first failing index \(1,\)"),
    ([[1, 0], [0, 2]], r"indices\[i\] is out of order.*first failing index \(1,\)"),
    ([[0, 0], [2, 1]], r"indices\[i\] is out of bounds: need 0 <= index < dense_shape.*"
                       r"first failing index \(1, 0\)\); data: \[2, 3\]"),
    ([[0, -1], [1, 0]], r"is out of bounds.*first failing index \(0, 1\)"),
])
def test_validate_indices_fails_the_run_in_tfs_words(indices, words, target):
    sp = tf.sparse_placeholder(tf.float32, [None, None])
    feed = feed_sparse(sp, indices, np.ones(2, np.float32), (2, 3))
    with pytest.raises(InvalidArgumentError, match=words):
        run(tf.sparse.to_dense(sp), feed, target)


def test_without_validation_repeats_sum_but_bounds_are_still_checked():
    sp = tf.sparse_placeholder(tf.float32, [None, None])
    dense = tf.sparse.to_dense(sp, validate_indices=False)
    feed = feed_sparse(sp, [[1, 0], [0, 2], [1, 0]], np.array([1, 2, 3], np.float32), (2, 3))
    assert run(dense, feed).tolist() == [[0, 0, 2], [4, 0, 0]]
    feed = feed_sparse(sp, [[0, 3]], np.ones(1, np.float32), (2, 3))
    with pytest.raises(InvalidArgumentError, match="out of bounds"):
        run(dense, feed)  # [0, 3] would alias [1, 0] of the flattened dense tensor


def test_ops_check_their_indices_when_the_graph_runs():
    sp = tf.sparse_placeholder(tf.float32, [None, None])
    b = tf.placeholder(tf.float32, [None, 2])
    cases = [
        (tf.sparse.sparse_dense_matmul(sp, b), {b: np.ones((3, 2), np.float32)},
         [[0, 3]], r"sparse_dense_matmul: indices\[i\] is out of bounds"),
        (tf.sparse.sparse_dense_matmul(sp, b), {b: np.ones((2, 2), np.float32)},
         [[0, 1]], "inner dimensions do not match"),
        (tf.sparse.reduce_sum(sp, 1), {}, [[2, 0]], r"reduce_sum: indices\[i\] is out of"),
        (tf.sparse.add(sp, tf.ones([2, 3])), {}, [[0, 4]], "sparse.add: indices"),
        ((sp * tf.ones([1, 3])).values, {}, [[5, 0]], r"\*: indices\[i\] is out of bounds"),
    ]
    for fetch, extra, idx, words in cases:
        feed = {**feed_sparse(sp, idx, np.ones(1, np.float32), (2, 3)), **extra}
        with pytest.raises(InvalidArgumentError, match=words):
            run(fetch, feed)
    feed = feed_sparse(sp, [[0, 0]], np.ones(1, np.float32), (2, 4))
    with pytest.raises(InvalidArgumentError, match="dense_shape and the shape of the dense"):
        run(tf.sparse.add(sp, tf.ones([2, 3])), feed)
    with pytest.raises(InvalidArgumentError, match="does not broadcast"):
        run((sp * tf.ones([3])).values, feed)
    with pytest.raises(InvalidArgumentError, match="different numbers of elements"):
        run(tf.sparse.reshape(sp, [3, 3]).indices, feed)
    ids = tf.SparseTensor([[0, 0]], tf.constant([7], tf.int64), [1, 2])
    with pytest.raises(InvalidArgumentError, match="to_indicator: indices"):
        run(tf.sparse.to_indicator(ids, 5))


# --- gradients --------------------------------------------------------------------------------
IDX = np.array([[0, 1], [1, 0], [1, 2], [2, 2]])


def test_gradients_with_respect_to_values_and_dense_operands():
    values = RNG.standard_normal(4)
    b = RNG.standard_normal((3, 2))
    dense = RNG.uniform(1, 2, (3, 3))
    w = RNG.standard_normal((3, 3))

    def sp(v):
        return tf.SparseTensor(IDX, v, [3, 3])
    gradcheck(lambda v: tf.sparse.to_dense(sp(v), default_value=0.5) * w, [values])
    gradcheck(lambda v, m: tf.sparse.sparse_dense_matmul(sp(v), m), [values, b])
    gradcheck(lambda v, m: tf.sparse.sparse_dense_matmul(sp(v), m, adjoint_a=True,
                                                         adjoint_b=True), [values, b.T])
    gradcheck(lambda v: tf.sparse.reduce_sum(sp(v), 0) * w[0], [values])
    gradcheck(lambda v, d: tf.sparse.add(sp(v), d) * w, [values, dense])
    gradcheck(lambda v, d: (sp(v) * d).values + (sp(v) / d[:1]).values, [values, dense])
    gradcheck(lambda v: tf.sparse.to_dense(tf.sparse.reshape(sp(v), [9, 1])), [values])


def test_to_dense_gradient_is_the_upstream_gradient_at_the_indices():
    values = tf.placeholder(tf.float32, [4])
    dense = tf.sparse.to_dense(tf.SparseTensor(IDX, values, [3, 3]))
    w = RNG.standard_normal((3, 3)).astype(np.float32)
    (g,) = tf.gradients(tf.reduce_sum(dense * w), [values])
    assert_close(run(g, {values: np.ones(4, np.float32)}), w[tuple(IDX.T)])


def test_segment_and_embedding_gradients():
    ids = np.array([[0, 2], [-1, 2], [1, 1]])
    gradcheck(lambda x: tf.unsorted_segment_sum(x, ids, 3), [RNG.standard_normal((3, 2, 2))])
    gradcheck(lambda x: tf.unsorted_segment_mean(x, ids[:, 0], 4), [RNG.standard_normal((3, 2))])
    gradcheck(lambda x: tf.unsorted_segment_sqrt_n(x, ids[:, 1], 4), [RNG.standard_normal(3)])
    sp_ids = tf.SparseTensorValue(IDX, np.array([3, 0, 3, 1]), np.array([4, 3]))

    def lookup(params, weights, combiner):
        sp_w = tf.SparseTensor(IDX, weights, [4, 3])
        return tf.nn.embedding_lookup_sparse(params, sp_ids, sp_w, combiner=combiner)
    for combiner in ("sum", "mean", "sqrtn"):
        gradcheck(lambda p, w: lookup(p, w, combiner),
                  [RNG.standard_normal((4, 2)), RNG.uniform(0.5, 1.5, 4)])


# --- segment reductions -----------------------------------------------------------------------
def np_segment(data, ids, num, kind):
    rows = np.asarray(data).reshape((np.size(ids),) + np.shape(data)[np.ndim(ids):])
    ids = np.asarray(ids).reshape(-1)
    keep = ids >= 0
    out = np.zeros((num,) + rows.shape[1:], rows.dtype)
    np.add.at(out, ids[keep], rows[keep])
    count = np.bincount(ids[keep], minlength=num).astype(rows.dtype)
    count = np.maximum(count, 1).reshape((num,) + (1,) * (rows.ndim - 1))
    return {"sum": out, "mean": out / count, "sqrt_n": out / np.sqrt(count)}[kind]


def test_unsorted_segment_reductions_match_numpy(target):
    data = RNG.standard_normal((4, 3, 2)).astype(np.float32)
    ints = RNG.integers(-5, 6, (5, 2)).astype(np.int64)
    ids2 = np.array([[0, 3, -1], [3, 3, 1], [0, -2, 2], [4, 4, 4]])
    fetches, wants = [], []
    for kind in ("sum", "mean", "sqrt_n"):
        fn = getattr(tf.math, f"unsorted_segment_{kind}")
        fetches += [fn(data, ids2[:, 0], 6), fn(data, ids2, 5)]
        wants += [np_segment(data, ids2[:, 0], 6, kind), np_segment(data, ids2, 5, kind)]
    fetches.append(tf.unsorted_segment_sum(ints, tf.constant([1, 1, -1, 0, 1]), 3))
    wants.append(np_segment(ints, [1, 1, -1, 0, 1], 3, "sum"))
    for got, want in zip(run(fetches, target=target), wants):
        assert_close(got, want)


def test_segment_ids_past_num_segments_fail_the_run():
    num = tf.placeholder(tf.int32, [])
    out = tf.unsorted_segment_sum(tf.ones([3]), [0, 4, 1], num)
    assert run(out, {num: 5}).tolist() == [1, 1, 0, 0, 1]
    with pytest.raises(InvalidArgumentError, match=r"segment_ids\[j\] is out of range \[0, "
                       r"num_segments\).*first failing index \(1,\)\); data: \[3\]"):
        run(out, {num: 3})


# --- embedding_lookup_sparse ------------------------------------------------------------------
def np_embedding(params, indices, ids, weights, rows, combiner):
    out = np.zeros((rows, params.shape[1]))
    for r in range(rows):
        mine = indices[:, 0] == r
        if not mine.any():
            continue
        w = weights[mine] if weights is not None else np.ones(mine.sum())
        total = (params[ids[mine]] * w[:, None]).sum(0)
        out[r] = total / {"sum": 1, "mean": w.sum(), "sqrtn": np.sqrt((w * w).sum())}[combiner]
    return out


def test_embedding_lookup_sparse_matches_numpy(target):
    params = RNG.standard_normal((6, 3)).astype(np.float32)
    indices = np.array([[0, 0], [0, 1], [0, 2], [2, 0], [2, 1], [3, 0]])
    ids = np.array([1, 5, 1, 0, 4, 2])
    weights = RNG.uniform(0.5, 2, 6).astype(np.float32)
    sp_ids = tf.SparseTensor(indices, ids, [5, 3])
    sp_w = tf.SparseTensor(indices, weights, [5, 3])
    fetches, wants = [], []
    for combiner in ("sum", "mean", "sqrtn"):
        for w in (None, weights):
            fetches.append(tf.nn.embedding_lookup_sparse(
                params, sp_ids, None if w is None else sp_w, combiner=combiner))
            wants.append(np_embedding(params, indices, ids, w, 5, combiner))
    shards = [params[0::2], params[1::2]]  # "mod": id i in shard i % 2, row i // 2
    fetches.append(tf.nn.embedding_lookup_sparse([tf.constant(s) for s in shards], sp_ids,
                                                 sp_w, partition_strategy="mod"))
    wants.append(np_embedding(params, indices, ids, weights, 5, "mean"))
    fetches.append(tf.nn.embedding_lookup_sparse([params[:3], params[3:]], sp_ids, None,
                                                 partition_strategy="div", combiner="sum"))
    wants.append(np_embedding(params, indices, ids, None, 5, "sum"))
    for got, want in zip(run(fetches, target=target), wants):
        assert_close(got, want.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_embedding_lookup_sparse_of_half_params_is_float32():
    sp_ids = tf.SparseTensor([[0, 0]], tf.constant([1], tf.int64), [1, 1])
    out = tf.nn.embedding_lookup_sparse(tf.ones([2, 2], tf.float16), sp_ids, None)
    assert out.dtype == tf.float32 and run(out).tolist() == [[1, 1]]


# --- graph-build errors -----------------------------------------------------------------------
def test_construction_errors_name_the_tensors():
    with pytest.raises(ShapeError, match="indices must be 2-D"):
        tf.SparseTensor([0, 1], [1.0, 2.0], [3])
    with pytest.raises(ShapeError, match="one entry count"):
        tf.SparseTensor([[0], [1]], [1.0], [3])
    with pytest.raises(ShapeError, match="give rank 2, but dense_shape"):
        tf.SparseTensor([[0, 1]], [1.0], [3])
    with pytest.raises(DTypeError, match="indices must be integers"):
        tf.SparseTensor([[0.5]], [1.0], [3])


def test_ops_refuse_what_they_cannot_compute():
    sp = tf.SparseTensor([[0, 1]], [1.0], [2, 2])
    with pytest.raises(NotImplementedError, match="number of entries of the sum.*depends on "
                       "the data.*to_dense"):
        tf.sparse.add(sp, sp)
    with pytest.raises(TypeError, match="at least one input should be a SparseTensor"):
        tf.sparse.add(tf.ones([2]), tf.ones([2]))
    with pytest.raises(NotImplementedError, match="known only when the graph runs"):
        tf.sparse.from_dense(tf.placeholder(tf.float32, [2]))
    with pytest.raises(NotImplementedError, match="along axis 1.*needs a sort"):
        tf.sparse.concat(1, [sp, sp])
    with pytest.raises(ShapeError, match="inner dimensions do not match: 2.*vs. 3"):
        tf.sparse.sparse_dense_matmul(sp, tf.ones([3, 1]))
    with pytest.raises(ShapeError, match="rank-2 SparseTensor"):
        tf.sparse.sparse_dense_matmul(tf.SparseTensor([[0]], [1.0], [2]), tf.ones([2, 1]))
    with pytest.raises(ShapeError, match="dense shape .2, 2. and the dense operand"):
        tf.sparse.add(sp, tf.ones([2, 3]))
    with pytest.raises(ShapeError, match="only the dense side broadcasts"):
        sp * tf.ones([1, 2, 2])
    with pytest.raises(TypeError, match="two SparseTensors is not supported"):
        sp * sp
    with pytest.raises(ShapeError, match="input 1 has rank 1, input 0 rank 2"):
        tf.sparse.concat(0, [sp, tf.SparseTensor([[0]], [1.0], [2])])
    with pytest.raises(ShapeError, match="only one dimension of shape may be -1"):
        tf.sparse.reshape(sp, [-1, -1])
    with pytest.raises(ShapeError, match="rank of the SparseTensor.*must be known"):
        tf.sparse.to_dense(tf.sparse_placeholder(tf.float32))
    with pytest.raises(TypeError, match="expected a SparseTensor, got Tensor"):
        tf.sparse.to_dense(tf.ones([2]))
    with pytest.raises(DTypeError, match="values must be int32 or int64 ids"):
        tf.sparse.to_indicator(sp, 3)
    with pytest.raises(DTypeError, match="unsorted_segment_mean expects float data"):
        tf.unsorted_segment_mean(tf.ones([2], tf.int32), [0, 1], 2)
    with pytest.raises(ShapeError, match="must be a prefix of the shape of data"):
        tf.unsorted_segment_sum(tf.ones([2, 3]), [[0, 1]], 2)
    with pytest.raises(ValueError, match="combiner must be one of"):
        tf.nn.embedding_lookup_sparse(tf.ones([2, 2]), sp, None, combiner="max")
    with pytest.raises(TypeError, match="sp_ids: expected a SparseTensor"):
        tf.nn.embedding_lookup_sparse(tf.ones([2, 2]), tf.ones([2]), None)


def test_names_and_the_missing_ones():
    assert tf.compat.v1.sparse.to_dense is tf.sparse.to_dense
    assert tf.sparse.SparseTensor is tf.SparseTensor
    assert tf.sparse.placeholder is tf.sparse_placeholder
    assert tf.sparse.matmul is tf.sparse_tensor_dense_matmul
    assert tf.math.unsorted_segment_sum is tf.unsorted_segment_sum
    assert not hasattr(tf.sparse, "reorder")
    with pytest.raises(UnsupportedAPIError, match=r"tf\.sparse\.retain is a TensorFlow 1 API"):
        tf.sparse.retain  # noqa: B018
