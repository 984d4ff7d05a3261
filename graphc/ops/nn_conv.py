"""Convolutions of tf.nn over the one N-d `conv` primitive and its adjoints (ir/ops/conv.py).

Padding "SAME" and "VALID" resolve to explicit (before, after) pairs here, as TF does:
SAME gives ceil(n / stride) outputs and pads the odd row at the end. Explicit padding is
TF's list form, one pair per axis of the input (the batch and channel pairs zero).
Filters use TF's layout (*kernel, in_channels / groups, out_channels) in both data formats;
an input with k times the filter's input channels convolves in k feature groups.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ops import array_ops as A
from graphc.ops.tensor import constant, convert_to_tensor, make_tensor, promote_operands

_LAYOUTS = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}


def channels_last_of(data_format, spatial: int, what: str) -> bool:
    last, first = _LAYOUTS[spatial]
    fmt = data_format or last
    if fmt in (last, "channels_last"):
        return True
    if fmt in (first, "channels_first"):
        return False
    raise ValueError(f"{what}: data_format must be {last!r} or {first!r}, got {data_format!r}")


def per_axis(value, spatial: int, channels_last: bool, what: str, name: str) -> tuple:
    """One int per spatial axis from an int, a list per spatial axis, or a list per axis of
    the input (whose batch and channel entries must be 1, as TF requires)."""
    if value is None:
        return (1,) * spatial
    values = [int(v) for v in np.asarray(value).reshape(-1)]
    if any(v < 1 for v in values):
        raise ShapeError(f"{what}: {name} {values} must be positive")
    if len(values) == 1:
        return tuple(values) * spatial
    if len(values) == spatial:
        return tuple(values)
    if len(values) == spatial + 2:
        outer = (values[0], values[-1]) if channels_last else (values[0], values[1])
        if outer != (1, 1):
            raise ValueError(f"{what}: {name} {values} must be 1 in the batch and channel "
                             "dimensions")
        return tuple(values[1:-1] if channels_last else values[2:])
    raise ValueError(f"{what}: {name} {values} must have 1, {spatial} or {spatial + 2} "
                     "entries")


def same_padding(size, kernel: int, stride: int, dilation: int, what: str) -> tuple:
    """(before, after) of SAME padding along one axis: ceil(size / stride) outputs."""
    span = dilation * (kernel - 1) + 1
    if size is None:
        if stride == 1:  # the total does not depend on the size
            return ((span - 1) // 2, span - 1 - (span - 1) // 2)
        raise ShapeError(f"{what}: SAME padding with stride {stride} needs the input's spatial "
                         "size, which is unknown when the graph is built")
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return (total // 2, total - total // 2)


def _padding(padding, spatial_sizes, kernel, strides, dilations, channels_last, what):
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return tuple((0, 0) for _ in kernel)
        if mode == "SAME":
            return tuple(same_padding(n, k, s, d, what) for n, k, s, d
                         in zip(spatial_sizes, kernel, strides, dilations))
        raise ValueError(f"{what}: padding must be 'SAME', 'VALID' or explicit pairs, got "
                         f"{padding!r}")
    pairs = [tuple(int(v) for v in p) for p in padding]
    s = len(kernel)
    if len(pairs) == s + 2:
        outer = [pairs[0], pairs[-1]] if channels_last else pairs[:2]
        if any(p != (0, 0) for p in outer):
            raise ValueError(f"{what}: explicit padding {pairs} must be 0 in the batch and "
                             "channel dimensions")
        pairs = pairs[1:-1] if channels_last else pairs[2:]
    if len(pairs) != s or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{what}: explicit padding needs one (before, after) pair per axis, "
                         f"got {padding!r}")
    return tuple(pairs)


def _operands(x, w, what):
    x, w = promote_operands([x, w], what)
    if x.dtype.kind != "f":
        raise TypeError(f"{what} expects floating-point operands, got {x.dtype}")
    if x.node.rank is None or w.node.rank is None:
        raise ShapeError(f"{what} needs an input and a filter of known rank")
    return x, w


def convolution(input, filter=None, padding=None, strides=None,  # noqa: A002
                dilation_rate=None, name=None, data_format=None, filters=None,
                dilations=None):
    """tf.nn.convolution: an N-d convolution (1, 2 or 3 spatial axes) of an input shaped
    (N, *spatial, C) (or (N, C, *spatial)) with a filter (*kernel, C / groups, O)."""
    filter = filters if filter is None else filter  # noqa: A001
    return _conv(input, filter, strides, padding, dilations if dilation_rate is None
                 else dilation_rate, data_format, name or "convolution", "convolution")


def _conv(x, w, strides, padding, dilations, data_format, name, what):
    x, w = _operands(x, w, what)
    spatial = x.node.rank - 2
    if spatial not in _LAYOUTS or w.node.rank != x.node.rank:
        raise ShapeError(f"{what}: expects an input of rank 3 to 5 and a filter of the same "
                         f"rank, got shapes {x.shape} and {w.shape}")
    last = channels_last_of(data_format, spatial, what)
    strides = per_axis(strides, spatial, last, what, "strides")
    dilations = per_axis(dilations, spatial, last, what, "dilations")
    shape = x.node.shape
    sizes = shape[1:-1] if last else shape[2:]
    channels = shape[-1] if last else shape[1]
    kernel, per_group = w.node.shape[:spatial], w.node.shape[spatial]
    if None in kernel or per_group is None:
        raise ShapeError(f"{what}: the filter's shape must be known, got {w.shape}")
    groups = 1
    if channels is not None and per_group and channels != per_group:
        if channels % per_group:
            raise ShapeError(f"{what}: the filter {w.shape} takes {per_group} input channels, "
                             f"the input {x.shape} has {channels}, not a multiple of them")
        groups = channels // per_group
    pads = _padding(padding, sizes, kernel, strides, dilations, last, what)
    return make_tensor("conv", (x, w), {"strides": strides, "dilations": dilations,
                                        "padding": pads, "groups": groups,
                                        "channels_last": last}, name)


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None,
           data_format=None, name=None, input=None, dilations=None):  # noqa: A002
    """tf.nn.conv1d: input (N, W, C) ("NWC") or (N, C, W) ("NCW"), filter (k, C, O)."""
    x = value if input is None else input
    fmt = {"NHWC": "NWC", "NCHW": "NCW"}.get(data_format, data_format)
    return _conv(x, filters, stride, padding, dilations, fmt, name or "conv1d", "conv1d")


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=None, name=None, filters=None):
    """tf.nn.conv2d: input (N, H, W, C) ("NHWC") or (N, C, H, W) ("NCHW"), filter
    (kh, kw, C, O); strides and dilations per axis of the input (or per spatial axis)."""
    w = filters if filter is None else filter
    return _conv(input, w, strides, padding, dilations, data_format, name or "Conv2D",
                 "conv2d")


def conv3d(input, filter=None, strides=None, padding=None, data_format="NDHWC",  # noqa: A002
           dilations=None, name=None, filters=None):
    """tf.nn.conv3d: input (N, D, H, W, C) ("NDHWC") or (N, C, D, H, W), filter
    (kd, kh, kw, C, O)."""
    w = filters if filter is None else filter
    return _conv(input, w, strides, padding, dilations, data_format, name or "Conv3D",
                 "conv3d")


def atrous_conv2d(value, filters, rate, padding, name=None):
    """tf.nn.atrous_conv2d: conv2d with dilation `rate` in both spatial axes, stride 1."""
    if int(rate) < 1:
        raise ValueError(f"atrous_conv2d: rate must be positive, got {rate}")
    return _conv(value, filters, 1, padding, int(rate), "NHWC", name or "atrous_conv2d",
                 "atrous_conv2d")


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """tf.nn.depthwise_conv2d: filter (kh, kw, C, M); output channel c * M + m convolves
    input channel c with filter[..., c, m] (feature groups of one channel each)."""
    x, w = _operands(input, filter, "depthwise_conv2d")
    if w.node.rank != 4 or x.node.rank != 4:
        raise ShapeError(f"depthwise_conv2d: expects a rank-4 input and filter, got {x.shape} "
                         f"and {w.shape}")
    kh, kw, c, m = w.node.shape
    last = channels_last_of(data_format, 2, "depthwise_conv2d")
    channels = x.node.shape[-1] if last else x.node.shape[1]
    if channels is not None and c is not None and channels != c:
        raise ShapeError(f"depthwise_conv2d: the filter {w.shape} is for {c} input channels, "
                         f"the input {x.shape} has {channels}")
    grouped = A.reshape(w, [kh, kw, 1, c * m])
    return _conv(x, grouped, strides, padding, dilations if rate is None else rate,
                 data_format, name or "depthwise", "depthwise_conv2d")


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,  # noqa: A002
                     rate=None, name=None, data_format=None, dilations=None):
    """tf.nn.separable_conv2d: a depthwise convolution, then a 1x1 convolution with
    pointwise_filter (1, 1, C * M, O)."""
    depthwise = depthwise_conv2d(input, depthwise_filter, strides, padding, rate,
                                 data_format=data_format, dilations=dilations)
    return _conv(depthwise, pointwise_filter, 1, "VALID", 1, data_format,
                 name or "separable_conv2d", "separable_conv2d")


def _transpose_conv(value, w, output_shape, strides, padding, data_format, dilations, name,
                    what, spatial):
    """The transpose of the convolution that maps an input of output_shape to `value`."""
    g, w = _operands(value, w, what)
    if g.node.rank != spatial + 2 or w.node.rank != spatial + 2:
        raise ShapeError(f"{what}: expects a rank-{spatial + 2} value and filter, got "
                         f"{g.shape} and {w.shape}")
    last = channels_last_of(data_format, spatial, what)
    strides = per_axis(strides, spatial, last, what, "strides")
    dilations = per_axis(dilations, spatial, last, what, "dilations")
    dims, shape_t = A.shape_argument(output_shape, what)
    target = tuple(dims)
    if len(target) != spatial + 2:
        raise ShapeError(f"{what}: output_shape {list(target)} must have {spatial + 2} "
                         "entries")
    if None in target[1:]:
        raise ShapeError(f"{what}: output_shape {list(target)} must be known when the graph "
                         "is built, except for the batch")
    sizes = target[1:-1] if last else target[2:]
    kernel = w.node.shape[:spatial]
    pads = _padding(padding, sizes, kernel, strides, dilations, last, what)
    channels = target[-1] if last else target[1]
    per_group = w.node.shape[spatial]
    groups = channels // per_group if channels and per_group and \
        channels % per_group == 0 else 1
    if shape_t is None:
        shape_t = constant(np.array(target, np.int32))
    return make_tensor("conv_input_grad", (g, w, shape_t),
                       {"strides": strides, "dilations": dilations, "padding": pads,
                        "groups": groups, "channels_last": last, "shape": target}, name)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None,  # noqa: A002
                     padding="SAME", data_format="NHWC", name=None, input=None, filters=None,
                     dilations=None):
    """tf.nn.conv2d_transpose: the gradient of conv2d with respect to its input. filter is
    (kh, kw, output channels, value's channels), as in TF."""
    g = value if input is None else input
    w = filters if filter is None else filter
    return _transpose_conv(g, w, output_shape, strides, padding, data_format, dilations,
                           name or "conv2d_transpose", "conv2d_transpose", 2)


def conv3d_transpose(value=None, filter=None, output_shape=None, strides=None,  # noqa: A002
                     padding="SAME", data_format="NDHWC", name=None, input=None,
                     filters=None, dilations=None):
    """tf.nn.conv3d_transpose: the gradient of conv3d with respect to its input."""
    g = value if input is None else input
    w = filters if filter is None else filter
    return _transpose_conv(g, w, output_shape, strides, padding, data_format, dilations,
                           name or "conv3d_transpose", "conv3d_transpose", 3)


def conv2d_backprop_input(input_sizes, filter=None, out_backprop=None, strides=None,  # noqa: A002
                          padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
                          dilations=None, name=None, filters=None):
    """tf.nn.conv2d_backprop_input: conv2d_transpose with TF's argument order."""
    w = filters if filter is None else filter
    return _transpose_conv(out_backprop, w, input_sizes, strides, padding, data_format,
                           dilations, name or "Conv2DBackpropInput", "conv2d_backprop_input",
                           2)


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,  # noqa: A002
                           use_cudnn_on_gpu=True, data_format="NHWC", dilations=None,
                           name=None):
    """tf.nn.conv2d_backprop_filter: the gradient of conv2d with respect to its filter."""
    x, g = _operands(input, out_backprop, "conv2d_backprop_filter")
    value = A.static_value(convert_to_tensor(filter_sizes))
    if value is None:
        raise ShapeError("conv2d_backprop_filter: filter_sizes must be known when the graph "
                         "is built")
    target = tuple(int(d) for d in value)
    last = channels_last_of(data_format, 2, "conv2d_backprop_filter")
    strides = per_axis(strides, 2, last, "conv2d_backprop_filter", "strides")
    dilations = per_axis(dilations, 2, last, "conv2d_backprop_filter", "dilations")
    shape = x.node.shape
    sizes = shape[1:-1] if last else shape[2:]
    pads = _padding(padding, sizes, target[:2], strides, dilations, last,
                    "conv2d_backprop_filter")
    channels = shape[-1] if last else shape[1]
    groups = channels // target[2] if channels and channels % target[2] == 0 else 1
    return make_tensor("conv_filter_grad", (x, g),
                       {"strides": strides, "dilations": dilations, "padding": pads,
                        "groups": groups, "channels_last": last, "shape": target},
                       name or "Conv2DBackpropFilter")
