"""layout: channels-first convolutions computed channels-last, transposes sunk until they
cancel. Each rule before -> after (by identity, thanks to interning), the cases it must
decline, and whole channels-first CNNs against the reference target with no transpose left
between their convolutions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, llvm_plan

import graphc as tf
from graphc.ir import dtypes
from graphc.ir.node import topo_sort
from graphc.ir.rewrite import constant, make
from graphc.options import Options
from graphc.passes.fold_constants import fold_constants
from graphc.passes.layout import layout
from graphc.passes.pipeline import run_pipeline

F32 = dtypes.float32
NCHW_OF_NHWC = (0, 3, 1, 2)
NHWC_OF_NCHW = (0, 2, 3, 1)


def ph(shape, dtype=F32):
    return make("placeholder", dtype=dtype, shape=shape)


def laid_out(n):
    (out,) = layout([n], {}, Options(debug=True)).roots
    return out


X = ph((2, 5, 6, 3))  # NHWC
T = make("transpose", X, perm=NCHW_OF_NHWC)  # (2, 3, 5, 6)
Y = ph((4, 1, 7))
BIAS = np.array([1.0, 2.0, 3.0], np.float32)


def nchw(op, *others, **attrs):
    return make(op, T, *others, **attrs)


@pytest.mark.parametrize("before, after", [
    # unary and binary elementwise: the transpose moves below
    (nchw("exp"), make("transpose", make("exp", X), perm=NCHW_OF_NHWC)),
    (make("maximum", T, make("transpose", make("exp", X), perm=NCHW_OF_NHWC)),
     make("transpose", make("maximum", X, make("exp", X)), perm=NCHW_OF_NHWC)),
    # a per-channel constant (C, 1, 1) becomes (1, 1, 1, C): the channel axis moved last
    (nchw("add", constant(BIAS.reshape(3, 1, 1), F32)),
     make("transpose", make("add", X, constant(BIAS.reshape(1, 1, 1, 3), F32)),
          perm=NCHW_OF_NHWC)),
    # reductions: the same axes of x; keepdims keeps the transpose, dropping them may not
    (make("reduce_sum", T, axes=(2, 3), keepdims=False), make("reduce_sum", X, axes=(1, 2),
                                                             keepdims=False)),
    (make("reduce_max", T, axes=(2,), keepdims=True),
     make("transpose", make("reduce_max", X, axes=(1,), keepdims=True), perm=NCHW_OF_NHWC)),
    # (over channels the transpose left only moves a size-1 axis: a reshape)
    (make("reduce_max", T, axes=(1,), keepdims=True),
     make("reshape", make("reduce_max", X, axes=(3,), keepdims=True), shape=(2, 1, 5, 6))),
    # pad and slice: their per-axis attributes permuted
    (nchw("pad", paddings=((0, 0), (1, 2), (3, 4), (5, 6)), mode="CONSTANT",
          constant_value=0.0),
     make("transpose", make("pad", X, paddings=((0, 0), (3, 4), (5, 6), (1, 2)),
                            mode="CONSTANT", constant_value=0.0), perm=NCHW_OF_NHWC)),
    (nchw("slice", slices=((None, None, None), (0, 2, 1))),
     make("transpose", make("slice", X, slices=((None, None, None), (None, None, None),
                                                (None, None, None), (0, 2, 1))),
          perm=NCHW_OF_NHWC)),
    # concat along channels of two transposed values
    (make("concat", T, make("transpose", make("exp", X), perm=NCHW_OF_NHWC), axis=1),
     make("transpose", make("concat", X, make("exp", X), axis=3), perm=NCHW_OF_NHWC)),
    # a transpose moving only size-1 axes is a reshape
    (make("transpose", Y, perm=(1, 0, 2)), make("reshape", Y, shape=(1, 4, 7))),
])
def test_rule(before, after):
    assert laid_out(before) is after


def test_transposes_that_meet_their_inverse_cancel():
    back = make("transpose", make("exp", T), perm=NHWC_OF_NCHW)
    assert laid_out(back) is make("exp", X)


@pytest.mark.parametrize("before", [
    # another operand of full size that is not transposed: sinking would add a transpose
    make("add", T, ph((2, 3, 5, 6))),
    # the reduced axes would change their order
    make("reduce_sum", make("transpose", X, perm=(0, 2, 1, 3)), axes=(1, 2), keepdims=True),
    # a pool over a transposed value whose channels are not last in it
    make("pool", make("transpose", X, perm=(0, 1, 3, 2)), kind="max", window=(2, 2),
         strides=(1, 1), padding=((0, 0), (0, 0)), channels_last=False),
])
def test_rule_declines(before):
    assert laid_out(before) is before


def test_a_channels_first_conv_is_computed_channels_last():
    x, w = ph((1, 3, 8, 8)), constant(np.ones((3, 3, 3, 4), np.float32), F32)
    attrs = {"strides": (1, 1), "dilations": (1, 1), "padding": ((1, 1), (1, 1)),
             "groups": 1}
    conv = make("conv", x, w, channels_last=False, **attrs)
    last = make("conv", make("transpose", x, perm=NHWC_OF_NCHW), w, channels_last=True, **attrs)
    assert laid_out(conv) is make("transpose", last, perm=NCHW_OF_NHWC)


def test_a_large_constant_transposed_is_folded():
    # the folded array replaces its input's: it may be larger than the usual limit
    value = np.arange(64 * 64 * 9, dtype=np.float32).reshape(64, 64, 3, 3) * 1e-3  # 147 KB
    n = make("transpose", constant(value, F32), perm=(2, 3, 1, 0))
    (out,) = fold_constants([n], {}, Options(debug=True)).roots
    assert out.op.name == "constant"
    np.testing.assert_array_equal(out.attrs["value"], value.transpose(2, 3, 1, 0))


def _nchw_cnn(seed=0):
    """A channels-first CNN in TF1 spelling: conv + bias + relu, a residual conv, max pool,
    global average pool and a dense layer."""
    rng = np.random.default_rng(seed)
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [2, 5, 9, 9])
    w1 = tf.constant(rng.standard_normal((3, 3, 5, 8)).astype(np.float32) * 0.3)
    w2 = tf.constant(rng.standard_normal((3, 3, 8, 8)).astype(np.float32) * 0.3)
    b = tf.constant(rng.standard_normal(8).astype(np.float32))
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME",
                                               data_format="NCHW"), b, data_format="NCHW"))
    h = tf.nn.relu(h + tf.nn.conv2d(h, w2, [1, 1, 1, 1], "SAME", data_format="NCHW"))
    h = tf.nn.max_pool(h, [1, 1, 2, 2], [1, 1, 2, 2], "VALID", data_format="NCHW")
    pooled = tf.reduce_mean(h, axis=[2, 3])
    logits = tf.matmul(pooled, tf.constant(rng.standard_normal((8, 4)).astype(np.float32)))
    feed = {x: rng.standard_normal((2, 5, 9, 9)).astype(np.float32)}
    return logits, feed


def test_a_channels_first_cnn_keeps_one_transpose_at_its_input():
    logits, feed = _nchw_cnn()
    result = run_pipeline([logits.node], {}, Options())
    ops = [n.op.name for n in topo_sort(result.roots)]
    assert ops.count("transpose") == 1  # the input's, into channels-last; none after it
    convs = [n for n in topo_sort(result.roots) if n.op.name == "conv"]
    assert len(convs) == 2 and all(n.attrs["channels_last"] for n in convs)
    pools = [n for n in topo_sort(result.roots) if n.op.name == "pool"]
    assert [n.attrs["channels_last"] for n in pools] == [True]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_channels_first_cnn_computes_the_reference_values(threads):
    logits, feed = _nchw_cnn(seed=threads)
    kernels, _ = llvm_plan([logits], feed, threads=threads)
    assert not any("transpose" in k for k in kernels[1:])


def test_the_pass_can_be_left_out():
    logits, feed = _nchw_cnn()
    with tf.Session(target="reference") as sess:
        want = sess.run(logits, feed)
    with tf.Session(target="llvm", config=tf.Options(disable_passes=("layout",))) as sess:
        assert_close(sess.run(logits, feed), want, rtol=1e-4, atol=1e-5)


def test_a_channels_first_training_step_computes_channels_last():
    """conv's gradients (conv_input_grad, conv_filter_grad) of an NCHW graph run
    channels-last too, and the gradients equal the reference's."""
    rng = np.random.default_rng(3)
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [2, 4, 7, 7])
    w1 = tf.Variable(rng.standard_normal((3, 3, 4, 6)).astype(np.float32) * 0.3)
    w2 = tf.Variable(rng.standard_normal((3, 3, 6, 5)).astype(np.float32) * 0.3)
    h = tf.nn.relu(tf.nn.conv2d(x, w1, [1, 1, 2, 2], "SAME", data_format="NCHW"))
    y = tf.nn.conv2d(h, w2, [1, 1, 1, 1], "VALID", data_format="NCHW")
    loss = tf.reduce_sum(tf.square(y))
    grads = tf.gradients(loss, [x, w1, w2])
    feed = {x: rng.standard_normal((2, 4, 7, 7)).astype(np.float32)}
    result = run_pipeline([g.node for g in grads], {}, Options())
    convs = [n for n in topo_sort(result.roots) if n.op.name.startswith("conv")]
    assert {n.op.name for n in convs} == {"conv", "conv_input_grad", "conv_filter_grad"}
    assert all(n.attrs["channels_last"] for n in convs)
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        want = sess.run(grads, feed)
    with tf.Session(target="llvm") as sess:
        sess.run(tf.global_variables_initializer())
        for got, expected in zip(sess.run(grads, feed), want):
            assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_a_grouped_channels_first_conv_stays_channels_first():
    # its direct loops are faster channels-first than channels-last
    x, w = ph((1, 4, 8, 8)), constant(np.ones((3, 3, 1, 4), np.float32), F32)
    conv = make("conv", x, w, channels_last=False, strides=(1, 1), dilations=(1, 1),
                padding=((1, 1), (1, 1)), groups=4)
    assert laid_out(conv) is conv


def test_pad_concat_and_slice_after_a_channels_first_conv_compute_the_reference_values():
    rng = np.random.default_rng(5)
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [2, 3, 6, 7])
    w = tf.constant(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    h = tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID", data_format="NCHW")  # (2, 4, 4, 5)
    h = tf.pad(h, [[0, 0], [0, 0], [1, 2], [0, 1]])
    h = tf.concat([h, tf.exp(h) * 0.5], axis=1)  # channels
    h = tf.nn.relu(h[:, 1:7, :, 1:])
    feed = {x: rng.standard_normal((2, 3, 6, 7)).astype(np.float32)}
    result = run_pipeline([h.node], {}, Options())
    fired = {k for rec in result.records for k in rec.fired}
    assert {"sink_transpose_pad", "sink_transpose_concat", "sink_transpose_slice"} <= fired
    llvm_plan([h], feed, threads=1)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_a_conv_of_a_few_wide_groups_is_one_gemm_per_group(data_format):
    rng = np.random.default_rng(7)
    tf.reset_default_graph()
    shape = [2, 5, 6, 32] if data_format == "NHWC" else [2, 32, 5, 6]
    x = tf.placeholder(tf.float32, shape)
    w = tf.constant(rng.standard_normal((3, 3, 8, 32)).astype(np.float32))  # 4 groups
    y = tf.nn.relu(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME", data_format=data_format))
    result = run_pipeline([y.node], {}, Options())
    convs = [n for n in topo_sort(result.roots) if n.op.name == "conv"]
    assert len(convs) == 4 and all(n.attrs["groups"] == 1 and n.attrs["channels_last"]
                                   for n in convs)
    feed = {x: rng.standard_normal(shape).astype(np.float32)}
    kernels, _ = llvm_plan([y], feed, threads=2, rtol=1e-4, atol=1e-4)


def test_narrow_or_many_groups_stay_one_grouped_conv():
    x = ph((1, 8, 8, 32))
    for groups, w_shape in ((8, (3, 3, 4, 32)), (32, (3, 3, 1, 32))):  # 4 channels, depthwise
        conv = make("conv", x, constant(np.ones(w_shape, np.float32), F32),
                    channels_last=True, strides=(1, 1), dilations=(1, 1),
                    padding=((1, 1), (1, 1)), groups=groups)
        assert laid_out(conv) is conv


# --- a filter gradient as a convolution over the batch --------------------------------------
def _filter_grad(x_shape, kernel, out_channels, strides, dilations, padding, dtype=F32):
    x = ph(x_shape, dtype)
    rank = len(x_shape)
    attrs = {"strides": strides, "dilations": dilations, "padding": padding, "groups": 1,
             "channels_last": True}
    w = ph((*kernel, x_shape[-1], out_channels), dtype)
    g = ph(make("conv", x, w, **attrs).shape, dtype)
    assert rank == len(g.shape)
    return x, g, make("conv_filter_grad", x, g, shape=(*kernel, x_shape[-1], out_channels),
                      **attrs)


def test_a_filter_gradient_is_a_convolution_over_the_batch():
    x, g, dw = _filter_grad((8, 14, 14, 32), (5, 5), 64, (1, 1), (1, 1), ((2, 2), (2, 2)))
    batch_last, to_filter = (3, 1, 2, 0), (1, 2, 0, 3)
    conv = make("conv", make("transpose", x, perm=batch_last),
                make("transpose", g, perm=to_filter), strides=(1, 1), dilations=(1, 1),
                padding=((2, 2), (2, 2)), groups=1, channels_last=True)
    assert laid_out(dw) is make("transpose", conv, perm=to_filter)


def test_a_strided_filter_gradient_swaps_strides_and_dilations_and_crops_what_no_window_reads():
    # 3 wide, stride 2, unpadded on 8: outputs 0, 2, 4 read up to element 6, so 7 is cut;
    # 2 wide, dilation 2, stride 3, one before on 9: the last window reads 5 and 7, so 8 is cut
    x, g, dw = _filter_grad((4, 8, 9, 16), (3, 2), 8, (2, 3), (1, 2), ((0, 0), (1, 0)))
    (out,) = [n for n in topo_sort([laid_out(dw)]) if n.op.name == "conv"]
    assert out.attrs["strides"] == (1, 2) and out.attrs["dilations"] == (2, 3)
    (cut,) = [n for n in topo_sort([out]) if n.op.name == "slice"]
    assert cut.shape == (4, 7, 8, 16)
    assert out.attrs["padding"] == ((0, 0), (1, 0))


@pytest.mark.parametrize("x_shape, kernel, strides, padding", [
    ((8, 6, 6, 16), (1, 1), (1, 1), ((0, 0), (0, 0))),  # 1x1: already a plain GEMM
    ((8, 6, 6, 1), (3, 3), (1, 1), ((1, 1), (1, 1))),  # one channel: its rows are x's
    ((2, 9, 9, 16), (3, 3), (2, 2), ((1, 1), (1, 1))),  # strided, 2 images: runs of 2
    # every window's row lies in the padding above the 1-row input (fuzz seed 46160)
    ((4, 1, 6, 36), (1, 2), (3, 1), ((2, 0), (0, 1))),
])
def test_the_filter_gradient_stays_where_the_convolution_over_the_batch_does_not_pay(
        x_shape, kernel, strides, padding):
    _, _, dw = _filter_grad(x_shape, kernel, 4, strides, (1, 1), padding)
    assert laid_out(dw) is dw


@pytest.mark.parametrize("x_shape, kernel, strides, dilations, padding", [
    ((4, 9, 3), (3,), (1,), (1,), ((1, 1),)),
    ((5, 11, 4), (2,), (3,), (2,), ((0, 2),)),
    ((4, 7, 8, 3), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((6, 9, 10, 5), (3, 2), (2, 1), (1, 2), ((1, 0), (0, 3))),
    ((4, 10, 10, 6), (4, 4), (3, 3), (1, 1), ((0, 0), (0, 0))),  # the rows 9 no window reads
    ((1, 12, 12, 8), (3, 3), (1, 1), (2, 2), ((2, 2), (2, 2))),
    ((4, 5, 6, 7, 3), (2, 3, 2), (1, 2, 1), (1, 1, 2), ((1, 0), (1, 1), (0, 1))),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_filter_gradient_over_the_batch_computes_the_reference_values(
        x_shape, kernel, strides, dilations, padding, dtype):
    ir_dw = _filter_grad(x_shape, kernel, 5, strides, dilations, padding,
                         dtypes.as_dtype(dtype))[2]
    assert laid_out(ir_dw) is not ir_dw  # the rule applies
    rng = np.random.default_rng(len(x_shape) * 7 + kernel[0])
    tf.reset_default_graph()
    x = tf.placeholder(dtype, x_shape)
    w = tf.constant(rng.standard_normal((*kernel, x_shape[-1], 5)).astype(dtype))
    y = tf.nn.convolution(x, w, padding=padding, strides=strides, dilations=dilations)
    gy = tf.placeholder(dtype, y.shape)
    (dw,) = tf.gradients(y, w, grad_ys=gy)
    feed = {x: rng.standard_normal(x_shape).astype(dtype),
            gy: rng.standard_normal(y.shape).astype(dtype)}
    tol = 1e-4 if dtype == np.float32 else 1e-10
    names, _ = llvm_plan(dw, feed, rtol=tol, atol=tol)
    assert names.count("k_conv") == 1 and "k_conv_filter_grad" not in names


def test_a_filter_gradient_whose_windows_read_only_padding_on_an_axis_is_zero_there():
    """Fuzz seed 46160: an input one row high padded by two rows above, a one-row kernel of
    stride 3: the only window reads a padding row, so the gradient is zero (the rule over
    the batch used to cut the input to -1 rows and fail)."""
    rng = np.random.default_rng(46160)
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, (4, 1, 6, 36))
    w = tf.placeholder(tf.float32, (1, 2, 36, 34))
    y = tf.nn.convolution(x, w, padding=[[0, 0], [2, 0], [0, 1], [0, 0]], strides=[3, 1])
    (dw,) = tf.gradients(tf.reduce_sum(y), [w])
    feed = {x: rng.standard_normal((4, 1, 6, 36)).astype(np.float32),
            w: rng.standard_normal((1, 2, 36, 34)).astype(np.float32)}
    with tf.Session() as sess:
        got = sess.run(dw, feed)
    np.testing.assert_array_equal(got, np.zeros((1, 2, 36, 34), np.float32))
