"""Linear quantization to and from 2- to 16-bit integers, float8 and float4: QuantizeLinear
and DequantizeLinear, per tensor, per axis or per block (graphc carries the narrow integers
in int32, see registry.NARROW, and the narrow floats in float32, see formats.py).

    QuantizeLinear:   y = clip(round_half_even(x / scale) + zero_point, type's range)
                      (a float8 or float4 y: x / scale + zero_point rounded into its format,
                      saturated unless saturate=0)
    DequantizeLinear: y = (x - zero_point) * scale, computed in float32
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx import formats
from graphc.onnx.registry import NARROW, converter, graphc_dtype, onnx_type_name
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant

_RANGES = {2: (0, 255), 3: (-128, 127), 4: (0, 65535), 5: (-32768, 32767), 21: (0, 15),
           22: (-8, 7), 25: (0, 3), 26: (-2, 1)}
_FLOATS = tuple(formats.FLOATS)  # float8 and float4 targets: rounded, saturated by default


def _spread(ctx, v, x, block_size: int):
    """A scale or zero point shaped to broadcast against x: a scalar, one value per
    element along `axis`, or one per block of `block_size` elements along it."""
    if v.node.rank == 0 or v.node.shape == (1,) or (None not in v.node.shape and
                                                   int(np.prod(v.node.shape)) == 1):
        return A.reshape(v, [])
    rank = x.node.rank
    axis = int(ctx.attr("axis", 1)) % rank
    if not block_size:
        return A.reshape(v, [-1 if a == axis else 1 for a in range(rank)])
    size = ctx.static_shape(x, f"{ctx.node.op_type} with block_size")[axis]
    rows = constant(np.arange(size, dtype=np.int64) // block_size)
    return A.gather(v, rows, axis=axis)


def _quantize_check(node):
    elem = node.input_type(2) or node.attr("output_dtype", 0) or 2
    if elem not in _RANGES and elem not in _FLOATS:
        return (f"QuantizeLinear to {onnx_type_name(elem)}: graphc quantizes to 2- to 16-bit "
                "ints, float8 and float4")
    return None


@converter("QuantizeLinear", check=_quantize_check)
def _quantize(ctx):
    x, scale = ctx.input(0), ctx.input(1)
    block = int(ctx.attr("block_size", 0) or 0)
    elem = ctx.input_type(2) or ctx.attr("output_dtype", 0) or 2
    work = graphc_dtype(ctx.attr("precision")) if ctx.attr("precision") else None
    if work is not None:
        x, scale = cast(x, work), cast(scale, work)
    if elem in _FLOATS:  # x / scale + zero_point rounded into the format
        q = x / _spread(ctx, cast(scale, x.dtype), x, block)
        if ctx.present(2):
            q = q + _spread(ctx, cast(ctx.input(2), x.dtype), x, block)
        return [formats.round_to(q, elem, bool(ctx.attr("saturate", 1)))]
    q = cast(M.round(x / _spread(ctx, cast(scale, x.dtype), x, block)), dtypes.int32)
    if ctx.present(2):
        q = q + _spread(ctx, cast(ctx.input(2), dtypes.int32), x, block)
    low, high = _RANGES[elem]
    return [cast(M.clip_by_value(q, np.int32(low), np.int32(high)), NARROW[elem][0])]


def _dequantize_check(node):
    elem = node.input_type(0)
    if elem and elem not in _RANGES and elem not in _FLOATS and elem not in (6,):
        return f"DequantizeLinear from {onnx_type_name(elem)}"
    return None


@converter("DequantizeLinear", check=_dequantize_check)
def _dequantize(ctx):
    x, scale = ctx.input(0), ctx.input(1)
    block = int(ctx.attr("block_size", 0) or 0)
    value = cast(x, dtypes.float32)
    if ctx.present(2):
        value = value - _spread(ctx, cast(ctx.input(2), dtypes.float32), x, block)
    out = graphc_dtype(ctx.attr("output_dtype")) if ctx.attr("output_dtype") else scale.dtype
    return [cast(value * _spread(ctx, cast(scale, dtypes.float32), x, block), out)]


# --- integer products and their requantized forms --------------------------------------
def _centered(x, zero_point, per_row_axis=None):
    """x - zero_point in int32; a vector zero point applies along `per_row_axis`."""
    x = cast(x, dtypes.int32)
    if zero_point is None:
        return x
    z = cast(zero_point, dtypes.int32)
    if z.node.rank == 1 and z.node.shape[0] not in (1, None) and per_row_axis is not None:
        shape = [1] * x.node.rank
        shape[per_row_axis % x.node.rank] = -1
        z = A.reshape(z, shape)
    elif z.node.rank:
        z = A.reshape(z, [])
    return x - z


def _integer_matmul(ctx, a, za, b, zb):
    # a's zero point may be per row of a, b's per column of b
    return M.matmul(_centered(a, za, -2), _centered(b, zb, -1))


@converter("MatMulInteger")
def _matmul_integer(ctx):
    return [_integer_matmul(ctx, ctx.input(0), ctx.input(2), ctx.input(1), ctx.input(3))]


def _integer_conv(ctx, x, zx, w, zw, bias=None):
    """The int32 convolution of the centred operands, computed exactly in float64 (every
    partial sum of 8/16-bit products stays far below 2^53) and rounded back."""
    from graphc.onnx.ops_conv import convolve
    xs = cast(_centered(x, zx), dtypes.float64)
    ws = cast(_centered(w, zw, 0), dtypes.float64)
    y = convolve(ctx, xs, ws)
    if bias is not None:
        y = y + A.reshape(cast(bias, dtypes.float64), [-1] + [1] * (y.node.rank - 2))
    return cast(M.round(y), dtypes.int32)


@converter("ConvInteger")
def _conv_integer(ctx):
    return [_integer_conv(ctx, ctx.input(0), ctx.input(2), ctx.input(1), ctx.input(3))]


def _requantize(ctx, acc, scale, y_scale, y_zero, out_elem):
    """round_half_even(acc * scale / y_scale) + y_zero, clipped to the output type."""
    factor = cast(scale / y_scale, dtypes.float64)
    value = M.round(cast(acc, dtypes.float64) * factor)
    if y_zero is not None:
        value = value + cast(A.reshape(y_zero, []), dtypes.float64)
    low, high = _RANGES[out_elem]
    value = M.clip_by_value(value, np.float64(low), np.float64(high))
    return cast(value, NARROW[out_elem][0])


def _qlinear_check(node):
    elem = node.input_type(7) or node.input_type(0)
    if elem not in _RANGES:
        return f"{node.op_type} to {onnx_type_name(elem)}: graphc quantizes to 8/16-bit ints"
    return None


@converter("QLinearMatMul", check=_qlinear_check)
def _qlinear_matmul(ctx):
    a, sa, za, b, sb, zb, sy, zy = (ctx.input(i) for i in range(8))
    acc = _integer_matmul(ctx, a, za, b, zb)
    elem = ctx.input_type(7) or ctx.input_type(0)
    return [_requantize(ctx, acc, A.reshape(sa, []) * sb, A.reshape(sy, []), zy, elem)]


@converter("QLinearConv", check=_qlinear_check)
def _qlinear_conv(ctx):
    x, sx, zx, w, sw, zw, sy, zy = (ctx.input(i) for i in range(8))
    acc = _integer_conv(ctx, x, zx, w, zw, ctx.input(8))
    scale = A.reshape(sx, []) * (A.reshape(sw, [-1] + [1] * (x.node.rank - 2))
                                 if sw.node.rank == 1 else A.reshape(sw, []))
    elem = ctx.input_type(7) or ctx.input_type(0)
    return [_requantize(ctx, acc, scale, A.reshape(sy, []), zy, elem)]
