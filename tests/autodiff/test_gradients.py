"""Gradient tests of graphc.autodiff: every differentiable primitive and composite op of the
API checked against central finite differences (graphc.test.gradcheck, float64), on several
shapes including broadcasting and dims known only at run time; then TF1 `tf.gradients`
semantics. Second order and custom_gradient are in test_higher_order.py, large-logit
stability in test_stability.py, the gradient checker itself in test_gradcheck.py.

Inputs keep away from kinks (|x| > 0.1 for abs and relu, distinct values for max/min, x/y
away from integers for mod), where finite differences would not match any one-sided rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.test import compute_gradient_error, gradcheck

_RNG = np.random.default_rng(1234)


# --- input generators (module-level seeded draws: deterministic per collection order) -------
def u(*shape, lo=-2.0, hi=2.0):
    return _RNG.uniform(lo, hi, shape)


def pos(*shape):
    return _RNG.uniform(0.5, 2.0, shape)


def away(*shape, gap=0.2, hi=2.0):
    """Uniform magnitudes in [gap, hi] with random signs: no element near 0."""
    return _RNG.uniform(gap, hi, shape) * _RNG.choice([-1.0, 1.0], shape)


def distinct(*shape, gap=0.1):
    """Values pairwise at least `gap` apart (so max/min have one clear winner)."""
    n = int(np.prod(shape, dtype=int))
    return (_RNG.permutation(n) * gap + _RNG.uniform(0, gap / 4, n) - n * gap / 2).reshape(shape)


def apart(shape_a, shape_b, gap=0.1):
    """(a, b) whose broadcast elements differ by at least `gap` everywhere."""
    while True:
        a, b = u(*shape_a), u(*shape_b)
        if np.min(np.abs(np.subtract(a, b))) > gap:
            return a, b


def mod_pair(shape_x, shape_y):
    """(x, y) with y in [1, 2] and x / y at least 0.2 away from an integer (floor mod is
    smooth there). x must have the broadcast shape."""
    y = _RNG.uniform(1.0, 2.0, shape_y)
    k = _RNG.integers(-2, 3, shape_x)
    return np.broadcast_to(y, shape_x) * (k + _RNG.uniform(0.2, 0.8, shape_x)), y


def case(name, fn, *inputs, **tol):
    return pytest.param(fn, inputs, tol, id=name)


# --- elementwise ------------------------------------------------------------------------------
UNARY = [
    case("neg", tf.negative, u(2, 3)),
    case("neg_op", lambda x: -x, u(4)),
    case("abs", tf.abs, away(2, 3)),
    case("sqrt", tf.sqrt, pos(2, 3)),
    case("exp", tf.exp, u(2, 3)),
    case("log", tf.log, pos(2, 3)),
    case("log1p", tf.log1p, u(2, 3, lo=-0.5)),
    case("expm1", tf.expm1, u(2, 3)),
    case("sin", tf.sin, u(2, 3)),
    case("cos", tf.cos, u(2, 3)),
    case("tanh", tf.tanh, u(2, 3)),
    case("sigmoid", tf.sigmoid, u(2, 3, lo=-4, hi=4)),
    case("erf", tf.erf, u(2, 3)),
    case("square", tf.square, u(2, 3)),
    case("reciprocal", tf.reciprocal, away(2, 3, gap=0.5)),
    case("rsqrt", tf.rsqrt, pos(2, 3)),
    case("identity", tf.identity, u(2, 3)),
    case("cast_f64", lambda x: tf.cast(x, tf.float64) * 2.0, u(2, 3)),
    case("cast_f32_roundtrip", lambda x: tf.cast(tf.square(tf.cast(x, tf.float32)), tf.float64),
         u(2, 3), delta=1e-3, atol=2e-3, rtol=1e-3),
    case("scalar_input", lambda x: tf.exp(x) * tf.sin(x), u()),
    case("clip_by_value", lambda x: tf.clip_by_value(x, -1.0, 1.0),
         np.array([-1.7, -0.6, 0.3, 0.8, 1.4])),
]

BROADCAST = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((), (2, 3)), ((2, 3), ()),
             ((2, 1, 3), (4, 1))]


def _binary_cases():
    out = []
    for sa, sb in BROADCAST:
        tag = f"{sa}x{sb}".replace(" ", "")
        out += [case(f"add{tag}", tf.add, u(*sa), u(*sb)),
                case(f"sub{tag}", tf.subtract, u(*sa), u(*sb)),
                case(f"mul{tag}", tf.multiply, u(*sa), u(*sb)),
                case(f"truediv{tag}", tf.truediv, u(*sa), away(*sb, gap=0.5)),
                case(f"div{tag}", tf.div, u(*sa), pos(*sb)),
                case(f"pow{tag}", tf.pow, pos(*sa), u(*sb)),
                case(f"maximum{tag}", tf.maximum, *apart(sa, sb)),
                case(f"minimum{tag}", tf.minimum, *apart(sa, sb)),
                case(f"atan2{tag}", tf.atan2, away(*sa, gap=0.3), away(*sb, gap=0.3))]
    return out


BINARY = _binary_cases() + [
    case("mod", tf.mod, *mod_pair((2, 3), (2, 3))),
    case("mod_broadcast", tf.mod, *mod_pair((2, 3), (3,))),
    case("mod_op", lambda x, y: x % y, *mod_pair((4,), ())),
    case("pow_int_exponent_negative_base", lambda x: tf.pow(x, 3.0), u(2, 3)),
    case("pow_op", lambda x: x ** 2.5, pos(3)),
    case("rpow", lambda x: 2.0 ** x, u(3)),
    case("python_scalar_times", lambda x: 2.5 * x - 1.0 / (x + 3.0), u(2, 3)),
    case("operators", lambda x, y: (x + y) * (x - y) / (y * y + 1.0), u(2, 3), u(3)),
    case("used_twice", lambda x: x * x + tf.sin(x) * x, u(3, 2)),
    case("where", lambda a, b: tf.where(np.array([[True, False, True], [False, False, True]]),
                                       a, b), u(2, 3), u(2, 3)),
    case("where_broadcast", lambda a, b: tf.where(np.array([True, False, True]), a, b),
         u(2, 3), u(3)),
    case("where_scalar_branch", lambda a, b: tf.where(np.array([[True, False], [False, True]]),
                                                      a, b), u(2, 2), u()),
]


# --- reductions -----------------------------------------------------------------------------
def _reduce_cases():
    out = []
    specs = [(None, False), (0, False), (1, True), ([0, 2], False), (-1, False), ([0, 2], True)]
    for fn_name in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"):
        fn = getattr(tf, fn_name)
        for axis, keep in specs:
            data = distinct(2, 3, 2) if fn_name in ("reduce_max", "reduce_min") else \
                u(2, 3, 2, lo=0.5, hi=1.5) if fn_name == "reduce_prod" else u(2, 3, 2)
            out.append(case(f"{fn_name}[axis={axis},keep={keep}]",
                            lambda x, fn=fn, axis=axis, keep=keep: fn(x, axis, keepdims=keep),
                            data))
    return out


def _prod_with_zeros():
    one_zero = np.array([[0.0, 1.5, -2.0], [1.2, 0.7, 0.9]])
    two_zeros = np.array([[0.0, 1.5, 0.0], [1.2, 0.0, 0.9]])
    return [case("reduce_prod_one_zero_all", tf.reduce_prod, one_zero),
            case("reduce_prod_one_zero_axis1", lambda x: tf.reduce_prod(x, 1), one_zero),
            case("reduce_prod_two_zeros_axis1", lambda x: tf.reduce_prod(x, 1), two_zeros),
            case("reduce_prod_zeros_axis0", lambda x: tf.reduce_prod(x, 0), two_zeros),
            case("reduce_prod_all_zero_but_one", tf.reduce_prod, np.array([0.0, 2.0, 3.0]))]


REDUCE = _reduce_cases() + _prod_with_zeros() + [
    case("reduce_sum_vector", tf.reduce_sum, u(5)),
    case("reduce_mean_scalar", tf.reduce_mean, u()),
    case("reduce_max_rank1", tf.reduce_max, distinct(5)),
]


# --- linear algebra -------------------------------------------------------------------------
LINALG = [
    case("matmul", tf.matmul, u(2, 3), u(3, 4)),
    case("matmul_ta", lambda a, b: tf.matmul(a, b, transpose_a=True), u(3, 2), u(3, 4)),
    case("matmul_tb", lambda a, b: tf.matmul(a, b, transpose_b=True), u(2, 3), u(4, 3)),
    case("matmul_ta_tb", lambda a, b: tf.matmul(a, b, transpose_a=True, transpose_b=True),
         u(3, 2), u(4, 3)),
    case("matmul_op", lambda a, b: a @ b, u(2, 2), u(2, 3)),
    case("matmul_batched", tf.matmul, u(2, 2, 3), u(2, 3, 2)),
    case("matmul_batched_tb", lambda a, b: tf.matmul(a, b, transpose_b=True),
         u(2, 2, 3), u(2, 4, 3)),
    case("matmul_broadcast_rhs", tf.matmul, u(2, 2, 3), u(3, 2)),
    case("matmul_broadcast_lhs", tf.matmul, u(2, 3), u(2, 3, 2)),
    case("matmul_broadcast_batch_ones", tf.matmul, u(1, 2, 3), u(3, 1, 3, 2)),
    case("matmul_same_input", lambda a: tf.matmul(a, a, transpose_b=True), u(2, 3)),
    case("tensordot_1", lambda a, b: tf.tensordot(a, b, 1), u(2, 3), u(3, 2)),
    case("tensordot_0", lambda a, b: tf.tensordot(a, b, 0), u(2), u(3)),
    case("tensordot_2", lambda a, b: tf.tensordot(a, b, 2), u(2, 3, 2), u(3, 2, 2)),
    case("tensordot_pairs", lambda a, b: tf.tensordot(a, b, [[0, 2], [1, 0]]),
         u(2, 3, 2), u(2, 2, 3)),
]


# --- data movement --------------------------------------------------------------------------
def _mix(parts):
    """One tensor from a list, each part weighted differently (so a swapped gradient shows)."""
    return tf.add_n([p * float(i + 1) for i, p in enumerate(parts)])


MOVEMENT = [
    case("reshape", lambda x: tf.reshape(x, [3, 2]) * np.arange(6.0).reshape(3, 2), u(2, 3)),
    case("reshape_flat", lambda x: tf.reshape(x, [-1]), u(2, 3, 2)),
    case("transpose", lambda x: tf.transpose(x, [2, 0, 1]), u(2, 3, 2)),
    case("transpose_default", tf.transpose, u(2, 3)),
    case("expand_dims_0", lambda x: tf.expand_dims(x, 0), u(2, 3)),
    case("expand_dims_last", lambda x: tf.expand_dims(x, -1) * u(1, 3, 2), u(2, 3)),
    case("squeeze_axis", lambda x: tf.squeeze(x, [1]), u(2, 1, 3)),
    case("squeeze_all", tf.squeeze, u(1, 3, 1)),
    case("broadcast_to", lambda x: tf.broadcast_to(x, [2, 3, 4]) * u(2, 3, 4), u(3, 1)),
    case("broadcast_to_rank", lambda x: tf.broadcast_to(x, [2, 3]), u(3)),
    case("getitem_start", lambda x: x[1:], u(4, 3)),
    case("getitem_reverse", lambda x: x[::-1], u(4, 3)),
    case("getitem_steps", lambda x: x[::2, ::-2], u(5, 4)),
    case("getitem_neg_step_bounds", lambda x: x[:, 3:0:-2], u(2, 5)),
    case("getitem_negative_index", lambda x: x[-1], u(3, 2)),
    case("getitem_ellipsis_int", lambda x: x[..., 1], u(2, 3, 2)),
    case("getitem_newaxis", lambda x: x[None, 1:3], u(4, 2)),
    case("getitem_tensor_index", lambda x: x[tf.constant(-2)], u(3, 2)),
    case("slice", lambda x: tf.slice(x, [1, 0], [2, -1]), u(4, 3)),
    case("strided_slice", lambda x: tf.strided_slice(x, [3, 0], [0, 3], [-1, 2]), u(4, 3)),
    case("reverse", lambda x: tf.reverse(x, [1]) * u(2, 3), u(2, 3)),
    case("concat_axis0", lambda a, b, c: tf.concat([a, b, c], 0), u(1, 3), u(2, 3), u(1, 3)),
    case("concat_axis1", lambda a, b: tf.concat([a, b * 2.0], 1), u(2, 1), u(2, 3)),
    case("concat_self", lambda a: tf.concat([a, a, -a], -1), u(2, 2)),
    case("stack_axis0", lambda a, b: tf.stack([a, b]), u(2, 3), u(2, 3)),
    case("stack_axis1", lambda a, b: tf.stack([a, b * b], axis=1), u(2, 3), u(2, 3)),
    case("stack_last", lambda a, b: tf.stack([a, b], axis=-1), u(3), u(3)),
    case("unstack", lambda x: _mix(tf.unstack(x)), u(3, 2)),
    case("unstack_axis1", lambda x: _mix(tf.unstack(x, axis=1)), u(2, 3)),
    case("split_even", lambda x: _mix(tf.split(x, 2, axis=1)), u(2, 4)),
    case("split_sizes", lambda x: tf.concat(tf.split(x, [1, -1, 2], axis=0)[::-1], 0), u(5, 2)),
    case("tile", lambda x: tf.tile(x, [2, 3]) * u(4, 6), u(2, 2)),
    case("tile_rank3", lambda x: tf.tile(x, [1, 2, 2]), u(2, 1, 2)),
    case("pad_constant", lambda x: tf.pad(x, [[1, 2], [0, 1]]) * u(6, 4), u(3, 3)),
    case("pad_constant_value", lambda x: tf.pad(x, [[0, 1], [2, 0]], constant_values=3.0),
         u(2, 2)),
    case("gather_axis0", lambda x: tf.gather(x, [2, 0]), u(3, 2)),
    case("gather_repeated", lambda x: tf.gather(x, [0, 2, 0, 0]) * u(4, 2), u(3, 2)),
    case("gather_axis1", lambda x: tf.gather(x, [1, 1, 0], axis=1), u(2, 3)),
    case("gather_2d_indices", lambda x: tf.gather(x, [[0, 1], [1, 1]]), u(2, 3)),
    case("one_hot_select", lambda x: tf.reduce_sum(tf.one_hot([2, 0], 3, dtype=tf.float64) * x,
                                                   -1), u(2, 3)),
    case("one_hot_matmul", lambda x: tf.matmul(tf.one_hot([1, 1, 0], 2, dtype=tf.float64), x),
         u(2, 3)),
]


def _pad_mirror_cases():
    out = []
    for mode in ("REFLECT", "SYMMETRIC"):
        for paddings in ([[1, 2], [2, 0]], [[0, 0], [1, 1]], [[2, 1], [0, 0]], [[3, 3], [1, 2]]):
            shape = (4, 3)
            weights = u(*(d + b + a for d, (b, a) in zip(shape, paddings)))
            out.append(case(f"pad_{mode}_{paddings}".replace(" ", ""),
                            lambda x, m=mode, p=paddings, w=weights: tf.pad(x, p, mode=m) * w,
                            u(*shape)))
        out.append(case(f"pad_{mode}_rank1", lambda x, m=mode: tf.pad(x, [[2, 1]], mode=m),
                        u(3)))
        out.append(case(f"pad_{mode}_rank3", lambda x, m=mode: tf.pad(
            x, [[1, 0], [1, 1], [0, 2]], mode=m), u(2, 2, 3)))
    return out


MOVEMENT += _pad_mirror_cases()


# --- tf.nn ----------------------------------------------------------------------------------
def _relu6_data():
    return np.array([[-1.5, -0.3, 0.2, 3.0], [5.5, 6.4, 7.0, 1.1]])


NN = [
    case("relu", tf.nn.relu, away(2, 3)),
    case("relu6", tf.nn.relu6, _relu6_data()),
    case("leaky_relu", tf.nn.leaky_relu, away(2, 3)),
    case("leaky_relu_alpha", lambda x: tf.nn.leaky_relu(x, alpha=0.05), away(2, 3)),
    case("elu", tf.nn.elu, away(2, 3)),
    case("selu", tf.nn.selu, away(2, 3)),
    case("softplus", tf.nn.softplus, u(2, 3, lo=-5, hi=5)),
    case("softsign", tf.nn.softsign, away(2, 3)),
    case("gelu_exact", tf.nn.gelu, u(2, 3, lo=-3, hi=3)),
    case("gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), u(2, 3, lo=-3, hi=3)),
    case("silu", tf.nn.silu, u(2, 3, lo=-4, hi=4)),
    case("swish_beta", lambda x: tf.nn.silu(x, beta=1.5), u(2, 3)),
    case("nn_sigmoid", tf.nn.sigmoid, u(2, 3)),
    case("nn_tanh", tf.nn.tanh, u(2, 3)),
    case("softmax", tf.nn.softmax, u(2, 4)),
    case("softmax_axis0", lambda x: tf.nn.softmax(x, axis=0), u(3, 2)),
    case("softmax_rank3", tf.nn.softmax, u(2, 2, 3)),
    case("log_softmax", tf.nn.log_softmax, u(2, 4)),
    case("log_softmax_axis0", lambda x: tf.nn.log_softmax(x, axis=0), u(3, 2)),
    case("l2_normalize_axis1", lambda x: tf.nn.l2_normalize(x, axis=1), u(2, 3)),
    case("l2_normalize_all", tf.nn.l2_normalize, u(2, 3)),
    case("bias_add", tf.nn.bias_add, u(2, 3), u(3)),
    case("bias_add_nchw", lambda x, b: tf.nn.bias_add(x, b, data_format="NCHW"),
         u(2, 3, 2, 2), u(3)),
    case("moments_mean", lambda x: tf.nn.moments(x, [0])[0], u(4, 3)),
    case("moments_variance", lambda x: tf.nn.moments(x, [0, 1])[1], u(3, 2, 2)),
    case("moments_keepdims", lambda x: tf.add_n(list(tf.nn.moments(x, [1], keepdims=True))),
         u(2, 4)),
    case("l2_loss", tf.nn.l2_loss, u(2, 3)),
]


# --- losses ---------------------------------------------------------------------------------
_LABELS = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
_BINARY_LABELS = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
_SPARSE = np.array([2, 0])
_W = np.array([[1.0], [0.5]])
R = tf.losses.Reduction


def _away_from(target, *shape, gap=0.2):
    return target + away(*shape, gap=gap, hi=1.5)


LOSSES = [
    case("softmax_xent_logits", lambda z: tf.nn.softmax_cross_entropy_with_logits(
        labels=_LABELS, logits=z), u(2, 3)),
    case("softmax_xent_labels", lambda y: tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=y, logits=np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -2.0]])), _LABELS),
    case("softmax_xent_axis0", lambda z: tf.nn.softmax_cross_entropy_with_logits(
        labels=_LABELS.T, logits=z, axis=0), u(3, 2)),
    case("sparse_softmax_xent", lambda z: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=_SPARSE, logits=z), u(2, 3)),
    case("sigmoid_xent_logits", lambda z: tf.nn.sigmoid_cross_entropy_with_logits(
        labels=_LABELS, logits=z), away(2, 3)),
    case("sigmoid_xent_labels", lambda y: tf.nn.sigmoid_cross_entropy_with_logits(
        labels=y, logits=np.array([[1.0, -1.0, 0.5], [-0.3, 2.0, -2.0]])), _LABELS),
    case("mean_squared_error", lambda p: tf.losses.mean_squared_error(_LABELS, p), u(2, 3)),
    case("mean_squared_error_weights", lambda p: tf.losses.mean_squared_error(
        _LABELS, p, weights=_W, reduction=R.MEAN), u(2, 3)),
    case("absolute_difference", lambda p: tf.losses.absolute_difference(_LABELS, p),
         _away_from(_LABELS, 2, 3)),
    case("huber_loss", lambda p: tf.losses.huber_loss(_LABELS, p, delta=0.7),
         _LABELS + np.array([[0.3, -1.2, 0.9], [-0.5, 0.1, 2.0]])),
    case("log_loss", lambda p: tf.losses.log_loss(_BINARY_LABELS, p), u(2, 3, lo=0.1, hi=0.9)),
    case("sigmoid_cross_entropy", lambda z: tf.losses.sigmoid_cross_entropy(
        _BINARY_LABELS, z, label_smoothing=0.1), away(2, 3)),
    case("softmax_cross_entropy", lambda z: tf.losses.softmax_cross_entropy(
        np.eye(3)[[1, 2]], z,
        weights=np.array([2.0, 0.5]), label_smoothing=0.2), u(2, 3)),
    case("sparse_softmax_cross_entropy", lambda z: tf.losses.sparse_softmax_cross_entropy(
        _SPARSE, z, weights=np.array([0.0, 3.0])), u(2, 3)),
    case("compute_weighted_loss_sum", lambda x: tf.losses.compute_weighted_loss(
        x, weights=_W, reduction=R.SUM), u(2, 3)),
    case("compute_weighted_loss_batch", lambda x: tf.losses.compute_weighted_loss(
        x, reduction=R.SUM_OVER_BATCH_SIZE), u(2, 3)),
    case("compute_weighted_loss_none", lambda x: tf.losses.compute_weighted_loss(
        x, weights=_W, reduction=R.NONE), u(2, 3)),
]

ALL_CASES = UNARY + BINARY + REDUCE + LINALG + MOVEMENT + NN + LOSSES


@pytest.mark.parametrize("fn,inputs,tol", ALL_CASES)
def test_gradcheck(fn, inputs, tol):
    gradcheck(fn, inputs, **tol)


# --- shapes of the returned gradients --------------------------------------------------------
@pytest.mark.parametrize("sa,sb", BROADCAST)
def test_broadcast_gradient_has_input_shape(sa, sb):
    a, b = tf.constant(u(*sa)), tf.constant(u(*sb))
    ga, gb = tf.gradients(tf.reduce_sum(a * b + a / (b * b + 1)), [a, b])
    assert ga.shape.as_list() == list(sa) and gb.shape.as_list() == list(sb)
    va, vb = run([ga, gb])
    assert va.shape == sa and vb.shape == sb


def test_scalar_times_tensor_gradient_is_scalar():
    s = tf.placeholder(tf.float64, [])
    x = tf.constant(u(2, 3))
    (gs,) = tf.gradients(tf.reduce_sum(s * x), [s])
    assert gs.shape.as_list() == []
    assert_close(run(gs, {s: 1.5}), np.sum(run(x)))


def test_unknown_batch_dim_fed_at_run_time():
    # x: (None, 3) broadcast against b: (3,); w: (3, 2); the gradients keep each input's shape
    # for any batch size fed
    x = tf.placeholder(tf.float64, [None, 3])
    b = tf.placeholder(tf.float64, [3])
    w = tf.placeholder(tf.float64, [3, 2])
    y = tf.reduce_sum(tf.tanh(tf.matmul(x + b, w)) * tf.reduce_mean(x, 1, keepdims=True))
    gx, gb, gw = tf.gradients(y, [x, b, w])
    for batch in (1, 4):
        xv, bv, wv = u(batch, 3), u(3), u(3, 2)
        feed = {x: xv, b: bv, w: wv}
        vx, vb, vw = run([gx, gb, gw], feed)
        assert vx.shape == (batch, 3) and vb.shape == (3,) and vw.shape == (3, 2)
        with tf.Session():
            for t, v in ((x, xv), (b, bv), (w, wv)):
                other = {k: val for k, val in feed.items() if k is not t}
                err = compute_gradient_error(t, v.shape, y, [], x_init_value=v, delta=1e-6,
                                             extra_feed_dict=other)
                assert err < 1e-6, (t.name, batch, err)


def test_unknown_batch_dim_broadcast_against_unknown():
    # both operands have an unknown leading dim: one of them may be the stretched 1
    a = tf.placeholder(tf.float64, [None, 3])
    b = tf.placeholder(tf.float64, [None, 3])
    ga, gb = tf.gradients(tf.reduce_sum(a * b), [a, b])
    av, bv = u(1, 3), u(4, 3)
    va, vb = run([ga, gb], {a: av, b: bv})
    assert_close(va, bv.sum(0, keepdims=True))
    assert_close(vb, np.broadcast_to(av, (4, 3)))


def test_unknown_dims_through_reductions_and_slices():
    x = tf.placeholder(tf.float64, [None, None])
    y = tf.reduce_sum(tf.reduce_max(x[:, ::-1] * 2.0, axis=1)) + tf.reduce_mean(x[1:])
    (gx,) = tf.gradients(y, [x])
    xv = distinct(3, 4)
    expected = np.zeros((3, 4))
    expected[np.arange(3), np.argmax(xv, 1)] += 2.0
    expected[1:] += 1.0 / 8
    assert_close(run(gx, {x: xv}), expected)


# (function, placeholder shapes with unknown dims, shapes fed at run time)
UNKNOWN_DIMS = [
    case("mean_axis0", lambda x: tf.reduce_mean(x, 0), [None, None], (3, 2)),
    case("mean_all", tf.reduce_mean, [None, 3], (4, 3)),
    case("outer_broadcast", tf.multiply, [None, 1], [1, None], (3, 1), (1, 4)),
    case("row_broadcast", tf.add, [None, None], [None], (3, 4), (4,)),
    case("stretched_unknown", tf.add, [None, None], [None], (3, 1), (4,)),
    case("gather", lambda x: tf.gather(x, [0, 0, 1]), [None, 2], (3, 2)),
    case("tensordot", lambda a, b: tf.tensordot(a, b, 1), [None, 3], [3, 2], (4, 3), (3, 2)),
    case("matmul_batch", tf.matmul, [None, 2, 3], [None, 3, 2], (1, 2, 3), (2, 3, 2)),
    case("concat_known_axis", lambda a, b: tf.concat([a, b], 1), [None, 3], [None, 2],
         (2, 3), (2, 2)),
    case("tile", lambda x: tf.tile(x, [2, 3]), [None, None], (2, 3)),
    case("softmax", tf.nn.softmax, [None, 3], (2, 3)),
    case("moments", lambda x: tf.nn.moments(x, [0])[1], [None, 3], (4, 3)),
    case("l2_normalize", lambda x: tf.nn.l2_normalize(x, 1), [None, 3], (2, 3)),
    case("reduce_prod", lambda x: tf.reduce_prod(x, 1), [None, None], (2, 3)),
    case("reduce_max", lambda x: tf.reduce_max(x, 1), [None, None], (2, 3)),
    case("transpose", tf.transpose, [None, None], (2, 3)),
    case("reshape", lambda x: tf.reshape(x, [-1]), [None, 3], (2, 3)),
    case("broadcast_to_shape_of", lambda a, b: tf.broadcast_to(a, tf.shape(b)) * b, [1, 3],
         [None, 3], (1, 3), (2, 3)),
    case("stack_unstack", lambda x: tf.add_n(tf.unstack(tf.stack([x, 2 * x], 1), axis=1)),
         [None, 3], (2, 3)),
    case("where", lambda a, b: tf.where(a > 1.0, a, b), [None, 3], [3], (2, 3), (3,)),
    case("unknown_rank", lambda x: x * x * 2.0, None, (2, 3)),
    case("unknown_rank_broadcast", tf.multiply, None, [3], (2, 3), (3,)),
]


@pytest.mark.parametrize("fn,spec,tol", UNKNOWN_DIMS)
def test_gradients_with_dims_known_only_at_run_time(fn, spec, tol):
    n = len(spec) // 2
    phs = [tf.placeholder(tf.float64, s) for s in spec[:n]]
    y = fn(*phs)
    rng = np.random.default_rng(3)
    values = [rng.uniform(0.5, 1.5, s) for s in spec[n:]]
    with tf.Session():
        for i, (p, v) in enumerate(zip(phs, values)):
            others = {q: w for j, (q, w) in enumerate(zip(phs, values)) if j != i}
            err = compute_gradient_error(p, v.shape, y, None, x_init_value=v, delta=1e-6,
                                         extra_feed_dict=others)
            assert err < 1e-8, (i, err)


def test_reduce_over_unknown_rank_gradient():
    x = tf.placeholder(tf.float64)
    (g,) = tf.gradients(tf.reduce_sum(x * x), [x])
    xv = u(2, 3)
    assert_close(run(g, {x: xv}), 2 * xv)


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad_gradient_with_unknown_dims(mode):
    x = tf.placeholder(tf.float64, [None, None])
    y = tf.pad(x, [[2, 1], [1, 2]], mode=mode)
    w = tf.placeholder(tf.float64, [None, None])
    loss = tf.reduce_sum(y * w)
    xv = u(3, 4)
    wv = u(6, 7)
    with tf.Session():
        err = compute_gradient_error(x, [3, 4], loss, [], x_init_value=xv, delta=1e-6,
                                     extra_feed_dict={w: wv})
    assert err < 1e-8


def test_reduce_max_ties_share_the_gradient():
    # TF1: the gradient is split equally between the elements equal to the maximum
    x = tf.constant([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], tf.float64)
    (g,) = tf.gradients(tf.reduce_max(x, 1), [x])
    assert_close(run(g), [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    (g_min,) = tf.gradients(tf.reduce_min(x), [x])
    assert_close(run(g_min), [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_maximum_tie_goes_to_first_input():
    x, y = tf.constant([1.0, 2.0]), tf.constant([1.0, 3.0])
    gx, gy = tf.gradients(tf.reduce_sum(tf.maximum(x, y)), [x, y])
    assert_close(run(gx), [1.0, 0.0])
    assert_close(run(gy), [0.0, 1.0])


# --- TF1 semantics --------------------------------------------------------------------------
def test_unconnected_x_gets_none():
    x, z = tf.constant([1.0, 2.0]), tf.constant([3.0])
    gx, gz = tf.gradients(tf.reduce_sum(x * x), [x, z])
    assert gz is None
    assert_close(run(gx), [2.0, 4.0])


def test_list_of_ys_is_summed():
    x = tf.constant([1.0, 2.0])
    (g,) = tf.gradients([x * x, tf.reduce_sum(3.0 * x)], [x])
    assert_close(run(g), [2.0 + 3.0, 4.0 + 3.0])


def test_grad_ys_weights_each_y():
    x = tf.constant([1.0, 2.0])
    y1, y2 = x * x, tf.sin(x)
    (g,) = tf.gradients([y1, y2], [x], grad_ys=[tf.constant([1.0, -1.0]), [0.5, 2.0]])
    xv = np.array([1.0, 2.0])
    assert_close(run(g), np.array([1.0, -1.0]) * 2 * xv + np.array([0.5, 2.0]) * np.cos(xv),
                 dtype=np.float32)


def test_grad_ys_shape_mismatch_is_an_error():
    x = tf.constant([1.0, 2.0])
    with pytest.raises(Exception, match="grad_ys"):
        tf.gradients(x * x, [x], grad_ys=[tf.constant([1.0, 2.0, 3.0])])


def test_integer_tensors_get_none():
    i = tf.constant([1, 2, 3])
    x = tf.constant([1.0, 2.0, 3.0])
    y = tf.reduce_sum(tf.cast(i, tf.float32) * x)
    gi, gx = tf.gradients(y, [i, x])
    assert gi is None
    assert_close(run(gx), [1.0, 2.0, 3.0])
    (gi2,) = tf.gradients(tf.reduce_sum(i * 2), [i])
    assert gi2 is None


def test_tensor_used_twice_sums_gradients():
    x = tf.constant(3.0)
    a = x * 2.0
    (g,) = tf.gradients(a * a + a, [x])  # d/dx (4x^2 + 2x) = 8x + 2
    assert_close(run(g), 26.0)


def test_stop_gradient_blocks():
    x = tf.constant(2.0)
    (g,) = tf.gradients(x * tf.stop_gradient(x * x), [x])  # only the outer x counts
    assert_close(run(g), 4.0)
    (none,) = tf.gradients(tf.stop_gradient(x) * 3.0, [x])
    assert none is None


def test_stop_gradients_argument():
    # TF1 doc example: a = 0, b = 2a; g = gradients(a + b, [a, b], stop_gradients=[a, b])
    # gives [1, 1] (each treated as a constant, so no path through b back to a)
    a = tf.constant(0.0)
    b = 2 * a
    ga, gb = tf.gradients(a + b, [a, b], stop_gradients=[a, b])
    assert_close(run(ga), 1.0)
    assert_close(run(gb), 1.0)
    ga_full, _ = tf.gradients(a + b, [a, b])
    assert_close(run(ga_full), 3.0)


def test_gradient_wrt_variable_collects_all_reads():
    v = tf.Variable([1.0, 2.0], dtype=tf.float64)
    y = tf.reduce_sum(v * v) + tf.reduce_sum(tf.sin(v))  # several reads of v
    (g,) = tf.gradients(y, [v])
    vv = np.array([1.0, 2.0])
    assert_close(run(g), 2 * vv + np.cos(vv))


def test_gradient_wrt_several_variables():
    v = tf.Variable(3.0, dtype=tf.float64)
    w = tf.Variable(0.5, dtype=tf.float64)
    gv, gw = tf.gradients(v * w * w, [v, w])
    assert_close(run([gv, gw]), [0.25, 3.0])
    unused = tf.Variable(1.0)
    assert tf.gradients(v * 2.0, [unused])[0] is None


def test_gradient_through_named_identity_and_placeholder_with_default():
    x = tf.placeholder_with_default(tf.constant([1.0, 2.0], tf.float64), [2])
    (g,) = tf.gradients(tf.reduce_sum(tf.identity(x, name="id") ** 3), [x])
    assert_close(run(g), 3 * np.array([1.0, 4.0]))
    assert_close(run(g, {x: np.array([2.0, -1.0])}), [12.0, 3.0])


def test_add_n():
    a, b = tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0])
    assert_close(run(tf.add_n([a, b, a])), [5.0, 8.0])
    ga, gb = tf.gradients(tf.add_n([a, b, a]), [a, b])
    assert_close(run(ga), [2.0, 2.0])
    assert_close(run(gb), [1.0, 1.0])
    with pytest.raises(ValueError):
        tf.add_n([])


def test_gradients_of_y_wrt_itself_and_wrt_intermediate():
    x = tf.constant([1.0, 2.0])
    h = x * 3.0
    y = tf.reduce_sum(h * h)
    gy, gh = tf.gradients(y, [y, h])
    assert_close(run(gy), 1.0)
    assert_close(run(gh), [6.0, 12.0])


def test_gradient_of_variable_wrt_itself():
    v = tf.Variable([1.0, 2.0])
    (g,) = tf.gradients(v, [v])
    assert_close(run(g), [1.0, 1.0])


# --- errors ---------------------------------------------------------------------------------
def test_op_without_rule_is_named(monkeypatch):
    from graphc.autodiff import rules
    x = tf.constant([1.0, 2.0])
    y = tf.sin(x)
    monkeypatch.delitem(rules.VJPS, "sin")
    with pytest.raises(LookupError, match="No gradient defined for .*sin"):
        tf.gradients(y, [x])
