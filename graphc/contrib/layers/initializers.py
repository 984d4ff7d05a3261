"""tf.contrib.layers' initializers: xavier_initializer and contrib's own
variance_scaling_initializer (factor, mode='FAN_IN', uniform), which differs from core's
tf.variance_scaling_initializer in its argument names and in its normal draw.

Fans, as TF 1.15's contrib computes them for a weight of shape (..., fan_in, fan_out):
the leading dimensions (a convolution's window) multiply both; a 1-D shape has
fan_in = fan_out = its size, a scalar 1.
"""

from __future__ import annotations

import math

from graphc.errors import user_location
from graphc.ir import dtypes
from graphc.ops import random_ops
from graphc.ops.init_ops import Initializer

_MODES = ("FAN_IN", "FAN_OUT", "FAN_AVG")


def _fans(shape) -> tuple:
    shape = [int(d) for d in shape]
    if not shape:
        return 1.0, 1.0
    fan_in = float(shape[-2] if len(shape) > 1 else shape[-1])
    fan_out = float(shape[-1])
    for dim in shape[:-2]:
        fan_in *= dim
        fan_out *= dim
    return fan_in, fan_out


class ContribVarianceScaling(Initializer):
    """Uniform on [-limit, limit], limit = sqrt(3 factor / n), or a normal truncated at two
    standard deviations with stddev sqrt(1.3 factor / n) (1.3: contrib's approximate
    correction for the truncation); n is fan_in, fan_out or their mean, by `mode`."""

    def __init__(self, factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                 dtype=dtypes.float32):
        dtype = dtypes.as_dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"variance_scaling_initializer: cannot create an initializer for "
                            f"the non-floating-point dtype {dtype} (at {user_location()})")
        if mode not in _MODES:
            raise TypeError(f"variance_scaling_initializer: unknown mode {mode!r}, expected one "
                            f"of {list(_MODES)} (at {user_location()})")
        super().__init__(dtype)
        self.factor, self.mode, self.uniform, self.seed = float(factor), mode, bool(uniform), seed

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self._dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"variance_scaling_initializer: cannot initialize a {dtype} "
                            f"variable (at {user_location()})")
        fan_in, fan_out = _fans(shape)
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[self.mode]
        if self.uniform:
            limit = math.sqrt(3.0 * self.factor / n)
            return random_ops.random_uniform(list(shape), -limit, limit, dtype, self.seed)
        stddev = math.sqrt(1.3 * self.factor / n)
        return random_ops.truncated_normal(list(shape), 0.0, stddev, dtype, self.seed)


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                                 dtype=dtypes.float32):
    """tf.contrib.layers.variance_scaling_initializer (He et al. with the defaults)."""
    return ContribVarianceScaling(factor, mode, uniform, seed, dtype)


def xavier_initializer(uniform=True, seed=None, dtype=dtypes.float32):
    """Glorot & Bengio: variance 1 / mean(fan_in, fan_out)."""
    return ContribVarianceScaling(1.0, "FAN_AVG", uniform, seed, dtype)


xavier_initializer_conv2d = xavier_initializer
