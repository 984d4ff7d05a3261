"""The fuzzer's convolution family: tf.nn.convolution over 1 to 3 spatial axes in both
layouts (strides, dilations, SAME, VALID or explicit padding, feature groups), depthwise
convolutions, transposed ones, and max and average pooling, on a pool value or a new feed
(and sometimes a pool right after a channels-first convolution, for the layout pass);
filters are constants or feeds (so that the gradient checks reach them too)."""

from __future__ import annotations

import numpy as np

from graphc.tools.fuzz_ops import _float, weight
from graphc.tools.fuzz_program import Ref, Step

_FORMATS = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}
MAX_SPATIAL = 40  # a longer axis makes the reference slow; draw a new input instead


def _fits(v) -> bool:
    return _float(v) and 3 <= len(v.shape) <= 5 and all(0 < d <= MAX_SPATIAL
                                                        for d in v.shape)


# kind -> the spatial ranks it takes
_KINDS = {"conv": (1, 2, 3), "depthwise": (2,), "transpose": (2, 3), "pool": (1, 2, 3)}


@weight(2)
def conv(g):
    kind = str(g.rng.choice(["conv", "conv", "conv", "depthwise", "transpose", "pool"]))
    ranks = _KINDS[kind]
    a = g.pick(lambda v: _fits(v) and len(v.shape) - 2 in ranks)
    wide = kind == "conv" and g.rng.random() < 0.35  # a new input of 16+ channels
    if a is None or wide:
        s = int(g.rng.choice([r for r in ranks if r < 3] if wide else ranks))
        # sometimes 16+ channels: the implicit GEMM packs those a channel vector at a time,
        # fewer a kernel row at a time (lower.FEW_CHANNELS); 33+: an input gradient wider
        # than the narrow GEMM tile, which reads its windows in place (as below)
        channels = int(g.rng.choice([16, 33])) + int(g.rng.integers(0, 5)) \
            if wide or (g.rng.random() < 0.25 and s < 3) else int(g.rng.integers(1, 5))
        # (4 images: a strided filter gradient is then a convolution over the batch too)
        shape = (int(g.rng.choice([1, 2, 4])),) + tuple(int(g.rng.integers(1, 9))
                                                      for _ in range(s)) + (channels,)
        a = g.feed(g.float, shape)
    s = len(a.shape) - 2
    last = bool(g.rng.random() < 0.6) or wide  # (a wide input's channels are its last axis)
    spatial = a.shape[1:-1] if last else a.shape[2:]
    channels = a.shape[-1] if last else a.shape[1]
    fmt = _FORMATS[s][0 if last else 1]
    if kind == "pool":
        return _pool(g, a, spatial, fmt)
    if kind == "depthwise":
        return _depthwise(g, a, spatial, channels, fmt)
    if kind == "transpose":
        return _transpose(g, a, spatial, channels, fmt, last)
    kernel = tuple(int(g.rng.integers(1, 4)) for _ in range(s))
    strides = tuple(int(g.rng.choice([1, 1, 2, 3])) for _ in range(s))
    dilations = tuple(int(g.rng.choice([1, 1, 2])) for _ in range(s))
    padding = _padding(g, spatial, kernel, dilations, last)
    divisors = [d for d in range(1, channels + 1) if channels % d == 0]
    groups = int(g.rng.choice(divisors))
    if channels >= 16 and channels % 2 == 0 and g.rng.random() < 0.3:
        groups = 2  # two wide groups, which the layout pass splits into two GEMMs
    out = groups * int(g.rng.integers(1, 4))
    if channels >= 16 and (groups == 1 or wide) and g.rng.random() < 0.6:
        # wider than the narrow GEMM tile: a float32 implicit GEMM reads its input's channel
        # vectors in place (the indirect GEMM, intrinsics.in_place_a)
        groups, out = 1, int(g.rng.integers(33, 41))
    if groups > 1 and channels // groups >= 8 and g.rng.random() < 0.5:
        out = groups * int(g.rng.integers(8, 11))  # wide groups: the layout pass splits them
    w = _filter(g, a.dtype, kernel + (channels // groups, out))
    y = g.step(Step("nn.convolution", (Ref(a.index), Ref(w.index)),
                    (("padding", padding), ("strides", list(strides)),
                     ("dilations", list(dilations)), ("data_format", fmt))), False,
               a.bound * w.bound * int(np.prod(kernel)) * (channels // groups))
    if not last and g.rng.random() < 0.3:
        # a channels-first pool of a channels-first convolution: the layout pass computes
        # both channels-last, with the transpose between them sunk through the pool
        return _pool(g, y, y.shape[2:], fmt)
    return y


def _filter(g, dtype, shape):
    return g.feed(dtype, shape) if g.rng.random() < 0.4 else g.constant(dtype, shape)


def _padding(g, spatial, kernel, dilations, last):
    """SAME, VALID (where the window fits) or explicit pairs that let the window fit."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    mode = str(g.rng.choice(["SAME", "VALID", "explicit"]))
    if mode == "VALID" and all(span <= n for span, n in zip(spans, spatial)):
        return "VALID"
    if mode != "explicit":
        return "SAME"
    pairs = []
    for span, n in zip(spans, spatial):
        before, after = int(g.rng.integers(0, 3)), int(g.rng.integers(0, 3))
        after += max(0, span - (n + before + after))
        pairs.append([before, after])
    outer = [[0, 0]]
    return outer + pairs + outer if last else outer + outer + pairs


def _depthwise(g, a, spatial, channels, fmt):
    kernel = tuple(int(g.rng.integers(1, 4)) for _ in spatial)
    strides = [1] + [int(g.rng.choice([1, 2])) for _ in spatial] + [1]
    if fmt == "NCHW":
        strides = [1, 1] + strides[1:3]
    multiplier = int(g.rng.integers(1, 3))
    w = _filter(g, a.dtype, kernel + (channels, multiplier))
    return g.step(Step("nn.depthwise_conv2d", (Ref(a.index), Ref(w.index), strides, "SAME"),
                       (("data_format", fmt),)), False,
                  a.bound * w.bound * int(np.prod(kernel)))


def _transpose(g, a, spatial, channels, fmt, last):
    """a as the value of a transposed convolution: an output shape whose convolution gives
    a's shape, then the transpose back to it."""
    s = len(spatial)
    kernel = tuple(int(g.rng.integers(1, 4)) for _ in range(s))
    strides = tuple(int(g.rng.choice([1, 2, 3])) for _ in range(s))
    padding = str(g.rng.choice(["SAME", "VALID"]))
    sizes = []
    for n, k, st in zip(spatial, kernel, strides):
        low = (n - 1) * st + (1 if padding == "SAME" else k)
        sizes.append(low + int(g.rng.integers(0, st)))
    out_channels = int(g.rng.integers(1, 4))
    shape = [a.shape[0]] + (sizes + [out_channels] if last else [out_channels] + sizes)
    if int(np.prod(shape)) > 1 << 16:
        return None
    w = _filter(g, a.dtype, kernel + (out_channels, channels))
    name = "nn.conv2d_transpose" if s == 2 else "nn.conv3d_transpose"
    return g.step(Step(name, (Ref(a.index), Ref(w.index), shape),
                       (("strides", list(strides)), ("padding", padding),
                        ("data_format", fmt))), False,
                  a.bound * w.bound * int(np.prod(kernel)) * channels)


def _pool(g, a, spatial, fmt):
    """Max or average pooling. A window's maximum is as exact as its input; its gradient
    goes to one element, which rounding could move only between values equal on one target
    and not on another: exact values tie alike everywhere, computed ones almost never tie."""
    if g.rng.random() < 0.3:  # padded first, as Keras' ResNet does (fuse: read in place)
        a, spatial = _padded(g, a, spatial, fmt)
    window = [int(g.rng.integers(1, 4)) for _ in spatial]
    strides = [int(g.rng.choice([1, 2, 3])) for _ in spatial]
    padding = "VALID" if all(k <= n for k, n in zip(window, spatial)) and \
        g.rng.random() < 0.5 else "SAME"
    kind = str(g.rng.choice(["nn.max_pool", "nn.avg_pool"]))
    return g.step(Step(kind, (Ref(a.index), window, strides, padding),
                       (("data_format", fmt),)), a.exact and kind == "nn.max_pool", a.bound)


def _padded(g, a, spatial, fmt):
    """(tf.pad of a's spatial axes, the padded spatial sizes): zeros, another constant or a
    reflection (where each axis is long enough for it)."""
    pairs = [[int(g.rng.integers(0, 3)), int(g.rng.integers(0, 3))] for _ in spatial]
    mode = str(g.rng.choice(["CONSTANT", "CONSTANT", "REFLECT"]))
    if mode == "REFLECT" and any(max(p) >= n for p, n in zip(pairs, spatial)):
        mode = "CONSTANT"
    value = float(g.rng.choice([0.0, -1.5])) if mode == "CONSTANT" else 0.0
    outer = [[0, 0]]
    pads = outer + pairs + outer if fmt.endswith("C") else outer + outer + pairs
    padded = g.step(Step("pad", (Ref(a.index), pads),
                         (("mode", mode), ("constant_values", value))), a.exact, max(
                             a.bound, abs(value)))
    return padded, tuple(n + sum(p) for n, p in zip(spatial, pairs))
