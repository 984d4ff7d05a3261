"""layout: channels-first convolutions computed channels-last, and transposes moved down the
graph until they meet their inverse and cancel.

graphc computes a float convolution of one feature group as one implicit GEMM only
channels-last (N, *spatial, C: pixels by channels); channels-first (N, C, *spatial), the
layout of ONNX and of TF's NCHW graphs, lowers to direct loops, two orders of magnitude
slower. This pass rewrites such a convolution as transpose(conv(transpose(x), w,
channels_last)) (and its two adjoints, the gradients of a channels-first training graph,
likewise) and then sinks every transpose through the ops that do not care where an axis
lies: elementwise ops (their other operands transposed alongside: a constant at compile
time, a per-channel vector by a free reshape, another transpose of the same permutation by
cancelling it), pooling (which takes either layout), reductions, pad, slice and concat. A
transpose meeting the next convolution's input transpose composes to the identity, so a CNN
imported channels-first runs channels-last from its first transpose to its last, and the
convolutions' epilogues (bias, batch norm, residual add, activation) fuse again. A
transpose that only moves size-1 axes is a reshape.

A channels-last filter gradient becomes a convolution over the batch: as an implicit GEMM its
operand A is the input's patches transposed, (kernel offsets * C, pixels), whose rows a GEMM
packs K-contiguous, while the input holds them C-contiguous, so the packing gathered one
element at a time, C apart (W5's 5x5, 32 -> 64 channel gradient ran at 80 GFLOP/s, a third
of the FMA peak). With the batch as the channels (x as (C, *spatial, N), the cotangent as a
filter (*out_spatial, N, O)) the same sums are a convolution whose patches are runs of N
images (or, of stride 1, of a whole kernel row), packed as they lie: 16.1 -> 7.1 ms with its
transposes. Not for a 1x1 kernel of stride 1 (already a plain GEMM), one input channel (its
patches are rows of x), or a strided convolution of fewer than 4 images.

A convolution of a few wide groups (2 to 16, each of 8 or more input and output channels)
becomes one convolution per group, concatenated: one GEMM each, where the grouped one runs
direct loops.

Expects canonical input with constants folded (after fold_constants) and static shapes
where it matters (a rule that needs a shape it does not have declines). Guarantees the same
values: the rules move data (a reduction sums the same elements in the same logical order,
elementwise results are bit-identical); a convolution computed by another kernel (GEMM
instead of direct loops) sums its products in another order, as any two targets do. Runs
with the canonicalization rules; consumed by simplify (which then sees a batch norm's scale
beside its convolution), stabilize, dce and fusion.
"""

from __future__ import annotations

import numpy as np

from graphc.ir.node import Node, make_node
from graphc.ir.rewrite import (
    P,
    Rewritten,
    Rule,
    RuleTable,
    constant,
    constant_value,
    make,
    rewrite,
    var,
)
from graphc.passes.canonicalize import (
    CANONICAL_RULES,
    ELEMENTWISE_NARY,
    ELEMENTWISE_UNARY,
    REDUCTIONS,
)


def _static(x: Node) -> bool:
    return x.shape is not None and None not in x.shape


def _inverse(perm) -> tuple:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _is_reshape(shape, perm) -> bool:
    """Whether transposing `shape` by `perm` keeps its non-1 axes in order (a reshape)."""
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def _transpose_as_reshape(n: Node, x: Node):
    if not _static(x) or not _is_reshape(x.shape, n.attrs["perm"]):
        return None
    return make("reshape", x, shape=n.shape)


def _under(x: Node, perm: tuple, rank: int):
    """The value y with transpose(y, perm) == x (x broadcast to rank `rank` from the right),
    if it costs nothing: a constant (transposed now), a value whose transpose is a reshape,
    or a transpose by `perm` (its input)."""
    if x.op.name == "transpose" and x.attrs["perm"] == perm:
        return x.inputs[0]
    if x.shape is None or None in x.shape or len(x.shape) > rank:
        return None
    full = (1,) * (rank - len(x.shape)) + tuple(x.shape)
    inv = _inverse(perm)
    target = tuple(full[j] for j in inv)
    value = constant_value(x)
    if value is not None:
        return constant(np.ascontiguousarray(np.transpose(value.reshape(full), inv)), x.dtype)
    if not _is_reshape(full, inv):
        return None
    return x if target == tuple(x.shape) else make("reshape", x, shape=target)


def _sink_elementwise(n: Node):
    # f(transpose(x), c) = transpose(f(x, c')) for an elementwise f: it pairs the same
    # elements in either layout
    moved = [x for x in n.inputs if x.op.name == "transpose" and x.shape == n.shape]
    if not moved or not _static(n):
        return None
    perm = moved[0].attrs["perm"]
    inputs = [_under(x, perm, len(n.shape)) for x in n.inputs]
    if any(y is None for y in inputs):
        return None
    return make("transpose", make_node(n.op, inputs, dict(n.attrs), n.deps), perm=perm)


def _first_to_last(rank: int) -> tuple:
    return (0, *range(2, rank), 1)


def _last_to_first(rank: int) -> tuple:
    return (0, rank - 1, *range(1, rank - 1))


def _gemm_if_channels_last(n: Node) -> bool:
    """Whether a channels-first conv (or adjoint) would be one implicit GEMM channels-last
    (conv.as_gemm): float, one group. Grouped ones stay: their channels-last direct loops
    measured slower than channels-first (a 3x3 depthwise on 144 x 56 x 56: 1.03 against
    0.49 ms)."""
    a = n.attrs
    return not a["channels_last"] and a["groups"] == 1 and \
        n.dtype.name in ("float32", "float64")


def _split_groups(n: Node, x: Node, w: Node):
    """A convolution of a few wide groups as one convolution per group, joined: each is
    one implicit GEMM, where the grouped one ran direct loops (4 groups of 32 channels,
    3x3 on 28x28: about 1 GFLOP/s)."""
    a, g = n.attrs, n.attrs["groups"]
    if not 2 <= g <= MAX_SPLIT_GROUPS or n.dtype.name not in ("float32", "float64") \
            or not _static(x) or not _static(w):
        return None
    axis = len(x.shape) - 1 if a["channels_last"] else 1
    per_group, out_per_group = x.shape[axis] // g, w.shape[-1] // g
    if per_group < MIN_SPLIT_CHANNELS or out_per_group < MIN_SPLIT_CHANNELS:
        return None
    parts, value = [], constant_value(w)
    for j in range(g):
        xs = [(None, None, None)] * len(x.shape)
        xs[axis] = (j * per_group, (j + 1) * per_group, 1)
        outs = slice(j * out_per_group, (j + 1) * out_per_group)
        wj = make("slice", w, slices=((None, None, None),) * (len(w.shape) - 1) + (
            (outs.start, outs.stop, 1),)) if value is None else \
            constant(np.ascontiguousarray(value[..., outs]), w.dtype)  # (a filter's part)
        parts.append(make("conv", make("slice", x, slices=tuple(xs)), wj,
                          **{**a, "groups": 1}))
    return make("concat", *parts, axis=axis)


MAX_SPLIT_GROUPS = 16  # more groups are more, smaller GEMMs: left to the direct loops
MIN_SPLIT_CHANNELS = 8  # input and output channels per group


def _conv_channels_last(n: Node, x: Node, w: Node):
    # computed channels-last: one implicit GEMM
    a = n.attrs
    if not _gemm_if_channels_last(n) or not _static(x):
        return None
    rank = len(x.shape)
    y = make("conv", make("transpose", x, perm=_first_to_last(rank)), w,
             **{**a, "channels_last": True})
    return make("transpose", y, perm=_last_to_first(rank))


def _input_grad_channels_last(n: Node, g: Node, w: Node, shape: Node):
    # the transposed convolution (conv2d_transpose, conv's input gradient) likewise; its
    # target shape, a constant once specialized, permuted
    a, value = n.attrs, constant_value(shape)
    if not _gemm_if_channels_last(n) or value is None or not _static(g) or not _static(n):
        return None
    rank = len(n.shape)
    first_to_last = _first_to_last(rank)
    target = tuple(n.shape[j] for j in first_to_last)
    y = make("conv_input_grad", make("transpose", g, perm=first_to_last), w,
             constant(np.array(target, value.dtype), shape.dtype),
             **{**a, "channels_last": True, "shape": target})
    return make("transpose", y, perm=_last_to_first(rank))


def _filter_grad_channels_last(n: Node, x: Node, g: Node):
    # the filter's layout does not depend on the activations'
    a = n.attrs
    if not _gemm_if_channels_last(n) or not _static(x) or not _static(g):
        return None
    perm = _first_to_last(len(x.shape))
    return make("conv_filter_grad", make("transpose", x, perm=perm),
                make("transpose", g, perm=perm), **{**a, "channels_last": True})


def _filter_grad_over_batch(n: Node, x: Node, g: Node):
    """A channels-last filter gradient as a convolution over the batch (module docstring):
    dw[k, c, o] = sum over n, p of x[n, p * s + k * d - before, c] * g[n, p, o] is the
    convolution of x' = x as (C, *spatial, N), the batch its channels, with g' = g as
    (*out_spatial, N, O) for a filter, of strides d and dilations s, whose output (C,
    *kernel, O) is dw's transpose."""
    a = n.attrs
    if not a["channels_last"] or a["groups"] != 1 or not _static(x) or not _static(g) \
            or n.dtype.name not in ("float32", "float64") or not _over_batch_pays(n, x, g):
        return None
    rank = len(x.shape)
    spatial, kernel = x.shape[1:-1], n.shape[:-2]
    xs, padding = [], []
    for size, k, st, d, (before, _), out in zip(spatial, kernel, a["strides"],
                                                 a["dilations"], a["padding"], g.shape[1:-1]):
        # the input as far as the last element any window reads, padded to it
        end = (k - 1) * d + (out - 1) * st + 1 - before
        if end < 1:  # every window lies in the padding before the input on this axis
            return None
        xs.append((None, min(end, size), None))
        padding.append((before, max(0, end - size)))
    if any(stop < size for (_, stop, _), size in zip(xs, spatial)):
        x = make("slice", x, slices=((None, None, None), *xs))
    to_filter = (*range(1, rank - 1), 0, rank - 1)  # g (N, *out, O) -> (*out, N, O)
    y = make("conv", make("transpose", x, perm=(rank - 1, *range(1, rank - 1), 0)),
             make("transpose", g, perm=to_filter), strides=tuple(a["dilations"]),
             dilations=tuple(a["strides"]), padding=tuple(padding), groups=1,
             channels_last=True)
    return make("transpose", y, perm=to_filter)  # (C, *kernel, O) -> (*kernel, C, O)


def _over_batch_pays(n: Node, x: Node, g: Node) -> bool:
    """Whether the filter gradient is faster as a convolution over the batch: not for a
    1x1 kernel of stride 1 (already a plain GEMM of x^T and g), nor for one input channel
    (whose patches, transposed, are rows of x as they are), nor for a strided convolution
    of fewer than 4 images (the convolution over the batch then packs a run of fewer than
    4 elements at a time)."""
    a = n.attrs
    kernel, channels, batch = n.shape[:-2], x.shape[-1], x.shape[0]
    pointwise = all(k == 1 for k in kernel) and all(st == 1 for st in a["strides"]) \
        and all(p == (0, 0) for p in a["padding"])
    return not pointwise and channels > 1 and (batch >= 4 or a["strides"][-1] == 1)


def _sink_pool(n: Node, x: Node):
    # a channels-first pool of a channels-last value, transposed: the pool takes it as is
    rank = len(n.shape)
    if n.attrs["channels_last"] or n.inputs[0].attrs["perm"] != _last_to_first(rank):
        return None
    y = make_node(n.op, (x,), {**n.attrs, "channels_last": True}, n.deps)
    return make("transpose", y, perm=_last_to_first(rank))


def _sink_reduce(n: Node, t: Node, x: Node):
    # the same elements reduced in the same order: the reduced axes keep their order
    perm, axes = t.attrs["perm"], n.attrs["axes"]
    mapped = [perm[a] for a in axes]
    if mapped != sorted(mapped):
        return None
    y = make_node(n.op, (x,), {**n.attrs, "axes": tuple(mapped)}, n.deps)
    if n.attrs["keepdims"]:
        return make("transpose", y, perm=perm)
    kept = [perm[i] for i in range(len(perm)) if i not in axes]
    order = sorted(kept)
    return make("transpose", y, perm=tuple(order.index(k) for k in kept))


def _sink_per_axis(n: Node, t: Node, x: Node, attr: str, missing=None):
    """n (pad, slice) of transpose(x) as transpose(n of x): its per-axis attribute (trailing
    axes it leaves out are `missing`) permuted to x's axes."""
    perm, values = t.attrs["perm"], tuple(n.attrs[attr])
    values += (missing,) * (len(perm) - len(values))
    moved = tuple(values[j] for j in _inverse(perm))
    return make("transpose", make_node(n.op, (x,), {**n.attrs, attr: moved}, n.deps),
                perm=perm)


def _sink_concat(n: Node):
    first = n.inputs[0]
    if first.op.name != "transpose":
        return None
    perm = first.attrs["perm"]
    inputs = [_under(x, perm, len(perm)) if x.op.name == "transpose" or
              x.op.name == "constant" else None for x in n.inputs]
    if any(y is None for y in inputs):
        return None
    y = make_node(n.op, inputs, {**n.attrs, "axis": perm[n.attrs["axis"]]}, n.deps)
    return make("transpose", y, perm=perm)


def _has_transposed_input(n: Node) -> bool:
    return any(x.op.name == "transpose" for x in n.inputs)


LAYOUT_RULES = RuleTable([
    Rule("transpose_as_reshape", P("transpose", var("x"), name="n"), _transpose_as_reshape),
    Rule("split_conv_groups", P("conv", var("x"), var("w"), name="n"), _split_groups),
    Rule("conv_channels_last", P("conv", var("x"), var("w"), name="n"), _conv_channels_last),
    Rule("conv_input_grad_channels_last", P("conv_input_grad", var("g"), var("w"),
                                            var("shape"), name="n"),
         _input_grad_channels_last),
    Rule("conv_filter_grad_channels_last", P("conv_filter_grad", var("x"), var("g"),
                                             name="n"), _filter_grad_channels_last),
    Rule("conv_filter_grad_over_batch", P("conv_filter_grad", var("x"), var("g"), name="n"),
         _filter_grad_over_batch),
    Rule("sink_transpose", P(ELEMENTWISE_UNARY + ELEMENTWISE_NARY, name="n",
                             where=_has_transposed_input), _sink_elementwise),
    Rule("sink_transpose_pool", P("pool", P("transpose", var("x")), name="n"), _sink_pool),
    Rule("sink_transpose_reduce", P(REDUCTIONS, P("transpose", var("x"), name="t"), name="n"),
         _sink_reduce),
    Rule("sink_transpose_pad", P("pad", P("transpose", var("x"), name="t"), name="n"),
         lambda n, t, x: _sink_per_axis(n, t, x, "paddings")),
    Rule("sink_transpose_slice", P("slice", P("transpose", var("x"), name="t"), name="n"),
         lambda n, t, x: _sink_per_axis(n, t, x, "slices", (None, None, None))),
    Rule("sink_transpose_concat", P("concat", name="n", where=_has_transposed_input),
         _sink_concat),
])


def layout(roots, origin, options) -> Rewritten:
    """The graph of `roots` with convolutions channels-last and transposes sunk (module
    docstring)."""
    return rewrite(roots, LAYOUT_RULES + CANONICAL_RULES, origin)
