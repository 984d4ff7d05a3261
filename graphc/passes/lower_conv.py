"""lower_conv: the lowerings of the windowed primitives (ir/ops/conv.py, ir/ops/pool.py),
a part of passes/lower.py's Lowering (its mixin, using its helpers: at, name, kernel,
elementwise, assigned).

A channels-last convolution of one group (conv.as_gemm) and its two gradients are one
implicit GEMM each (see WindowLowering's section comment); the other convolutions and
pooling are direct loops over each output element's window, reading zero (or nothing) in
the padding through a masked load whose index is clamped into the input (no test and no
clamp along an axis whose windows cannot leave it).
"""

from __future__ import annotations

import math

from graphc.ir import kernel as K
from graphc.ir.node import Node
from graphc.ir.ops.conv import FEW_CHANNELS, as_gemm, join_layout, output_size, split_layout


def dt(node: Node) -> str:
    return node.dtype.short


def size_of(shape) -> int:
    return math.prod(shape)


class WindowLowering:
    """Convolutions and pooling, lowered (a mixin of passes/lower.py's Lowering)."""

    # --- convolution (ir/ops/conv.py defines the attrs) ------------------------------------
    # A channels-last convolution of one group is an implicit GEMM (conv.as_gemm): its
    # activations are (pixels, channels) matrices and its filter a (kernel offsets *
    # channels, out channels) one, so
    #   conv:             out (pixels, O)  = patches (pixels, k*C) @ w (k*C, O)
    #   conv_filter_grad: dw  (k*C, O)     = patches^T (k*C, pixels) @ g (pixels, O)
    #   conv_input_grad:  dx  (pixels, C)  = windows (pixels, k*O) @ w^T (k*O, C)
    # where patches[p, (k, c)] is the input element output pixel p reads at kernel offset k
    # (zero in the padding) and windows[p, (k, o)] the cotangent of the output pixel that
    # reads input pixel p at offset k (zero where none does). Neither is written out: they
    # are the gemm's K.Packs, copied segment by segment (a kernel offset's channels are
    # contiguous) straight into the GEMM's packed panels. The other layouts and grouped
    # convolutions lower to direct loops.
    def _conv_gemm(self, node, a, b, sizes, consumer=None) -> K.Kernel:
        """The kernel of one implicit GEMM: C (node's buffer, (M, N) of sizes = (M, N, K))
        = A @ B, each operand either a (value, lanes) pack or (node, row stride, column
        stride), a matrix in that node's buffer; `consumer`, elementwise, runs as the
        epilogue."""
        m, n, k = sizes
        operands = []
        for x in (a, b):
            if isinstance(x[0], Node):
                operands.append((self.name(x[0]), None, x[1:]))
            else:
                operands.append(("", K.Pack(*x), (0, 0)))
        (a_name, a_pack, (rsa, csa)), (b_name, b_pack, (rsb, csb)) = operands
        epilogue = ()
        if consumer is not None:  # out[row as index, j] = consumer's value there
            # stored at the index it reads C at, spelled alike, so that the memory plan
            # sees the same element and lets the output take C's place (kernels.
            # in_place_pairs): i * n + j, the same number spelled another way, kept C in
            # a buffer of its own, written by the GEMM and read back by the epilogue
            i, j = K.Var("i"), K.Var("j")
            idx = _unflatten(i, node.shape[:-1]) + [j]
            epilogue = self.epilogue(consumer, idx, K.flat_index(idx, consumer.shape), m, n)
        call = K.Intrinsic("gemm", (a_name, b_name, self.name(node)), tuple(K.Const(v) for v in (
            m, n, k, 0, rsa, csa, 0, rsb, csb, 0)), epilogue,
            (a_pack, b_pack) if a_pack or b_pack else ())
        name = f"k_{node.op.name}_{consumer.op.name}" if consumer is not None else ""
        return self.kernel(node, [call], name)

    def _pointwise(self, node, *operands) -> bool:
        """Whether a convolution's GEMM reads its operands as they are: a 1x1 kernel of
        stride 1 without padding (its activations are the matrices) over materialized
        values."""
        a = node.attrs
        kernel = node.shape[:-2] if node.op.name == "conv_filter_grad" else \
            node.inputs[1].shape[:-2]
        return all(k == 1 for k in kernel) and all(st == 1 for st in a["strides"]) \
            and all(p == (0, 0) for p in a["padding"]) \
            and all(self.materialized(x) for x in operands)

    def _conv_as_gemm(self, node, consumer=None):
        x, w = node.inputs
        a, s, spatial, channels = _geometry(node, x)
        kernel, out_channels = w.shape[:s], w.shape[-1]
        pixels = size_of(node.shape[:-1])
        sizes = (pixels, out_channels, size_of(kernel) * channels)
        if self._pointwise(node, x):  # out (pixels, O) = x (pixels, C) @ w (C, O)
            return self._conv_gemm(node, (x, channels, 1), (w, out_channels, 1), sizes,
                                   consumer)
        row = _unflatten(K.Var(K.PACK_ROW), node.shape[:-1])
        lane, lanes = K.Var(K.PACK_LANE), channels
        few = channels < FEW_CHANNELS and a["dilations"][-1] == 1
        # a whole kernel row read from its first element on, where the last axis needs no
        # clamp: x's index of that element plus the lane (what lets the indirect GEMM read
        # the row in place, intrinsics.in_place_a)
        from_first = few and self.materialized(x) and _unclamped(
            *(v[-1] for v in (spatial, kernel, a["strides"], a["dilations"], a["padding"])))
        if few:
            # few channels (an image's 1 or 3): a segment is a whole kernel row, whose
            # kernel[-1] * C elements are contiguous in x
            lanes *= kernel[-1]
            ks = _unflatten(K.Var(K.PACK_SEG), kernel[:-1]) + [
                K.Const(0) if from_first
                else K.Binary("floordiv", lane, K.Const(channels), K.INDEX)]
            if not from_first:
                lane = K.Binary("mod", lane, K.Const(channels), K.INDEX)
        else:
            ks = _unflatten(K.Var(K.PACK_SEG), kernel)
        inside, pos = _window_reads(row[1:], ks, a["strides"], a["dilations"], a["padding"],
                                    spatial, kernel)
        if from_first:
            first = self.at(x, [row[0], *pos, K.Const(0)])
            patch = _masked(inside, K.Load(first.buffer, K.add(first.index, lane),
                                           first.dtype))
        else:
            patch = _masked(inside, self.at(x, [row[0], *pos, lane]))
        return self._conv_gemm(node, (patch, lanes), (w, out_channels, 1), sizes, consumer)

    def _conv_filter_grad_as_gemm(self, node):
        x, g = node.inputs
        a, s, spatial, channels = _geometry(node, x)
        kernel, out_channels = node.shape[:s], node.shape[-1]
        pixels = size_of(g.shape[:-1])
        sizes = (size_of(kernel) * channels, out_channels, pixels)
        if self._pointwise(node, x, g):  # dw (C, O) = x^T (C, pixels) @ g (pixels, O)
            return self._conv_gemm(node, (x, 1, channels), (g, out_channels, 1), sizes)
        offset = _unflatten(K.Binary("floordiv", K.Var(K.PACK_ROW), K.Const(channels),
                                     K.INDEX), kernel)
        c = K.Binary("mod", K.Var(K.PACK_ROW), K.Const(channels), K.INDEX)
        # the pixels, the GEMM's K, in segments of one output row (the last spatial axis)
        pixel = _unflatten(K.Var(K.PACK_SEG), g.shape[:-2]) + [K.Var(K.PACK_LANE)]
        inside, pos = _window_reads(pixel[1:], offset, a["strides"], a["dilations"],
                                    a["padding"], spatial, kernel)
        patch = _masked(inside, self.at(x, [pixel[0], *pos, c]))
        return self._conv_gemm(node, (patch, g.shape[-2]), (g, out_channels, 1), sizes)

    def _conv_input_grad_as_gemm(self, node):
        g, w, _ = node.inputs
        a, s, out_spatial, out_channels = _geometry(node, g)
        kernel, channels = w.shape[:s], node.shape[-1]
        sizes = (size_of(node.shape[:-1]), channels, size_of(kernel) * out_channels)
        if self._pointwise(node, g, w):  # dx (pixels, C) = g (pixels, O) @ w^T (O, C)
            return self._conv_gemm(node, (g, out_channels, 1), (w, 1, out_channels), sizes)
        row = _unflatten(K.Var(K.PACK_ROW), node.shape[:-1])
        ks = _unflatten(K.Var(K.PACK_SEG), kernel)
        exists, src = _window_sources(row[1:], ks, a["strides"], a["dilations"], a["padding"],
                                      out_spatial)
        window = _masked(exists, self.at(g, [row[0], *src, K.Var(K.PACK_LANE)]))
        filt = self.at(w, ks + [K.Var(K.PACK_COL), K.Var(K.PACK_LANE)])
        return self._conv_gemm(node, (window, out_channels), (filt, out_channels), sizes)

    def _conv(self, node, consumer=None):
        """out[n, o, co] = sum over kernel offsets k and the group's input channels c of
        x[n, o * stride + k * dilation - before, group(co) * C/G + c] * w[k, c, co], reading
        zero in the padding."""
        if as_gemm(node):
            return self._conv_as_gemm(node, consumer)
        x, w = node.inputs
        last = node.attrs["channels_last"]
        s = len(node.attrs["strides"])
        kernel, per_group = w.shape[:s], w.shape[s]

        def value(idx):
            n, out, co = split_layout(idx, last)
            ks, c = [K.Var(f"k{d}") for d in range(s)], K.Var("c")
            xv = self._conv_read(node, x, n, out, ks, c, co, w.shape)
            return ks + [c], list(kernel) + [per_group], xv, self.at(w, ks + [c, co])
        return self._contraction(node, value)

    def _conv_read(self, node, x, n, out, ks, c, co, filter_shape) -> K.Expr:
        """x's element that output position `out` reads at kernel offset `ks`, channel c of
        output channel co's group; zero in the padding."""
        a, last = node.attrs, node.attrs["channels_last"]
        _, spatial, _ = split_layout(x.shape, last)
        per_group, out_channels = filter_shape[-2], filter_shape[-1]
        inside, pos = _window_reads(out, ks, a["strides"], a["dilations"], a["padding"],
                                    spatial, filter_shape[:-2])
        group = K.Binary("floordiv", co, K.Const(out_channels // a["groups"]), K.INDEX)
        channel = K.add(K.mul(group, per_group), c)
        return _masked(inside, self.at(x, join_layout(n, pos, channel, last)))

    def _conv_input_grad(self, node):
        """dx[n, p, ci] = sum over kernel offsets k and the group's output channels j of
        g[n, (p + before - k * dilation) / stride, ...] * w[k, c, j], where that division is
        exact and lands inside g."""
        if as_gemm(node):
            return self._conv_input_grad_as_gemm(node)
        g, w, _ = node.inputs
        a, last = node.attrs, node.attrs["channels_last"]
        s = len(a["strides"])
        _, out_spatial, _ = split_layout(g.shape, last)
        kernel, per_group, out_channels = w.shape[:s], w.shape[s], w.shape[s + 1]
        og = out_channels // a["groups"]

        def value(idx):
            n, pos, ci = split_layout(idx, last)
            ks, j = [K.Var(f"k{d}") for d in range(s)], K.Var("c")
            inside, src = _window_sources(pos, ks, a["strides"], a["dilations"],
                                          a["padding"], out_spatial)
            group = K.Binary("floordiv", ci, K.Const(per_group), K.INDEX)
            co = K.add(K.mul(group, og), j)
            c = K.Binary("mod", ci, K.Const(per_group), K.INDEX)
            gv = self.at(g, join_layout(n, src, co, last))
            return ks + [j], list(kernel) + [og], _masked(inside, gv), \
                self.at(w, ks + [c, co])
        return self._contraction(node, value)

    def _conv_filter_grad(self, node):
        """dw[k, c, co] = sum over the batch and output positions o of
        x[n, o * stride + k * dilation - before, group(co) * C/G + c] * g[n, o, co]."""
        if as_gemm(node):
            return self._conv_filter_grad_as_gemm(node)
        x, g = node.inputs
        last = node.attrs["channels_last"]
        s = len(node.attrs["strides"])
        batch, out_spatial, _ = split_layout(g.shape, last)

        def value(idx):
            ks, c, co = idx[:s], idx[s], idx[s + 1]
            n, out = K.Var("n"), [K.Var(f"o{d}") for d in range(s)]
            return [n] + out, [batch] + list(out_spatial), \
                self._conv_read(node, x, n, out, ks, c, co, node.shape), \
                self.at(g, join_layout(n, out, co, last))
        return self._contraction(node, value)

    # --- pooling: direct loops (ir/ops/pool.py defines the attrs) -------------------------
    def _window(self, node, x, idx, var: str = "k"):
        """(window loop variables, whether the element they reach is inside x, its index
        in x) for output index idx of a pooling node reading x."""
        a, last = node.attrs, node.attrs["channels_last"]
        n, out, c = split_layout(idx, last)
        ks = [K.Var(f"{var}{d}") for d in range(len(a["window"]))]
        _, spatial, _ = split_layout(x.shape, last)
        inside, pos = _window_reads(out, ks, a["strides"], (1,) * len(ks), a["padding"],
                                    spatial, a["window"])
        return ks, inside, join_layout(n, pos, c, last)

    def _pool(self, node):
        """Max: the largest element inside the input; avg: the mean of those elements."""
        x = node.inputs[0]
        t = dt(node)
        acc = "f32" if t == "f16" else t
        idx = [K.Var(f"i{d}") for d in range(len(node.shape))]
        ks, inside, at = self._window(node, x, idx)
        v = self.at(x, at)
        if acc != t:
            v = K.Cast(v, acc)
        total, lowest = K.Ref("acc", acc), K.Const(float("-inf"), acc)
        if node.attrs["kind"] == "max":
            start = [K.Local("acc", acc, lowest)]
            step = [K.Assign("acc", K.Binary("max", total, K.Select(inside, v, lowest, acc),
                                             acc))]
            result = total
        else:
            count = K.Ref("cnt", acc)
            start = [K.Local("acc", acc, K.Const(0, acc)), K.Local("cnt", acc, K.Const(0, acc))]
            step = [K.Assign("acc", K.Binary("add", total, _masked(inside, v), acc)),
                    K.Assign("cnt", K.Binary("add", count, K.Select(
                        inside, K.Const(1, acc), K.Const(0, acc), acc), acc))]
            result = K.Binary("div", total, count, acc)
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(node.shape)),
                        result if acc == t else K.Cast(result, t))
        loops = K.nest([k.name for k in ks], list(node.attrs["window"]), step)
        return self.kernel(node, K.nest([v.name for v in idx], node.shape,
                                        start + list(loops) + [store]))

    def _max_search(self, node, x, idx, pick=None) -> list:
        """Statements finding the first maximum of x's window at output index idx, in the
        window's row-major order: locals `best`, `arg` (its offset in the window; -1 when
        nothing beats -inf) and, given pick(index in x) -> value, `pick` (that value at the
        maximum)."""
        t = dt(x)
        ws, inside, at = self._window(node, x, idx, "w")
        best, arg = K.Ref("best", t), K.Ref("arg", K.INDEX)
        lowest = K.Const(float("-inf"), t)
        value = K.Select(inside, self.at(x, at), lowest, t)
        take = K.Binary("gt", value, best, "bool")  # strictly: the first maximum stays
        start = [K.Local("best", t, lowest), K.Local("arg", K.INDEX, K.Const(-1))]
        body = [K.Assign("arg", K.Select(take, K.linear(ws, K.row_major_strides(
            node.attrs["window"])), arg, K.INDEX))]
        if pick is not None:
            start.append(K.Local("pick", t, K.Const(0, t)))
            body.insert(0, K.Assign("pick", K.Select(take, pick(at), K.Ref("pick", t), t)))
        body.append(K.Assign("best", K.Select(take, value, best, t)))
        return start + list(K.nest([w.name for w in ws], list(node.attrs["window"]), body))

    def _max_pool_pick(self, node):
        """out[n, o, ch] = c where x's window o has its first maximum."""
        x, c = node.inputs
        idx = [K.Var(f"i{d}") for d in range(len(node.shape))]
        search = self._max_search(node, x, idx, lambda at: self.at(c, at))
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(node.shape)),
                        K.Ref("pick", dt(node)))
        return self.kernel(node, K.nest([v.name for v in idx], node.shape, search + [store]))

    def _max_pool_grad(self, node):
        """dx[n, p, ch] = sum over the windows o that hold p of g[n, o, ch] where p is o's
        first maximum: window offset k holds p for o = (p + before - k) / stride when that
        division is exact and o inside g."""
        x, g = node.inputs
        a, last = node.attrs, node.attrs["channels_last"]
        t = dt(node)
        acc = "f32" if t == "f16" else t
        idx = [K.Var(f"i{d}") for d in range(len(node.shape))]
        n, pos, ch = split_layout(idx, last)
        _, out_spatial, _ = split_layout(g.shape, last)
        ks = [K.Var(f"k{d}") for d in range(len(a["window"]))]
        # windows that do not overlap (stride = window): p lies in one at most, at offset
        # (p + before) mod stride, so the one term of the sum is computed directly instead
        # of testing every offset (W5's pool gradient: 4 window searches an element -> 1)
        tiled = tuple(a["strides"]) == tuple(a["window"])
        if tiled:
            ks = [K.Binary("mod", K.add(q, b), K.Const(st), K.INDEX) if st > 1
                  else K.Const(0) for q, st, (b, _) in zip(pos, a["strides"], a["padding"])]
        valid, src = _window_sources(pos, ks, a["strides"], (1,) * len(ks), a["padding"],
                                     out_spatial)
        window = join_layout(n, src, ch, last)
        hit = K.Binary("and", valid, K.Binary("eq", K.Ref("arg", K.INDEX), K.linear(
            ks, K.row_major_strides(a["window"])), "bool"), "bool")
        gv = self.at(g, window)
        body = self._max_search(node, x, window) + [K.Assign("acc", K.Binary(
            "add", K.Ref("acc", acc), _masked(hit, gv if acc == t else K.Cast(gv, acc)),
            acc))]
        total = K.Ref("acc", acc)
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(node.shape)),
                        total if acc == t else K.Cast(total, t))
        loops = body if tiled else K.nest([k.name for k in ks], list(a["window"]), body)
        return self.kernel(node, K.nest([v.name for v in idx], node.shape,
                                        [K.Local("acc", acc, K.Const(0, acc))] + list(loops)
                                        + [store]))

    def _contraction(self, node, value):
        """out[i] = sum over the loops `value(i)` names of left * right, accumulated in f32
        for f16. value(i) -> (loop variables, extents, left, right)."""
        t = dt(node)
        acc = "f32" if t == "f16" else t

        def widen(e):
            return e if acc == t else K.Cast(e, acc)
        idx = [K.Var(f"i{d}") for d in range(len(node.shape))]
        loops, extents, left, right = value(idx)
        product = K.Binary("mul", widen(left), widen(right), acc)
        total = K.Ref("acc", acc)
        body = K.nest([v.name for v in loops], extents,
                      [K.Assign("acc", K.Binary("add", total, product, acc))])
        store = K.Store(self.name(node), K.linear(idx, K.row_major_strides(node.shape)),
                        total if acc == t else K.Cast(total, t))
        stmts = K.nest([v.name for v in idx], node.shape,
                       [K.Local("acc", acc, K.Const(0, acc))] + list(body) + [store])
        return self.kernel(node, stmts)


def _within(j, n: int) -> K.Expr:
    """0 <= j < n."""
    return K.Binary("and", K.Binary("ge", j, K.Const(0), "bool"),
                    K.Binary("lt", j, K.Const(n), "bool"), "bool")


def _clamp(j, n: int) -> K.Expr:
    """j moved into [0, n), so that a masked load reads memory it may."""
    return K.Binary("min", K.Binary("max", j, K.Const(0), K.INDEX), K.Const(n - 1), K.INDEX)


def _window_reads(out, offsets, strides, dilations, padding, sizes, kernel):
    """(whether it is inside the input, its index clamped in range) of the input position
    output position `out` reads at kernel offset k: out * stride + k * dilation - before.
    Along an axis without padding before, whose every window (kernel: the window's
    extents) ends inside the input, the position needs neither test nor clamp."""
    inside, pos = K.Const(True, "bool"), []
    for o, k, st, d, (b, a), n, ks in zip(out, offsets, strides, dilations, padding, sizes,
                                          kernel):
        p = K.add(K.add(K.mul(o, st), K.mul(k, d)), -b)
        if _unclamped(n, ks, st, d, (b, a)):
            pos.append(p)
        else:
            inside = K.Binary("and", inside, _within(p, n), "bool")
            pos.append(_clamp(p, n))
    return inside, pos


def _unclamped(n: int, ks: int, st: int, d: int, padding) -> bool:
    """Whether _window_reads reads an axis of n positions (a window of ks, stride st,
    dilation d, padding (before, after)) without test or clamp: no padding before, and
    every window ends inside the input."""
    before, after = padding
    last = (output_size(n, ks, st, d, before, after) - 1) * st + (ks - 1) * d - before
    return before == 0 and last <= n - 1


def _window_sources(positions, offsets, strides, dilations, padding, out_sizes):
    """(whether it exists, its index clamped in range) of the output window that reads
    input position p at kernel offset k: o = (p + before - k * dilation) / stride, where the
    division is exact and o is inside the output."""
    exists, src = K.Const(True, "bool"), []
    for p, k, st, d, (b, _), m in zip(positions, offsets, strides, dilations, padding,
                                      out_sizes):
        t = K.add(K.add(p, b), K.mul(k, -d))
        o = K.Binary("floordiv", t, K.Const(st), K.INDEX) if st > 1 else t
        ok = _within(o, m)
        if st > 1:
            exact = K.Binary("eq", K.Binary("mod", t, K.Const(st), K.INDEX), K.Const(0),
                             "bool")
            ok = K.Binary("and", ok, exact, "bool")
        exists = K.Binary("and", exists, ok, "bool")
        src.append(_clamp(o, m))
    return exists, src


def _geometry(node, activation):
    """(attrs, spatial rank, spatial dims, channels) of an implicit-GEMM convolution node
    and one of its channels-last activations."""
    _, spatial, channels = split_layout(activation.shape, True)
    return node.attrs, len(node.attrs["strides"]), spatial, channels


def _unflatten(i, dims) -> list:
    """The multi-index over `dims` (row-major) of flat index i."""
    out, stride = [], 1
    for d in reversed(dims):
        q = K.Binary("floordiv", i, K.Const(stride), K.INDEX) if stride > 1 else i
        out.append(K.Binary("mod", q, K.Const(d), K.INDEX) if d != size_of(dims) // stride
                   else q)
        stride *= d
    return out[::-1]


def _masked(inside, value) -> K.Expr:
    """value where inside, else zero (padding)."""
    if inside == K.Const(True, "bool"):
        return value
    return K.Select(inside, value, K.Const(0, value.dtype), value.dtype)
