"""tf.nn: activations, softmax, normalization helpers, convolutions, pooling and RNNs."""

from graphc import unsupported as _unsupported
from graphc.ops import rnn_cell  # noqa: F401  (tf.nn.rnn_cell, the module itself)
from graphc.ops.extra_ops import in_top_k, top_k  # noqa: F401
from graphc.ops.misc_ops import embedding_lookup, embedding_lookup_sparse, xw_plus_b  # noqa: F401
from graphc.ops.nn_conv import (  # noqa: F401
                               atrous_conv2d,
                               conv1d,
                               conv2d,
                               conv2d_backprop_filter,
                               conv2d_backprop_input,
                               conv2d_transpose,
                               conv3d,
                               conv3d_transpose,
                               convolution,
                               depthwise_conv2d,
                               separable_conv2d,
)
from graphc.ops.nn_losses import (  # noqa: F401,E402
                               l2_loss,
                               sigmoid_cross_entropy_with_logits,
                               softmax_cross_entropy_with_logits,
                               softmax_cross_entropy_with_logits_v2,
                               sparse_softmax_cross_entropy_with_logits,
)
from graphc.ops.nn_norm import (  # noqa: F401
                               batch_normalization,
                               dropout,
                               fused_batch_norm,
                               local_response_normalization,
                               lrn,
)
from graphc.ops.nn_ops import (  # noqa: F401
                               bias_add,
                               elu,
                               gelu,
                               l2_normalize,
                               leaky_relu,
                               log_softmax,
                               moments,
                               relu,
                               relu6,
                               selu,
                               sigmoid,
                               silu,
                               softmax,
                               softplus,
                               softsign,
                               swish,
                               tanh,
)
from graphc.ops.nn_pool import (  # noqa: F401
                               avg_pool,
                               avg_pool1d,
                               avg_pool2d,
                               avg_pool3d,
                               max_pool,
                               max_pool1d,
                               max_pool2d,
                               max_pool3d,
                               pool,
)
from graphc.ops.rnn_dynamic import bidirectional_dynamic_rnn, dynamic_rnn  # noqa: F401
from graphc.ops.rnn_static import static_bidirectional_rnn, static_rnn  # noqa: F401
from graphc.ops.sampled_losses import nce_loss, sampled_softmax_loss  # noqa: F401
from graphc.ops.sampling_ops import (  # noqa: F401
                               all_candidate_sampler,
                               fixed_unigram_candidate_sampler,
                               learned_unigram_candidate_sampler,
                               log_uniform_candidate_sampler,
                               uniform_candidate_sampler,
)

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.nn")
