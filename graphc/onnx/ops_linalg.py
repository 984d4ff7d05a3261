"""Det: the determinants of a batch of square matrices [..., M, M] -> [...].

M is known at import, so the computation is unrolled for it:
- M <= 4: Laplace (cofactor) expansion along the first row, the minors' determinants
  shared between terms; only products and sums of the entries, so integer-valued matrices
  get exact determinants and no pivot can be small;
- M > 4: Gaussian elimination with partial pivoting, unrolled over the M columns. At step
  k the row of the largest |a[i, k]|, i >= k, is swapped up (a permutation matrix made of
  one-hot rows, applied by a batched matmul, exact), the determinant gains the pivot and
  the swap's sign, and the rows below are eliminated. A zero pivot (a singular matrix)
  makes the determinant 0 without dividing by it.
float16 matrices are computed in float32 and the determinant rounded back.
"""

from __future__ import annotations

import numpy as np

from graphc.onnx.registry import converter
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops.tensor import cast, constant

_COFACTOR_MAX = 4


def _cofactor(a, m: int):
    """det of a [B, m, m] by expansion along rows, each minor (a set of columns of the
    last rows) computed once."""
    minors: dict = {}

    def det(cols: tuple):
        if cols in minors:
            return minors[cols]
        row = m - len(cols)
        if len(cols) == 1:
            result = a[:, row, cols[0]]
        else:
            result = None
            for j, col in enumerate(cols):
                term = a[:, row, col] * det(cols[:j] + cols[j + 1:])
                result = term if result is None else (result - term if j % 2 else
                                                      result + term)
        minors[cols] = result
        return result
    return det(tuple(range(m)))


def _eliminate(a, m: int):
    """det of a [B, m, m] by partial-pivoting elimination (see the module docstring)."""
    det = None
    eye = np.eye(m)
    for k in range(m):
        column = M.abs(a[:, k:, k])
        pivot_row = cast(M.argmax(column, axis=1), "int32") + k  # [B]
        hot_k = constant(eye[k].astype(a.dtype.np))
        hot_p = M.one_hot(pivot_row, m, dtype=a.dtype)  # [B, m]
        # the swap of rows k and p: I - e_k e_k' - e_p e_p' + e_k e_p' + e_p e_k'
        diff = A.expand_dims(hot_p - hot_k, -1)
        swap = constant(eye.astype(a.dtype.np)) - M.matmul(diff, A.transpose(diff, [0, 2, 1]))
        a = M.matmul(swap, a)
        sign = 1.0 - 2.0 * cast(M.not_equal(pivot_row, k), a.dtype)
        pivot = a[:, k, k]
        step = pivot * sign
        det = step if det is None else det * step
        if k == m - 1:
            break
        zero = M.equal(pivot, 0.0)
        safe = M.where(zero, A.ones_like(pivot), pivot)
        factors = a[:, k + 1:, k] / A.expand_dims(safe, -1)  # [B, m - k - 1]
        below = a[:, k + 1:, :] - A.expand_dims(factors, -1) * a[:, k:k + 1, :]
        a = A.concat([a[:, :k + 1, :], below], axis=1)
    return det


@converter("Det")
def _det(ctx):
    x = ctx.input(0)
    dims = x.node.shape
    if dims is None or len(dims) < 2 or dims[-1] is None or dims[-1] != dims[-2]:
        ctx.fail(f"node '{ctx.name}' (Det): needs square matrices [..., M, M] with M known at "
                 f"import, got shape {x.shape}")
    if x.dtype.kind != "f":
        ctx.fail(f"node '{ctx.name}' (Det): needs a float input, got {x.dtype}")
    m = int(dims[-1])
    lead = [-1 if d is None else d for d in dims[:-2]]
    if sum(d == -1 for d in lead) > 1:
        lead = ctx.static_shape(x, "Det")[:-2]
    work = x if x.dtype.np.itemsize >= 4 else cast(x, "float32")
    a = A.reshape(work, [-1, m, m])
    if m == 0:
        det = M.reduce_sum(A.reshape(a, [-1, 0]), axis=1) + 1.0  # the empty product
    elif m <= _COFACTOR_MAX:
        det = _cofactor(a, m)
    else:
        det = _eliminate(a, m)
    out = A.reshape(det, lead)
    return [out if out.dtype is x.dtype else cast(out, x.dtype)]

