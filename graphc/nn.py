"""tf.nn: activations, softmax, normalization helpers."""

from graphc.ops.nn_ops import (bias_add, elu, gelu, l2_normalize, leaky_relu, log_softmax,  # noqa: F401
                               moments, relu, relu6, selu, sigmoid, silu, softmax, softplus,
                               softsign, swish, tanh)
