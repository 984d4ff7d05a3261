"""The primitive table: one declarative record per L1 primitive.

A record holds everything the compiler needs to know about an op in one place: how many
inputs it takes, its dtype and shape rules, its fusion kind and its numpy reference
implementation (the single definition of what the op computes: the reference target,
constant folding and every numeric test use it). The families live in sibling modules and
register themselves on import; `PRIMITIVES` maps a name to its record.

Fusion kinds (after TVM): "source" (no inputs: constants, placeholders, variables),
"elementwise" (output[i] depends on input[i], broadcasting included), "injective" (each
output element is one input element: reshape, transpose, slice, concat...), "reduce",
"opaque" (matmul, convolution, pooling, gather, random), "effect" (state updates and grouping).
"""

# Importing the families fills the table (the only import-time side effect of the package).
from graphc.ir.ops import (  # noqa: F401,E501
    adjoint,
    array,
    collective,
    control,
    conv,
    elementwise,
    pool,
    reduce,
    state,
)
from graphc.ir.ops.primitive import FUSION_KINDS, PRIMITIVES, Primitive, get, register  # noqa: F401
