"""tf.sparse: SparseTensor and the ops over it (graphc/ops/sparse_ops.py, docs/sparse.md).

The ops whose result's number of entries depends on the data (reorder, retain, slice,
fill_empty_rows, the sum of two SparseTensors) are not here: graphc's shapes are fixed when
the graph is built. Their names raise UnsupportedAPIError saying so (graphc/unsupported.py).
"""

from graphc import unsupported as _unsupported
from graphc.framework.sparse_tensor import SparseTensor  # noqa: F401
from graphc.framework.sparse_tensor import sparse_placeholder as placeholder  # noqa: F401
from graphc.ops.sparse_ops import (  # noqa: F401
    add,
    concat,
    expand_dims,
    from_dense,
    reduce_sum,
    reshape,
    sparse_dense_matmul,
    to_dense,
    to_indicator,
)

matmul = sparse_dense_matmul  # TF1's tf.sparse.matmul

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.sparse")
