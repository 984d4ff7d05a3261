"""tf.keras.constraints: projections a layer's weight goes through after each optimizer
update (`Dense(..., kernel_constraint=max_norm(3))`).

A layer gives the constraint to its variable (`tf.get_variable(constraint=...)`), and
graphc's optimizers, tf.train's and tf.keras's, apply it after the variable's update, as
TF1's do. The norms are over `axis` (0: each output unit's incoming weights, for a Dense
kernel [in, out]) with Keras's epsilon 1e-7 in the division.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ops import math_ops as m

EPSILON = 1e-7  # Keras's backend.epsilon()


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}


def _norms(w, axis):
    return m.sqrt(m.reduce_sum(m.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales each slice whose L2 norm over `axis` exceeds max_value down to max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = m.clip_by_value(norms, 0.0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights become zero."""

    def __call__(self, w):
        return w * m.cast(m.greater_equal(w, 0.0), w.dtype)


class UnitNorm(Constraint):
    """Each slice over `axis` divided by its L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved into [min_value, max_value], at `rate` (1: all the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * m.clip_by_value(norms, self.min_value, self.max_value) \
            + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm  # Keras's older spellings

_BY_NAME = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
            "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm}


def get(identifier):
    """A constraint from None, a callable, a name ('non_neg', 'max_norm', ...) or a
    {"class_name", "config"} dict."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = globals().get(identifier["class_name"])
        if isinstance(cls, type) and issubclass(cls, Constraint):
            return cls(**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown constraint {identifier!r}; expected a callable or one of "
                     f"{sorted(_BY_NAME)} (at {user_location()})")
