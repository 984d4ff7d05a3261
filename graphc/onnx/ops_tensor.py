"""Shape and data-movement ONNX ops: reshaping, slicing, joining, padding, constants.

Operands that became inputs in later opsets (Reshape's shape, Squeeze's axes, Slice's
starts, Pad's pads, Split's sizes...) are read as values known at import time where graphc
needs them static; a computed one raises ConstantInputError. Reshape and Expand also take
a shape computed at run time, as graphc's reshape and broadcast_to do. Where every input
of a shape computation is known (Shape of a static tensor, Gather on it, Concat...), the
converter returns a numpy value, so the next op sees a constant.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import as_ints, converter, graphc_dtype, one_of, onnx_type_name
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant, make_tensor

INT64_MAX = 2**63 - 1


def _axis(ctx, x, default=0, name="axis") -> int:
    return int(ctx.attr(name, default)) % max(x.node.rank, 1)


def _static_shape(ctx, x, what: str) -> list:
    return ctx.static_shape(x, what)


# --- reshaping ------------------------------------------------------------------------------
@converter("Reshape")
def _reshape(ctx):
    x = ctx.input(0)
    allow_zero = ctx.opset >= 14 and ctx.attr("allowzero", 0)
    target = ctx.attr("shape") if ctx.opset < 5 else ctx.value(1)
    if target is None:  # computed at run time: 0 copies the input's dim (unless allowzero)
        shape = cast(ctx.input(1), dtypes.int64)
        if not allow_zero:
            n = shape.node.shape[0]
            if n is None:
                ctx.fail("Reshape to a computed shape of unknown length")
            have = A.shape(x, out_type=dtypes.int64)
            rank = x.node.rank
            copy = A.concat([have[:min(n, rank)]] +
                            ([A.zeros([n - rank], dtypes.int64)] if n > rank else []), 0)
            shape = M.where(M.equal(shape, 0), copy, shape)
        return [A.reshape(x, shape)]
    dims = as_ints(target)
    if not allow_zero:
        have = x.node.shape
        dims = [have[i] if d == 0 and i < len(have) else d for i, d in enumerate(dims)]
        if None in dims:  # a copied dim unknown at import time: read it at run time
            shape = A.shape(x, out_type=dtypes.int64)
            return [A.reshape(x, A.stack([shape[i] if d is None else np.int64(d)
                                          for i, d in enumerate(dims)]))]
    return [A.reshape(x, dims)]


@converter("Flatten")
def _flatten(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    axis = int(ctx.attr("axis", 1))
    axis = axis + rank if axis < 0 else axis
    dims = x.node.shape
    outer = int(np.prod(dims[:axis])) if None not in dims[:axis] else -1
    inner = int(np.prod(dims[axis:])) if None not in dims[axis:] else -1
    if outer == -1 and inner == -1:
        shape = A.shape(x, out_type=dtypes.int64)
        return [A.reshape(x, A.stack([M.reduce_prod(shape[:axis]),
                                      M.reduce_prod(shape[axis:])]))]
    return [A.reshape(x, [outer, inner])]


def _axes_operand(ctx, x_rank_for_norm, since=13):
    axes = ctx.attr("axes") if ctx.opset < since else (
        ctx.const(1, "axes") if ctx.present(1) else None)
    return None if axes is None else as_ints(axes)


@converter("Squeeze")
def _squeeze(ctx):
    x = ctx.input(0)
    axes = _axes_operand(ctx, x.node.rank)
    if axes is None:
        axes = [i for i, d in enumerate(x.node.shape) if d == 1]
    return [A.squeeze(x, [a % x.node.rank for a in axes]) if axes else A.identity(x)]


@converter("Unsqueeze")
def _unsqueeze(ctx):
    x = ctx.input(0)
    axes = _axes_operand(ctx, x.node.rank)
    out_rank = x.node.rank + len(axes)
    for a in sorted(a % out_rank for a in axes):
        x = A.expand_dims(x, a)
    return [x]


@converter("Transpose")
def _transpose(ctx):
    x = ctx.input(0)
    perm = ctx.attr("perm")
    return [A.transpose(x, None if perm is None else [int(p) for p in perm])]


@converter("Concat")
def _concat(ctx):
    xs = ctx.inputs()
    return [A.concat(xs, int(ctx.attr("axis")) % xs[0].node.rank)]


@converter("Split")
def _split(ctx):
    x = ctx.input(0)
    axis = _axis(ctx, x)
    n_out = len(ctx.node.outputs)
    sizes = ctx.attr("split") if ctx.opset < 13 else (
        ctx.const(1, "split") if ctx.present(1) else None)
    dim = x.node.shape[axis]
    if sizes is None:
        if dim is None:
            dim = ctx.static_shape(x, "Split into equal parts")[axis]
        parts = ctx.attr("num_outputs", n_out) if ctx.opset >= 18 else n_out
        if ctx.opset < 18 and dim % parts:
            ctx.fail(f"Split of an axis of size {dim} into {parts} equal parts")
        each = -(-dim // parts)
        sizes = [each] * (parts - 1) + [dim - each * (parts - 1)]
    sizes = as_ints(sizes)
    out, start = [], 0
    for size in sizes:
        slices = [(None, None, None)] * axis + [(start, start + size, None)]
        out.append(make_tensor("slice", (x,), {"slices": tuple(slices)}, "split"))
        start += size
    return out


@converter("Slice")
def _slice(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    if ctx.opset < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes"), None
    else:
        axes = ctx.ints(3, "axes") if ctx.present(3) else None
        steps = ctx.ints(4, "steps") if ctx.present(4) else None
        if ctx.value(1) is None or ctx.value(2) is None:
            return [_dynamic_slice(ctx, x, axes, steps)]
        starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    axes = list(range(len(starts))) if axes is None else [int(a) % rank for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    # ONNX clamps starts and ends exactly as Python's slices do (negative values count
    # from the end, and a step of -1 may end before the first element)
    slices = [(None, None, None)] * rank
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st == 0:
            ctx.fail("Slice step must not be zero")
        slices[a] = (_clip_index(int(s)), _end_index(int(e), st), int(st))
    return [make_tensor("slice", (x,), {"slices": tuple(slices)}, "slice")]


def _dynamic_slice(ctx, x, axes, steps):
    """Slice with starts computed at run time. Possible when the result's length along
    each sliced axis is known: the model declares it, onnx's shape inference finds it, or
    ends - starts is a constant (ends = starts + k, as a loop's counter gives). Each axis is
    then a gather from the start; a start that would make ONNX clamp the slice fails the
    run (graphc's gather checks its indices) rather than giving a wrong value."""
    starts = cast(ctx.input(1), dtypes.int64)
    count = starts.node.shape[0]
    axes = list(range(count)) if axes is None else [a % x.node.rank for a in axes]
    steps = [1] * count if steps is None else steps
    lengths = _slice_lengths(ctx, x, axes, steps, starts)
    dims = ctx.static_shape(x, "Slice with computed starts")
    for k, (a, step) in enumerate(zip(axes, steps)):
        start = starts[k]
        start = M.where(M.less(start, 0), start + dims[a], start)
        # ONNX clamps a start to [0, dim] ([0, dim - 1] stepping backwards)
        top = dims[a] - 1 if step < 0 else dims[a]
        start = M.minimum(M.maximum(start, np.int64(0)), np.int64(max(top, 0)))
        positions = start + constant(np.arange(lengths[k], dtype=np.int64) * int(step))
        x = A.gather(x, positions, axis=a)
    return x


def _slice_lengths(ctx, x, axes, steps, starts) -> list:
    out = ctx.inferred_shape(0)
    if out is not None and all(out[a] is not None for a in axes):
        return [out[a] for a in axes]
    ends = cast(ctx.input(2), dtypes.int64)
    base_s, off_s = _affine(starts.node)
    base_e, off_e = _affine(ends.node)
    if base_s is base_e and base_s is not None and all(s == 1 for s in steps):
        span = np.broadcast_to(np.asarray(off_e) - np.asarray(off_s), (len(axes),))
        if (span >= 0).all():
            return [int(v) for v in span]
    ctx.const(1, "starts")  # raises: neither the starts nor the result's length are known
    return []


_ORDER_KEEPING = ("expand_dims", "reshape", "identity", "squeeze", "cast")


def _affine(node):
    """(base node, constant offset) with node = base + offset elementwise, following adds
    and subtractions of constants and reshapes that keep the element order."""
    from graphc.ir.values import node_value
    offset = np.int64(0)
    while True:
        if node.op.name in _ORDER_KEEPING and node.inputs and node.inputs[0].dtype.kind == "i":
            node = node.inputs[0]
        elif node.op.name in ("add", "sub"):
            a, b = node.inputs
            vb, va = node_value(b), node_value(a)
            if vb is not None:
                offset = offset + (vb if node.op.name == "add" else -vb)
                node = a
            elif va is not None and node.op.name == "add":
                offset, node = offset + va, b
            else:
                return node, offset
        else:
            return node, offset


def _clip_index(i: int) -> int:
    return max(min(i, 2**31 - 1), -(2**31 - 1))


def _end_index(e: int, step: int):
    # a very negative end with a negative step means 'through the first element'
    if step < 0 and e < -(2**31 - 1):
        return None
    return _clip_index(e)


# --- padding and tiling ---------------------------------------------------------------------
@converter("Pad", check=lambda n: one_of("mode", ("constant", "reflect", "edge", "wrap"), n))
def _pad(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    if ctx.opset < 11:
        pads, value = as_ints(ctx.attr("pads", ctx.attr("paddings"))), ctx.attr("value", 0.0)
        axes = list(range(rank))
    else:
        pads = ctx.ints(1, "pads")
        value = ctx.const(2, "constant_value") if ctx.present(2) else 0
        axes = [a % rank for a in ctx.ints(3, "axes")] if ctx.present(3) else \
            list(range(rank))
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (pads[i], pads[i + len(axes)])
    mode = ctx.attr("mode", "constant")
    x = _crop_negative(x, pairs)
    pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
    value = np.asarray(value).reshape(-1)[0] if np.asarray(value).size else 0
    if mode == "constant":
        return [A.pad(x, pairs, constant_values=value)]
    if mode == "reflect":
        return [A.pad(x, pairs, mode="REFLECT")]
    for axis, (b, e) in enumerate(pairs):
        x = _edge_or_wrap(x, axis, b, e, mode)
    return [x]


def _crop_negative(x, pairs):
    """Negative pads remove elements."""
    if all(b >= 0 and e >= 0 for b, e in pairs):
        return x
    slices = tuple((-b if b < 0 else None, e if e < 0 else None, None) for b, e in pairs)
    return make_tensor("slice", (x,), {"slices": slices}, "crop")


def _edge_or_wrap(x, axis, before, after, mode):
    if not before and not after:
        return x
    rank = x.node.rank

    def part(start, stop):
        s = [(None, None, None)] * rank
        s[axis] = (start, stop, None)
        return make_tensor("slice", (x,), {"slices": tuple(s)}, "pad_part")
    if mode == "edge":
        reps = [1] * rank
        head = [A.tile(part(0, 1), reps[:axis] + [before] + reps[axis + 1:])] if before else []
        tail = [A.tile(part(-1, None), reps[:axis] + [after] + reps[axis + 1:])] if after \
            else []
    else:  # wrap: the input repeats around itself
        n = x.node.shape[axis]
        if n is None or before > n or after > n:
            raise ValueError(f"wrap padding of ({before}, {after}) needs an axis of at least "
                             f"that size, got {n}")
        head = [part(n - before, None)] if before else []
        tail = [part(0, after)] if after else []
    return A.concat(head + [x] + tail, axis)


@converter("Tile")
def _tile(ctx):
    return [A.tile(ctx.input(0), ctx.ints(1, "repeats"))]


@converter("Expand")
def _expand(ctx):
    x = ctx.input(0)
    shape = ctx.value(1)
    if shape is None:  # computed: the larger of each pair of dims (sizes 1 broadcast)
        want = cast(ctx.input(1), dtypes.int64)
        n, rank = want.node.shape[0], x.node.rank
        if n is None:
            ctx.fail("Expand to a computed shape of unknown length")
        have = A.shape(x, out_type=dtypes.int64)
        if n > rank:
            have = A.concat([A.ones([n - rank], dtypes.int64), have], 0)
        elif rank > n:
            want = A.concat([A.ones([rank - n], dtypes.int64), want], 0)
        return [A.broadcast_to(x, M.maximum(have, want))]
    dims = as_ints(shape)
    have = [1 if d is None else d for d in x.node.shape]
    try:
        target = list(np.broadcast_shapes(tuple(have), tuple(dims)))
    except ValueError:
        ctx.fail(f"Expand: shape {dims} does not broadcast with the input's {x.shape}")
    known = x.node.shape
    if None in known:  # an unknown input dim stays unknown where the target has 1
        pad = [1] * (len(target) - len(known)) + list(known)
        target = [None if p is None and d == 1 else t for p, d, t in zip(
            pad, [1] * (len(target) - len(dims)) + dims, target)]
        if None in target:
            return [A.broadcast_to(x, M.maximum(A.shape(A.reshape(x, [
                -1 if p is None else p for p in pad]), out_type=dtypes.int64),
                constant(np.array([1] * (len(target) - len(dims)) + dims, np.int64))))]
    return [A.broadcast_to(x, target)]


# --- constants and shapes -------------------------------------------------------------------
def _constant_check(node):
    for unsupported in ("sparse_value", "value_string", "value_strings"):
        if node.has(unsupported):
            return f"Constant with {unsupported}: graphc holds dense numeric tensors only"
    value = node.attrs.get("value")
    if value is not None and graphc_dtype(value.t.data_type) is None:
        return f"Constant of {onnx_type_name(value.t.data_type)}: no such graphc element type"
    return None


@converter("Constant", check=_constant_check)
def _constant(ctx):
    from onnx import numpy_helper
    if ctx.has_attr("value"):
        return [numpy_helper.to_array(ctx.attr("value"))]
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
        if ctx.has_attr(name):
            return [np.asarray(ctx.attr(name), dtype=dtype)]
    ctx.fail("Constant has no value")


@converter("Shape")
def _shape(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    start = max(min(start + rank if start < 0 else start, rank), 0)
    end = rank if end is None else int(end)
    end = max(min(end + rank if end < 0 else end, rank), 0)
    dims = x.node.shape[start:end]
    if None not in dims:
        return [np.array(dims, dtype=np.int64)]
    return [A.shape(x, out_type=dtypes.int64)[start:end]]


@converter("Size")
def _size(ctx):
    x = ctx.input(0)
    if None not in x.node.shape:
        return [np.array(int(np.prod(x.node.shape)), dtype=np.int64)]
    return [M.size(x, out_type=dtypes.int64)]


def _fill_value(ctx):
    from onnx import numpy_helper
    value = ctx.attr("value")
    return np.zeros(1, np.float32) if value is None else numpy_helper.to_array(value)


def _constant_of_shape_check(node):
    value = node.attrs.get("value")
    if value is not None and graphc_dtype(value.t.data_type) is None:
        return f"value of {onnx_type_name(value.t.data_type)}: no such graphc element type"
    return None


@converter("ConstantOfShape", check=_constant_of_shape_check)
def _constant_of_shape(ctx):
    value = _fill_value(ctx).reshape(-1)[0]
    shape = ctx.value(0)
    if shape is not None:
        return [np.full(as_ints(shape), value, dtype=np.asarray(value).dtype)]
    return [A.broadcast_to(constant(np.asarray(value)), cast(ctx.input(0), dtypes.int64))]


@converter("Range")
def _range(ctx):
    start, limit, delta = (np.asarray(ctx.const(i, name)).reshape(-1)[0] for i, name in
                           enumerate(("start", "limit", "delta")))
    if delta == 0:
        ctx.fail("Range delta must not be zero")
    count = max(int(np.ceil((limit - start) / delta)), 0)
    return [(start + np.arange(count) * delta).astype(np.asarray(start).dtype)]


@converter("EyeLike")
def _eye_like(ctx):
    x = ctx.input(0)
    rows, cols = _static_shape(ctx, x, "EyeLike")
    dtype = graphc_dtype(ctx.attr("dtype")) if ctx.has_attr("dtype") else x.dtype
    if dtype is None:
        ctx.fail(f"EyeLike dtype {onnx_type_name(ctx.attr('dtype'))} is not a graphc type")
    return [np.eye(rows, cols, int(ctx.attr("k", 0)), dtype=dtype.np)]


@converter("Trilu")
def _trilu(ctx):
    x = ctx.input(0)
    rows, cols = _static_shape(ctx, x, "Trilu")[-2:]
    k = int(np.asarray(ctx.const(1, "k")).reshape(())) if ctx.present(1) else 0
    ones = np.ones((rows, cols), bool)
    keep = np.triu(ones, k) if ctx.attr("upper", 1) else np.tril(ones, k)
    return [M.where(constant(keep), x, A.zeros_like(x))]


@converter("OneHot")
def _one_hot(ctx):
    indices, values = ctx.input(0), ctx.input(2)
    depth = int(np.asarray(ctx.const(1, "depth")).reshape(-1)[0])
    if indices.dtype.kind == "f":
        indices = cast(indices, dtypes.int64)
    indices = cast(indices, dtypes.int64)
    # negative indices count from the end; anything still out of range gives all off
    indices = M.where(M.less(indices, 0), indices + depth, indices)
    rank = indices.node.rank + 1
    axis = int(ctx.attr("axis", -1)) % rank
    positions = constant(np.arange(depth, dtype=np.int64).reshape(
        [-1 if a == axis else 1 for a in range(rank)]))
    hot = M.equal(A.expand_dims(indices, axis), positions)
    return [M.where(hot, values[1], values[0])]


# --- rearranging blocks ---------------------------------------------------------------------
@converter("DepthToSpace", check=lambda n: one_of("mode", ("DCR", "CRD"), n))
def _depth_to_space(ctx):
    x = ctx.input(0)
    n, c, h, w = _static_shape(ctx, x, "DepthToSpace")
    b = int(ctx.attr("blocksize"))
    if ctx.attr("mode", "DCR") == "DCR":
        y = A.transpose(A.reshape(x, [n, b, b, c // (b * b), h, w]), [0, 3, 4, 1, 5, 2])
    else:
        y = A.transpose(A.reshape(x, [n, c // (b * b), b, b, h, w]), [0, 1, 4, 2, 5, 3])
    return [A.reshape(y, [n, c // (b * b), h * b, w * b])]


@converter("SpaceToDepth", check=lambda n: one_of("mode", ("DCR", "CRD"), n))
def _space_to_depth(ctx):
    x = ctx.input(0)
    n, c, h, w = _static_shape(ctx, x, "SpaceToDepth")
    b = int(ctx.attr("blocksize"))
    # DCR: output channel (i * b + j) * C + c; CRD: (c * b + i) * b + j
    perm = [0, 3, 5, 1, 2, 4] if ctx.attr("mode", "DCR") == "DCR" else [0, 1, 3, 5, 2, 4]
    y = A.transpose(A.reshape(x, [n, c, h // b, b, w // b, b]), perm)
    return [A.reshape(y, [n, c * b * b, h // b, w // b])]


@converter("CenterCropPad")
def _center_crop_pad(ctx):
    x = ctx.input(0)
    rank = x.node.rank
    want = ctx.ints(1, "shape")
    axes = [a % rank for a in ctx.attr("axes", list(range(rank)))]
    dims = ctx.static_shape(x, "CenterCropPad")
    for a, size in zip(axes, want):
        have = dims[a]
        if have > size:  # crop: the odd element goes to the end
            start = (have - size) // 2
            s = [(None, None, None)] * rank
            s[a] = (start, start + size, None)
            x = make_tensor("slice", (x,), {"slices": tuple(s)}, "crop")
        elif have < size:
            pad = [(0, 0)] * rank
            pad[a] = ((size - have) // 2, size - have - (size - have) // 2)
            x = A.pad(x, pad)
    return [x]
