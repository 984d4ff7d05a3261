"""Convolutions (tf.nn.conv*, ir/ops/conv.py): values against direct loops written here in
float64 on awkward shapes and both layouts, on every target; SAME/VALID resolved as TF
does; gradients against finite differences (first and second order) and the transposed
convolution against the gradient it is; errors that name the op, the shapes and the line."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import assert_close, llvm_plan, numpy_gemm, run

import graphc as tf
from graphc.errors import ShapeError
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import interpret, verify_kernel
from graphc.ir.ops.conv import as_gemm
from graphc.passes.lower import Lowering
from graphc.test import gradcheck

_RNG = np.random.default_rng(2024)


@pytest.fixture(autouse=True)
def _rng_of_the_test(request):
    """Each test draws from a generator seeded by its own name, so its data does not depend
    on which tests ran before it in the process (pytest-xdist deals tests out differently
    as the suite changes: a ReLU whose float32 input rounded to the other side of zero on
    the reference target once failed a test only in some orders)."""
    global _RNG
    _RNG = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def u(*shape):
    return _RNG.uniform(-1.0, 1.0, shape)


def direct_conv(x, w, strides, dilations, padding, groups):
    """Channels-last convolution by its definition, one output element at a time."""
    n, *spatial, channels = x.shape
    s = len(spatial)
    kernel, per_group, out_channels = w.shape[:s], w.shape[s], w.shape[s + 1]
    og = out_channels // groups
    out_spatial = [(d + b + a - dil * (k - 1) - 1) // st + 1 for d, k, st, dil, (b, a)
                   in zip(spatial, kernel, strides, dilations, padding)]
    out = np.zeros((n, *out_spatial, out_channels))
    for b in range(n):
        for o in np.ndindex(*out_spatial):
            for co in range(out_channels):
                g, total = co // og, 0.0
                for k in np.ndindex(*kernel):
                    pos = [oi * st + ki * dil - pb for oi, ki, st, dil, (pb, _)
                           in zip(o, k, strides, dilations, padding)]
                    if all(0 <= p < d for p, d in zip(pos, spatial)):
                        for c in range(per_group):
                            total += x[(b, *pos, g * per_group + c)] * w[(*k, c, co)]
                out[(b, *o, co)] = total
    return out


def direct_transpose(g, w, x_shape, strides, dilations, padding, groups):
    """The transpose of direct_conv with respect to x: each output scatters back."""
    dx = np.zeros(x_shape)
    n, *spatial, channels = x_shape
    s = len(spatial)
    kernel, per_group, out_channels = w.shape[:s], w.shape[s], w.shape[s + 1]
    og = out_channels // groups
    for b in range(n):
        for o in np.ndindex(*g.shape[1:-1]):
            for co in range(out_channels):
                grp = co // og
                for k in np.ndindex(*kernel):
                    pos = [oi * st + ki * dil - pb for oi, ki, st, dil, (pb, _)
                           in zip(o, k, strides, dilations, padding)]
                    if all(0 <= p < d for p, d in zip(pos, spatial)):
                        for c in range(per_group):
                            dx[(b, *pos, grp * per_group + c)] += \
                                g[(b, *o, co)] * w[(*k, c, co)]
    return dx


def _same(size, k, stride, dilation):
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


# (x shape (channels last), filter shape, strides, dilations, padding, groups)
CASES = [
    ((2, 7, 3), (3, 3, 4), (2,), (1,), "SAME", 1),  # 1-d, odd kernel
    ((1, 9, 2), (2, 2, 3), (4,), (3,), "VALID", 1),  # stride > kernel, dilation
    ((2, 6, 5, 4), (2, 2, 4, 3), (1, 1), (1, 1), "SAME", 1),  # even kernel: extra pad after
    ((1, 7, 6, 4), (3, 2, 2, 6), (2, 1), (1, 2), "SAME", 2),  # groups, dilation
    ((1, 5, 5, 3), (3, 3, 1, 6), (1, 1), (1, 1), "VALID", 3),  # depthwise-like groups
    ((2, 1, 4, 2), (1, 3, 2, 2), (1, 2), (1, 1), "SAME", 1),  # a size-1 spatial axis
    ((1, 4, 3, 5, 2), (2, 1, 2, 2, 2), (1, 2, 3), (1, 1, 1), "SAME", 1),  # 3-d
    ((1, 6, 6, 2), (3, 3, 2, 2), (2, 2), (1, 1), [[0, 0], [2, 0], [1, 3], [0, 0]], 1),
    # 16+ channels: the implicit GEMM packs channel vectors (fewer: whole kernel rows)
    ((1, 5, 6, 17), (3, 2, 17, 5), (2, 1), (1, 2), "SAME", 1),
    ((2, 3, 4, 16), (1, 1, 16, 3), (1, 1), (1, 1), "VALID", 1),  # 1x1: a plain GEMM
    ((1, 5, 4, 16), (1, 1, 16, 2), (2, 3), (1, 1), "SAME", 1),  # strided 1x1: packed
]


def _conv_op(x, w, strides, dilations, padding, data_format):
    rank = len(strides)
    fmt = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[rank]
    return tf.nn.convolution(x, w, padding, strides=list(strides), dilations=list(dilations),
                             data_format=fmt[0] if data_format == "last" else fmt[1])


def _pairs(padding, xs, ws, strides, dilations):
    if padding == "VALID":
        return [(0, 0)] * len(strides)
    if padding == "SAME":
        return [_same(d, k, s, dl) for d, k, s, dl in zip(xs[1:-1], ws, strides, dilations)]
    return [tuple(p) for p in padding[1:-1]]


@pytest.mark.parametrize("layout", ["last", "first"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}*{c[1]}" for c in CASES])
def test_conv_matches_direct_loops(case, layout, target):
    xs, ws, strides, dilations, padding, groups = case
    xv, wv = u(*xs), u(*ws)
    pairs = _pairs(padding, xs, ws[:len(strides)], strides, dilations)
    want = direct_conv(xv, wv, strides, dilations, pairs, groups)
    feed_x = xv if layout == "last" else np.moveaxis(xv, -1, 1)
    if layout == "first" and not isinstance(padding, str):
        padding = [padding[0], padding[-1]] + padding[1:-1]  # batch, channel, spatial
    for dtype in (np.float32, np.float64):
        x = tf.placeholder(dtype, feed_x.shape)
        y = _conv_op(x, tf.constant(wv.astype(dtype)), strides, dilations, padding, layout)
        got = run(y, {x: feed_x.astype(dtype)}, target)
        got = got if layout == "last" else np.moveaxis(got, 1, -1)
        assert_close(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                     atol=1e-5 if dtype == np.float32 else 1e-12)


def test_same_and_valid_resolve_to_tf_padding():
    x = tf.placeholder(tf.float32, [1, 7, 6, 1])
    w = tf.zeros([3, 2, 1, 1])
    same = tf.nn.conv2d(x, w, strides=[1, 2, 1, 1], padding="SAME")
    valid = tf.nn.conv2d(x, w, strides=[1, 2, 1, 1], padding="VALID")
    # H: ceil(7/2) = 4 outputs of a 3-window need 2 pad rows, one each side; W: 6 outputs
    # of a 2-window need 1 pad column, at the end
    assert same.node.attrs["padding"] == ((1, 1), (0, 1)) and same.shape.as_list() == \
        [1, 4, 6, 1]
    assert valid.node.attrs["padding"] == ((0, 0), (0, 0)) and valid.shape.as_list() == \
        [1, 3, 5, 1]
    unknown = tf.nn.conv2d(tf.placeholder(tf.float32, [None, None, None, 1]), w,
                           strides=1, padding="SAME")
    assert unknown.node.attrs["padding"] == ((1, 1), (0, 1))
    assert unknown.shape.as_list() == [None, None, None, 1]


def test_depthwise_and_separable():
    xv, dw, pw = u(2, 5, 6, 3), u(3, 3, 3, 2), u(1, 1, 6, 4)
    x = tf.placeholder(tf.float64, xv.shape)
    depth = tf.nn.depthwise_conv2d(x, tf.constant(dw), [1, 1, 1, 1], "SAME")
    sep = tf.nn.separable_conv2d(x, tf.constant(dw), tf.constant(pw), [1, 1, 1, 1], "SAME")
    got_d, got_s = run([depth, sep], {x: xv})
    # output channel c * M + m is input channel c convolved with dw[..., c, m]
    want_d = np.concatenate([direct_conv(xv[..., c:c + 1], dw[:, :, c:c + 1, :], (1, 1),
                                         (1, 1), [(1, 1), (1, 1)], 1) for c in range(3)],
                            axis=-1)
    assert_close(got_d, want_d)
    assert_close(got_s, np.einsum("nhwc,co->nhwo", want_d, pw[0, 0]))


def test_transpose_is_the_input_gradient(target):
    xs, ws, strides = (2, 7, 6, 4), (3, 2, 4, 5), (2, 3)
    wv, gv = u(*ws), u(2, 4, 2, 5)
    w = tf.constant(wv)
    g = tf.placeholder(tf.float64, gv.shape)
    up = tf.nn.conv2d_transpose(g, w, output_shape=[2, 7, 6, 4], strides=[1, 2, 3, 1],
                                padding="SAME")
    x = tf.placeholder(tf.float64, xs)
    y = tf.nn.conv2d(x, w, strides=[1, 2, 3, 1], padding="SAME")
    (dx,) = tf.gradients(y, [x], grad_ys=[g])
    pairs = [_same(7, 3, 2, 1), _same(6, 2, 3, 1)]
    want = direct_transpose(gv, wv, xs, strides, (1, 1), pairs, 1)
    got_up, got_dx = run([up, dx], {g: gv, x: np.zeros(xs)}, target)
    assert_close(got_up, want)
    assert_close(got_dx, want)
    assert up.shape.as_list() == list(xs)


def test_backprop_filter_is_the_filter_gradient(target):
    xv, gv = u(1, 6, 5, 2), u(1, 3, 5, 3)
    x = tf.placeholder(tf.float64, xv.shape)
    w = tf.placeholder(tf.float64, [3, 3, 2, 3])
    y = tf.nn.conv2d(x, w, strides=[1, 2, 1, 1], padding="SAME")
    (dw,) = tf.gradients(y, [w], grad_ys=[tf.constant(gv)])
    direct = tf.nn.conv2d_backprop_filter(x, [3, 3, 2, 3], tf.constant(gv), [1, 2, 1, 1],
                                          "SAME")
    got, got_direct = run([dw, direct], {x: xv, w: np.zeros((3, 3, 2, 3))}, target)
    # <conv(x, w), g> is linear in w: its gradient is the coefficient of each weight
    want = np.zeros((3, 3, 2, 3))
    for k in np.ndindex(*want.shape):
        e = np.zeros_like(want)
        e[k] = 1.0
        want[k] = (direct_conv(xv, e, (2, 1), (1, 1), [_same(6, 3, 2, 1), _same(5, 3, 1, 1)],
                               1) * gv).sum()
    assert_close(got, want)
    assert_close(got_direct, want)


GRAD_CASES = [
    ("conv1d", lambda x, w: tf.nn.conv1d(x, w, stride=2, padding="SAME"), (2, 5, 3), (3, 3, 2)),
    ("conv2d_groups_nchw", lambda x, w: tf.nn.conv2d(
        x, w, strides=[1, 1, 2, 1], padding="SAME", data_format="NCHW",
        dilations=[1, 1, 1, 2]), (1, 4, 4, 5), (2, 2, 2, 4)),
    ("conv3d", lambda x, w: tf.nn.conv3d(x, w, strides=[1, 1, 2, 1, 1], padding="VALID"),
     (1, 3, 4, 3, 2), (2, 2, 2, 2, 2)),
    ("transpose", lambda g, w: tf.nn.conv2d_transpose(
        g, w, [1, 5, 4, 2], strides=[1, 2, 2, 1], padding="SAME"), (1, 3, 2, 3), (3, 3, 2, 3)),
    ("backprop_filter", lambda x, g: tf.nn.conv2d_backprop_filter(
        x, [2, 3, 3, 2], g, [1, 1, 2, 1], "VALID"), (1, 4, 5, 3), (1, 3, 2, 2)),
    ("conv2d_16_channels", lambda x, w: tf.nn.conv2d(
        x, w, strides=[1, 2, 1, 1], padding="SAME"), (1, 4, 3, 16), (2, 2, 16, 3)),
    ("pointwise", lambda x, w: tf.nn.conv2d(x, w, 1, "VALID"), (2, 3, 2, 4), (1, 1, 4, 3)),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(case, target):
    """Compiled too: on llvm the channels-last cases run the implicit GEMMs (forward and
    both transposes) in float64."""
    _, fn, a, b = case
    gradcheck(fn, [u(*a), u(*b)], atol=1e-6, rtol=1e-5, target=target)


def test_second_order_gradients():
    def input_gradient_norm(x, w):  # d/dx of sum(conv^2), squared and summed
        y = tf.nn.conv2d(x, w, strides=[1, 2, 1, 1], padding="SAME")
        (dx,) = tf.gradients(tf.reduce_sum(y * y), [x])
        return tf.reduce_sum(dx * dx)
    gradcheck(input_gradient_norm, [u(1, 4, 3, 2), u(2, 2, 2, 2)], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_llvm_training_step_matches_reference(threads):
    xv = u(3, 8, 7, 3).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 8, 7, 3])
    w = tf.constant(u(3, 3, 3, 4).astype(np.float32))
    y = tf.nn.relu(tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME") + 0.1)
    loss = tf.reduce_mean(y * y)
    dx, dw = tf.gradients(loss, [x, w])
    names, _ = llvm_plan([y, dx, dw], {x: xv}, threads=threads)
    # the bias and ReLU run in the convolution's GEMM epilogue
    assert {"k_conv_maximum", "k_conv_input_grad", "k_conv_filter_grad"} <= set(names)


def test_errors_name_the_op_the_shapes_and_the_line():
    x = tf.placeholder(tf.float32, [1, 5, 5, 3])
    with pytest.raises(ShapeError,
                       match=r"conv2d: the filter \(3, 3, 2, 4\) takes 2 input channels, the "
                             r"input \(1, 5, 5, 3\) has 3, not a multiple of them "
                             r"\(at test_conv.py:\d+\)"):
        tf.nn.conv2d(x, tf.zeros([3, 3, 2, 4]), strides=1, padding="SAME")
    with pytest.raises(ShapeError, match=r"conv2d: strides \[1, 0, 1, 1\] must be positive "
                                         r"\(at test_conv.py:\d+\)"):
        tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4]), strides=[1, 0, 1, 1], padding="VALID")
    with pytest.raises(ShapeError, match=r"the window \(size 6, dilation 1\) is larger than "
                                         r"the padded input along spatial axis 0 \(5 \+ 0 \+ 0\)"):
        tf.nn.conv2d(x, tf.zeros([6, 1, 3, 4]), strides=1, padding="VALID")
    with pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW'"):
        tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4]), strides=1, padding="SAME", data_format="HWCN")
    with pytest.raises(ValueError, match="padding must be 'SAME', 'VALID' or explicit pairs"):
        tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4]), strides=1, padding="FULL")
    with pytest.raises(TypeError, match="conv2d expects floating-point operands, got int32"):
        tf.nn.conv2d(tf.zeros([1, 3, 3, 1], tf.int32), tf.zeros([1, 1, 1, 1], tf.int32), 1,
                     "SAME")


def test_transpose_with_a_batch_known_at_run_time(target):
    g = tf.placeholder(tf.float64, [None, 4, 3, 5])
    wv = u(3, 3, 2, 5)
    up = tf.nn.conv2d_transpose(g, tf.constant(wv), tf.stack([tf.shape(g)[0], 8, 6, 2]),
                                [1, 2, 2, 1], "SAME")
    assert up.shape.as_list() == [None, 8, 6, 2]
    gv = u(3, 4, 3, 5)
    pairs = [_same(8, 3, 2, 1), _same(6, 3, 2, 1)]
    assert_close(run(up, {g: gv}, target), direct_transpose(gv, wv, (3, 8, 6, 2), (2, 2),
                                                             (1, 1), pairs, 1))


# --- the implicit GEMM (passes/lower.py) ----------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("channels", [3, 17])  # a kernel row per segment, a channel vector
def test_residual_block_runs_in_gemm_epilogues(threads, channels):
    """conv + batch norm + residual add + ReLU: each convolution is one GEMM whose epilogue
    applies everything after it; the backward convolutions are GEMMs too."""
    xv = u(2, 9, 7, channels).astype(np.float32)
    x = tf.placeholder(tf.float32, [2, 9, 7, channels])
    w1 = tf.constant(u(3, 3, channels, 16).astype(np.float32))
    w2 = tf.constant(u(3, 3, 16, channels).astype(np.float32))
    scale, shift = (tf.constant(u(16).astype(np.float32)) for _ in range(2))
    h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") * scale + shift)
    y = tf.nn.relu(tf.nn.conv2d(h, w2, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]) + x)
    dx, = tf.gradients(tf.reduce_sum(y * y), [x])
    # the gradient reaches about 500: float32 sums of that size carry 1e-5 of it in rounding
    names, plan = llvm_plan([y, dx], {x: xv}, threads=threads, rtol=1e-4, atol=5e-3)
    assert names.count("k_conv_maximum") == 2
    assert names.count("k_conv_input_grad") == 2
    gemms = [k for k in plan.kernels if k.name.startswith("k_conv")]
    assert all(isinstance(k.body[0], K.Intrinsic) and k.body[0].name == "gemm"
               and k.body[0].packs[0] is not None for k in gemms)


def test_an_epilogue_writes_over_the_convolutions_value():
    """In inference, the value a convolution's epilogue computes takes the place of the
    convolution's own (which nothing else reads): the GEMM writes C into it, and the epilogue
    rewrites it there, element by element."""
    xv = u(1, 6, 5, 4).astype(np.float32)
    x = tf.placeholder(tf.float32, [1, 6, 5, 4])
    w1, w2 = tf.constant(u(3, 3, 4, 8).astype(np.float32)), tf.constant(u(1, 1, 8, 3))
    h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") + tf.constant(u(8).astype(np.float32)))
    y = tf.nn.conv2d(h, tf.cast(w2, tf.float32), 1, "VALID") * 2.0
    names, plan = llvm_plan(y, {x: xv}, rtol=1e-4, atol=1e-4)
    first = names.index("k_conv_maximum")
    out, c = plan.merged[first]
    assert plan.kernels[first].body[0].buffers[2] == f"s{out}" and out != c


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_which_convolutions_are_gemms(layout):
    x = tf.placeholder(tf.float32, [1, 6, 6, 4] if layout == "NHWC" else [1, 4, 6, 6])
    plain = tf.nn.conv2d(x, tf.zeros([3, 3, 4, 2]), 1, "SAME", data_format=layout)
    grouped = tf.nn.conv2d(x, tf.zeros([3, 3, 2, 2]), 1, "SAME", data_format=layout)
    half = tf.nn.conv2d(tf.cast(x, tf.float16), tf.zeros([3, 3, 4, 2], tf.float16), 1,
                        "SAME", data_format=layout)
    assert [as_gemm(t.node) for t in (plain, grouped, half)] == [layout == "NHWC", False,
                                                                  False]


@pytest.mark.parametrize("op", ["conv", "conv_input_grad", "conv_filter_grad"])
def test_the_interpreter_runs_packed_gemms(op):
    """The L2 interpreter reads a gemm's packed operands through their values: a lowered
    implicit-GEMM kernel interpreted with numpy's matmul gives the reference's numbers."""
    xv, wv, gv = u(2, 5, 6, 3), u(2, 3, 3, 4), u(2, 3, 3, 4)
    x, g = tf.constant(xv), tf.constant(gv)
    w = tf.constant(wv)
    kw = dict(strides=[1, 2, 2, 1], padding=[[0, 0], [1, 0], [1, 1], [0, 0]])
    if op == "conv":
        t = tf.nn.conv2d(x, w, **kw)
    elif op == "conv_input_grad":
        t = tf.nn.conv2d_backprop_input([2, 5, 6, 3], w, g, **kw)
    else:
        t = tf.nn.conv2d_backprop_filter(x, [2, 3, 3, 4], g, **kw)
    node = t.node
    assert node.op.name == op and as_gemm(node)
    lowering = Lowering(lambda n: f"v{id(n)}")
    kernel = lowering.lower(node)
    verify_kernel(kernel)
    mem = {f"v{id(n)}": n.attrs["value"].ravel().copy() for n in node.inputs
           if n.op.name == "constant"}
    mem[f"v{id(node)}"] = np.zeros(int(np.prod(node.shape)))
    interpret(kernel, mem, intrinsics={"gemm": numpy_gemm})
    want = run(t)
    np.testing.assert_allclose(mem[f"v{id(node)}"].reshape(want.shape), want, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_pointwise_convolutions_are_plain_gemms(threads):
    """A 1x1 convolution of stride 1 reads its activations as matrices: no packed operand
    in the forward GEMM or either gradient's; a strided 1x1 one still packs its input."""
    xv = u(2, 5, 3, 6).astype(np.float32)
    x = tf.placeholder(tf.float32, [2, 5, 3, 6])
    w = tf.placeholder(tf.float32, [1, 1, 6, 4])
    wv = u(1, 1, 6, 4).astype(np.float32)
    y = tf.nn.conv2d(x, w, 1, "VALID")
    strided = tf.nn.conv2d(x, w, 2, "VALID")
    loss = tf.reduce_sum(tf.sin(y)) + tf.reduce_sum(strided * strided)
    dx, dw = tf.gradients(loss, [x, w])
    names, plan = llvm_plan([y, strided, dx, dw], {x: xv, w: wv}, threads=threads)
    packs = {}
    for k in plan.kernels:
        if k.name.startswith("k_conv"):
            (call,) = [s for s in k.body if isinstance(s, K.Intrinsic)]
            node = k.notes["node"]
            packs.setdefault(node.op.name, []).append(
                (node.attrs["strides"], any(p is not None for p in call.packs)))
    assert sorted(packs["conv"]) == [((1, 1), False), ((2, 2), True)]
    assert sorted(packs["conv_input_grad"]) == [((1, 1), False), ((2, 2), True)]
    assert sorted(packs["conv_filter_grad"]) == [((1, 1), False), ((2, 2), True)]


def _gemm_calls(plan):
    """(op name, the gemm, its kernel) of each convolution kernel of an LLVM plan."""
    for k in plan.kernels:
        for s in k.body:
            if isinstance(s, K.Intrinsic) and s.name == "gemm" and k.notes.get("node"):
                yield k.notes["node"].op.name, s, k


@pytest.mark.parametrize("threads", [1, 2])
def test_wide_convolutions_read_their_input_in_place(threads):
    """float32 implicit GEMMs of 16+ channel segments into more than the thin tile's 16
    columns read their rows where they lie (the indirect GEMM), the segments' offsets in a
    table made when the plan is built: the forward convolutions and the input gradient of
    the one with 36 output channels, whose windows are 36-channel segments of the output
    gradient. The numbers match the reference, and the first table holds each output
    pixel's input offsets, -1 in the padding."""
    n, h, w, c = 2, 7, 6, 16
    xv = u(n, h, w, c).astype(np.float32)
    x = tf.placeholder(tf.float32, [n, h, w, c])
    w1 = tf.constant((u(3, 3, c, 40) / 12).astype(np.float32))  # (outputs about 1)
    w2 = tf.constant((u(3, 2, 40, 36) / 16).astype(np.float32))
    y1 = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") + tf.constant(u(40).astype(np.float32)))
    y2 = tf.nn.conv2d(y1, w2, [1, 2, 1, 1], [[0, 0], [1, 2], [0, 1], [0, 0]],
                      dilations=[1, 1, 2, 1])
    dx, = tf.gradients(tf.reduce_sum(y2 * y2), [x])
    _, plan = llvm_plan([y2, dx], {x: xv}, threads=threads, rtol=1e-4, atol=1e-5)
    from graphc.codegen_llvm.gemm import vector_width
    from graphc.codegen_llvm.intrinsics import gemm_choice, in_place_a
    found = sorted((op, s.args[1].value, in_place_a(s, "f32") is not None)
                   for op, s, _ in _gemm_calls(plan))
    # 16 columns are one AVX-512 vector, the thin tile's, which packs; two AVX2 vectors,
    # the narrow tile's, which reads in place
    thin = gemm_choice("f32", vector_width("f32", "native"), 16)[0] == "thin"
    assert found == [("conv", 36, True), ("conv", 40, True), ("conv_input_grad", 16, not thin),
                     ("conv_input_grad", 40, True)]
    (first,) = [s for op, s, _ in _gemm_calls(plan) if op == "conv" and s.args[1].value == 40]
    table = next(x for x in K.expr_children(first.packs[0].value.cond)
                 if isinstance(x, K.Load) or isinstance(x, K.Cast))
    table = table.a if isinstance(table, K.Cast) else table
    got = plan.slots[int(table.buffer[1:])].array.reshape(n * h * w, 9)
    want = np.full((n, h, w, 3, 3), -1)
    for i, r, q, kh, kw in np.ndindex(n, h, w, 3, 3):
        if 0 <= r + kh - 1 < h and 0 <= q + kw - 1 < w:
            want[i, r, q, kh, kw] = ((i * h + r + kh - 1) * w + q + kw - 1) * c
    np.testing.assert_array_equal(got, want.reshape(n * h * w, 9))


@pytest.mark.parametrize("threads", [1, 2])
def test_an_input_gradient_into_at_most_the_narrow_tiles_columns_reads_in_place(threads):
    """The input gradient of a convolution of 24 input channels, 17 to 32 columns (the narrow
    GEMM tile's), reads its windows, segments of the 20 output channels, in place: the
    narrow indirect GEMM."""
    n, h, w, c = 3, 9, 8, 24
    x = tf.placeholder(tf.float32, [n, h, w, c])
    filt = tf.constant((u(3, 3, c, 20) / 12).astype(np.float32))
    y = tf.nn.conv2d(x, filt, 1, [[0, 0], [1, 1], [2, 0], [0, 0]])
    dx, = tf.gradients(tf.reduce_sum(y * y), [x])
    _, plan = llvm_plan(dx, {x: u(n, h, w, c).astype(np.float32)}, threads=threads,
                        rtol=1e-4, atol=1e-4)
    from graphc.codegen_llvm.intrinsics import gemm_choice, in_place_a
    (s,) = [s for op, s, _ in _gemm_calls(plan) if op == "conv_input_grad"]
    assert s.args[1].value == 24 and s.packs[0].lanes == 20
    assert gemm_choice("f32", 16, 24)[0] == "narrow" and in_place_a(s, "f32") is not None


def test_a_padded_few_channel_input_is_read_in_place():
    """A stem's convolution (3 channels, 7 x 7, stride 2) of an input padded beforehand
    reads whole kernel rows, 7 x 3 consecutive elements, in place."""
    xv = u(1, 21, 19, 3).astype(np.float32)
    x = tf.placeholder(tf.float32, [1, 21, 19, 3])
    padded = tf.pad(x, [[0, 0], [3, 3], [2, 3], [0, 0]])
    y = tf.nn.relu(tf.nn.conv2d(padded, tf.constant(u(7, 7, 3, 40).astype(np.float32)), 2,
                                "VALID"))
    _, plan = llvm_plan(y, {x: xv}, rtol=1e-4, atol=1e-4)
    from graphc.codegen_llvm.intrinsics import in_place_a
    ((op, s, _),) = _gemm_calls(plan)
    assert op == "conv" and s.packs[0].lanes == 21 and in_place_a(s, "f32") is not None
