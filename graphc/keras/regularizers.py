"""tf.keras.regularizers: l1, l2 and l1_l2 penalties, callables on a weight tensor.

Keras's l2 is `l2 * sum(w^2)` (no 1/2, unlike tf.nn.l2_loss); layers add the penalty to
their `losses`, which `compile` adds to the training loss.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ops import math_ops as m


class Regularizer:
    def __call__(self, x):
        return 0.0


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        terms = []
        if self.l1:
            terms.append(self.l1 * m.reduce_sum(m.abs(x)))
        if self.l2:
            terms.append(self.l2 * m.reduce_sum(m.square(x)))
        if not terms:
            return m.cast(0.0, x.dtype)
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def l1(l=0.01):  # noqa: E741 (Keras's argument name)
    return L1L2(l1=l)


def l2(l=0.01):  # noqa: E741
    return L1L2(l2=l)


def l1_l2(l1=0.01, l2=0.01):  # noqa: F811 (Keras's argument names)
    return L1L2(l1=l1, l2=l2)


def get(identifier):
    if identifier is None or callable(identifier):
        return identifier
    by_name = {"l1": l1, "l2": l2, "l1_l2": l1_l2}
    if isinstance(identifier, str) and identifier in by_name:
        return by_name[identifier]()
    raise ValueError(f"Unknown regularizer {identifier!r}; expected a callable or one of "
                     f"{sorted(by_name)} (at {user_location()})")
