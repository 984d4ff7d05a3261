"""Convolution and pooling ONNX ops (channels first: N, C, *spatial).

Conv and ConvTranspose map onto graphc's N-d `conv` and `conv_input_grad` primitives with
explicit per-side padding and feature groups; ONNX's filter (M, C/group, *kernel) becomes
TF's (*kernel, C/group, M). Pooling uses the `pool` primitive where its semantics match
ONNX's exactly (dilation 1, and padding that an average does not count or that is absent);
dilated windows, count_include_pad=1 with padding, LpPool and MaxPool's Indices output are
compositions of strided slices, one per window offset along each axis in turn (window
maxima and sums are separable). ceil_mode adds end padding so the
last window, which must start inside the input or its left padding, fits.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import converter, one_of
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant, make_tensor

_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _auto_pad_check(node):
    return one_of("auto_pad", _AUTO_PADS, node)


def _spatial(ctx, x, what: str) -> list:
    dims = x.node.shape
    if dims is None or None in dims[2:]:
        ctx.static_shape(x, what)
    return list(dims[2:])


def _pads(ctx, sizes, kernel, strides, dilations) -> list:
    """One (before, after) pair per spatial axis from auto_pad or pads."""
    auto = ctx.attr("auto_pad", "NOTSET")
    s = len(sizes)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for n, k, st, d in zip(sizes, kernel, strides, dilations):
            total = max((-(-n // st) - 1) * st + d * (k - 1) + 1 - n, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out
    if auto == "VALID":
        return [(0, 0)] * s
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * s))]
    return list(zip(pads[:s], pads[s:]))


def _per_axis(ctx, name, s):
    return [int(v) for v in ctx.attr(name, [1] * s) or [1] * s]


# --- convolutions ---------------------------------------------------------------------------
def _filter_to_tf(w):
    """(M, C/group, *kernel) -> (*kernel, C/group, M)."""
    rank = w.node.rank
    return A.transpose(w, list(range(2, rank)) + [1, 0])


def _add_bias(y, b):
    return y if b is None else y + A.reshape(b, [-1] + [1] * (y.node.rank - 2))


@converter("Conv", check=_auto_pad_check)
def _conv(ctx):
    return [_add_bias(convolve(ctx, ctx.input(0), ctx.input(1)), ctx.input(2))]


def convolve(ctx, x, w):
    """The node's convolution of x (N, C, *spatial) with w (M, C/group, *kernel)."""
    s = x.node.rank - 2
    ctx.static_shape(w, "Conv (its filter)")
    kernel = list(w.node.shape[2:])
    strides, dilations = _per_axis(ctx, "strides", s), _per_axis(ctx, "dilations", s)
    group = int(ctx.attr("group", 1))
    if ctx.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        sizes = _spatial(ctx, x, "Conv with SAME padding")
    else:
        sizes = [None] * s
    pads = _pads(ctx, sizes, kernel, strides, dilations)
    channels = x.node.shape[1]
    if channels is not None and channels != w.node.shape[1] * group:
        ctx.fail(f"Conv: the input has {channels} channels, the filter {w.shape} with "
                 f"group={group} takes {w.node.shape[1] * group}")
    attrs = {"strides": tuple(strides), "dilations": tuple(dilations),
             "padding": tuple(pads), "groups": group}
    if group == 1 and x.dtype.name in ("float32", "float64"):
        # channels last, the layout graphc computes as one implicit GEMM; channels first
        # lowers to direct loops, which ran a ResNet-18 about 200 times slower
        rank = s + 2
        last = A.transpose(x, [0, *range(2, rank), 1])
        y = make_tensor("conv", (last, _filter_to_tf(w)), {**attrs, "channels_last": True},
                        "conv")
        return A.transpose(y, [0, rank - 1, *range(1, rank - 1)])
    return make_tensor("conv", (x, _filter_to_tf(w)), {**attrs, "channels_last": False},
                       "conv")


@converter("ConvTranspose", check=_auto_pad_check)
def _conv_transpose(ctx):
    x, w, b = ctx.input(0), ctx.input(1), ctx.input(2)
    s = x.node.rank - 2
    sizes = _spatial(ctx, x, "ConvTranspose")
    kernel = list(w.node.shape[2:])
    strides, dilations = _per_axis(ctx, "strides", s), _per_axis(ctx, "dilations", s)
    group = int(ctx.attr("group", 1))
    extra = [int(v) for v in ctx.attr("output_padding", [0] * s) or [0] * s]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    natural = [st * (n - 1) + e + span for n, st, e, span in zip(sizes, strides, extra, spans)]
    auto = ctx.attr("auto_pad", "NOTSET")
    out_shape = ctx.attr("output_shape")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [n * st for n, st in zip(sizes, strides)]
    if out_shape is not None:
        out_shape = [int(v) for v in out_shape][-s:]
        pads = []
        for full, want in zip(natural, out_shape):
            total = full - want
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto == "SAME_UPPER" else (big, small))
    else:
        pads = _pads(ctx, [None] * s, kernel, strides, dilations) if auto != "VALID" \
            else [(0, 0)] * s
    # a negative pad (an output_shape beyond the natural size) adds rows no kernel reaches
    grow = [(max(-bp, 0), max(-ap, 0)) for bp, ap in pads]
    pads = [(max(bp, 0), max(ap, 0)) for bp, ap in pads]
    out_sizes = [full - bp - ap for full, (bp, ap) in zip(natural, pads)]
    m = w.node.shape[1] * group
    n = x.node.shape[0]
    target = (n, m, *out_sizes)
    shape_t = A.stack([A.shape(x)[0], m, *out_sizes]) if n is None else \
        constant(np.array(target, np.int32))
    y = make_tensor("conv_input_grad", (x, _filter_to_tf(w), shape_t),
                    {"strides": tuple(strides), "dilations": tuple(dilations),
                     "padding": tuple(pads), "groups": group, "channels_last": False,
                     "shape": target}, "conv_transpose")
    if any(g != (0, 0) for g in grow):
        y = A.pad(y, [(0, 0), (0, 0)] + grow)
    return [_add_bias(y, b)]


# --- pooling --------------------------------------------------------------------------------
def _pool_check(node):
    if node.attr("storage_order", 0) not in (0, 1):
        return "MaxPool storage_order must be 0 or 1"
    return _auto_pad_check(node)


class _Window:
    """A pooling window's geometry along each spatial axis, with ceil_mode resolved."""

    def __init__(self, ctx, x, kernel):
        s = len(kernel)
        self.sizes = _spatial(ctx, x, ctx.node.op_type)
        self.kernel = list(kernel)
        self.strides = _per_axis(ctx, "strides", s)
        self.dilations = _per_axis(ctx, "dilations", s)
        self.pads = _pads(ctx, self.sizes, kernel, self.strides, self.dilations)
        self.extra = [0] * s  # end padding ceil_mode adds beyond the declared pads
        self.out = []
        ceil = bool(ctx.attr("ceil_mode", 0)) and ctx.attr("auto_pad", "NOTSET") == "NOTSET"
        for i, (n, k, st, d, (b, a)) in enumerate(zip(self.sizes, kernel, self.strides,
                                                      self.dilations, self.pads)):
            span = d * (k - 1) + 1
            room = n + b + a - span
            count = (-(-room // st) if ceil else room // st) + 1
            if ceil and (count - 1) * st >= n + b:
                count -= 1  # the last window must start inside the input or left padding
            self.out.append(count)
            self.extra[i] = max((count - 1) * st + span - (n + b + a), 0)

    def padded(self, x, value):
        """x padded by the declared pads and ceil_mode's extra, with `value`."""
        pairs = [(0, 0), (0, 0)] + [(b, a + e) for (b, a), e in zip(self.pads, self.extra)]
        if all(p == (0, 0) for p in pairs):
            return x
        return A.pad(x, pairs, constant_values=value)

    def along(self, y, axis: int, combine):
        """`combine` over the window offsets of spatial `axis` of y (a padded input whose
        earlier-reduced axes are already window outputs)."""
        k, d, st, n = (self.kernel[axis], self.dilations[axis], self.strides[axis],
                       self.out[axis])
        out = None
        for o in range(k):
            slices = [(None, None, None)] * (2 + len(self.kernel))
            slices[2 + axis] = (o * d, o * d + st * (n - 1) + 1, st)
            out = combine(out, [make_tensor("slice", (t,), {"slices": tuple(slices)}, "window")
                                for t in y])
        return out

    def reduce(self, xs, combine):
        """Window reductions are separable: one spatial axis at a time, the last first (so
        an index carried along picks the first maximum in row-major order)."""
        for axis in reversed(range(len(self.kernel))):
            xs = self.along(xs, axis, combine)
        return xs

    def counts(self, include_pads: bool) -> np.ndarray:
        """How many elements each window averages over: those inside the input, and the
        declared padding when include_pads; ceil_mode's extra never counts. The count is a
        product of one count per axis."""
        total = np.ones(())
        for i, (n, k, d, st, m, (b, a), e) in enumerate(zip(
                self.sizes, self.kernel, self.dilations, self.strides, self.out, self.pads,
                self.extra)):
            mask = np.concatenate([np.full(b, float(include_pads)), np.ones(n),
                                   np.full(a, float(include_pads)), np.zeros(e)])
            per_axis = sum(mask[o * d:o * d + st * (m - 1) + 1:st] for o in range(k))
            total = np.multiply.outer(total, per_axis)
        return total

    def primitive_ok(self, pads_count: bool) -> bool:
        """Whether graphc's pool primitive computes exactly this window."""
        if any(d != 1 for d in self.dilations) or pads_count:
            return False
        return all(max(b, a + e) < k for (b, a), e, k in zip(self.pads, self.extra,
                                                                self.kernel))

    def primitive(self, x, kind):
        pads = tuple((b, a + e) for (b, a), e in zip(self.pads, self.extra))
        return make_tensor("pool", (x,), {"kind": kind, "window": tuple(self.kernel),
                                          "strides": tuple(self.strides), "padding": pads,
                                          "channels_last": False}, "pool")


def _kernel(ctx):
    return [int(k) for k in ctx.attr("kernel_shape")]


def _max_of(best, values):
    if best is None:
        return values
    if len(values) == 1:
        return [M.maximum(best[0], values[0])]
    # (value, index) pairs: a later element wins only if strictly larger, so the first max
    better = M.greater(values[0], best[0])
    return [M.maximum(best[0], values[0]), M.where(better, values[1], best[1])]


def _sum_of(total, values):
    return values if total is None else [total[0] + values[0]]


@converter("MaxPool", check=_pool_check)
def _max_pool(ctx):
    x = ctx.input(0)
    if x.dtype.kind != "f":  # integer maxima are exact in float64 (up to 2^53)
        values, *rest = _max_pool_float(ctx, cast(x, dtypes.float64))
        return [cast(values, x.dtype)] + rest
    return _max_pool_float(ctx, x)


def _max_pool_float(ctx, x):
    win = _Window(ctx, x, _kernel(ctx))
    if not ctx.wants(1) and win.primitive_ok(False):
        return [win.primitive(x, "max")]
    low = -np.inf if x.dtype.kind == "f" else x.dtype.min
    xs = [win.padded(x, low)]
    if ctx.wants(1):
        xs.append(constant(_flat_indices(ctx, x, win)))
    out = win.reduce(xs, _max_of)
    return out if ctx.wants(1) else [out[0]]


def _flat_indices(ctx, x, win) -> np.ndarray:
    """The flat index into x (N, C, *spatial) of each element of the padded input (what
    padding positions get does not matter: they never win)."""
    n, c, *sizes = ctx.static_shape(x, "MaxPool's Indices output")
    coords = [np.arange(-b, size + a + e) for size, (b, a), e in zip(sizes, win.pads,
                                                                        win.extra)]
    grid = np.meshgrid(*coords, indexing="ij")
    spatial = np.zeros(grid[0].shape, np.int64)
    order = zip(grid, sizes)
    if ctx.attr("storage_order", 0) == 1:  # column major: the last spatial axis slowest
        order = reversed(list(order))
    for g, size in order:
        spatial = spatial * size + g
    plane = int(np.prod(sizes))
    base = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * plane
    return (base.reshape(n, c, *([1] * len(sizes))) + spatial).astype(np.int64)


@converter("AveragePool", check=_auto_pad_check)
def _average_pool(ctx):
    x = ctx.input(0)
    win = _Window(ctx, x, _kernel(ctx))
    include = bool(ctx.attr("count_include_pad", 0)) and any(
        p != (0, 0) for p in win.pads)
    if win.primitive_ok(include):
        return [win.primitive(x, "avg")]
    total = win.reduce([win.padded(x, 0)], _sum_of)[0]
    return [total / constant(win.counts(include).astype(x.dtype.np))]


@converter("LpPool", check=_auto_pad_check)
def _lp_pool(ctx):
    x = ctx.input(0)
    p = float(ctx.attr("p", 2))
    win = _Window(ctx, x, _kernel(ctx))
    powered = M.square(x) if p == 2 else M.pow(M.abs(x), ctx.scalar(p, x))
    total = win.reduce([win.padded(powered, 0)], _sum_of)[0]
    return [M.sqrt(total) if p == 2 else M.pow(total, ctx.scalar(1 / p, x))]


def _global(fn):
    def convert(ctx):
        x = ctx.input(0)
        return [fn(ctx, x, list(range(2, x.node.rank)))]
    return convert


converter("GlobalAveragePool")(_global(
    lambda ctx, x, axes: M.reduce_mean(x, axes, keepdims=True)))
converter("GlobalMaxPool")(_global(
    lambda ctx, x, axes: M.reduce_max(x, axes, keepdims=True)))
converter("GlobalLpPool")(_global(
    lambda ctx, x, axes: M.pow(M.reduce_sum(M.pow(M.abs(x), ctx.scalar(ctx.attr("p", 2), x)),
                                            axes, keepdims=True),
                               ctx.scalar(1 / ctx.attr("p", 2), x))))


# --- the adjoints of patch extraction and pooling -------------------------------------------
@converter("Col2Im")
def _col2im(ctx):
    """Sum sliding blocks back into an image: the transpose of extracting them, which is a
    grouped convolution with a one-hot filter per kernel offset; so conv_input_grad with
    that filter computes it, overlapping blocks adding up."""
    x = ctx.input(0)
    image = ctx.ints(1, "image_shape")
    block = ctx.ints(2, "block_shape")
    s, k = len(image), int(np.prod(block))
    strides, dilations = _per_axis(ctx, "strides", s), _per_axis(ctx, "dilations", s)
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * s)) or [0] * (2 * s)]
    pairs = list(zip(pads[:s], pads[s:]))
    n, ck, length = ctx.static_shape(x, "Col2Im")
    c = ck // k
    grid = [(size + b + a - d * (kb - 1) - 1) // st + 1 for size, (b, a), d, kb, st in
            zip(image, pairs, dilations, block, strides)]
    if int(np.prod(grid)) != length:
        ctx.fail(f"Col2Im: {length} blocks given, the image shape and attributes make "
                 f"{int(np.prod(grid))}")
    one_hot = np.eye(k, dtype=x.dtype.np).reshape(*block, 1, k)  # (*block, 1, k)
    w = np.tile(one_hot, [1] * s + [1, c])  # channel j * k + offset <- group j
    blocks = A.reshape(x, [n, ck] + grid)
    target = (n, c, *image)
    return [make_tensor("conv_input_grad", (blocks, constant(w), constant(
        np.array(target, np.int32))), {"strides": tuple(strides), "dilations": tuple(dilations),
                                       "padding": tuple(pairs), "groups": c,
                                       "channels_last": False, "shape": target}, "col2im")]


@converter("MaxUnpool")
def _max_unpool(ctx):
    """Each pooled value placed at its recorded flat index in zeros of the unpooled size
    (that size from the pooling attributes, zero-padded at the end to output_shape)."""
    from graphc.ops import extra_ops as X
    x, idx = ctx.input(0), ctx.input(1)
    n, c, *sizes = ctx.static_shape(x, "MaxUnpool")
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    s = len(kernel)
    strides = _per_axis(ctx, "strides", s)
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * s)) or [0] * (2 * s)]
    full = [(size - 1) * st - (pads[i] + pads[s + i]) + k
            for i, (size, st, k) in enumerate(zip(sizes, strides, kernel))]
    total = n * c * int(np.prod(full))
    flat = X.tensor_scatter_nd_update(A.zeros([total], x.dtype),
                                      A.reshape(cast(idx, dtypes.int64), [-1, 1]),
                                      A.reshape(x, [-1]))
    y = A.reshape(flat, [n, c] + full)
    if ctx.present(2):
        want = ctx.ints(2, "output_shape")
        y = A.pad(y, [(0, w - h) for w, h in zip(want, [n, c] + full)])
    return [y]
