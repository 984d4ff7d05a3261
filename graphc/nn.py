"""tf.nn: activations, softmax, normalization helpers."""

from graphc.ops.nn_ops import (bias_add, elu, gelu, l2_normalize, leaky_relu, log_softmax,  # noqa: F401
                               moments, relu, relu6, selu, sigmoid, silu, softmax, softplus,
                               softsign, swish, tanh)
from graphc.ops.nn_losses import (l2_loss, sigmoid_cross_entropy_with_logits,  # noqa: F401,E402
                                  softmax_cross_entropy_with_logits,
                                  softmax_cross_entropy_with_logits_v2,
                                  sparse_softmax_cross_entropy_with_logits)
