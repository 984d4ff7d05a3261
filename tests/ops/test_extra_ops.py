"""graphc.ops.extra_ops: cumsum and cumprod (exclusive, reverse, every axis, float and int),
gather_nd (batch_dims too), scatter_nd and the tensor_scatter family, top_k and in_top_k,
against numpy on every target; gradients against numpy formulas and central differences;
the run-time range checks and the graph-build errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import DTypeError, InvalidArgumentError, ShapeError
from graphc.test import gradcheck

RNG = np.random.default_rng(20261207)


def _feed(*arrays):
    phs = [tf.placeholder(a.dtype, a.shape) for a in arrays]
    return phs, dict(zip(phs, arrays))


# --- cumsum and cumprod ---------------------------------------------------------------------
def np_scan(fn, x, axis, exclusive, reverse):
    if reverse:
        x = np.flip(x, axis)
    out = fn(x, axis=axis, dtype=x.dtype)
    if exclusive:
        ident = np.zeros_like if fn is np.cumsum else np.ones_like
        first = ident(np.take(x, [0], axis=axis))
        out = np.concatenate([first, np.delete(out, -1, axis=axis)], axis=axis)
    return np.flip(out, axis) if reverse else out


# (op, dtype, shape, axis, exclusive, reverse): every flag combination for both ops
SCANS = [
    ("cumsum", "float32", (7,), 0, False, False), ("cumsum", "float64", (3, 5), 1, True, False),
    ("cumsum", "int32", (2, 6), 1, False, True), ("cumsum", "float32", (4, 9, 2), 1, True, True),
    ("cumsum", "int64", (5, 3), 0, True, True), ("cumsum", "float32", (2, 33), -1, False, False),
    ("cumprod", "float64", (3, 5), 1, False, False), ("cumprod", "int64", (5, 3), 0, True, False),
    ("cumprod", "float32", (4, 9, 2), 1, False, True), ("cumprod", "int32", (2, 6), 1, True, True),
    ("cumprod", "float32", (2, 33), -1, True, False),
]


def test_cumsum_and_cumprod_match_numpy(target):
    fetches, wants, feed = [], [], {}
    for name, dtype, shape, axis, exclusive, reverse in SCANS:
        x = (RNG.integers(-3, 4, shape) if dtype.startswith("int")
             else RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1, 1], shape)).astype(dtype)
        (p,), fed = _feed(x)
        feed.update(fed)
        fetches.append(getattr(tf, name)(p, axis, exclusive=exclusive, reverse=reverse))
        wants.append(np_scan(getattr(np, name), x, axis, exclusive, reverse))
    for got, want in zip(run(fetches, feed, target), wants):
        assert got.dtype == want.dtype
        assert_close(got, want, rtol=1e-5 if want.dtype == np.float32 else None)


def test_names_and_namespaces():
    assert tf.math.cumsum is tf.cumsum and tf.math.cumprod is tf.cumprod
    assert tf.nn.top_k is tf.math.top_k and tf.nn.in_top_k is tf.math.in_top_k
    assert tf.tensor_scatter_update is tf.tensor_scatter_nd_update
    assert tf.tensor_scatter_add is tf.tensor_scatter_nd_add
    assert tf.compat.v1.gather_nd is tf.gather_nd
    x = tf.constant([1.0, 2.0, 3.0])
    assert tf.cumsum(x, name="running").name == "running:0"
    assert tf.cumsum(x, axis=tf.constant(0)).shape.as_list() == [3]


def test_scan_gradients_match_numpy(target):
    x = RNG.standard_normal((3, 6))
    x[1, 2] = 0.0  # cumprod's gradient is exact at a zero (no division by x)
    x[2, 0] = x[2, 3] = 0.0
    w = RNG.standard_normal((3, 6))
    (p,), feed = _feed(x)
    loss_s = tf.reduce_sum(tf.cumsum(p, 1, reverse=True) * w)
    loss_p = tf.reduce_sum(tf.cumprod(p, 1, exclusive=True) * w)
    gs, gp = run(tf.gradients([loss_s], [p]) + tf.gradients([loss_p], [p]), feed, target)
    # d/dx_j sum_i w_i sum_{k>=i} x_k = sum_{i<=j} w_i
    assert_close(gs, np.cumsum(w, 1))
    want = np.zeros_like(x)  # d/dx_j sum_i w_i prod_{k<i} x_k, by direct products
    for r in range(3):
        for j in range(6):
            want[r, j] = sum(w[r, i] * np.prod(np.delete(x[r, :i], j)) for i in range(j + 1, 6))
    assert_close(gp, want)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scan_gradients_by_central_differences(name):
    x = RNG.uniform(-1.5, 1.5, (2, 5))
    x[0, 1] = 0.0
    gradcheck(lambda t: getattr(tf, name)(t, 1, exclusive=True), [x])
    gradcheck(lambda t: getattr(tf, name)(t, 0, reverse=True), [x], target="llvm")


def test_scan_errors_name_the_problem():
    with pytest.raises(ShapeError, match=r"cumsum: the size of axis 0 of 'Placeholder:0' "
                       r"\(shape \(\?, 3\)\) must be known"):
        tf.cumsum(tf.placeholder(tf.float32, [None, 3]))
    with pytest.raises(DTypeError, match="cumprod expects a numeric"):
        tf.cumprod(tf.constant([True, False]))
    with pytest.raises(ShapeError, match="cumsum axis 2 is out of range"):
        tf.cumsum(tf.ones([2, 2]), 2)
    with pytest.raises(ShapeError, match="cumsum: axis must be a single int known when"):
        tf.cumsum(tf.ones([2, 2]), tf.placeholder(tf.int32, []))
    with pytest.raises(ShapeError, match="rank >= 1"):
        tf.cumsum(tf.constant(1.0))


def test_a_long_scan_is_logarithmic_in_kernels():
    x = tf.placeholder(tf.float32, [2, 1000])
    y = tf.cumsum(x, 1)
    info = tf.explain(y, {x: np.ones((2, 1000), np.float32)})
    # 10 steps: a slice, then the pad and the add in one kernel (compiler/siblings.py)
    assert "20 kernels" in info.splitlines()[0]
    assert_close(run(y, {x: np.ones((2, 1000), np.float32)}, "llvm"),
                 np.tile(np.arange(1, 1001, dtype=np.float32), (2, 1)))


# --- gather_nd ------------------------------------------------------------------------------
def np_gather_nd(params, indices, b=0):
    if b:
        return np.stack([np_gather_nd(params[i], indices[i], b - 1) for i in range(len(params))])
    q = indices.shape[-1]
    flat = indices.reshape(int(np.prod(indices.shape[:-1])), q)
    out = np.stack([params[tuple(ix)] for ix in flat]) if len(flat) else \
        np.zeros((0,) + params.shape[q:], params.dtype)
    return out.reshape(indices.shape[:-1] + params.shape[q:])


def test_gather_nd_matches_numpy(target):
    params = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    ints = RNG.integers(-9, 9, (4, 3)).astype(np.int64)
    (p, pi), feed = _feed(params, ints)
    cases = [  # (indices, batch_dims, params)
        (np.array([[2, 3, 4], [0, 0, 0], [1, 2, 3]], np.int32), 0, params),
        (np.array([[[1, 0]], [[2, 3]]], np.int64), 0, params),
        (np.array([[2], [0], [2]], np.int32), 0, params),
        (np.zeros((2, 0), np.int32), 0, params),
        (np.array([[[1], [0]], [[3], [3]], [[0], [2]]], np.int32), 1, params),
        (np.array([[[1, 4], [0, 0]], [[3, 1], [2, 2]], [[0, 0], [1, 1]]], np.int32), 1, params),
        (np.array([[0, 1], [3, 2]], np.int32), 0, ints),
    ]
    fetches = [tf.gather_nd(pi if ps is ints else p, tf.constant(ix), batch_dims=b)
               for ix, b, ps in cases]
    for got, (ix, b, ps) in zip(run(fetches, feed, target), cases):
        assert_close(got, np_gather_nd(ps, ix, b))


def test_gather_nd_with_fed_indices_and_its_gradient(target):
    params = RNG.standard_normal((4, 3))
    ix = np.array([[3, 1], [0, 2], [3, 1]], np.int32)  # a repeated index: gradients add
    (p, i), feed = _feed(params, ix)
    i_any = tf.placeholder(tf.int32, [None, 2])
    w = RNG.standard_normal(3)
    out = tf.gather_nd(p, i_any)
    (grad,) = tf.gradients(tf.reduce_sum(out * w), [p])
    got, g = run([out, grad], {p: params, i_any: ix}, target)
    assert_close(got, params[ix[:, 0], ix[:, 1]])
    want = np.zeros_like(params)
    np.add.at(want, (ix[:, 0], ix[:, 1]), w)
    assert_close(g, want)
    rows = RNG.standard_normal((2, 5, 3))
    gradcheck(lambda t: tf.gather_nd(t, [[[1], [4]], [[0], [0]]], batch_dims=1), [rows])


@pytest.mark.parametrize("bad", [[[0, 3]], [[4, 0]], [[-1, 2]], [[0, -1]]])
def test_gather_nd_out_of_range_fails_the_run(target, bad):
    """[0, 3] would alias row 1 of a flattened [4, 3]: each component is checked."""
    p = tf.placeholder(tf.float32, [4, 3])
    i = tf.placeholder(tf.int32, [None, 2])
    out = tf.gather_nd(p, i)
    (grad,) = tf.gradients(tf.reduce_sum(out), [p])
    feed = {p: np.ones((4, 3), np.float32), i: np.array(bad, np.int32)}
    for fetch in (out, grad):  # the gradient alone checks too
        with pytest.raises(InvalidArgumentError, match=r"gather_nd: an index is out of range "
                           r"for params of shape \[4, 3\]: indices must lie in \[0, 4\) x "
                           r"\[0, 3\)"):
            run(fetch, feed, target)


def test_gather_nd_build_errors():
    p = tf.ones([2, 3])
    with pytest.raises(DTypeError, match="gather_nd: indices must be int32 or int64"):
        tf.gather_nd(p, tf.constant([[0.0, 1.0]]))
    with pytest.raises(ShapeError, match=r"index depth 3 .* more than the 2 axes of params"):
        tf.gather_nd(p, tf.constant([[0, 1, 0]]))
    with pytest.raises(ShapeError, match="known last dimension"):
        tf.gather_nd(p, tf.placeholder(tf.int32, [2, None]))
    with pytest.raises(ShapeError, match="batch axis 0 must have one known size"):
        tf.gather_nd(p, tf.constant([[[0]]] * 3), batch_dims=1)
    with pytest.raises(ShapeError, match="must have sizes known"):
        tf.gather_nd(tf.placeholder(tf.float32, [None, 3]), tf.constant([[0]]))


# --- scatter_nd and tensor_scatter ----------------------------------------------------------
def test_scatter_nd_sums_duplicates_and_its_gradient_is_a_gather(target):
    ix = np.array([[1, 0], [2, 2], [1, 0], [0, 1]], np.int32)
    upd = RNG.standard_normal((4, 5)).astype(np.float32)
    (i, u), feed = _feed(ix, upd)
    out = tf.scatter_nd(i, u, [3, 3, 5])
    w = RNG.standard_normal((3, 3, 5)).astype(np.float32)
    (gu,) = tf.gradients(tf.reduce_sum(out * w), [u])
    ints = tf.scatter_nd(tf.constant([[0], [0], [3]]), tf.constant([4, 5, 6]), tf.constant([4]))
    got, g, gi = run([out, gu, ints], feed, target)
    want = np.zeros((3, 3, 5), np.float32)
    np.add.at(want, (ix[:, 0], ix[:, 1]), upd)
    assert_close(got, want)
    assert_close(g, w[ix[:, 0], ix[:, 1]])
    assert gi.tolist() == [9, 0, 0, 6] and gi.dtype == np.int32


def test_tensor_scatter_family(target):
    base = RNG.standard_normal((4, 2))
    ix = np.array([[3], [1], [3]], np.int32)
    upd = RNG.standard_normal((3, 2))
    (t, u), feed = _feed(base, upd)
    i = tf.constant(ix)
    added, subbed, updated = (tf.tensor_scatter_nd_add(t, i, u), tf.tensor_scatter_nd_sub(
        t, i, u), tf.tensor_scatter_nd_update(t, i, u))
    w = RNG.standard_normal((4, 2))
    gt, gu = tf.gradients(tf.reduce_sum(updated * w), [t, u])
    got = run([added, subbed, updated, gt, gu], feed, target)
    summed = np.zeros_like(base)
    np.add.at(summed, ix[:, 0], upd)
    assert_close(got[0], base + summed)
    assert_close(got[1], base - summed)
    want = base.copy()
    want[1], want[3] = upd[1], upd[2]  # of the two updates of row 3, the last wins
    assert_close(got[2], want)
    assert_close(got[3], w * np.array([[1], [0], [1], [0]]))
    assert_close(got[4], np.stack([np.zeros(2), w[1], w[3]]))


def test_scatter_errors():
    with pytest.raises(ShapeError, match=r"scatter_nd: updates must have shape "
                       r"indices.shape\[:-1\] \+ shape\[1:\] = \[2, 3\]"):
        tf.scatter_nd(tf.constant([[0], [1]]), tf.ones([2, 4]), [5, 3])
    with pytest.raises(DTypeError, match=r"tensor_scatter_nd_add: updates .* must have the "
                       "dtype of tensor"):
        tf.tensor_scatter_nd_add(tf.ones([3]), tf.constant([[0]]), tf.constant([1]))
    with pytest.raises(ShapeError, match="shape must be known when the graph is built"):
        tf.scatter_nd(tf.constant([[0]]), tf.ones([1]), tf.placeholder(tf.int32, [1]))
    with pytest.raises(InvalidArgumentError, match=r"scatter_nd: an index is out of range for "
                       r"the output of shape \[2, 2\]"):
        run(tf.scatter_nd(tf.constant([[0, 2]]), tf.ones([1]), [2, 2]), None, "llvm")


# --- top_k and in_top_k ---------------------------------------------------------------------
def np_top_k(x, k):
    """TF's order: value descending, index ascending among equals; nan ranks as -inf."""
    key = np.where(np.isnan(x), -np.inf, x) if x.dtype.kind == "f" else x
    rows = key.reshape(-1, x.shape[-1])
    order = np.array([sorted(range(x.shape[-1]), key=lambda j: (-float(r[j]), j))[:k]
                      for r in rows], np.int32).reshape(x.shape[:-1] + (k,))
    return np.take_along_axis(x, order.astype(np.int64), -1), order


@pytest.mark.parametrize("k", [1, 5, 11])  # 11: the while-loop form, 2 iterations of 8
def test_top_k_matches_tf_order(target, k):
    x = RNG.integers(-3, 4, (3, 4, 11)).astype(np.float32)  # many ties
    x[0, 0, :4] = [np.nan, -np.inf, np.inf, -np.inf]
    x[1, 1] = -np.inf
    ints = RNG.integers(-2, 3, (5, 12)).astype(np.int64)
    ints[0] = np.iinfo(np.int64).min  # all the lowest int: no sentinel can stand for taken
    (p, pi), feed = _feed(x, ints)
    a, b = tf.nn.top_k(p, k), tf.math.top_k(pi, k=k, sorted=False)
    dynamic = tf.placeholder(tf.float32, [None, 11])
    c = tf.nn.top_k(dynamic, k)
    feed[dynamic] = x[1]
    got = run([a.values, a.indices, b.values, b.indices, c.values, c.indices], feed, target)
    for (values, indices), arr in zip(zip(got[::2], got[1::2]), (x, ints, x[1])):
        want_v, want_i = np_top_k(arr, k)
        assert indices.dtype == np.int32 and values.dtype == arr.dtype
        assert_close(indices, want_i)
        assert_close(values, want_v)


def test_top_k_gradient_scatters_to_the_chosen_positions(target):
    x = RNG.standard_normal((2, 12))
    x[0, 4] = x[0, 1] = x[0].max() + 1  # a tie: each of the two gets its own gradient
    x[1] = RNG.permutation([3, 4, 5, 6, 7, 8, 9, 10, 11, 2, 2, 0])  # the 10th and 11th
    # largest tie: only the first of them is taken, and gets a gradient
    (p,), feed = _feed(x)
    dynamic = tf.placeholder(tf.float64, [None, 12])
    w = RNG.standard_normal((2, 10))
    grads = [tf.gradients(tf.reduce_sum(tf.nn.top_k(t, 10).values * w), [t])[0]
             for t in (p, dynamic)]
    feed[dynamic] = x
    _, order = np_top_k(x, 10)
    want = np.zeros_like(x)
    np.put_along_axis(want, order.astype(np.int64), w, -1)
    for got in run(grads, feed, target):
        assert_close(got, want)


def test_top_k_edge_cases_and_errors():
    x = tf.constant([[3.0, 1.0, 2.0]])
    full, none = tf.nn.top_k(x, 3), tf.nn.top_k(x, tf.constant(0))
    got = run([full.indices, none.values, none.indices])
    assert got[0].tolist() == [[0, 2, 1]] and got[1].shape == (1, 0) == got[2].shape
    values, indices = tf.nn.top_k(tf.constant([5, 9, 7]), 2)  # a rank-1 input, unpacked
    assert run(indices).tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"top_k: k \(4\) must be in \[0, 3\]"):
        tf.nn.top_k(x, 4)
    with pytest.raises(ShapeError, match="top_k: k must be a single int known when the graph"):
        tf.nn.top_k(x, tf.placeholder(tf.int32, []))
    with pytest.raises(ShapeError, match="known last dimension"):
        tf.nn.top_k(tf.placeholder(tf.float32, [2, None]))
    with pytest.raises(DTypeError, match="top_k expects a numeric"):
        tf.nn.top_k(tf.constant([True]))


def test_in_top_k_follows_tfs_kernel(target):
    pred = np.array([[0.1, 0.5, 0.5, 0.2],      # ties at the k-th value count as in
                     [0.1, 0.5, 0.5, 0.2],
                     [np.nan, 0.1, 0.9, 0.0],   # a non-finite prediction: False
                     [0.3, 0.2, 0.1, 0.0],
                     [0.3, 0.2, 0.1, 0.0],      # a target out of range: False
                     [0.3, 0.2, 0.1, 0.0]], np.float32)
    targets = np.array([2, 3, 2, 0, 4, -1], np.int64)
    (p, t), feed = _feed(pred, targets)
    k = tf.placeholder(tf.int32, [])
    one, fed = tf.nn.in_top_k(p, t, 1), tf.math.in_top_k(p, tf.cast(t, tf.int32), k)
    feed[k] = 3
    got_one, got_fed = run([one, fed], feed, target)
    assert got_one.tolist() == [True, False, False, True, False, False]
    assert got_fed.tolist() == [True, True, False, True, False, False]
    with pytest.raises(DTypeError, match="in_top_k: predictions must be floating-point"):
        tf.nn.in_top_k(tf.constant([[1, 2]]), tf.constant([0]), 1)
    with pytest.raises(ShapeError, match="same batch size"):
        tf.nn.in_top_k(tf.ones([2, 3]), tf.constant([0]), 1)
