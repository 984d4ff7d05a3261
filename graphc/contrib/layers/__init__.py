"""tf.contrib.layers: TF 1.15's contrib layer functions (slim's layers), initializers and
regularizers, over graphc/layers (see docs/contrib.md)."""

from graphc import unsupported as _unsupported
from graphc.contrib.layers.core import (  # noqa: F401
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv2d_transpose,
    conv3d,
    convolution,
    convolution1d,
    convolution2d,
    convolution2d_transpose,
    convolution3d,
    dropout,
    embed_sequence,
    flatten,
    fully_connected,
    linear,
    max_pool2d,
    max_pool3d,
    one_hot_encoding,
    relu,
    relu6,
    repeat,
    separable_conv2d,
    separable_convolution2d,
    softmax,
    stack,
)
from graphc.contrib.layers.initializers import (  # noqa: F401
    variance_scaling_initializer,
    xavier_initializer,
    xavier_initializer_conv2d,
)
from graphc.contrib.layers.normalization import batch_norm, layer_norm  # noqa: F401
from graphc.contrib.layers.regularizers import (  # noqa: F401
    apply_regularization,
    l1_l2_regularizer,
    l1_regularizer,
    l2_regularizer,
    sum_regularizer,
)

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib.layers")
