"""Symbolic reverse-mode differentiation over L1 (tf.gradients and friends)."""

from graphc.autodiff.gradients import (  # noqa: F401
                                       add_n,
                                       custom_gradient,
                                       gradients,
                                       hessian_vector_product,
                                       hessians,
)
