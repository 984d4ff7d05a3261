"""simplify and stabilize: each rule before -> after (compared by identity, thanks to
interning), the cases IEEE arithmetic forbids, and optimized programs against the
reference target."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.ir import dtypes
from graphc.ir.rewrite import constant, make
from graphc.options import Options
from graphc.passes.simplify import simplify, stabilize

F32, F64, I32 = dtypes.float32, dtypes.float64, dtypes.int32


def ph(shape=(3,), dtype=F32):
    return make("placeholder", dtype=dtype, shape=shape)


def c(value, dtype=F32):
    return constant(value, dtype)


def simplified(n, fast_math=False):
    (out,) = simplify([n], {}, Options(fast_math=fast_math, debug=True)).roots
    return out


def stabilized(n):
    (out,) = stabilize([n], {}, Options(debug=True)).roots
    return out


X = ph()


# --- IEEE-exact identities ------------------------------------------------------------------
@pytest.mark.parametrize("before, after", [
    (make("mul", X, c(1.0)), X),
    (make("mul", c(1.0), X), X),
    (make("mul", X, c([1.0, 1.0, 1.0])), X),
    (make("div", X, c(1.0)), X),
    (make("add", X, c(-0.0)), X),
    (make("add", c(-0.0), X), X),
    (make("sub", X, c(0.0)), X),
    (make("sub", c(-0.0), X), make("neg", X)),
    (make("neg", make("neg", X)), X),
    (make("sub", X, make("neg", make("exp", X))), make("add", X, make("exp", X))),
    (make("add", make("neg", X), make("exp", X)), make("sub", make("exp", X), X)),
    (make("mul", make("neg", X), make("neg", make("exp", X))), make("mul", X, make("exp", X))),
    (make("abs", make("neg", X)), make("abs", X)),
    (make("abs", make("abs", X)), make("abs", X)),
    (make("pow", X, c(1.0)), X),
    (make("div", X, c(4.0)), make("mul", X, c(0.25))),
    (make("div", X, c([0.5, -2.0, 1024.0])), make("mul", X, c([2.0, -0.5, 1 / 1024]))),
    (make("maximum", X, X), X),
    (make("minimum", X, X), X),
    (make("select", make("less", X, c(0.0)), X, X), X),
    (make("select", constant(True, dtypes.bool_), X, make("exp", X)), X),
    (make("select", constant(False, dtypes.bool_), X, make("exp", X)), make("exp", X)),
    (make("cast", make("cast", X, dtype=F64), dtype=F32), X),
], ids=lambda v: "")
def test_exact_identities(before, after):
    assert simplified(before) is after


def test_integer_identities():
    i = ph(dtype=I32)
    assert simplified(make("add", i, c(0, I32))) is i
    assert simplified(make("sub", c(0, I32), i)) is make("neg", i)
    assert simplified(make("mul", i, c(0, I32))) is make("broadcast_to", c(0, I32), shape=(3,))
    assert simplified(make("sub", i, i)) is make("broadcast_to", c(0, I32), shape=(3,))


@pytest.mark.parametrize("kept", [
    make("add", X, c(0.0)),  # -0.0 + 0.0 is +0.0, not -0.0
    make("sub", X, c(-0.0)),  # x - (-0.0) = x + 0.0, as above
    make("sub", c(0.0), X),  # 0.0 - 0.0 is +0.0, -(0.0) is -0.0
    make("mul", X, c(0.0)),  # nan * 0 and inf * 0 are nan, -1 * 0 is -0.0
    make("sub", X, X),  # inf - inf is nan
    make("div", X, c(3.0)),  # 1/3 is not exact
    make("div", X, c(2.0 ** 127)),  # 2^-127 is subnormal in float32
    make("exp", make("log", X)),  # log of a negative is nan
    make("log", make("exp", X)),  # exp overflows to inf
    make("cast", make("cast", ph(dtype=F64), dtype=F32), dtype=F64),  # narrowing loses bits
    make("maximum", c(0.0), X),  # which operand a tie returns decides a zero's sign
], ids=lambda v: "")
def test_what_ieee_arithmetic_forbids_is_kept(kept):
    assert simplified(kept) is kept


@pytest.mark.parametrize("before, after", [
    (make("add", X, c(0.0)), X),
    (make("mul", X, c(0.0)), make("broadcast_to", c(0.0), shape=(3,))),
    (make("sub", X, X), make("broadcast_to", c(0.0), shape=(3,))),
    (make("exp", make("log", X)), X),
    (make("log", make("exp", X)), X),
], ids=lambda v: "")
def test_fast_math_rules_apply_only_under_fast_math(before, after):
    assert simplified(before, fast_math=True) is after
    assert simplified(before) is before


def test_fast_math_division_by_any_constant():
    assert simplified(make("div", X, c(4.0 / 3.0)), fast_math=True) is \
        make("mul", X, c(np.float32(1) / np.float32(4.0 / 3.0)))


# --- numerically stable forms ---------------------------------------------------------------
def test_log_of_softmax_is_log_softmax():
    x = tf.placeholder(tf.float32, [4, 10])
    assert stabilized(tf.log(tf.nn.softmax(x)).node) is tf.nn.log_softmax(x).node


def test_log_of_sigmoid_is_minus_softplus_of_minus_x():
    expected = make("sub", make("minimum", X, c(0.0)),
                    make("log1p", make("exp", make("neg", make("abs", X)))))
    assert stabilized(make("log", make("sigmoid", X))) is expected
    one_minus = make("log", make("sub", c(1.0), make("sigmoid", X)))
    assert stabilized(one_minus).inputs[0].inputs[0] is make("neg", X)


@pytest.mark.parametrize("before, after", [
    (make("log", make("add", X, c(1.0))), make("log1p", X)),
    (make("log", make("add", c(1.0), X)), make("log1p", X)),
    (make("sub", make("exp", X), c(1.0)), make("expm1", X)),
], ids=lambda v: "")
def test_log1p_and_expm1(before, after):
    assert stabilized(before) is after


@pytest.mark.parametrize("kept", [
    make("log", make("add", X, c(2.0))),
    make("sub", make("exp", X), c(2.0)),
    make("log", make("div", X, make("exp", X))),
], ids=lambda v: "")
def test_compositions_without_a_stable_form_are_kept(kept):
    assert stabilized(kept) is kept


# --- numeric: optimized LLVM programs agree with the reference ------------------------------
def _check(build, feeds, rtol=None, atol=None, **options):
    """The fetch on the reference target (unoptimized) and on llvm at -O2 (and options)."""
    values = {k: np.asarray(v, np.float32) for k, v in feeds.items()}
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None], name="x")
    y = build(x)
    expected = run(y, {x: values["x"]}, target="reference")
    with tf.Session(target="llvm", config=Options(debug=True, **options)) as sess:
        got = sess.run(y, {x: values["x"]})
    assert_close(got, expected, rtol=rtol, atol=atol)
    return got, expected


SPECIALS = [0.0, -0.0, 1.5, -2.5, np.inf, -np.inf, np.nan, 1e-30, -1e30]


@pytest.mark.parametrize("build", [
    lambda x: x * 1.0, lambda x: x + tf.constant(-0.0), lambda x: x + 0.0,
    lambda x: x - 0.0, lambda x: -(-x), lambda x: x / 4.0, lambda x: x / 3.0,
    lambda x: x * 0.0, lambda x: x - x, lambda x: tf.exp(tf.log(x)),
    lambda x: tf.cast(tf.cast(x, tf.float64), tf.float32), lambda x: tf.abs(-x),
], ids=lambda f: "")
def test_exact_rules_keep_every_special_value(build):
    got, expected = _check(build, {"x": SPECIALS})
    # bit for bit: signed zeros and nan where the reference has them
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("build", [
    lambda x: tf.log(tf.sigmoid(x)), lambda x: tf.log(1.0 - tf.sigmoid(x)),
    lambda x: tf.log(1.0 + x), lambda x: tf.exp(x) - 1.0,
    lambda x: tf.log(tf.nn.softmax(tf.reshape(x, [2, -1]))),
], ids=["log_sigmoid", "log_one_minus_sigmoid", "log1p", "expm1", "log_softmax"])
def test_stable_forms_agree_where_the_original_is_accurate(build):
    values = np.linspace(-8, 8, 10, dtype=np.float32)
    _check(build, {"x": values}, rtol=1e-5, atol=1e-6)


def test_stable_forms_stay_finite_where_the_original_is_not():
    x = tf.placeholder(tf.float32, [3])
    y = tf.log(tf.sigmoid(x))
    values = np.array([-200.0, -1e4, 3.0], np.float32)
    assert np.isneginf(run(y, {x: values}, target="reference")[:2]).all()
    with tf.Session(target="llvm") as sess:
        got = sess.run(y, {x: values})
    np.testing.assert_allclose(got, [-200.0, -1e4, np.log(1 / (1 + np.exp(-3.0)))], rtol=1e-6)
    tiny = np.array([1e-10, -1e-12, 0.0], np.float32)
    with tf.Session(target="llvm") as sess:
        np.testing.assert_allclose(sess.run(tf.log(1.0 + x), {x: tiny}), tiny, rtol=1e-6)
        np.testing.assert_allclose(sess.run(tf.exp(x) - 1.0, {x: tiny}), tiny, rtol=1e-6)


def test_fast_math_programs_agree_on_ordinary_values(target):
    x = tf.placeholder(tf.float32, [5])
    y = tf.exp(tf.log(x)) * 0.0 + x / 3.0 + (x - x)
    values = np.array([0.5, 1.0, 2.0, 3.0, 10.0], np.float32)
    with tf.Session(target=target, config=Options(fast_math=True, debug=True)) as sess:
        assert_close(sess.run(y, {x: values}), values / 3.0, rtol=1e-6)


# --- batch norm folding (fast math) ---------------------------------------------------------
def _conv(x, w, channels_last=True):
    return make("conv", x, w, strides=(1, 1), dilations=(1, 1), padding=((0, 0), (0, 0)),
                groups=1, channels_last=channels_last)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_a_per_channel_scale_folds_into_a_constant_filter(layout):
    last = layout == "NHWC"
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    s = rng.standard_normal(4).astype(np.float32)
    x = ph((1, 5, 5, 2) if last else (1, 2, 5, 5))
    scale = c(s if last else s.reshape(4, 1, 1))
    before = make("mul", _conv(x, c(w), last), scale)
    assert simplified(before, fast_math=True) is _conv(x, c(w * s), last)
    assert simplified(before) is before
    pixels = rng.standard_normal((3, 1)).astype(np.float32)
    per_pixel = make("mul", _conv(x, c(w), last), c(pixels))
    assert simplified(per_pixel, fast_math=True) is per_pixel  # not along channels only
    variable_filter = make("mul", _conv(x, ph((3, 3, 2, 4)), last), scale)
    assert simplified(variable_filter, fast_math=True) is variable_filter


def test_batch_norm_folds_in_inference():
    rng = np.random.default_rng(6)
    xv = rng.standard_normal((2, 6, 6, 16)).astype(np.float32)
    x = tf.placeholder(tf.float32, [2, 6, 6, 16])
    stats = [tf.constant(v.astype(np.float32)) for v in (
        rng.standard_normal(8), rng.uniform(0.5, 2, 8), rng.standard_normal(8),
        rng.uniform(0.5, 2, 8))]
    h = tf.nn.conv2d(x, tf.constant(rng.standard_normal((3, 3, 16, 8)).astype(np.float32)), 1,
                     "SAME")
    y = tf.nn.relu(tf.nn.batch_normalization(h, *stats, 1e-3))
    with tf.Session(config=Options(fast_math=True)) as sess:
        got = sess.run(y, {x: xv})
        plan = next(iter(sess._executor._plans.values()))
    assert [k.name for k in plan.kernels] == ["k_conv_maximum"]
    assert_close(got, run(y, {x: xv}), rtol=1e-5, atol=1e-5)


def test_few_channel_convolutions_are_padded_explicitly():
    w3 = c(np.ones((3, 3, 3, 4), np.float32))
    x = ph((1, 5, 5, 3))
    padded = make("conv", x, w3, strides=(1, 1), dilations=(1, 1),
                  padding=((1, 1), (0, 2)), groups=1, channels_last=True)
    expected = make("conv", make("pad", x, paddings=((0, 0), (1, 1), (0, 2), (0, 0)),
                                 mode="CONSTANT", constant_value=0.0), w3,
                    strides=(1, 1), dilations=(1, 1), padding=((0, 0), (0, 0)), groups=1,
                    channels_last=True)
    assert simplified(padded) is expected
    wide = _conv(ph((1, 5, 5, 16)), c(np.ones((3, 3, 16, 4), np.float32)))
    first = _conv(ph((1, 3, 5, 5)), w3, channels_last=False)
    assert simplified(wide) is wide and simplified(first) is first


def test_few_channel_filter_gradients_read_the_forward_padding():
    # the same explicit pad as the forward convolution's: one node after CSE
    x, g = ph((2, 5, 5, 1)), ph((2, 5, 5, 4))
    attrs = dict(strides=(1, 1), dilations=(1, 1), groups=1, channels_last=True,
                 shape=(3, 3, 1, 4))
    grad = make("conv_filter_grad", x, g, padding=((1, 1), (1, 1)), **attrs)
    pad = make("pad", x, paddings=((0, 0), (1, 1), (1, 1), (0, 0)), mode="CONSTANT",
               constant_value=0.0)
    assert simplified(grad) is make("conv_filter_grad", pad, g, padding=((0, 0), (0, 0)),
                                    **attrs)
    forward = make("conv", x, c(np.ones((3, 3, 1, 4), np.float32)), strides=(1, 1),
                   dilations=(1, 1), padding=((1, 1), (1, 1)), groups=1, channels_last=True)
    assert simplified(forward).inputs[0] is pad


@pytest.mark.parametrize("shape, kernel, padding", [((3, 9, 9, 1), 5, "SAME"),
                                                     ((2, 8, 7, 3), 3, "SAME"),
                                                     ((2, 8, 8, 2), 4, "SAME")])
def test_a_padded_filter_gradient_is_the_same_bit_for_bit(shape, kernel, padding):
    rng = np.random.default_rng(sum(shape))
    xv = rng.standard_normal(shape).astype(np.float32)
    wv = rng.standard_normal((kernel, kernel, shape[-1], 8)).astype(np.float32)
    out = []
    for options in (Options(), Options(disable_passes=("simplify",))):
        tf.reset_default_graph()
        x = tf.placeholder(tf.float32, shape)
        w = tf.Variable(wv)
        y = tf.nn.conv2d(x, w, [1, 2, 1, 1], padding)
        grad = tf.gradients(tf.reduce_sum(tf.sin(y)), [w])[0]
        with tf.Session(config=options) as sess:
            sess.run(tf.global_variables_initializer())
            out.append(sess.run(grad, {x: xv}))
    np.testing.assert_array_equal(out[0], out[1])


def _t(x):
    return make("transpose", x, perm=(1, 0))


@pytest.mark.parametrize("k, m, n, dtype, swapped", [
    (256, 512, 10, F32, True),     # a classifier's weight gradient, H^T dlogits
    (256, 64, 16, F64, True),
    (256, 512, 17, F32, False),    # wider than one vector of float32
    (256, 63, 16, F32, False),     # not tall enough to pay for the transpose after it
    (256, 512, 10, I32, False),    # ints are a loop nest, not the GEMM
])
def test_a_narrow_transposed_product_is_swapped(k, m, n, dtype, swapped):
    a, b = ph((k, m), dtype), ph((k, n), dtype)
    before = make("matmul", _t(a), b)
    after = make("transpose", make("matmul", _t(b), a), perm=(1, 0)) if swapped else before
    assert simplified(before) is after


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k, m, n", [(256, 512, 10), (1000, 300, 16), (7, 64, 3),
                                     (513, 200, 1)])
def test_the_swapped_product_is_the_same_bit_for_bit(monkeypatch, k, m, n, threads):
    """(b^T a)^T sums the same products over k in the same order as a^T b (K = 1000 spans
    two of the GEMM's K blocks); the gradients through it are products of the same kind."""
    import graphc.passes.simplify as module
    rng = np.random.default_rng(k + m + n)
    av, bv = rng.standard_normal((k, m), np.float32), rng.standard_normal((k, n), np.float32)
    y, _ = _with_and_without(monkeypatch, "NARROW_PRODUCT", (module.NARROW_PRODUCT, -1),
                             (av, bv), lambda a, b: tf.matmul(a, b, transpose_a=True), threads)
    np.testing.assert_allclose(y, av.T.astype(np.float64) @ bv, rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))


def _with_and_without(monkeypatch, setting, values, arrays, product, threads):
    """(the product, [each run's kernels]) of a and b computed with the simplify module's
    `setting` at each of its `values` (the rule, then never), with the gradients through it;
    every run gives the same bits."""
    import graphc.passes.simplify as module
    results, kernels = [], []
    for value in values:
        monkeypatch.setattr(module, setting, value)
        tf.reset_default_graph()
        a, b = (tf.placeholder(tf.float32, x.shape) for x in arrays)
        y = product(a, b)
        grads = tf.gradients(tf.reduce_sum(tf.sin(y)), [a, b])
        with tf.Session(config=tf.Options(threads=threads)) as sess:
            results.append(sess.run([y] + grads, dict(zip((a, b), arrays))))
            kernels.append(list(sess._executor._plans.values())[-1].kernels)
    for got, plain in zip(*results):
        np.testing.assert_array_equal(got, plain)
    return results[0][0], kernels


def test_the_swap_never_applies_to_its_own_result(monkeypatch):
    import graphc.passes.simplify as module
    monkeypatch.setattr(module, "NARROW_PRODUCT_ROWS", 1)  # as the fuzzer runs it
    a, b = ph((8, 5)), ph((8, 3))
    swapped = make("transpose", make("matmul", _t(b), a), perm=(1, 0))
    assert simplified(make("matmul", _t(a), b)) is swapped
    square = make("matmul", _t(ph((8, 4))), ph((8, 4)))
    assert simplified(square) is square


@pytest.mark.parametrize("k, m, n, dtype, swapped", [
    (1024, 64, 3136, F32, True),   # a large dense layer's input gradient, g @ W^T
    (1024, 128, 1024, F64, True),
    (1024, 48, 3136, F32, False),  # rows that fill part of the swapped product's tiles
    (1024, 64, 512, F32, False),   # not wide enough
    (128, 64, 1024, F32, False),   # b too small to cost much to transpose
    (1024, 64, 3136, I32, False),
])
def test_a_short_transposed_product_is_swapped(k, m, n, dtype, swapped):
    a, b = ph((m, k), dtype), ph((n, k), dtype)
    before = make("matmul", a, _t(b))
    after = make("transpose", make("matmul", b, _t(a)), perm=(1, 0)) if swapped else before
    assert simplified(before) is after


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [300, 1100])
def test_the_swapped_short_product_is_the_same_bit_for_bit(monkeypatch, k, threads):
    """(b a^T)^T sums the same products in the same order as a b^T (K = 1100: three of the
    GEMM's K blocks), and so do the gradients through it."""
    import graphc.passes.simplify as module
    rng = np.random.default_rng(k)
    av = rng.standard_normal((64, k), np.float32)
    bv = rng.standard_normal((1024, k), np.float32)
    y, kernels = _with_and_without(monkeypatch, "SHORT_PRODUCT_ROWS",
                                   (module.SHORT_PRODUCT_ROWS, ()), (av, bv),
                                   lambda a, b: tf.matmul(a, b, transpose_b=True), threads)
    transposes = [sum(kr.name == "k_transpose" for kr in run) for run in kernels]
    assert transposes[0] > transposes[1]  # (the swapped product, transposed back)
    np.testing.assert_allclose(y, av.astype(np.float64) @ bv.T, rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))


def test_fuzzed_programs_agree_with_every_transposed_product_swapped(monkeypatch):
    import graphc.passes.simplify as module
    from graphc.tools.fuzz import fuzz
    monkeypatch.setattr(module, "NARROW_PRODUCT_ROWS", 1)
    monkeypatch.setattr(module, "SHORT_PRODUCT_ROWS", range(1, 1 << 20))
    monkeypatch.setattr(module, "SHORT_PRODUCT_COLUMNS", 1)
    monkeypatch.setattr(module, "SHORT_PRODUCT_B", 0)
    report = fuzz(8, seed=914)
    assert report.mismatches == [], report.summary()
