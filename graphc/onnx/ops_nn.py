"""Neural-network ONNX ops other than convolution and pooling: activations, the softmax
family, Gemm/MatMul/Einsum, the normalizations, Dropout (inference) and LRN.

Before opset 13 Softmax, LogSoftmax and Hardmax coerce their input to 2-D at `axis`
(default 1): [prod(dims before axis), prod(dims from axis on)], normalize each row, and
reshape back; from 13 on they normalize along `axis` (default -1) alone.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import converter, one_of
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops import nn_ops as N
from graphc.ops.einsum import einsum
from graphc.ops.tensor import cast


def _unary(fn):
    def convert(ctx):
        return [fn(ctx, ctx.input(0))]
    return convert


def _elu_like(x, alpha):
    return M.where(M.greater(x, 0), x, alpha * M.expm1(M.minimum(x, 0)))


_ACTIVATIONS = {
    "Relu": lambda ctx, x: M.maximum(x, ctx.scalar(0, x)),
    "LeakyRelu": lambda ctx, x: M.where(M.greater_equal(x, 0), x, x * ctx.attr("alpha")),
    "Elu": lambda ctx, x: _elu_like(x, ctx.attr("alpha")),
    "Selu": lambda ctx, x: ctx.attr("gamma") * _elu_like(x, ctx.attr("alpha")),
    "Celu": lambda ctx, x: M.maximum(x, ctx.scalar(0, x)) + M.minimum(
        ctx.scalar(0, x), ctx.attr("alpha") * M.expm1(x / ctx.attr("alpha"))),
    "ThresholdedRelu": lambda ctx, x: M.where(M.greater(x, ctx.attr("alpha")), x,
                                              A.zeros_like(x)),
    "HardSigmoid": lambda ctx, x: M.clip_by_value(ctx.attr("alpha") * x + ctx.attr("beta"),
                                                  ctx.scalar(0, x), ctx.scalar(1, x)),
    "HardSwish": lambda ctx, x: x * M.clip_by_value(x * (1 / 6) + 0.5, ctx.scalar(0, x),
                                                    ctx.scalar(1, x)),
    "Softplus": lambda ctx, x: N.softplus(x),
    "Softsign": lambda ctx, x: N.softsign(x),
    "Mish": lambda ctx, x: x * M.tanh(N.softplus(x)),
    "Swish": lambda ctx, x: x * M.sigmoid(x * ctx.attr("alpha", 1.0)),
}
for _op, _fn in _ACTIVATIONS.items():
    converter(_op)(_unary(_fn))


@converter("Gelu", check=lambda n: one_of("approximate", ("none", "tanh"), n))
def _gelu(ctx):
    return [N.gelu(ctx.input(0), approximate=ctx.attr("approximate") == "tanh")]


@converter("PRelu")
def _prelu(ctx):
    x, slope = ctx.input(0), ctx.input(1)
    if ctx.opset < 7 and slope.node.rank == 1 and x.node.rank > 2 and \
            slope.node.shape[0] not in (1, x.node.shape[-1]):
        slope = A.reshape(slope, [-1] + [1] * (x.node.rank - 2))  # per channel of NCHW
    return [M.where(M.less(x, 0), x * slope, x)]


@converter("Shrink")
def _shrink(ctx):
    x = ctx.input(0)
    lambd, bias = ctx.attr("lambd"), ctx.attr("bias")
    lo, hi = ctx.scalar(-lambd, x), ctx.scalar(lambd, x)
    zero = A.zeros_like(x)
    return [M.where(M.less(x, lo), x + ctx.scalar(bias, x),
                    M.where(M.greater(x, hi), x - ctx.scalar(bias, x), zero))]


# --- softmax family -------------------------------------------------------------------------
def _rows(ctx, x, fn):
    """fn along `axis`, or on the 2-D coercion of x before opset 13."""
    rank = x.node.rank
    if ctx.opset >= 13:
        return fn(x, int(ctx.attr("axis", -1)) % max(rank, 1))
    axis = int(ctx.attr("axis", 1)) % max(rank, 1)
    dims = x.node.shape
    inner = int(np.prod(dims[axis:])) if None not in dims[axis:] else -1
    flat = A.reshape(x, [-1, inner])
    out = fn(flat, 1)
    return A.reshape(out, A.shape(x) if None in dims else list(dims))


@converter("Softmax")
def _softmax(ctx):
    return [_rows(ctx, ctx.input(0), lambda x, a: N.softmax(x, axis=a))]


@converter("LogSoftmax")
def _log_softmax(ctx):
    return [_rows(ctx, ctx.input(0), lambda x, a: N.log_softmax(x, axis=a))]


@converter("Hardmax")
def _hardmax(ctx):
    def hardmax(x, axis):
        depth = ctx.static_shape(x, "Hardmax")[axis]
        first = M.argmax(x, axis=axis, output_type=dtypes.int64)  # the first maximum wins
        return M.one_hot(first, depth, axis=axis, dtype=x.dtype)
    return [_rows(ctx, ctx.input(0), hardmax)]


# --- products -------------------------------------------------------------------------------
@converter("MatMul")
def _matmul(ctx):
    return [M.matmul(ctx.input(0), ctx.input(1))]


@converter("Gemm")
def _gemm(ctx):
    a, b, c = ctx.input(0), ctx.input(1), ctx.input(2)
    y = M.matmul(a, b, transpose_a=bool(ctx.attr("transA")),
                 transpose_b=bool(ctx.attr("transB")))
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * ctx.scalar(alpha, y)
    if c is not None and beta != 0.0:
        y = y + (c if beta == 1.0 else c * ctx.scalar(beta, c))
    return [y]


@converter("Einsum")
def _einsum(ctx):
    return [einsum(ctx.attr("equation").replace(" ", ""), *ctx.inputs())]


# --- normalizations -------------------------------------------------------------------------
def _channel(v, rank):
    """A per-channel vector shaped to broadcast over (N, C, *spatial)."""
    return A.reshape(v, [-1] + [1] * (rank - 2)) if v.node.rank == 1 else v


def _batch_norm_check(node):
    if node.opset < 7 and not node.attr("is_test", 0):
        return "BatchNormalization in training mode (is_test=0) before opset 7"
    return None


@converter("BatchNormalization", check=_batch_norm_check)
def _batch_norm(ctx):
    x, scale, bias, mean, var = (ctx.input(i) for i in range(5))
    rank, eps = x.node.rank, ctx.attr("epsilon", 1e-5)
    spatial = ctx.attr("spatial", 1) if ctx.opset < 9 else 1
    per = (lambda v: v) if not spatial else (lambda v: _channel(v, rank))
    training = ctx.opset >= 14 and ctx.attr("training_mode", 0)
    if not training:
        return [_normalize(x, per(mean), per(var), per(scale), per(bias), eps)]
    axes = [a for a in range(rank) if a != 1]
    batch_mean = M.reduce_mean(x, axes)
    batch_var = M.reduce_mean(M.square(x - _channel(batch_mean, rank)), axes)
    momentum = ctx.attr("momentum", 0.9)
    y = _normalize(x, _channel(batch_mean, rank), _channel(batch_var, rank), per(scale),
                   per(bias), eps)
    running_mean = mean * momentum + batch_mean * (1 - momentum)
    running_var = var * momentum + batch_var * (1 - momentum)
    return [y, running_mean, running_var]


def _normalize(x, mean, var, scale, bias, eps):
    return scale * (x - mean) / M.sqrt(var + eps) + bias


@converter("InstanceNormalization")
def _instance_norm(ctx):
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    rank = x.node.rank
    axes = list(range(2, rank))
    mean = M.reduce_mean(x, axes, keepdims=True)
    var = M.reduce_mean(M.square(x - mean), axes, keepdims=True)
    return [_normalize(x, mean, var, _channel(scale, rank), _channel(bias, rank),
                       ctx.attr("epsilon", 1e-5))]


def _stash(ctx, x):
    """x in the type the statistics are computed in: stash_type 1 is float32, 11 float64."""
    return cast(x, dtypes.float64 if ctx.attr("stash_type", 1) == 11 else dtypes.float32)


_STASH = lambda n: one_of("stash_type", (1, 11), n)  # noqa: E731


@converter("LayerNormalization", check=_STASH)
def _layer_norm(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    axes = list(range(int(ctx.attr("axis", -1)) % rank, rank))
    xs = _stash(ctx, x)
    mean = M.reduce_mean(xs, axes, keepdims=True)
    var = M.reduce_mean(M.square(xs - mean), axes, keepdims=True)
    inv = 1.0 / M.sqrt(var + ctx.attr("epsilon", 1e-5))
    y = cast((xs - mean) * inv, x.dtype) * ctx.input(1)
    if ctx.present(2):
        y = y + ctx.input(2)
    return [y, mean, inv]


@converter("RMSNormalization", check=_STASH)
def _rms_norm(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    axes = list(range(int(ctx.attr("axis", -1)) % rank, rank))
    xs = _stash(ctx, x)
    mean_square = M.reduce_mean(M.square(xs), axes, keepdims=True)
    y = cast(xs / M.sqrt(mean_square + ctx.attr("epsilon", 1e-5)), x.dtype)
    return [y * ctx.input(1)]


@converter("GroupNormalization", check=_STASH)
def _group_norm(ctx):
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    groups = int(ctx.attr("num_groups"))
    dims = x.node.shape
    if None in dims[1:]:
        ctx.static_shape(x, "GroupNormalization")
    n, c = dims[0], dims[1]
    grouped = A.reshape(_stash(ctx, x), [-1 if n is None else n, groups, -1])
    mean = M.reduce_mean(grouped, [2], keepdims=True)
    var = M.reduce_mean(M.square(grouped - mean), [2], keepdims=True)
    normed = (grouped - mean) / M.sqrt(var + ctx.attr("epsilon", 1e-5))
    y = cast(A.reshape(normed, A.shape(x) if n is None else list(dims)), x.dtype)
    if ctx.opset < 21:  # scale and bias per group, repeated over the group's channels
        scale = A.reshape(A.tile(A.reshape(scale, [groups, 1]), [1, c // groups]), [c])
        bias = A.reshape(A.tile(A.reshape(bias, [groups, 1]), [1, c // groups]), [c])
    rank = x.node.rank
    return [y * _channel(scale, rank) + _channel(bias, rank)]


@converter("MeanVarianceNormalization")
def _mvn(ctx):
    x = ctx.input(0)
    axes = [int(a) % x.node.rank for a in ctx.attr("axes", [0, 2, 3])]
    mean = M.reduce_mean(x, axes, keepdims=True)
    var = M.reduce_mean(M.square(x), axes, keepdims=True) - M.square(mean)
    return [(x - mean) / (M.sqrt(var) + ctx.scalar(1e-9, x))]


@converter("LpNormalization", check=lambda n: one_of("p", (1, 2), n))
def _lp_norm(ctx):
    x = ctx.input(0)
    axis = int(ctx.attr("axis", -1)) % x.node.rank
    if ctx.attr("p", 2) == 1:
        norm = M.reduce_sum(M.abs(x), [axis], keepdims=True)
    else:
        norm = M.sqrt(M.reduce_sum(M.square(x), [axis], keepdims=True))
    zero = M.equal(norm, 0)
    safe = M.where(zero, A.ones_like(norm), norm)
    return [M.where(zero, A.zeros_like(x), x / safe)]


@converter("LRN")
def _lrn(ctx):
    x = ctx.input(0)
    size = int(ctx.attr("size"))
    channels = x.node.shape[1]
    if channels is None:
        ctx.static_shape(x, "LRN")
    before, after = (size - 1) // 2, math.ceil((size - 1) / 2)
    pads = [[0, 0], [0, 0]] + [[0, 0]] * (x.node.rank - 2)
    pads[1] = [before, after]
    squares = A.pad(M.square(x), pads)
    total = None
    for k in range(size):
        window = A.slice(squares, [0, k] + [0] * (x.node.rank - 2),
                         [-1, channels] + [-1] * (x.node.rank - 2))
        total = window if total is None else total + window
    alpha, beta, bias = ctx.attr("alpha"), ctx.attr("beta"), ctx.attr("bias")
    return [x / M.pow(bias + (alpha / size) * total, ctx.scalar(beta, x))]


# --- Dropout (inference) --------------------------------------------------------------------
def _dropout_check(node):
    if node.opset < 7 and not node.attr("is_test", 0):
        return "Dropout in training mode (is_test=0): its random mask cannot be reproduced"
    return None


@converter("Dropout", check=_dropout_check)
def _dropout(ctx):
    x = ctx.input(0)
    if ctx.opset >= 12 and ctx.present(2):
        training = bool(np.asarray(ctx.const(2, "training_mode")).reshape(()))
        ratio = ctx.const(1, "ratio") if training and ctx.present(1) else 0.5
        if training and float(np.asarray(ratio).reshape(())) != 0.0:
            ctx.fail("Dropout with training_mode=True draws a random mask; graphc imports "
                     "inference graphs (training_mode=False)")
    mask = dtypes.bool_ if ctx.opset >= 10 else x.dtype  # before opset 10 the mask is T
    return [A.identity(x), A.ones_like(x, dtype=mask)]
