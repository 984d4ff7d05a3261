"""Pooling of tf.nn over the `pool` primitive (ir/ops/pool.py): max and average over
windows of 1 to 3 spatial axes, channels last or first, SAME or VALID as TF (SAME's
average counts only the elements inside the input)."""

from __future__ import annotations

from graphc.errors import ShapeError
from graphc.ops.nn_conv import channels_last_of, per_axis, same_padding
from graphc.ops.tensor import convert_to_tensor, make_tensor

_FORMATS = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _pool(kind, value, ksize, strides, padding, data_format, name, what, spatial=None):
    x = convert_to_tensor(value)
    if x.dtype.kind != "f":
        raise TypeError(f"{what} expects a floating-point input, got {x.dtype}")
    rank = x.node.rank
    if rank is None or not 3 <= rank <= 5 or (spatial is not None and rank != spatial + 2):
        want = "3 to 5" if spatial is None else str(spatial + 2)
        raise ShapeError(f"{what} expects an input of rank {want}, got shape {x.shape}")
    s = rank - 2
    last = channels_last_of(data_format, s, what)
    window = per_axis(ksize, s, last, what, "ksize")
    strides = per_axis(strides, s, last, what, "strides")
    shape = x.node.shape
    sizes = shape[1:-1] if last else shape[2:]
    mode = str(padding).upper()
    if mode == "VALID":
        pads = tuple((0, 0) for _ in window)
    elif mode == "SAME":
        pads = tuple(same_padding(n, k, st, 1, what) for n, k, st in zip(sizes, window, strides))
    else:
        raise ValueError(f"{what}: padding must be 'SAME' or 'VALID', got {padding!r}")
    return make_tensor("pool", (x,), {"kind": kind, "window": window, "strides": strides,
                                      "padding": pads, "channels_last": last}, name)


def max_pool(value=None, ksize=None, strides=None, padding=None, data_format=None, name=None,
             input=None):  # noqa: A002
    """tf.nn.max_pool: the maximum of each window (1 to 3 spatial axes, by the input's rank);
    ksize and strides per axis of the input, per spatial axis, or one int."""
    x = value if input is None else input
    return _pool("max", x, ksize, strides, padding, data_format, name or "MaxPool",
                 "max_pool")


def avg_pool(value=None, ksize=None, strides=None, padding=None, data_format=None, name=None,
             input=None):  # noqa: A002
    """tf.nn.avg_pool: the mean of each window's elements inside the input."""
    x = value if input is None else input
    return _pool("avg", x, ksize, strides, padding, data_format, name or "AvgPool",
                 "avg_pool")


def _fixed(kind, spatial):
    tf_name = {"max": "MaxPool", "avg": "AvgPool"}[kind] + ("" if spatial == 2 else
                                                            f"{spatial}D")
    what = f"{kind}_pool{spatial}d"

    def fn(input, ksize, strides, padding, data_format=_FORMATS[spatial],  # noqa: A002
           name=None):
        return _pool(kind, input, ksize, strides, padding, data_format, name or tf_name,
                     what, spatial)
    fn.__name__ = what
    fn.__doc__ = f"tf.nn.{what}: {kind} pooling over {spatial} spatial axes."
    return fn


max_pool1d, max_pool2d, max_pool3d = (_fixed("max", s) for s in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_fixed("avg", s) for s in (1, 2, 3))


def pool(input, window_shape, pooling_type, padding, dilation_rate=None,  # noqa: A002
         strides=None, name=None, data_format=None, dilations=None):
    """tf.nn.pool: "MAX" or "AVG" pooling with window_shape and strides per spatial axis."""
    rate = dilations if dilation_rate is None else dilation_rate
    if rate is not None and any(int(r) != 1 for r in rate):
        raise ValueError(f"pool: dilation_rate {list(rate)} is not supported; only 1")
    kind = {"MAX": "max", "AVG": "avg"}.get(str(pooling_type).upper())
    if kind is None:
        raise ValueError(f"pool: pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}")
    return _pool(kind, input, window_shape, strides, padding, data_format,
                 name or f"{pooling_type.upper()}Pool", "pool")
