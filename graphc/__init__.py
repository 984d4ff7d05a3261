"""graphc: a static computation-graph compiler with a TF1-style API (`import graphc as tf`)."""

import sys as _sys
import types as _types

from graphc import errors, nn  # noqa: F401,E402
from graphc.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, OpError  # noqa: F401,E402
from graphc.framework.graph import Graph, get_default_graph, reset_default_graph  # noqa: F401,E402
from graphc.ir.dtypes import (  # noqa: F401,E402
    DType,
    as_dtype,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
)
from graphc.ir.dtypes import bool_ as bool
from graphc.ops import nest  # noqa: F401,E402
from graphc.ops.array_ops import (  # noqa: F401,E402
    bitcast,
    broadcast_to,
    concat,
    ensure_shape,
    expand_dims,
    fill,
    gather,
    identity,
    ones,
    ones_like,
    pad,
    placeholder,
    placeholder_with_default,
    range,
    reshape,
    reverse,
    shape,
    slice,
    split,
    squeeze,
    stack,
    stop_gradient,
    strided_slice,
    tile,
    transpose,
    unstack,
    zeros,
    zeros_like,
)
from graphc.ops.control_flow import case, cond, while_loop  # noqa: F401,E402
from graphc.ops.control_flow_ops import control_dependencies, group, name_scope, no_op, tuple  # noqa: F401,E402
from graphc.ops.functional_ops import foldl, foldr, map_fn, scan  # noqa: F401,E402
from graphc.ops.init_ops import (  # noqa: F401,E402
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variance_scaling_initializer,
    zeros_initializer,
)
from graphc.ops.math_ops import (  # noqa: F401,E402
    abs,
    add,
    argmax,
    argmin,
    atan2,
    cast,
    ceil,
    clip_by_value,
    cos,
    count_nonzero,
    div,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    greater,
    greater_equal,
    is_finite,
    is_inf,
    is_nan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    one_hot,
    pow,
    rank,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    size,
    sqrt,
    square,
    subtract,
    tanh,
    tensordot,
    to_float,
    to_int32,
    to_int64,
    truediv,
    where,
    where_v2,
)
from graphc.ops.random_ops import random_normal, random_uniform, set_random_seed, truncated_normal  # noqa: F401,E402
from graphc.ops.rnn_dynamic import reverse_sequence  # noqa: F401,E402
from graphc.ops.tensor import Operation, Tensor, TensorShape, constant, convert_to_tensor  # noqa: F401,E402
from graphc.ops.tensor_array import TensorArray  # noqa: F401,E402
from graphc.ops.variables import (  # noqa: F401,E402
    AUTO_REUSE,
    GraphKeys,
    Variable,
    VariableScope,
    assign,
    assign_add,
    assign_sub,
    get_variable,
    get_variable_scope,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    trainable_variables,
    variable_scope,
    variables_initializer,
)
from graphc.options import ConfigProto, GPUOptions, Options, set_default_options, set_default_target  # noqa: F401,E402
from graphc.runtime.session import InteractiveSession, Session, get_default_session  # noqa: F401,E402
from graphc.version import __version__  # noqa: E402,F401

floormod = mod
realdiv = truediv
from graphc.ir import dtypes  # noqa: E402,F401


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


# Differentiation, training, losses and run-time checks.
from graphc import (  # noqa: F401,E402
    contrib,
    data,
    debugging,
    initializers,
    keras,  # docs/keras.md
    layers,  # docs/layers.md
    losses,
    metrics,  # docs/metrics.md
    onnx,  # docs/onnx.md (needs the onnx package only when used)
    saved_model,  # docs/checkpoints.md
    summary,  # docs/summaries.md
    test,
    train,
)
from graphc.aot import export, load  # noqa: F401,E402  (docs/aot.md)
from graphc.data import tf_io as io  # noqa: F401,E402  (docs/data.md)
from graphc.data.example import install_message_names as _install_message_names  # noqa: E402
from graphc.data.tf_io import (  # noqa: F401,E402  (TF1's top-level spellings)
    FixedLenFeature,
    VarLenFeature,
    parse_example,
    parse_single_example,
    python_io,
)
from graphc.debugging import (  # noqa: F401,E402
    Assert,
    assert_equal,
    assert_greater,
    assert_greater_equal,
    assert_less,
    assert_less_equal,
    assert_non_negative,
    assert_none_equal,
    assert_positive,
)
from graphc.metrics.confusion import confusion_matrix  # noqa: F401,E402  (docs/metrics.md)
from graphc.ops.gradients import add_n, custom_gradient, gradients, hessian_vector_product, hessians  # noqa: F401,E402
from graphc.ops.init_ops import orthogonal_initializer  # noqa: F401,E402
from graphc.ops.numerics import add_check_numerics_ops, check_numerics  # noqa: F401,E402
from graphc.ops.print_ops import Print  # noqa: F401,E402
from graphc.ops.print_ops import print_ as print  # noqa: F401,E402,A004 - TF1 name
from graphc.tools import check, explain  # noqa: F401,E402  (docs/explain.md)
from graphc.train.clip import clip_by_global_norm, clip_by_norm, global_norm  # noqa: F401,E402

string = data.string  # the type of string components in tf.data and tf.io parsing

# tf.compat.v1 spellings: `import graphc as tf` replaces `import tensorflow.compat.v1 as tf`.
newaxis = None
from graphc.ops.tensor import Dimension  # noqa: F401,E402


def disable_v2_behavior():
    """No effect: graphc always builds graphs (TF1 behaviour)."""


disable_eager_execution = disable_v2_behavior


def executing_eagerly() -> bool:
    return False


compat = _types.SimpleNamespace(v1=_sys.modules[__name__])

# Program utilities and everyday ops (docs/utilities.md).
from graphc import app, flags, gfile  # noqa: F401,E402
from graphc import tf_logging as logging  # noqa: F401,E402
from graphc import unsupported as _unsupported  # noqa: E402
from graphc.ops.extra_ops import (  # noqa: F401,E402  (docs/utilities.md)
    cumprod,
    cumsum,
    gather_nd,
    scatter_nd,
    tensor_scatter_nd_add,
    tensor_scatter_nd_sub,
    tensor_scatter_nd_update,
)
from graphc.ops.matrix_ops import (  # noqa: F401,E402  (docs/api-coverage.md)
    diag,
    diag_part,
    eye,
    linspace,
    matrix_band_part,
    matrix_diag,
    matrix_diag_part,
    matrix_transpose,
    norm,
    roll,
    sequence_mask,
    trace,
)
from graphc.ops.misc_ops import (  # noqa: F401,E402
    RunMetadata,
    RunOptions,
    container,
    device,
    einsum,
    math,
    random,
    reduce_logsumexp,
    squared_difference,
)

tensor_scatter_add, tensor_scatter_sub = tensor_scatter_nd_add, tensor_scatter_nd_sub
tensor_scatter_update = tensor_scatter_nd_update  # TF1's older names
lin_space = linspace  # TF1 has both spellings

# Sparse tensors and segment reductions (docs/sparse.md); tf.image and tf.saturate_cast
# for the narrow integer dtypes images are stored in (docs/dtypes.md).
from graphc import sparse  # noqa: F401,E402
from graphc.framework.complex_tensor import (  # noqa: F401,E402  (docs/audio.md)
    ComplexTensor,
    angle,
    complex,
    conj,
    imag,
    real,
)
from graphc.framework.sparse_tensor import (  # noqa: F401,E402
    SparseTensor,
    SparseTensorValue,
    convert_to_tensor_or_sparse_tensor,
    sparse_placeholder,
)
from graphc.modalities import audio as signal  # noqa: F401,E402  (tf.signal)
from graphc.modalities import image  # noqa: F401,E402  (tf.image)
from graphc.modalities.image import saturate_cast  # noqa: F401,E402
from graphc.modalities.image_random import random_crop  # noqa: F401,E402  (tf.random_crop)
from graphc.ops import bitwise_ops as bitwise  # noqa: F401,E402  (tf.bitwise)
from graphc.ops.sparse_ops import (  # noqa: F401,E402  (TF1's top-level spellings)
    sparse_tensor_to_dense,
    sparse_to_dense,
    unsorted_segment_mean,
    unsorted_segment_sqrt_n,
    unsorted_segment_sum,
)

sparse_add, sparse_concat, sparse_expand_dims = sparse.add, sparse.concat, sparse.expand_dims
sparse_reduce_sum, sparse_reshape = sparse.reduce_sum, sparse.reshape
sparse_tensor_dense_matmul, sparse_to_indicator = sparse.sparse_dense_matmul, sparse.to_indicator

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf")
for _module, _prefix in ((train, "tf.train"), (losses, "tf.losses"), (test, "tf.test"),
                         (metrics, "tf.metrics")):
    _unsupported.install(_module, _prefix)
_install_message_names(train, "tf.train")  # tf.train.Example etc., built at first use
