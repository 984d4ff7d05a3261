"""How check compares a compiled value with the reference: a tolerance by dtype, exact for
integers and bools, nan equal to nan and infinities equal only to themselves.

The relative part of the tolerance is relative to the element's magnitude plus the
value's largest finite magnitude (at least 1), as the differential fuzzer judges: a sum's
rounding is relative to the terms summed, so a near-zero element of a matmul whose other
elements are of order 1 carries their rounding, not a rounding of its own size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

# dtype -> (rtol, atol): an element passes when
#   |actual - expected| <= atol + rtol * (|expected| + scale),
# scale the value's largest finite |expected| (at least 1)
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12)}


@dataclass(frozen=True)
class Difference:
    """One value on which the two targets disagree."""

    dtype: str
    shape: tuple
    bad: int  # elements beyond tolerance
    max_abs: float  # over all elements (inf when one side is nan or inf and the other not)
    max_rel: float
    rtol: float
    atol: float
    node: object = None  # the user's node (or variable) holding the value
    name: str = ""
    location: str = ""

    def named(self, node, name: str, location: str) -> "Difference":
        return dataclasses.replace(self, node=node, name=name, location=location)

    def __str__(self) -> str:
        what = f"'{self.name}' ({self.node.op.name}" if self.node is not None else "a value ("
        where = f" at {self.location})" if self.location else ")"
        shape = ",".join(str(d) for d in self.shape)
        size = int(np.prod(self.shape)) if self.shape else 1
        tol = "exact" if self.dtype[0] in "biu" else f"rtol {self.rtol:g}, atol {self.atol:g}"
        return (f"{what}{where} {self.dtype}[{shape}]: {self.bad} of {size} elements differ "
                f"({tol}); max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g}")


def compare(actual, expected, rtol: Optional[float] = None,
            atol: Optional[float] = None) -> Optional[Difference]:
    """None when `actual` matches `expected` (its dtype sets the default tolerance), else
    the Difference."""
    a, e = np.asarray(actual), np.asarray(expected)
    dtype = e.dtype.name
    default = TOLERANCES.get(dtype, (0.0, 0.0))
    rt = default[0] if rtol is None else rtol
    at = default[1] if atol is None else atol
    if a.shape != e.shape:
        return Difference(dtype, e.shape, e.size, float("inf"), float("inf"), rt, at)
    if e.dtype.kind not in "fc":
        rt = at = 0.0
    x, y = a.astype(np.float64), e.astype(np.float64)
    finite = np.abs(y[np.isfinite(y)])
    scale = max(float(finite.max()), 1.0) if finite.size else 1.0
    with np.errstate(all="ignore"):
        diff = np.abs(x - y)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        bad = ~same & ~(diff <= at + rt * (np.abs(y) + scale))
        diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
        rel = np.where(diff == 0, 0.0, diff / np.abs(y))
    count = int(np.count_nonzero(bad))
    if not count:
        return None
    return Difference(dtype, e.shape, count, float(diff.max()), float(np.nan_to_num(
        rel, nan=np.inf).max()), rt, at)
